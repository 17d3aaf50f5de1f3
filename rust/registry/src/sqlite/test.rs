use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Barrier};

use serde_json::json;
use tempfile::TempDir;

use super::*;
use crate::record::InputKind;

const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// 2026-11-25T10:00:00Z.
const NOV25: i64 = 1_795_600_800;

fn new(name: &str, stream: &str) -> NewCompose {
    NewCompose {
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
        },
        packages: packages(&[
            ("x86_64", "httpd-2.4.58-1.fc40.x86_64"),
            ("x86_64", "mod_ssl-1:2.4.58-1.fc40.x86_64"),
            ("aarch64", "httpd-2.4.58-1.fc40.aarch64"),
        ]),
        timings: json!({"resolve": 0.4, "closure": 1.25}),
    }
}

fn failed(at: i64) -> Outcome {
    Outcome::Failed {
        finished_at: at,
        error: "httpd-2.4.58-1.fc40.x86_64 requires /usr/bin/fbash".into(),
        report: Some(json!({"unresolved": [{"package": "httpd", "requires": "/usr/bin/fbash"}]})),
        packages: packages(&[("x86_64", "httpd-2.4.58-1.fc40.x86_64")]),
    }
}

fn registry() -> (TempDir, SqliteRegistry) {
    let dir = tempfile::tempdir().unwrap();
    let reg = SqliteRegistry::open(&dir.path().join("registry.sqlite")).unwrap();
    (dir, reg)
}

fn ids(records: &[ComposeRecord]) -> Vec<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

#[test]
fn respins_count_per_name_stream_date_and_type() {
    let (_dir, mut reg) = registry();
    let apache = new("apache", "2.4");
    let with = |f: fn(&mut NewCompose)| {
        let mut n = apache.clone();
        f(&mut n);
        n
    };
    let begun: Vec<String> = [
        apache.clone(),
        apache.clone(),
        with(|n| n.compose_type = ComposeType::Test),
        with(|n| n.compose_type = ComposeType::Production),
        with(|n| n.started_at = NOV25 + 86_400),
        new("apache", "2.6"),
        apache.clone(),
    ]
    .iter()
    .map(|n| reg.begin(n).unwrap().id)
    .collect();
    assert_eq!(
        begun,
        [
            "apache-2.4-20261125.n.0",
            "apache-2.4-20261125.n.1",
            "apache-2.4-20261125.t.0",
            "apache-2.4-20261125.0",
            "apache-2.4-20261126.n.0",
            "apache-2.6-20261125.n.0",
            "apache-2.4-20261125.n.2",
        ]
    );
}

#[test]
fn begin_records_everything_as_started() {
    let (_dir, mut reg) = registry();
    let mut n = new("apache", "2.4");
    n.inputs.push(Input {
        kind: InputKind::Compose,
        name: "base-runtime:f40".into(),
        ident: "base-runtime-f40-20261124.n.3".into(),
        location: "/srv/composes/base-runtime-f40-20261124.n.3".into(),
    });
    let rec = reg.begin(&n).unwrap();
    assert_eq!(rec.id, "apache-2.4-20261125.n.0");
    assert_eq!(
        (rec.name.as_str(), rec.stream.as_str(), rec.date.as_str()),
        ("apache", "2.4", "20261125")
    );
    assert_eq!(rec.compose_type, ComposeType::Nightly);
    assert_eq!(rec.respin, 0);
    assert_eq!(rec.state, State::Started);
    assert_eq!(rec.version, n.version);
    assert_eq!(rec.context, n.context);
    assert_eq!(rec.definition_path, n.definition_path);
    assert_eq!(rec.definition_digest, DIGEST);
    assert_eq!(rec.scm_ref.as_deref(), Some("a1b2c3d"));
    assert_eq!(rec.arches, ["x86_64", "aarch64"]);
    assert_eq!(rec.inputs, n.inputs);
    assert_eq!(rec.started_at, NOV25);
    assert!(rec.packages.is_empty());
    assert_eq!(rec.outputs, None);
    assert_eq!(rec.finished_at, None);
    assert_eq!(
        (&rec.timings, &rec.error, &rec.report),
        (&None, &None, &None)
    );
    assert_eq!(reg.get(&rec.id).unwrap().as_ref(), Some(&rec));
}

#[test]
fn finish_records_outputs_packages_and_timings() {
    let (_dir, mut reg) = registry();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let rec = reg.finish(&id, &finished(NOV25 + 90)).unwrap();
    assert_eq!(rec.state, State::Finished);
    assert_eq!(rec.finished_at, Some(NOV25 + 90));
    let Outcome::Finished {
        outputs,
        packages,
        timings,
        ..
    } = finished(0)
    else {
        unreachable!()
    };
    assert_eq!(rec.outputs.as_ref(), Some(&outputs));
    assert_eq!(rec.packages, packages);
    assert_eq!(rec.timings.as_ref(), Some(&timings));
    assert_eq!(rec.error, None);
    assert_eq!(reg.get(&id).unwrap().as_ref(), Some(&rec));
}

#[test]
fn failed_keeps_error_report_and_chosen_packages() {
    let (_dir, mut reg) = registry();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let rec = reg.finish(&id, &failed(NOV25 + 5)).unwrap();
    assert_eq!(rec.state, State::Failed);
    assert_eq!(
        rec.error.as_deref(),
        Some("httpd-2.4.58-1.fc40.x86_64 requires /usr/bin/fbash")
    );
    assert_eq!(
        rec.report.as_ref().unwrap()["unresolved"][0]["requires"],
        "/usr/bin/fbash"
    );
    assert_eq!(
        rec.packages["x86_64"],
        BTreeSet::from(["httpd-2.4.58-1.fc40.x86_64".to_string()])
    );
    assert_eq!(rec.outputs, None);
    assert_eq!(rec.timings, None);
    assert_eq!(reg.get(&id).unwrap().unwrap(), rec);
}

#[test]
fn a_compose_ends_only_once() {
    let (dir, mut reg) = registry();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let done = reg.finish(&id, &finished(NOV25 + 90)).unwrap();

    let err = reg.finish(&id, &failed(NOV25 + 100)).unwrap_err();
    assert!(
        matches!(&err, RegistryError::NotStarted { state: State::Finished, compose_id, .. } if *compose_id == id),
        "{err:?}"
    );
    let db = dir.path().join("registry.sqlite");
    assert_eq!(
        err.to_string(),
        format!(
            "compose registry {}: compose `apache-2.4-20261125.n.0` is not started (it is finished)",
            db.display()
        )
    );
    // Nothing of the refused outcome was written.
    assert_eq!(reg.get(&id).unwrap().unwrap(), done);

    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&id, &failed(NOV25 + 5)).unwrap();
    let err = reg.finish(&id, &finished(NOV25 + 9)).unwrap_err();
    assert!(
        err.to_string().ends_with("is not started (it is failed)"),
        "{err}"
    );
}

#[test]
fn finishing_an_unknown_compose_names_it_and_the_registry() {
    let (dir, mut reg) = registry();
    let err = reg
        .finish("apache-2.4-20261125.n.7", &finished(NOV25))
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::NoSuchCompose { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("no such compose `apache-2.4-20261125.n.7`"),
        "{msg}"
    );
    assert!(
        msg.contains(&dir.path().join("registry.sqlite").display().to_string()),
        "{msg}"
    );
    assert_eq!(reg.get("apache-2.4-20261125.n.7").unwrap(), None);
}

#[test]
fn last_good_is_the_newest_finished() {
    let (_dir, mut reg) = registry();
    assert_eq!(reg.latest_good("apache", "2.4").unwrap(), None);

    let good = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&good, &finished(NOV25 + 60)).unwrap();
    // Newer, but failed; newer still, but killed mid-way (never ends).
    let bad = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&bad, &failed(NOV25 + 70)).unwrap();
    let killed = reg.begin(&new("apache", "2.4")).unwrap().id;
    // Another stream's finished compose does not count either.
    let other = reg.begin(&new("apache", "2.6")).unwrap().id;
    reg.finish(&other, &finished(NOV25 + 80)).unwrap();

    assert_eq!(reg.latest_good("apache", "2.4").unwrap().unwrap().id, good);
    assert_eq!(reg.latest_good("apache", "2.6").unwrap().unwrap().id, other);
    assert_eq!(reg.get(&killed).unwrap().unwrap().state, State::Started);

    // An older compose finishing late does not displace a newer good one.
    let newer = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&newer, &finished(NOV25 + 100)).unwrap();
    reg.finish(&killed, &finished(NOV25 + 200)).unwrap();
    assert_eq!(reg.latest_good("apache", "2.4").unwrap().unwrap().id, newer);
}

#[test]
fn newest_means_begun_last_even_with_pinned_times() {
    let (_dir, mut reg) = registry();
    // A reproducible rebuild pins an older start time.
    let a = reg.begin(&new("apache", "2.4")).unwrap().id;
    let b = reg
        .begin(&NewCompose {
            started_at: NOV25 - 86_400 * 30,
            ..new("apache", "2.4")
        })
        .unwrap()
        .id;
    reg.finish(&a, &finished(NOV25)).unwrap();
    reg.finish(&b, &finished(NOV25)).unwrap();
    assert_eq!(b, "apache-2.4-20261026.n.0");
    assert_eq!(reg.latest_good("apache", "2.4").unwrap().unwrap().id, b);
    let all = reg.list(&ListFilter::default()).unwrap();
    assert_eq!(ids(&all), [b.as_str(), a.as_str()]);
}

#[test]
fn list_filters_and_orders_newest_first() {
    let (_dir, mut reg) = registry();
    let a0 = reg.begin(&new("apache", "2.4")).unwrap().id;
    let p0 = reg.begin(&new("php", "8.2")).unwrap().id;
    let a1 = reg.begin(&new("apache", "2.4")).unwrap().id;
    let a2 = reg.begin(&new("apache", "2.6")).unwrap().id;
    let a3 = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&a0, &finished(NOV25)).unwrap();
    reg.finish(&a1, &failed(NOV25)).unwrap();
    reg.finish(&a2, &finished(NOV25)).unwrap();

    let list = |f: ListFilter| {
        reg.list(&f)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(list(ListFilter::default()), [&*a3, &*a2, &*a1, &*p0, &*a0]);
    let apache = ListFilter {
        name: Some("apache".into()),
        ..Default::default()
    };
    assert_eq!(list(apache.clone()), [&*a3, &*a2, &*a1, &*a0]);
    let apache24 = ListFilter {
        stream: Some("2.4".into()),
        ..apache.clone()
    };
    assert_eq!(list(apache24.clone()), [&*a3, &*a1, &*a0]);
    assert_eq!(
        list(ListFilter {
            state: Some(State::Started),
            ..Default::default()
        }),
        [&*a3, &*p0]
    );
    assert_eq!(
        list(ListFilter {
            state: Some(State::Finished),
            ..apache24.clone()
        }),
        [&*a0]
    );
    assert_eq!(
        list(ListFilter {
            limit: Some(2),
            ..apache
        }),
        [&*a3, &*a2]
    );
    assert!(list(ListFilter {
        limit: Some(0),
        ..Default::default()
    })
    .is_empty());
    assert!(list(ListFilter {
        name: Some("nginx".into()),
        ..Default::default()
    })
    .is_empty());
    // Full records, not just IDs.
    let finished = reg
        .list(&ListFilter {
            state: Some(State::Finished),
            ..apache24
        })
        .unwrap();
    assert_eq!(finished[0].packages.len(), 2);
    assert!(finished[0].outputs.is_some());
}

#[test]
fn composes_using_finds_layered_composes() {
    let (_dir, mut reg) = registry();
    let base = reg.begin(&new("base-runtime", "f40")).unwrap().id;
    let uses_base = |name: &str, stream: &str| {
        let mut n = new(name, stream);
        n.inputs.push(Input {
            kind: InputKind::Compose,
            name: "base-runtime:f40".into(),
            ident: base.clone(),
            location: format!("/srv/composes/{base}"),
        });
        n
    };
    let apache = reg.begin(&uses_base("apache", "2.4")).unwrap().id;
    // Same text as a compose ID, but a different kind of input.
    let mut unrelated = new("nginx", "1.24");
    unrelated.inputs.push(Input {
        kind: InputKind::SourceRepo,
        name: "weird".into(),
        ident: base.clone(),
        location: "file:///srv/weird".into(),
    });
    reg.begin(&unrelated).unwrap();
    let php = reg.begin(&uses_base("php", "8.2")).unwrap().id;

    assert_eq!(reg.composes_using(&base).unwrap(), [php, apache.clone()]);
    assert!(reg.composes_using(&apache).unwrap().is_empty());
    assert!(reg
        .composes_using("no-such-1-20260101.n.0")
        .unwrap()
        .is_empty());
}

#[test]
fn invalid_composes_are_refused_and_not_recorded() {
    let (_dir, mut reg) = registry();
    let cases: Vec<(NewCompose, &str)> = vec![
        (new("apache", "2.4a"), "numbers joined by single dots"),
        (new("apache", "stable-1"), "`-` separates the fields"),
        (new("my module", "1"), "contains ' '"),
        (new("../apache", "2.4"), "starts with `.`"),
        (
            NewCompose {
                version: u64::MAX,
                ..new("apache", "2.4")
            },
            "the largest a database stores",
        ),
        (
            NewCompose {
                definition_digest: DIGEST.to_uppercase(),
                ..new("apache", "2.4")
            },
            "not a SHA-256 in lowercase hex",
        ),
        (
            NewCompose {
                started_at: -5,
                ..new("apache", "2.4")
            },
            "between 1970 and 9999",
        ),
        (
            NewCompose {
                arches: vec!["x86_64".into(), "x86_64".into()],
                ..new("apache", "2.4")
            },
            "arch `x86_64` is listed twice",
        ),
        (
            NewCompose {
                arches: vec![],
                ..new("apache", "2.4")
            },
            "no arches",
        ),
    ];
    for (n, expected) in cases {
        let err = reg.begin(&n).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, RegistryError::InvalidCompose { .. }),
            "{err:?}"
        );
        assert!(
            msg.starts_with(&format!(
                "cannot record a compose of `{}:{}`: ",
                n.name, n.stream
            )),
            "{msg}"
        );
        assert!(msg.contains(expected), "{msg} lacks {expected}");
    }
    assert!(reg.list(&ListFilter::default()).unwrap().is_empty());
}

#[test]
fn invalid_outcomes_are_refused_and_change_nothing() {
    let (_dir, mut reg) = registry();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let bad = Outcome::Failed {
        finished_at: NOV25,
        error: "boom".into(),
        report: None,
        packages: packages(&[("x86 64", "httpd-2.4.58-1.fc40.x86_64")]),
    };
    let err = reg.finish(&id, &bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot record the end of compose `apache-2.4-20261125.n.0`: `x86 64` is not an arch name"
    );
    assert_eq!(reg.get(&id).unwrap().unwrap().state, State::Started);
}

#[test]
fn thousands_of_packages_round_trip() {
    let (_dir, mut reg) = registry();
    let id = reg.begin(&new("texlive", "2023")).unwrap().id;
    let mut pkgs = PackagesByArch::new();
    for arch in ["x86_64", "aarch64"] {
        pkgs.insert(
            arch.into(),
            (0..3000)
                .map(|i| format!("texlive-part{i}-11:2023-1.fc40.{arch}"))
                .collect(),
        );
    }
    let outcome = Outcome::Finished {
        finished_at: NOV25,
        outputs: Outputs::default(),
        packages: pkgs.clone(),
        timings: json!({}),
    };
    let rec = reg.finish(&id, &outcome).unwrap();
    assert_eq!(rec.packages, pkgs);
    assert_eq!(rec.packages["aarch64"].len(), 3000);
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
fn threads_with_their_own_connections_never_share_an_id() {
    const THREADS: usize = 8;
    const EACH: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("registry.sqlite"));
    // Opening races too: all threads create the schema of a new file.
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (path, start) = (path.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut reg = SqliteRegistry::open(&path).unwrap();
                (0..EACH)
                    .map(|i| {
                        let id = reg.begin(&new("apache", "2.4")).unwrap().id;
                        if i % 2 == t % 2 {
                            reg.finish(&id, &finished(NOV25 + i as i64)).unwrap();
                        }
                        id
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), THREADS * EACH);
    let expected: HashSet<String> = (0..THREADS * EACH)
        .map(|r| format!("apache-2.4-20261125.n.{r}"))
        .collect();
    assert_eq!(distinct, expected.iter().collect());

    let reg = SqliteRegistry::open(&path).unwrap();
    let listed = reg.list(&ListFilter::default()).unwrap();
    assert_eq!(listed.len(), THREADS * EACH);
    let finished = listed.iter().filter(|r| r.state == State::Finished).count();
    let expected = (0..THREADS)
        .map(|t| (0..EACH).filter(|i| i % 2 == t % 2).count())
        .sum::<usize>();
    assert_eq!(finished, expected);
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
    let back: ComposeRecord = serde_json::from_value(v).unwrap();
    assert_eq!(back, rec);
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
