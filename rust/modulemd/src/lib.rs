//! modulemd v2 streams and modulemd-defaults v1 documents, written deterministically.
//!
//! This crate owns the `modules.yaml` a module compose publishes beside its
//! repodata, and reading one back (the compose of a stack reads the
//! `modules.yaml` of the composes below it).
//!
//! - [`modules_yaml`] validates and writes: the same input gives the same
//!   bytes. Set-like lists (licenses, artifacts, profile RPMs, API, streams
//!   of a dependency) are sorted and deduplicated, maps are sorted by key,
//!   documents are ordered by module name, defaults before streams.
//! - Validation follows what libmodulemd 2.14 checks when it loads a
//!   repository's `modules.yaml` (mandatory summary, description and module
//!   license; artifacts in `N-E:V-R.A` form; no mix of required and
//!   excluded streams in one dependency) plus what dnf needs to address a
//!   stream (`name:stream:version:context:arch/profile` with libdnf's
//!   `[a-zA-Z0-9+._-]` characters, a context of libmodulemd's static-context
//!   form, and an explicit epoch in every artifact, without which dnf drops
//!   the stream).
//! - [`parse_modules_yaml`] reads ours and libmodulemd's (createrepo_c,
//!   MBS, Pungi) documents leniently: it does not validate.

mod emit;
mod error;
mod model;
mod parse;
mod stack_check;
mod validate;
mod xmd;

pub use error::{Error, Problem};
pub use model::{
    artifact_nevra, Defaults, Dependencies, License, ModuleStream, Obsoletes, Profile, ServiceLevel,
};
pub use parse::{parse_modules_yaml, Document};
pub use stack_check::{
    check_stack_yaml, stack_from_yaml, strata_stack_from_yaml, Mismatch, StackError, StackSpec,
};
pub use xmd::{Stack, StackLayer, XmdDefinition, XmdInput, XmdStrata};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The `modules.yaml` of `streams` and `defaults`: every document validated,
/// then written in a stable order and form.
///
/// Two streams with the same `name:stream:version:context:arch`, or two
/// defaults documents for one module, are an error.
pub fn modules_yaml(streams: &[ModuleStream], defaults: &[Defaults]) -> Result<String> {
    modules_yaml_with_obsoletes(streams, defaults, &[])
}

/// [`modules_yaml`] with modulemd-obsoletes documents (a release's end of
/// life data), each after its module's streams, as libmodulemd writes an
/// index. Two for one module stream are an error.
pub fn modules_yaml_with_obsoletes(
    streams: &[ModuleStream],
    defaults: &[Defaults],
    obsoletes: &[Obsoletes],
) -> Result<String> {
    for o in obsoletes {
        o.validate()?;
    }
    let mut obsoletes: Vec<&Obsoletes> = obsoletes.iter().collect();
    obsoletes.sort_by(|a, b| (&a.module, &a.stream).cmp(&(&b.module, &b.stream)));
    for pair in obsoletes.windows(2) {
        if (&pair[0].module, &pair[0].stream) == (&pair[1].module, &pair[1].stream) {
            return Err(Error::Duplicate {
                document: pair[0].document_label(),
            });
        }
    }
    for s in streams {
        s.validate()?;
    }
    for d in defaults {
        d.validate()?;
    }

    let mut streams: Vec<&ModuleStream> = streams.iter().collect();
    streams.sort_by(|a, b| {
        (&a.name, &a.stream, a.version, &a.context, &a.arch)
            .cmp(&(&b.name, &b.stream, b.version, &b.context, &b.arch))
    });
    for pair in streams.windows(2) {
        if pair[0].nsvca() == pair[1].nsvca() {
            return Err(Error::Duplicate {
                document: pair[0].document_label(),
            });
        }
    }
    let mut defaults: Vec<&Defaults> = defaults.iter().collect();
    defaults.sort_by(|a, b| a.module.cmp(&b.module));
    for pair in defaults.windows(2) {
        if pair[0].module == pair[1].module {
            return Err(Error::Duplicate {
                document: pair[0].document_label(),
            });
        }
    }

    // Module by module, as libmodulemd writes an index: the defaults, the
    // streams, then the obsoletes.
    let mut out = emit::Yaml::default();
    let (mut si, mut di, mut oi) = (0, 0, 0);
    while si < streams.len() || di < defaults.len() || oi < obsoletes.len() {
        let next = [
            defaults.get(di).map(|d| (&d.module, 0)),
            streams.get(si).map(|s| (&s.name, 1)),
            obsoletes.get(oi).map(|o| (&o.module, 2)),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|(_, kind)| kind);
        match next {
            Some(0) => {
                emit::defaults(&mut out, defaults[di]);
                di += 1;
            }
            Some(1) => {
                emit::stream(&mut out, streams[si]);
                si += 1;
            }
            _ => {
                emit::obsoletes(&mut out, obsoletes[oi]);
                oi += 1;
            }
        }
    }
    Ok(out.finish())
}

/// One stream alone (`---` … `...`) and the `modules.yaml` of that stream
/// with its defaults: the two texts a compose publishes, the stream
/// checked and written once ([`modules_yaml`] would do both twice; a
/// stack's stream lists every layer in its xmd).
pub fn stream_and_index(stream: &ModuleStream, defaults: &Defaults) -> Result<(String, String)> {
    let alone = modules_yaml(std::slice::from_ref(stream), &[])?;
    let defaults_text = modules_yaml(&[], std::slice::from_ref(defaults))?;
    // The order `modules_yaml` writes: module by module, defaults first.
    let index = if defaults.module <= stream.name {
        defaults_text + &alone
    } else {
        alone.clone() + &defaults_text
    };
    Ok((alone, index))
}

#[cfg(test)]
mod test {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn apache() -> ModuleStream {
        ModuleStream {
            name: "apache".into(),
            stream: "2.4".into(),
            version: 20261125083000,
            context: "c0ffee43".into(),
            arch: "x86_64".into(),
            summary: "Apache HTTP Server".into(),
            description: "The Apache web server\nand its modules.".into(),
            license: License {
                module: vec!["MIT".into()],
                content: vec!["ASL 2.0".into(), "ASL 2.0".into()],
            },
            servicelevels: BTreeMap::from([(
                "rawhide".into(),
                ServiceLevel {
                    eol: Some("2027-12-01".into()),
                },
            )]),
            xmd: json!({"strata": {"compose_id": "apache-2.4-20261125.n.0", "respin": 0}})
                .as_object()
                .unwrap()
                .clone(),
            dependencies: vec![Dependencies::runtime(BTreeMap::from([
                ("platform".into(), vec!["f40".into()]),
                ("base".into(), vec!["8".into()]),
            ]))],
            profiles: BTreeMap::from([(
                "default".into(),
                Profile {
                    description: Some("The server".into()),
                    rpms: vec!["mod_ssl".into(), "httpd".into()],
                },
            )]),
            api: vec!["httpd".into()],
            artifacts: vec![
                artifact_nevra("mod_ssl", 1, "2.4.58", "1.fc40", "x86_64"),
                artifact_nevra("httpd", 0, "2.4.58", "1.fc40", "x86_64"),
            ],
        }
    }

    fn apache_defaults() -> Defaults {
        Defaults {
            module: "apache".into(),
            stream: Some("2.4".into()),
            profiles: BTreeMap::from([("2.4".into(), vec!["default".into()])]),
        }
    }

    #[test]
    fn one_stream_and_its_index_are_what_modules_yaml_writes() {
        let s = apache();
        for module in ["apache", "aaa", "zzz"] {
            let d = Defaults {
                module: module.into(),
                ..apache_defaults()
            };
            let (alone, index) = stream_and_index(&s, &d).unwrap();
            assert_eq!(alone, modules_yaml(std::slice::from_ref(&s), &[]).unwrap());
            assert_eq!(
                index,
                modules_yaml(std::slice::from_ref(&s), std::slice::from_ref(&d)).unwrap(),
                "{module}"
            );
        }
    }

    const APACHE_YAML: &str = r#"---
document: modulemd-defaults
version: 1
data:
  module: apache
  stream: "2.4"
  profiles:
    "2.4": [default]
...
---
document: modulemd
version: 2
data:
  name: apache
  stream: "2.4"
  version: 20261125083000
  context: c0ffee43
  arch: x86_64
  summary: Apache HTTP Server
  description: "The Apache web server\nand its modules."
  servicelevels:
    rawhide:
      eol: 2027-12-01
  license:
    module:
    - MIT
    content:
    - ASL 2.0
  xmd:
    strata:
      compose_id: apache-2.4-20261125.n.0
      respin: 0
  dependencies:
  - requires:
      base: ["8"]
      platform: [f40]
  profiles:
    default:
      description: The server
      rpms:
      - httpd
      - mod_ssl
  api:
    rpms:
    - httpd
  artifacts:
    rpms:
    - httpd-0:2.4.58-1.fc40.x86_64
    - mod_ssl-1:2.4.58-1.fc40.x86_64
...
"#;

    #[test]
    fn writes_the_expected_bytes() {
        let text = modules_yaml(&[apache()], &[apache_defaults()]).unwrap();
        assert_eq!(text, APACHE_YAML);
    }

    #[test]
    fn deterministic_whatever_the_input_order() {
        let a = apache();
        let mut b = apache();
        b.artifacts.reverse();
        b.profiles.get_mut("default").unwrap().rpms.reverse();
        b.license.content.dedup();
        let mut c = a.clone();
        c.stream = "2.6".into();
        let base = ModuleStream {
            name: "base".into(),
            stream: "8".into(),
            ..apache()
        };
        let one =
            modules_yaml(&[a.clone(), c.clone(), base.clone()], &[apache_defaults()]).unwrap();
        let two = modules_yaml(&[base, c, b], &[apache_defaults()]).unwrap();
        assert_eq!(one, two);
        // Defaults first, then each module's streams in order.
        let order: Vec<_> = parse_modules_yaml(&one)
            .unwrap()
            .into_iter()
            .map(|d| match d {
                Document::Stream(s) => s.nsvc(),
                Document::Defaults(d) => format!("defaults {}", d.module),
                Document::Other { document, .. } => document,
            })
            .collect();
        assert_eq!(
            order,
            [
                "defaults apache",
                "apache:2.4:20261125083000:c0ffee43",
                "apache:2.6:20261125083000:c0ffee43",
                "base:8:20261125083000:c0ffee43"
            ]
        );
    }

    #[test]
    fn ambiguous_streams_are_quoted_and_read_back() {
        for stream in [
            "2.4", "8", "true", "null", "1e3", "yes", "0x10", "2.10", "010",
        ] {
            let s = ModuleStream {
                stream: stream.into(),
                ..apache()
            };
            let d = Defaults {
                stream: Some(stream.into()),
                profiles: BTreeMap::from([(stream.into(), vec![])]),
                ..apache_defaults()
            };
            let text = modules_yaml(&[s], &[d]).unwrap();
            assert!(
                text.contains(&format!("  stream: \"{stream}\"\n")),
                "{text}"
            );
            // Any YAML reader sees a string, not a number or a boolean.
            for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                let v = serde_yaml_ng::Value::deserialize(doc).unwrap();
                assert_eq!(v["data"]["stream"].as_str(), Some(stream), "{text}");
            }
            let docs = parse_modules_yaml(&text).unwrap();
            let Document::Defaults(d) = &docs[0] else {
                panic!()
            };
            assert_eq!(d.stream.as_deref(), Some(stream));
            assert!(d.profiles.contains_key(stream));
            let Document::Stream(s) = &docs[1] else {
                panic!()
            };
            assert_eq!(s.stream, stream);
        }
    }

    #[test]
    fn artifacts_need_an_epoch() {
        assert_eq!(
            artifact_nevra("httpd", 0, "2.4.58", "1.fc40", "x86_64"),
            "httpd-0:2.4.58-1.fc40.x86_64"
        );
        let s = ModuleStream {
            artifacts: vec!["httpd-2.4.58-1.fc40.x86_64".into()],
            ..apache()
        };
        let err = modules_yaml(&[s], &[]).unwrap_err();
        assert_eq!(
            err,
            Error::Invalid {
                document: "module stream apache:2.4:20261125083000:c0ffee43:x86_64".into(),
                field: "data.artifacts.rpms".into(),
                problem: Problem::BadNevra {
                    value: "httpd-2.4.58-1.fc40.x86_64".into()
                },
            }
        );
        assert!(err.to_string().contains("explicit epoch"), "{err}");
    }

    fn field_of(s: ModuleStream) -> (String, Problem) {
        match s.validate().unwrap_err() {
            Error::Invalid { field, problem, .. } => (field, problem),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn validation_names_the_field() {
        let cases: Vec<(ModuleStream, &str)> = vec![
            (
                ModuleStream {
                    name: "".into(),
                    ..apache()
                },
                "data.name",
            ),
            (
                ModuleStream {
                    name: "a:b".into(),
                    ..apache()
                },
                "data.name",
            ),
            (
                ModuleStream {
                    stream: "2 4".into(),
                    ..apache()
                },
                "data.stream",
            ),
            (
                ModuleStream {
                    stream: "a/b".into(),
                    ..apache()
                },
                "data.stream",
            ),
            (
                ModuleStream {
                    stream: "-1".into(),
                    ..apache()
                },
                "data.stream",
            ),
            (
                ModuleStream {
                    version: 0,
                    ..apache()
                },
                "data.version",
            ),
            (
                ModuleStream {
                    context: "".into(),
                    ..apache()
                },
                "data.context",
            ),
            (
                ModuleStream {
                    context: "c0ffee-43".into(),
                    ..apache()
                },
                "data.context",
            ),
            (
                ModuleStream {
                    context: "c0ffee43c0ffee43".into(),
                    ..apache()
                },
                "data.context",
            ),
            (
                ModuleStream {
                    arch: "".into(),
                    ..apache()
                },
                "data.arch",
            ),
            (
                ModuleStream {
                    summary: " ".into(),
                    ..apache()
                },
                "data.summary",
            ),
            (
                ModuleStream {
                    description: "".into(),
                    ..apache()
                },
                "data.description",
            ),
            (
                ModuleStream {
                    license: License::default(),
                    ..apache()
                },
                "data.license.module",
            ),
            (
                ModuleStream {
                    servicelevels: BTreeMap::from([(
                        "rawhide".into(),
                        ServiceLevel {
                            eol: Some("2027-02-30".into()),
                        },
                    )]),
                    ..apache()
                },
                "data.servicelevels.rawhide.eol",
            ),
            (
                ModuleStream {
                    xmd: json!({"a": {"b": [1, null]}}).as_object().unwrap().clone(),
                    ..apache()
                },
                "data.xmd.a.b[1]",
            ),
            (
                ModuleStream {
                    xmd: json!({"a": ["x", true]}).as_object().unwrap().clone(),
                    ..apache()
                },
                "data.xmd.a",
            ),
            (
                ModuleStream {
                    xmd: json!({"a": [["x"], []]}).as_object().unwrap().clone(),
                    ..apache()
                },
                "data.xmd.a",
            ),
            (
                ModuleStream {
                    dependencies: vec![Dependencies::runtime(BTreeMap::from([(
                        "platform".into(),
                        vec!["f40".into(), "-f39".into()],
                    )]))],
                    ..apache()
                },
                "data.dependencies[0].requires.platform",
            ),
            (
                ModuleStream {
                    profiles: BTreeMap::from([("my profile".into(), Profile::default())]),
                    ..apache()
                },
                "data.profiles",
            ),
            (
                ModuleStream {
                    api: vec!["two words".into()],
                    ..apache()
                },
                "data.api.rpms",
            ),
        ];
        for (s, field) in cases {
            let (got, problem) = field_of(s);
            assert_eq!(got, field, "{problem}");
        }
        // Excluding streams is fine as long as all of them are excluded.
        let s = ModuleStream {
            dependencies: vec![Dependencies::runtime(BTreeMap::from([(
                "platform".into(),
                vec!["-f38".into(), "-f39".into()],
            )]))],
            ..apache()
        };
        s.validate().unwrap();
        let d = Defaults {
            module: "apache".into(),
            stream: Some("2:4".into()),
            profiles: BTreeMap::new(),
        };
        assert!(matches!(
            d.validate(),
            Err(Error::Invalid { ref field, .. }) if field == "data.stream"
        ));
    }

    #[test]
    fn duplicates_are_refused() {
        let err = modules_yaml(&[apache(), apache()], &[]).unwrap_err();
        assert!(matches!(err, Error::Duplicate { .. }), "{err}");
        let err = modules_yaml(&[], &[apache_defaults(), apache_defaults()]).unwrap_err();
        assert!(matches!(err, Error::Duplicate { .. }), "{err}");
    }

    #[test]
    fn round_trip() {
        let mut s = apache();
        s.xmd = json!({
            "strata": {
                "inputs": [
                    {"compose_id": "base-8-20261124.n.0", "kind": "module"},
                    {"sha256": "ab12", "kind": "repo"}
                ],
                "nested": [["a", "b"], ["c"]],
                "lists": [[], []],
                "numbers_are_strings": ["a", 1, 2.5],
                "empty_list": [],
                "empty_map": {},
                "flag": true,
                "off": false,
                "count": 3,
                "ratio": 1.5,
                "quoted": ["2.4", "yes", "null", "", " pad ", "a: b", "#x", "ünïcode", "tab\there", "multi\nline\n"],
                "2.4": "key that looks like a number",
            }
        })
        .as_object()
        .unwrap()
        .clone();
        s.dependencies.push(Dependencies {
            buildrequires: BTreeMap::from([("platform".into(), vec!["f40".into()])]),
            requires: BTreeMap::from([("platform".into(), vec![])]),
        });
        s.servicelevels
            .insert("stable_api".into(), ServiceLevel { eol: None });
        s.description = "Line one.\n\n  Indented: \"quoted\" \\ back\\slash\n".into();
        let text = modules_yaml(&[s.clone()], &[apache_defaults()]).unwrap();
        let docs = parse_modules_yaml(&text).unwrap();
        // The writer sorts and deduplicates sets; compare with that.
        let mut want = s;
        want.license.content = vec!["ASL 2.0".into()];
        want.artifacts.sort();
        want.profiles.get_mut("default").unwrap().rpms.sort();
        assert_eq!(
            docs,
            vec![
                Document::Defaults(apache_defaults()),
                Document::Stream(want)
            ]
        );
        // And writing what was read gives the same bytes.
        let Document::Stream(again) = &docs[1] else {
            panic!()
        };
        assert_eq!(
            modules_yaml(std::slice::from_ref(again), &[apache_defaults()]).unwrap(),
            text
        );
    }

    #[test]
    fn reads_what_libmodulemd_writes() {
        let text = include_str!("../test-data/libmodulemd-2.14.yaml");
        let docs = parse_modules_yaml(text).unwrap();
        assert_eq!(docs.len(), 3);
        let Document::Defaults(d) = &docs[0] else {
            panic!("{docs:?}")
        };
        assert_eq!(d.module, "apache");
        assert_eq!(d.stream.as_deref(), Some("2.10"));
        // Unquoted `2.10:` is the stream name, not the number 2.1.
        assert_eq!(d.profiles["2.10"], vec!["default".to_string()]);
        let Document::Stream(s) = &docs[1] else {
            panic!("{docs:?}")
        };
        assert_eq!(s.nsvca(), "apache:2.10:20261125083000:c0ffee43:x86_64");
        assert_eq!(
            s.description,
            "The Apache web server\nand its modules: yes."
        );
        assert_eq!(
            s.artifacts,
            vec!["httpd-0:2.4.58-1.fc40.x86_64".to_string()]
        );
        assert_eq!(
            s.servicelevels["rawhide"].eol.as_deref(),
            Some("2027-12-01")
        );
        assert_eq!(s.license.module, vec!["MIT".to_string()]);
        assert_eq!(
            s.dependencies[0].requires["base"],
            vec!["8".to_string()],
            "{:?}",
            s.dependencies
        );
        assert_eq!(s.dependencies[0].requires["empty"], Vec::<String>::new());
        assert_eq!(s.profiles["default"].rpms, vec!["httpd", "mod_ssl"]);
        assert_eq!(s.xmd["strata"]["compose_id"], "apache-2.4-20261125.n.0");
        assert_eq!(s.xmd["strata"]["flag"], true);
        assert_eq!(s.xmd["strata"]["multi"], "a\nb");
        let Document::Stream(base) = &docs[2] else {
            panic!("{docs:?}")
        };
        // `context: 00000001` unquoted stays the text it is.
        assert_eq!(base.nsvca(), "base:8:1:00000001:noarch");
        assert_eq!(base.artifacts, vec!["base-1:8.0-1.noarch".to_string()]);
        // Everything libmodulemd wrote validates here too.
        s.validate().unwrap();
        base.validate().unwrap();
    }

    #[test]
    fn reads_other_documents_and_reports_bad_ones() {
        let text = "---\ndocument: modulemd-translations\nversion: 1\ndata:\n  module: apache\n  stream: \"2.4\"\n  modified: 202611250830\n  translations: {}\n...\n";
        assert_eq!(
            parse_modules_yaml(text).unwrap(),
            vec![Document::Other {
                document: "modulemd-translations".into(),
                version: 1
            }]
        );
        assert_eq!(parse_modules_yaml("").unwrap(), vec![]);
        assert_eq!(parse_modules_yaml("# nothing\n---\n").unwrap(), vec![]);
        let err = parse_modules_yaml(&format!(
            "{APACHE_YAML}---\ndocument: modulemd\nversion: 2\ndata:\n  stream: x\n...\n"
        ))
        .unwrap_err();
        assert!(
            matches!(err, Error::Parse { index: 3, ref message } if message.contains("data.name")),
            "{err}"
        );
        let err = parse_modules_yaml("---\ndocument: modulemd\nversion: 2\ndata: [\n").unwrap_err();
        assert!(matches!(err, Error::Parse { index: 1, .. }), "{err}");
    }

    #[test]
    fn v1_dependencies_become_one_entry() {
        let text = "---\ndocument: modulemd\nversion: 1\ndata:\n  name: a\n  stream: s\n  version: 1\n  dependencies:\n    buildrequires: {platform: f28}\n    requires: {platform: f28}\n...\n";
        let docs = parse_modules_yaml(text).unwrap();
        let Document::Stream(s) = &docs[0] else {
            panic!()
        };
        assert_eq!(s.dependencies.len(), 1);
        assert_eq!(s.dependencies[0].requires["platform"], vec!["f28"]);
    }

    #[test]
    fn obsoletes_follow_their_modules_streams() {
        let eol = Obsoletes {
            module: "apache".into(),
            stream: "2.4".into(),
            modified: "2026-10-29".into(),
            message: "apache:2.4 reaches its end of life on 2027-01-31".into(),
            eol_date: Some("2027-01-31".into()),
            obsoleted_by: None,
        };
        let text =
            modules_yaml_with_obsoletes(&[apache()], &[], std::slice::from_ref(&eol)).unwrap();
        let stream_alone = modules_yaml(&[apache()], &[]).unwrap();
        assert_eq!(
            text,
            stream_alone
                + "---\ndocument: modulemd-obsoletes\nversion: 1\ndata:\n  \
                   modified: \"2026-10-29T00:00Z\"\n  module: apache\n  stream: \"2.4\"\n  \
                   eol_date: \"2027-01-31T00:00Z\"\n  \
                   message: apache:2.4 reaches its end of life on 2027-01-31\n...\n"
        );
        let replaced = Obsoletes {
            obsoleted_by: Some(("apache".into(), "2.6".into())),
            ..eol.clone()
        };
        let text = modules_yaml_with_obsoletes(&[], &[], &[replaced]).unwrap();
        assert!(
            text.ends_with("  obsoleted_by:\n    module: apache\n    stream: \"2.6\"\n...\n"),
            "{text}"
        );
        let bad = Obsoletes {
            eol_date: Some("2027-02-30".into()),
            ..eol.clone()
        };
        let err = modules_yaml_with_obsoletes(&[], &[], &[bad]).unwrap_err();
        assert!(err.to_string().contains("data.eol_date"), "{err}");
        let err = modules_yaml_with_obsoletes(&[], &[], &[eol.clone(), eol]).unwrap_err();
        assert!(
            err.to_string().contains("modulemd-obsoletes of apache:2.4"),
            "{err}"
        );
    }
}
