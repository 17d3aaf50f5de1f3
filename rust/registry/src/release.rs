//! Release composes in the registry (schema version 7): a release frozen
//! into one compose of its own, with the module, stack and artifact
//! composes it ships, in order. Since version 8 each also records its
//! owner, as composes do, so that one whose process died is ended
//! ([`crate::Registry::abandon_dead_releases`]), and its release
//! document's SCM reference.
//!
//! They live in their own tables (`releases`, `release_inputs`) rather
//! than as a third `record_kind` of `composes`: every query over
//! `composes` (last good, listings, pruning, impact) is about composes
//! that build something from packages, and a release only names them.
//! Keeping them apart means no such query can ever take a release for a
//! module compose. The IDs still never collide: a release's respin counts
//! the composes with the same ID base too.
//!
//! Written once over [`Store`], like the chain SQL.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::chain::{int, names, next_seq, owner_of, owner_params, text, Kind, Store, Val};
use crate::compose_id::{self, compose_date, id_base, name_problem, stream_problem};
use crate::error::RegistryError;
use crate::owner::Owner;
use crate::record::{ComposeType, State};
use crate::stored;
use crate::validate::{owner_problem, scm_ref_problem};
use crate::Result;

/// What a release compose used a compose as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseInputKind {
    /// A module stream the release lists.
    Module,
    /// A module stream below one the release lists (through requires).
    Stack,
    /// An artifact the release lists.
    Artifact,
}

names!(
    ReleaseInputKind,
    "release input kind",
    Module = "module",
    Stack = "stack",
    Artifact = "artifact"
);

/// One compose a release ships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseInput {
    pub kind: ReleaseInputKind,
    /// `name:stream` of a module, the name of an artifact.
    pub name: String,
    pub compose_id: String,
}

/// A release compose about to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRelease {
    /// The release's name and version (`f41`, `41`): where a module
    /// compose's ID has the module name and stream.
    pub name: String,
    pub version: String,
    pub compose_type: ComposeType,
    /// Unix seconds; its UTC date goes into the ID.
    pub started_at: i64,
    /// The release's scheduled date, `YYYY-MM-DD`, as the document says.
    pub release_date: String,
    pub definition_path: PathBuf,
    /// SHA-256 of the release document's bytes, lowercase hex.
    pub definition_digest: String,
    /// Where the release document came from in SCM (`URL#commit`), when
    /// it did; like a module compose's `scm_ref`.
    pub scm_ref: Option<String>,
    pub arches: Vec<String>,
    /// Every compose used, in order: the release's modules, the modules
    /// below them, the artifacts.
    pub inputs: Vec<ReleaseInput>,
    /// The process composing it ([`Owner::current`]); `None` where /proc
    /// does not tell: such a release compose is never judged abandoned.
    pub owner: Option<Owner>,
}

/// How a release compose ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum ReleaseOutcome {
    Finished { finished_at: i64, path: PathBuf },
    Failed { finished_at: i64, error: String },
}

/// Everything the registry knows about one release compose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// `<name>-<version>-<YYYYMMDD><type>.<respin>`, e.g. `f41-41-20261029.n.0`.
    pub id: String,
    pub name: String,
    pub version: String,
    pub compose_type: ComposeType,
    /// `YYYYMMDD`, the UTC date the compose started.
    pub date: String,
    pub respin: u32,
    pub release_date: String,
    pub state: State,
    pub definition_path: PathBuf,
    pub definition_digest: String,
    /// The release document's SCM reference (`URL#commit`), when it came
    /// from SCM.
    pub scm_ref: Option<String>,
    pub arches: Vec<String>,
    pub inputs: Vec<ReleaseInput>,
    /// Who composes (or composed) it; `None` for one begun before schema
    /// version 8 or where /proc did not tell.
    pub owner: Option<Owner>,
    /// The published compose directory; only for a finished one.
    pub path: Option<PathBuf>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
}

impl ReleaseRecord {
    /// The compose of input `name` (`name:stream` or an artifact's name).
    pub fn input(&self, name: &str) -> Option<&ReleaseInput> {
        self.inputs.iter().find(|i| i.name == name)
    }
}

fn invalid(new: &NewRelease, reason: String) -> RegistryError {
    RegistryError::InvalidRelease {
        name: new.name.clone(),
        version: new.version.clone(),
        reason,
    }
}

fn check_new(new: &NewRelease) -> Result<String> {
    if let Some(p) = name_problem(&new.name) {
        return Err(invalid(new, format!("the release name: {p}")));
    }
    if let Some(p) = stream_problem(&new.version) {
        return Err(invalid(new, format!("the release version: {p}")));
    }
    if new.release_date.parse::<jiff::civil::Date>().is_err() {
        return Err(invalid(
            new,
            format!("the release date {:?} is not YYYY-MM-DD", new.release_date),
        ));
    }
    if new.definition_digest.len() != 64
        || !new
            .definition_digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(invalid(
            new,
            format!(
                "the definition digest {:?} is not a lowercase SHA-256",
                new.definition_digest
            ),
        ));
    }
    if let Some(p) = new.scm_ref.as_deref().and_then(scm_ref_problem) {
        return Err(invalid(new, p));
    }
    if let Some(p) = new.owner.as_ref().and_then(owner_problem) {
        return Err(invalid(new, p));
    }
    let one_line = |what: &str, v: &str| {
        v.chars()
            .find(|c| c.is_control())
            .map(|c| format!("the {what} {v:?} contains the control character {c:?}"))
    };
    for input in &new.inputs {
        for (what, v) in [("input", &input.name), ("compose ID", &input.compose_id)] {
            if v.is_empty() {
                return Err(invalid(new, format!("an input's {what} is empty")));
            }
            if let Some(p) = one_line(what, v) {
                return Err(invalid(new, p));
            }
        }
    }
    compose_date(new.started_at).ok_or_else(|| {
        invalid(
            new,
            format!("started_at {} is not a time after 1970", new.started_at),
        )
    })
}

const COLUMNS: &str = "id, name, version, compose_type, compose_date, respin, release_date, \
     state, definition_path, definition_digest, arches, started_at, finished_at, output_path, \
     error, owner_host, owner_pid, owner_start_time, owner_boot_id, owner_pid_namespace, scm_ref";
const KINDS: [Kind; 21] = [
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Int,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Int,
    Kind::Int,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Int,
    Kind::Int,
    Kind::Text,
    Kind::Int,
    Kind::Text,
];

/// Records a release compose as started, with an ID no compose or release
/// compose of this registry has.
pub(crate) fn begin(s: &mut dyn Store, new: &NewRelease) -> Result<ReleaseRecord> {
    let date = check_new(new)?;
    let base = id_base(&new.name, &new.version, None, &date, new.compose_type);
    let respin = s.rows(
        &stored::next_respin_sql("strata.", "?1"),
        &[text(&*base)],
        &[Kind::Int],
    )?[0][0]
        .int()
        .unwrap_or_default();
    let seq = next_seq(s, "releases")?;
    let id = compose_id::compose_id(&base, respin as u32);
    let arches = serde_json::to_string(&new.arches).unwrap_or_else(|_| "[]".into());
    let mut params = vec![
        text(&*id),
        int(seq),
        text(base),
        int(respin),
        text(&*new.name),
        text(&*new.version),
        text(new.compose_type.as_str()),
        text(date),
        text(&*new.release_date),
        text(new.definition_path.to_string_lossy()),
        text(&*new.definition_digest),
        text(arches),
        int(new.started_at),
        Val::Text(new.scm_ref.clone()),
    ];
    params.extend(owner_params(new.owner.as_ref()));
    s.exec(
        "INSERT INTO strata.releases (id, seq, id_base, respin, name, version, compose_type, \
         compose_date, release_date, state, definition_path, definition_digest, arches, \
         started_at, scm_ref, owner_host, owner_pid, owner_start_time, owner_boot_id, \
         owner_pid_namespace) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'started', ?10, ?11, \
         ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
        &params,
    )?;
    for (position, input) in new.inputs.iter().enumerate() {
        s.exec(
            "INSERT INTO strata.release_inputs (release_id, position, kind, name, compose_id) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                text(&*id),
                int(position as i64),
                text(input.kind.as_str()),
                text(&*input.name),
                text(&*input.compose_id),
            ],
        )?;
    }
    get(s, &id)?.ok_or_else(|| corrupt(s.db(), &id, "not found after it was recorded".into()))
}

/// Records how a started release compose ended; once.
pub(crate) fn finish(
    s: &mut dyn Store,
    release_id: &str,
    outcome: &ReleaseOutcome,
) -> Result<ReleaseRecord> {
    let Some(current) = get(s, release_id)? else {
        return Err(RegistryError::NoSuchRelease {
            db: s.db().to_owned(),
            release_id: release_id.to_owned(),
        });
    };
    if current.state != State::Started {
        return Err(RegistryError::NotStarted {
            db: s.db().to_owned(),
            compose_id: release_id.to_owned(),
            state: current.state,
        });
    }
    let (state, finished_at, path, error) = match outcome {
        ReleaseOutcome::Finished { finished_at, path } => (
            State::Finished,
            *finished_at,
            Some(path.to_string_lossy().into_owned()),
            None,
        ),
        ReleaseOutcome::Failed { finished_at, error } => (
            State::Failed,
            *finished_at,
            None,
            Some(stored::error_text(error).into_owned()),
        ),
    };
    // `state = 'started'` again: a racing finish changes nothing.
    let changed = s.exec(
        "UPDATE strata.releases SET state = ?2, finished_at = ?3, output_path = ?4, error = ?5 \
         WHERE id = ?1 AND state = 'started'",
        &[
            text(release_id),
            text(state.as_str()),
            int(finished_at),
            Val::Text(path),
            Val::Text(error),
        ],
    )?;
    let record = get(s, release_id)?
        .ok_or_else(|| corrupt(s.db(), release_id, "gone while it was finished".into()))?;
    if changed == 0 {
        return Err(RegistryError::NotStarted {
            db: s.db().to_owned(),
            compose_id: release_id.to_owned(),
            state: record.state,
        });
    }
    Ok(record)
}

pub(crate) fn get(s: &mut dyn Store, release_id: &str) -> Result<Option<ReleaseRecord>> {
    let rows = s.rows(
        &format!("SELECT {COLUMNS} FROM strata.releases WHERE id = ?1"),
        &[text(release_id)],
        &KINDS,
    )?;
    rows.first().map(|r| read(s, r)).transpose()
}

/// Release composes, newest first (begun last in this registry).
pub(crate) fn list(s: &mut dyn Store, limit: Option<usize>) -> Result<Vec<ReleaseRecord>> {
    let limit = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let rows = s.rows(
        &format!("SELECT {COLUMNS} FROM strata.releases ORDER BY seq DESC LIMIT ?1"),
        &[int(limit)],
        &KINDS,
    )?;
    rows.iter().map(|r| read(s, r)).collect()
}

/// Release composes still `started`, newest first: those a sweep for
/// dead owners looks at.
pub(crate) fn started(s: &mut dyn Store) -> Result<Vec<ReleaseRecord>> {
    let rows = s.rows(
        &format!("SELECT {COLUMNS} FROM strata.releases WHERE state = 'started' ORDER BY seq DESC"),
        &[],
        &KINDS,
    )?;
    rows.iter().map(|r| read(s, r)).collect()
}

/// The composes finished release composes ship, each with what pins it
/// (`release <id>`, the newest release first): a prune keeps them.
pub(crate) fn pins(s: &mut dyn Store) -> Result<Vec<(String, String)>> {
    Ok(s.rows(
        "SELECT ri.compose_id, r.id FROM strata.release_inputs ri \
             JOIN strata.releases r ON r.id = ri.release_id \
             WHERE r.state = 'finished' ORDER BY r.seq DESC, ri.position",
        &[],
        &[Kind::Text, Kind::Text],
    )?
    .into_iter()
    .map(|r| {
        (
            r[0].text().unwrap_or_default().to_owned(),
            format!("release {}", r[1].text().unwrap_or_default()),
        )
    })
    .collect())
}

fn corrupt(db: &str, release_id: &str, reason: String) -> RegistryError {
    RegistryError::Corrupt {
        db: db.to_owned(),
        compose_id: format!("(release {release_id})"),
        reason,
    }
}

fn read(s: &mut dyn Store, r: &[Val]) -> Result<ReleaseRecord> {
    let db = s.db().to_owned();
    let t = |i: usize| r[i].text().unwrap_or_default().to_owned();
    let id = t(0);
    let bad = |what: &str, e: &dyn fmt::Display| corrupt(&db, &id, format!("{what}: {e}"));
    let compose_type = t(3).parse().map_err(|e| bad("compose_type", &e))?;
    let state = t(7).parse().map_err(|e| bad("state", &e))?;
    let arches = serde_json::from_str(&t(10)).map_err(|e| bad("arches", &e))?;
    let respin = u32::try_from(r[5].int().unwrap_or(-1)).map_err(|e| bad("respin", &e))?;
    let inputs = s
        .rows(
            "SELECT kind, name, compose_id FROM strata.release_inputs \
             WHERE release_id = ?1 ORDER BY position",
            &[text(&*id)],
            &[Kind::Text, Kind::Text, Kind::Text],
        )?
        .into_iter()
        .map(|row| {
            Ok(ReleaseInput {
                kind: row[0]
                    .text()
                    .unwrap_or_default()
                    .parse()
                    .map_err(|e| bad("input kind", &e))?,
                name: row[1].text().unwrap_or_default().to_owned(),
                compose_id: row[2].text().unwrap_or_default().to_owned(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ReleaseRecord {
        name: t(1),
        version: t(2),
        compose_type,
        date: t(4),
        respin,
        release_date: t(6),
        state,
        definition_path: PathBuf::from(t(8)),
        definition_digest: t(9),
        arches,
        inputs,
        started_at: r[11].int().unwrap_or_default(),
        finished_at: r[12].int(),
        path: r[13].text().map(PathBuf::from),
        error: r[14].text().map(str::to_owned),
        owner: owner_of(r, 15),
        scm_ref: r[20].text().map(str::to_owned),
        id,
    })
}
