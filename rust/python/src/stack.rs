//! Bindings for stacks as `dnf stack` reads them: modulemd text and dicts
//! in, JSON-shaped dicts out. The checks live in `strata_modulemd`.

use crate::exceptions::StrataError;
use pyo3::create_exception;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::collections::BTreeMap;
use strata_modulemd::{Stack, StackError as RustStackError, StackSpec};

create_exception!(
    strata,
    StackError,
    StrataError,
    "A stack that cannot be read (unreadable modulemd, malformed or inconsistent \
     xmd.strata, not a Strata compose) or a bad NAME:STREAM[/PROFILE] argument."
);

fn stack_err(e: RustStackError) -> PyErr {
    StackError::new_err(e.to_string())
}

/// A serde value as the equivalent Python object, through `json.loads`.
fn to_py<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<PyObject> {
    let text = serde_json::to_string(value).map_err(|e| StrataError::new_err(e.to_string()))?;
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// A Python object as a serde value, through `json.dumps`.
fn from_py<T: serde::de::DeserializeOwned>(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<T> {
    let text: String = obj
        .py()
        .import("json")?
        .call_method1("dumps", (obj,))?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| StackError::new_err(format!("{what}: {e}")))
}

/// A stack given as modulemd text (must be a Strata compose) or as the
/// dict `module_stack` returns (checked for consistency either way).
fn stack_arg(obj: &Bound<'_, PyAny>) -> PyResult<Stack> {
    if let Ok(text) = obj.downcast::<PyString>() {
        return strata_modulemd::strata_stack_from_yaml(&text.extract::<String>()?)
            .map_err(stack_err);
    }
    if !obj.is_instance_of::<PyDict>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "stack must be modulemd text (str) or a dict from module_stack()",
        ));
    }
    let stack: Stack = from_py(obj, "not a stack dict")?;
    stack
        .check_consistent()
        .map_err(|m| StackError::new_err(format!("{}: malformed stack: {m}", stack.nsv())))?;
    Ok(stack)
}

/// The Strata description of the module stream in `yaml` (one modulemd
/// document, e.g. libdnf's `ModulePackage.getYaml()`): a dict with name,
/// stream, compose_id, version, context, requires and layers (bottom
/// first; empty for a plain module), or None for a stream Strata did not
/// compose. Raises StackError for malformed `xmd.strata`.
#[pyfunction]
pub fn module_stack(py: Python<'_>, yaml: &str) -> PyResult<Option<PyObject>> {
    match strata_modulemd::stack_from_yaml(yaml).map_err(stack_err)? {
        Some(s) => Ok(Some(to_py(py, &s)?)),
        None => Ok(None),
    }
}

/// The layers of `stack` (modulemd text or a `module_stack()` dict) whose
/// compose is not the one in `available` (`"name:stream"` → compose ID of
/// the stream dnf would use, None when there is none): a list of dicts
/// `{"module", "recorded", "available", "message"}`; empty when all match.
#[pyfunction]
pub fn check_stack(
    py: Python<'_>,
    stack: &Bound<'_, PyAny>,
    available: BTreeMap<String, Option<String>>,
) -> PyResult<Vec<PyObject>> {
    let stack = stack_arg(stack)?;
    stack
        .mismatches(&available)
        .into_iter()
        .map(|m| {
            let d = to_py(py, &m)?;
            d.bind(py).set_item("message", m.to_string())?;
            Ok(d)
        })
        .collect()
}

/// Every `name:stream` of `stack` in the order to enable them: the layers
/// bottom first, then the top module.
#[pyfunction]
pub fn stack_modules(stack: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    Ok(stack_arg(stack)?.modules())
}

/// The streams of `stack` that none of `others` (stacks still installed)
/// uses, top first: what removing `stack` may reset.
#[pyfunction]
pub fn stack_streams_to_reset(
    stack: &Bound<'_, PyAny>,
    others: Vec<Bound<'_, PyAny>>,
) -> PyResult<Vec<String>> {
    let stack = stack_arg(stack)?;
    let others = others.iter().map(stack_arg).collect::<PyResult<Vec<_>>>()?;
    Ok(stack.streams_to_reset(&others))
}

/// Parses `NAME:STREAM[/PROFILE]` into `{"name", "stream", "profile"}`
/// (profile None when absent). With `profile=False` a `/PROFILE` is an
/// error. Raises StackError naming the argument.
#[pyfunction]
#[pyo3(signature = (spec, *, profile=true))]
pub fn parse_stack_spec(py: Python<'_>, spec: &str, profile: bool) -> PyResult<PyObject> {
    to_py(py, &StackSpec::parse(spec, profile).map_err(stack_err)?)
}
