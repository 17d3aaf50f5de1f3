//! The one way Rust values become Python data and back: serde through
//! `pythonize` (no JSON text in between), and the read-only mapping view
//! every typed result and record keeps for code written against the dicts
//! the bindings used to return.

use crate::exceptions::StrataError;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyDict;

/// A serde value as plain Python data (dicts, lists, str, int, None): the
/// shape of its JSON document.
pub(crate) fn to_py<'py, T: serde::Serialize + ?Sized>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    pythonize::pythonize(py, value)
        .map_err(|e| StrataError::new_err(format!("cannot convert a Strata value to Python: {e}")))
}

/// Plain Python data as a serde value; `what` names the argument in the
/// error.
pub(crate) fn from_py<T: serde::de::DeserializeOwned>(
    obj: &Bound<'_, PyAny>,
    what: &str,
) -> Result<T, String> {
    pythonize::depythonize(obj).map_err(|e| format!("{what}: {e}"))
}

/// A value as the JSON document `strata … --json` prints (pretty).
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> PyResult<String> {
    serde_json::to_string_pretty(value)
        .map_err(|e| StrataError::new_err(format!("cannot write a Strata value as JSON: {e}")))
}

/// What a typed object is as plain data: the dict its mapping view reads
/// and `to_dict()` returns, the document `to_json()` writes.
pub(crate) trait AsDict {
    fn document(&self) -> impl serde::Serialize + '_;
    /// Where the mapping view keeps the dict once built: a record of 70,000
    /// packages is converted once, not once per subscript.
    fn view_cell(&self) -> &GILOnceCell<Py<PyDict>>;

    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.document())
    }
    fn json(&self) -> PyResult<String> {
        to_json(&self.document())
    }
    fn view<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyDict>> {
        let cached = self.view_cell().get_or_try_init(py, || {
            Ok::<_, PyErr>(self.dict(py)?.downcast_into::<PyDict>()?.unbind())
        })?;
        Ok(cached.bind(py))
    }
}

/// The methods every typed result and record has besides its own:
/// `to_dict()`, `to_json()`, and read-only mapping access (`obj["key"]`,
/// `get`, `in`, `keys()`, iteration, `len`) with the keys and nested
/// shapes of `to_dict()`, so that code written against the old dicts
/// keeps working. Mapping access returns the cached plain data: do not
/// mutate what it returns.
///
/// `typed_data_class!(/// doc  Class(RustType) { methods })` makes the
/// frozen class around a `RustType` (`Class::new`), whose document is the
/// Rust value; `, document = method` names a method giving another one.
macro_rules! typed_data_class {
    ($(#[$meta:meta])* $class:ident($inner:ty) $(, document = $doc:ident)? { $($body:tt)* }) => {
        $(#[$meta])*
        #[pyclass(frozen, module = "strata")]
        pub(crate) struct $class {
            inner: $inner,
            view: pyo3::sync::GILOnceCell<Py<pyo3::types::PyDict>>,
        }

        impl $class {
            pub(crate) fn new(inner: $inner) -> Self {
                $class {
                    inner,
                    view: pyo3::sync::GILOnceCell::new(),
                }
            }
        }

        impl $crate::convert::AsDict for $class {
            fn document(&self) -> impl serde::Serialize + '_ {
                let this = self;
                $crate::convert::typed_data_class!(@document this $($doc)?)
            }
            fn view_cell(&self) -> &pyo3::sync::GILOnceCell<Py<pyo3::types::PyDict>> {
                &self.view
            }
        }

        #[pymethods]
        impl $class {
            $($body)*

            /// Plain Python data (dicts, lists, str, int, None): the shape
            /// of `to_json()`'s document; a new object at every call.
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                $crate::convert::AsDict::dict(self, py)
            }
            /// The JSON document, as `strata … --json` prints it.
            fn to_json(&self) -> PyResult<String> {
                $crate::convert::AsDict::json(self)
            }
            fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
                $crate::convert::AsDict::view(self, py)?
                    .get_item(key)?
                    .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(key.to_string()))
            }
            #[pyo3(signature = (key, default=None))]
            fn get<'py>(
                &self,
                py: Python<'py>,
                key: &str,
                default: Option<Bound<'py, PyAny>>,
            ) -> PyResult<Option<Bound<'py, PyAny>>> {
                Ok($crate::convert::AsDict::view(self, py)?.get_item(key)?.or(default))
            }
            fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
                $crate::convert::AsDict::view(self, py)?.contains(key)
            }
            fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyList>> {
                Ok($crate::convert::AsDict::view(self, py)?.keys())
            }
            fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                Ok($crate::convert::AsDict::view(self, py)?.keys().as_any().try_iter()?.into_any())
            }
            /// Equal to an object of its class with equal data, and to a
            /// plain dict equal to `to_dict()` (what it was before).
            fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
                let view = $crate::convert::AsDict::view(self, py)?;
                match other.downcast::<$class>() {
                    Ok(o) => view.eq($crate::convert::AsDict::view(o.get(), py)?),
                    Err(_) => view.eq(other),
                }
            }
            fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
                Ok($crate::convert::AsDict::view(self, py)?.len())
            }
        }
    };
    (@document $this:ident) => { &$this.inner };
    (@document $this:ident $doc:ident) => { $this.$doc() };
}
pub(crate) use typed_data_class;
