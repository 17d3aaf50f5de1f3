//! The `strata-release` document: the module streams and artifacts that
//! ship together, the day they ship and the lifecycle the release
//! promises, and where each module's definition lives (the SCM locations
//! automation watches).
//!
//! It comes from SCM like a module definition, so it is read by the same
//! reader ([`crate::definition`]'s steps: bounded bytes, a YAML tree
//! without anchors, aliases or tags, the shape table [`SHAPE`], every
//! problem at once with its line and column).
//! `schema/strata-release.schema.json` describes the same shape; a test
//! compares them.
//!
//! What only the definitions and the registry know (whether a module
//! exists, what it requires, how long it is supported, whether a pinned
//! compose is finished) is checked by `strata release check`, not here.

use crate::artifact::module_stream_rule;
use crate::definition::{
    compose_id_rule, control, date_rule, lifecycle_problems, module_name_rule, opt, req, shown,
    typed_document, utf8_text, DefinitionError, Lifecycle, Seg, Shape, LIFECYCLE,
};
use crate::rules;
use serde::{Deserialize, Serialize};

/// The document type this module reads.
pub const RELEASE_DOCUMENT: &str = "strata-release";
/// The only version of it so far.
pub const RELEASE_DOCUMENT_VERSION: u32 = 1;

/// A validated release document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseDefinition {
    /// The release's short name (`f41`): the name part of its compose IDs.
    pub name: String,
    /// productmd's release version (`41`).
    pub version: String,
    /// The day it ships, `YYYY-MM-DD`.
    pub date: String,
    /// What the release promises: every module in it, and every module
    /// below those, must be supported at least this long.
    pub lifecycle: Lifecycle,
    /// The release it upgrades from: a release name or a compose ID.
    pub previous: Option<String>,
    /// How its release compose lays out the modules (`variants:`).
    pub variants: ReleaseVariants,
    /// The module streams, in the order written.
    pub modules: Vec<ReleaseModule>,
    pub artifacts: Vec<ReleaseArtifact>,
}

/// How a release compose lays out its modules, as Pungi composes do: one
/// modular variant, or a variant per module stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseVariants {
    /// `one` (the default): every module in one `Modular` variant.
    #[default]
    One,
    /// `per-module`: each module stream its own variant.
    PerModule,
}

/// One module stream of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseModule {
    pub name: String,
    pub stream: String,
    /// The module's default stream in this release.
    pub default: bool,
    /// Where its definition lives: a path (relative to the release file)
    /// or an SCM URL (`git+https://host/repo?path#ref`); `None`: the
    /// configuration's catalog names it.
    pub definition: Option<String>,
    /// The compose it ships, when frozen; else its last good compose.
    pub compose: Option<String>,
}

impl ReleaseModule {
    /// `name:stream`.
    pub fn nsv(&self) -> String {
        format!("{}:{}", self.name, self.stream)
    }
}

/// One artifact of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseArtifact {
    /// Its `strata-artifact` definition: a path (relative to the release
    /// file) or an SCM URL.
    pub definition: String,
    /// The artifact compose it ships, when frozen; else the last good one.
    pub compose: Option<String>,
}

impl ReleaseDefinition {
    /// Checks and parses a release read from a file (at most
    /// [`crate::MAX_DEFINITION_BYTES`], UTF-8). `file` names it in errors.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<ReleaseDefinition, DefinitionError> {
        ReleaseDefinition::parse(
            utf8_text(bytes, file, RELEASE_DOCUMENT, "a release document")?,
            file,
        )
    }

    /// Parses and validates a release document. `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<ReleaseDefinition, DefinitionError> {
        let (root, mut problems, d) =
            typed_document::<RawData>(text, file, RELEASE_DOCUMENT, &SHAPE)?;
        use Seg::{Index, Key};
        lifecycle_problems(
            &d.lifecycle,
            &root,
            &[Key("data"), Key("lifecycle")],
            &mut problems,
        );
        let dated = |v: &str| rules::is_calendar_date(v) && rules::is_calendar_date(&d.date);
        if dated(&d.lifecycle.eol) && d.lifecycle.eol < d.date {
            problems.across(
                &root,
                &[Key("data"), Key("lifecycle"), Key("eol")],
                format!(
                    "the release reaches its end of life ({}) before it ships ({})",
                    d.lifecycle.eol, d.date
                ),
            );
        }
        for (level, end) in &d.lifecycle.sla {
            if dated(end) && *end < d.date {
                problems.across(
                    &root,
                    &[Key("data"), Key("lifecycle"), Key("sla"), Key(level)],
                    format!("{level} ends {end}, before the release ships ({})", d.date),
                );
            }
        }
        let mut modules: Vec<ReleaseModule> = Vec::new();
        for (i, m) in d.modules.into_iter().enumerate() {
            let Some((name, stream)) = m.module.split_once(':') else {
                // The shape rule said why.
                continue;
            };
            if let Some(other) = modules.iter().find(|o| o.name == name) {
                problems.across(
                    &root,
                    &[Key("data"), Key("modules"), Index(i), Key("module")],
                    format!(
                        "the module `{}` is listed twice ({} and {}); a release ships one \
                         stream of each",
                        shown(name),
                        other.nsv(),
                        shown(&m.module)
                    ),
                );
            }
            if let Some(id) = &m.compose {
                let prefix = format!("{name}-{stream}-");
                if id.strip_prefix(&prefix).is_none_or(|r| r.is_empty()) {
                    problems.across(
                        &root,
                        &[Key("data"), Key("modules"), Index(i), Key("compose")],
                        format!(
                            "`{}` is not a compose ID of {name}:{stream} (`{prefix}<date>...`)",
                            shown(id)
                        ),
                    );
                }
            }
            modules.push(ReleaseModule {
                name: name.to_owned(),
                stream: stream.to_owned(),
                default: m.default.unwrap_or(false),
                definition: m.definition,
                compose: m.compose,
            });
        }
        for (i, a) in d.artifacts.iter().enumerate() {
            if d.artifacts[..i]
                .iter()
                .any(|o| o.definition == a.definition)
            {
                problems.across(
                    &root,
                    &[Key("data"), Key("artifacts"), Index(i), Key("definition")],
                    format!("the artifact `{}` is listed twice", shown(&a.definition)),
                );
            }
        }
        if !problems.is_empty() {
            return Err(DefinitionError::of(file, RELEASE_DOCUMENT, problems));
        }
        Ok(ReleaseDefinition {
            name: d.name,
            version: d.version,
            date: d.date,
            lifecycle: d.lifecycle,
            previous: d.previous,
            variants: match d.variants.as_deref() {
                Some("per-module") => ReleaseVariants::PerModule,
                _ => ReleaseVariants::One,
            },
            modules,
            artifacts: d
                .artifacts
                .into_iter()
                .map(|a| ReleaseArtifact {
                    definition: a.definition,
                    compose: a.compose,
                })
                .collect(),
        })
    }

    /// The release's module entry of `name`, if it ships one.
    pub fn module(&self, name: &str) -> Option<&ReleaseModule> {
        self.modules.iter().find(|m| m.name == name)
    }
}

// ---------------------------------------------------------------------------
// The document's shape.

/// The `strata-release` document.
pub static SHAPE: Shape = Shape::Record(&[
    req("document", &Shape::Text(document_rule)),
    req("version", &Shape::Version(RELEASE_DOCUMENT_VERSION)),
    req("data", &DATA),
]);

static DATA: Shape = Shape::Record(&[
    req("name", &Shape::Text(module_name_rule)),
    req("version", &Shape::Text(version_rule)),
    req("date", &Shape::Text(date_rule)),
    req("lifecycle", &LIFECYCLE),
    opt("previous", &Shape::Text(compose_id_rule)),
    opt("variants", &Shape::Text(variants_rule)),
    req(
        "modules",
        &Shape::List {
            item: &Shape::Record(&[
                req("module", &Shape::Text(module_stream_rule)),
                opt("default", &Shape::Flag),
                opt("definition", &Shape::Text(location_rule)),
                opt("compose", &Shape::Text(compose_id_rule)),
            ]),
            min: 1,
            few: "name at least one module stream the release ships",
        },
    ),
    opt(
        "artifacts",
        &Shape::List {
            item: &Shape::Record(&[
                req("definition", &Shape::Text(location_rule)),
                opt("compose", &Shape::Text(compose_id_rule)),
            ]),
            min: 0,
            few: "",
        },
    ),
]);

/// `variants:` takes one of two layouts.
fn variants_rule(v: &str) -> Option<String> {
    (!matches!(v, "one" | "per-module"))
        .then(|| format!("`{}` is not one of `one`, `per-module`", shown(v)))
}

fn document_rule(v: &str) -> Option<String> {
    (v != RELEASE_DOCUMENT).then(|| format!("expected `{RELEASE_DOCUMENT}`, found `{}`", shown(v)))
}

/// productmd's release version (`41`, `9.4`, `Rawhide`).
fn version_rule(v: &str) -> Option<String> {
    (!rules::is_release_version(v) || v.contains(char::is_whitespace)).then(|| {
        format!(
            "`{}` is not a release version productmd takes (digits and dots, e.g. `41`, \
             or a name not starting with a digit)",
            shown(v)
        )
    })
}

/// A path or SCM URL; which one, and whether it can be fetched, is the
/// check's step (it knows the release file's folder and the SCM cache).
fn location_rule(v: &str) -> Option<String> {
    if v.trim().is_empty() {
        return Some("must not be empty".into());
    }
    control(v, false)
}

// The raw `data` as serde sees it, once the shape check passed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    name: String,
    version: String,
    date: String,
    lifecycle: Lifecycle,
    #[serde(default)]
    previous: Option<String>,
    #[serde(default)]
    variants: Option<String>,
    modules: Vec<RawModule>,
    #[serde(default)]
    artifacts: Vec<RawArtifact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    module: String,
    #[serde(default)]
    default: Option<bool>,
    #[serde(default)]
    definition: Option<String>,
    #[serde(default)]
    compose: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArtifact {
    definition: String,
    #[serde(default)]
    compose: Option<String>,
}

#[cfg(test)]
mod test {
    use super::*;

    /// The design's example, as ARCHITECTURE.md writes it.
    const GOOD: &str = r#"document: strata-release
version: 1
data:
  name: f41
  version: "41"
  date: "2026-10-29"
  lifecycle: {eol: "2027-11-30", sla: {security_fixes: "2027-11-30", bug_fixes: "2027-06-30"}}
  previous: f40                # a release name or compose ID (upgrade check)
  modules:
    - {module: "php:8.2", default: true, definition: "git+https://src.example.org/modules.git?php.yaml#main"}
    - {module: "apache:2.4", definition: apache.yaml, compose: apache-2.4-20261020.n.3}   # pinned
  artifacts:
    - {definition: php-container.yaml}
"#;

    fn problems(text: &str) -> Vec<String> {
        let e = ReleaseDefinition::parse(text, "r.yaml").unwrap_err();
        assert_eq!(e.document, RELEASE_DOCUMENT);
        e.problems.iter().map(|p| p.display("r.yaml")).collect()
    }

    #[test]
    fn the_designs_example_reads() {
        let r = ReleaseDefinition::parse(GOOD, "r.yaml").unwrap();
        assert_eq!(
            (&*r.name, &*r.version, &*r.date),
            ("f41", "41", "2026-10-29")
        );
        assert_eq!(r.lifecycle.eol, "2027-11-30");
        assert_eq!(r.lifecycle.ends("bug_fixes"), "2027-06-30");
        assert_eq!(r.lifecycle.ends("enhancements"), "2027-11-30");
        assert_eq!(r.previous.as_deref(), Some("f40"));
        assert_eq!(r.modules.len(), 2);
        assert_eq!(r.modules[0].nsv(), "php:8.2");
        assert!(r.modules[0].default);
        assert_eq!(
            r.modules[0].definition.as_deref(),
            Some("git+https://src.example.org/modules.git?php.yaml#main")
        );
        assert!(!r.modules[1].default);
        assert_eq!(
            r.module("apache").unwrap().compose.as_deref(),
            Some("apache-2.4-20261020.n.3")
        );
        assert_eq!(r.artifacts[0].definition, "php-container.yaml");
        assert_eq!(r.artifacts[0].compose, None);
    }

    #[test]
    fn every_problem_at_once_with_where_it_is() {
        let text = r#"document: strata-release
version: 1
data:
  name: f41
  version: "4 1"
  date: "2026-02-30"
  lifecycle: {eol: "2027-11-30", sla: {security_fixes: "2027-11-31"}}
  modules:
    - {module: "php", default: "yes"}
    - {module: "apache:2.4", definition: "", compose: "apache 2.4"}
  artifacts:
    - {definition: x.yaml, compose: x}
"#;
        let p = problems(text);
        assert_eq!(
            p,
            [
                "r.yaml:5:12: data.version: `4 1` is not a release version productmd takes (digits and dots, e.g. `41`, or a name not starting with a digit)",
                "r.yaml:6:9: data.date: `2026-02-30` is not a date (YYYY-MM-DD)",
                "r.yaml:7:56: data.lifecycle.sla.security_fixes: `2027-11-31` is not a date (YYYY-MM-DD)",
                "r.yaml:9:16: data.modules[0].module: `php` is not `module:stream` (e.g. `php:8.2`)",
                "r.yaml:9:32: data.modules[0].default: expected `true` or `false`, found text `yes`",
                "r.yaml:10:42: data.modules[1].definition: must not be empty",
                "r.yaml:10:55: data.modules[1].compose: `apache 2.4` is not a compose ID (ASCII letters, digits and `-._+~`)",
            ],
            "{p:#?}"
        );
    }

    #[test]
    fn problems_across_fields() {
        let text = r#"document: strata-release
version: 1
data:
  name: f41
  version: "41"
  date: "2026-10-29"
  lifecycle: {eol: "2026-10-01", sla: {bug_fixes: "2026-12-01", security_fixes: "2026-09-30"}}
  modules:
    - {module: "php:8.2", compose: php-8.3-20261020.n.0}
    - {module: "apache:2.4"}
    - {module: "php:8.3", default: true}
  artifacts:
    - {definition: a.yaml}
    - {definition: a.yaml}
"#;
        let p = problems(text);
        assert_eq!(
            p,
            [
                "r.yaml:7:15: data.lifecycle.eol: the release reaches its end of life (2026-10-01) before it ships (2026-10-29)",
                "r.yaml:7:40: data.lifecycle.sla.bug_fixes: bug_fixes ends 2026-12-01, after the end of life 2026-10-01; a service level ends at the EOL at the latest",
                "r.yaml:7:65: data.lifecycle.sla.security_fixes: security_fixes ends 2026-09-30, before the release ships (2026-10-29)",
                "r.yaml:9:27: data.modules[0].compose: `php-8.3-20261020.n.0` is not a compose ID of php:8.2 (`php-8.2-<date>...`)",
                "r.yaml:11:8: data.modules[2].module: the module `php` is listed twice (php:8.2 and php:8.3); a release ships one stream of each",
                "r.yaml:14:8: data.artifacts[1].definition: the artifact `a.yaml` is listed twice",
            ],
            "{p:#?}"
        );
    }

    #[test]
    fn another_document_is_not_a_release() {
        let e = ReleaseDefinition::parse(
            "document: strata-artifact\nversion: 1\ndata: {name: x}\n",
            "r.yaml",
        )
        .unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.starts_with("r.yaml is not a valid strata-release document"),
            "{shown}"
        );
        assert!(shown.contains("expected `strata-release`"), "{shown}");
    }

    /// `schema/strata-release.schema.json` and [`SHAPE`] agree.
    #[test]
    fn the_json_schema_agrees_with_the_shape() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../schema/strata-release.schema.json"))
                .unwrap();
        crate::definition::test::compare(&SHAPE, &schema, &schema, "");
    }
}
