//! The conformance checks (`common/conformance.rs`) on the SQLite
//! backend: each check gets a new file in a temporary directory.

mod common;

use std::process::ExitCode;

use common::conformance::{self, test_data, Backend, Target};

struct Sqlite;

impl Backend for Sqlite {
    fn fresh(&self) -> Target {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.sqlite");
        Target {
            location: path.to_str().unwrap().to_owned(),
            shown: path.display().to_string(),
            guard: Some(Box::new(dir)),
        }
    }

    fn load_v1(&self, t: &Target) {
        load(t, 1);
    }

    fn load_v7(&self, t: &Target) {
        load(t, 7);
    }

    fn exists(&self, t: &Target) -> bool {
        std::path::Path::new(&t.location).exists()
    }

    fn lean_column(&self, t: &Target, compose_id: &str) -> Option<String> {
        rusqlite::Connection::open(&t.location)
            .unwrap()
            .query_row(
                "SELECT lean FROM composes WHERE id = ?1",
                [compose_id],
                |r| r.get(0),
            )
            .unwrap()
    }

    fn forget_lean(&self, t: &Target) {
        rusqlite::Connection::open(&t.location)
            .unwrap()
            .execute("UPDATE composes SET lean = NULL", [])
            .unwrap();
    }
}

/// The registry of `test-data/v<version>`, marked as that version marked
/// its files.
fn load(t: &Target, version: u32) {
    let conn = rusqlite::Connection::open(&t.location).unwrap();
    conn.execute_batch(&test_data(&format!("v{version}/sqlite-schema.sql")))
        .unwrap();
    conn.execute_batch(&test_data(&format!("v{version}/rows.sql")))
        .unwrap();
    conn.execute_batch(&format!(
        "PRAGMA user_version = {version}; PRAGMA application_id = 1398035009"
    ))
    .unwrap();
}

fn main() -> ExitCode {
    if let Some(code) = conformance::child_main() {
        return code;
    }
    conformance::run(&Sqlite, &conformance::checks())
}
