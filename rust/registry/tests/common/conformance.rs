//! What every registry backend must do, written once against the
//! [`Registry`] trait and run for each backend (`tests/sqlite.rs`,
//! `tests/postgres.rs`): compose IDs and respins, records read back as
//! written, a compose ends once, the last good compose, listing order,
//! refused input, and unique IDs with nothing lost while threads and
//! processes write at once; owners, abandoning composes whose process is
//! gone, summaries, pruning, capped errors, reading without creating,
//! and updating a registry of schema version 1.
//!
//! These test binaries have their own `main` (`harness = false`), so a
//! PostgreSQL cluster is started once and stopped at the end: [`run`]
//! runs the checks, a failing one does not stop the others, and the exit
//! status says whether all passed. The multi-process checks run this
//! binary again as a child ([`child_main`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::json;
use strata_registry::{
    ArtifactKind, ChainCause, ChainState, ComposeRecord, ComposeType, Input, InputKind, ListFilter,
    NewChain, NewCompose, NewRelease, Outcome, Outputs, Owner, PackagesByArch, RecordKind,
    Registry, RegistryError, RegistryLocation, ReleaseInput, ReleaseInputKind, ReleaseOutcome,
    State, StepState, StepUpdate, StreamLock,
};

pub const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// 2026-11-25T10:00:00Z.
pub const NOV25: i64 = 1_795_600_800;

/// A new, empty registry of the backend under test.
pub struct Target {
    /// As `--registry` takes it: a path or a URL.
    pub location: String,
    /// How the registry's errors name it.
    pub shown: String,
    /// Whatever must live as long as the registry (a temporary directory).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl Target {
    pub fn open(&self) -> Box<dyn Registry> {
        open(&self.location)
    }
}

pub fn open(location: &str) -> Box<dyn Registry> {
    let loc = RegistryLocation::parse(location.as_ref()).unwrap();
    strata_registry::open(&loc).unwrap_or_else(|e| panic!("open {location}: {e:?}"))
}

pub trait Backend: Sync {
    fn fresh(&self) -> Target;
    /// Fills a fresh target with the registry of schema version 1 in
    /// `test-data/v1` (its schema and its rows), as version 1 left it.
    fn load_v1(&self, t: &Target);
    /// Fills a fresh target with the registry of schema version 7 in
    /// `test-data/v7` (two release composes), as version 7 left it.
    fn load_v7(&self, t: &Target);
    /// Whether anything of a registry exists at the target (the file, the
    /// schema `strata`).
    fn exists(&self, t: &Target) -> bool;
    /// The `lean` column of compose `compose_id` (schema version 11), as
    /// stored.
    fn lean_column(&self, t: &Target, compose_id: &str) -> Option<String>;
    /// Empties every compose's `lean` column, as a compose finished
    /// without one would have it: readers must then read the rows it
    /// stands for.
    fn forget_lean(&self, t: &Target);
}

/// A file of `test-data/`.
pub fn test_data(path: &str) -> String {
    let path = format!("{}/test-data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub type Check<B> = (&'static str, fn(&B));

/// Runs `checks` (those whose name contains the first command-line
/// argument, if any), each to its end, and reports like libtest.
pub fn run<B>(backend: &B, checks: &[Check<B>]) -> ExitCode {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, check) in checks {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| check(backend)));
        let took = start.elapsed().as_secs_f64();
        match result {
            Ok(()) => println!("check {name} ... ok ({took:.2} s)"),
            Err(_) => {
                println!("check {name} ... FAILED ({took:.2} s)");
                failed.push(*name);
            }
        }
        std::io::stdout().flush().unwrap();
    }
    println!(
        "\nresult: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len()
    );
    if ran == 0 {
        println!("no check matched {filter:?}");
        return ExitCode::FAILURE;
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

/// The checks every backend passes.
pub fn checks<B: Backend>() -> Vec<Check<B>> {
    vec![
        ("respins_count_per_name_stream_date_and_type", respins::<B>),
        ("scratch_ids_never_equal_real_ones", scratch_ids::<B>),
        ("begin_records_everything_as_started", begin_records::<B>),
        (
            "finish_records_outputs_packages_and_timings",
            finish_records::<B>,
        ),
        ("modulemd_goes_with_the_record", modulemd_kept::<B>),
        (
            "artifacts_are_records_with_a_kind_inputs_and_a_build_id",
            artifacts::<B>,
        ),
        (
            "failed_keeps_error_report_and_chosen_packages",
            failed_keeps::<B>,
        ),
        ("a_compose_ends_only_once", ends_once::<B>),
        (
            "finishing_an_unknown_compose_names_it_and_the_registry",
            unknown::<B>,
        ),
        ("last_good_is_the_newest_finished", last_good::<B>),
        (
            "the_lean_last_good_leaves_out_contents_and_the_stack_below",
            lean_last_good::<B>,
        ),
        (
            "a_lean_record_from_its_row_is_the_one_from_its_rows",
            lean_column::<B>,
        ),
        (
            "inputs_only_is_the_record_without_its_contents",
            inputs_only::<B>,
        ),
        (
            "a_compose_is_good_only_when_its_tests_passed",
            gated_by_tests::<B>,
        ),
        (
            "newest_means_begun_last_even_with_pinned_times",
            begun_last::<B>,
        ),
        ("list_filters_and_orders_newest_first", list_filters::<B>),
        (
            "list_pages_by_offset_and_compose_date",
            list_pages_and_dates::<B>,
        ),
        (
            "latest_good_of_every_stream_in_one_call",
            latest_good_per_stream::<B>,
        ),
        ("composes_using_finds_layered_composes", composes_using::<B>),
        (
            "invalid_composes_are_refused_and_not_recorded",
            invalid_composes::<B>,
        ),
        (
            "invalid_outcomes_are_refused_and_change_nothing",
            invalid_outcomes::<B>,
        ),
        ("thousands_of_packages_round_trip", thousands::<B>),
        ("records_survive_reopening", reopening::<B>),
        (
            "threads_with_their_own_connections_never_share_an_id",
            threads::<B>,
        ),
        ("racing_finishes_end_a_compose_once", racing_finishes::<B>),
        ("processes_never_share_an_id", processes::<B>),
        ("a_killed_compose_stays_started_and_never_good", killed::<B>),
        ("timing_200_begin_and_finish", timing::<B>),
        ("owners_are_recorded_and_checked", owners::<B>),
        ("abandon_ends_a_started_compose_once", abandon::<B>),
        (
            "abandon_dead_ends_only_provably_gone_composes",
            abandon_dead::<B>,
        ),
        ("summaries_are_records_without_packages", summaries::<B>),
        (
            "prune_keeps_last_good_inputs_started_recent_and_pinned",
            prune::<B>,
        ),
        ("prune_refuses_unknown_pins", prune_pins::<B>),
        (
            "a_pruned_compose_id_is_never_handed_out_again",
            prune_ids::<B>,
        ),
        (
            "prune_removes_old_ended_chains_not_behind_kept_composes",
            prune_chains::<B>,
        ),
        ("errors_and_reports_are_capped", capped::<B>),
        (
            "control_characters_in_one_line_fields_are_refused",
            control_characters::<B>,
        ),
        ("a_version_1_registry_is_updated", version_1::<B>),
        ("reading_creates_nothing_and_writes_nothing", read_only::<B>),
        (
            "chains_record_steps_approvals_and_resume_state",
            chains::<B>,
        ),
        ("one_chain_at_a_time_recomposes_a_stream", stream_locks::<B>),
        (
            "finished_composes_store_their_fingerprint_digest",
            fingerprints::<B>,
        ),
        (
            "finished_composes_store_the_digest_of_their_stack",
            stack_digests::<B>,
        ),
        (
            "last_good_ids_match_the_last_good_composes",
            latest_good_ids::<B>,
        ),
        ("each_registry_has_an_identity_of_its_own", identities::<B>),
        (
            "queued_events_are_consumed_once_with_a_chain",
            event_queue::<B>,
        ),
        (
            "release_composes_are_records_apart_from_module_composes",
            releases::<B>,
        ),
        (
            "abandon_dead_releases_ends_only_provably_gone_ones",
            abandon_dead_releases::<B>,
        ),
        (
            "release_composes_record_their_scm_ref",
            release_scm_refs::<B>,
        ),
        ("a_version_7_registry_is_updated", version_7::<B>),
    ]
}

pub fn new(name: &str, stream: &str) -> NewCompose {
    NewCompose {
        scratch: None,
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
        chain: None,
        required_tests: Vec::new(),
        artifact: None,
    }
}

pub fn packages(list: &[(&str, &str)]) -> PackagesByArch {
    let mut map = PackagesByArch::new();
    for (arch, nevra) in list {
        map.entry(arch.to_string())
            .or_default()
            .insert(nevra.to_string());
    }
    map
}

pub fn finished(at: i64) -> Outcome {
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
        modulemd: BTreeMap::from([
            ("aarch64".into(), modulemd_document("aarch64")),
            ("x86_64".into(), modulemd_document("x86_64")),
        ]),
    }
}

/// A stream document as a compose publishes it (non-ASCII included, so a
/// backend that mangles text shows).
pub fn modulemd_document(arch: &str) -> String {
    format!(
        "---\ndocument: modulemd\nversion: 2\ndata:\n  name: apache\n  stream: \"2.4\"\n  \
         version: 20261125100000\n  context: 9edba152\n  arch: {arch}\n  summary: Apache – HTTP\n  \
         description: The server.\n  license:\n    module:\n    - MIT\n  artifacts:\n    rpms:\n    \
         - httpd-0:2.4.58-1.fc40.{arch}\n...\n"
    )
}

pub fn failed(at: i64) -> Outcome {
    Outcome::Failed {
        finished_at: at,
        error: "httpd-2.4.58-1.fc40.x86_64 requires /usr/bin/fbash".into(),
        report: Some(json!({"unresolved": [{"package": "httpd", "requires": "/usr/bin/fbash"}]})),
        packages: packages(&[("x86_64", "httpd-2.4.58-1.fc40.x86_64")]),
    }
}

fn ids(records: &[ComposeRecord]) -> Vec<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

fn respins<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
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
        // a scratch compose beside real ones: an ID of its own kind
        with(|n| n.scratch = Some("1235".into())),
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
            "apache-2.4-1235.scratch-20261125.n.0",
            "apache-2.4-20261125.n.2",
        ]
    );
}

fn scratch_ids<B: Backend>(b: &B) {
    // A scratch compose in a registry of its own (Koji's scratch tasks)
    // still never takes a real compose's ID.
    let scratch = |label: &str| NewCompose {
        scratch: Some(label.into()),
        ..new("apache", "2.4")
    };
    let own = b.fresh();
    let mut reg = own.open();
    assert_eq!(
        reg.begin(&scratch("1234")).unwrap().id,
        "apache-2.4-1234.scratch-20261125.n.0"
    );
    for bad in ["", "12/34", "task1"] {
        let err = reg.begin(&scratch(bad)).unwrap_err().to_string();
        assert!(err.contains("the scratch label"), "{err}");
    }
    assert_eq!(reg.list(&Default::default()).unwrap().len(), 1);
}

fn begin_records<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let mut n = new("apache", "2.4");
    n.inputs.push(Input {
        kind: InputKind::Compose,
        name: "base-runtime:f40".into(),
        ident: "base-runtime-f40-20261124.n.3".into(),
        location: "/srv/composes/base-runtime-f40-20261124.n.3".into(),
    });
    n.inputs.push(Input {
        kind: InputKind::SourceRepo,
        name: "file:///srv/repos/über".into(),
        ident: "sha256:0a1b".into(),
        location: "/srv/repos/über".into(),
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
    // Another connection reads the same.
    assert_eq!(t.open().get(&rec.id).unwrap().as_ref(), Some(&rec));

    // A deep stack's inputs, more than one statement of SQLite's records:
    // all of them, in order.
    let mut deep = new("php", "8.2");
    deep.inputs.extend((0..150).map(|i| Input {
        kind: if i % 7 == 0 {
            InputKind::Compose
        } else {
            InputKind::StackCompose
        },
        name: format!("m{i:03}:1"),
        ident: format!("m{i:03}-1-20261125.n.0"),
        location: format!("/srv/composes/m{i:03}-1-20261125.n.0"),
    }));
    let rec = reg.begin(&deep).unwrap();
    let read = t.open().get(&rec.id).unwrap().unwrap();
    assert_eq!(read.inputs.len(), 151);
    assert_eq!(read.inputs, deep.inputs);
}

fn finish_records<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let rec = reg.finish(&id, &finished(NOV25 + 90)).unwrap();
    assert_eq!(rec.state, State::Finished);
    assert_eq!(rec.finished_at, Some(NOV25 + 90));
    let Outcome::Finished {
        outputs,
        packages,
        timings,
        modulemd,
        ..
    } = finished(0)
    else {
        unreachable!()
    };
    assert_eq!(rec.outputs.as_ref(), Some(&outputs));
    assert_eq!(rec.packages, packages);
    assert_eq!(rec.modulemd, modulemd);
    assert_eq!(t.open().get(&id).unwrap().unwrap().modulemd, modulemd);
    assert_eq!(rec.timings.as_ref(), Some(&timings));
    // JSON reads back as written, key order included.
    assert_eq!(
        serde_json::to_string(rec.timings.as_ref().unwrap()).unwrap(),
        serde_json::to_string(&timings).unwrap()
    );
    assert_eq!(rec.error, None);
    assert_eq!(reg.get(&id).unwrap().as_ref(), Some(&rec));
}

fn failed_keeps<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
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
    assert!(rec.modulemd.is_empty());
    assert_eq!(reg.get(&id).unwrap().unwrap(), rec);
}

/// The stream's modulemd goes with the whole record (`get`, `list`,
/// `latest_good`), not with summaries; what could not be read back is
/// refused; pruning takes it away with its compose.
/// An artifact compose of `name` for x86_64, built on `inputs` (compose
/// IDs, bottom first).
fn artifact_compose(name: &str, kind: ArtifactKind, inputs: &[&str]) -> NewCompose {
    let mut n = new(name, "x86_64");
    n.arches = vec!["x86_64".into()];
    n.artifact = Some(kind);
    n.inputs = inputs
        .iter()
        .map(|id| Input {
            kind: InputKind::Compose,
            name: "php:8.2".into(),
            ident: id.to_string(),
            location: format!("/srv/composes/{id}"),
        })
        .chain([Input {
            kind: InputKind::Platform,
            name: "f40".into(),
            ident: "sha256:0a1b".into(),
            location: "/srv/repos/f40".into(),
        }])
        .collect();
    n
}

fn artifact_finished(at: i64, build_id: Option<&str>) -> Outcome {
    Outcome::Finished {
        finished_at: at,
        outputs: Outputs {
            path: "/srv/artifacts/php-container-x86_64-20261125.n.0".into(),
            repos: BTreeMap::new(),
            build_id: build_id.map(str::to_owned),
        },
        packages: packages(&[("x86_64", "php-8.2.1-1.fc40.x86_64")]),
        timings: json!({"install": 3.5}),
        modulemd: BTreeMap::new(),
    }
}

fn artifacts<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let apache = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&apache, &finished(NOV25 + 10)).unwrap();
    let digest = "sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904e8b6e0a3d1fa3e8a9c1b7d3f";
    let new = artifact_compose("php-container", ArtifactKind::Container, &[&apache]);
    let started = reg.begin(&new).unwrap();
    assert_eq!(started.id, "php-container-x86_64-20261125.n.0");
    assert_eq!(started.kind(), RecordKind::Artifact);
    assert_eq!(started.artifact, Some(ArtifactKind::Container));
    assert_eq!(started.inputs, new.inputs);

    // An artifact finishes with its build ID, a module compose never has
    // one; either mistake changes nothing.
    let err = reg
        .finish(&started.id, &artifact_finished(NOV25 + 20, None))
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::InvalidOutcome { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("build ID"), "{err}");
    let module = reg.begin(&self::new("apache", "2.4")).unwrap().id;
    let mut with_id = finished(NOV25 + 20);
    if let Outcome::Finished { outputs, .. } = &mut with_id {
        outputs.build_id = Some(digest.into());
    }
    let err = reg.finish(&module, &with_id).unwrap_err();
    assert!(err.to_string().contains("only artifacts"), "{err}");
    let err = reg
        .finish(
            &started.id,
            &artifact_finished(NOV25 + 20, Some("sha256:a b")),
        )
        .unwrap_err();
    assert!(err.to_string().contains("is not 1 to 256"), "{err}");
    assert_eq!(reg.get(&started.id).unwrap().unwrap().state, State::Started);

    let done = reg
        .finish(&started.id, &artifact_finished(NOV25 + 30, Some(digest)))
        .unwrap();
    assert_eq!(
        done.outputs.as_ref().unwrap().build_id.as_deref(),
        Some(digest)
    );
    let reader = t.open();
    let got = reader.get(&started.id).unwrap().unwrap();
    assert_eq!(got, done);
    let json = serde_json::to_value(&got).unwrap();
    assert_eq!(json["artifact"], "container");
    assert_eq!(json["outputs"]["build_id"], digest);
    // Module records say they are modules, and show no build ID.
    let apache_rec = reader.get(&apache).unwrap().unwrap();
    assert_eq!(apache_rec.kind(), RecordKind::Module);
    assert!(serde_json::to_value(&apache_rec).unwrap()["outputs"]
        .get("build_id")
        .is_none());

    // One name is a module's or an artifact's, never both: "the last good
    // compose of NAME:STREAM" stays unambiguous (an arch is a stream).
    let mut writer = t.open();
    for clash in [
        artifact_compose("apache", ArtifactKind::Iso, &[&apache]),
        self::new("php-container", "x86_64"),
    ] {
        let err = writer.begin(&clash).unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidCompose { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("cannot share it (rename one of them)"),
            "{err}"
        );
    }
    assert!(reader.list_summaries(&ListFilter::default()).unwrap().len() == 3);

    // `latest` works for artifacts: name and arch.
    let latest = reader
        .latest_good_summary("php-container", "x86_64")
        .unwrap()
        .unwrap();
    assert_eq!(latest.id, started.id);
    assert_eq!(latest.kind(), RecordKind::Artifact);
    assert_eq!(latest.outputs.unwrap().build_id.as_deref(), Some(digest));

    // Listings by kind; the graph: the artifact is built on apache.
    let ids = |kind| -> Vec<String> {
        reader
            .list_summaries(&ListFilter {
                kind,
                ..ListFilter::default()
            })
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect()
    };
    assert_eq!(ids(Some(RecordKind::Artifact)), [started.id.as_str()]);
    assert_eq!(
        ids(Some(RecordKind::Module)),
        [module.clone(), apache.clone()]
    );
    assert_eq!(ids(None).len(), 3);
    assert_eq!(
        reader.composes_using(&apache).unwrap(),
        [started.id.as_str()]
    );

    // A failed artifact keeps its reason and has no build ID.
    let failed = reg
        .begin(&artifact_compose("php-iso", ArtifactKind::Iso, &[&apache]))
        .unwrap()
        .id;
    let rec = reg
        .finish(
            &failed,
            &Outcome::Failed {
                finished_at: NOV25 + 40,
                error: "xorriso is not installed (Debian and Fedora: xorriso)".into(),
                report: None,
                packages: PackagesByArch::new(),
            },
        )
        .unwrap();
    assert_eq!(rec.artifact, Some(ArtifactKind::Iso));
    assert!(rec.error.unwrap().contains("xorriso"));
}

fn modulemd_kept<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let Outcome::Finished { modulemd, .. } = finished(0) else {
        unreachable!()
    };
    reg.finish(&id, &finished(NOV25 + 90)).unwrap();
    let reader = t.open();
    assert_eq!(reader.get(&id).unwrap().unwrap().modulemd, modulemd);
    assert_eq!(
        reader
            .latest_good("apache", "2.4")
            .unwrap()
            .unwrap()
            .modulemd,
        modulemd
    );
    assert_eq!(
        reader.list(&ListFilter::default()).unwrap()[0].modulemd,
        modulemd
    );
    let json = serde_json::to_value(reader.get(&id).unwrap().unwrap()).unwrap();
    assert_eq!(json["modulemd"]["x86_64"], modulemd_document("x86_64"));
    let summary = serde_json::to_value(&reader.list_summaries(&ListFilter::default()).unwrap()[0]);
    assert!(summary.unwrap().get("modulemd").is_none());

    // An arch that is no arch, or a document larger than a record keeps.
    let second = reg.begin(&new("apache", "2.4")).unwrap().id;
    for (arch, document) in [
        ("x86 64", modulemd_document("x86_64")),
        ("x86_64", "x".repeat(64 * 1024 * 1024 + 1)),
    ] {
        let mut outcome = finished(NOV25 + 100);
        let Outcome::Finished { modulemd, .. } = &mut outcome else {
            unreachable!()
        };
        modulemd.insert(arch.into(), document);
        let err = reg.finish(&second, &outcome).unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidOutcome { .. }),
            "{err:?}"
        );
    }
    assert_eq!(reg.get(&second).unwrap().unwrap().state, State::Started);

    // Pruned with its compose: nothing of it is left behind to block it.
    reg.finish(&second, &finished(NOV25 + 100)).unwrap();
    let plan = reg
        .prune(
            &strata_registry::PrunePolicy {
                keep_finished: 1,
                keep_failed_since: 0,
                pins: BTreeMap::new(),
                keep_chains_since: 0,
            },
            false,
        )
        .unwrap();
    assert_eq!(
        plan.removed
            .iter()
            .map(|r| &r.compose.id)
            .collect::<Vec<_>>(),
        [&id]
    );
    assert!(reg.get(&id).unwrap().is_none());
    assert_eq!(reg.get(&second).unwrap().unwrap().modulemd, modulemd);
}

fn ends_once<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let done = reg.finish(&id, &finished(NOV25 + 90)).unwrap();

    let err = reg.finish(&id, &failed(NOV25 + 100)).unwrap_err();
    assert!(
        matches!(&err, RegistryError::NotStarted { state: State::Finished, compose_id, .. } if *compose_id == id),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "compose registry {}: compose `apache-2.4-20261125.n.0` is not started (it is finished)",
            t.shown
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
    // The connection is still usable after a refused finish.
    assert_eq!(reg.get(&id).unwrap().unwrap().state, State::Failed);
}

fn unknown<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let err = reg
        .finish("apache-2.4-20261125.n.7", &finished(NOV25))
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::NoSuchCompose { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "compose registry {}: no such compose `apache-2.4-20261125.n.7`",
            t.shown
        )
    );
    assert_eq!(reg.get("apache-2.4-20261125.n.7").unwrap(), None);
}

fn last_good<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
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

fn lean_last_good<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let mut php = new("php", "8.2");
    for (kind, name, ident) in [
        (InputKind::Compose, "apache:2.4", "apache-2.4-20261125.n.0"),
        (InputKind::StackCompose, "base:1", "base-1-20261125.n.0"),
    ] {
        php.inputs.push(Input {
            kind,
            name: name.into(),
            ident: ident.into(),
            location: format!("/srv/composes/{ident}"),
        });
    }
    let id = reg.begin(&php).unwrap().id;
    reg.finish(&id, &finished(NOV25)).unwrap();
    let full = reg.latest_good("php", "8.2").unwrap().unwrap();
    assert!(!full.packages.is_empty() && !full.modulemd.is_empty());
    assert!(full
        .inputs
        .iter()
        .any(|i| i.kind == InputKind::StackCompose));
    assert!(full.timings.is_some());
    let lean = reg.latest_good_lean("php", "8.2").unwrap().unwrap();
    let mut expected = full;
    expected.packages.clear();
    expected.modulemd.clear();
    // Nor its timings and report: a stack walk needs neither.
    expected.timings = None;
    expected.report = None;
    expected
        .inputs
        .retain(|i| i.kind != InputKind::StackCompose);
    assert_eq!(expected.inputs.len(), 2, "{:?}", expected.inputs);
    assert_eq!(
        serde_json::to_value(&lean).unwrap(),
        serde_json::to_value(&expected).unwrap()
    );
    assert!(reg.latest_good_lean("php", "9").unwrap().is_none());

    // Many at once: each as latest_good_lean gives it, in the order asked,
    // None where there is none; an older good compose is not taken for the
    // newest, nor one whose tests did not pass.
    let apache = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&apache, &finished(NOV25 + 1)).unwrap();
    let newer = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&newer, &finished(NOV25 + 2)).unwrap();
    let untested = NewCompose {
        required_tests: vec!["smoke".into()],
        ..new("apache", "2.4")
    };
    let pending = reg.begin(&untested).unwrap().id;
    reg.finish(&pending, &finished(NOV25 + 3)).unwrap();
    let asked = [
        ("apache", "2.4"),
        ("php", "9"),
        ("php", "8.2"),
        ("apache", "2.4"),
    ];
    let many = reg.latest_good_lean_many(&asked).unwrap();
    let one: Vec<_> = asked
        .iter()
        .map(|(n, s)| reg.latest_good_lean(n, s).unwrap())
        .collect();
    assert_eq!(
        serde_json::to_value(&many).unwrap(),
        serde_json::to_value(&one).unwrap()
    );
    assert_eq!(many[0].as_ref().unwrap().id, newer);
    assert!(many[1].is_none());
    assert_eq!(many[2].as_ref().unwrap().inputs.len(), 2);
    assert!(reg.latest_good_lean_many(&[]).unwrap().is_empty());
}

/// `record` as a lean read gives it: without its contents and the inputs
/// of kind `stack_compose`.
fn as_lean(mut record: ComposeRecord) -> ComposeRecord {
    record.packages.clear();
    record.modulemd.clear();
    record.timings = None;
    record.report = None;
    record.inputs.retain(|i| i.kind != InputKind::StackCompose);
    record
}

/// Composes of every shape a lean read meets, good and not: inputs of
/// every kind with the stack ones between the others, none at all, text
/// JSON must escape, one repository or none, an artifact, a compose gated
/// by a test. Returns the streams asked for and the IDs of the composes.
fn lean_shapes(reg: &mut dyn Registry) -> (Vec<(&'static str, &'static str)>, Vec<String>) {
    let input = |kind, name: &str, ident: &str, location: &str| Input {
        kind,
        name: name.into(),
        ident: ident.into(),
        location: location.into(),
    };
    let mut ids = Vec::new();
    let base = reg.begin(&new("base", "1")).unwrap().id;
    reg.finish(&base, &finished(NOV25 + 1)).unwrap();
    ids.push(base.clone());
    let mut apache = new("apache", "2.4");
    apache.inputs = vec![
        input(
            InputKind::StackCompose,
            "libs:1",
            "libs-1-20261125.n.0",
            "/srv/libs",
        ),
        input(
            InputKind::KojiRepo,
            "f40-build",
            "6034451",
            "https://kojipkgs.example/r",
        ),
        input(InputKind::Compose, "base:1", &base, "/srv/composes/base"),
        input(
            InputKind::StackCompose,
            "zlib:1",
            "zlib-1-20261125.n.0",
            "/srv/zlib",
        ),
        input(
            InputKind::Platform,
            "f40.x86_64",
            "sha256:0a1b",
            "/srv/repos/f40 \"quoted\" \\ back – ünïcode ✓",
        ),
        input(InputKind::SourceRepo, "src", "sha256:cc", "/srv/src"),
        input(
            InputKind::StackCompose,
            "last:1",
            "last-1-20261125.n.0",
            "/srv/last",
        ),
    ];
    let id = reg.begin(&apache).unwrap().id;
    reg.finish(&id, &finished(NOV25 + 2)).unwrap();
    ids.push(id);
    // Newer, failed: the one before stays the last good.
    let id = reg.begin(&apache).unwrap().id;
    reg.finish(&id, &failed(NOV25 + 3)).unwrap();
    ids.push(id);
    // No inputs, one repository.
    let mut bare = new("bare", "0");
    bare.inputs.clear();
    let id = reg.begin(&bare).unwrap().id;
    let mut one_repo = finished(NOV25 + 4);
    if let Outcome::Finished { outputs, .. } = &mut one_repo {
        outputs.repos.remove("aarch64");
    }
    reg.finish(&id, &one_repo).unwrap();
    ids.push(id);
    // Only stack inputs.
    let mut stacked = new("stacked", "1");
    stacked.inputs = vec![input(InputKind::StackCompose, "base:1", &base, "/srv/base")];
    let id = reg.begin(&stacked).unwrap().id;
    reg.finish(&id, &finished(NOV25 + 5)).unwrap();
    ids.push(id);
    // An artifact: no repositories, a build ID.
    let id = reg
        .begin(&artifact_compose("web", ArtifactKind::Container, &[&base]))
        .unwrap()
        .id;
    reg.finish(&id, &artifact_finished(NOV25 + 6, Some("sha256:00")))
        .unwrap();
    ids.push(id);
    // Good once its test passed; a newer one still pending is not.
    let tested = NewCompose {
        required_tests: vec!["smoke".into()],
        ..new("tested", "1")
    };
    let id = reg.begin(&tested).unwrap().id;
    reg.finish(&id, &finished(NOV25 + 7)).unwrap();
    reg.record_test(&id, "smoke", true, NOV25 + 8, "ok")
        .unwrap();
    ids.push(id);
    let id = reg.begin(&tested).unwrap().id;
    reg.finish(&id, &finished(NOV25 + 9)).unwrap();
    ids.push(id);
    // Started, never ended.
    ids.push(reg.begin(&new("running", "1")).unwrap().id);
    let streams = vec![
        ("base", "1"),
        ("apache", "2.4"),
        ("bare", "0"),
        ("stacked", "1"),
        ("web", "x86_64"),
        ("tested", "1"),
        ("running", "1"),
        ("missing", "1"),
        ("base", "1"),
    ];
    (streams, ids)
}

/// The lean reads of `streams`, one at a time and all at once, as JSON.
/// [`lean_reads`], checked to be the whole records without what a lean
/// read leaves out; returns both.
fn lean_reads_as_whole(
    reg: &dyn Registry,
    streams: &[(&str, &str)],
) -> (serde_json::Value, Vec<Option<ComposeRecord>>) {
    let lean = lean_reads(reg, streams);
    let whole: Vec<Option<ComposeRecord>> = streams
        .iter()
        .map(|(n, s)| reg.latest_good(n, s).unwrap().map(as_lean))
        .collect();
    assert_eq!(lean, serde_json::to_value(&whole).unwrap());
    (lean, whole)
}

fn lean_reads(reg: &dyn Registry, streams: &[(&str, &str)]) -> serde_json::Value {
    let one: Vec<_> = streams
        .iter()
        .map(|(n, s)| reg.latest_good_lean(n, s).unwrap())
        .collect();
    let many = reg.latest_good_lean_many(streams).unwrap();
    assert_eq!(
        serde_json::to_value(&many).unwrap(),
        serde_json::to_value(&one).unwrap()
    );
    serde_json::to_value(&many).unwrap()
}

/// Schema version 11 keeps what a lean read needs in the compose's row.
/// What it reads from there is what reading the rows gives (and a row
/// without it is read from the rows), for every shape of compose.
fn lean_column<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let (streams, ids) = lean_shapes(reg.as_mut());
    for id in &ids {
        let record = reg.get(id).unwrap().unwrap();
        let column = b.lean_column(&t, id);
        assert_eq!(
            column.is_some(),
            record.state == State::Finished,
            "{id}: {column:?}"
        );
    }
    let (from_column, expected) = lean_reads_as_whole(reg.as_ref(), &streams);
    let found: Vec<Option<&str>> = expected
        .iter()
        .map(|r| r.as_ref().map(|r| r.id.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            Some(ids[0].as_str()),
            Some(ids[1].as_str()),
            Some(ids[3].as_str()),
            Some(ids[4].as_str()),
            Some(ids[5].as_str()),
            Some(ids[6].as_str()),
            None,
            None,
            Some(ids[0].as_str()),
        ]
    );
    let apache = expected[1].as_ref().unwrap();
    let kinds: Vec<InputKind> = apache.inputs.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        [
            InputKind::KojiRepo,
            InputKind::Compose,
            InputKind::Platform,
            InputKind::SourceRepo
        ]
    );
    assert!(apache.inputs[2].location.ends_with("ünïcode ✓"));
    assert_eq!(apache.outputs.as_ref().unwrap().repos.len(), 2);
    assert!(expected[2].as_ref().unwrap().inputs.is_empty());
    assert!(expected[3].as_ref().unwrap().inputs.is_empty());
    // The column as written: the lean inputs, then the repositories.
    let column = |id: &str| -> serde_json::Value {
        serde_json::from_str(&b.lean_column(&t, id).unwrap()).unwrap()
    };
    assert_eq!(
        column(&ids[0]),
        json!([
            [[
                "koji_repo",
                "f40-build",
                "6034451",
                "https://kojipkgs.example/repos/f40-build/6034451"
            ]],
            [
                ["aarch64", "/srv/composes/apache/aarch64/os"],
                ["x86_64", "/srv/composes/apache/x86_64/os"]
            ]
        ])
    );
    assert_eq!(
        column(&ids[3]),
        json!([[], [["x86_64", "/srv/composes/apache/x86_64/os"]]])
    );
    assert_eq!(column(&ids[5])[1], json!([]));
    // Without the column, from the rows: the same records.
    b.forget_lean(&t);
    for id in &ids {
        assert_eq!(b.lean_column(&t, id), None, "{id}");
    }
    let reg = t.open();
    assert_eq!(lean_reads(reg.as_ref(), &streams), from_column);
}

/// [`Registry::get_inputs_only`] is the whole record without its package
/// lists, modulemd, timings and report, every input kept, whatever state
/// the compose is in and whether its row has its lean column or not.
fn inputs_only<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let (_, ids) = lean_shapes(reg.as_mut());
    let check = |reg: &dyn Registry| {
        for id in &ids {
            let mut whole = reg.get(id).unwrap().unwrap();
            let only = reg.get_inputs_only(id).unwrap().unwrap();
            assert_eq!(only.inputs, whole.inputs, "{id}");
            assert!(only.packages.is_empty() && only.modulemd.is_empty(), "{id}");
            assert_eq!((&only.timings, &only.report), (&None, &None), "{id}");
            whole.packages.clear();
            whole.modulemd.clear();
            whole.timings = None;
            whole.report = None;
            assert_eq!(only, whole, "{id}");
        }
        assert!(reg
            .get_inputs_only("apache-2.4-20261125.n.9")
            .unwrap()
            .is_none());
    };
    check(reg.as_ref());
    let apache = reg.get_inputs_only(&ids[1]).unwrap().unwrap();
    assert_eq!(apache.inputs.len(), 7);
    assert_eq!(apache.inputs[0].kind, InputKind::StackCompose);
    assert_eq!(apache.inputs[6].kind, InputKind::StackCompose);
    b.forget_lean(&t);
    check(t.open().as_ref());
}

fn gated_by_tests<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let good = reg.begin(&new("php", "8.2")).unwrap().id;
    reg.finish(&good, &finished(NOV25 + 10)).unwrap();
    let tested = |chain: &str| NewCompose {
        chain: Some(ChainCause {
            chain_id: chain.into(),
            event: "build httpd-2.4.58-2.fc40".into(),
        }),
        required_tests: vec!["smoke".into(), "install".into()],
        ..new("php", "8.2")
    };
    // Finished, tests not run yet: recorded, not good.
    let pending = reg.begin(&tested("chain-1")).unwrap().id;
    reg.finish(&pending, &finished(NOV25 + 20)).unwrap();
    assert_eq!(reg.latest_good("php", "8.2").unwrap().unwrap().id, good);
    assert_eq!(
        reg.latest_good_lean("php", "8.2").unwrap().unwrap().id,
        good
    );
    assert_eq!(
        reg.latest_good_summary("php", "8.2").unwrap().unwrap().id,
        good
    );
    // One passed, one failed: still not good, however often asked.
    reg.record_test(&pending, "smoke", true, NOV25 + 30, "ok")
        .unwrap();
    reg.record_test(&pending, "install", false, NOV25 + 31, "no php")
        .unwrap();
    assert_eq!(reg.latest_good("php", "8.2").unwrap().unwrap().id, good);
    // Listing finished composes still shows it: recorded, not hidden.
    let finished_ids: Vec<String> = reg
        .list_summaries(&ListFilter {
            name: Some("php".into()),
            state: Some(State::Finished),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(finished_ids, [pending.clone(), good.clone()]);
    // All passed: good.
    let passing = reg.begin(&tested("chain-2")).unwrap().id;
    reg.finish(&passing, &finished(NOV25 + 40)).unwrap();
    for test in ["smoke", "install"] {
        reg.record_test(&passing, test, true, NOV25 + 50, "")
            .unwrap();
    }
    assert_eq!(reg.latest_good("php", "8.2").unwrap().unwrap().id, passing);
    assert_eq!(
        reg.latest_good_summary("php", "8.2").unwrap().unwrap().id,
        passing
    );
    // A test it was not begun with is an error naming both.
    let err = reg
        .record_test(&passing, "lint", true, NOV25 + 60, "")
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::NoSuchTest { compose_id, test, .. }
            if *compose_id == passing && test == "lint"),
        "{err:?}"
    );
    assert!(err.to_string().contains("has no test `lint`"), "{err}");
    // A failing test keeps the compose out even when it is the only one.
    let only = reg.begin(&tested("chain-3")).unwrap().id;
    reg.finish(&only, &finished(NOV25 + 70)).unwrap();
    reg.record_test(&only, "smoke", false, NOV25 + 80, "")
        .unwrap();
    assert_eq!(reg.latest_good("php", "8.2").unwrap().unwrap().id, passing);
    // What the compose records of its chain, and of its tests.
    let info = reg.compose_chain_info(&pending).unwrap();
    assert_eq!(
        info.chain,
        Some(ChainCause {
            chain_id: "chain-1".into(),
            event: "build httpd-2.4.58-2.fc40".into(),
        })
    );
    let tests: Vec<(&str, &str, Option<&str>)> = info
        .tests
        .iter()
        .map(|t| (t.name.as_str(), t.state.as_str(), t.output.as_deref()))
        .collect();
    assert_eq!(
        tests,
        [
            ("install", "failed", Some("no php")),
            ("smoke", "passed", Some("ok"))
        ]
    );
    assert_eq!(reg.compose_chain_info(&good).unwrap().chain, None);
    // Pruning keeps the last good compose, not the newest finished one.
    let plan = reg
        .prune(
            &strata_registry::PrunePolicy {
                keep_finished: 1,
                keep_failed_since: 0,
                pins: BTreeMap::new(),
                keep_chains_since: 0,
            },
            false,
        )
        .unwrap();
    let removed: Vec<&str> = plan.removed.iter().map(|r| r.compose.id.as_str()).collect();
    assert!(!removed.contains(&passing.as_str()), "{removed:?}");
    assert_eq!(reg.latest_good("php", "8.2").unwrap().unwrap().id, passing);
}

fn begun_last<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    // A reproducible rebuild pins an older start time.
    let a = reg.begin(&new("apache", "2.4")).unwrap().id;
    let b = reg
        .begin(&NewCompose {
            scratch: None,
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

fn list_filters<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
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

fn list_pages_and_dates<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    // Five composes of apache:2.4 a day apart (25 to 29 November), one of
    // php on the 27th; compose dates come from `started_at`.
    let mut by_day = Vec::new();
    for day in 0..5 {
        let mut n = new("apache", "2.4");
        n.started_at = NOV25 + day * 86_400;
        by_day.push(reg.begin(&n).unwrap().id);
    }
    let mut php = new("php", "8.2");
    php.started_at = NOV25 + 2 * 86_400;
    let php = reg.begin(&php).unwrap().id;
    reg.finish(&by_day[1], &finished(NOV25 + 86_400)).unwrap();
    let date = |d: &str| Some(d.parse::<jiff::civil::Date>().unwrap());

    let list = |f: ListFilter| -> Vec<String> {
        let whole: Vec<String> = reg.list(&f).unwrap().into_iter().map(|r| r.id).collect();
        let summaries: Vec<String> = reg
            .list_summaries(&f)
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(whole, summaries, "{f:?}");
        whole
    };
    let newest_first = [
        &*php,
        &*by_day[4],
        &*by_day[3],
        &*by_day[2],
        &*by_day[1],
        &*by_day[0],
    ];
    assert_eq!(list(ListFilter::default()), newest_first);
    // Pages: an offset after the newest N, with or without a limit.
    assert_eq!(
        list(ListFilter {
            limit: Some(2),
            offset: Some(2),
            ..Default::default()
        }),
        newest_first[2..4]
    );
    assert_eq!(
        list(ListFilter {
            offset: Some(4),
            ..Default::default()
        }),
        newest_first[4..]
    );
    assert!(list(ListFilter {
        offset: Some(6),
        ..Default::default()
    })
    .is_empty());
    // Dates: both ends included, the compose date (in the ID), with the
    // other filters and pages.
    assert_eq!(
        list(ListFilter {
            since: date("2026-11-26"),
            until: date("2026-11-28"),
            ..Default::default()
        }),
        [&*php, &*by_day[3], &*by_day[2], &*by_day[1]]
    );
    assert_eq!(
        list(ListFilter {
            name: Some("apache".into()),
            since: date("2026-11-27"),
            ..Default::default()
        }),
        [&*by_day[4], &*by_day[3], &*by_day[2]]
    );
    assert_eq!(
        list(ListFilter {
            until: date("2026-11-26"),
            limit: Some(1),
            offset: Some(1),
            ..Default::default()
        }),
        [&*by_day[0]]
    );
    assert_eq!(
        list(ListFilter {
            since: date("2026-11-26"),
            until: date("2026-11-26"),
            state: Some(State::Finished),
            ..Default::default()
        }),
        [&*by_day[1]]
    );
    assert!(list(ListFilter {
        since: date("2026-11-30"),
        ..Default::default()
    })
    .is_empty());
    assert!(list(ListFilter {
        since: date("2026-11-28"),
        until: date("2026-11-27"),
        ..Default::default()
    })
    .is_empty());
}

fn latest_good_per_stream<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    assert!(reg.latest_good_per_stream(None).unwrap().is_empty());
    let done = |reg: &mut Box<dyn Registry>, name: &str, stream: &str| {
        let id = reg.begin(&new(name, stream)).unwrap().id;
        reg.finish(&id, &finished(NOV25 + 10)).unwrap();
        id
    };
    let apache24_old = done(&mut reg, "apache", "2.4");
    let apache24 = done(&mut reg, "apache", "2.4");
    let apache26 = done(&mut reg, "apache", "2.6");
    // Newer than the good ones, and not good: failed, started, finished
    // with a failed test, finished with a test not run yet.
    let bad = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&bad, &failed(NOV25 + 10)).unwrap();
    reg.begin(&new("apache", "2.6")).unwrap();
    let mut tested = new("apache", "2.6");
    tested.required_tests = vec!["smoke".into()];
    let red = reg.begin(&tested).unwrap().id;
    reg.finish(&red, &finished(NOV25 + 20)).unwrap();
    reg.record_test(&red, "smoke", false, NOV25 + 30, "no")
        .unwrap();
    let pending = reg.begin(&tested).unwrap().id;
    reg.finish(&pending, &finished(NOV25 + 40)).unwrap();
    // A stream with nothing good, and one whose only good compose has
    // passed its test.
    let php_failed = reg.begin(&new("php", "8.2")).unwrap().id;
    reg.finish(&php_failed, &failed(NOV25 + 10)).unwrap();
    let mut tested = new("php", "8.3");
    tested.required_tests = vec!["smoke".into()];
    let php83 = reg.begin(&tested).unwrap().id;
    reg.finish(&php83, &finished(NOV25 + 50)).unwrap();
    reg.record_test(&php83, "smoke", true, NOV25 + 60, "ok")
        .unwrap();
    let image = reg
        .begin(&artifact_compose(
            "php-container",
            ArtifactKind::Container,
            &[&apache24],
        ))
        .unwrap()
        .id;
    reg.finish(&image, &artifact_finished(NOV25 + 70, Some("sha256:00")))
        .unwrap();

    let latest = |kind: Option<RecordKind>| -> Vec<(String, String, String)> {
        reg.latest_good_per_stream(kind)
            .unwrap()
            .into_iter()
            .map(|s| (s.name, s.stream, s.id))
            .collect()
    };
    let row = |n: &str, s: &str, id: &str| (n.to_owned(), s.to_owned(), id.to_owned());
    // Sorted by name and stream; each the same as `latest_good` says.
    let modules = vec![
        row("apache", "2.4", &apache24),
        row("apache", "2.6", &apache26),
        row("php", "8.3", &php83),
    ];
    assert_eq!(latest(Some(RecordKind::Module)), modules);
    assert_eq!(
        latest(Some(RecordKind::Artifact)),
        [row("php-container", "x86_64", &image)]
    );
    let mut all = modules.clone();
    all.push(row("php-container", "x86_64", &image));
    assert_eq!(latest(None), all);
    for (name, stream, id) in &all {
        assert_eq!(&reg.latest_good(name, stream).unwrap().unwrap().id, id);
    }
    assert_ne!(apache24_old, apache24);
    // As summaries: package counts and repositories, no package lists.
    let first = &reg.latest_good_per_stream(None).unwrap()[0];
    assert_eq!(first.package_counts.get("x86_64"), Some(&2));
}

fn composes_using<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let base = reg.begin(&new("base-runtime", "f40")).unwrap().id;
    let uses_base = |name: &str, stream: &str, kind: InputKind| {
        let mut n = new(name, stream);
        n.inputs.push(Input {
            kind,
            name: "base-runtime:f40".into(),
            ident: base.clone(),
            location: format!("/srv/composes/{base}"),
        });
        n
    };
    let apache = reg
        .begin(&uses_base("apache", "2.4", InputKind::Compose))
        .unwrap()
        .id;
    // Same text as a compose ID, but a different kind of input.
    let mut unrelated = new("nginx", "1.24");
    unrelated.inputs.push(Input {
        kind: InputKind::SourceRepo,
        name: "weird".into(),
        ident: base.clone(),
        location: "file:///srv/weird".into(),
    });
    reg.begin(&unrelated).unwrap();
    let php = reg
        .begin(&uses_base("php", "8.2", InputKind::StackCompose))
        .unwrap()
        .id;

    assert_eq!(reg.composes_using(&base).unwrap(), [php, apache.clone()]);
    assert!(reg.composes_using(&apache).unwrap().is_empty());
    assert!(reg
        .composes_using("no-such-1-20260101.n.0")
        .unwrap()
        .is_empty());
}

fn invalid_composes<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let cases: Vec<(NewCompose, &str)> = vec![
        (new("apache", "2.4a"), "numbers joined by single dots"),
        (new("apache", "stable-1"), "`-` separates the fields"),
        (new("my module", "1"), "contains ' '"),
        (new("../apache", "2.4"), "starts with `.`"),
        (
            NewCompose {
                scratch: None,
                version: u64::MAX,
                ..new("apache", "2.4")
            },
            "the largest a database stores",
        ),
        (
            NewCompose {
                scratch: None,
                definition_digest: DIGEST.to_uppercase(),
                ..new("apache", "2.4")
            },
            "not a SHA-256 in lowercase hex",
        ),
        (
            NewCompose {
                scratch: None,
                started_at: -5,
                ..new("apache", "2.4")
            },
            "between 1970 and 9999",
        ),
        (
            NewCompose {
                scratch: None,
                arches: vec!["x86_64".into(), "x86_64".into()],
                ..new("apache", "2.4")
            },
            "arch `x86_64` is listed twice",
        ),
        (
            NewCompose {
                scratch: None,
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

fn invalid_outcomes<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
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

fn thousands<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
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
        modulemd: Default::default(),
    };
    let rec = reg.finish(&id, &outcome).unwrap();
    assert_eq!(rec.packages, pkgs);
    assert_eq!(rec.packages["aarch64"].len(), 3000);
    assert_eq!(t.open().get(&id).unwrap().unwrap().packages, pkgs);
}

fn reopening<B: Backend>(b: &B) {
    let t = b.fresh();
    let (done, killed) = {
        let mut reg = t.open();
        let done = reg.begin(&new("apache", "2.4")).unwrap().id;
        reg.finish(&done, &finished(NOV25)).unwrap();
        // Dropped without finishing, as if the process died.
        let killed = reg.begin(&new("apache", "2.4")).unwrap().id;
        (done, killed)
    };
    let mut reg = t.open();
    assert_eq!(reg.get(&killed).unwrap().unwrap().state, State::Started);
    assert_eq!(reg.latest_good("apache", "2.4").unwrap().unwrap().id, done);
    // Respins continue where they were.
    assert_eq!(
        reg.begin(&new("apache", "2.4")).unwrap().id,
        "apache-2.4-20261125.n.2"
    );
}

const WRITERS: usize = 8;
const EACH: usize = 25;

fn threads<B: Backend>(b: &B) {
    let t = b.fresh();
    let location = Arc::new(t.location.clone());
    // Opening races too: all threads create the schema of a new registry.
    let start = Arc::new(Barrier::new(WRITERS));
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (location, start) = (location.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut reg = open(&location);
                (0..EACH)
                    .map(|i| {
                        let id = reg.begin(&new("apache", "2.4")).unwrap().id;
                        if i % 2 == w % 2 {
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
    assert_eq!(distinct.len(), WRITERS * EACH);
    let expected: HashSet<String> = (0..WRITERS * EACH)
        .map(|r| format!("apache-2.4-20261125.n.{r}"))
        .collect();
    assert_eq!(distinct, expected.iter().collect());

    let reg = t.open();
    let listed = reg.list(&ListFilter::default()).unwrap();
    assert_eq!(listed.len(), WRITERS * EACH);
    // Newest first means respins descending: begin order is respin order.
    let respins: Vec<u32> = listed.iter().map(|r| r.respin).collect();
    let mut sorted = respins.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(respins, sorted);
    let finished = listed.iter().filter(|r| r.state == State::Finished).count();
    let expected = (0..WRITERS)
        .map(|w| (0..EACH).filter(|i| i % 2 == w % 2).count())
        .sum::<usize>();
    assert_eq!(finished, expected);
}

fn racing_finishes<B: Backend>(b: &B) {
    let t = b.fresh();
    let id = t.open().begin(&new("apache", "2.4")).unwrap().id;
    let start = Arc::new(Barrier::new(WRITERS));
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (location, start, id) = (t.location.clone(), start.clone(), id.clone());
            std::thread::spawn(move || {
                let mut reg = open(&location);
                start.wait();
                let outcome = if w % 2 == 0 {
                    finished(NOV25 + w as i64)
                } else {
                    failed(NOV25 + w as i64)
                };
                reg.finish(&id, &outcome).map(|r| (r.state, r.finished_at))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, RegistryError::NotStarted { .. }), "{e:?}");
        }
    }
    let rec = t.open().get(&id).unwrap().unwrap();
    assert_eq!((rec.state, rec.finished_at), *won[0]);
}

// Multi-process checks: the children are this binary again.
const CHILD_DB: &str = "STRATA_REGISTRY_CHILD_DB";
const CHILD_GO: &str = "STRATA_REGISTRY_CHILD_GO";
const CHILD_COUNT: &str = "STRATA_REGISTRY_CHILD_COUNT";
const CHILD_HANG: &str = "STRATA_REGISTRY_CHILD_HANG";

/// In a child process: does what the environment says and returns
/// `Some`; otherwise `None` (this is the test process itself).
pub fn child_main() -> Option<ExitCode> {
    let db = std::env::var(CHILD_DB).ok()?;
    if let Ok(go) = std::env::var(CHILD_GO) {
        // Start together, to race on creating the schema as well.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !std::path::Path::new(&go).exists() {
            assert!(Instant::now() < deadline, "no go signal");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let mut reg = open(&db);
    let short = || NewCompose {
        scratch: None,
        scm_ref: None,
        arches: vec!["x86_64".into()],
        inputs: vec![],
        ..new("apache", "2.4")
    };
    let mut out = std::io::stdout().lock();
    if std::env::var_os(CHILD_HANG).is_some() {
        let rec = reg.begin(&short()).unwrap();
        writeln!(out, "compose-id {} started", rec.id).unwrap();
        out.flush().unwrap();
        // Wait to be killed mid-compose.
        std::thread::sleep(Duration::from_secs(120));
        panic!("not killed");
    }
    let count: usize = std::env::var(CHILD_COUNT).unwrap().parse().unwrap();
    for i in 0..count {
        let mut rec = reg.begin(&short()).unwrap();
        if i % 2 == 0 {
            rec = reg.finish(&rec.id, &finished(NOV25 + 60)).unwrap();
        }
        writeln!(out, "compose-id {} {}", rec.id, rec.state).unwrap();
    }
    Some(ExitCode::SUCCESS)
}

fn spawn_child(db: &str, envs: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(CHILD_DB, db).stdout(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn reported(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("compose-id ")?;
    let (id, state) = rest.split_once(' ')?;
    Some((id.to_owned(), state.to_owned()))
}

/// Ends a hanging child even when the check fails first.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn processes<B: Backend>(b: &B) {
    let t = b.fresh();
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let children: Vec<KillOnDrop> = (0..WRITERS)
        .map(|_| {
            KillOnDrop(spawn_child(
                &t.location,
                &[
                    (CHILD_GO, go.to_str().unwrap()),
                    (CHILD_COUNT, &EACH.to_string()),
                ],
            ))
        })
        .collect();
    std::fs::write(&go, "").unwrap();

    let mut seen = BTreeMap::new();
    for mut child in children {
        let stdout = child.0.stdout.take().unwrap();
        let lines: Vec<_> = BufReader::new(stdout)
            .lines()
            .map(|l| l.unwrap())
            .filter_map(|l| reported(&l))
            .collect();
        let status = child.0.wait().unwrap();
        assert!(status.success(), "child failed: {status:?}");
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
    let expected: HashSet<String> = (0..WRITERS * EACH)
        .map(|r| format!("apache-2.4-20261125.n.{r}"))
        .collect();
    assert_eq!(seen.keys().cloned().collect::<HashSet<_>>(), expected);

    // None lost: the registry holds exactly what the children were told.
    let reg = t.open();
    let stored: BTreeMap<String, String> = reg
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.state.to_string()))
        .collect();
    assert_eq!(stored, seen);
    let finished = stored.values().filter(|s| *s == "finished").count();
    assert_eq!(finished, WRITERS * EACH.div_ceil(2));
}

fn killed<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut child = KillOnDrop(spawn_child(&t.location, &[(CHILD_HANG, "1")]));
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

    let mut reg = t.open();
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
    assert_eq!(ids(&started), [id.as_str()]);

    // The killed process left no lock behind.
    let next = reg.begin(&new("apache", "2.4")).unwrap();
    assert_eq!(next.id, "apache-2.4-20261125.n.1");
    reg.finish(&next.id, &finished(NOV25)).unwrap();
    assert_eq!(
        reg.latest_good("apache", "2.4").unwrap().unwrap().id,
        next.id
    );
    assert_eq!(reg.get(&id).unwrap().unwrap().state, State::Started);

    // Its owner, the child, is provably gone: the sweep ends it.
    let owner = rec.owner.expect("the child recorded itself as the owner");
    assert_ne!(owner.pid, std::process::id());
    let swept = reg.abandon_dead(Some(("apache", "2.4"))).unwrap();
    assert_eq!(ids(&swept), [id.as_str()]);
    let rec = reg.get(&id).unwrap().unwrap();
    assert_eq!(rec.state, State::Failed);
    assert_eq!(
        rec.error.as_deref(),
        Some(
            format!(
                "abandoned: its process {} on {} is gone",
                owner.pid, owner.host
            )
            .as_str()
        )
    );
    assert!(reg.abandon_dead(None).unwrap().is_empty());
}

/// Not a benchmark with a verdict: prints what 200 composes cost, for
/// comparing backends (`cargo test --release --test postgres -- timing`).
fn timing<B: Backend>(b: &B) {
    const N: usize = 200;
    let t = b.fresh();
    let mut reg = t.open();
    let start = Instant::now();
    for _ in 0..N {
        let id = reg.begin(&new("apache", "2.4")).unwrap().id;
        reg.finish(&id, &finished(NOV25)).unwrap();
    }
    let write = start.elapsed();
    let start = Instant::now();
    let all = reg.list(&ListFilter::default()).unwrap();
    let list = start.elapsed();
    let start = Instant::now();
    for _ in 0..N {
        reg.latest_good("apache", "2.4").unwrap().unwrap();
    }
    let latest = start.elapsed();
    assert_eq!(all.len(), N);
    println!(
        "  {}: {N} begin+finish {:.3} s ({:.2} ms each); list of {N} {:.3} s; {N} latest_good {:.3} s",
        t.location.split("://").next().filter(|_| t.location.contains("://")).unwrap_or("sqlite"),
        write.as_secs_f64(),
        write.as_secs_f64() * 1000.0 / N as f64,
        list.as_secs_f64(),
        latest.as_secs_f64()
    );
}

fn owner(host: &str, pid: u32, start_time: u64, boot_id: &str) -> Owner {
    Owner {
        host: host.into(),
        pid,
        start_time,
        boot_id: boot_id.into(),
        pid_namespace: Some(4026531836),
    }
}

fn with_owner(name: &str, stream: &str, owner: Option<Owner>) -> NewCompose {
    NewCompose {
        scratch: None,
        owner,
        ..new(name, stream)
    }
}

fn owners<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let o = owner(
        "builder1.example",
        1234,
        987_654_321,
        "8c1b5a4e-0d1f-4c37-9d6e-7f2a1b3c4d5e",
    );
    let rec = reg
        .begin(&with_owner("apache", "2.4", Some(o.clone())))
        .unwrap();
    assert_eq!(rec.owner.as_ref(), Some(&o));
    assert_eq!(
        t.open().get(&rec.id).unwrap().unwrap().owner,
        Some(o.clone())
    );
    let none = reg.begin(&with_owner("apache", "2.4", None)).unwrap();
    assert_eq!(none.owner, None);
    let listed = reg.list_summaries(&ListFilter::default()).unwrap();
    assert_eq!(listed[1].owner.as_ref(), Some(&o));
    assert_eq!(listed[0].owner, None);

    for (bad, expected) in [
        (
            Owner {
                host: "builder1\nState: finished".into(),
                ..o.clone()
            },
            "the owner's host name",
        ),
        (
            Owner {
                boot_id: String::new(),
                ..o.clone()
            },
            "the owner's boot ID",
        ),
        (
            Owner {
                pid: 0,
                ..o.clone()
            },
            "the owner's PID is 0",
        ),
        (
            Owner {
                start_time: u64::MAX,
                ..o.clone()
            },
            "out of range",
        ),
    ] {
        let err = reg
            .begin(&with_owner("apache", "2.4", Some(bad)))
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidCompose { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(expected), "{err}");
    }
    assert_eq!(reg.list(&ListFilter::default()).unwrap().len(), 2);
}

fn abandon<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let before = now();
    let rec = reg
        .abandon(&id, "its process 1234 on builder1 is gone")
        .unwrap();
    assert_eq!(rec.state, State::Failed);
    assert_eq!(
        rec.error.as_deref(),
        Some("abandoned: its process 1234 on builder1 is gone")
    );
    assert!(rec.finished_at.unwrap() >= before);
    assert_eq!((rec.report.as_ref(), rec.packages.len()), (None, 0));
    assert_eq!(t.open().get(&id).unwrap().unwrap(), rec);

    // Once only, and only what is started.
    let err = reg.abandon(&id, "again").unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::NotStarted {
                state: State::Failed,
                ..
            }
        ),
        "{err:?}"
    );
    let done = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&done, &finished(NOV25)).unwrap();
    let err = reg.abandon(&done, "gone").unwrap_err();
    assert!(
        err.to_string().ends_with("is not started (it is finished)"),
        "{err}"
    );
    assert_eq!(reg.get(&done).unwrap().unwrap().state, State::Finished);
    let err = reg.abandon("apache-2.4-20261125.n.9", "gone").unwrap_err();
    assert!(
        matches!(err, RegistryError::NoSuchCompose { .. }),
        "{err:?}"
    );
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The PID of a process that has ended (it may be reused, but then by a
/// process that started later, which the start time tells apart).
fn ended_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// This process, and a process of this host, boot and PID namespace
/// that has ended.
fn me_and_dead() -> (Owner, Owner) {
    let me = Owner::current().expect("Linux has /proc");
    let dead = Owner {
        pid: ended_pid(),
        ..me.clone()
    };
    (me, dead)
}

fn abandon_dead<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let (me, dead) = me_and_dead();
    let mut begin = |stream: &str, owner: Option<Owner>| {
        reg.begin(&with_owner("apache", stream, owner)).unwrap().id
    };
    let running = begin("2.4", Some(me.clone()));
    let gone = begin("2.4", Some(dead.clone()));
    let reused = begin(
        "2.4",
        Some(Owner {
            start_time: me.start_time + 1,
            ..me.clone()
        }),
    );
    let rebooted = begin(
        "2.4",
        Some(Owner {
            boot_id: "00000000-0000-4000-8000-000000000000".into(),
            ..me.clone()
        }),
    );
    // Elsewhere: never judged from here, even with a PID unused here.
    let elsewhere = begin(
        "2.4",
        Some(Owner {
            host: format!("not-{}", me.host),
            ..dead.clone()
        }),
    );
    let container = begin(
        "2.4",
        Some(Owner {
            pid_namespace: Some(1),
            ..dead.clone()
        }),
    );
    let unowned = begin("2.4", None);
    let other_stream = begin("2.6", Some(dead.clone()));
    let done = begin("2.4", Some(dead.clone()));
    reg.finish(&done, &finished(NOV25)).unwrap();

    let swept = reg.abandon_dead(Some(("apache", "2.4"))).unwrap();
    assert_eq!(
        ids(&swept),
        [rebooted.as_str(), reused.as_str(), gone.as_str()]
    );
    let state = |reg: &dyn Registry, id: &str| reg.get(id).unwrap().unwrap().state;
    for id in [&running, &elsewhere, &container, &unowned, &other_stream] {
        assert_eq!(state(&*reg, id), State::Started, "{id}");
    }
    assert_eq!(state(&*reg, &done), State::Finished);
    let error = |id: &str| reg.get(id).unwrap().unwrap().error.unwrap();
    assert_eq!(
        error(&gone),
        format!("abandoned: its process {} on {} is gone", dead.pid, me.host)
    );
    assert!(
        error(&reused).contains("now belongs to a later process"),
        "{}",
        error(&reused)
    );
    assert!(
        error(&rebooted).contains("has restarted since"),
        "{}",
        error(&rebooted)
    );

    // Everything: the other stream's too, and nothing twice.
    let swept = reg.abandon_dead(None).unwrap();
    assert_eq!(ids(&swept), [other_stream.as_str()]);
    assert!(reg.abandon_dead(None).unwrap().is_empty());
    assert_eq!(state(&*reg, &running), State::Started);
}

fn summaries<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let a0 = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&a0, &finished(NOV25 + 60)).unwrap();
    let p0 = reg.begin(&new("php", "8.2")).unwrap().id;
    reg.finish(&p0, &failed(NOV25 + 70)).unwrap();
    let a1 = reg.begin(&new("apache", "2.4")).unwrap().id;
    let a2 = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&a2, &finished(NOV25 + 90)).unwrap();

    for filter in [
        ListFilter::default(),
        ListFilter {
            name: Some("apache".into()),
            stream: Some("2.4".into()),
            ..Default::default()
        },
        ListFilter {
            state: Some(State::Finished),
            limit: Some(1),
            ..Default::default()
        },
        ListFilter {
            limit: Some(0),
            ..Default::default()
        },
    ] {
        let records = reg.list(&filter).unwrap();
        let summaries = reg.list_summaries(&filter).unwrap();
        assert_eq!(
            summaries,
            records.iter().map(|r| r.summary()).collect::<Vec<_>>(),
            "{filter:?}"
        );
    }
    let all = reg.list_summaries(&ListFilter::default()).unwrap();
    assert_eq!(
        all.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [&*a2, &*a1, &*p0, &*a0]
    );
    assert_eq!(
        all[0].package_counts,
        BTreeMap::from([("aarch64".into(), 1), ("x86_64".into(), 2)])
    );
    assert_eq!(all[0].outputs.as_ref().unwrap().repos.len(), 2);
    assert!(all[1].package_counts.is_empty() && all[1].outputs.is_none());
    assert_eq!(
        all[2].package_counts,
        BTreeMap::from([("x86_64".into(), 1)])
    );
    assert!(all[2].error.as_deref().unwrap().contains("/usr/bin/fbash"));
    // A summary leaves out what is large.
    let json = serde_json::to_value(&all[0]).unwrap();
    for key in ["packages", "inputs", "report", "timings"] {
        assert!(json.get(key).is_none(), "{key} in {json}");
    }
    assert_eq!(
        reg.latest_good_summary("apache", "2.4").unwrap(),
        Some(reg.latest_good("apache", "2.4").unwrap().unwrap().summary())
    );
    assert_eq!(reg.latest_good_summary("php", "8.2").unwrap(), None);
}

/// A compose of `name:stream` that used `inputs` (compose IDs).
fn layered(name: &str, stream: &str, inputs: &[(&str, InputKind)]) -> NewCompose {
    let mut n = new(name, stream);
    for (id, kind) in inputs {
        n.inputs.push(Input {
            kind: *kind,
            name: "lower:1".into(),
            ident: id.to_string(),
            location: format!("/srv/composes/{id}"),
        });
    }
    n
}

fn prune<B: Backend>(b: &B) {
    use strata_registry::prune::{KeepReason, RemoveReason};
    use strata_registry::PrunePolicy;
    let t = b.fresh();
    let mut reg = t.open();
    let ended = |reg: &mut Box<dyn Registry>, n: NewCompose, outcome: Outcome| {
        let id = reg.begin(&n).unwrap().id;
        reg.finish(&id, &outcome).unwrap();
        id
    };
    // Oldest first. base: three finished; apache: built on base.0 (via a
    // stack) and base.1; php on apache.0.
    let base0 = ended(&mut reg, new("base", "1"), finished(NOV25));
    let base1 = ended(&mut reg, new("base", "1"), finished(NOV25));
    let apache0 = ended(
        &mut reg,
        layered("apache", "2.4", &[(&base1, InputKind::Compose)]),
        finished(NOV25),
    );
    let php0 = ended(
        &mut reg,
        layered(
            "php",
            "8.2",
            &[
                (&apache0, InputKind::Compose),
                (&base0, InputKind::StackCompose),
            ],
        ),
        finished(NOV25),
    );
    let base2 = ended(&mut reg, new("base", "1"), finished(NOV25));
    let old_failure = ended(&mut reg, new("base", "1"), failed(NOV25 + 10));
    let base3 = ended(&mut reg, new("base", "1"), finished(NOV25));
    let apache1 = ended(
        &mut reg,
        layered("apache", "2.4", &[(&base3, InputKind::Compose)]),
        finished(NOV25),
    );
    let new_failure = ended(&mut reg, new("apache", "2.4"), failed(NOV25 + 1000));
    let running = reg.begin(&new("base", "1")).unwrap().id;
    let pinned = ended(&mut reg, new("nginx", "1"), finished(NOV25));
    let nginx_last = ended(&mut reg, new("nginx", "1"), finished(NOV25));

    let policy = PrunePolicy {
        keep_finished: 1,
        keep_failed_since: NOV25 + 500,
        pins: BTreeMap::from([(pinned.clone(), "release F41".to_owned())]),
        keep_chains_since: 0,
    };
    let dry = reg.prune(&policy, true).unwrap();
    // Nothing removed yet.
    assert_eq!(
        reg.list_summaries(&ListFilter::default()).unwrap().len(),
        12
    );
    let removed: Vec<&str> = dry.removed.iter().map(|r| r.compose.id.as_str()).collect();
    assert_eq!(removed, [old_failure.as_str(), base2.as_str()]);
    let because = |id: &str| {
        dry.kept
            .iter()
            .find(|k| k.compose.id == id)
            .unwrap_or_else(|| panic!("{id} not kept"))
            .because
            .clone()
    };
    assert_eq!(because(&nginx_last), [KeepReason::LastGood]);
    assert_eq!(
        because(&pinned),
        [KeepReason::Pinned {
            by: "release F41".into()
        }]
    );
    assert_eq!(because(&running), [KeepReason::Started]);
    assert_eq!(
        because(&new_failure),
        [KeepReason::RecentFailure { since: NOV25 + 500 }]
    );
    assert_eq!(because(&apache1), [KeepReason::LastGood]);
    assert_eq!(
        because(&base3),
        [
            KeepReason::LastGood,
            KeepReason::InputOf {
                compose_id: apache1.clone()
            }
        ]
    );
    assert_eq!(because(&php0), [KeepReason::LastGood]);
    assert_eq!(
        because(&apache0),
        [KeepReason::InputOf {
            compose_id: php0.clone()
        }]
    );
    // Two layers down, through a stack input.
    assert_eq!(
        because(&base0),
        [KeepReason::InputOf {
            compose_id: php0.clone()
        }]
    );
    assert_eq!(
        because(&base1),
        [KeepReason::InputOf {
            compose_id: apache0.clone()
        }]
    );
    assert_eq!(
        dry.removed[0].because,
        RemoveReason::OldFailure { since: NOV25 + 500 }
    );
    assert_eq!(
        dry.removed[1].because,
        RemoveReason::OldFinished { keep: 1 }
    );

    // The real run removes exactly what the dry run said, whole.
    let real = reg.prune(&policy, false).unwrap();
    assert_eq!(real, dry);
    let left = reg.list_summaries(&ListFilter::default()).unwrap();
    assert_eq!(left.len(), 10);
    assert_eq!(reg.get(&base2).unwrap(), None);
    assert_eq!(reg.get(&old_failure).unwrap(), None);
    assert_eq!(reg.list(&ListFilter::default()).unwrap().len(), 10);
    assert!(reg.composes_using(&base2).unwrap().is_empty());
    // What stays reads back whole.
    assert_eq!(
        t.open().get(&base3).unwrap().unwrap().packages,
        match finished(0) {
            Outcome::Finished { packages, .. } => packages,
            _ => unreachable!(),
        }
    );
    // Nothing more to remove; respins go on (a removed ID is never handed
    // out again: a_pruned_compose_id_is_never_handed_out_again).
    assert!(reg.prune(&policy, false).unwrap().removed.is_empty());
    let next = reg.begin(&new("base", "1")).unwrap().id;
    assert_eq!(next, "base-1-20261125.n.6");
}

fn prune_ids<B: Backend>(b: &B) {
    use strata_registry::PrunePolicy;
    let t = b.fresh();
    let mut reg = t.open();
    let ended = |reg: &mut Box<dyn Registry>, outcome: Outcome| {
        let id = reg.begin(&new("base", "1")).unwrap().id;
        reg.finish(&id, &outcome).unwrap();
        id
    };
    // Old failures go; the last good compose stays.
    let policy = PrunePolicy {
        keep_finished: 1,
        keep_failed_since: NOV25 + 500,
        ..PrunePolicy::default()
    };
    let good = ended(&mut reg, finished(NOV25));
    let f1 = ended(&mut reg, failed(NOV25 + 10));
    let f2 = ended(&mut reg, failed(NOV25 + 10));
    assert_eq!(f2, "base-1-20261125.n.2");
    // A dry run removes nothing, so hands out nothing again either.
    reg.prune(&policy, true).unwrap();
    let mut removed: Vec<String> = reg
        .prune(&policy, false)
        .unwrap()
        .removed
        .into_iter()
        .map(|r| r.compose.id)
        .collect();
    removed.sort();
    assert_eq!(removed, [f1.clone(), f2.clone()]);
    assert_eq!(reg.get(&f2).unwrap(), None);
    // The highest respin the registry holds is now .0; the next is still
    // past the removed .2, in this process and in another.
    let f3 = ended(&mut reg, failed(NOV25 + 10));
    assert_eq!(f3, "base-1-20261125.n.3");
    assert_eq!(
        t.open().begin(&new("base", "1")).unwrap().id,
        "base-1-20261125.n.4"
    );
    // This prune removes .3, below the started .4, and .5, the highest the
    // registry held: the next is .6, as .5 stays taken.
    let f5 = ended(&mut reg, failed(NOV25 + 10));
    let removed = reg.prune(&policy, false).unwrap().removed;
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert!(removed.iter().any(|r| r.compose.id == f3));
    assert!(removed.iter().any(|r| r.compose.id == f5));
    let next = reg.begin(&new("base", "1")).unwrap().id;
    assert_eq!(next, "base-1-20261125.n.6");
    // The last good compose stayed through every prune.
    assert!(reg.get(&good).unwrap().is_some());
}

fn prune_chains<B: Backend>(b: &B) {
    use strata_registry::prune::ChainKeepReason;
    use strata_registry::PrunePolicy;
    let t = b.fresh();
    let mut reg = t.open();
    let ended = |reg: &mut Box<dyn Registry>, steps: &[(&str, &str)], state, at: i64| {
        let mut c = new_chain(steps, None);
        c.created_at = at;
        let id = reg.create_chain(&c).unwrap().id;
        reg.set_chain_state(&id, state, None, at + 5).unwrap();
        id
    };
    let made_by = |reg: &mut Box<dyn Registry>, chain: &str, at: i64| {
        let n = NewCompose {
            chain: Some(ChainCause {
                chain_id: chain.into(),
                event: "build httpd-2.4.58-2.fc40".into(),
            }),
            ..new("apache", "2.4")
        };
        let id = reg.begin(&n).unwrap().id;
        reg.finish(&id, &finished(at)).unwrap();
        id
    };
    // Oldest first: an old chain whose compose goes, an old one whose
    // compose stays (the last good), an old failed one, one stopped,
    // one that holds a stream, and a recent one.
    let old_gone = ended(&mut reg, &[("apache", "2.4")], ChainState::Finished, NOV25);
    made_by(&mut reg, &old_gone, NOV25 + 10);
    let old_kept = ended(
        &mut reg,
        &[("apache", "2.4")],
        ChainState::Finished,
        NOV25 + 20,
    );
    let last_good = made_by(&mut reg, &old_kept, NOV25 + 30);
    let old_failed = ended(&mut reg, &[("php", "8.2")], ChainState::Failed, NOV25 + 40);
    let stopped = ended(&mut reg, &[("php", "8.2")], ChainState::Stopped, NOV25 + 50);
    let running = reg
        .create_chain(&new_chain(&[("nginx", "1")], None))
        .unwrap()
        .id;
    assert_eq!(
        reg.lock_stream("nginx", "1", &running, NOV25).unwrap(),
        StreamLock::Taken
    );
    let recent = ended(
        &mut reg,
        &[("php", "8.2")],
        ChainState::Finished,
        NOV25 + 1000,
    );
    assert_eq!(reg.list_chains(None).unwrap().len(), 6);

    let policy = PrunePolicy {
        keep_finished: 1,
        keep_failed_since: NOV25 + 500,
        pins: BTreeMap::new(),
        keep_chains_since: NOV25 + 500,
    };
    let dry = reg.prune(&policy, true).unwrap();
    assert_eq!(
        reg.list_chains(None).unwrap().len(),
        6,
        "a dry run keeps all"
    );
    let removed: Vec<&str> = dry
        .chains
        .removed
        .iter()
        .map(|r| r.chain.id.as_str())
        .collect();
    assert_eq!(removed, [old_failed.as_str(), old_gone.as_str()]);
    let because = |id: &str| {
        dry.chains
            .kept
            .iter()
            .find(|k| k.chain.id == id)
            .unwrap_or_else(|| panic!("{id} not kept"))
            .because
            .clone()
    };
    assert_eq!(
        because(&old_kept),
        [ChainKeepReason::Made {
            compose_id: last_good.clone()
        }]
    );
    assert_eq!(
        because(&stopped),
        [ChainKeepReason::NotEnded {
            state: ChainState::Stopped
        }]
    );
    assert_eq!(
        because(&running),
        [ChainKeepReason::NotEnded {
            state: ChainState::Running
        }]
    );
    assert_eq!(
        because(&recent),
        [
            ChainKeepReason::Newest,
            ChainKeepReason::Recent { since: NOV25 + 500 }
        ]
    );

    let real = reg.prune(&policy, false).unwrap();
    assert_eq!(real, dry);
    let left: Vec<String> = reg
        .list_chains(None)
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        left,
        [recent.clone(), running.clone(), stopped, old_kept.clone()]
    );
    assert_eq!(t.open().get_chain(&old_gone).unwrap(), None);
    // What stays reads back whole, with its steps; the lock is held.
    let kept = t.open().get_chain(&old_kept).unwrap().unwrap();
    assert_eq!(kept.steps.len(), 1);
    assert_eq!(
        reg.compose_chain_info(&last_good)
            .unwrap()
            .chain
            .unwrap()
            .chain_id,
        old_kept
    );
    assert_eq!(
        reg.lock_stream("nginx", "1", &recent, NOV25).unwrap(),
        StreamLock::HeldBy(running.clone())
    );
    // IDs are never handed out twice: the day's next chain follows the
    // highest, though lower ones are gone.
    let next = reg
        .create_chain(&new_chain(&[("x", "1")], None))
        .unwrap()
        .id;
    assert_eq!(next, "chain-20261125.6");
    assert!(![&old_gone, &old_failed].contains(&&next));
    // Pruning again removes nothing more.
    assert!(reg.prune(&policy, false).unwrap().chains.removed.is_empty());
}

fn prune_pins<B: Backend>(b: &B) {
    use strata_registry::PrunePolicy;
    let t = b.fresh();
    let mut reg = t.open();
    let a = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&a, &finished(NOV25)).unwrap();
    let b2 = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&b2, &finished(NOV25)).unwrap();
    let policy = PrunePolicy {
        keep_finished: 1,
        keep_failed_since: 0,
        pins: BTreeMap::from([("apache-2.4-20261125.n.7".to_owned(), "--pin".to_owned())]),
        keep_chains_since: 0,
    };
    for dry_run in [true, false] {
        let err = reg.prune(&policy, dry_run).unwrap_err();
        assert!(matches!(err, RegistryError::UnknownPins { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "compose registry {}: cannot prune: the pinned compose(s) \
                 apache-2.4-20261125.n.7 are not in the registry",
                t.shown
            )
        );
    }
    assert_eq!(reg.list_summaries(&ListFilter::default()).unwrap().len(), 2);
}

fn capped<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let error = format!(
        "compose failed: {}{}: the end",
        "ä".repeat(5_000_000),
        "x".repeat(10_000_000)
    );
    let big_report = json!({"x86_64": {"unresolved": vec!["/usr/bin/fbash"; 200_000]}});
    let rec = reg
        .finish(
            &id,
            &Outcome::Failed {
                finished_at: NOV25,
                error: error.clone(),
                report: Some(big_report),
                packages: PackagesByArch::new(),
            },
        )
        .unwrap();
    let stored = rec.error.unwrap();
    assert!(
        stored.len() <= strata_registry::ERROR_CAP,
        "{}",
        stored.len()
    );
    assert!(stored.len() > strata_registry::ERROR_CAP - 100);
    assert!(stored.starts_with("compose failed: ää"));
    assert!(stored.ends_with("xx: the end"));
    let cut = error.len() - (stored.len() - stored.lines().nth(1).unwrap().len() - 2);
    assert!(
        stored.contains(&format!("\n[… {cut} bytes cut …]\n")),
        "no marker for {cut} bytes cut"
    );
    let report = rec.report.unwrap();
    assert_eq!(report["report_cut"]["limit"], strata_registry::REPORT_CAP);
    assert!(report["report_cut"]["bytes"].as_u64().unwrap() > 3_000_000);
    assert_eq!(t.open().get(&id).unwrap().unwrap().error.unwrap(), stored);
    // A short one stays whole.
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let rec = reg.finish(&id, &failed(NOV25)).unwrap();
    assert_eq!(
        rec.error.as_deref(),
        Some("httpd-2.4.58-1.fc40.x86_64 requires /usr/bin/fbash")
    );
}

fn control_characters<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    for scm_ref in [
        "git+https://src.example/m.git#a1b2\nState: finished",
        "a1b2c3d\r",
        "a1b2\u{1b}[2J",
        "",
    ] {
        let err = reg
            .begin(&NewCompose {
                scratch: None,
                scm_ref: Some(scm_ref.into()),
                ..new("apache", "2.4")
            })
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidCompose { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("the SCM reference"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    let err = reg
        .finish(
            &id,
            &Outcome::Failed {
                finished_at: NOV25,
                error: "boom".into(),
                report: None,
                packages: packages(&[("x86_64", "httpd-2.4\nmod_ssl-2.4")]),
            },
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("contains whitespace or a control character"),
        "{err}"
    );
    assert_eq!(reg.list(&ListFilter::default()).unwrap().len(), 1);
}

fn version_1<B: Backend>(b: &B) {
    let t = b.fresh();
    b.load_v1(&t);
    let expected: Vec<serde_json::Value> = test_data("v1/records.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut reg = t.open();
    let records = reg.list(&ListFilter::default()).unwrap();
    let read: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            assert_eq!(r.owner, None);
            assert!(r.modulemd.is_empty());
            // Fields version 1 did not have.
            assert_eq!(r.kind(), RecordKind::Module);
            let mut v = serde_json::to_value(r).unwrap();
            v.as_object_mut().unwrap().remove("owner");
            v.as_object_mut().unwrap().remove("modulemd");
            v.as_object_mut().unwrap().remove("artifact");
            v
        })
        .collect();
    assert_eq!(read, expected);
    assert_eq!(
        reg.list_summaries(&ListFilter::default()).unwrap(),
        records.iter().map(|r| r.summary()).collect::<Vec<_>>()
    );
    // Version 12: composes finished before it have no stack digest (a
    // reader reads their inputs instead).
    for r in &records {
        assert_eq!(r.stack_digest, None, "{}", r.id);
    }
    // Version 11: the update put each finished compose's lean inputs (in
    // position order, without the stack) and repositories in its row, and
    // a lean read of it is what reading the rows gives.
    for r in &records {
        assert_eq!(
            b.lean_column(&t, &r.id).is_some(),
            r.state == State::Finished,
            "{}",
            r.id
        );
    }
    let php: serde_json::Value =
        serde_json::from_str(&b.lean_column(&t, "php-8.2-20261125.n.0").unwrap()).unwrap();
    assert_eq!(
        php,
        json!([
            [
                [
                    "koji_repo",
                    "f40-build",
                    "6034451",
                    "https://kojipkgs.example/repos/f40-build/6034451"
                ],
                [
                    "compose",
                    "base-runtime:f40",
                    "base-runtime-f40-20261125.n.0",
                    "/srv/composes/base-runtime-f40-20261125.n.0"
                ]
            ],
            [["x86_64", "/srv/composes/php-8.2-20261125.n.0/x86_64/os"]]
        ])
    );
    let streams = [("base-runtime", "f40"), ("apache", "2.4"), ("php", "8.2")];
    let (from_column, _) = lean_reads_as_whole(reg.as_ref(), &streams);
    b.forget_lean(&t);
    assert_eq!(lean_reads(reg.as_ref(), &streams), from_column);
    // Respins and "newest" go on from version 1's.
    let next = reg.begin(&new("apache", "2.4")).unwrap().id;
    assert_eq!(next, "apache-2.4-20261125.n.3");
    assert_eq!(
        reg.list_summaries(&ListFilter::default()).unwrap()[0].id,
        next
    );
    // What later versions added is there: the stream's modulemd, and
    // artifact records (version 5).
    let rec = reg.finish(&next, &finished(NOV25 + 90)).unwrap();
    assert_eq!(rec.modulemd["x86_64"], modulemd_document("x86_64"));
    let art = reg
        .begin(&artifact_compose("web", ArtifactKind::Ostree, &[&next]))
        .unwrap()
        .id;
    let art = reg
        .finish(&art, &artifact_finished(NOV25 + 95, Some("0123abcd")))
        .unwrap();
    assert_eq!(art.artifact, Some(ArtifactKind::Ostree));
    reg.abandon(&art.id, "x").unwrap_err();
    // Version 6: composes recorded before it have no fingerprint digest
    // (recomputed by readers); a compose finished now has one; events
    // queue.
    for r in &records {
        assert_eq!(reg.fingerprint(&r.id).unwrap(), None, "{}", r.id);
    }
    assert_eq!(
        reg.fingerprint(&next).unwrap(),
        Some(strata_registry::record_fingerprint(&rec))
    );
    let queued = reg
        .submit_event(&json!({"event": "build", "nvr": "a-1-1"}), NOV25)
        .unwrap();
    assert_eq!(reg.pending_events().unwrap(), [queued]);
    // Version 7: release composes.
    let release = reg
        .begin_release(&new_release(
            "f41",
            "41",
            &[(ReleaseInputKind::Module, "apache:2.4", &next)],
        ))
        .unwrap();
    assert_eq!(release.id, "f41-41-20261125.n.0");
    assert_eq!(reg.list_releases(None).unwrap(), [release]);
    // Opening again changes nothing.
    drop(reg);
    assert_eq!(t.open().list(&ListFilter::default()).unwrap().len(), 7);
    // The compose left started by version 1 has no owner: never swept.
    assert!(t.open().abandon_dead(None).unwrap().is_empty());
}

fn read_only<B: Backend>(b: &B) {
    let t = b.fresh();
    let loc = RegistryLocation::parse(t.location.as_ref()).unwrap();
    let Err(err) = strata_registry::open_read_only(&loc) else {
        panic!("opened a registry that does not exist");
    };
    assert!(matches!(err, RegistryError::Missing { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("there is no compose registry at {}: ", t.shown)),
        "{err}"
    );
    assert!(!b.exists(&t), "reading created {}", t.shown);

    let id = t.open().begin(&new("apache", "2.4")).unwrap().id;
    t.open().finish(&id, &finished(NOV25)).unwrap();
    let mut reader = strata_registry::open_read_only(&loc).unwrap();
    assert_eq!(reader.latest_good("apache", "2.4").unwrap().unwrap().id, id);
    assert_eq!(
        reader.list_summaries(&ListFilter::default()).unwrap().len(),
        1
    );
    // A writer's new compose shows to a reader opened before it.
    let second = t.open().begin(&new("apache", "2.4")).unwrap().id;
    assert_eq!(reader.list(&ListFilter::default()).unwrap()[0].id, second);
    // Every write is refused, and nothing changes.
    let err = reader.begin(&new("apache", "2.4")).unwrap_err();
    assert!(matches!(err, RegistryError::Backend { .. }), "{err:?}");
    let err = reader.abandon(&second, "gone").unwrap_err();
    assert!(matches!(err, RegistryError::Backend { .. }), "{err:?}");
    assert_eq!(t.open().list(&ListFilter::default()).unwrap().len(), 2);
    assert_eq!(
        t.open().get(&second).unwrap().unwrap().state,
        State::Started
    );

    // A version-1 registry is updated first, then read.
    let old = b.fresh();
    b.load_v1(&old);
    let loc = RegistryLocation::parse(old.location.as_ref()).unwrap();
    let reader = strata_registry::open_read_only(&loc).unwrap();
    assert_eq!(
        reader.list_summaries(&ListFilter::default()).unwrap().len(),
        5
    );
}

fn new_chain(steps: &[(&str, &str)], owner: Option<Owner>) -> NewChain {
    NewChain {
        created_at: NOV25,
        events: json!([{"event": "build", "nvr": "httpd-2.4.58-2.fc40"}]),
        plan: json!({"steps": steps.len()}),
        steps: steps
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect(),
        owner,
        consumes: vec![],
    }
}

fn fingerprints<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let mut with_inputs = new("apache", "2.4");
    with_inputs.inputs = vec![
        Input {
            kind: InputKind::Compose,
            name: "base:1".into(),
            ident: "base-1-20261125.n.0".into(),
            location: "/srv/composes/base".into(),
        },
        Input {
            kind: InputKind::SourceRepo,
            name: "source.x86_64".into(),
            ident: "sha256:aa".into(),
            location: "/srv/repos/f40".into(),
        },
    ];
    let id = reg.begin(&with_inputs).unwrap().id;
    assert_eq!(
        reg.fingerprint(&id).unwrap(),
        None,
        "a started compose has none"
    );
    let rec = reg.finish(&id, &finished(NOV25 + 10)).unwrap();
    let stored = reg.fingerprint(&id).unwrap().expect("written at finish");
    assert_eq!(stored, strata_registry::record_fingerprint(&rec));
    assert_eq!(
        stored,
        strata_registry::fingerprint_digest(
            &rec.definition_digest,
            &rec.packages,
            &strata_registry::counted_inputs(&rec.inputs)
        )
    );
    // Another compose of the same content has the same digest; a failed
    // one has none; an unknown one none.
    let again = reg.begin(&with_inputs).unwrap().id;
    reg.finish(&again, &finished(NOV25 + 20)).unwrap();
    assert_eq!(reg.fingerprint(&again).unwrap().as_ref(), Some(&stored));
    let bad = reg.begin(&with_inputs).unwrap().id;
    reg.finish(&bad, &failed(NOV25 + 30)).unwrap();
    assert_eq!(reg.fingerprint(&bad).unwrap(), None);
    assert_eq!(reg.fingerprint("nope-1-20261125.n.0").unwrap(), None);
    // Another connection reads it too.
    assert_eq!(t.open().fingerprint(&id).unwrap(), Some(stored));
}

/// A finished compose keeps the digest of its stack (schema version 12):
/// its inputs of kind `compose` and `stack_compose`, whichever their
/// order; every read of the record carries it, lean ones included.
fn stack_digests<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let input = |kind, name: &str, ident: &str| Input {
        kind,
        name: name.into(),
        ident: ident.into(),
        location: "/srv/composes/x".into(),
    };
    let mut php = new("php", "8.2");
    php.inputs = vec![
        input(InputKind::StackCompose, "base:1", "base-1-20261125.n.0"),
        input(InputKind::Platform, "f40.x86_64", "sha256:aa"),
        input(InputKind::Compose, "apache:2.4", "apache-2.4-20261125.n.3"),
        input(InputKind::SourceRepo, "source.x86_64", "sha256:bb"),
    ];
    let started = reg.begin(&php).unwrap();
    assert_eq!(started.stack_digest, None, "a started compose has none");
    assert_eq!(reg.get(&started.id).unwrap().unwrap().stack_digest, None);
    let want = strata_registry::stack_digest([
        ("apache:2.4", "apache-2.4-20261125.n.3"),
        ("base:1", "base-1-20261125.n.0"),
    ]);
    let rec = reg.finish(&started.id, &finished(NOV25 + 10)).unwrap();
    assert_eq!(rec.stack_digest.as_ref(), Some(&want));
    let reads = [
        reg.get(&rec.id).unwrap(),
        reg.get_inputs_only(&rec.id).unwrap(),
        reg.latest_good("php", "8.2").unwrap(),
        reg.latest_good_lean("php", "8.2").unwrap(),
        reg.latest_good_lean_many(&[("php", "8.2")])
            .unwrap()
            .remove(0),
        t.open().get(&rec.id).unwrap(),
    ];
    for r in reads {
        assert_eq!(r.unwrap().stack_digest.as_ref(), Some(&want));
    }
    // Without a compose in its stack, the digest of nothing; a failed
    // compose has none.
    let alone = reg.begin(&new("base", "1")).unwrap().id;
    let alone = reg.finish(&alone, &finished(NOV25 + 20)).unwrap();
    assert_eq!(
        alone.stack_digest,
        Some(strata_registry::stack_digest(std::iter::empty()))
    );
    assert_ne!(alone.stack_digest.as_ref(), Some(&want));
    let bad = reg.begin(&php).unwrap().id;
    reg.finish(&bad, &failed(NOV25 + 30)).unwrap();
    assert_eq!(reg.get(&bad).unwrap().unwrap().stack_digest, None);
}

fn latest_good_ids<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    assert_eq!(
        reg.latest_good_ids(&[]).unwrap(),
        Vec::<Option<String>>::new()
    );
    assert_eq!(reg.latest_good_ids(&[("php", "8.2")]).unwrap(), [None]);
    let good = reg.begin(&new("php", "8.2")).unwrap().id;
    reg.finish(&good, &finished(NOV25 + 10)).unwrap();
    let base = reg.begin(&new("base", "1")).unwrap().id;
    reg.finish(&base, &finished(NOV25 + 11)).unwrap();
    // Newer, but not good: started, failed, or with a test not passed.
    reg.begin(&new("php", "8.2")).unwrap();
    let failed_id = reg.begin(&new("php", "8.2")).unwrap().id;
    reg.finish(&failed_id, &failed(NOV25 + 20)).unwrap();
    let tested = reg
        .begin(&NewCompose {
            required_tests: vec!["smoke".into()],
            ..new("php", "8.2")
        })
        .unwrap()
        .id;
    reg.finish(&tested, &finished(NOV25 + 30)).unwrap();
    let asked = [
        ("php", "8.2"),
        ("php", "8.3"),
        ("base", "1"),
        ("php", "8.2"),
    ];
    let want = |php: &str| {
        vec![
            Some(php.to_owned()),
            None,
            Some(base.clone()),
            Some(php.into()),
        ]
    };
    assert_eq!(reg.latest_good_ids(&asked).unwrap(), want(&good));
    // Its test passed: it is the last good one, as every read says.
    reg.record_test(&tested, "smoke", true, NOV25 + 40, "ok")
        .unwrap();
    assert_eq!(t.open().latest_good_ids(&asked).unwrap(), want(&tested));
    for (name, stream) in asked {
        assert_eq!(
            reg.latest_good_ids(&[(name, stream)]).unwrap()[0],
            reg.latest_good_lean(name, stream).unwrap().map(|r| r.id),
            "{name}:{stream}"
        );
    }
}

fn identities<B: Backend>(b: &B) {
    let (one, two) = (b.fresh(), b.fresh());
    let first = one.open().identity().unwrap();
    assert!(!first.is_empty());
    // The same registry, opened again and written: the same identity.
    let mut reg = one.open();
    let id = reg.begin(&new("php", "8.2")).unwrap().id;
    reg.finish(&id, &finished(NOV25)).unwrap();
    assert_eq!(reg.identity().unwrap(), first);
    assert_eq!(one.open().identity().unwrap(), first);
    // Another one, even holding the same compose IDs, is another.
    let mut other = two.open();
    let same = other.begin(&new("php", "8.2")).unwrap().id;
    assert_eq!(same, id);
    assert_ne!(other.identity().unwrap(), first);
}

fn event_queue<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    assert!(reg.pending_events().unwrap().is_empty());
    let e = |nvr: &str| json!({"event": "build", "nvr": nvr});
    let one = reg.submit_event(&e("a-1-1"), NOV25).unwrap();
    let two = reg.submit_event(&e("a-1-2"), NOV25 + 5).unwrap();
    let three = t.open().submit_event(&e("b-1-1"), NOV25 + 9).unwrap();
    assert!(one.seq < two.seq && two.seq < three.seq);
    let pending = reg.pending_events().unwrap();
    assert_eq!(pending, [one.clone(), two.clone(), three.clone()]);
    // A chain takes two of them, in the transaction that records it.
    let mut chain = new_chain(&[("apache", "2.4")], None);
    chain.consumes = vec![one.seq, two.seq];
    let made = reg.create_chain(&chain).unwrap();
    assert_eq!(reg.pending_events().unwrap(), std::slice::from_ref(&three));
    // Taking one again fails and records nothing: not the chain, and the
    // event still queued stays queued.
    chain.consumes = vec![three.seq, one.seq];
    let err = t.open().create_chain(&chain).unwrap_err();
    assert!(
        matches!(err, RegistryError::EventNotQueued { seq, .. } if seq == one.seq),
        "{err:?}"
    );
    assert!(err.to_string().contains("no longer queued"), "{err}");
    assert_eq!(reg.list_chains(None).unwrap().len(), 1);
    assert_eq!(reg.list_chains(None).unwrap()[0].id, made.id);
    assert_eq!(reg.pending_events().unwrap(), std::slice::from_ref(&three));
    // New events go on after the ones taken.
    let four = reg.submit_event(&e("c-1-1"), NOV25 + 20).unwrap();
    assert!(four.seq > three.seq);
    // An event too large is refused, naming the limit; nothing is queued.
    let huge = json!({"event": "build", "nvr": "x".repeat(strata_registry::MAX_EVENT_BYTES)});
    let err = reg.submit_event(&huge, NOV25).unwrap_err();
    assert!(
        matches!(err, RegistryError::EventTooLarge { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&strata_registry::MAX_EVENT_BYTES.to_string()),
        "{err}"
    );
    assert_eq!(reg.pending_events().unwrap().len(), 2);
    // Dropping is all or none: one not queued leaves the other queued.
    let err = reg.drop_events(&[three.seq, one.seq]).unwrap_err();
    assert!(
        matches!(err, RegistryError::EventNotQueued { seq, .. } if seq == one.seq),
        "{err:?}"
    );
    assert_eq!(reg.pending_events().unwrap(), [three.clone(), four.clone()]);
    assert_eq!(
        t.open().drop_events(&[three.seq, three.seq]).unwrap(),
        std::slice::from_ref(&three)
    );
    assert_eq!(reg.pending_events().unwrap(), std::slice::from_ref(&four));
    // A number is never handed out twice, not even the highest once its
    // event is taken: a chain that planned `four` while another took it
    // must not take the next event in its place.
    let mut taker = new_chain(&[("c", "1")], None);
    taker.consumes = vec![four.seq];
    reg.create_chain(&taker).unwrap();
    assert!(reg.pending_events().unwrap().is_empty());
    let five = t.open().submit_event(&e("d-1-1"), NOV25 + 30).unwrap();
    assert!(five.seq > four.seq, "{} after {}", five.seq, four.seq);
    let err = reg.create_chain(&taker).unwrap_err();
    assert!(
        matches!(err, RegistryError::EventNotQueued { seq, .. } if seq == four.seq),
        "{err:?}"
    );
    assert_eq!(reg.pending_events().unwrap(), [five]);
}

fn chains<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let c = reg
        .create_chain(&new_chain(
            &[("base", "1"), ("apache", "2.4"), ("php", "8.2")],
            Owner::current(),
        ))
        .unwrap();
    assert_eq!(c.id, "chain-20261125.0");
    assert_eq!(c.state, ChainState::Running);
    assert_eq!(c.owner, Owner::current());
    assert_eq!(c.events[0]["nvr"], "httpd-2.4.58-2.fc40");
    let states: Vec<StepState> = c.steps.iter().map(|s| s.state).collect();
    assert_eq!(states, [StepState::Pending; 3]);
    // The next chain of the day counts on.
    let other = reg.create_chain(&new_chain(&[("x", "1")], None)).unwrap();
    assert_eq!(other.id, "chain-20261125.1");
    // Steps record their compose and excuse; the step of php waits.
    reg.update_step(
        &c.id,
        0,
        &StepUpdate {
            state: StepState::Failed,
            compose_id: Some("base-1-20251125.n.0"),
            reason: Some("repoclosure failed"),
        },
    )
    .unwrap();
    reg.update_step(
        &c.id,
        1,
        &StepUpdate {
            state: StepState::Finished,
            compose_id: Some("apache-2.4-20251125.n.0"),
            reason: Some("composed on base-1-20251124.n.0, the last good compose of base:1"),
        },
    )
    .unwrap();
    reg.update_step(
        &c.id,
        2,
        &StepUpdate {
            state: StepState::Waiting,
            compose_id: None,
            reason: Some("waiting for approval (policy: approve)"),
        },
    )
    .unwrap();
    reg.set_chain_state(&c.id, ChainState::Waiting, None, NOV25 + 5)
        .unwrap();
    reg.approve_step(&c.id, "php:8.2", "alice", NOV25 + 10)
        .unwrap();
    // Reopened (as `resume` after kill -9 does): everything is there.
    drop(reg);
    let mut reg = t.open();
    let got = reg.get_chain(&c.id).unwrap().unwrap();
    assert_eq!(got.state, ChainState::Waiting);
    assert_eq!(got.finished_at, None);
    let s = &got.steps;
    assert_eq!(
        (
            s[0].state,
            s[0].compose_id.as_deref(),
            s[0].reason.as_deref()
        ),
        (
            StepState::Failed,
            Some("base-1-20251125.n.0"),
            Some("repoclosure failed")
        )
    );
    assert_eq!(s[1].state, StepState::Finished);
    // Approved, it no longer says it waits for approval.
    assert_eq!(
        (
            s[2].state,
            s[2].approved_by.as_deref(),
            s[2].approved_at,
            s[2].reason.as_deref()
        ),
        (StepState::Approved, Some("alice"), Some(NOV25 + 10), None)
    );
    // Only a step that has not run can be approved; unknown ones are named.
    let err = reg
        .approve_step(&c.id, "apache:2.4", "bob", NOV25 + 11)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot be approved: it is finished"),
        "{err}"
    );
    let err = reg
        .approve_step(&c.id, "nginx:1", "bob", NOV25 + 11)
        .unwrap_err();
    assert!(err.to_string().contains("has no step `nginx:1`"), "{err}");
    let err = reg
        .approve_step("chain-20990101.0", "php:8.2", "bob", NOV25)
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("no such chain `chain-20990101.0`"),
        "{err}"
    );
    // Ending sets the time; listing is newest first.
    reg.set_chain_state(&c.id, ChainState::Finished, None, NOV25 + 99)
        .unwrap();
    assert_eq!(
        reg.get_chain(&c.id).unwrap().unwrap().finished_at,
        Some(NOV25 + 99)
    );
    let ids: Vec<String> = reg
        .list_chains(None)
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, [other.id.clone(), c.id.clone()]);
    assert_eq!(reg.list_chains(Some(1)).unwrap().len(), 1);
    assert!(reg.get_chain("chain-20990101.0").unwrap().is_none());
}

fn stream_locks<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let me = Owner::current();
    let a = reg
        .create_chain(&new_chain(&[("base", "1")], me.clone()))
        .unwrap()
        .id;
    let b2 = reg
        .create_chain(&new_chain(&[("base", "1")], me.clone()))
        .unwrap()
        .id;
    assert_eq!(
        reg.lock_stream("base", "1", &a, NOV25).unwrap(),
        StreamLock::Taken
    );
    // Taken again by its holder; refused to a live other chain.
    assert_eq!(
        reg.lock_stream("base", "1", &a, NOV25).unwrap(),
        StreamLock::Taken
    );
    assert_eq!(
        reg.lock_stream("base", "1", &b2, NOV25).unwrap(),
        StreamLock::HeldBy(a.clone())
    );
    // Another stream is free.
    assert_eq!(
        reg.lock_stream("base", "2", &b2, NOV25).unwrap(),
        StreamLock::Taken
    );
    // Released by its holder, then free.
    reg.unlock_stream("base", "1", &a).unwrap();
    assert_eq!(
        reg.lock_stream("base", "1", &b2, NOV25).unwrap(),
        StreamLock::Taken
    );
    // A chain that ended gives up its locks.
    reg.set_chain_state(&b2, ChainState::Finished, None, NOV25 + 1)
        .unwrap();
    assert_eq!(
        reg.lock_stream("base", "1", &a, NOV25).unwrap(),
        StreamLock::Taken
    );
    // A holder whose process is provably gone (this host restarted
    // since) loses it.
    let dead = me.as_ref().map(|o| Owner {
        boot_id: "00000000-0000-0000-0000-000000000000".into(),
        ..o.clone()
    });
    let ghost = reg
        .create_chain(&new_chain(&[("php", "8.2")], dead))
        .unwrap()
        .id;
    assert_eq!(
        reg.lock_stream("php", "8.2", &ghost, NOV25).unwrap(),
        StreamLock::Taken
    );
    if me.is_some() {
        assert_eq!(
            reg.lock_stream("php", "8.2", &a, NOV25).unwrap(),
            StreamLock::Taken
        );
    }
}

pub fn new_release(
    name: &str,
    version: &str,
    inputs: &[(ReleaseInputKind, &str, &str)],
) -> NewRelease {
    NewRelease {
        name: name.into(),
        version: version.into(),
        compose_type: ComposeType::Nightly,
        started_at: NOV25,
        release_date: "2026-12-01".into(),
        definition_path: "releases/f41.yaml".into(),
        definition_digest: DIGEST.into(),
        scm_ref: None,
        arches: vec!["x86_64".into()],
        inputs: inputs
            .iter()
            .map(|(kind, name, id)| ReleaseInput {
                kind: *kind,
                name: (*name).into(),
                compose_id: (*id).into(),
            })
            .collect(),
        owner: None,
    }
}

fn release_by(owner: Option<Owner>) -> NewRelease {
    NewRelease {
        owner,
        ..new_release("f41", "41", &[])
    }
}

/// Version 8: a release compose records its owner, and a sweep ends those
/// whose process is provably gone, by the rules composes follow.
fn abandon_dead_releases<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let (me, dead) = me_and_dead();
    let mut begin = |owner: Option<Owner>| reg.begin_release(&release_by(owner)).unwrap().id;
    let running = begin(Some(me.clone()));
    let gone = begin(Some(dead.clone()));
    let rebooted = begin(Some(Owner {
        boot_id: "00000000-0000-4000-8000-000000000000".into(),
        ..me.clone()
    }));
    let elsewhere = begin(Some(Owner {
        host: format!("not-{}", me.host),
        ..dead.clone()
    }));
    let unowned = begin(None);
    let done = begin(Some(dead.clone()));
    reg.finish_release(
        &done,
        &ReleaseOutcome::Finished {
            finished_at: NOV25 + 5,
            path: "/srv/releases/done".into(),
        },
    )
    .unwrap();
    assert_eq!(
        reg.get_release(&gone).unwrap().unwrap().owner.as_ref(),
        Some(&dead)
    );

    let started: Vec<String> = reg
        .started_releases()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        started,
        [
            unowned.clone(),
            elsewhere.clone(),
            rebooted.clone(),
            gone.clone(),
            running.clone()
        ]
    );
    let swept: Vec<String> = reg
        .abandon_dead_releases()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(swept, [rebooted.clone(), gone.clone()]);
    let get = |reg: &dyn Registry, id: &str| reg.get_release(id).unwrap().unwrap();
    for id in [&running, &elsewhere, &unowned] {
        assert_eq!(get(&*reg, id).state, State::Started, "{id}");
    }
    assert_eq!(get(&*reg, &done).state, State::Finished);
    let ended = get(&*reg, &gone);
    assert_eq!(ended.state, State::Failed);
    assert_eq!(
        ended.error.as_deref(),
        Some(format!("abandoned: its process {} on {} is gone", dead.pid, me.host).as_str())
    );
    assert!(ended.finished_at.is_some());
    assert!(get(&*reg, &rebooted)
        .error
        .unwrap()
        .contains("has restarted since"),);
    // Nothing twice; by hand, once.
    assert!(reg.abandon_dead_releases().unwrap().is_empty());
    let by_hand = reg.abandon_release(&unowned, "by hand").unwrap();
    assert_eq!(by_hand.error.as_deref(), Some("abandoned: by hand"));
    let err = reg.abandon_release(&unowned, "again").unwrap_err();
    assert!(matches!(err, RegistryError::NotStarted { .. }), "{err:?}");
    // Module composes are not release composes, nor the other way round.
    assert!(reg.abandon_dead(None).unwrap().is_empty());
    assert_eq!(get(&*reg, &running).state, State::Started);
}

/// Version 8: a release compose records the SCM reference of its
/// document, checked like a compose's.
fn release_scm_refs<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let url = "git+https://pagure.io/releases.git?#f41.yaml#0123abcd";
    let rec = reg
        .begin_release(&NewRelease {
            scm_ref: Some(url.into()),
            ..new_release("f41", "41", &[])
        })
        .unwrap();
    assert_eq!(rec.scm_ref.as_deref(), Some(url));
    drop(reg);
    let mut reg = t.open();
    assert_eq!(
        reg.get_release(&rec.id)
            .unwrap()
            .unwrap()
            .scm_ref
            .as_deref(),
        Some(url)
    );
    for (scm_ref, what) in [
        ("a\nb", "contains the control character '\\n'"),
        ("", "the SCM reference is empty"),
    ] {
        let err = reg
            .begin_release(&NewRelease {
                scm_ref: Some(scm_ref.into()),
                ..new_release("f41", "41", &[])
            })
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidRelease { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(what), "{err}");
    }
    assert_eq!(reg.list_releases(None).unwrap().len(), 1);
}

/// A registry of version 7, with a release compose left started (its
/// process died; version 7 recorded no owner), is updated: its release
/// composes read back as they were, with no owner or SCM reference, the
/// started one is never judged dead, and new ones record both.
fn version_7<B: Backend>(b: &B) {
    let t = b.fresh();
    b.load_v7(&t);
    let mut reg = t.open();
    let all = reg.list_releases(None).unwrap();
    let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["f41-41-20261125.n.1", "f41-41-20261125.n.0"]);
    for r in &all {
        assert_eq!((&r.owner, &r.scm_ref), (&None, &None), "{}", r.id);
        assert_eq!(r.inputs.len(), 2, "{}", r.id);
    }
    assert_eq!(all[1].state, State::Finished);
    assert_eq!(
        all[1].path.as_deref(),
        Some(std::path::Path::new("/srv/releases/f41-41-20261125.n.0"))
    );
    assert_eq!(all[0].state, State::Started);
    assert!(reg.abandon_dead_releases().unwrap().is_empty());
    let me = Owner::current().expect("Linux has /proc");
    let next = reg
        .begin_release(&NewRelease {
            scm_ref: Some("git+https://pagure.io/releases.git?#f41.yaml#0123abcd".into()),
            ..release_by(Some(me.clone()))
        })
        .unwrap();
    assert_eq!(next.id, "f41-41-20261125.n.2");
    assert_eq!(next.owner, Some(me));
    assert!(next.scm_ref.is_some());
    assert_eq!(reg.list_releases(Some(1)).unwrap(), [next]);
    // Version 9: the queued event stays; new ones are numbered after it.
    let queued = reg.pending_events().unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].seq, 4);
    assert_eq!(queued[0].event["nvr"], "httpd-2.4.58-3.fc40");
    let next = reg
        .submit_event(&json!({"event": "build", "nvr": "x-1-1"}), NOV25)
        .unwrap();
    assert_eq!(next.seq, 5);
}

fn releases<B: Backend>(b: &B) {
    let t = b.fresh();
    let mut reg = t.open();
    let apache = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&apache, &finished(NOV25 + 10)).unwrap();
    let inputs = [
        (ReleaseInputKind::Module, "php:8.2", "php-8.2-20261125.n.0"),
        (ReleaseInputKind::Stack, "apache:2.4", apache.as_str()),
        (
            ReleaseInputKind::Artifact,
            "php-container",
            "php-container-1-20261125.n.0",
        ),
    ];
    let started = reg
        .begin_release(&new_release("f41", "41", &inputs))
        .unwrap();
    assert_eq!(started.id, "f41-41-20261125.n.0");
    assert_eq!(started.state, State::Started);
    assert_eq!(started.date, "20261125");
    assert_eq!(started.release_date, "2026-12-01");
    assert_eq!(started.definition_digest, DIGEST);
    assert_eq!(started.arches, ["x86_64"]);
    let names: Vec<(ReleaseInputKind, &str, &str)> = started
        .inputs
        .iter()
        .map(|i| (i.kind, i.name.as_str(), i.compose_id.as_str()))
        .collect();
    assert_eq!(names, inputs);
    assert_eq!(started.path, None);

    // A module compose that spells the same ID base gets the next respin,
    // and a release after it the one after: no ID is both.
    let module = reg.begin(&new("f41", "41")).unwrap().id;
    assert_eq!(module, "f41-41-20261125.n.1");
    reg.finish(&module, &finished(NOV25 + 20)).unwrap();
    let second = reg.begin_release(&new_release("f41", "41", &[])).unwrap();
    assert_eq!(second.id, "f41-41-20261125.n.2");

    let done = reg
        .finish_release(
            &started.id,
            &ReleaseOutcome::Finished {
                finished_at: NOV25 + 30,
                path: "/srv/releases/f41-41-20261125.n.0".into(),
            },
        )
        .unwrap();
    assert_eq!(done.state, State::Finished);
    assert_eq!(done.finished_at, Some(NOV25 + 30));
    assert_eq!(
        done.path.as_deref(),
        Some(std::path::Path::new("/srv/releases/f41-41-20261125.n.0"))
    );
    assert_eq!(done.inputs, started.inputs);
    let again = reg
        .finish_release(
            &started.id,
            &ReleaseOutcome::Failed {
                finished_at: NOV25 + 31,
                error: "late".into(),
            },
        )
        .unwrap_err();
    assert!(
        matches!(again, RegistryError::NotStarted { .. }),
        "{again:?}"
    );
    let failed = reg
        .finish_release(
            &second.id,
            &ReleaseOutcome::Failed {
                finished_at: NOV25 + 40,
                error: "the release check found 2 problems".into(),
            },
        )
        .unwrap();
    assert_eq!(failed.state, State::Failed);
    assert_eq!(
        failed.error.as_deref(),
        Some("the release check found 2 problems")
    );
    assert_eq!(failed.path, None);

    // Releases never show where module composes are asked for.
    assert_eq!(reg.latest_good("f41", "41").unwrap().unwrap().id, module);
    let listed = reg.list(&ListFilter::default()).unwrap();
    assert_eq!(ids(&listed), [module.as_str(), apache.as_str()]);
    assert_eq!(reg.list_summaries(&ListFilter::default()).unwrap().len(), 2);
    assert_eq!(reg.latest_good_per_stream(None).unwrap().len(), 2);
    assert_eq!(reg.get(&started.id).unwrap(), None);
    assert!(reg.composes_using(&apache).unwrap().is_empty());

    // Newest first; read back the same after reopening.
    drop(reg);
    let reg = t.open();
    let all = reg.list_releases(None).unwrap();
    let all_ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(all_ids, [second.id.as_str(), started.id.as_str()]);
    assert_eq!(all[1], done);
    assert_eq!(reg.list_releases(Some(1)).unwrap(), [failed]);
    assert_eq!(reg.get_release(&started.id).unwrap(), Some(done));
    assert_eq!(reg.get_release("f41-41-20261125.n.9").unwrap(), None);
    assert_eq!(reg.get_release(&module).unwrap(), None);
    drop(reg);

    // Refused input names what is wrong, and records nothing.
    let mut reg = t.open();
    let err = reg
        .finish_release(
            "nope-1-20261125.n.0",
            &ReleaseOutcome::Failed {
                finished_at: NOV25,
                error: "x".into(),
            },
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no such release compose `nope-1-20261125.n.0`"),
        "{err}"
    );
    for (bad, what) in [
        (
            NewRelease {
                release_date: "2026-13-01".into(),
                ..new_release("f41", "41", &[])
            },
            "the release date \"2026-13-01\" is not YYYY-MM-DD",
        ),
        (new_release("f 41", "41", &[]), "the release name"),
        (new_release("f41", "", &[]), "the release version"),
        (
            NewRelease {
                definition_digest: "abc".into(),
                ..new_release("f41", "41", &[])
            },
            "not a lowercase SHA-256",
        ),
        (
            new_release("f41", "41", &[(ReleaseInputKind::Module, "php:8.2", "")]),
            "compose ID is empty",
        ),
    ] {
        let err = reg.begin_release(&bad).unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidRelease { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(what), "{err}");
        assert!(
            err.to_string()
                .starts_with("cannot record a release compose of `"),
            "{err}"
        );
    }
    assert_eq!(reg.list_releases(None).unwrap().len(), 2);

    // A prune keeps what a finished release compose ships, even once it is
    // neither last good nor among the newest; the failed one pins nothing.
    use strata_registry::prune::KeepReason;
    let newer = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&newer, &finished(NOV25 + 50)).unwrap();
    let failed_only = reg
        .begin_release(&new_release(
            "f41",
            "41",
            &[(ReleaseInputKind::Module, "f41:41", &module)],
        ))
        .unwrap()
        .id;
    reg.finish_release(
        &failed_only,
        &ReleaseOutcome::Failed {
            finished_at: NOV25 + 60,
            error: "x".into(),
        },
    )
    .unwrap();
    let policy = strata_registry::PrunePolicy {
        keep_finished: 1,
        keep_failed_since: i64::MAX,
        pins: BTreeMap::new(),
        keep_chains_since: 0,
    };
    for dry_run in [true, false] {
        let plan = reg.prune(&policy, dry_run).unwrap();
        let kept = plan.kept.iter().find(|k| k.compose.id == apache).unwrap();
        assert_eq!(
            kept.because,
            [KeepReason::Pinned {
                by: format!("release {}", started.id)
            }]
        );
        assert!(plan.removed.is_empty(), "{:?}", plan.removed);
    }
    assert_eq!(reg.list_summaries(&ListFilter::default()).unwrap().len(), 3);
}
