//! Step 5 of a compose: publishing. Everything is written into a staging
//! directory beside the destination (see staging.rs: locked, named for its
//! host and PID), laid out as layout.rs says, and made durable; nothing of
//! it is visible yet. Putting it in place, recording it and pointing
//! `latest-*` at it are the next step (record.rs), in the order that keeps
//! the registry and the disk consistent.
//!
//! Per arch: the module's packages are linked from the sources and its
//! repodata written from the sources' metadata records, with its
//! `modules.yaml`. A stack gets a `.repo` file naming each module's own
//! published repository, so its cost follows the module, not the stack;
//! only with `[compose] stack_repo = "merged"` also a whole-stack
//! repository, the module merged with every compose below it (merge.rs).
//! Then the productmd metadata of the compose (its own packages; a stack's
//! layers named), `STATUS` STARTED, and the `STATUS` FINISHED that
//! replaces it once recorded.

use crate::config::StackRepo;
use crate::error::{io, ComposeError, Result};
use crate::ids::srpm_nevra;
use crate::interrupt::Interrupt;
use crate::layout::{
    repo_subdir, stack_repo_file_subpath, stack_repo_subdir, stack_variant_uid, variant_uid,
};
use crate::link::{published_href, Linker};
use crate::merge::{merge_into, Member, MemberPackage, MergeSettings};
use crate::modulemd::{texts, ModuleDocs};
use crate::productmd;
use crate::progress::Progress;
use crate::select::Pick;
use crate::stack::Layer;
use crate::staging::{clean_stale_staging, Staging};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strata_model::ModuleDefinition;
use strata_modulemd::{Document, StackLayer, XmdDefinition, XmdInput, XmdStrata};
use strata_registry::{ComposeRecord, Input, InputKind, Outputs};
use strata_repodata::{
    package_size, rewrite_location, write_repodata, ExtraMetadata, Location, PackageRecords,
    Payloads, Repo, WriteOptions,
};
use strata_solve::ClosureReport;

/// What a compose publishes, beside the content of each arch.
pub(crate) struct PublishRequest<'a> {
    pub out: &'a Path,
    pub record: &'a ComposeRecord,
    pub definition: &'a ModuleDefinition,
    /// The module's modulemd, but for the packages of each arch.
    pub docs: ModuleDocs<'a>,
    /// The stack below the module, bottom first (empty: not a stack).
    pub layers: &'a [Layer],
    /// Whether a stack also gets a whole-stack repository.
    pub stack_repo: StackRepo,
    /// Where `out` is served, for the stack's `.repo` file.
    pub repo_base_url: Option<&'a str>,
    pub metadata_only: bool,
    pub verify_payloads: bool,
    /// Looked at between packages and stages.
    pub interrupt: &'a Interrupt,
    /// Where a whole-stack repository keeps each compose's compressed
    /// records for the next stack that merges it.
    pub cache_dir: Option<&'a Path>,
}

/// What one arch publishes.
pub(crate) struct ArchContent<'a> {
    pub arch: &'a str,
    pub sources: &'a [Repo],
    pub picks: &'a [Pick],
    /// The source metadata records of `picks`, in the same order.
    pub records: Vec<PackageRecords>,
    pub report: &'a ClosureReport,
    /// The stack's composes for this arch, bottom first.
    pub layers: Vec<LayerContent<'a>>,
    /// The Koji topdir the sources live in (a Koji tag source on a mounted
    /// topdir): their payloads are reached through Koji's own symlinks.
    pub koji_topdir: Option<&'a Path>,
}

/// One compose of the stack below the module, on one arch: its published
/// repository, the records of all its packages in package order, and its
/// modules.
pub(crate) struct LayerContent<'a> {
    pub repo: &'a Repo,
    pub records: Vec<PackageRecords>,
    pub modules: Vec<Document>,
}

/// `xmd.strata` of a module compose: its ID, definition and inputs, and
/// for a stack the modules below it.
pub(crate) fn xmd_strata(
    record: &ComposeRecord,
    def: &ModuleDefinition,
    inputs: &[Input],
    stack: &[Layer],
) -> XmdStrata {
    let is_stack = !stack.is_empty();
    XmdStrata {
        compose_id: record.id.clone(),
        definition: Some(XmdDefinition {
            path: record.definition_path.display().to_string(),
            sha256: record.definition_digest.clone(),
            scm_ref: record.scm_ref.clone(),
        }),
        // The layers below the direct requires are in `stack`, with what a
        // client needs of them; naming them again here doubled the
        // document of a deep stack (every entry emitted, checked, hashed
        // and compressed twice).
        inputs: inputs
            .iter()
            .filter(|i| i.kind != InputKind::StackCompose)
            .map(|i| XmdInput {
                kind: i.kind.to_string(),
                name: i.name.clone(),
                ident: i.ident.clone(),
                location: i.location.clone(),
            })
            .collect(),
        requires: if is_stack {
            def.module_requires()
                .map(|(m, s)| format!("{m}:{s}"))
                .collect()
        } else {
            Vec::new()
        },
        stack: stack
            .iter()
            .map(|l| StackLayer {
                name: l.record.name.clone(),
                stream: l.record.stream.clone(),
                compose_id: l.record.id.clone(),
                version: l.record.version,
                context: l.record.context.clone(),
                requires: l.requires.clone(),
            })
            .collect(),
    }
}

/// A compose written and made durable in its staging directory; nothing
/// of it is visible yet. record.rs puts it in place, has it recorded,
/// then marks it finished.
pub(crate) struct Staged {
    pub staging: Staging,
    /// `OUT/<compose-id>`, OUT canonical.
    pub dest: PathBuf,
    /// What the record will say was published (paths under `dest`).
    pub outputs: Outputs,
    /// arch → the module's stream document as published for it.
    pub modulemd: BTreeMap<String, String>,
}

/// Writes the compose into a new staging directory, with `STATUS`
/// `STARTED` (it becomes `FINISHED` only once the registry says so), and
/// makes it durable. Every error, and an interruption, removes the
/// staging directory.
pub(crate) fn publish(
    req: &PublishRequest<'_>,
    content: Vec<ArchContent<'_>>,
    progress: &dyn Progress,
) -> Result<Staged> {
    std::fs::create_dir_all(req.out).map_err(io(req.out))?;
    clean_stale_staging(req.out);
    let out = std::fs::canonicalize(req.out).map_err(io(req.out))?;
    let id = &req.record.id;
    let staging = Staging::create(&out, id)?;
    let stage = staging.tree();
    let arches: Vec<String> = content.iter().map(|c| c.arch.to_string()).collect();
    let published = publish_into(req, content, &stage, progress)?;
    req.interrupt.check()?;
    let dest = out.join(id);
    if !req.layers.is_empty() {
        let text = stack_repo_file(req, &dest, &out)?;
        let p = stage.join(stack_repo_file_subpath(&req.definition.name));
        std::fs::write(&p, text).map_err(io(&p))?;
    }
    let def = req.definition;
    let meta = stage.join("compose").join("metadata");
    std::fs::create_dir_all(&meta).map_err(io(&meta))?;
    let info = productmd::ComposeInfo {
        compose_id: id.clone(),
        date: req.record.date.clone(),
        compose_type: req.record.compose_type,
        respin: req.record.respin,
        release_name: def.name.clone(),
        release_short: def.name.clone(),
        release_version: def.stream.clone(),
        variants: std::iter::once(productmd::VariantInfo {
            uid: variant_uid(&def.name),
            name: def.summary.clone(),
            arches: arches.clone(),
        })
        .chain(merged_stack(req).then(|| productmd::VariantInfo {
            uid: stack_variant_uid(&def.name),
            name: format!("{} and the modules below it", def.summary),
            arches,
        }))
        .collect(),
    };
    productmd::validate(&info, &published.rpms, &published.modules).map_err(|source| {
        ComposeError::Productmd {
            compose_id: id.clone(),
            source,
        }
    })?;
    for (file, text) in [
        ("composeinfo.json", productmd::composeinfo_json(&info)),
        (
            "rpms.json",
            productmd::rpms_json_with_layers(&info, &published.rpms, &layer_refs(req)),
        ),
        (
            "modules.json",
            productmd::modules_json(&info, &published.modules),
        ),
    ] {
        let p = meta.join(file);
        std::fs::write(&p, text).map_err(io(&p))?;
    }
    staging.seal()?;
    progress.about_to_publish(id, req.interrupt);
    let outputs = Outputs {
        repos: published
            .repos
            .into_iter()
            .map(|(arch, sub)| (arch, dest.join(sub)))
            .collect(),
        path: dest.clone(),
        build_id: None,
    };
    Ok(Staged {
        staging,
        dest,
        outputs,
        modulemd: published.modulemd,
    })
}

/// What the arches published.
#[derive(Default)]
struct Published {
    /// arch → the repository, relative to the compose directory.
    repos: Vec<(String, PathBuf)>,
    rpms: Vec<productmd::RpmEntry>,
    modules: Vec<productmd::ModuleEntry>,
    /// arch → the module's stream document.
    modulemd: BTreeMap<String, String>,
}

fn publish_into(
    req: &PublishRequest<'_>,
    content: Vec<ArchContent<'_>>,
    stage: &Path,
    progress: &dyn Progress,
) -> Result<Published> {
    let def = req.definition;
    let variant = variant_uid(&def.name);
    let mut published = Published::default();
    for c in content {
        let sub = repo_subdir(&def.name, c.arch);
        let tree = PathBuf::from(productmd::os_tree(&variant, c.arch));
        let dir = stage.join(&sub);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let log = stage.join("logs").join(c.arch);
        std::fs::create_dir_all(&log).map_err(io(&log))?;
        let log = log.join("repoclosure.log");
        std::fs::write(&log, c.report.to_text() + &c.report.extras_text()).map_err(io(&log))?;

        progress.stage(&format!("linking packages for {}", c.arch));
        let total = c.picks.len();
        let mut artifacts = Vec::with_capacity(total);
        let mut records = Vec::with_capacity(total);
        let mut own = Vec::with_capacity(total);
        let mut linker = Linker::new(req.verify_payloads);
        // Each source's payload root is opened once, when first needed.
        let mut payloads: Vec<Option<Payloads>> = c.sources.iter().map(|_| None).collect();
        for (k, (p, mut rec)) in c.picks.iter().zip(c.records).enumerate() {
            req.interrupt.check()?;
            let repo = &c.sources[p.repo];
            let pkg = repo.package(p.index);
            let href = published_href(repo, &pkg)?;
            linker.weak.check(repo, &pkg)?;
            if !req.metadata_only {
                let from = match &mut payloads[p.repo] {
                    Some(from) => from,
                    slot => slot.insert(Location::parse(&repo.location).payloads(c.koji_topdir)?),
                };
                let size = package_size(&rec.primary);
                linker.link(from, &pkg, size, &dir.join(&href))?;
            }
            rec.primary = rewrite_location(&rec.primary, &href)?;
            let nevra = pkg.nevra_with_epoch();
            published.rpms.push(productmd::RpmEntry {
                variant: variant.clone(),
                arch: c.arch.to_string(),
                srpm_nevra: srpm_nevra(&pkg),
                nevra: nevra.clone(),
                path: tree.join(&href).display().to_string(),
                category: productmd::RpmCategory::Binary,
            });
            artifacts.push(nevra);
            own.push((repo, p.index, href));
            records.push(rec);
            progress.step(k + 1, total);
        }
        let (stream, defaults) = req.docs.documents(c.arch, &artifacts);
        let (stream_text, modules_yaml) = texts(&stream, &defaults)?;
        published.modulemd.insert(c.arch.to_string(), stream_text);
        progress.stage(&format!("writing repodata for {}", c.arch));
        // The stack's repository takes the records as they are published.
        let stack_records = (!c.layers.is_empty()).then(|| records.clone());
        let written = write_repodata(
            &dir,
            &records,
            &[ExtraMetadata {
                mdtype: "modules".into(),
                file_stem: "modules.yaml".into(),
                content: modules_yaml.into_bytes(),
            }],
            &WriteOptions {
                revision: req.record.started_at.to_string(),
                timestamp: req.record.started_at,
                ..WriteOptions::default()
            },
        )?;
        let modulemd_href = written
            .get("modules")
            .map(|f| f.href.clone())
            .ok_or_else(|| ComposeError::ModulesNotWritten {
                repo: dir.display().to_string(),
            })?;
        published.modules.push(productmd::ModuleEntry {
            variant: variant.clone(),
            arch: c.arch.to_string(),
            name: def.name.clone(),
            stream: def.stream.clone(),
            version: req.docs.version,
            context: req.record.context.clone(),
            rpms: artifacts,
            modulemd_path: tree.join(modulemd_href).display().to_string(),
        });
        if let Some(own_records) = stack_records {
            // The module's own packages come from its repository in the
            // staging directory.
            let own_payloads = Location::Dir(dir.clone()).payloads(None)?;
            let own = Member {
                label: req.record.id.clone(),
                packages: own
                    .into_iter()
                    .zip(own_records)
                    .map(|((repo, index, href), records)| MemberPackage {
                        repo,
                        index,
                        records,
                        from: href,
                    })
                    .collect(),
                payloads: Some(&own_payloads),
                placed_here: true,
                documents: vec![Document::Stream(stream), Document::Defaults(defaults)],
                // The stacks above merge this compose's records again.
                keep: Some(kept_key(&req.record.id, c.arch)),
            };
            let (rpms, modules) =
                publish_stack_repo(req, c.arch, stage, own, c.layers, &mut linker, progress)?;
            published.rpms.extend(rpms);
            published.modules.extend(modules);
        }
        published.repos.push((c.arch.to_string(), sub));
    }
    Ok(published)
}

/// The repository of the whole stack for one arch: the module (`own`)
/// merged with each compose below it, so one repository configuration
/// gives a client the whole stack. Its productmd entries, under the
/// stack's variant.
fn publish_stack_repo(
    req: &PublishRequest<'_>,
    arch: &str,
    stage: &Path,
    own: Member<'_>,
    layers: Vec<LayerContent<'_>>,
    linker: &mut Linker,
    progress: &dyn Progress,
) -> Result<(Vec<productmd::RpmEntry>, Vec<productmd::ModuleEntry>)> {
    let def = req.definition;
    let uid = stack_variant_uid(&def.name);
    let dir = stage.join(stack_repo_subdir(&def.name, arch));
    let payloads: Vec<Option<Payloads>> = layers
        .iter()
        .map(|l| match req.metadata_only {
            true => Ok(None),
            false => Ok(Some(Location::parse(&l.repo.location).payloads(None)?)),
        })
        .collect::<Result<_>>()?;
    let mut members = vec![own];
    for (layer, payloads) in layers.into_iter().zip(&payloads) {
        let repo = layer.repo;
        members.push(Member {
            label: repo.id.clone(),
            packages: layer
                .records
                .into_iter()
                .enumerate()
                .map(|(i, records)| MemberPackage {
                    repo,
                    index: i as u32,
                    from: repo.package(i as u32).location().to_string(),
                    records,
                })
                .collect(),
            payloads: payloads.as_ref(),
            placed_here: false,
            documents: layer.modules,
            // A finished compose: its records never change.
            keep: Some(kept_key(&repo.id, arch)),
        });
    }
    let merged = merge_into(
        &dir,
        members,
        linker,
        &MergeSettings {
            within: format!("the stack of {}", def.nsv()),
            metadata_only: req.metadata_only,
            timestamp: req.record.started_at,
            interrupt: req.interrupt,
            link_stage: format!("linking the stack's packages for {arch}"),
            write_stage: format!("writing the stack's repodata for {arch}"),
            obsoletes: Vec::new(),
            superseded: Vec::new(),
            cache_dir: req.cache_dir,
        },
        progress,
    )?;
    productmd_entries(merged, &uid, arch, &dir)
}

/// The key a compose's records are kept under for whole-stack
/// repositories: its ID and the arch.
fn kept_key(compose_id: &str, arch: &str) -> String {
    format!("stack-member {compose_id} {arch}")
}

/// The productmd entries of a merged repository published as variant
/// `uid`'s tree for `arch` (written at `dir`): its RPMs and module streams.
pub(crate) fn productmd_entries(
    merged: crate::merge::MergedRepo,
    uid: &str,
    arch: &str,
    dir: &Path,
) -> Result<(Vec<productmd::RpmEntry>, Vec<productmd::ModuleEntry>)> {
    let tree = PathBuf::from(productmd::os_tree(uid, arch));
    let modulemd_path =
        tree.join(merged.modules_href.as_deref().ok_or_else(|| {
            ComposeError::ModulesNotWritten {
                repo: dir.display().to_string(),
            }
        })?)
        .display()
        .to_string();
    let rpms = merged
        .packages
        .into_iter()
        .map(|p| productmd::RpmEntry {
            variant: uid.to_string(),
            arch: arch.to_string(),
            srpm_nevra: p.srpm_nevra,
            nevra: p.nevra,
            path: tree.join(&p.href).display().to_string(),
            category: productmd::RpmCategory::Binary,
        })
        .collect();
    let modules = merged
        .streams
        .into_iter()
        .map(|s| productmd::ModuleEntry {
            variant: uid.to_string(),
            arch: arch.to_string(),
            name: s.name,
            stream: s.stream,
            version: s.version,
            context: s.context,
            rpms: s.artifacts,
            modulemd_path: modulemd_path.clone(),
        })
        .collect();
    Ok((rpms, modules))
}

/// The stack is also published as one whole-stack repository.
fn merged_stack(req: &PublishRequest<'_>) -> bool {
    !req.layers.is_empty() && req.stack_repo == StackRepo::Merged
}

/// `compose/<Variant>Stack.repo`: the whole stack as a client configures
/// it, the way multi-repository products ship: one section for each
/// module's own published repository, bottom first, the module's last.
/// Nothing of the layers is copied. `$basearch` makes one file serve every
/// arch; the URLs are `file://` paths, or under `[compose] repo_base_url`
/// when `out` is served. Each section is named by its compose ID, so two
/// stacks sharing a layer name one repository.
fn stack_repo_file(req: &PublishRequest<'_>, dest: &Path, out: &Path) -> Result<String> {
    let def = req.definition;
    let mut text = format!(
        "# The stack of {} (compose {}), bottom first: each module's own\n\
         # repository. Written by Strata; copy it into /etc/yum.repos.d/.\n",
        def.nsv(),
        req.record.id
    );
    let own = (req.record.id.as_str(), def.nsv(), def.name.as_str(), dest);
    let layers = req.layers.iter().map(|l| {
        let path = l.record.outputs.as_ref().map(|o| o.path.as_path());
        (l.record.id.as_str(), l.nsv(), l.record.name.as_str(), path)
    });
    for (id, nsv, name, path) in layers.chain(std::iter::once((own.0, own.1, own.2, Some(own.3)))) {
        // Resolved layers are finished composes, which have outputs.
        let Some(path) = path else {
            return Err(ComposeError::DependencyMissingArch {
                compose_id: id.to_string(),
                required: nsv,
                arch: "$basearch".into(),
            });
        };
        let repo = path.join(repo_subdir(name, "$basearch"));
        let url = match req.repo_base_url {
            None => url::Url::from_directory_path(&repo)
                .map(String::from)
                .map_err(|()| ComposeError::LayerOutsideOut {
                    module: def.nsv(),
                    layer: nsv.clone(),
                    compose_id: id.to_string(),
                    path: repo.display().to_string(),
                    out: out.display().to_string(),
                })?,
            Some(base) => {
                served_url(base, out, &repo).ok_or_else(|| ComposeError::LayerOutsideOut {
                    module: def.nsv(),
                    layer: nsv.clone(),
                    compose_id: id.to_string(),
                    path: path.display().to_string(),
                    out: out.display().to_string(),
                })?
            }
        };
        text += &format!("\n[{id}]\nname={nsv} (Strata compose {id})\nbaseurl={url}\nenabled=1\n");
    }
    Ok(text)
}

/// `repo`'s URL when `out` is served at `base` (checked by the
/// configuration to be a base URL); `None` when `repo` is not under `out`.
fn served_url(base: &str, out: &Path, repo: &Path) -> Option<String> {
    let rel = repo.strip_prefix(out).ok()?;
    let mut url = url::Url::parse(base).ok()?;
    {
        let mut segments = url.path_segments_mut().ok()?;
        segments.pop_if_empty();
        for c in rel.components() {
            segments.push(c.as_os_str().to_str()?);
        }
        // A directory: its trailing slash.
        segments.push("");
    }
    Some(url.into())
}

/// The stack's layers as `rpms.json` names them.
fn layer_refs(req: &PublishRequest<'_>) -> Vec<productmd::LayerRef> {
    req.layers
        .iter()
        .map(|l| productmd::LayerRef {
            module: l.nsv(),
            compose_id: l.record.id.clone(),
            path: l
                .record
                .outputs
                .as_ref()
                .map(|o| o.path.display().to_string())
                .unwrap_or_default(),
        })
        .collect()
}
