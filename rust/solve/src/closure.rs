//! Repoclosure: does every requirement of every checked package have a
//! provider among the available packages? Same rules as `dnf repoclosure`
//! (`--check`, `--arch`, `--newest`, libsolv's provider matching), plus the
//! optional installability check and suggestions.

use crate::error::SolveError;
use crate::sack::{PkgId, Sack};
use crate::suggest::{suggest, Suggestions};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use strata_model::{Evr, RichDep};
use strata_repodata::{Dep, DepKey, Repo};

/// What to check, mirroring `dnf repoclosure`'s options.
#[derive(Debug, Clone, Default)]
pub struct ClosureOptions {
    /// Repository ids whose packages are checked; empty means all. The
    /// other repositories are lookaside: they only provide.
    pub check: Vec<String>,
    /// Only check packages of these arches; empty means all.
    pub arches: Vec<String>,
    /// Only the newest version of each package name counts, per repository.
    pub newest: bool,
    /// The machine arch packages are judged for (dnf's `--forcearch`);
    /// `None` is this machine's.
    pub base_arch: Option<String>,
    /// Also check that each checked package can be installed (SAT).
    pub installable: bool,
    /// Repository ids that are only searched for suggestions: they neither
    /// provide nor are checked.
    pub suggest_from: Vec<String>,
    /// Packages hidden in a repository (by package index), as dnf's
    /// excludes and modular filtering hide them: they neither provide nor
    /// are checked.
    pub hidden: Vec<(String, Vec<u32>)>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unresolved {
    pub package: String,
    pub repo: String,
    pub deps: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Uninstallable {
    pub package: String,
    pub repo: String,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    pub checked: usize,
    pub uninstallable: Vec<Uninstallable>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepoInfo {
    pub id: String,
    /// Where it was loaded from, without the password of a URL.
    pub location: String,
    pub packages: usize,
    pub checksum: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClosureReport {
    pub checked: usize,
    pub repos: Vec<RepoInfo>,
    pub unresolved: Vec<Unresolved>,
    pub installable: Option<InstallReport>,
    pub suggestions: Option<Suggestions>,
}

impl ClosureReport {
    /// Closed (and, when checked, installable).
    pub fn ok(&self) -> bool {
        self.unresolved.is_empty()
            && self
                .installable
                .as_ref()
                .is_none_or(|i| i.uninstallable.is_empty())
    }

    /// Number of unresolved (package, dependency) pairs, as dnf counts them.
    pub fn unresolved_pairs(&self) -> usize {
        self.unresolved.iter().map(|u| u.deps.len()).sum()
    }

    /// The report in `dnf repoclosure`'s format, and nothing else, so that
    /// whatever parses dnf's output parses this.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for u in &self.unresolved {
            out.push_str(&format!("package: {} from {}\n", u.package, u.repo));
            out.push_str(&format!("  unresolved deps ({}):\n", u.deps.len()));
            for d in &u.deps {
                out.push_str(&format!("    {d}\n"));
            }
        }
        out
    }

    /// What dnf has no format for: installation problems and suggestions.
    /// The CLI prints it on stderr, beside dnf's summary line.
    pub fn extras_text(&self) -> String {
        let mut out = String::new();
        if let Some(inst) = &self.installable {
            for u in &inst.uninstallable {
                out.push_str(&format!("package: {} from {}\n", u.package, u.repo));
                out.push_str(&format!(
                    "  installation problems ({}):\n",
                    u.problems.len()
                ));
                for p in &u.problems {
                    out.push_str(&format!("    {p}\n"));
                }
            }
        }
        if let Some(s) = &self.suggestions {
            out.push_str(&s.to_text());
        }
        out
    }
}

/// Whether a requirement is one dnf repoclosure skips.
pub(crate) fn skipped(name: &str) -> bool {
    name.starts_with("rpmlib(") || name.starts_with("solvable:")
}

/// Providers of one dependency record among the packages `keep` accepts.
pub(crate) fn dep_providers(
    sack: &Sack<'_>,
    dep: &Dep<'_>,
    keep: &dyn Fn(PkgId) -> bool,
) -> Vec<PkgId> {
    let name = dep.name();
    if strata_model::is_rich(name) {
        return match RichDep::parse(name) {
            Ok(rich) => sack.providers_rich(&rich, keep),
            // An unparsable rich dependency cannot be satisfied.
            Err(_) => Vec::new(),
        };
    }
    let mut out = Vec::new();
    let evr: Option<Evr<'_>> = dep.evr();
    sack.providers_simple(name, dep.flags(), evr.as_ref(), keep, &mut out);
    out
}

pub(crate) fn repo_index(repos: &[&Repo], id: &str) -> Result<u32, SolveError> {
    repos
        .iter()
        .position(|r| r.id == id)
        .map(|i| i as u32)
        .ok_or_else(|| SolveError::UnknownRepo {
            id: id.to_string(),
            known: repos
                .iter()
                .map(|r| r.id.clone())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Per repository, the packages that count when `--newest` is given: for
/// each name and arch, the one with the highest EVR (dnf's `latest()`).
fn newest_mask(repo: &Repo) -> Vec<bool> {
    let mut best: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    for p in repo.iter() {
        best.entry((p.rec().name, p.rec().arch))
            .and_modify(|b| {
                if p.evr().cmp_full(&repo.package(*b).evr()).is_gt() {
                    *b = p.index;
                }
            })
            .or_insert(p.index);
    }
    repo.iter()
        .map(|p| {
            let b = repo.package(best[&(p.rec().name, p.rec().arch)]);
            p.evr().cmp_full(&b.evr()).is_eq()
        })
        .collect()
}

/// Runs repoclosure over `repos` (all loaded, including suggestion sources).
pub fn repoclosure(
    repos: &[&Repo],
    opts: &ClosureOptions,
    progress: &dyn Fn(&str, usize, usize),
) -> Result<ClosureReport, SolveError> {
    let check: FxHashSet<u32> = opts
        .check
        .iter()
        .map(|id| repo_index(repos, id))
        .collect::<Result<_, _>>()?;
    let candidates: FxHashSet<u32> = opts
        .suggest_from
        .iter()
        .map(|id| repo_index(repos, id))
        .collect::<Result<_, _>>()?;
    let base_arch = opts
        .base_arch
        .clone()
        .unwrap_or_else(|| crate::arch::host_arch().to_string());
    let mut sack = Sack::new(repos, &base_arch);

    let newest: Vec<Option<Vec<bool>>> = repos
        .iter()
        .map(|r| opts.newest.then(|| newest_mask(r)))
        .collect();
    let mut visible: Vec<Option<Vec<bool>>> = vec![None; repos.len()];
    for (id, hidden) in &opts.hidden {
        let ri = repo_index(repos, id)? as usize;
        let mask = visible[ri].get_or_insert_with(|| vec![true; repos[ri].len()]);
        for &i in hidden {
            if let Some(v) = mask.get_mut(i as usize) {
                *v = false;
            }
        }
    }
    let counts_newest = |id: PkgId| {
        newest[id.repo as usize]
            .as_ref()
            .is_none_or(|m| m[id.pkg as usize])
            && visible[id.repo as usize]
                .as_ref()
                .is_none_or(|m| m[id.pkg as usize])
    };
    let available = |id: PkgId| !candidates.contains(&id.repo) && counts_newest(id);

    let arches: FxHashSet<&str> = opts.arches.iter().map(String::as_str).collect();
    let mut to_check: Vec<PkgId> = Vec::new();
    for (ri, repo) in repos.iter().enumerate() {
        let ri = ri as u32;
        if candidates.contains(&ri) || (!check.is_empty() && !check.contains(&ri)) {
            continue;
        }
        for p in repo.iter() {
            let id = PkgId {
                repo: ri,
                pkg: p.index,
            };
            // Like dnf, every arch is checked; only providers are limited
            // to the arches the base arch can install.
            if !counts_newest(id) {
                continue;
            }
            if !arches.is_empty() && !arches.contains(p.arch()) {
                continue;
            }
            to_check.push(id);
        }
    }

    // File requirements that primary.xml does not cover need filelists.xml.
    let mut wanted: FxHashSet<&str> = FxHashSet::default();
    for &id in &to_check {
        for d in sack.package(id).requires() {
            let n = d.name();
            if n.starts_with('/') && !sack.has_name(n) {
                wanted.insert(n);
            }
        }
    }
    if !wanted.is_empty() {
        tracing::info!(
            files = wanted.len(),
            "file requirements not in primary.xml: reading filelists"
        );
        for (ri, repo) in repos.iter().enumerate() {
            let hits = strata_repodata::find_files(repo, &wanted)?;
            sack.add_files(ri as u32, hits);
        }
    }

    // Decide each distinct requirement once per repository.
    let mut unresolved = Vec::new();
    let mut memo: Vec<FxHashMap<DepKey, bool>> = vec![FxHashMap::default(); repos.len()];
    let total = to_check.len();
    for (n, &id) in to_check.iter().enumerate() {
        if n % 4096 == 0 {
            progress("repoclosure", n, total);
        }
        let pkg = sack.package(id);
        let mut missing: Vec<String> = Vec::new();
        for d in pkg.requires() {
            if skipped(d.name()) {
                continue;
            }
            let ok = *memo[id.repo as usize]
                .entry(d.rec.key())
                .or_insert_with(|| !dep_providers(&sack, &d, &available).is_empty());
            if !ok {
                missing.push(d.to_string());
            }
        }
        if !missing.is_empty() {
            missing.sort();
            missing.dedup();
            unresolved.push((id, missing));
        }
    }
    progress("repoclosure", total, total);
    unresolved.sort_by(|a, b| sack.cmp_packages(a.0, b.0));

    let installable = if opts.installable {
        Some(crate::install::check(
            &sack, &to_check, &available, progress,
        )?)
    } else {
        None
    };

    let suggestions = if candidates.is_empty() {
        None
    } else {
        let ids: Vec<PkgId> = unresolved.iter().map(|u| u.0).collect();
        Some(suggest(&sack, &ids, &available, &|id| {
            candidates.contains(&id.repo)
        }))
    };

    Ok(ClosureReport {
        checked: to_check.len(),
        repos: repos
            .iter()
            .map(|r| RepoInfo {
                id: r.id.clone(),
                // Reports are printed and kept in compose records.
                location: strata_model::redact_credentials(&r.location).into_owned(),
                packages: r.len(),
                checksum: r.checksum.clone(),
            })
            .collect(),
        unresolved: unresolved
            .into_iter()
            .map(|(id, deps)| Unresolved {
                package: sack.package(id).nevra().to_string(),
                repo: repos[id.repo as usize].id.clone(),
                deps,
            })
            .collect(),
        installable,
        suggestions,
    })
}
