//! Installability: can each checked package be installed, with everything
//! it needs, into an empty system? The sack's available packages become a
//! libsolv pool (with the same file provides repoclosure used), and
//! `libsolv::installcheck` decides, with libsolv's own problem wording.

use crate::error::SolveError;
use crate::libsolv::{
    self, DepId, LibsolvError, Pool, Rel, RepoId, RichOp as LRichOp, SolvableId, SolvableSpec,
};
use crate::report::{InstallReport, Uninstallable};
use crate::sack::{dep_paths, skipped, PkgId, Sack};
use rustc_hash::{FxHashMap, FxHashSet};
use strata_model::{RelFlags, RichDep, RichOp};
use strata_repodata::{Dep, DepKey, Package, Repo};

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
) -> Result<DepId, LibsolvError> {
    let n = pool.intern(name)?;
    Ok(match evr {
        Some(evr) if flags.is_versioned() => {
            let e = pool.intern(&evr)?;
            pool.versioned(n, rel(flags), e)
        }
        _ => n.into(),
    })
}

fn rich(pool: &mut Pool, dep: &RichDep) -> Result<DepId, LibsolvError> {
    Ok(match dep {
        RichDep::Simple { name, flags, evr } => simple(pool, name, *flags, Some(evr.clone()))?,
        RichDep::Op { op, left, right } => {
            let l = rich(pool, left)?;
            let r = rich(pool, right)?;
            pool.rich(rich_op(*op), l, r)
        }
    })
}

/// The sack's available packages as a libsolv pool: the same packages,
/// dependencies and file provides repoclosure sees.
pub(crate) struct SackPool {
    pub(crate) pool: Pool,
    pub(crate) solvable_of: FxHashMap<PkgId, SolvableId>,
    pub(crate) pkg_of: FxHashMap<SolvableId, PkgId>,
    /// Dependencies converted so far, once per distinct record and
    /// repository.
    memo: Vec<FxHashMap<DepKey, DepId>>,
    /// The file provides of the packages [`SackPool::add_installed`] may
    /// add later, found with the rest.
    later_files: FxHashMap<PkgId, Vec<String>>,
}

impl SackPool {
    /// Builds the pool of the packages `available` accepts. File
    /// requirements become ordinary provides of the packages that list the
    /// file, as libsolv's addfileprovides would do.
    pub(crate) fn new(
        sack: &Sack<'_>,
        available: &dyn Fn(PkgId) -> bool,
    ) -> Result<SackPool, SolveError> {
        SackPool::with_later(sack, available, &|_| false)
    }

    /// As [`SackPool::new`], and ready to add the packages `later` accepts
    /// as an installed system: their file requirements count too.
    pub(crate) fn with_later(
        sack: &Sack<'_>,
        available: &dyn Fn(PkgId) -> bool,
        later: &dyn Fn(PkgId) -> bool,
    ) -> Result<SackPool, SolveError> {
        let pool = Pool::new(&sack.base_arch).map_err(|source| SolveError::LibsolvPool {
            arch: sack.base_arch.clone(),
            source,
        })?;
        let mut sp = SackPool {
            pool,
            solvable_of: FxHashMap::default(),
            pkg_of: FxHashMap::default(),
            memo: vec![FxHashMap::default(); sack.repos.len()],
            later_files: FxHashMap::default(),
        };

        let mut paths = Vec::new();
        for (ri, repo) in sack.repos.iter().enumerate() {
            for p in repo.iter() {
                let id = PkgId {
                    repo: ri as u32,
                    pkg: p.index,
                };
                if !available(id) && !later(id) {
                    continue;
                }
                for d in p.requires().chain(p.conflicts()) {
                    dep_paths(&d, &mut paths);
                }
            }
        }
        let wanted_files: FxHashSet<&str> = paths.iter().map(|p| p.as_ref()).collect();
        let mut file_provides: FxHashMap<PkgId, Vec<&str>> = FxHashMap::default();
        for (path, ids) in sack.extra_files() {
            if wanted_files.contains(path) {
                for &id in ids {
                    file_provides.entry(id).or_default().push(path);
                }
            }
        }

        for (ri, repo) in sack.repos.iter().enumerate() {
            for p in repo.iter() {
                let id = PkgId {
                    repo: ri as u32,
                    pkg: p.index,
                };
                if later(id) {
                    let files = p
                        .files()
                        .filter(|f| wanted_files.contains(f))
                        .chain(file_provides.get(&id).into_iter().flatten().copied())
                        .map(str::to_owned)
                        .collect();
                    sp.later_files.insert(id, files);
                }
            }
        }

        let mut lists = DepLists::default();
        for (ri, repo) in sack.repos.iter().enumerate() {
            let ri = ri as u32;
            let lrepo = sp
                .pool
                .add_repo(&repo.id)
                .map_err(|source| SolveError::LibsolvRepo {
                    repo: repo.id.clone(),
                    source,
                })?;
            for p in repo.iter() {
                let id = PkgId {
                    repo: ri,
                    pkg: p.index,
                };
                if !available(id) {
                    continue;
                }
                let files = p
                    .files()
                    .filter(|f| wanted_files.contains(f))
                    .chain(file_provides.get(&id).into_iter().flatten().copied());
                let sid = sp
                    .add_package(lrepo, ri, &p, files, &mut lists)
                    .map_err(|source| SolveError::LibsolvPackage {
                        package: p.nevra().to_string(),
                        repo: repo.id.clone(),
                        source,
                    })?;
                sp.solvable_of.insert(id, sid);
                sp.pkg_of.insert(sid, id);
            }
        }
        sp.pool.create_whatprovides();
        Ok(sp)
    }

    /// Adds `ids` (which `with_later`'s `later` accepted) as a new
    /// repository named `name`, and makes it the installed system. Free it
    /// with [`Pool::free_repo`] before adding another.
    pub(crate) fn add_installed(
        &mut self,
        sack: &Sack<'_>,
        name: &str,
        ids: &[PkgId],
    ) -> Result<(RepoId, Vec<(SolvableId, PkgId)>), SolveError> {
        let lrepo = self
            .pool
            .add_repo(name)
            .map_err(|source| SolveError::LibsolvRepo {
                repo: name.to_owned(),
                source,
            })?;
        let mut lists = DepLists::default();
        let mut added = Vec::with_capacity(ids.len());
        for &id in ids {
            let p = sack.package(id);
            // A few paths per package, for a set of hundreds at most.
            let files = self.later_files.get(&id).cloned().unwrap_or_default();
            let sid = self
                .add_package(
                    lrepo,
                    id.repo,
                    &p,
                    files.iter().map(String::as_str),
                    &mut lists,
                )
                .map_err(|source| SolveError::LibsolvPackage {
                    package: p.nevra().to_string(),
                    repo: sack.repos[id.repo as usize].id.clone(),
                    source,
                })?;
            added.push((sid, id));
        }
        self.pool.set_installed(Some(lrepo));
        Ok((lrepo, added))
    }

    fn add_package<'f>(
        &mut self,
        lrepo: RepoId,
        repo: u32,
        p: &Package<'_>,
        files: impl Iterator<Item = &'f str>,
        lists: &mut DepLists,
    ) -> Result<SolvableId, LibsolvError> {
        lists.clear();
        for d in p.provides() {
            lists.provides.push(self.dep(repo, &d)?);
        }
        for f in files {
            lists.provides.push(self.pool.intern(f)?.into());
        }
        for d in p.requires() {
            if skipped(d.name()) {
                continue;
            }
            let dep = self.dep(repo, &d)?;
            if d.is_pre() {
                lists.prereqs.push(dep);
            } else {
                lists.requires.push(dep);
            }
        }
        for d in p.conflicts() {
            lists.conflicts.push(self.dep(repo, &d)?);
        }
        for d in p.obsoletes() {
            lists.obsoletes.push(self.dep(repo, &d)?);
        }
        let name = self.pool.intern(p.name())?;
        let evr = self.pool.intern(&p.evr().to_string())?;
        let arch = self.pool.intern(p.arch())?;
        let spec = SolvableSpec {
            provides: &lists.provides,
            requires: &lists.requires,
            prerequires: &lists.prereqs,
            conflicts: &lists.conflicts,
            obsoletes: &lists.obsoletes,
            ..SolvableSpec::new(name, evr, arch)
        };
        Ok(self.pool.add_solvable(lrepo, &spec))
    }

    /// The pool's id of a dependency record of repository `repo`.
    pub(crate) fn dep(&mut self, repo: u32, d: &Dep<'_>) -> Result<DepId, LibsolvError> {
        let key = d.rec.key();
        if let Some(&id) = self.memo[repo as usize].get(&key) {
            return Ok(id);
        }
        let name = d.name();
        let pool = &mut self.pool;
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

/// One package's dependency lists, reused from package to package.
#[derive(Default)]
struct DepLists {
    provides: Vec<DepId>,
    requires: Vec<DepId>,
    prereqs: Vec<DepId>,
    conflicts: Vec<DepId>,
    obsoletes: Vec<DepId>,
}

impl DepLists {
    fn clear(&mut self) {
        self.provides.clear();
        self.requires.clear();
        self.prereqs.clear();
        self.conflicts.clear();
        self.obsoletes.clear();
    }
}

/// How [`installcheck`] decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallcheckMethod {
    /// The check `repoclosure --installable` runs: few solves, the same
    /// verdicts as one solve per package.
    Fast,
    /// One fresh libsolv solve per package: the obvious, slow baseline
    /// that `bench/` measures the fast check against.
    Naive,
}

/// Installability of every package of `repos` that a `base_arch` machine
/// can install, each alone into an empty system, with all packages
/// available: the core of `repoclosure --installable` without its options.
/// File requirements are met only by files primary.xml lists (filelists.xml
/// is not read), so on repositories that need filelists.xml the answer can
/// differ from repoclosure's.
pub fn installcheck(
    repos: &[&Repo],
    base_arch: &str,
    method: InstallcheckMethod,
) -> Result<InstallReport, SolveError> {
    let sack = Sack::new(repos, base_arch);
    let all: Vec<PkgId> = sack
        .package_ids()
        .filter(|&id| sack.is_installable_arch(id))
        .collect();
    match method {
        InstallcheckMethod::Fast => check(&sack, &all, &|_| true, &|_, _, _| {}),
        InstallcheckMethod::Naive => check_with(&sack, &all, &|_| true, &|_, _, _| {}, true),
    }
}

/// Installs each set of packages (`(n, ids)`: the caller's number for the
/// set, and its packages) together into an empty system, among the
/// `available` packages; gives the number and libsolv's problems of each
/// set that cannot be installed. One pool for all of them.
pub(crate) fn install_together(
    sack: &Sack<'_>,
    available: &dyn Fn(PkgId) -> bool,
    sets: &[(usize, Vec<PkgId>)],
) -> Result<Vec<(usize, Vec<String>)>, SolveError> {
    if sets.is_empty() {
        return Ok(Vec::new());
    }
    let sp = SackPool::new(sack, available)?;
    let mut solver = libsolv::Solver::new(&sp.pool);
    let mut jobs = libsolv::Jobs::new();
    let mut failed = Vec::new();
    for (n, ids) in sets {
        jobs.clear();
        for id in ids {
            // Every picked package is available, so it is in the pool.
            jobs.install_solvable(sp.solvable_of[id]);
        }
        if solver.solve(&jobs) > 0 {
            let problems: Vec<String> = solver
                .problems()
                .into_iter()
                .flat_map(|p| p.rules)
                .collect();
            failed.push((*n, problems));
        }
    }
    Ok(failed)
}

/// Decides installability of `to_check` among the `available` packages.
pub(crate) fn check(
    sack: &Sack<'_>,
    to_check: &[PkgId],
    available: &dyn Fn(PkgId) -> bool,
    progress: &dyn Fn(&str, usize, usize),
) -> Result<InstallReport, SolveError> {
    check_with(sack, to_check, available, progress, false)
}

fn check_with(
    sack: &Sack<'_>,
    to_check: &[PkgId],
    available: &dyn Fn(PkgId) -> bool,
    progress: &dyn Fn(&str, usize, usize),
    naive: bool,
) -> Result<InstallReport, SolveError> {
    let SackPool {
        pool,
        solvable_of,
        pkg_of,
        ..
    } = SackPool::new(sack, available)?;
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
