//! The `strata-artifact` document: one container image, ostree commit or
//! install ISO, composed from the last good (or pinned) composes of the
//! stacks it names.
//!
//! It comes from SCM like a module definition, so it is read by the same
//! reader ([`crate::definition`]'s steps: bounded bytes, a YAML tree
//! without anchors, aliases or tags, the shape table [`SHAPE`], every
//! problem at once with its line and column).
//! `schema/strata-artifact.schema.json` describes the same shape; a test
//! compares them.
//!
//! The settings of every kind may be present (one file can keep them all,
//! as the design's example does); only those of `kind` are used. An ostree
//! artifact needs its `ostree.ref`: there is no sensible default branch.

use crate::definition::{
    arch_rule, control, module_name_rule, opt, profile_rule, req, rpm_name_rule, shown,
    stream_rule, text_rule, typed_document, utf8_text, DefinitionError, Seg, Shape, COMPOSE_PINS,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The document type this module reads.
pub const ARTIFACT_DOCUMENT: &str = "strata-artifact";
/// The only version of it so far.
pub const ARTIFACT_DOCUMENT_VERSION: u32 = 1;
/// The longest ISO 9660 volume ID (the primary volume descriptor's field).
pub const MAX_VOLUME_ID_LEN: usize = 32;

/// What an artifact compose produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    /// An OCI image layout (index, manifest, config, one layer).
    Container,
    /// A commit in an archive-mode ostree repository.
    Ostree,
    /// An ISO 9660 image holding the whole-stack repository.
    Iso,
}

impl ArtifactKind {
    pub const ALL: [ArtifactKind; 3] = [
        ArtifactKind::Container,
        ArtifactKind::Ostree,
        ArtifactKind::Iso,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Container => "container",
            ArtifactKind::Ostree => "ostree",
            ArtifactKind::Iso => "iso",
        }
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An artifact kind's name was not one of [`ArtifactKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an artifact kind (container, ostree, iso)")]
pub struct UnknownArtifactKind(pub String);

impl FromStr for ArtifactKind {
    type Err = UnknownArtifactKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ArtifactKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownArtifactKind(s.to_owned()))
    }
}

/// A validated artifact definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactDefinition {
    /// The artifact's name: the name part of its compose IDs.
    pub name: String,
    pub kind: ArtifactKind,
    pub summary: String,
    /// Arches it may be built for; one compose builds one arch.
    pub arches: Vec<String>,
    /// The stacks installed, in the order written.
    pub contents: Vec<ArtifactContent>,
    /// Extra packages, installed from the same stacks and the platform.
    pub packages: Vec<String>,
    /// Modules whose compose is pinned: name → compose ID, used instead of
    /// the stream's last good compose (anywhere in the stacks).
    pub compose_pins: BTreeMap<String, String>,
    pub container: ContainerSettings,
    pub ostree: Option<OstreeSettings>,
    pub iso: IsoSettings,
}

/// One stack to install: `module: "name:stream"` and its profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactContent {
    pub module: String,
    pub stream: String,
    /// `None`: the stream's `default` profile, as dnf's `module install`
    /// takes it.
    pub profile: Option<String>,
}

impl ArtifactContent {
    /// The spec dnf's `module install` takes: `name:stream[/profile]`.
    pub fn dnf_spec(&self) -> String {
        match &self.profile {
            Some(p) => format!("{}:{}/{p}", self.module, self.stream),
            None => format!("{}:{}", self.module, self.stream),
        }
    }
}

/// The image config of a container artifact (OCI image config `config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContainerSettings {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub user: Option<String>,
}

/// Where an ostree artifact is committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OstreeSettings {
    #[serde(rename = "ref")]
    pub ref_: String,
    pub subject: Option<String>,
}

/// The ISO's volume ID; `None`: derived from the name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IsoSettings {
    pub volume_id: Option<String>,
}

impl ArtifactDefinition {
    /// Checks and parses a definition read from a file (at most
    /// [`crate::MAX_DEFINITION_BYTES`], UTF-8). `file` names it in errors.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<ArtifactDefinition, DefinitionError> {
        ArtifactDefinition::parse(
            utf8_text(bytes, file, ARTIFACT_DOCUMENT, "an artifact definition")?,
            file,
        )
    }

    /// Parses and validates an artifact definition. `file` names it in
    /// errors.
    pub fn parse(text: &str, file: &str) -> Result<ArtifactDefinition, DefinitionError> {
        let (root, mut problems, d) =
            typed_document::<RawData>(text, file, ARTIFACT_DOCUMENT, &SHAPE)?;
        use Seg::{Index, Key};
        let kind = d.kind.parse().unwrap_or(ArtifactKind::Container);
        let mut contents: Vec<ArtifactContent> = Vec::new();
        for (i, c) in d.contents.into_iter().enumerate() {
            let Some((module, stream)) = c.module.split_once(':') else {
                // The shape rule said why.
                continue;
            };
            if contents.iter().any(|o| o.module == module) {
                problems.across(
                    &root,
                    &[Key("data"), Key("contents"), Index(i), Key("module")],
                    format!(
                        "the module `{}` is listed twice; an artifact installs one stream of each",
                        shown(module)
                    ),
                );
            }
            contents.push(ArtifactContent {
                module: module.to_owned(),
                stream: stream.to_owned(),
                profile: c.profile,
            });
        }
        for (i, p) in d.packages.iter().enumerate() {
            if d.packages[..i].contains(p) {
                problems.across(
                    &root,
                    &[Key("data"), Key("packages"), Index(i)],
                    format!("the package `{}` is listed twice", shown(p)),
                );
            }
        }
        if kind == ArtifactKind::Ostree && d.ostree.is_none() {
            problems.across(
                &root,
                &[Key("data"), Key("kind")],
                "an ostree artifact needs `ostree: {ref: …}`: the branch to commit to".into(),
            );
        }
        if !problems.is_empty() {
            return Err(DefinitionError::of(file, ARTIFACT_DOCUMENT, problems));
        }
        let c = d.container.unwrap_or_default();
        Ok(ArtifactDefinition {
            name: d.name,
            kind,
            summary: d.summary,
            arches: d.arches,
            contents,
            packages: d.packages,
            compose_pins: d.compose_pins,
            container: ContainerSettings {
                entrypoint: c.entrypoint,
                cmd: c.cmd,
                env: c.env,
                labels: c.labels,
                user: c.user,
            },
            ostree: d.ostree.map(|o| OstreeSettings {
                ref_: o.ref_,
                subject: o.subject,
            }),
            iso: IsoSettings {
                volume_id: d.iso.and_then(|i| i.volume_id),
            },
        })
    }

    /// The ISO volume ID: the one given, else the name cut to
    /// [`MAX_VOLUME_ID_LEN`].
    pub fn volume_id(&self) -> String {
        self.iso
            .volume_id
            .clone()
            .unwrap_or_else(|| self.name.chars().take(MAX_VOLUME_ID_LEN).collect())
    }
}

// ---------------------------------------------------------------------------
// The document's shape.

/// The `strata-artifact` document.
pub static SHAPE: Shape = Shape::Record(&[
    req("document", &Shape::Text(document_rule)),
    req("version", &Shape::Version(ARTIFACT_DOCUMENT_VERSION)),
    req("data", &DATA),
]);

static TEXT_LIST: Shape = Shape::List {
    item: &Shape::Text(argument_rule),
    min: 0,
    few: "",
};

static DATA: Shape = Shape::Record(&[
    req("name", &Shape::Text(module_name_rule)),
    req("kind", &Shape::Text(kind_rule)),
    req("summary", &Shape::Text(text_rule)),
    opt(
        "arches",
        &Shape::List {
            item: &Shape::Text(arch_rule),
            min: 1,
            few: "name at least one arch, or leave `arches` out for the host's",
        },
    ),
    req(
        "contents",
        &Shape::List {
            item: &Shape::Record(&[
                req("module", &Shape::Text(module_stream_rule)),
                opt("profile", &Shape::Text(profile_rule)),
            ]),
            min: 1,
            few: "name at least one module stream to install",
        },
    ),
    opt(
        "packages",
        &Shape::List {
            item: &Shape::Text(rpm_name_rule),
            min: 0,
            few: "",
        },
    ),
    opt("compose_pins", &COMPOSE_PINS),
    opt(
        "container",
        &Shape::Record(&[
            opt("entrypoint", &TEXT_LIST),
            opt("cmd", &TEXT_LIST),
            opt(
                "env",
                &Shape::Map {
                    key: env_name_rule,
                    value: &Shape::Text(argument_rule),
                    min: 0,
                    few: "",
                },
            ),
            opt(
                "labels",
                &Shape::Map {
                    key: label_rule,
                    value: &Shape::Text(argument_rule),
                    min: 0,
                    few: "",
                },
            ),
            opt("user", &Shape::Text(user_rule)),
        ]),
    ),
    opt(
        "ostree",
        &Shape::Record(&[
            req("ref", &Shape::Text(ostree_ref_rule)),
            opt("subject", &Shape::Text(text_rule)),
        ]),
    ),
    opt(
        "iso",
        &Shape::Record(&[opt("volume_id", &Shape::Text(volume_id_rule))]),
    ),
]);

fn document_rule(v: &str) -> Option<String> {
    (v != ARTIFACT_DOCUMENT)
        .then(|| format!("expected `{ARTIFACT_DOCUMENT}`, found `{}`", shown(v)))
}

fn kind_rule(v: &str) -> Option<String> {
    v.parse::<ArtifactKind>()
        .err()
        .map(|_| format!("`{}` is not one of `container`, `ostree`, `iso`", shown(v)))
}

/// `name:stream`, each as a module definition has it.
pub(crate) fn module_stream_rule(v: &str) -> Option<String> {
    let Some((name, stream)) = v.split_once(':') else {
        return Some(format!(
            "`{}` is not `module:stream` (e.g. `php:8.2`)",
            shown(v)
        ));
    };
    module_name_rule(name).or_else(|| stream_rule(stream))
}

/// One printable argument (entrypoint, cmd, env and label values).
fn argument_rule(v: &str) -> Option<String> {
    control(v, false)
}

/// A POSIX environment variable name.
fn env_name_rule(v: &str) -> Option<String> {
    let ok = v.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (!ok).then(|| {
        format!(
            "`{}` is not an environment variable name (ASCII letters, digits and `_`, \
             not starting with a digit)",
            shown(v)
        )
    })
}

/// OCI annotation-style keys: printable, no spaces.
fn label_rule(v: &str) -> Option<String> {
    let ok = !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic() && b != b'=');
    (!ok).then(|| {
        format!(
            "`{}` is not a label name (printable ASCII without spaces or `=`)",
            shown(v)
        )
    })
}

/// `user`, `uid`, `user:group` or `uid:gid`, as the OCI config's `User`.
fn user_rule(v: &str) -> Option<String> {
    let ok = !v.is_empty()
        && v.split(':').count() <= 2
        && v.split(':').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        });
    (!ok).then(|| {
        format!(
            "`{}` is not a user: a name or uid, optionally `:group` or `:gid`",
            shown(v)
        )
    })
}

/// ostree's ref syntax: `/`-separated parts of `[A-Za-z0-9._-]`, none
/// empty.
fn ostree_ref_rule(v: &str) -> Option<String> {
    let ok = v.len() <= 255
        && v.split('/').all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        });
    (!ok).then(|| {
        format!(
            "`{}` is not an ostree ref: `/`-separated parts of ASCII letters, digits \
             and `-._`, none empty or starting with `.` (e.g. `strata/x86_64/php`)",
            shown(v)
        )
    })
}

fn volume_id_rule(v: &str) -> Option<String> {
    let ok = !v.is_empty()
        && v.len() <= MAX_VOLUME_ID_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    (!ok).then(|| {
        format!(
            "`{}` is not an ISO volume ID: 1 to {MAX_VOLUME_ID_LEN} ASCII letters, \
             digits and `-._`",
            shown(v)
        )
    })
}

// The raw `data` as serde sees it, once the shape check passed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    name: String,
    kind: String,
    summary: String,
    #[serde(default)]
    arches: Vec<String>,
    contents: Vec<RawContent>,
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    compose_pins: BTreeMap<String, String>,
    #[serde(default)]
    container: Option<RawContainer>,
    #[serde(default)]
    ostree: Option<RawOstree>,
    #[serde(default)]
    iso: Option<RawIso>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContent {
    module: String,
    #[serde(default)]
    profile: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawContainer {
    #[serde(default)]
    entrypoint: Vec<String>,
    #[serde(default)]
    cmd: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    user: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOstree {
    #[serde(rename = "ref")]
    ref_: String,
    #[serde(default)]
    subject: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIso {
    #[serde(default)]
    volume_id: Option<String>,
}

#[cfg(test)]
mod test {
    use super::*;

    /// The design's example, as ARCHITECTURE.md writes it.
    const GOOD: &str = r#"document: strata-artifact
version: 1
data:
  name: php-container
  kind: container              # container | ostree | iso
  summary: PHP on Apache
  arches: [x86_64]
  contents:                    # stacks to install: last good compose of each
    - {module: "php:8.2", profile: default}
  compose_pins: {apache: apache-2.4-20261020.n.3}   # optional
  container: {entrypoint: [/usr/bin/php], cmd: [], env: {}, labels: {}, user: "0"}
  ostree: {ref: strata/x86_64/php, subject: "PHP stack"}
  iso: {volume_id: PHP-8.2}
"#;

    fn problems(text: &str) -> Vec<String> {
        let e = ArtifactDefinition::parse(text, "a.yaml").unwrap_err();
        assert_eq!(e.document, ARTIFACT_DOCUMENT);
        e.problems.iter().map(|p| p.display("a.yaml")).collect()
    }

    #[test]
    fn the_designs_example_reads() {
        let a = ArtifactDefinition::parse(GOOD, "a.yaml").unwrap();
        assert_eq!(a.name, "php-container");
        assert_eq!(a.kind, ArtifactKind::Container);
        assert_eq!(a.arches, ["x86_64"]);
        assert_eq!(a.contents.len(), 1);
        assert_eq!(a.contents[0].dnf_spec(), "php:8.2/default");
        assert_eq!(a.compose_pins["apache"], "apache-2.4-20261020.n.3");
        assert_eq!(a.container.entrypoint, ["/usr/bin/php"]);
        assert_eq!(a.container.user.as_deref(), Some("0"));
        assert_eq!(a.ostree.as_ref().unwrap().ref_, "strata/x86_64/php");
        assert_eq!(a.volume_id(), "PHP-8.2");
    }

    #[test]
    fn the_least_an_artifact_needs() {
        let a = ArtifactDefinition::parse(
            "document: strata-artifact\nversion: 1\ndata:\n  name: web\n  kind: iso\n  \
             summary: Web media\n  contents:\n    - module: 'php:8.2'\n",
            "a.yaml",
        )
        .unwrap();
        assert_eq!(a.kind, ArtifactKind::Iso);
        assert!(a.arches.is_empty());
        assert_eq!(a.contents[0].dnf_spec(), "php:8.2");
        assert_eq!(a.volume_id(), "web");
        assert_eq!(a.container, ContainerSettings::default());
    }

    #[test]
    fn every_problem_at_once_with_where_it_is() {
        // A structural problem (`ports`) stops the checks across fields;
        // every value problem is still listed.
        let text = r#"document: strata-artifact
version: 1
data:
  name: "php container"
  kind: vm
  summary: PHP
  arches: [x86_64, pdp11]
  contents:
    - {module: php, profile: "-x"}
    - {module: "php:8.2"}
    - {module: "php:8.3"}
  packages: [php-cli]
  container:
    env: {1PATH: /bin}
    labels: {"a b": c}
    user: "root:wheel:x"
    ports: [80]
  ostree: {ref: "/strata//php"}
  iso: {volume_id: "A-VOLUME-ID-THAT-IS-FAR-TOO-LONG-FOR-ISO"}
"#;
        let p = problems(text);
        assert_eq!(
            p,
            [
                "a.yaml:4:9: data.name: the module name `php container` contains ' '; a compose ID allows only ASCII letters, digits and `-._+` in it",
                "a.yaml:5:9: data.kind: `vm` is not one of `container`, `ostree`, `iso`",
                "a.yaml:7:20: data.arches[1]: `pdp11` is not an architecture a module can be composed for (one of productmd's RPM_ARCHES, not noarch, src or nosrc)",
                "a.yaml:9:16: data.contents[0].module: `php` is not `module:stream` (e.g. `php:8.2`)",
                "a.yaml:9:30: data.contents[0].profile: `-x` is not a valid profile name (ASCII letters, digits and `+._-`, not starting with `-`)",
                "a.yaml:14:11: data.container.env.1PATH: `1PATH` is not an environment variable name (ASCII letters, digits and `_`, not starting with a digit)",
                "a.yaml:15:14: data.container.labels.a b: `a b` is not a label name (printable ASCII without spaces or `=`)",
                "a.yaml:16:11: data.container.user: `root:wheel:x` is not a user: a name or uid, optionally `:group` or `:gid`",
                "a.yaml:17:5: data.container: unknown field `ports`, expected one of `entrypoint`, `cmd`, `env`, `labels`, `user`",
                "a.yaml:18:17: data.ostree.ref: `/strata//php` is not an ostree ref: `/`-separated parts of ASCII letters, digits and `-._`, none empty or starting with `.` (e.g. `strata/x86_64/php`)",
                "a.yaml:19:20: data.iso.volume_id: `A-VOLUME-ID-THAT-IS-FAR-TOO-LONG-FOR-ISO` is not an ISO volume ID: 1 to 32 ASCII letters, digits and `-._`",
            ],
            "{p:#?}"
        );
    }

    #[test]
    fn problems_across_fields() {
        let text = r#"document: strata-artifact
version: 1
data:
  name: tree
  kind: ostree
  summary: A tree
  contents:
    - {module: "php:8.2"}
    - {module: "php:8.3"}
  packages: [a, a]
"#;
        let p = problems(text);
        assert_eq!(
            p,
            [
                "a.yaml:5:3: data.kind: an ostree artifact needs `ostree: {ref: …}`: the branch to commit to",
                "a.yaml:9:8: data.contents[1].module: the module `php` is listed twice; an artifact installs one stream of each",
                "a.yaml:10:17: data.packages[1]: the package `a` is listed twice",
            ],
            "{p:#?}"
        );
    }

    #[test]
    fn a_module_definition_is_not_an_artifact() {
        let e = ArtifactDefinition::parse(
            "document: strata-module\nversion: 1\ndata: {name: x}\n",
            "a.yaml",
        )
        .unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.starts_with("a.yaml is not a valid strata-artifact document"),
            "{shown}"
        );
        assert!(shown.contains("expected `strata-artifact`"), "{shown}");
    }

    #[test]
    fn kinds_round_trip() {
        for k in ArtifactKind::ALL {
            assert_eq!(k.as_str().parse::<ArtifactKind>(), Ok(k));
        }
        assert!("vm".parse::<ArtifactKind>().is_err());
    }

    /// `schema/strata-artifact.schema.json` and [`SHAPE`] agree.
    #[test]
    fn the_json_schema_agrees_with_the_shape() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../schema/strata-artifact.schema.json"))
                .unwrap();
        crate::definition::test::compare(&SHAPE, &schema, &schema, "");
    }
}
