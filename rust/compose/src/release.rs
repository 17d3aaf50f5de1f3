//! A release compose: the composes a checked release ships, frozen into
//! one compose of their own, laid out as Pungi lays out a compose with one
//! modular variant (or, with the release's `variants: per-module`, a
//! variant per module stream, its UID as Pungi names module variants:
//! `base-runtime` → `BaseRuntime`, each holding that module's packages):
//! ```text
//! OUT/<release-id>/STATUS
//! OUT/<release-id>/compose/<Variant>/<arch>/os/{Packages,repodata}   every module's packages, modules.yaml
//! OUT/<release-id>/compose/<Artifact>/<arch>/{iso,images,ostree}/     each artifact's image (release_images.rs)
//! OUT/<release-id>/compose/metadata/{composeinfo,rpms,modules,images}.json
//! ```
//! The repository is the module composes' own repositories merged
//! (merge.rs: packages linked, not copied; one repodata from their
//! metadata records). Its `modules.yaml` holds every stream once, the
//! release's defaults instead of the composes' own (only the release's
//! `default: true` streams are default; each keeps its module's default
//! profiles), and a modulemd-obsoletes with `eol_date` for every stream
//! whose modulemd gives an end of life.
//!
//! It is recorded and put in place in the order record.rs keeps for a
//! module compose: begun, staged, placed, recorded finished, then STATUS
//! FINISHED; any failure is recorded with its reason and nothing of it
//! stays in `OUT`.

use crate::error::{error_chain, io, ComposeError, Result};
use crate::ids::now;
use crate::interrupt::Interrupt;
use crate::link::Linker;
use crate::merge::{merge_into, MergeSettings, Published};
use crate::productmd;
use crate::progress::Progress;
use crate::publish::{productmd_entries, Staged};
use crate::release_images::{place_images, ReleaseArtifact};
use crate::staging::{clean_stale_staging, Staging};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use strata_model::ReleaseVariants;
use strata_modulemd::{Defaults, Document, ModuleStream, Obsoletes};
use strata_registry::{NewRelease, Outputs, Registry, ReleaseOutcome, ReleaseRecord};
use strata_repodata::LoadOptions;

/// The variant a release compose publishes everything in, as Fedora's
/// modular composes named theirs.
pub const RELEASE_VARIANT: &str = "Modular";

/// One module compose a release ships.
#[derive(Debug, Clone)]
pub struct ReleaseModuleRepo {
    /// `name:stream`.
    pub module: String,
    pub compose_id: String,
    /// Its published repository for the release's arch.
    pub repo: PathBuf,
}

/// What a release compose publishes.
#[derive(Debug, Clone)]
pub struct ReleaseContent {
    pub out: PathBuf,
    pub arch: String,
    /// Every module compose, the release's own first, in order.
    pub modules: Vec<ReleaseModuleRepo>,
    /// module → its default stream: the release's `default: true` streams.
    pub defaults: BTreeMap<String, String>,
    pub verify_payloads: bool,
    pub cache_dir: Option<PathBuf>,
    /// Modules whose stream changed since the previous release.
    pub switches: Vec<ReleaseSwitch>,
    /// The artifact composes whose images the release ships, in order.
    pub artifacts: Vec<ReleaseArtifact>,
    /// One modular variant, or a variant per module stream.
    pub variants: ReleaseVariants,
}

/// A module the release ships on another stream than the previous release
/// did. Its previous stream is published in `modules.yaml` without
/// packages, with a modulemd-obsoletes `obsoleted_by` the new stream: dnf
/// (libdnf's `applyObsoletes`, with `module_obsoletes=1`) switches an
/// enabled stream only when its metadata has that stream and an obsoletes
/// of it.
#[derive(Debug, Clone)]
pub struct ReleaseSwitch {
    pub module: String,
    pub to_stream: String,
    /// The previous release's documents of the old stream (its compose's
    /// modulemd for the arch).
    pub previous: Vec<ModuleStream>,
}

/// Records the release compose `new`, publishes `content` as
/// `OUT/<release-id>/` and records how it ended. On any failure the
/// release compose is recorded failed with the reason, nothing is left in
/// `OUT`, and the error is returned.
pub fn compose_release(
    registry: &mut dyn Registry,
    new: &NewRelease,
    content: &ReleaseContent,
    interrupt: &Interrupt,
    progress: &dyn Progress,
) -> Result<ReleaseRecord> {
    let record = registry.begin_release(new)?;
    let id = record.id.clone();
    let fail = |registry: &mut dyn Registry, e: ComposeError| {
        if let Err(re) = registry.finish_release(
            &id,
            &ReleaseOutcome::Failed {
                finished_at: now(),
                error: error_chain(&e),
            },
        ) {
            tracing::error!("could not record the failure of {id}: {}", error_chain(&re));
        }
        e
    };
    let staged = match stage(&record, content, interrupt, progress) {
        Ok(s) => s,
        Err(e) => return Err(fail(registry, e)),
    };
    // Where a module compose lets its front end hold it (tests of kills
    // and signals): everything staged, nothing published.
    progress.about_to_publish(&id, interrupt);
    if let Err(e) = interrupt.check() {
        drop(staged);
        return Err(fail(registry, e));
    }
    let placed = match staged.place() {
        Ok(p) => p,
        Err(e) => return Err(fail(registry, e)),
    };
    let outcome = ReleaseOutcome::Finished {
        finished_at: now(),
        path: placed.dest().to_path_buf(),
    };
    match registry.finish_release(&id, &outcome) {
        Ok(rec) => {
            placed.mark_finished();
            Ok(rec)
        }
        Err(e) => {
            let err = placed.not_recorded(&id, e);
            Err(fail(registry, err))
        }
    }
}

/// Writes the release compose into a staging directory and seals it.
fn stage(
    record: &ReleaseRecord,
    content: &ReleaseContent,
    interrupt: &Interrupt,
    progress: &dyn Progress,
) -> Result<Staged> {
    std::fs::create_dir_all(&content.out).map_err(io(&content.out))?;
    clean_stale_staging(&content.out);
    let out = std::fs::canonicalize(&content.out).map_err(io(&content.out))?;
    let staging = Staging::create(&out, &record.id)?;
    let tree = staging.tree();
    let arch = content.arch.as_str();

    let opts = LoadOptions {
        cache_dir: content.cache_dir.clone(),
        ..LoadOptions::default()
    };
    let mut loaded = Vec::with_capacity(content.modules.len());
    for m in &content.modules {
        interrupt.check()?;
        loaded.push(Published::load(&m.repo, m.compose_id.clone(), &opts)?);
    }
    let (defaults, obsoletes, superseded) = release_modules(record, content, &mut loaded);
    // The variants and what each holds: every module in one, or each
    // module stream in its own (`module`: the module it holds).
    struct Part<'a> {
        uid: String,
        name: String,
        module: Option<&'a str>,
        members: Vec<crate::merge::Member<'a>>,
    }
    let mut parts: Vec<Part<'_>> = match content.variants {
        ReleaseVariants::One => vec![Part {
            uid: RELEASE_VARIANT.to_string(),
            name: format!("{} {} modules", record.name, record.version),
            module: None,
            members: loaded.iter_mut().map(Published::member).collect(),
        }],
        ReleaseVariants::PerModule => loaded
            .iter_mut()
            .zip(&content.modules)
            .map(|(p, m)| {
                let name = m
                    .module
                    .split_once(':')
                    .map_or(m.module.as_str(), |(n, _)| n);
                Part {
                    uid: productmd::variant_uid(name),
                    name: m.module.clone(),
                    module: Some(name),
                    members: vec![p.member()],
                }
            })
            .collect(),
    };
    let mut uids: BTreeMap<&str, &str> = BTreeMap::new();
    for part in &parts {
        if let Some(first) = uids.insert(&part.uid, &part.name) {
            return Err(ComposeError::ReleaseVariantClash {
                release_id: record.id.clone(),
                uid: part.uid.clone(),
                first: first.to_string(),
                second: part.name.clone(),
            });
        }
    }
    let taken: Vec<String> = parts.iter().map(|p| p.uid.clone()).collect();
    let holds = |held: Option<&str>, module: &str| held.is_none_or(|m| m == module);
    let mut linker = Linker::new(content.verify_payloads);
    let (mut rpms, mut modules, mut variants) = (Vec::new(), Vec::new(), Vec::new());
    let mut first_dir = None;
    for mut part in std::mem::take(&mut parts) {
        let os = productmd::os_tree(&part.uid, arch);
        let dir = tree.join("compose").join(&os);
        let held = part.module;
        if let Some(first) = part.members.first_mut() {
            // The release's defaults come first, so they stand.
            let own = defaults.iter().filter(|d| holds(held, &d.module)).cloned();
            first
                .documents
                .splice(0..0, own.map(Document::Defaults).collect::<Vec<_>>());
        }
        let merged = merge_into(
            &dir,
            std::mem::take(&mut part.members),
            &mut linker,
            &MergeSettings {
                within: format!("the release compose {} ({})", record.id, part.uid),
                metadata_only: false,
                timestamp: record.started_at,
                interrupt,
                link_stage: format!("linking the release's packages of {} for {arch}", part.uid),
                write_stage: format!("writing the repodata of {} for {arch}", part.uid),
                obsoletes: obsoletes
                    .iter()
                    .filter(|o| holds(held, &o.module))
                    .cloned()
                    .collect(),
                superseded: superseded
                    .iter()
                    .filter(|s| holds(held, &s.name))
                    .cloned()
                    .collect(),
                cache_dir: None,
            },
            progress,
        )?;
        let (r, m) = productmd_entries(merged, &part.uid, arch, &dir)?;
        rpms.extend(r);
        modules.extend(m);
        first_dir.get_or_insert(os);
        variants.push(productmd::VariantInfo {
            uid: part.uid,
            name: part.name,
            arches: vec![arch.to_string()],
        });
    }
    let images = place_images(
        &tree.join("compose"),
        arch,
        &content.artifacts,
        &taken,
        content.verify_payloads,
        interrupt,
    )?;
    variants.extend(images.variants);
    let info = productmd::ComposeInfo {
        compose_id: record.id.clone(),
        date: record.date.clone(),
        compose_type: record.compose_type,
        respin: record.respin,
        release_name: record.name.clone(),
        release_short: record.name.clone(),
        release_version: record.version.clone(),
        variants,
    };
    productmd::validate(&info, &rpms, &modules).map_err(|source| ComposeError::Productmd {
        compose_id: record.id.clone(),
        source,
    })?;
    let meta = tree.join("compose").join("metadata");
    std::fs::create_dir_all(&meta).map_err(io(&meta))?;
    for (file, text) in [
        ("composeinfo.json", productmd::composeinfo_json(&info)),
        (
            "rpms.json",
            productmd::rpms_json_with_layers(&info, &rpms, &[]),
        ),
        ("modules.json", productmd::modules_json(&info, &modules)),
        ("images.json", productmd::images_json(&info, &images.images)),
    ] {
        let p = meta.join(file);
        std::fs::write(&p, text).map_err(io(&p))?;
    }
    staging.seal()?;
    let dest = out.join(&record.id);
    Ok(Staged {
        staging,
        outputs: Outputs {
            path: dest.clone(),
            repos: first_dir
                .map(|os| BTreeMap::from([(arch.to_string(), dest.join("compose").join(os))]))
                .unwrap_or_default(),
            build_id: None,
        },
        dest,
        modulemd: BTreeMap::new(),
    })
}

/// The release's modulemd-defaults and modulemd-obsoletes, and the
/// previous streams it switches from; the composes' own defaults and other
/// documents are taken out of `loaded`.
///
/// Defaults: one for each of the release's default streams, with the
/// default profiles its module's compose gave that stream. Obsoletes: one
/// for each stream whose modulemd gives an end of life (MBS's `rawhide`
/// service level, where Strata publishes `lifecycle.eol`), so dnf knows
/// when its service ends; and one for each previous stream of a switch,
/// `obsoleted_by` the new stream, whose documents are returned without
/// their packages (this compose does not ship them).
fn release_modules(
    record: &ReleaseRecord,
    content: &ReleaseContent,
    loaded: &mut [Published],
) -> (Vec<Defaults>, Vec<Obsoletes>, Vec<ModuleStream>) {
    let mut profiles: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut obsoletes = Vec::new();
    let mut seen = BTreeSet::new();
    let mut shipped = BTreeSet::new();
    let modified = format!(
        "{}-{}-{}",
        &record.date[..4],
        &record.date[4..6],
        &record.date[6..8]
    );
    for p in loaded.iter_mut() {
        p.documents.retain(|doc| match doc {
            Document::Stream(s) => {
                shipped.insert((s.name.clone(), s.stream.clone()));
                let eol = s.servicelevels.get("rawhide").and_then(|l| l.eol.clone());
                if let Some(eol) = eol {
                    if seen.insert((s.name.clone(), s.stream.clone())) {
                        obsoletes.push(Obsoletes {
                            module: s.name.clone(),
                            stream: s.stream.clone(),
                            modified: modified.clone(),
                            message: format!(
                                "{}:{} reaches its end of life on {eol}",
                                s.name, s.stream
                            ),
                            eol_date: Some(eol),
                            obsoleted_by: None,
                        });
                    }
                }
                true
            }
            Document::Defaults(d) => {
                profiles
                    .entry(d.module.clone())
                    .or_default()
                    .extend(d.profiles.clone());
                false
            }
            Document::Other { .. } => false,
        });
    }
    let defaults = content
        .defaults
        .iter()
        .map(|(module, stream)| Defaults {
            module: module.clone(),
            stream: Some(stream.clone()),
            profiles: profiles
                .get(module)
                .and_then(|p| p.get(stream))
                .map(|names| BTreeMap::from([(stream.clone(), names.clone())]))
                .unwrap_or_default(),
        })
        .collect();
    let mut superseded = Vec::new();
    for switch in &content.switches {
        let mut streams = BTreeSet::new();
        for s in &switch.previous {
            if shipped.contains(&(s.name.clone(), s.stream.clone())) {
                // The stream ships in this release after all.
                continue;
            }
            let mut s = s.clone();
            s.artifacts.clear();
            if streams.insert(s.stream.clone()) {
                obsoletes.push(Obsoletes {
                    module: s.name.clone(),
                    stream: s.stream.clone(),
                    modified: modified.clone(),
                    message: format!(
                        "{}:{} is replaced by {}:{} in {} {}",
                        s.name,
                        s.stream,
                        switch.module,
                        switch.to_stream,
                        record.name,
                        record.version
                    ),
                    eol_date: None,
                    obsoleted_by: Some((switch.module.clone(), switch.to_stream.clone())),
                });
            }
            superseded.push(s);
        }
    }
    (defaults, obsoletes, superseded)
}
