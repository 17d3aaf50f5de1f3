//! The definitions a release names, on this machine and in the order they
//! compose: what a front end that composes module by module (the Pungi
//! phase) takes from a release in place of its own definition lists.

use crate::check::locate;
use crate::error::ReleaseError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use strata_compose::{error_chain, Config};

/// A release's definition files: its modules' bottom first (each after
/// the release's modules it requires), then its artifacts', as listed.
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
    // name:stream → (its file, the release's modules it requires)
    let mut modules: Vec<(String, PathBuf, Vec<String>)> = Vec::new();
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
                let requires = d
                    .module_requires()
                    .map(|(n, s)| format!("{n}:{s}"))
                    .collect();
                modules.push((m.nsv(), at, requires));
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
    let order = bottom_first(&modules).map_err(|cycle| ReleaseError::Definitions {
        file: file.clone(),
        problems: format!("its modules require each other in a cycle: {cycle}"),
    })?;
    Ok(ReleaseDefinitions {
        modules: order.into_iter().map(|i| modules[i].1.clone()).collect(),
        artifacts,
    })
}

/// Indices of `modules` (name:stream, file, requires) with each after the
/// ones it requires, otherwise as listed; `Err` names a cycle's modules.
fn bottom_first(modules: &[(String, PathBuf, Vec<String>)]) -> Result<Vec<usize>, String> {
    let index: BTreeMap<&str, usize> = modules
        .iter()
        .enumerate()
        .map(|(i, (nsv, _, _))| (nsv.as_str(), i))
        .collect();
    let below: Vec<BTreeSet<usize>> = modules
        .iter()
        .map(|(_, _, requires)| {
            requires
                .iter()
                .filter_map(|r| index.get(r.as_str()).copied())
                .collect()
        })
        .collect();
    let mut placed = vec![false; modules.len()];
    let mut order = Vec::with_capacity(modules.len());
    // Each round places the first listed module whose requirements are
    // placed: a release lists tens of modules, so rounds cost nothing.
    while order.len() < modules.len() {
        let next = (0..modules.len()).find(|&i| !placed[i] && below[i].iter().all(|&b| placed[b]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => {
                let cycle: Vec<&str> = (0..modules.len())
                    .filter(|&i| !placed[i])
                    .map(|i| modules[i].0.as_str())
                    .collect();
                return Err(cycle.join(", "));
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod test {
    use super::*;

    fn m(nsv: &str, requires: &[&str]) -> (String, PathBuf, Vec<String>) {
        (
            nsv.to_owned(),
            PathBuf::from(nsv),
            requires.iter().map(|r| (*r).to_owned()).collect(),
        )
    }

    #[test]
    fn modules_come_after_what_they_require_else_as_listed() {
        let listed = [
            m("php:8.2", &["apache:2.4", "platform:f40"]),
            m("tools:1", &[]),
            m("apache:2.4", &["base:1"]),
            m("base:1", &[]),
        ];
        assert_eq!(bottom_first(&listed).unwrap(), [1, 3, 2, 0]);
        let cycle = [m("a:1", &["b:1"]), m("b:1", &["a:1"]), m("c:1", &[])];
        assert_eq!(bottom_first(&cycle).unwrap_err(), "a:1, b:1");
    }
}
