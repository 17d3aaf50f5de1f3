//! Rows as every backend stores them, and the one place that turns them
//! back into a [`ComposeRecord`]: SQLite and PostgreSQL keep the same
//! columns (plain TEXT and BIGINT, JSON as text), so what one backend
//! reads back the other reads back too, and a corrupt row is reported the
//! same way by both.

use std::path::PathBuf;

use crate::error::RegistryError;
use crate::record::{ComposeRecord, ComposeType, Input, Outputs, PackagesByArch};
use crate::Result;

/// The columns of a `composes` row, in the order [`StoredCompose`] lists
/// them.
pub(crate) const RECORD_COLUMNS: &str = "id, name, stream, compose_type, compose_date, respin, \
     state, version, context, definition_path, definition_digest, scm_ref, arches, started_at, \
     finished_at, output_path, timings, error, report";

/// A `composes` row as stored, before it is checked.
pub(crate) struct StoredCompose {
    pub id: String,
    pub name: String,
    pub stream: String,
    pub compose_type: String,
    pub date: String,
    pub respin: i64,
    pub state: String,
    pub version: i64,
    pub context: String,
    pub definition_path: String,
    pub definition_digest: String,
    pub scm_ref: Option<String>,
    pub arches: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub output_path: Option<String>,
    pub timings: Option<String>,
    pub error: Option<String>,
    pub report: Option<String>,
}

/// A `compose_inputs` row: kind, name, ident, location.
pub(crate) type StoredInput = (String, String, String, String);

/// Everything stored about one compose, as read.
pub(crate) struct StoredRecord {
    pub compose: StoredCompose,
    /// In `position` order.
    pub inputs: Vec<StoredInput>,
    /// `(arch, nevra)`.
    pub packages: Vec<(String, String)>,
    /// `(arch, path)`; read only when `output_path` is set.
    pub repos: Vec<(String, String)>,
}

pub(crate) fn corrupt(db: &str, compose_id: &str, reason: String) -> RegistryError {
    RegistryError::Corrupt {
        db: db.to_owned(),
        compose_id: compose_id.to_owned(),
        reason,
    }
}

/// The text stored for a JSON value.
pub(crate) fn json_text(value: &serde_json::Value) -> String {
    // A serde_json::Value always serializes.
    value.to_string()
}

/// The `arches` column of a new compose.
pub(crate) fn arches_text(arches: &[String]) -> String {
    serde_json::to_string(arches).expect("a list of strings serializes")
}

/// Checks a stored record and builds it; `db` names the registry in errors.
pub(crate) fn build(db: &str, stored: StoredRecord) -> Result<ComposeRecord> {
    let StoredRecord {
        compose: s,
        inputs,
        packages: package_rows,
        repos,
    } = stored;
    let id = s.id.as_str();
    let corrupt = |reason: String| corrupt(db, id, reason);
    let json = |column: &str, text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| corrupt(format!("`{column}` is not JSON: {e}")))
    };

    let inputs = inputs
        .into_iter()
        .map(|(kind, name, ident, location)| {
            Ok(Input {
                kind: kind.parse().map_err(|e| corrupt(format!("{e}")))?,
                name,
                ident,
                location,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut packages = PackagesByArch::new();
    for (arch, nevra) in package_rows {
        packages.entry(arch).or_default().insert(nevra);
    }
    let outputs = s.output_path.map(|path| Outputs {
        path: path.into(),
        repos: repos
            .into_iter()
            .map(|(arch, path)| (arch, PathBuf::from(path)))
            .collect(),
    });

    Ok(ComposeRecord {
        compose_type: s
            .compose_type
            .parse::<ComposeType>()
            .map_err(|e| corrupt(e.to_string()))?,
        date: s.date,
        respin: u32::try_from(s.respin)
            .map_err(|_| corrupt(format!("respin {} is out of range", s.respin)))?,
        state: s.state.parse().map_err(|e| corrupt(format!("{e}")))?,
        version: u64::try_from(s.version)
            .map_err(|_| corrupt(format!("version {} is negative", s.version)))?,
        context: s.context,
        definition_path: s.definition_path.into(),
        definition_digest: s.definition_digest,
        scm_ref: s.scm_ref,
        arches: serde_json::from_str(&s.arches)
            .map_err(|e| corrupt(format!("`arches` is not a JSON list of names: {e}")))?,
        inputs,
        packages,
        outputs,
        started_at: s.started_at,
        finished_at: s.finished_at,
        timings: s
            .timings
            .as_deref()
            .map(|t| json("timings", t))
            .transpose()?,
        error: s.error,
        report: s.report.as_deref().map(|t| json("report", t)).transpose()?,
        id: s.id,
        name: s.name,
        stream: s.stream,
    })
}

/// The state of a compose about to end, checked: it must exist and still
/// be `started`.
pub(crate) fn check_can_finish(db: &str, compose_id: &str, state: Option<String>) -> Result<()> {
    let state = state.ok_or_else(|| RegistryError::NoSuchCompose {
        db: db.to_owned(),
        compose_id: compose_id.to_owned(),
    })?;
    let state: crate::State = state
        .parse()
        .map_err(|e| corrupt(db, compose_id, format!("{e}")))?;
    if state != crate::State::Started {
        return Err(RegistryError::NotStarted {
            db: db.to_owned(),
            compose_id: compose_id.to_owned(),
            state,
        });
    }
    Ok(())
}
