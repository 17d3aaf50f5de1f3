//! Several processes on one registry file: IDs stay unique and nothing is
//! lost, and a compose whose process is killed stays `started`.
//!
//! The child processes are this test binary again, running the ignored
//! `child` test with its instructions in the environment.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strata_registry::{
    ComposeType, ListFilter, NewCompose, Outcome, Outputs, PackagesByArch, Registry,
    SqliteRegistry, State,
};

const DB: &str = "STRATA_REGISTRY_TEST_DB";
const GO: &str = "STRATA_REGISTRY_TEST_GO";
const COUNT: &str = "STRATA_REGISTRY_TEST_COUNT";
const HANG: &str = "STRATA_REGISTRY_TEST_HANG";

/// 2026-11-25T10:00:00Z.
const NOV25: i64 = 1_795_600_800;

fn new_compose() -> NewCompose {
    NewCompose {
        name: "apache".into(),
        stream: "2.4".into(),
        compose_type: ComposeType::Nightly,
        started_at: NOV25,
        definition_path: "apache.yaml".into(),
        definition_digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            .into(),
        scm_ref: None,
        arches: vec!["x86_64".into()],
        version: 1,
        context: "00000000".into(),
        inputs: vec![],
    }
}

fn finished() -> Outcome {
    Outcome::Finished {
        finished_at: NOV25 + 60,
        outputs: Outputs {
            path: "/srv/composes/apache".into(),
            repos: BTreeMap::new(),
        },
        packages: PackagesByArch::from([(
            "x86_64".to_string(),
            ["httpd-2.4.58-1.fc40.x86_64".to_string()].into(),
        )]),
        timings: serde_json::json!({}),
    }
}

/// Not a test: what each child process runs.
#[test]
#[ignore = "run by the other tests in child processes"]
fn child() {
    let Some(db) = std::env::var_os(DB) else {
        return;
    };
    if let Some(go) = std::env::var_os(GO) {
        // Start together, to race on creating the schema as well.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Path::new(&go).exists() {
            assert!(Instant::now() < deadline, "no go signal");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let mut reg = SqliteRegistry::open(Path::new(&db)).unwrap();
    if std::env::var_os(HANG).is_some() {
        let rec = reg.begin(&new_compose()).unwrap();
        println!("compose-id {} started", rec.id);
        // Wait to be killed mid-compose.
        std::thread::sleep(Duration::from_secs(120));
        panic!("not killed");
    }
    let count: usize = std::env::var(COUNT).unwrap().parse().unwrap();
    for i in 0..count {
        let mut rec = reg.begin(&new_compose()).unwrap();
        if i % 2 == 0 {
            rec = reg.finish(&rec.id, &finished()).unwrap();
        }
        println!("compose-id {} {}", rec.id, rec.state);
    }
}

fn spawn_child(db: &Path, envs: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(DB, db)
    .stdout(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// `(id, state)` from a line a child printed. libtest may have begun the
/// line with `test child ... `.
fn reported(line: &str) -> Option<(String, String)> {
    let (_, rest) = line.split_once("compose-id ")?;
    let (id, state) = rest.split_once(' ')?;
    Some((id.to_owned(), state.to_owned()))
}

/// Ends a hanging child even when the test fails first.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn processes_never_share_an_id() {
    const PROCESSES: usize = 4;
    const EACH: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("registry.sqlite");
    let go = dir.path().join("go");
    let children: Vec<Child> = (0..PROCESSES)
        .map(|_| {
            spawn_child(
                &db,
                &[(GO, go.to_str().unwrap()), (COUNT, &EACH.to_string())],
            )
        })
        .collect();
    std::fs::write(&go, "").unwrap();

    let mut seen = BTreeMap::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "child failed: {:?}", out.status);
        let lines: Vec<_> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(reported)
            .collect();
        assert_eq!(
            lines.len(),
            EACH,
            "a child reported {} composes",
            lines.len()
        );
        for (id, state) in lines {
            assert!(seen.insert(id.clone(), state).is_none(), "{id} given twice");
        }
    }
    let expected: HashSet<String> = (0..PROCESSES * EACH)
        .map(|r| format!("apache-2.4-20261125.n.{r}"))
        .collect();
    assert_eq!(seen.keys().cloned().collect::<HashSet<_>>(), expected);

    // None lost: the registry holds exactly what the children were told.
    let reg = SqliteRegistry::open(&db).unwrap();
    let stored: BTreeMap<String, String> = reg
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.state.to_string()))
        .collect();
    assert_eq!(stored, seen);
    let finished = stored.values().filter(|s| *s == "finished").count();
    assert_eq!(finished, PROCESSES * EACH.div_ceil(2));
}

#[test]
fn a_killed_compose_stays_started_and_never_good() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("registry.sqlite");
    let mut child = KillOnDrop(spawn_child(&db, &[(HANG, "1")]));
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let id = loop {
        let mut line = String::new();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "child ended early");
        if let Some((id, _)) = reported(line.trim_end()) {
            break id;
        }
    };
    child.0.kill().unwrap();
    assert!(!child.0.wait().unwrap().success());

    let mut reg = SqliteRegistry::open(&db).unwrap();
    let rec = reg
        .get(&id)
        .unwrap()
        .expect("the killed compose is recorded");
    assert_eq!(rec.state, State::Started);
    assert_eq!(reg.latest_good("apache", "2.4").unwrap(), None);
    let started = reg
        .list(&ListFilter {
            state: Some(State::Started),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].id, id);

    // The killed process left no lock behind.
    let next = reg.begin(&new_compose()).unwrap();
    assert_eq!(next.id, "apache-2.4-20261125.n.1");
    reg.finish(&next.id, &finished()).unwrap();
    assert_eq!(
        reg.latest_good("apache", "2.4").unwrap().unwrap().id,
        next.id
    );
    assert_eq!(reg.get(&id).unwrap().unwrap().state, State::Started);
}
