//! What `dnf stack` asks of a stack compose: read the [`Stack`] a module
//! stream's modulemd text describes, check it for consistency, compare its
//! layers with the module composes the enabled repositories offer, and
//! parse `NAME:STREAM[/PROFILE]` arguments.
//!
//! The dnf plugin (Python) only gathers what libdnf knows (the modulemd
//! text of a stream, which compose ID each `name:stream` has in the
//! repositories) and acts on the answers given here.

use crate::parse::{parse_modules_yaml, Document};
use crate::validate::is_nsvcap_char;
use crate::xmd::{Stack, XmdStrata};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Why a stack could not be read or an argument not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StackError {
    /// The text is not a readable modulemd document.
    #[error("{0}")]
    Modulemd(#[from] crate::Error),
    /// The text holds no `document: modulemd` stream.
    #[error("no modulemd stream document in the text")]
    NoStream,
    /// The text holds more than one stream, where one was expected.
    #[error("{} modulemd stream documents where one was expected: {}", streams.len(), streams.join(", "))]
    ManyStreams { streams: Vec<String> },
    /// `xmd.strata` is there but does not follow the contract: `module` is
    /// `name:stream:version:context` of the stream that carries it.
    #[error("{module}: malformed Strata metadata (xmd.strata): {message}")]
    Malformed { module: String, message: String },
    /// A stream without `xmd.strata` where a Strata compose was expected.
    #[error("{module} was not composed by Strata (its modulemd has no xmd.strata)")]
    NotStrata { module: String },
    /// A command-line argument that is not `NAME:STREAM[/PROFILE]`.
    #[error("{spec:?} is not a module stream NAME:STREAM[/PROFILE]: {problem}")]
    BadSpec { spec: String, problem: String },
}

/// A layer of a stack whose compose is not the one the enabled
/// repositories would give.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    /// `name:stream`.
    pub module: String,
    /// The compose ID the stack was composed (and checked) against.
    pub recorded: String,
    /// The compose ID of the stream dnf would use; `None` when no enabled
    /// repository has the stream (or it was not composed by Strata).
    pub available: Option<String>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.available {
            Some(a) => write!(
                f,
                "{}: the stack was composed with {}, the enabled repositories have {}",
                self.module, self.recorded, a
            ),
            None => write!(
                f,
                "{}: the stack was composed with {}, no enabled repository has a Strata compose of it",
                self.module, self.recorded
            ),
        }
    }
}

/// `NAME:STREAM[/PROFILE]` as given to `dnf stack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackSpec {
    pub name: String,
    pub stream: String,
    pub profile: Option<String>,
}

impl StackSpec {
    /// Parses `NAME:STREAM` (or `NAME:STREAM/PROFILE` when `profile_allowed`);
    /// each part non-empty and of libdnf's `[a-zA-Z0-9+._-]` characters.
    pub fn parse(spec: &str, profile_allowed: bool) -> Result<StackSpec, StackError> {
        let bad = |problem: &str| StackError::BadSpec {
            spec: spec.to_string(),
            problem: problem.to_string(),
        };
        let (ns, profile) = match spec.split_once('/') {
            Some(_) if !profile_allowed => return Err(bad("no /PROFILE here")),
            Some((ns, p)) => (ns, Some(p)),
            None => (spec, None),
        };
        let Some((name, stream)) = ns.split_once(':') else {
            return Err(bad(
                "the stream is missing (give NAME:STREAM, e.g. php:8.2)",
            ));
        };
        for (what, part) in [("name", name), ("stream", stream)]
            .into_iter()
            .chain(profile.map(|p| ("profile", p)))
        {
            if part.is_empty() {
                return Err(bad(&format!("the {what} is empty")));
            }
            if let Some(c) = part.chars().find(|c| !is_nsvcap_char(*c)) {
                return Err(bad(&format!(
                    "the {what} {part:?} has {c:?}; only ASCII letters, digits and `+._-` are allowed"
                )));
            }
        }
        Ok(StackSpec {
            name: name.into(),
            stream: stream.into(),
            profile: profile.map(Into::into),
        })
    }

    pub fn nsv(&self) -> String {
        format!("{}:{}", self.name, self.stream)
    }
}

/// The Strata description of the one module stream in `text` (a single
/// modulemd document, as libdnf's `ModulePackage.getYaml()` gives it, or a
/// `modules.yaml` with exactly one stream): a [`Stack`] with no layers for
/// a plain module, `None` for a stream without `xmd.strata`. Malformed or
/// inconsistent `xmd.strata` is an error.
///
/// `xmd.strata` is read with every scalar as the text it is written with:
/// libmodulemd (and so libdnf's `getYaml()`) re-emits xmd scalars unquoted,
/// so a layer's stream `"2.4"` comes back as `stream: 2.4`, which a typed
/// read would take for a number (and `2.10` for 2.1). Only `version` is a
/// number, written plain or quoted.
pub fn stack_from_yaml(text: &str) -> Result<Option<Stack>, StackError> {
    let docs = parse_modules_yaml(text)?;
    let mut streams: Vec<(usize, _)> = docs
        .into_iter()
        .enumerate()
        .filter_map(|(i, d)| match d {
            Document::Stream(s) => Some((i, s)),
            _ => None,
        })
        .collect();
    let (index, stream) = match streams.len() {
        0 => return Err(StackError::NoStream),
        1 => streams.remove(0),
        _ => {
            return Err(StackError::ManyStreams {
                streams: streams.iter().map(|(_, s)| s.nsvc()).collect(),
            })
        }
    };
    if !stream.xmd.contains_key("strata") {
        return Ok(None);
    }
    let malformed = |message: String| StackError::Malformed {
        module: stream.nsvc(),
        message,
    };
    let de = serde_yaml_ng::Deserializer::from_str(text)
        .nth(index)
        .ok_or_else(|| malformed("document vanished on the second read".into()))?;
    let doc = TextDoc::deserialize(de).map_err(|e| malformed(e.to_string()))?;
    let strata = doc
        .data
        .and_then(|d| d.xmd)
        .and_then(|x| x.strata)
        .ok_or_else(|| malformed("xmd.strata is empty".into()))?;
    let stack = Stack {
        name: stream.name.clone(),
        stream: stream.stream.clone(),
        compose_id: strata.compose_id,
        version: stream.version,
        context: stream.context.clone(),
        requires: strata.requires,
        layers: strata.stack,
    };
    stack.check_consistent().map_err(malformed)?;
    Ok(Some(stack))
}

/// One modulemd document, only as far as `data.xmd.strata`, read from
/// the text (see [`crate::xmd`] for why).
#[derive(Deserialize)]
struct TextDoc {
    #[serde(default)]
    data: Option<TextData>,
}

#[derive(Deserialize)]
struct TextData {
    #[serde(default)]
    xmd: Option<TextXmd>,
}

#[derive(Deserialize)]
struct TextXmd {
    #[serde(default)]
    strata: Option<XmdStrata>,
}

/// Like [`stack_from_yaml`], for a stream that must be a Strata compose:
/// a stream without `xmd.strata` is [`StackError::NotStrata`].
pub fn strata_stack_from_yaml(text: &str) -> Result<Stack, StackError> {
    match stack_from_yaml(text)? {
        Some(s) => Ok(s),
        None => {
            // stack_from_yaml succeeded, so the text has exactly one stream.
            let module = parse_modules_yaml(text)?
                .into_iter()
                .find_map(|d| match d {
                    Document::Stream(s) => Some(s.nsvc()),
                    _ => None,
                })
                .unwrap_or_default();
            Err(StackError::NotStrata { module })
        }
    }
}

/// Checks the stack of the module stream in `text` against `available`
/// (see [`Stack::mismatches`]). A stream not composed by Strata is an error.
pub fn check_stack_yaml(
    text: &str,
    available: &BTreeMap<String, Option<String>>,
) -> Result<Vec<Mismatch>, StackError> {
    Ok(strata_stack_from_yaml(text)?.mismatches(available))
}

fn nsv_form(s: &str) -> bool {
    matches!(s.split_once(':'), Some((n, st)) if !n.is_empty() && !st.is_empty()
        && !st.contains(':') && n.chars().chain(st.chars()).all(is_nsvcap_char))
}

impl Stack {
    /// True when the stream has modules below it.
    pub fn is_stack(&self) -> bool {
        !self.layers.is_empty()
    }

    /// Every `name:stream` of the stack in dependency order: the layers
    /// bottom first, then the top module. The order to enable them in.
    pub fn modules(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|l| l.nsv())
            .chain([self.nsv()])
            .collect()
    }

    /// The layers whose compose is not the one the enabled repositories
    /// would give. `available` maps a layer's `name:stream` to the compose
    /// ID of the stream dnf would use there (`None`: no such stream, or not
    /// composed by Strata); a layer missing from the map counts as `None`.
    pub fn mismatches(&self, available: &BTreeMap<String, Option<String>>) -> Vec<Mismatch> {
        self.layers
            .iter()
            .filter_map(|l| {
                let nsv = l.nsv();
                let got = available.get(&nsv).cloned().flatten();
                (got.as_deref() != Some(l.compose_id.as_str())).then(|| Mismatch {
                    module: nsv,
                    recorded: l.compose_id.clone(),
                    available: got,
                })
            })
            .collect()
    }

    /// The streams of this stack that none of `others` uses: what removing
    /// this stack may reset, top first (the reverse of enabling).
    pub fn streams_to_reset(&self, others: &[Stack]) -> Vec<String> {
        let used: BTreeSet<String> = others.iter().flat_map(|o| o.modules()).collect();
        let mut out: Vec<String> = self
            .modules()
            .into_iter()
            .filter(|m| !used.contains(m))
            .collect();
        out.reverse();
        out
    }

    /// What the contract promises beyond the shape serde checks: compose
    /// IDs set, one stream per module, `name:stream` requires, and layers
    /// bottom first with every require of a layer (and of the top) among
    /// the layers before it.
    pub fn check_consistent(&self) -> Result<(), String> {
        if self.compose_id.trim().is_empty() {
            return Err("compose_id is empty".into());
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        let check_requires =
            |what: &str, requires: &[String], seen: &BTreeMap<&str, &str>| -> Result<(), String> {
                for r in requires {
                    if !nsv_form(r) {
                        return Err(format!("{what} requires {r:?}, not name:stream"));
                    }
                    let (n, s) = r.split_once(':').unwrap_or_default();
                    match seen.get(n) {
                        Some(&st) if st == s => {}
                        Some(&st) => {
                            return Err(format!("{what} requires {r}, but the stack has {n}:{st}"))
                        }
                        None => {
                            return Err(format!(
                                "{what} requires {r}, which is not a layer below it in `stack` \
                             (layers are listed bottom first)"
                            ))
                        }
                    }
                }
                Ok(())
            };
        for (i, l) in self.layers.iter().enumerate() {
            let what = format!("stack[{i}] ({})", l.nsv());
            if !nsv_form(&l.nsv()) {
                return Err(format!("{what}: not a valid name:stream"));
            }
            if l.compose_id.trim().is_empty() {
                return Err(format!("{what}: compose_id is empty"));
            }
            if l.name == self.name {
                return Err(format!(
                    "{what}: the top module {} is a layer of itself",
                    self.name
                ));
            }
            if let Some(other) = seen.get(l.name.as_str()) {
                return Err(format!(
                    "{what}: {} appears twice (streams {other} and {})",
                    l.name, l.stream
                ));
            }
            check_requires(&what, &l.requires, &seen)?;
            seen.insert(&l.name, &l.stream);
        }
        check_requires("the top module", &self.requires, &seen)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::StackLayer;

    fn layer(name: &str, stream: &str, requires: &[&str]) -> StackLayer {
        StackLayer {
            name: name.into(),
            stream: stream.into(),
            compose_id: format!("{name}-{stream}-20261125.n.0"),
            version: 20261125120000,
            context: "3fa2c1d0".into(),
            requires: requires.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn php() -> Stack {
        Stack {
            name: "php".into(),
            stream: "8.2".into(),
            compose_id: "php-8.2-20261125.n.0".into(),
            version: 20261125130000,
            context: "aa11bb22".into(),
            requires: vec!["apache:2.4".into()],
            layers: vec![
                layer("base-runtime", "f40", &[]),
                layer("apache", "2.4", &["base-runtime:f40"]),
            ],
        }
    }

    /// A modulemd document of `stack`, its xmd written by `XmdStrata::to_xmd`.
    fn yaml_of(stack: &Stack) -> String {
        let xmd = XmdStrata {
            compose_id: stack.compose_id.clone(),
            definition: None,
            inputs: vec![],
            requires: stack.requires.clone(),
            stack: stack.layers.clone(),
        }
        .to_xmd();
        let xmd = serde_yaml_ng::to_string(&xmd).unwrap();
        let xmd: String = xmd.lines().map(|l| format!("    {l}\n")).collect();
        format!(
            "---\ndocument: modulemd\nversion: 2\ndata:\n  name: {}\n  stream: \"{}\"\n  \
             version: {}\n  context: {}\n  arch: x86_64\n  summary: s\n  description: d\n  \
             license:\n    module: [MIT]\n  xmd:\n{xmd}...\n",
            stack.name, stack.stream, stack.version, stack.context
        )
    }

    fn available(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(Into::into)))
            .collect()
    }

    #[test]
    fn reads_a_stack_back_from_yaml() {
        let text = yaml_of(&php());
        let got = stack_from_yaml(&text).unwrap().unwrap();
        assert_eq!(got, php());
        assert!(got.is_stack());
        assert_eq!(got.modules(), ["base-runtime:f40", "apache:2.4", "php:8.2"]);
    }

    /// What libdnf 0.69's `ModulePackage.getYaml()` gave for a stream we
    /// wrote with quoted streams: xmd scalars come back unquoted.
    const FROM_LIBDNF: &str = "---
document: modulemd
version: 2
data:
  name: php
  stream: \"8.2\"
  version: 20261125130000
  context: aa11bb22
  arch: x86_64
  summary: The php module
  description: >-
    php, for tests.
  license:
    module:
    - MIT
  xmd:
    strata:
      compose_id: php-8.2-20261125.n.0
      requires:
      - apache:2.10
      stack:
      - compose_id: base-runtime-f40-20261125.n.1
        context: 3fa2c1d0
        name: base-runtime
        requires: []
        stream: f40
        version: 20261125120000
      - compose_id: apache-2.10-20261125.n.0
        context: 9b1e77aa
        name: apache
        requires:
        - base-runtime:f40
        stream: 2.10
        version: \"20261125121500\"
  dependencies:
  - requires:
      apache: [2.10]
      platform: [f40]
  profiles:
    default:
      rpms:
      - php
  artifacts:
    rpms:
    - php-0:8.2.12-1.fc40.noarch
...
";

    #[test]
    fn reads_what_libmodulemd_gives_back() {
        let got = stack_from_yaml(FROM_LIBDNF).unwrap().unwrap();
        assert_eq!(got.nsv(), "php:8.2");
        assert_eq!(got.requires, ["apache:2.10"]);
        // Unquoted 2.10 is the stream's text, not the number 2.1.
        assert_eq!(got.layers[1].stream, "2.10");
        assert_eq!(got.layers[1].version, 20261125121500);
        assert_eq!(got.layers[0].requires, Vec::<String>::new());
        assert_eq!(
            got.modules(),
            ["base-runtime:f40", "apache:2.10", "php:8.2"]
        );
        // A typed read of the same xmd cannot hold the stream as text.
        let Document::Stream(s) = parse_modules_yaml(FROM_LIBDNF).unwrap().remove(0) else {
            panic!()
        };
        assert!(serde_json::from_value::<XmdStrata>(s.xmd["strata"].clone()).is_err());
    }

    #[test]
    fn the_text_read_gives_back_what_was_written() {
        // Our own output (quoted where YAML would guess a type) reads the
        // same through YAML's types and as text: one contract.
        let text = yaml_of(&php());
        let Document::Stream(s) = parse_modules_yaml(&text).unwrap().remove(0) else {
            panic!()
        };
        let typed: XmdStrata = serde_json::from_value(s.xmd["strata"].clone()).unwrap();
        let read = stack_from_yaml(&text).unwrap().unwrap();
        assert_eq!(typed.stack, read.layers);
        assert_eq!(typed.requires, read.requires);
        assert_eq!(typed.compose_id, read.compose_id);
        assert_eq!(read, php());
    }

    #[test]
    fn a_plain_module_has_no_layers_and_a_foreign_one_no_stack() {
        let plain = Stack {
            requires: vec![],
            layers: vec![],
            ..php()
        };
        let got = stack_from_yaml(&yaml_of(&plain)).unwrap().unwrap();
        assert!(!got.is_stack());
        assert_eq!(got.modules(), ["php:8.2"]);
        assert_eq!(got.mismatches(&BTreeMap::new()), vec![]);

        let foreign = "---\ndocument: modulemd\nversion: 2\ndata:\n  name: x\n  stream: s\n  \
            version: 1\n  context: c\n  xmd:\n    mbs: {koji_tag: t}\n...\n";
        assert_eq!(stack_from_yaml(foreign).unwrap(), None);
        assert_eq!(
            check_stack_yaml(foreign, &BTreeMap::new()).unwrap_err(),
            StackError::NotStrata {
                module: "x:s:1:c".into()
            }
        );
    }

    #[test]
    fn mismatches_name_the_layer_and_both_ids() {
        let s = php();
        let all_good = available(&[
            ("base-runtime:f40", Some("base-runtime-f40-20261125.n.0")),
            ("apache:2.4", Some("apache-2.4-20261125.n.0")),
            ("unrelated:1", None),
        ]);
        assert_eq!(s.mismatches(&all_good), vec![]);
        let text = yaml_of(&s);
        assert_eq!(check_stack_yaml(&text, &all_good).unwrap(), vec![]);

        let newer = available(&[
            ("base-runtime:f40", None),
            ("apache:2.4", Some("apache-2.4-20261126.n.0")),
        ]);
        let got = check_stack_yaml(&text, &newer).unwrap();
        assert_eq!(
            got,
            vec![
                Mismatch {
                    module: "base-runtime:f40".into(),
                    recorded: "base-runtime-f40-20261125.n.0".into(),
                    available: None,
                },
                Mismatch {
                    module: "apache:2.4".into(),
                    recorded: "apache-2.4-20261125.n.0".into(),
                    available: Some("apache-2.4-20261126.n.0".into()),
                },
            ]
        );
        let line = got[1].to_string();
        assert!(
            line.contains("apache:2.4")
                && line.contains("apache-2.4-20261125.n.0")
                && line.contains("apache-2.4-20261126.n.0"),
            "{line}"
        );
        // A layer left out of the map is missing.
        assert_eq!(s.mismatches(&BTreeMap::new()).len(), 2);
    }

    #[test]
    fn malformed_xmd_is_an_error_naming_the_stream() {
        let no_id =
            "---\ndocument: modulemd\nversion: 2\ndata:\n  name: php\n  stream: \"8.2\"\n  \
            version: 1\n  context: c\n  xmd:\n    strata:\n      stack: []\n...\n";
        let err = stack_from_yaml(no_id).unwrap_err();
        assert!(
            matches!(&err, StackError::Malformed { module, message }
                if module == "php:8.2:1:c" && message.contains("compose_id")),
            "{err}"
        );
        assert!(
            !err.to_string().contains("php:8.2:1:c: php:8.2:1:c"),
            "{err}"
        );
        let bad_layer = no_id.replace("stack: []", "compose_id: x\n      stack: [{name: a}]");
        assert!(matches!(
            stack_from_yaml(&bad_layer),
            Err(StackError::Malformed { .. })
        ));
        let not_a_list = no_id.replace("stack: []", "compose_id: x\n      stack: nope");
        assert!(matches!(
            stack_from_yaml(&not_a_list),
            Err(StackError::Malformed { .. })
        ));
    }

    #[test]
    fn inconsistent_stacks_are_malformed() {
        let cases: Vec<(Stack, &str)> = vec![
            (
                Stack {
                    layers: vec![
                        layer("apache", "2.4", &["base-runtime:f40"]),
                        layer("base-runtime", "f40", &[]),
                    ],
                    ..php()
                },
                "not a layer below it",
            ),
            (
                Stack {
                    requires: vec!["apache:2.6".into()],
                    ..php()
                },
                "the stack has apache:2.4",
            ),
            (
                Stack {
                    requires: vec!["apache".into()],
                    ..php()
                },
                "not name:stream",
            ),
            (
                Stack {
                    layers: vec![layer("apache", "2.4", &[]), layer("apache", "2.6", &[])],
                    requires: vec![],
                    ..php()
                },
                "appears twice",
            ),
            (
                Stack {
                    layers: vec![layer("php", "8.1", &[])],
                    requires: vec![],
                    ..php()
                },
                "layer of itself",
            ),
            (
                Stack {
                    layers: vec![StackLayer {
                        compose_id: " ".into(),
                        ..layer("base-runtime", "f40", &[])
                    }],
                    requires: vec![],
                    ..php()
                },
                "compose_id is empty",
            ),
        ];
        for (stack, want) in cases {
            let err = stack.check_consistent().unwrap_err();
            assert!(err.contains(want), "{err} (wanted {want:?})");
            let err = stack_from_yaml(&yaml_of(&stack)).unwrap_err();
            assert!(
                matches!(&err, StackError::Malformed { message, .. } if message.contains(want)),
                "{err}"
            );
        }
        php().check_consistent().unwrap();
    }

    #[test]
    fn yaml_that_is_not_one_stream() {
        assert_eq!(stack_from_yaml("").unwrap_err(), StackError::NoStream);
        let defaults = "---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: php\n...\n";
        assert_eq!(stack_from_yaml(defaults).unwrap_err(), StackError::NoStream);
        let two = format!("{}{}", yaml_of(&php()), yaml_of(&php()));
        assert!(matches!(
            stack_from_yaml(&two),
            Err(StackError::ManyStreams { ref streams }) if streams.len() == 2
        ));
        assert!(matches!(
            stack_from_yaml("document: [\n"),
            Err(StackError::Modulemd(_))
        ));
    }

    #[test]
    fn streams_to_reset_spare_what_other_stacks_use() {
        let php = php();
        assert_eq!(
            php.streams_to_reset(&[]),
            ["php:8.2", "apache:2.4", "base-runtime:f40"]
        );
        let perl = Stack {
            name: "perl".into(),
            stream: "5.38".into(),
            requires: vec!["base-runtime:f40".into()],
            layers: vec![layer("base-runtime", "f40", &[])],
            ..php.clone()
        };
        assert_eq!(php.streams_to_reset(&[perl]), ["php:8.2", "apache:2.4"]);
    }

    #[test]
    fn specs() {
        assert_eq!(
            StackSpec::parse("php:8.2/default", true).unwrap(),
            StackSpec {
                name: "php".into(),
                stream: "8.2".into(),
                profile: Some("default".into())
            }
        );
        assert_eq!(StackSpec::parse("php:8.2", false).unwrap().nsv(), "php:8.2");
        for (bad, allowed, why) in [
            ("php", true, "stream is missing"),
            ("php:", true, "stream is empty"),
            (":8.2", true, "name is empty"),
            ("php:8.2/", true, "profile is empty"),
            ("php:8.2/default", false, "no /PROFILE"),
            ("php:8:2", true, "has ':'"),
            ("p hp:8.2", true, "has ' '"),
        ] {
            let err = StackSpec::parse(bad, allowed).unwrap_err();
            assert!(err.to_string().contains(why), "{bad}: {err}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }
}
