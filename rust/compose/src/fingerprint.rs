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
use crate::config::{Config, StackRepo};
use crate::definition::read_definition;
use crate::error::Result;
use crate::ids::nevra_with_epoch;
use crate::inputs::{arches_for, load_inputs, LoadRequest};
use crate::interrupt::Interrupt;
use crate::progress::Progress;
use crate::select::select;
use std::collections::BTreeMap;
use std::path::Path;
use strata_model::ModuleDefinition;
use strata_registry::{ComposeRecord, Input, InputKind, PackagesByArch, Registry};
use strata_repodata::LoadOptions;

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
    pub inputs: BTreeMap<(InputKind, String), String>,
}

impl Fingerprint {
    /// From what a compose would use now (after selection, before the
    /// gate) or what one recorded.
    pub fn new(definition_digest: &str, packages: &PackagesByArch, inputs: &[Input]) -> Self {
        Fingerprint {
            definition_digest: definition_digest.to_owned(),
            packages: packages.clone(),
            inputs: inputs
                .iter()
                .filter(|i| !matches!(i.kind, InputKind::KojiRepo | InputKind::SourceRepo))
                .map(|i| ((i.kind, i.name.clone()), i.ident.clone()))
                .collect(),
        }
    }

    /// What a recorded compose used (a record read with its package
    /// lists, not a lean one).
    pub fn of_record(record: &ComposeRecord) -> Self {
        Fingerprint::new(&record.definition_digest, &record.packages, &record.inputs)
    }
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
    let loaded = load_inputs(
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
    let mut packages = PackagesByArch::new();
    for a in &loaded.arches {
        interrupt.check()?;
        let picks = select(&definition, &a.sources, &a.arch, a.allowed.as_deref())?;
        let set = packages.entry(a.arch.clone()).or_default();
        for pick in picks {
            set.insert(nevra_with_epoch(&a.sources[pick.repo].package(pick.index)));
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
