//! The libsolv pool: interned strings and dependencies, the solvables of
//! every repository, and the whatprovides index over them. Always RPM
//! semantics (see [`Pool::new`]).

use super::LibsolvError;
use libsolv_sys::ffi;
use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_uint};
use std::ptr::NonNull;

// Only the tests compare versions through libsolv; the crate compares them
// with strata_model's Evr, which the tests hold to this.
#[cfg(test)]
extern "C" {
    // Declared in libsolv's evr.h and exported by libsolv.so, but not among
    // the headers libsolv-sys binds.
    fn pool_evrcmp_str(
        pool: *const ffi::Pool,
        evr1: *const c_char,
        evr2: *const c_char,
        mode: c_int,
    ) -> c_int;
}

/// evr.h's EVRCMP_COMPARE: a full three-way comparison.
#[cfg(test)]
const EVRCMP_COMPARE: c_int = 0;

/// libsolv tags relation ids (versioned and rich dependencies) with the top
/// bit (pool.h's ISRELDEP / GETRELID).
const RELDEP_BIT: u32 = 0x8000_0000;

/// The solvable libsolv adds to every pool for system provides.
pub(super) const SYSTEMSOLVABLE: ffi::Id = 1;

pub(super) fn is_reldep(id: ffi::Id) -> bool {
    id as u32 & RELDEP_BIT != 0
}

fn rel_index(id: ffi::Id) -> usize {
    (id as u32 ^ RELDEP_BIT) as usize
}

/// An interned string: a name, an EVR, an arch.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StringId(pub(super) ffi::Id);

/// A dependency: a plain name, a versioned relation or a rich dependency.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct DepId(pub(super) ffi::Id);

impl From<StringId> for DepId {
    /// An unversioned dependency on a name.
    fn from(name: StringId) -> DepId {
        DepId(name.0)
    }
}

/// A package in the pool.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SolvableId(pub(super) ffi::Id);

impl SolvableId {
    /// A dense index (below the pool's solvable count), for side tables.
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// The comparison of a versioned dependency. Stored in libsolv's bit
/// order (GT = 1, EQ = 2, LT = 4), which differs from
/// `strata_model::RelFlags`; convert through [`Rel::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Rel(u8);

// Tests spell relations; the crate converts them from RelFlags.
#[cfg(test)]
impl Rel {
    pub(crate) const LT: Rel = Rel(ffi::REL_LT as u8);
    pub(crate) const LE: Rel = Rel((ffi::REL_LT | ffi::REL_EQ) as u8);
    pub(crate) const EQ: Rel = Rel(ffi::REL_EQ as u8);
    pub(crate) const GE: Rel = Rel((ffi::REL_GT | ffi::REL_EQ) as u8);
    pub(crate) const GT: Rel = Rel(ffi::REL_GT as u8);
}

impl Rel {
    /// The relation that holds when the provided EVR is less than, equal
    /// to or greater than the required one, as selected.
    pub(crate) fn new(lt: bool, eq: bool, gt: bool) -> Rel {
        let bit = |on: bool, b: u32| if on { b as u8 } else { 0 };
        Rel(bit(lt, ffi::REL_LT) | bit(eq, ffi::REL_EQ) | bit(gt, ffi::REL_GT))
    }
}

/// The operators of rich (boolean) dependencies. `a if b else c` is
/// `If(a, Else(b, c))` and `a unless b else c` is `Unless(a, Else(b, c))`,
/// the shapes libsolv's own parser builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RichOp {
    And,
    Or,
    With,
    Without,
    If,
    Unless,
    Else,
}

impl RichOp {
    fn rel_flags(self) -> c_int {
        (match self {
            RichOp::And => ffi::REL_AND,
            RichOp::Or => ffi::REL_OR,
            RichOp::With => ffi::REL_WITH,
            RichOp::Without => ffi::REL_WITHOUT,
            RichOp::If => ffi::REL_COND,
            RichOp::Unless => ffi::REL_UNLESS,
            RichOp::Else => ffi::REL_ELSE,
        }) as c_int
    }
}

/// How a requirement is built, for code that reasons about providers.
pub(super) enum DepShape {
    /// A name, or a name with a version comparison: whatprovides is exact.
    Simple,
    /// `(a and b)`: both must be met.
    And(DepId, DepId),
    /// `(a or b)`: either will do.
    Or(DepId, DepId),
    /// Conditional rich dependencies and libsolv's special relations.
    Other,
}

/// A libsolv pool with RPM semantics. Freed on drop, with its repositories.
pub(crate) struct Pool {
    raw: NonNull<ffi::Pool>,
    /// Set when solvables are added: the whatprovides index must be rebuilt
    /// before anything reads it. Only `&mut self` methods set it, so it is
    /// never set while a [`super::solver::Solver`] borrows the pool.
    whatprovides_stale: Cell<bool>,
}

// Safe because a pool keeps all its state inside itself (libsolv has no
// globals or thread-locals); it is not Sync, so one thread uses it at a time.
unsafe impl Send for Pool {}

impl Drop for Pool {
    fn drop(&mut self) {
        // Safe because the pool came from pool_create and is freed only here;
        // solvers borrow the pool, so none outlives it.
        unsafe { ffi::pool_free(self.raw.as_ptr()) }
    }
}

pub(super) fn c_string(s: &str) -> Result<CString, LibsolvError> {
    CString::new(s).map_err(|_| LibsolvError::InteriorNul(s.to_owned()))
}

/// Copies a C string libsolv returned; libsolv reuses that memory soon.
///
/// Safety: `p` is null or a valid NUL-terminated string.
pub(super) unsafe fn copy_c_str(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // Safe because the caller guarantees a valid C string.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

impl Pool {
    /// A pool for a machine of base arch `arch` (`x86_64`, `aarch64`, ...):
    /// packages of that arch, its compatible arches and noarch are
    /// installable.
    pub(crate) fn new(arch: &str) -> Result<Pool, LibsolvError> {
        let policy = c_string(crate::arch::arch_policy(arch))?;
        // Safe because pool_create has no preconditions (it aborts on OOM).
        let raw = NonNull::new(unsafe { ffi::pool_create() }).expect("pool_create returned NULL");
        let pool = Pool {
            raw,
            whatprovides_stale: Cell::new(true),
        };
        // Safe because the pool is valid. Debian builds libsolv with multiple
        // semantics and Debian as the default: the disttype must be set before
        // the arch, or noarch is unknown and versions compare as dpkg does.
        if unsafe { ffi::pool_setdisttype(pool.as_ptr(), ffi::DISTTYPE_RPM as c_int) } < 0 {
            return Err(LibsolvError::NoRpmSemantics);
        }
        // Safe because the pool is valid and `policy` is a C string it
        // copies. The policy comes from crate::arch, not from libsolv's own
        // table (pool_setarch), which differs with how libsolv was built:
        // the provider index uses the same one.
        unsafe { ffi::pool_setarchpolicy(pool.as_ptr(), policy.as_ptr()) };
        Ok(pool)
    }

    pub(super) fn as_ptr(&self) -> *mut ffi::Pool {
        self.raw.as_ptr()
    }

    pub(super) fn nsolvables(&self) -> ffi::Id {
        // Safe because the pool is valid.
        unsafe { (*self.as_ptr()).nsolvables }
    }

    /// Panics unless `id` names a solvable of this pool: a foreign id would
    /// make libsolv read out of bounds.
    pub(super) fn check_solvable(&self, id: SolvableId) {
        assert!(
            self.is_repo_solvable(id.0),
            "solvable id {} does not belong to this pool",
            id.0
        );
    }

    /// Whether `p` is a solvable of this pool that belongs to a repository
    /// (not the system solvable, not a freed slot).
    fn is_repo_solvable(&self, p: ffi::Id) -> bool {
        // Safe because solvables[0..nsolvables] are the pool's solvables,
        // and `p` is checked to be in that range first.
        p > SYSTEMSOLVABLE
            && p < self.nsolvables()
            && unsafe { !(*(*self.as_ptr()).solvables.add(p as usize)).repo.is_null() }
    }

    pub(super) fn check_string(&self, id: StringId) {
        // Safe because the pool is valid.
        let n = unsafe { (*self.as_ptr()).ss.nstrings };
        assert!(
            id.0 >= 0 && id.0 < n,
            "string id {} does not belong to this pool",
            id.0
        );
    }

    pub(super) fn check_dep(&self, id: DepId) {
        if is_reldep(id.0) {
            // Safe because the pool is valid.
            let n = unsafe { (*self.as_ptr()).nrels } as usize;
            let i = rel_index(id.0);
            assert!(
                i > 0 && i < n,
                "dependency id {:#x} does not belong to this pool",
                id.0
            );
        } else {
            self.check_string(StringId(id.0));
        }
    }

    /// Interns a string (a name, an EVR, an arch, a file path).
    pub(crate) fn intern(&mut self, s: &str) -> Result<StringId, LibsolvError> {
        if s.contains('\0') {
            return Err(LibsolvError::InteriorNul(s.to_owned()));
        }
        let len = c_uint::try_from(s.len()).expect("string longer than 4 GiB");
        // Safe because the pool is valid and pool_strn2id copies `len` bytes.
        let id = unsafe { ffi::pool_strn2id(self.as_ptr(), s.as_ptr().cast(), len, 1) };
        Ok(StringId(id))
    }

    /// The text of an interned string.
    #[cfg(test)]
    pub(crate) fn string(&self, id: StringId) -> String {
        self.check_string(id);
        // Safe because the id belongs to this pool (checked above).
        unsafe { copy_c_str(ffi::pool_id2str(self.as_ptr(), id.0)) }
    }

    /// `name rel evr`, e.g. `foo >= 1.0-1`. `evr` is `[epoch:]version[-release]`
    /// with the epoch left out when it is 0. An empty `rel` gives plain `name`.
    pub(crate) fn versioned(&mut self, name: StringId, rel: Rel, evr: StringId) -> DepId {
        self.check_string(name);
        self.check_string(evr);
        if rel.0 == 0 {
            return DepId(name.0);
        }
        // Safe because both ids belong to this pool (checked above).
        DepId(unsafe { ffi::pool_rel2id(self.as_ptr(), name.0, evr.0, rel.0 as c_int, 1) })
    }

    /// The rich dependency `(left op right)`.
    pub(crate) fn rich(&mut self, op: RichOp, left: DepId, right: DepId) -> DepId {
        self.check_dep(left);
        self.check_dep(right);
        // Safe because both ids belong to this pool (checked above).
        DepId(unsafe { ffi::pool_rel2id(self.as_ptr(), left.0, right.0, op.rel_flags(), 1) })
    }

    /// A dependency as rpm and libsolv print it: `foo >= 1.0`, `(a or b)`.
    pub(crate) fn dep_str(&self, dep: DepId) -> String {
        self.check_dep(dep);
        // Safe because the id belongs to this pool; the result lives in the
        // pool's scratch space and is copied at once.
        unsafe { copy_c_str(ffi::pool_dep2str(self.as_ptr(), dep.0)) }
    }

    pub(super) fn dep_shape(&self, dep: DepId) -> DepShape {
        if !is_reldep(dep.0) {
            return DepShape::Simple;
        }
        self.check_dep(dep);
        // Safe because the id is a relation of this pool (checked above).
        let rd = unsafe { *(*self.as_ptr()).rels.add(rel_index(dep.0)) };
        match rd.flags as u32 {
            1..=7 if !is_reldep(rd.name) => DepShape::Simple,
            ffi::REL_AND => DepShape::And(DepId(rd.name), DepId(rd.evr)),
            ffi::REL_OR => DepShape::Or(DepId(rd.name), DepId(rd.evr)),
            _ => DepShape::Other,
        }
    }

    /// Compares two EVRs (`[epoch:]version[-release]`) with rpm's rules.
    #[cfg(test)]
    pub(crate) fn evrcmp(&self, a: &str, b: &str) -> Result<std::cmp::Ordering, LibsolvError> {
        let (a, b) = (c_string(a)?, c_string(b)?);
        // Safe because the pool is valid and both are C strings.
        let r = unsafe { pool_evrcmp_str(self.as_ptr(), a.as_ptr(), b.as_ptr(), EVRCMP_COMPARE) };
        Ok(r.cmp(&0))
    }

    pub(super) fn mark_whatprovides_stale(&mut self) {
        self.whatprovides_stale.set(true);
    }

    /// Builds the whatprovides index over all solvables. Done on demand by
    /// [`Pool::whatprovides`] and [`super::solver::Solver::new`] too; call it after
    /// adding solvables to pay the cost at a known point.
    pub(crate) fn create_whatprovides(&mut self) {
        self.whatprovides_stale.set(true);
        self.ensure_whatprovides();
    }

    pub(super) fn ensure_whatprovides(&self) {
        if !self.whatprovides_stale.get() {
            return;
        }
        let pool = self.as_ptr();
        // Safe because the pool is valid and repos[1..nrepos] are its
        // repositories (or null for freed slots). Internalizing makes any
        // repodata attributes visible; it is cheap when there are none.
        unsafe {
            for i in 1..(*pool).nrepos {
                let repo = *(*pool).repos.add(i as usize);
                if !repo.is_null() {
                    ffi::repo_internalize(repo);
                }
            }
        }
        // Safe because the pool is valid, and no solver exists: the index is
        // only stale after `&mut self` changes, which no borrowing solver
        // survives. Solver rules point into the index, so this matters.
        unsafe { ffi::pool_createwhatprovides(pool) };
        self.whatprovides_stale.set(false);
    }

    /// The installable solvables that provide `dep`, as libsolv's solver
    /// sees them (packages of incompatible arches are left out).
    pub(crate) fn whatprovides(&self, dep: DepId) -> Vec<SolvableId> {
        self.check_dep(dep);
        self.ensure_whatprovides();
        let pool = self.as_ptr();
        let d = dep.0;
        let mut out = Vec::new();
        // Safe because the index exists and covers every id of the pool
        // (pool_str2id / pool_rel2id grow it), the id was checked, and the
        // provider list is 0-terminated. pool_addrelproviders computes and
        // caches lists not yet known (the inline pool_whatprovides of pool.h).
        unsafe {
            let cached = if is_reldep(d) {
                *(*pool).whatprovides_rel.add(rel_index(d))
            } else {
                *(*pool).whatprovides.add(d as usize)
            };
            let off = if cached != 0 {
                cached
            } else {
                ffi::pool_addrelproviders(pool, d) as ffi::Offset
            };
            let mut p = (*pool).whatprovidesdata.add(off as usize);
            while *p != 0 {
                out.push(SolvableId(*p));
                p = p.add(1);
            }
        }
        out
    }

    /// `name-evr.arch`, e.g. `foo-1.0-1.noarch`.
    pub(crate) fn solvable_str(&self, id: SolvableId) -> String {
        self.check_solvable(id);
        // Safe because the id belongs to this pool; the result lives in the
        // pool's scratch space and is copied at once.
        unsafe {
            let s = (*self.as_ptr()).solvables.add(id.0 as usize);
            copy_c_str(ffi::pool_solvable2str(self.as_ptr(), s))
        }
    }

    /// Whether the solver may install the solvable at all: its arch fits
    /// the pool's arch and its repository is enabled (pool_installable).
    pub(crate) fn is_installable_arch(&self, id: SolvableId) -> bool {
        self.check_solvable(id);
        let pool = self.as_ptr();
        // Safe because the id belongs to this pool, and id2arch has lastarch
        // entries when set. Mirrors the inline pool_installable of repo.h.
        unsafe {
            let s = &*(*pool).solvables.add(id.0 as usize);
            let arch = s.arch;
            if arch == ffi::solv_knownid_ARCH_SRC as ffi::Id
                || arch == ffi::solv_knownid_ARCH_NOSRC as ffi::Id
            {
                return false;
            }
            if !s.repo.is_null() && (*s.repo).disabled != 0 {
                return false;
            }
            if !(*pool).id2arch.is_null() {
                let score = if (arch as u32) < ((*pool).lastarch as u32) {
                    *(*pool).id2arch.add(arch as usize)
                } else {
                    0
                };
                if arch == 0 || score == 0 {
                    return false;
                }
            }
            let considered = (*pool).considered;
            if !considered.is_null() {
                let byte = *(*considered).map.add(id.0 as usize >> 3);
                if byte & (1 << (id.0 & 7)) == 0 {
                    return false;
                }
            }
        }
        true
    }

    /// Every solvable that belongs to a repository, in id order.
    pub(crate) fn solvables(&self) -> Vec<SolvableId> {
        (SYSTEMSOLVABLE + 1..self.nsolvables())
            .filter(|&p| self.is_repo_solvable(p))
            .map(SolvableId)
            .collect()
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::libsolv::solver::{Jobs, Solver};
    use crate::libsolv::SolvableSpec;

    #[test]
    fn rel_constants_match_pool_h() {
        assert_eq!((ffi::REL_GT, ffi::REL_EQ, ffi::REL_LT), (1, 2, 4));
        assert_eq!((ffi::REL_AND, ffi::REL_OR, ffi::REL_WITH), (16, 17, 18));
        assert_eq!(
            (
                ffi::REL_COND,
                ffi::REL_ELSE,
                ffi::REL_WITHOUT,
                ffi::REL_UNLESS
            ),
            (22, 26, 28, 29)
        );
        assert_eq!(Rel::new(true, true, false), Rel::LE);
        assert_eq!(Rel::new(false, true, true), Rel::GE);
    }

    #[test]
    fn rpm_version_order() {
        use std::cmp::Ordering;
        let pool = Pool::new("x86_64").unwrap();
        assert_eq!(pool.evrcmp("1.0~rc1", "1.0").unwrap(), Ordering::Less);
        assert_eq!(pool.evrcmp("1.0^post", "1.0").unwrap(), Ordering::Greater);
        assert_eq!(pool.evrcmp("1:0.1", "2.0").unwrap(), Ordering::Greater);
        // rpm treats all separators alike; dpkg orders "." before "_".
        assert_eq!(pool.evrcmp("1.0-1", "1_0-1").unwrap(), Ordering::Equal);
    }

    #[test]
    fn noarch_and_compatible_arches_are_installable() {
        let mut pool = Pool::new("x86_64").unwrap();
        let repo = pool.add_repo("test").unwrap();
        let add = |pool: &mut Pool, arch: &str| {
            let name = pool.intern(&format!("p-{arch}")).unwrap();
            let evr = pool.intern("1-1").unwrap();
            let arch = pool.intern(arch).unwrap();
            let me = pool.versioned(name, Rel::EQ, evr);
            pool.add_solvable(
                repo,
                &SolvableSpec {
                    provides: &[me],
                    ..SolvableSpec::new(name, evr, arch)
                },
            )
        };
        let noarch = add(&mut pool, "noarch");
        let x86_64 = add(&mut pool, "x86_64");
        let i686 = add(&mut pool, "i686");
        let aarch64 = add(&mut pool, "aarch64");
        assert!(pool.is_installable_arch(noarch));
        assert!(pool.is_installable_arch(x86_64));
        assert!(pool.is_installable_arch(i686));
        assert!(!pool.is_installable_arch(aarch64));

        let p_noarch = pool.intern("p-noarch").unwrap();
        assert_eq!(pool.whatprovides(p_noarch.into()), vec![noarch]);
        let p_aarch64 = pool.intern("p-aarch64").unwrap();
        assert!(pool.whatprovides(p_aarch64.into()).is_empty());

        let mut solver = Solver::new(&pool);
        let mut jobs = Jobs::new();
        jobs.install_solvable(noarch);
        assert_eq!(solver.solve(&jobs), 0);
        assert_eq!(solver.new_solvables(), vec![noarch]);
    }

    #[test]
    fn dependencies_print_like_rpm() {
        let mut pool = Pool::new("x86_64").unwrap();
        let foo = pool.intern("foo").unwrap();
        let bar = pool.intern("bar").unwrap();
        let v = pool.intern("1:2.0-3").unwrap();
        let foo_ge = pool.versioned(foo, Rel::GE, v);
        assert_eq!(pool.dep_str(foo_ge), "foo >= 1:2.0-3");
        let either = pool.rich(RichOp::Or, foo_ge, bar.into());
        assert_eq!(pool.dep_str(either), "(foo >= 1:2.0-3 or bar)");
        let cond = pool.rich(RichOp::Else, bar.into(), foo.into());
        let cond = pool.rich(RichOp::If, foo_ge, cond);
        assert_eq!(pool.dep_str(cond), "(foo >= 1:2.0-3 if bar else foo)");
        assert_eq!(pool.string(v), "1:2.0-3");
        assert!(matches!(
            pool.intern("a\0b"),
            Err(LibsolvError::InteriorNul(_))
        ));
    }

    #[test]
    #[should_panic(expected = "does not belong to this pool")]
    fn foreign_ids_panic() {
        let pool = Pool::new("x86_64").unwrap();
        pool.solvable_str(SolvableId(12345));
    }
}
