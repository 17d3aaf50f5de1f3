//! One module compose, start to end: read the definition, load the inputs
//! (source, required modules' last good composes, platform), record the
//! compose as started, pick the packages, run the repoclosure gate, publish,
//! record the outcome. Anything that fails after the compose was recorded
//! as started is recorded as failed before the error is returned.
//!
//! # Publishing and recording, in this order
//! The registry and `OUT` cannot change in one step, so the order keeps
//! what is visible in `OUT` from ever claiming more than the registry:
//! 1. *begin*: the registry says `started`.
//! 2. *stage*: everything is written into a locked staging directory
//!    (`OUT/.staging-<id>@<host>-<pid>`, see staging.rs) with `STATUS`
//!    STARTED, and synced. Errors, a full disk and interruptions (signals,
//!    KeyboardInterrupt; looked at between stages and packages) are
//!    honoured up to here: the staging directory is removed and the
//!    compose recorded `failed`.
//! 3. *place*: one rename puts the tree at `OUT/<id>`, STATUS still STARTED.
//! 4. *record*: the registry says `finished`, with the outputs.
//! 5. *mark*: a `STATUS` saying FINISHED, written in step 2, is renamed
//!    over the STARTED one.
//! 6. *point*: `OUT/latest-<name>-<stream>` is set, under its lock, to the
//!    registry's last good compose of the stream (not simply to this one).
//! 7. The staging directory, empty by now, is removed and its lock freed.
//!
//! Steps 3 to 6 are never cut short by a signal. When step 4 fails (SQLite
//! locked past its busy timeout, PostgreSQL gone), the record is read back:
//! if the write in fact went through, the compose goes on; otherwise it is
//! taken out of `OUT` again (renamed back into its staging directory, then
//! removed), recorded `failed` if the registry allows, and the error says
//! so: nothing visible says FINISHED and `latest-*` never moved.
//!
//! A crash (kill -9, power loss) right after each step leaves:
//!
//! | after | registry | OUT | what recovers it |
//! |---|---|---|---|
//! | 1, 2 | started | a staging dir whose lock died with its process | the next compose removes the dir; the record is abandoned |
//! | 3 | started | `OUT/<id>` with STATUS STARTED, no link to it | the record is abandoned; STATUS says it never finished |
//! | 4 | finished | `OUT/<id>` complete, STATUS STARTED | nothing needed: the registry (the authority) is right and the content complete; only STATUS lags |
//! | 5 | finished | STATUS FINISHED, `latest-*` not yet moved | the next compose of the stream sets the link |
//! | 6 | finished | as it should be, plus an empty staging dir | the next compose removes it |
//!
//! So the registry never says finished for a compose that is not in place
//! (4 comes after 3), and nothing in `OUT` says FINISHED, nor does a link
//! point, at a compose the registry does not hold finished. One case is
//! left to chance: a registry that fails while committing step 4 and then
//! cannot be read back. The output is withdrawn then; should the commit
//! have gone through, the record names an output that is missing, which
//! fails any compose built on it with a clear error until a newer one is
//! good.

use crate::config::{substitute_arch, Config};
use crate::error::{error_chain, ComposeError, Result};
use crate::interrupt::Interrupt;
use crate::publish::{self, ArchContent, PublishRequest};
use crate::select::{select, subset, Pick};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use strata_model::{ModuleDefinition, Source};
use strata_registry::{
    ComposeRecord, ComposeType, Input, InputKind, NewCompose, Outcome, PackagesByArch, Registry,
};
use strata_repodata::{LoadOptions, PackageRecords, RecordStore, Repo};
use strata_solve::{repoclosure, ClosureOptions, ClosureReport};

/// What to compose and how.
#[derive(Debug, Clone)]
pub struct ComposeRequest {
    pub definition: PathBuf,
    pub out: PathBuf,
    /// Arches asked for on the command line; empty: the definition's.
    pub arches: Vec<String>,
    /// productmd compose type: production, test, nightly (default), ci.
    pub compose_type: ComposeType,
    /// Publish repodata only, linking no RPM payloads (benchmarks, dry runs).
    pub metadata_only: bool,
    /// Checksum every RPM against the source metadata before linking it.
    /// Sizes are always checked; copied or downloaded RPMs are always
    /// checksummed.
    pub verify_payloads: bool,
    /// Where the definition came from in SCM; detected from git if None.
    pub scm_ref: Option<String>,
    /// Compose time (unix seconds): `SOURCE_DATE_EPOCH` or now. It gives
    /// the compose ID's date and the modulemd version.
    pub started_at: i64,
    pub cache_dir: Option<PathBuf>,
    /// Compose IDs to use for modules of the stack instead of their last
    /// good composes (over the definition's `compose_pins`).
    pub with_composes: Vec<String>,
    /// Raised (by a signal handler, or the Python bindings) to stop the
    /// compose at its next safe point.
    pub interrupt: Interrupt,
}

/// Progress callbacks for a terminal front end.
pub trait Progress {
    fn stage(&self, what: &str);
    fn step(&self, done: usize, total: usize);
}

/// A no-op progress sink.
pub struct Quiet;
impl Progress for Quiet {
    fn stage(&self, _: &str) {}
    fn step(&self, _: usize, _: usize) {}
}

/// How a compose ended, short of an error.
#[derive(Debug)]
pub enum ComposeOutcome {
    /// Published; the record is `finished`.
    Finished(ComposeRecord),
    /// The repoclosure gate failed on some arches; the record is `failed`
    /// and nothing was published.
    GateFailed {
        record: ComposeRecord,
        reports: BTreeMap<String, ClosureReport>,
    },
}

/// The inputs of one arch, loaded.
struct ArchInputs {
    arch: String,
    sources: Vec<Repo>,
    /// Builds the source may contribute (a Koji tag's latest builds).
    allowed: Option<std::sync::Arc<rustc_hash::FxHashSet<String>>>,
    /// The metadata records of each source, for publishing.
    records: Vec<RecordStore>,
    /// The stack's module composes, bottom first, and their records.
    layers: Vec<Repo>,
    layer_records: Vec<RecordStore>,
    /// The stack's own sources for this arch (`name:stream/source`,
    /// location): read only for suggestions.
    layer_sources: Vec<(String, String)>,
    platform: Vec<Repo>,
    /// The Koji topdir, when the source is a Koji tag on a mounted topdir.
    koji_topdir: Option<PathBuf>,
}

/// Reads and validates a definition file.
pub fn read_definition(path: &Path) -> Result<(ModuleDefinition, String)> {
    let bytes = crate::definition_file::read_definition_bytes(path)?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let def = ModuleDefinition::from_bytes(&bytes, &path.display().to_string())?;
    Ok((def, digest))
}

/// `git+file://TOPLEVEL?RELPATH#COMMIT` (Koji's SCM URL shape) when the
/// definition is committed in a git work tree without local changes.
pub fn detect_scm_ref(path: &Path) -> Option<String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let commit = git(&["rev-parse", "HEAD"])?;
    let name = path.file_name()?.to_str()?;
    let status = git(&["status", "--porcelain", "--", name])?;
    if !status.is_empty() {
        tracing::warn!(
            "{} has uncommitted changes: the compose records no SCM reference",
            path.display()
        );
        return None;
    }
    let abs = std::fs::canonicalize(path).ok()?;
    let rel = abs.strip_prefix(&top).ok()?.display().to_string();
    Some(format!("git+file://{top}?{rel}#{commit}"))
}

/// Modulemd version from the compose time: `YYYYMMDDHHMMSS` in UTC.
pub fn modulemd_version(started_at: i64) -> u64 {
    let ts = jiff::Timestamp::from_second(started_at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.strftime("%Y%m%d%H%M%S").to_string().parse().unwrap_or(0)
}

/// The stream's context: a digest of its runtime dependencies, as MBS
/// derives it, so that streams built against different dependencies differ.
pub fn context(def: &ModuleDefinition) -> String {
    let mut h = Sha256::new();
    for (m, s) in &def.requires {
        h.update(m.as_bytes());
        h.update(b":");
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())[..8].to_string()
}

fn arches_for(
    def: &ModuleDefinition,
    req: &ComposeRequest,
    config: &Config,
) -> Result<Vec<String>> {
    let named: Vec<String> = if !def.arches.is_empty() {
        def.arches.clone()
    } else if !config.compose.arches.is_empty() {
        config.compose.arches.clone()
    } else {
        vec![strata_solve::host_arch().to_string()]
    };
    let arches: Vec<String> = if req.arches.is_empty() {
        named.clone()
    } else {
        req.arches
            .iter()
            .filter(|a| named.contains(a))
            .cloned()
            .collect()
    };
    if arches.is_empty() {
        return Err(ComposeError::NoArches {
            named: named.join(", "),
            asked: req.arches.join(", "),
        });
    }
    Ok(arches)
}

/// A location as records, logs and published metadata show it: without a
/// password.
fn shown(location: &str) -> String {
    strata_model::redact_credentials(location).into_owned()
}

/// A recorded location (kept without its password) to read again: when
/// this compose reads the same repository (the same URL but for the
/// password), with this compose's credentials; else as recorded, which
/// for a repository that wants a password fails, and costs only the
/// suggestions it would have given.
fn with_credentials(recorded: &str, known: &[&str]) -> String {
    known
        .iter()
        .find(|k| shown(k) == recorded)
        .unwrap_or(&recorded)
        .to_string()
}

/// A local path in a definition is relative to the definition's directory.
fn relative_to(loc: &str, dir: &Path) -> String {
    if loc.contains("://") || Path::new(loc).is_absolute() {
        loc.to_string()
    } else {
        dir.join(loc).display().to_string()
    }
}

fn load_inputs(
    req: &ComposeRequest,
    def: &ModuleDefinition,
    arches: &[String],
    config: &Config,
    registry: &dyn Registry,
    opts: &LoadOptions,
    progress: &dyn Progress,
) -> Result<Loaded> {
    let def_dir = req
        .definition
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut inputs = Vec::new();
    // The stack below: every required module, directly or not, each at
    // its last good (or pinned) compose.
    let layers = crate::stack::resolve(def, registry, &req.with_composes)?;
    for l in &layers {
        inputs.push(Input {
            kind: if l.direct {
                InputKind::Compose
            } else {
                InputKind::StackCompose
            },
            name: l.nsv(),
            ident: l.record.id.clone(),
            location: l
                .record
                .outputs
                .as_ref()
                .map(|o| o.path.display().to_string())
                .unwrap_or_default(),
        });
    }
    let platform_repos: Vec<String> = match def.platform() {
        None => Vec::new(),
        Some(p) => config
            .platform
            .get(p)
            .map(|c| c.repos.clone())
            .ok_or_else(|| ComposeError::UnknownPlatform {
                module: def.nsv(),
                platform: p.to_string(),
            })?,
    };
    let (source_repos, allowed, koji_topdir) = match &def.source {
        Source::Repos(r) => (r.clone(), None, None),
        Source::Koji { tag } => {
            let koji = config.koji.as_ref().ok_or(ComposeError::NoKoji)?;
            progress.stage(&format!("asking Koji for {tag}"));
            let repo = crate::koji::resolve_tag(koji, tag)?;
            inputs.push(Input {
                kind: InputKind::KojiRepo,
                name: tag.clone(),
                ident: repo.repo_id.to_string(),
                location: shown(&repo.base),
            });
            let topdir = strata_repodata::Location::parse(koji.topurl.trim_end_matches('/'))
                .as_dir()
                .map(Path::to_path_buf);
            (
                vec![repo.arch_location("$arch")],
                Some(std::sync::Arc::new(repo.latest_nvrs)),
                topdir,
            )
        }
    };
    let mut out = Vec::new();
    for arch in arches {
        req.interrupt.check()?;
        progress.stage(&format!("loading inputs for {arch}"));
        let source_specs: Vec<(String, String)> = source_repos
            .iter()
            .enumerate()
            .map(|(i, loc)| {
                let id = if source_repos.len() == 1 {
                    "source".to_string()
                } else {
                    format!("source-{}", i + 1)
                };
                (id, relative_to(&substitute_arch(loc, arch), def_dir))
            })
            .collect();
        let platform_specs: Vec<(String, String)> = platform_repos
            .iter()
            .enumerate()
            .map(|(i, loc)| (format!("platform-{}", i + 1), substitute_arch(loc, arch)))
            .collect();
        let known: Vec<&str> = source_specs
            .iter()
            .chain(&platform_specs)
            .map(|(_, loc)| loc.as_str())
            .collect();
        let mut layer_specs: Vec<(String, String)> = Vec::new();
        let mut layer_sources: Vec<(String, String)> = Vec::new();
        for l in &layers {
            let rec = &l.record;
            let repo_path = rec
                .outputs
                .as_ref()
                .and_then(|o| o.repos.get(arch))
                .map(|p| p.display().to_string())
                .ok_or_else(|| ComposeError::DependencyMissingArch {
                    compose_id: rec.id.clone(),
                    required: l.nsv(),
                    arch: arch.clone(),
                })?;
            layer_specs.push((rec.id.clone(), repo_path));
            let suffix = format!(".{arch}");
            for i in &rec.inputs {
                if i.kind == InputKind::SourceRepo {
                    if let Some(id) = i.name.strip_suffix(&suffix) {
                        let loc = with_credentials(&i.location, &known);
                        layer_sources.push((format!("{}/{id}", l.nsv()), loc));
                    }
                }
            }
        }
        // The sources and their metadata record stores load on one thread
        // while the stack's composes and the platform load on this one: on
        // a cold cache these are the longest steps of a compose, and
        // independent.
        let (sources, (layers_loaded, platform)) = std::thread::scope(|scope| {
            let sources = scope.spawn(|| -> Result<Vec<(Repo, RecordStore)>> {
                let mut v = Vec::new();
                for (id, loc) in &source_specs {
                    req.interrupt.check()?;
                    tracing::info!(repo = id, location = shown(loc), arch, "loading source");
                    v.push(strata_repodata::load_repo_with_records(id, loc, opts)?);
                }
                Ok(v)
            });
            let layers_loaded: Result<Vec<(Repo, RecordStore)>> = layer_specs
                .iter()
                .map(|(id, loc)| {
                    req.interrupt.check()?;
                    tracing::info!(compose = id, location = loc, arch, "loading stack layer");
                    Ok(strata_repodata::load_repo_with_records(id, loc, opts)?)
                })
                .collect();
            let platform: Result<Vec<Repo>> = platform_specs
                .iter()
                .map(|(id, loc)| {
                    req.interrupt.check()?;
                    tracing::info!(repo = id, location = shown(loc), arch, "loading platform");
                    Ok(strata_repodata::load_repo(id, loc, opts)?)
                })
                .collect();
            let sources = sources
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (sources, (layers_loaded, platform))
        });
        let (sources, records): (Vec<Repo>, Vec<RecordStore>) = sources?.into_iter().unzip();
        let (layer_repos, layer_records): (Vec<Repo>, Vec<RecordStore>) =
            layers_loaded?.into_iter().unzip();
        let platform = platform?;
        for ((id, loc), repo) in source_specs.into_iter().zip(&sources) {
            inputs.push(Input {
                kind: InputKind::SourceRepo,
                name: format!("{id}.{arch}"),
                ident: repo.checksum.clone(),
                location: shown(&loc),
            });
        }
        for ((_, loc), repo) in platform_specs.into_iter().zip(&platform) {
            inputs.push(Input {
                kind: InputKind::Platform,
                name: format!("{}.{arch}", def.platform().unwrap_or_default()),
                ident: repo.checksum.clone(),
                location: shown(&loc),
            });
        }
        out.push(ArchInputs {
            arch: arch.clone(),
            sources,
            records,
            allowed: allowed.clone(),
            layers: layer_repos,
            layer_records,
            layer_sources,
            platform,
            koji_topdir: koji_topdir.clone(),
        });
    }
    Ok(Loaded {
        arches: out,
        inputs,
        layers,
    })
}

struct Loaded {
    arches: Vec<ArchInputs>,
    inputs: Vec<Input>,
    layers: Vec<crate::stack::Layer>,
}

/// The closure gate for one arch: every requirement of the module's
/// packages, and of every package of the stack below it, must be met by
/// the module, the stack and the platform. Only when that fails are the
/// rest of the source and the stack's own sources read, for suggestions.
fn gate(
    def: &ModuleDefinition,
    inputs: &ArchInputs,
    picks: &[Pick],
    opts: &LoadOptions,
) -> Result<ClosureReport> {
    let module_id = def.name.clone();
    let mut by_repo: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    for p in picks {
        by_repo.entry(p.repo).or_default().push(p.index);
    }
    let module_repos: Vec<Repo> = by_repo
        .iter()
        .map(|(&r, idx)| {
            let id = if by_repo.len() == 1 {
                module_id.clone()
            } else {
                format!("{module_id}#{r}")
            };
            subset(&id, &inputs.sources[r], idx)
        })
        .collect();
    let mut repos: Vec<&Repo> = module_repos.iter().collect();
    repos.extend(inputs.layers.iter());
    repos.extend(inputs.platform.iter());
    let mut opts_closure = ClosureOptions {
        check: module_repos
            .iter()
            .chain(inputs.layers.iter())
            .map(|r| r.id.clone())
            .collect(),
        arches: Vec::new(),
        newest: false,
        base_arch: Some(inputs.arch.clone()),
        installable: false,
        suggest_from: Vec::new(),
        hidden: modular_filter(&module_repos, &inputs.layers, &inputs.platform),
    };
    let report = repoclosure(&repos, &opts_closure, &|_, _, _| {})?;
    if report.ok() {
        return Ok(report);
    }
    // Only a failed gate needs the rest of the sources: for suggestions.
    // A lower module's source that cannot be read any more only costs its
    // suggestions.
    let lower: Vec<Repo> = inputs
        .layer_sources
        .iter()
        .filter_map(
            |(id, loc)| match strata_repodata::load_repo(id, loc, opts) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!("no suggestions from {id}: {e}");
                    None
                }
            },
        )
        .collect();
    repos.extend(inputs.sources.iter());
    repos.extend(lower.iter());
    opts_closure.suggest_from = inputs
        .sources
        .iter()
        .chain(lower.iter())
        .map(|r| r.id.clone())
        .collect();
    Ok(repoclosure(&repos, &opts_closure, &|_, _, _| {})?)
}

/// What dnf hides from the platform while the stack's streams are active
/// (libdnf's modular filtering): every non-modular package named like a
/// binary package of an active stream, or providing such a name. The gate
/// must not count on them, or a module that passes it would not install.
fn modular_filter(module: &[Repo], layers: &[Repo], platform: &[Repo]) -> Vec<(String, Vec<u32>)> {
    let names: rustc_hash::FxHashSet<&str> = module
        .iter()
        .chain(layers)
        .flat_map(|r| r.iter().map(|p| p.name()))
        .collect();
    let mut hidden = Vec::new();
    for repo in platform {
        let idx: Vec<u32> = repo
            .iter()
            .filter(|p| names.contains(p.name()) || p.provides().any(|d| names.contains(d.name())))
            .map(|p| p.index)
            .collect();
        if !idx.is_empty() {
            tracing::info!(
                repo = repo.id,
                hidden = idx.len(),
                "platform packages hidden by the stack's module streams"
            );
            hidden.push((repo.id.clone(), idx));
        }
    }
    hidden
}

#[derive(Serialize)]
struct Timings {
    load_s: f64,
    select_s: f64,
    gate_s: f64,
    publish_s: f64,
}

/// Composes one module. Errors before the compose is recorded (bad
/// definition, unreadable inputs) leave no record; later ones are recorded
/// as failed, and leave nothing in `OUT` (see the module documentation for
/// the order of publishing and recording).
pub fn compose_module(
    req: &ComposeRequest,
    config: &Config,
    registry: &mut dyn Registry,
    progress: &dyn Progress,
) -> Result<ComposeOutcome> {
    let t0 = Instant::now();
    let (def, digest) = read_definition(&req.definition)?;
    req.interrupt.check()?;
    let arches = arches_for(&def, req, config)?;
    let opts = LoadOptions {
        cache_dir: req.cache_dir.clone(),
        cache_limits: config.cache_limits(),
    };
    let loaded = load_inputs(req, &def, &arches, config, registry, &opts, progress)?;
    let inputs = &loaded.inputs;
    let load_s = t0.elapsed().as_secs_f64();
    let scm_ref = req
        .scm_ref
        .clone()
        .or_else(|| detect_scm_ref(&req.definition));
    req.interrupt.check()?;
    // Composes of this stream whose process died (kill -9, a reboot) would
    // stay `started` for good: end them first.
    registry.abandon_dead(Some((&def.name, &def.stream)))?;
    let record = registry.begin(&NewCompose {
        name: def.name.clone(),
        stream: def.stream.clone(),
        compose_type: req.compose_type,
        started_at: req.started_at,
        definition_path: req.definition.clone(),
        definition_digest: digest.clone(),
        scm_ref: scm_ref.clone(),
        arches: arches.clone(),
        version: modulemd_version(req.started_at),
        context: context(&def),
        inputs: inputs.clone(),
        owner: strata_registry::Owner::current(),
    })?;
    let id = record.id.clone();
    tracing::info!(compose = id, "compose started");
    let result = run_recorded(req, &def, &record, &loaded, &opts, load_s, progress);
    match result {
        Ok(Ran::Published {
            staged,
            packages,
            timings,
        }) => {
            // The last safe point. From here the compose is put in place
            // and recorded (a rename and one registry write), which no
            // signal cuts short.
            if let Err(e) = req.interrupt.check() {
                drop(staged);
                return Err(record_failure(registry, &id, e));
            }
            let outputs = staged.outputs.clone();
            let placed = match staged.place() {
                Ok(p) => p,
                Err(e) => return Err(record_failure(registry, &id, e)),
            };
            let recorded = registry.finish(
                &id,
                &Outcome::Finished {
                    finished_at: now(),
                    outputs,
                    packages,
                    timings,
                },
            );
            let rec = match recorded {
                Ok(rec) => rec,
                // A write can fail after it was committed (a connection
                // lost during COMMIT): what the registry holds decides.
                Err(e) => match recorded_finished(registry, &id) {
                    Some(rec) => {
                        tracing::warn!(
                            "{id}: the registry reported an error ({}), yet holds the \
                             compose as finished",
                            error_chain(&e)
                        );
                        rec
                    }
                    None => {
                        let path = placed.dest.display().to_string();
                        let registry_error = error_chain(&e);
                        let err = match placed.withdraw() {
                            Ok(()) => ComposeError::NotRecorded {
                                compose_id: id.clone(),
                                path,
                                source: Box::new(e),
                            },
                            Err(source) => ComposeError::NotRecordedNotWithdrawn {
                                compose_id: id.clone(),
                                path,
                                registry: registry_error,
                                source,
                            },
                        };
                        return Err(record_failure(registry, &id, err));
                    }
                },
            };
            placed.mark_finished();
            match publish::update_latest_link(&req.out, &def.name, &def.stream, registry) {
                Ok(Some(latest)) if latest != id => tracing::info!(
                    "latest-{}-{} stays at {latest}, the newest good compose",
                    def.name,
                    def.stream
                ),
                Ok(_) => {}
                // The compose is good and recorded; the link catches up
                // with the next compose of the stream.
                Err(e) => tracing::warn!(
                    "{id} is finished, but latest-{}-{} was not updated: {}",
                    def.name,
                    def.stream,
                    error_chain(&e)
                ),
            }
            // Dropping `placed` removes the (now empty) staging directory
            // and releases its lock.
            drop(placed);
            Ok(ComposeOutcome::Finished(rec))
        }
        Ok(Ran::GateFailed { reports, packages }) => {
            let failed: Vec<String> = reports
                .iter()
                .filter(|(_, r)| !r.ok())
                .map(|(a, r)| {
                    format!(
                        "{a}: {} unresolved dependencies across {} packages",
                        r.unresolved_pairs(),
                        r.unresolved.len()
                    )
                })
                .collect();
            let rec = registry.finish(
                &id,
                &Outcome::Failed {
                    finished_at: now(),
                    error: format!("repoclosure failed ({})", failed.join("; ")),
                    report: Some(serde_json::to_value(&reports).unwrap_or_default()),
                    packages,
                },
            )?;
            Ok(ComposeOutcome::GateFailed {
                record: rec,
                reports,
            })
        }
        Err(e) => Err(record_failure(registry, &id, e)),
    }
}

/// Records compose `id` as failed with `e` (and its causes), and gives
/// `e` back. A registry that cannot record it leaves the compose
/// `started`, which is logged.
fn record_failure(registry: &mut dyn Registry, id: &str, e: ComposeError) -> ComposeError {
    if let Err(re) = registry.finish(
        id,
        &Outcome::Failed {
            finished_at: now(),
            error: error_chain(&e),
            report: None,
            packages: PackagesByArch::new(),
        },
    ) {
        tracing::error!("could not record the failure of {id}: {}", error_chain(&re));
    }
    e
}

/// The record of `id` if the registry holds it as finished.
fn recorded_finished(registry: &dyn Registry, id: &str) -> Option<ComposeRecord> {
    registry
        .get(id)
        .ok()
        .flatten()
        .filter(|r| r.state == strata_registry::State::Finished)
}

enum Ran {
    Published {
        staged: publish::Staged,
        packages: PackagesByArch,
        timings: serde_json::Value,
    },
    GateFailed {
        reports: BTreeMap<String, ClosureReport>,
        packages: PackagesByArch,
    },
}

fn run_recorded(
    req: &ComposeRequest,
    def: &ModuleDefinition,
    record: &ComposeRecord,
    all: &Loaded,
    opts: &LoadOptions,
    load_s: f64,
    progress: &dyn Progress,
) -> Result<Ran> {
    let (loaded, inputs, layers) = (&all.arches[..], &all.inputs[..], &all.layers[..]);
    let t = Instant::now();
    let mut picks = Vec::new();
    let mut packages = PackagesByArch::new();
    for a in loaded {
        req.interrupt.check()?;
        progress.stage(&format!("selecting for {}", a.arch));
        let p = select(def, &a.sources, &a.arch, a.allowed.as_deref())?;
        for pick in &p {
            let pkg = a.sources[pick.repo].package(pick.index);
            packages
                .entry(a.arch.clone())
                .or_default()
                .insert(nevra_with_epoch(&pkg));
        }
        picks.push(p);
    }
    let select_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut reports = BTreeMap::new();
    // The records to publish are read while the gate runs.
    let fetched = std::thread::scope(|scope| {
        let fetch = scope.spawn(|| -> Result<Vec<Fetched>> {
            loaded
                .iter()
                .zip(&picks)
                .map(|(a, p)| {
                    Ok(Fetched {
                        own: fetch_records(a, p)?,
                        layers: a
                            .layer_records
                            .iter()
                            .zip(&a.layers)
                            .map(|(store, repo)| {
                                let all: Vec<u32> = (0..repo.len() as u32).collect();
                                Ok(store.get_many(&all)?)
                            })
                            .collect::<Result<_>>()?,
                    })
                })
                .collect()
        });
        let mut gate_result = Ok(());
        for (a, p) in loaded.iter().zip(&picks) {
            progress.stage(&format!("repoclosure {}", a.arch));
            match req.interrupt.check().and_then(|()| gate(def, a, p, opts)) {
                Ok(r) => {
                    reports.insert(a.arch.clone(), r);
                }
                Err(e) => {
                    gate_result = Err(e);
                    break;
                }
            }
        }
        let fetched = fetch
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        gate_result.map(|()| fetched)
    })?;
    let gate_s = t.elapsed().as_secs_f64();
    if reports.values().any(|r| !r.ok()) {
        return Ok(Ran::GateFailed { reports, packages });
    }
    let fetched = fetched?;
    req.interrupt.check()?;
    let t = Instant::now();
    let content: Vec<ArchContent> = loaded
        .iter()
        .zip(&picks)
        .zip(fetched)
        .map(|((a, p), f)| ArchContent {
            arch: &a.arch,
            sources: &a.sources,
            picks: p,
            records: f.own,
            report: &reports[&a.arch],
            layers: a
                .layers
                .iter()
                .zip(f.layers)
                .map(|(repo, records)| publish::LayerContent { repo, records })
                .collect(),
            koji_topdir: a.koji_topdir.as_deref(),
        })
        .collect();
    let staged = publish::publish(
        &PublishRequest {
            out: &req.out,
            record,
            definition: def,
            inputs,
            stack: layers,
            metadata_only: req.metadata_only,
            verify_payloads: req.verify_payloads,
            cache_dir: req.cache_dir.as_deref(),
            interrupt: &req.interrupt,
        },
        content,
        progress,
    )?;
    let publish_s = t.elapsed().as_secs_f64();
    let timings = serde_json::to_value(Timings {
        load_s,
        select_s,
        gate_s,
        publish_s,
    })
    .unwrap_or_default();
    Ok(Ran::Published {
        staged,
        packages,
        timings,
    })
}

/// The records one arch publishes: the module's picks, and every package
/// of each stack layer.
struct Fetched {
    own: Vec<PackageRecords>,
    layers: Vec<Vec<PackageRecords>>,
}

/// The source metadata records of `picks`, in the same order.
fn fetch_records(inputs: &ArchInputs, picks: &[Pick]) -> Result<Vec<PackageRecords>> {
    let mut slots: Vec<Option<PackageRecords>> = vec![None; picks.len()];
    for (r, store) in inputs.records.iter().enumerate() {
        let (pos, idx): (Vec<usize>, Vec<u32>) = picks
            .iter()
            .enumerate()
            .filter(|(_, p)| p.repo == r)
            .map(|(k, p)| (k, p.index))
            .unzip();
        if idx.is_empty() {
            continue;
        }
        for (k, rec) in pos.into_iter().zip(store.get_many(&idx)?) {
            slots[k] = Some(rec);
        }
    }
    Ok(slots
        .into_iter()
        .map(|s| s.expect("every pick comes from a source"))
        .collect())
}

/// `name-epoch:version-release.arch` with the epoch always present, as
/// modulemd artifacts and productmd want it.
pub fn nevra_with_epoch(p: &strata_repodata::Package<'_>) -> String {
    let e = p.evr();
    format!(
        "{}-{}:{}-{}.{}",
        p.name(),
        e.epoch.filter(|e| !e.is_empty()).unwrap_or("0"),
        e.version,
        e.release.unwrap_or_default(),
        p.arch()
    )
}

/// Unix seconds now.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The compose time: `SOURCE_DATE_EPOCH` when set (reproducible builds),
/// else now.
pub fn compose_time() -> i64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(now)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn recorded_locations_get_this_composes_credentials_back() {
        let known = ["https://rel:s3cret@example.org/f40/x86_64", "/srv/platform"];
        assert_eq!(
            with_credentials("https://rel@example.org/f40/x86_64", &known),
            known[0]
        );
        assert_eq!(
            with_credentials("https://rel@example.org/other", &known),
            "https://rel@example.org/other"
        );
        assert_eq!(with_credentials("/srv/platform", &known), "/srv/platform");
    }
}
