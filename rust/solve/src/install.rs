//! Installability: can each checked package be installed, with everything
//! it needs, into an empty system? The sack's available packages become a
//! libsolv pool (with the same file provides repoclosure used), and
//! `libsolv::installcheck` decides, with libsolv's own problem wording.

use crate::closure::{InstallReport, Uninstallable};
use crate::error::SolveError;
use crate::libsolv::{self, DepId, Pool, Rel, RichOp as LRichOp, SolvableId, SolvableSpec};
use crate::sack::{PkgId, Sack};
use rustc_hash::{FxHashMap, FxHashSet};
use strata_model::{RelFlags, RichDep, RichOp};
use strata_repodata::{Dep, DepKey};

fn lerr(e: libsolv::LibsolvError) -> SolveError {
    SolveError::Libsolv(e.to_string())
}

fn rel(flags: RelFlags) -> Rel {
    Rel::new(flags.0 & 1 != 0, flags.0 & 2 != 0, flags.0 & 4 != 0)
}

fn rich_op(op: RichOp) -> LRichOp {
    match op {
        RichOp::And => LRichOp::And,
        RichOp::Or => LRichOp::Or,
        RichOp::If => LRichOp::If,
        RichOp::Unless => LRichOp::Unless,
        RichOp::Else => LRichOp::Else,
        RichOp::With => LRichOp::With,
        RichOp::Without => LRichOp::Without,
    }
}

fn simple(
    pool: &mut Pool,
    name: &str,
    flags: RelFlags,
    evr: Option<String>,
) -> Result<DepId, SolveError> {
    let n = pool.intern(name).map_err(lerr)?;
    Ok(match evr {
        Some(evr) if flags.is_versioned() => {
            let e = pool.intern(&evr).map_err(lerr)?;
            pool.versioned(n, rel(flags), e)
        }
        _ => n.into(),
    })
}

fn rich(pool: &mut Pool, dep: &RichDep) -> Result<DepId, SolveError> {
    Ok(match dep {
        RichDep::Simple { name, flags, evr } => simple(pool, name, *flags, Some(evr.clone()))?,
        RichDep::Op { op, left, right } => {
            let l = rich(pool, left)?;
            let r = rich(pool, right)?;
            pool.rich(rich_op(*op), l, r)
        }
    })
}

/// Converts dependencies once per distinct record and repository.
struct DepCache {
    memo: Vec<FxHashMap<DepKey, DepId>>,
}

impl DepCache {
    fn get(&mut self, pool: &mut Pool, repo: u32, d: &Dep<'_>) -> Result<DepId, SolveError> {
        let key = d.rec.key();
        if let Some(&id) = self.memo[repo as usize].get(&key) {
            return Ok(id);
        }
        let name = d.name();
        let id = if strata_model::is_rich(name) {
            match RichDep::parse(name) {
                Ok(parsed) => rich(pool, &parsed)?,
                // Unparsable: a name nothing provides, so it fails visibly.
                Err(_) => simple(pool, name, RelFlags::NONE, None)?,
            }
        } else {
            simple(pool, name, d.flags(), d.evr().map(|e| e.to_string()))?
        };
        self.memo[repo as usize].insert(key, id);
        Ok(id)
    }
}

/// Decides installability of `to_check` among the `available` packages.
pub fn check(
    sack: &Sack<'_>,
    to_check: &[PkgId],
    available: &dyn Fn(PkgId) -> bool,
    progress: &dyn Fn(&str, usize, usize),
) -> Result<InstallReport, SolveError> {
    check_with(sack, to_check, available, progress, false)
}

/// The same answer by one solver run per package: the baseline that
/// `bench/` compares the fast check against.
pub fn check_naive(
    sack: &Sack<'_>,
    to_check: &[PkgId],
    available: &dyn Fn(PkgId) -> bool,
) -> Result<InstallReport, SolveError> {
    check_with(sack, to_check, available, &|_, _, _| {}, true)
}

fn check_with(
    sack: &Sack<'_>,
    to_check: &[PkgId],
    available: &dyn Fn(PkgId) -> bool,
    progress: &dyn Fn(&str, usize, usize),
    naive: bool,
) -> Result<InstallReport, SolveError> {
    let mut pool = Pool::new(&sack.base_arch).map_err(lerr)?;
    let mut cache = DepCache {
        memo: vec![FxHashMap::default(); sack.repos.len()],
    };

    // File requirements become ordinary provides of the packages that
    // list the file, as libsolv's addfileprovides would do.
    let mut wanted_files: FxHashSet<&str> = FxHashSet::default();
    for (ri, repo) in sack.repos.iter().enumerate() {
        for p in repo.iter() {
            if !available(PkgId {
                repo: ri as u32,
                pkg: p.index,
            }) {
                continue;
            }
            for d in p.requires().chain(p.conflicts()) {
                if d.name().starts_with('/') {
                    wanted_files.insert(d.name());
                }
            }
        }
    }
    let mut file_provides: FxHashMap<PkgId, Vec<&str>> = FxHashMap::default();
    for (path, ids) in sack.extra_files() {
        if wanted_files.contains(path) {
            for &id in ids {
                file_provides.entry(id).or_default().push(path);
            }
        }
    }

    let mut solvable_of: FxHashMap<PkgId, SolvableId> = FxHashMap::default();
    let mut pkg_of: FxHashMap<SolvableId, PkgId> = FxHashMap::default();
    let (mut provides, mut requires, mut prereqs, mut conflicts, mut obsoletes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (ri, repo) in sack.repos.iter().enumerate() {
        let ri = ri as u32;
        let lrepo = pool.add_repo(&repo.id).map_err(lerr)?;
        for p in repo.iter() {
            let id = PkgId {
                repo: ri,
                pkg: p.index,
            };
            if !available(id) {
                continue;
            }
            provides.clear();
            requires.clear();
            prereqs.clear();
            conflicts.clear();
            obsoletes.clear();
            for d in p.provides() {
                provides.push(cache.get(&mut pool, ri, &d)?);
            }
            for f in p.files().filter(|f| wanted_files.contains(f)) {
                provides.push(pool.intern(f).map_err(lerr)?.into());
            }
            for f in file_provides.get(&id).into_iter().flatten() {
                provides.push(pool.intern(f).map_err(lerr)?.into());
            }
            for d in p.requires() {
                if crate::closure::skipped(d.name()) {
                    continue;
                }
                let dep = cache.get(&mut pool, ri, &d)?;
                if d.is_pre() {
                    prereqs.push(dep);
                } else {
                    requires.push(dep);
                }
            }
            for d in p.conflicts() {
                conflicts.push(cache.get(&mut pool, ri, &d)?);
            }
            for d in p.obsoletes() {
                obsoletes.push(cache.get(&mut pool, ri, &d)?);
            }
            let name = pool.intern(p.name()).map_err(lerr)?;
            let evr = pool.intern(&p.evr().to_string()).map_err(lerr)?;
            let arch = pool.intern(p.arch()).map_err(lerr)?;
            let spec = SolvableSpec {
                provides: &provides,
                requires: &requires,
                prerequires: &prereqs,
                conflicts: &conflicts,
                obsoletes: &obsoletes,
                ..SolvableSpec::new(name, evr, arch)
            };
            let sid = pool.add_solvable(lrepo, &spec);
            solvable_of.insert(id, sid);
            pkg_of.insert(sid, id);
        }
    }
    pool.create_whatprovides();

    let candidates: Vec<SolvableId> = to_check
        .iter()
        .filter_map(|id| solvable_of.get(id).copied())
        .collect();
    let total = candidates.len();
    let failed = if naive {
        libsolv::naive_installcheck(&pool, &candidates)
    } else {
        libsolv::installcheck(&pool, &candidates, &|done, _| {
            progress("installable", done, total)
        })
    };
    let mut uninstallable: Vec<(PkgId, Vec<String>)> = failed
        .into_iter()
        .map(|(sid, problems)| (pkg_of[&sid], problems))
        .collect();
    uninstallable.sort_by(|a, b| sack.cmp_packages(a.0, b.0));
    Ok(InstallReport {
        checked: total,
        uninstallable: uninstallable
            .into_iter()
            .map(|(id, problems)| Uninstallable {
                package: sack.package(id).nevra().to_string(),
                repo: sack.repos[id.repo as usize].id.clone(),
                problems,
            })
            .collect(),
    })
}
