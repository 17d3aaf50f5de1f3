//! productmd-style compose IDs: `<name>-<stream>-<YYYYMMDD><suffix>.<respin>`,
//! e.g. `apache-2.4-20261125.n.0`; the module name and stream stand where
//! productmd has the release short name and version.
//!
//! What productmd itself checks (`productmd/composeinfo.py`, `common.py`):
//! - the release version must match `RELEASE_VERSION_RE`: either it starts
//!   with a non-digit, or it is numbers joined by single dots (`2.4`, `24`;
//!   not `2.4a`, `2..4`);
//! - the release short name is not checked in composeinfo (Fedora's own
//!   composes use `Fedora`); the stricter `RELEASE_SHORT_RE` only applies
//!   to release IDs, which Strata does not write, and would refuse module
//!   names such as `mod_ssl` or `389-ds`;
//! - release IDs are split at `-`, so a version must not hold one.
//!
//! On top of that the ID names a directory and travels in URLs, so the
//! name and stream are kept to ASCII letters, digits and a few marks.

use crate::record::ComposeType;

/// Why `name` cannot be the name part of a compose ID, if it cannot.
pub(crate) fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the module name is empty".into());
    }
    if name.starts_with(['-', '.']) {
        return Some(format!(
            "the module name `{name}` starts with `{}`",
            &name[..1]
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "-._+".contains(c)))
    {
        return Some(format!(
            "the module name `{name}` contains {c:?}; a compose ID allows only \
             ASCII letters, digits and `-._+` in it"
        ));
    }
    None
}

/// Why `stream` cannot be the stream part of a compose ID, if it cannot.
pub(crate) fn stream_problem(stream: &str) -> Option<String> {
    if stream.is_empty() {
        return Some("the stream is empty".into());
    }
    if let Some(c) = stream
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "._+~".contains(c)))
    {
        let why = if c == '-' {
            " (`-` separates the fields of a compose ID)"
        } else {
            ""
        };
        return Some(format!(
            "the stream `{stream}` contains {c:?}{why}; a compose ID allows only \
             ASCII letters, digits and `._+~` in it"
        ));
    }
    if stream.starts_with('.') {
        return Some(format!("the stream `{stream}` starts with `.`"));
    }
    if stream.starts_with(|c: char| c.is_ascii_digit())
        && !stream
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(format!(
            "the stream `{stream}` starts with a digit, so productmd requires it to be \
             numbers joined by single dots (like `2.4`)"
        ));
    }
    None
}

/// The `YYYYMMDD` UTC date of unix time `secs`, if it has one with four
/// digits of year after 1970.
pub(crate) fn compose_date(secs: i64) -> Option<String> {
    if secs < 0 {
        return None;
    }
    let ts = jiff::Timestamp::from_second(secs).ok()?;
    Some(ts.strftime("%Y%m%d").to_string())
}

/// The compose ID without its respin: composes that share it differ only
/// in respin. Keying respins on this (rather than on name and stream)
/// keeps IDs unique even where two name/stream pairs spell the same.
pub(crate) fn id_base(name: &str, stream: &str, date: &str, compose_type: ComposeType) -> String {
    format!("{name}-{stream}-{date}{}", compose_type.suffix())
}

pub(crate) fn compose_id(base: &str, respin: u32) -> String {
    format!("{base}.{respin}")
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn ids_look_like_productmds() {
        let base = id_base("apache", "2.4", "20261125", ComposeType::Nightly);
        assert_eq!(compose_id(&base, 0), "apache-2.4-20261125.n.0");
        let base = id_base("apache", "2.4", "20261125", ComposeType::Production);
        assert_eq!(compose_id(&base, 3), "apache-2.4-20261125.3");
        let base = id_base("base-runtime", "f40", "20261125", ComposeType::Ci);
        assert_eq!(compose_id(&base, 1), "base-runtime-f40-20261125.ci.1");
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(compose_date(0).unwrap(), "19700101");
        // 23:30 in New York on the 25th is already the 26th in UTC.
        let evening: jiff::Timestamp = "2026-11-25T23:30:00-05:00".parse().unwrap();
        assert_eq!(compose_date(evening.as_second()).unwrap(), "20261126");
        let noon: jiff::Timestamp = "2026-11-25T12:00:00Z".parse().unwrap();
        assert_eq!(compose_date(noon.as_second()).unwrap(), "20261125");
        assert_eq!(compose_date(-1), None);
        assert_eq!(compose_date(i64::MAX), None);
    }

    #[test]
    fn names_productmd_and_modules_accept() {
        for ok in [
            "apache",
            "base-runtime",
            "mod_ssl",
            "389-ds",
            "perl-DBI",
            "gtk+",
        ] {
            assert_eq!(name_problem(ok), None, "{ok}");
        }
        for bad in ["", "-rf", ".hidden", "a b", "a/b", "a:b", "ä", "a@b"] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(
            name_problem("a/b").unwrap(),
            "the module name `a/b` contains '/'; a compose ID allows only ASCII letters, \
             digits and `-._+` in it"
        );
    }

    #[test]
    fn streams_follow_productmds_version_rule() {
        for ok in [
            "2.4", "24", "8.2.1", "f40", "rolling", "latest", "v2.4a", "stable~1",
        ] {
            assert_eq!(stream_problem(ok), None, "{ok}");
        }
        for bad in [
            "", "2.4a", "2..4", "2.", "1_0", ".x", "a-b", "a b", "a/b", "a:b",
        ] {
            assert!(stream_problem(bad).is_some(), "{bad}");
        }
        assert!(stream_problem("2.4a")
            .unwrap()
            .contains("numbers joined by single dots"));
        assert!(stream_problem("a-b")
            .unwrap()
            .contains("`-` separates the fields"));
    }
}
