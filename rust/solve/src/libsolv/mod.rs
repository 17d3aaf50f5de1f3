//! The one place Strata talks to libsolv. Every `unsafe` call into the C
//! library lives under this module; the rest of the crate sees owned,
//! safe types: a [`Pool`] with RPM semantics and the arch policy of
//! `crate::arch`, typed ids ([`StringId`](pool::StringId), [`DepId`], [`SolvableId`],
//! [`RepoId`]) so one kind of id cannot be passed as another, a
//! [`Solver`](solver::Solver) that borrows its pool, and the installability check built on
//! them. Private to the crate; `oracle` (tests only) adds libsolv's own
//! rpm-md reader, which tests hold the crate to.
//!
//! Ids are checked against the pool they are given to (a foreign or stale
//! id panics instead of reading out of bounds), which keeps every public
//! function sound.

mod installcheck;
#[cfg(test)]
mod oracle;
mod pool;
mod queue;
mod repo;
mod solver;

pub(crate) use installcheck::{installcheck, naive_installcheck};
pub(crate) use pool::{DepId, Pool, Rel, RichOp, SolvableId};
pub(crate) use repo::{RepoId, SolvableSpec};
pub(crate) use solver::{Jobs, RuleKind, Solver, TransactionCounts};

/// What can go wrong when talking to libsolv.
#[derive(Debug, thiserror::Error)]
pub enum LibsolvError {
    /// libsolv strings are C strings.
    #[error("`{0}` contains a NUL byte, which libsolv cannot store")]
    InteriorNul(String),
    /// The system libsolv was built without RPM semantics.
    #[error("this libsolv cannot use RPM semantics (pool_setdisttype failed)")]
    NoRpmSemantics,
}
