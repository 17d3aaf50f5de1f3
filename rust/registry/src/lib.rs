//! The record of every compose: compose IDs, states, inputs and outputs.
//!
//! A compose of `name:stream` is given a unique productmd-style compose ID
//! and recorded as `started` ([`Registry::begin`]); it ends `finished` or
//! `failed` ([`Registry::finish`]). The last good compose of a stream is
//! its newest finished one. [`SqliteRegistry`] is the embedded backend of
//! `strata compose`; [`PgRegistry`] keeps the same records in PostgreSQL
//! (schema `strata`), for the Koji hub and builders that share a
//! database. [`open`] opens either from a [`RegistryLocation`] (a path or
//! a `postgresql://` URL); [`open_read_only`] opens an existing one for
//! reading only, creating nothing.
//!
//! Each compose records its [`Owner`] (host, PID, process start time,
//! boot ID), so a compose whose process died can be told from one that
//! still runs and marked failed ([`Registry::abandon_dead`]). Listings read
//! [`ComposeSummary`]s, without package lists; [`Registry::prune`] removes
//! the records nothing needs ([`prune`]).
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
//!     owner: strata_registry::Owner::current(),
//!     scratch: None,
//!     chain: None,
//!     required_tests: vec![],
//!     artifact: None,
//! })?;
//! assert_eq!(started.id, "apache-2.4-20261125.n.0");
//! assert!(registry.latest_good("apache", "2.4")?.is_none());
//!
//! let outcome = Outcome::Finished {
//!     finished_at: 1_795_600_890,
//!     outputs: Outputs { path: "/srv/composes/apache-2.4-20261125.n.0".into(), repos: Default::default(), build_id: None },
//!     packages: Default::default(),
//!     timings: serde_json::json!({"closure": 1.2}),
//!     modulemd: Default::default(),
//! };
//! registry.finish(&started.id, &outcome)?;
//! let good = registry.latest_good("apache", "2.4")?.unwrap();
//! assert_eq!((good.id.as_str(), good.state), ("apache-2.4-20261125.n.0", State::Finished));
//! # Ok::<(), strata_registry::RegistryError>(())
//! ```

mod chain;
mod compose_id;
mod error;
mod fingerprint;
mod location;
mod owner;
mod postgres;
pub mod prune;
mod queue;
mod record;
mod release;
mod sqlite;
mod stored;
mod validate;

pub use chain::{
    ChainRecord, ChainState, ChainStep, ComposeChainInfo, NewChain, StepState, StepUpdate,
    StreamLock, TestResult,
};
pub use error::{BoxError, RegistryError, UnknownName};
pub use fingerprint::{
    counted_inputs, fingerprint_digest, inputs_stack_digest, record_fingerprint, stack_digest,
    CountedInputs,
};
pub use location::{
    open, open_read_only, open_read_only_with, open_with, OpenOptions, RegistryLocation,
};
pub use owner::{Liveness, Owner};
pub use postgres::{redact_url, PgRegistry, PgTimeouts};
pub use prune::{PrunePlan, PrunePolicy};
pub use queue::{PendingEvent, MAX_EVENT_BYTES, MAX_PENDING_EVENTS};
pub use record::{
    ArtifactKind, ChainCause, ComposeRecord, ComposeSummary, ComposeType, Input, InputKind,
    ListFilter, ModulemdByArch, NewCompose, Outcome, Outputs, PackagesByArch, RecordKind, State,
};
pub use release::{NewRelease, ReleaseInput, ReleaseInputKind, ReleaseOutcome, ReleaseRecord};
pub use sqlite::{SqliteRegistry, DEFAULT_BUSY_TIMEOUT};
pub use stored::{cap_text, ERROR_CAP, REPORT_CAP};

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

    /// Compose `compose_id` with all its inputs (those of kind
    /// `stack_compose` too) and its outputs, but without its package
    /// lists, modulemd, timings and closure report: what checking a
    /// layer's inputs needs, without decompressing and parsing what the
    /// compose holds (most of the cost of [`Registry::get`]).
    fn get_inputs_only(&self, compose_id: &str) -> Result<Option<ComposeRecord>> {
        Ok(self.get(compose_id)?.map(|mut record| {
            record.packages.clear();
            record.modulemd.clear();
            record.timings = None;
            record.report = None;
            record
        }))
    }

    /// Records how test `name` of compose `compose_id` went (`output`
    /// capped like errors). A compose is good once finished and every test
    /// it was begun with ([`NewCompose::required_tests`]) passed; a failed
    /// test keeps it from being good for good, a test run again replaces
    /// its result. A test the compose was not begun with is an error.
    fn record_test(
        &mut self,
        compose_id: &str,
        name: &str,
        passed: bool,
        finished_at: i64,
        output: &str,
    ) -> Result<()>;

    /// The composes `filter` matches, newest first, whole: with every
    /// package list. Listings that show no packages read
    /// [`Registry::list_summaries`] instead.
    fn list(&self, filter: &ListFilter) -> Result<Vec<ComposeRecord>>;

    /// The composes `filter` matches, newest first, without their inputs,
    /// package lists, reports and timings: a few queries in all, however
    /// many composes match.
    fn list_summaries(&self, filter: &ListFilter) -> Result<Vec<ComposeSummary>>;

    /// The newest good compose of `name:stream`: finished, and every test
    /// it was begun with passed. Failed composes, composes that never
    /// ended and composes whose tests failed or have not run are never
    /// good.
    fn latest_good(&self, name: &str, stream: &str) -> Result<Option<ComposeRecord>>;

    /// [`Registry::latest_good`], lean: without its package lists, its
    /// modulemd, its inputs of kind `stack_compose` (the layers below its
    /// direct requires, which a stack walk reaches itself), its timings and
    /// its closure report. What walking a stack needs, at a cost that grows
    /// neither with what the layers hold nor with how deep they are: a
    /// finished compose keeps its lean inputs and repositories in its own
    /// row (schema version 11), so this reads one row.
    fn latest_good_lean(&self, name: &str, stream: &str) -> Result<Option<ComposeRecord>>;

    /// [`Registry::latest_good_lean`] of each `(name, stream)`, in order,
    /// read in one snapshot: a stack walk asks for a whole wave of layers
    /// at once (one query on PostgreSQL instead of a few per layer, which
    /// is what a deep stack cost on a registry across the network).
    fn latest_good_lean_many(
        &self,
        streams: &[(&str, &str)],
    ) -> Result<Vec<Option<ComposeRecord>>> {
        streams
            .iter()
            .map(|(name, stream)| self.latest_good_lean(name, stream))
            .collect()
    }

    /// The ID of [`Registry::latest_good`] of each `(name, stream)`, in
    /// order, read in one snapshot from the index alone (schema version
    /// 13), not from the composes: what checks that a cache of their
    /// records (a stack's memo) still holds, at a fraction of reading them.
    fn latest_good_ids(&self, streams: &[(&str, &str)]) -> Result<Vec<Option<String>>>;

    /// What tells this registry from every other: where it is, and the
    /// random instance drawn when it was made (schema version 13). Two
    /// registries hand out the same compose IDs for different composes,
    /// and so does one made again at the same place: a cache of what was
    /// read from a registry is kept under its identity.
    fn identity(&self) -> Result<String>;

    /// [`Registry::latest_good`] as a summary.
    fn latest_good_summary(&self, name: &str, stream: &str) -> Result<Option<ComposeSummary>> {
        Ok(self
            .list_summaries(&ListFilter {
                name: Some(name.to_owned()),
                stream: Some(stream.to_owned()),
                state: Some(State::Finished),
                limit: Some(1),
                good: true,
                ..Default::default()
            })?
            .pop())
    }

    /// The last good compose ([`Registry::latest_good`]) of every stream,
    /// or of every stream of one record kind, as summaries sorted by name
    /// and stream: one query, however many streams there are.
    fn latest_good_per_stream(&self, kind: Option<RecordKind>) -> Result<Vec<ComposeSummary>> {
        let mut latest = self.list_summaries(&ListFilter {
            good: true,
            kind,
            newest_per_stream: true,
            ..Default::default()
        })?;
        latest.sort_by(|a, b| (&a.name, &a.stream).cmp(&(&b.name, &b.stream)));
        Ok(latest)
    }

    /// IDs of the composes that used compose `compose_id` as an input,
    /// newest first: as a direct requirement (indexed) or anywhere in
    /// their stack (read from every stack input: indexing a deep
    /// compose's hundreds of layers made every compose write a page per
    /// layer, schema version 10).
    fn composes_using(&self, compose_id: &str) -> Result<Vec<String>>;

    /// Marks a started compose failed with the error `abandoned:
    /// {reason}`, e.g. "abandoned: its process 1234 on builder1 is gone".
    /// Like [`Registry::finish`], it fails and changes nothing when the
    /// compose is no longer started. It does not check the owner: see
    /// [`Registry::abandon_dead`] and [`Owner::liveness`].
    fn abandon(&mut self, compose_id: &str, reason: &str) -> Result<ComposeRecord> {
        self.finish(
            compose_id,
            &Outcome::Failed {
                finished_at: now(),
                error: format!("abandoned: {reason}"),
                report: None,
                packages: PackagesByArch::new(),
            },
        )
    }

    /// Abandons every started compose (of `name:stream`, or all) whose
    /// owner is provably gone, as this host sees it: a process of this
    /// host (same host name, boot ID and PID namespace) that no longer
    /// runs, or one begun on this host name before its last boot.
    /// Composes of other hosts and composes without an owner are left
    /// alone. Returns the composes abandoned, newest first.
    fn abandon_dead(&mut self, module: Option<(&str, &str)>) -> Result<Vec<ComposeRecord>> {
        let started = self.list_summaries(&ListFilter {
            name: module.map(|(name, _)| name.to_owned()),
            stream: module.map(|(_, stream)| stream.to_owned()),
            state: Some(State::Started),
            ..Default::default()
        })?;
        abandon_gone(
            started.into_iter().map(|c| (c.id, c.owner)),
            "compose",
            |id, reason| self.abandon(id, reason),
        )
    }

    /// Records a new chain, `running`, with its steps `pending`; its ID is
    /// `chain-YYYYMMDD.N` (the Nth chain of that day, from 0).
    fn create_chain(&mut self, new: &NewChain) -> Result<ChainRecord>;

    fn get_chain(&self, chain_id: &str) -> Result<Option<ChainRecord>>;

    /// Chains, newest first, with their steps.
    fn list_chains(&self, limit: Option<usize>) -> Result<Vec<ChainRecord>>;

    /// Records where step `position` of a chain stands (and the compose it
    /// made, the excuse or the failure).
    fn update_step(
        &mut self,
        chain_id: &str,
        position: usize,
        update: &StepUpdate<'_>,
    ) -> Result<()>;

    /// Approves the step of `module` (`name:stream`), which must not have
    /// run yet.
    fn approve_step(&mut self, chain_id: &str, module: &str, by: &str, at: i64) -> Result<()>;

    /// Sets a chain's state; `owner` takes the chain over (resume). An
    /// ending state releases the chain's stream locks.
    fn set_chain_state(
        &mut self,
        chain_id: &str,
        state: ChainState,
        owner: Option<&Owner>,
        at: i64,
    ) -> Result<()>;

    /// Takes the lock of a stream for a chain, unless another chain that
    /// may still run holds it (one whose process is provably gone, or that
    /// ended, loses it): two chains never recompose one stream at once.
    fn lock_stream(
        &mut self,
        name: &str,
        stream: &str,
        chain_id: &str,
        now: i64,
    ) -> Result<StreamLock>;

    fn unlock_stream(&mut self, name: &str, stream: &str, chain_id: &str) -> Result<()>;

    /// The chain that made a compose, with its cause, and how each test
    /// it was begun with went.
    fn compose_chain_info(&self, compose_id: &str) -> Result<ComposeChainInfo>;

    /// Removes the records `policy` does not keep ([`prune::plan`]), in
    /// one transaction that holds off new composes, and returns the plan;
    /// with `dry_run`, removes nothing. The caller deletes published
    /// directories, if it wants to, after this returns.
    fn prune(&mut self, policy: &PrunePolicy, dry_run: bool) -> Result<PrunePlan>;

    /// The fingerprint digest stored when a compose finished
    /// ([`fingerprint_digest`]); `None` for a compose that did not finish
    /// or was recorded before schema version 6 (recompute it from the
    /// record: [`record_fingerprint`]).
    fn fingerprint(&self, compose_id: &str) -> Result<Option<String>>;

    /// Queues a chain event (JSON, as `strata impact --json` prints one)
    /// submitted at `at` (unix seconds) for a later chain to take
    /// ([`NewChain::consumes`]). Bounded: [`MAX_PENDING_EVENTS`] queued,
    /// [`MAX_EVENT_BYTES`] each.
    fn submit_event(&mut self, event: &serde_json::Value, at: i64) -> Result<PendingEvent>;

    /// The queued events, oldest first.
    fn pending_events(&self) -> Result<Vec<PendingEvent>>;

    /// Records a release compose as started (schema version 7). Its ID is
    /// productmd's, with the release name and version where a module
    /// compose has the module name and stream, and no compose or release
    /// compose of this registry has it.
    fn begin_release(&mut self, new: &NewRelease) -> Result<ReleaseRecord>;

    /// Records how a started release compose ended; like
    /// [`Registry::finish`], once.
    fn finish_release(
        &mut self,
        release_id: &str,
        outcome: &ReleaseOutcome,
    ) -> Result<ReleaseRecord>;

    fn get_release(&self, release_id: &str) -> Result<Option<ReleaseRecord>>;

    /// Release composes, newest first.
    fn list_releases(&self, limit: Option<usize>) -> Result<Vec<ReleaseRecord>>;

    /// The release composes still `started` (running, or dead and not
    /// yet abandoned), newest first.
    fn started_releases(&self) -> Result<Vec<ReleaseRecord>>;

    /// Marks a started release compose failed with the error `abandoned:
    /// {reason}`, as [`Registry::abandon`] does a compose; it does not
    /// check the owner (see [`Registry::abandon_dead_releases`]).
    fn abandon_release(&mut self, release_id: &str, reason: &str) -> Result<ReleaseRecord> {
        self.finish_release(
            release_id,
            &ReleaseOutcome::Failed {
                finished_at: now(),
                error: format!("abandoned: {reason}"),
            },
        )
    }

    /// Abandons every started release compose whose owner is provably
    /// gone, as [`Registry::abandon_dead`] does composes (the same rules:
    /// [`Owner::liveness`]). Returns those abandoned, newest first.
    fn abandon_dead_releases(&mut self) -> Result<Vec<ReleaseRecord>> {
        let started = self.started_releases()?;
        abandon_gone(
            started.into_iter().map(|r| (r.id, r.owner)),
            "release compose",
            |id, reason| self.abandon_release(id, reason),
        )
    }

    /// Takes the queued events `seqs` off the queue without a chain (events
    /// that cannot be planned); all or none: one not queued is
    /// [`RegistryError::EventNotQueued`] and nothing is removed. Gives
    /// what was removed.
    fn drop_events(&mut self, seqs: &[i64]) -> Result<Vec<PendingEvent>>;
}

/// Abandons, with `abandon`, each started record (ID and owner) whose
/// owner is provably gone as this host sees it ([`Owner::liveness`]);
/// records of other hosts and without an owner are left alone, and one
/// another sweep ended first is skipped. What the sweeps of composes and
/// of release composes share.
fn abandon_gone<T>(
    started: impl IntoIterator<Item = (String, Option<Owner>)>,
    what: &str,
    mut abandon: impl FnMut(&str, &str) -> Result<T>,
) -> Result<Vec<T>> {
    let here = Owner::current();
    let mut abandoned = Vec::new();
    for (id, owner) in started {
        let Some(owner) = owner else { continue };
        if let Liveness::Gone(reason) = owner.liveness(here.as_ref()) {
            match abandon(&id, &reason) {
                Ok(record) => {
                    tracing::warn!(compose_id = %id, %reason, "{what} abandoned");
                    abandoned.push(record);
                }
                // Another sweep got there first.
                Err(RegistryError::NotStarted { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(abandoned)
}

/// Now, in unix seconds.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
