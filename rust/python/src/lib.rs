//! Python bindings: conversion and error mapping only; the logic lives in
//! the Rust crates.

use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use strata_compose::error_chain;
use strata_repodata::LoadOptions;
use strata_solve::{ClosureOptions, SolveError};

/// Python's exception hierarchy; its own module so `SolveError` can keep
/// its name beside the Rust error of the same name.
mod exceptions {
    use pyo3::create_exception;
    use pyo3::exceptions::PyException;
    create_exception!(
        strata,
        StrataError,
        PyException,
        "Base class of Strata's errors."
    );
    create_exception!(
        strata,
        RepodataError,
        StrataError,
        "Unreadable, corrupt or inconsistent repository metadata."
    );
    create_exception!(
        strata,
        SolveError,
        StrataError,
        "A closure or solving request that cannot be carried out."
    );
    create_exception!(
        strata,
        DefinitionError,
        StrataError,
        "A module definition that is not valid; args[1] lists the problems."
    );
    create_exception!(
        strata,
        ComposeError,
        StrataError,
        "A compose that could not be made (inputs, selection, publishing)."
    );
    create_exception!(
        strata,
        RegistryError,
        StrataError,
        "The compose registry could not be read or written."
    );
}

mod chain;
mod compose;
mod convert;
mod modules;
mod records;
mod release;
mod release_compose;
mod stack;
use exceptions::{RepodataError, StrataError};

/// With its causes, as the CLI prints them.
fn repodata_err(e: strata_repodata::RepodataError) -> PyErr {
    RepodataError::new_err(error_chain(&e))
}

fn solve_err(e: SolveError) -> PyErr {
    // With its causes, as the CLI prints them: the unreadable file is named
    // in the cause.
    let message = error_chain(&e);
    match e {
        SolveError::FileLists { .. } => RepodataError::new_err(message),
        _ => exceptions::SolveError::new_err(message),
    }
}

/// A loaded rpm-md repository.
#[pyclass(frozen, module = "strata")]
struct Repo {
    inner: Arc<strata_repodata::Repo>,
}

#[pymethods]
impl Repo {
    /// Loads the repository at `location` (path, file:// or http(s):// URL).
    #[staticmethod]
    #[pyo3(signature = (id, location, *, cache_dir=None, use_cache=true))]
    fn load(
        py: Python<'_>,
        id: &str,
        location: &str,
        cache_dir: Option<PathBuf>,
        use_cache: bool,
    ) -> PyResult<Repo> {
        let cache_dir = if use_cache {
            cache_dir.or_else(strata_repodata::default_cache_dir)
        } else {
            None
        };
        let opts = LoadOptions {
            cache_dir,
            ..Default::default()
        };
        let repo = py
            .allow_threads(|| strata_repodata::load_repo(id, location, &opts))
            .map_err(repodata_err)?;
        Ok(Repo {
            inner: Arc::new(repo),
        })
    }

    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }
    /// Where it was loaded from, without the password of a URL.
    #[getter]
    fn location(&self) -> String {
        strata_model::redact_credentials(&self.inner.location).into_owned()
    }
    /// `type:hex` of primary.xml: the identity of this content.
    #[getter]
    fn checksum(&self) -> &str {
        &self.inner.checksum
    }
    fn __len__(&self) -> usize {
        self.inner.len()
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.Repo {} ({} packages) from {}>",
            self.inner.id,
            self.inner.len(),
            strata_model::redact_credentials(&self.inner.location)
        )
    }
}

#[pyclass(frozen, get_all, module = "strata")]
struct Unresolved {
    package: String,
    repo: String,
    deps: Vec<String>,
}

#[pymethods]
impl Unresolved {
    fn __repr__(&self) -> String {
        format!(
            "<Unresolved {} from {}: {:?}>",
            self.package, self.repo, self.deps
        )
    }
}

#[pyclass(frozen, get_all, module = "strata")]
struct Uninstallable {
    package: String,
    repo: String,
    problems: Vec<String>,
}

#[pymethods]
impl Uninstallable {
    fn __repr__(&self) -> String {
        format!(
            "<Uninstallable {} from {}: {:?}>",
            self.package, self.repo, self.problems
        )
    }
}

#[pyclass(frozen, get_all, module = "strata")]
struct PackageRef {
    package: String,
    repo: String,
}

#[pymethods]
impl PackageRef {
    fn __repr__(&self) -> String {
        format!("<PackageRef {} from {}>", self.package, self.repo)
    }
}

#[pyclass(frozen, get_all, module = "strata")]
struct DepSuggestion {
    dep: String,
    providers: Vec<Py<PackageRef>>,
}

#[pymethods]
impl DepSuggestion {
    fn __repr__(&self) -> String {
        format!(
            "<DepSuggestion {} ({} providers)>",
            self.dep,
            self.providers.len()
        )
    }
}

#[pyclass(frozen, get_all, module = "strata")]
struct Suggestions {
    deps: Vec<Py<DepSuggestion>>,
    additions: Vec<Py<PackageRef>>,
    unsatisfiable: Vec<String>,
}

#[pymethods]
impl Suggestions {
    fn __repr__(&self) -> String {
        format!(
            "<Suggestions {} deps, {} additions, {} unsatisfiable>",
            self.deps.len(),
            self.additions.len(),
            self.unsatisfiable.len()
        )
    }
}

/// The result of `repoclosure()`.
#[pyclass(frozen, module = "strata")]
pub(crate) struct ClosureReport {
    pub(crate) inner: strata_solve::ClosureReport,
}

fn pkg_ref(py: Python<'_>, p: &strata_solve::PackageRef) -> PyResult<Py<PackageRef>> {
    Py::new(
        py,
        PackageRef {
            package: p.package.clone(),
            repo: p.repo.clone(),
        },
    )
}

#[pymethods]
impl ClosureReport {
    /// True when closed (and installable, when that was checked).
    #[getter]
    fn ok(&self) -> bool {
        self.inner.ok()
    }
    /// Number of packages checked.
    #[getter]
    fn checked(&self) -> usize {
        self.inner.checked
    }
    #[getter]
    fn unresolved(&self) -> Vec<Unresolved> {
        self.inner
            .unresolved
            .iter()
            .map(|u| Unresolved {
                package: u.package.clone(),
                repo: u.repo.clone(),
                deps: u.deps.clone(),
            })
            .collect()
    }
    #[getter]
    fn uninstallable(&self) -> Option<Vec<Uninstallable>> {
        self.inner.installable.as_ref().map(|i| {
            i.uninstallable
                .iter()
                .map(|u| Uninstallable {
                    package: u.package.clone(),
                    repo: u.repo.clone(),
                    problems: u.problems.clone(),
                })
                .collect()
        })
    }
    #[getter]
    fn suggestions(&self, py: Python<'_>) -> PyResult<Option<Suggestions>> {
        let Some(s) = &self.inner.suggestions else {
            return Ok(None);
        };
        let deps = s
            .deps
            .iter()
            .map(|d| {
                let providers = d
                    .providers
                    .iter()
                    .map(|p| pkg_ref(py, p))
                    .collect::<PyResult<_>>()?;
                Py::new(
                    py,
                    DepSuggestion {
                        dep: d.dep.clone(),
                        providers,
                    },
                )
            })
            .collect::<PyResult<_>>()?;
        let additions = s
            .additions
            .iter()
            .map(|p| pkg_ref(py, p))
            .collect::<PyResult<_>>()?;
        Ok(Some(Suggestions {
            deps,
            additions,
            unsatisfiable: s.unsatisfiable.clone(),
        }))
    }
    /// The report as JSON, the same document as `strata repoclosure --json`.
    fn to_json(&self) -> String {
        self.inner.to_json()
    }
    /// The report in `dnf repoclosure`'s text format.
    fn to_text(&self) -> String {
        self.inner.to_text()
    }
    /// Installation problems and suggestions as text (dnf has no format
    /// for them).
    fn extras_text(&self) -> String {
        self.inner.extras_text()
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.ClosureReport ok={} checked={} unresolved={}>",
            self.inner.ok(),
            self.inner.checked,
            self.inner.unresolved.len()
        )
    }
}

/// Checks that every requirement of the checked packages is provided
/// (like `dnf repoclosure`), optionally that they are installable, and
/// optionally suggests packages from other repositories.
#[pyfunction]
#[pyo3(signature = (repos, *, check=None, arches=None, newest=false, installable=false, suggest_from=None, forcearch=None))]
#[allow(clippy::too_many_arguments)]
fn repoclosure(
    py: Python<'_>,
    repos: Vec<Py<Repo>>,
    check: Option<Vec<String>>,
    arches: Option<Vec<String>>,
    newest: bool,
    installable: bool,
    suggest_from: Option<Vec<Py<Repo>>>,
    forcearch: Option<String>,
) -> PyResult<ClosureReport> {
    let suggest_from = suggest_from.unwrap_or_default();
    let all: Vec<Arc<strata_repodata::Repo>> = repos
        .iter()
        .chain(suggest_from.iter())
        .map(|r| r.get().inner.clone())
        .collect();
    let opts = ClosureOptions {
        check: check.unwrap_or_default(),
        arches: arches.unwrap_or_default(),
        newest,
        base_arch: forcearch,
        installable,
        suggest_from: suggest_from
            .iter()
            .map(|r| r.get().inner.id.clone())
            .collect(),
        hidden: Vec::new(),
    };
    let report = py
        .allow_threads(|| {
            let refs: Vec<&strata_repodata::Repo> = all.iter().map(|r| r.as_ref()).collect();
            strata_solve::repoclosure(&refs, &opts, &|_, _, _| {})
        })
        .map_err(solve_err)?;
    Ok(ClosureReport { inner: report })
}

/// A table as `strata composes list` prints one (each column as wide as
/// its widest cell, two spaces apart, no trailing blanks), every cell
/// first put on one line (`one_line`): what `dnf stack` shows.
#[pyfunction]
fn format_table(header: Vec<String>, rows: Vec<Vec<String>>) -> String {
    let header: Vec<String> = header
        .iter()
        .map(|h| strata_model::one_line(h).into_owned())
        .collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| strata_model::one_line(c).into_owned())
                .collect()
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    strata_model::table(&header, &rows)
}

/// `text` with control characters and line separators escaped, so that
/// free text from a repository or registry prints as one line.
#[pyfunction]
fn one_line(text: &str) -> String {
    strata_model::one_line(text).into_owned()
}

#[pymodule]
fn _strata(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // productmd's compose types, as the registry knows them: one list for
    // every front end.
    m.add(
        "COMPOSE_TYPES",
        pyo3::types::PyTuple::new(
            m.py(),
            strata_registry::ComposeType::ALL.map(strata_registry::ComposeType::as_str),
        )?,
    )?;
    m.add("StrataError", m.py().get_type::<StrataError>())?;
    m.add("RepodataError", m.py().get_type::<RepodataError>())?;
    m.add("SolveError", m.py().get_type::<exceptions::SolveError>())?;
    m.add_class::<Repo>()?;
    m.add_class::<ClosureReport>()?;
    m.add_class::<Unresolved>()?;
    m.add_class::<Uninstallable>()?;
    m.add_class::<PackageRef>()?;
    m.add_class::<DepSuggestion>()?;
    m.add_class::<Suggestions>()?;
    m.add_function(wrap_pyfunction!(repoclosure, m)?)?;
    m.add_function(wrap_pyfunction!(format_table, m)?)?;
    m.add_function(wrap_pyfunction!(one_line, m)?)?;
    m.add(
        "DefinitionError",
        m.py().get_type::<exceptions::DefinitionError>(),
    )?;
    m.add(
        "ComposeError",
        m.py().get_type::<exceptions::ComposeError>(),
    )?;
    m.add(
        "RegistryError",
        m.py().get_type::<exceptions::RegistryError>(),
    )?;
    m.add_class::<records::ComposeResult>()?;
    m.add_class::<records::ComposeRecord>()?;
    m.add_class::<records::ComposeSummary>()?;
    m.add_class::<records::Input>()?;
    m.add_class::<records::Outputs>()?;
    m.add_class::<records::Owner>()?;
    m.add_class::<records::ModuleDefinition>()?;
    m.add_class::<records::StackTree>()?;
    m.add_class::<modules::ModuleStream>()?;
    m.add_class::<modules::ModuleDefaults>()?;
    m.add_class::<modules::MergedRepo>()?;
    m.add_class::<modules::MergedPackage>()?;
    m.add_function(wrap_pyfunction!(modules::read_repo_modules, m)?)?;
    m.add_function(wrap_pyfunction!(modules::merge_repositories, m)?)?;
    m.add_function(wrap_pyfunction!(modules::exchange_directories, m)?)?;
    m.add_function(wrap_pyfunction!(compose::validate_definition, m)?)?;
    m.add_function(wrap_pyfunction!(compose::compose_module, m)?)?;
    m.add_function(wrap_pyfunction!(compose::compose_artifact, m)?)?;
    m.add_function(wrap_pyfunction!(compose::list_composes, m)?)?;
    m.add_function(wrap_pyfunction!(compose::get_compose, m)?)?;
    m.add_function(wrap_pyfunction!(compose::latest_compose, m)?)?;
    m.add_function(wrap_pyfunction!(compose::stack_tree, m)?)?;
    m.add("StackError", m.py().get_type::<stack::StackError>())?;
    m.add("ChainError", m.py().get_type::<chain::ChainError>())?;
    m.add_class::<chain::Impact>()?;
    m.add_class::<chain::PlanStep>()?;
    m.add_class::<chain::Chain>()?;
    m.add_class::<chain::ChainStep>()?;
    m.add_function(wrap_pyfunction!(chain::impact, m)?)?;
    m.add_function(wrap_pyfunction!(chain::run_chain, m)?)?;
    m.add_function(wrap_pyfunction!(chain::compose_chain_step, m)?)?;
    m.add_function(wrap_pyfunction!(chain::approve_chain_step, m)?)?;
    m.add_function(wrap_pyfunction!(chain::get_chain, m)?)?;
    m.add("ReleaseError", m.py().get_type::<release::ReleaseError>())?;
    m.add_class::<release::ReleaseReport>()?;
    m.add_class::<release::ReleaseModule>()?;
    m.add_class::<release::ReleaseProblem>()?;
    m.add_function(wrap_pyfunction!(release::release_check, m)?)?;
    m.add_function(wrap_pyfunction!(release::release_definitions, m)?)?;
    m.add_function(wrap_pyfunction!(release::release_locations, m)?)?;
    m.add_class::<release_compose::ReleaseRecord>()?;
    m.add_function(wrap_pyfunction!(release_compose::release_compose, m)?)?;
    m.add_function(wrap_pyfunction!(chain::submit_event, m)?)?;
    m.add_function(wrap_pyfunction!(chain::pending_events, m)?)?;
    m.add_function(wrap_pyfunction!(chain::take_pending_chain, m)?)?;
    m.add_function(wrap_pyfunction!(stack::module_stack, m)?)?;
    m.add_function(wrap_pyfunction!(stack::check_stack, m)?)?;
    m.add_function(wrap_pyfunction!(stack::stack_modules, m)?)?;
    m.add_function(wrap_pyfunction!(stack::stack_streams_to_reset, m)?)?;
    m.add_function(wrap_pyfunction!(stack::parse_stack_spec, m)?)?;
    Ok(())
}
