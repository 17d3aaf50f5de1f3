//! Chains in the registry: a chain's cause, plan and the state of each
//! step, so that a chain killed at any point resumes where it stopped, and
//! per-stream locks, so that two chains never recompose one stream at
//! once.
//!
//! The logic is written once, over [`Store`]: each backend runs it inside
//! one of its write transactions (SQLite `BEGIN IMMEDIATE`, PostgreSQL
//! read committed), giving the SQL in SQLite's spelling (`?1`, no schema);
//! the PostgreSQL store translates it (`$1`, schema `strata`).

use crate::error::RegistryError;
use crate::owner::{Liveness, Owner};
use crate::Result;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a chain stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainState {
    /// Steps run (or wait for their turn).
    Running,
    /// Nothing can run until someone approves a step.
    Waiting,
    /// Every step ended (some may have failed under `use-last-good`).
    Finished,
    /// A step failed and the policy stopped its dependents.
    Failed,
    /// Stopped from outside (interrupted); `resume` continues it.
    Stopped,
}

/// Where one step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    Pending,
    /// `trigger: approve`: waits for `strata chain approve`.
    Waiting,
    Approved,
    Running,
    Finished,
    Failed,
    /// Nothing it would use changed: its last good compose stands.
    Reused,
    /// Not composed: a step below failed and the policy stops dependents.
    Skipped,
}

macro_rules! names {
    ($ty:ident, $what:literal, $($v:ident = $s:literal),+) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$v => $s),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = crate::UnknownName;
            fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
                match s {
                    $($s => Ok($ty::$v),)+
                    _ => Err(crate::UnknownName {
                        what: $what,
                        value: s.to_owned(),
                        expected: concat!($($s, " "),+),
                    }),
                }
            }
        }
    };
}

pub(crate) use names;

names!(
    ChainState,
    "chain state",
    Running = "running",
    Waiting = "waiting",
    Finished = "finished",
    Failed = "failed",
    Stopped = "stopped"
);
names!(
    StepState,
    "step state",
    Pending = "pending",
    Waiting = "waiting",
    Approved = "approved",
    Running = "running",
    Finished = "finished",
    Failed = "failed",
    Reused = "reused",
    Skipped = "skipped"
);

impl StepState {
    /// The step is over: resuming leaves it as it is.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            StepState::Finished | StepState::Failed | StepState::Reused | StepState::Skipped
        )
    }
}

/// A chain to record.
#[derive(Debug, Clone)]
pub struct NewChain {
    pub created_at: i64,
    /// The cause events (JSON, as `strata impact --json` prints them).
    pub events: serde_json::Value,
    /// The plan (JSON, as `strata impact --json` prints it).
    pub plan: serde_json::Value,
    /// The steps in plan order: `(name, stream)`.
    pub steps: Vec<(String, String)>,
    pub owner: Option<Owner>,
    /// Queued events ([`crate::Registry::submit_event`], by `seq`) this
    /// chain takes: removed from the queue in the transaction that records
    /// the chain, so each is consumed exactly once. Recording fails, and
    /// nothing is recorded, if one is no longer queued.
    pub consumes: Vec<i64>,
}

/// One step as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStep {
    pub position: usize,
    pub name: String,
    pub stream: String,
    pub state: StepState,
    /// The compose the step made (or reused).
    pub compose_id: Option<String>,
    /// The excuse or the failure, as shown.
    pub reason: Option<String>,
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
}

/// A chain as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainRecord {
    /// `chain-YYYYMMDD.N`.
    pub id: String,
    pub state: ChainState,
    pub events: serde_json::Value,
    pub plan: serde_json::Value,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub owner: Option<Owner>,
    pub steps: Vec<ChainStep>,
}

/// What a step update writes.
#[derive(Debug, Clone)]
pub struct StepUpdate<'a> {
    pub state: StepState,
    pub compose_id: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// The outcome of [`crate::Registry::lock_stream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamLock {
    /// This chain holds it (now, or already).
    Taken,
    /// Another chain that still runs holds it.
    HeldBy(String),
}

/// A parameter or a column of the chain SQL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Text(Option<String>),
    Int(Option<i64>),
}

/// The column kinds a query reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Text,
    Int,
}

/// One write transaction of a backend.
pub(crate) trait Store {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64>;
    fn rows(&mut self, sql: &str, params: &[Val], kinds: &[Kind]) -> Result<Vec<Vec<Val>>>;
    /// The registry as errors name it.
    fn db(&self) -> &str;
}

pub(crate) fn text(s: impl Into<String>) -> Val {
    Val::Text(Some(s.into()))
}

pub(crate) fn int(i: i64) -> Val {
    Val::Int(Some(i))
}

impl Val {
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Val::Text(t) => t.as_deref(),
            Val::Int(_) => None,
        }
    }
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => *i,
            Val::Text(_) => None,
        }
    }
}

fn corrupt(db: &str, chain_id: &str, reason: String) -> RegistryError {
    RegistryError::Corrupt {
        db: db.to_owned(),
        compose_id: format!("(chain {chain_id})"),
        reason,
    }
}

const CHAIN_COLUMNS: &str = "id, state, events, plan, created_at, finished_at, owner_host, \
     owner_pid, owner_start_time, owner_boot_id, owner_pid_namespace";
const CHAIN_KINDS: [Kind; 11] = [
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Int,
    Kind::Int,
    Kind::Text,
    Kind::Int,
    Kind::Int,
    Kind::Text,
    Kind::Int,
];
const STEP_COLUMNS: &str =
    "position, name, stream, state, compose_id, reason, approved_by, approved_at";
const STEP_KINDS: [Kind; 8] = [
    Kind::Int,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Int,
];

/// The owner in the five columns `owner_host` .. `owner_pid_namespace`
/// starting at `row[at]`; `None` when not recorded.
pub(crate) fn owner_of(row: &[Val], at: usize) -> Option<Owner> {
    Some(Owner {
        host: row[at].text()?.to_owned(),
        pid: u32::try_from(row[at + 1].int()?).ok()?,
        start_time: u64::try_from(row[at + 2].int()?).ok()?,
        boot_id: row[at + 3].text()?.to_owned(),
        pid_namespace: row[at + 4].int().and_then(|n| u64::try_from(n).ok()),
    })
}

fn read_chain(s: &mut dyn Store, row: &[Val]) -> Result<ChainRecord> {
    let db = s.db().to_owned();
    let id = row[0].text().unwrap_or_default().to_owned();
    let bad = |what: &str, e: &dyn fmt::Display| corrupt(&db, &id, format!("{what}: {e}"));
    let state = row[1]
        .text()
        .unwrap_or_default()
        .parse()
        .map_err(|e| bad("state", &e))?;
    let json = |v: &Val, what: &str| {
        serde_json::from_str(v.text().unwrap_or("null")).map_err(|e| bad(what, &e))
    };
    let steps = s
        .rows(
            &format!(
                "SELECT {STEP_COLUMNS} FROM strata.chain_steps WHERE chain_id = ?1 \
                 ORDER BY position"
            ),
            &[text(&*id)],
            &STEP_KINDS,
        )?
        .into_iter()
        .map(|r| {
            Ok(ChainStep {
                position: r[0].int().unwrap_or_default() as usize,
                name: r[1].text().unwrap_or_default().to_owned(),
                stream: r[2].text().unwrap_or_default().to_owned(),
                state: r[3]
                    .text()
                    .unwrap_or_default()
                    .parse()
                    .map_err(|e| bad("step state", &e))?,
                compose_id: r[4].text().map(str::to_owned),
                reason: r[5].text().map(str::to_owned),
                approved_by: r[6].text().map(str::to_owned),
                approved_at: r[7].int(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(ChainRecord {
        state,
        events: json(&row[2], "events")?,
        plan: json(&row[3], "plan")?,
        created_at: row[4].int().unwrap_or_default(),
        finished_at: row[5].int(),
        owner: owner_of(row, 6),
        steps,
        id,
    })
}

pub(crate) fn owner_params(owner: Option<&Owner>) -> [Val; 5] {
    [
        Val::Text(owner.map(|o| o.host.clone())),
        Val::Int(owner.map(|o| i64::from(o.pid))),
        Val::Int(owner.map(|o| o.start_time as i64)),
        Val::Text(owner.map(|o| o.boot_id.clone())),
        Val::Int(owner.and_then(|o| o.pid_namespace).map(|n| n as i64)),
    ]
}

/// The next `seq` of `table` (schema `strata`): what "newest" means.
pub(crate) fn next_seq(s: &mut dyn Store, table: &str) -> Result<i64> {
    Ok(s.rows(
        &format!("SELECT COALESCE(MAX(seq), 0) + 1 FROM strata.{table}"),
        &[],
        &[Kind::Int],
    )?[0][0]
        .int()
        .unwrap_or(1))
}

/// `chain-YYYYMMDD.N`, N counting the chains of that day (UTC) from 0.
pub(crate) fn create(s: &mut dyn Store, new: &NewChain) -> Result<ChainRecord> {
    let date = jiff::Timestamp::from_second(new.created_at)
        .map_err(|e| RegistryError::InvalidChain {
            reason: format!("created_at {} is not a time: {e}", new.created_at),
        })?
        .strftime("%Y%m%d")
        .to_string();
    // One more than the day's highest: a prune removes old chains but
    // keeps the newest ([`crate::prune::plan_chains`]), so no ID is handed
    // out twice.
    let prefix = format!("chain-{date}.");
    let n = s
        .rows(
            "SELECT id FROM strata.chains WHERE id LIKE ?1",
            &[text(format!("{prefix}%"))],
            &[Kind::Text],
        )?
        .iter()
        .filter_map(|r| r[0].text()?.strip_prefix(&prefix)?.parse::<i64>().ok())
        .max()
        .map_or(0, |n| n + 1);
    let seq = next_seq(s, "chains")?;
    let id = format!("chain-{date}.{n}");
    for &seq in &new.consumes {
        crate::queue::consume(s, seq)?;
    }
    let mut params = vec![
        text(&*id),
        int(seq),
        text(new.events.to_string()),
        text(new.plan.to_string()),
        int(new.created_at),
    ];
    params.extend(owner_params(new.owner.as_ref()));
    s.exec(
        "INSERT INTO strata.chains (id, seq, state, events, plan, created_at, owner_host, \
         owner_pid, owner_start_time, owner_boot_id, owner_pid_namespace) \
         VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        &params,
    )?;
    for (position, (name, stream)) in new.steps.iter().enumerate() {
        s.exec(
            "INSERT INTO strata.chain_steps (chain_id, position, name, stream, state) \
             VALUES (?1, ?2, ?3, ?4, 'pending')",
            &[text(&*id), int(position as i64), text(name), text(stream)],
        )?;
    }
    get(s, &id)?.ok_or_else(|| corrupt(s.db(), &id, "not found after it was recorded".into()))
}

/// What a prune reads of the chains ([`crate::prune::plan_chains`]):
/// every chain newest first, without its plan, and which chain made
/// which compose.
pub(crate) fn prune_inputs(s: &mut dyn Store) -> Result<crate::prune::ChainPruneInputs> {
    let db = s.db().to_owned();
    let chains = s
        .rows(
            "SELECT id, state, created_at, finished_at FROM strata.chains ORDER BY seq DESC",
            &[],
            &[Kind::Text, Kind::Text, Kind::Int, Kind::Int],
        )?
        .into_iter()
        .map(|r| {
            let id = r[0].text().unwrap_or_default().to_owned();
            let state = r[1]
                .text()
                .unwrap_or_default()
                .parse()
                .map_err(|e| corrupt(&db, &id, format!("state: {e}")))?;
            Ok(crate::prune::ChainSummary {
                state,
                created_at: r[2].int().unwrap_or_default(),
                finished_at: r[3].int(),
                id,
            })
        })
        .collect::<Result<_>>()?;
    let made = s
        .rows(
            "SELECT id, chain_id FROM strata.composes WHERE chain_id IS NOT NULL",
            &[],
            &[Kind::Text, Kind::Text],
        )?
        .into_iter()
        .filter_map(|r| Some((r[0].text()?.to_owned(), r[1].text()?.to_owned())))
        .collect();
    Ok((chains, made))
}

/// The tables that hold a chain's rows, each with its column naming the
/// chain, in the order a removal deletes them: any stream lock it still
/// holds (an ended chain holds none), its steps, the chain.
pub(crate) const CHAIN_TABLES: [(&str, &str); 3] = [
    ("stream_locks", "chain_id"),
    ("chain_steps", "chain_id"),
    ("chains", "id"),
];

/// Removes the chains `plan` removes, a row at a time ([`CHAIN_TABLES`]).
pub(crate) fn remove(s: &mut dyn Store, plan: &crate::prune::ChainPrunePlan) -> Result<()> {
    for (table, column) in CHAIN_TABLES {
        let sql = format!("DELETE FROM strata.{table} WHERE {column} = ?1");
        for removed in &plan.removed {
            s.exec(&sql, &[text(&*removed.chain.id)])?;
        }
    }
    Ok(())
}

pub(crate) fn get(s: &mut dyn Store, chain_id: &str) -> Result<Option<ChainRecord>> {
    let rows = s.rows(
        &format!("SELECT {CHAIN_COLUMNS} FROM strata.chains WHERE id = ?1"),
        &[text(chain_id)],
        &CHAIN_KINDS,
    )?;
    rows.first().map(|r| read_chain(s, r)).transpose()
}

pub(crate) fn list(s: &mut dyn Store, limit: Option<usize>) -> Result<Vec<ChainRecord>> {
    let limit = limit.map_or(i64::MAX, |l| l as i64);
    let rows = s.rows(
        &format!("SELECT {CHAIN_COLUMNS} FROM strata.chains ORDER BY seq DESC LIMIT ?1"),
        &[int(limit)],
        &CHAIN_KINDS,
    )?;
    rows.iter().map(|r| read_chain(s, r)).collect()
}

fn no_chain(s: &dyn Store, chain_id: &str) -> RegistryError {
    RegistryError::NoSuchChain {
        db: s.db().to_owned(),
        chain_id: chain_id.to_owned(),
    }
}

pub(crate) fn update_step(
    s: &mut dyn Store,
    chain_id: &str,
    position: usize,
    update: &StepUpdate<'_>,
) -> Result<()> {
    let reason = update.reason.map(crate::stored::error_text);
    let changed = s.exec(
        "UPDATE strata.chain_steps SET state = ?3, compose_id = COALESCE(?4, compose_id), \
         reason = ?5 WHERE chain_id = ?1 AND position = ?2",
        &[
            text(chain_id),
            int(position as i64),
            text(update.state.as_str()),
            Val::Text(update.compose_id.map(str::to_owned)),
            Val::Text(reason.map(|r| r.into_owned())),
        ],
    )?;
    if changed == 0 {
        return Err(RegistryError::NoSuchStep {
            db: s.db().to_owned(),
            chain_id: chain_id.to_owned(),
            step: position.to_string(),
        });
    }
    Ok(())
}

/// Approves the step of `module` (`name:stream`); only a step not yet
/// run can be approved.
pub(crate) fn approve(
    s: &mut dyn Store,
    chain_id: &str,
    module: &str,
    by: &str,
    at: i64,
) -> Result<()> {
    let (name, stream) = module.split_once(':').unwrap_or((module, ""));
    let rows = s.rows(
        "SELECT state FROM strata.chain_steps WHERE chain_id = ?1 AND name = ?2 AND stream = ?3",
        &[text(chain_id), text(name), text(stream)],
        &[Kind::Text],
    )?;
    let Some(row) = rows.first() else {
        if get(s, chain_id)?.is_none() {
            return Err(no_chain(s, chain_id));
        }
        return Err(RegistryError::NoSuchStep {
            db: s.db().to_owned(),
            chain_id: chain_id.to_owned(),
            step: module.to_owned(),
        });
    };
    let state: StepState = row[0]
        .text()
        .unwrap_or_default()
        .parse()
        .map_err(|e| corrupt(s.db(), chain_id, format!("step state: {e}")))?;
    if !matches!(state, StepState::Pending | StepState::Waiting) {
        return Err(RegistryError::CannotApprove {
            db: s.db().to_owned(),
            chain_id: chain_id.to_owned(),
            step: module.to_owned(),
            state,
        });
    }
    s.exec(
        // The reason it waited ("waiting for approval") no longer holds.
        "UPDATE strata.chain_steps SET state = 'approved', approved_by = ?4, approved_at = ?5, \
         reason = NULL WHERE chain_id = ?1 AND name = ?2 AND stream = ?3",
        &[text(chain_id), text(name), text(stream), text(by), int(at)],
    )?;
    Ok(())
}

/// Sets the chain's state; `owner` (when given) takes it over (resume);
/// a state that ends it sets `finished_at` and releases its stream locks.
pub(crate) fn set_state(
    s: &mut dyn Store,
    chain_id: &str,
    state: ChainState,
    owner: Option<&Owner>,
    at: i64,
) -> Result<()> {
    let ends = matches!(
        state,
        ChainState::Finished | ChainState::Failed | ChainState::Stopped
    );
    let mut params = vec![
        text(chain_id),
        text(state.as_str()),
        Val::Int(ends.then_some(at)),
    ];
    params.extend(owner_params(owner));
    let sql = if owner.is_some() {
        "UPDATE strata.chains SET state = ?2, finished_at = ?3, owner_host = ?4, owner_pid = ?5, \
         owner_start_time = ?6, owner_boot_id = ?7, owner_pid_namespace = ?8 WHERE id = ?1"
    } else {
        "UPDATE strata.chains SET state = ?2, finished_at = ?3 WHERE id = ?1"
    };
    let params = if owner.is_some() {
        &params[..]
    } else {
        &params[..3]
    };
    if s.exec(sql, params)? == 0 {
        return Err(no_chain(s, chain_id));
    }
    if ends {
        s.exec(
            "DELETE FROM strata.stream_locks WHERE chain_id = ?1",
            &[text(chain_id)],
        )?;
    }
    Ok(())
}

/// Takes the lock of `name:stream` for `chain_id`, unless another chain
/// that may still run holds it. A holder that ended, or whose process is
/// provably gone, loses it.
pub(crate) fn lock_stream(
    s: &mut dyn Store,
    name: &str,
    stream: &str,
    chain_id: &str,
    now: i64,
) -> Result<StreamLock> {
    s.exec(
        "INSERT INTO strata.stream_locks (name, stream, chain_id, since) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (name, stream) DO NOTHING",
        &[text(name), text(stream), text(chain_id), int(now)],
    )?;
    let holder = s.rows(
        "SELECT chain_id FROM strata.stream_locks WHERE name = ?1 AND stream = ?2",
        &[text(name), text(stream)],
        &[Kind::Text],
    )?;
    let holder = holder
        .first()
        .and_then(|r| r[0].text())
        .unwrap_or_default()
        .to_owned();
    if holder == chain_id {
        return Ok(StreamLock::Taken);
    }
    let alive = match get(s, &holder)? {
        None => false,
        Some(other) => {
            matches!(other.state, ChainState::Running | ChainState::Waiting)
                && !matches!(
                    Owner::liveness_of(other.owner.as_ref(), Owner::current().as_ref()),
                    Liveness::Gone(_)
                )
        }
    };
    if alive {
        return Ok(StreamLock::HeldBy(holder));
    }
    // Compare and swap: only if the dead holder still holds it.
    let swapped = s.exec(
        "UPDATE strata.stream_locks SET chain_id = ?3, since = ?4 \
         WHERE name = ?1 AND stream = ?2 AND chain_id = ?5",
        &[
            text(name),
            text(stream),
            text(chain_id),
            int(now),
            text(&*holder),
        ],
    )?;
    Ok(if swapped == 1 {
        StreamLock::Taken
    } else {
        StreamLock::HeldBy(holder)
    })
}

pub(crate) fn unlock_stream(
    s: &mut dyn Store,
    name: &str,
    stream: &str,
    chain_id: &str,
) -> Result<()> {
    s.exec(
        "DELETE FROM strata.stream_locks WHERE name = ?1 AND stream = ?2 AND chain_id = ?3",
        &[text(name), text(stream), text(chain_id)],
    )?;
    Ok(())
}

/// How one test of a compose went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    pub name: String,
    /// `pending`, `passed` or `failed`.
    pub state: String,
    pub finished_at: Option<i64>,
    pub output: Option<String>,
}

/// What a compose records of the chain that made it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComposeChainInfo {
    pub chain: Option<crate::ChainCause>,
    /// The tests it was begun with, by name.
    pub tests: Vec<TestResult>,
}

pub(crate) fn compose_info(s: &mut dyn Store, compose_id: &str) -> Result<ComposeChainInfo> {
    let rows = s.rows(
        "SELECT chain_id, cause FROM strata.composes WHERE id = ?1",
        &[text(compose_id)],
        &[Kind::Text, Kind::Text],
    )?;
    let Some(row) = rows.first() else {
        return Err(RegistryError::NoSuchCompose {
            db: s.db().to_owned(),
            compose_id: compose_id.to_owned(),
        });
    };
    let chain = match (row[0].text(), row[1].text()) {
        (Some(chain_id), event) => Some(crate::ChainCause {
            chain_id: chain_id.to_owned(),
            event: event.unwrap_or_default().to_owned(),
        }),
        _ => None,
    };
    let tests = s
        .rows(
            "SELECT name, state, finished_at, output FROM strata.compose_tests \
             WHERE compose_id = ?1 ORDER BY name",
            &[text(compose_id)],
            &[Kind::Text, Kind::Text, Kind::Int, Kind::Text],
        )?
        .into_iter()
        .map(|r| TestResult {
            name: r[0].text().unwrap_or_default().to_owned(),
            state: r[1].text().unwrap_or_default().to_owned(),
            finished_at: r[2].int(),
            output: r[3].text().map(str::to_owned),
        })
        .collect();
    Ok(ComposeChainInfo { chain, tests })
}
