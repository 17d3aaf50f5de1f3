//! The record of every compose: compose IDs, states, inputs and outputs.
//!
//! A compose of `name:stream` is given a unique productmd-style compose ID
//! and recorded as `started` ([`Registry::begin`]); it ends `finished` or
//! `failed` ([`Registry::finish`]). The last good compose of a stream is
//! its newest finished one. [`SqliteRegistry`] is the embedded backend of
//! `strata compose`; a PostgreSQL backend for the Koji hub implements the
//! same trait, which is why nothing in it is SQLite's.

mod compose_id;
mod error;
mod record;
mod sqlite;
mod validate;

pub use error::{BoxError, RegistryError, UnknownName};
pub use record::{
    ComposeRecord, ComposeType, Input, InputKind, ListFilter, NewCompose, Outcome, Outputs,
    PackagesByArch, State,
};
pub use sqlite::SqliteRegistry;

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// A store of compose records, safe against other processes using the
/// same store at the same time.
///
/// "Newest" means most recently begun in this registry, whatever
/// `started_at` says: a pinned start time does not reorder composes.
pub trait Registry: Send {
    /// Allocates a unique compose ID and records the compose as started,
    /// atomically: two processes beginning composes of the same stream at
    /// the same instant get different IDs. The respin is the next unused
    /// one for the name, stream, date and type.
    fn begin(&mut self, new: &NewCompose) -> Result<ComposeRecord>;

    /// Records how a started compose ended. A compose ends once: finishing
    /// one that is no longer `started` is an error and changes nothing.
    fn finish(&mut self, compose_id: &str, outcome: &Outcome) -> Result<ComposeRecord>;

    fn get(&self, compose_id: &str) -> Result<Option<ComposeRecord>>;

    /// The composes `filter` matches, newest first.
    fn list(&self, filter: &ListFilter) -> Result<Vec<ComposeRecord>>;

    /// The newest finished compose of `name:stream`. Failed composes and
    /// composes that never ended are never good.
    fn latest_good(&self, name: &str, stream: &str) -> Result<Option<ComposeRecord>>;

    /// IDs of the composes that used compose `compose_id` as an input,
    /// newest first.
    fn composes_using(&self, compose_id: &str) -> Result<Vec<String>>;
}
