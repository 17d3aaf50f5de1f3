//! Solving over rpm-md repositories: provider lookup, repoclosure (the
//! same rules as `dnf repoclosure`), installability through libsolv, and
//! suggestions that would close the gaps.
//!
//! The public API is [`repoclosure`] with its [`ClosureOptions`] and
//! [`ClosureReport`] (rendered by the report itself, as text or JSON),
//! [`install_sets`] (package sets, such as module profiles, installed
//! together), [`upgrade_sets`] (those sets installed from one release and
//! upgraded to the next),
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
//! 9. `upgrade`: distribution upgrades of installed sets (a release's
//!    profiles to the next release), through libsolv's distupgrade.
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
mod upgrade;

#[cfg(test)]
mod agreement;
#[cfg(test)]
mod testkit;

pub use arch::host_arch;
pub use closure::{install_sets, names_required_by, repoclosure, ClosureOptions, InstallSet};
pub use error::SolveError;
pub use install::{installcheck, InstallcheckMethod};
pub use libsolv::LibsolvError;
pub use report::{
    ClosureReport, DepSuggestion, InstallReport, PackageRef, RepoInfo, SetFailure, SetUpgrade,
    Suggestions, Uninstallable, Unresolved, UpgradeBlocker, UpgradeCounts, UpgradeOutcome,
};
pub use upgrade::{upgrade_sets, UpgradeSide};

#[cfg(test)]
#[path = "../../layers_check.rs"]
mod layers_check;

#[cfg(test)]
mod layers {
    /// The modules in the order of the list above.
    const ORDER: [&str; 11] = [
        "testkit",
        "arch",
        "libsolv",
        "error",
        "sack",
        "report",
        "suggest",
        "install",
        "closure",
        "upgrade",
        "agreement",
    ];

    /// Each module uses only those before it: no import cycle, and the
    /// pipeline reads top to bottom. A new module goes into ORDER and the
    /// list in the crate doc.
    #[test]
    fn modules_depend_only_downward() {
        crate::layers_check::check(env!("CARGO_MANIFEST_DIR"), &ORDER);
    }
}
