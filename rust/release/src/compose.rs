//! `release compose`: the release check first, then, only when it found
//! nothing, the release frozen into one release compose
//! ([`strata_compose::compose_release`]): the composes the check chose,
//! recorded in the registry in order (the release's modules, the modules
//! below them, the artifacts) and published together.
//!
//! A check with problems composes and records nothing: the report is the
//! answer. Kept apart from check.rs, which the upgrade check also extends.

use crate::check::{check_release, CheckOptions};
use crate::error::ReleaseError;
use crate::report::{ReleaseReport, StreamSwitch};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strata_compose::{
    compose_time, ComposeError, Config, Interrupt, Progress, ReleaseArtifact, ReleaseContent,
    ReleaseModuleRepo, ReleaseSwitch,
};
use strata_registry::{
    ComposeRecord, ComposeType, NewRelease, Owner, Registry, ReleaseInput, ReleaseInputKind,
    ReleaseRecord,
};

/// How to compose a release.
#[derive(Debug, Clone)]
pub struct ComposeOptions {
    pub check: CheckOptions,
    /// Each release compose goes to `OUT/<release-id>/`.
    pub out: PathBuf,
    pub compose_type: ComposeType,
    /// Checksum every RPM before linking it.
    pub verify_payloads: bool,
    /// The release document's SCM reference (`URL#commit`) to record, when
    /// it came from SCM.
    pub scm_ref: Option<String>,
}

/// What `release compose` did.
#[derive(Debug)]
pub enum ReleaseComposed {
    /// The check passed and the release compose is recorded finished.
    Composed {
        report: ReleaseReport,
        record: Box<ReleaseRecord>,
    },
    /// The check found problems: nothing was composed or recorded.
    Refused(ReleaseReport),
}

/// Checks the release at `path` and, if it passes, composes it.
pub fn compose_release(
    path: &Path,
    config: &Config,
    registry: &mut dyn Registry,
    opts: &ComposeOptions,
    interrupt: &Interrupt,
    progress: &dyn Progress,
) -> Result<ReleaseComposed, ReleaseError> {
    let report = check_release(path, config, &*registry, &opts.check)?;
    if !report.ok() {
        return Ok(ReleaseComposed::Refused(report));
    }
    let file = path.display().to_string();
    let failed = |source: ComposeError| ReleaseError::Compose {
        file: file.clone(),
        source: Box::new(source),
    };
    let (release, digest) = strata_compose::read_release(path).map_err(failed)?;
    let arch = report.arch.clone();

    let own = |module: &str| release.modules.iter().any(|m| m.nsv() == module);
    // The release's modules in its order, then those below them.
    let mut modules: Vec<(ReleaseInputKind, &str, &str)> = Vec::new();
    for m in &release.modules {
        if let Some(u) = report.modules.iter().find(|u| u.module == m.nsv()) {
            if let Some(id) = &u.compose {
                modules.push((ReleaseInputKind::Module, &u.module, id));
            }
        }
    }
    for u in report.modules.iter().filter(|u| !own(&u.module)) {
        if let Some(id) = &u.compose {
            modules.push((ReleaseInputKind::Stack, &u.module, id));
        }
    }
    let mut repos = Vec::with_capacity(modules.len());
    for (_, module, id) in &modules {
        let record = shipped(&*registry, &file, id)?;
        let repo = record
            .outputs
            .as_ref()
            .and_then(|o| o.repos.get(&arch))
            .ok_or_else(|| {
                failed(ComposeError::DependencyMissingArch {
                    compose_id: id.to_string(),
                    required: module.to_string(),
                    arch: arch.clone(),
                })
            })?;
        repos.push(ReleaseModuleRepo {
            module: module.to_string(),
            compose_id: id.to_string(),
            repo: repo.clone(),
        });
    }
    let mut inputs: Vec<ReleaseInput> = modules
        .iter()
        .map(|(kind, module, id)| ReleaseInput {
            kind: *kind,
            name: module.to_string(),
            compose_id: id.to_string(),
        })
        .collect();
    inputs.extend(report.artifacts.iter().filter_map(|a| {
        Some(ReleaseInput {
            kind: ReleaseInputKind::Artifact,
            name: a.name.clone().unwrap_or_else(|| a.definition.clone()),
            compose_id: a.compose.clone()?,
        })
    }));
    let defaults: BTreeMap<String, String> = release
        .modules
        .iter()
        .filter(|m| m.default)
        .map(|m| (m.name.clone(), m.stream.clone()))
        .collect();
    let new = NewRelease {
        name: release.name.clone(),
        version: release.version.clone(),
        compose_type: opts.compose_type,
        started_at: compose_time(),
        release_date: release.date.clone(),
        definition_path: path.to_path_buf(),
        definition_digest: digest,
        scm_ref: opts.scm_ref.clone(),
        arches: vec![arch.clone()],
        inputs,
        owner: Owner::current(),
    };
    let mut artifacts = Vec::new();
    for a in &report.artifacts {
        let Some(id) = &a.compose else { continue };
        let record = shipped(&*registry, &file, id)?;
        let (Some(kind), Some(outputs)) = (record.artifact, &record.outputs) else {
            return Err(ReleaseError::ComposeGone {
                file: file.clone(),
                compose_id: id.clone(),
            });
        };
        artifacts.push(ReleaseArtifact {
            name: a.name.clone().unwrap_or_else(|| record.name.clone()),
            compose_id: id.clone(),
            kind,
            path: outputs.path.clone(),
        });
    }
    let mut switches = Vec::new();
    for switch in report.upgrade.iter().flat_map(|u| &u.switches) {
        switches.push(previous_stream(&file, switch, &arch, &*registry)?);
    }
    let content = ReleaseContent {
        out: opts.out.clone(),
        arch,
        modules: repos,
        defaults,
        verify_payloads: opts.verify_payloads,
        cache_dir: config.cache_dir(opts.check.cache_dir.as_deref()),
        switches,
        artifacts,
        variants: release.variants,
    };
    // As a module compose ends the dead composes of its stream first: a
    // release compose killed earlier would stay `started` for good.
    registry
        .abandon_dead_releases()
        .map_err(|source| ReleaseError::Registry {
            file: file.clone(),
            source: Box::new(source),
        })?;
    let record = strata_compose::compose_release(registry, &new, &content, interrupt, progress)
        .map_err(failed)?;
    Ok(ReleaseComposed::Composed {
        report,
        record: Box::new(record),
    })
}

/// The record of a compose the check chose to ship.
fn shipped(registry: &dyn Registry, file: &str, id: &str) -> Result<ComposeRecord, ReleaseError> {
    registry
        .get(id)
        .map_err(|e| ReleaseError::Compose {
            file: file.to_owned(),
            source: Box::new(e.into()),
        })?
        .ok_or_else(|| ReleaseError::ComposeGone {
            file: file.to_owned(),
            compose_id: id.to_owned(),
        })
}

/// The previous stream of a switch as its compose published it for `arch`
/// (the registry keeps each compose's modulemd), for the release compose
/// to mark obsoleted.
fn previous_stream(
    file: &str,
    switch: &StreamSwitch,
    arch: &str,
    registry: &dyn Registry,
) -> Result<ReleaseSwitch, ReleaseError> {
    let id = &switch.from_compose;
    let unusable = |why: String| ReleaseError::PreviousStream {
        file: file.to_owned(),
        compose_id: id.clone(),
        module: format!("{}:{}", switch.module, switch.from_stream),
        why,
    };
    let record = registry
        .get(id)
        .map_err(|source| ReleaseError::Registry {
            file: file.to_owned(),
            source: Box::new(source),
        })?
        .ok_or_else(|| unusable("it is no longer in the registry".into()))?;
    let text = record
        .modulemd
        .get(arch)
        .ok_or_else(|| unusable(format!("it recorded no {arch} modulemd")))?;
    let docs = strata_modulemd::parse_modules_yaml(text)
        .map_err(|e| unusable(format!("its recorded modulemd cannot be read: {e}")))?;
    let previous: Vec<_> = docs
        .into_iter()
        .filter_map(|d| match d {
            strata_modulemd::Document::Stream(s)
                if s.name == switch.module && s.stream == switch.from_stream =>
            {
                Some(s)
            }
            _ => None,
        })
        .collect();
    if previous.is_empty() {
        return Err(unusable("its recorded modulemd has no such stream".into()));
    }
    Ok(ReleaseSwitch {
        module: switch.module.clone(),
        to_stream: switch.to_stream.clone(),
        previous,
    })
}
