//! Rows as every backend stores them, and the one place that turns them
//! back into a [`ComposeRecord`] or [`ComposeSummary`]: SQLite and
//! PostgreSQL keep the same columns (plain TEXT, BIGINT and a binary
//! package list, JSON as text), so what one backend reads back the other
//! reads back too, and a corrupt row is reported the same way by both.
//!
//! Package lists are the bulk of a registry: one compressed list per
//! compose and arch ([`encode_packages`]) instead of a row per NEVRA,
//! which repeated the compose ID 5,000 times per 5,000-package compose.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use crate::error::RegistryError;
use crate::owner::Owner;
use crate::record::{
    ArtifactKind, ComposeRecord, ComposeSummary, ComposeType, Input, InputKind, ListFilter,
    ModulemdByArch, Outputs, PackagesByArch, RecordKind, State,
};
use crate::Result;

/// The columns of a `composes` row, in the order [`StoredCompose`] lists
/// them.
pub(crate) const RECORD_COLUMNS: &str = "id, name, stream, compose_type, compose_date, respin, \
     state, version, context, definition_path, definition_digest, scm_ref, arches, started_at, \
     finished_at, output_path, timings, error, report, owner_host, owner_pid, owner_start_time, \
     owner_boot_id, owner_pid_namespace, record_kind, artifact_kind, build_id, stack_digest";

/// [`RECORD_COLUMNS`] for a summary: no timings or report, and at most
/// [`ERROR_CAP`] characters of the error (a record written before errors
/// were capped may hold megabytes).
pub(crate) const SUMMARY_COLUMNS: &str = "id, name, stream, compose_type, compose_date, respin, \
     state, version, context, definition_path, definition_digest, scm_ref, arches, started_at, \
     finished_at, output_path, CAST(NULL AS TEXT), substr(error, 1, 65536), CAST(NULL AS TEXT), \
     owner_host, owner_pid, owner_start_time, owner_boot_id, owner_pid_namespace, record_kind, \
     artifact_kind, build_id, CAST(NULL AS TEXT)";

/// The most of an error message the registry keeps, in bytes: the head
/// and the tail, where a chain of errors names what failed and why. The
/// whole message still goes to the terminal and the log.
pub const ERROR_CAP: usize = 64 * 1024;

/// The largest closure report (as JSON text) the registry keeps. A
/// larger one is replaced by a marker ([`report_text`]): the compose
/// prints it in full, and a cut JSON document would not parse.
pub const REPORT_CAP: usize = 1024 * 1024;

/// The most one package list, or one arch's modulemd document, may take
/// uncompressed: far above what 70,000 NEVRAs need (about 5 MB; a stream
/// lists as many artifacts), so only a corrupt row reaches it, and the
/// registry refuses to record more.
pub(crate) const PACKAGE_LIST_LIMIT: usize = 64 * 1024 * 1024;

/// zstd level of package lists. 5,000 sorted NEVRAs of Debian bookworm
/// (179 KB) take 46 KB at level 3, 41.8 KB at 6 and 41.2 KB at 9, at 200,
/// 63 and 28 MB/s: level 6 is within 2% of 9 at twice its speed (about
/// 80 ms for 70,000 NEVRAs, once per arch at finish; reading back runs at
/// ~900 MB/s at any level).
const PACKAGE_LIST_LEVEL: i32 = 6;

/// zstd level of stored modulemd documents. A stack compose's document
/// names every layer, so it grows with the stack: the deepest of
/// bench/scale.py's 1,000 modules (410 layers) is 174 KB, which level 6
/// packs to 13.6 KB at about 110 MB/s (14 M instructions, 6% of that
/// compose) and level 1 to 16.0 KB at about 1 GB/s. Read back at any
/// level at the same speed.
const MODULEMD_LEVEL: i32 = 1;

/// A value in the `WHERE` clause of a listing.
pub(crate) enum FilterArg {
    Text(String),
    Int(i64),
}

/// The `WHERE … ORDER BY … LIMIT` of a listing, with placeholders as the
/// backend writes them (`placeholder(1)` is `?1` or `$1`), and their
/// values in order. Every condition is on a column of `composes_by_stream`
/// (name, stream, state, seq) or `composes_by_kind` (record_kind, seq),
/// except the compose date, which has no index of its own: a date range
/// is checked on each row while walking newest first, and the walk stops
/// at the page's end.
pub(crate) fn filter_sql(
    filter: &ListFilter,
    schema: &str,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<FilterArg>) {
    let mut conditions = String::from(" WHERE 1 = 1");
    let mut args = Vec::new();
    let date = |d: Option<jiff::civil::Date>| d.map(|d| d.strftime("%Y%m%d").to_string());
    for (condition, value) in [
        ("name =", filter.name.clone()),
        ("stream =", filter.stream.clone()),
        ("state =", filter.state.map(|s| s.as_str().to_owned())),
        ("record_kind =", filter.kind.map(|k| k.as_str().to_owned())),
        // YYYYMMDD: text order is date order.
        ("compose_date >=", date(filter.since)),
        ("compose_date <=", date(filter.until)),
    ] {
        if let Some(value) = value {
            args.push(FilterArg::Text(value));
            conditions.push_str(&format!(" AND {condition} {}", placeholder(args.len())));
        }
    }
    if filter.good {
        conditions.push_str(&format!(" AND state = 'finished' AND {}", good_sql(schema)));
    }
    let mut sql = if filter.newest_per_stream {
        // `seq` only grows, so the newest of a stream is its largest.
        format!(
            " WHERE seq IN (SELECT MAX(seq) FROM {schema}composes{conditions} \
             GROUP BY name, stream)"
        )
    } else {
        conditions
    };
    sql.push_str(" ORDER BY seq DESC");
    if filter.limit.is_some() || filter.offset.is_some() {
        // Both backends take LIMIT then OFFSET; a bare OFFSET is
        // PostgreSQL's only, so "no limit" is the largest one.
        let limit = filter
            .limit
            .map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
        args.push(FilterArg::Int(limit));
        sql.push_str(&format!(" LIMIT {}", placeholder(args.len())));
    }
    if let Some(offset) = filter.offset {
        args.push(FilterArg::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" OFFSET {}", placeholder(args.len())));
    }
    (sql, args)
}

/// The condition on a finished `composes` row that makes it good: no test
/// it must pass is pending or failed. `schema` prefixes the table
/// (`strata.` in PostgreSQL).
pub(crate) fn good_sql(schema: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM {schema}compose_tests t \
         WHERE t.compose_id = composes.id AND t.state <> 'passed')"
    )
}

/// The next respin of an ID base, as a query of one row and column: one
/// past the highest any compose, release compose (they share the ID space,
/// schema version 7) or pruned compose (see `prune`) of the registry has
/// taken, or 0. `schema` prefixes the tables (`strata.` in PostgreSQL);
/// `base` is the placeholder bound to the ID base (`?1`, `$1`).
pub(crate) fn next_respin_sql(schema: &str, base: &str) -> String {
    format!(
        "SELECT COALESCE(MAX(r) + 1, 0) FROM (\
         SELECT respin AS r FROM {schema}composes WHERE id_base = {base} \
         UNION ALL SELECT respin AS r FROM {schema}releases WHERE id_base = {base} \
         UNION ALL SELECT value AS r FROM {schema}counters \
         WHERE name = 'respin:' || {base}) AS taken"
    )
}

/// Keeps the respins of composes about to be removed handed out: one
/// `respin:<id base>` counter per ID base, never lowered. `ids` is the
/// condition on the removed IDs (`= ?1`, `= ANY($1)`); run it before the
/// `composes` rows go.
pub(crate) fn retire_respins_sql(schema: &str, ids: &str) -> String {
    format!(
        "INSERT INTO {schema}counters AS k (name, value) \
         SELECT 'respin:' || c.id_base, MAX(c.respin) FROM {schema}composes c \
         WHERE c.id {ids} GROUP BY c.id_base \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value \
         WHERE excluded.value > k.value"
    )
}

/// Drops the `respin:` counters a compose the registry holds now covers
/// (it has a higher respin of the same ID base): `begin` counts that
/// compose instead.
pub(crate) fn drop_covered_respins_sql(schema: &str) -> String {
    format!(
        "DELETE FROM {schema}counters WHERE name LIKE 'respin:%' AND value < \
         (SELECT MAX(respin) FROM {schema}composes WHERE id_base = substr(name, 8))"
    )
}

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
    pub owner_host: Option<String>,
    pub owner_pid: Option<i64>,
    pub owner_start_time: Option<i64>,
    pub owner_boot_id: Option<String>,
    pub owner_pid_namespace: Option<i64>,
    pub record_kind: String,
    pub artifact_kind: Option<String>,
    pub build_id: Option<String>,
    /// Schema version 12; not read for a summary.
    pub stack_digest: Option<String>,
}

/// A `compose_inputs` row: kind, name, ident, location.
pub(crate) type StoredInput = (String, String, String, String);

/// A `compose_package_lists` row without the compose: arch, count, the
/// compressed list.
pub(crate) type StoredPackageList = (String, i64, Vec<u8>);

/// A `compose_modulemd` row without the compose: arch, the compressed
/// document.
pub(crate) type StoredModulemd = (String, Vec<u8>);

/// Everything stored about one compose, as read.
pub(crate) struct StoredRecord {
    pub compose: StoredCompose,
    /// In `position` order.
    pub inputs: Vec<StoredInput>,
    pub packages: Vec<StoredPackageList>,
    /// `(arch, path)`; read only when `output_path` is set.
    pub repos: Vec<(String, String)>,
    /// Read only when `output_path` is set.
    pub modulemd: Vec<StoredModulemd>,
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

/// `text` if it fits in `cap` bytes, else its head and tail around a
/// `[… N bytes cut …]` line, `cap` bytes at most, cut between characters.
pub fn cap_text(text: &str, cap: usize) -> Cow<'_, str> {
    if text.len() <= cap {
        return Cow::Borrowed(text);
    }
    // The marker's length depends on N, which depends on the marker's
    // length: size it for the largest N first, then the cut only grows.
    let marker = |n: usize| format!("\n[… {n} bytes cut …]\n");
    let room = cap.saturating_sub(marker(text.len()).len());
    let mut head = room / 2;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - (room - room / 2);
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    Cow::Owned(format!(
        "{}{}{}",
        &text[..head],
        marker(tail - head),
        &text[tail..]
    ))
}

/// The `error` column for a failure's message: at most [`ERROR_CAP`] bytes.
pub(crate) fn error_text(error: &str) -> Cow<'_, str> {
    cap_text(error, ERROR_CAP)
}

/// The `report` column: the report as JSON, or, when that is longer than
/// [`REPORT_CAP`], a small document saying so.
pub(crate) fn report_text(report: &serde_json::Value) -> String {
    cap_report(json_text(report))
}

/// `text` (a report as JSON) if it fits in [`REPORT_CAP`], else the
/// document that stands for a report cut.
pub(crate) fn cap_report(text: String) -> String {
    if text.len() <= REPORT_CAP {
        return text;
    }
    json_text(&serde_json::json!({
        "report_cut": {
            "bytes": text.len(),
            "limit": REPORT_CAP,
            "reason": "the closure report is larger than the compose registry keeps; the \
                       compose printed it in full",
        }
    }))
}

/// The stored form of each arch's packages: arch, how many, and the
/// sorted NEVRAs joined by newlines, zstd-compressed. NEVRAs hold no
/// whitespace or control characters (checked before writing), so the
/// newline cannot be part of one.
pub(crate) fn encode_packages(packages: &PackagesByArch) -> Vec<(&str, i64, Vec<u8>)> {
    packages
        .iter()
        .filter(|(_, nevras)| !nevras.is_empty())
        .map(|(arch, nevras)| {
            let mut text = Vec::with_capacity(nevras.iter().map(|n| n.len() + 1).sum());
            for (i, nevra) in nevras.iter().enumerate() {
                if i > 0 {
                    text.push(b'\n');
                }
                text.extend_from_slice(nevra.as_bytes());
            }
            let blob = zstd::bulk::compress(&text, PACKAGE_LIST_LEVEL)
                .expect("compressing a buffer in memory cannot fail");
            (arch.as_str(), nevras.len() as i64, blob)
        })
        .collect()
}

/// The stored form of each arch's modulemd document: arch and the text,
/// zstd-compressed at [`MODULEMD_LEVEL`].
pub(crate) fn encode_modulemd(modulemd: &ModulemdByArch) -> Vec<(&str, Vec<u8>)> {
    modulemd
        .iter()
        .map(|(arch, text)| {
            let blob = zstd::bulk::compress(text.as_bytes(), MODULEMD_LEVEL)
                .expect("compressing a buffer in memory cannot fail");
            (arch.as_str(), blob)
        })
        .collect()
}

/// A zstd frame of at most [`PACKAGE_LIST_LIMIT`] bytes, decompressed;
/// `what` names it in errors (`the package list of `x86_64``).
fn decompress(db: &str, compose_id: &str, what: &str, blob: &[u8]) -> Result<Vec<u8>> {
    let corrupt = |reason: String| corrupt(db, compose_id, reason);
    // The size is in the frame header: allocate that much, no more than
    // the limit, and let the decoder refuse a frame that lies about it.
    let size = match zstd::zstd_safe::get_frame_content_size(blob) {
        Ok(Some(size)) if size <= PACKAGE_LIST_LIMIT as u64 => size as usize,
        Ok(Some(size)) => {
            return Err(corrupt(format!(
                "{what} would be {size} bytes, more than the {PACKAGE_LIST_LIMIT} bytes it may \
                 take"
            )))
        }
        _ => return Err(corrupt(format!("{what} is not a zstd frame with its size"))),
    };
    zstd::bulk::decompress(blob, size)
        .map_err(|e| corrupt(format!("{what} does not decompress: {e}")))
}

/// One arch's modulemd document.
fn decode_modulemd(
    db: &str,
    compose_id: &str,
    (arch, blob): &StoredModulemd,
) -> Result<(String, String)> {
    let what = format!("the modulemd of `{arch}`");
    let text = decompress(db, compose_id, &what, blob)?;
    let text = String::from_utf8(text)
        .map_err(|_| corrupt(db, compose_id, format!("{what} is not UTF-8")))?;
    Ok((arch.clone(), text))
}

/// One arch's package list, checked against its count.
fn decode_packages(
    db: &str,
    compose_id: &str,
    (arch, count, blob): &StoredPackageList,
) -> Result<(String, BTreeSet<String>)> {
    let count = *count;
    let corrupt = |reason: String| corrupt(db, compose_id, reason);
    let text = decompress(
        db,
        compose_id,
        &format!("the package list of `{arch}`"),
        blob,
    )?;
    let text = String::from_utf8(text)
        .map_err(|_| corrupt(format!("the package list of `{arch}` is not UTF-8")))?;
    let nevras: BTreeSet<String> = if text.is_empty() {
        BTreeSet::new()
    } else {
        text.split('\n').map(str::to_owned).collect()
    };
    if nevras.len() as i64 != count || nevras.contains("") {
        return Err(corrupt(format!(
            "the package list of `{arch}` holds {} distinct packages, but its count says {count}",
            nevras.len()
        )));
    }
    Ok((arch.clone(), nevras))
}

fn owner(db: &str, s: &StoredCompose) -> Result<Option<Owner>> {
    let corrupt = |reason: String| corrupt(db, &s.id, reason);
    match (
        &s.owner_host,
        s.owner_pid,
        s.owner_start_time,
        &s.owner_boot_id,
    ) {
        (None, None, None, None) => Ok(None),
        (Some(host), Some(pid), Some(start), Some(boot_id)) => Ok(Some(Owner {
            host: host.clone(),
            pid: u32::try_from(pid)
                .map_err(|_| corrupt(format!("owner PID {pid} is out of range")))?,
            start_time: u64::try_from(start)
                .map_err(|_| corrupt(format!("owner start time {start} is negative")))?,
            boot_id: boot_id.clone(),
            pid_namespace: s
                .owner_pid_namespace
                .map(|ns| {
                    u64::try_from(ns)
                        .map_err(|_| corrupt(format!("owner PID namespace {ns} is negative")))
                })
                .transpose()?,
        })),
        _ => Err(corrupt(
            "its owner is recorded in part (host, PID, start time and boot ID go together)".into(),
        )),
    }
}

/// The fields records and summaries share, checked.
struct Common {
    compose_type: ComposeType,
    respin: u32,
    state: State,
    version: u64,
    arches: Vec<String>,
    owner: Option<Owner>,
    artifact: Option<ArtifactKind>,
}

fn common(db: &str, s: &StoredCompose) -> Result<Common> {
    let corrupt = |reason: String| corrupt(db, &s.id, reason);
    Ok(Common {
        compose_type: s
            .compose_type
            .parse::<ComposeType>()
            .map_err(|e| corrupt(e.to_string()))?,
        respin: u32::try_from(s.respin)
            .map_err(|_| corrupt(format!("respin {} is out of range", s.respin)))?,
        state: s.state.parse().map_err(|e| corrupt(format!("{e}")))?,
        version: u64::try_from(s.version)
            .map_err(|_| corrupt(format!("version {} is negative", s.version)))?,
        arches: serde_json::from_str(&s.arches)
            .map_err(|e| corrupt(format!("`arches` is not a JSON list of names: {e}")))?,
        owner: owner(db, s)?,
        artifact: artifact(db, s)?,
    })
}

/// The artifact kind of a row, checked against its record kind and build
/// ID (only an artifact has one).
fn artifact(db: &str, s: &StoredCompose) -> Result<Option<ArtifactKind>> {
    let corrupt = |reason: String| corrupt(db, &s.id, reason);
    let kind: RecordKind = s.record_kind.parse().map_err(|e| corrupt(format!("{e}")))?;
    let artifact = s
        .artifact_kind
        .as_deref()
        .map(|k| k.parse::<ArtifactKind>())
        .transpose()
        .map_err(|e| corrupt(e.to_string()))?;
    if RecordKind::of(artifact) != kind {
        return Err(corrupt(format!(
            "it is recorded as a {kind} compose with artifact kind {:?}",
            s.artifact_kind
        )));
    }
    if kind == RecordKind::Module && s.build_id.is_some() {
        return Err(corrupt("a module compose with a build ID".into()));
    }
    Ok(artifact)
}

/// The columns `record_kind` and `artifact_kind` of a new compose.
pub(crate) fn kind_columns(artifact: Option<ArtifactKind>) -> (&'static str, Option<&'static str>) {
    (
        RecordKind::of(artifact).as_str(),
        artifact.map(ArtifactKind::as_str),
    )
}

/// A compose of `record_kind` refused because `existing`, the other kind,
/// already uses its name: module streams and artifact arches share the
/// `stream` column, so one name with both kinds would make "the last good
/// compose of NAME:STREAM" ambiguous (a stack could resolve to an image).
pub(crate) fn kind_clash(new: &crate::NewCompose, existing: &str) -> RegistryError {
    let (mine, theirs) = match existing {
        "artifact" => ("a module", "an artifact"),
        _ => ("an artifact", "a module"),
    };
    RegistryError::InvalidCompose {
        name: new.name.clone(),
        stream: new.stream.clone(),
        reason: format!(
            "`{}` is already the name of {theirs} in this registry; {mine} cannot share it (rename one of them)",
            new.name
        ),
    }
}

/// The build ID an outcome may record for a compose of `record_kind` (as
/// stored): an artifact finishes with one, a module compose never has one.
pub(crate) fn check_build_id(
    compose_id: &str,
    record_kind: &str,
    outcome: &crate::Outcome,
) -> Result<()> {
    let invalid = |reason: String| RegistryError::InvalidOutcome {
        compose_id: compose_id.to_owned(),
        reason,
    };
    if let crate::Outcome::Finished { outputs, .. } = outcome {
        match (
            record_kind == RecordKind::Artifact.as_str(),
            &outputs.build_id,
        ) {
            (true, None) => {
                return Err(invalid(
                    "an artifact compose finishes with the build ID of what it built".into(),
                ))
            }
            (false, Some(_)) => {
                return Err(invalid(
                    "a module compose has no build ID; only artifacts do".into(),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

fn outputs(
    output_path: Option<String>,
    repos: Vec<(String, String)>,
    build_id: Option<String>,
) -> Option<Outputs> {
    output_path.map(|path| Outputs {
        path: path.into(),
        repos: repos
            .into_iter()
            .map(|(arch, path)| (arch, PathBuf::from(path)))
            .collect(),
        build_id,
    })
}

/// Checks stored summary rows (read with [`SUMMARY_COLUMNS`]) and builds
/// them, with their `(arch, path)` repositories and `(arch, count)`
/// package counts by compose ID.
pub(crate) fn build_summaries(
    db: &str,
    rows: Vec<StoredCompose>,
    mut repos: HashMap<String, Vec<(String, String)>>,
    mut counts: HashMap<String, Vec<(String, i64)>>,
) -> Result<Vec<ComposeSummary>> {
    rows.into_iter()
        .map(|row| {
            let repos = repos.remove(&row.id).unwrap_or_default();
            let counts = counts.remove(&row.id).unwrap_or_default();
            build_summary(db, row, repos, counts)
        })
        .collect()
}

/// Checks a stored summary row (read with [`SUMMARY_COLUMNS`]) and builds
/// it; `repos` and `counts` are `(arch, path)` and `(arch, count)`.
fn build_summary(
    db: &str,
    s: StoredCompose,
    repos: Vec<(String, String)>,
    counts: Vec<(String, i64)>,
) -> Result<ComposeSummary> {
    let c = common(db, &s)?;
    let package_counts = counts
        .into_iter()
        .map(|(arch, n)| {
            usize::try_from(n)
                .map(|n| (arch, n))
                .map_err(|_| corrupt(db, &s.id, format!("package count {n} is negative")))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    Ok(ComposeSummary {
        compose_type: c.compose_type,
        date: s.date,
        respin: c.respin,
        state: c.state,
        version: c.version,
        context: s.context,
        definition_path: s.definition_path.into(),
        definition_digest: s.definition_digest,
        scm_ref: s.scm_ref,
        arches: c.arches,
        package_counts,
        outputs: outputs(s.output_path, repos, s.build_id),
        started_at: s.started_at,
        finished_at: s.finished_at,
        error: s.error.map(|e| error_text(&e).into_owned()),
        owner: c.owner,
        artifact: c.artifact,
        id: s.id,
        name: s.name,
        stream: s.stream,
    })
}

/// How much of a compose a read takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parts {
    /// Everything stored about it ([`crate::Registry::get`]).
    Whole,
    /// Every input and the outputs, without package lists, modulemd,
    /// timings and closure report ([`crate::Registry::get_inputs_only`]).
    Inputs,
    /// [`Parts::Inputs`] without the inputs of kind `stack_compose`
    /// ([`crate::Registry::latest_good_lean`]): a stack walk reaches the
    /// layers below a layer's direct requires itself, and reading them
    /// from every layer would cost depth² rows.
    Lean,
}

impl Parts {
    /// Whether package lists, modulemd, timings and the report are read.
    pub(crate) fn contents(self) -> bool {
        self == Parts::Whole
    }

    /// Whether the inputs of kind `stack_compose` are read.
    pub(crate) fn stack(self) -> bool {
        self != Parts::Lean
    }
}

/// `compose` as a read of `parts` takes it: without its timings and
/// closure report unless whole. A stack walk reads hundreds of layers and
/// needs neither; parsing each one's timings as JSON was a fifth of the
/// cost of reading a layer.
fn without_contents_unless(mut compose: StoredCompose, parts: Parts) -> StoredCompose {
    if !parts.contents() {
        compose.timings = None;
        compose.report = None;
    }
    compose
}

/// What the `lean` column (schema version 11) holds: a finished compose's
/// inputs other than `stack_compose`, in position order, and its
/// repositories `(arch, path)`; in JSON, `[[[kind, name, ident,
/// location], …], [[arch, path], …]]`.
pub(crate) type Lean = (Vec<StoredInput>, Vec<(String, String)>);

/// The `lean` column of a finished compose, from its record as stored:
/// with its `composes` row, all a lean read ([`Parts::Lean`]) needs, so
/// reading a layer of a stack is one statement instead of three.
pub(crate) fn lean_text(record: &ComposeRecord) -> String {
    let inputs: Vec<[&str; 4]> = record
        .inputs
        .iter()
        .filter(|i| i.kind != InputKind::StackCompose)
        .map(|i| {
            [
                i.kind.as_str(),
                i.name.as_str(),
                i.ident.as_str(),
                i.location.as_str(),
            ]
        })
        .collect();
    let repos: Vec<(&str, Cow<'_, str>)> = record
        .outputs
        .iter()
        .flat_map(|o| &o.repos)
        .map(|(arch, path)| (arch.as_str(), path.to_string_lossy()))
        .collect();
    serde_json::to_string(&(inputs, repos)).expect("lists of strings serialize")
}

/// The inputs and the repositories a read takes from the `lean` column,
/// where it takes them from there.
pub(crate) type FromLean = (Option<Vec<StoredInput>>, Option<Vec<(String, String)>>);

/// `compose` as a read with `parts` keeps it (see
/// [`without_contents_unless`]), and what that read takes from its `lean`
/// column instead of the inputs and repositories tables: nothing when the
/// read wants contents (or the column is empty), and the inputs only when
/// it does not want the stack's inputs, which the column leaves out. Both
/// backends read a record this way.
pub(crate) fn from_lean(
    db: &str,
    compose: StoredCompose,
    lean: Option<&str>,
    parts: Parts,
) -> Result<(StoredCompose, FromLean)> {
    let compose = without_contents_unless(compose, parts);
    let taken = match lean {
        Some(text) if !parts.contents() => {
            let (inputs, repos) = parse_lean(db, &compose.id, text)?;
            ((!parts.stack()).then_some(inputs), Some(repos))
        }
        _ => (None, None),
    };
    Ok((compose, taken))
}

/// The `lean` column of compose `compose_id` read back.
fn parse_lean(db: &str, compose_id: &str, text: &str) -> Result<Lean> {
    serde_json::from_str(text).map_err(|e| {
        corrupt(
            db,
            compose_id,
            format!(
                "its lean column (its inputs and repositories, schema version 11) is not a \
                 JSON pair of [kind, name, ident, location] and [arch, path] lists: {e}"
            ),
        )
    })
}

/// Compose `compose` as `begin` just wrote it: its row read back (for
/// what the database holds as it holds it), with the inputs it was begun
/// with. Those are not read back: a deep stack's compose has hundreds, and
/// reading them again was most of what beginning it cost.
pub(crate) fn begun(db: &str, compose: StoredCompose, inputs: &[Input]) -> Result<ComposeRecord> {
    let mut record = build(
        db,
        StoredRecord {
            compose,
            inputs: Vec::new(),
            packages: Vec::new(),
            repos: Vec::new(),
            modulemd: Vec::new(),
        },
    )?;
    record.inputs = inputs.to_vec();
    Ok(record)
}

/// Checks a stored record and builds it; `db` names the registry in errors.
pub(crate) fn build(db: &str, stored: StoredRecord) -> Result<ComposeRecord> {
    let StoredRecord {
        compose: mut s,
        inputs,
        packages: lists,
        repos,
        modulemd,
    } = stored;
    let corrupt = |reason: String| corrupt(db, &s.id, reason);
    let stack_digest = s.stack_digest.take();
    if let Some(d) = &stack_digest {
        let hex = d.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(corrupt(format!(
                "`stack_digest` (schema version 12) is not sha256: and 64 lowercase hex \
                 digits: {:?}",
                d.chars().take(80).collect::<String>()
            )));
        }
    }
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
    let timings = s
        .timings
        .as_deref()
        .map(|t| json("timings", t))
        .transpose()?;
    let report = s.report.as_deref().map(|t| json("report", t)).transpose()?;
    let packages = lists
        .iter()
        .map(|list| decode_packages(db, &s.id, list))
        .collect::<Result<PackagesByArch>>()?;
    let modulemd = modulemd
        .iter()
        .map(|m| decode_modulemd(db, &s.id, m))
        .collect::<Result<ModulemdByArch>>()?;
    let counts = lists
        .into_iter()
        .map(|(arch, count, _)| (arch, count))
        .collect();
    let summary = build_summary(db, s, repos, counts)?;
    let mut record =
        ComposeRecord::from_summary(summary, inputs, packages, timings, report, modulemd);
    record.stack_digest = stack_digest;
    Ok(record)
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
