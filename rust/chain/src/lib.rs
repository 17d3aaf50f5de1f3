//! Chained recomposes: what a change affects, in which order, and what is
//! left alone and why.
//!
//! The graph and the plan (`graph`, `stale`, `event`) do no I/O: the
//! caller (the CLI, the Python bindings, the Koji hub plugin) loads the
//! catalog (`catalog` parses it, `load` reads it, `scm` fetches its SCM
//! entries into a bounded clone cache), finds the modules an event makes
//! stale directly (by selecting against the current inputs and comparing
//! with the last good compose's record; see [`Why`]), and hands both to
//! [`plan`]. The plan adds every module above a recomposed one (its input
//! compose changes), orders the steps bottom-up with what each waits for,
//! and applies the policy: first matching rule, trigger, events. Keeping it
//! pure makes the same plan come out of
//! `strata impact`, `strata chain run` and the Koji `moduleChain` task.

mod artifact;
mod catalog;
mod event;
mod graph;
mod impact;
mod load;
mod picture;
mod process;
pub mod queue;
mod run;
mod scm;
mod show;
mod stale;

pub use catalog::{
    resolve as resolve_catalog, Catalog, CatalogEntry, CatalogError, ScmEntry,
    MAX_CATALOG_DEFINITIONS,
};
pub use event::{events_of, Event, EventError};
pub use graph::{
    order as dependency_order, plan, plan_artifacts, CatalogArtifact, CatalogModule, ChainError,
    LeftAlone, NevraChange, NodeKind, Plan, Step, Why,
};
pub use impact::{impact, Impact, ImpactError, ImpactOptions};
pub use load::{
    load_catalog, load_catalog_all, load_watched, locate_in_release, scm_cache,
    CatalogArtifactDefinition, CatalogDefinition, LoadedCatalog, ReleaseEntry, Watched,
};
pub use picture::{impact_dot, svg, tree_dot, PictureError};
pub use run::{
    compose_step, run as run_chain, run_with as run_chain_with, start as start_chain,
    start_consuming, OpenRegistry, RunError, RunOptions, StepCall, StepEnd, StepRunner,
    DEFAULT_TEST_TIMEOUT,
};
pub use scm::{ScmCache, ScmError, ScmFile, ScmLimits, DEFAULT_SCM_MAX_BYTES, DEFAULT_SCM_TIMEOUT};
pub use show::chain_json;
pub use stale::{stale_reasons, Fingerprint};
