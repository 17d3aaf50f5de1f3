//! Repositories and the solvables in them. Repos belong to the pool (freed
//! with it), so they are named by id rather than owned.

use super::pool::{c_string, DepId, Pool, SolvableId, StringId};
use super::LibsolvError;
use libsolv_sys::ffi;

/// A repository in a [`Pool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RepoId(ffi::Id);

/// One package to add to a repository. The dependency lists are added as
/// given: include the package's own `name = evr` provide (rpm-md lists it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SolvableSpec<'a> {
    pub(crate) name: StringId,
    /// `[epoch:]version[-release]`, the epoch left out when it is 0.
    pub(crate) evr: StringId,
    pub(crate) arch: StringId,
    pub(crate) provides: &'a [DepId],
    pub(crate) requires: &'a [DepId],
    /// `Requires(pre)`: the solver treats them as requires.
    pub(crate) prerequires: &'a [DepId],
    pub(crate) conflicts: &'a [DepId],
    pub(crate) obsoletes: &'a [DepId],
    /// Weak; the solvers here ignore them, but they are kept for display.
    pub(crate) recommends: &'a [DepId],
}

impl<'a> SolvableSpec<'a> {
    /// A package with no dependencies; fill in the lists with struct update
    /// syntax: `SolvableSpec { provides: &[..], ..SolvableSpec::new(n, e, a) }`.
    pub(crate) fn new(name: StringId, evr: StringId, arch: StringId) -> SolvableSpec<'a> {
        SolvableSpec {
            name,
            evr,
            arch,
            provides: &[],
            requires: &[],
            prerequires: &[],
            conflicts: &[],
            obsoletes: &[],
            recommends: &[],
        }
    }
}

/// Where dependencies go in libsolv's requires array: plain ones before the
/// pre-requires marker, pre-requires after it (as repo_rpmmd.c does).
const BEFORE_PREREQ_MARKER: ffi::Id = -(ffi::solv_knownid_SOLVABLE_PREREQMARKER as ffi::Id);
const AFTER_PREREQ_MARKER: ffi::Id = ffi::solv_knownid_SOLVABLE_PREREQMARKER as ffi::Id;

/// Appends `deps` to the dependency array at `offset` (0 for a new one) and
/// returns its new offset.
///
/// Safety: `repo` is a valid repository and every id belongs to its pool.
unsafe fn add_deps(
    repo: *mut ffi::Repo,
    mut offset: ffi::Offset,
    deps: &[DepId],
    marker: ffi::Id,
) -> ffi::Offset {
    for dep in deps {
        // Safe because the caller guarantees a valid repo and ids.
        offset = unsafe { ffi::repo_addid_dep(repo, offset, dep.0, marker) };
    }
    offset
}

impl Pool {
    /// Adds an empty repository.
    pub(crate) fn add_repo(&mut self, name: &str) -> Result<RepoId, LibsolvError> {
        let name = c_string(name)?;
        // Safe because the pool is valid and repo_create copies the name.
        let repo = unsafe { ffi::repo_create(self.as_ptr(), name.as_ptr()) };
        // Safe because repo_create returns a valid repo (it aborts on OOM).
        Ok(RepoId(unsafe { (*repo).repoid }))
    }

    /// The repository behind `id`; panics for an id of another pool.
    pub(super) fn repo_ptr(&self, id: RepoId) -> *mut ffi::Repo {
        let pool = self.as_ptr();
        // Safe because the pool is valid and the index is checked against
        // nrepos before repos[] is read.
        let repo = unsafe {
            assert!(
                id.0 > 0 && id.0 < (*pool).nrepos,
                "repo id {} does not belong to this pool",
                id.0
            );
            *(*pool).repos.add(id.0 as usize)
        };
        assert!(
            !repo.is_null(),
            "repo id {} does not belong to this pool",
            id.0
        );
        repo
    }

    /// Makes `repo` the installed system (libsolv's `pool->installed`), or
    /// none. The whatprovides index is rebuilt before its next use.
    pub(crate) fn set_installed(&mut self, repo: Option<RepoId>) {
        let raw = repo.map_or(std::ptr::null_mut(), |r| self.repo_ptr(r));
        self.mark_whatprovides_stale();
        // Safe because the pool is valid and `raw` is null or one of its
        // repositories (checked by repo_ptr).
        unsafe { ffi::pool_set_installed(self.as_ptr(), raw) };
    }

    /// Frees a repository and its solvables. When it is the last one added
    /// its solvable ids are reused, so a pool that adds and frees one
    /// repository per check does not grow. Ids of its solvables become
    /// foreign to the pool (using one panics).
    pub(crate) fn free_repo(&mut self, repo: RepoId) {
        let raw = self.repo_ptr(repo);
        self.mark_whatprovides_stale();
        // Safe because the repo belongs to this pool (checked above) and no
        // solver borrows the pool (this takes `&mut self`); libsolv clears
        // `pool->installed` when it is this repo.
        unsafe { ffi::repo_free(raw, 1) };
    }

    /// Whether a solvable belongs to `repo`.
    pub(crate) fn in_repo(&self, id: SolvableId, repo: RepoId) -> bool {
        self.check_solvable(id);
        // Safe because the id is a solvable of this pool, which has a repo.
        unsafe { (*(*(*self.as_ptr()).solvables.add(id.0 as usize)).repo).repoid == repo.0 }
    }

    /// The repository's name.
    #[cfg(test)]
    pub(crate) fn repo_name(&self, id: RepoId) -> String {
        let repo = self.repo_ptr(id);
        // Safe because the repo is valid and its name a C string (or null).
        unsafe { super::pool::copy_c_str((*repo).name) }
    }

    /// Adds a package to `repo`. The whatprovides index is rebuilt before
    /// its next use.
    pub(crate) fn add_solvable(&mut self, repo: RepoId, spec: &SolvableSpec<'_>) -> SolvableId {
        let repo = self.repo_ptr(repo);
        for id in [spec.name, spec.evr, spec.arch] {
            self.check_string(id);
        }
        let lists = [
            spec.provides,
            spec.requires,
            spec.prerequires,
            spec.conflicts,
            spec.obsoletes,
            spec.recommends,
        ];
        for dep in lists.iter().flat_map(|l| l.iter()) {
            self.check_dep(*dep);
        }
        self.mark_whatprovides_stale();
        // Safe because the repo and every id belong to this pool (checked
        // above), and the solvable pointer is taken after the solvable is
        // added (adding may move the solvables array) and used before any
        // other is added.
        unsafe {
            let p = ffi::repo_add_solvable(repo);
            let s = (*self.as_ptr()).solvables.add(p as usize);
            (*s).name = spec.name.0;
            (*s).evr = spec.evr.0;
            (*s).arch = spec.arch.0;
            (*s).provides = add_deps(repo, 0, spec.provides, 0);
            let requires = add_deps(repo, 0, spec.requires, BEFORE_PREREQ_MARKER);
            (*s).requires = add_deps(repo, requires, spec.prerequires, AFTER_PREREQ_MARKER);
            (*s).conflicts = add_deps(repo, 0, spec.conflicts, 0);
            (*s).obsoletes = add_deps(repo, 0, spec.obsoletes, 0);
            (*s).recommends = add_deps(repo, 0, spec.recommends, 0);
            SolvableId(p)
        }
    }

    /// The repository a solvable belongs to.
    #[cfg(test)]
    pub(crate) fn solvable_repo(&self, id: SolvableId) -> RepoId {
        self.check_solvable(id);
        // Safe because the id is a solvable of this pool, which has a repo.
        RepoId(unsafe { (*(*(*self.as_ptr()).solvables.add(id.0 as usize)).repo).repoid })
    }

    /// A solvable's name and arch.
    pub(super) fn solvable_name_arch(&self, id: SolvableId) -> (StringId, StringId) {
        self.check_solvable(id);
        // Safe because the id is a solvable of this pool.
        let s = unsafe { &*(*self.as_ptr()).solvables.add(id.0 as usize) };
        (StringId(s.name), StringId(s.arch))
    }

    /// A solvable's requires and pre-requires.
    pub(super) fn requires(&self, id: SolvableId) -> Vec<DepId> {
        self.check_solvable(id);
        let mut out = Vec::new();
        // Safe because the id is a solvable of this pool, and a nonzero
        // offset starts a 0-terminated array in its repo's idarraydata.
        unsafe {
            let s = &*(*self.as_ptr()).solvables.add(id.0 as usize);
            if s.requires == 0 {
                return out;
            }
            let mut p = (*s.repo).idarraydata.add(s.requires as usize);
            while *p != 0 {
                if *p != AFTER_PREREQ_MARKER {
                    out.push(DepId(*p));
                }
                p = p.add(1);
            }
        }
        out
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::libsolv::Rel;

    #[test]
    fn solvables_and_providers() {
        let mut pool = Pool::new("x86_64").unwrap();
        let repo = pool.add_repo("base").unwrap();
        assert_eq!(pool.repo_name(repo), "base");
        let foo = pool.intern("foo").unwrap();
        let bar = pool.intern("bar").unwrap();
        let sh = pool.intern("/bin/sh").unwrap();
        let evr = pool.intern("1.0-1").unwrap();
        let noarch = pool.intern("noarch").unwrap();
        let foo_self = pool.versioned(foo, Rel::EQ, evr);
        let bar_ge = pool.versioned(bar, Rel::GE, evr);
        let p = pool.add_solvable(
            repo,
            &SolvableSpec {
                provides: &[foo_self, sh.into()],
                requires: &[bar_ge],
                prerequires: &[sh.into()],
                ..SolvableSpec::new(foo, evr, noarch)
            },
        );
        assert_eq!(pool.solvable_str(p), "foo-1.0-1.noarch");
        assert_eq!(pool.solvable_repo(p), repo);
        assert_eq!(pool.requires(p), vec![bar_ge, sh.into()]);
        assert_eq!(pool.whatprovides(foo.into()), vec![p]);
        assert_eq!(pool.whatprovides(sh.into()), vec![p]);
        let old = pool.intern("0.9").unwrap();
        let foo_lt = pool.versioned(foo, Rel::LT, old);
        assert!(pool.whatprovides(foo_lt).is_empty());
        assert!(pool.whatprovides(bar.into()).is_empty());
        assert_eq!(pool.solvables(), vec![p]);
    }
}
