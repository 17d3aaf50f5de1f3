//! One module compose, start to end: read the definition, load the inputs
//! (source, required modules' last good composes, platform), record the
//! compose as started, pick the packages, run the repoclosure gate, publish,
//! record the outcome. Anything that fails after the compose was recorded
//! as started is recorded as failed before the error is returned.

use crate::config::{substitute_arch, Config};
use crate::error::{io, ComposeError, Result};
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
    /// Required modules' composes, then platform repositories.
    lookaside: Vec<Repo>,
    /// The metadata records of each source, for publishing.
    records: Vec<RecordStore>,
}

/// Reads and validates a definition file.
pub fn read_definition(path: &Path) -> Result<(ModuleDefinition, String)> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let text = String::from_utf8(bytes)
        .map_err(|_| ComposeError::Other(format!("{}: not UTF-8 text", path.display())))?;
    let def = ModuleDefinition::parse(&text, &path.display().to_string())?;
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
        vec![strata_solve::arch::host_arch().to_string()]
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

/// A local path in a definition is relative to the definition's directory.
fn relative_to(loc: &str, dir: &Path) -> String {
    if loc.contains("://") || Path::new(loc).is_absolute() {
        loc.to_string()
    } else {
        dir.join(loc).display().to_string()
    }
}

fn load_inputs(
    def: &ModuleDefinition,
    def_dir: &Path,
    arches: &[String],
    config: &Config,
    registry: &dyn Registry,
    opts: &LoadOptions,
    progress: &dyn Progress,
) -> Result<(Vec<ArchInputs>, Vec<Input>)> {
    let mut inputs = Vec::new();
    // Required modules: each one's last good compose.
    let mut deps: Vec<ComposeRecord> = Vec::new();
    for (m, s) in def.module_requires() {
        let rec = registry
            .latest_good(m, s)?
            .ok_or_else(|| ComposeError::NoGoodCompose {
                module: def.nsv(),
                required: format!("{m}:{s}"),
            })?;
        inputs.push(Input {
            kind: InputKind::Compose,
            name: format!("{m}:{s}"),
            ident: rec.id.clone(),
            location: rec
                .outputs
                .as_ref()
                .map(|o| o.path.display().to_string())
                .unwrap_or_default(),
        });
        deps.push(rec);
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
    let (source_repos, allowed) = match &def.source {
        Source::Repos(r) => (r.clone(), None),
        Source::Koji { tag } => {
            let koji = config.koji.as_ref().ok_or(ComposeError::NoKoji)?;
            progress.stage(&format!("asking Koji for {tag}"));
            let repo = crate::koji::resolve_tag(koji, tag)?;
            inputs.push(Input {
                kind: InputKind::KojiRepo,
                name: tag.clone(),
                ident: repo.repo_id.to_string(),
                location: repo.base.clone(),
            });
            (
                vec![repo.arch_location("$arch")],
                Some(std::sync::Arc::new(repo.latest_nvrs)),
            )
        }
    };
    let mut out = Vec::new();
    for arch in arches {
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
        let mut lookaside_specs: Vec<(String, String)> = Vec::new();
        for rec in &deps {
            let repo_path = rec
                .outputs
                .as_ref()
                .and_then(|o| o.repos.get(arch))
                .map(|p| p.display().to_string())
                .ok_or_else(|| ComposeError::DependencyMissingArch {
                    compose_id: rec.id.clone(),
                    required: format!("{}:{}", rec.name, rec.stream),
                    arch: arch.clone(),
                })?;
            lookaside_specs.push((rec.id.clone(), repo_path));
        }
        let platform_start = lookaside_specs.len();
        for (i, loc) in platform_repos.iter().enumerate() {
            lookaside_specs.push((format!("platform-{}", i + 1), substitute_arch(loc, arch)));
        }
        // The sources and their metadata record stores load on one thread
        // while the lookasides load on this one: on a cold cache these are
        // the longest steps of a compose, and independent.
        let (sources, lookaside) = std::thread::scope(|scope| {
            let sources = scope.spawn(|| -> Result<Vec<(Repo, RecordStore)>> {
                let mut v = Vec::new();
                for (id, loc) in &source_specs {
                    tracing::info!(repo = id, location = loc, arch, "loading source");
                    v.push(strata_repodata::load_repo_with_records(id, loc, opts)?);
                }
                Ok(v)
            });
            let lookaside: Result<Vec<Repo>> = lookaside_specs
                .iter()
                .map(|(id, loc)| {
                    tracing::info!(repo = id, location = loc, arch, "loading lookaside");
                    Ok(strata_repodata::load_repo(id, loc, opts)?)
                })
                .collect();
            let sources = sources
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (sources, lookaside)
        });
        let (sources, records): (Vec<Repo>, Vec<RecordStore>) = sources?.into_iter().unzip();
        let lookaside = lookaside?;
        for ((id, loc), repo) in source_specs.into_iter().zip(&sources) {
            inputs.push(Input {
                kind: InputKind::SourceRepo,
                name: format!("{id}.{arch}"),
                ident: repo.checksum.clone(),
                location: loc,
            });
        }
        for ((_, loc), repo) in lookaside_specs
            .into_iter()
            .zip(&lookaside)
            .skip(platform_start)
        {
            inputs.push(Input {
                kind: InputKind::Platform,
                name: format!("{}.{arch}", def.platform().unwrap_or_default()),
                ident: repo.checksum.clone(),
                location: loc,
            });
        }
        out.push(ArchInputs {
            arch: arch.clone(),
            sources,
            records,
            allowed: allowed.clone(),
            lookaside,
        });
    }
    Ok((out, inputs))
}

/// The closure gate for one arch: every requirement of the module's
/// packages must be met by the module, its required composes and the
/// platform. The rest of the source is only searched for suggestions.
fn gate(def: &ModuleDefinition, inputs: &ArchInputs, picks: &[Pick]) -> Result<ClosureReport> {
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
    repos.extend(inputs.lookaside.iter());
    let mut opts = ClosureOptions {
        check: module_repos.iter().map(|r| r.id.clone()).collect(),
        arches: Vec::new(),
        newest: false,
        base_arch: Some(inputs.arch.clone()),
        installable: false,
        suggest_from: Vec::new(),
    };
    let report = repoclosure(&repos, &opts, &|_, _, _| {})?;
    if report.ok() {
        return Ok(report);
    }
    // Only a failed gate needs the rest of the source: for suggestions.
    repos.extend(inputs.sources.iter());
    opts.suggest_from = inputs.sources.iter().map(|r| r.id.clone()).collect();
    Ok(repoclosure(&repos, &opts, &|_, _, _| {})?)
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
/// as failed.
pub fn compose_module(
    req: &ComposeRequest,
    config: &Config,
    registry: &mut dyn Registry,
    progress: &dyn Progress,
) -> Result<ComposeOutcome> {
    let t0 = Instant::now();
    let (def, digest) = read_definition(&req.definition)?;
    let arches = arches_for(&def, req, config)?;
    let opts = LoadOptions {
        cache_dir: req.cache_dir.clone(),
    };
    let def_dir = req
        .definition
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (loaded, inputs) = load_inputs(&def, def_dir, &arches, config, registry, &opts, progress)?;
    let load_s = t0.elapsed().as_secs_f64();
    let scm_ref = req
        .scm_ref
        .clone()
        .or_else(|| detect_scm_ref(&req.definition));
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
    })?;
    let id = record.id.clone();
    tracing::info!(compose = id, "compose started");
    let result = run_recorded(req, &def, &record, &loaded, &inputs, load_s, progress);
    let finished_at = now();
    match result {
        Ok(Ran::Published {
            outputs,
            packages,
            timings,
        }) => {
            let rec = registry.finish(
                &id,
                &Outcome::Finished {
                    finished_at,
                    outputs,
                    packages,
                    timings,
                },
            )?;
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
                    finished_at,
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
        Err(e) => {
            if let Err(re) = registry.finish(
                &id,
                &Outcome::Failed {
                    finished_at,
                    error: e.to_string(),
                    report: None,
                    packages: PackagesByArch::new(),
                },
            ) {
                tracing::error!("could not record the failure of {id}: {re}");
            }
            Err(e)
        }
    }
}

enum Ran {
    Published {
        outputs: strata_registry::Outputs,
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
    loaded: &[ArchInputs],
    inputs: &[Input],
    load_s: f64,
    progress: &dyn Progress,
) -> Result<Ran> {
    let t = Instant::now();
    let mut picks = Vec::new();
    let mut packages = PackagesByArch::new();
    for a in loaded {
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
        let fetch = scope.spawn(|| -> Result<Vec<Vec<PackageRecords>>> {
            loaded
                .iter()
                .zip(&picks)
                .map(|(a, p)| fetch_records(a, p))
                .collect()
        });
        let mut gate_result = Ok(());
        for (a, p) in loaded.iter().zip(&picks) {
            progress.stage(&format!("repoclosure {}", a.arch));
            match gate(def, a, p) {
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
    let t = Instant::now();
    let content: Vec<ArchContent> = loaded
        .iter()
        .zip(&picks)
        .zip(fetched)
        .map(|((a, p), records)| ArchContent {
            arch: &a.arch,
            sources: &a.sources,
            picks: p,
            records,
            report: &reports[&a.arch],
        })
        .collect();
    let outputs = publish::publish(
        &PublishRequest {
            out: &req.out,
            record,
            definition: def,
            inputs,
            metadata_only: req.metadata_only,
            verify_payloads: req.verify_payloads,
            cache_dir: req.cache_dir.as_deref(),
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
        outputs,
        packages,
        timings,
    })
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
