//! Releases: the module streams and artifacts that ship together, checked
//! as one before they are composed as one.
//!
//! The document is read by strata-model ([`strata_model::ReleaseDefinition`]);
//! here it meets what only the definitions and the registry know:
//! `check` walks every module below the release's (with the chain that
//! reaches it), holds each to the lifecycle the release promises, finds
//! the compose each ships, and runs one repoclosure over all of them
//! against the platform, then every profile; `report` is what it found
//! and its one rendering; `upgrade` adds the upgrade path from the
//! previous release (`CheckOptions::from`). Front ends (the CLI, Python) call
//! [`check_release`] and print the report; `compose` freezes a release
//! that passes into one release compose ([`compose_release`]).

mod check;
mod compose;
mod definitions;
mod error;
mod records;
mod report;
mod upgrade;

pub use check::{check_release, CheckOptions};
pub use compose::{compose_release, ComposeOptions, ReleaseComposed};
pub use definitions::{release_definitions, ReleaseDefinitions};
pub use error::ReleaseError;
pub use records::{
    release_diff, release_text, releases_table, ArtifactChange, ModuleChange, PackageChange,
    ReleaseDiff,
};
pub use report::{
    chain_text, ArtifactUse, ClosureSummary, ModuleUse, Problem, ReleaseReport, StreamSwitch,
    UpgradeSummary,
};
