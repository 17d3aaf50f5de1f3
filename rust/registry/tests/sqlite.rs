//! The conformance checks (`common/conformance.rs`) on the SQLite
//! backend: each check gets a new file in a temporary directory.

mod common;

use std::process::ExitCode;

use common::conformance::{self, Backend, Target};

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
}

fn main() -> ExitCode {
    if let Some(code) = conformance::child_main() {
        return code;
    }
    conformance::run(&Sqlite, &conformance::checks())
}
