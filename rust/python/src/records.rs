//! The registry's records and a compose's result as typed Python objects:
//! attributes for new code, `to_dict()`/`to_json()` for JSON consumers,
//! and the mapping view of the dicts the bindings used to return (see
//! `convert::typed_data_class`).

use crate::convert::{to_py, typed_data_class};
use crate::ClosureReport;
use pyo3::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use strata_compose::GateReport;

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

typed_data_class!(
    /// One thing a compose read, pinned to the exact content it read.
    Input(strata_registry::Input) {
    /// `source_repo`, `koji_repo`, `compose`, `stack_compose` or `platform`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind.as_str()
    }
    /// What the definition calls it: module `name:stream`, Koji tag, URL.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    /// The exact content: repomd checksum, Koji repo ID, compose ID.
    #[getter]
    fn ident(&self) -> &str {
        &self.inner.ident
    }
    /// Where it was read from (URL or path).
    #[getter]
    fn location(&self) -> &str {
        &self.inner.location
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.Input {} {} = {}>",
            self.inner.kind.as_str(),
            self.inner.name,
            self.inner.ident
        )
    }
});

typed_data_class!(
    /// Where a finished compose was published.
    Outputs(strata_registry::Outputs) {
    /// The compose directory.
    #[getter]
    fn path(&self) -> String {
        path_str(&self.inner.path)
    }
    /// arch → the yum repository of that arch.
    #[getter]
    fn repos(&self) -> BTreeMap<String, String> {
        self.inner
            .repos
            .iter()
            .map(|(a, p)| (a.clone(), path_str(p)))
            .collect()
    }
    /// An artifact's build ID (OCI manifest digest, ostree commit, ISO
    /// SHA-256); None for a module compose.
    #[getter]
    fn build_id(&self) -> Option<&str> {
        self.inner.build_id.as_deref()
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.Outputs {} ({})>",
            self.inner.path.display(),
            self.inner
                .repos
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
});

typed_data_class!(
    /// The process that ran a compose.
    Owner(strata_registry::Owner) {
    /// The host name (`uname -n`).
    #[getter]
    fn host(&self) -> &str {
        &self.inner.host
    }
    #[getter]
    fn pid(&self) -> u32 {
        self.inner.pid
    }
    /// The process's start, in clock ticks after boot.
    #[getter]
    fn start_time(&self) -> u64 {
        self.inner.start_time
    }
    #[getter]
    fn boot_id(&self) -> &str {
        &self.inner.boot_id
    }
    /// The inode of its PID namespace, when known.
    #[getter]
    fn pid_namespace(&self) -> Option<u64> {
        self.inner.pid_namespace
    }
    fn __repr__(&self) -> String {
        format!("<strata.Owner pid {} on {}>", self.inner.pid, self.inner.host)
    }
});

fn owner(o: &Option<strata_registry::Owner>) -> Option<Owner> {
    o.clone().map(Owner::new)
}

/// The attributes records and summaries share, with the same names and
/// meanings (`strata_registry::ComposeSummary`'s fields are
/// `ComposeRecord`'s).
macro_rules! record_class {
    ($(#[$meta:meta])* $class:ident($inner:ty) { $($extra:tt)* }) => { typed_data_class!($(#[$meta])* $class($inner) {
        /// The compose ID, e.g. `apache-2.4-20261125.n.0`.
        #[getter]
        fn id(&self) -> &str {
            &self.inner.id
        }
        #[getter]
        fn name(&self) -> &str {
            &self.inner.name
        }
        #[getter]
        fn stream(&self) -> &str {
            &self.inner.stream
        }
        /// One of `strata.COMPOSE_TYPES`.
        #[getter]
        fn compose_type(&self) -> &'static str {
            self.inner.compose_type.as_str()
        }
        /// `YYYYMMDD`, the UTC date of `started_at`.
        #[getter]
        fn date(&self) -> &str {
            &self.inner.date
        }
        #[getter]
        fn respin(&self) -> u32 {
            self.inner.respin
        }
        /// `started`, `finished` or `failed`.
        #[getter]
        fn state(&self) -> &'static str {
            self.inner.state.as_str()
        }
        /// The modulemd version of the stream.
        #[getter]
        fn version(&self) -> u64 {
            self.inner.version
        }
        /// The modulemd context.
        #[getter]
        fn context(&self) -> &str {
            &self.inner.context
        }
        #[getter]
        fn definition_path(&self) -> String {
            path_str(&self.inner.definition_path)
        }
        /// SHA-256 of the definition file, lowercase hex.
        #[getter]
        fn definition_digest(&self) -> &str {
            &self.inner.definition_digest
        }
        #[getter]
        fn scm_ref(&self) -> Option<&str> {
            self.inner.scm_ref.as_deref()
        }
        #[getter]
        fn arches(&self) -> Vec<String> {
            self.inner.arches.clone()
        }
        /// Where it was published; None unless finished.
        #[getter]
        fn outputs(&self) -> Option<Outputs> {
            self.inner.outputs.clone().map(Outputs::new)
        }
        /// Unix seconds.
        #[getter]
        fn started_at(&self) -> i64 {
            self.inner.started_at
        }
        #[getter]
        fn finished_at(&self) -> Option<i64> {
            self.inner.finished_at
        }
        /// Why it failed, as the user saw it.
        #[getter]
        fn error(&self) -> Option<&str> {
            self.inner.error.as_deref()
        }
        /// The process that ran it, when known.
        #[getter]
        fn owner(&self) -> Option<Owner> {
            owner(&self.inner.owner)
        }
        /// `module` or `artifact`.
        #[getter]
        fn kind(&self) -> &'static str {
            self.inner.kind().as_str()
        }
        /// What an artifact compose builds (`container`, `ostree`, `iso`);
        /// None for a module compose.
        #[getter]
        fn artifact(&self) -> Option<&'static str> {
            self.inner.artifact.map(|k| k.as_str())
        }
        $($extra)*
    }); };
}

record_class!(
    /// Everything the registry knows about one compose (`strata composes show
    /// --json`).
    ComposeRecord(strata_registry::ComposeRecord) {
    /// What it read, each pinned to the exact content.
    #[getter]
    fn inputs(&self) -> Vec<Input> {
        self.inner.inputs.iter().cloned().map(Input::new).collect()
    }
    /// arch → the NEVRAs it has (or chose before failing), sorted.
    #[getter]
    fn packages(&self) -> BTreeMap<String, Vec<String>> {
        self.inner
            .packages
            .iter()
            .map(|(a, p)| (a.clone(), p.iter().cloned().collect()))
            .collect()
    }
    /// Time spent per phase (finished composes).
    #[getter]
    fn timings<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner.timings.as_ref().map(|t| to_py(py, t)).transpose()
    }
    /// The gate's report as recorded (JSON data, `report_cut` when the
    /// registry kept only part of it), for a compose whose gate failed.
    #[getter]
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner.report.as_ref().map(|r| to_py(py, r)).transpose()
    }
    /// arch → the stream's modulemd document as published; empty when
    /// nothing was.
    #[getter]
    fn modulemd(&self) -> BTreeMap<String, String> {
        self.inner.modulemd.clone()
    }
    /// The record without inputs, packages, timings, report and modulemd.
    fn summary(&self) -> ComposeSummary {
        ComposeSummary::new(self.inner.summary())
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.ComposeRecord {} {}>",
            self.inner.id,
            self.inner.state.as_str()
        )
    }
});

record_class!(
    /// What listings show of a compose (`strata composes list --json`): a
    /// record without its inputs, package lists, report, timings and
    /// modulemd, with `package_counts`.
    ComposeSummary(strata_registry::ComposeSummary) {
    /// arch → how many packages it has (or chose before failing).
    #[getter]
    fn package_counts(&self) -> BTreeMap<String, usize> {
        self.inner.package_counts.clone()
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.ComposeSummary {} {}>",
            self.inner.id,
            self.inner.state.as_str()
        )
    }
});

impl ComposeResult {
    /// The document `to_dict()`/`to_json()` give, the dict `compose_module`
    /// returned before results were typed: `reports` holds the arches'
    /// reports only when the gate failed, `report_texts` the failed arches.
    fn document(&self) -> serde_json::Value {
        let ok = self.inner.published();
        let empty = GateReport::default();
        let reports = if ok { &empty } else { &self.inner.gate };
        let texts: serde_json::Map<String, serde_json::Value> = self
            .inner
            .gate
            .sections()
            .into_iter()
            .map(|s| (s.arch, (s.report + &s.notes).into()))
            .collect();
        serde_json::json!({
            "ok": ok,
            "record": self.inner.record,
            "reports": reports,
            "report_text": self.inner.gate.to_text(),
            "report_texts": texts,
        })
    }
}

/// A compose's result, or the last good compose reused in its place
/// (`compose_module(if_changed=True)`: nothing was composed, and the gate
/// report is empty).
pub(crate) struct Composed {
    pub(crate) result: strata_compose::ComposeResult,
    pub(crate) reused: bool,
}

impl std::ops::Deref for Composed {
    type Target = strata_compose::ComposeResult;
    fn deref(&self) -> &Self::Target {
        &self.result
    }
}

impl From<strata_compose::IfChanged> for Composed {
    fn from(outcome: strata_compose::IfChanged) -> Composed {
        match outcome {
            strata_compose::IfChanged::Reused(record) => Composed {
                result: strata_compose::ComposeResult {
                    record: *record,
                    gate: GateReport::default(),
                },
                reused: true,
            },
            strata_compose::IfChanged::Composed(result) => Composed {
                result: *result,
                reused: false,
            },
        }
    }
}

typed_data_class!(
    /// What `compose_module` returns: the record, the repoclosure gate's
    /// reports, and the gate's report as users see it.
    ComposeResult(Composed), document = document {
    /// True when nothing was composed because nothing the compose would
    /// use changed (`if_changed=True`): `record` is the last good compose.
    #[getter]
    fn reused(&self) -> bool {
        self.inner.reused
    }
    /// True when published (the record is `finished`); False when the
    /// repoclosure gate failed (the record is `failed`, nothing published).
    #[getter]
    fn ok(&self) -> bool {
        self.inner.published()
    }
    #[getter]
    fn record(&self) -> ComposeRecord {
        ComposeRecord::new(self.inner.record.clone())
    }
    /// arch → the gate's closure report on that arch (every arch checked,
    /// also when the gate passed).
    #[getter]
    fn reports(&self) -> BTreeMap<String, ClosureReport> {
        self.inner
            .gate
            .arches
            .iter()
            .map(|(a, r)| (a.clone(), ClosureReport { inner: r.clone() }))
            .collect()
    }
    /// The gate's report as the CLI shows it: each failed arch's
    /// unresolved dependencies in `dnf repoclosure`'s format, then its
    /// installation problems, suggestions and hints. Empty when it passed.
    #[getter]
    fn report_text(&self) -> String {
        self.inner.gate.to_text()
    }
    /// arch → `report_text`'s section of that arch, for the arches that
    /// failed.
    #[getter]
    fn report_texts(&self) -> BTreeMap<String, String> {
        self.inner
            .gate
            .sections()
            .into_iter()
            .map(|s| (s.arch, s.report + &s.notes))
            .collect()
    }
    /// Where it was published; None when the gate failed.
    #[getter]
    fn outputs(&self) -> Option<Outputs> {
        self.inner.outputs().cloned().map(Outputs::new)
    }
    /// arch → the stream's modulemd document as published.
    #[getter]
    fn modulemd(&self) -> BTreeMap<String, String> {
        self.inner.modulemd().clone()
    }
    /// arch → the repository of the whole stack, for a stack compose made
    /// with `[compose] stack_repo = "merged"`.
    #[getter]
    fn stack_repos(&self) -> BTreeMap<String, String> {
        self.inner
            .stack_repos()
            .iter()
            .map(|(a, p)| (a.clone(), path_str(p)))
            .collect()
    }
    /// The stack's `.repo` file (one section per module's own repository,
    /// bottom first), for a stack compose that was published; else None.
    #[getter]
    fn stack_repo_file(&self) -> Option<String> {
        self.inner.stack_repo_file().as_deref().map(path_str)
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.ComposeResult {} ok={}>",
            self.inner.record.id,
            if self.inner.published() { "True" } else { "False" }
        )
    }
});

typed_data_class!(
    /// A `strata-module` definition as read and checked (`validate_definition`).
    ModuleDefinition(strata_model::ModuleDefinition) {
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    #[getter]
    fn stream(&self) -> &str {
        &self.inner.stream
    }
    #[getter]
    fn summary(&self) -> &str {
        &self.inner.summary
    }
    #[getter]
    fn description(&self) -> &str {
        &self.inner.description
    }
    #[getter]
    fn license(&self) -> Vec<String> {
        self.inner.license.clone()
    }
    /// The arches it is composed for; empty: the configuration's.
    #[getter]
    fn arches(&self) -> Vec<String> {
        self.inner.arches.clone()
    }
    /// Where its packages come from, as plain data (`to_dict()["source"]`).
    #[getter]
    fn source<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.source)
    }
    /// module → stream it requires (`platform` included).
    #[getter]
    fn requires(&self) -> BTreeMap<String, String> {
        self.inner.requires.clone()
    }
    /// `name:stream` → the compose ID of a required module it is pinned to.
    #[getter]
    fn compose_pins(&self) -> BTreeMap<String, String> {
        self.inner.compose_pins.clone()
    }
    /// package name → its entry (reason, …) as plain data.
    #[getter]
    fn packages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.packages)
    }
    /// package name → the EVR it is pinned to.
    #[getter]
    fn pins(&self) -> BTreeMap<String, String> {
        self.inner.pins.clone()
    }
    #[getter]
    fn profiles(&self) -> BTreeMap<String, Vec<String>> {
        self.inner.profiles.clone()
    }
    #[getter]
    fn api(&self) -> Vec<String> {
        self.inner.api.clone()
    }
    /// Its lifecycle as plain data, if it gives one.
    #[getter]
    fn lifecycle<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner
            .lifecycle
            .as_ref()
            .map(|l| to_py(py, l))
            .transpose()
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.ModuleDefinition {}:{}>",
            self.inner.name, self.inner.stream
        )
    }
});

typed_data_class!(
    /// A module's stack (`strata tree`): the module, its compose, and the
    /// stacks of the modules it requires.
    StackTree(strata_compose::TreeNode) {
    /// `name:stream`.
    #[getter]
    fn module(&self) -> &str {
        &self.inner.module
    }
    #[getter]
    fn compose_id(&self) -> &str {
        &self.inner.compose_id
    }
    /// `started`, `finished` or `failed`.
    #[getter]
    fn state(&self) -> &str {
        &self.inner.state
    }
    /// Pinned rather than the last good compose (definitions only).
    #[getter]
    fn pinned(&self) -> bool {
        self.inner.pinned
    }
    /// What this layer recorded, when the stack used another compose of
    /// one of its modules.
    #[getter]
    fn note(&self) -> Option<&str> {
        self.inner.note.as_deref()
    }
    /// Already shown above, with what it requires (a module several
    /// others require is expanded once); `requires` is then empty.
    #[getter]
    fn repeated(&self) -> bool {
        self.inner.repeated
    }
    #[getter]
    fn requires(&self) -> Vec<StackTree> {
        self.inner
            .requires
            .iter()
            .cloned()
            .map(StackTree::new)
            .collect()
    }
    /// The tree drawn as `strata tree` draws it.
    fn to_text(&self) -> String {
        self.inner.to_text()
    }
    fn __repr__(&self) -> String {
        format!(
            "<strata.StackTree {} {}>",
            self.inner.module, self.inner.compose_id
        )
    }
});
