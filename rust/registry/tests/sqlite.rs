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
        let conn = rusqlite::Connection::open(&t.location).unwrap();
        conn.execute_batch(&test_data("v1/sqlite-schema.sql"))
            .unwrap();
        conn.execute_batch(&test_data("v1/rows.sql")).unwrap();
        // As version 1 marked its files.
        conn.execute_batch("PRAGMA user_version = 1; PRAGMA application_id = 1398035009")
            .unwrap();
    }

    fn load_v7(&self, t: &Target) {
        let conn = rusqlite::Connection::open(&t.location).unwrap();
        conn.execute_batch(&test_data("v7/sqlite-schema.sql"))
            .unwrap();
        conn.execute_batch(&test_data("v7/rows.sql")).unwrap();
        conn.execute_batch("PRAGMA user_version = 7; PRAGMA application_id = 1398035009")
            .unwrap();
    }

    fn exists(&self, t: &Target) -> bool {
        std::path::Path::new(&t.location).exists()
    }
}

fn main() -> ExitCode {
    if let Some(code) = conformance::child_main() {
        return code;
    }
    conformance::run(&Sqlite, &conformance::checks())
}
