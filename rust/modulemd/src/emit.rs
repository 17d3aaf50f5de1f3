//! A small YAML writer for exactly our documents, laid out as libmodulemd
//! writes them (two-space indent, sequences level with their key, flow
//! lists for dependency streams and default profiles).
//!
//! Why not a general serializer: a scalar must read back as the same
//! string in every consumer of `modules.yaml`, and those include YAML 1.1
//! readers (PyYAML) where `yes`, `on`, `1_000`, `1:20` and `2027-12-01` are
//! not strings. So a string is written plain only when it cannot be read
//! as anything else, under YAML 1.1 or 1.2, and double-quoted otherwise.
//! Streams such as `2.4`, `8`, `1e3` or `true` are therefore quoted.
//! Documents are validated before they get here; nothing here fails.

use crate::model::{Defaults, Dependencies, ModuleStream, Obsoletes};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Whether `s` may be written as a plain scalar and read back as the same
/// string. Deliberately conservative: quoting a string never changes it.
fn plain_ok(s: &str, in_flow: bool) -> bool {
    let Some(&first) = s.as_bytes().first() else {
        return false; // empty is null
    };
    // Printable ASCII only: anything else is escaped in double quotes.
    if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return false;
    }
    if s.starts_with(' ') || s.ends_with(' ') {
        return false;
    }
    // Indicators that cannot start a plain scalar, and the first
    // characters of numbers, timestamps and `.inf`/`.nan` (YAML 1.1 and
    // 1.2 both), `~` (null).
    if b"-?:,[]{}#&*!|>'\"%@`+.~<=".contains(&first) || first.is_ascii_digit() {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if s.contains([',', '[', ']', '{', '}']) || (in_flow && s.contains(':')) {
        return false;
    }
    // YAML 1.1 booleans and YAML 1.1/1.2 null and booleans, in any case.
    const WORDS: [&str; 9] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    !WORDS.iter().any(|w| s.eq_ignore_ascii_case(w))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            // Not printable for a YAML reader (libyaml's IS_PRINTABLE).
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` as a scalar in block context.
pub(crate) fn scalar(s: &str) -> Cow<'_, str> {
    if plain_ok(s, false) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(double_quoted(s))
    }
}

fn flow_scalar(s: &str) -> Cow<'_, str> {
    if plain_ok(s, true) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(double_quoted(s))
    }
}

/// Sorted, without repeats: modulemd's lists here are sets.
fn set(items: &[String]) -> BTreeSet<&str> {
    items.iter().map(String::as_str).collect()
}

#[derive(Default)]
pub(crate) struct Yaml {
    out: String,
}

impl Yaml {
    pub(crate) fn finish(self) -> String {
        self.out
    }

    fn pad(&mut self, indent: usize) {
        for _ in 0..indent {
            self.out.push_str("  ");
        }
    }

    fn start(&mut self, document: &str, version: u32) {
        let _ = write!(
            self.out,
            "---\ndocument: {document}\nversion: {version}\ndata:\n"
        );
    }

    fn end(&mut self) {
        self.out.push_str("...\n");
    }

    /// `key:` at `indent`, without what follows.
    fn key(&mut self, indent: usize, key: &str) {
        self.pad(indent);
        self.out.push_str(&scalar(key));
        self.out.push(':');
    }

    /// `key: value` with a string value.
    fn str_entry(&mut self, indent: usize, key: &str, value: &str) {
        self.key(indent, key);
        self.out.push(' ');
        self.out.push_str(&scalar(value));
        self.out.push('\n');
    }

    /// `key: value` with a value that is already YAML (a number, a date).
    fn raw_entry(&mut self, indent: usize, key: &str, value: &str) {
        self.key(indent, key);
        self.out.push(' ');
        self.out.push_str(value);
        self.out.push('\n');
    }

    /// `key:` then a block sequence level with the key, or `key: []`.
    fn seq_entry<'a>(
        &mut self,
        indent: usize,
        key: &str,
        items: impl IntoIterator<Item = &'a str>,
    ) {
        self.key(indent, key);
        let mut any = false;
        for item in items {
            if !any {
                self.out.push('\n');
                any = true;
            }
            self.pad(indent);
            self.out.push_str("- ");
            self.out.push_str(&scalar(item));
            self.out.push('\n');
        }
        if !any {
            self.out.push_str(" []\n");
        }
    }

    /// `key: [a, b]`.
    fn flow_seq_entry<'a>(
        &mut self,
        indent: usize,
        key: &str,
        items: impl IntoIterator<Item = &'a str>,
    ) {
        self.key(indent, key);
        self.out.push_str(" [");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.out.push_str(&flow_scalar(item));
        }
        self.out.push_str("]\n");
    }

    /// What follows `key:` for a JSON value: ` scalar`, ` []`, ` {}`, or a
    /// newline and a block collection (a sequence level with the key).
    fn json_after_key(&mut self, indent: usize, value: &Value) {
        match value {
            Value::Array(items) if !items.is_empty() => {
                self.out.push('\n');
                self.json_seq(indent, items);
            }
            Value::Object(map) if !map.is_empty() => {
                self.out.push('\n');
                self.json_map(indent + 1, map);
            }
            other => {
                self.out.push(' ');
                self.json_inline(other);
                self.out.push('\n');
            }
        }
    }

    /// A scalar or an empty collection, on the current line.
    fn json_inline(&mut self, value: &Value) {
        match value {
            // libmodulemd reads exactly these two spellings as booleans.
            Value::Bool(true) => self.out.push_str("TRUE"),
            Value::Bool(false) => self.out.push_str("FALSE"),
            Value::Number(n) => {
                let _ = write!(self.out, "{n}");
            }
            Value::String(s) => self.out.push_str(&scalar(s)),
            Value::Array(_) => self.out.push_str("[]"),
            Value::Object(_) => self.out.push_str("{}"),
            // Refused by validation; written as YAML's null to be total.
            Value::Null => self.out.push('~'),
        }
    }

    fn json_seq(&mut self, indent: usize, items: &[Value]) {
        for item in items {
            self.pad(indent);
            self.out.push('-');
            match item {
                Value::Array(inner) if !inner.is_empty() => {
                    self.out.push('\n');
                    self.json_seq(indent + 1, inner);
                }
                Value::Object(map) if !map.is_empty() => {
                    self.out.push('\n');
                    self.json_map(indent + 1, map);
                }
                other => {
                    self.out.push(' ');
                    self.json_inline(other);
                    self.out.push('\n');
                }
            }
        }
    }

    fn json_map(&mut self, indent: usize, map: &serde_json::Map<String, Value>) {
        // Sorted here, whatever order serde_json's Map keeps.
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for k in keys {
            self.key(indent, k);
            self.json_after_key(indent, &map[k]);
        }
    }

    fn deps_entry(&mut self, indent: usize, key: &str, deps: &BTreeMap<String, Vec<String>>) {
        if deps.is_empty() {
            return;
        }
        self.key(indent, key);
        self.out.push('\n');
        for (module, streams) in deps {
            self.flow_seq_entry(indent + 1, module, set(streams));
        }
    }
}

pub(crate) fn stream(y: &mut Yaml, s: &ModuleStream) {
    y.start("modulemd", 2);
    y.str_entry(1, "name", &s.name);
    y.str_entry(1, "stream", &s.stream);
    y.raw_entry(1, "version", &s.version.to_string());
    y.str_entry(1, "context", &s.context);
    y.str_entry(1, "arch", &s.arch);
    y.str_entry(1, "summary", &s.summary);
    y.str_entry(1, "description", &s.description);
    if !s.servicelevels.is_empty() {
        y.key(1, "servicelevels");
        y.out.push('\n');
        for (name, level) in &s.servicelevels {
            match &level.eol {
                // A date, as libmodulemd writes it: validated, so plain.
                Some(eol) => {
                    y.key(2, name);
                    y.out.push('\n');
                    y.raw_entry(3, "eol", eol);
                }
                None => y.raw_entry(2, name, "{}"),
            }
        }
    }
    y.key(1, "license");
    y.out.push('\n');
    y.seq_entry(2, "module", set(&s.license.module));
    if !s.license.content.is_empty() {
        y.seq_entry(2, "content", set(&s.license.content));
    }
    if !s.xmd.is_empty() {
        y.key(1, "xmd");
        y.out.push('\n');
        y.json_map(2, &s.xmd);
    }
    let deps: Vec<&Dependencies> = s.dependencies.iter().filter(|d| !d.is_empty()).collect();
    if !deps.is_empty() {
        y.key(1, "dependencies");
        y.out.push('\n');
        for d in deps {
            // `- ` then the entry's keys, aligned after the dash.
            y.pad(1);
            y.out.push_str("- ");
            let mut first = true;
            for (key, map) in [
                ("buildrequires", &d.buildrequires),
                ("requires", &d.requires),
            ] {
                if map.is_empty() {
                    continue;
                }
                if first {
                    y.out.push_str(key);
                    y.out.push_str(":\n");
                    for (module, streams) in map {
                        y.flow_seq_entry(3, module, set(streams));
                    }
                    first = false;
                } else {
                    y.deps_entry(2, key, map);
                }
            }
        }
    }
    if !s.profiles.is_empty() {
        y.key(1, "profiles");
        y.out.push('\n');
        for (name, p) in &s.profiles {
            y.key(2, name);
            y.out.push('\n');
            if let Some(d) = &p.description {
                y.str_entry(3, "description", d);
            }
            y.seq_entry(3, "rpms", set(&p.rpms));
        }
    }
    if !s.api.is_empty() {
        y.key(1, "api");
        y.out.push('\n');
        y.seq_entry(2, "rpms", set(&s.api));
    }
    if !s.artifacts.is_empty() {
        y.key(1, "artifacts");
        y.out.push('\n');
        y.seq_entry(2, "rpms", set(&s.artifacts));
    }
    y.end();
}

pub(crate) fn defaults(y: &mut Yaml, d: &Defaults) {
    y.start("modulemd-defaults", 1);
    y.str_entry(1, "module", &d.module);
    if let Some(s) = &d.stream {
        y.str_entry(1, "stream", s);
    }
    if !d.profiles.is_empty() {
        y.key(1, "profiles");
        y.out.push('\n');
        for (stream, names) in &d.profiles {
            y.flow_seq_entry(2, stream, set(names));
        }
    }
    y.end();
}

/// libmodulemd's obsoletes timestamps are `YYYY-MM-DDTHH:MMZ`; a day is
/// its midnight, UTC.
fn obsoletes_time(day: &str) -> String {
    format!("{day}T00:00Z")
}

pub(crate) fn obsoletes(y: &mut Yaml, o: &Obsoletes) {
    y.start("modulemd-obsoletes", 1);
    y.str_entry(1, "modified", &obsoletes_time(&o.modified));
    y.str_entry(1, "module", &o.module);
    y.str_entry(1, "stream", &o.stream);
    if let Some(eol) = &o.eol_date {
        y.str_entry(1, "eol_date", &obsoletes_time(eol));
    }
    y.str_entry(1, "message", &o.message);
    if let Some((module, stream)) = &o.obsoleted_by {
        y.key(1, "obsoleted_by");
        y.out.push('\n');
        y.str_entry(2, "module", module);
        y.str_entry(2, "stream", stream);
    }
    y.end();
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn plain_when_unambiguous() {
        for s in [
            "apache",
            "x86_64",
            "httpd-0:2.4.58-1.fc40.x86_64",
            "ASL 2.0",
            "GPL+ or Artistic",
            "f40",
            "c0ffee43",
            "a#b",
            "yesterday",
            "mod_ssl",
        ] {
            assert_eq!(scalar(s), s, "{s}");
        }
    }

    #[test]
    fn quotes_what_yaml_would_read_otherwise() {
        for s in [
            "2.4",
            "8",
            "1e3",
            "0x1F",
            "0o17",
            "017",
            "1_000",
            "1:20",
            "2027-12-01",
            ".inf",
            "-.inf",
            ".NaN",
            "+1",
            "-1",
            "true",
            "True",
            "FALSE",
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "N",
            "null",
            "Null",
            "~",
            "",
            " lead",
            "trail ",
            "a: b",
            "a #c",
            "end:",
            "-x",
            "[x]",
            "{x}",
            "a,b",
            "*alias",
            "&anchor",
            "!tag",
            "|",
            ">",
            "'q'",
            "\"q\"",
            "%dir",
            "@at",
            "`bt",
            "?",
            "<<",
            "=",
            "ünï",
        ] {
            assert!(scalar(s).starts_with('"'), "{s:?} left plain");
        }
        assert_eq!(flow_scalar("a:b"), "\"a:b\"");
        assert_eq!(scalar("a:b"), "a:b");
    }

    #[test]
    fn escapes() {
        assert_eq!(
            double_quoted("a\"b\\c\nd\te\u{1}\u{7f}\u{85}\u{2028}\u{feff}é"),
            "\"a\\\"b\\\\c\\nd\\te\\x01\\x7F\\N\\L\\uFEFFé\""
        );
    }
}
