//! Bindings for module composes and the registry: arguments in, typed
//! results and records out (`records.rs`; their `to_json()` is the
//! document `strata … --json` prints).

use crate::exceptions::{ComposeError, DefinitionError, RegistryError};
use crate::records::{
    ComposeRecord, ComposeResult as PyComposeResult, ComposeSummary, ModuleDefinition, StackTree,
};
use crate::{repodata_err, solve_err};
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;
use strata_compose::{
    compose_module as run_compose, compose_module_if_changed, compose_time, error_chain,
    open_registry, open_registry_read_only, ComposeRequest, Config, IfChanged, Interrupt,
};
use strata_registry::{ListFilter, State};

pub(crate) fn compose_err(e: strata_compose::ComposeError) -> PyErr {
    use strata_compose::ComposeError as E;
    match e {
        E::Definition(d) => {
            let problems: Vec<String> = d.problems.iter().map(|p| p.display(&d.file)).collect();
            DefinitionError::new_err((d.to_string(), problems))
        }
        E::Repodata(r) => repodata_err(r),
        E::Solve(s) => solve_err(s),
        E::Registry(r) => registry_err(r),
        // With its causes: why a record could not be written is in one.
        other => ComposeError::new_err(error_chain(&other)),
    }
}

/// The message with its causes (`…: caused by`), as the CLI prints them:
/// a database error's reason is in the cause.
pub(crate) fn registry_err(e: strata_registry::RegistryError) -> PyErr {
    RegistryError::new_err(error_chain(&e))
}

/// The configuration, with its process-wide settings (`[network]`,
/// `[repodata]`) in effect.
pub(crate) fn load_config(config: Option<PathBuf>) -> PyResult<Config> {
    let config = Config::load(config.as_deref()).map_err(compose_err)?;
    config.apply();
    Ok(config)
}

/// The registry for a function that only reads: it creates nothing (a
/// registry that does not exist is a RegistryError) and works read-only.
pub(crate) fn open_read_only(
    registry: Option<&PathBuf>,
    config: &Config,
) -> PyResult<Box<dyn strata_registry::Registry>> {
    open_registry_read_only(registry.map(|r| r.as_os_str()), config).map_err(compose_err)
}

/// Reads and checks a `strata-module` definition.
/// Raises DefinitionError (args: message, list of `file:line:col: key:
/// problem`) when it is not valid.
#[pyfunction]
pub fn validate_definition(path: PathBuf) -> PyResult<ModuleDefinition> {
    let (def, _) = strata_compose::read_definition(&path).map_err(compose_err)?;
    Ok(ModuleDefinition::new(def))
}

/// Composes one module. Returns a `ComposeResult`: `ok` is False when
/// the repoclosure gate failed (the record is then `failed` and nothing
/// was published); `report_text` is the gate's report as the CLI shows it
/// (empty when the gate passed). Other failures raise. A signal stops the
/// compose cleanly (see `run_interruptible`). `scratch`
/// (digits, a Koji task ID) makes a scratch compose, whose ID has
/// `-<label>.scratch` after the stream. `if_changed` reuses the last good
/// compose (`reused` is then True) when nothing the compose would use
/// changed: definition digest, selected packages, input composes and
/// repository checksums.
#[pyfunction]
#[pyo3(signature = (definition, out=None, *, arches=None, config=None, registry=None,
    compose_type="nightly", metadata_only=false, verify_payloads=false, scm_ref=None,
    cache_dir=None, use_cache=true, with_composes=None, scratch=None, if_changed=false))]
#[allow(clippy::too_many_arguments)]
// The compose's own error type travels back from its thread unchanged.
#[allow(clippy::result_large_err)]
pub fn compose_module(
    py: Python<'_>,
    definition: PathBuf,
    out: Option<PathBuf>,
    arches: Option<Vec<String>>,
    config: Option<PathBuf>,
    registry: Option<PathBuf>,
    compose_type: &str,
    metadata_only: bool,
    verify_payloads: bool,
    scm_ref: Option<String>,
    cache_dir: Option<PathBuf>,
    use_cache: bool,
    with_composes: Option<Vec<String>>,
    scratch: Option<String>,
    if_changed: bool,
) -> PyResult<PyComposeResult> {
    let config = load_config(config)?;
    let reg =
        open_registry(registry.as_ref().map(|r| r.as_os_str()), &config).map_err(compose_err)?;
    let out = out
        .or_else(|| config.compose.out.clone())
        .ok_or_else(|| compose_err(strata_compose::ComposeError::NoOut))?;
    let cache_dir = if use_cache {
        cache_dir
            .or_else(|| config.compose.cache_dir.clone())
            .or_else(strata_repodata::default_cache_dir)
    } else {
        None
    };
    let req = ComposeRequest {
        definition,
        out,
        arches: arches.unwrap_or_default(),
        compose_type: compose_type
            .parse()
            .map_err(|e: strata_registry::UnknownName| ComposeError::new_err(e.to_string()))?,
        metadata_only,
        verify_payloads,
        scm_ref,
        started_at: compose_time(),
        cache_dir,
        with_composes: with_composes.unwrap_or_default(),
        interrupt: Interrupt::new(),
        scratch,
        then_exits: false,
    };
    let mut reg = reg;
    let result = run_interruptible(py, req.interrupt.clone(), move || {
        let registry = &mut *reg;
        if if_changed {
            compose_module_if_changed(&req, &config, registry, &PythonProgress)
        } else {
            run_compose(&req, &config, registry, &PythonProgress)
                .map(|r| IfChanged::Composed(Box::new(r)))
        }
    })?
    .map_err(compose_err)?;
    Ok(PyComposeResult::new(result.into()))
}

/// Builds one artifact (container image, ostree commit or ISO) from the
/// last good composes of the stacks its definition names, as `strata
/// compose artifact` does; returns its record (`outputs.build_id`).
/// Failures raise, after the compose was recorded failed. Signals stop it
/// as they stop `compose_module`. `scratch` (digits, a Koji task ID) with
/// `scratch_registry` makes a scratch build: inputs from the shared
/// registry, read only; the record, whose ID has `-<label>.scratch`, in
/// `scratch_registry`.
#[pyfunction]
#[pyo3(signature = (definition, out=None, *, arch=None, config=None, registry=None,
    compose_type="nightly", scm_ref=None, with_composes=None, scratch=None, scratch_registry=None))]
#[allow(clippy::too_many_arguments)]
// The compose's own error type travels back from its thread unchanged.
#[allow(clippy::result_large_err)]
pub fn compose_artifact(
    py: Python<'_>,
    definition: PathBuf,
    out: Option<PathBuf>,
    arch: Option<String>,
    config: Option<PathBuf>,
    registry: Option<PathBuf>,
    compose_type: &str,
    scm_ref: Option<String>,
    with_composes: Option<Vec<String>>,
    scratch: Option<String>,
    scratch_registry: Option<PathBuf>,
) -> PyResult<ComposeRecord> {
    let config = load_config(config)?;
    // A scratch build reads the shared registry and records itself in a
    // registry of its own.
    let registries = match (&scratch, scratch_registry) {
        (None, None) => (
            open_registry(registry.as_ref().map(|r| r.as_os_str()), &config)
                .map_err(compose_err)?,
            None,
        ),
        (Some(_), Some(own)) => (
            open_read_only(registry.as_ref(), &config)?,
            Some(open_registry(Some(own.as_os_str()), &config).map_err(compose_err)?),
        ),
        _ => {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "scratch and scratch_registry go together: a scratch artifact is recorded \
                 in a registry of its own",
            ))
        }
    };
    let out = out
        .or_else(|| config.compose.out.clone())
        .ok_or_else(|| compose_err(strata_compose::ComposeError::NoOut))?;
    let req = strata_compose::ArtifactRequest {
        definition,
        out,
        arch,
        compose_type: compose_type
            .parse()
            .map_err(|e: strata_registry::UnknownName| ComposeError::new_err(e.to_string()))?,
        scm_ref,
        started_at: compose_time(),
        with_composes: with_composes.unwrap_or_default(),
        interrupt: Interrupt::new(),
        tool_limit: strata_compose::DEFAULT_TOOL_LIMIT,
        chain: None,
    };
    let record = run_interruptible(py, req.interrupt.clone(), move || match registries {
        (mut shared, None) => {
            strata_compose::compose_artifact(&req, &config, &mut *shared, &PythonProgress)
        }
        (shared, Some(mut own)) => strata_compose::compose_scratch_artifact(
            &req,
            scratch.as_deref().unwrap_or_default(),
            &config,
            &*shared,
            &mut *own,
            &PythonProgress,
        ),
    })?
    .map_err(compose_err)?;
    Ok(ComposeRecord::new(record))
}

/// What a compose from Python shows: nothing, but for the hold before
/// publishing that tests of signals set (`STRATA_TEST_PAUSE_BEFORE_PUBLISH`).
pub(crate) struct PythonProgress;

impl strata_compose::Progress for PythonProgress {
    fn stage(&self, _: &str) {}
    fn step(&self, _: usize, _: usize) {}
    fn about_to_publish(&self, _compose_id: &str, interrupt: &Interrupt) {
        if let Some(value) = std::env::var_os("STRATA_TEST_PAUSE_BEFORE_PUBLISH") {
            strata_compose::Hold::parse(&value).wait(interrupt);
        }
    }
}

/// How often the waiting Python thread lets Python run its signal
/// handlers: well within the 3 s kojid leaves a task between its SIGINT
/// and its SIGTERM.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Runs the compose on a thread of its own while Python's thread waits
/// without the GIL and, every [`SIGNAL_POLL`], lets Python run its signal
/// handlers (`PyErr_CheckSignals`). Python's handlers stay in charge: an
/// exception one raises (KeyboardInterrupt for SIGINT; SystemExit from
/// kojid's SIGTERM handler) stops the compose at its next safe point,
/// where it removes its staging directory and is recorded failed, and is
/// then raised again. A second signal while the compose cleans up is not
/// waited on: its exception is raised at once, the compose thread
/// finishing its cleanup on its own.
///
/// SIGINT, SIGTERM and SIGHUP that Python leaves at their default (the
/// process dies on the spot, leaving the compose `started`) are caught
/// while the compose runs (see [`CaughtSignals`]).
pub(crate) fn run_interruptible<R: Send + 'static>(
    py: Python<'_>,
    interrupt: Interrupt,
    work: impl FnOnce() -> R + Send + 'static,
) -> PyResult<R> {
    let mut caught = CaughtSignals::catch(py, &interrupt)?;
    let (tx, mut rx) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name("strata-compose".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .map_err(|e| ComposeError::new_err(format!("cannot start the compose thread: {e}")))?;
    let mut raised: Option<PyErr> = None;
    loop {
        // The receiver goes in and out: it is not Sync, so it cannot be
        // borrowed across allow_threads.
        let (received, back) = py.allow_threads(move || (rx.recv_timeout(SIGNAL_POLL), rx));
        rx = back;
        match received {
            Ok(result) => {
                let _ = worker.join();
                let resend = interrupt.signal().filter(|s| caught.had(*s));
                caught.restore(py)?;
                if let Some(e) = raised {
                    return Err(e);
                }
                if let Some(signal) = resend {
                    die_of(py, signal)?;
                }
                return Ok(result);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = py.check_signals() {
                    if interrupt.is_raised() {
                        // The second one: the user wants out now.
                        return Err(e);
                    }
                    interrupt.raise(describe_interruption(py, &e));
                    raised = Some(e);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // The thread ended without a result: it panicked.
                if let Err(panic) = worker.join() {
                    std::panic::resume_unwind(panic);
                }
                return Err(ComposeError::new_err(
                    "the compose thread ended without a result",
                ));
            }
        }
    }
}

/// What stopped the compose, for its record: `KeyboardInterrupt (SIGINT)`.
fn describe_interruption(py: Python<'_>, e: &PyErr) -> String {
    if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
        return "KeyboardInterrupt (SIGINT)".into();
    }
    let name = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an exception".into());
    format!("{name} raised by a Python signal handler")
}

/// Signals whose Python disposition is the default, caught for the length
/// of one compose so that they stop it cleanly instead of killing the
/// process mid-way: the handler (run by Python between polls) only raises
/// the interrupt. Afterwards the default is put back and the signal sent
/// again, so the process still dies of it, only after the cleanup. A
/// second one while the compose cleans up is not caught: the process dies
/// at once. Handlers can only be set from Python's main thread; elsewhere
/// nothing is caught (and Python runs no handlers for other threads).
struct CaughtSignals {
    signals: Vec<i32>,
}

impl CaughtSignals {
    fn catch(py: Python<'_>, interrupt: &Interrupt) -> PyResult<Self> {
        let mut caught = CaughtSignals {
            signals: Vec::new(),
        };
        let threading = py.import("threading")?;
        let main = threading.call_method0("main_thread")?;
        if !threading.call_method0("current_thread")?.is(&main) {
            return Ok(caught);
        }
        let signal = py.import("signal")?;
        let default = signal.getattr("SIG_DFL")?;
        let interrupt = interrupt.clone();
        let handler = PyCFunction::new_closure(
            py,
            Some(c"strata_compose_signal"),
            None,
            move |args: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
                let signum: i32 = args.get_item(0)?.extract()?;
                if interrupt.is_raised() {
                    return die_of(args.py(), signum);
                }
                interrupt.raise_signal(signum);
                Ok(())
            },
        )?;
        for name in ["SIGINT", "SIGTERM", "SIGHUP"] {
            let signum: i32 = signal.getattr(name)?.extract()?;
            if signal.call_method1("getsignal", (signum,))?.eq(&default)? {
                signal.call_method1("signal", (signum, &handler))?;
                caught.signals.push(signum);
            }
        }
        Ok(caught)
    }

    fn had(&self, signum: i32) -> bool {
        self.signals.contains(&signum)
    }

    fn restore(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.signals.is_empty() {
            return Ok(());
        }
        let signal = py.import("signal")?;
        let default = signal.getattr("SIG_DFL")?;
        for signum in std::mem::take(&mut self.signals) {
            signal.call_method1("signal", (signum, &default))?;
        }
        Ok(())
    }
}

impl Drop for CaughtSignals {
    fn drop(&mut self) {
        if !self.signals.is_empty() {
            Python::with_gil(|py| {
                if let Err(e) = self.restore(py) {
                    e.write_unraisable(py, None);
                }
            });
        }
    }
}

/// Lets signal `signum` do what it does by default (end the process).
fn die_of(py: Python<'_>, signum: i32) -> PyResult<()> {
    let signal = py.import("signal")?;
    signal.call_method1("signal", (signum, signal.getattr("SIG_DFL")?))?;
    let os = py.import("os")?;
    os.call_method1("kill", (os.call_method0("getpid")?, signum))?;
    Ok(())
}

/// Compose summaries, newest first: the records without their inputs,
/// package lists, report, timings and modulemd (`package_counts` gives the
/// number of packages per arch); `get_compose` reads one whole.
#[pyfunction]
#[pyo3(signature = (*, name=None, stream=None, state=None, limit=None, registry=None, config=None))]
pub fn list_composes(
    name: Option<String>,
    stream: Option<String>,
    state: Option<&str>,
    limit: Option<usize>,
    registry: Option<PathBuf>,
    config: Option<PathBuf>,
) -> PyResult<Vec<ComposeSummary>> {
    let config = load_config(config)?;
    let reg = open_read_only(registry.as_ref(), &config)?;
    let state = state
        .map(|s| s.parse::<State>())
        .transpose()
        .map_err(|e| RegistryError::new_err(e.to_string()))?;
    let recs = reg
        .list_summaries(&ListFilter {
            name,
            stream,
            state,
            limit,
            ..Default::default()
        })
        .map_err(registry_err)?;
    Ok(recs.into_iter().map(ComposeSummary::new).collect())
}

/// One compose record, or None.
#[pyfunction]
#[pyo3(signature = (compose_id, *, registry=None, config=None))]
pub fn get_compose(
    compose_id: &str,
    registry: Option<PathBuf>,
    config: Option<PathBuf>,
) -> PyResult<Option<ComposeRecord>> {
    let config = load_config(config)?;
    let reg = open_read_only(registry.as_ref(), &config)?;
    Ok(reg
        .get(compose_id)
        .map_err(registry_err)?
        .map(ComposeRecord::new))
}

/// The last good compose of `name:stream`, or None.
#[pyfunction]
#[pyo3(signature = (name, stream, *, registry=None, config=None))]
pub fn latest_compose(
    name: &str,
    stream: &str,
    registry: Option<PathBuf>,
    config: Option<PathBuf>,
) -> PyResult<Option<ComposeRecord>> {
    let config = load_config(config)?;
    let reg = open_read_only(registry.as_ref(), &config)?;
    Ok(reg
        .latest_good(name, stream)
        .map_err(registry_err)?
        .map(ComposeRecord::new))
}

/// The stack of a module (`strata tree`): `spec` is NAME:STREAM (its last
/// good compose, or `compose_id`) or a compose ID.
#[pyfunction]
#[pyo3(signature = (spec, *, compose_id=None, registry=None, config=None))]
pub fn stack_tree(
    spec: &str,
    compose_id: Option<String>,
    registry: Option<PathBuf>,
    config: Option<PathBuf>,
) -> PyResult<StackTree> {
    let config = load_config(config)?;
    let reg = open_read_only(registry.as_ref(), &config)?;
    let id = match (compose_id, spec.split_once(':')) {
        (Some(id), _) => id,
        (None, Some((name, stream))) => {
            reg.latest_good(name, stream)
                .map_err(registry_err)?
                .ok_or_else(|| RegistryError::new_err(format!("{spec} has no good compose")))?
                .id
        }
        (None, None) => spec.to_string(),
    };
    let rec = reg
        .get(&id)
        .map_err(registry_err)?
        .ok_or_else(|| RegistryError::new_err(format!("no compose `{id}` in the registry")))?;
    let tree = strata_compose::tree_of_record(&*reg, &rec).map_err(compose_err)?;
    Ok(StackTree::new(tree))
}
