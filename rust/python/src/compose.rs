//! Bindings for module composes and the registry: arguments in, JSON-shaped
//! dicts out (the same documents `strata … --json` prints).

use crate::exceptions::{ComposeError, DefinitionError, RegistryError, StrataError};
use crate::{repodata_err, solve_err};
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::path::PathBuf;
use strata_compose::config::{open_registry, Config};
use strata_compose::module::{compose_module as run_compose, compose_time, ComposeRequest};
use strata_compose::{ComposeOutcome, Quiet};
use strata_registry::{ListFilter, State};

fn compose_err(e: strata_compose::ComposeError) -> PyErr {
    use strata_compose::ComposeError as E;
    match e {
        E::Definition(d) => {
            let problems: Vec<String> = d.problems.iter().map(|p| p.display(&d.file)).collect();
            DefinitionError::new_err((d.to_string(), problems))
        }
        E::Repodata(r) => repodata_err(r),
        E::Solve(s) => solve_err(s),
        E::Registry(r) => registry_err(r),
        other => ComposeError::new_err(other.to_string()),
    }
}

/// The message with its causes (`…: caused by`), as the CLI prints them:
/// a database error's reason is in the cause.
fn registry_err(e: strata_registry::RegistryError) -> PyErr {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    RegistryError::new_err(message)
}

/// A serde value as the equivalent Python object, through `json.loads`.
fn to_py<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<PyObject> {
    let text = serde_json::to_string(value).map_err(|e| StrataError::new_err(e.to_string()))?;
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// The configuration, with its process-wide settings (`[network]`,
/// `[repodata]`) in effect.
fn load_config(config: Option<PathBuf>) -> PyResult<Config> {
    let config = Config::load(config.as_deref()).map_err(compose_err)?;
    config.apply();
    Ok(config)
}

/// Reads and checks a `strata-module` definition; returns it as a dict.
/// Raises DefinitionError (args: message, list of `file:line:col: key:
/// problem`) when it is not valid.
#[pyfunction]
pub fn validate_definition(py: Python<'_>, path: PathBuf) -> PyResult<PyObject> {
    let (def, _) = strata_compose::module::read_definition(&path).map_err(compose_err)?;
    to_py(py, &def)
}

/// Composes one module. Returns `{"ok": bool, "record": {...}, "reports":
/// {arch: closure report}}`: `ok` is False when the repoclosure gate failed
/// (the record is then `failed` and nothing was published). Other failures
/// raise.
#[pyfunction]
#[pyo3(signature = (definition, out=None, *, arches=None, config=None, registry=None,
    compose_type="nightly", metadata_only=false, verify_payloads=false, scm_ref=None,
    cache_dir=None, use_cache=true, with_composes=None))]
#[allow(clippy::too_many_arguments)]
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
) -> PyResult<PyObject> {
    let config = load_config(config)?;
    let mut reg =
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
    };
    let outcome = py
        .allow_threads(|| run_compose(&req, &config, &mut *reg, &Quiet))
        .map_err(compose_err)?;
    let (ok, record, reports) = match outcome {
        ComposeOutcome::Finished(r) => (true, r, Default::default()),
        ComposeOutcome::GateFailed { record, reports } => (false, record, reports),
    };
    to_py(
        py,
        &serde_json::json!({"ok": ok, "record": record, "reports": reports}),
    )
}

/// Compose records, newest first, as dicts.
#[pyfunction]
#[pyo3(signature = (*, name=None, stream=None, state=None, limit=None, registry=None, config=None))]
pub fn list_composes(
    py: Python<'_>,
    name: Option<String>,
    stream: Option<String>,
    state: Option<&str>,
    limit: Option<usize>,
    registry: Option<PathBuf>,
    config: Option<PathBuf>,
) -> PyResult<Py<PyList>> {
    let config = load_config(config)?;
    let reg =
        open_registry(registry.as_ref().map(|r| r.as_os_str()), &config).map_err(compose_err)?;
    let state = state
        .map(|s| s.parse::<State>())
        .transpose()
        .map_err(|e| RegistryError::new_err(e.to_string()))?;
    let recs = reg
        .list(&ListFilter {
            name,
            stream,
            state,
            limit,
        })
        .map_err(registry_err)?;
    let items = recs
        .iter()
        .map(|r| to_py(py, r))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.unbind())
}

/// One compose record, or None.
#[pyfunction]
#[pyo3(signature = (compose_id, *, registry=None, config=None))]
pub fn get_compose(
    py: Python<'_>,
    compose_id: &str,
    registry: Option<PathBuf>,
    config: Option<PathBuf>,
) -> PyResult<Option<PyObject>> {
    let config = load_config(config)?;
    let reg =
        open_registry(registry.as_ref().map(|r| r.as_os_str()), &config).map_err(compose_err)?;
    reg.get(compose_id)
        .map_err(registry_err)?
        .map(|r| to_py(py, &r))
        .transpose()
}

/// The last good compose of `name:stream`, or None.
#[pyfunction]
#[pyo3(signature = (name, stream, *, registry=None, config=None))]
pub fn latest_compose(
    py: Python<'_>,
    name: &str,
    stream: &str,
    registry: Option<PathBuf>,
    config: Option<PathBuf>,
) -> PyResult<Option<PyObject>> {
    let config = load_config(config)?;
    let reg =
        open_registry(registry.as_ref().map(|r| r.as_os_str()), &config).map_err(compose_err)?;
    reg.latest_good(name, stream)
        .map_err(registry_err)?
        .map(|r| to_py(py, &r))
        .transpose()
}

/// The stack of a module as a dict (`strata tree --json`): `spec` is
/// NAME:STREAM (its last good compose, or `compose_id`) or a compose ID.
/// Each node: module, compose_id, state, requires (nodes), and a note when
/// the stack used another compose of a module than a layer recorded.
#[pyfunction]
#[pyo3(signature = (spec, *, compose_id=None, registry=None, config=None))]
pub fn stack_tree(
    py: Python<'_>,
    spec: &str,
    compose_id: Option<String>,
    registry: Option<PathBuf>,
    config: Option<PathBuf>,
) -> PyResult<PyObject> {
    let config = load_config(config)?;
    let reg =
        open_registry(registry.as_ref().map(|r| r.as_os_str()), &config).map_err(compose_err)?;
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
    let tree = strata_compose::stack::tree_of_record(&*reg, &rec).map_err(compose_err)?;
    to_py(py, &tree)
}
