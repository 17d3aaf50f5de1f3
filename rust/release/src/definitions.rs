//! The definitions a release names, on this machine and in the order they
//! compose: what a front end that composes module by module (the Pungi
//! phase) takes from a release in place of its own definition lists.

use crate::check::locate;
use crate::error::ReleaseError;
use std::path::{Path, PathBuf};
use strata_chain::CatalogModule;
use strata_compose::{error_chain, Config};

/// A release's definition files: its modules' in dependency order (each
/// after the release's modules it requires, the way a chain orders them),
/// then its artifacts', as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseDefinitions {
    pub modules: Vec<PathBuf>,
    pub artifacts: Vec<PathBuf>,
}

/// Reads the release at `path` and every definition it names (paths
/// relative to it; SCM URLs fetched into the clone cache of `config`, or
/// of `cache_dir`). Every definition that cannot be used is named at once;
/// a module whose definition the release does not give (the catalog's)
/// is left out.
pub fn release_definitions(
    path: &Path,
    config: &Config,
    cache_dir: Option<&Path>,
) -> Result<ReleaseDefinitions, ReleaseError> {
    let file = path.display().to_string();
    let (release, _) = strata_compose::read_release(path).map_err(|e| ReleaseError::Release {
        file: file.clone(),
        source: Box::new(e),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let cache = config.cache_dir(cache_dir);
    let scm = strata_chain::scm_cache(config, cache.as_deref()).ok();
    let mut problems: Vec<String> = Vec::new();
    // The release's modules with their files, in the chain's own terms so
    // Pungi composes them in the order a chain would.
    let mut modules: Vec<(CatalogModule, PathBuf)> = Vec::new();
    for (i, m) in release.modules.iter().enumerate() {
        let Some(entry) = &m.definition else {
            continue;
        };
        let read = locate(entry, base, scm.as_ref()).and_then(|(at, _)| {
            let (d, _) = strata_compose::read_definition(&at).map_err(|e| error_chain(&e))?;
            if d.nsv() == m.nsv() {
                Ok((at, d))
            } else {
                Err(format!("it defines {}, not {}", d.nsv(), m.nsv()))
            }
        });
        match read {
            Ok((at, d)) => {
                let module = CatalogModule {
                    name: d.name.clone(),
                    stream: d.stream.clone(),
                    definition: entry.clone(),
                    requires: d
                        .module_requires()
                        .map(|(n, s)| (n.to_owned(), s.to_owned()))
                        .collect(),
                };
                modules.push((module, at));
            }
            Err(why) => problems.push(format!("data.modules[{i}] `{entry}`: {why}")),
        }
    }
    let mut artifacts = Vec::new();
    for (i, a) in release.artifacts.iter().enumerate() {
        let read = locate(&a.definition, base, scm.as_ref()).and_then(|(at, _)| {
            strata_compose::read_artifact_definition(&at)
                .map(|_| at)
                .map_err(|e| error_chain(&e))
        });
        match read {
            Ok(at) => artifacts.push(at),
            Err(why) => problems.push(format!("data.artifacts[{i}] `{}`: {why}", a.definition)),
        }
    }
    if !problems.is_empty() {
        return Err(ReleaseError::Definitions {
            file,
            problems: problems.join("; "),
        });
    }
    let (catalog, files): (Vec<CatalogModule>, Vec<PathBuf>) = modules.into_iter().unzip();
    let order =
        strata_chain::dependency_order(&catalog).map_err(|e| ReleaseError::Definitions {
            file: file.clone(),
            problems: match e {
                strata_chain::ChainError::Cycle { cycle } => format!(
                    "its modules require each other in a cycle: {}",
                    cycle.join(" → ")
                ),
                other => other.to_string(),
            },
        })?;
    Ok(ReleaseDefinitions {
        modules: order.into_iter().map(|i| files[i].clone()).collect(),
        artifacts,
    })
}
