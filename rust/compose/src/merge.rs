//! Several repositories as one: every package once, one repodata written
//! from the inputs' own metadata records (no RPM is read), and one
//! `modules.yaml` holding each module stream once. A stack compose merges
//! its module with every compose below it into the stack's repository;
//! the Pungi phase merges the composes a variant carries
//! ([`merge_repositories`]). One implementation serves both: the stack's
//! publisher hands in what it already loaded, [`merge_repositories`]
//! loads published repositories first.
//!
//! A package is known by the file name it is published under
//! (`Packages/<l>/<name>-<version>-<release>.<arch>.rpm`): the same name
//! with the same checksum is the same package, taken once; the same name
//! with another checksum is an error naming both inputs.

use crate::error::{io, ComposeError, Result};
use crate::ids::{compose_time, srpm_nevra};
use crate::interrupt::Interrupt;
use crate::link::{published_href, Linker};
use crate::progress::{Progress, Quiet};
use crate::repo_modules::read_repo_modules;
use crate::staging::{host_name, sync_dir, sync_tree};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use strata_modulemd::{Defaults, Document, ModuleStream, Obsoletes};
use strata_repodata::{
    rewrite_location, write_repodata_parts, ExtraMetadata, LoadOptions, Location, PackageRecords,
    Payloads, RecordsPart, Repo, WriteOptions,
};

/// A repository made by merging others.
#[derive(Debug, Clone)]
pub struct MergedRepo {
    /// Where it is.
    pub path: PathBuf,
    /// Its packages, in repodata order: the inputs' packages in input
    /// order, each once.
    pub packages: Vec<MergedPackage>,
    /// Its module streams, each once, in input order.
    pub streams: Vec<ModuleStream>,
    /// The modules metadata in its repodata (`repodata/<sum>-modules.yaml.gz`);
    /// `None` when no input had modules.
    pub modules_href: Option<String>,
}

/// One package of a merged repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedPackage {
    /// Relative to the repository: `Packages/<l>/<file>.rpm`.
    pub href: String,
    /// `name-epoch:version-release.arch`, the epoch always written.
    pub nevra: String,
    /// Its source RPM's NEVRA, as productmd keys binary RPMs.
    pub srpm_nevra: String,
    /// `type:hex`, as the input's metadata gives it.
    pub checksum: String,
    /// The input it was taken from (the first that has it).
    pub from: String,
}

/// How [`merge_repositories`] works.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Checksum every RPM against its repository's metadata before
    /// linking it. Sizes are always checked; copied RPMs always
    /// checksummed.
    pub verify_payloads: bool,
    /// Where parsed repositories and metadata records are cached.
    pub cache_dir: Option<PathBuf>,
    /// The repodata's revision and timestamps (unix seconds); `None`:
    /// `SOURCE_DATE_EPOCH`, else now.
    pub timestamp: Option<i64>,
}

/// Merges the published repositories `inputs` (local directories, each
/// with its `repodata/`) into a new repository at `dest`: every package
/// hardlinked (else reflinked, else copied) once, one repodata written
/// from the inputs' metadata records, one `modules.yaml`. The repository
/// is written beside `dest` and renamed into place when complete, so
/// `dest` is never seen half-written; `dest` must not exist, or be an
/// empty directory.
pub fn merge_repositories(
    inputs: &[PathBuf],
    dest: &Path,
    options: &MergeOptions,
) -> Result<MergedRepo> {
    let refuse = |problem: &str| ComposeError::MergeDestination {
        dest: dest.display().to_string(),
        problem: problem.to_string(),
    };
    if inputs.is_empty() {
        return Err(refuse("no repositories were given to merge"));
    }
    match std::fs::symlink_metadata(dest) {
        Ok(m) if !m.is_dir() => return Err(refuse("it exists and is not a directory")),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dest).map_err(io(dest))?;
            if entries.next().is_some() {
                return Err(refuse("it exists and is not empty"));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(dest)(e)),
    }
    let name = dest
        .file_name()
        .ok_or_else(|| refuse("it names no directory"))?
        .to_string_lossy()
        .into_owned();
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;

    let opts = LoadOptions {
        cache_dir: options.cache_dir.clone(),
        ..LoadOptions::default()
    };
    let mut loaded = inputs
        .iter()
        .map(|path| Published::load(path, path.display().to_string(), &opts))
        .collect::<Result<Vec<_>>>()?;
    let members = loaded.iter_mut().map(Published::member).collect();

    let stage = Stage::new(parent.join(format!(
        ".{name}.merge-{}-{}",
        host_name(),
        std::process::id()
    )))?;
    let timestamp = options.timestamp.unwrap_or_else(compose_time);
    let mut merged = merge_into(
        &stage.0,
        members,
        &mut Linker::new(options.verify_payloads),
        &MergeSettings {
            within: format!("the merged repository {}", dest.display()),
            metadata_only: false,
            timestamp,
            interrupt: &Interrupt::new(),
            link_stage: format!("linking packages into {}", dest.display()),
            write_stage: format!("writing the repodata of {}", dest.display()),
            obsoletes: Vec::new(),
            superseded: Vec::new(),
            // Its inputs are paths, whose content may change.
            cache_dir: None,
        },
        &Quiet,
    )?;
    sync_tree(&stage.0)?;
    std::fs::rename(&stage.0, dest).map_err(io(dest))?;
    sync_dir(&parent);
    stage.disarm();
    merged.path = dest.to_path_buf();
    Ok(merged)
}

/// A published repository, loaded to be merged: its packages with their
/// metadata records, its modules documents, where its payloads are.
pub(crate) struct Published {
    pub label: String,
    repo: Repo,
    records: Vec<PackageRecords>,
    pub documents: Vec<Document>,
    payloads: Payloads,
}

impl Published {
    /// Loads the repository at `path` (a local directory with its
    /// `repodata/`); `label` names it in messages.
    pub(crate) fn load(path: &Path, label: String, opts: &LoadOptions) -> Result<Published> {
        let location = path.display().to_string();
        let (repo, store) = strata_repodata::load_repo_with_records(&label, &location, opts)?;
        let all: Vec<u32> = (0..repo.len() as u32).collect();
        let records = store.get_many(&all)?;
        let documents = read_repo_modules(&location)?;
        let payloads = Location::Dir(path.to_path_buf()).payloads(None)?;
        Ok(Published {
            label,
            repo,
            records,
            documents,
            payloads,
        })
    }

    /// The repository as a merge member; takes its records and documents.
    pub(crate) fn member(&mut self) -> Member<'_> {
        Member {
            label: self.label.clone(),
            packages: std::mem::take(&mut self.records)
                .into_iter()
                .enumerate()
                .map(|(i, records)| MemberPackage {
                    repo: &self.repo,
                    index: i as u32,
                    from: self.repo.package(i as u32).location().to_string(),
                    records,
                })
                .collect(),
            payloads: Some(&self.payloads),
            placed_here: false,
            documents: std::mem::take(&mut self.documents),
            keep: None,
        }
    }
}

/// A directory removed when dropped, unless disarmed.
struct Stage(PathBuf);

impl Stage {
    fn new(dir: PathBuf) -> Result<Stage> {
        // A leftover of this very process (same host and PID) is stale.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::create_dir(&dir).map_err(io(&dir))?;
        Ok(Stage(dir))
    }

    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!("cannot remove {}: {e}", self.0.display());
        }
    }
}

/// One repository going into a merge, loaded.
pub(crate) struct Member<'a> {
    /// Names the input in messages and in [`MergedPackage::from`]: a
    /// compose ID, or a repository's path.
    pub label: String,
    /// The packages it contributes, in order.
    pub packages: Vec<MemberPackage<'a>>,
    /// Where its payloads are; `None` publishes metadata only.
    pub payloads: Option<&'a Payloads>,
    /// Its payloads were placed, and checked, by this very compose: they
    /// are linked without a second check.
    pub placed_here: bool,
    /// Its modules metadata.
    pub documents: Vec<Document>,
    /// What never changes about its records (a finished compose's ID and
    /// the arch): the compressed text of its records is kept under it in
    /// [`MergeSettings::cache_dir`] and reused by the next merge with it.
    /// `None` for a repository that may change (a path).
    pub keep: Option<String>,
}

/// One package of a [`Member`].
pub(crate) struct MemberPackage<'a> {
    /// `repo.package(index)` is the package.
    pub repo: &'a Repo,
    pub index: u32,
    pub records: PackageRecords,
    /// Its payload, relative to the member's `payloads`.
    pub from: String,
}

pub(crate) struct MergeSettings<'a> {
    /// What is being merged, for conflicts: `the stack of php:8.2`.
    pub within: String,
    pub metadata_only: bool,
    /// The repodata's revision and timestamps.
    pub timestamp: i64,
    /// Looked at between packages.
    pub interrupt: &'a Interrupt,
    pub link_stage: String,
    pub write_stage: String,
    /// modulemd-obsoletes written with the merged modules (a release's end
    /// of life data); inputs' own obsoletes are not merged.
    pub obsoletes: Vec<Obsoletes>,
    /// Streams written to modules.yaml only, without packages: a release's
    /// previous streams that an obsoletes switches from (dnf applies an
    /// obsoletes only to a stream its metadata knows).
    pub superseded: Vec<ModuleStream>,
    /// Where members' compressed records are kept ([`Member::keep`]).
    pub cache_dir: Option<&'a Path>,
}

/// Merges `members` into the new repository `dir` (created if missing):
/// links the packages, writes the repodata and the merged modules.
pub(crate) fn merge_into(
    dir: &Path,
    members: Vec<Member<'_>>,
    linker: &mut Linker,
    settings: &MergeSettings<'_>,
    progress: &dyn Progress,
) -> Result<MergedRepo> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    progress.stage(&settings.link_stage);
    let mut packages: Vec<MergedPackage> = Vec::new();
    // href → its entry in `packages`
    let mut placed: HashMap<String, usize> = HashMap::new();
    let mut records = Vec::new();
    let mut parts = Vec::with_capacity(members.len());
    let mut documents = Vec::with_capacity(members.len());
    for member in members {
        let start = records.len();
        let mut whole = true;
        for MemberPackage {
            repo,
            index,
            records: mut rec,
            from,
        } in member.packages
        {
            settings.interrupt.check()?;
            let pkg = repo.package(index);
            let href = published_href(repo, &pkg)?;
            if let Some(&k) = placed.get(&href) {
                let first = &packages[k];
                if first.checksum == pkg.checksum() {
                    // The same RPM in two inputs: once (and this input's
                    // records are not all of its records).
                    whole = false;
                    continue;
                }
                return Err(ComposeError::PackageConflict {
                    within: settings.within.clone(),
                    href,
                    first: format!("{} ({}) from {}", first.nevra, first.checksum, first.from),
                    second: format!(
                        "{} ({}) from {}",
                        pkg.nevra_with_epoch(),
                        pkg.checksum(),
                        member.label
                    ),
                });
            }
            if !settings.metadata_only {
                if let Some(payloads) = member.payloads {
                    let dest = dir.join(&href);
                    if member.placed_here {
                        // Just placed and checked: no second size or
                        // checksum check.
                        linker.place(
                            payloads,
                            &pkg.nevra_with_epoch(),
                            &from,
                            pkg.checksum(),
                            None,
                            false,
                            &dest,
                        )?;
                    } else {
                        linker.weak.check(repo, &pkg)?;
                        let size = strata_repodata::package_size(&rec.primary);
                        let verify = linker.verify;
                        linker.place(
                            payloads,
                            &pkg.nevra().to_string(),
                            &from,
                            pkg.checksum(),
                            size,
                            verify,
                            &dest,
                        )?;
                    }
                }
            } else if !member.placed_here {
                linker.weak.check(repo, &pkg)?;
            }
            rec.primary = rewrite_location(&rec.primary, &href)?;
            records.push(rec);
            placed.insert(href.clone(), packages.len());
            packages.push(MergedPackage {
                href,
                nevra: pkg.nevra_with_epoch(),
                srpm_nevra: srpm_nevra(&pkg),
                checksum: pkg.checksum().to_string(),
                from: member.label.clone(),
            });
        }
        let keep = match (settings.cache_dir, member.keep) {
            (Some(dir), Some(key)) if whole => Some((dir.to_path_buf(), key)),
            _ => None,
        };
        parts.push(RecordsPart {
            range: start..records.len(),
            keep,
        });
        documents.push((member.label, member.documents));
    }
    let (streams, defaults) = merged_modules(&settings.within, documents)?;
    let extra = if streams.is_empty() && defaults.is_empty() && settings.obsoletes.is_empty() {
        Vec::new()
    } else {
        let written: Vec<ModuleStream> = if settings.superseded.is_empty() {
            Vec::new()
        } else {
            streams
                .iter()
                .chain(&settings.superseded)
                .cloned()
                .collect()
        };
        vec![ExtraMetadata {
            mdtype: "modules".into(),
            file_stem: "modules.yaml".into(),
            content: strata_modulemd::modules_yaml_with_obsoletes(
                if written.is_empty() {
                    &streams
                } else {
                    &written
                },
                &defaults,
                &settings.obsoletes,
            )?
            .into_bytes(),
        }]
    };
    progress.stage(&settings.write_stage);
    let written = write_repodata_parts(
        dir,
        &records,
        &parts,
        &extra,
        &WriteOptions {
            revision: settings.timestamp.to_string(),
            timestamp: settings.timestamp,
            ..WriteOptions::default()
        },
    )?;
    Ok(MergedRepo {
        path: dir.to_path_buf(),
        packages,
        streams,
        modules_href: written.get("modules").map(|f| f.href.clone()),
    })
}

/// The streams of all inputs, each once (the same stream twice with
/// different content is an error naming both inputs), and the defaults of
/// each module once (where inputs disagree on a module's defaults, the
/// first input's stand, as Pungi's merge keeps them, and the others are
/// logged).
fn merged_modules(
    within: &str,
    documents: Vec<(String, Vec<Document>)>,
) -> Result<(Vec<ModuleStream>, Vec<Defaults>)> {
    let mut streams: Vec<ModuleStream> = Vec::new();
    let mut stream_from: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut defaults: Vec<Defaults> = Vec::new();
    let mut defaults_from: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (label, docs) in documents {
        for doc in docs {
            match doc {
                Document::Stream(s) => match stream_from.get(&s.nsvca()) {
                    Some((k, _)) if streams[*k] == s => {}
                    Some((_, first)) => {
                        return Err(ComposeError::ModuleConflict {
                            within: within.to_string(),
                            document: format!("module stream {}", s.nsvca()),
                            first: first.clone(),
                            second: label.clone(),
                        })
                    }
                    None => {
                        stream_from.insert(s.nsvca(), (streams.len(), label.clone()));
                        streams.push(s);
                    }
                },
                Document::Defaults(d) => match defaults_from.get(&d.module) {
                    Some((k, _)) if defaults[*k] == d => {}
                    Some((_, first)) => tracing::warn!(
                        "{within}: the modulemd-defaults of {} from {label} differ from those \
                         of {first}, which are kept",
                        d.module
                    ),
                    None => {
                        defaults_from.insert(d.module.clone(), (defaults.len(), label.clone()));
                        defaults.push(d);
                    }
                },
                // Translations, obsoletes: not Strata's to merge.
                Document::Other { document, .. } => tracing::info!(
                    "{within}: a `{document}` document of {label} is left out of the merged \
                     modules metadata"
                ),
            }
        }
    }
    Ok((streams, defaults))
}
