//! Bindings for chained recomposes: `impact` (the plan, as `strata impact`
//! gives it) and `run_chain` (as `strata chain run|resume`), with typed
//! results; the work is in strata-chain.

use crate::compose::compose_err;
use crate::convert::{to_py, typed_data_class};
use crate::exceptions::StrataError;
use pyo3::create_exception;
use pyo3::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use strata_chain::{
    load_watched, scm_cache, Event, ImpactOptions, OpenRegistry, RunOptions, StepCall, StepEnd,
    Watched,
};
use strata_compose::{error_chain, open_registry, Config, Interrupt, Quiet};
use strata_registry::StepState;

create_exception!(
    strata,
    ChainError,
    StrataError,
    "An impact or a chain that cannot be computed or run: a bad catalog, \
     policy or event, a cycle, an unknown compose, tag or chain."
);

fn chain_err(e: &dyn std::error::Error) -> PyErr {
    ChainError::new_err(error_chain(e))
}

typed_data_class!(
    /// One recompose of a plan.
    PlanStep(strata_chain::Step) {
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    #[getter]
    fn stream(&self) -> &str {
        &self.inner.stream
    }
    /// Why it is recomposed, one line each, as `strata impact` shows.
    #[getter]
    fn why(&self) -> Vec<String> {
        self.inner.why.iter().map(ToString::to_string).collect()
    }
    /// The steps (indices into `Impact.steps`) it waits for.
    #[getter]
    fn after(&self) -> Vec<usize> {
        self.inner.after.clone()
    }
    /// `auto` or `approve`.
    #[getter]
    fn trigger(&self) -> &'static str {
        self.inner.trigger.as_str()
    }
    /// `use-last-good` or `stop-dependents`.
    #[getter]
    fn on_failure(&self) -> &'static str {
        self.inner.on_failure.as_str()
    }
    /// The names of the tests its new compose must pass.
    #[getter]
    fn tests(&self) -> Vec<String> {
        self.inner.tests.iter().map(|t| t.name.clone()).collect()
    }
    /// `module`, or `artifact` (then `name` is the artifact's and `stream`
    /// the arch it is built for).
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner.kind {
            strata_chain::NodeKind::Module => "module",
            strata_chain::NodeKind::Artifact => "artifact",
        }
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.PlanStep {} {}:{}>",
            self.kind(),
            self.inner.name,
            self.inner.stream
        )
    }
});

typed_data_class!(
    /// What events affect: the ordered plan and why everything else is
    /// left alone (`strata impact --json` is its `to_json()`).
    Impact(strata_chain::Impact) {
    /// The events, as recorded as a compose's cause (`build NVR`).
    #[getter]
    fn events(&self) -> Vec<String> {
        self.inner.events.iter().map(ToString::to_string).collect()
    }
    /// Bottom-up.
    #[getter]
    fn steps(&self) -> Vec<PlanStep> {
        self.inner.plan.steps.iter().cloned().map(PlanStep::new).collect()
    }
    /// `name:stream` → why it is not recomposed ("up to date", "policy:
    /// manual", …).
    #[getter]
    fn left_alone(&self) -> BTreeMap<String, String> {
        self.inner
            .plan
            .left_alone
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect()
    }
    /// `name:stream` → its last good compose now (None: none yet).
    #[getter]
    fn last_good(&self) -> BTreeMap<String, Option<String>> {
        self.inner.last_good.clone()
    }
    /// `name:arch` → kind (`container`, `ostree`, `iso`) of every artifact
    /// in the plan or left alone; every other node is a module.
    #[getter]
    fn artifacts(&self) -> BTreeMap<String, String> {
        self.inner.artifacts.clone()
    }
    /// The plan as `strata impact` prints it.
    fn to_text(&self) -> String {
        self.inner.to_text()
    }
    fn __repr__(&self) -> String {
        format!("<strata.Impact {} steps>", self.inner.plan.steps.len())
    }
});

typed_data_class!(
    /// One step of a recorded chain.
    ChainStep(strata_registry::ChainStep) {
    /// Its index in the plan.
    #[getter]
    fn position(&self) -> usize {
        self.inner.position
    }
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    #[getter]
    fn stream(&self) -> &str {
        &self.inner.stream
    }
    /// `pending`, `waiting`, `approved`, `running`, `finished`, `failed`,
    /// `reused` or `skipped`.
    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state.as_str()
    }
    /// The compose it made or reused.
    #[getter]
    fn compose_id(&self) -> Option<&str> {
        self.inner.compose_id.as_deref()
    }
    /// The excuse (built on a last good compose) or the failure.
    #[getter]
    fn reason(&self) -> Option<&str> {
        self.inner.reason.as_deref()
    }
    #[getter]
    fn approved_by(&self) -> Option<&str> {
        self.inner.approved_by.as_deref()
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.ChainStep {}:{} {}>",
            self.inner.name,
            self.inner.stream,
            self.inner.state.as_str()
        )
    }
});

typed_data_class!(
    /// A chain as the registry records it (`strata chain show --json`).
    Chain(strata_registry::ChainRecord) {
    /// `chain-YYYYMMDD.N`.
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }
    /// `running`, `waiting`, `finished`, `failed` or `stopped`.
    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state.as_str()
    }
    /// Unix seconds.
    #[getter]
    fn created_at(&self) -> i64 {
        self.inner.created_at
    }
    #[getter]
    fn finished_at(&self) -> Option<i64> {
        self.inner.finished_at
    }
    #[getter]
    fn steps(&self) -> Vec<ChainStep> {
        self.inner.steps.iter().cloned().map(ChainStep::new).collect()
    }
    /// The plan it runs (its steps' kinds, why each is in it, what was
    /// left alone); None when this Strata cannot read the recorded plan.
    #[getter]
    fn impact(&self) -> Option<Impact> {
        serde_json::from_value(self.inner.plan.clone())
            .ok()
            .map(Impact::new)
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.Chain {} {}>",
            self.inner.id,
            self.inner.state.as_str()
        )
    }
});

/// Events from keyword arguments, as the CLI's options.
fn events(
    builds: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    repos: Option<Vec<String>>,
    composes: Option<Vec<String>>,
    definitions: Option<Vec<String>>,
) -> Vec<Event> {
    strata_chain::events_of(
        builds.unwrap_or_default(),
        tags.unwrap_or_default(),
        repos.unwrap_or_default(),
        composes.unwrap_or_default(),
        definitions.unwrap_or_default(),
    )
}

fn setup(
    config: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    use_cache: bool,
) -> PyResult<(Config, Option<PathBuf>, Watched)> {
    let config = Config::load(config.as_deref()).map_err(compose_err)?;
    config.apply();
    let cache_dir = use_cache
        .then(|| config.cache_dir(cache_dir.as_deref()))
        .flatten();
    let scm = scm_cache(&config, cache_dir.as_deref()).map_err(|e| chain_err(&e))?;
    let watched = load_watched(&config, &scm).map_err(|e| chain_err(&e))?;
    Ok((config, cache_dir, watched))
}

fn find(
    events: &[Event],
    watched: &Watched,
    config: &Config,
    registry: &dyn strata_registry::Registry,
    cache_dir: Option<&std::path::Path>,
) -> PyResult<strata_chain::Impact> {
    let interrupt = Interrupt::new();
    strata_chain::impact(
        events,
        watched,
        config,
        registry,
        &ImpactOptions {
            cache_dir,
            interrupt: &interrupt,
            progress: &Quiet,
        },
    )
    .map_err(|e| chain_err(&e))
}

/// What the events make stale in the configured catalog (`[chain]`), and
/// the ordered plan; composes nothing. Raises ChainError.
#[pyfunction]
#[pyo3(signature = (*, builds=None, tags=None, repos=None, composes=None, definitions=None,
    config=None, registry=None, cache_dir=None, use_cache=true))]
#[allow(clippy::too_many_arguments)]
pub fn impact(
    py: Python<'_>,
    builds: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    repos: Option<Vec<String>>,
    composes: Option<Vec<String>>,
    definitions: Option<Vec<String>>,
    config: Option<PathBuf>,
    registry: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    use_cache: bool,
) -> PyResult<Impact> {
    let events = events(builds, tags, repos, composes, definitions);
    let (config, cache_dir, watched) = setup(config, cache_dir, use_cache)?;
    let reg =
        strata_compose::open_registry_read_only(registry.as_ref().map(|r| r.as_os_str()), &config)
            .map_err(compose_err)?;
    let (events, watched, config) = (&events, &watched, &config);
    let found = py.allow_threads(move || {
        find(events, watched, config, &*reg, cache_dir.as_deref()).map_err(|e| e.to_string())
    });
    found.map(Impact::new).map_err(ChainError::new_err)
}

/// Runs a chain for the events (or for `plan`, an `Impact`), or resumes
/// chain `resume`; returns the chain as recorded at its end, or None when
/// nothing is stale (no chain is recorded). Raises ChainError.
#[pyfunction]
#[pyo3(signature = (*, builds=None, tags=None, repos=None, composes=None, definitions=None,
    plan=None, resume=None, out=None, config=None, registry=None, compose_type="nightly",
    metadata_only=false, test_timeout=3600, cache_dir=None, use_cache=true, step_runner=None))]
#[allow(clippy::too_many_arguments)]
pub fn run_chain(
    py: Python<'_>,
    builds: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    repos: Option<Vec<String>>,
    composes: Option<Vec<String>>,
    definitions: Option<Vec<String>>,
    plan: Option<PyRef<'_, Impact>>,
    resume: Option<String>,
    out: Option<PathBuf>,
    config: Option<PathBuf>,
    registry: Option<PathBuf>,
    compose_type: &str,
    metadata_only: bool,
    test_timeout: u64,
    cache_dir: Option<PathBuf>,
    use_cache: bool,
    step_runner: Option<PyObject>,
) -> PyResult<Option<Chain>> {
    let events = events(builds, tags, repos, composes, definitions);
    let (config, cache_dir, watched) = setup(config, cache_dir, use_cache)?;
    let (out, compose_type) = out_and_type(&config, out, compose_type)?;
    let location = registry.map(PathBuf::into_os_string);
    let open = || open_registry(location.as_deref(), &config).map_err(Box::new);
    let mut reg = open().map_err(|e| compose_err(*e))?;
    let plan = plan.map(|p| p.inner.clone());
    let chain_id = match resume {
        Some(id) => id,
        None => {
            let found = match plan {
                Some(p) => p,
                None => {
                    let (events, watched, config, cache) =
                        (&events, &watched, &config, cache_dir.as_deref());
                    let (found, back) = py.allow_threads(move || {
                        let found =
                            find(events, watched, config, &*reg, cache).map_err(|e| e.to_string());
                        (found, reg)
                    });
                    reg = back;
                    found.map_err(ChainError::new_err)?
                }
            };
            match strata_chain::start_chain(&found, &mut *reg).map_err(|e| chain_err(&e))? {
                Some(chain) => chain.id,
                None => return Ok(None),
            }
        }
    };
    drop(reg);
    // Ctrl-C (or kojid's SIGTERM) stops the chain at its next safe point,
    // where the running compose is recorded failed and the chain stopped,
    // so `run_chain(resume=...)` continues it; the exception is then
    // raised again.
    let interrupt = Interrupt::new();
    let stop = interrupt.clone();
    let ran = crate::compose::run_interruptible(py, interrupt.clone(), move || {
        // Each step thread takes the GIL only to call the runner.
        let runner = step_runner.map(|callable| {
            move |call: &StepCall| -> Result<StepEnd, String> {
                Python::with_gil(|py| call_runner(py, &callable, call))
            }
        });
        let runner_ref = runner
            .as_ref()
            .map(|r| r as &(dyn Fn(&StepCall) -> Result<StepEnd, String> + Sync));
        let open = || open_registry(location.as_deref(), &config).map_err(Box::new);
        let mut opts = run_options(
            out,
            cache_dir,
            compose_type,
            metadata_only,
            test_timeout,
            &open,
        );
        opts.interrupt = stop;
        strata_chain::run_chain_with(&chain_id, &watched, &config, &opts, runner_ref)
            .map_err(|e| error_chain(&e))
    })?;
    ran.map(|c| Some(Chain::new(c)))
        .map_err(ChainError::new_err)
}

/// Where a chain's composes go (`out`, else `[compose] out`) and their
/// compose type.
fn out_and_type(
    config: &Config,
    out: Option<PathBuf>,
    compose_type: &str,
) -> PyResult<(PathBuf, strata_registry::ComposeType)> {
    let out = out
        .or_else(|| config.compose.out.clone())
        .ok_or_else(|| compose_err(strata_compose::ComposeError::NoOut))?;
    let compose_type = compose_type
        .parse()
        .map_err(|e: strata_registry::UnknownName| ChainError::new_err(e.to_string()))?;
    Ok((out, compose_type))
}

fn run_options<'a>(
    out: PathBuf,
    cache_dir: Option<PathBuf>,
    compose_type: strata_registry::ComposeType,
    metadata_only: bool,
    test_timeout: u64,
    open: OpenRegistry<'a>,
) -> RunOptions<'a> {
    RunOptions {
        out,
        cache_dir,
        compose_type,
        metadata_only,
        test_timeout: Duration::from_secs(test_timeout),
        interrupt: Interrupt::new(),
        open_registry: open,
        report: &|line| tracing::info!("{line}"),
    }
}

/// Calls a Python step runner with the step as a dict; it returns a dict
/// {state, compose_id, reason}. An exception it raises fails the step,
/// with the exception as the reason.
fn call_runner(py: Python<'_>, callable: &PyObject, call: &StepCall) -> Result<StepEnd, String> {
    let arg = pyo3::types::PyDict::new(py);
    let filled = (|| -> PyResult<()> {
        arg.set_item("chain_id", &call.chain_id)?;
        arg.set_item("position", call.position)?;
        arg.set_item("name", &call.name)?;
        arg.set_item("stream", &call.stream)?;
        arg.set_item("definition", &call.definition)?;
        arg.set_item("excuse", &call.excuse)?;
        arg.set_item("earlier", &call.earlier)?;
        arg.set_item(
            "kind",
            match call.kind {
                strata_chain::NodeKind::Module => "module",
                strata_chain::NodeKind::Artifact => "artifact",
            },
        )?;
        Ok(())
    })();
    let ended = filled.and_then(|()| {
        let got = callable.call1(py, (arg,))?;
        let got = got.bind(py);
        let state: String = got.get_item("state")?.extract()?;
        let compose_id: Option<String> = got.get_item("compose_id")?.extract()?;
        let reason: Option<String> = got.get_item("reason")?.extract()?;
        Ok((state, compose_id, reason))
    });
    let (state, compose_id, reason) = ended.map_err(|e| format!("the step runner failed: {e}"))?;
    let state: StepState = state
        .parse()
        .map_err(|e| format!("the step runner returned {e}"))?;
    Ok((state, compose_id, reason))
}

/// Composes one step of a recorded chain here, as `run_chain` would on its
/// own thread: what a `step_runner` elsewhere (a Koji `moduleCompose`
/// subtask) calls. Returns {state, compose_id, reason}. Raises ChainError
/// when the chain or its step cannot be read.
#[pyfunction]
#[pyo3(signature = (chain_id, position, name, stream, *, excuse=None, earlier=None, out=None,
    config=None, registry=None, compose_type="nightly", metadata_only=false, test_timeout=3600,
    cache_dir=None, use_cache=true))]
#[allow(clippy::too_many_arguments)]
pub fn compose_chain_step(
    py: Python<'_>,
    chain_id: String,
    position: usize,
    name: String,
    stream: String,
    excuse: Option<String>,
    earlier: Option<String>,
    out: Option<PathBuf>,
    config: Option<PathBuf>,
    registry: Option<PathBuf>,
    compose_type: &str,
    metadata_only: bool,
    test_timeout: u64,
    cache_dir: Option<PathBuf>,
    use_cache: bool,
) -> PyResult<BTreeMap<&'static str, Option<String>>> {
    let (config, cache_dir, watched) = setup(config, cache_dir, use_cache)?;
    let (out, compose_type) = out_and_type(&config, out, compose_type)?;
    let location = registry.map(PathBuf::into_os_string);
    let open = || open_registry(location.as_deref(), &config).map_err(Box::new);
    let call = StepCall {
        chain_id,
        position,
        name,
        stream,
        definition: String::new(),
        excuse,
        earlier,
        // compose_step reads the kind from the chain's recorded plan.
        kind: strata_chain::NodeKind::Module,
    };
    let ended = py.allow_threads(|| {
        strata_chain::compose_step(
            &call,
            &watched,
            &config,
            &run_options(
                out,
                cache_dir,
                compose_type,
                metadata_only,
                test_timeout,
                &open,
            ),
        )
        .map_err(|e| error_chain(&e))
    });
    let (state, compose_id, reason) = ended.map_err(ChainError::new_err)?;
    Ok(BTreeMap::from([
        ("state", Some(state.as_str().to_owned())),
        ("compose_id", compose_id),
        ("reason", reason),
    ]))
}

/// Approves the waiting step of `module` (`name:stream`) of a chain;
/// `run_chain(resume=chain_id)` then composes it.
#[pyfunction]
#[pyo3(signature = (chain_id, module, *, by, config=None, registry=None))]
pub fn approve_chain_step(
    chain_id: &str,
    module: &str,
    by: &str,
    config: Option<PathBuf>,
    registry: Option<PathBuf>,
) -> PyResult<()> {
    let config = Config::load(config.as_deref()).map_err(compose_err)?;
    config.apply();
    let mut reg =
        open_registry(registry.as_ref().map(|r| r.as_os_str()), &config).map_err(compose_err)?;
    reg.approve_step(chain_id, module, by, strata_compose::now())
        .map_err(|e| chain_err(&e))
}

/// Queues events for a later chain (`strata chain run --pending`, which
/// coalesces them once the policy's debounce window has passed); returns
/// their queue numbers. Raises ChainError.
#[pyfunction]
#[pyo3(signature = (*, builds=None, tags=None, repos=None, composes=None, definitions=None,
    config=None, registry=None))]
#[allow(clippy::too_many_arguments)]
pub fn submit_event(
    builds: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    repos: Option<Vec<String>>,
    composes: Option<Vec<String>>,
    definitions: Option<Vec<String>>,
    config: Option<PathBuf>,
    registry: Option<PathBuf>,
) -> PyResult<Vec<i64>> {
    let events = events(builds, tags, repos, composes, definitions);
    if events.is_empty() {
        return Err(ChainError::new_err(
            "give at least one event (builds, tags, repos, composes, definitions)",
        ));
    }
    let config = Config::load(config.as_deref()).map_err(compose_err)?;
    config.apply();
    let mut reg =
        open_registry(registry.as_ref().map(|r| r.as_os_str()), &config).map_err(compose_err)?;
    let queued = strata_chain::queue::submit(&mut *reg, &events, strata_compose::queue_now())
        .map_err(|e| ChainError::new_err(strata_compose::error_chain(&e)))?;
    Ok(queued.into_iter().map(|q| q.seq).collect())
}

/// The events queued for chains, oldest first: each `{seq, event,
/// submitted_at}` (the event as `strata impact --json` prints it). A
/// consumer looks at them before it takes them, e.g. to wait until a
/// Koji tag's repo has the queued builds. Raises ChainError.
#[pyfunction]
#[pyo3(signature = (*, config=None, registry=None))]
pub fn pending_events<'py>(
    py: Python<'py>,
    config: Option<PathBuf>,
    registry: Option<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let config = Config::load(config.as_deref()).map_err(compose_err)?;
    config.apply();
    let reg =
        strata_compose::open_registry_read_only(registry.as_ref().map(|r| r.as_os_str()), &config)
            .map_err(compose_err)?;
    let queued = reg.pending_events().map_err(|e| chain_err(&e))?;
    to_py(py, &queued)
}

/// `strata chain run --pending` up to the chain: the queued events whose
/// debounce window has passed (per group of modules they touch) as one
/// plan, recorded as a chain that consumes them in the transaction that
/// records it. Returns `(chain, until, unplannable)`: `chain` when it
/// recorded one (run it with `run_chain(resume=chain.id)`; a plan with no
/// step is recorded finished), else None; `until` (unix seconds) when
/// queued events still wait for their window (the earliest end), else
/// None; `unplannable`, a line for each queued event left queued that
/// `until` does not cover: one that cannot be planned (`strata chain
/// drop`), or a build no repository of the catalog has yet (planned once
/// it is, or two hours after it was queued). `(None, None, [])`
/// when nothing is queued or another consumer took the events first.
/// Raises ChainError.
#[pyfunction]
#[pyo3(signature = (*, config=None, registry=None, cache_dir=None, use_cache=true))]
pub fn take_pending_chain(
    py: Python<'_>,
    config: Option<PathBuf>,
    registry: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    use_cache: bool,
) -> PyResult<(Option<Chain>, Option<i64>, Vec<String>)> {
    let (config, cache_dir, watched) = setup(config, cache_dir, use_cache)?;
    let mut reg =
        open_registry(registry.as_ref().map(|r| r.as_os_str()), &config).map_err(compose_err)?;
    let (watched_ref, config_ref) = (&watched, &config);
    let (taken, back) = py.allow_threads(move || {
        let interrupt = Interrupt::new();
        let taken = strata_chain::queue::take(
            &*reg,
            watched_ref,
            config_ref,
            &ImpactOptions {
                cache_dir: cache_dir.as_deref(),
                interrupt: &interrupt,
                progress: &Quiet,
            },
            strata_compose::queue_now(),
        )
        .map_err(|e| error_chain(&e));
        (taken, reg)
    });
    reg = back;
    let taken = taken.map_err(ChainError::new_err)?;
    let unplannable: Vec<String> = taken
        .unplannable
        .iter()
        .map(ToString::to_string)
        .chain(taken.awaiting_repo.iter().map(ToString::to_string))
        .collect();
    let until = taken.waiting.iter().map(|w| w.until).min();
    let Some((impact, consumes)) = taken.ready else {
        return Ok((None, until, unplannable));
    };
    match strata_chain::start_consuming(&impact, &consumes, &mut *reg) {
        Ok(chain) => Ok((Some(Chain::new(chain)), until, unplannable)),
        // Another consumer took the events between our look and our take;
        // its transaction won and ours recorded nothing.
        Err(strata_chain::RunError::Taken { .. }) => Ok((None, None, unplannable)),
        Err(e) => Err(chain_err(&e)),
    }
}

/// The chain `chain_id`, or None.
#[pyfunction]
#[pyo3(signature = (chain_id, *, config=None, registry=None))]
pub fn get_chain(
    chain_id: &str,
    config: Option<PathBuf>,
    registry: Option<PathBuf>,
) -> PyResult<Option<Chain>> {
    let config = Config::load(config.as_deref()).map_err(compose_err)?;
    config.apply();
    let reg =
        strata_compose::open_registry_read_only(registry.as_ref().map(|r| r.as_os_str()), &config)
            .map_err(compose_err)?;
    Ok(reg
        .get_chain(chain_id)
        .map_err(|e| chain_err(&e))?
        .map(Chain::new))
}
