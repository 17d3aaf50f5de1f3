//! What a compose would use, without composing: the content-addressed
//! no-op. A module whose definition digest, selected NEVRAs, input compose
//! IDs and repository checksums are those of its last good compose would
//! make the same compose again, so that one is reused
//! ([`compose_module_if_changed`], `strata compose module --if-changed`);
//! chains compare the same [`Fingerprint`]s to find what is stale.
//!
//! Computing one loads the inputs and selects (steps 1–3), no gate and no
//! publishing; the inputs come from the repodata cache when it is warm.

use crate::compose::{compose_module_in_chain, ComposeRequest, ComposeResult, InChain};
use crate::config::{substitute_arch, Config, StackRepo};
use crate::definition::read_definition;
use crate::error::{ComposeError, Result};
use crate::inputs::{
    arches_for, definition_dir, layer_inputs, load_inputs, platform_repos, relative_to, shown,
    LoadRequest,
};
use crate::interrupt::Interrupt;
use crate::koji::KojiRepo;
use crate::progress::Progress;
use crate::select::{name_index, select, select_indexed, NameIndex};
use rustc_hash::FxHashSet;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use strata_model::{ModuleDefinition, Source};
use strata_registry::{ComposeRecord, CountedInputs, Input, InputKind, PackagesByArch, Registry};
use strata_repodata::{LoadOptions, Repo};

/// What a compose uses, as compared for staleness.
///
/// The sources' identities are left out (a Koji repo ID, a source
/// repository's repomd checksum): a new repo of the same tag, or a source
/// repository that gained packages the manifest does not name, with the
/// same selected builds makes the same compose; the selection says
/// whether the builds changed. At Fedora scale a shared source changes
/// with every build, so counting it would recompose everything. Platform
/// checksums count: the repoclosure gate judges against them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint {
    pub definition_digest: String,
    /// Selected NEVRAs per compose arch.
    pub packages: PackagesByArch,
    /// `(kind, name) → ident` of the inputs that count.
    pub inputs: CountedInputs,
}

impl Fingerprint {
    /// From what a compose would use now (after selection, before the
    /// gate) or what one recorded.
    pub fn new(definition_digest: &str, packages: &PackagesByArch, inputs: &[Input]) -> Self {
        Fingerprint {
            definition_digest: definition_digest.to_owned(),
            packages: packages.clone(),
            inputs: strata_registry::counted_inputs(inputs),
        }
    }

    /// What a recorded compose used (a record read with its package
    /// lists, not a lean one).
    pub fn of_record(record: &ComposeRecord) -> Self {
        Fingerprint::new(&record.definition_digest, &record.packages, &record.inputs)
    }

    /// The digest the registry stores with a finished compose
    /// ([`strata_registry::fingerprint_digest`]): equal digests, equal
    /// fingerprints.
    pub fn digest(&self) -> String {
        strata_registry::fingerprint_digest(&self.definition_digest, &self.packages, &self.inputs)
    }
}

/// What the fingerprints of many modules read in common, read once: a
/// plan checks hundreds of modules that select from one large source
/// (loaded once here, and indexed by package name so that each module
/// looks at its own packages only), on one platform (its checksum read
/// once), from one Koji tag (asked once). The stack's layers are not
/// loaded at all: a fingerprint needs their compose IDs, which the
/// registry has.
pub struct SharedInputs<'a> {
    config: &'a Config,
    opts: LoadOptions,
    sources: Mutex<HashMap<Vec<String>, Arc<IndexedSources>>>,
    platforms: Mutex<HashMap<String, String>>,
    koji: Mutex<HashMap<String, Arc<KojiRepo>>>,
    /// Platform location → the builds its packages come from.
    platform_builds: Mutex<HashMap<String, Arc<FxHashSet<String>>>>,
    /// `(name, stream)` → its last good compose, lean (stack layers).
    last_good: Mutex<HashMap<(String, String), Option<ComposeRecord>>>,
}

struct IndexedSources {
    repos: Vec<Repo>,
    index: NameIndex,
    /// The builds (source RPM NVRs) their packages come from: made on the
    /// first build event of a plan, not for every plan.
    builds: OnceLock<FxHashSet<String>>,
}

/// The builds the packages of `repos` come from: the `name-version-release`
/// of each one's source RPM, and of the package itself (a build's main
/// package carries its NVR; a repository written without source RPM names
/// still says so). Wrong only towards finding a build, which plans it as
/// before.
fn builds_of<'r>(repos: impl IntoIterator<Item = &'r Repo>) -> FxHashSet<String> {
    let mut out = FxHashSet::default();
    for p in repos.into_iter().flat_map(|r| r.iter()) {
        out.insert(crate::ids::build_nvr(&p));
        let e = p.evr();
        out.insert(format!(
            "{}-{}-{}",
            p.name(),
            e.version,
            e.release.unwrap_or_default()
        ));
    }
    out
}

impl<'a> SharedInputs<'a> {
    pub fn new(config: &'a Config, cache_dir: Option<&Path>) -> Self {
        SharedInputs {
            config,
            opts: LoadOptions {
                cache_dir: cache_dir.map(Path::to_path_buf),
                cache_limits: config.cache_limits(),
            },
            sources: Mutex::default(),
            platforms: Mutex::default(),
            koji: Mutex::default(),
            platform_builds: Mutex::default(),
            last_good: Mutex::default(),
        }
    }

    fn sources(&self, locations: &[String], interrupt: &Interrupt) -> Result<Arc<IndexedSources>> {
        let mut memo = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = memo.get(locations) {
            return Ok(Arc::clone(s));
        }
        let mut repos = Vec::with_capacity(locations.len());
        for (i, loc) in locations.iter().enumerate() {
            interrupt.check()?;
            tracing::info!(location = shown(loc), "loading source");
            repos.push(strata_repodata::load_repo(
                &format!("source-{}", i + 1),
                loc,
                &self.opts,
            )?);
        }
        let index = name_index(&repos);
        let s = Arc::new(IndexedSources {
            repos,
            index,
            builds: OnceLock::new(),
        });
        memo.insert(locations.to_vec(), Arc::clone(&s));
        Ok(s)
    }

    fn platform_checksum(&self, location: &str) -> Result<String> {
        let mut memo = self.platforms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = memo.get(location) {
            return Ok(c.clone());
        }
        tracing::info!(location = shown(location), "loading platform");
        let checksum = strata_repodata::load_repo("platform", location, &self.opts)?.checksum;
        memo.insert(location.to_owned(), checksum.clone());
        Ok(checksum)
    }

    /// The source locations of `definition` (`$arch` in them), and its
    /// Koji tag's current repo when it is composed from one.
    fn source_of(
        &self,
        definition: &ModuleDefinition,
        progress: &dyn Progress,
    ) -> Result<(Vec<String>, Option<Arc<KojiRepo>>)> {
        Ok(match &definition.source {
            Source::Repos(r) => (r.clone(), None),
            Source::Koji { tag } => {
                let repo = self.koji(tag, progress)?;
                (vec![repo.arch_location("$arch")], Some(repo))
            }
        })
    }

    /// The sources of one arch, loaded once (`locations` from
    /// [`Self::source_of`], relative to the definition's folder).
    fn arch_sources(
        &self,
        locations: &[String],
        arch: &str,
        def_dir: &Path,
        interrupt: &Interrupt,
    ) -> Result<Arc<IndexedSources>> {
        let locations: Vec<String> = locations
            .iter()
            .map(|l| relative_to(&substitute_arch(l, arch), def_dir))
            .collect();
        self.sources(&locations, interrupt)
    }

    fn platform_builds(&self, location: &str) -> Result<Arc<FxHashSet<String>>> {
        let mut memo = self
            .platform_builds
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(b) = memo.get(location) {
            return Ok(Arc::clone(b));
        }
        let repo = strata_repodata::load_repo("platform", location, &self.opts)?;
        let builds = Arc::new(builds_of([&repo]));
        memo.insert(location.to_owned(), Arc::clone(&builds));
        Ok(builds)
    }

    fn koji(&self, tag: &str, progress: &dyn Progress) -> Result<Arc<KojiRepo>> {
        let mut memo = self.koji.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = memo.get(tag) {
            return Ok(Arc::clone(r));
        }
        let koji = self.config.koji.as_ref().ok_or(ComposeError::NoKoji)?;
        progress.stage(&format!("asking Koji for {tag}"));
        let repo = Arc::new(crate::koji::resolve_tag(koji, tag)?);
        memo.insert(tag.to_owned(), Arc::clone(&repo));
        Ok(repo)
    }
}

/// The [`Fingerprint`] of what a compose of `definition` would use now,
/// as [`current_of`] finds it (the same selection, the same inputs that
/// count), reading what modules share once through `shared` and no stack
/// layer: the check of one module in a plan over hundreds.
pub fn fingerprint_shared(
    shared: &SharedInputs<'_>,
    definition_path: &Path,
    definition: &ModuleDefinition,
    digest: &str,
    registry: &dyn Registry,
    interrupt: &Interrupt,
    progress: &dyn Progress,
) -> Result<Fingerprint> {
    let config = shared.config;
    let arches = arches_for(definition, &[], config)?;
    let layers = crate::stack::resolve_with(definition, registry, &[], &mut |streams| {
        let mut memo = shared.last_good.lock().unwrap_or_else(|p| p.into_inner());
        let missing: Vec<(&str, &str)> = streams
            .iter()
            .filter(|(m, s)| !memo.contains_key(&(m.to_string(), s.to_string())))
            .copied()
            .collect();
        if !missing.is_empty() {
            let read = registry.latest_good_lean_many(&missing)?;
            for ((m, s), r) in missing.iter().zip(read) {
                memo.insert((m.to_string(), s.to_string()), r);
            }
        }
        Ok(streams
            .iter()
            .map(|(m, s)| memo[&(m.to_string(), s.to_string())].clone())
            .collect())
    })?;
    let mut inputs = layer_inputs(&layers);
    let platform_repos = platform_repos(definition, config)?;
    let def_dir = definition_dir(definition_path);
    let (source_repos, koji) = shared.source_of(definition, progress)?;
    let mut packages = PackagesByArch::new();
    for arch in &arches {
        interrupt.check()?;
        let sources = shared.arch_sources(&source_repos, arch, def_dir, interrupt)?;
        let picks = select_indexed(
            definition,
            &sources.repos,
            &sources.index,
            arch,
            koji.as_ref().map(|k| &k.latest_nvrs),
        )?;
        let set = packages.entry(arch.clone()).or_default();
        for pick in picks {
            set.insert(
                sources.repos[pick.repo]
                    .package(pick.index)
                    .nevra_with_epoch(),
            );
        }
        for loc in &platform_repos {
            let loc = substitute_arch(loc, arch);
            inputs.push(Input {
                kind: InputKind::Platform,
                name: format!("{}.{arch}", definition.platform().unwrap_or_default()),
                ident: shared.platform_checksum(&loc)?,
                location: shown(&loc),
            });
        }
    }
    Ok(Fingerprint::new(digest, &packages, &inputs))
}

/// Where the builds of a plan's events stand for one module
/// ([`build_presence`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildPresence {
    /// The builds some repository the module reads has (a package of it,
    /// in any arch's source or platform repository, or the Koji tag's
    /// current repo stands for it).
    pub present: Vec<String>,
    /// For a module composed from a Koji tag: the builds tagged into the
    /// tag now (its latest, inherited) that its current repo does not
    /// have yet — Koji regenerates a tag's repo after the tagging. `None`
    /// for a module of plain repositories, whose next content nothing
    /// announces.
    pub tagged_not_in_repo: Option<Vec<String>>,
    /// For a Koji tag source: the builds the repo does not have whose
    /// package the tag has latest builds of. The tag decides whether they
    /// come: tagged, they are in `tagged_not_in_repo`; else superseded by
    /// a newer build (a burst of builds), they never will.
    pub decided_by_tag: Vec<String>,
}

/// Which of the builds `nvrs` (`name-version-release`, as Koji names a
/// build) the repositories a compose of `definition` reads have, and for
/// a Koji tag source, which are tagged but not in the tag's repo yet (one
/// small `listTagged` per build). A module that looks up to date while a
/// build is on its way is not known to be.
pub fn build_presence(
    shared: &SharedInputs<'_>,
    definition_path: &Path,
    definition: &ModuleDefinition,
    nvrs: &[String],
    interrupt: &Interrupt,
    progress: &dyn Progress,
) -> Result<BuildPresence> {
    let config = shared.config;
    let arches = arches_for(definition, &[], config)?;
    let def_dir = definition_dir(definition_path);
    let mut missing: Vec<String> = nvrs.to_vec();
    let (source_repos, koji) = shared.source_of(definition, progress)?;
    let tag = match &definition.source {
        Source::Koji { tag } => Some(tag),
        Source::Repos(_) => None,
    };
    if let Some(koji) = &koji {
        missing.retain(|nvr| !koji.latest_nvrs.contains(nvr));
    }
    let platform_repos = platform_repos(definition, config)?;
    for arch in &arches {
        if missing.is_empty() {
            break;
        }
        interrupt.check()?;
        let sources = shared.arch_sources(&source_repos, arch, def_dir, interrupt)?;
        let builds = sources.builds.get_or_init(|| builds_of(&sources.repos));
        missing.retain(|nvr| !builds.contains(nvr));
        for loc in &platform_repos {
            let builds = shared.platform_builds(&substitute_arch(loc, arch))?;
            missing.retain(|nvr| !builds.contains(nvr));
        }
    }
    let mut decided_by_tag = Vec::new();
    let tagged_not_in_repo = match tag {
        None => None,
        Some(tag) => {
            let koji = config.koji.as_ref().ok_or(ComposeError::NoKoji)?;
            let mut pending = Vec::new();
            for nvr in &missing {
                // A Koji NVR is name-version-release; the name has no
                // version in it.
                let Some(package) = nvr.rsplitn(3, '-').nth(2) else {
                    continue;
                };
                interrupt.check()?;
                let latest = crate::koji::latest_tagged(koji, tag, package)?;
                if !latest.is_empty() {
                    decided_by_tag.push(nvr.clone());
                }
                if latest.contains(nvr) {
                    pending.push(nvr.clone());
                }
            }
            Some(pending)
        }
    };
    Ok(BuildPresence {
        present: nvrs
            .iter()
            .filter(|n| !missing.contains(n))
            .cloned()
            .collect(),
        tagged_not_in_repo,
        decided_by_tag,
    })
}

/// What a compose of `definition` would use now.
#[derive(Debug, Clone)]
pub struct Current {
    pub definition: ModuleDefinition,
    pub fingerprint: Fingerprint,
    /// The inputs as a compose would record them (Koji repo IDs too).
    pub inputs: Vec<Input>,
}

/// Loads the inputs a compose of `req` would use and selects its packages;
/// composes nothing and records nothing.
pub fn fingerprint_now(
    req: &ComposeRequest,
    config: &Config,
    registry: &dyn Registry,
    progress: &dyn Progress,
) -> Result<Current> {
    let (definition, digest) = read_definition(&req.definition)?;
    current_of(
        &req.definition,
        definition,
        &digest,
        &req.arches,
        &req.with_composes,
        req.cache_dir.as_deref(),
        &req.interrupt,
        config,
        registry,
        progress,
    )
}

/// [`fingerprint_now`] of a definition already read (a chain's catalog).
#[allow(clippy::too_many_arguments)]
pub fn current_of(
    definition_path: &Path,
    definition: ModuleDefinition,
    digest: &str,
    arches: &[String],
    with_composes: &[String],
    cache_dir: Option<&Path>,
    interrupt: &Interrupt,
    config: &Config,
    registry: &dyn Registry,
    progress: &dyn Progress,
) -> Result<Current> {
    let arches = arches_for(&definition, arches, config)?;
    let opts = LoadOptions {
        cache_dir: cache_dir.map(Path::to_path_buf),
        cache_limits: config.cache_limits(),
    };
    let mut loaded = load_inputs(
        &LoadRequest {
            definition_path,
            definition: &definition,
            arches: &arches,
            with_composes,
            interrupt,
            opts: &opts,
            // The layers' records are only read to merge them; the
            // fingerprint needs their compose IDs alone.
            stack_repo: StackRepo::RepoFile,
        },
        config,
        registry,
        progress,
    )?;
    if let Some(memo) = loaded.stack_memo.take() {
        memo.write(&loaded.layers);
    }
    let mut packages = PackagesByArch::new();
    for a in &loaded.arches {
        interrupt.check()?;
        let picks = select(&definition, &a.sources, &a.arch, a.allowed.as_deref())?;
        let set = packages.entry(a.arch.clone()).or_default();
        for pick in picks {
            set.insert(a.sources[pick.repo].package(pick.index).nevra_with_epoch());
        }
    }
    Ok(Current {
        fingerprint: Fingerprint::new(digest, &packages, &loaded.inputs),
        definition,
        inputs: loaded.inputs,
    })
}

/// What [`compose_module_if_changed`] did.
#[derive(Debug, Clone)]
pub enum IfChanged {
    /// Nothing the compose would use differs from the last good compose,
    /// which is reused (it is this record).
    Reused(Box<ComposeRecord>),
    /// Something differs (or there is no good compose): composed.
    Composed(Box<ComposeResult>),
}

/// Composes `req` unless its last good compose used exactly what it would
/// use now; then that compose is given back and nothing is recorded. When
/// it composes, the inputs are loaded twice (once to compare): the second
/// load reads the repodata cache the first one filled.
pub fn compose_module_if_changed(
    req: &ComposeRequest,
    config: &Config,
    registry: &mut dyn Registry,
    progress: &dyn Progress,
) -> Result<IfChanged> {
    compose_in_chain_if_changed(req, None, config, registry, progress)
}

/// [`compose_module_if_changed`] for a step of a chain
/// ([`compose_module_in_chain`]).
pub fn compose_in_chain_if_changed(
    req: &ComposeRequest,
    chain: Option<&InChain>,
    config: &Config,
    registry: &mut dyn Registry,
    progress: &dyn Progress,
) -> Result<IfChanged> {
    let current = fingerprint_now(req, config, &*registry, progress)?;
    let def = &current.definition;
    // A scratch compose is never reused as a real one, nor the reverse.
    if req.scratch.is_none() {
        if let Some(last) = registry.latest_good(&def.name, &def.stream)? {
            // A compose whose published directory is gone (a Pungi work
            // directory cleaned up) is no longer there to reuse.
            let published = last.outputs.as_ref().is_some_and(|o| o.path.is_dir());
            if published && Fingerprint::of_record(&last) == current.fingerprint {
                tracing::info!(
                    compose = last.id,
                    "nothing changed: reusing the last good compose"
                );
                return Ok(IfChanged::Reused(Box::new(last)));
            }
        }
    }
    compose_module_in_chain(req, chain, config, registry, progress)
        .map(|r| IfChanged::Composed(Box::new(r)))
}
