//! Bindings for release composes: `release_compose` (as `strata release
//! compose`), returning the check's report and the typed record; the work
//! is in strata-release. Apart from release.rs (the check).

use crate::compose::{compose_err, load_config, run_interruptible, PythonProgress};
use crate::convert::typed_data_class;
use crate::release::{release_err, ReleaseReport};
use pyo3::prelude::*;
use std::path::PathBuf;
use strata_compose::{open_registry, Interrupt};
use strata_release::{CheckOptions, ComposeOptions, ReleaseComposed};

typed_data_class!(
    /// A release compose as the registry records it (`strata releases
    /// show --json` is its `to_json()`).
    ReleaseRecord(strata_registry::ReleaseRecord) {
    /// `<name>-<version>-<YYYYMMDD><type>.<respin>`.
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }
    /// `started`, `finished` or `failed`.
    #[getter]
    fn state(&self) -> &str {
        self.inner.state.as_str()
    }
    /// The release's scheduled date, YYYY-MM-DD.
    #[getter]
    fn release_date(&self) -> &str {
        &self.inner.release_date
    }
    /// Every compose it ships, in order: `(kind, name, compose_id)`, kind
    /// `module`, `stack` or `artifact`.
    #[getter]
    fn inputs(&self) -> Vec<(String, String, String)> {
        self.inner
            .inputs
            .iter()
            .map(|i| (i.kind.as_str().to_owned(), i.name.clone(), i.compose_id.clone()))
            .collect()
    }
    /// The release document's SCM reference (`URL#commit`), when it came
    /// from SCM; None otherwise.
    #[getter]
    fn scm_ref(&self) -> Option<&str> {
        self.inner.scm_ref.as_deref()
    }
    /// Where it was published; None unless finished.
    #[getter]
    fn path(&self) -> Option<String> {
        self.inner.path.as_ref().map(|p| p.display().to_string())
    }
    #[getter]
    fn error(&self) -> Option<&str> {
        self.inner.error.as_deref()
    }
    /// The record as `strata releases show` prints it.
    fn to_text(&self) -> String {
        strata_release::release_text(&self.inner)
    }
    fn __repr__(&self) -> String {
        format!("<strata.ReleaseRecord {} {}>", self.inner.id, self.inner.state)
    }
});

/// Checks the release at `release` and, only when the check finds no
/// problem, freezes it into one release compose under `out` (default:
/// the configuration's `[compose] out`), as `strata release compose`
/// does. Returns the check's report and the release compose's record,
/// which is None when the check found problems (nothing was composed).
/// Raises as release_check does, and ComposeError (after recording the
/// release compose failed) when publishing fails. `previous` checks the
/// upgrade path from the previous release's document first, as in
/// release_check (`previous_display` too). `scm_ref` is the release
/// document's SCM reference (`URL#commit`) to record.
#[pyfunction]
#[pyo3(signature = (release, out=None, *, config=None, registry=None, arch=None,
    cache_dir=None, compose_type="nightly", verify_payloads=false, previous=None,
    previous_display=None, scm_ref=None))]
#[allow(clippy::too_many_arguments)]
pub fn release_compose(
    py: Python<'_>,
    release: PathBuf,
    out: Option<PathBuf>,
    config: Option<PathBuf>,
    registry: Option<PathBuf>,
    arch: Option<String>,
    cache_dir: Option<PathBuf>,
    compose_type: &str,
    verify_payloads: bool,
    previous: Option<PathBuf>,
    previous_display: Option<String>,
    scm_ref: Option<String>,
) -> PyResult<(ReleaseReport, Option<ReleaseRecord>)> {
    let config = load_config(config)?;
    let mut reg =
        open_registry(registry.as_ref().map(|r| r.as_os_str()), &config).map_err(compose_err)?;
    let out = out
        .or_else(|| config.compose.out.clone())
        .ok_or_else(|| compose_err(strata_compose::ComposeError::NoOut))?;
    let opts = ComposeOptions {
        check: CheckOptions {
            arch,
            cache_dir,
            from: previous.map(|p| p.display().to_string()),
            from_display: previous_display,
        },
        out,
        compose_type: compose_type
            .parse()
            .map_err(|e: strata_registry::UnknownName| {
                crate::exceptions::ComposeError::new_err(e.to_string())
            })?,
        verify_payloads,
        scm_ref,
    };
    let interrupt = Interrupt::new();
    let stop = interrupt.clone();
    let done = run_interruptible(py, interrupt, move || {
        strata_release::compose_release(&release, &config, &mut *reg, &opts, &stop, &PythonProgress)
    })?
    .map_err(release_err)?;
    Ok(match done {
        ReleaseComposed::Refused(report) => (ReleaseReport::new(report), None),
        ReleaseComposed::Composed { report, record } => (
            ReleaseReport::new(report),
            Some(ReleaseRecord::new(*record)),
        ),
    })
}
