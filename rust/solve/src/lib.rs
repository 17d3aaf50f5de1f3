//! Solving over rpm-md repositories: provider lookup, repoclosure (the
//! same rules as `dnf repoclosure`), installability through libsolv, and
//! suggestions that would close the gaps.

pub mod arch;
pub mod closure;
pub mod error;
pub mod install;
pub mod libsolv;
pub mod sack;
pub mod suggest;

pub use closure::{
    repoclosure, ClosureOptions, ClosureReport, InstallReport, Uninstallable, Unresolved,
};
pub use error::SolveError;
pub use sack::{PkgId, Sack};
pub use suggest::{PackageRef, Suggestions};
