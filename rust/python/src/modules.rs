//! Bindings for published repositories as front ends read and combine
//! them: their modules (`strata_compose::read_repo_modules`) and a merge
//! of several into one (`strata_compose::merge_repositories`). Parsing and
//! writing stay in the core; this converts.

use crate::exceptions::{RepodataError, StrataError};
use pyo3::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One module stream (`document: modulemd`, version 2).
#[pyclass(frozen, module = "strata")]
pub(crate) struct ModuleStream {
    inner: strata_modulemd::ModuleStream,
}

#[pymethods]
impl ModuleStream {
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    #[getter]
    fn stream(&self) -> &str {
        &self.inner.stream
    }
    #[getter]
    fn version(&self) -> u64 {
        self.inner.version
    }
    #[getter]
    fn context(&self) -> &str {
        &self.inner.context
    }
    #[getter]
    fn arch(&self) -> &str {
        &self.inner.arch
    }
    #[getter]
    fn summary(&self) -> &str {
        &self.inner.summary
    }
    #[getter]
    fn description(&self) -> &str {
        &self.inner.description
    }
    /// `name:stream:version:context:arch`.
    #[getter]
    fn nsvca(&self) -> String {
        self.inner.nsvca()
    }
    /// The RPMs of the stream, `name-epoch:version-release.arch`.
    #[getter]
    fn artifacts(&self) -> Vec<String> {
        self.inner.artifacts.clone()
    }
    /// profile → its RPM names.
    #[getter]
    fn profiles(&self) -> BTreeMap<String, Vec<String>> {
        self.inner
            .profiles
            .iter()
            .map(|(n, p)| (n.clone(), p.rpms.clone()))
            .collect()
    }
    /// Each dependency block's runtime requirements: module → streams.
    #[getter]
    fn requires(&self) -> Vec<BTreeMap<String, Vec<String>>> {
        self.inner
            .dependencies
            .iter()
            .map(|d| d.requires.clone())
            .collect()
    }
    /// Its `xmd` as plain data (`xmd["strata"]["compose_id"]` for a
    /// Strata compose).
    #[getter]
    fn xmd<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::convert::to_py(py, &self.inner.xmd)
    }
    /// The stream as one modulemd document (`---` … `...`), as Strata
    /// writes it into repositories.
    fn to_yaml(&self) -> PyResult<String> {
        strata_modulemd::modules_yaml(std::slice::from_ref(&self.inner), &[]).map_err(|e| {
            StrataError::new_err(format!(
                "cannot write module stream {} as modulemd: {}",
                self.inner.nsvca(),
                strata_compose::error_chain(&e)
            ))
        })
    }
    fn __repr__(&self) -> String {
        format!("<strata.ModuleStream {}>", self.inner.nsvca())
    }
}

/// A module's defaults (`document: modulemd-defaults`, version 1).
#[pyclass(frozen, module = "strata")]
pub(crate) struct ModuleDefaults {
    inner: strata_modulemd::Defaults,
}

#[pymethods]
impl ModuleDefaults {
    #[getter]
    fn module(&self) -> &str {
        &self.inner.module
    }
    /// The default stream, if any.
    #[getter]
    fn stream(&self) -> Option<&str> {
        self.inner.stream.as_deref()
    }
    /// stream → its default profiles.
    #[getter]
    fn profiles(&self) -> BTreeMap<String, Vec<String>> {
        self.inner.profiles.clone()
    }
    /// The defaults as one modulemd-defaults document.
    fn to_yaml(&self) -> PyResult<String> {
        strata_modulemd::modules_yaml(&[], std::slice::from_ref(&self.inner)).map_err(|e| {
            StrataError::new_err(format!(
                "cannot write the defaults of module {} as modulemd: {}",
                self.inner.module,
                strata_compose::error_chain(&e)
            ))
        })
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.ModuleDefaults {} stream={}>",
            self.inner.module,
            self.inner.stream.as_deref().unwrap_or("-")
        )
    }
}

/// The module streams and defaults of the repository at `location` (a
/// path or a file:// or http(s):// URL), in file order; documents of other
/// kinds (translations, obsoletes) are left out. Empty for a repository
/// that is not modular. Raises RepodataError when its modules metadata
/// cannot be read or parsed.
#[pyfunction]
pub(crate) fn read_repo_modules(py: Python<'_>, location: &str) -> PyResult<Vec<PyObject>> {
    let docs = py.allow_threads(|| {
        strata_compose::read_repo_modules(location)
            .map_err(|e| RepodataError::new_err(strata_compose::error_chain(&e)))
    })?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        match doc {
            strata_modulemd::Document::Stream(inner) => {
                out.push(Py::new(py, ModuleStream { inner })?.into_any())
            }
            strata_modulemd::Document::Defaults(inner) => {
                out.push(Py::new(py, ModuleDefaults { inner })?.into_any())
            }
            strata_modulemd::Document::Other { .. } => {}
        }
    }
    Ok(out)
}

/// One package of a merged repository.
#[pyclass(frozen, get_all, module = "strata")]
pub(crate) struct MergedPackage {
    /// Relative to the repository: `Packages/<l>/<file>.rpm`.
    href: String,
    /// `name-epoch:version-release.arch`.
    nevra: String,
    /// Its source RPM's NEVRA.
    srpm_nevra: String,
    /// `type:hex`.
    checksum: String,
    /// The input repository it was taken from (the first that has it).
    source: String,
}

#[pymethods]
impl MergedPackage {
    fn __repr__(&self) -> String {
        format!("<strata.MergedPackage {} from {}>", self.nevra, self.source)
    }
}

/// The repository `merge_repositories` wrote.
#[pyclass(frozen, get_all, module = "strata")]
pub(crate) struct MergedRepo {
    path: String,
    /// In repodata order: the inputs' packages in input order, each once.
    packages: Vec<Py<MergedPackage>>,
    /// Its module streams, each once, in input order.
    streams: Vec<Py<ModuleStream>>,
    /// `repodata/<sum>-modules.yaml.gz`; None when no input had modules.
    modules_href: Option<String>,
}

#[pymethods]
impl MergedRepo {
    fn __repr__(&self) -> String {
        format!(
            "<strata.MergedRepo {} ({} packages, {} module streams)>",
            self.path,
            self.packages.len(),
            self.streams.len()
        )
    }
}

/// Merges published repositories (local directories with their
/// `repodata/`) into a new one at `dest` (absent or an empty directory):
/// each package hardlinked (else reflinked, else copied) once, one
/// repodata, one modules.yaml. Raises ComposeError naming both inputs
/// when they disagree, and when `dest` is not new.
#[pyfunction]
#[pyo3(signature = (inputs, dest, *, verify_payloads=false, cache_dir=None, timestamp=None))]
pub(crate) fn merge_repositories(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    dest: PathBuf,
    verify_payloads: bool,
    cache_dir: Option<PathBuf>,
    timestamp: Option<i64>,
) -> PyResult<MergedRepo> {
    let options = strata_compose::MergeOptions {
        verify_payloads,
        cache_dir,
        timestamp,
    };
    let merged = py.allow_threads(|| {
        strata_compose::merge_repositories(&inputs, &dest, &options)
            .map_err(crate::compose::compose_err)
    })?;
    Ok(MergedRepo {
        path: merged.path.to_string_lossy().into_owned(),
        packages: merged
            .packages
            .into_iter()
            .map(|p| {
                Py::new(
                    py,
                    MergedPackage {
                        href: p.href,
                        nevra: p.nevra,
                        srpm_nevra: p.srpm_nevra,
                        checksum: p.checksum,
                        source: p.from,
                    },
                )
            })
            .collect::<PyResult<_>>()?,
        streams: merged
            .streams
            .into_iter()
            .map(|inner| Py::new(py, ModuleStream { inner }))
            .collect::<PyResult<_>>()?,
        modules_href: merged.modules_href,
    })
}

/// Swaps two directories in one step (renameat2 RENAME_EXCHANGE): a reader
/// of either path sees one whole tree or the other, never a mix. Raises
/// ComposeError naming the paths (not directories, not on one filesystem,
/// or a filesystem without the exchange).
#[pyfunction]
pub(crate) fn exchange_directories(py: Python<'_>, a: PathBuf, b: PathBuf) -> PyResult<()> {
    py.allow_threads(|| strata_compose::exchange_dirs(&a, &b).map_err(crate::compose::compose_err))
}
