//! Shared by the fuzz targets: walking a parsed repository through every
//! public accessor, so that an out-of-range index or a bad string id shows
//! up as a panic rather than going unnoticed.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;
use strata_repodata::{DepKind, Repo};

const KINDS: [DepKind; 4] = [
    DepKind::Provides,
    DepKind::Requires,
    DepKind::Conflicts,
    DepKind::Obsoletes,
];

/// Visits every package, dependency and file; returns a text rendering of
/// the repository (used to compare a repository with its cached copy).
pub fn walk(repo: &Repo) -> String {
    let mut out = String::new();
    let (mut ndeps, mut nfiles) = (0usize, 0usize);
    for pkg in repo.iter() {
        let rec = *pkg.rec();
        assert_eq!(repo.package(pkg.index).rec().name, rec.name);
        let _ = write!(
            out,
            "{}|{}|{}|{}|{}|{}|{}|{}\n",
            pkg.name(),
            pkg.arch(),
            pkg.evr(),
            pkg.nevra(),
            pkg.location(),
            pkg.checksum(),
            pkg.sourcerpm(),
            pkg.evr().cmp_full(&pkg.evr()) as i8,
        );
        for kind in KINDS {
            for dep in pkg.deps(kind) {
                ndeps += 1;
                let _ = write!(
                    out,
                    " {kind:?} {} [{}] {:?} pre={} evr={:?} :: {dep}\n",
                    dep.name(),
                    dep.flags().op(),
                    dep.flags(),
                    dep.is_pre(),
                    dep.evr().map(|e| e.to_string()),
                );
                if let Some(evr) = dep.evr() {
                    // Exercise the comparisons the solver runs on these.
                    let _ = evr.cmp_match(&pkg.evr());
                    let _ = strata_model::ranges_intersect(
                        dep.flags(),
                        &evr,
                        strata_model::RelFlags::EQ,
                        &pkg.evr(),
                    );
                }
            }
        }
        assert_eq!(pkg.provides().count(), pkg.deps(DepKind::Provides).count());
        let _ = pkg.requires().count() + pkg.conflicts().count() + pkg.obsoletes().count();
        for f in pkg.files() {
            nfiles += 1;
            let _ = write!(out, " file {f}\n");
        }
    }
    let _ = (ndeps, nfiles);
    out
}

/// Checks what the primary parser promises beyond "no panic": every
/// dependency and file belongs to exactly one package, in order.
pub fn check_primary_invariants(repo: &Repo) {
    let mut next_dep = 0usize;
    let mut next_file = 0usize;
    for pkg in repo.iter() {
        let r = pkg.rec();
        assert_eq!(r.deps_start as usize, next_dep, "deps are contiguous");
        assert!(r.deps_ends.windows(2).all(|w| w[0] <= w[1]));
        next_dep += r.deps_ends[3] as usize;
        assert_eq!(r.files_start as usize, next_file, "files are contiguous");
        next_file += r.files_len as usize;
        assert!(!pkg.name().is_empty() && !pkg.arch().is_empty());
        assert!(!pkg.evr().version.is_empty());
    }
    assert_eq!(next_dep, repo.deps.len());
    assert_eq!(next_file, repo.files.len());
}

/// A scratch directory for this process, on tmpfs when there is one.
pub fn scratch_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("strata-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        dir
    })
}
