//! The `strata-module` document: a module's static manifest as kept in SCM.
//!
//! Parsing happens in two passes over the same text. serde (through
//! serde_yaml_ng) does the typing and reports unknown keys and wrong types
//! with the key path and position; a pass over the YAML event stream
//! (saphyr-parser) finds duplicate keys, which serde would silently merge,
//! and gives the position of any key path so that checks across fields
//! ("pin for a package not in the manifest") can name a line too.

use crate::evr::Evr;
use crate::nevra::is_valid_rpm_name;
use saphyr_parser::{Event, Parser, Span};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// The document type this module reads.
pub const MODULE_DOCUMENT: &str = "strata-module";
/// The only version of it so far.
pub const MODULE_DOCUMENT_VERSION: u32 = 1;

/// A validated module definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleDefinition {
    pub name: String,
    pub stream: String,
    pub summary: String,
    pub description: String,
    pub license: Vec<String>,
    /// Arches to compose for; empty means "as the command line or the
    /// host says".
    pub arches: Vec<String>,
    pub source: Source,
    /// Required modules: name → stream. `platform` names the platform
    /// stream, whose repositories come from configuration.
    pub requires: BTreeMap<String, String>,
    /// Required modules whose compose is pinned: name → compose ID, used
    /// instead of the stream's last good compose.
    pub compose_pins: BTreeMap<String, String>,
    /// The static manifest: binary package name → why it is here.
    pub packages: BTreeMap<String, PackageEntry>,
    /// Exact versions: name → `[epoch:]version[-release]`.
    pub pins: BTreeMap<String, String>,
    pub profiles: BTreeMap<String, Vec<String>>,
    pub api: Vec<String>,
    pub lifecycle: Option<Lifecycle>,
}

/// Where the binary packages come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A Koji tag; the hub comes from configuration.
    Koji { tag: String },
    /// yum repositories (directories, `file://` or `http(s)://` URLs);
    /// `$arch` and `$basearch` are replaced by the compose arch.
    Repos(Vec<String>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageEntry {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// End of life, `YYYY-MM-DD`.
    pub eol: String,
}

/// One problem in a definition, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path, e.g. `data.packages.httpd`.
    pub key: String,
    /// 1-based line and column, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

/// Everything wrong with one definition file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{} is not a valid {MODULE_DOCUMENT} document ({n} problem{})",
            self.file,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {}", p.display(&self.file))?;
        }
        Ok(())
    }
}

impl std::error::Error for DefinitionError {}

impl Problem {
    /// `file:line:column: key: message`, as compilers print it.
    pub fn display(&self, file: &str) -> String {
        let mut s = file.to_string();
        if let Some(l) = self.line {
            s.push_str(&format!(":{l}"));
            if let Some(c) = self.column {
                s.push_str(&format!(":{c}"));
            }
        }
        if self.key.is_empty() {
            format!("{s}: {}", self.message)
        } else {
            format!("{s}: {}: {}", self.key, self.message)
        }
    }
}

// The raw document as serde sees it. Maps keep their YAML order only
// until validation; the result is sorted for stable output.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    document: String,
    version: u32,
    data: RawData,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    name: String,
    stream: String,
    summary: String,
    description: String,
    license: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    source: RawSource,
    #[serde(default)]
    requires: BTreeMap<String, String>,
    #[serde(default)]
    compose_pins: BTreeMap<String, String>,
    packages: BTreeMap<String, Option<PackageEntry>>,
    #[serde(default)]
    pins: BTreeMap<String, String>,
    #[serde(default)]
    profiles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    api: Vec<String>,
    #[serde(default)]
    lifecycle: Option<Lifecycle>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(default)]
    koji: Option<RawKoji>,
    #[serde(default)]
    repos: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKoji {
    tag: String,
}

/// Positions of every key (and sequence item) in a YAML text, by path.
struct Positions {
    at: HashMap<String, (usize, usize)>,
}

impl Positions {
    fn line_of(&self, key: &str) -> (Option<usize>, Option<usize>) {
        match self.at.get(key) {
            Some(&(l, c)) => (Some(l), Some(c)),
            None => (None, None),
        }
    }
}

enum Frame {
    Map {
        path: String,
        /// The key waiting for its value, if a key was just read.
        pending: Option<String>,
        seen: HashMap<String, usize>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Walks the event stream: records where each key path starts, and
/// reports duplicate keys (serde would keep the last one silently).
fn scan_positions(text: &str, problems: &mut Vec<Problem>) -> Positions {
    let mut at = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else {
            // serde reports syntax errors with a better message.
            break;
        };
        let pos = pos(&span);
        // The path of the node this event starts, if it is a value.
        let mut value_path = |stack: &mut Vec<Frame>| -> Option<String> {
            match stack.last_mut() {
                None => Some(String::new()),
                Some(Frame::Seq { path, next }) => {
                    let p = format!("{path}[{next}]");
                    *next += 1;
                    at.insert(p.clone(), pos);
                    Some(p)
                }
                Some(Frame::Map { pending, .. }) => pending.take(),
            }
        };
        match event {
            Event::DocumentStart(_) => documents += 1,
            Event::Scalar(value, ..) => {
                let is_key = matches!(stack.last(), Some(Frame::Map { pending: None, .. }));
                if is_key {
                    if let Some(Frame::Map {
                        path,
                        pending,
                        seen,
                    }) = stack.last_mut()
                    {
                        let p = child(path, &value);
                        if let Some(first) = seen.get(value.as_ref()) {
                            problems.push(Problem {
                                key: p.clone(),
                                line: Some(pos.0),
                                column: Some(pos.1),
                                message: format!(
                                    "duplicate key `{value}` (first given on line {first})"
                                ),
                            });
                        } else {
                            seen.insert(value.to_string(), pos.0);
                            at.insert(p.clone(), pos);
                        }
                        *pending = Some(p);
                    }
                } else {
                    value_path(&mut stack);
                }
            }
            Event::Alias(_) => {
                value_path(&mut stack);
            }
            Event::MappingStart(..) => {
                let path = value_path(&mut stack).unwrap_or_default();
                stack.push(Frame::Map {
                    path,
                    pending: None,
                    seen: HashMap::new(),
                });
            }
            Event::SequenceStart(..) => {
                let path = value_path(&mut stack).unwrap_or_default();
                stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    if documents > 1 {
        problems.push(Problem {
            key: String::new(),
            line: None,
            column: None,
            message: format!("expected one YAML document, found {documents}"),
        });
    }
    Positions { at }
}

fn pos(span: &Span) -> (usize, usize) {
    (span.start.line(), span.start.col() + 1)
}

/// Module names as modulemd and RPM accept them.
pub fn is_valid_module_name(name: &str) -> bool {
    is_valid_rpm_name(name) && !name.contains(['%', '{', '}', '^', '~', ':'])
}

/// Streams: no `-` (it separates the fields of a compose ID) and no `:`
/// or `/` (they separate the fields of `name:stream/profile`).
pub fn is_valid_stream(stream: &str) -> bool {
    !stream.is_empty()
        && !stream.starts_with('.')
        && stream
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._+~".contains(&c))
}

/// Architecture names (`x86_64`, `aarch64`, `ppc64le`, `s390x`, `i686`).
pub fn is_valid_arch(arch: &str) -> bool {
    !arch.is_empty()
        && arch != "noarch"
        && arch != "src"
        && arch
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

fn is_valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._+".contains(&c))
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    match (num(0..4), num(5..7), num(8..10)) {
        (Some(_), Some(m), Some(d)) => (1..=12).contains(&m) && (1..=31).contains(&d),
        _ => false,
    }
}

impl ModuleDefinition {
    /// Parses and validates a definition. `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<ModuleDefinition, DefinitionError> {
        let mut problems = Vec::new();
        let positions = scan_positions(text, &mut problems);
        let fail = |problems: Vec<Problem>| DefinitionError {
            file: file.to_string(),
            problems,
        };
        let raw: RawDocument = match serde_yaml_ng::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let (line, column) = e
                    .location()
                    .map(|l| (Some(l.line()), Some(l.column())))
                    .unwrap_or((None, None));
                // serde_yaml_ng prefixes the key path; keep it as the key.
                let msg = e.to_string();
                let msg = match msg.rfind(" at line ") {
                    Some(i) if line.is_some() => msg[..i].to_string(),
                    _ => msg,
                };
                let (key, message) = match msg.split_once(": ") {
                    Some((k, m)) if !k.contains(' ') => (k.to_string(), m.to_string()),
                    _ => (String::new(), msg),
                };
                problems.push(Problem {
                    key,
                    line,
                    column,
                    message,
                });
                return Err(fail(problems));
            }
        };
        let mut check = |ok: bool, key: String, message: String| {
            if !ok {
                let (line, column) = positions.line_of(&key);
                problems.push(Problem {
                    key,
                    line,
                    column,
                    message,
                });
            }
        };
        check(
            raw.document == MODULE_DOCUMENT,
            "document".into(),
            format!("expected `{MODULE_DOCUMENT}`, found `{}`", raw.document),
        );
        check(
            raw.version == MODULE_DOCUMENT_VERSION,
            "version".into(),
            format!(
                "this Strata reads version {MODULE_DOCUMENT_VERSION}, found {}",
                raw.version
            ),
        );
        let d = raw.data;
        check(
            is_valid_module_name(&d.name),
            "data.name".into(),
            format!("`{}` is not a valid module name", d.name),
        );
        check(
            is_valid_stream(&d.stream),
            "data.stream".into(),
            format!(
                "`{}` is not a valid stream (letters, digits and `._+~` only)",
                d.stream
            ),
        );
        check(
            !d.summary.trim().is_empty(),
            "data.summary".into(),
            "must not be empty".into(),
        );
        check(
            !d.description.trim().is_empty(),
            "data.description".into(),
            "must not be empty".into(),
        );
        check(
            !d.license.is_empty(),
            "data.license".into(),
            "name at least one license".into(),
        );
        for (i, l) in d.license.iter().enumerate() {
            check(
                !l.trim().is_empty(),
                format!("data.license[{i}]"),
                "must not be empty".into(),
            );
        }
        let mut seen_arch = Vec::new();
        for (i, a) in d.arches.iter().enumerate() {
            check(
                is_valid_arch(a),
                format!("data.arches[{i}]"),
                format!("`{a}` is not an architecture a module can be composed for"),
            );
            check(
                !seen_arch.contains(&a),
                format!("data.arches[{i}]"),
                format!("`{a}` is listed twice"),
            );
            seen_arch.push(a);
        }
        let source = match (d.source.koji, d.source.repos) {
            (Some(k), None) => {
                check(
                    is_valid_tag(&k.tag),
                    "data.source.koji.tag".into(),
                    format!("`{}` is not a valid Koji tag name", k.tag),
                );
                Source::Koji { tag: k.tag }
            }
            (None, Some(repos)) => {
                check(
                    !repos.is_empty(),
                    "data.source.repos".into(),
                    "name at least one repository".into(),
                );
                for (i, r) in repos.iter().enumerate() {
                    check(
                        !r.trim().is_empty(),
                        format!("data.source.repos[{i}]"),
                        "must not be empty".into(),
                    );
                }
                Source::Repos(repos)
            }
            (k, _) => {
                check(
                    false,
                    "data.source".into(),
                    if k.is_some() {
                        "give either `koji` or `repos`, not both".into()
                    } else {
                        "give `koji: {tag: ...}` or `repos: [...]`".into()
                    },
                );
                Source::Repos(Vec::new())
            }
        };
        for (m, s) in &d.requires {
            check(
                is_valid_module_name(m),
                format!("data.requires.{m}"),
                format!("`{m}` is not a valid module name"),
            );
            check(
                is_valid_stream(s),
                format!("data.requires.{m}"),
                format!("`{s}` is not a valid stream"),
            );
        }
        for (m, id) in &d.compose_pins {
            // A pin may name a module further down the stack, which only
            // the registry knows: here only its form, and its stream when
            // the module is required directly.
            let key = format!("data.compose_pins.{m}");
            let prefix = match d.requires.get(m) {
                Some(s) => format!("{m}-{s}-"),
                None => format!("{m}-"),
            };
            check(
                m != "platform" && m != &d.name && is_valid_module_name(m),
                key.clone(),
                format!("`{m}` is not a module this module can require"),
            );
            check(
                id.strip_prefix(&prefix)
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains(['/', ' '])),
                key,
                match d.requires.get(m) {
                    Some(s) => {
                        format!("`{id}` is not a compose ID of {m}:{s} (`{prefix}<date>...`)")
                    }
                    None => {
                        format!("`{id}` is not a compose ID of {m} (`{prefix}<stream>-<date>...`)")
                    }
                },
            );
        }
        check(
            !d.requires.contains_key(&d.name),
            format!("data.requires.{}", d.name),
            "a module cannot require itself".into(),
        );
        check(
            !d.packages.is_empty(),
            "data.packages".into(),
            "the manifest names no packages".into(),
        );
        let mut packages = BTreeMap::new();
        for (name, entry) in d.packages {
            check(
                is_valid_rpm_name(&name),
                format!("data.packages.{name}"),
                format!("`{name}` is not a valid RPM package name"),
            );
            packages.insert(name, entry.unwrap_or_default());
        }
        for (name, pin) in &d.pins {
            let key = format!("data.pins.{name}");
            check(
                packages.contains_key(name),
                key.clone(),
                format!("`{name}` is pinned but not in `packages`"),
            );
            let evr = Evr::parse(pin);
            check(
                !pin.is_empty()
                    && !evr.version.is_empty()
                    && evr.epoch.is_none_or(|e| e.parse::<u64>().is_ok())
                    && !pin.contains(char::is_whitespace),
                key,
                format!("`{pin}` is not `[epoch:]version[-release]`"),
            );
        }
        for (profile, rpms) in &d.profiles {
            check(
                !profile.is_empty() && is_valid_rpm_name(profile),
                format!("data.profiles.{profile}"),
                format!("`{profile}` is not a valid profile name"),
            );
            for (i, r) in rpms.iter().enumerate() {
                check(
                    packages.contains_key(r),
                    format!("data.profiles.{profile}[{i}]"),
                    format!("`{r}` is not in `packages`"),
                );
            }
        }
        for (i, r) in d.api.iter().enumerate() {
            check(
                packages.contains_key(r),
                format!("data.api[{i}]"),
                format!("`{r}` is not in `packages`"),
            );
        }
        if let Some(l) = &d.lifecycle {
            check(
                is_date(&l.eol),
                "data.lifecycle.eol".into(),
                format!("`{}` is not a date (YYYY-MM-DD)", l.eol),
            );
        }
        if !problems.is_empty() {
            problems.sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.column));
            return Err(fail(problems));
        }
        Ok(ModuleDefinition {
            name: d.name,
            stream: d.stream,
            summary: d.summary,
            description: d.description,
            license: d.license,
            arches: d.arches,
            source,
            requires: d.requires,
            compose_pins: d.compose_pins,
            packages,
            pins: d.pins,
            profiles: d.profiles,
            api: d.api,
            lifecycle: d.lifecycle,
        })
    }

    /// `name:stream`.
    pub fn nsv(&self) -> String {
        format!("{}:{}", self.name, self.stream)
    }

    /// The required modules other than the platform.
    pub fn module_requires(&self) -> impl Iterator<Item = (&str, &str)> {
        self.requires
            .iter()
            .filter(|(m, _)| m.as_str() != "platform")
            .map(|(m, s)| (m.as_str(), s.as_str()))
    }

    /// The platform stream, if the module requires one.
    pub fn platform(&self) -> Option<&str> {
        self.requires.get("platform").map(String::as_str)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const GOOD: &str = r#"document: strata-module
version: 1
data:
  name: apache
  stream: "2.4"
  summary: Apache HTTP Server
  description: The Apache web server and its modules.
  license: [MIT]
  arches: [x86_64, aarch64]
  source:
    koji: {tag: f40-build}
  requires: {platform: f40, base-runtime: f40}
  packages:
    httpd: {reason: the server}
    httpd-tools: {reason: "required by httpd; added 2026-11-20"}
    mod_ssl: {}
    mod_lua:
  pins: {httpd: 2.4.58-1.fc40}
  profiles: {default: [httpd, mod_ssl]}
  api: [httpd]
  lifecycle: {eol: 2027-12-01}
"#;

    fn problems(text: &str) -> Vec<String> {
        match ModuleDefinition::parse(text, "m.yaml") {
            Ok(_) => vec![],
            Err(e) => e.problems.iter().map(|p| p.display("m.yaml")).collect(),
        }
    }

    #[test]
    fn parses_the_architecture_example() {
        let d = ModuleDefinition::parse(GOOD, "m.yaml").unwrap();
        assert_eq!(d.nsv(), "apache:2.4");
        assert_eq!(
            d.source,
            Source::Koji {
                tag: "f40-build".into()
            }
        );
        assert_eq!(d.platform(), Some("f40"));
        assert_eq!(
            d.module_requires().collect::<Vec<_>>(),
            [("base-runtime", "f40")]
        );
        assert_eq!(d.packages.len(), 4);
        assert_eq!(d.packages["httpd"].reason.as_deref(), Some("the server"));
        assert_eq!(d.packages["mod_lua"].reason, None);
        assert_eq!(d.lifecycle.unwrap().eol, "2027-12-01");
    }

    #[test]
    fn unknown_key_names_line_and_path() {
        let p = problems(&GOOD.replace("  api: [httpd]\n", "  api: [httpd]\n  apis: []\n"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("m.yaml:21:3: data: unknown field `apis`"),
            "{p:?}"
        );
    }

    #[test]
    fn duplicate_package_is_an_error() {
        let p = problems(&GOOD.replace("    mod_ssl: {}\n", "    mod_ssl: {}\n    httpd: {}\n"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with(
                "m.yaml:17:5: data.packages.httpd: duplicate key `httpd` (first given on line 14)"
            ),
            "{p:?}"
        );
    }

    #[test]
    fn cross_field_problems_are_all_reported_with_lines() {
        let text = GOOD
            .replace("pins: {httpd: 2.4.58-1.fc40}", "pins: {nginx: 1.0}")
            .replace("api: [httpd]", "api: [httpd, php]")
            .replace("stream: \"2.4\"", "stream: 2.4-x")
            .replace("mod_ssl: {}", "\"../evil\": {}");
        let p = problems(&text);
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(p[0].starts_with("m.yaml:5:3: data.stream:"), "{p:?}");
        assert!(
            p[1].contains("data.packages.../evil: `../evil` is not a valid RPM"),
            "{p:?}"
        );
        assert!(
            p[2].starts_with("m.yaml:18:10: data.pins.nginx: `nginx` is pinned"),
            "{p:?}"
        );
        assert!(
            p[3].starts_with("m.yaml:19:31: data.profiles.default[1]: `mod_ssl`"),
            "{p:?}"
        );
        assert!(
            p[4].starts_with("m.yaml:20:16: data.api[1]: `php` is not in `packages`"),
            "{p:?}"
        );
    }

    #[test]
    fn wrong_type_and_bad_yaml() {
        let p = problems(&GOOD.replace("license: [MIT]", "license: MIT"));
        assert!(
            p[0].contains("data.license: invalid type: string \"MIT\""),
            "{p:?}"
        );
        let p = problems("document: strata-module\nversion: 1\ndata: {name: [\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("m.yaml:"), "{p:?}");
        let p = problems(&GOOD.replace("document: strata-module", "document: modulemd"));
        assert!(
            p[0].starts_with("m.yaml:1:1: document: expected `strata-module`"),
            "{p:?}"
        );
    }

    #[test]
    fn source_must_be_one_of() {
        let p = problems(&GOOD.replace(
            "    koji: {tag: f40-build}\n",
            "    koji: {tag: f40-build}\n    repos: [/srv/x]\n",
        ));
        assert!(
            p[0].contains("data.source: give either `koji` or `repos`, not both"),
            "{p:?}"
        );
        let p = problems(&GOOD.replace("    koji: {tag: f40-build}\n", "    {}\n"));
        assert!(!p.is_empty());
    }

    #[test]
    fn streams_and_arches() {
        assert!(is_valid_stream("2.4"));
        assert!(is_valid_stream("f40"));
        assert!(!is_valid_stream("2.4-1"));
        assert!(!is_valid_stream("a/b"));
        assert!(is_valid_arch("x86_64"));
        assert!(!is_valid_arch("noarch"));
        assert!(!is_valid_arch("../x"));
    }
}
