//! Running a chain: the plan's steps bottom-up, independent ones in
//! parallel (the policy's `parallel`), each step's state in the registry
//! as it changes, so that a chain killed at any point resumes where it
//! stopped ([`run`] on the chain's ID again).
//!
//! A step composes with [`compose_in_chain_if_changed`]: its record names
//! the chain and the cause, and a step whose inputs did not change reuses
//! the last good compose. Before composing a step takes its stream's lock
//! in the registry and waits while another live chain holds it; once it
//! has the lock, the content comparison finds the other chain's compose
//! and reuses it: two chains never both recompose one stream.
//!
//! Resuming after a kill: a step that finished its compose but was not
//! marked done finds its compose ID in the step (recorded just before
//! publishing), so the compose is not made again; its tests are run again
//! (a test run again replaces its result). A compose begun but not
//! published was left `started`: the next compose of the stream marks it
//! failed, as for any compose whose process died.
//!
//! An artifact step (after the stacks it installs) builds the artifact
//! with [`compose_artifact`], its record naming the chain and the cause
//! as a module's does; when its last good compose already used the last
//! good compose of every stack it installs, that compose is reused. Its
//! compose ID is recorded on the step as soon as the compose begins (an
//! artifact's build is long), so a resume finds it: finished, it is the
//! step's compose; begun and dead, the artifact is built again (the
//! abandoned record is marked failed as any dead compose is).
//!
//! A failed step's dependents follow the failed step's `on_failure`:
//! `use-last-good` composes them on the failed module's last good compose
//! (the step's reason says so), `stop-dependents` skips them. A step of a
//! module whose rule says `trigger: approve` waits until approved; the
//! chain then goes on with what does not depend on it, and ends
//! `waiting` when nothing else can run.

use crate::artifact::artifact_staleness;
use crate::event::Event;
use crate::graph::{NodeKind, Step};
use crate::impact::Impact;
use crate::load::{CatalogArtifactDefinition, CatalogDefinition, Watched};
use crate::process::{run_bounded, NotRun};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;
use strata_compose::{
    compose_artifact, compose_in_chain_if_changed, error_chain, now, ArtifactRequest, ComposeError,
    ComposeRequest, Config, IfChanged, InChain, Interrupt, Progress, DEFAULT_TOOL_LIMIT,
};
use strata_model::{OnFailure, TestContext, Trigger};
use strata_registry::{
    ChainCause, ChainRecord, ChainState, ComposeType, Liveness, NewChain, Owner, Registry,
    RegistryError, State, StepState, StepUpdate, StreamLock,
};

/// How long a test command may run unless the caller says.
pub const DEFAULT_TEST_TIMEOUT: Duration = Duration::from_secs(3600);
/// The most of a test's output kept (stdout and stderr each).
const TEST_OUTPUT_CAP: u64 = 64 * 1024;
/// How often a step waiting for another chain's stream lock looks again.
const LOCK_POLL: Duration = Duration::from_millis(250);

/// Opens a registry connection: each step that runs in parallel has its
/// own.
pub type OpenRegistry<'a> = &'a (dyn Fn() -> Result<Box<dyn Registry>, Box<ComposeError>> + Sync);

/// How the steps compose.
pub struct RunOptions<'a> {
    pub out: PathBuf,
    pub cache_dir: Option<PathBuf>,
    pub compose_type: ComposeType,
    pub metadata_only: bool,
    pub test_timeout: Duration,
    /// Raised to stop the chain: running composes stop at their next safe
    /// point, and the chain is recorded `stopped` (resume continues it).
    pub interrupt: Interrupt,
    pub open_registry: OpenRegistry<'a>,
    /// Told each step's start and end, as a line for people.
    pub report: &'a (dyn Fn(&str) + Sync),
}

/// A chain that cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("cannot open the compose registry")]
    Open(#[source] Box<ComposeError>),
    #[error("no chain `{id}` in the registry")]
    NoSuchChain { id: String },
    #[error("chain `{id}` is {state} already: nothing to resume")]
    Ended { id: String, state: ChainState },
    #[error("chain `{id}` is still running ({reason}); wait for it, or stop it first")]
    StillRunning { id: String, reason: String },
    #[error("chain `{id}` records a plan this Strata cannot read")]
    Plan {
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("chain `{id}`: {module} is not in the catalog any more ([chain] catalog)")]
    NotInCatalog { id: String, module: String },
    #[error(
        "queued event {seq} was taken by another chain meanwhile (another `strata chain run \
         --pending` at the same time); nothing was recorded here"
    )]
    Taken { seq: i64 },
    #[error("chain `{id}` has no step {position} composing {module}")]
    NoSuchStep {
        id: String,
        position: usize,
        module: String,
    },
}

/// Records a chain for `impact`'s plan; `None` when the plan is empty
/// (nothing to recompose: no chain is recorded).
pub fn start(
    impact: &Impact,
    registry: &mut dyn Registry,
) -> Result<Option<ChainRecord>, RunError> {
    if impact.plan.steps.is_empty() {
        return Ok(None);
    }
    Ok(Some(record_chain(impact, &[], registry)?))
}

/// Records a chain for `impact`'s plan that takes the queued events
/// `consumes` off the queue in the same transaction (see
/// [`crate::queue`]). An empty plan is recorded too, finished at once: the
/// events were seen, and led to nothing.
pub fn start_consuming(
    impact: &Impact,
    consumes: &[i64],
    registry: &mut dyn Registry,
) -> Result<ChainRecord, RunError> {
    let chain = record_chain(impact, consumes, registry).map_err(|e| match e {
        RunError::Registry(RegistryError::EventNotQueued { seq, .. }) => RunError::Taken { seq },
        e => e,
    })?;
    if chain.steps.is_empty() {
        let at = strata_compose::compose_time();
        registry.set_chain_state(&chain.id, ChainState::Finished, None, at)?;
        return registry
            .get_chain(&chain.id)?
            .ok_or(RunError::NoSuchChain { id: chain.id });
    }
    Ok(chain)
}

fn record_chain(
    impact: &Impact,
    consumes: &[i64],
    registry: &mut dyn Registry,
) -> Result<ChainRecord, RunError> {
    Ok(registry.create_chain(&NewChain {
        // As compose IDs: SOURCE_DATE_EPOCH when set, so runs repeat.
        created_at: strata_compose::compose_time(),
        events: serde_json::to_value(&impact.events).expect("events serialize"),
        // Without the modules the events cannot change: at a thousand
        // modules those were most of a small chain's record.
        plan: serde_json::to_value(impact.recorded()).expect("an impact serializes"),
        steps: impact
            .plan
            .steps
            .iter()
            .map(|s| (s.name.clone(), s.stream.clone()))
            .collect(),
        owner: Owner::current(),
        consumes: consumes.to_vec(),
    })?)
}

/// What one step's thread reports.
enum Report {
    /// The compose is about to be published (its ID is known).
    Composing { position: usize, compose_id: String },
    Done {
        position: usize,
        state: StepState,
        compose_id: Option<String>,
        reason: Option<String>,
    },
}

fn key(step: &Step) -> String {
    format!("{}:{}", step.name, step.stream)
}

/// The catalog definition a step composes.
#[derive(Clone, Copy)]
enum Target<'a> {
    Module(&'a CatalogDefinition),
    /// An artifact, built for the step's stream (its arch).
    Artifact(&'a CatalogArtifactDefinition),
}

impl<'a> Target<'a> {
    /// The step's definition in `watched`, `None` when the catalog has it
    /// no more.
    fn of(step: &Step, watched: &'a Watched) -> Option<Target<'a>> {
        match step.kind {
            NodeKind::Module => watched
                .definitions
                .iter()
                .find(|d| d.definition.name == step.name && d.definition.stream == step.stream)
                .map(Target::Module),
            NodeKind::Artifact => watched
                .artifacts
                .iter()
                .find(|a| a.definition.name == step.name && a.arches.contains(&step.stream))
                .map(Target::Artifact),
        }
    }

    fn shown(&self) -> &'a str {
        match self {
            Target::Module(d) => &d.shown,
            Target::Artifact(a) => &a.shown,
        }
    }
}

/// One step a [`StepRunner`] is asked to compose: what a
/// [`compose_step`] elsewhere needs to compose it as this chain would.
#[derive(Debug, Clone)]
pub struct StepCall {
    pub chain_id: String,
    pub position: usize,
    pub name: String,
    pub stream: String,
    /// Where the definition is (the catalog's path or SCM URL as written).
    pub definition: String,
    /// What a failed module below is replaced by (policy use-last-good).
    pub excuse: Option<String>,
    /// The compose an earlier run of this step was publishing.
    pub earlier: Option<String>,
    /// Whether the step builds a module or an artifact (`name` is then
    /// the artifact's, `stream` its arch): a runner elsewhere imports
    /// each as its kind.
    pub kind: NodeKind,
}

/// How a step ended: its state (finished, failed or reused), its compose
/// and the reason shown.
pub type StepEnd = (StepState, Option<String>, Option<String>);

/// Composes a step somewhere else (a Koji `moduleCompose` subtask) and
/// waits for it; an `Err` is the step's failure, shown as its reason. It
/// is called from the chain's step threads, several at once up to the
/// policy's `parallel`.
pub type StepRunner<'a> = &'a (dyn Fn(&StepCall) -> Result<StepEnd, String> + Sync);

/// Runs (or resumes) chain `chain_id`: every step that is not done, as the
/// plan orders them. Returns the chain as recorded at the end: `finished`,
/// `failed` (a step failed), `waiting` (a step waits for approval) or
/// `stopped` (interrupted).
pub fn run(
    chain_id: &str,
    watched: &Watched,
    config: &Config,
    opts: &RunOptions<'_>,
) -> Result<ChainRecord, RunError> {
    run_with(chain_id, watched, config, opts, None)
}

/// Opens the registry and reads chain `chain_id` with the plan it recorded:
/// what [`run_with`] and [`compose_step`] both start from.
fn open_chain(
    chain_id: &str,
    opts: &RunOptions<'_>,
) -> Result<(Box<dyn Registry>, ChainRecord, Impact), RunError> {
    let registry = (opts.open_registry)().map_err(RunError::Open)?;
    let record = registry
        .get_chain(chain_id)?
        .ok_or_else(|| RunError::NoSuchChain {
            id: chain_id.to_owned(),
        })?;
    let impact: Impact =
        serde_json::from_value(record.plan.clone()).map_err(|source| RunError::Plan {
            id: chain_id.to_owned(),
            source,
        })?;
    Ok((registry, record, impact))
}

/// [`run`], with each step composed by `runner` when given (which calls
/// [`compose_step`] where it composes) instead of on a thread here: the
/// order, approvals, failure policies and records stay this function's.
pub fn run_with(
    chain_id: &str,
    watched: &Watched,
    config: &Config,
    opts: &RunOptions<'_>,
    runner: Option<StepRunner<'_>>,
) -> Result<ChainRecord, RunError> {
    let (mut registry, record, impact) = open_chain(chain_id, opts)?;
    if matches!(record.state, ChainState::Finished | ChainState::Failed) {
        return Err(RunError::Ended {
            id: chain_id.to_owned(),
            state: record.state,
        });
    }
    let here = Owner::current();
    if record.state == ChainState::Running && record.owner != here {
        if let Liveness::Running(reason) | Liveness::Unknown(reason) =
            Owner::liveness_of(record.owner.as_ref(), here.as_ref())
        {
            return Err(RunError::StillRunning {
                id: chain_id.to_owned(),
                reason,
            });
        }
    }
    let steps = &impact.plan.steps;
    let mut targets: Vec<Target<'_>> = Vec::with_capacity(steps.len());
    for step in steps {
        targets.push(
            Target::of(step, watched).ok_or_else(|| RunError::NotInCatalog {
                id: chain_id.to_owned(),
                module: key(step),
            })?,
        );
    }
    registry.set_chain_state(chain_id, ChainState::Running, here.as_ref(), now())?;
    let cause: Vec<String> = impact.events.iter().map(Event::to_string).collect();
    let cause = cause.join(", ");
    let mut state: Vec<StepState> = record.steps.iter().map(|s| s.state).collect();
    let mut compose_ids: Vec<Option<String>> =
        record.steps.iter().map(|s| s.compose_id.clone()).collect();
    // A step that was running when the chain stopped runs again.
    for (i, s) in state.iter_mut().enumerate() {
        if *s == StepState::Running {
            *s = if record.steps[i].approved_by.is_some() {
                StepState::Approved
            } else {
                StepState::Pending
            };
        }
    }
    let parallel = watched.policy.parallel.max(1);
    let (tx, rx) = mpsc::channel::<Report>();
    let mut running: BTreeSet<usize> = BTreeSet::new();
    std::thread::scope(|scope| -> Result<(), RunError> {
        loop {
            let interrupted = opts.interrupt.is_raised();
            if !interrupted {
                for (i, step) in steps.iter().enumerate() {
                    if running.len() >= parallel {
                        break;
                    }
                    if state[i].is_done() || running.contains(&i) {
                        continue;
                    }
                    if step.after.iter().any(|&a| !state[a].is_done()) {
                        continue;
                    }
                    let below_failed: Vec<usize> = step
                        .after
                        .iter()
                        .copied()
                        .filter(|&a| matches!(state[a], StepState::Failed | StepState::Skipped))
                        .collect();
                    let stop = below_failed.iter().find(|&&a| {
                        state[a] == StepState::Skipped
                            || steps[a].on_failure == OnFailure::StopDependents
                    });
                    if let Some(&a) = stop {
                        let reason = if state[a] == StepState::Skipped {
                            format!("not composed: {} below it was not composed", key(&steps[a]))
                        } else {
                            format!(
                                "not composed: {} below it failed (policy: stop-dependents)",
                                key(&steps[a])
                            )
                        };
                        (opts.report)(&format!("{}: {reason}", key(step)));
                        registry.update_step(
                            chain_id,
                            i,
                            &StepUpdate {
                                state: StepState::Skipped,
                                compose_id: None,
                                reason: Some(&reason),
                            },
                        )?;
                        state[i] = StepState::Skipped;
                        continue;
                    }
                    if step.trigger == Trigger::Approve && state[i] == StepState::Pending {
                        registry.update_step(
                            chain_id,
                            i,
                            &StepUpdate {
                                state: StepState::Waiting,
                                compose_id: None,
                                reason: Some("waiting for approval (policy: approve)"),
                            },
                        )?;
                        state[i] = StepState::Waiting;
                    }
                    if state[i] == StepState::Waiting {
                        continue;
                    }
                    // The excuse: what a failed module below is replaced by.
                    let mut excuses = Vec::new();
                    for &a in &below_failed {
                        let below = &steps[a];
                        let last = registry.latest_good_summary(&below.name, &below.stream)?;
                        excuses.push(match last {
                            Some(s) => format!(
                                "composed on {}, the last good compose of {} (its recompose \
                                 in this chain failed; policy: use-last-good)",
                                s.id,
                                key(below)
                            ),
                            None => {
                                format!("{} below it failed and has no good compose", key(below))
                            }
                        });
                    }
                    registry.update_step(
                        chain_id,
                        i,
                        &StepUpdate {
                            state: StepState::Running,
                            compose_id: None,
                            reason: None,
                        },
                    )?;
                    state[i] = StepState::Running;
                    running.insert(i);
                    (opts.report)(&format!("{}: composing", key(step)));
                    let job = StepJob {
                        chain_id,
                        position: i,
                        step,
                        target: targets[i],
                        earlier: compose_ids[i].clone(),
                        cause: &cause,
                        excuse: (!excuses.is_empty()).then(|| excuses.join("; ")),
                        config,
                        opts,
                        tx: tx.clone(),
                    };
                    match runner {
                        Some(runner) => {
                            let call = StepCall {
                                chain_id: chain_id.to_owned(),
                                position: i,
                                name: step.name.clone(),
                                stream: step.stream.clone(),
                                definition: job.target.shown().to_owned(),
                                excuse: job.excuse.clone(),
                                earlier: job.earlier.clone(),
                                kind: step.kind,
                            };
                            scope.spawn(move || job.run_elsewhere(runner, &call));
                        }
                        None => {
                            scope.spawn(move || job.run());
                        }
                    }
                }
            }
            if running.is_empty() {
                break;
            }
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Report::Composing {
                    position,
                    compose_id,
                }) => {
                    record_composing(&mut *registry, chain_id, position, &compose_id)?;
                    compose_ids[position] = Some(compose_id);
                }
                Ok(Report::Done {
                    position,
                    state: done,
                    compose_id,
                    reason,
                }) => {
                    running.remove(&position);
                    let shown = match (&compose_id, &reason) {
                        (Some(id), Some(r)) => format!("{done} {id}: {r}"),
                        (Some(id), None) => format!("{done} {id}"),
                        (None, Some(r)) => format!("{done}: {r}"),
                        (None, None) => done.to_string(),
                    };
                    (opts.report)(&format!("{}: {shown}", key(&steps[position])));
                    // Stopped by the interrupt: the step runs again on
                    // resume.
                    let done = if done == StepState::Failed && opts.interrupt.is_raised() {
                        StepState::Pending
                    } else {
                        done
                    };
                    registry.update_step(
                        chain_id,
                        position,
                        &StepUpdate {
                            state: done,
                            compose_id: compose_id.as_deref(),
                            reason: reason.as_deref(),
                        },
                    )?;
                    state[position] = done;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok(())
    })?;
    let end = if opts.interrupt.is_raised() && state.iter().any(|s| !s.is_done()) {
        ChainState::Stopped
    } else if state.iter().any(|s| !s.is_done()) {
        ChainState::Waiting
    } else if state
        .iter()
        .any(|s| matches!(s, StepState::Failed | StepState::Skipped))
    {
        ChainState::Failed
    } else {
        ChainState::Finished
    };
    registry.set_chain_state(chain_id, end, None, now())?;
    registry
        .get_chain(chain_id)?
        .ok_or_else(|| RunError::NoSuchChain {
            id: chain_id.to_owned(),
        })
}

/// Composes step `call.position` of chain `call.chain_id` here, as [`run`]
/// would on its own thread (the stream's lock, the content comparison,
/// the chain and cause in the record, the policy's tests), for a
/// [`StepRunner`] that hands steps to other machines. The chain's record
/// of the step is left to the runner's chain; the compose ID is recorded
/// on the step before publishing, so a resume finds it.
pub fn compose_step(
    call: &StepCall,
    watched: &Watched,
    config: &Config,
    opts: &RunOptions<'_>,
) -> Result<StepEnd, RunError> {
    let chain_id = call.chain_id.as_str();
    let (mut registry, _record, impact) = open_chain(chain_id, opts)?;
    let step = impact
        .plan
        .steps
        .get(call.position)
        .filter(|s| s.name == call.name && s.stream == call.stream)
        .ok_or_else(|| RunError::NoSuchStep {
            id: chain_id.to_owned(),
            position: call.position,
            module: format!("{}:{}", call.name, call.stream),
        })?;
    let target = Target::of(step, watched).ok_or_else(|| RunError::NotInCatalog {
        id: chain_id.to_owned(),
        module: key(step),
    })?;
    let cause: Vec<String> = impact.events.iter().map(Event::to_string).collect();
    let cause = cause.join(", ");
    let (tx, rx) = mpsc::channel::<Report>();
    let job = StepJob {
        chain_id,
        position: call.position,
        step,
        target,
        earlier: call.earlier.clone(),
        cause: &cause,
        excuse: call.excuse.clone(),
        config,
        opts,
        tx,
    };
    let mut end = None;
    // The compose ID is recorded on the step as the job announces it (an
    // artifact when it begins, a module before publishing), not after the
    // job: a step killed meanwhile is found by its resume.
    std::thread::scope(|scope| -> Result<(), RunError> {
        scope.spawn(move || job.run());
        // Ends when the job, the only sender, is done.
        for report in rx.iter() {
            match report {
                Report::Composing {
                    position,
                    compose_id,
                } => record_composing(&mut *registry, chain_id, position, &compose_id)?,
                Report::Done {
                    state,
                    compose_id,
                    reason,
                    ..
                } => end = Some((state, compose_id, reason)),
            }
        }
        Ok(())
    })?;
    Ok(end.expect("a step job always reports its end"))
}

/// Records the compose a running step is about to publish, so that a
/// resume finds it instead of composing again.
fn record_composing(
    registry: &mut dyn Registry,
    chain_id: &str,
    position: usize,
    compose_id: &str,
) -> Result<(), RegistryError> {
    registry.update_step(
        chain_id,
        position,
        &StepUpdate {
            state: StepState::Running,
            compose_id: Some(compose_id),
            reason: None,
        },
    )
}

/// Why a step could not run to its end; shown as the step's reason.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error("cannot open the compose registry")]
    Open(#[source] Box<ComposeError>),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Compose(Box<ComposeError>),
    #[error("interrupted while another chain recomposed the stream")]
    Interrupted,
}

/// The step's end state, its compose and its reason.
type StepOutcome = Result<(StepState, Option<String>, Option<String>), StepError>;

/// One step, on a thread of its own with a registry connection of its own.
struct StepJob<'a> {
    chain_id: &'a str,
    position: usize,
    step: &'a Step,
    target: Target<'a>,
    /// The compose an earlier run of this step was publishing.
    earlier: Option<String>,
    cause: &'a str,
    excuse: Option<String>,
    config: &'a Config,
    opts: &'a RunOptions<'a>,
    tx: mpsc::Sender<Report>,
}

/// Sends the compose ID to the chain as soon as it is known (before
/// publishing), so a resume after a kill finds it.
struct Announce<'a> {
    position: usize,
    tx: &'a mpsc::Sender<Report>,
}

impl Progress for Announce<'_> {
    fn stage(&self, _: &str) {}
    fn step(&self, _: usize, _: usize) {}
    fn about_to_publish(&self, compose_id: &str, interrupt: &Interrupt) {
        let _ = self.tx.send(Report::Composing {
            position: self.position,
            compose_id: compose_id.to_owned(),
        });
        // For tests that kill a chain with a compose staged and not
        // published, as the CLI's compose holds.
        if let Some(value) = std::env::var_os("STRATA_TEST_PAUSE_BEFORE_PUBLISH") {
            strata_compose::Hold::parse(&value).wait(interrupt);
        }
    }
    fn began(&self, compose_id: &str) {
        let _ = self.tx.send(Report::Composing {
            position: self.position,
            compose_id: compose_id.to_owned(),
        });
    }
}

impl StepJob<'_> {
    fn run(self) {
        let (state, compose_id, reason) = match self.compose() {
            Ok(done) => done,
            Err(e) => (StepState::Failed, None, Some(error_chain(&e))),
        };
        let _ = self.tx.send(Report::Done {
            position: self.position,
            state,
            compose_id,
            reason,
        });
    }

    fn run_elsewhere(self, runner: StepRunner<'_>, call: &StepCall) {
        let (state, compose_id, reason) = match runner(call) {
            // Only an end state is one: a runner cannot leave a step
            // pending or waiting behind the chain's back.
            Ok((state, id, reason))
                if matches!(
                    state,
                    StepState::Finished | StepState::Failed | StepState::Reused
                ) =>
            {
                (state, id, reason)
            }
            Ok((state, id, _)) => (
                StepState::Failed,
                id,
                Some(format!(
                    "the step's runner ended it {state}, not finished, failed or reused"
                )),
            ),
            Err(reason) => (StepState::Failed, None, Some(reason)),
        };
        let _ = self.tx.send(Report::Done {
            position: self.position,
            state,
            compose_id,
            reason,
        });
    }

    fn compose(&self) -> StepOutcome {
        let step = self.step;
        let mut registry = (self.opts.open_registry)().map_err(StepError::Open)?;
        // Another chain recomposing this stream: wait for it; its compose
        // is then found unchanged and reused.
        loop {
            match registry.lock_stream(&step.name, &step.stream, self.chain_id, now())? {
                StreamLock::Taken => break,
                StreamLock::HeldBy(_) if self.opts.interrupt.is_raised() => {
                    return Err(StepError::Interrupted)
                }
                StreamLock::HeldBy(_) => std::thread::sleep(LOCK_POLL),
            }
        }
        let result = self.compose_locked(&mut *registry);
        registry.unlock_stream(&step.name, &step.stream, self.chain_id)?;
        result
    }

    fn compose_locked(&self, registry: &mut dyn Registry) -> StepOutcome {
        let d = match self.target {
            Target::Module(d) => d,
            Target::Artifact(a) => return self.build_artifact(a, registry),
        };
        // A resumed step whose compose was published: not composed again.
        if let Some(id) = &self.earlier {
            if let Some(rec) = registry.get(id)? {
                if rec.state == State::Finished {
                    return self.tested(registry, &rec, self.excuse.clone());
                }
            }
        }
        let req = ComposeRequest {
            definition: d.path.clone(),
            out: self.opts.out.clone(),
            arches: Vec::new(),
            compose_type: self.opts.compose_type,
            metadata_only: self.opts.metadata_only,
            verify_payloads: false,
            scm_ref: d.scm_ref.clone(),
            started_at: strata_compose::compose_time(),
            cache_dir: self.opts.cache_dir.clone(),
            with_composes: Vec::new(),
            interrupt: self.opts.interrupt.clone(),
            scratch: None,
            then_exits: false,
        };
        let chain = InChain {
            cause: ChainCause {
                chain_id: self.chain_id.to_owned(),
                event: self.cause.to_owned(),
            },
            required_tests: self.step.tests.iter().map(|t| t.name.clone()).collect(),
        };
        let announce = Announce {
            position: self.position,
            tx: &self.tx,
        };
        match compose_in_chain_if_changed(&req, Some(&chain), self.config, registry, &announce)
            .map_err(|e| StepError::Compose(Box::new(e)))?
        {
            IfChanged::Reused(rec) => {
                let reused = "nothing it would use changed: its last good compose stands";
                Ok((
                    StepState::Reused,
                    Some(rec.id.clone()),
                    Some(match &self.excuse {
                        Some(excuse) => format!("{excuse}; {reused}"),
                        None => reused.to_owned(),
                    }),
                ))
            }
            IfChanged::Composed(res) if res.published() => {
                self.tested(registry, &res.record, self.excuse.clone())
            }
            IfChanged::Composed(res) => Ok((
                StepState::Failed,
                Some(res.record.id.clone()),
                Some(
                    res.record
                        .error
                        .clone()
                        .unwrap_or_else(|| "repoclosure failed".into()),
                ),
            )),
        }
    }

    /// Builds the artifact of an artifact step, or reuses its last good
    /// compose when that used the last good compose of every stack it
    /// installs (a resumed step, or another chain built it meanwhile).
    fn build_artifact(
        &self,
        a: &CatalogArtifactDefinition,
        registry: &mut dyn Registry,
    ) -> StepOutcome {
        let arch = &self.step.stream;
        // A resumed step whose compose was published: not built again.
        if let Some(id) = &self.earlier {
            if let Some(rec) = registry.get(id)? {
                if rec.state == State::Finished {
                    return Ok((StepState::Finished, Some(rec.id), self.excuse.clone()));
                }
            }
        }
        if let (Some(last), why) = artifact_staleness(a, arch, &*registry)? {
            if why.is_empty() {
                let reused = "nothing it would use changed: its last good compose stands";
                return Ok((
                    StepState::Reused,
                    Some(last),
                    Some(match &self.excuse {
                        Some(excuse) => format!("{excuse}; {reused}"),
                        None => reused.to_owned(),
                    }),
                ));
            }
        }
        let req = ArtifactRequest {
            definition: a.path.clone(),
            out: self.opts.out.clone(),
            arch: Some(arch.clone()),
            compose_type: self.opts.compose_type,
            scm_ref: a.scm_ref.clone(),
            started_at: strata_compose::compose_time(),
            with_composes: Vec::new(),
            interrupt: self.opts.interrupt.clone(),
            tool_limit: DEFAULT_TOOL_LIMIT,
            chain: Some(ChainCause {
                chain_id: self.chain_id.to_owned(),
                event: self.cause.to_owned(),
            }),
        };
        let announce = Announce {
            position: self.position,
            tx: &self.tx,
        };
        let rec = compose_artifact(&req, self.config, registry, &announce)
            .map_err(|e| StepError::Compose(Box::new(e)))?;
        Ok((StepState::Finished, Some(rec.id), self.excuse.clone()))
    }

    /// Runs the step's tests on its compose and records each; the step
    /// failed when one did.
    fn tested(
        &self,
        registry: &mut dyn Registry,
        rec: &strata_registry::ComposeRecord,
        excuse: Option<String>,
    ) -> StepOutcome {
        let repo = rec
            .outputs
            .as_ref()
            .and_then(|o| o.repos.values().next())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let dir = rec
            .outputs
            .as_ref()
            .map(|o| o.path.display().to_string())
            .unwrap_or_default();
        let mut failed = Vec::new();
        for test in &self.step.tests {
            let argv = test.command(&TestContext {
                repo: &repo,
                compose_id: &rec.id,
                compose_dir: &dir,
                module: &rec.name,
                stream: &rec.stream,
            });
            let Some((program, args)) = argv.split_first() else {
                continue;
            };
            let (passed, output) = match run_bounded(
                Command::new(program).args(args),
                self.opts.test_timeout,
                [TEST_OUTPUT_CAP, TEST_OUTPUT_CAP],
            ) {
                Ok(ran) => {
                    let mut text = String::from_utf8_lossy(&ran.stdout).into_owned();
                    text.push_str(&String::from_utf8_lossy(&ran.stderr));
                    (ran.status.success(), text)
                }
                Err(NotRun::Spawn(e)) => (false, format!("cannot run `{program}`: {e}")),
                Err(NotRun::Timeout) => (
                    false,
                    format!(
                        "stopped after {} s (the test time limit)",
                        self.opts.test_timeout.as_secs()
                    ),
                ),
            };
            registry.record_test(&rec.id, &test.name, passed, now(), &output)?;
            if !passed {
                let last = output.lines().last().unwrap_or("").trim();
                failed.push(format!("test {} failed: {last}", test.name));
            }
        }
        if failed.is_empty() {
            Ok((StepState::Finished, Some(rec.id.clone()), excuse))
        } else {
            Ok((
                StepState::Failed,
                Some(rec.id.clone()),
                Some(failed.join("; ")),
            ))
        }
    }
}
