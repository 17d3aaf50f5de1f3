//! The record of every compose: compose IDs, states, inputs and outputs.
//!
//! A compose of `name:stream` is given a unique productmd-style compose ID
//! and recorded as `started` ([`Registry::begin`]); it ends `finished` or
//! `failed` ([`Registry::finish`]). The last good compose of a stream is
//! its newest finished one. [`SqliteRegistry`] is the embedded backend of
//! `strata compose`; [`PgRegistry`] keeps the same records in PostgreSQL
//! (schema `strata`), for the Koji hub and builders that share a
//! database. [`open`] opens either from a [`RegistryLocation`] (a path or
//! a `postgresql://` URL).
//!
//! ```
//! use strata_registry::{ComposeType, NewCompose, Outcome, Outputs, Registry, SqliteRegistry, State};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! let mut registry = SqliteRegistry::open(&dir.path().join("registry.sqlite"))?;
//! let started = registry.begin(&NewCompose {
//!     name: "apache".into(),
//!     stream: "2.4".into(),
//!     compose_type: ComposeType::Nightly,
//!     started_at: 1_795_600_800, // 2026-11-25T10:00:00Z
//!     definition_path: "modules/apache.yaml".into(),
//!     definition_digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
//!     scm_ref: None,
//!     arches: vec!["x86_64".into()],
//!     version: 4020261125100000,
//!     context: "9edba152".into(),
//!     inputs: vec![],
//! })?;
//! assert_eq!(started.id, "apache-2.4-20261125.n.0");
//! assert!(registry.latest_good("apache", "2.4")?.is_none());
//!
//! let outcome = Outcome::Finished {
//!     finished_at: 1_795_600_890,
//!     outputs: Outputs { path: "/srv/composes/apache-2.4-20261125.n.0".into(), repos: Default::default() },
//!     packages: Default::default(),
//!     timings: serde_json::json!({"closure": 1.2}),
//! };
//! registry.finish(&started.id, &outcome)?;
//! let good = registry.latest_good("apache", "2.4")?.unwrap();
//! assert_eq!((good.id.as_str(), good.state), ("apache-2.4-20261125.n.0", State::Finished));
//! # Ok::<(), strata_registry::RegistryError>(())
//! ```

mod compose_id;
mod error;
mod location;
mod postgres;
mod record;
mod sqlite;
mod stored;
mod validate;

pub use error::{BoxError, RegistryError, UnknownName};
pub use location::{open, RegistryLocation};
pub use postgres::{redact_url, PgRegistry, PgTimeouts};
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
