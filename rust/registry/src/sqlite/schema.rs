//! The SQLite schema and its migrations. `PRAGMA user_version` holds the
//! number of migrations applied; `PRAGMA application_id` marks the file
//! as a Strata registry. The SQL stays plain (TEXT, BIGINT, no
//! AUTOINCREMENT or JSON functions) so the PostgreSQL backend can share it.

use rusqlite::{Connection, TransactionBehavior};

use super::Context;
use crate::error::RegistryError;
use crate::Result;

/// "STRA".
pub(crate) const APPLICATION_ID: i32 = 0x5354_5241;

/// Migration `i` takes the schema from version `i` to `i + 1`. Append
/// only: a released migration is never edited.
const MIGRATIONS: &[&str] = &[
    // 1: composes, their inputs, repositories and packages.
    "
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
    ",
];

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
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)
            .ctx(db, || format!("update the schema from version {from}"))?;
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
    Ok(())
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
