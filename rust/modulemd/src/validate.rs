//! Our checks before writing, so a bad document is refused here with the
//! field named, not by libmodulemd or dnf on a user's machine.
//!
//! What libmodulemd 2.14 itself refuses when loading a repository's
//! documents (`modulemd_module_stream_v2_validate`,
//! `modulemd_dependencies_validate`, `modulemd_validate_nevra`): no summary,
//! no description, no module license, an artifact that is not
//! `N-E:V-R.A`, a dependency mixing required and excluded streams, and no
//! name or stream. It does not restrict the characters of names and
//! streams; dnf does, when it parses `name:stream:version:context:arch/profile`
//! (libdnf's `nsvcap.cpp`: `[a-zA-Z0-9+._-]` for name, stream, context,
//! arch and profile), so those are ours. The context follows libmodulemd's
//! rule for static contexts (`[a-zA-Z0-9_]`, at most `MMD_MAXCONTEXTLEN`
//! = 10), which every generated context also meets.

use crate::error::{Error, Problem};
use crate::model::{Defaults, Dependencies, ModuleStream, Obsoletes};
use serde_json::Value;
use std::collections::BTreeMap;

use strata_model::NSVCAP_CHARS;
const CONTEXT_CHARS: &str = "ASCII letters, digits and `_`";
const MAX_CONTEXT_LEN: usize = 10;
/// YAML allows at most 1024 characters in an implicit mapping key.
const MAX_KEY_LEN: usize = 1024;

pub(crate) use strata_model::is_nsvcap_char;

struct Check {
    document: String,
}

impl Check {
    fn fail(&self, field: impl Into<String>, problem: Problem) -> Error {
        Error::Invalid {
            document: self.document.clone(),
            field: field.into(),
            problem,
        }
    }

    /// A name, stream, arch or profile as dnf parses them.
    fn ident(&self, field: &str, value: &str) -> Result<(), Error> {
        if value.is_empty() {
            return Err(self.fail(field, Problem::Empty));
        }
        if let Some(bad) = strata_model::nsvcap_bad_char(value) {
            return Err(self.fail(
                field,
                Problem::BadCharacters {
                    value: value.into(),
                    bad,
                    allowed: NSVCAP_CHARS,
                },
            ));
        }
        if value.starts_with('-') {
            return Err(self.fail(
                field,
                Problem::LeadingDash {
                    value: value.into(),
                },
            ));
        }
        Ok(())
    }

    fn context(&self, field: &str, value: &str) -> Result<(), Error> {
        if value.is_empty() {
            return Err(self.fail(field, Problem::Empty));
        }
        if let Some(bad) = value
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(self.fail(
                field,
                Problem::BadCharacters {
                    value: value.into(),
                    bad,
                    allowed: CONTEXT_CHARS,
                },
            ));
        }
        if value.len() > MAX_CONTEXT_LEN {
            return Err(self.fail(
                field,
                Problem::TooLong {
                    value: value.into(),
                    max: MAX_CONTEXT_LEN,
                },
            ));
        }
        Ok(())
    }

    /// Free text: not blank, and no control characters but newlines and tabs.
    fn text(&self, field: &str, value: &str) -> Result<(), Error> {
        if value.trim().is_empty() {
            return Err(self.fail(field, Problem::Empty));
        }
        self.printable(field, value, "printable characters, newlines and tabs")
    }

    fn printable(&self, field: &str, value: &str, allowed: &'static str) -> Result<(), Error> {
        if let Some(bad) = strata_model::control_char(value, true) {
            return Err(self.fail(
                field,
                Problem::BadCharacters {
                    value: value.into(),
                    bad,
                    allowed,
                },
            ));
        }
        Ok(())
    }

    /// An RPM name in a profile or the API: one word of printable ASCII.
    fn rpm_name(&self, field: &str, value: &str) -> Result<(), Error> {
        if value.is_empty() {
            return Err(self.fail(field, Problem::Empty));
        }
        if let Some(bad) = value.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(self.fail(
                field,
                Problem::BadCharacters {
                    value: value.into(),
                    bad,
                    allowed: "printable ASCII without spaces",
                },
            ));
        }
        Ok(())
    }

    fn deps(&self, field: &str, deps: &BTreeMap<String, Vec<String>>) -> Result<(), Error> {
        for (module, streams) in deps {
            self.ident(&format!("{field}.{module}"), module)?;
            for s in streams {
                // A leading '-' excludes the stream; the rest is a stream name.
                self.ident(
                    &format!("{field}.{module}"),
                    s.strip_prefix('-').unwrap_or(s),
                )?;
            }
            let excluded = streams.iter().filter(|s| s.starts_with('-')).count();
            if excluded != 0 && excluded != streams.len() {
                return Err(self.fail(
                    format!("{field}.{module}"),
                    Problem::MixedStreams {
                        streams: streams.clone(),
                    },
                ));
            }
        }
        Ok(())
    }

    /// Checks an xmd value and returns the GVariant type libmodulemd gives
    /// it when reading (`mmd_variant_from_*`): scalars are strings except
    /// `TRUE`/`FALSE`, maps `a{sv}`, an empty list `av`, a list `a` and its
    /// items' type, which must all be the same (GLib refuses the rest).
    fn xmd(&self, path: &str, value: &Value) -> Result<String, Error> {
        self.xmd_at(&|| path.to_owned(), value)
            .map(|t| t.into_owned())
    }

    /// [`Check::xmd`] with the path made only for an error: a stack's xmd
    /// lists every layer, and formatting a path for each of its values
    /// cost more than checking them.
    fn xmd_at(
        &self,
        path: &dyn Fn() -> String,
        value: &Value,
    ) -> Result<std::borrow::Cow<'static, str>, Error> {
        use std::borrow::Cow;
        match value {
            Value::Null => Err(self.fail(path(), Problem::XmdNull)),
            Value::Bool(_) => Ok(Cow::Borrowed("b")),
            Value::Number(_) => Ok(Cow::Borrowed("s")),
            Value::String(s) => {
                if strata_model::control_char(s, true).is_some() {
                    self.printable(&path(), s, "printable characters, newlines and tabs")?;
                }
                Ok(Cow::Borrowed(if s == "TRUE" || s == "FALSE" {
                    "b"
                } else {
                    "s"
                }))
            }
            Value::Array(items) => {
                // GLib wants one item type: every item's is the first's.
                let mut first: Option<Cow<'static, str>> = None;
                for (i, v) in items.iter().enumerate() {
                    let t = self.xmd_at(&|| format!("{}[{i}]", path()), v)?;
                    match &first {
                        None => first = Some(t),
                        Some(f) if *f == t => {}
                        Some(_) => {
                            return Err(self.fail(
                                path(),
                                Problem::XmdMixedList {
                                    kinds: items.iter().map(kind).collect(),
                                },
                            ))
                        }
                    }
                }
                Ok(match first {
                    None => Cow::Borrowed("av"),
                    Some(t) => Cow::Owned(format!("a{t}")),
                })
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let at = || format!("{}.{k}", path());
                    self.xmd_key(&at, k)?;
                    self.xmd_at(&at, v)?;
                }
                Ok(Cow::Borrowed("a{sv}"))
            }
        }
    }

    fn xmd_key(&self, path: &dyn Fn() -> String, key: &str) -> Result<(), Error> {
        if key.is_empty() {
            return Err(self.fail(path(), Problem::Empty));
        }
        if key.chars().count() > MAX_KEY_LEN {
            return Err(self.fail(
                path(),
                Problem::TooLong {
                    value: key.into(),
                    max: MAX_KEY_LEN,
                },
            ));
        }
        if strata_model::control_char(key, true).is_some() {
            self.printable(&path(), key, "printable characters")?;
        }
        if key.contains(['\n', '\t']) {
            return Err(self.fail(
                path(),
                Problem::BadCharacters {
                    value: key.into(),
                    bad: if key.contains('\n') { '\n' } else { '\t' },
                    allowed: "printable characters",
                },
            ));
        }
        Ok(())
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(s) if s == "TRUE" || s == "FALSE" => "boolean",
        Value::String(_) => "string",
        Value::Array(a) if a.is_empty() => "empty list",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// Whether `nevra` is `name-epoch:version-release.arch`: what libmodulemd's
/// `modulemd_validate_nevra` accepts, with every part non-empty and no
/// whitespace.
pub(crate) fn is_artifact_nevra(nevra: &str) -> bool {
    if nevra.is_empty() || !nevra.chars().all(|c| c.is_ascii_graphic()) {
        return false;
    }
    let Some((rest, arch)) = nevra.rsplit_once('.') else {
        return false;
    };
    let Some((rest, release)) = rest.rsplit_once('-') else {
        return false;
    };
    let Some((name, epoch_version)) = rest.rsplit_once('-') else {
        return false;
    };
    let Some((epoch, version)) = epoch_version.split_once(':') else {
        return false;
    };
    !name.is_empty()
        && !epoch.is_empty()
        && epoch.bytes().all(|b| b.is_ascii_digit())
        && !version.is_empty()
        && !version.contains(':')
        && !release.is_empty()
        && !arch.is_empty()
}

/// Whether `date` is a calendar date `YYYY-MM-DD`.
pub(crate) use strata_model::is_calendar_date as is_date;

impl ModuleStream {
    /// Checks every field as [`crate::modules_yaml`] does before writing.
    pub fn validate(&self) -> Result<(), Error> {
        let c = Check {
            document: self.document_label(),
        };
        c.ident("data.name", &self.name)?;
        c.ident("data.stream", &self.stream)?;
        if self.version == 0 {
            return Err(c.fail("data.version", Problem::Unset));
        }
        c.context("data.context", &self.context)?;
        c.ident("data.arch", &self.arch)?;
        c.text("data.summary", &self.summary)?;
        c.text("data.description", &self.description)?;
        for (name, level) in &self.servicelevels {
            c.ident("data.servicelevels", name)?;
            if let Some(eol) = &level.eol {
                if !is_date(eol) {
                    return Err(c.fail(
                        format!("data.servicelevels.{name}.eol"),
                        Problem::BadDate { value: eol.clone() },
                    ));
                }
            }
        }
        if self.license.module.is_empty() {
            return Err(c.fail("data.license.module", Problem::Empty));
        }
        for l in &self.license.module {
            c.text("data.license.module", l)?;
        }
        for l in &self.license.content {
            c.text("data.license.content", l)?;
        }
        for (k, v) in &self.xmd {
            let path = format!("data.xmd.{k}");
            c.xmd_key(&|| path.clone(), k)?;
            c.xmd(&path, v)?;
        }
        for (i, d) in self.dependencies.iter().enumerate() {
            let Dependencies {
                buildrequires,
                requires,
            } = d;
            c.deps(
                &format!("data.dependencies[{i}].buildrequires"),
                buildrequires,
            )?;
            c.deps(&format!("data.dependencies[{i}].requires"), requires)?;
        }
        for (name, p) in &self.profiles {
            c.ident("data.profiles", name)?;
            if let Some(d) = &p.description {
                c.text(&format!("data.profiles.{name}.description"), d)?;
            }
            for r in &p.rpms {
                c.rpm_name(&format!("data.profiles.{name}.rpms"), r)?;
            }
        }
        for r in &self.api {
            c.rpm_name("data.api.rpms", r)?;
        }
        for a in &self.artifacts {
            if !is_artifact_nevra(a) {
                return Err(c.fail(
                    "data.artifacts.rpms",
                    Problem::BadNevra { value: a.clone() },
                ));
            }
        }
        Ok(())
    }
}

impl Obsoletes {
    /// Checks every field as [`crate::modules_yaml_with_obsoletes`] does
    /// before writing.
    pub fn validate(&self) -> Result<(), Error> {
        let c = Check {
            document: self.document_label(),
        };
        c.ident("data.module", &self.module)?;
        c.ident("data.stream", &self.stream)?;
        let day = |field: &str, value: &str| {
            if value.parse::<jiff::civil::Date>().is_ok() && value.len() == 10 {
                Ok(())
            } else {
                Err(c.fail(
                    field,
                    Problem::BadDate {
                        value: value.into(),
                    },
                ))
            }
        };
        day("data.modified", &self.modified)?;
        if let Some(eol) = &self.eol_date {
            day("data.eol_date", eol)?;
        }
        if self.message.is_empty() {
            return Err(c.fail("data.message", Problem::Empty));
        }
        if let Some((module, stream)) = &self.obsoleted_by {
            c.ident("data.obsoleted_by.module", module)?;
            c.ident("data.obsoleted_by.stream", stream)?;
        }
        Ok(())
    }
}

impl Defaults {
    /// Checks every field as [`crate::modules_yaml`] does before writing.
    pub fn validate(&self) -> Result<(), Error> {
        let c = Check {
            document: self.document_label(),
        };
        c.ident("data.module", &self.module)?;
        if let Some(s) = &self.stream {
            c.ident("data.stream", s)?;
        }
        for (stream, names) in &self.profiles {
            c.ident("data.profiles", stream)?;
            for n in names {
                c.ident(&format!("data.profiles.{stream}"), n)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn nevras() {
        assert!(is_artifact_nevra("httpd-0:2.4.58-1.fc40.x86_64"));
        assert!(is_artifact_nevra("perl-DBI-4:1.643-1.fc40.noarch"));
        assert!(is_artifact_nevra("389-ds-base-0:2.4-1.src"));
        assert!(!is_artifact_nevra("httpd-2.4.58-1.fc40.x86_64"));
        assert!(!is_artifact_nevra("httpd-x:2.4.58-1.fc40.x86_64"));
        assert!(!is_artifact_nevra("-0:2.4.58-1.fc40.x86_64"));
        assert!(!is_artifact_nevra("httpd-0:-1.fc40.x86_64"));
        assert!(!is_artifact_nevra("httpd-0:2.4-1."));
        assert!(!is_artifact_nevra("httpd-0:2.4-1"));
        assert!(!is_artifact_nevra("httpd 0:2.4-1.x86_64"));
        assert!(!is_artifact_nevra(""));
    }
}
