//! Release composes as the registry records them, in words (the one
//! rendering every front end, `strata releases list|show` and Python,
//! prints), and what changed from one to another (`strata release diff`).

use crate::error::ReleaseError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use strata_registry::{Registry, ReleaseInputKind, ReleaseRecord};

fn time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// One release compose, every field.
pub fn release_text(r: &ReleaseRecord) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} {}", r.id, r.state.as_str().to_uppercase());
    let _ = writeln!(
        s,
        "  release     {} {}, date {}",
        r.name, r.version, r.release_date
    );
    let _ = writeln!(
        s,
        "  definition  {} (sha256 {})",
        r.definition_path.display(),
        r.definition_digest
    );
    if let Some(scm_ref) = &r.scm_ref {
        let _ = writeln!(s, "  scm         {}", strata_model::one_line(scm_ref));
    }
    let _ = writeln!(s, "  arches      {}", r.arches.join(", "));
    let _ = writeln!(s, "  started     {}", time(r.started_at));
    if let Some(owner) = &r.owner {
        let _ = writeln!(s, "  owner       {owner}");
    }
    if let Some(t) = r.finished_at {
        let _ = writeln!(s, "  ended       {}", time(t));
    }
    if let Some(p) = &r.path {
        let _ = writeln!(s, "  published   {}", p.display());
    }
    let _ = writeln!(s, "  composes ({}):", r.inputs.len());
    let width = r.inputs.iter().map(|i| i.name.len()).max().unwrap_or(0);
    for i in &r.inputs {
        let _ = writeln!(
            s,
            "    {:<8}  {:<width$}  {}",
            i.kind.as_str(),
            i.name,
            i.compose_id
        );
    }
    if let Some(e) = &r.error {
        let _ = writeln!(s, "  error: {e}");
    }
    s
}

/// Release composes as a table, one a line.
pub fn releases_table(records: &[ReleaseRecord]) -> String {
    let mut s = String::new();
    let width = records.iter().map(|r| r.id.len()).max().unwrap_or(2).max(2);
    let _ = writeln!(
        s,
        "{:<width$}  {:<8}  {:<10}  COMPOSES",
        "ID", "STATE", "DATE"
    );
    for r in records {
        let _ = writeln!(
            s,
            "{:<width$}  {:<8}  {:<10}  {}",
            r.id,
            r.state.as_str(),
            r.release_date,
            r.inputs.len()
        );
    }
    s
}

/// How one module changed between two release composes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleChange {
    /// The module name.
    pub module: String,
    /// `(stream, compose ID)` in the first release; `None`: not in it.
    pub from: Option<(String, String)>,
    /// `(stream, compose ID)` in the second; `None`: not in it.
    pub to: Option<(String, String)>,
}

/// A package whose version changed: same name and arch, another EVR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageChange {
    pub from: String,
    pub to: String,
}

/// How an artifact changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactChange {
    pub artifact: String,
    /// Its compose ID in the first release; `None`: not in it.
    pub from: Option<String>,
    pub to: Option<String>,
}

/// What changed from one release compose to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseDiff {
    pub from: String,
    pub to: String,
    /// Modules whose stream or compose changed, added or removed, by name.
    pub modules: Vec<ModuleChange>,
    /// NEVRAs of every module compose (the stacks' too), by arch: only in
    /// the second, only in the first, and those of one name and arch
    /// whose version changed.
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<PackageChange>,
    pub artifacts: Vec<ArtifactChange>,
}

impl ReleaseDiff {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.artifacts.is_empty()
    }

    /// The diff as `strata release diff` prints it.
    pub fn to_text(&self) -> String {
        let mut s = format!("{} -> {}\n", self.from, self.to);
        if self.is_empty() {
            s.push_str("no changes\n");
            return s;
        }
        let side = |v: &Option<(String, String)>| match v {
            Some((stream, id)) => format!("{stream} ({id})"),
            None => "-".to_owned(),
        };
        if !self.modules.is_empty() {
            s.push_str("modules:\n");
            for m in &self.modules {
                let _ = writeln!(s, "  {}: {} -> {}", m.module, side(&m.from), side(&m.to));
            }
        }
        if !(self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()) {
            s.push_str("packages:\n");
            for p in &self.added {
                let _ = writeln!(s, "  + {p}");
            }
            for p in &self.removed {
                let _ = writeln!(s, "  - {p}");
            }
            for c in &self.changed {
                let _ = writeln!(s, "  ~ {} -> {}", c.from, c.to);
            }
        }
        if !self.artifacts.is_empty() {
            s.push_str("artifacts:\n");
            for a in &self.artifacts {
                let _ = writeln!(
                    s,
                    "  {}: {} -> {}",
                    a.artifact,
                    a.from.as_deref().unwrap_or("-"),
                    a.to.as_deref().unwrap_or("-")
                );
            }
        }
        s
    }
}

/// The name of a NEVRA (`name-[epoch:]version-release.arch`): what stays
/// the same when a package is updated (with its arch).
fn nevra_name(nevra: &str) -> &str {
    let nevr = nevra.rsplit_once('.').map_or(nevra, |(nevr, _)| nevr);
    nevr.rsplit_once('-')
        .and_then(|(nev, _)| nev.rsplit_once('-'))
        .map_or(nevr, |(name, _)| name)
}

/// Compares release compose `a` with `b` (IDs): modules, the NEVRAs of
/// their composes, artifacts.
pub fn release_diff(
    registry: &dyn Registry,
    a: &str,
    b: &str,
) -> Result<ReleaseDiff, ReleaseError> {
    let read = |id: &str| -> Result<ReleaseRecord, ReleaseError> {
        registry
            .get_release(id)
            .map_err(|e| ReleaseError::Diff {
                release: id.to_owned(),
                source: Box::new(e),
            })?
            .ok_or_else(|| ReleaseError::NoSuchRelease { id: id.to_owned() })
    };
    let (ra, rb) = (read(a)?, read(b)?);
    let modules_of = |r: &ReleaseRecord| -> BTreeMap<String, (String, String)> {
        r.inputs
            .iter()
            .filter(|i| i.kind != ReleaseInputKind::Artifact)
            .map(|i| {
                let (name, stream) = i.name.split_once(':').unwrap_or((&i.name, ""));
                (name.to_owned(), (stream.to_owned(), i.compose_id.clone()))
            })
            .collect()
    };
    let (ma, mb) = (modules_of(&ra), modules_of(&rb));
    let modules = ma
        .keys()
        .chain(mb.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|m| ma.get(*m) != mb.get(*m))
        .map(|m| ModuleChange {
            module: m.clone(),
            from: ma.get(m).cloned(),
            to: mb.get(m).cloned(),
        })
        .collect();
    let packages_of = |r: &ReleaseRecord| -> Result<BTreeSet<String>, ReleaseError> {
        let mut all = BTreeSet::new();
        for i in r
            .inputs
            .iter()
            .filter(|i| i.kind != ReleaseInputKind::Artifact)
        {
            let record = registry
                .get(&i.compose_id)
                .map_err(|e| ReleaseError::Diff {
                    release: r.id.clone(),
                    source: Box::new(e),
                })?
                .ok_or_else(|| ReleaseError::DiffComposeGone {
                    release: r.id.clone(),
                    compose_id: i.compose_id.clone(),
                })?;
            for arch in &r.arches {
                if let Some(p) = record.packages.get(arch) {
                    all.extend(p.iter().cloned());
                }
            }
        }
        Ok(all)
    };
    let (pa, pb) = (packages_of(&ra)?, packages_of(&rb)?);
    let key = |n: &str| {
        (
            nevra_name(n).to_owned(),
            n.rsplit_once('.')
                .map(|(_, a)| a.to_owned())
                .unwrap_or_default(),
        )
    };
    let only_a: Vec<&String> = pa.difference(&pb).collect();
    let only_b: Vec<&String> = pb.difference(&pa).collect();
    let mut by_key_b: BTreeMap<(String, String), Vec<&String>> = BTreeMap::new();
    for n in &only_b {
        by_key_b.entry(key(n)).or_default().push(n);
    }
    let mut changed = Vec::new();
    let mut removed = Vec::new();
    let mut taken = BTreeSet::new();
    for n in only_a {
        match by_key_b.get_mut(&key(n)).and_then(|v| v.pop()) {
            Some(to) => {
                taken.insert(to.clone());
                changed.push(PackageChange {
                    from: n.clone(),
                    to: to.clone(),
                });
            }
            None => removed.push(n.clone()),
        }
    }
    let added = only_b
        .into_iter()
        .filter(|n| !taken.contains(*n))
        .cloned()
        .collect();
    let artifacts_of = |r: &ReleaseRecord| -> BTreeMap<String, String> {
        r.inputs
            .iter()
            .filter(|i| i.kind == ReleaseInputKind::Artifact)
            .map(|i| (i.name.clone(), i.compose_id.clone()))
            .collect()
    };
    let (aa, ab) = (artifacts_of(&ra), artifacts_of(&rb));
    let artifacts = aa
        .keys()
        .chain(ab.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| aa.get(*k) != ab.get(*k))
        .map(|k| ArtifactChange {
            artifact: k.clone(),
            from: aa.get(k).cloned(),
            to: ab.get(k).cloned(),
        })
        .collect();
    Ok(ReleaseDiff {
        from: ra.id,
        to: rb.id,
        modules,
        added,
        removed,
        changed,
        artifacts,
    })
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_nevras_name_is_what_an_update_keeps() {
        for (nevra, name) in [
            ("jq-1.7-1.x86_64", "jq"),
            ("jq-0:1.8-1.x86_64", "jq"),
            ("mod_ssl-1:2.4.58-1.fc40.x86_64", "mod_ssl"),
            ("perl-DBI-1.643-1.fc40.noarch", "perl-DBI"),
            ("389-ds-base-2.4-1.src", "389-ds-base"),
        ] {
            assert_eq!(nevra_name(nevra), name, "{nevra}");
        }
    }
}
