//! Package identities: name-[epoch:]version-release.arch, as dnf prints them.

use crate::evr::Evr;
use std::fmt;

/// A borrowed NEVRA; `Display` omits a zero epoch, like dnf and libsolv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nevra<'a> {
    pub name: &'a str,
    pub evr: Evr<'a>,
    pub arch: &'a str,
}

impl fmt::Display for Nevra<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}.{}", self.name, self.evr, self.arch)
    }
}

/// Whether `name` is acceptable as an RPM package name: what rpmbuild
/// accepts, minus anything that could act as a path or option.
pub fn is_valid_rpm_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._+%{}~^".contains(&c))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn display_omits_zero_epoch() {
        let n = Nevra {
            name: "httpd",
            evr: Evr::parse("0:2.4.58-1.fc40"),
            arch: "x86_64",
        };
        assert_eq!(n.to_string(), "httpd-2.4.58-1.fc40.x86_64");
        let n = Nevra {
            name: "perl",
            evr: Evr::parse("4:5.38-1"),
            arch: "noarch",
        };
        assert_eq!(n.to_string(), "perl-4:5.38-1.noarch");
    }

    #[test]
    fn names() {
        assert!(is_valid_rpm_name("libstdc++-devel"));
        assert!(!is_valid_rpm_name("../etc"));
        assert!(!is_valid_rpm_name("a b"));
        assert!(!is_valid_rpm_name("-rf"));
    }
}
