//! The SQLite schema and its migrations. `PRAGMA user_version` holds the
//! number of migrations applied; `PRAGMA application_id` marks the file
//! as a Strata registry. The SQL stays plain (TEXT, BIGINT, BLOB, no
//! AUTOINCREMENT, JSON functions only to fill a new column of old rows)
//! so the PostgreSQL backend (`sql/postgresql.sql`) keeps the same
//! columns.

use rusqlite::{params, Connection, TransactionBehavior};

use super::Context;
use crate::error::RegistryError;
use crate::record::PackagesByArch;
use crate::stored::{self, ERROR_CAP, REPORT_CAP};
use crate::Result;

/// One schema step: SQL, then, where SQL alone cannot do it, code run in
/// the same transaction.
struct Migration {
    sql: &'static str,
    then: Option<fn(&Connection, &str) -> Result<()>>,
}

/// "STRA".
pub(crate) const APPLICATION_ID: i32 = 0x5354_5241;

/// Migration `i` takes the schema from version `i` to `i + 1`. Append
/// only: a released migration is never edited.
const MIGRATIONS: &[Migration] = &[
    // 1: composes, their inputs, repositories and packages.
    Migration {
        sql: V1,
        then: None,
    },
    // 2: who runs a compose; one compressed package list per compose and
    // arch instead of a row per package; errors and reports capped.
    Migration {
        sql: V2,
        then: Some(compact_v1_rows),
    },
    // 3: the stream's modulemd, as a compose published it.
    Migration {
        sql: V3,
        then: None,
    },
    // 4: chained recomposes: a compose's chain and cause, the tests that
    // gate it, chains and their steps, and per-stream locks.
    Migration {
        sql: V4,
        then: None,
    },
    // 5: artifact composes in the same table as module composes: what a
    // record is of, what an artifact builds, and its build ID.
    Migration {
        sql: V5,
        then: None,
    },
    // 6: each finished compose's fingerprint digest; the queue of chain
    // events waiting for their debounce window.
    Migration {
        sql: V6,
        then: None,
    },
    // 7: release composes and the composes each ships.
    Migration {
        sql: V7,
        then: None,
    },
    // 8: who runs a release compose, and the SCM reference of its
    // release document.
    Migration {
        sql: V8,
        then: None,
    },
    // 9: the last number handed to a queued chain event, so that none is
    // handed out twice.
    Migration {
        sql: V9,
        then: None,
    },
    // 10: the lookup of a compose's users indexes direct requires only.
    Migration {
        sql: V10,
        then: None,
    },
    // 11: a finished compose's lean inputs and repositories in its row.
    Migration {
        sql: V11,
        then: None,
    },
    // 12: the digest of a finished compose's stack in its row.
    Migration {
        sql: V12,
        then: None,
    },
    // 13: what tells this registry from others; the last good compose's
    // ID read from the index alone.
    Migration {
        sql: V13,
        then: None,
    },
];

const V1: &str = "
    CREATE TABLE composes (
        id                TEXT    NOT NULL PRIMARY KEY,
        -- Order of begin in this registry: what 'newest' means.
        seq               BIGINT  NOT NULL UNIQUE,
        -- The ID without '.respin'; respins count per id_base.
        id_base           TEXT    NOT NULL,
        respin            BIGINT  NOT NULL,
        name              TEXT    NOT NULL,
        stream            TEXT    NOT NULL,
        compose_type      TEXT    NOT NULL,
        compose_date      TEXT    NOT NULL,
        state             TEXT    NOT NULL
                          CHECK (state IN ('started', 'finished', 'failed')),
        version           BIGINT  NOT NULL,
        context           TEXT    NOT NULL,
        definition_path   TEXT    NOT NULL,
        definition_digest TEXT    NOT NULL,
        scm_ref           TEXT,
        arches            TEXT    NOT NULL,  -- JSON array
        started_at        BIGINT  NOT NULL,
        finished_at       BIGINT,
        output_path       TEXT,
        timings           TEXT,              -- JSON
        error             TEXT,
        report            TEXT,              -- JSON
        UNIQUE (id_base, respin)
    );
    CREATE INDEX composes_by_stream ON composes (name, stream, state, seq);

    CREATE TABLE compose_inputs (
        compose_id TEXT   NOT NULL REFERENCES composes (id),
        position   BIGINT NOT NULL,
        kind       TEXT   NOT NULL,
        name       TEXT   NOT NULL,
        ident      TEXT   NOT NULL,
        location   TEXT   NOT NULL,
        PRIMARY KEY (compose_id, position)
    );
    CREATE INDEX compose_inputs_by_ident ON compose_inputs (kind, ident);

    CREATE TABLE compose_repos (
        compose_id TEXT NOT NULL REFERENCES composes (id),
        arch       TEXT NOT NULL,
        path       TEXT NOT NULL,
        PRIMARY KEY (compose_id, arch)
    );

    CREATE TABLE compose_packages (
        compose_id TEXT NOT NULL REFERENCES composes (id),
        arch       TEXT NOT NULL,
        nevra      TEXT NOT NULL,
        PRIMARY KEY (compose_id, arch, nevra)
    );
    ";

const V2: &str = "
    ALTER TABLE composes ADD COLUMN owner_host TEXT;
    ALTER TABLE composes ADD COLUMN owner_pid BIGINT;
    -- Clock ticks after boot (/proc/<pid>/stat field 22).
    ALTER TABLE composes ADD COLUMN owner_start_time BIGINT;
    ALTER TABLE composes ADD COLUMN owner_boot_id TEXT;
    ALTER TABLE composes ADD COLUMN owner_pid_namespace BIGINT;

    CREATE TABLE compose_package_lists (
        compose_id TEXT   NOT NULL REFERENCES composes (id),
        arch       TEXT   NOT NULL,
        count      BIGINT NOT NULL,
        -- zstd of the sorted NEVRAs joined by newlines.
        nevras     BLOB   NOT NULL,
        PRIMARY KEY (compose_id, arch)
    );
    ";

const V3: &str = "
    CREATE TABLE compose_modulemd (
        compose_id TEXT NOT NULL REFERENCES composes (id),
        arch       TEXT NOT NULL,
        -- zstd of the stream's modulemd document for the arch.
        document   BLOB NOT NULL,
        PRIMARY KEY (compose_id, arch)
    );
    ";

const V4: &str = "
    -- The chain that made a compose and the event that caused it.
    ALTER TABLE composes ADD COLUMN chain_id TEXT;
    ALTER TABLE composes ADD COLUMN cause TEXT;
    CREATE INDEX composes_by_chain ON composes (chain_id);

    -- The tests a compose must pass to be good, named when it begins;
    -- a compose with a test not 'passed' is recorded but not good.
    CREATE TABLE compose_tests (
        compose_id  TEXT   NOT NULL REFERENCES composes (id),
        name        TEXT   NOT NULL,
        state       TEXT   NOT NULL
                    CHECK (state IN ('pending', 'passed', 'failed')),
        finished_at BIGINT,
        output      TEXT,              -- capped like errors
        PRIMARY KEY (compose_id, name)
    );

    -- Chains: what caused them, their plan, and where each step stands,
    -- so that a chain killed at any point resumes from here.
    CREATE TABLE chains (
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

    CREATE TABLE chain_steps (
        chain_id    TEXT   NOT NULL REFERENCES chains (id),
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
    CREATE TABLE stream_locks (
        name     TEXT   NOT NULL,
        stream   TEXT   NOT NULL,
        chain_id TEXT   NOT NULL REFERENCES chains (id),
        since    BIGINT NOT NULL,
        PRIMARY KEY (name, stream)
    );
    ";

// Kept apart from V4, which a parallel branch still edits; the two merge
// as consecutive steps.
const V5: &str = "
    ALTER TABLE composes ADD COLUMN record_kind TEXT NOT NULL DEFAULT 'module'
        CHECK (record_kind IN ('module', 'artifact'));
    ALTER TABLE composes ADD COLUMN artifact_kind TEXT
        CHECK (artifact_kind IN ('container', 'ostree', 'iso'));
    -- The artifact's content digest: OCI manifest digest, ostree commit
    -- checksum or ISO SHA-256.
    ALTER TABLE composes ADD COLUMN build_id TEXT;
    CREATE INDEX composes_by_kind ON composes (record_kind, seq);
    ";

const V6: &str = "
    -- sha256 of what the compose used that counts for staleness
    -- (strata_registry::fingerprint_digest), written when it finishes;
    -- NULL for composes recorded before version 6: recompute it.
    ALTER TABLE composes ADD COLUMN fingerprint TEXT;

    -- Chain events waiting for their debounce window. A chain that takes
    -- them deletes them in the transaction that records it (its `events`
    -- keep them), so each is consumed exactly once.
    CREATE TABLE chain_events (
        seq          BIGINT NOT NULL PRIMARY KEY,
        event        TEXT   NOT NULL,  -- JSON: one event as `strata impact --json` prints it
        submitted_at BIGINT NOT NULL
    );

    -- A layer's inputs without the whole stack it used: a stack walk
    -- reads these for every layer, and a deep layer's stack inputs are
    -- hundreds of rows.
    CREATE INDEX compose_inputs_lean ON compose_inputs (compose_id, position)
        WHERE kind <> 'stack_compose';
    ";

const V7: &str = "
    -- Release composes (strata release compose): a release frozen into a
    -- compose of its own. Apart from `composes`, so that no query over
    -- module and artifact composes (last good, listings, pruning, impact)
    -- can take a release for one; a release's respin also counts the
    -- composes with its ID base, so IDs never collide.
    CREATE TABLE releases (
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
    CREATE TABLE release_inputs (
        release_id TEXT   NOT NULL REFERENCES releases (id),
        position   BIGINT NOT NULL,
        kind       TEXT   NOT NULL CHECK (kind IN ('module', 'stack', 'artifact')),
        name       TEXT   NOT NULL,
        compose_id TEXT   NOT NULL,
        PRIMARY KEY (release_id, position)
    );
    CREATE INDEX release_inputs_by_compose ON release_inputs (compose_id);
    ";

const V8: &str = "
    -- Who runs a release compose, as for composes (version 2), so that one
    -- whose process died can be told from one that runs and be ended.
    -- NULL for release composes begun before version 8.
    ALTER TABLE releases ADD COLUMN owner_host TEXT;
    ALTER TABLE releases ADD COLUMN owner_pid BIGINT;
    -- Clock ticks after boot (/proc/<pid>/stat field 22).
    ALTER TABLE releases ADD COLUMN owner_start_time BIGINT;
    ALTER TABLE releases ADD COLUMN owner_boot_id TEXT;
    ALTER TABLE releases ADD COLUMN owner_pid_namespace BIGINT;
    -- The release document's SCM reference (URL#commit), when it came
    -- from one, as composes record theirs.
    ALTER TABLE releases ADD COLUMN scm_ref TEXT;
    ";

const V9: &str = "
    -- Counters that only go up. 'chain_events': the last number handed to
    -- a queued event. Numbered by the queue's highest, a number was handed
    -- out again once the event that had it was taken, and a chain that had
    -- planned the first event took the second off the queue in its place.
    CREATE TABLE counters (
        name  TEXT   NOT NULL PRIMARY KEY,
        value BIGINT NOT NULL
    );
    INSERT INTO counters (name, value)
        SELECT 'chain_events', COALESCE(MAX(seq), 0) FROM chain_events;
    ";

const V10: &str = "
    -- Only the compose inputs naming a direct requirement are indexed by
    -- what they name. A deep compose records a `stack_compose` input for
    -- every layer, each one naming a different compose: indexing those
    -- wrote a page of the index for every layer (about 400 pages, 1.6 MB
    -- of WAL written twice, for the deepest compose of bench/scale.py's
    -- 1,000 modules; a third of its time). The composes that used a
    -- compose somewhere in their stack are found by reading the inputs.
    DROP INDEX compose_inputs_by_ident;
    CREATE INDEX compose_inputs_direct ON compose_inputs (ident)
        WHERE kind = 'compose';

    -- A layer's lean inputs are read from the index alone, which holds
    -- every column the read asks for, not from a table lookup per row.
    DROP INDEX compose_inputs_lean;
    CREATE INDEX compose_inputs_lean
        ON compose_inputs (compose_id, position, kind, name, ident, location)
        WHERE kind <> 'stack_compose';
    ";

const V11: &str = "
    -- What a lean read of a finished compose needs besides its row (what a
    -- stack walk reads of each layer): its inputs other than
    -- 'stack_compose', in position order, and its repositories, as JSON:
    -- [[[kind, name, ident, location], ...], [[arch, path], ...]]
    -- (strata_registry::stored::lean_text writes it when a compose
    -- finishes). Reading them from their tables cost two more statements
    -- a layer, more than half of reading it. NULL for a compose not
    -- finished; a reader that finds it NULL reads the tables.
    ALTER TABLE composes ADD COLUMN lean TEXT;
    UPDATE composes SET lean = json_array(
        json((SELECT json_group_array(json_array(i.kind, i.name, i.ident, i.location)
                                      ORDER BY i.position)
              FROM compose_inputs i
              WHERE i.compose_id = composes.id AND i.kind <> 'stack_compose')),
        json((SELECT json_group_array(json_array(r.arch, r.path) ORDER BY r.arch)
              FROM compose_repos r WHERE r.compose_id = composes.id)))
    WHERE state = 'finished';
    ";

const V12: &str = "
    -- The sha256 of a finished compose's stack: the (name:stream, compose
    -- ID) of its inputs of kind 'compose' and 'stack_compose'
    -- (strata_registry::stack_digest), written when it finishes. A compose
    -- above it vouches for the layers below it (its gate already checked
    -- them against this very stack) when the digest of what it holds
    -- under that layer is this one; before, it read that layer's inputs,
    -- hundreds of rows in a deep stack. NULL for a compose not finished,
    -- and for those finished before: SQLite has no sha256 to fill them
    -- in, and a reader that finds it NULL reads the inputs.
    ALTER TABLE composes ADD COLUMN stack_digest TEXT;
    ";

const V13: &str = "
    -- What a registry is apart from where it is: 'instance', 32 random
    -- hex digits drawn when it was made (or updated to this version). A
    -- cache of what was read from a registry (a stack's memo, kept in
    -- the cache directory) holds only for the registry it names: two
    -- registries hand out the same compose IDs for different composes,
    -- and one made again at the same path does too.
    CREATE TABLE registry_info (
        name  TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
    );
    INSERT INTO registry_info (name, value) VALUES ('instance', lower(hex(randomblob(16))));

    -- The ID of a stream's last good compose comes from the index alone
    -- (Registry::latest_good_ids): checking that a deep stack's memo
    -- still holds asks it for hundreds of streams, and a row each, one
    -- page each, was most of what reading the layers themselves cost.
    DROP INDEX composes_by_stream;
    CREATE INDEX composes_by_stream ON composes (name, stream, state, seq, id);
    ";

/// Moves version 1's package rows into lists, one compose at a time (the
/// rows come in primary-key order, so grouped), drops their table, and
/// caps the errors and reports stored before caps existed.
fn compact_v1_rows(tx: &Connection, db: &str) -> Result<()> {
    let action = || "move the package rows of version 1 into package lists".to_owned();
    let mut insert = tx
        .prepare(
            "INSERT INTO compose_package_lists (compose_id, arch, count, nevras) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .ctx(db, action)?;
    let mut flush = |id: &str, packages: &PackagesByArch| -> Result<()> {
        for (arch, count, blob) in stored::encode_packages(packages) {
            insert
                .execute(params![id, arch, count, blob])
                .ctx(db, action)?;
        }
        Ok(())
    };
    let mut select = tx
        .prepare("SELECT compose_id, arch, nevra FROM compose_packages ORDER BY compose_id")
        .ctx(db, action)?;
    let mut rows = select.query([]).ctx(db, action)?;
    let mut current: Option<(String, PackagesByArch)> = None;
    while let Some(row) = rows.next().ctx(db, action)? {
        let (id, arch, nevra): (String, String, String) =
            (|| Ok::<_, rusqlite::Error>((row.get(0)?, row.get(1)?, row.get(2)?)))()
                .ctx(db, action)?;
        match &mut current {
            Some((current_id, packages)) if *current_id == id => {
                packages.entry(arch).or_default().insert(nevra);
            }
            _ => {
                if let Some((done, packages)) = current.take() {
                    flush(&done, &packages)?;
                }
                let mut packages = PackagesByArch::new();
                packages.entry(arch).or_default().insert(nevra);
                current = Some((id, packages));
            }
        }
    }
    if let Some((done, packages)) = current.take() {
        flush(&done, &packages)?;
    }
    drop(rows);
    tx.execute_batch("DROP TABLE compose_packages")
        .ctx(db, action)?;

    let cap_action = || "cap the errors and reports of version 1".to_owned();
    let long: Vec<(String, Option<String>, Option<String>)> = tx
        .prepare(
            "SELECT id, CASE WHEN length(CAST(error AS BLOB)) > ?1 THEN error END, \
                    CASE WHEN length(CAST(report AS BLOB)) > ?2 THEN report END \
             FROM composes \
             WHERE length(CAST(error AS BLOB)) > ?1 OR length(CAST(report AS BLOB)) > ?2",
        )
        .and_then(|mut st| {
            st.query_map(params![ERROR_CAP as i64, REPORT_CAP as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect()
        })
        .ctx(db, cap_action)?;
    for (id, error, report) in long {
        if let Some(error) = error {
            tx.execute(
                "UPDATE composes SET error = ?2 WHERE id = ?1",
                params![id, stored::error_text(&error)],
            )
            .ctx(db, cap_action)?;
        }
        if let Some(report) = report {
            tx.execute(
                "UPDATE composes SET report = ?2 WHERE id = ?1",
                params![id, stored::cap_report(report)],
            )
            .ctx(db, cap_action)?;
        }
    }
    Ok(())
}

pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn user_version(conn: &Connection, db: &str) -> Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .ctx(db, || "read the schema version".into())
}

fn application_id(conn: &Connection, db: &str) -> Result<i32> {
    conn.pragma_query_value(None, "application_id", |r| r.get(0))
        .ctx(db, || "read the application ID".into())
}

fn check_not_newer(version: i64, db: &str) -> Result<()> {
    if version > SCHEMA_VERSION {
        return Err(RegistryError::NewerSchema {
            db: db.to_owned(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Brings the schema up to [`SCHEMA_VERSION`]. Safe to race: processes
/// opening a new file at once queue on the write lock and all but the
/// first find nothing left to do.
pub(crate) fn migrate(conn: &mut Connection, db: &str) -> Result<()> {
    let version = user_version(conn, db)?;
    check_not_newer(version, db)?;
    if version == SCHEMA_VERSION {
        // Up to date: no write lock, so opening never waits on a writer.
        return check_application_id(application_id(conn, db)?, db);
    }

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(db, || "lock the registry to update its schema".into())?;
    // Read again under the lock: another process may have migrated.
    let version = user_version(&tx, db)?;
    check_not_newer(version, db)?;
    let app_id = application_id(&tx, db)?;
    if version == 0 {
        if app_id != 0 {
            check_application_id(app_id, db)?;
        }
        let tables: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .ctx(db, || "list the tables".into())?;
        if tables > 0 {
            return Err(RegistryError::NotARegistry {
                db: db.to_owned(),
                reason: format!("it has {tables} tables but no Strata schema version"),
            });
        }
    } else {
        check_application_id(app_id, db)?;
    }
    for (from, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(step.sql)
            .ctx(db, || format!("update the schema from version {from}"))?;
        if let Some(then) = step.then {
            then(&tx, db)?;
        }
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .ctx(db, || "record the schema version".into())?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .ctx(db, || "record the application ID".into())?;
    tx.commit().ctx(db, || "commit the schema update".into())?;
    tracing::info!(
        db,
        from = version,
        to = SCHEMA_VERSION,
        "registry schema updated"
    );
    if version == 1 {
        // Version 2 keeps packages in a tenth of the space or less; give
        // the space back (a new registry has nothing to give back).
        if let Err(e) = conn.execute_batch("VACUUM") {
            tracing::warn!(db, error = %e, "cannot shrink the registry after updating its schema");
        }
    }
    Ok(())
}

/// The schema version of an open registry, checked to be one this code
/// can read: `Ok(None)` when it is current, `Ok(Some(version))` when it is
/// older and must be updated first.
pub(crate) fn check_readable(conn: &Connection, db: &str) -> Result<Option<i64>> {
    let version = user_version(conn, db)?;
    check_not_newer(version, db)?;
    let app_id = application_id(conn, db)?;
    if version == 0 && app_id == 0 {
        return Err(RegistryError::NotARegistry {
            db: db.to_owned(),
            reason: "it has no Strata schema (an empty or foreign SQLite file)".into(),
        });
    }
    check_application_id(app_id, db)?;
    Ok((version < SCHEMA_VERSION).then_some(version))
}

fn check_application_id(app_id: i32, db: &str) -> Result<()> {
    if app_id != APPLICATION_ID {
        return Err(RegistryError::NotARegistry {
            db: db.to_owned(),
            reason: format!("its SQLite application ID is {app_id:#x}, not Strata's"),
        });
    }
    Ok(())
}
