//! Errors of every registry backend. Backend errors travel as boxed
//! sources so that the variants stay the same for SQLite and PostgreSQL.

use crate::record::State;

/// The underlying cause of a backend failure (a SQLite or PostgreSQL
/// error, an I/O error).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, naming the registry (`db`: the SQLite path, or the
/// PostgreSQL connection without its password) and the compose involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("cannot open the compose registry {db}")]
    Open {
        db: String,
        #[source]
        source: BoxError,
    },

    #[error(
        "the compose registry {db} has schema version {found}, but this Strata knows \
         versions up to {known} only; use a newer Strata to read it"
    )]
    NewerSchema { db: String, found: i64, known: i64 },

    /// Opening for reading only found nothing: reading never creates a
    /// registry, so a mistyped `--registry` is not taken for an empty one.
    #[error("there is no compose registry at {db}: {reason}")]
    Missing { db: String, reason: String },

    /// A registry of an older schema, opened for reading where it cannot
    /// be updated (a read-only file or folder, a read-only database role).
    #[error(
        "the compose registry {db} has schema version {found} and this Strata reads version \
         {known}: it must be updated first, which needs write access (any `strata compose \
         module` or `strata composes prune` run with write access updates it)"
    )]
    OldSchema {
        db: String,
        found: i64,
        known: i64,
        #[source]
        source: Box<RegistryError>,
    },

    /// `prune` was asked to keep composes the registry does not hold.
    #[error(
        "compose registry {db}: cannot prune: the pinned compose(s) {} are not in the registry",
        ids.join(", ")
    )]
    UnknownPins { db: String, ids: Vec<String> },

    /// `--registry` or the configuration names something that cannot be
    /// a registry (e.g. a URL of an unsupported database).
    #[error("cannot use `{location}` as a compose registry: {reason}")]
    Location { location: String, reason: String },

    #[error("{db} is not a Strata compose registry: {reason}")]
    NotARegistry { db: String, reason: String },

    /// The database refused or failed an operation (I/O, locked for longer
    /// than the busy timeout, constraint).
    #[error("compose registry {db}: cannot {action}")]
    Backend {
        db: String,
        action: String,
        #[source]
        source: BoxError,
    },

    #[error("compose registry {db}: no such compose `{compose_id}`")]
    NoSuchCompose { db: String, compose_id: String },

    #[error(
        "compose registry {db}: compose `{compose_id}` has no test `{test}` waiting for its \
         result (a compose's tests are named when it begins)"
    )]
    NoSuchTest {
        db: String,
        compose_id: String,
        test: String,
    },

    #[error("compose registry {db}: no such chain `{chain_id}`")]
    NoSuchChain { db: String, chain_id: String },

    #[error("compose registry {db}: chain `{chain_id}` has no step `{step}`")]
    NoSuchStep {
        db: String,
        chain_id: String,
        step: String,
    },

    #[error(
        "compose registry {db}: step `{step}` of chain `{chain_id}` cannot be approved: it is \
         {state} (only a step that has not run can be)"
    )]
    CannotApprove {
        db: String,
        chain_id: String,
        step: String,
        state: crate::chain::StepState,
    },

    #[error("cannot record a chain: {reason}")]
    InvalidChain { reason: String },

    #[error("compose registry {db}: no such release compose `{release_id}`")]
    NoSuchRelease { db: String, release_id: String },

    /// The release compose cannot be recorded as described.
    #[error("cannot record a release compose of `{name}` version `{version}`: {reason}")]
    InvalidRelease {
        name: String,
        version: String,
        reason: String,
    },

    #[error(
        "compose registry {db}: cannot queue a chain event of {size} bytes: the limit is {limit}"
    )]
    EventTooLarge {
        db: String,
        size: usize,
        limit: usize,
    },

    #[error(
        "compose registry {db}: cannot queue a chain event: {limit} events already wait \
         (the limit); run `strata chain run --pending` to take them"
    )]
    EventQueueFull { db: String, limit: usize },

    #[error(
        "compose registry {db}: queued event {seq} is no longer queued (another chain took it); \
         nothing was recorded"
    )]
    EventNotQueued { db: String, seq: i64 },

    #[error("compose registry {db}: compose `{compose_id}` is not started (it is {state})")]
    NotStarted {
        db: String,
        compose_id: String,
        state: State,
    },

    /// The new compose cannot be recorded as described (e.g. a name that
    /// cannot be part of a productmd compose ID).
    #[error("cannot record a compose of `{name}:{stream}`: {reason}")]
    InvalidCompose {
        name: String,
        stream: String,
        reason: String,
    },

    #[error("cannot record the end of compose `{compose_id}`: {reason}")]
    InvalidOutcome { compose_id: String, reason: String },

    /// A stored record that this code cannot read back (edited by hand,
    /// or written by a broken build).
    #[error("compose registry {db}: the record of compose `{compose_id}` is corrupt: {reason}")]
    Corrupt {
        db: String,
        compose_id: String,
        reason: String,
    },
}

/// A name that is not one of the known values of an enumeration
/// (compose type, state, input kind), e.g. from a command-line option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}` (expected one of: {expected})")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// Adds the registry and the action to a backend error.
pub(crate) trait Context<T> {
    fn ctx(self, db: &str, action: impl FnOnce() -> String) -> Result<T, RegistryError>;
}

impl<T, E: Into<BoxError>> Context<T> for Result<T, E> {
    fn ctx(self, db: &str, action: impl FnOnce() -> String) -> Result<T, RegistryError> {
        self.map_err(|e| RegistryError::Backend {
            db: db.to_owned(),
            action: action(),
            source: e.into(),
        })
    }
}
