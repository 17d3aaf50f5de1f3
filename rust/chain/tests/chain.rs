//! Impact and chain runs on the bundled example data (real RPMs and
//! createrepo_c repositories, `examples/`): apache and php composed into a
//! registry of their own, then the events, the plans they give, and the
//! chains that run them.

use std::path::{Path, PathBuf};
use strata_chain::{
    compose_step, impact, load_watched, run_chain, run_chain_with, scm_cache, start_chain, Event,
    ImpactOptions, LeftAlone, RunOptions, StepCall, Why,
};
use strata_compose::{compose_module, ComposeRequest, Config, Interrupt, Quiet};
use strata_registry::{ChainRecord, ChainState, ComposeType, Registry, SqliteRegistry, StepState};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

struct Site {
    dir: tempfile::TempDir,
    config: Config,
    registry: SqliteRegistry,
}

impl Site {
    fn new(policy: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        copy_tree(&examples, &dir.path().join("examples"));
        let toml = dir.path().join("examples/strata.toml");
        let mut text = std::fs::read_to_string(&toml).unwrap();
        text.push_str(
            "[compose]\nout = \"../out\"\ncache_dir = \"../cache\"\n\
             [chain]\ncatalog = [\"modules/apache.yaml\", \"modules/php.yaml\"]\n\
             policy = \"chain-policy.yaml\"\n",
        );
        std::fs::write(&toml, text).unwrap();
        std::fs::write(
            dir.path().join("examples/chain-policy.yaml"),
            format!("document: strata-policy\nversion: 1\ndata:\n  rules:\n{policy}"),
        )
        .unwrap();
        let config = Config::read(&toml).unwrap();
        let registry = SqliteRegistry::open(&dir.path().join("registry.sqlite")).unwrap();
        Site {
            dir,
            config,
            registry,
        }
    }

    fn definition(&self, name: &str) -> PathBuf {
        self.dir
            .path()
            .join(format!("examples/modules/{name}.yaml"))
    }

    fn compose(&mut self, name: &str) -> String {
        let req = ComposeRequest {
            definition: self.definition(name),
            out: self.dir.path().join("out"),
            arches: Vec::new(),
            compose_type: ComposeType::Nightly,
            metadata_only: true,
            verify_payloads: false,
            scm_ref: None,
            started_at: 1_764_000_000,
            cache_dir: self.config.compose.cache_dir.clone(),
            with_composes: Vec::new(),
            interrupt: Interrupt::new(),
            scratch: None,
            then_exits: false,
        };
        let r = compose_module(&req, &self.config, &mut self.registry, &Quiet).unwrap();
        assert!(r.published(), "{name}: {:?}", r.record.error);
        r.record.id
    }

    fn impact(&self, events: &[Event]) -> Result<strata_chain::Impact, strata_chain::ImpactError> {
        let scm = scm_cache(&self.config, None).unwrap();
        let watched = load_watched(&self.config, &scm).unwrap();
        let interrupt = Interrupt::new();
        impact(
            events,
            &watched,
            &self.config,
            &self.registry,
            &ImpactOptions {
                cache_dir: self.config.compose.cache_dir.as_deref(),
                interrupt: &interrupt,
                progress: &Quiet,
            },
        )
    }
}

impl Site {
    fn set_policy(&self, rules: &str) {
        std::fs::write(
            self.dir.path().join("examples/chain-policy.yaml"),
            format!("document: strata-policy\nversion: 1\ndata:\n  parallel: 2\n  rules:\n{rules}"),
        )
        .unwrap();
    }

    fn touch_apache(&self, from: &str, to: &str) {
        let path = self.definition("apache");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from));
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }

    /// Starts and runs a chain for `events`; `None` when nothing is stale.
    fn chain(&mut self, events: &[Event]) -> Option<ChainRecord> {
        let found = self.impact(events).unwrap();
        let chain = start_chain(&found, &mut self.registry).unwrap()?;
        Some(self.resume(&chain.id))
    }

    fn resume(&self, chain_id: &str) -> ChainRecord {
        with_opts(self.dir.path(), &self.config, |watched, opts| {
            run_chain(chain_id, watched, &self.config, opts).unwrap()
        })
    }
}

/// Runs F with the catalog and the run options of the site in DIR (its
/// registry, `out`), as a chain run or a remote step would have them.
fn with_opts<R>(
    dir: &Path,
    config: &Config,
    f: impl FnOnce(&strata_chain::Watched, &RunOptions<'_>) -> R,
) -> R {
    let scm = scm_cache(config, None).unwrap();
    let watched = load_watched(config, &scm).unwrap();
    let path = dir.join("registry.sqlite");
    let open = move || -> Result<Box<dyn Registry>, Box<strata_compose::ComposeError>> {
        Ok(Box::new(
            SqliteRegistry::open(&path).map_err(|e| Box::new(e.into()))?,
        ))
    };
    f(
        &watched,
        &RunOptions {
            out: dir.join("out"),
            cache_dir: config.compose.cache_dir.clone(),
            compose_type: ComposeType::Nightly,
            metadata_only: true,
            test_timeout: std::time::Duration::from_secs(60),
            interrupt: Interrupt::new(),
            open_registry: &open,
            report: &|_| {},
        },
    )
}

fn step_states(c: &ChainRecord) -> Vec<(String, StepState)> {
    c.steps
        .iter()
        .map(|s| (format!("{}:{}", s.name, s.stream), s.state))
        .collect()
}

fn steps(i: &strata_chain::Impact) -> Vec<String> {
    i.plan
        .steps
        .iter()
        .map(|s| format!("{}:{}", s.name, s.stream))
        .collect()
}

#[test]
fn a_changed_definition_recomposes_it_and_the_stack_above() {
    let mut site = Site::new("    - match: '*:*'\n");
    // A build both read (the platform's).
    let build = [Event::Build {
        nvr: "strata-example-base-1-1".into(),
    }];
    // Nothing composed yet: both are stale, php after apache.
    let first = site.impact(&build).unwrap();
    assert_eq!(steps(&first), ["apache:2.4", "php:8.2"]);
    assert_eq!(first.plan.steps[0].why, [Why::NeverComposed]);
    let apache = site.compose("apache");
    site.compose("php");
    // Everything composed from these very inputs: nothing to do.
    let none = site.impact(&build).unwrap();
    assert_eq!(steps(&none), Vec::<String>::new());
    assert_eq!(none.plan.left_alone["apache:2.4"], LeftAlone::UpToDate);
    assert_eq!(none.plan.left_alone["php:8.2"], LeftAlone::UpToDate);
    // A changed apache definition: apache, then php because its input
    // compose changes; the text says which compose each replaces.
    let path = site.definition("apache");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("TLS for the server", "TLS")).unwrap();
    let changed = site
        .impact(&[Event::Definition {
            location: path.display().to_string(),
        }])
        .unwrap();
    assert_eq!(steps(&changed), ["apache:2.4", "php:8.2"]);
    assert!(matches!(
        changed.plan.steps[0].why[..],
        [Why::Definition { .. }]
    ));
    assert_eq!(
        changed.plan.steps[1].why,
        [Why::InputCompose {
            module: "apache:2.4".into()
        }]
    );
    let text = changed.to_text();
    assert!(
        text.contains(&format!(
            "  1. apache:2.4 [auto]\n       replaces {apache}\n"
        )),
        "{text}"
    );
    assert!(text.contains("  2. php:8.2 (after 1) [auto]\n"), "{text}");
    // A compose of apache: php, which requires it, is checked; apache is
    // not (nothing changes it).
    let by_compose = site
        .impact(&[Event::Compose { id: apache.clone() }])
        .unwrap();
    assert_eq!(steps(&by_compose), Vec::<String>::new());
    assert_eq!(
        by_compose.plan.left_alone["apache:2.4"],
        LeftAlone::Unaffected
    );
    assert_eq!(by_compose.plan.left_alone["php:8.2"], LeftAlone::UpToDate);
    // What a chain records of it: apache, which the event cannot change,
    // left out with all the plan knows of it; php, checked, kept.
    let recorded = by_compose.recorded();
    assert!(by_compose.definitions.contains_key("apache:2.4"));
    assert_eq!(
        recorded.plan.left_alone.keys().collect::<Vec<_>>(),
        ["php:8.2"]
    );
    for keys in [
        recorded.definitions.keys().collect::<Vec<_>>(),
        recorded.requires.keys().collect(),
        recorded.last_good.keys().collect(),
    ] {
        assert_eq!(keys, ["php:8.2"]);
    }
    assert_eq!(recorded.events, by_compose.events);
    // The steps and what is known of them stay whole.
    let changed_recorded = changed.recorded();
    assert_eq!(changed_recorded.plan.steps, changed.plan.steps);
    assert_eq!(changed_recorded.definitions, changed.definitions);
}

#[test]
fn a_build_not_in_the_repositories_yet_is_said_so_per_module() {
    let mut site = Site::new("    - match: '*:*'\n");
    site.compose("apache");
    site.compose("php");
    // Tagged, not in any repository yet: neither module is known to be up
    // to date, and the impact says which builds nothing has seen.
    let nvr = "httpd-2.4.59-1.fc40";
    let early = site.impact(&[Event::Build { nvr: nvr.into() }]).unwrap();
    assert_eq!(steps(&early), Vec::<String>::new());
    for module in ["apache:2.4", "php:8.2"] {
        assert_eq!(
            early.plan.left_alone[module],
            LeftAlone::NotInRepository {
                builds: vec![nvr.into()]
            }
        );
    }
    assert_eq!(early.awaited_builds, [nvr]);
    let text = early.to_text();
    assert!(
        text.contains("  apache:2.4: build httpd-2.4.59-1.fc40 not in the repository yet\n"),
        "{text}"
    );
    let json = serde_json::to_value(&early).unwrap();
    assert_eq!(
        json["plan"]["left_alone"]["php:8.2"],
        serde_json::json!({"reason": "not-in-repository", "builds": [nvr]})
    );
    // A build in apache's source only: it is apache's, not php's; both
    // are up to date.
    let apache = site
        .impact(&[Event::Build {
            nvr: "strata-example-apache-1-1".into(),
        }])
        .unwrap();
    assert_eq!(apache.plan.left_alone["apache:2.4"], LeftAlone::UpToDate);
    assert_eq!(apache.plan.left_alone["php:8.2"], LeftAlone::UpToDate);
    assert!(apache.awaited_builds.is_empty());
}

impl Site {
    fn take(&self, now: i64) -> strata_chain::queue::Pending {
        let scm = scm_cache(&self.config, None).unwrap();
        let watched = load_watched(&self.config, &scm).unwrap();
        let interrupt = Interrupt::new();
        strata_chain::queue::take(
            &self.registry,
            &watched,
            &self.config,
            &ImpactOptions {
                cache_dir: self.config.compose.cache_dir.as_deref(),
                interrupt: &interrupt,
                progress: &Quiet,
            },
            now,
        )
        .unwrap()
    }
}

#[test]
fn a_queued_build_no_repository_has_yet_waits_for_it_within_a_bound() {
    use strata_chain::queue::{submit, REPO_WAIT_SECS};
    // No debounce: without the hold, the build would be planned (to
    // nothing) and consumed at once.
    let mut site = Site::new("    - match: '*:*'\n");
    site.compose("apache");
    site.compose("php");
    let t0 = 1_800_000_000;
    let early = Event::Build {
        nvr: "httpd-2.4.59-1.fc40".into(),
    };
    let queued = submit(&mut site.registry, std::slice::from_ref(&early), t0).unwrap();
    let taken = site.take(t0 + 60);
    assert!(taken.ready.is_none(), "{:?}", taken.ready);
    let [held] = &taken.awaiting_repo[..] else {
        panic!("{:?}", taken.awaiting_repo)
    };
    assert_eq!(held.nvr, "httpd-2.4.59-1.fc40");
    assert_eq!(held.until, t0 + REPO_WAIT_SECS);
    assert_eq!(held.queued[0].seq, queued[0].seq);
    let line = held.to_string();
    assert!(
        line.starts_with(&format!(
            "queued event {} (build httpd-2.4.59-1.fc40) waits: the build is in no repository \
             the catalog reads yet; from ",
            queued[0].seq
        )),
        "{line}"
    );
    assert!(
        line.ends_with(
            "(2 h after it was queued, [chain] repo_wait) it is planned against the \
             repositories as they are"
        ),
        "{line}"
    );
    // A build the repositories have is taken at once, without the other.
    let here = submit(
        &mut site.registry,
        &[Event::Build {
            nvr: "strata-example-base-1-1".into(),
        }],
        t0 + 120,
    )
    .unwrap();
    let taken = site.take(t0 + 120);
    let (found, consumes) = taken.ready.expect("the build in the repositories is ready");
    assert_eq!(consumes, [here[0].seq]);
    assert_eq!(
        found.events,
        [Event::Build {
            nvr: "strata-example-base-1-1".into()
        }]
    );
    assert_eq!(taken.awaiting_repo.len(), 1);
    strata_chain::start_consuming(&found, &consumes, &mut site.registry).unwrap();
    // Past the bound: planned against the repositories as they are.
    let taken = site.take(t0 + REPO_WAIT_SECS);
    assert!(taken.awaiting_repo.is_empty());
    let (found, consumes) = taken.ready.expect("planned after the bound");
    assert_eq!(consumes, [queued[0].seq]);
    assert_eq!(found.events, [early]);
}

#[test]
fn a_queued_build_waits_as_long_as_chain_repo_wait_says() {
    use strata_chain::queue::submit;
    let mut site = Site::new("    - match: '*:*'\n");
    site.config.chain.repo_wait = Some(90);
    site.compose("apache");
    let t0 = 1_800_000_000;
    let early = Event::Build {
        nvr: "httpd-2.4.59-1.fc40".into(),
    };
    let queued = submit(&mut site.registry, std::slice::from_ref(&early), t0).unwrap();
    let taken = site.take(t0 + 89);
    let [held] = &taken.awaiting_repo[..] else {
        panic!("{:?}", taken.awaiting_repo)
    };
    assert_eq!(held.until, t0 + 90);
    assert!(
        held.to_string()
            .contains("(90 s after it was queued, [chain] repo_wait)"),
        "{held}"
    );
    let taken = site.take(t0 + 90);
    assert!(taken.awaiting_repo.is_empty());
    let (found, consumes) = taken.ready.expect("planned after the configured wait");
    assert_eq!(consumes, [queued[0].seq]);
    assert_eq!(found.events, std::slice::from_ref(&early));
    // No wait at all: planned (to nothing) at once.
    site.config.chain.repo_wait = Some(0);
    strata_chain::start_consuming(&found, &consumes, &mut site.registry).unwrap();
    submit(&mut site.registry, std::slice::from_ref(&early), t0 + 100).unwrap();
    assert!(site.take(t0 + 100).ready.is_some());
}

#[test]
fn the_policy_and_bad_events_are_reported() {
    let site = Site::new("    - match: 'php:*'\n      trigger: never\n    - match: '*:*'\n");
    let p = site
        .impact(&[Event::Build {
            nvr: "php-8.2.13-1.fc40".into(),
        }])
        .unwrap();
    assert_eq!(steps(&p), ["apache:2.4"]);
    assert_eq!(p.plan.left_alone["php:8.2"].to_string(), "policy: manual");
    let err = |events: &[Event]| site.impact(events).unwrap_err().to_string();
    assert_eq!(
        err(&[Event::Compose {
            id: "apache-2.4-20250101.n.0".into()
        }]),
        "no compose `apache-2.4-20250101.n.0` in the registry"
    );
    assert_eq!(
        err(&[Event::Tag {
            tag: "f40-build".into()
        }]),
        "no module of the catalog is composed from Koji tag `f40-build`"
    );
    assert_eq!(
        err(&[Event::Definition {
            location: "/srv/nowhere.yaml".into()
        }]),
        "the definition `/srv/nowhere.yaml` is not in the catalog ([chain] catalog)"
    );
    assert_eq!(
        err(&[Event::Build { nvr: "a b".into() }]),
        "`a b` is not a valid build NVR: it contains white space"
    );
    assert_eq!(
        err(&[]),
        "give at least one event (--build, --tag, --repo, --compose, --definition)"
    );
}

#[test]
fn a_chain_recomposes_bottom_up_and_records_its_cause() {
    let mut site = Site::new("    - match: '*:*'\n");
    site.compose("apache");
    let old_php = site.compose("php");
    let definition = Event::Definition {
        location: site.definition("apache").display().to_string(),
    };
    // Nothing changed: no chain.
    assert!(site.chain(std::slice::from_ref(&definition)).is_none());
    site.touch_apache("TLS for the server", "TLS");
    let chain = site.chain(std::slice::from_ref(&definition)).unwrap();
    assert_eq!(chain.state, ChainState::Finished);
    assert_eq!(
        step_states(&chain),
        [
            ("apache:2.4".to_string(), StepState::Finished),
            ("php:8.2".to_string(), StepState::Finished)
        ]
    );
    // Each compose names the chain and the cause; php is built on the new
    // apache compose.
    let apache = chain.steps[0].compose_id.clone().unwrap();
    let php = chain.steps[1].compose_id.clone().unwrap();
    assert_ne!(php, old_php);
    let info = site.registry.compose_chain_info(&php).unwrap();
    let cause = info.chain.unwrap();
    assert_eq!(cause.chain_id, chain.id);
    assert!(cause.event.starts_with("definition "), "{}", cause.event);
    let rec = site.registry.get(&php).unwrap().unwrap();
    assert!(
        rec.inputs.iter().any(|i| i.ident == apache),
        "{:?}",
        rec.inputs
    );
    // Run again: the chain ended, nothing to resume.
    let scm = scm_cache(&site.config, None).unwrap();
    let watched = load_watched(&site.config, &scm).unwrap();
    let path = site.dir.path().join("registry.sqlite");
    let open = move || -> Result<Box<dyn Registry>, Box<strata_compose::ComposeError>> {
        Ok(Box::new(
            SqliteRegistry::open(&path).map_err(|e| Box::new(e.into()))?,
        ))
    };
    let err = run_chain(
        &chain.id,
        &watched,
        &site.config,
        &RunOptions {
            out: site.dir.path().join("out"),
            cache_dir: None,
            compose_type: ComposeType::Nightly,
            metadata_only: true,
            test_timeout: std::time::Duration::from_secs(60),
            interrupt: Interrupt::new(),
            open_registry: &open,
            report: &|_| {},
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "chain `{}` is finished already: nothing to resume",
            chain.id
        )
    );
}

#[test]
fn a_failing_test_fails_the_step_and_dependents_follow_the_policy() {
    let mut site = Site::new("    - match: '*:*'\n");
    site.compose("apache");
    site.compose("php");
    let good_apache = site
        .registry
        .latest_good_summary("apache", "2.4")
        .unwrap()
        .unwrap()
        .id;
    // apache's test fails: its new compose is recorded, not good; php is
    // composed on apache's last good compose, and says so.
    site.set_policy(
        "    - match: 'apache:*'\n      tests:\n        - {name: smoke, run: [\"false\"]}\n    - match: '*:*'\n",
    );
    site.touch_apache("TLS for the server", "TLS");
    let event = Event::Definition {
        location: site.definition("apache").display().to_string(),
    };
    let chain = site.chain(std::slice::from_ref(&event)).unwrap();
    assert_eq!(chain.state, ChainState::Failed);
    assert_eq!(chain.steps[0].state, StepState::Failed);
    assert_eq!(
        chain.steps[0].reason.as_deref(),
        Some("test smoke failed: ")
    );
    let failed = chain.steps[0].compose_id.clone().unwrap();
    let tests = site.registry.compose_chain_info(&failed).unwrap().tests;
    assert_eq!(
        (tests[0].name.as_str(), tests[0].state.as_str()),
        ("smoke", "failed")
    );
    assert_eq!(
        site.registry
            .latest_good_summary("apache", "2.4")
            .unwrap()
            .unwrap()
            .id,
        good_apache
    );
    // On apache's last good compose php is what it was: reused.
    assert_eq!(chain.steps[1].state, StepState::Reused);
    let excuse = chain.steps[1].reason.clone().unwrap();
    assert_eq!(
        excuse,
        format!(
            "composed on {good_apache}, the last good compose of apache:2.4 (its recompose in \
             this chain failed; policy: use-last-good); nothing it would use changed: its last \
             good compose stands"
        )
    );
    let php = site
        .registry
        .get(chain.steps[1].compose_id.as_deref().unwrap())
        .unwrap()
        .unwrap();
    assert!(php.inputs.iter().any(|i| i.ident == good_apache));
    // stop-dependents: php is not composed.
    site.set_policy(
        "    - match: 'apache:*'\n      on_failure: stop-dependents\n      tests:\n        - {name: smoke, run: [\"false\"]}\n    - match: '*:*'\n",
    );
    site.touch_apache("{reason: TLS}", "{reason: TLS again}");
    let chain = site.chain(std::slice::from_ref(&event)).unwrap();
    assert_eq!(
        step_states(&chain),
        [
            ("apache:2.4".to_string(), StepState::Failed),
            ("php:8.2".to_string(), StepState::Skipped)
        ]
    );
    assert_eq!(
        chain.steps[1].reason.as_deref(),
        Some("not composed: apache:2.4 below it failed (policy: stop-dependents)")
    );
}

#[test]
fn an_approve_step_waits_until_approved_then_resume_finishes() {
    let mut site = Site::new("    - match: 'php:*'\n      trigger: approve\n    - match: '*:*'\n");
    site.compose("apache");
    site.compose("php");
    site.touch_apache("TLS for the server", "TLS");
    let event = Event::Definition {
        location: site.definition("apache").display().to_string(),
    };
    let chain = site.chain(&[event]).unwrap();
    assert_eq!(chain.state, ChainState::Waiting);
    assert_eq!(
        step_states(&chain),
        [
            ("apache:2.4".to_string(), StepState::Finished),
            ("php:8.2".to_string(), StepState::Waiting)
        ]
    );
    // Resuming without approval changes nothing.
    assert_eq!(site.resume(&chain.id).state, ChainState::Waiting);
    site.registry
        .approve_step(&chain.id, "php:8.2", "alice", 1_764_000_100)
        .unwrap();
    let done = site.resume(&chain.id);
    assert_eq!(done.state, ChainState::Finished);
    assert_eq!(done.steps[1].state, StepState::Finished);
    assert_eq!(done.steps[1].approved_by.as_deref(), Some("alice"));
}

#[test]
fn a_chain_killed_after_a_compose_was_published_resumes_without_composing_it_again() {
    let mut site = Site::new("    - match: '*:*'\n");
    site.compose("apache");
    site.compose("php");
    site.touch_apache("TLS for the server", "TLS");
    let event = Event::Definition {
        location: site.definition("apache").display().to_string(),
    };
    let found = site.impact(&[event]).unwrap();
    let chain = start_chain(&found, &mut site.registry).unwrap().unwrap();
    // What a run killed with apache's compose published leaves: the step
    // running, with the compose it announced before publishing.
    let published = site.compose("apache");
    site.registry
        .update_step(
            &chain.id,
            0,
            &strata_registry::StepUpdate {
                state: StepState::Running,
                compose_id: Some(&published),
                reason: None,
            },
        )
        .unwrap();
    let done = site.resume(&chain.id);
    assert_eq!(done.state, ChainState::Finished);
    assert_eq!(done.steps[0].state, StepState::Finished);
    assert_eq!(done.steps[0].compose_id.as_deref(), Some(&*published));
    let apaches = site
        .registry
        .list_summaries(&strata_registry::ListFilter {
            name: Some("apache".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(apaches.len(), 2, "no third apache compose");
    let php = site
        .registry
        .get(done.steps[1].compose_id.as_deref().unwrap())
        .unwrap()
        .unwrap();
    assert!(php.inputs.iter().any(|i| i.ident == published));
}

#[test]
fn a_step_runner_composes_the_steps_elsewhere_and_the_chain_records_them() {
    let mut site = Site::new("    - match: '*:*'\n");
    let good_apache = site.compose("apache");
    site.compose("php");
    site.touch_apache("TLS for the server", "TLS");
    let event = Event::Definition {
        location: site.definition("apache").display().to_string(),
    };
    let dir = site.dir.path().to_path_buf();
    let config = site.config.clone();
    let calls = std::sync::Mutex::new(Vec::<StepCall>::new());
    // As a Koji moduleCompose subtask does on another builder: the step
    // composed by compose_step with the call's fields only.
    let elsewhere = |call: &StepCall| {
        calls.lock().unwrap().push(call.clone());
        with_opts(&dir, &config, |watched, opts| {
            compose_step(call, watched, &config, opts).map_err(|e| e.to_string())
        })
    };
    let found = site.impact(std::slice::from_ref(&event)).unwrap();
    let chain = start_chain(&found, &mut site.registry).unwrap().unwrap();
    let done = with_opts(&dir, &config, |watched, opts| {
        run_chain_with(&chain.id, watched, &config, opts, Some(&elsewhere)).unwrap()
    });
    assert_eq!(done.state, ChainState::Finished);
    assert_eq!(
        step_states(&done),
        [
            ("apache:2.4".to_string(), StepState::Finished),
            ("php:8.2".to_string(), StepState::Finished)
        ]
    );
    let calls = calls.into_inner().unwrap();
    assert_eq!(
        calls
            .iter()
            .map(|c| (c.position, c.name.as_str(), c.excuse.is_none()))
            .collect::<Vec<_>>(),
        [(0, "apache", true), (1, "php", true)]
    );
    assert!(calls[0].definition.ends_with("apache.yaml"), "{calls:?}");
    // The composes carry the chain and its cause, as a local run's do.
    for step in &done.steps {
        let info = site
            .registry
            .compose_chain_info(step.compose_id.as_deref().unwrap())
            .unwrap();
        assert_eq!(info.chain.unwrap().chain_id, chain.id);
    }
    assert_ne!(
        done.steps[0].compose_id.as_deref(),
        Some(good_apache.as_str())
    );

    // A runner that fails a step: the step fails with its reason, and the
    // policy (use-last-good) composes php on apache's last good compose.
    site.touch_apache("its TLS module", "its TLS module, again");
    let found = site.impact(std::slice::from_ref(&event)).unwrap();
    let chain = start_chain(&found, &mut site.registry).unwrap().unwrap();
    let flaky = |call: &StepCall| {
        if call.name == "apache" {
            return Err("subtask 7: the builder went away".to_string());
        }
        assert!(call
            .excuse
            .as_deref()
            .unwrap()
            .contains("policy: use-last-good"));
        with_opts(&dir, &config, |watched, opts| {
            compose_step(call, watched, &config, opts).map_err(|e| e.to_string())
        })
    };
    let failed = with_opts(&dir, &config, |watched, opts| {
        run_chain_with(&chain.id, watched, &config, opts, Some(&flaky)).unwrap()
    });
    assert_eq!(failed.state, ChainState::Failed);
    assert_eq!(failed.steps[0].state, StepState::Failed);
    assert_eq!(
        failed.steps[0].reason.as_deref(),
        Some("subtask 7: the builder went away")
    );
    assert_eq!(failed.steps[1].state, StepState::Reused);
    // A step the chain does not have is refused by name.
    let wrong = StepCall {
        chain_id: chain.id.clone(),
        position: 1,
        name: "apache".into(),
        stream: "2.4".into(),
        definition: String::new(),
        excuse: None,
        earlier: None,
        kind: strata_chain::NodeKind::Module,
    };
    let err = with_opts(&dir, &config, |watched, opts| {
        compose_step(&wrong, watched, &config, opts).unwrap_err()
    });
    assert_eq!(
        err.to_string(),
        format!("chain `{}` has no step 1 composing apache:2.4", chain.id)
    );
}
