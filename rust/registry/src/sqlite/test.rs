//! What only the SQLite backend has; what every backend does is checked
//! by `tests/sqlite.rs` (the conformance checks of `tests/common`).

use std::collections::BTreeMap;

use serde_json::json;
use tempfile::TempDir;

use std::path::Path;

use super::*;
use crate::record::{ComposeType, Input, InputKind, Outputs};
use crate::{Owner, State};

const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// 2026-11-25T10:00:00Z.
const NOV25: i64 = 1_795_600_800;

fn new(name: &str, stream: &str) -> NewCompose {
    NewCompose {
        scratch: None,
        chain: None,
        required_tests: Vec::new(),
        name: name.into(),
        stream: stream.into(),
        compose_type: ComposeType::Nightly,
        started_at: NOV25,
        definition_path: format!("modules/{name}.yaml").into(),
        definition_digest: DIGEST.into(),
        scm_ref: Some("a1b2c3d".into()),
        arches: vec!["x86_64".into(), "aarch64".into()],
        version: 4020261125100000,
        context: "9edba152".into(),
        inputs: vec![Input {
            kind: InputKind::KojiRepo,
            name: "f40-build".into(),
            ident: "6034451".into(),
            location: "https://kojipkgs.example/repos/f40-build/6034451".into(),
        }],
        owner: Owner::current(),
        artifact: None,
    }
}

fn packages(list: &[(&str, &str)]) -> PackagesByArch {
    let mut map = PackagesByArch::new();
    for (arch, nevra) in list {
        map.entry(arch.to_string())
            .or_default()
            .insert(nevra.to_string());
    }
    map
}

fn finished(at: i64) -> Outcome {
    Outcome::Finished {
        finished_at: at,
        outputs: Outputs {
            path: "/srv/composes/apache".into(),
            repos: BTreeMap::from([
                ("aarch64".into(), "/srv/composes/apache/aarch64/os".into()),
                ("x86_64".into(), "/srv/composes/apache/x86_64/os".into()),
            ]),
            build_id: None,
        },
        packages: packages(&[
            ("x86_64", "httpd-2.4.58-1.fc40.x86_64"),
            ("x86_64", "mod_ssl-1:2.4.58-1.fc40.x86_64"),
            ("aarch64", "httpd-2.4.58-1.fc40.aarch64"),
        ]),
        timings: json!({"resolve": 0.4, "closure": 1.25}),
        modulemd: Default::default(),
    }
}

fn registry() -> (TempDir, SqliteRegistry) {
    let dir = tempfile::tempdir().unwrap();
    let reg = SqliteRegistry::open(&dir.path().join("registry.sqlite")).unwrap();
    (dir, reg)
}

#[test]
fn records_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dirs/registry.sqlite");
    let (done, killed) = {
        let mut reg = SqliteRegistry::open(&path).unwrap();
        let done = reg.begin(&new("apache", "2.4")).unwrap().id;
        reg.finish(&done, &finished(NOV25)).unwrap();
        // Dropped without finishing, as if the process died.
        let killed = reg.begin(&new("apache", "2.4")).unwrap().id;
        (done, killed)
    };
    let mut reg = SqliteRegistry::open(&path).unwrap();
    assert_eq!(reg.path(), path);
    assert_eq!(reg.get(&killed).unwrap().unwrap().state, State::Started);
    assert_eq!(reg.latest_good("apache", "2.4").unwrap().unwrap().id, done);
    // Respins continue where they were.
    assert_eq!(
        reg.begin(&new("apache", "2.4")).unwrap().id,
        "apache-2.4-20261125.n.2"
    );
}

#[test]
fn schema_is_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.sqlite");
    drop(SqliteRegistry::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::SCHEMA_VERSION);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");

    conn.pragma_update(None, "user_version", schema::SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = SqliteRegistry::open(&path).unwrap_err();
    assert!(matches!(err, RegistryError::NewerSchema { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the compose registry {} has schema version {}, but this Strata knows versions up to {} \
             only; use a newer Strata to read it",
            path.display(),
            schema::SCHEMA_VERSION + 1,
            schema::SCHEMA_VERSION
        )
    );
}

#[test]
fn other_databases_are_not_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT)")
        .unwrap();
    drop(conn);
    let err = SqliteRegistry::open(&path).unwrap_err();
    assert!(matches!(err, RegistryError::NotARegistry { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("has 1 tables but no Strata schema version"),
        "{err}"
    );

    let path = dir.path().join("other-app.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "application_id", 42).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    drop(conn);
    let err = SqliteRegistry::open(&path).unwrap_err();
    assert!(err.to_string().contains("application ID is 0x2a"), "{err}");

    let path = dir.path().join("garbage.sqlite");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = SqliteRegistry::open(&path).unwrap_err();
    assert!(matches!(err, RegistryError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("garbage.sqlite"), "{err}");
}

#[test]
fn corrupt_rows_are_reported_not_guessed() {
    let (dir, mut reg) = registry();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let conn = Connection::open(dir.path().join("registry.sqlite")).unwrap();
    conn.execute("UPDATE composes SET compose_type = 'weekly'", [])
        .unwrap();
    let err = reg.get(&id).unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("`apache-2.4-20261125.n.0` is corrupt"),
        "{err}"
    );
    assert!(
        err.to_string().contains("unknown compose type `weekly`"),
        "{err}"
    );
}

#[test]
fn a_lean_read_of_a_finished_compose_is_its_row_alone() {
    let (dir, mut reg) = registry();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&id, &finished(NOV25 + 10)).unwrap();
    let lean = reg.latest_good_lean("apache", "2.4").unwrap().unwrap();
    let started = reg.begin(&new("php", "8.2")).unwrap().id;
    drop(reg);
    // Without the tables of inputs and repositories, a lean read of the
    // finished compose still gives its inputs and repositories: it reads
    // them from its row (schema version 11), one statement.
    let path = dir.path().join("registry.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "ALTER TABLE compose_inputs RENAME TO gone_inputs; \
         ALTER TABLE compose_repos RENAME TO gone_repos",
    )
    .unwrap();
    let reg = SqliteRegistry::open(&path).unwrap();
    let read = reg.latest_good_lean("apache", "2.4").unwrap().unwrap();
    assert_eq!(read, lean);
    assert_eq!(read.inputs.len(), 1);
    assert_eq!(read.outputs.as_ref().unwrap().repos.len(), 2);
    assert_eq!(
        reg.latest_good_lean_many(&[("apache", "2.4"), ("php", "8.2")])
            .unwrap(),
        [Some(lean), None]
    );
    // A compose without it (not finished) is read from the tables.
    let err = reg.get(&started).unwrap_err();
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("no such table: compose_inputs"), "{cause}");
}

#[test]
fn a_corrupt_lean_column_is_reported_not_guessed() {
    let (dir, mut reg) = registry();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&id, &finished(NOV25 + 10)).unwrap();
    let conn = Connection::open(dir.path().join("registry.sqlite")).unwrap();
    conn.execute("UPDATE composes SET lean = '[[], {}]'", [])
        .unwrap();
    let err = reg.latest_good_lean("apache", "2.4").unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string().contains(
            "`apache-2.4-20261125.n.0` is corrupt: its lean column (its inputs and \
             repositories, schema version 11) is not a JSON pair"
        ),
        "{err}"
    );
    // A whole record does not read it.
    assert_eq!(reg.latest_good("apache", "2.4").unwrap().unwrap().id, id);
}

#[test]
fn a_corrupt_stack_digest_is_reported_not_trusted() {
    let (dir, mut reg) = registry();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&id, &finished(NOV25 + 10)).unwrap();
    let conn = Connection::open(dir.path().join("registry.sqlite")).unwrap();
    for bad in [
        "sha256:ABC",
        "md5:00",
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF",
        "",
    ] {
        conn.execute("UPDATE composes SET stack_digest = ?1", [bad])
            .unwrap();
        for err in [
            reg.latest_good_lean("apache", "2.4").unwrap_err(),
            reg.get(&id).unwrap_err(),
        ] {
            assert!(matches!(err, RegistryError::Corrupt { .. }), "{err:?}");
            assert!(
                err.to_string().contains(
                    "`apache-2.4-20261125.n.0` is corrupt: `stack_digest` (schema version 12) \
                     is not sha256: and 64 lowercase hex digits"
                ),
                "{err}"
            );
        }
    }
    // NULL is a compose finished before version 12: read, without one.
    conn.execute("UPDATE composes SET stack_digest = NULL", [])
        .unwrap();
    assert_eq!(reg.get(&id).unwrap().unwrap().stack_digest, None);
}

#[test]
fn a_record_kind_that_disagrees_with_its_artifact_kind_is_corrupt() {
    let (dir, mut reg) = registry();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let conn = Connection::open(dir.path().join("registry.sqlite")).unwrap();
    for (sql, says) in [
        (
            "UPDATE composes SET artifact_kind = 'iso'",
            "recorded as a module compose with artifact kind Some(\"iso\")",
        ),
        (
            "UPDATE composes SET artifact_kind = NULL, build_id = 'sha256:00'",
            "a module compose with a build ID",
        ),
    ] {
        conn.execute(sql, []).unwrap();
        let err = reg.get(&id).unwrap_err();
        assert!(matches!(err, RegistryError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains(says), "{err}");
    }
    // The schema refuses kinds it does not know.
    assert!(conn
        .execute("UPDATE composes SET artifact_kind = 'vm'", [])
        .is_err());
}

#[test]
fn default_path_follows_xdg() {
    assert_eq!(
        default_path_from(Some("/data".into()), Some("/home/u".into())),
        Some(PathBuf::from("/data/strata/registry.sqlite"))
    );
    assert_eq!(
        default_path_from(None, Some("/home/u".into())),
        Some(PathBuf::from("/home/u/.local/share/strata/registry.sqlite"))
    );
    // A relative XDG_DATA_HOME is invalid and ignored.
    assert_eq!(
        default_path_from(Some("data".into()), Some("/home/u".into())),
        Some(PathBuf::from("/home/u/.local/share/strata/registry.sqlite"))
    );
    assert_eq!(default_path_from(Some("".into()), None), None);
    assert_eq!(default_path_from(None, Some("".into())), None);
}

#[test]
fn records_serialize_for_the_cli() {
    let (_dir, mut reg) = registry();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let rec = reg.finish(&id, &finished(NOV25 + 90)).unwrap();
    let v = serde_json::to_value(&rec).unwrap();
    assert_eq!(v["id"], "apache-2.4-20261125.n.0");
    assert_eq!(v["state"], "finished");
    assert_eq!(v["compose_type"], "nightly");
    assert_eq!(v["inputs"][0]["kind"], "koji_repo");
    assert_eq!(v["packages"]["x86_64"][0], "httpd-2.4.58-1.fc40.x86_64");
    assert_eq!(
        v["outputs"]["repos"]["x86_64"],
        "/srv/composes/apache/x86_64/os"
    );
    // Everything but the digest of its stack, which is not shown: the
    // inputs it digests are.
    assert!(rec.stack_digest.is_some() && v.get("stack_digest").is_none());
    let back: ComposeRecord = serde_json::from_value(v).unwrap();
    assert_eq!(
        back,
        ComposeRecord {
            stack_digest: None,
            ..rec
        }
    );
}

#[test]
fn a_writer_waits_only_as_long_as_its_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.sqlite");
    drop(SqliteRegistry::open(&path).unwrap());
    let mut reg = SqliteRegistry::open_with(&path, std::time::Duration::from_millis(50)).unwrap();
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    // With the default of a minute this would wait that long; 50 ms it is.
    let err = reg.begin(&new("apache", "2.4")).unwrap_err();
    assert!(matches!(err, RegistryError::Backend { .. }), "{err:?}");
    let cause = std::error::Error::source(&err).map(|c| c.to_string());
    assert!(
        cause
            .as_deref()
            .is_some_and(|c| c.contains("database is locked")),
        "{err:?}"
    );
    holder.execute_batch("ROLLBACK").unwrap();
    reg.begin(&new("apache", "2.4")).unwrap();
}

#[test]
fn the_trait_is_object_safe_and_sendable() {
    let (_dir, reg) = registry();
    let mut boxed: Box<dyn Registry> = Box::new(reg);
    let id = std::thread::spawn(move || boxed.begin(&new("apache", "2.4")).unwrap().id)
        .join()
        .unwrap();
    assert_eq!(id, "apache-2.4-20261125.n.0");
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn reading_leaves_no_files_behind_and_writes_nothing() {
    let (dir, mut reg) = registry();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    drop(reg);
    assert_eq!(files_in(dir.path()), ["registry.sqlite"]);
    let path = dir.path().join("registry.sqlite");
    let mut reader = SqliteRegistry::open_read_only(&path).unwrap();
    assert_eq!(reader.get(&id).unwrap().unwrap().state, State::Started);
    let err = reader.abandon(&id, "gone").unwrap_err();
    assert!(
        std::error::Error::source(&err)
            .unwrap()
            .to_string()
            .contains("readonly"),
        "{err:?}"
    );
    drop(reader);
    // The last connection out removes the WAL files, as a writer's does.
    assert_eq!(files_in(dir.path()), ["registry.sqlite"]);
    let reg = SqliteRegistry::open(&path).unwrap();
    assert_eq!(reg.get(&id).unwrap().unwrap().state, State::Started);
}

#[test]
fn updating_a_version_1_registry_shrinks_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.sqlite");
    let data = |file: &str| {
        std::fs::read_to_string(format!(
            "{}/test-data/v1/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(&data("sqlite-schema.sql")).unwrap();
    conn.execute_batch(&data("rows.sql")).unwrap();
    // 3,000 more packages for each compose, as version 1 stored them.
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
         INSERT INTO compose_packages \
         SELECT id, 'x86_64', printf('texlive-part%04d-11:2023-1.fc40.x86_64', i) \
         FROM composes, n; \
         PRAGMA user_version = 1; PRAGMA application_id = 1398035009;",
    )
    .unwrap();
    drop(conn);
    let before = std::fs::metadata(&path).unwrap().len();

    let reg = SqliteRegistry::open(&path).unwrap();
    let records = reg.list(&ListFilter::default()).unwrap();
    assert!(records
        .iter()
        .all(|r| r.packages["x86_64"].contains("texlive-part2999-11:2023-1.fc40.x86_64")));
    drop(reg);
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(after * 4 < before, "{before} bytes before, {after} after");
    let conn = Connection::open(&path).unwrap();
    let free: i64 = conn
        .pragma_query_value(None, "freelist_count", |r| r.get(0))
        .unwrap();
    assert_eq!(free, 0);
}

/// The lines of SQLite's plan for `sql`, which takes one parameter.
fn query_plan(conn: &Connection, sql: &str) -> Vec<String> {
    conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map(["x"], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn a_stack_walk_reads_lean_inputs_through_their_index_with_stable_plans() {
    let (dir, reg) = registry();
    // Plans that do not depend on bound values: a cached statement is not
    // prepared again at each binding.
    assert!(reg
        .conn
        .db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG)
        .unwrap());
    let plan = query_plan(
        &reg.conn,
        "SELECT kind, name, ident, location FROM compose_inputs \
         WHERE compose_id = ?1 AND kind <> 'stack_compose' ORDER BY position",
    );
    // From the index alone: it holds every column read.
    assert!(
        plan.iter()
            .any(|p| p.contains("USING COVERING INDEX compose_inputs_lean")),
        "{plan:?}"
    );
    // The reader's connection too.
    let path = dir.path().join("registry.sqlite");
    let ro = SqliteRegistry::open_read_only(&path).unwrap();
    assert!(ro
        .conn
        .db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG)
        .unwrap());
}

#[test]
fn a_deep_compose_writes_pages_for_its_rows_not_for_each_layer() {
    // 400 composes, each on a stack of the 40 below it, then one whose
    // stack is all of them: its begin writes its own rows (clustered by
    // compose ID), not a page of some index for every layer it names
    // (version 9 wrote one for nearly every layer).
    let (_dir, mut reg) = registry();
    let stack = |ids: &[String], from: usize| -> Vec<Input> {
        ids.iter()
            .enumerate()
            .skip(from)
            .map(|(i, id)| Input {
                kind: if i % 50 == 0 {
                    InputKind::Compose
                } else {
                    InputKind::StackCompose
                },
                name: format!("m{i:04}:1"),
                ident: id.clone(),
                location: format!("/srv/composes/{id}"),
            })
            .collect()
    };
    let mut ids = Vec::new();
    for i in 0..400usize {
        let mut layer = new(&format!("m{i:04}"), "1");
        layer.inputs = stack(&ids, i.saturating_sub(40));
        let id = reg.begin(&layer).unwrap().id;
        reg.finish(&id, &finished(NOV25 + 1)).unwrap();
        ids.push(id);
    }
    let mut top = new("top", "1");
    top.inputs = stack(&ids, 0);
    let frames = |reg: &SqliteRegistry, mode: &str| -> i64 {
        reg.conn
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| r.get(1))
            .unwrap()
    };
    assert_eq!(frames(&reg, "TRUNCATE"), 0);
    let id = reg.begin(&top).unwrap().id;
    let written = frames(&reg, "PASSIVE");
    // 400 input rows of about 120 bytes: 12 pages of table, as many of
    // its primary key, and the compose's own row and indexes.
    assert!(written < 60, "begin wrote {written} pages");
    // Recorded a chunk of rows per statement: all of them, in order.
    assert_eq!(reg.get(&id).unwrap().unwrap().inputs, top.inputs);
    // Every layer still finds its user, directly or through the stack.
    let using = |i: usize| reg.composes_using(&ids[i]).unwrap();
    assert_eq!(using(399), std::slice::from_ref(&id));
    assert_eq!(using(398), [id.clone(), ids[399].clone()]);
    assert_eq!(using(0).len(), 41);
    assert_eq!(using(0)[0], id);
    // The direct lookup is indexed.
    let plan = query_plan(
        &reg.conn,
        "SELECT compose_id FROM compose_inputs WHERE kind = 'compose' AND ident = ?1",
    );
    assert!(
        plan.iter().any(|p| p.contains("compose_inputs_direct")),
        "{plan:?}"
    );
}
