//! libsolv's own readers, for tests only: its rpm-md parser, its rich
//! dependency parser, its file provides and its built-in arch table. The
//! crate never uses them (it reads repositories itself); tests hold
//! Strata's answers to what libsolv, and so dnf, makes of the same input.

use super::pool::{c_string, copy_c_str, DepId, Pool};
use super::repo::RepoId;
use libsolv_sys::ffi;
use std::os::raw::{c_char, c_int, c_void};

extern "C" {
    // libsolv.so exports it (pool_parserpmrichdep.h); libsolv-sys does not
    // bind that header.
    fn pool_parserpmrichdep(pool: *mut ffi::Pool, dep: *const c_char) -> ffi::Id;
    // POSIX; libsolv reads rpm-md from a FILE.
    fn fmemopen(buf: *mut c_void, size: usize, mode: *const c_char) -> *mut ffi::FILE;
    fn fclose(file: *mut ffi::FILE) -> c_int;
}

impl Pool {
    /// A pool whose arch policy is libsolv's built-in one for `arch`
    /// (pool_setarch), which depends on how libsolv was built.
    pub(crate) fn with_builtin_arch(arch: &str) -> Pool {
        let pool = Pool::new(arch).unwrap();
        let arch = c_string(arch).unwrap();
        // Safe because the pool is valid and pool_setarch copies the name.
        unsafe { ffi::pool_setarch(pool.as_ptr(), arch.as_ptr()) };
        pool
    }

    /// Reads an rpm-md document into `repo` with libsolv's parser:
    /// primary.xml, or with `extend` filelists.xml for packages already
    /// read (matched by pkgid). Panics on a parse error.
    pub(crate) fn add_rpmmd(&mut self, repo: RepoId, xml: &str, extend: bool) {
        let repo = self.repo_ptr(repo);
        self.mark_whatprovides_stale();
        let flags = if extend {
            ffi::REPO_EXTEND_SOLVABLES as c_int
        } else {
            0
        };
        // Safe because the buffer outlives the FILE (closed before
        // returning) and is only read ("r"); the repo belongs to this pool.
        unsafe {
            let file = fmemopen(xml.as_ptr() as *mut c_void, xml.len(), c"r".as_ptr());
            assert!(!file.is_null(), "fmemopen failed");
            let r = ffi::repo_add_rpmmd(repo, file, std::ptr::null(), flags);
            fclose(file);
            assert_eq!(
                r,
                0,
                "libsolv cannot read the document: {}",
                copy_c_str(ffi::pool_errstr(self.as_ptr()))
            );
        }
    }

    /// Turns file requirements into provides of the packages listing the
    /// files (pool_addfileprovides), as dnf does after loading filelists.
    pub(crate) fn add_file_provides(&mut self) {
        // Safe because the pool is valid; it frees the whatprovides index,
        // which is rebuilt before its next use.
        unsafe { ffi::pool_addfileprovides(self.as_ptr()) };
        self.mark_whatprovides_stale();
    }

    /// A rich dependency parsed by libsolv (what its rpm-md reader does
    /// with one); `None` when libsolv cannot parse it.
    pub(crate) fn parse_rich(&mut self, text: &str) -> Option<DepId> {
        let text = c_string(text).unwrap();
        // Safe because the pool is valid and the text a C string it copies.
        let id = unsafe { pool_parserpmrichdep(self.as_ptr(), text.as_ptr()) };
        (id != 0).then_some(DepId(id))
    }
}

mod test {
    use super::*;
    use crate::arch::{compatible_arches, POLICIES};

    /// The arches a pool with libsolv's built-in policy for `base` takes.
    fn builtin(base: &str, universe: &[&str]) -> Vec<String> {
        let mut pool = Pool::with_builtin_arch(base);
        let repo = pool.add_repo("r").unwrap();
        let mut out = Vec::new();
        for &arch in universe {
            let name = pool.intern(arch).unwrap();
            let evr = pool.intern("1-1").unwrap();
            let a = pool.intern(arch).unwrap();
            let s = pool.add_solvable(repo, &crate::libsolv::SolvableSpec::new(name, evr, a));
            if pool.is_installable_arch(s) {
                out.push(arch.to_string());
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_arch_table_is_libsolvs() {
        let mut universe: Vec<&str> = POLICIES
            .iter()
            .flat_map(|(_, p)| p.split(':'))
            .chain(["noarch", "aarch64", "ppc64le", "riscv64"])
            .collect();
        universe.sort();
        universe.dedup();
        let system = builtin("x86_64", &universe);
        // This machine's libsolv (Debian's) is built without FEDORA and so
        // lacks athlon on the x86_64 family and the Fedora-only bases.
        let fedora_only = |base: &str| {
            base.starts_with("x86_64")
                || ["ia32e", "athlon", "amd64", "geode"].contains(&base)
                || base.starts_with("ppc64") && base.ends_with("series")
        };
        let mut compared = 0;
        for &(base, _) in POLICIES.iter().filter(|(b, _)| !fedora_only(b)) {
            let mut ours: Vec<String> = compatible_arches(base)
                .into_iter()
                .map(String::from)
                .collect();
            ours.sort();
            let theirs = builtin(base, &universe);
            if theirs == [base.to_string(), "noarch".to_string()] {
                // A base newer than this libsolv (e2k came in 0.7.25).
                continue;
            }
            assert_eq!(ours, theirs, "base arch {base}");
            compared += 1;
        }
        for base in ["aarch64", "ppc64le", "riscv64"] {
            let mut alone = vec![base.to_string(), "noarch".to_string()];
            alone.sort();
            assert_eq!(builtin(base, &universe), alone);
            assert_eq!(compatible_arches(base), vec![base, "noarch"]);
        }
        // The one difference on x86_64 is athlon.
        let mut ours: Vec<String> = compatible_arches("x86_64")
            .into_iter()
            .filter(|&a| a != "athlon")
            .map(String::from)
            .collect();
        ours.sort();
        if system.contains(&"athlon".to_string()) {
            ours.push("athlon".into());
            ours.sort();
        }
        assert_eq!(ours, system);
        assert!(compared > 20);
    }
}
