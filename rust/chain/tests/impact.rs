//! Impact on the bundled example data (real RPMs and createrepo_c
//! repositories, `examples/`): apache and php composed into a registry of
//! their own, then the events and the plans they give.

use std::path::{Path, PathBuf};
use strata_chain::{impact, load_watched, scm_cache, Event, ImpactOptions, LeftAlone, Why};
use strata_compose::{compose_module, ComposeRequest, Config, Interrupt, Quiet};
use strata_registry::{ComposeType, SqliteRegistry};

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
    let build = [Event::Build {
        nvr: "httpd-2.4.58-1.fc40".into(),
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
