//! The embedded backend: one SQLite file, shared by every process on the
//! machine that composes.
//!
//! Every write is one `BEGIN IMMEDIATE` transaction, so the write lock is
//! held before the next respin is read and two processes cannot both take
//! it; the UNIQUE constraints would refuse a duplicate anyway. WAL lets
//! readers go on while a compose is recorded, and the busy timeout makes
//! writers queue instead of failing.
//!
//! Readers ([`SqliteRegistry::open_read_only`]) never create the file or
//! its folder, and SQLite refuses their writes (`query_only`). A WAL
//! database needs its `-shm` file even to be read; where the folder is
//! read-only and no writer left one behind, nothing can be writing either
//! (a writer needs that folder), so the file is then opened `immutable`,
//! without locks or shared memory.

mod schema;
#[cfg(test)]
mod test;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use rusqlite::types::Value as SqlValue;
use rusqlite::{
    params, params_from_iter, Connection, OpenFlags, OptionalExtension, TransactionBehavior,
};

use crate::chain::{self, ChainRecord, ChainState, NewChain, StepUpdate, StreamLock};
use crate::error::RegistryError;
use crate::owner::Owner;
use crate::prune::{self, PrunePlan, PrunePolicy};
use crate::queue::PendingEvent;
use crate::record::{
    ComposeRecord, ComposeSummary, ListFilter, NewCompose, Outcome, PackagesByArch,
};
use crate::release::{NewRelease, ReleaseOutcome, ReleaseRecord};
use crate::stored::{
    self, json_text, FilterArg, Parts, StoredCompose, StoredRecord, RECORD_COLUMNS, SUMMARY_COLUMNS,
};
use crate::{validate, Registry, Result};

/// How long a writer waits for another one before giving up, unless the
/// registry is opened with another (`[registry] busy_timeout`). Writes
/// take milliseconds; this only matters when something holds the lock far
/// longer (a backup, an interactive `sqlite3` session).
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// A registry in one SQLite file. Each value holds its own connection:
/// threads and processes each open their own, and the file keeps them
/// consistent.
pub struct SqliteRegistry {
    conn: Connection,
    path: PathBuf,
    /// The path as it is shown in errors.
    db: String,
}

impl std::fmt::Debug for SqliteRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRegistry")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

pub(crate) use crate::error::Context;

impl StoredCompose {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(StoredCompose {
            id: r.get(0)?,
            name: r.get(1)?,
            stream: r.get(2)?,
            compose_type: r.get(3)?,
            date: r.get(4)?,
            respin: r.get(5)?,
            state: r.get(6)?,
            version: r.get(7)?,
            context: r.get(8)?,
            definition_path: r.get(9)?,
            definition_digest: r.get(10)?,
            scm_ref: r.get(11)?,
            arches: r.get(12)?,
            started_at: r.get(13)?,
            finished_at: r.get(14)?,
            output_path: r.get(15)?,
            timings: r.get(16)?,
            error: r.get(17)?,
            report: r.get(18)?,
            owner_host: r.get(19)?,
            owner_pid: r.get(20)?,
            owner_start_time: r.get(21)?,
            owner_boot_id: r.get(22)?,
            owner_pid_namespace: r.get(23)?,
            record_kind: r.get(24)?,
            artifact_kind: r.get(25)?,
            build_id: r.get(26)?,
            stack_digest: r.get(27)?,
        })
    }
}

impl SqliteRegistry {
    /// Opens the registry at `path`, creating the file (and its directory)
    /// if needed and bringing its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        SqliteRegistry::open_with(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// [`SqliteRegistry::open`], waiting at most `busy_timeout` for
    /// another writer.
    pub fn open_with(path: &Path, busy_timeout: Duration) -> Result<Self> {
        let db = path.display().to_string();
        let open_error = |source: crate::BoxError| RegistryError::Open {
            db: db.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_error(e.into()))?;
        }
        let mut conn = Connection::open(path).map_err(|e| open_error(e.into()))?;
        configure(&conn, &db, busy_timeout).map_err(|e| open_error(e.into()))?;
        schema::migrate(&mut conn, &db)?;
        Ok(SqliteRegistry {
            conn,
            path: path.to_owned(),
            db,
        })
    }

    /// Opens the existing registry at `path` for reading only: no file,
    /// folder or WAL switch is created, a missing file is
    /// [`RegistryError::Missing`], and a read-only file or folder works.
    /// Writes through it fail. A registry of an older schema is updated
    /// first, when the file can be written.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        SqliteRegistry::open_read_only_with(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// [`SqliteRegistry::open_read_only`], waiting at most `busy_timeout`
    /// for a writer.
    pub fn open_read_only_with(path: &Path, busy_timeout: Duration) -> Result<Self> {
        let db = path.display().to_string();
        let open_error = |source: crate::BoxError| RegistryError::Open {
            db: db.clone(),
            source,
        };
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                return Err(RegistryError::NotARegistry {
                    db,
                    reason: "it is not a file".into(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RegistryError::Missing {
                    db,
                    reason: "the file does not exist, so nothing has been composed with it yet \
                             (check --registry or [registry] path)"
                        .into(),
                })
            }
            Err(e) => return Err(open_error(e.into())),
        }
        let conn = open_reader(path, &db, busy_timeout)?;
        if let Some(found) = schema::check_readable(&conn, &db)? {
            drop(conn);
            // Updating is what any Strata does on opening an older
            // registry; it creates nothing, and needs write access.
            if let Err(e) = SqliteRegistry::open_with(path, busy_timeout) {
                return Err(RegistryError::OldSchema {
                    db,
                    found,
                    known: schema::SCHEMA_VERSION,
                    source: Box::new(e),
                });
            }
            return SqliteRegistry::open_read_only_with(path, busy_timeout);
        }
        Ok(SqliteRegistry {
            conn,
            path: path.to_owned(),
            db,
        })
    }

    /// `$XDG_DATA_HOME/strata/registry.sqlite`, or
    /// `~/.local/share/strata/registry.sqlite` when that is unset; `None`
    /// without a usable home directory.
    pub fn default_path() -> Option<PathBuf> {
        default_path_from(std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `read` in one read transaction, so a record is never seen
    /// half-finished.
    fn read<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .unchecked_transaction()
            .ctx(&self.db, || "start reading".into())?;
        let value = read(&tx)?;
        tx.commit().ctx(&self.db, || "end reading".into())?;
        Ok(value)
    }
}

/// A connection that only reads and has read a table, so the WAL index
/// is open. Where the file and folder may be written, it is a read-write
/// connection (never creating the file) with `query_only` set: SQLite then
/// refuses every write, and the last connection to close still removes
/// the `-wal` and `-shm` files, as writers do; a read-only connection would
/// leave them behind, owned by whoever read last. Else it is a read-only
/// connection, and where the `-shm` file can be neither found nor created,
/// an `immutable` one (see the module documentation).
fn open_reader(path: &Path, db: &str, busy_timeout: Duration) -> Result<Connection> {
    let open_error = |source: crate::BoxError| RegistryError::Open {
        db: db.to_owned(),
        source,
    };
    let cannot_write = |e: &rusqlite::Error| {
        matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
        )
    };
    let open = |path: &Path, flags: OpenFlags| {
        let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(busy_timeout)?;
        stable_plans(&conn)?;
        conn.pragma_update(None, "query_only", true)?;
        // Reading a table, not only the header, opens the WAL index.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        Ok::<_, rusqlite::Error>(conn)
    };
    let e = match open(path, OpenFlags::SQLITE_OPEN_READ_WRITE) {
        Ok(conn) => return Ok(conn),
        Err(e) if cannot_write(&e) => e,
        Err(e) => return Err(open_error(e.into())),
    };
    tracing::debug!(db, error = %e, "reading the registry through a read-only connection");
    let e = match open(path, OpenFlags::SQLITE_OPEN_READ_ONLY) {
        Ok(conn) => return Ok(conn),
        Err(e) if cannot_write(&e) => e,
        Err(e) => return Err(open_error(e.into())),
    };
    tracing::debug!(db, error = %e, "reading the registry as immutable");
    let uri = immutable_uri(path).map_err(|_| open_error(e.into()))?;
    open(
        Path::new(&uri),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| open_error(e.into()))
}

/// `file:PATH?immutable=1`, with the characters a URI gives meaning to
/// escaped; `Err` for a path that is not UTF-8.
fn immutable_uri(path: &Path) -> std::result::Result<String, ()> {
    let absolute = std::path::absolute(path).map_err(|_| ())?;
    let text = absolute.to_str().ok_or(())?;
    let mut uri = String::from("file:");
    for c in text.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3F"),
            '#' => uri.push_str("%23"),
            _ => uri.push(c),
        }
    }
    Ok(uri + "?immutable=1")
}

fn configure(conn: &Connection, db: &str, busy_timeout: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    stable_plans(conn)?;
    let mode = enable_wal(conn, busy_timeout)?;
    if !mode.eq_ignore_ascii_case("wal") {
        // E.g. on a network file system. Still correct, readers just wait
        // for writers.
        tracing::warn!(db, mode, "SQLite refused WAL mode for the compose registry");
    }
    conn.pragma_update(None, "foreign_keys", true)?;
    // Pages read with a pread each, into SQLite's own page cache, not
    // through a memory map (see [`MMAP_SIZE`]).
    conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
    Ok(())
}

/// No memory map of the registry (set, whatever SQLite was built with).
/// A stack walk reads one row per layer, each on a page of its own, spread
/// over the table: mapped, each was a page fault that also mapped the
/// fifteen pages around it (the kernel's fault-around), and the process
/// unmapped them all at its end. A pread each is cheaper: on a kept
/// 1,000-module world, the top of a 410-module stack composed 1.7 ms
/// faster (39.2 → 37.5 ms) and a compose of median depth 0.8 ms faster.
/// That compose reads about 400 pages, well within the page cache.
const MMAP_SIZE: i64 = 0;

/// Query plans that do not depend on bound values (SQLite's query planner
/// stability guarantee). Without it, a statement whose plan SQLite made
/// with a parameter's value in mind is expired and prepared again at the
/// next binding, so a cached statement costs a whole prepare each time: a
/// stack walk asks for a layer's last good compose once per layer.
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Switches to WAL, retrying while other connections hold the file: the
/// switch needs an exclusive lock, and SQLite reports it busy at once
/// instead of calling the busy handler (seen with several processes
/// opening a new registry together).
fn enable_wal(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<String> {
    let deadline = Instant::now() + busy_timeout;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)) {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            result => return result,
        }
    }
}

/// The XDG base directory rule: a relative `XDG_DATA_HOME` is ignored.
fn default_path_from(xdg_data_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let data_home = match xdg_data_home.map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        _ => {
            let home = PathBuf::from(home?);
            if !home.is_absolute() {
                return None;
            }
            home.join(".local").join("share")
        }
    };
    Some(data_home.join("strata").join("registry.sqlite"))
}

impl SqliteRegistry {
    /// The newest good compose of `name:stream`, as much of it as `parts`
    /// says.
    fn latest_good_parts(
        &self,
        name: &str,
        stream: &str,
        parts: Parts,
    ) -> Result<Option<ComposeRecord>> {
        self.read(|conn| latest_good_in(conn, &self.db, name, stream, parts))
    }
}

/// The newest good compose of `name:stream` (`?1`, `?2`): its row, with
/// its `lean` column last. The good test stays in the query: a compose
/// is good or not by its tests, whatever its `lean` column holds.
static LATEST_GOOD_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {RECORD_COLUMNS}, lean FROM composes WHERE name = ?1 AND stream = ?2 \
         AND state = 'finished' AND {} ORDER BY seq DESC LIMIT 1",
        stored::good_sql("")
    )
});

/// The ID of the newest good compose of `?1:?2`, from the index
/// `composes_by_stream` alone (schema version 13).
static LATEST_GOOD_ID_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id FROM composes WHERE name = ?1 AND stream = ?2 \
         AND state = 'finished' AND {} ORDER BY seq DESC LIMIT 1",
        stored::good_sql("")
    )
});

/// The row of compose `?1`, with its `lean` column last.
static COMPOSE_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {RECORD_COLUMNS}, lean FROM composes WHERE id = ?1"));

/// How many inputs one statement records: a deep stack's compose has
/// hundreds, and a statement per input was most of what recording them
/// cost besides the pages written.
const INPUTS_PER_INSERT: usize = 64;

/// Records `inputs` as those of compose `id`, in order, a chunk of rows
/// per statement.
fn insert_inputs(conn: &Connection, db: &str, id: &str, inputs: &[crate::Input]) -> Result<()> {
    use rusqlite::types::{ToSqlOutput, ValueRef};
    fn text(s: &str) -> ToSqlOutput<'_> {
        ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
    }
    let what = || format!("record the inputs of compose `{id}`");
    for (c, chunk) in inputs.chunks(INPUTS_PER_INSERT).enumerate() {
        let mut sql = String::from(
            "INSERT INTO compose_inputs (compose_id, position, kind, name, ident, location) VALUES ",
        );
        for i in 0..chunk.len() {
            sql.push_str(if i == 0 {
                "(?,?,?,?,?,?)"
            } else {
                ",(?,?,?,?,?,?)"
            });
        }
        let mut values: Vec<ToSqlOutput<'_>> = Vec::with_capacity(chunk.len() * 6);
        for (k, input) in chunk.iter().enumerate() {
            let position = (c * INPUTS_PER_INSERT + k) as i64;
            values.extend([
                text(id),
                ToSqlOutput::Borrowed(ValueRef::Integer(position)),
                text(input.kind.as_str()),
                text(&input.name),
                text(&input.ident),
                text(&input.location),
            ]);
        }
        conn.prepare_cached(&sql)
            .and_then(|mut st| st.execute(params_from_iter(values)))
            .ctx(db, what)?;
    }
    Ok(())
}

/// A row read with [`LATEST_GOOD_SQL`] or [`COMPOSE_SQL`]: the compose and
/// its `lean` column.
fn compose_and_lean(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredCompose, Option<String>)> {
    Ok((StoredCompose::from_row(r)?, r.get(28)?))
}

/// The newest good compose of `name:stream` on `conn`, as much of it as
/// `parts` says. Lean, it is one statement when the compose has its
/// `lean` column (every compose finished at schema version 11 or
/// before it, through the update).
fn latest_good_in(
    conn: &Connection,
    db: &str,
    name: &str,
    stream: &str,
    parts: Parts,
) -> Result<Option<ComposeRecord>> {
    // Cached: a stack walk asks this once per layer. The row comes with
    // the answer: looking it up again by ID cost a deep stack a second
    // search of the table per layer.
    let row = conn
        .prepare_cached(&LATEST_GOOD_SQL)
        .and_then(|mut st| st.query_row([name, stream], compose_and_lean).optional())
        .ctx(db, || {
            format!("find the last good compose of `{name}:{stream}`")
        })?;
    match row {
        Some((compose, lean)) => load_rest(conn, db, compose, lean, parts).map(Some),
        None => Ok(None),
    }
}

/// Reads compose `id` with everything that belongs to it.
fn load(conn: &Connection, db: &str, id: &str) -> Result<Option<ComposeRecord>> {
    load_parts(conn, db, id, Parts::Whole)
}

/// Compose `id`, as much of it as `parts` says.
fn load_parts(
    conn: &Connection,
    db: &str,
    id: &str,
    parts: Parts,
) -> Result<Option<ComposeRecord>> {
    let action = || format!("read compose `{id}`");
    let row = conn
        .prepare_cached(&COMPOSE_SQL)
        .and_then(|mut st| st.query_row([id], compose_and_lean).optional())
        .ctx(db, action)?;
    let Some((compose, lean)) = row else {
        return Ok(None);
    };
    load_rest(conn, db, compose, lean, parts).map(Some)
}

/// The record of a `composes` row and its `lean` column, with as much of
/// what belongs to it as `parts` says. What the `lean` column holds is not
/// read again: a lean record of a compose that has it is its row alone. A
/// row without it (a compose not finished) is read from the other tables.
fn load_rest(
    conn: &Connection,
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
        None => conn
            .prepare_cached(if parts.stack() {
                "SELECT kind, name, ident, location FROM compose_inputs \
                 WHERE compose_id = ?1 ORDER BY position"
            } else {
                "SELECT kind, name, ident, location FROM compose_inputs \
                 WHERE compose_id = ?1 AND kind <> 'stack_compose' ORDER BY position"
            })
            .and_then(|mut st| {
                st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx(db, action)?,
    };
    let packages = if !parts.contents() {
        Vec::new()
    } else {
        conn.prepare_cached(
            "SELECT arch, count, nevras FROM compose_package_lists WHERE compose_id = ?1",
        )
        .and_then(|mut st| {
            st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .ctx(db, action)?
    };
    let (repos, modulemd) = if compose.output_path.is_some() {
        let repos = match lean_repos {
            Some(repos) => repos,
            None => conn
                .prepare_cached("SELECT arch, path FROM compose_repos WHERE compose_id = ?1")
                .and_then(|mut st| {
                    st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<Vec<(String, String)>>>()
                })
                .ctx(db, action)?,
        };
        let modulemd = if !parts.contents() {
            Vec::new()
        } else {
            conn.prepare_cached("SELECT arch, document FROM compose_modulemd WHERE compose_id = ?1")
                .and_then(|mut st| {
                    st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<Vec<(String, Vec<u8>)>>>()
                })
                .ctx(db, action)?
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

fn insert_packages(tx: &Connection, db: &str, id: &str, packages: &PackagesByArch) -> Result<()> {
    let action = || format!("record the packages of compose `{id}`");
    let mut st = tx
        .prepare_cached(
            "INSERT INTO compose_package_lists (compose_id, arch, count, nevras) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .ctx(db, action)?;
    for (arch, count, nevras) in stored::encode_packages(packages) {
        st.execute(params![id, arch, count, nevras])
            .ctx(db, action)?;
    }
    Ok(())
}

/// The `WHERE … ORDER BY … LIMIT` of a listing, and its arguments.
fn filter_sql(filter: &ListFilter) -> (String, Vec<SqlValue>) {
    let (sql, args) = stored::filter_sql(filter, "", |n| format!("?{n}"));
    let args = args
        .into_iter()
        .map(|a| match a {
            FilterArg::Text(t) => SqlValue::Text(t),
            FilterArg::Int(i) => SqlValue::Integer(i),
        })
        .collect();
    (sql, args)
}

/// `(compose, arch, value)` rows grouped by compose.
fn by_compose<T: rusqlite::types::FromSql>(
    conn: &Connection,
    db: &str,
    sql: &str,
    args: &[SqlValue],
) -> Result<HashMap<String, Vec<(String, T)>>> {
    let action = || "list composes".to_owned();
    let mut map: HashMap<String, Vec<(String, T)>> = HashMap::new();
    let mut st = conn.prepare_cached(sql).ctx(db, action)?;
    let mut rows = st.query(params_from_iter(args)).ctx(db, action)?;
    while let Some(r) = rows.next().ctx(db, action)? {
        let id: String = r.get(0).ctx(db, action)?;
        map.entry(id)
            .or_default()
            .push((r.get(1).ctx(db, action)?, r.get(2).ctx(db, action)?));
    }
    Ok(map)
}

/// Summaries of the composes `filter` matches: the rows, their
/// repositories and package counts, in three queries.
fn summaries(conn: &Connection, db: &str, filter: &ListFilter) -> Result<Vec<ComposeSummary>> {
    let action = || "list composes".to_owned();
    let (filter_sql, args) = filter_sql(filter);
    let rows: Vec<StoredCompose> = conn
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM composes{filter_sql}"
        ))
        .and_then(|mut st| {
            st.query_map(params_from_iter(&args), StoredCompose::from_row)?
                .collect()
        })
        .ctx(db, action)?;
    let matching = format!("SELECT id FROM composes{filter_sql}");
    let repos = by_compose::<String>(
        conn,
        db,
        &format!(
            "SELECT compose_id, arch, path FROM compose_repos WHERE compose_id IN ({matching})"
        ),
        &args,
    )?;
    let counts = by_compose::<i64>(
        conn,
        db,
        &format!(
            "SELECT compose_id, arch, count FROM compose_package_lists \
             WHERE compose_id IN ({matching})"
        ),
        &args,
    )?;
    stored::build_summaries(db, rows, repos, counts)
}

/// Every compose, newest first, and every compose-on-compose input.
fn prune_inputs(conn: &Connection, db: &str) -> Result<prune::PruneInputs> {
    let all = summaries(conn, db, &ListFilter::default())?;
    let uses = conn
        .prepare_cached(
            "SELECT compose_id, ident FROM compose_inputs \
             WHERE kind IN ('compose', 'stack_compose')",
        )
        .and_then(|mut st| {
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<(String, String)>>>()
        })
        .ctx(db, || "read which composes used which".into())?;
    let not_good = conn
        .prepare_cached("SELECT DISTINCT compose_id FROM compose_tests WHERE state <> 'passed'")
        .and_then(|mut st| {
            st.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .ctx(db, || "read which composes' tests did not pass".into())?;
    Ok((all, uses, not_good))
}

/// The chain SQL (crate::chain) on one SQLite transaction.
struct ChainStore<'a> {
    conn: &'a Connection,
    db: &'a str,
}

impl chain::Store for ChainStore<'_> {
    fn exec(&mut self, sql: &str, params: &[chain::Val]) -> Result<u64> {
        let sql = sql.replace("strata.", "");
        let n = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.execute(params_from_iter(params.iter().map(sql_value))))
            .ctx(self.db, || "record a chain".into())?;
        Ok(n as u64)
    }

    fn rows(
        &mut self,
        sql: &str,
        params: &[chain::Val],
        kinds: &[chain::Kind],
    ) -> Result<Vec<Vec<chain::Val>>> {
        let sql = sql.replace("strata.", "");
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| {
                st.query_map(params_from_iter(params.iter().map(sql_value)), |r| {
                    kinds
                        .iter()
                        .enumerate()
                        .map(|(i, k)| {
                            Ok(match k {
                                chain::Kind::Text => chain::Val::Text(r.get(i)?),
                                chain::Kind::Int => chain::Val::Int(r.get(i)?),
                            })
                        })
                        .collect()
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx(self.db, || "read chains".into())
    }

    fn db(&self) -> &str {
        self.db
    }
}

fn sql_value(v: &chain::Val) -> SqlValue {
    match v {
        chain::Val::Text(Some(t)) => SqlValue::Text(t.clone()),
        chain::Val::Int(Some(i)) => SqlValue::Integer(*i),
        chain::Val::Text(None) | chain::Val::Int(None) => SqlValue::Null,
    }
}

impl SqliteRegistry {
    /// Runs chain SQL in one write transaction.
    fn chain_write<T>(&mut self, f: impl FnOnce(&mut dyn chain::Store) -> Result<T>) -> Result<T> {
        let db = self.db.as_str();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(db, || "record a chain".into())?;
        let value = f(&mut ChainStore { conn: &tx, db })?;
        tx.commit().ctx(db, || "record a chain".into())?;
        Ok(value)
    }

    fn chain_read<T>(&self, f: impl FnOnce(&mut dyn chain::Store) -> Result<T>) -> Result<T> {
        self.read(|conn| f(&mut ChainStore { conn, db: &self.db }))
    }
}

impl Registry for SqliteRegistry {
    fn begin(&mut self, new: &NewCompose) -> Result<ComposeRecord> {
        let alloc = validate::new_compose(new)?;
        let db = self.db.as_str();
        let what = || format!("begin a compose of `{}:{}`", new.name, new.stream);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(db, what)?;

        let respin: i64 = tx
            .query_row(&stored::next_respin_sql("", "?1"), [&alloc.id_base], |r| {
                r.get(0)
            })
            .ctx(db, what)?;
        let seq: i64 = tx
            .query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM composes", [], |r| {
                r.get(0)
            })
            .ctx(db, what)?;
        let (respin, id) = alloc.id(new, respin)?;
        let arches = stored::arches_text(&new.arches);
        let definition_path = new.definition_path.to_str().expect("validated as UTF-8");

        let owner = new.owner.as_ref();
        let (record_kind, artifact_kind) = stored::kind_columns(new.artifact);
        // Every record of a name has one kind (this check keeps it so), so
        // one record says it: an index lookup, where asking for a record
        // of another kind walked every compose of the name.
        let existing: Option<String> = tx
            .query_row(
                "SELECT record_kind FROM composes WHERE name = ?1 LIMIT 1",
                [&new.name],
                |r| r.get(0),
            )
            .optional()
            .ctx(db, what)?;
        if let Some(existing) = existing.filter(|k| k != record_kind) {
            return Err(stored::kind_clash(new, &existing));
        }
        tx.execute(
            "INSERT INTO composes (id, seq, id_base, respin, name, stream, compose_type, \
             compose_date, state, version, context, definition_path, definition_digest, \
             scm_ref, arches, started_at, owner_host, owner_pid, owner_start_time, \
             owner_boot_id, owner_pid_namespace, record_kind, artifact_kind) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'started', ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
             ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
            params![
                id,
                seq,
                alloc.id_base,
                respin,
                new.name,
                new.stream,
                new.compose_type.as_str(),
                alloc.date,
                new.version as i64,
                new.context,
                definition_path,
                new.definition_digest,
                new.scm_ref,
                arches,
                new.started_at,
                owner.map(|o| &o.host),
                owner.map(|o| i64::from(o.pid)),
                owner.map(|o| o.start_time as i64),
                owner.map(|o| &o.boot_id),
                owner.and_then(|o| o.pid_namespace).map(|ns| ns as i64),
                record_kind,
                artifact_kind,
            ],
        )
        .ctx(db, || format!("record compose `{id}` as started"))?;
        insert_inputs(&tx, db, &id, &new.inputs)?;
        if let Some(chain) = &new.chain {
            tx.execute(
                "UPDATE composes SET chain_id = ?2, cause = ?3 WHERE id = ?1",
                params![id, chain.chain_id, chain.event],
            )
            .ctx(db, || format!("record the chain of compose `{id}`"))?;
        }
        for test in &new.required_tests {
            tx.execute(
                "INSERT INTO compose_tests (compose_id, name, state) VALUES (?1, ?2, 'pending')",
                params![id, test],
            )
            .ctx(db, || format!("record the tests of compose `{id}`"))?;
        }
        let (row, _) = tx
            .prepare_cached(&COMPOSE_SQL)
            .and_then(|mut st| st.query_row([&id], compose_and_lean))
            .ctx(db, || format!("read compose `{id}` as started"))?;
        let record = stored::begun(db, row, &new.inputs)?;
        tx.commit()
            .ctx(db, || format!("commit compose `{id}` as started"))?;
        tracing::info!(db, compose_id = %id, "compose started");
        Ok(record)
    }

    fn record_test(
        &mut self,
        compose_id: &str,
        name: &str,
        passed: bool,
        finished_at: i64,
        output: &str,
    ) -> Result<()> {
        let db = self.db.as_str();
        let changed = self
            .conn
            .execute(
                "UPDATE compose_tests SET state = ?3, finished_at = ?4, output = ?5 \
                 WHERE compose_id = ?1 AND name = ?2",
                params![
                    compose_id,
                    name,
                    if passed { "passed" } else { "failed" },
                    finished_at,
                    stored::error_text(output),
                ],
            )
            .ctx(db, || {
                format!("record test `{name}` of compose `{compose_id}`")
            })?;
        if changed == 0 {
            return Err(RegistryError::NoSuchTest {
                db: db.to_owned(),
                compose_id: compose_id.to_owned(),
                test: name.to_owned(),
            });
        }
        Ok(())
    }

    fn finish(&mut self, compose_id: &str, outcome: &Outcome) -> Result<ComposeRecord> {
        validate::outcome(compose_id, outcome)?;
        let db = self.db.as_str();
        let what = || format!("record the end of compose `{compose_id}`");
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(db, what)?;

        let row: Option<(String, String)> = tx
            .query_row(
                "SELECT state, record_kind FROM composes WHERE id = ?1",
                [compose_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx(db, what)?;
        let (state, record_kind) = row.unzip();
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
                    "UPDATE composes SET state = 'finished', finished_at = ?2, \
                     output_path = ?3, timings = ?4, build_id = ?5 WHERE id = ?1",
                    params![
                        compose_id,
                        finished_at,
                        output_path,
                        json_text(timings),
                        outputs.build_id
                    ],
                )
                .ctx(db, what)?;
                let mut st = tx
                    .prepare_cached(
                        "INSERT INTO compose_repos (compose_id, arch, path) VALUES (?1, ?2, ?3)",
                    )
                    .ctx(db, what)?;
                for (arch, path) in &outputs.repos {
                    let path = path.to_str().expect("validated as UTF-8");
                    st.execute(params![compose_id, arch, path]).ctx(db, what)?;
                }
                let mut st = tx
                    .prepare_cached(
                        "INSERT INTO compose_modulemd (compose_id, arch, document) \
                         VALUES (?1, ?2, ?3)",
                    )
                    .ctx(db, what)?;
                for (arch, document) in stored::encode_modulemd(modulemd) {
                    st.execute(params![compose_id, arch, document])
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
                    "UPDATE composes SET state = 'failed', finished_at = ?2, \
                     error = ?3, report = ?4 WHERE id = ?1",
                    params![
                        compose_id,
                        finished_at,
                        stored::error_text(error),
                        report.as_ref().map(stored::report_text)
                    ],
                )
                .ctx(db, what)?;
            }
        }
        insert_packages(&tx, db, compose_id, outcome.packages())?;
        let mut record =
            load(&tx, db, compose_id)?.ok_or_else(|| RegistryError::NoSuchCompose {
                db: db.to_owned(),
                compose_id: compose_id.to_owned(),
            })?;
        if let Outcome::Finished { .. } = outcome {
            // The fingerprint from the record as stored: what a reader
            // recomputing it from the record gets too. With it, what a
            // lean read needs (schema version 11), so that a stack walk
            // reads this compose as one row; and the digest of its stack
            // (version 12), so that a compose above it need not read its
            // inputs to tell whether its gate saw the same stack.
            let stack_digest = crate::inputs_stack_digest(&record.inputs);
            tx.execute(
                "UPDATE composes SET fingerprint = ?2, lean = ?3, stack_digest = ?4 WHERE id = ?1",
                params![
                    compose_id,
                    crate::record_fingerprint(&record),
                    stored::lean_text(&record),
                    stack_digest
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
        self.read(|conn| load(conn, &self.db, compose_id))
    }

    fn get_inputs_only(&self, compose_id: &str) -> Result<Option<ComposeRecord>> {
        self.read(|conn| load_parts(conn, &self.db, compose_id, Parts::Inputs))
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
        self.chain_write(|s| crate::release::begin(s, new))
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
        self.read(|conn| {
            let ids = conn
                .prepare_cached(&format!("SELECT id FROM composes{filter_sql}"))
                .and_then(|mut st| {
                    st.query_map(params_from_iter(args), |r| r.get::<_, String>(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .ctx(&self.db, || "list composes".into())?;
            ids.iter()
                .filter_map(|id| load(conn, &self.db, id).transpose())
                .collect()
        })
    }

    fn list_summaries(&self, filter: &ListFilter) -> Result<Vec<ComposeSummary>> {
        self.read(|conn| summaries(conn, &self.db, filter))
    }

    fn latest_good(&self, name: &str, stream: &str) -> Result<Option<ComposeRecord>> {
        self.latest_good_parts(name, stream, Parts::Whole)
    }

    fn latest_good_lean(&self, name: &str, stream: &str) -> Result<Option<ComposeRecord>> {
        self.latest_good_parts(name, stream, Parts::Lean)
    }

    fn latest_good_lean_many(
        &self,
        streams: &[(&str, &str)],
    ) -> Result<Vec<Option<ComposeRecord>>> {
        // One read transaction; the statements are cached and local.
        self.read(|conn| {
            streams
                .iter()
                .map(|(name, stream)| latest_good_in(conn, &self.db, name, stream, Parts::Lean))
                .collect()
        })
    }

    fn latest_good_ids(&self, streams: &[(&str, &str)]) -> Result<Vec<Option<String>>> {
        self.read(|conn| {
            let mut st = conn
                .prepare_cached(&LATEST_GOOD_ID_SQL)
                .ctx(&self.db, || "find the last good composes".into())?;
            streams
                .iter()
                .map(|(name, stream)| {
                    st.query_row([name, stream], |r| r.get(0))
                        .optional()
                        .ctx(&self.db, || {
                            format!("find the last good compose of `{name}:{stream}`")
                        })
                })
                .collect()
        })
    }

    fn identity(&self) -> Result<String> {
        let instance: String = self.read(|conn| {
            conn.query_row(
                "SELECT value FROM registry_info WHERE name = 'instance'",
                [],
                |r| r.get(0),
            )
            .ctx(&self.db, || "read which registry this is".into())
        })?;
        let path = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        Ok(format!("sqlite:{}#{instance}", path.display()))
    }

    fn composes_using(&self, compose_id: &str) -> Result<Vec<String>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT c.id FROM composes c WHERE c.id IN (\
                   SELECT compose_id FROM compose_inputs WHERE kind = 'compose' AND ident = ?1 \
                   UNION \
                   SELECT compose_id FROM compose_inputs \
                   WHERE kind = 'stack_compose' AND ident = ?1) \
                 ORDER BY c.seq DESC",
            )
            .and_then(|mut st| {
                st.query_map([compose_id], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .ctx(&self.db, || {
                format!("find the composes using compose `{compose_id}`")
            })
        })
    }

    fn prune(&mut self, policy: &PrunePolicy, dry_run: bool) -> Result<PrunePlan> {
        let db = self.db.as_str();
        if dry_run {
            return self.read(|conn| {
                prune::plan_in(
                    &mut ChainStore { conn, db },
                    prune_inputs(conn, db)?,
                    policy,
                )
            });
        }
        let what = || "prune compose records".to_owned();
        // The write lock holds off composes beginning meanwhile, which
        // could take a compose about to go as an input.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(db, what)?;
        let plan = prune::plan_in(
            &mut ChainStore { conn: &tx, db },
            prune_inputs(&tx, db)?,
            policy,
        )?;
        for table in [
            "compose_inputs",
            "compose_repos",
            "compose_package_lists",
            "compose_modulemd",
            "compose_tests",
        ] {
            let mut st = tx
                .prepare(&format!("DELETE FROM {table} WHERE compose_id = ?1"))
                .ctx(db, what)?;
            for removed in &plan.removed {
                st.execute([&removed.compose.id]).ctx(db, what)?;
            }
        }
        {
            // Each removed ID's respin stays handed out (see `prune`).
            let mut retire = tx
                .prepare(&stored::retire_respins_sql("", "= ?1"))
                .ctx(db, what)?;
            let mut st = tx
                .prepare("DELETE FROM composes WHERE id = ?1")
                .ctx(db, what)?;
            for removed in &plan.removed {
                retire.execute([&removed.compose.id]).ctx(db, what)?;
                st.execute([&removed.compose.id]).ctx(db, what)?;
            }
            tx.execute(&stored::drop_covered_respins_sql(""), [])
                .ctx(db, what)?;
        }
        chain::remove(&mut ChainStore { conn: &tx, db }, &plan.chains)?;
        tx.commit().ctx(db, what)?;
        tracing::info!(
            db,
            removed = plan.removed.len(),
            chains_removed = plan.chains.removed.len(),
            "compose and chain records pruned"
        );
        if !plan.removed.is_empty() || !plan.chains.removed.is_empty() {
            // Freed pages stay in the file until a VACUUM rewrites it;
            // with package lists compressed the file is small, so the
            // rewrite takes well under a second.
            self.conn
                .execute_batch("VACUUM")
                .ctx(db, || "shrink the file after pruning (VACUUM)".into())?;
        }
        Ok(plan)
    }
}
