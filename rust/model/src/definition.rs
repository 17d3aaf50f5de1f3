//! The `strata-module` document: a module's static manifest as kept in SCM.
//!
//! A definition comes from outside (SCM, a Koji upload), so it is read in
//! steps that each bound the work of the next:
//! 1. bytes: at most [`MAX_DEFINITION_BYTES`]; UTF-8 (a UTF-8 byte order
//!    mark is skipped, as YAML allows; UTF-16 is named as such);
//! 2. a pass over the YAML event stream (saphyr-parser) builds a small tree
//!    with positions, and stops at the first syntax error, at nesting deeper
//!    than [`MAX_NESTING`], at anchors, aliases and tags (a definition has
//!    no use for them, and aliases are how a few bytes expand to gigabytes),
//!    and at a second document;
//! 3. the tree is checked against [`SHAPE`], the table of the document's
//!    fields: unknown and missing keys, duplicate keys (which serde would
//!    silently merge), wrong types, and every single-value rule — all
//!    problems at once, each with its line and column;
//! 4. only then serde types that same tree (no second YAML parser, which
//!    could read the text differently), and the rules across fields (pins,
//!    profiles and api name manifest packages; compose pins) run.
//!
//! The value rules are [`crate::rules`]: the same functions the registry,
//! modulemd and productmd writers call, so a definition `strata validate`
//! accepts is one a compose accepts.
//! `schema/strata-module.schema.json` describes the same shape; a test
//! compares it with [`SHAPE`].

use crate::evr::Evr;
use crate::nevra::is_valid_rpm_name;
use crate::rules;
use saphyr_parser::{Event, Marker, Parser, ScalarStyle};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// The document type this module reads.
pub const MODULE_DOCUMENT: &str = "strata-module";
/// The only version of it so far.
pub const MODULE_DOCUMENT_VERSION: u32 = 1;
/// The largest definition read: a manifest of thousands of packages is
/// about 100 KB.
pub const MAX_DEFINITION_BYTES: usize = 1024 * 1024;
/// The deepest nesting of mappings and lists accepted; the document itself
/// needs 4 (`data` → `packages` → a package → its reason).
pub const MAX_NESTING: usize = 32;
/// At most this many problems are listed; the rest are counted.
pub const MAX_PROBLEMS: usize = 100;
/// The longest module name or stream: a compose ID holds both and names a
/// directory (at most 255 bytes).
pub const MAX_NAME_LEN: usize = 100;

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

/// How long a module stream (or a release) is supported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// End of life, `YYYY-MM-DD`.
    pub eol: String,
    /// Service levels (`security_fixes`, `bug_fixes`, …) → the last day
    /// each is given, `YYYY-MM-DD`, at most the EOL. A level not listed
    /// lasts until the EOL.
    #[serde(default)]
    pub sla: BTreeMap<String, String>,
}

impl Lifecycle {
    /// The last day `level` is given: its own end, else the EOL.
    pub fn ends(&self, level: &str) -> &str {
        self.sla.get(level).unwrap_or(&self.eol)
    }
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
    /// The document type the file was read as (`strata-module`,
    /// `strata-policy`): the same reader checks them all.
    pub document: &'static str,
    pub problems: Vec<Problem>,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{} is not a valid {} document ({n} problem{})",
            self.file,
            self.document,
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
    fn new(key: String, at: Option<(usize, usize)>, message: String) -> Problem {
        Problem {
            key,
            line: at.map(|a| a.0),
            column: at.map(|a| a.1),
            message,
        }
    }

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

/// A value as it appears in a message: escaped, and cut short, so that a
/// hostile megabyte-long value does not become a megabyte of every message.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = value
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if value.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------
// The document's shape: one table for the structural check, the schema test
// and the error messages.

/// A check of one text value: why it is not acceptable, if it is not.
pub type Rule = fn(&str) -> Option<String>;

/// What a value in the document must be.
pub enum Shape {
    /// A scalar, read as text (`2.4` and `true` are text too); never empty
    /// (`key:` with nothing) or null.
    Text(Rule),
    /// The document version: a whole number, and the one this Strata
    /// reads.
    Version(u32),
    /// `true` or `false`, plain (YAML 1.2's core schema spellings; a
    /// quoted `"true"` is text to every YAML reader, so it is refused).
    Flag,
    /// A list; `min` items at least, else `few` says why.
    List {
        item: &'static Shape,
        min: usize,
        few: &'static str,
    },
    /// A mapping with these fields and no others.
    Record(&'static [Field]),
    /// A mapping with exactly one of these fields.
    OneOf(&'static [Field]),
    /// A mapping of free keys (each checked by `key`) to values.
    Map {
        key: Rule,
        value: &'static Shape,
        min: usize,
        few: &'static str,
    },
    /// The inner shape, or nothing (`key:`, `~`, `null`).
    Nullable(&'static Shape),
}

/// One field of a [`Shape::Record`] or [`Shape::OneOf`].
pub struct Field {
    pub name: &'static str,
    pub required: bool,
    pub shape: &'static Shape,
}

pub(crate) const fn req(name: &'static str, shape: &'static Shape) -> Field {
    Field {
        name,
        required: true,
        shape,
    }
}

pub(crate) const fn opt(name: &'static str, shape: &'static Shape) -> Field {
    Field {
        name,
        required: false,
        shape,
    }
}

/// The `strata-module` document.
pub static SHAPE: Shape = Shape::Record(&[
    req("document", &Shape::Text(document_rule)),
    req("version", &Shape::Version(MODULE_DOCUMENT_VERSION)),
    req("data", &DATA),
]);

static DATA: Shape = Shape::Record(&[
    req("name", &Shape::Text(module_name_rule)),
    req("stream", &Shape::Text(stream_rule)),
    req("summary", &Shape::Text(text_rule)),
    req("description", &Shape::Text(text_rule)),
    req(
        "license",
        &Shape::List {
            item: &Shape::Text(text_rule),
            min: 1,
            few: "name at least one license",
        },
    ),
    opt(
        "arches",
        &Shape::List {
            item: &Shape::Text(arch_rule),
            min: 0,
            few: "",
        },
    ),
    req(
        "source",
        &Shape::OneOf(&[
            opt(
                "koji",
                &Shape::Record(&[req("tag", &Shape::Text(tag_rule))]),
            ),
            opt(
                "repos",
                &Shape::List {
                    item: &Shape::Text(repo_rule),
                    min: 1,
                    few: "name at least one repository",
                },
            ),
        ]),
    ),
    opt(
        "requires",
        &Shape::Map {
            key: module_name_rule,
            value: &Shape::Text(stream_rule),
            min: 0,
            few: "",
        },
    ),
    opt("compose_pins", &COMPOSE_PINS),
    req(
        "packages",
        &Shape::Map {
            key: rpm_name_rule,
            value: &Shape::Nullable(&Shape::Record(&[opt(
                "reason",
                &Shape::Nullable(&Shape::Text(reason_rule)),
            )])),
            min: 1,
            few: "the manifest names no packages",
        },
    ),
    opt(
        "pins",
        &Shape::Map {
            key: rpm_name_rule,
            value: &Shape::Text(pin_rule),
            min: 0,
            few: "",
        },
    ),
    opt(
        "profiles",
        &Shape::Map {
            key: profile_rule,
            value: &Shape::List {
                item: &Shape::Text(rpm_name_rule),
                min: 0,
                few: "",
            },
            min: 0,
            few: "",
        },
    ),
    opt(
        "api",
        &Shape::List {
            item: &Shape::Text(rpm_name_rule),
            min: 0,
            few: "",
        },
    ),
    opt("lifecycle", &LIFECYCLE),
]);

/// `lifecycle`: the EOL and the service levels (module and release
/// documents).
pub(crate) static LIFECYCLE: Shape = Shape::Record(&[
    req("eol", &Shape::Text(date_rule)),
    opt(
        "sla",
        &Shape::Map {
            key: service_level_rule,
            value: &Shape::Text(date_rule),
            min: 0,
            few: "",
        },
    ),
]);

/// `compose_pins`: module name → compose ID (module and artifact
/// definitions).
pub(crate) static COMPOSE_PINS: Shape = Shape::Map {
    key: module_name_rule,
    value: &Shape::Text(compose_id_rule),
    min: 0,
    few: "",
};

fn document_rule(v: &str) -> Option<String> {
    (v != MODULE_DOCUMENT).then(|| format!("expected `{MODULE_DOCUMENT}`, found `{}`", shown(v)))
}

pub(crate) fn too_long(v: &str, what: &str) -> Option<String> {
    (v.len() > MAX_NAME_LEN).then(|| {
        format!(
            "`{}` is {} bytes long; a {what} may have at most {MAX_NAME_LEN} \
             (a compose ID holds it and names a directory)",
            shown(v),
            v.len()
        )
    })
}

pub(crate) fn module_name_rule(v: &str) -> Option<String> {
    too_long(v, "module name").or_else(|| rules::compose_id_name_problem(v))
}

pub(crate) fn stream_rule(v: &str) -> Option<String> {
    too_long(v, "stream")
        .or_else(|| rules::compose_id_stream_problem(v))
        .or_else(|| {
            rules::nsvcap_bad_char(v).map(|c| {
                format!(
                    "the stream `{v}` contains {c:?}; dnf's module specs \
                     (`name:stream/profile`) allow only {}",
                    rules::NSVCAP_CHARS
                )
            })
        })
}

pub(crate) fn control(v: &str, lines: bool) -> Option<String> {
    rules::control_char(v, lines).map(|c| {
        format!(
            "`{}` contains the control character {c:?} (U+{:04X}); {}",
            shown(v),
            c as u32,
            if lines {
                "text may hold printable characters, newlines and tabs"
            } else {
                "it must be printable"
            }
        )
    })
}

/// Free text (summary, description, a license): what libmodulemd stores.
pub(crate) fn text_rule(v: &str) -> Option<String> {
    if v.trim().is_empty() {
        return Some("must not be empty".into());
    }
    control(v, true)
}

fn reason_rule(v: &str) -> Option<String> {
    control(v, true)
}

pub(crate) fn arch_rule(v: &str) -> Option<String> {
    (!rules::is_compose_arch(v)).then(|| {
        format!(
            "`{}` is not an architecture a module can be composed for \
             (one of productmd's RPM_ARCHES, not noarch, src or nosrc)",
            shown(v)
        )
    })
}

fn tag_rule(v: &str) -> Option<String> {
    let ok = !v.is_empty()
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._+".contains(&c));
    (!ok).then(|| format!("`{}` is not a valid Koji tag name", shown(v)))
}

fn repo_rule(v: &str) -> Option<String> {
    if v.trim().is_empty() {
        return Some("must not be empty".into());
    }
    control(v, false)
}

pub(crate) fn rpm_name_rule(v: &str) -> Option<String> {
    (!is_valid_rpm_name(v)).then(|| format!("`{}` is not a valid RPM package name", shown(v)))
}

pub(crate) fn profile_rule(v: &str) -> Option<String> {
    let ok = !v.is_empty() && !v.starts_with('-') && rules::nsvcap_bad_char(v).is_none();
    (!ok).then(|| {
        format!(
            "`{}` is not a valid profile name ({}, not starting with `-`)",
            shown(v),
            rules::NSVCAP_CHARS
        )
    })
}

fn pin_rule(v: &str) -> Option<String> {
    let evr = Evr::parse(v);
    let ok = !v.is_empty()
        && !evr.version.is_empty()
        && evr.epoch.is_none_or(|e| e.parse::<u64>().is_ok())
        && !v.contains(char::is_whitespace)
        && rules::control_char(v, false).is_none();
    (!ok).then(|| format!("`{}` is not `[epoch:]version[-release]`", shown(v)))
}

/// The form of a compose ID; which module's it must be is checked across
/// fields.
pub(crate) fn compose_id_rule(v: &str) -> Option<String> {
    let ok = !v.is_empty()
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._+~".contains(&c));
    (!ok).then(|| {
        format!(
            "`{}` is not a compose ID (ASCII letters, digits and `-._+~`)",
            shown(v)
        )
    })
}

/// A service level's name, as modulemd's `servicelevels` keys and the
/// release documents use them.
fn service_level_rule(v: &str) -> Option<String> {
    let ok = v.starts_with(|c: char| c.is_ascii_alphabetic())
        && v.len() <= MAX_NAME_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    (!ok).then(|| {
        format!(
            "`{}` is not a service level name (ASCII letters, digits and `_.-`, \
             starting with a letter, e.g. `security_fixes`)",
            shown(v)
        )
    })
}

/// The rule across a lifecycle's fields: no service level outlives the
/// EOL. `at` is where the lifecycle is (`data.lifecycle`).
pub(crate) fn lifecycle_problems(l: &Lifecycle, root: &Node, at: &[Seg], problems: &mut Problems) {
    for (level, end) in &l.sla {
        // `YYYY-MM-DD` compares as text; bad dates were reported already.
        if rules::is_calendar_date(end) && rules::is_calendar_date(&l.eol) && *end > l.eol {
            let mut segs = at.to_vec();
            segs.extend([Seg::Key("sla"), Seg::Key(level)]);
            problems.across(
                root,
                &segs,
                format!(
                    "{level} ends {end}, after the end of life {}; a service level ends \
                     at the EOL at the latest",
                    l.eol
                ),
            );
        }
    }
}

pub(crate) fn date_rule(v: &str) -> Option<String> {
    (!rules::is_calendar_date(v)).then(|| format!("`{}` is not a date (YYYY-MM-DD)", shown(v)))
}

/// Module names as modulemd, dnf, RPM and compose IDs accept them.
pub fn is_valid_module_name(name: &str) -> bool {
    module_name_rule(name).is_none()
}

/// Streams as compose IDs (productmd) and dnf's module specs accept them.
pub fn is_valid_stream(stream: &str) -> bool {
    stream_rule(stream).is_none()
}

/// Architectures a module can be composed for (`x86_64`, `aarch64`,
/// `ppc64le`, `s390x`, `i686`, …).
pub fn is_valid_arch(arch: &str) -> bool {
    rules::is_compose_arch(arch)
}

// ---------------------------------------------------------------------------
// Step 2: the event stream, bounded, into a tree with positions.

/// A YAML node with the position (1-based line, column) where it starts.
pub(crate) struct Node<'a> {
    at: (usize, usize),
    kind: Kind<'a>,
}

pub(crate) enum Kind<'a> {
    Scalar { value: Cow<'a, str>, plain: bool },
    Seq(Vec<Node<'a>>),
    Map(Vec<(Node<'a>, Node<'a>)>),
}

impl Node<'_> {
    /// `key:` with nothing, `~` or `null`: what serde reads as "none".
    fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, plain: true }
            if matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// `key:` with nothing, which serde reads as an empty list or mapping.
    fn is_empty_plain(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, plain: true } if value.is_empty())
    }

    fn describe(&self) -> String {
        match &self.kind {
            _ if self.is_null() => "nothing".into(),
            Kind::Scalar { value, .. } => format!("text `{}`", shown(value)),
            Kind::Seq(_) => "a list".into(),
            Kind::Map(_) => "a mapping".into(),
        }
    }

    fn text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }
}

fn marker_at(m: &Marker) -> (usize, usize) {
    (m.line(), m.col() + 1)
}

/// Builds the tree of the first document, or says why not (one problem:
/// nothing after a syntax error or a limit is worth reading).
fn build_tree(text: &str) -> Result<Option<Node<'_>>, Problem> {
    let fatal =
        |at: (usize, usize), message: String| Problem::new(String::new(), Some(at), message);
    let no_anchors = |at| {
        fatal(
            at,
            "YAML anchors (`&name`) and aliases (`*name`) are not allowed in a definition: \
             write each value out"
                .into(),
        )
    };
    let no_tags = |at| {
        fatal(
            at,
            "YAML tags (`!name`, `!!str`) are not allowed in a definition: quote text instead"
                .into(),
        )
    };
    // Containers being filled, each with the key waiting for its value.
    let mut stack: Vec<(Node, Option<Node>)> = Vec::new();
    let mut root = None;
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| {
            // saphyr-parser reads ahead in flow collections (`[[[…`) and
            // stops itself past its own depth limit; same rule, our words.
            let message = if e.info().contains("recursion limit exceeded") {
                too_deep()
            } else {
                format!("not valid YAML: {}", e.info())
            };
            fatal(marker_at(e.marker()), message)
        })?;
        let at = marker_at(&span.start);
        let node = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(fatal(
                        at,
                        "a second YAML document starts here; a definition is one document".into(),
                    ));
                }
                continue;
            }
            Event::Alias(_) => return Err(no_anchors(at)),
            Event::Scalar(value, style, anchor, tag) => {
                if anchor != 0 {
                    return Err(no_anchors(at));
                }
                if tag.is_some() {
                    return Err(no_tags(at));
                }
                Node {
                    at,
                    kind: Kind::Scalar {
                        value,
                        plain: style == ScalarStyle::Plain,
                    },
                }
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                if anchor != 0 {
                    return Err(no_anchors(at));
                }
                if tag.is_some() {
                    return Err(no_tags(at));
                }
                // Stop here, before the parser reads any deeper: deep
                // nesting is how a small file costs a lot.
                if stack.len() >= MAX_NESTING {
                    return Err(fatal(at, too_deep()));
                }
                let kind = if matches!(event, Event::SequenceStart(..)) {
                    Kind::Seq(Vec::new())
                } else {
                    Kind::Map(Vec::new())
                };
                stack.push((Node { at, kind }, None));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some((node, _)) => node,
                None => continue,
            },
            _ => continue,
        };
        match stack.last_mut() {
            None => root = root.or(Some(node)),
            Some((parent, pending)) => match &mut parent.kind {
                Kind::Seq(items) => items.push(node),
                Kind::Map(entries) => match pending.take() {
                    None => *pending = Some(node),
                    Some(key) => entries.push((key, node)),
                },
                Kind::Scalar { .. } => {}
            },
        }
    }
    Ok(root)
}

// ---------------------------------------------------------------------------
// Step 3: the tree against the shape.

/// A key path, built only when a problem names it.
#[derive(Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

struct PathRef<'p, 'a> {
    parent: Option<&'p PathRef<'p, 'a>>,
    seg: Option<Seg<'a>>,
}

impl<'p, 'a> PathRef<'p, 'a> {
    fn child(&'p self, seg: Seg<'a>) -> PathRef<'p, 'a> {
        PathRef {
            parent: Some(self),
            seg: Some(seg),
        }
    }

    fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut p = Some(self);
        while let Some(node) = p {
            if let Some(s) = node.seg {
                segs.push(s);
            }
            p = node.parent;
        }
        render_path(segs.iter().rev().copied())
    }
}

pub(crate) fn render_path<'a>(segs: impl Iterator<Item = Seg<'a>>) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&shown(k));
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Problems, at most [`MAX_PROBLEMS`] of them; the rest are counted.
#[derive(Default)]
pub(crate) struct Problems {
    list: Vec<Problem>,
    more: usize,
    /// Whether a problem is in the document's structure (a key or a type),
    /// so that serde cannot type it; problems with values leave it
    /// typeable, and the checks across fields still run.
    structural: bool,
}

impl Problems {
    /// A problem found by a rule across fields, at `segs`; where the checks
    /// of the tree found the same key wrong, once is enough.
    pub(crate) fn across(&mut self, root: &Node, segs: &[Seg], message: String) {
        let key = render_path(segs.iter().copied());
        if self.list.iter().any(|p| p.key == key) {
            return;
        }
        match position(root, segs) {
            Some(at) => self.push(|| key, at, message),
            None => self.list.push(Problem::new(key, None, message)),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn structure(&mut self, key: impl FnOnce() -> String, at: (usize, usize), message: String) {
        self.structural = true;
        self.push(key, at, message);
    }

    fn push(&mut self, key: impl FnOnce() -> String, at: (usize, usize), message: String) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(Problem::new(key(), Some(at), message));
        } else {
            self.more += 1;
        }
    }

    pub(crate) fn into_sorted(mut self) -> Vec<Problem> {
        self.list
            .sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.column));
        if self.more > 0 {
            self.list.push(Problem::new(
                String::new(),
                None,
                format!(
                    "and {} more problem{} (only the first {MAX_PROBLEMS} are listed)",
                    self.more,
                    if self.more == 1 { "" } else { "s" }
                ),
            ));
        }
        self.list
    }
}

/// A [`Shape::Flag`]'s value, typed as serde sees text.
pub(crate) fn flag(v: &str) -> Option<bool> {
    match v {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn check(shape: &Shape, node: &Node, path: &PathRef, key_at: (usize, usize), out: &mut Problems) {
    let wrong = |expected: &str, out: &mut Problems| {
        out.structure(
            || path.render(),
            node.at,
            format!("expected {expected}, found {}", node.describe()),
        )
    };
    match shape {
        Shape::Nullable(inner) => {
            if !node.is_null() {
                check(inner, node, path, key_at, out);
            }
        }
        Shape::Text(rule) => match &node.kind {
            _ if node.is_null() => wrong("text", out),
            Kind::Scalar { value, .. } => {
                if let Some(m) = rule(value) {
                    out.push(|| path.render(), node.at, m);
                }
            }
            _ => wrong("text", out),
        },
        Shape::Flag => match &node.kind {
            Kind::Scalar { value, plain: true } if flag(value).is_some() => {}
            _ => wrong("`true` or `false`", out),
        },
        Shape::Version(expected) => match &node.kind {
            // Plain decimal digits only (`01`, `+1` and `0x1` are numbers
            // to some YAML readers and text to others).
            Kind::Scalar { value, plain: true }
                if value.parse::<u32>().is_ok()
                    && value.bytes().all(|b| b.is_ascii_digit())
                    && (value.len() == 1 || !value.starts_with('0')) =>
            {
                if value.parse::<u32>() != Ok(*expected) {
                    out.push(
                        || path.render(),
                        node.at,
                        format!("this Strata reads version {expected}, found {value}"),
                    );
                }
            }
            _ => wrong("a whole number", out),
        },
        Shape::List { item, min, few } => {
            let items: &[Node] = match &node.kind {
                Kind::Seq(items) => items,
                _ if node.is_empty_plain() => &[],
                _ => return wrong("a list", out),
            };
            for (i, n) in items.iter().enumerate() {
                check(item, n, &path.child(Seg::Index(i)), n.at, out);
            }
            if items.len() < *min {
                out.push(|| path.render(), node.at, few.to_string());
            }
        }
        Shape::Record(fields) | Shape::OneOf(fields) => {
            let entries = match mapping(node, path, out) {
                Some(e) => e,
                None => return wrong("a mapping", out),
            };
            let mut given = Vec::new();
            for (k, v) in entries {
                match fields.iter().find(|f| f.name == k.1) {
                    Some(f) => {
                        given.push(f.name);
                        check(f.shape, v, &path.child(Seg::Key(k.1)), k.0, out);
                    }
                    None => out.structure(
                        || path.render(),
                        k.0,
                        format!(
                            "unknown field `{}`, expected {}",
                            shown(k.1),
                            one_of(fields.iter().map(|f| f.name))
                        ),
                    ),
                }
            }
            if let Shape::OneOf(_) = shape {
                if given.len() != 1 {
                    let names: Vec<_> = fields.iter().map(|f| format!("`{}`", f.name)).collect();
                    out.structure(
                        || path.render(),
                        key_at,
                        if given.is_empty() {
                            format!("give {}", names.join(" or "))
                        } else {
                            format!("give either {}, not both", names.join(" or "))
                        },
                    );
                }
            }
            for f in fields.iter().filter(|f| f.required) {
                if !given.contains(&f.name) {
                    out.structure(
                        || path.render(),
                        key_at,
                        format!("missing required field `{}`", f.name),
                    );
                }
            }
        }
        Shape::Map {
            key,
            value,
            min,
            few,
        } => {
            let entries = match mapping(node, path, out) {
                Some(e) => e,
                None => return wrong("a mapping", out),
            };
            for (k, v) in &entries {
                let child = path.child(Seg::Key(k.1));
                if let Some(m) = key(k.1) {
                    out.push(|| child.render(), k.0, m);
                }
                check(value, v, &child, k.0, out);
            }
            if entries.len() < *min {
                out.push(|| path.render(), key_at, few.to_string());
            }
        }
    }
}

fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    match names.len() {
        1 => names[0].clone(),
        _ => format!("one of {}", names.join(", ")),
    }
}

/// The entries of a mapping node with text keys: ((key position, key),
/// value). Keys that are not text and duplicate keys are reported here and
/// left out. `None` when the node is not a mapping (nor `key:` with
/// nothing, which serde reads as an empty mapping).
type Entries<'n, 'a> = Vec<(((usize, usize), &'n str), &'n Node<'a>)>;

fn mapping<'n, 'a>(
    node: &'n Node<'a>,
    path: &PathRef,
    out: &mut Problems,
) -> Option<Entries<'n, 'a>> {
    let entries: &[(Node, Node)] = match &node.kind {
        Kind::Map(entries) => entries,
        _ if node.is_empty_plain() => &[],
        _ => return None,
    };
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut result = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let Some(name) = k.text().filter(|_| !k.is_null()) else {
            out.structure(
                || path.render(),
                k.at,
                format!("a key must be text, found {}", k.describe()),
            );
            continue;
        };
        if let Some(first) = seen.get(name) {
            let first = *first;
            out.structure(
                || path.child(Seg::Key(name)).render(),
                k.at,
                format!(
                    "duplicate key `{}` (first given on line {first})",
                    shown(name)
                ),
            );
            continue;
        }
        seen.insert(name, k.at.0);
        result.push(((k.at, name), v));
    }
    Some(result)
}

/// The position of the key (or list item) at `segs`, if it is there.
pub(crate) fn position(root: &Node, segs: &[Seg]) -> Option<(usize, usize)> {
    let mut node = root;
    let mut at = root.at;
    for s in segs {
        match (s, &node.kind) {
            (Seg::Key(k), Kind::Map(entries)) => {
                let (key, value) = entries.iter().find(|(key, _)| key.text() == Some(k))?;
                at = key.at;
                node = value;
            }
            (Seg::Index(i), Kind::Seq(items)) => {
                node = items.get(*i)?;
                at = node.at;
            }
            _ => return None,
        }
    }
    Some(at)
}

// ---------------------------------------------------------------------------
// Step 4: typing, and the rules across fields.

/// serde reads the checked tree: scalars as text (or a `u32`, or none when
/// null), lists and mappings as such, `key:` with nothing as an empty list
/// or mapping.
impl<'de> serde::Deserializer<'de> for &Node<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        use serde::de::value::{MapDeserializer, SeqDeserializer};
        match &self.kind {
            Kind::Scalar { value, .. } => v.visit_str(value),
            Kind::Seq(items) => v.visit_seq(SeqDeserializer::new(items.iter())),
            Kind::Map(entries) => {
                v.visit_map(MapDeserializer::new(entries.iter().map(|(k, v)| (k, v))))
            }
        }
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        if self.is_null() {
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_u32<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self.text().and_then(|t| t.parse().ok()) {
            Some(n) => v.visit_u32(n),
            None => self.deserialize_any(v),
        }
    }

    fn deserialize_bool<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self.text().and_then(flag) {
            Some(b) => v.visit_bool(b),
            None => self.deserialize_any(v),
        }
    }

    fn deserialize_seq<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        if self.is_empty_plain() {
            v.visit_seq(serde::de::value::SeqDeserializer::new(std::iter::empty::<
                &Node,
            >()))
        } else {
            self.deserialize_any(v)
        }
    }

    fn deserialize_map<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        if self.is_empty_plain() {
            v.visit_map(serde::de::value::MapDeserializer::new(std::iter::empty::<(
                &Node,
                &Node,
            )>()))
        } else {
            self.deserialize_any(v)
        }
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_map(v)
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct tuple
        tuple_struct enum identifier ignored_any
    }
}

impl<'de, 'n, 'a> serde::de::IntoDeserializer<'de, serde::de::value::Error> for &'n Node<'a> {
    type Deserializer = &'n Node<'a>;

    fn into_deserializer(self) -> Self::Deserializer {
        self
    }
}

// The raw document as serde sees it, once the shape check passed. Maps keep
// their YAML order only until validation; the result is sorted for stable
// output.
// Every Strata document has this envelope; `D` is its `data`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDocument<D> {
    #[allow(dead_code)]
    document: String,
    #[allow(dead_code)]
    version: u32,
    pub(crate) data: D,
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

/// Step 1 for every Strata document: the size and the encoding (UTF-8; a
/// UTF-16 byte order mark is named as such). `file` and `document` name
/// the file and what it was read as in errors, `noun` what it holds ("a
/// definition").
pub(crate) fn utf8_text<'b>(
    bytes: &'b [u8],
    file: &str,
    document: &'static str,
    noun: &str,
) -> Result<&'b str, DefinitionError> {
    let fail = |at: Option<(usize, usize)>, message: String| DefinitionError {
        file: file.to_string(),
        document,
        problems: vec![Problem::new(String::new(), at, message)],
    };
    if bytes.len() > MAX_DEFINITION_BYTES {
        return Err(fail(None, too_big(bytes.len())));
    }
    if bytes.starts_with(&[0xFE, 0xFF]) || bytes.starts_with(&[0xFF, 0xFE]) {
        return Err(fail(
            Some((1, 1)),
            "the file starts with a UTF-16 byte order mark: it is UTF-16, not UTF-8; \
             save it as UTF-8"
                .into(),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        // Valid UTF-8 up to here, so the column counts characters.
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        fail(
            Some((line, column)),
            format!(
                "not UTF-8: byte 0x{:02X} at offset {} is not valid UTF-8; \
                 {noun} must be UTF-8 text",
                bytes[e.valid_up_to()],
                e.valid_up_to(),
            ),
        )
    })?;
    Ok(text)
}

/// The document type a file says it holds (its top-level `document:`),
/// when it is one Strata reads; `None` for anything else, and then the
/// caller reads it as a module definition, whose reader says what is wrong.
/// Bounded like every read: at most [`MAX_DEFINITION_BYTES`], and the
/// tree builder's limits.
pub fn document_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() > MAX_DEFINITION_BYTES {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let root = build_tree(text).ok()??;
    let Kind::Map(entries) = &root.kind else {
        return None;
    };
    let value = entries
        .iter()
        .find(|(k, _)| k.text() == Some("document"))?
        .1
        .text()?;
    [
        MODULE_DOCUMENT,
        crate::artifact::ARTIFACT_DOCUMENT,
        crate::policy::POLICY_DOCUMENT,
        crate::release::RELEASE_DOCUMENT,
    ]
    .into_iter()
    .find(|d| *d == value)
}

/// Steps 2 and 3 for every Strata document: the tree, checked against
/// `shape`. Structural problems end here; what returns is the tree serde
/// may type, and the value problems found so far (the caller adds its
/// rules across fields, then reports them all at once).
pub(crate) fn checked_tree<'t>(
    text: &'t str,
    file: &str,
    document: &'static str,
    shape: &Shape,
) -> Result<(Node<'t>, Problems), DefinitionError> {
    let fail = |problems: Vec<Problem>| DefinitionError {
        file: file.to_string(),
        document,
        problems,
    };
    if text.len() > MAX_DEFINITION_BYTES {
        return Err(fail(vec![Problem::new(
            String::new(),
            None,
            too_big(text.len()),
        )]));
    }
    // YAML allows a byte order mark; editors show no column for it.
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if let Some(p) = unprintable(text) {
        return Err(fail(vec![p]));
    }
    let root = build_tree(text).map_err(|p| fail(vec![p]))?;
    let Some(root) = root else {
        return Err(fail(vec![Problem::new(
            String::new(),
            Some((1, 1)),
            format!("the file holds no YAML document; expected a `{document}` document"),
        )]));
    };
    let mut problems = Problems::default();
    let top = PathRef {
        parent: None,
        seg: None,
    };
    check(shape, &root, &top, root.at, &mut problems);
    if problems.structural {
        return Err(fail(problems.into_sorted()));
    }
    Ok((root, problems))
}

/// Steps 2 to 4 for a document read into `RawDocument<D>` (a policy, an
/// artifact definition): the checked tree, typed by serde. Gives the tree
/// (where the caller's rules across fields point), the value problems so
/// far and the typed `data`; [`DefinitionError::of`] turns the problems
/// into the error.
pub(crate) fn typed_document<'t, D: serde::de::DeserializeOwned>(
    text: &'t str,
    file: &str,
    document: &'static str,
    shape: &Shape,
) -> Result<(Node<'t>, Problems, D), DefinitionError> {
    let (root, mut problems) = checked_tree(text, file, document, shape)?;
    match RawDocument::<D>::deserialize(&root) {
        Ok(raw) => Ok((root, problems, raw.data)),
        Err(e) => {
            // A difference is a bug in the shape table.
            debug_assert!(false, "serde refused what the shape check accepted: {e}");
            problems.across(&root, &[], e.to_string());
            Err(DefinitionError::of(file, document, problems))
        }
    }
}

impl DefinitionError {
    /// The error of `file`, read as `document`, with `problems`.
    pub(crate) fn of(file: &str, document: &'static str, problems: Problems) -> DefinitionError {
        DefinitionError {
            file: file.to_string(),
            document,
            problems: problems.into_sorted(),
        }
    }
}

impl ModuleDefinition {
    /// Checks and parses a definition read from a file: its size, its
    /// encoding (UTF-8; a UTF-8 byte order mark is skipped), then
    /// [`ModuleDefinition::parse`]. `file` names it in errors.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<ModuleDefinition, DefinitionError> {
        ModuleDefinition::parse(
            utf8_text(bytes, file, MODULE_DOCUMENT, "a definition")?,
            file,
        )
    }

    /// Parses and validates a definition. `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<ModuleDefinition, DefinitionError> {
        let fail = |problems: Vec<Problem>| DefinitionError {
            file: file.to_string(),
            document: MODULE_DOCUMENT,
            problems,
        };
        let (root, mut problems) = checked_tree(text, file, MODULE_DOCUMENT, &SHAPE)?;
        // serde types the tree the shape check walked: one parse, so no
        // second YAML parser can read the text differently.
        let raw = match RawDocument::<RawData>::deserialize(&root) {
            Ok(raw) => raw,
            Err(e) => {
                // The shape check is meant to catch everything serde
                // refuses; a difference is a bug in SHAPE (the fuzz target
                // runs with debug assertions and finds it).
                debug_assert!(false, "serde refused what the shape check accepted: {e}");
                return Err(fail(vec![Problem::new(String::new(), None, e.to_string())]));
            }
        };
        let mut check = |ok: bool, segs: &[Seg], message: String| {
            if !ok {
                problems.across(&root, segs, message);
            }
        };
        let d = raw.data;
        use Seg::{Index, Key};
        let mut seen_arch = Vec::new();
        for (i, a) in d.arches.iter().enumerate() {
            check(
                !seen_arch.contains(&a),
                &[Key("data"), Key("arches"), Index(i)],
                format!("`{a}` is listed twice"),
            );
            seen_arch.push(a);
        }
        let source = match (d.source.koji, d.source.repos) {
            (Some(k), _) => Source::Koji { tag: k.tag },
            (None, repos) => Source::Repos(repos.unwrap_or_default()),
        };
        check(
            !d.requires.contains_key(&d.name),
            &[Key("data"), Key("requires"), Key(&d.name)],
            "a module cannot require itself".into(),
        );
        for (m, id) in &d.compose_pins {
            // A pin may name a module further down the stack, which only
            // the registry knows: here only its form, and its stream when
            // the module is required directly.
            let key = [Key("data"), Key("compose_pins"), Key(m)];
            let prefix = match d.requires.get(m) {
                Some(s) => format!("{m}-{s}-"),
                None => format!("{m}-"),
            };
            check(
                m != "platform" && m != &d.name,
                &key,
                format!("`{m}` is not a module this module can require"),
            );
            check(
                id.strip_prefix(&prefix)
                    .is_some_and(|rest| !rest.is_empty()),
                &key,
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
        let packages: BTreeMap<String, PackageEntry> = d
            .packages
            .into_iter()
            .map(|(name, entry)| (name, entry.unwrap_or_default()))
            .collect();
        for name in d.pins.keys() {
            check(
                packages.contains_key(name),
                &[Key("data"), Key("pins"), Key(name)],
                format!("`{name}` is pinned but not in `packages`"),
            );
        }
        for (profile, rpms) in &d.profiles {
            for (i, r) in rpms.iter().enumerate() {
                check(
                    packages.contains_key(r),
                    &[Key("data"), Key("profiles"), Key(profile), Index(i)],
                    format!("`{r}` is not in `packages`"),
                );
            }
        }
        for (i, r) in d.api.iter().enumerate() {
            check(
                packages.contains_key(r),
                &[Key("data"), Key("api"), Index(i)],
                format!("`{r}` is not in `packages`"),
            );
        }
        if let Some(l) = &d.lifecycle {
            lifecycle_problems(l, &root, &[Key("data"), Key("lifecycle")], &mut problems);
        }
        if !problems.is_empty() {
            return Err(fail(problems.into_sorted()));
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

/// The first character YAML does not allow in a stream (`c-printable`:
/// no control characters but tab and line breaks, no DEL, no C1 controls
/// but NEL, no U+FFFE/U+FFFF). saphyr-parser lets some through, libyaml
/// (serde's parser) does not; an escape inside double quotes (`"\x07"`)
/// is how YAML writes one.
fn unprintable(text: &str) -> Option<Problem> {
    let printable = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}')
            || (c >= '\u{A0}' && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
    };
    let (offset, c) = text.char_indices().find(|&(_, c)| !printable(c))?;
    // Lines as YAML counts them: `\r\n`, `\n` or a lone `\r` ends one.
    let before = &text[..offset];
    let line = before.replace("\r\n", "\n").matches(['\n', '\r']).count() + 1;
    let line_start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Some(Problem::new(
        String::new(),
        Some((line, column)),
        format!(
            "the control character {c:?} (U+{:04X}) is not allowed in YAML; \
             inside double quotes write it as an escape",
            c as u32
        ),
    ))
}

fn too_deep() -> String {
    format!("nested deeper than {MAX_NESTING} levels; a definition needs 4")
}

fn too_big(len: usize) -> String {
    format!(
        "the file is larger than {} MiB ({MAX_DEFINITION_BYTES} bytes), the most a module \
         definition may be{}",
        MAX_DEFINITION_BYTES >> 20,
        if len > MAX_DEFINITION_BYTES + 1 {
            format!(" ({len} bytes)")
        } else {
            String::new()
        }
    )
}

/// Any Strata document this version reads, for front ends that take any
/// (`strata validate`).
#[derive(Debug, Clone)]
pub enum StrataDocument {
    // Boxed: definitions are several times larger than a policy.
    Module(Box<ModuleDefinition>),
    Artifact(Box<crate::ArtifactDefinition>),
    Policy(crate::Policy),
    Release(Box<crate::ReleaseDefinition>),
}

impl StrataDocument {
    /// Reads the document its envelope names; anything else (no
    /// `document:`, an unknown type) is read as a module definition, whose
    /// errors then say what is wrong.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<StrataDocument, DefinitionError> {
        match document_type(bytes) {
            Some(crate::POLICY_DOCUMENT) => {
                crate::Policy::from_bytes(bytes, file).map(Self::Policy)
            }
            Some(crate::artifact::ARTIFACT_DOCUMENT) => {
                crate::ArtifactDefinition::from_bytes(bytes, file)
                    .map(|d| Self::Artifact(Box::new(d)))
            }
            Some(crate::release::RELEASE_DOCUMENT) => {
                crate::ReleaseDefinition::from_bytes(bytes, file)
                    .map(|d| Self::Release(Box::new(d)))
            }
            _ => ModuleDefinition::from_bytes(bytes, file).map(|d| Self::Module(Box::new(d))),
        }
    }
}

#[cfg(test)]
pub(crate) mod test {
    use super::*;

    #[test]
    fn any_document_is_read_by_the_reader_its_envelope_names() {
        assert_eq!(document_type(GOOD.as_bytes()), Some(MODULE_DOCUMENT));
        let policy = "document: strata-policy\nversion: 1\ndata:\n  rules: []\n";
        assert!(matches!(
            StrataDocument::from_bytes(policy.as_bytes(), "p.yaml"),
            Ok(StrataDocument::Policy(_))
        ));
        assert!(matches!(
            StrataDocument::from_bytes(GOOD.as_bytes(), "m.yaml"),
            Ok(StrataDocument::Module(_))
        ));
        // No envelope, or an alias: the module reader says what is wrong.
        for text in ["- a\n", "a: &x 1\nb: *x\n", ""] {
            assert_eq!(document_type(text.as_bytes()), None, "{text:?}");
            let err = StrataDocument::from_bytes(text.as_bytes(), "x.yaml").unwrap_err();
            assert_eq!(err.document, MODULE_DOCUMENT);
        }
    }

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

    fn bytes_problems(bytes: &[u8]) -> Vec<String> {
        match ModuleDefinition::from_bytes(bytes, "m.yaml") {
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
    fn service_levels_beside_the_eol() {
        let text = GOOD.replace(
            "lifecycle: {eol: 2027-12-01}",
            "lifecycle: {eol: 2027-12-01, sla: {security_fixes: 2027-12-01, bug_fixes: 2027-06-30}}",
        );
        let d = ModuleDefinition::parse(&text, "m.yaml").unwrap();
        let l = d.lifecycle.unwrap();
        assert_eq!(l.sla["bug_fixes"], "2027-06-30");
        assert_eq!(l.sla["security_fixes"], "2027-12-01");
        let text = GOOD.replace(
            "lifecycle: {eol: 2027-12-01}",
            "lifecycle:\n    eol: 2027-12-01\n    sla:\n      security_fixes: 2028-01-31\n      \
             bug fixes: 2027-02-30\n      bug_fixes: 2027-01-01\n",
        );
        assert_eq!(
            problems(&text),
            [
                "m.yaml:24:7: data.lifecycle.sla.security_fixes: security_fixes ends 2028-01-31, after the end of life 2027-12-01; a service level ends at the EOL at the latest",
                "m.yaml:25:7: data.lifecycle.sla.bug fixes: `bug fixes` is not a service level name (ASCII letters, digits and `_.-`, starting with a letter, e.g. `security_fixes`)",
                "m.yaml:25:18: data.lifecycle.sla.bug fixes: `2027-02-30` is not a date (YYYY-MM-DD)",
            ]
        );
    }

    #[test]
    fn unknown_key_names_line_and_path() {
        let p = problems(&GOOD.replace("  api: [httpd]\n", "  api: [httpd]\n  apis: []\n"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("m.yaml:21:3: data: unknown field `apis`, expected one of `name`"),
            "{p:?}"
        );
    }

    #[test]
    fn duplicate_package_is_an_error() {
        let p = problems(&GOOD.replace("    mod_ssl: {}\n", "    mod_ssl: {}\n    httpd: {}\n"));
        assert_eq!(
            p,
            ["m.yaml:17:5: data.packages.httpd: duplicate key `httpd` (first given on line 14)"]
        );
    }

    #[test]
    fn every_structural_problem_at_once() {
        // A missing field, an unknown key, a wrong type, a missing field one
        // level down and a bad value: all five, in file order.
        let text = GOOD
            .replace("  summary: Apache HTTP Server\n", "")
            .replace("  api: [httpd]\n", "  apis: [httpd]\n")
            .replace("license: [MIT]", "license: MIT")
            .replace("koji: {tag: f40-build}", "koji: {}")
            .replace("stream: \"2.4\"", "stream: \"2..4\"");
        let p = problems(&text);
        assert_eq!(
            p,
            [
                "m.yaml:3:1: data: missing required field `summary`",
                "m.yaml:5:11: data.stream: the stream `2..4` starts with a digit, so productmd \
                 requires it to be numbers joined by single dots (like `2.4`)",
                "m.yaml:7:12: data.license: expected a list, found text `MIT`",
                "m.yaml:10:5: data.source.koji: missing required field `tag`",
                "m.yaml:19:3: data: unknown field `apis`, expected one of `name`, `stream`, \
                 `summary`, `description`, `license`, `arches`, `source`, `requires`, \
                 `compose_pins`, `packages`, `pins`, `profiles`, `api`, `lifecycle`",
            ],
        );
    }

    #[test]
    fn value_and_cross_field_problems_are_all_reported_with_lines() {
        let text = GOOD
            .replace("pins: {httpd: 2.4.58-1.fc40}", "pins: {nginx: 1.0}")
            .replace("api: [httpd]", "api: [httpd, php]")
            .replace("stream: \"2.4\"", "stream: 2.4-x")
            .replace("mod_ssl: {}", "\"../evil\": {}");
        let p = problems(&text);
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(
            p[0].starts_with("m.yaml:5:11: data.stream: the stream `2.4-x` contains '-'"),
            "{p:?}"
        );
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
    fn wrong_types_and_bad_yaml() {
        let p = problems(&GOOD.replace("version: 1", "version: \"1\""));
        assert_eq!(
            p,
            ["m.yaml:2:10: version: expected a whole number, found text `1`"]
        );
        // libyaml reads `[?./x]` as a list holding a mapping; the one
        // parser here reads text, consistently.
        let d = ModuleDefinition::parse(
            &GOOD.replace("koji: {tag: f40-build}", "repos: [?./x, >./y]"),
            "m.yaml",
        )
        .unwrap();
        assert_eq!(d.source, Source::Repos(vec!["?./x".into(), ">./y".into()]));
        // Raw control characters: libyaml refuses them, so we do, with a place.
        let p = problems(&GOOD.replace("name: apache", "name: apache\u{3}lua"));
        assert_eq!(
            p,
            [
                "m.yaml:4:15: the control character '\\u{3}' (U+0003) is not allowed in YAML; \
              inside double quotes write it as an escape"
            ]
        );
        let p = problems("document: strata-module\r\nversion: 1\rdata: \u{7f}");
        assert!(
            p[0].starts_with("m.yaml:3:7: the control character '\\u{7f}'"),
            "{p:?}"
        );
        for (from, to, expected) in [
            // `01` is text to some YAML readers: not a version.
            (
                "version: 1",
                "version: 01",
                "m.yaml:2:10: version: expected a whole number, found text `01`",
            ),
            (
                "version: 1",
                "version: 2",
                "m.yaml:2:10: version: this Strata reads version 1, found 2",
            ),
            (
                "  summary: Apache HTTP Server",
                "  summary:",
                "m.yaml:6:10: data.summary: expected text, found nothing",
            ),
            (
                "mod_ssl: {}",
                "mod_ssl: \"\"",
                "m.yaml:16:14: data.packages.mod_ssl: expected a mapping, found text ``",
            ),
        ] {
            assert_eq!(problems(&GOOD.replace(from, to)), [expected], "{to}");
        }
        let p = problems("document: strata-module\nversion: 1\ndata: {name: [\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("m.yaml:4:1: not valid YAML:"), "{p:?}");
        let p = problems(&GOOD.replace("document: strata-module", "document: modulemd"));
        assert_eq!(
            p,
            ["m.yaml:1:11: document: expected `strata-module`, found `modulemd`"]
        );
        let p = problems("[1, 2]\n");
        assert_eq!(p, ["m.yaml:1:1: expected a mapping, found a list"]);
        let p = problems("# nothing here\n");
        assert!(p[0].contains("holds no YAML document"), "{p:?}");
        let p = problems(&format!("{GOOD}---\n{GOOD}"));
        assert_eq!(
            p,
            ["m.yaml:22:1: a second YAML document starts here; a definition is one document"]
        );
    }

    #[test]
    fn source_must_be_one_of() {
        let p = problems(&GOOD.replace(
            "    koji: {tag: f40-build}\n",
            "    koji: {tag: f40-build}\n    repos: [/srv/x]\n",
        ));
        assert_eq!(
            p,
            ["m.yaml:10:3: data.source: give either `koji` or `repos`, not both"]
        );
        let p = problems(&GOOD.replace("    koji: {tag: f40-build}\n", "    {}\n"));
        assert_eq!(p, ["m.yaml:10:3: data.source: give `koji` or `repos`"]);
    }

    /// What a compose refused later (productmd, modulemd, dnf) is refused
    /// here, with the rule's own words.
    #[test]
    fn values_a_compose_would_refuse() {
        let cases = [
            ("stream: \"2.4\"", "stream: \"2..4\"", "m.yaml:5:11: data.stream: the stream `2..4` starts with a digit"),
            ("stream: \"2.4\"", "stream: 2.4a", "m.yaml:5:11: data.stream: the stream `2.4a` starts with a digit"),
            ("stream: \"2.4\"", "stream: stable~1", "m.yaml:5:11: data.stream: the stream `stable~1` contains '~'; dnf's module specs"),
            ("arches: [x86_64, aarch64]", "arches: [x86_64, foo]", "m.yaml:9:20: data.arches[1]: `foo` is not an architecture"),
            ("eol: 2027-12-01", "eol: 2027-02-30", "m.yaml:21:20: data.lifecycle.eol: `2027-02-30` is not a date"),
            ("summary: Apache HTTP Server", "summary: \"Apache\\x07\"", "m.yaml:6:12: data.summary: `Apache\\u{7}` contains the control character '\\u{7}' (U+0007)"),
            ("description: The Apache web server and its modules.", "description: \"a\\rb\"", "m.yaml:7:16: data.description: `a\\rb` contains the control character '\\r' (U+000D)"),
            ("{reason: the server}", "{reason: \"x\\e\"}", "m.yaml:14:21: data.packages.httpd.reason: `x\\u{1b}` contains the control character"),
            ("profiles: {default:", "profiles: {web%1:", "m.yaml:19:14: data.profiles.web%1: `web%1` is not a valid profile name"),
            ("name: apache", "name: a/b", "m.yaml:4:9: data.name: the module name `a/b` contains '/'"),
        ];
        for (from, to, expected) in cases {
            let text = GOOD.replace(from, to);
            assert_ne!(text, GOOD, "{from}");
            let p = problems(&text);
            assert!(p.iter().any(|p| p.starts_with(expected)), "{to}: {p:#?}");
        }
        // Free text may hold newlines and tabs.
        let ok = GOOD.replace(
            "description: The Apache web server and its modules.",
            "description: \"The Apache web server\\n\\tand its modules.\"",
        );
        assert_eq!(problems(&ok), Vec::<String>::new());
        let long = "a".repeat(MAX_NAME_LEN + 1);
        let p = problems(&GOOD.replace("name: apache", &format!("name: {long}")));
        assert!(
            p[0].contains("is 101 bytes long; a module name may have at most 100"),
            "{p:?}"
        );
    }

    #[test]
    fn byte_order_marks_and_encodings() {
        // A UTF-8 BOM is allowed and does not move positions.
        let with_bom = format!("\u{FEFF}{GOOD}");
        assert!(ModuleDefinition::from_bytes(with_bom.as_bytes(), "m.yaml").is_ok());
        assert!(ModuleDefinition::parse(&with_bom, "m.yaml").is_ok());
        let bad = format!(
            "\u{FEFF}{}",
            GOOD.replace("  api: [httpd]\n", "  apis: []\n")
        );
        let p = bytes_problems(bad.as_bytes());
        assert!(
            p[0].starts_with("m.yaml:20:3: data: unknown field `apis`"),
            "{p:?}"
        );
        // UTF-16, either byte order.
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(GOOD.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let p = bytes_problems(&utf16);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("m.yaml:1:1: the file starts with a UTF-16 byte order mark"),
            "{p:?}"
        );
        assert!(bytes_problems(&[0xFE, 0xFF, 0, b'd'])[0].contains("not UTF-8"));
        // Latin-1 in the summary: line, column and offset of the bad byte.
        let latin1 = GOOD.replace("Apache HTTP Server", "Apache \u{E9}t\u{E9}");
        let mut bytes = latin1.into_bytes();
        let at = bytes.windows(2).position(|w| w == [0xC3, 0xA9]).unwrap();
        bytes.splice(at..at + 2, [0xE9]);
        let p = bytes_problems(&bytes);
        assert_eq!(
            p,
            [format!(
                "m.yaml:6:19: not UTF-8: byte 0xE9 at offset {at} is not valid UTF-8; \
                 a definition must be UTF-8 text"
            )]
        );
    }

    #[test]
    fn size_and_nesting_are_bounded_before_parsing() {
        let big = format!("{GOOD}# {}\n", "x".repeat(MAX_DEFINITION_BYTES));
        let p = bytes_problems(big.as_bytes());
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("m.yaml: the file is larger than 1 MiB (1048576 bytes)"),
            "{p:?}"
        );
        assert!(problems(&big)[0].contains("larger than 1 MiB"));
        // 100,000 nested `[`: refused at the 33rd.
        let deep = format!(
            "document: strata-module\nversion: 1\ndata: {}",
            "[".repeat(100_000)
        );
        let p = problems(&deep);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("m.yaml:3:")
                && p[0].ends_with(": nested deeper than 32 levels; a definition needs 4"),
            "{p:?}"
        );
        // Block nesting is counted the same way.
        let mut block = String::from("document: strata-module\nversion: 1\ndata:\n");
        for i in 0..40 {
            block.push_str(&format!("{}k{i}:\n", " ".repeat(2 * (i + 1))));
        }
        let p = problems(&block);
        assert!(p[0].contains("nested deeper than 32 levels"), "{p:?}");
        // Just inside the limit is a normal, typed problem.
        let ok_depth = format!(
            "document: strata-module\nversion: 1\ndata: {}{}",
            "[".repeat(MAX_NESTING - 1),
            "]".repeat(MAX_NESTING - 1)
        );
        assert_eq!(
            problems(&ok_depth),
            ["m.yaml:3:7: data: expected a mapping, found a list"]
        );
    }

    #[test]
    fn anchors_aliases_and_tags_are_refused() {
        let laughs = "document: strata-module\nversion: 1\ndata:\n  a: &a [x, x]\n  b: [*a, *a]\n";
        assert_eq!(
            problems(laughs),
            [
                "m.yaml:4:6: YAML anchors (`&name`) and aliases (`*name`) are not allowed in a \
              definition: write each value out"
            ]
        );
        let alias = GOOD.replace("api: [httpd]", "api: [*x]");
        let p = problems(&alias);
        assert!(p[0].starts_with("m.yaml:20:9: "), "{p:?}");
        let tag = GOOD.replace("stream: \"2.4\"", "stream: !!str 2.4");
        assert!(problems(&tag)[0].starts_with("m.yaml:5:11: YAML tags"));
    }

    #[test]
    fn problems_are_capped() {
        let mut text = GOOD.to_string();
        for i in 0..250 {
            text.push_str(&format!("  extra{i}: 1\n"));
        }
        let p = problems(&text);
        assert_eq!(p.len(), MAX_PROBLEMS + 1);
        assert_eq!(
            p[MAX_PROBLEMS],
            "m.yaml: and 150 more problems (only the first 100 are listed)"
        );
        // A huge key is shown cut short, not copied into every message.
        let key = "k".repeat(100_000);
        let p = problems(&GOOD.replace("  api: [httpd]\n", &format!("  \"{key}\": 1\n")));
        assert!(p[0].len() < 1000, "{}", p[0].len());
    }

    #[test]
    fn streams_and_arches() {
        assert!(is_valid_stream("2.4"));
        assert!(is_valid_stream("f40"));
        assert!(!is_valid_stream("2.4-1"));
        assert!(!is_valid_stream("a/b"));
        assert!(!is_valid_stream("2..4"));
        assert!(is_valid_arch("x86_64"));
        assert!(!is_valid_arch("noarch"));
        assert!(!is_valid_arch("../x"));
    }

    /// `schema/strata-module.schema.json` and [`SHAPE`] name the same
    /// fields, the same required ones, the same minimum counts and the
    /// same kinds of value.
    #[test]
    fn the_json_schema_agrees_with_the_shape() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../schema/strata-module.schema.json"))
                .unwrap();
        compare(&SHAPE, &schema, &schema, "");
    }

    fn resolve<'s>(
        schema: &'s serde_json::Value,
        root: &'s serde_json::Value,
    ) -> &'s serde_json::Value {
        match schema.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => {
                let name = r.strip_prefix("#/$defs/").expect("local $ref");
                &root["$defs"][name]
            }
            None => schema,
        }
    }

    /// Compares a shape table with its JSON Schema (every Strata document
    /// keeps both, and this says they agree).
    pub(crate) fn compare(
        shape: &Shape,
        schema: &serde_json::Value,
        root: &serde_json::Value,
        at: &str,
    ) {
        use serde_json::json;
        let schema = resolve(schema, root);
        let min = |k: &str| schema.get(k).and_then(|v| v.as_u64()).unwrap_or(0) as usize;
        match shape {
            Shape::Text(_) => assert_eq!(schema["type"], "string", "{at}"),
            Shape::Version(v) => assert_eq!(schema["const"], *v, "{at}"),
            Shape::Flag => assert_eq!(schema["type"], "boolean", "{at}"),
            Shape::Nullable(inner) => {
                if let Some(alts) = schema.get("oneOf").and_then(|a| a.as_array()) {
                    assert!(alts.contains(&json!({"type": "null"})), "{at}");
                    let other = alts
                        .iter()
                        .find(|a| **a != json!({"type": "null"}))
                        .unwrap();
                    compare(inner, other, root, at);
                } else {
                    let types = schema["type"].as_array().expect("a nullable type list");
                    assert!(types.contains(&json!("null")), "{at}");
                    let t = types.iter().find(|t| **t != "null").unwrap();
                    let mut one = schema.clone();
                    one["type"] = t.clone();
                    compare(inner, &one, root, at);
                }
            }
            Shape::List { item, min: m, .. } => {
                assert_eq!(schema["type"], "array", "{at}");
                assert_eq!(min("minItems"), *m, "{at} minItems");
                compare(item, &schema["items"], root, &format!("{at}[]"));
            }
            Shape::Map { value, min: m, .. } => {
                assert_eq!(schema["type"], "object", "{at}");
                assert!(schema.get("properties").is_none(), "{at}");
                assert!(
                    schema.get("propertyNames").is_some(),
                    "{at}: keys are checked"
                );
                assert_eq!(min("minProperties"), *m, "{at} minProperties");
                compare(
                    value,
                    &schema["additionalProperties"],
                    root,
                    &format!("{at}.*"),
                );
            }
            Shape::Record(fields) | Shape::OneOf(fields) => {
                assert_eq!(schema["type"], "object", "{at}");
                assert_eq!(schema["additionalProperties"], false, "{at}");
                let props = schema["properties"].as_object().unwrap();
                let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                let mut in_schema: Vec<&str> = props.keys().map(String::as_str).collect();
                let mut sorted = names.clone();
                sorted.sort();
                in_schema.sort();
                assert_eq!(sorted, in_schema, "{at}: properties");
                let mut required: Vec<&str> = fields
                    .iter()
                    .filter(|f| f.required)
                    .map(|f| f.name)
                    .collect();
                let mut schema_required: Vec<&str> = schema
                    .get("required")
                    .map(|r| {
                        r.as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_str().unwrap())
                            .collect()
                    })
                    .unwrap_or_default();
                required.sort();
                schema_required.sort();
                assert_eq!(required, schema_required, "{at}: required");
                if let Shape::OneOf(_) = shape {
                    assert_eq!((min("minProperties"), min("maxProperties")), (1, 1), "{at}");
                }
                for f in *fields {
                    compare(f.shape, &props[f.name], root, &format!("{at}.{}", f.name));
                }
            }
        }
    }
}
