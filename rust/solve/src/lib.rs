//! Solving over rpm-md repositories: provider lookup, repoclosure (the
//! same rules as `dnf repoclosure`), installability through libsolv, and
//! suggestions that would close the gaps.
//!
//! The public API is [`repoclosure`] with its [`ClosureOptions`] and
//! [`ClosureReport`] (rendered by the report itself, as text or JSON),
//! [`installcheck`] for benchmarks, [`host_arch`], and the errors.
//!
//! Inside, each module uses only those listed before it, so the pipeline
//! reads top to bottom:
//!
//! 1. `arch`: which package arches a base arch can install.
//! 2. `libsolv`: the safe wrapper around libsolv, the only `unsafe` code.
//! 3. `error`: what can go wrong.
//! 4. `sack`: the repositories seen as one, and who provides what; the one
//!    provider lookup every later step asks.
//! 5. `report`: what a run found, and its one rendering.
//! 6. `suggest`: candidates that would close the gaps.
//! 7. `install`: installability, through a libsolv pool built from the sack.
//! 8. `closure`: repoclosure, which runs the steps above in order.
//!
//! Tests add `testkit` (random repositories on disk, below everything)
//! and `agreement` (the sack held to libsolv, above everything).

// Anything `pub` is part of the API: the rest says `pub(crate)`.
#![warn(unreachable_pub)]

mod arch;
mod closure;
mod error;
mod install;
mod libsolv;
mod report;
mod sack;
mod suggest;

#[cfg(test)]
mod agreement;
#[cfg(test)]
mod testkit;

pub use arch::host_arch;
pub use closure::{repoclosure, ClosureOptions};
pub use error::SolveError;
pub use install::{installcheck, InstallcheckMethod};
pub use libsolv::LibsolvError;
pub use report::{
    ClosureReport, DepSuggestion, InstallReport, PackageRef, RepoInfo, Suggestions, Uninstallable,
    Unresolved,
};

#[cfg(test)]
mod layers {
    /// The modules in the order of the list above.
    const ORDER: [&str; 10] = [
        "testkit",
        "arch",
        "libsolv",
        "error",
        "sack",
        "report",
        "suggest",
        "install",
        "closure",
        "agreement",
    ];

    /// The modules a source file names through `crate::`, comments left out.
    fn uses(source: &str) -> Vec<String> {
        let mut out = Vec::new();
        for line in source.lines() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        }
        out
    }

    /// Each module uses only those before it: no import cycle, and the
    /// pipeline reads top to bottom. A new module goes into ORDER and the
    /// list in the crate doc.
    #[test]
    fn modules_depend_only_downward() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut checked = 0;
        for (rank, module) in ORDER.iter().enumerate() {
            let file = src.join(format!("{module}.rs"));
            let files = if file.exists() {
                vec![file]
            } else {
                std::fs::read_dir(src.join(module))
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect()
            };
            for file in files {
                let text = std::fs::read_to_string(&file).unwrap();
                for used in uses(&text) {
                    let Some(used_rank) = ORDER.iter().position(|m| *m == used) else {
                        panic!("{}: `crate::{used}` is not in ORDER", file.display());
                    };
                    assert!(
                        used_rank < rank || used == *module,
                        "{} uses `crate::{used}`, which comes after `{module}`",
                        file.display()
                    );
                }
                checked += 1;
            }
        }
        let modules = std::fs::read_dir(&src).unwrap().count() - 1; // lib.rs
        assert_eq!(
            modules,
            ORDER.len(),
            "a module in src/ is missing from ORDER"
        );
        assert!(checked >= ORDER.len());
    }
}
