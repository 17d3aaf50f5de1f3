//! Step 2 of a compose: the inputs, loaded. For each arch: the source
//! repositories (or the Koji tag's current repo, with the builds it stands
//! for) with their metadata records, every compose of the stack below the
//! module (each at its last good or pinned compose) with its records and
//! its modules, and the platform. What was read is pinned in the record's
//! inputs (checksums, the Koji repo ID, compose IDs).

use crate::config::{substitute_arch, Config, StackRepo};
use crate::error::{ComposeError, Result};
use crate::interrupt::Interrupt;
use crate::progress::Progress;
use crate::repo_modules::read_repo_modules;
use crate::stack::Layer;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use strata_model::{ModuleDefinition, Source};
use strata_modulemd::Document;
use strata_registry::{ComposeRecord, Input, InputKind, Registry};
use strata_repodata::{LoadOptions, RecordStore, Repo, RepodataError};

/// What to load.
pub(crate) struct LoadRequest<'a> {
    /// The definition file: its directory anchors relative repositories.
    pub definition_path: &'a Path,
    pub definition: &'a ModuleDefinition,
    pub arches: &'a [String],
    /// Compose IDs given for modules of the stack (over `compose_pins`).
    pub with_composes: &'a [String],
    pub interrupt: &'a Interrupt,
    pub opts: &'a LoadOptions,
    /// `Merged` also reads every layer's records and modules, to merge.
    pub stack_repo: StackRepo,
}

impl LoadRequest<'_> {
    /// Whether a layer its memo found intact may be left for the gate: not
    /// when the stack is merged, which reads every layer's records.
    fn defers_layers(&self) -> bool {
        self.stack_repo != StackRepo::Merged
    }
}

/// Everything a compose reads, loaded.
pub(crate) struct Loaded {
    pub arches: Vec<ArchInputs>,
    /// As the record lists them.
    pub inputs: Vec<Input>,
    /// The stack below the module, bottom first.
    pub layers: Vec<Layer>,
    /// Seconds the stack's walk through the registry took (part of the
    /// load step: the one part of it that runs on one core).
    pub walk_s: f64,
    /// The stack's memo, to keep ([`crate::stack_memo::Keep::write`], with
    /// `layers`) where the walk read what it did not hold; the caller
    /// writes it when it does not wait on it.
    pub stack_memo: Option<crate::stack_memo::Keep>,
}

/// The inputs of one arch, loaded.
pub(crate) struct ArchInputs {
    pub arch: String,
    pub sources: Vec<Repo>,
    /// Builds the source may contribute (a Koji tag's latest builds).
    pub allowed: Option<std::sync::Arc<rustc_hash::FxHashSet<String>>>,
    /// The metadata records of each source, for publishing.
    pub records: Vec<RecordStore>,
    /// The stack's module composes, bottom first (each loaded, or left for
    /// the gate when a layer's own gate vouches for it), and (only to
    /// merge them into a whole-stack repository, else empty) their
    /// records.
    pub layers: Vec<LayerRepo>,
    pub layer_records: Vec<RecordStore>,
    /// The modules metadata of each layer, in the same order (only to
    /// merge, else empty).
    pub layer_modules: Vec<Vec<Document>>,
    /// The stack's own sources for this arch (`name:stream/source`,
    /// location): read only for suggestions.
    pub layer_sources: Vec<(String, String)>,
    /// Layers a layer's own gate already checked against this same pool
    /// ([`crate::stack::gated_layers`]), by index into `layers`.
    pub gated: Vec<Vec<usize>>,
    /// The layers taken on their verification memos' word (by index into
    /// `layers`), and the file stamps that word rests on. They are
    /// compared on a thread of their own while the compose is begun,
    /// checked and published, and must hold before it is put in place
    /// ([`crate::compose`]); a layer whose stamps do not is loaded again
    /// in full ([`reload_layer`]), and the compose checked and published
    /// again.
    pub unchecked: Vec<(usize, strata_repodata::MemoStamps)>,
    pub platform: Vec<Repo>,
    /// The Koji topdir, when the source is a Koji tag on a mounted topdir.
    pub koji_topdir: Option<PathBuf>,
    /// Deferred layers the gate loaded ([`crate::gate`]), handed over when
    /// it is done with them: they are released with the rest of the
    /// inputs, after the compose is recorded (or not at all when the
    /// process exits right after), not by the gate. On a deep stack these
    /// are a few dozen memory maps, whose unmapping took most of a
    /// millisecond between the gate and publishing.
    pub gate_loaded: std::sync::Mutex<Vec<Repo>>,
}

/// A layer's repository: loaded, or found intact by its verification
/// memo and left for the gate to load if it needs it
/// ([`crate::gate`]): most layers of a deep stack their own gates checked,
/// and they provide nothing the new module requires.
pub(crate) enum LayerRepo {
    Loaded(Repo),
    Deferred {
        /// The layer's compose ID (the repository's ID when loaded).
        id: String,
        location: String,
        recalled: strata_repodata::Recalled,
    },
}

impl LayerRepo {
    /// The repository, if loaded.
    pub(crate) fn loaded(&self) -> Option<&Repo> {
        match self {
            LayerRepo::Loaded(r) => Some(r),
            LayerRepo::Deferred { .. } => None,
        }
    }

    pub(crate) fn id(&self) -> &str {
        match self {
            LayerRepo::Loaded(r) => &r.id,
            LayerRepo::Deferred { id, .. } => id,
        }
    }

    /// Where its repository is published.
    pub(crate) fn location(&self) -> &str {
        match self {
            LayerRepo::Loaded(r) => &r.location,
            LayerRepo::Deferred { location, .. } => location,
        }
    }

    /// How many packages it holds.
    pub(crate) fn len(&self) -> usize {
        match self {
            LayerRepo::Loaded(r) => r.len(),
            LayerRepo::Deferred { recalled, .. } => recalled.index.packages,
        }
    }

    /// Its package names (repeated as often as packages have them, when
    /// loaded).
    pub(crate) fn names(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self {
            LayerRepo::Loaded(r) => Box::new(r.iter().map(|p| p.name())),
            LayerRepo::Deferred { recalled, .. } => Box::new(recalled.index.names()),
        }
    }

    /// The [`strata_repodata::name_key`]s of its package names, in the
    /// order of [`LayerRepo::names`], when taken on its memo's word (a
    /// loaded one computes them from its names).
    pub(crate) fn name_keys(&self) -> Option<&[u64]> {
        match self {
            LayerRepo::Loaded(_) => None,
            LayerRepo::Deferred { recalled, .. } => Some(recalled.index.name_keys()),
        }
    }

    /// The repository, loaded if it was deferred.
    pub(crate) fn into_loaded(
        self,
        opts: &LoadOptions,
    ) -> std::result::Result<Repo, RepodataError> {
        match self {
            LayerRepo::Loaded(r) => Ok(r),
            LayerRepo::Deferred {
                id,
                location,
                recalled,
            } => strata_repodata::load_recalled(&id, &location, &recalled, opts),
        }
    }

    /// Loads it, if deferred (from the cache, which the memo's check
    /// vouched for when the inputs were loaded).
    pub(crate) fn load(
        &self,
        opts: &LoadOptions,
    ) -> std::result::Result<Option<Repo>, RepodataError> {
        match self {
            LayerRepo::Loaded(_) => Ok(None),
            LayerRepo::Deferred {
                id,
                location,
                recalled,
            } => {
                tracing::debug!(compose = id, "loading a stack layer the gate needs");
                strata_repodata::load_recalled(id, location, recalled, opts).map(Some)
            }
        }
    }
}

/// The arches to compose: those asked for (`asked`, empty: all) among
/// the definition's, else the configuration's, else this machine's.
pub(crate) fn arches_for(
    def: &ModuleDefinition,
    asked: &[String],
    config: &Config,
) -> Result<Vec<String>> {
    let named: Vec<String> = if !def.arches.is_empty() {
        def.arches.clone()
    } else if !config.compose.arches.is_empty() {
        config.compose.arches.clone()
    } else {
        vec![strata_solve::host_arch().to_string()]
    };
    let arches: Vec<String> = if asked.is_empty() {
        named.clone()
    } else {
        asked
            .iter()
            .filter(|a| named.contains(a))
            .cloned()
            .collect()
    };
    if arches.is_empty() {
        return Err(ComposeError::NoArches {
            named: named.join(", "),
            asked: asked.join(", "),
        });
    }
    Ok(arches)
}

/// A location as records, logs and published metadata show it: without a
/// password.
pub(crate) fn shown(location: &str) -> String {
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
pub(crate) fn relative_to(loc: &str, dir: &Path) -> String {
    if loc.contains("://") || Path::new(loc).is_absolute() {
        loc.to_string()
    } else {
        dir.join(loc).display().to_string()
    }
}

/// The directory that anchors a definition's relative repositories.
pub(crate) fn definition_dir(definition_path: &Path) -> &Path {
    definition_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The stack's layers as the record lists them among its inputs.
pub(crate) fn layer_inputs(layers: &[Layer]) -> Vec<Input> {
    layers
        .iter()
        .map(|l| Input {
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
        })
        .collect()
}

/// The repositories of the definition's platform (with `$arch`).
pub(crate) fn platform_repos(def: &ModuleDefinition, config: &Config) -> Result<Vec<String>> {
    Ok(match def.platform() {
        None => Vec::new(),
        Some(p) => config
            .platform
            .get(p)
            .map(|c| c.repos.clone())
            .ok_or_else(|| ComposeError::UnknownPlatform {
                module: def.nsv(),
                platform: p.to_string(),
            })?,
    })
}

pub(crate) fn load_inputs(
    req: &LoadRequest<'_>,
    config: &Config,
    registry: &dyn Registry,
    progress: &dyn Progress,
) -> Result<Loaded> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        // The layers' repositories load on worker threads while the stack
        // walk reads the registry, each as soon as the walk finds it.
        let prefetch = (req.definition.module_requires().next().is_some()).then(|| {
            let mut p =
                Prefetch::start(scope, workers, req.opts, req.interrupt, req.defers_layers());
            // The module's own repositories first: the walk gives the
            // workers layers a wave at a time, and they would wait between
            // waves. (A Koji tag's repo is known only once the hub is
            // asked, after the walk.)
            if let Source::Repos(repos) = &req.definition.source {
                for arch in req.arches {
                    p.sources(
                        arch,
                        source_specs(repos, arch, definition_dir(req.definition_path)),
                    );
                }
            }
            p
        });
        load_in(req, config, registry, progress, prefetch, workers)
    })
}

fn load_in<'s>(
    req: &LoadRequest<'_>,
    config: &Config,
    registry: &dyn Registry,
    progress: &dyn Progress,
    prefetch: Option<Prefetch<'s, '_>>,
    workers: usize,
) -> Result<Loaded> {
    let (def, arches, opts) = (req.definition, req.arches, req.opts);
    let def_dir = definition_dir(req.definition_path);
    // The stack below: every required module, directly or not, each at
    // its last good (or pinned) compose.
    let walk = std::time::Instant::now();
    // The layers that did not change since the last walk come from the
    // stack's memo; the walk reads only the others from the registry.
    let (layers, stack_memo) = crate::stack_memo::resolve(
        def,
        registry,
        req.with_composes,
        opts.cache_dir.as_deref(),
        &mut |records, first| load_ahead(prefetch.as_ref(), arches, records.iter().copied(), first),
    )?;
    let walk_s = walk.elapsed().as_secs_f64();
    // What the walk found is all there is to load ahead.
    let mut prefetch = prefetch;
    if let Some(p) = &mut prefetch {
        p.finish();
    }
    let mut inputs = layer_inputs(&layers);
    let platform_repos = platform_repos(def, config)?;
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
        let source_specs = source_specs(&source_repos, arch, def_dir);
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
        // The layers loaded ahead for this arch, taken as they are used.
        let ahead: &Mutex<HashMap<String, LayerLoad>> = &Mutex::default();
        // The layers some layer's own gate vouches for (compose IDs), once
        // the platform is loaded.
        let covered: &std::sync::OnceLock<std::collections::HashSet<&str>> =
            &std::sync::OnceLock::new();
        // The sources and their metadata record stores load on one thread
        // while the platform and the stack's composes load on this one: on
        // a cold cache these are the longest steps of a compose, and
        // independent.
        let (sources, (layers_loaded, platform)) = std::thread::scope(|scope| {
            // (Unless the workers loaded them ahead.)
            let sources = (!prefetch.as_ref().is_some_and(|p| p.loads_sources(arch)))
                .then(|| scope.spawn(|| load_sources(&source_specs, arch, opts, req.interrupt)));
            // The platform first: meanwhile the workers finish what the walk
            // gave them.
            // Then which layers their own gates vouch for: it needs only
            // the walk and the platform, and is read meanwhile too.
            let platform = || -> Result<PlatformLoaded> {
                let repos: Vec<Repo> = platform_specs
                    .iter()
                    .map(|(id, loc)| {
                        req.interrupt.check()?;
                        tracing::info!(repo = id, location = shown(loc), arch, "loading platform");
                        Ok(strata_repodata::load_repo(id, loc, opts)?)
                    })
                    .collect::<Result<_>>()?;
                let inputs: Vec<Input> = platform_specs
                    .iter()
                    .zip(&repos)
                    .map(|((_, loc), repo)| Input {
                        kind: InputKind::Platform,
                        name: format!("{}.{arch}", def.platform().unwrap_or_default()),
                        ident: repo.checksum.clone(),
                        location: shown(loc),
                    })
                    .collect();
                let by_ref: Vec<&Input> = inputs.iter().collect();
                let gated = crate::stack::gated_layers(registry, &layers, &by_ref, arch)?;
                Ok((repos, inputs, gated))
            };
            let platform = platform();
            // The layers some layer's own gate vouches for: the gate checks
            // the others, so those are loaded here, spread over the cores,
            // rather than one by one in the gate.
            if let Ok((_, _, gated)) = &platform {
                let _ = covered.set(
                    gated
                        .iter()
                        .flatten()
                        .map(|&j| layers[j].record.id.as_str())
                        .collect(),
                );
            }
            let keeps_deferred =
                |id: &str| req.defers_layers() && covered.get().is_some_and(|c| c.contains(id));
            let mut sources_ahead = None;
            if let Some(p) = &mut prefetch {
                let (layers, sources) = p.take(arch);
                *lock(ahead) = layers;
                sources_ahead = sources;
            }
            let load_layer = move |((id, loc), layer): (&(String, String), &Layer)| {
                req.interrupt.check()?;
                let ahead = lock(ahead).remove(id);
                let (repo, mdtypes, stamps) = ahead
                    .unwrap_or_else(|| load_layer_repo(id, loc, arch, opts, req.defers_layers()))
                    .map_err(|e| damaged_layer(def, layer, arch, e))?;
                has_modules(layer, mdtypes.iter().any(|t| t == "modules"), loc)?;
                let repo = if keeps_deferred(id) {
                    repo
                } else {
                    LayerRepo::Loaded(
                        repo.into_loaded(opts)
                            .map_err(|e| damaged_layer(def, layer, arch, e))?,
                    )
                };
                if req.stack_repo != StackRepo::Merged {
                    return Ok((repo, stamps, None, Vec::new()));
                }
                // Merging reads every layer's records: none is deferred,
                // and every layer was checked in full.
                let LayerRepo::Loaded(repo) = repo else {
                    unreachable!("a merged stack's layers are loaded above")
                };
                let records = strata_repodata::open_records(&repo, opts)?;
                let repo = LayerRepo::Loaded(repo);
                Ok((repo, None, Some(records), layer_modules(id, loc)?))
            };
            // The layers not loaded ahead (pinned ones, or all of them when
            // there were no workers) are hundreds of small repositories for a
            // deep stack, each checked and taken from the cache: spread over
            // the cores, in chunks large enough to be worth a thread, the
            // first on this one.
            let missing = {
                let ahead = lock(ahead);
                layer_specs
                    .iter()
                    .filter(|(id, _)| match ahead.get(id) {
                        None => true,
                        Some(Ok((LayerRepo::Deferred { .. }, _, _))) => !keeps_deferred(id),
                        Some(_) => false,
                    })
                    .count()
            };
            let chunk = if missing < MIN_LAYERS_PER_THREAD {
                layer_specs.len().max(1)
            } else {
                layer_specs
                    .len()
                    .div_ceil(workers)
                    .max(MIN_LAYERS_PER_THREAD)
            };
            let mut chunks = layer_specs.chunks(chunk).zip(layers.chunks(chunk));
            let first = chunks.next();
            let others: Vec<_> = chunks
                .map(|(specs, ls)| {
                    scope.spawn(move || {
                        specs
                            .iter()
                            .zip(ls)
                            .map(load_layer)
                            .collect::<Result<Vec<LoadedLayer>>>()
                    })
                })
                .collect();
            let layers_loaded: Result<Vec<LoadedLayer>> = first
                .map(|(specs, ls)| specs.iter().zip(ls).map(load_layer).collect())
                .unwrap_or_else(|| Ok(Vec::new()))
                .and_then(|mut v: Vec<LoadedLayer>| {
                    for h in others {
                        v.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?);
                    }
                    Ok(v)
                });
            let sources = match sources {
                Some(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                // The workers load every job they take but once the compose
                // failed, and the sources were queued before any layer.
                None => sources_ahead.expect("the sources queued ahead were loaded"),
            };
            (sources, (layers_loaded, platform))
        });
        let (sources, records): (Vec<Repo>, Vec<RecordStore>) = sources?.into_iter().unzip();
        let mut layer_repos = Vec::with_capacity(layer_specs.len());
        let mut layer_records = Vec::with_capacity(layer_specs.len());
        let mut layer_modules = Vec::with_capacity(layer_specs.len());
        let mut unchecked = Vec::new();
        for (i, (repo, stamps, records, modules)) in layers_loaded?.into_iter().enumerate() {
            unchecked.extend(stamps.map(|s| (i, s)));
            layer_repos.push(repo);
            layer_records.extend(records);
            if !modules.is_empty() {
                layer_modules.push(modules);
            }
        }
        let (platform, platform_inputs, gated) = platform?;
        for ((id, loc), repo) in source_specs.into_iter().zip(&sources) {
            inputs.push(Input {
                kind: InputKind::SourceRepo,
                name: format!("{id}.{arch}"),
                ident: repo.checksum.clone(),
                location: shown(&loc),
            });
        }
        inputs.extend(platform_inputs);
        out.push(ArchInputs {
            arch: arch.clone(),
            sources,
            records,
            allowed: allowed.clone(),
            layers: layer_repos,
            layer_records,
            layer_modules,
            layer_sources,
            gated,
            unchecked,
            platform,
            koji_topdir: koji_topdir.clone(),
            gate_loaded: Default::default(),
        });
    }
    Ok(Loaded {
        arches: out,
        inputs,
        layers,
        walk_s,
        stack_memo,
    })
}

/// The platform's repositories of one arch, their inputs as the record
/// lists them, and the layers their own gates vouch for on it.
type PlatformLoaded = (Vec<Repo>, Vec<Input>, Vec<Vec<usize>>);

/// Fewer layers than this load on one thread: starting one costs more.
const MIN_LAYERS_PER_THREAD: usize = 16;

/// A layer's repository as `load_verified_repo` gives it: the repository
/// (or, deferred, what its memo says of it), its metadata types, and when
/// it was taken on its memo's word, the stamps that word rests on.
type LayerLoad = std::result::Result<
    (LayerRepo, Vec<String>, Option<strata_repodata::MemoStamps>),
    RepodataError,
>;

/// Queues the repositories of `records` (a wave of the walk) on the
/// workers, if they load ahead; `first`, ahead of what is queued.
fn load_ahead<'r>(
    prefetch: Option<&Prefetch<'_, '_>>,
    arches: &[String],
    records: impl Iterator<Item = &'r ComposeRecord>,
    first: bool,
) {
    let Some(p) = prefetch else { return };
    let mut wave = Vec::new();
    for rec in records {
        for arch in arches {
            if let Some(path) = rec.outputs.as_ref().and_then(|o| o.repos.get(arch)) {
                wave.push((arch.clone(), rec.id.clone(), path.display().to_string()));
            }
        }
    }
    if first {
        p.load_first(wave);
    } else {
        p.load(wave);
    }
}

/// Loads the layer `id` at `loc`, or with `defer`, leaves it for the gate
/// when its verification memo indexes it (on the memo's word: its stamps
/// are compared later, see [`ArchInputs::unchecked`]).
fn load_layer_repo(id: &str, loc: &str, arch: &str, opts: &LoadOptions, defer: bool) -> LayerLoad {
    if defer {
        if let Some((recalled, stamps)) = strata_repodata::recall_verified(loc, opts) {
            tracing::info!(
                compose = id,
                location = loc,
                arch,
                "stack layer remembered intact"
            );
            let mdtypes = recalled.mdtypes.clone();
            return Ok((
                LayerRepo::Deferred {
                    id: id.to_owned(),
                    location: loc.to_owned(),
                    recalled,
                },
                mdtypes,
                Some(stamps),
            ));
        }
    }
    tracing::info!(compose = id, location = loc, arch, "loading stack layer");
    strata_repodata::load_verified_repo(id, loc, opts).map(|(r, t)| (LayerRepo::Loaded(r), t, None))
}

/// Loads layer `i` of `arch` again in full, its files checked against its
/// repomd.xml: its memo's stamps did not hold (a file of it was written,
/// replaced or removed since it was checked). A layer no longer as it was
/// published fails the compose, naming it.
pub(crate) fn reload_layer(
    def: &ModuleDefinition,
    layers: &[Layer],
    arch: &mut ArchInputs,
    i: usize,
    opts: &LoadOptions,
) -> Result<()> {
    let layer = &layers[i];
    let id = layer.record.id.as_str();
    let loc = arch.layers[i].location().to_owned();
    tracing::info!(
        compose = id,
        location = loc,
        arch = arch.arch,
        "a file of the stack layer changed since its memo was written: loading it in full"
    );
    let (repo, mdtypes) = strata_repodata::load_verified_repo(id, &loc, opts)
        .map_err(|e| damaged_layer(def, layer, &arch.arch, e))?;
    has_modules(layer, mdtypes.iter().any(|t| t == "modules"), &loc)?;
    arch.layers[i] = LayerRepo::Loaded(repo);
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A worker that panicked is resumed by the join; what it left is whole.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A stack layer as loaded: its repository, the stamps its memo's word
/// rests on (when taken on it), and to merge it, its records and modules.
type LoadedLayer = (
    LayerRepo,
    Option<strata_repodata::MemoStamps>,
    Option<RecordStore>,
    Vec<Document>,
);

/// One load ahead.
enum Job {
    /// Layers' repositories: arch, compose ID, published repository each.
    Layers(Vec<(String, String, String)>),
    /// The module's own source repositories for an arch: ID and location
    /// each.
    Sources(String, Vec<(String, String)>),
    /// Layers were put first ([`Ahead::first`]): a worker waiting for a
    /// job loads them.
    First,
}

/// The module's source repositories of one arch, with their metadata
/// record stores.
type SourcesLoad = Result<Vec<(Repo, RecordStore)>>;

/// The source repositories of one arch: (ID, location) each.
fn source_specs(source_repos: &[String], arch: &str, def_dir: &Path) -> Vec<(String, String)> {
    source_repos
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
        .collect()
}

/// Loads the sources and their record stores, in order.
fn load_sources(
    specs: &[(String, String)],
    arch: &str,
    opts: &LoadOptions,
    interrupt: &Interrupt,
) -> SourcesLoad {
    let mut v = Vec::with_capacity(specs.len());
    for (id, loc) in specs {
        interrupt.check()?;
        tracing::info!(repo = id, location = shown(loc), arch, "loading source");
        v.push(strata_repodata::load_repo_with_records(id, loc, opts)?);
    }
    Ok(v)
}

/// The most layers one job of [`Prefetch`] loads.
const LAYERS_PER_JOB: usize = 16;

/// Layers' repositories loaded on worker threads while the stack walk
/// goes on: the walk reads the registry a wave at a time on one core, and
/// each wave's layers can load meanwhile (a deep stack's walk and loads
/// took about as long as each other, one after the other).
struct Prefetch<'s, 'e> {
    /// Gone once the walk ended: the workers then finish the queue.
    jobs: Option<mpsc::Sender<Job>>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    shared: Arc<Ahead>,
    workers: Vec<std::thread::ScopedJoinHandle<'s, ()>>,
    /// The arches whose sources are queued.
    sources_of: Vec<String>,
    opts: &'e LoadOptions,
    interrupt: &'e Interrupt,
}

/// What the workers share: arch → compose ID → load, arch → its sources,
/// and whether to stop taking jobs (the compose failed first: what is left
/// is not needed).
#[derive(Default)]
struct Ahead {
    done: Mutex<HashMap<String, HashMap<String, LayerLoad>>>,
    sources: Mutex<HashMap<String, SourcesLoad>>,
    cancel: AtomicBool,
    /// Layers found intact by their memos are left for the gate.
    defer: bool,
    /// Layers to load before the next job, as [`Job::Layers`] holds them:
    /// those a walk with a stack memo read from the registry, which are
    /// the layers composed since (not loaded by any compose yet, the
    /// slowest to load), found after the memo's hundreds were queued.
    first: Mutex<Vec<(String, String, String)>>,
}

impl<'s, 'e: 's> Prefetch<'s, 'e> {
    /// Starts a worker for every core but one: the walk has that one, and
    /// once it ended this thread loads what is left beside the workers.
    fn start(
        scope: &'s std::thread::Scope<'s, 'e>,
        cores: usize,
        opts: &'e LoadOptions,
        interrupt: &'e Interrupt,
        defer: bool,
    ) -> Prefetch<'s, 'e> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let shared = Arc::new(Ahead {
            defer,
            ..Ahead::default()
        });
        let workers = (0..cores.saturating_sub(1).max(1))
            .map(|_| {
                let (queue, shared) = (Arc::clone(&queue), Arc::clone(&shared));
                scope.spawn(move || work(&queue, &shared, opts, interrupt))
            })
            .collect();
        Prefetch {
            jobs: Some(jobs),
            queue,
            shared,
            workers,
            sources_of: Vec::new(),
            opts,
            interrupt,
        }
    }

    /// Queues the module's sources of `arch`.
    fn sources(&mut self, arch: &str, specs: Vec<(String, String)>) {
        if let Some(jobs) = &self.jobs {
            if jobs.send(Job::Sources(arch.to_owned(), specs)).is_ok() {
                self.sources_of.push(arch.to_owned());
            }
        }
    }

    /// Whether the sources of `arch` load here.
    fn loads_sources(&self, arch: &str) -> bool {
        self.sources_of.iter().any(|a| a == arch)
    }

    /// Queues the repositories of a wave of the walk: (arch, compose ID,
    /// location) each. One job for each worker, not one for each layer:
    /// every job sent to a waiting worker wakes it (a system call on the
    /// walk's thread), and a deep stack's walk found hundreds of layers.
    /// But at most [`LAYERS_PER_JOB`] a job: a whole stack from its memo
    /// is one wave, and this thread takes its share of what is left once
    /// it needs the layers ([`Prefetch::take`]).
    fn load(&self, mut wave: Vec<(String, String, String)>) {
        let Some(jobs) = &self.jobs else { return };
        let per = wave
            .len()
            .div_ceil(self.workers.len().max(1))
            .clamp(1, LAYERS_PER_JOB);
        while !wave.is_empty() {
            let rest = wave.split_off(per.min(wave.len()));
            // Only fails once every worker stopped: the layers load later.
            let _ = jobs.send(Job::Layers(std::mem::replace(&mut wave, rest)));
        }
    }

    /// Queues the repositories of `wave` ahead of every job queued: the
    /// next worker to take a job loads them first.
    fn load_first(&self, wave: Vec<(String, String, String)>) {
        let Some(jobs) = &self.jobs else { return };
        if wave.is_empty() {
            return;
        }
        lock(&self.shared.first).extend(wave);
        // Only fails once every worker stopped: the layers load later.
        let _ = jobs.send(Job::First);
    }

    /// No more jobs: the workers finish the queue and stop.
    fn finish(&mut self) {
        self.jobs = None;
    }

    /// The layers of `arch` loaded, and its sources if they were queued,
    /// once the queue is done: this thread takes its share of what is
    /// left, then waits for the workers.
    fn take(&mut self, arch: &str) -> (HashMap<String, LayerLoad>, Option<SourcesLoad>) {
        self.finish();
        work(&self.queue, &self.shared, self.opts, self.interrupt);
        for w in self.workers.drain(..) {
            w.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        }
        (
            lock(&self.shared.done).remove(arch).unwrap_or_default(),
            lock(&self.shared.sources).remove(arch),
        )
    }
}

/// Loads what is queued until the queue is empty and closed, or the
/// compose failed. Once it is interrupted, layers are left and sources
/// load as far as the interruption (their error).
fn work(
    queue: &Mutex<mpsc::Receiver<Job>>,
    shared: &Ahead,
    opts: &LoadOptions,
    interrupt: &Interrupt,
) {
    loop {
        let job = lock(queue).recv();
        let Ok(job) = job else { break };
        if shared.cancel.load(Ordering::Relaxed) {
            break;
        }
        let first = std::mem::take(&mut *lock(&shared.first));
        if !load_layers(first, shared, opts, interrupt) {
            return;
        }
        match job {
            Job::Layers(layers) => {
                if !load_layers(layers, shared, opts, interrupt) {
                    return;
                }
            }
            Job::Sources(arch, specs) => {
                let loaded = load_sources(&specs, &arch, opts, interrupt);
                lock(&shared.sources).insert(arch, loaded);
            }
            Job::First => {}
        }
    }
}

/// Loads `layers` (arch, compose ID, location) into `shared`; `false` once
/// the compose was interrupted or failed.
fn load_layers(
    layers: Vec<(String, String, String)>,
    shared: &Ahead,
    opts: &LoadOptions,
    interrupt: &Interrupt,
) -> bool {
    for (arch, id, loc) in layers {
        if interrupt.is_raised() || shared.cancel.load(Ordering::Relaxed) {
            return false;
        }
        let loaded = load_layer_repo(&id, &loc, &arch, opts, shared.defer);
        lock(&shared.done)
            .entry(arch)
            .or_default()
            .insert(id, loaded);
    }
    true
}

impl Drop for Prefetch<'_, '_> {
    /// The compose failed before it took every load (a bad stack, an
    /// unreadable source): the workers stop at their next job.
    fn drop(&mut self) {
        self.shared.cancel.store(true, Ordering::Relaxed);
        self.jobs = None;
    }
}

/// A layer's published repository must still be as it was published:
/// the stack's `.repo` file sends clients to it, and a compose's cache
/// would not notice a damaged file (it is keyed by primary.xml's
/// checksum), so layers load through `load_verified_repo`. The error
/// names the layer.
fn damaged_layer(
    def: &ModuleDefinition,
    layer: &Layer,
    arch: &str,
    source: strata_repodata::RepodataError,
) -> ComposeError {
    ComposeError::LayerRepository {
        module: def.nsv(),
        layer: layer.nsv(),
        compose_id: layer.record.id.clone(),
        arch: arch.to_string(),
        source: Box::new(source),
    }
}

fn has_modules(layer: &Layer, has: bool, location: &str) -> Result<()> {
    if !has {
        return Err(ComposeError::NoModulesMetadata {
            compose_id: layer.record.id.clone(),
            location: location.to_string(),
        });
    }
    Ok(())
}

/// The modules a stack layer published, which go into the stack's own
/// repository: a compose of Strata always has some.
fn layer_modules(compose_id: &str, location: &str) -> Result<Vec<Document>> {
    let documents = read_repo_modules(location)?;
    if documents.is_empty() {
        return Err(ComposeError::NoModulesMetadata {
            compose_id: compose_id.to_string(),
            location: location.to_string(),
        });
    }
    Ok(documents)
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
