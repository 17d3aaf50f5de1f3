//! The shared backend: a PostgreSQL database, such as the one Koji's hub
//! and builders already share. The tables live in their own schema,
//! `strata` (`sql/postgresql.sql`), beside Koji's.
//!
//! `begin` runs in one transaction that first takes a transaction-scoped
//! advisory lock ([`BEGIN_LOCK`]), so the next respin and sequence number
//! are read and taken by one writer at a time, across every process and
//! machine using the database; the UNIQUE constraints refuse a duplicate
//! anyway. `finish` locks the compose's row (`SELECT … FOR UPDATE`), so a
//! compose ends once. Reads run in one `REPEATABLE READ` transaction, so
//! a record is never seen half-written.
//!
//! Connections are unencrypted (`NoTls`): use a Unix socket or a trusted
//! network, as Koji's hub does for its own database.
//!
//! Readers ([`PgRegistry::connect_read_only`]) create no schema and run
//! with `default_transaction_read_only`, so a read-only role works and
//! nothing they do writes.
//!
//! A server that stops answering must not hang a compose or `composes
//! list`: every round trip, the connection's handshake included, has a
//! client-side deadline ([`PgTimeouts`]), and the server is asked for the
//! same bound (`statement_timeout`) so that a slow statement fails there,
//! cleanly, first. TCP keepalives and `tcp_user_timeout` notice a peer
//! that vanished from the network; they cannot notice a stopped server
//! process, whose kernel still acknowledges everything, which is why the
//! deadline is kept on this side. Hence tokio-postgres under a runtime of
//! our own rather than the `postgres` crate, whose blocking calls cannot
//! be given a deadline.

#[cfg(test)]
mod test;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, IsolationLevel, NoTls, Row, Statement, Transaction};

use crate::chain::{self, ChainRecord, ChainState, NewChain, StepUpdate, StreamLock};
use crate::error::{Context, RegistryError};
use crate::owner::Owner;
use crate::prune::{self, PrunePlan, PrunePolicy};
use crate::queue::PendingEvent;
use crate::record::{
    ComposeRecord, ComposeSummary, ListFilter, NewCompose, Outcome, PackagesByArch,
};
use crate::release::{NewRelease, ReleaseOutcome, ReleaseRecord};
use crate::stored::{
    self, json_text, FilterArg, Parts, StoredCompose, StoredRecord, ERROR_CAP, RECORD_COLUMNS,
    REPORT_CAP, SUMMARY_COLUMNS,
};
use crate::{validate, Registry, Result};

/// The schema, version [`SCHEMA_VERSION`].
pub(crate) const SCHEMA_SQL: &str = include_str!("../../sql/postgresql.sql");

/// The newest schema version this code knows (the row `SCHEMA_SQL`
/// inserts into `strata.schema_version`).
pub(crate) const SCHEMA_VERSION: i64 = 13;

/// One schema step: SQL, then, where SQL alone cannot do it, code run in
/// the same transaction.
struct Migration {
    sql: &'static str,
    then: Option<fn(&mut Session<'_>, &str) -> Result<()>>,
}

/// `MIGRATIONS[i]` takes a database from version `i + 1` to `i + 2`
/// (version 1 is the first `SCHEMA_SQL`). Append only; `SCHEMA_SQL`
/// always creates what the last of them leaves, column order included.
const MIGRATIONS: &[Migration] = &[
    // 2: who runs a compose; one compressed package list per compose and
    // arch instead of a row per package; errors and reports capped.
    Migration {
        sql: "
        ALTER TABLE strata.composes
            ADD COLUMN owner_host          TEXT,
            ADD COLUMN owner_pid           BIGINT,
            ADD COLUMN owner_start_time    BIGINT,
            ADD COLUMN owner_boot_id       TEXT,
            ADD COLUMN owner_pid_namespace BIGINT;
        CREATE TABLE strata.compose_package_lists (
            compose_id TEXT   NOT NULL REFERENCES strata.composes (id),
            arch       TEXT   NOT NULL,
            count      BIGINT NOT NULL,
            -- zstd of the sorted NEVRAs joined by newlines.
            nevras     BYTEA  NOT NULL,
            PRIMARY KEY (compose_id, arch)
        );
        ",
        then: Some(compact_v1_rows),
    },
    // 3: the stream's modulemd, as a compose published it.
    Migration {
        sql: "
        CREATE TABLE strata.compose_modulemd (
            compose_id TEXT  NOT NULL REFERENCES strata.composes (id),
            arch       TEXT  NOT NULL,
            -- zstd of the stream's modulemd document for the arch.
            document   BYTEA NOT NULL,
            PRIMARY KEY (compose_id, arch)
        );
        ",
        then: None,
    },
    // 4: chained recomposes: a compose's chain and cause, the tests that
    // gate it, chains and their steps, and per-stream locks.
    Migration {
        sql: "
    -- The chain that made a compose and the event that caused it.
    ALTER TABLE strata.composes
        ADD COLUMN chain_id TEXT,
        ADD COLUMN cause    TEXT;
    CREATE INDEX composes_by_chain ON strata.composes (chain_id);

    -- The tests a compose must pass to be good, named when it begins;
    -- a compose with a test not 'passed' is recorded but not good.
    CREATE TABLE strata.compose_tests (
        compose_id  TEXT   NOT NULL REFERENCES strata.composes (id),
        name        TEXT   NOT NULL,
        state       TEXT   NOT NULL
                    CHECK (state IN ('pending', 'passed', 'failed')),
        finished_at BIGINT,
        output      TEXT,              -- capped like errors
        PRIMARY KEY (compose_id, name)
    );

    -- Chains: what caused them, their plan, and where each step stands,
    -- so that a chain killed at any point resumes from here.
    CREATE TABLE strata.chains (
        id                  TEXT   NOT NULL PRIMARY KEY,
        seq                 BIGINT NOT NULL UNIQUE,
        state               TEXT   NOT NULL
                            CHECK (state IN ('running', 'waiting', 'finished', 'failed', 'stopped')),
        events              TEXT   NOT NULL,  -- JSON array: the cause events
        plan                TEXT   NOT NULL,  -- JSON: the plan as `strata impact --json` prints it
        created_at          BIGINT NOT NULL,
        finished_at         BIGINT,
        owner_host          TEXT,
        owner_pid           BIGINT,
        owner_start_time    BIGINT,
        owner_boot_id       TEXT,
        owner_pid_namespace BIGINT
    );

    CREATE TABLE strata.chain_steps (
        chain_id    TEXT   NOT NULL REFERENCES strata.chains (id),
        -- Order in the plan, bottom-up.
        position    BIGINT NOT NULL,
        name        TEXT   NOT NULL,
        stream      TEXT   NOT NULL,
        state       TEXT   NOT NULL
                    CHECK (state IN ('pending', 'waiting', 'approved', 'running',
                                     'finished', 'failed', 'reused', 'skipped')),
        -- The compose this step made or reused. No reference: pruning a
        -- compose keeps the chain's history readable.
        compose_id  TEXT,
        -- Why: the excuse (composed on a last good compose), or why the
        -- step was skipped or failed; capped like errors.
        reason      TEXT,
        approved_by TEXT,
        approved_at BIGINT,
        PRIMARY KEY (chain_id, position),
        UNIQUE (chain_id, name, stream)
    );

    -- At most one chain recomposes a module stream at a time.
    CREATE TABLE strata.stream_locks (
        name     TEXT   NOT NULL,
        stream   TEXT   NOT NULL,
        chain_id TEXT   NOT NULL REFERENCES strata.chains (id),
        since    BIGINT NOT NULL,
        PRIMARY KEY (name, stream)
    );
        ",
        then: None,
    },
    // 5: artifact composes in the table of module composes. Kept apart
    // from 4, which a parallel branch still edits.
    Migration {
        sql: "
    ALTER TABLE strata.composes
        ADD COLUMN record_kind   TEXT NOT NULL DEFAULT 'module'
                                 CHECK (record_kind IN ('module', 'artifact')),
        ADD COLUMN artifact_kind TEXT
                                 CHECK (artifact_kind IN ('container', 'ostree', 'iso')),
        ADD COLUMN build_id      TEXT;
    CREATE INDEX composes_by_kind ON strata.composes (record_kind, seq);
        ",
        then: None,
    },
    // 6: each finished compose's fingerprint digest; the queue of chain
    // events waiting for their debounce window.
    Migration {
        sql: "
    ALTER TABLE strata.composes ADD COLUMN fingerprint TEXT;
    CREATE TABLE strata.chain_events (
        seq          BIGINT NOT NULL PRIMARY KEY,
        event        TEXT   NOT NULL,
        submitted_at BIGINT NOT NULL
    );
    CREATE INDEX compose_inputs_lean ON strata.compose_inputs (compose_id, position)
        WHERE kind <> 'stack_compose';
        ",
        then: None,
    },
    // 7: release composes and the composes each ships.
    Migration {
        sql: "
    -- Release composes (strata release compose): a release frozen into a
    -- compose of its own. Apart from `composes`, so that no query over
    -- module and artifact composes (last good, listings, pruning, impact)
    -- can take a release for one; a release's respin also counts the
    -- composes with its ID base, so IDs never collide.
    CREATE TABLE strata.releases (
        id                TEXT   NOT NULL PRIMARY KEY,
        -- Order of begin in this registry: what 'newest' means.
        seq               BIGINT NOT NULL UNIQUE,
        id_base           TEXT   NOT NULL,
        respin            BIGINT NOT NULL,
        name              TEXT   NOT NULL,
        version           TEXT   NOT NULL,
        compose_type      TEXT   NOT NULL,
        compose_date      TEXT   NOT NULL,
        -- The release's scheduled date, YYYY-MM-DD.
        release_date      TEXT   NOT NULL,
        state             TEXT   NOT NULL
                          CHECK (state IN ('started', 'finished', 'failed')),
        definition_path   TEXT   NOT NULL,
        -- sha256 of the release document.
        definition_digest TEXT   NOT NULL,
        arches            TEXT   NOT NULL,  -- JSON array
        started_at        BIGINT NOT NULL,
        finished_at       BIGINT,
        output_path       TEXT,
        error             TEXT,              -- capped like compose errors
        UNIQUE (id_base, respin)
    );

    -- Every compose a release ships, in order: its modules, the modules
    -- below them, its artifacts. No reference to `composes`: pruning a
    -- compose keeps a release's history readable.
    CREATE TABLE strata.release_inputs (
        release_id TEXT   NOT NULL REFERENCES strata.releases (id),
        position   BIGINT NOT NULL,
        kind       TEXT   NOT NULL CHECK (kind IN ('module', 'stack', 'artifact')),
        name       TEXT   NOT NULL,
        compose_id TEXT   NOT NULL,
        PRIMARY KEY (release_id, position)
    );
    CREATE INDEX release_inputs_by_compose ON strata.release_inputs (compose_id);
        ",
        then: None,
    },
    // 8: who runs a release compose (NULL for those begun before), and
    // the SCM reference of its release document.
    Migration {
        sql: "
    ALTER TABLE strata.releases
        ADD COLUMN owner_host          TEXT,
        ADD COLUMN owner_pid           BIGINT,
        ADD COLUMN owner_start_time    BIGINT,
        ADD COLUMN owner_boot_id       TEXT,
        ADD COLUMN owner_pid_namespace BIGINT,
        ADD COLUMN scm_ref             TEXT;
        ",
        then: None,
    },
    // 9: the last number handed to a queued chain event, so that none is
    // handed out twice.
    Migration {
        sql: "
    CREATE TABLE strata.counters (
        name  TEXT   NOT NULL PRIMARY KEY,
        value BIGINT NOT NULL
    );
    INSERT INTO strata.counters (name, value)
        SELECT 'chain_events', COALESCE(MAX(seq), 0) FROM strata.chain_events;
        ",
        then: None,
    },
    // 10: the lookup of a compose's users indexes direct requires only
    // (sqlite/schema.rs V10 says why).
    Migration {
        sql: "
    DROP INDEX strata.compose_inputs_by_ident;
    CREATE INDEX compose_inputs_direct ON strata.compose_inputs (ident)
        WHERE kind = 'compose';
    DROP INDEX strata.compose_inputs_lean;
    CREATE INDEX compose_inputs_lean
        ON strata.compose_inputs (compose_id, position) INCLUDE (kind, name, ident, location)
        WHERE kind <> 'stack_compose';
        ",
        then: None,
    },
    // 11: a finished compose's lean inputs and repositories in its row
    // (sqlite/schema.rs V11 says why), filled in for those finished before.
    Migration {
        sql: "
    ALTER TABLE strata.composes ADD COLUMN lean TEXT;
    UPDATE strata.composes c SET lean = json_build_array(
        COALESCE((SELECT json_agg(json_build_array(i.kind, i.name, i.ident, i.location)
                                  ORDER BY i.position)
                  FROM strata.compose_inputs i
                  WHERE i.compose_id = c.id AND i.kind <> 'stack_compose'), '[]'::json),
        COALESCE((SELECT json_agg(json_build_array(r.arch, r.path) ORDER BY r.arch)
                  FROM strata.compose_repos r WHERE r.compose_id = c.id), '[]'::json))::text
    WHERE c.state = 'finished';
        ",
        then: None,
    },
    // 12: a finished compose's stack digest in its row (sqlite/schema.rs
    // V12 says why); NULL for those finished before.
    Migration {
        sql: "
    ALTER TABLE strata.composes ADD COLUMN stack_digest TEXT;
        ",
        then: None,
    },
    // 13: what tells this registry from others; the last good compose's ID
    // read from the index alone (sqlite/schema.rs V13 says why).
    Migration {
        sql: "
    CREATE TABLE strata.registry_info (
        name  TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
    );
    INSERT INTO strata.registry_info (name, value)
        VALUES ('instance', md5(random()::text || clock_timestamp()::text));
    DROP INDEX strata.composes_by_stream;
    CREATE INDEX composes_by_stream ON strata.composes (name, stream, state, seq) INCLUDE (id);
        ",
        then: None,
    },
];

/// Moves version 1's package rows into lists, one compose at a time, drops
/// their table, and caps the errors and reports stored before caps existed.
fn compact_v1_rows(tx: &mut Session<'_>, db: &str) -> Result<()> {
    let action = || "move the package rows of version 1 into package lists".to_owned();
    let ids: Vec<String> = tx
        .query(
            "SELECT DISTINCT compose_id FROM strata.compose_packages",
            &[],
        )
        .ctx(db, action)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in &ids {
        let mut packages = PackagesByArch::new();
        let rows = tx
            .query(
                "SELECT arch, nevra FROM strata.compose_packages WHERE compose_id = $1",
                &[id],
            )
            .ctx(db, action)?;
        for row in rows {
            packages.entry(row.get(0)).or_default().insert(row.get(1));
        }
        for (arch, count, blob) in stored::encode_packages(&packages) {
            tx.execute(
                "INSERT INTO strata.compose_package_lists (compose_id, arch, count, nevras) \
                 VALUES ($1, $2, $3, $4)",
                &[id, &arch, &count, &blob],
            )
            .ctx(db, action)?;
        }
    }
    tx.batch("DROP TABLE strata.compose_packages")
        .ctx(db, action)?;

    let cap_action = || "cap the errors and reports of version 1".to_owned();
    let (error_cap, report_cap) = (ERROR_CAP as i64, REPORT_CAP as i64);
    let long = tx
        .query(
            "SELECT id, CASE WHEN octet_length(error) > $1::bigint THEN error END, \
                    CASE WHEN octet_length(report) > $2::bigint THEN report END \
             FROM strata.composes \
             WHERE octet_length(error) > $1::bigint OR octet_length(report) > $2::bigint",
            &[&error_cap, &report_cap],
        )
        .ctx(db, cap_action)?;
    for row in long {
        let (id, error, report): (String, Option<String>, Option<String>) =
            (row.get(0), row.get(1), row.get(2));
        if let Some(error) = error {
            let capped = stored::error_text(&error);
            tx.execute(
                "UPDATE strata.composes SET error = $2 WHERE id = $1",
                &[&id, &capped.as_ref()],
            )
            .ctx(db, cap_action)?;
        }
        if let Some(report) = report {
            tx.execute(
                "UPDATE strata.composes SET report = $2 WHERE id = $1",
                &[&id, &stored::cap_report(report)],
            )
            .ctx(db, cap_action)?;
        }
    }
    Ok(())
}

/// Advisory lock keys ("STRA" and a number), held for one transaction:
/// creating or updating the schema, and allocating a compose ID.
pub(crate) const MIGRATE_LOCK: i64 = 0x5354_5241_0000_0001;
pub(crate) const BEGIN_LOCK: i64 = 0x5354_5241_0000_0002;

/// How long a wait for a lock another writer holds may take before the
/// operation fails.
const LOCK_TIMEOUT: &str = "60s";

/// How long PostgreSQL may take (`[registry]` in strata.toml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTimeouts {
    /// Connecting, handshake and login included (`connect_timeout` in the
    /// URL wins).
    pub connect: Duration,
    /// One statement, on the server (`statement_timeout`) and waiting for
    /// it here.
    pub statement: Duration,
}

impl Default for PgTimeouts {
    fn default() -> Self {
        PgTimeouts {
            connect: Duration::from_secs(30),
            statement: Duration::from_secs(60),
        }
    }
}

/// How much longer than the statement timeout the client waits, so that
/// the server's own timeout error, which leaves the connection usable,
/// comes first when the server is alive.
const GRACE: Duration = Duration::from_secs(2);

/// A registry in a PostgreSQL database. Each value holds its own
/// connection; threads and processes each open their own.
pub struct PgRegistry {
    conn: Mutex<Conn>,
    /// The connection URL without its password, as shown in errors.
    db: String,
}

impl std::fmt::Debug for PgRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRegistry")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// A PostgreSQL error that reads well on its own: the server's message
/// (with its detail and hint) rather than the driver's "db error"; or a
/// server that did not answer in time.
#[derive(Debug)]
enum PgError {
    Db(tokio_postgres::Error),
    /// No answer within `after`; `limit` says which setting gives it.
    Stalled {
        after: Duration,
        limit: String,
    },
    /// An earlier wait timed out, so the connection's state is unknown.
    GivenUp,
    Runtime(std::io::Error),
}

fn secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = match self {
            PgError::Db(e) => e,
            PgError::Stalled { after, limit } => {
                return write!(
                    f,
                    "the server did not answer within {} ({limit})",
                    secs(*after)
                )
            }
            PgError::GivenUp => {
                return f
                    .write_str("the connection was given up after the server stopped answering")
            }
            PgError::Runtime(e) => return write!(f, "cannot start the client's runtime: {e}"),
        };
        match e.as_db_error() {
            Some(e) => {
                write!(
                    f,
                    "{}: {} (SQLSTATE {})",
                    e.severity(),
                    e.message(),
                    e.code().code()
                )?;
                if let Some(detail) = e.detail() {
                    write!(f, "; {detail}")?;
                }
                if let Some(hint) = e.hint() {
                    write!(f, "; hint: {hint}")?;
                }
                Ok(())
            }
            None => e.fmt(f),
        }
    }
}

impl std::error::Error for PgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Already in the message.
            PgError::Db(e) if e.as_db_error().is_some() => None,
            PgError::Db(e) => std::error::Error::source(e),
            _ => None,
        }
    }
}

type PgResult<T> = std::result::Result<T, PgError>;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Where the client waits for the server: its runtime, and how long.
struct Waiter {
    rt: Runtime,
    /// The statement timeout and its grace.
    wait: Duration,
    statement: Duration,
    given_up: bool,
}

impl Waiter {
    /// Runs one round trip to the server, within the deadline. After a
    /// deadline has passed, the connection is not used again: the server
    /// may still act on what it was sent.
    fn block<T>(
        &mut self,
        fut: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> PgResult<T> {
        if self.given_up {
            return Err(PgError::GivenUp);
        }
        match self
            .rt
            .block_on(async { tokio::time::timeout(self.wait, fut).await })
        {
            Ok(r) => r.map_err(PgError::Db),
            Err(_) => {
                self.given_up = true;
                Err(PgError::Stalled {
                    after: self.wait,
                    limit: format!(
                        "[registry] statement_timeout = {} and {} more",
                        secs(self.statement),
                        secs(GRACE)
                    ),
                })
            }
        }
    }
}

/// The connection and the statements prepared on it, by SQL text: each
/// query is then one round trip instead of two (parse, then execute).
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
    waiter: Waiter,
}

impl Conn {
    /// Starts a transaction with `start`, within the deadline.
    fn session<'a, F>(
        &'a mut self,
        start: impl FnOnce(&'a mut Client) -> F,
    ) -> PgResult<Session<'a>>
    where
        F: Future<Output = std::result::Result<Transaction<'a>, tokio_postgres::Error>>,
    {
        let Conn {
            client,
            statements,
            waiter,
        } = self;
        Ok(Session {
            tx: Some(waiter.block(start(client))?),
            statements,
            waiter,
        })
    }

    /// Starts a read-write transaction (read committed).
    fn write(&mut self) -> PgResult<Session<'_>> {
        self.session(|c| c.transaction())
    }

    /// Starts a read-only snapshot.
    fn read(&mut self) -> PgResult<Session<'_>> {
        self.session(|c| {
            c.build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
        })
    }
}

/// One transaction, with the connection's prepared statements. Dropped
/// without a commit (an error returned mid-way), it is rolled back there
/// and then: the connection is only driven while a call waits on it, so a
/// rollback merely queued would keep the transaction, and the registry
/// lock `begin` holds, open until the connection's next use.
struct Session<'a> {
    /// `Some` until committed or dropped.
    tx: Option<Transaction<'a>>,
    statements: &'a mut HashMap<String, Statement>,
    waiter: &'a mut Waiter,
}

const OPEN: &str = "a session is open until committed or dropped";

impl Session<'_> {
    fn statement(&mut self, sql: &str) -> PgResult<Statement> {
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = self
            .waiter
            .block(self.tx.as_ref().expect(OPEN).prepare(sql))?;
        self.statements.insert(sql.to_owned(), st.clone());
        Ok(st)
    }

    fn query(&mut self, sql: &str, params: Params<'_>) -> PgResult<Vec<Row>> {
        let st = self.statement(sql)?;
        self.waiter
            .block(self.tx.as_ref().expect(OPEN).query(&st, params))
    }

    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> PgResult<Option<Row>> {
        let st = self.statement(sql)?;
        self.waiter
            .block(self.tx.as_ref().expect(OPEN).query_opt(&st, params))
    }

    fn query_one(&mut self, sql: &str, params: Params<'_>) -> PgResult<Row> {
        let st = self.statement(sql)?;
        self.waiter
            .block(self.tx.as_ref().expect(OPEN).query_one(&st, params))
    }

    fn execute(&mut self, sql: &str, params: Params<'_>) -> PgResult<u64> {
        let st = self.statement(sql)?;
        self.waiter
            .block(self.tx.as_ref().expect(OPEN).execute(&st, params))
    }

    /// Statements run as they are, without parameters or preparing.
    fn batch(&mut self, sql: &str) -> PgResult<()> {
        self.waiter
            .block(self.tx.as_ref().expect(OPEN).batch_execute(sql))
    }

    fn commit(mut self) -> PgResult<()> {
        let tx = self.tx.take().expect("a session is open until committed");
        self.waiter.block(tx.commit())
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            // A connection past a deadline is not used again (Waiter).
            if !self.waiter.given_up {
                let _ = self.waiter.block(tx.rollback());
            }
        }
    }
}

/// `url` as it may be shown: without the password, whether it is in the
/// user information (`postgresql://user:secret@host/db`) or a
/// `password=` parameter. A libpq keyword string is not shown at all.
pub fn redact_url(url: &str) -> String {
    if !url.contains("://") {
        return "(a PostgreSQL connection string)".into();
    }
    strata_model::redact_credentials(url).into_owned()
}

fn stored_compose(r: &Row) -> StoredCompose {
    StoredCompose {
        id: r.get(0),
        name: r.get(1),
        stream: r.get(2),
        compose_type: r.get(3),
        date: r.get(4),
        respin: r.get(5),
        state: r.get(6),
        version: r.get(7),
        context: r.get(8),
        definition_path: r.get(9),
        definition_digest: r.get(10),
        scm_ref: r.get(11),
        arches: r.get(12),
        started_at: r.get(13),
        finished_at: r.get(14),
        output_path: r.get(15),
        timings: r.get(16),
        error: r.get(17),
        report: r.get(18),
        owner_host: r.get(19),
        owner_pid: r.get(20),
        owner_start_time: r.get(21),
        owner_boot_id: r.get(22),
        owner_pid_namespace: r.get(23),
        record_kind: r.get(24),
        artifact_kind: r.get(25),
        build_id: r.get(26),
        stack_digest: r.get(27),
    }
}

/// Reads compose `id` with everything that belongs to it.
fn load(c: &mut Session<'_>, db: &str, id: &str) -> Result<Option<ComposeRecord>> {
    load_parts(c, db, id, Parts::Whole)
}

/// The row of compose `$1`, with its `lean` column last.
static COMPOSE_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {RECORD_COLUMNS}, lean FROM strata.composes WHERE id = $1"));

/// The newest good compose of `$1:$2`: its row, with its `lean` column
/// last. The good test stays in the query: a compose is good or not by
/// its tests, whatever its `lean` column holds.
static LATEST_GOOD_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {RECORD_COLUMNS}, lean FROM strata.composes WHERE name = $1 AND stream = $2 \
         AND state = 'finished' AND {} ORDER BY seq DESC LIMIT 1",
        stored::good_sql("strata.")
    )
});

/// The newest good compose of each `($1[i], $2[i])`, with its `lean`
/// column last, in one query.
static LATEST_GOOD_MANY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT DISTINCT ON (name, stream) {RECORD_COLUMNS}, lean FROM strata.composes \
         WHERE (name, stream) IN (SELECT * FROM unnest($1::text[], $2::text[])) \
         AND state = 'finished' AND {} ORDER BY name, stream, seq DESC",
        stored::good_sql("strata.")
    )
});

/// The ID of the newest good compose of each `(name, stream)` of `$1`
/// and `$2`, from the index `composes_by_stream` alone (schema version 13).
static LATEST_GOOD_IDS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT DISTINCT ON (name, stream) name, stream, id FROM strata.composes \
         WHERE (name, stream) IN (SELECT * FROM unnest($1::text[], $2::text[])) \
         AND state = 'finished' AND {} ORDER BY name, stream, seq DESC",
        stored::good_sql("strata.")
    )
});

/// A row read with [`COMPOSE_SQL`] or the last good queries: the compose
/// and its `lean` column.
fn compose_and_lean(r: &Row) -> (StoredCompose, Option<String>) {
    (stored_compose(r), r.get(28))
}

/// Compose `id`, as much of it as `parts` says.
fn load_parts(
    c: &mut Session<'_>,
    db: &str,
    id: &str,
    parts: Parts,
) -> Result<Option<ComposeRecord>> {
    let row = c
        .query_opt(&COMPOSE_SQL, &[&id])
        .ctx(db, || format!("read compose `{id}`"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (compose, lean) = compose_and_lean(&row);
    load_rest(c, db, compose, lean, parts).map(Some)
}

/// A record from its `composes` row and `lean` column, read as the SQLite
/// backend's `load_rest` reads it: the rest of what `parts` asks for comes
/// from the other tables, unless the column holds it.
fn load_rest(
    c: &mut Session<'_>,
    db: &str,
    compose: StoredCompose,
    lean: Option<String>,
    parts: Parts,
) -> Result<ComposeRecord> {
    let (compose, (lean_inputs, lean_repos)) =
        stored::from_lean(db, compose, lean.as_deref(), parts)?;
    let id = compose.id.clone();
    let id = id.as_str();
    let action = || format!("read compose `{id}`");
    let inputs = match lean_inputs {
        Some(inputs) => inputs,
        None => c
            .query(
                if parts.stack() {
                    "SELECT kind, name, ident, location FROM strata.compose_inputs \
                     WHERE compose_id = $1 ORDER BY position"
                } else {
                    "SELECT kind, name, ident, location FROM strata.compose_inputs \
                     WHERE compose_id = $1 AND kind <> 'stack_compose' ORDER BY position"
                },
                &[&id],
            )
            .ctx(db, action)?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect(),
    };
    let packages = if !parts.contents() {
        Vec::new()
    } else {
        c.query(
            "SELECT arch, count, nevras FROM strata.compose_package_lists WHERE compose_id = $1",
            &[&id],
        )
        .ctx(db, action)?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
    };
    let (repos, modulemd) = if compose.output_path.is_some() {
        let repos = match lean_repos {
            Some(repos) => repos,
            None => c
                .query(
                    "SELECT arch, path FROM strata.compose_repos WHERE compose_id = $1",
                    &[&id],
                )
                .ctx(db, action)?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
        };
        let modulemd = if !parts.contents() {
            Vec::new()
        } else {
            c.query(
                "SELECT arch, document FROM strata.compose_modulemd WHERE compose_id = $1",
                &[&id],
            )
            .ctx(db, action)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
        };
        (repos, modulemd)
    } else {
        (Vec::new(), Vec::new())
    };
    stored::build(
        db,
        StoredRecord {
            compose,
            inputs,
            packages,
            repos,
            modulemd,
        },
    )
}

fn insert_packages(
    c: &mut Session<'_>,
    db: &str,
    id: &str,
    packages: &PackagesByArch,
) -> Result<()> {
    for (arch, count, nevras) in stored::encode_packages(packages) {
        c.execute(
            "INSERT INTO strata.compose_package_lists (compose_id, arch, count, nevras) \
             VALUES ($1, $2, $3, $4)",
            &[&id, &arch, &count, &nevras],
        )
        .ctx(db, || format!("record the packages of compose `{id}`"))?;
    }
    Ok(())
}

/// The `WHERE … ORDER BY … LIMIT` of a listing, and its arguments.
fn filter_sql(filter: &ListFilter) -> (String, Vec<Box<dyn ToSql + Sync>>) {
    let (sql, args) = stored::filter_sql(filter, "strata.", |n| format!("${n}"));
    let args = args
        .into_iter()
        .map(|a| -> Box<dyn ToSql + Sync> {
            match a {
                FilterArg::Text(t) => Box::new(t),
                FilterArg::Int(i) => Box::new(i),
            }
        })
        .collect();
    (sql, args)
}

/// `(compose, arch, value)` rows grouped by compose.
fn by_compose<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    c: &mut Session<'_>,
    db: &str,
    sql: &str,
    params: Params<'_>,
) -> Result<HashMap<String, Vec<(String, T)>>> {
    let mut map: HashMap<String, Vec<(String, T)>> = HashMap::new();
    for r in c.query(sql, params).ctx(db, || "list composes".into())? {
        map.entry(r.get(0)).or_default().push((r.get(1), r.get(2)));
    }
    Ok(map)
}

/// Summaries of the composes `filter` matches: the rows, their
/// repositories and package counts, in three queries.
fn summaries(c: &mut Session<'_>, db: &str, filter: &ListFilter) -> Result<Vec<ComposeSummary>> {
    let action = || "list composes".to_owned();
    let (filter_sql, args) = filter_sql(filter);
    let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
    let rows: Vec<StoredCompose> = c
        .query(
            &format!("SELECT {SUMMARY_COLUMNS} FROM strata.composes{filter_sql}"),
            &params,
        )
        .ctx(db, action)?
        .iter()
        .map(stored_compose)
        .collect();
    let matching = format!("SELECT id FROM strata.composes{filter_sql}");
    let repos = by_compose::<String>(
        c,
        db,
        &format!(
            "SELECT compose_id, arch, path FROM strata.compose_repos \
             WHERE compose_id IN ({matching})"
        ),
        &params,
    )?;
    let counts = by_compose::<i64>(
        c,
        db,
        &format!(
            "SELECT compose_id, arch, count FROM strata.compose_package_lists \
             WHERE compose_id IN ({matching})"
        ),
        &params,
    )?;
    stored::build_summaries(db, rows, repos, counts)
}

/// Every compose, newest first, and every compose-on-compose input.
fn prune_inputs(c: &mut Session<'_>, db: &str) -> Result<prune::PruneInputs> {
    let all = summaries(c, db, &ListFilter::default())?;
    let uses = c
        .query(
            "SELECT compose_id, ident FROM strata.compose_inputs \
             WHERE kind IN ('compose', 'stack_compose')",
            &[],
        )
        .ctx(db, || "read which composes used which".into())?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let not_good = c
        .query(
            "SELECT DISTINCT compose_id FROM strata.compose_tests WHERE state <> 'passed'",
            &[],
        )
        .ctx(db, || "read which composes' tests did not pass".into())?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok((all, uses, not_good))
}

/// Creates the schema in a database that has none (unless `create` is
/// false: then that is [`RegistryError::Missing`]), updates an older one,
/// and refuses a newer one. Safe to race: the advisory lock makes
/// processes opening a new database queue, and all but the first find the
/// schema there.
fn migrate(conn: &mut Conn, db: &str, create: bool) -> Result<()> {
    let mut tx = conn
        .write()
        .ctx(db, || "start checking the schema".into())?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .ctx(db, || "lock the registry to check its schema".into())?;
    let row = tx
        .query_one(
            "SELECT to_regclass('strata.schema_version') IS NOT NULL, \
             (SELECT count(*) FROM pg_catalog.pg_class c \
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
              WHERE n.nspname = 'strata' AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))",
            &[],
        )
        .ctx(db, || "look for the schema `strata`".into())?;
    let (versioned, tables): (bool, i64) = (row.get(0), row.get(1));
    if versioned {
        let found: Option<i64> = tx
            .query_one("SELECT max(version) FROM strata.schema_version", &[])
            .ctx(db, || "read the schema version".into())?
            .get(0);
        match found {
            None => {
                return Err(RegistryError::NotARegistry {
                    db: db.to_owned(),
                    reason: "its table strata.schema_version is empty".into(),
                })
            }
            Some(found) if found > SCHEMA_VERSION => {
                return Err(RegistryError::NewerSchema {
                    db: db.to_owned(),
                    found,
                    known: SCHEMA_VERSION,
                })
            }
            Some(found) if found < 1 => {
                return Err(RegistryError::NotARegistry {
                    db: db.to_owned(),
                    reason: format!("strata.schema_version says version {found}"),
                })
            }
            Some(found) if found < SCHEMA_VERSION => {
                let updated = apply_migrations(&mut tx, db, found);
                if !create {
                    // A reader that cannot update says what it found.
                    updated.map_err(|e| RegistryError::OldSchema {
                        db: db.to_owned(),
                        found,
                        known: SCHEMA_VERSION,
                        source: Box::new(e),
                    })?;
                } else {
                    updated?;
                }
            }
            Some(_) => {}
        }
    } else if tables > 0 {
        return Err(RegistryError::NotARegistry {
            db: db.to_owned(),
            reason: format!(
                "its schema `strata` has {tables} tables or views but no strata.schema_version"
            ),
        });
    } else if !create {
        return Err(RegistryError::Missing {
            db: db.to_owned(),
            reason: "the database has no schema `strata`, so nothing has been composed with \
                     it yet (check --registry or [registry] url)"
                .into(),
        });
    } else {
        tx.batch(SCHEMA_SQL).ctx(db, || {
            format!("create the schema `strata` (version {SCHEMA_VERSION})")
        })?;
        tracing::info!(db, version = SCHEMA_VERSION, "registry schema created");
    }
    tx.commit().ctx(db, || "commit the schema check".into())
}

/// Brings a database at version `found` up to [`SCHEMA_VERSION`].
fn apply_migrations(tx: &mut Session<'_>, db: &str, found: i64) -> Result<()> {
    for (i, step) in MIGRATIONS.iter().enumerate().skip((found - 1) as usize) {
        let to = i as i64 + 2;
        let action = || format!("update the schema from version {} to {to}", to - 1);
        tx.batch(step.sql).ctx(db, action)?;
        if let Some(then) = step.then {
            then(tx, db)?;
        }
        tx.execute(
            "INSERT INTO strata.schema_version (version) VALUES ($1)",
            &[&to],
        )
        .ctx(db, action)?;
    }
    tracing::info!(
        db,
        from = found,
        to = SCHEMA_VERSION,
        "registry schema updated"
    );
    Ok(())
}

impl PgRegistry {
    /// Connects to the database at `url` (`postgresql://user@host/db` or
    /// `postgres://…`; a Unix socket directory goes in `host=`:
    /// `postgresql:///koji?host=/run/postgresql`) and creates the schema
    /// `strata` in it if it has none.
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, &PgTimeouts::default())
    }

    /// [`PgRegistry::connect`] with these timeouts.
    pub fn connect_with(url: &str, timeouts: &PgTimeouts) -> Result<Self> {
        Self::open(url, timeouts, true)
    }

    /// Connects to the database at `url` for reading only: it creates no
    /// schema (none is [`RegistryError::Missing`]), works with a role that
    /// may only read, and every transaction is read-only, so writes fail.
    /// A schema of an older version is updated first, if the role may.
    pub fn connect_read_only(url: &str) -> Result<Self> {
        Self::connect_read_only_with(url, &PgTimeouts::default())
    }

    /// [`PgRegistry::connect_read_only`] with these timeouts.
    pub fn connect_read_only_with(url: &str, timeouts: &PgTimeouts) -> Result<Self> {
        Self::open(url, timeouts, false)
    }

    fn open(url: &str, timeouts: &PgTimeouts, writer: bool) -> Result<Self> {
        if !crate::location::is_postgres_url(url) {
            return Err(RegistryError::Location {
                location: redact_url(url),
                reason: "a PostgreSQL registry is named by a postgresql:// or postgres:// URL"
                    .into(),
            });
        }
        let db = redact_url(url);
        let open_error = |e: PgError| RegistryError::Open {
            db: db.clone(),
            source: Box::new(e),
        };
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| open_error(PgError::Db(e)))?;
        let (connect, limit) = match config.get_connect_timeout() {
            Some(&t) => (t, "connect_timeout in the URL".to_string()),
            None => {
                config.connect_timeout(timeouts.connect);
                (
                    timeouts.connect,
                    "connect timeout; set [registry] connect_timeout".to_string(),
                )
            }
        };
        if config.get_application_name().is_none() {
            config.application_name("strata");
        }
        let wait = timeouts.statement + GRACE;
        // A peer gone from the network (not a stopped server: see the
        // module's documentation) is noticed between statements too.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3)
            .tcp_user_timeout(wait);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| open_error(PgError::Runtime(e)))?;
        // The whole handshake within the connect timeout: the driver's own
        // covers the TCP connect only, and a stopped server accepts that.
        let connected =
            rt.block_on(async { tokio::time::timeout(connect, config.connect(NoTls)).await });
        let (client, connection) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(open_error(PgError::Db(e))),
            Err(_) => {
                return Err(open_error(PgError::Stalled {
                    after: connect,
                    limit,
                }))
            }
        };
        // Driven whenever the client waits for an answer.
        rt.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("PostgreSQL connection ended: {e}");
            }
        });
        let mut conn = Conn {
            client,
            statements: HashMap::new(),
            waiter: Waiter {
                rt,
                wait,
                statement: timeouts.statement,
                given_up: false,
            },
        };
        let settings = format!(
            "SET lock_timeout = '{LOCK_TIMEOUT}'; SET statement_timeout = '{}ms'",
            timeouts.statement.as_millis().max(1)
        );
        let Conn { client, waiter, .. } = &mut conn;
        waiter
            .block(client.batch_execute(&settings))
            .map_err(open_error)?;
        migrate(&mut conn, &db, writer)?;
        if !writer {
            let Conn { client, waiter, .. } = &mut conn;
            waiter
                .block(client.batch_execute("SET default_transaction_read_only = on"))
                .map_err(open_error)?;
        }
        Ok(PgRegistry {
            conn: Mutex::new(conn),
            db,
        })
    }

    /// The database as shown in messages: the URL without its password.
    pub fn db(&self) -> &str {
        &self.db
    }

    /// Starts a read-write transaction (read committed).
    fn write(&mut self) -> PgResult<Session<'_>> {
        // A panic while holding the connection leaves nothing half-done
        // that the next transaction would see.
        let conn = self.conn.get_mut().unwrap_or_else(|e| e.into_inner());
        conn.write()
    }

    /// Runs `read` in one read-only snapshot.
    fn read<T>(&self, read: impl FnOnce(&mut Session<'_>) -> Result<T>) -> Result<T> {
        let db = self.db.as_str();
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut session = conn.read().ctx(db, || "start reading".into())?;
        let value = read(&mut session)?;
        session.commit().ctx(db, || "end reading".into())?;
        Ok(value)
    }
}

impl PgRegistry {
    /// The newest good compose of `name:stream`, as much of it as `parts`
    /// says: lean, one query when it has its `lean` column.
    fn latest_good_parts(
        &self,
        name: &str,
        stream: &str,
        parts: Parts,
    ) -> Result<Option<ComposeRecord>> {
        self.read(|tx| {
            let row = tx
                .query_opt(&LATEST_GOOD_SQL, &[&name, &stream])
                .ctx(&self.db, || {
                    format!("find the last good compose of `{name}:{stream}`")
                })?;
            match row {
                Some(row) => {
                    let (compose, lean) = compose_and_lean(&row);
                    load_rest(tx, &self.db, compose, lean, parts).map(Some)
                }
                None => Ok(None),
            }
        })
    }
}

/// The chain SQL (crate::chain) on one PostgreSQL session: `?N` becomes
/// `$N`.
struct ChainStore<'s, 'a> {
    session: &'s mut Session<'a>,
    db: &'s str,
}

fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn pg_params(params: &[chain::Val]) -> Vec<Box<dyn ToSql + Sync>> {
    params
        .iter()
        .map(|v| -> Box<dyn ToSql + Sync> {
            match v {
                chain::Val::Text(t) => Box::new(t.clone()),
                chain::Val::Int(i) => Box::new(*i),
            }
        })
        .collect()
}

impl chain::Store for ChainStore<'_, '_> {
    fn exec(&mut self, sql: &str, params: &[chain::Val]) -> Result<u64> {
        let boxed = pg_params(params);
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref()).collect();
        self.session
            .execute(&pg_sql(sql), &refs)
            .ctx(self.db, || "record a chain".into())
    }

    fn rows(
        &mut self,
        sql: &str,
        params: &[chain::Val],
        kinds: &[chain::Kind],
    ) -> Result<Vec<Vec<chain::Val>>> {
        let boxed = pg_params(params);
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref()).collect();
        let rows = self
            .session
            .query(&pg_sql(sql), &refs)
            .ctx(self.db, || "read chains".into())?;
        rows.iter()
            .map(|r| {
                kinds
                    .iter()
                    .enumerate()
                    .map(|(i, k)| {
                        Ok(match k {
                            chain::Kind::Text => chain::Val::Text(r.try_get(i)?),
                            chain::Kind::Int => chain::Val::Int(r.try_get(i)?),
                        })
                    })
                    .collect::<std::result::Result<Vec<_>, tokio_postgres::Error>>()
                    .ctx(self.db, || "read chains".into())
            })
            .collect()
    }

    fn db(&self) -> &str {
        self.db
    }
}

impl PgRegistry {
    /// Runs chain SQL in one write transaction.
    fn chain_write<T>(&mut self, f: impl FnOnce(&mut dyn chain::Store) -> Result<T>) -> Result<T> {
        let db = self.db.clone();
        let mut session = self.write().ctx(&db, || "record a chain".into())?;
        let value = f(&mut ChainStore {
            session: &mut session,
            db: &db,
        })?;
        session.commit().ctx(&db, || "record a chain".into())?;
        Ok(value)
    }

    fn chain_read<T>(&self, f: impl FnOnce(&mut dyn chain::Store) -> Result<T>) -> Result<T> {
        self.read(|session| {
            f(&mut ChainStore {
                session,
                db: &self.db,
            })
        })
    }
}

impl Registry for PgRegistry {
    fn record_test(
        &mut self,
        compose_id: &str,
        name: &str,
        passed: bool,
        finished_at: i64,
        output: &str,
    ) -> Result<()> {
        let db = self.db.clone();
        let what = || format!("record test `{name}` of compose `{compose_id}`");
        let state = if passed { "passed" } else { "failed" };
        let output = stored::error_text(output);
        let mut tx = self.write().ctx(&db, what)?;
        let changed = tx
            .execute(
                "UPDATE strata.compose_tests SET state = $3, finished_at = $4, output = $5 \
                 WHERE compose_id = $1 AND name = $2",
                &[&compose_id, &name, &state, &finished_at, &output.as_ref()],
            )
            .ctx(&db, what)?;
        tx.commit().ctx(&db, what)?;
        if changed == 0 {
            return Err(RegistryError::NoSuchTest {
                db: db.clone(),
                compose_id: compose_id.to_owned(),
                test: name.to_owned(),
            });
        }
        Ok(())
    }

    fn begin(&mut self, new: &NewCompose) -> Result<ComposeRecord> {
        let alloc = validate::new_compose(new)?;
        let db = self.db.clone();
        let db = db.as_str();
        let what = || format!("begin a compose of `{}:{}`", new.name, new.stream);
        let mut tx = self.write().ctx(db, what)?;
        // Read committed: each statement after the lock sees every compose
        // the previous holder committed.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&BEGIN_LOCK])
            .ctx(db, || {
                format!(
                    "begin a compose of `{}:{}` (waiting for the registry lock)",
                    new.name, new.stream
                )
            })?;
        let row = tx
            .query_one(
                &format!(
                    "SELECT ({}), (SELECT COALESCE(MAX(seq), 0) + 1 FROM strata.composes)",
                    stored::next_respin_sql("strata.", "$1")
                ),
                &[&alloc.id_base],
            )
            .ctx(db, what)?;
        let (next, seq): (i64, i64) = (row.get(0), row.get(1));
        let (respin, id) = alloc.id(new, next)?;
        let arches = stored::arches_text(&new.arches);
        let definition_path = new.definition_path.to_str().expect("validated as UTF-8");
        let version = new.version as i64;
        let owner = new.owner.as_ref();
        let (host, pid, start_time, boot_id, pid_namespace) = (
            owner.map(|o| o.host.as_str()),
            owner.map(|o| i64::from(o.pid)),
            owner.map(|o| o.start_time as i64),
            owner.map(|o| o.boot_id.as_str()),
            owner.and_then(|o| o.pid_namespace).map(|ns| ns as i64),
        );
        let (record_kind, artifact_kind) = stored::kind_columns(new.artifact);
        // One record says the kind of every record of the name (see the
        // SQLite backend): an index lookup, not a walk of the name's composes.
        let existing = tx
            .query_opt(
                "SELECT record_kind FROM strata.composes WHERE name = $1 LIMIT 1",
                &[&new.name],
            )
            .ctx(db, what)?;
        if let Some(existing) = existing
            .map(|row| row.get::<_, String>(0))
            .filter(|k| k != record_kind)
        {
            return Err(stored::kind_clash(new, &existing));
        }
        let started: [&(dyn ToSql + Sync); 22] = [
            &id,
            &seq,
            &alloc.id_base,
            &i64::from(respin),
            &new.name,
            &new.stream,
            &new.compose_type.as_str(),
            &alloc.date,
            &version,
            &new.context,
            &definition_path,
            &new.definition_digest,
            &new.scm_ref,
            &arches,
            &new.started_at,
            &host,
            &pid,
            &start_time,
            &boot_id,
            &pid_namespace,
            &record_kind,
            &artifact_kind,
        ];
        tx.execute(
            "INSERT INTO strata.composes (id, seq, id_base, respin, name, stream, compose_type, \
             compose_date, state, version, context, definition_path, definition_digest, \
             scm_ref, arches, started_at, owner_host, owner_pid, owner_start_time, \
             owner_boot_id, owner_pid_namespace, record_kind, artifact_kind) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'started', $9, $10, $11, $12, $13, $14, $15, \
             $16, $17, $18, $19, $20, $21, $22)",
            &started,
        )
        .ctx(db, || format!("record compose `{id}` as started"))?;
        // All in one statement, a column per array: a deep stack's compose
        // has hundreds of inputs, and a statement each was as many round
        // trips to the server.
        if !new.inputs.is_empty() {
            let column =
                |f: fn(&crate::Input) -> &str| new.inputs.iter().map(f).collect::<Vec<&str>>();
            tx.execute(
                "INSERT INTO strata.compose_inputs \
                 (compose_id, position, kind, name, ident, location) \
                 SELECT $1, i.position - 1, i.kind, i.name, i.ident, i.location \
                 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[]) \
                 WITH ORDINALITY AS i (kind, name, ident, location, position)",
                &[
                    &id,
                    &column(|i| i.kind.as_str()),
                    &column(|i| i.name.as_str()),
                    &column(|i| i.ident.as_str()),
                    &column(|i| i.location.as_str()),
                ],
            )
            .ctx(db, || format!("record the inputs of compose `{id}`"))?;
        }
        if let Some(chain) = &new.chain {
            tx.execute(
                "UPDATE strata.composes SET chain_id = $2, cause = $3 WHERE id = $1",
                &[&id, &chain.chain_id, &chain.event],
            )
            .ctx(db, || format!("record the chain of compose `{id}`"))?;
        }
        for test in &new.required_tests {
            tx.execute(
                "INSERT INTO strata.compose_tests (compose_id, name, state) \
                 VALUES ($1, $2, 'pending')",
                &[&id, test],
            )
            .ctx(db, || format!("record the tests of compose `{id}`"))?;
        }
        let row = tx
            .query_one(&COMPOSE_SQL, &[&id])
            .ctx(db, || format!("read compose `{id}` as started"))?;
        let record = stored::begun(db, compose_and_lean(&row).0, &new.inputs)?;
        tx.commit()
            .ctx(db, || format!("commit compose `{id}` as started"))?;
        tracing::info!(db, compose_id = %id, "compose started");
        Ok(record)
    }

    fn finish(&mut self, compose_id: &str, outcome: &Outcome) -> Result<ComposeRecord> {
        validate::outcome(compose_id, outcome)?;
        let db = self.db.clone();
        let db = db.as_str();
        let what = || format!("record the end of compose `{compose_id}`");
        let mut tx = self.write().ctx(db, what)?;
        let (state, record_kind): (Option<String>, Option<String>) = tx
            .query_opt(
                "SELECT state, record_kind FROM strata.composes WHERE id = $1 FOR UPDATE",
                &[&compose_id],
            )
            .ctx(db, what)?
            .map(|r| (r.get(0), r.get(1)))
            .unzip();
        stored::check_can_finish(db, compose_id, state)?;
        stored::check_build_id(compose_id, &record_kind.unwrap_or_default(), outcome)?;

        match outcome {
            Outcome::Finished {
                finished_at,
                outputs,
                packages: _,
                timings,
                modulemd,
            } => {
                let output_path = outputs.path.to_str().expect("validated as UTF-8");
                tx.execute(
                    "UPDATE strata.composes SET state = 'finished', finished_at = $2, \
                     output_path = $3, timings = $4, build_id = $5 WHERE id = $1",
                    &[
                        &compose_id,
                        finished_at,
                        &output_path,
                        &json_text(timings),
                        &outputs.build_id,
                    ],
                )
                .ctx(db, what)?;
                for (arch, path) in &outputs.repos {
                    let path = path.to_str().expect("validated as UTF-8");
                    tx.execute(
                        "INSERT INTO strata.compose_repos (compose_id, arch, path) \
                         VALUES ($1, $2, $3)",
                        &[&compose_id, arch, &path],
                    )
                    .ctx(db, what)?;
                }
                for (arch, document) in stored::encode_modulemd(modulemd) {
                    tx.execute(
                        "INSERT INTO strata.compose_modulemd (compose_id, arch, document) \
                         VALUES ($1, $2, $3)",
                        &[&compose_id, &arch, &document],
                    )
                    .ctx(db, what)?;
                }
            }
            Outcome::Failed {
                finished_at,
                error,
                report,
                packages: _,
            } => {
                tx.execute(
                    "UPDATE strata.composes SET state = 'failed', finished_at = $2, \
                     error = $3, report = $4 WHERE id = $1",
                    &[
                        &compose_id,
                        finished_at,
                        &stored::error_text(error).as_ref(),
                        &report.as_ref().map(stored::report_text),
                    ],
                )
                .ctx(db, what)?;
            }
        }
        insert_packages(&mut tx, db, compose_id, outcome.packages())?;
        let mut record =
            load(&mut tx, db, compose_id)?.ok_or_else(|| RegistryError::NoSuchCompose {
                db: db.to_owned(),
                compose_id: compose_id.to_owned(),
            })?;
        if let Outcome::Finished { .. } = outcome {
            // The fingerprint from the record as stored: what a reader
            // recomputing it from the record gets too. With it, what a
            // lean read needs (schema version 11), and the digest of its
            // stack (version 12).
            let stack_digest = crate::inputs_stack_digest(&record.inputs);
            tx.execute(
                "UPDATE strata.composes SET fingerprint = $2, lean = $3, stack_digest = $4 \
                 WHERE id = $1",
                &[
                    &compose_id,
                    &crate::record_fingerprint(&record),
                    &stored::lean_text(&record),
                    &stack_digest,
                ],
            )
            .ctx(db, what)?;
            record.stack_digest = Some(stack_digest);
        }
        tx.commit().ctx(db, what)?;
        tracing::info!(db, compose_id, state = %record.state, "compose ended");
        Ok(record)
    }

    fn get(&self, compose_id: &str) -> Result<Option<ComposeRecord>> {
        self.read(|tx| load(tx, &self.db, compose_id))
    }

    fn get_inputs_only(&self, compose_id: &str) -> Result<Option<ComposeRecord>> {
        self.read(|tx| load_parts(tx, &self.db, compose_id, Parts::Inputs))
    }

    fn create_chain(&mut self, new: &NewChain) -> Result<ChainRecord> {
        self.chain_write(|s| chain::create(s, new))
    }

    fn fingerprint(&self, compose_id: &str) -> Result<Option<String>> {
        self.chain_read(|s| crate::queue::fingerprint(s, compose_id))
    }

    fn submit_event(&mut self, event: &serde_json::Value, at: i64) -> Result<PendingEvent> {
        self.chain_write(|s| crate::queue::submit(s, event, at))
    }

    fn pending_events(&self) -> Result<Vec<PendingEvent>> {
        self.chain_read(crate::queue::pending)
    }

    fn begin_release(&mut self, new: &NewRelease) -> Result<ReleaseRecord> {
        self.chain_write(|s| {
            // The lock `begin` takes: a release and a compose of one ID
            // base never read the same next respin.
            s.exec(
                "SELECT pg_advisory_xact_lock(?1)",
                &[chain::Val::Int(Some(BEGIN_LOCK))],
            )?;
            crate::release::begin(s, new)
        })
    }

    fn finish_release(
        &mut self,
        release_id: &str,
        outcome: &ReleaseOutcome,
    ) -> Result<ReleaseRecord> {
        self.chain_write(|s| crate::release::finish(s, release_id, outcome))
    }

    fn get_release(&self, release_id: &str) -> Result<Option<ReleaseRecord>> {
        self.chain_read(|s| crate::release::get(s, release_id))
    }

    fn list_releases(&self, limit: Option<usize>) -> Result<Vec<ReleaseRecord>> {
        self.chain_read(|s| crate::release::list(s, limit))
    }

    fn started_releases(&self) -> Result<Vec<ReleaseRecord>> {
        self.chain_read(crate::release::started)
    }

    fn drop_events(&mut self, seqs: &[i64]) -> Result<Vec<PendingEvent>> {
        self.chain_write(|s| crate::queue::drop_events(s, seqs))
    }

    fn get_chain(&self, chain_id: &str) -> Result<Option<ChainRecord>> {
        self.chain_read(|s| chain::get(s, chain_id))
    }

    fn list_chains(&self, limit: Option<usize>) -> Result<Vec<ChainRecord>> {
        self.chain_read(|s| chain::list(s, limit))
    }

    fn update_step(
        &mut self,
        chain_id: &str,
        position: usize,
        update: &StepUpdate<'_>,
    ) -> Result<()> {
        self.chain_write(|s| chain::update_step(s, chain_id, position, update))
    }

    fn approve_step(&mut self, chain_id: &str, module: &str, by: &str, at: i64) -> Result<()> {
        self.chain_write(|s| chain::approve(s, chain_id, module, by, at))
    }

    fn set_chain_state(
        &mut self,
        chain_id: &str,
        state: ChainState,
        owner: Option<&Owner>,
        at: i64,
    ) -> Result<()> {
        self.chain_write(|s| chain::set_state(s, chain_id, state, owner, at))
    }

    fn lock_stream(
        &mut self,
        name: &str,
        stream: &str,
        chain_id: &str,
        now: i64,
    ) -> Result<StreamLock> {
        self.chain_write(|s| chain::lock_stream(s, name, stream, chain_id, now))
    }

    fn unlock_stream(&mut self, name: &str, stream: &str, chain_id: &str) -> Result<()> {
        self.chain_write(|s| chain::unlock_stream(s, name, stream, chain_id))
    }

    fn compose_chain_info(&self, compose_id: &str) -> Result<chain::ComposeChainInfo> {
        self.chain_read(|s| chain::compose_info(s, compose_id))
    }

    fn list(&self, filter: &ListFilter) -> Result<Vec<ComposeRecord>> {
        let (filter_sql, args) = filter_sql(filter);
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
        self.read(|tx| {
            let ids: Vec<String> = tx
                .query(
                    &format!("SELECT id FROM strata.composes{filter_sql}"),
                    &params,
                )
                .ctx(&self.db, || "list composes".into())?
                .iter()
                .map(|r| r.get(0))
                .collect();
            ids.iter()
                .filter_map(|id| load(tx, &self.db, id).transpose())
                .collect()
        })
    }

    fn list_summaries(&self, filter: &ListFilter) -> Result<Vec<ComposeSummary>> {
        self.read(|tx| summaries(tx, &self.db, filter))
    }

    fn latest_good(&self, name: &str, stream: &str) -> Result<Option<ComposeRecord>> {
        self.latest_good_parts(name, stream, Parts::Whole)
    }

    fn latest_good_lean(&self, name: &str, stream: &str) -> Result<Option<ComposeRecord>> {
        self.latest_good_parts(name, stream, Parts::Lean)
    }

    fn latest_good_ids(&self, streams: &[(&str, &str)]) -> Result<Vec<Option<String>>> {
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = streams.iter().map(|(n, _)| *n).collect();
        let stream_names: Vec<&str> = streams.iter().map(|(_, s)| *s).collect();
        let db = self.db.as_str();
        let ids: HashMap<(String, String), String> = self.read(|tx| {
            Ok(tx
                .query(&LATEST_GOOD_IDS_SQL, &[&names, &stream_names])
                .ctx(db, || {
                    format!(
                        "find the last good composes of {} module streams",
                        streams.len()
                    )
                })?
                .iter()
                .map(|r| ((r.get(0), r.get(1)), r.get(2)))
                .collect())
        })?;
        Ok(streams
            .iter()
            .map(|(n, s)| ids.get(&(n.to_string(), s.to_string())).cloned())
            .collect())
    }

    fn identity(&self) -> Result<String> {
        let db = self.db.as_str();
        let instance: String = self.read(|tx| {
            Ok(tx
                .query_one(
                    "SELECT value FROM strata.registry_info WHERE name = 'instance'",
                    &[],
                )
                .ctx(db, || "read which registry this is".into())?
                .get(0))
        })?;
        Ok(format!("{db}#{instance}"))
    }

    fn latest_good_lean_many(
        &self,
        streams: &[(&str, &str)],
    ) -> Result<Vec<Option<ComposeRecord>>> {
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        // One query for the whole wave, not five round trips a layer: each
        // row holds its lean inputs and repositories. Only rows without
        // them (none, once every compose finished at version 11 or was
        // updated to it) need two more, for all of those at once.
        let names: Vec<&str> = streams.iter().map(|(n, _)| *n).collect();
        let stream_names: Vec<&str> = streams.iter().map(|(_, s)| *s).collect();
        let db = self.db.as_str();
        let action = || {
            format!(
                "read the last good composes of {} module streams",
                streams.len()
            )
        };
        let found = self.read(|tx| {
            let rows = tx
                .query(&LATEST_GOOD_MANY_SQL, &[&names, &stream_names])
                .ctx(db, action)?;
            let mut read = Vec::with_capacity(rows.len());
            let mut unread: Vec<String> = Vec::new();
            for row in &rows {
                let (compose, lean) = compose_and_lean(row);
                let (compose, (inputs, repos)) =
                    stored::from_lean(db, compose, lean.as_deref(), Parts::Lean)?;
                // A lean read takes both from the column, or neither.
                let lean = inputs.zip(repos);
                if lean.is_none() {
                    unread.push(compose.id.clone());
                }
                read.push((compose, lean));
            }
            let mut inputs: HashMap<String, Vec<_>> = HashMap::new();
            let mut repos: HashMap<String, Vec<_>> = HashMap::new();
            if !unread.is_empty() {
                for r in tx
                    .query(
                        "SELECT compose_id, kind, name, ident, location \
                         FROM strata.compose_inputs \
                         WHERE compose_id = ANY($1) AND kind <> 'stack_compose' \
                         ORDER BY compose_id, position",
                        &[&unread],
                    )
                    .ctx(db, action)?
                {
                    inputs.entry(r.get(0)).or_default().push((
                        r.get(1),
                        r.get(2),
                        r.get(3),
                        r.get(4),
                    ));
                }
                for r in tx
                    .query(
                        "SELECT compose_id, arch, path FROM strata.compose_repos \
                         WHERE compose_id = ANY($1)",
                        &[&unread],
                    )
                    .ctx(db, action)?
                {
                    repos
                        .entry(r.get(0))
                        .or_default()
                        .push((r.get(1), r.get(2)));
                }
            }
            read.into_iter()
                .map(|(compose, lean)| {
                    let (inputs, repos) = match lean {
                        Some(lean) => lean,
                        None => (
                            inputs.remove(&compose.id).unwrap_or_default(),
                            repos.remove(&compose.id).unwrap_or_default(),
                        ),
                    };
                    let repos = match compose.output_path {
                        Some(_) => repos,
                        None => Vec::new(),
                    };
                    let record = stored::build(
                        db,
                        StoredRecord {
                            compose,
                            inputs,
                            packages: Vec::new(),
                            repos,
                            modulemd: Vec::new(),
                        },
                    )?;
                    Ok(((record.name.clone(), record.stream.clone()), record))
                })
                .collect::<Result<HashMap<(String, String), ComposeRecord>>>()
        })?;
        Ok(streams
            .iter()
            .map(|(n, s)| found.get(&(n.to_string(), s.to_string())).cloned())
            .collect())
    }

    fn composes_using(&self, compose_id: &str) -> Result<Vec<String>> {
        self.read(|tx| {
            Ok(tx
                .query(
                    "SELECT c.id FROM strata.composes c WHERE c.id IN (\
                       SELECT compose_id FROM strata.compose_inputs \
                       WHERE kind = 'compose' AND ident = $1 \
                       UNION \
                       SELECT compose_id FROM strata.compose_inputs \
                       WHERE kind = 'stack_compose' AND ident = $1) \
                     ORDER BY c.seq DESC",
                    &[&compose_id],
                )
                .ctx(&self.db, || {
                    format!("find the composes using compose `{compose_id}`")
                })?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn prune(&mut self, policy: &PrunePolicy, dry_run: bool) -> Result<PrunePlan> {
        let db = self.db.clone();
        let db = db.as_str();
        if dry_run {
            return self.read(|tx| {
                let inputs = prune_inputs(tx, db)?;
                prune::plan_in(&mut ChainStore { session: tx, db }, inputs, policy)
            });
        }
        let what = || "prune compose records".to_owned();
        let mut tx = self.write().ctx(db, what)?;
        // The lock `begin` takes: no compose begins meanwhile, so none
        // can take a compose about to go as an input.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&BEGIN_LOCK])
            .ctx(db, || {
                "prune compose records (waiting for the registry lock)".into()
            })?;
        let inputs = prune_inputs(&mut tx, db)?;
        let plan = prune::plan_in(
            &mut ChainStore {
                session: &mut tx,
                db,
            },
            inputs,
            policy,
        )?;
        let ids: Vec<&str> = plan.removed.iter().map(|r| r.compose.id.as_str()).collect();
        for table in [
            "compose_inputs",
            "compose_repos",
            "compose_package_lists",
            "compose_modulemd",
            "compose_tests",
        ] {
            tx.execute(
                &format!("DELETE FROM strata.{table} WHERE compose_id = ANY($1)"),
                &[&ids],
            )
            .ctx(db, what)?;
        }
        // Each removed ID's respin stays handed out (see `prune`).
        tx.execute(&stored::retire_respins_sql("strata.", "= ANY($1)"), &[&ids])
            .ctx(db, what)?;
        tx.execute("DELETE FROM strata.composes WHERE id = ANY($1)", &[&ids])
            .ctx(db, what)?;
        tx.execute(&stored::drop_covered_respins_sql("strata."), &[])
            .ctx(db, what)?;
        let chain_ids: Vec<&str> = plan
            .chains
            .removed
            .iter()
            .map(|r| r.chain.id.as_str())
            .collect();
        for (table, column) in chain::CHAIN_TABLES {
            tx.execute(
                &format!("DELETE FROM strata.{table} WHERE {column} = ANY($1)"),
                &[&chain_ids],
            )
            .ctx(db, what)?;
        }
        tx.commit().ctx(db, what)?;
        tracing::info!(
            db,
            removed = ids.len(),
            chains_removed = chain_ids.len(),
            "compose and chain records pruned"
        );
        Ok(plan)
    }
}
