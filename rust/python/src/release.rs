//! Bindings for releases: `release_check` (as `strata release check`),
//! with a typed report; the work is in strata-release.

use crate::compose::{compose_err, load_config, open_read_only, registry_err};
use crate::convert::typed_data_class;
use crate::exceptions::StrataError;
use crate::solve_err;
use pyo3::create_exception;
use pyo3::prelude::*;
use std::path::PathBuf;
use strata_compose::error_chain;
use strata_release::{check_release, CheckOptions, ReleaseError as CoreError};

create_exception!(
    strata,
    ReleaseError,
    StrataError,
    "A release that cannot be checked at all: its catalog or platform \
     cannot be loaded. Problems of the release itself are the report's."
);

pub(crate) fn release_err(e: CoreError) -> PyErr {
    match e {
        CoreError::Release { source, .. } => compose_err(*source),
        CoreError::Registry { source, .. } => registry_err(*source),
        CoreError::Solve { source, .. } => solve_err(*source),
        CoreError::Compose { source, .. } => compose_err(*source),
        other => ReleaseError::new_err(error_chain(&other)),
    }
}

typed_data_class!(
    /// One module stream the release ships, directly or below another.
    ReleaseModule(strata_release::ModuleUse) {
    /// `name:stream`.
    #[getter]
    fn module(&self) -> &str {
        &self.inner.module
    }
    /// How the release reaches it: its own module first, then each module
    /// required, ending with this one.
    #[getter]
    fn chain(&self) -> Vec<String> {
        self.inner.chain.clone()
    }
    /// Where its definition was read; None: no definition names it.
    #[getter]
    fn definition(&self) -> Option<&str> {
        self.inner.definition.as_deref()
    }
    /// The compose it would ship (pinned, else last good); None: none.
    #[getter]
    fn compose(&self) -> Option<&str> {
        self.inner.compose.as_deref()
    }
    fn __repr__(&self) -> String {
        format!("<strata.ReleaseModule {}>", self.inner.module)
    }
});

typed_data_class!(
    /// One problem that keeps a release from being composed.
    ReleaseProblem(strata_release::Problem) {
    /// What kind: `lifecycle`, `stream_conflict`, `no_good_compose`,
    /// `unresolved`, `profile`, `upgrade`, `previous`, …
    /// (the `kind` of its JSON).
    #[getter]
    fn kind(&self) -> String {
        serde_json::to_value(&self.inner)
            .ok()
            .and_then(|v| v["kind"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
    /// The chain of modules that causes it, from the release's own module
    /// down (empty when the problem has none).
    #[getter]
    fn chain(&self) -> Vec<String> {
        use strata_release::Problem as P;
        match &self.inner {
            P::UnknownModule { chain, .. }
            | P::NoLifecycle { chain }
            | P::Lifecycle { chain, .. }
            | P::NoGoodCompose { chain }
            | P::Compose { chain, .. }
            | P::MissingArch { chain, .. } => chain.clone(),
            P::Cycle { cycle } => cycle.clone(),
            _ => Vec::new(),
        }
    }
    /// The problem as `strata release check` prints it.
    #[getter]
    fn message(&self) -> String {
        self.inner.to_string()
    }
    fn __str__(&self) -> String {
        self.inner.to_string()
    }
    fn __repr__(&self) -> String {
        format!("<strata.ReleaseProblem {}>", self.inner)
    }
});

typed_data_class!(
    /// What `release_check` found (`strata release check --json` is its
    /// `to_json()`).
    ReleaseReport(strata_release::ReleaseReport) {
    /// No problem: the release can be composed.
    #[getter]
    fn ok(&self) -> bool {
        self.inner.ok()
    }
    #[getter]
    fn file(&self) -> &str {
        &self.inner.file
    }
    /// The release's name.
    #[getter]
    fn release(&self) -> &str {
        &self.inner.release
    }
    #[getter]
    fn version(&self) -> &str {
        &self.inner.version
    }
    #[getter]
    fn date(&self) -> &str {
        &self.inner.date
    }
    /// The arch whose composes were checked.
    #[getter]
    fn arch(&self) -> &str {
        &self.inner.arch
    }
    /// Every module of the release and below it, the release's own first.
    #[getter]
    fn modules(&self) -> Vec<ReleaseModule> {
        self.inner.modules.iter().cloned().map(ReleaseModule::new).collect()
    }
    #[getter]
    fn problems(&self) -> Vec<ReleaseProblem> {
        self.inner.problems.iter().cloned().map(ReleaseProblem::new).collect()
    }
    /// The report as `strata release check` prints it.
    fn to_text(&self) -> String {
        self.inner.to_text()
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.ReleaseReport {} {}: {} problems>",
            self.inner.release,
            self.inner.version,
            self.inner.problems.len()
        )
    }
});

/// Checks the release document at `release` against its definitions, the
/// catalog of the configuration and the registry, as `strata release
/// check` does; every problem is in the returned report. Raises
/// DefinitionError for a release document that is not valid,
/// RegistryError, and ReleaseError when the catalog or platform cannot be
/// loaded.
///
/// `previous` (`strata release check --from`) names the previous release
/// (its document, a release compose ID or a release name): the upgrade
/// from it is checked too. Without it, the document's `previous:` is.
/// `previous_display` names a previous document given as a file in the
/// report (`upgrade.from`) and errors, in place of its path (a Koji
/// builder passes the SCM URL it checked the file out from).
#[pyfunction]
#[pyo3(signature = (release, *, config=None, registry=None, arch=None, cache_dir=None,
    use_cache=true, previous=None, previous_display=None))]
#[allow(clippy::too_many_arguments)]
pub fn release_check(
    py: Python<'_>,
    release: PathBuf,
    config: Option<PathBuf>,
    registry: Option<PathBuf>,
    arch: Option<String>,
    cache_dir: Option<PathBuf>,
    use_cache: bool,
    previous: Option<PathBuf>,
    previous_display: Option<String>,
) -> PyResult<ReleaseReport> {
    let config = load_config(config)?;
    let reg = open_read_only(registry.as_ref(), &config)?;
    let cache_dir = use_cache
        .then(|| config.cache_dir(cache_dir.as_deref()))
        .flatten();
    let opts = CheckOptions {
        arch,
        cache_dir,
        from: previous.map(|p| p.display().to_string()),
        from_display: previous_display,
    };
    let config = &config;
    let found = py.allow_threads(move || check_release(&release, config, &*reg, &opts));
    found.map(ReleaseReport::new).map_err(release_err)
}

/// The definition files the release document at `release` names, on this
/// machine (SCM URLs fetched into the clone cache) and in the order they
/// compose: `(modules bottom first, artifacts as listed)`. What the Pungi
/// phase composes for a variant that lists a release. Raises
/// DefinitionError for a release document that is not valid and
/// ReleaseError naming every definition that cannot be used.
#[pyfunction]
#[pyo3(signature = (release, *, config=None, cache_dir=None))]
pub fn release_definitions(
    py: Python<'_>,
    release: PathBuf,
    config: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
) -> PyResult<(Vec<String>, Vec<String>)> {
    let config = load_config(config)?;
    let config = &config;
    let found = py.allow_threads(move || {
        strata_release::release_definitions(&release, config, cache_dir.as_deref())
    });
    found
        .map(|d| {
            let shown = |v: Vec<PathBuf>| v.iter().map(|p| p.display().to_string()).collect();
            (shown(d.modules), shown(d.artifacts))
        })
        .map_err(release_err)
}

/// The definitions the release document at `release` names, as it writes
/// them (paths relative to it, or SCM URLs), read without opening or
/// fetching any: `(modules, artifacts)`; a module the catalog defines is
/// left out. What a front end checks before the core reads them (the Koji
/// builder: only allowed SCMs, only paths inside its checkout). Raises
/// DefinitionError for a release document that is not valid.
#[pyfunction]
pub fn release_locations(release: PathBuf) -> PyResult<(Vec<String>, Vec<String>)> {
    // One bounded read of one small file: not worth releasing the GIL.
    let (doc, _) = strata_compose::read_release(&release).map_err(compose_err)?;
    let modules = doc.modules.iter().filter_map(|m| m.definition.clone());
    let artifacts = doc.artifacts.iter().map(|a| a.definition.clone());
    Ok((modules.collect(), artifacts.collect()))
}
