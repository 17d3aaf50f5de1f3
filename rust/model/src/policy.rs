//! The `strata-policy` document: when and how chained recomposes run.
//!
//! Release engineering keeps it in SCM beside the definitions, so it is as
//! hostile as they are and read by the same reader
//! ([`crate::definition`]'s steps: bounded bytes, a YAML tree without
//! anchors, aliases or tags, the shape table [`SHAPE`], every problem at
//! once with its line and column). `schema/strata-policy.schema.json`
//! describes the same shape; a test compares them.
//!
//! Rules are matched by `module:stream` glob, first match wins, so a
//! catch-all `"*:*"` goes last. A module no rule matches is left alone
//! ("policy: no rule matches"): a chain never recomposes what nobody said
//! it may.

use crate::definition::{
    control, module_name_rule, opt, req, shown, typed_document, utf8_text, DefinitionError, Field,
    Seg, Shape,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The document type this module reads.
pub const POLICY_DOCUMENT: &str = "strata-policy";
/// The only version of it so far.
pub const POLICY_DOCUMENT_VERSION: u32 = 1;
/// Steps of one chain run at once when the policy does not say.
pub const DEFAULT_PARALLEL: usize = 1;
/// The most steps a policy may run at once: each is a compose with its own
/// solver pool and repodata in memory.
pub const MAX_PARALLEL: usize = 64;
/// The longest debounce window: a burst of builds longer than a week is a
/// mass rebuild, which someone starts by hand.
pub const MAX_DEBOUNCE_SECS: u64 = 7 * 24 * 3600;
/// The placeholders a test command may use, filled in per compose.
pub const PLACEHOLDERS: &[&str] = &["repo", "compose_id", "compose_dir", "module", "stream"];

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Steps run at once (independent composes of one chain).
    pub parallel: usize,
    /// In order: the first whose pattern matches decides.
    pub rules: Vec<PolicyRule>,
}

/// One rule of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRule {
    /// The `module:stream` glob as written (`php:*`).
    #[serde(rename = "match")]
    pub pattern: String,
    pub trigger: Trigger,
    /// The events that start a recompose of a matching module; the others
    /// leave it alone ("policy: ignores … events").
    pub events: Vec<EventKind>,
    /// Events for one module closer together than this make one chain.
    pub debounce_secs: u64,
    pub on_failure: OnFailure,
    /// Tests every new compose of a matching module must pass to be good.
    pub tests: Vec<PolicyTest>,
    #[serde(skip)]
    name_glob: glob::Pattern,
    #[serde(skip)]
    stream_glob: glob::Pattern,
}

/// Whether a matching module is recomposed when an event makes it stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// At once.
    Auto,
    /// The chain waits at this step until someone approves it.
    Approve,
    /// Never by a chain: "policy: manual".
    Never,
}

/// What changed: the kinds of event a chain starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A new build (`--build NVR`, or a tag's latest builds: `--tag`).
    Build,
    /// A module compose below this one finished (`--compose ID`).
    Compose,
    /// The module's definition changed (new SCM revision or digest).
    Definition,
    /// A platform repository's metadata changed.
    Platform,
    /// A source repository's metadata changed (`source: repos`).
    Source,
}

/// What happens to the steps above a failed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// Dependents compose on the failed module's last good compose, and
    /// say so.
    UseLastGood,
    /// Dependents are not composed.
    StopDependents,
}

/// A test run on each new compose: a command (no shell) with placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyTest {
    pub name: String,
    pub run: Vec<String>,
}

/// The values of [`PLACEHOLDERS`] for one compose.
#[derive(Debug, Clone, Default)]
pub struct TestContext<'a> {
    pub repo: &'a str,
    pub compose_id: &'a str,
    pub compose_dir: &'a str,
    pub module: &'a str,
    pub stream: &'a str,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Build,
        EventKind::Compose,
        EventKind::Definition,
        EventKind::Platform,
        EventKind::Source,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Build => "build",
            EventKind::Compose => "compose",
            EventKind::Definition => "definition",
            EventKind::Platform => "platform",
            EventKind::Source => "source",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Auto => "auto",
            Trigger::Approve => "approve",
            Trigger::Never => "never",
        }
    }
}

impl OnFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::UseLastGood => "use-last-good",
            OnFailure::StopDependents => "stop-dependents",
        }
    }
}

impl Default for Policy {
    /// No policy file: nothing is recomposed by a chain unless a person
    /// names it, one step at a time.
    fn default() -> Policy {
        Policy {
            parallel: DEFAULT_PARALLEL,
            rules: Vec::new(),
        }
    }
}

impl PolicyRule {
    /// Whether this rule covers `module:stream`.
    pub fn matches(&self, module: &str, stream: &str) -> bool {
        self.name_glob.matches(module) && self.stream_glob.matches(stream)
    }

    /// Whether events of this kind start a recompose under this rule.
    pub fn counts(&self, event: EventKind) -> bool {
        self.events.contains(&event)
    }
}

impl PolicyTest {
    /// The command with its placeholders filled in: one argument each, never
    /// split or passed through a shell, so a path with spaces stays one.
    pub fn command(&self, cx: &TestContext) -> Vec<String> {
        self.run
            .iter()
            .map(|arg| {
                let mut out = arg.clone();
                for (name, value) in [
                    ("repo", cx.repo),
                    ("compose_id", cx.compose_id),
                    ("compose_dir", cx.compose_dir),
                    ("module", cx.module),
                    ("stream", cx.stream),
                ] {
                    out = out.replace(&format!("{{{name}}}"), value);
                }
                out
            })
            .collect()
    }
}

impl Policy {
    /// The rule that decides for `module:stream`: the first that matches.
    pub fn rule_for(&self, module: &str, stream: &str) -> Option<&PolicyRule> {
        self.rules.iter().find(|r| r.matches(module, stream))
    }

    /// Checks and parses a policy read from a file (at most
    /// [`crate::MAX_DEFINITION_BYTES`], UTF-8). `file` names it in errors.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Policy, DefinitionError> {
        Policy::parse(utf8_text(bytes, file, POLICY_DOCUMENT, "a policy")?, file)
    }

    /// Parses and validates a policy. `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Policy, DefinitionError> {
        let (root, mut problems, d) =
            typed_document::<RawData>(text, file, POLICY_DOCUMENT, &SHAPE)?;
        use Seg::{Index, Key};
        let parallel = d
            .parallel
            .as_deref()
            .map_or(DEFAULT_PARALLEL, |p| p.parse().unwrap_or(DEFAULT_PARALLEL));
        let mut rules = Vec::new();
        for (i, r) in d.rules.into_iter().enumerate() {
            let Some((name_glob, stream_glob)) = globs(&r.pattern) else {
                // The shape rule said why; nothing to build.
                continue;
            };
            let mut events: Vec<EventKind> = match &r.events {
                None => EventKind::ALL.to_vec(),
                Some(list) => list.iter().filter_map(|e| event_kind(e)).collect(),
            };
            events.sort();
            let before = events.len();
            events.dedup();
            if events.len() != before {
                problems.across(
                    &root,
                    &[Key("data"), Key("rules"), Index(i), Key("events")],
                    "an event is listed twice".into(),
                );
            }
            for (t, test) in r.tests.iter().enumerate() {
                if r.tests[..t].iter().any(|o| o.name == test.name) {
                    problems.across(
                        &root,
                        &[Key("data"), Key("rules"), Index(i), Key("tests"), Index(t)],
                        format!("a test named `{}` is listed twice", shown(&test.name)),
                    );
                }
            }
            rules.push(PolicyRule {
                pattern: r.pattern,
                trigger: match r.trigger.as_deref() {
                    Some("approve") => Trigger::Approve,
                    Some("never") => Trigger::Never,
                    _ => Trigger::Auto,
                },
                events,
                debounce_secs: r.debounce.as_deref().and_then(duration_secs).unwrap_or(0),
                on_failure: match r.on_failure.as_deref() {
                    Some("stop-dependents") => OnFailure::StopDependents,
                    _ => OnFailure::UseLastGood,
                },
                tests: r
                    .tests
                    .into_iter()
                    .map(|t| PolicyTest {
                        name: t.name,
                        run: t.run,
                    })
                    .collect(),
                name_glob,
                stream_glob,
            });
        }
        if !problems.is_empty() {
            return Err(DefinitionError::of(file, POLICY_DOCUMENT, problems));
        }
        Ok(Policy { parallel, rules })
    }
}

// ---------------------------------------------------------------------------
// The document's shape.

/// The `strata-policy` document.
pub static SHAPE: Shape = Shape::Record(&[
    req("document", &Shape::Text(document_rule)),
    req("version", &Shape::Version(POLICY_DOCUMENT_VERSION)),
    req("data", &DATA),
]);

static DATA: Shape = Shape::Record(&[
    opt("parallel", &Shape::Text(parallel_rule)),
    req(
        "rules",
        &Shape::List {
            item: &RULE,
            min: 0,
            few: "",
        },
    ),
]);

static RULE: Shape = Shape::Record(RULE_FIELDS);

const RULE_FIELDS: &[Field] = &[
    req("match", &Shape::Text(match_rule)),
    opt("trigger", &Shape::Text(trigger_rule)),
    opt(
        "events",
        &Shape::List {
            item: &Shape::Text(event_rule),
            min: 1,
            few: "name at least one event, or leave `events` out for all of them",
        },
    ),
    opt("debounce", &Shape::Text(debounce_rule)),
    opt("on_failure", &Shape::Text(on_failure_rule)),
    opt(
        "tests",
        &Shape::List {
            item: &Shape::Record(&[
                req("name", &Shape::Text(test_name_rule)),
                req(
                    "run",
                    &Shape::List {
                        item: &Shape::Text(argument_rule),
                        min: 1,
                        few: "name the command to run",
                    },
                ),
            ]),
            min: 0,
            few: "",
        },
    ),
];

fn document_rule(v: &str) -> Option<String> {
    (v != POLICY_DOCUMENT).then(|| format!("expected `{POLICY_DOCUMENT}`, found `{}`", shown(v)))
}

fn parallel_rule(v: &str) -> Option<String> {
    match v.parse::<usize>() {
        Ok(n) if (1..=MAX_PARALLEL).contains(&n) && v.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => Some(format!(
            "`{}` is not a number of steps from 1 to {MAX_PARALLEL}",
            shown(v)
        )),
    }
}

/// `NAME:STREAM`, each a glob (`*`, `?`, `[...]`).
fn globs(v: &str) -> Option<(glob::Pattern, glob::Pattern)> {
    let (name, stream) = v.split_once(':')?;
    if stream.contains(':') || name.is_empty() || stream.is_empty() {
        return None;
    }
    Some((
        glob::Pattern::new(name).ok()?,
        glob::Pattern::new(stream).ok()?,
    ))
}

fn match_rule(v: &str) -> Option<String> {
    let Some((name, stream)) = v.split_once(':') else {
        return Some(format!(
            "`{}` is not a `module:stream` pattern (e.g. `php:*`, `*:*`)",
            shown(v)
        ));
    };
    if name.is_empty() || stream.is_empty() || stream.contains(':') {
        return Some(format!(
            "`{}` is not a `module:stream` pattern (e.g. `php:*`, `*:*`)",
            shown(v)
        ));
    }
    for part in [name, stream] {
        if let Err(e) = glob::Pattern::new(part) {
            return Some(format!("`{}` is not a valid glob: {}", shown(part), e.msg));
        }
    }
    // Without wildcards the name must be one a module can have, so that a
    // typo is caught here rather than matching nothing forever.
    if !name.contains(['*', '?', '[']) {
        return module_name_rule(name);
    }
    control(v, false)
}

fn one_of(v: &str, allowed: &[&str]) -> Option<String> {
    (!allowed.contains(&v)).then(|| {
        let list: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
        format!("`{}` is not one of {}", shown(v), list.join(", "))
    })
}

fn trigger_rule(v: &str) -> Option<String> {
    one_of(v, &["auto", "approve", "never"])
}

fn event_kind(v: &str) -> Option<EventKind> {
    EventKind::ALL.into_iter().find(|e| e.as_str() == v)
}

fn event_rule(v: &str) -> Option<String> {
    let names: Vec<&str> = EventKind::ALL.iter().map(|e| e.as_str()).collect();
    one_of(v, &names)
}

fn on_failure_rule(v: &str) -> Option<String> {
    one_of(v, &["use-last-good", "stop-dependents"])
}

/// `0`, or a whole number with a unit: `30s`, `10m`, `2h`, `1d`.
fn duration_secs(v: &str) -> Option<u64> {
    if v == "0" {
        return Some(0);
    }
    let unit = match v.as_bytes().last()? {
        b's' => 1,
        b'm' => 60,
        b'h' => 3600,
        b'd' => 86400,
        _ => return None,
    };
    let digits = &v[..v.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

fn debounce_rule(v: &str) -> Option<String> {
    match duration_secs(v) {
        None => Some(format!(
            "`{}` is not a duration: a whole number with s, m, h or d (`10m`), or 0",
            shown(v)
        )),
        Some(s) if s > MAX_DEBOUNCE_SECS => Some(format!(
            "`{}` is longer than the longest debounce window, 7 days",
            shown(v)
        )),
        Some(_) => None,
    }
}

fn test_name_rule(v: &str) -> Option<String> {
    // A test's name is shown in chain reports and recorded in the
    // registry: one short printable word.
    if v.is_empty()
        || v.len() > 64
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Some(format!(
            "`{}` is not a test name: 1 to 64 letters, digits, `-`, `_` or `.`",
            shown(v)
        ));
    }
    None
}

/// An argument: printable, and every `{…}` one of [`PLACEHOLDERS`] (a typo
/// would otherwise reach the command as literal text).
fn argument_rule(v: &str) -> Option<String> {
    if let Some(m) = control(v, false) {
        return Some(m);
    }
    let mut rest = v;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Some(format!(
                "`{}` opens a placeholder with `{{` and does not close it",
                shown(v)
            ));
        };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            let list: Vec<String> = PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect();
            return Some(format!(
                "`{{{}}}` is not a placeholder; a test command may use {}",
                shown(name),
                list.join(", ")
            ));
        }
        rest = &after[close + 1..];
    }
    None
}

// The raw `data` as serde sees it, once the shape check passed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    #[serde(default)]
    parallel: Option<String>,
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    pattern: String,
    #[serde(default)]
    trigger: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    debounce: Option<String>,
    #[serde(default)]
    on_failure: Option<String>,
    #[serde(default)]
    tests: Vec<RawTest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    name: String,
    run: Vec<String>,
}

#[cfg(test)]
mod test {
    use super::*;

    const GOOD: &str = r#"document: strata-policy
version: 1
data:
  parallel: 4
  rules:
    - match: "php:*"
      trigger: approve
      events: [build, compose, definition, platform]
      debounce: 10m
      on_failure: stop-dependents
      tests:
        - {name: smoke, run: [dnf-stack-smoke, "{repo}", "--id={compose_id}"]}
    - match: "*:*"
"#;

    fn problems(text: &str) -> Vec<String> {
        let e = Policy::parse(text, "p.yaml").unwrap_err();
        assert_eq!(e.document, POLICY_DOCUMENT);
        e.problems.iter().map(|p| p.display("p.yaml")).collect()
    }

    #[test]
    fn a_good_policy_reads_with_its_defaults() {
        let p = Policy::parse(GOOD, "p.yaml").unwrap();
        assert_eq!(p.parallel, 4);
        let php = p.rule_for("php", "8.2").unwrap();
        assert_eq!(php.pattern, "php:*");
        assert_eq!(php.trigger, Trigger::Approve);
        assert_eq!(php.debounce_secs, 600);
        assert_eq!(php.on_failure, OnFailure::StopDependents);
        assert!(php.counts(EventKind::Build));
        assert!(!php.counts(EventKind::Source));
        let cx = TestContext {
            repo: "/c/my repo",
            compose_id: "php-8.2-20260101.n.0",
            ..TestContext::default()
        };
        assert_eq!(
            php.tests[0].command(&cx),
            ["dnf-stack-smoke", "/c/my repo", "--id=php-8.2-20260101.n.0"]
        );
        // First match wins; the catch-all takes the defaults.
        let other = p.rule_for("apache", "2.4").unwrap();
        assert_eq!(other.pattern, "*:*");
        assert_eq!(other.trigger, Trigger::Auto);
        assert_eq!(other.events, EventKind::ALL);
        assert_eq!(other.on_failure, OnFailure::UseLastGood);
        assert_eq!(other.debounce_secs, 0);
        assert!(other.tests.is_empty());
    }

    #[test]
    fn no_rule_matches_means_no_decision() {
        let p = Policy::parse(
            "document: strata-policy\nversion: 1\ndata:\n  rules:\n    - match: 'php:8.*'\n",
            "p.yaml",
        )
        .unwrap();
        assert_eq!(p.parallel, DEFAULT_PARALLEL);
        assert!(p.rule_for("php", "8.2").is_some());
        assert!(p.rule_for("php", "7.4").is_none());
        assert!(p.rule_for("apache", "8.2").is_none());
        assert!(Policy::default().rule_for("php", "8.2").is_none());
    }

    #[test]
    fn every_problem_at_once_with_where_it_is() {
        let text = r#"document: strata-policy
version: 1
data:
  parallel: 0
  rules:
    - match: "php"
      trigger: sometimes
      events: [build, tagged]
      debounce: 10 minutes
      on_failure: retry
      tests:
        - {name: "a b", run: [smoke, "{rep}"]}
    - match: "Bad Name:1"
      colour: red
"#;
        let p = problems(text);
        assert_eq!(
            p,
            [
                "p.yaml:4:13: data.parallel: `0` is not a number of steps from 1 to 64",
                "p.yaml:6:14: data.rules[0].match: `php` is not a `module:stream` pattern (e.g. `php:*`, `*:*`)",
                "p.yaml:7:16: data.rules[0].trigger: `sometimes` is not one of `auto`, `approve`, `never`",
                "p.yaml:8:23: data.rules[0].events[1]: `tagged` is not one of `build`, `compose`, `definition`, `platform`, `source`",
                "p.yaml:9:17: data.rules[0].debounce: `10 minutes` is not a duration: a whole number with s, m, h or d (`10m`), or 0",
                "p.yaml:10:19: data.rules[0].on_failure: `retry` is not one of `use-last-good`, `stop-dependents`",
                "p.yaml:12:18: data.rules[0].tests[0].name: `a b` is not a test name: 1 to 64 letters, digits, `-`, `_` or `.`",
                "p.yaml:12:38: data.rules[0].tests[0].run[1]: `{rep}` is not a placeholder; a test command may use {repo}, {compose_id}, {compose_dir}, {module}, {stream}",
                "p.yaml:13:14: data.rules[1].match: the module name `Bad Name` contains ' '; a compose ID allows only ASCII letters, digits and `-._+` in it",
                "p.yaml:14:7: data.rules[1]: unknown field `colour`, expected one of `match`, `trigger`, `events`, `debounce`, `on_failure`, `tests`",
            ],
            "{p:#?}"
        );
    }

    #[test]
    fn problems_across_fields() {
        let text = r#"document: strata-policy
version: 1
data:
  rules:
    - match: "php:*"
      events: [build, build]
      tests:
        - {name: smoke, run: [a]}
        - {name: smoke, run: [b]}
"#;
        let p = problems(text);
        assert_eq!(
            p,
            [
                "p.yaml:6:7: data.rules[0].events: an event is listed twice",
                "p.yaml:9:11: data.rules[0].tests[1]: a test named `smoke` is listed twice",
            ],
            "{p:#?}"
        );
    }

    #[test]
    fn a_module_definition_is_not_a_policy() {
        let e = Policy::parse(
            "document: strata-module\nversion: 2\ndata: {rules: []}\n",
            "p.yaml",
        )
        .unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.starts_with("p.yaml is not a valid strata-policy document (2 problems)"),
            "{shown}"
        );
        assert!(shown.contains("expected `strata-policy`"), "{shown}");
        assert!(
            shown.contains("this Strata reads version 1, found 2"),
            "{shown}"
        );
        let e = Policy::from_bytes(b"document: strata-policy\n\xE9", "p.yaml").unwrap_err();
        assert!(e.to_string().contains("a policy must be UTF-8 text"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_secs("0"), Some(0));
        assert_eq!(duration_secs("30s"), Some(30));
        assert_eq!(duration_secs("2h"), Some(7200));
        assert_eq!(duration_secs("1d"), Some(86400));
        for bad in ["", "m", "10", "-1m", "1.5h", "10M", "99999999999999999999d"] {
            assert_eq!(duration_secs(bad), None, "{bad}");
        }
        assert!(debounce_rule("8d").is_some());
        assert!(debounce_rule("7d").is_none());
    }

    /// `schema/strata-policy.schema.json` and [`SHAPE`] agree.
    #[test]
    fn the_json_schema_agrees_with_the_shape() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../schema/strata-policy.schema.json"))
                .unwrap();
        crate::definition::test::compare(&SHAPE, &schema, &schema, "");
    }
}
