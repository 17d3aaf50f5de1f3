//! The rules a module's names and texts must follow, wherever they end up:
//! in a compose ID (productmd), in modules.yaml (libmodulemd, dnf), in
//! productmd's metadata. Each rule lives here once; the definition check
//! applies all of them up front, and the layers that write those formats
//! call the same functions before they write, so that `strata validate`
//! accepts exactly what a compose accepts.
//!
//! What productmd itself checks (`productmd/composeinfo.py`, `common.py`):
//! - the release version must match `RELEASE_VERSION_RE`: either it starts
//!   with a non-digit, or it is numbers joined by single dots (`2.4`, `24`;
//!   not `2.4a`, `2..4`);
//! - the release short name is not checked in composeinfo (Fedora's own
//!   composes use `Fedora`); the stricter `RELEASE_SHORT_RE` only applies
//!   to release IDs, which Strata does not write, and would refuse module
//!   names such as `mod_ssl` or `389-ds`;
//! - release IDs are split at `-`, so a version must not hold one;
//! - a compose's arches are in `RPM_ARCHES`.
//!
//! On top of that a compose ID names a directory and travels in URLs, so
//! the name and stream are kept to ASCII letters, digits and a few marks.
//!
//! libmodulemd does not restrict the characters of names and streams; dnf
//! does, when it parses `name:stream:version:context:arch/profile` (libdnf's
//! `nsvcap.cpp`: `[a-zA-Z0-9+._-]` for name, stream, context, arch and
//! profile). libmodulemd refuses free text that GLib cannot carry, and
//! dates that are not calendar dates.

/// productmd's `common.RPM_ARCHES`: the arches `Rpms.add` and `Modules.add`
/// accept (`src` and `nosrc` only as a package's arch, never a compose's).
pub const RPM_ARCHES: [&str; 61] = [
    "aarch64",
    "alpha",
    "alphaev4",
    "alphaev45",
    "alphaev5",
    "alphaev56",
    "alphaev6",
    "alphaev67",
    "alphaev68",
    "alphaev7",
    "alphapca56",
    "amd64",
    "arm64",
    "armhfp",
    "armv5tejl",
    "armv5tel",
    "armv5tl",
    "armv6hl",
    "armv6l",
    "armv7hl",
    "armv7hnl",
    "armv7l",
    "armv8hl",
    "armv8l",
    "athlon",
    "geode",
    "i386",
    "i486",
    "i586",
    "i686",
    "ia32e",
    "ia64",
    "loongarch64",
    "mips",
    "mips64",
    "mips64el",
    "mipsel",
    "ppc",
    "ppc64",
    "ppc64iseries",
    "ppc64le",
    "ppc64p7",
    "ppc64pseries",
    "riscv128",
    "riscv32",
    "riscv64",
    "s390",
    "s390x",
    "sh3",
    "sh4",
    "sh4a",
    "sparc",
    "sparc64",
    "sparc64v",
    "sparcv8",
    "sparcv9",
    "sparcv9v",
    "x86_64",
    "src",
    "nosrc",
    "noarch",
];

/// Whether `arch` is an arch a compose can be made for: one productmd
/// knows, and not one only a package can have.
pub fn is_compose_arch(arch: &str) -> bool {
    RPM_ARCHES.contains(&arch) && !matches!(arch, "src" | "nosrc" | "noarch")
}

/// productmd's `RELEASE_VERSION_RE`: `^([^0-9].*|[0-9]+(\.[0-9]+)*)$`.
pub fn is_release_version(v: &str) -> bool {
    match v.chars().next() {
        None => false,
        Some(c) if !c.is_ascii_digit() => true,
        Some(_) => v
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
    }
}

/// What dnf's module spec parser allows in a name, stream, arch or
/// profile.
pub const NSVCAP_CHARS: &str = "ASCII letters, digits and `+._-`";

/// Whether dnf's module spec parser accepts `c` in a name, stream, arch or
/// profile.
pub fn is_nsvcap_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+._-".contains(c)
}

/// The first character of `value` dnf's module spec parser refuses.
pub fn nsvcap_bad_char(value: &str) -> Option<char> {
    value.chars().find(|&c| !is_nsvcap_char(c))
}

/// The first control character in `text`, other than a newline or a tab
/// when `lines` allows them (free text such as a description).
pub fn control_char(text: &str, lines: bool) -> Option<char> {
    text.chars()
        .find(|&c| c.is_control() && !(lines && (c == '\n' || c == '\t')))
}

/// Why `name` cannot be the name part of a compose ID, if it cannot.
pub fn compose_id_name_problem(name: &str) -> Option<String> {
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
            "the module name `{}` contains {c:?}; a compose ID allows only \
             ASCII letters, digits and `-._+` in it",
            name.escape_debug()
        ));
    }
    None
}

/// Why `stream` cannot be the stream part of a compose ID, if it cannot.
pub fn compose_id_stream_problem(stream: &str) -> Option<String> {
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
            "the stream `{}` contains {c:?}{why}; a compose ID allows only \
             ASCII letters, digits and `._+~` in it",
            stream.escape_debug()
        ));
    }
    if stream.starts_with('.') {
        return Some(format!("the stream `{stream}` starts with `.`"));
    }
    if !is_release_version(stream) {
        return Some(format!(
            "the stream `{stream}` starts with a digit, so productmd requires it to be \
             numbers joined by single dots (like `2.4`)"
        ));
    }
    None
}

/// Whether `date` is a calendar date `YYYY-MM-DD`, as libmodulemd reads an
/// end of life.
pub fn is_calendar_date(date: &str) -> bool {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| date[r].parse().ok())
            .flatten()
    };
    let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

#[cfg(test)]
mod test {
    use super::*;

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
            assert_eq!(compose_id_name_problem(ok), None, "{ok}");
        }
        for bad in ["", "-rf", ".hidden", "a b", "a/b", "a:b", "ä", "a@b"] {
            assert!(compose_id_name_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(
            compose_id_name_problem("a/b").unwrap(),
            "the module name `a/b` contains '/'; a compose ID allows only ASCII letters, \
             digits and `-._+` in it"
        );
    }

    #[test]
    fn streams_follow_productmds_version_rule() {
        for ok in [
            "2.4", "24", "8.2.1", "f40", "rolling", "latest", "v2.4a", "stable~1",
        ] {
            assert_eq!(compose_id_stream_problem(ok), None, "{ok}");
        }
        for bad in [
            "", "2.4a", "2..4", "2.", "1_0", ".x", "a-b", "a b", "a/b", "a:b",
        ] {
            assert!(compose_id_stream_problem(bad).is_some(), "{bad}");
        }
        assert!(compose_id_stream_problem("2.4a")
            .unwrap()
            .contains("numbers joined by single dots"));
        assert!(compose_id_stream_problem("a-b")
            .unwrap()
            .contains("`-` separates the fields"));
    }

    #[test]
    fn dates() {
        assert!(is_calendar_date("2027-12-01"));
        assert!(is_calendar_date("2028-02-29"));
        assert!(!is_calendar_date("2027-02-29"));
        assert!(!is_calendar_date("2027-13-01"));
        assert!(!is_calendar_date("2027-1-01"));
        assert!(!is_calendar_date("2027-12-00"));
        assert!(!is_calendar_date("+027-12-01"));
    }

    #[test]
    fn arches_and_text() {
        assert!(is_compose_arch("x86_64"));
        assert!(!is_compose_arch("noarch"));
        assert!(!is_compose_arch("src"));
        assert!(!is_compose_arch("foo"));
        assert_eq!(control_char("a\nb\tc", true), None);
        assert_eq!(control_char("a\nb", false), Some('\n'));
        assert_eq!(control_char("a\u{7}b", true), Some('\u{7}'));
        assert_eq!(nsvcap_bad_char("stable~1"), Some('~'));
    }
}
