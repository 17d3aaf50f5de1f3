//! Bindings for stacks as `dnf stack` reads them: modulemd text and plain
//! data in, plain data out (converted by `convert`, the shapes of the
//! JSON documents). The checks live in `strata_modulemd`.

use crate::convert::{from_py, to_py};
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
    StackError::new_err(strata_compose::error_chain(&e))
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
    let stack: Stack = from_py(obj, "not a stack dict").map_err(StackError::new_err)?;
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
pub fn module_stack<'py>(py: Python<'py>, yaml: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
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
pub fn check_stack<'py>(
    py: Python<'py>,
    stack: &Bound<'py, PyAny>,
    available: BTreeMap<String, Option<String>>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let stack = stack_arg(stack)?;
    stack
        .mismatches(&available)
        .into_iter()
        .map(|m| {
            let d = to_py(py, &m)?;
            d.set_item("message", m.to_string())?;
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
pub fn parse_stack_spec<'py>(
    py: Python<'py>,
    spec: &str,
    profile: bool,
) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, &StackSpec::parse(spec, profile).map_err(stack_err)?)
}
