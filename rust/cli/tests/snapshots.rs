//! What `strata` prints, held in snapshots (`tests/snapshots/*.snap`): the
//! real binary on the bundled example data (a copy of `examples/` in a temp
//! folder), with `SOURCE_DATE_EPOCH` fixed so compose IDs, versions and
//! start times repeat. What still differs from run to run is replaced by a
//! placeholder before comparing: the temp folder (`[TEMP]`), when a compose
//! ended (`[TIME]`), how long its stages took (`[DURATION]`), when a log
//! line was written (`[TIMESTAMP]`), and the process, host and boot that
//! ran a compose (`[PID]`, `[HOST]`, `[BOOT_ID]`, …).
//!
//! Each snapshot records the exit status, stdout and stderr, and its header
//! the command line. After a change of output that is meant, run
//! `cargo insta test -p strata-cli --review` (or
//! `INSTA_UPDATE=always cargo test -p strata-cli --test snapshots`) and
//! read the diff of the `.snap` files like any other change.

use std::path::{Path, PathBuf};
use std::process::Command;

use strata_registry::{ComposeType, NewCompose, Owner, Registry, SqliteRegistry};

/// 2025-11-24 16:00:00 UTC.
const EPOCH: &str = "1764000000";

/// The registry and configuration every registry command is given, so
/// nothing outside the temp folder (~/.local/share, /etc/strata) is read.
const REGISTRY: [&str; 4] = [
    "--config",
    "examples/strata.toml",
    "--registry",
    "registry.sqlite",
];

/// A temp folder holding a copy of `examples/`; commands run in it with
/// paths relative to it, so the command lines in the snapshots repeat.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().expect("create a temp folder");
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        copy_tree(&examples, &dir.path().join("examples"));
        Site { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// `strata ARGS` in the site, with an environment of its own: nothing
    /// of the caller's (RUST_LOG, STRATA_CONFIG, COLUMNS, GIT_DIR, HOME)
    /// gets in.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("LC_ALL", "C")
            .env("SOURCE_DATE_EPOCH", EPOCH);
        cmd
    }

    /// What a user sees of `strata ARGS`: exit status, stdout, stderr.
    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run the strata binary");
        let code = out
            .status
            .code()
            .unwrap_or_else(|| panic!("strata {args:?} ended by a signal: {:?}", out.status));
        format!(
            "success: {}\nexit_code: {code}\n----- stdout -----\n{}\n----- stderr -----\n{}\n",
            out.status.success(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        )
    }

    /// Composes `examples/modules/MODULE.yaml`.
    fn compose(&self, module: &str) -> String {
        self.run(&compose_args(&format!("examples/modules/{module}.yaml")))
    }

    /// Writes `examples/modules/NAME.yaml`.
    /// `[chain]` in the examples' strata.toml: apache and php watched,
    /// examples/policy.yaml their policy.
    fn watch_examples(&self) {
        let toml = self.path("examples/strata.toml");
        let text = std::fs::read_to_string(&toml).expect("read strata.toml");
        std::fs::write(
            &toml,
            text + "[chain]\ncatalog = [\"modules/apache.yaml\", \"modules/php.yaml\"]\n\
                    policy = \"policy.yaml\"\n",
        )
        .expect("write strata.toml");
    }

    /// apache.yaml with a changed manifest reason: a new definition digest.
    fn touch_apache(&self) {
        let path = self.path("examples/modules/apache.yaml");
        let text = std::fs::read_to_string(&path).expect("read apache.yaml");
        std::fs::write(&path, text.replace("TLS for the server", "TLS"))
            .expect("write apache.yaml");
    }

    fn write_definition(&self, name: &str, text: &str) {
        std::fs::write(self.path(&format!("examples/modules/{name}.yaml")), text)
            .expect("write a definition");
    }

    /// The filters that turn what varies between runs into placeholders.
    fn settings(&self) -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.set_prepend_module_to_snapshot(false);
        s.set_omit_expression(true);
        let temp = self.dir.path();
        let canonical = temp.canonicalize().expect("the temp folder exists");
        for p in [canonical.as_path(), temp] {
            s.add_filter(&regex::escape(&p.display().to_string()), "[TEMP]");
        }
        // When a compose ended is the clock's, not SOURCE_DATE_EPOCH's.
        s.add_filter(r#""finished_at": \d+"#, r#""finished_at": [TIME]"#);
        s.add_filter(r"Ended: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "Ended: [TIME]");
        s.add_filter(
            r"Finished: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
            "Finished: [TIME]",
        );
        s.add_filter(
            r"failed after \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
            "failed after [TIME]",
        );
        s.add_filter(
            r"ended       \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
            "ended       [TIME]",
        );
        s.add_filter(r#""(\w+_s)": [0-9.e+-]+"#, r#""$1": [DURATION]"#);
        // Log lines begin with the time they were written.
        s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIMESTAMP]");
        // The process that ran a compose.
        s.add_filter(r#""pid": \d+"#, r#""pid": [PID]"#);
        s.add_filter(r#""start_time": \d+"#, r#""start_time": [TICKS]"#);
        s.add_filter(r"process \d+ on", "process [PID] on");
        s.add_filter(r"started at tick \d+", "started at tick [TICKS]");
        s.add_filter(r#""host": "[^"]*""#, r#""host": "[HOST]""#);
        if let Some(here) = Owner::current() {
            let word = |text: &str| format!(r"\b{}\b", regex::escape(text));
            // Only where a host name stands: a short one (`out`, `cache`)
            // could be a word of the output too.
            let host = regex::escape(&here.host);
            s.add_filter(&format!(r" on {host}\b"), " on [HOST]");
            s.add_filter(&format!(r"\({host}\)"), "([HOST])");
            s.add_filter(
                &format!(r": {host} has restarted"),
                ": [HOST] has restarted",
            );
            s.add_filter(&word(&here.boot_id), "[BOOT_ID]");
            if let Some(ns) = here.pid_namespace {
                s.add_filter(&word(&ns.to_string()), "[PID_NAMESPACE]");
            }
        }
        s
    }
}

/// Copies a folder of plain files and folders.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a folder");
    for entry in std::fs::read_dir(from).expect("read a folder") {
        let entry = entry.expect("read a folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

/// `snapshot!(site, "name", &[args…])`: runs `strata args…` and compares
/// what it printed with `tests/snapshots/name.snap`.
macro_rules! snapshot {
    ($site:expr, $name:expr, $args:expr) => {{
        let args: &[&str] = $args;
        let output = $site.run(args);
        let mut settings = $site.settings();
        settings.set_description(format!("strata {}", args.join(" ")));
        settings.bind(|| insta::assert_snapshot!($name, output));
    }};
}

/// Asserts that a setup step (a compose the snapshot needs) did what it
/// should, showing its output when not.
fn expect_exit(output: &str, code: i32) {
    assert!(
        output.contains(&format!("\nexit_code: {code}\n")),
        "expected exit status {code}:\n{output}"
    );
}

fn with_registry<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().copied().chain(REGISTRY).collect()
}

/// `compose module DEFINITION` into the site's `out/`, `cache/` and registry.
fn compose_args(definition: &str) -> Vec<&str> {
    with_registry(&[
        "compose",
        "module",
        definition,
        "--out",
        "out",
        "--cache-dir",
        "cache",
    ])
}

#[test]
fn help() {
    let site = Site::new();
    snapshot!(site, "help", &["--help"]);
}

#[test]
fn serve_help() {
    let site = Site::new();
    snapshot!(site, "serve_help", &["serve", "--help"]);
}

#[test]
fn repoclosure() {
    let site = Site::new();
    let repos = [
        "--repo",
        "base=examples/repos/base",
        "--repo",
        "apache=examples/repos/apache",
    ];
    let closed: Vec<&str> = ["repoclosure", "--no-cache"]
        .into_iter()
        .chain(repos)
        .chain([
            "--repo",
            "f40=examples/repos/f40-build",
            "--check",
            "apache",
        ])
        .collect();
    snapshot!(site, "repoclosure_ok", &closed);
    let json: Vec<&str> = closed.iter().copied().chain(["--json"]).collect();
    snapshot!(site, "repoclosure_ok_json", &json);

    let gap: Vec<&str> = ["repoclosure", "--no-cache"]
        .into_iter()
        .chain(repos)
        .chain(["--check", "apache"])
        .chain(["--suggest-from", "f40=examples/repos/f40-build"])
        .collect();
    snapshot!(site, "repoclosure_suggest_from", &gap);
    let json: Vec<&str> = gap.iter().copied().chain(["--json"]).collect();
    snapshot!(site, "repoclosure_suggest_from_json", &json);
}

#[test]
fn compose_module() {
    let site = Site::new();
    let apache = compose_args("examples/modules/apache.yaml");
    snapshot!(site, "compose_module", &apache);
    let json: Vec<&str> = apache.iter().copied().chain(["--json"]).collect();
    snapshot!(site, "compose_module_json", &json);
    // A stack: php over apache's last good compose.
    snapshot!(
        site,
        "compose_module_stack",
        &compose_args("examples/modules/php.yaml")
    );
}

#[test]
fn release_check() {
    let site = Site::new();
    let check = with_registry(&[
        "release",
        "check",
        "examples/release.yaml",
        "--arch",
        "x86_64",
        "--cache-dir",
        "cache",
    ]);
    // php not composed yet: named, and the closure waits for it.
    site.compose("apache");
    snapshot!(site, "release_check_no_compose", &check);
    site.compose("php");
    snapshot!(site, "release_check_ok", &check);
    let json: Vec<&str> = check.iter().copied().chain(["--json"]).collect();
    snapshot!(site, "release_check_ok_json", &json);
    // The upgrade from a previous release (here the same one: nothing
    // changes), and one named by name, which cannot be looked up yet.
    let from: Vec<&str> = check
        .iter()
        .copied()
        .chain(["--from", "examples/release.yaml"])
        .collect();
    snapshot!(site, "release_check_from", &from);
    let by_name: Vec<&str> = check.iter().copied().chain(["--from", "f40"]).collect();
    snapshot!(site, "release_check_from_name", &by_name);
    // A release promising more than php gives, and apache listed without
    // php's stream of it.
    let path = site.path("examples/release.yaml");
    let text = std::fs::read_to_string(&path).expect("read release.yaml");
    std::fs::write(
        &path,
        text.replace(
            "eol: \"2026-12-31\", sla: {security_fixes: \"2026-12-31\"",
            "eol: \"2027-06-30\", sla: {security_fixes: \"2027-06-30\"",
        )
        .replace("apache:2.4\", default", "apache:2.6\", default"),
    )
    .expect("write release.yaml");
    snapshot!(site, "release_check_problems", &check);
}

#[test]
fn release_compose() {
    let site = Site::new();
    let compose = with_registry(&[
        "release",
        "compose",
        "examples/release.yaml",
        "--arch",
        "x86_64",
        "--cache-dir",
        "cache",
        "--out",
        "releases",
    ]);
    // php not composed yet: the check's problem, and nothing composed.
    expect_exit(&site.compose("apache"), 0);
    snapshot!(site, "release_compose_refused", &compose);
    expect_exit(&site.compose("php"), 0);
    snapshot!(site, "release_compose", &compose);
    expect_exit(&site.run(&compose), 0);
    snapshot!(site, "releases_list", &with_registry(&["releases", "list"]));
    snapshot!(
        site,
        "releases_show_json",
        &with_registry(&["releases", "show", "example-1-20251124.n.0", "--json"])
    );
    // The same composes twice: nothing changed.
    snapshot!(
        site,
        "release_diff_unchanged",
        &with_registry(&[
            "release",
            "diff",
            "example-1-20251124.n.0",
            "example-1-20251124.n.1"
        ])
    );
}

#[test]
fn compose_module_if_changed() {
    let site = Site::new();
    let mut apache = compose_args("examples/modules/apache.yaml");
    apache.push("--if-changed");
    // No good compose yet: it composes; then nothing changed: reused.
    snapshot!(site, "compose_module_if_changed_first", &apache);
    snapshot!(site, "compose_module_if_changed_reused", &apache);
    // A changed definition (its digest) composes again.
    let path = site.path("examples/modules/apache.yaml");
    let text = std::fs::read_to_string(&path).expect("read apache.yaml");
    std::fs::write(&path, text + "# a comment changes the digest\n").expect("write apache.yaml");
    snapshot!(site, "compose_module_if_changed_definition", &apache);
}

#[test]
fn compose_module_gate_failure() {
    let site = Site::new();
    let mut args = compose_args("examples/modules/apache-lua.yaml");
    snapshot!(site, "compose_module_gate_failure", &args);
    args.push("--json");
    snapshot!(site, "compose_module_gate_failure_json", &args);
}

/// A definition with several problems: every one is named, at its line.
const BAD_DEFINITION: &str = "\
document: strata-module
version: 1
data:
  name: Apache!
  stream: \"2..4\"
  summary: Apache HTTP Server
  description: The Apache web server.
  license: [MIT]
  arches: [x86_64, noarch]
  source:
    repos: [../repos/apache]
  requires: {platform: f40}
  packages:
    httpd: {reason: the server}
  profiles: {default: [httpd, mod_ssl]}
  colour: red
";

#[test]
fn compose_module_definition_error() {
    let site = Site::new();
    site.write_definition("bad", BAD_DEFINITION);
    site.write_definition("bad-artifact", BAD_ARTIFACT);
    snapshot!(
        site,
        "compose_module_definition_error",
        &compose_args("examples/modules/bad.yaml")
    );
}

#[test]
fn validate() {
    let site = Site::new();
    snapshot!(
        site,
        "validate",
        &[
            "validate",
            "examples/modules/apache.yaml",
            "examples/modules/apache-lua.yaml",
            "examples/modules/php.yaml",
            "examples/artifacts/php-container.yaml",
            "examples/artifacts/php-ostree.yaml",
            "examples/artifacts/php-iso.yaml",
        ]
    );
    site.write_definition("bad", BAD_DEFINITION);
    site.write_definition("bad-artifact", BAD_ARTIFACT);
    snapshot!(
        site,
        "validate_bad",
        &[
            "validate",
            "examples/modules/apache.yaml",
            "examples/modules/bad.yaml",
            "examples/modules/bad-artifact.yaml",
        ]
    );
}

#[test]
fn impact() {
    let site = Site::new();
    site.watch_examples();
    // A build both modules read (the platform's).
    let build = with_registry(&[
        "impact",
        "--build",
        "strata-example-base-1-1",
        "--cache-dir",
        "cache",
    ]);
    // php never composed: it is stale (and waits for approval).
    site.run(&compose_args("examples/modules/apache.yaml"));
    snapshot!(site, "impact_never_composed", &build);
    site.run(&compose_args("examples/modules/php.yaml"));
    snapshot!(site, "impact_up_to_date", &build);
    // A build no repository has yet: not known to be up to date.
    snapshot!(
        site,
        "impact_not_in_repository",
        &with_registry(&[
            "impact",
            "--build",
            "httpd-2.4.58-1.fc40",
            "--cache-dir",
            "cache",
        ])
    );
    site.touch_apache();
    let definition = with_registry(&[
        "impact",
        "--definition",
        "examples/modules/apache.yaml",
        "--cache-dir",
        "cache",
    ]);
    snapshot!(site, "impact_definition", &definition);
    let json: Vec<&str> = definition.iter().copied().chain(["--json"]).collect();
    snapshot!(site, "impact_definition_json", &json);
    snapshot!(
        site,
        "impact_unknown_compose",
        &with_registry(&["impact", "--compose", "apache-2.4-20250101.n.0"])
    );
}

#[test]
fn pictures() {
    let site = Site::new();
    site.watch_examples();
    site.run(&compose_args("examples/modules/apache.yaml"));
    site.run(&compose_args("examples/modules/php.yaml"));
    site.touch_apache();
    let impact = with_registry(&[
        "impact",
        "--definition",
        "examples/modules/apache.yaml",
        "--cache-dir",
        "cache",
        "--format",
        "dot",
    ]);
    snapshot!(site, "impact_dot", &impact);
    snapshot!(
        site,
        "tree_dot",
        &with_registry(&["tree", "php:8.2", "--format", "dot"])
    );
    // SVG through Graphviz's dot (.ci/setup installs it).
    let mut svg: Vec<&str> = impact.clone();
    *svg.iter_mut().find(|a| **a == "dot").expect("a format") = "svg";
    let out = site.command(&svg).output().expect("run strata");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("<svg") && text.contains("php:8.2"), "{text}");
    // Without Graphviz: an error naming the package, nothing on stdout.
    let empty = site.path("no-programs");
    std::fs::create_dir_all(&empty).expect("create a folder");
    let out = site
        .command(&svg)
        .env("PATH", &empty)
        .output()
        .expect("run strata");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().next(),
        Some(
            "error: cannot draw the picture: Graphviz's `dot` is not installed (install the \
             package `graphviz`: `apt install graphviz` on Debian, `dnf install graphviz` on \
             Fedora)"
        )
    );
}

#[test]
fn chain() {
    let site = Site::new();
    site.watch_examples();
    site.run(&compose_args("examples/modules/apache.yaml"));
    site.run(&compose_args("examples/modules/php.yaml"));
    site.touch_apache();
    let compose = ["--out", "out", "--cache-dir", "cache"];
    let run: Vec<&str> = [
        "chain",
        "run",
        "--definition",
        "examples/modules/apache.yaml",
    ]
    .into_iter()
    .chain(compose)
    .collect();
    // apache is recomposed; php (policy: approve) waits.
    snapshot!(site, "chain_run_waits", &with_registry(&run));
    snapshot!(site, "chain_list", &with_registry(&["chain", "list"]));
    snapshot!(
        site,
        "chain_approve",
        &with_registry(&[
            "chain",
            "approve",
            "chain-20251124.0",
            "php:8.2",
            "--by",
            "alice"
        ])
    );
    let resume: Vec<&str> = ["chain", "resume", "chain-20251124.0"]
        .into_iter()
        .chain(compose)
        .collect();
    snapshot!(site, "chain_resume", &with_registry(&resume));
    snapshot!(
        site,
        "chain_show",
        &with_registry(&["chain", "show", "chain-20251124.0"])
    );
    // Everything is up to date now: a second run recomposes nothing.
    snapshot!(site, "chain_run_nothing", &with_registry(&run));
}

/// A policy with a problem of each kind: a bad glob, an unknown trigger,
/// an unknown placeholder in a test command.
const BAD_POLICY: &str = "\
document: strata-policy
version: 1
data:
  rules:
    - match: \"php\"
      trigger: sometimes
      tests:
        - {name: smoke, run: [dnf-stack-smoke, \"{repository}\"]}
";

#[test]
fn validate_policy() {
    let site = Site::new();
    std::fs::write(site.path("examples/bad-policy.yaml"), BAD_POLICY).expect("write a policy");
    snapshot!(
        site,
        "validate_policy",
        &[
            "validate",
            "examples/policy.yaml",
            "examples/modules/php.yaml",
            "examples/bad-policy.yaml",
        ]
    );
}

/// An artifact definition with a problem in each section.
const BAD_ARTIFACT: &str = "\
document: strata-artifact
version: 1
data:
  name: php-container
  kind: vm
  summary: PHP
  contents:
    - {module: php}
  container: {env: {1PATH: /bin}}
  iso: {volume_id: A-VOLUME-ID-THAT-IS-FAR-TOO-LONG-X}
";

/// Like examples/modules/apache.yaml, under a name and stream longer than
/// the list's NVSC header.
const LONG_NAME: &str = "\
document: strata-module
version: 1
data:
  name: apache-httpd-experimental
  stream: rawhide_testing
  summary: Apache HTTP Server, a long-named stream
  description: The Apache web server and its TLS module.
  license: [MIT]
  arches: [x86_64]
  source:
    repos: [../repos/apache, ../repos/f40-build]
  requires: {platform: f40}
  packages:
    httpd: {reason: the server}
    httpd-core: {reason: required by httpd}
    httpd-tools: {reason: required by httpd}
    mod_ssl: {reason: TLS for the server}
";

/// The registry as `scripts/demo` leaves it, plus a failed compose and a
/// long-named one, read by every command that reads the registry.
#[test]
fn registry_views() {
    let site = Site::new();
    site.write_definition("apache-long", LONG_NAME);
    for (module, code) in [
        ("apache", 0),
        ("php", 0),
        ("apache-lua", 1),
        ("apache-long", 0),
    ] {
        expect_exit(&site.compose(module), code);
    }
    let views: [(&str, &[&str]); 10] = [
        ("composes_list", &["composes", "list"]),
        ("composes_list_json", &["composes", "list", "--json"]),
        (
            "composes_list_failed",
            &["composes", "list", "apache-lua", "--state", "failed"],
        ),
        (
            "composes_show",
            &["composes", "show", "php-8.2-20251124.n.0"],
        ),
        (
            "composes_show_failed",
            &["composes", "show", "apache-lua-2.4-20251124.n.0"],
        ),
        ("latest", &["latest", "php:8.2"]),
        ("latest_json", &["latest", "apache:2.4", "--json"]),
        ("latest_none", &["latest", "apache-lua:2.4"]),
        ("tree", &["tree", "php:8.2"]),
        ("tree_json", &["tree", "php:8.2", "--json"]),
    ];
    for (name, args) in views {
        snapshot!(site, name, &with_registry(args));
    }
}

#[test]
fn composes_prune_dry_run() {
    let site = Site::new();
    // Five composes of apache (the three newest are kept, and the one php
    // was built on), php on top of the second, and a failed one.
    for module in ["apache", "apache", "php", "apache", "apache", "apache"] {
        expect_exit(&site.compose(module), 0);
    }
    expect_exit(&site.compose("apache-lua"), 1);
    snapshot!(
        site,
        "composes_prune_dry_run",
        &with_registry(&["composes", "prune", "--dry-run"])
    );
}

#[test]
fn cache_prune_dry_run() {
    let site = Site::new();
    expect_exit(&site.compose("apache"), 0);
    // No --max-size: equally old entries may go in either order.
    snapshot!(
        site,
        "cache_prune_dry_run",
        &["cache", "prune", "--dry-run", "--cache-dir", "cache"]
    );
}

/// Records a compose as started by `owner`, as a compose that was killed
/// leaves it.
fn begin(site: &Site, name: &str, owner: Owner) -> String {
    let mut registry = SqliteRegistry::open(&site.path("registry.sqlite")).expect("open");
    let record = registry
        .begin(&NewCompose {
            scratch: None,
            name: name.to_owned(),
            stream: "2.4".to_owned(),
            compose_type: ComposeType::Nightly,
            started_at: EPOCH.parse().expect("a number"),
            definition_path: PathBuf::from(format!("examples/modules/{name}.yaml")),
            definition_digest: "0".repeat(64),
            scm_ref: None,
            arches: vec!["x86_64".to_owned()],
            version: 20251124160000,
            context: "2470f843".to_owned(),
            inputs: Vec::new(),
            owner: Some(owner),
            chain: None,
            required_tests: Vec::new(),
            artifact: None,
        })
        .expect("begin a compose");
    record.id
}

#[test]
fn composes_abandon_dead() {
    let site = Site::new();
    expect_exit(&site.compose("apache"), 0);
    let here = Owner::current().expect("this host has /proc");
    // Its process ran on this host before it last restarted: gone.
    let before_reboot = Owner {
        pid: 4242,
        start_time: 1,
        boot_id: "00000000-0000-4000-8000-000000000000".to_owned(),
        ..here.clone()
    };
    let gone = begin(&site, "apache", before_reboot);
    // Another host's: only that host can tell.
    let elsewhere = Owner {
        host: "builder-07.example.org".to_owned(),
        pid: 4343,
        ..here
    };
    let unknown = begin(&site, "mod-perl", elsewhere);
    snapshot!(
        site,
        "composes_show_started",
        &with_registry(&["composes", "show", &gone])
    );
    snapshot!(
        site,
        "composes_abandon_dead",
        &with_registry(&["composes", "abandon", "--dead"])
    );
    snapshot!(
        site,
        "composes_abandon_refused",
        &with_registry(&["composes", "abandon", &unknown])
    );
    snapshot!(
        site,
        "composes_list_after_abandon",
        &with_registry(&["composes", "list"])
    );
}
