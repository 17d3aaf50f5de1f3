//! Versions as RPM compares them: `rpmvercmp` and epoch:version-release.
//!
//! The rules follow rpm's `rpmvercmp` (tilde sorts before everything, caret
//! after the base version) and libsolv's matching of dependency ranges, so
//! that Strata's answers agree with dnf's and rpm's.

use std::cmp::Ordering;
use std::fmt;

/// Compares two version (or release) strings with rpm's algorithm.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut one, mut two) = (a.as_bytes(), b.as_bytes());
    let is_sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while let Some(&c) = one.first() {
            if !is_sep(c) {
                break;
            }
            one = &one[1..];
        }
        while let Some(&c) = two.first() {
            if !is_sep(c) {
                break;
            }
            two = &two[1..];
        }
        let (c1, c2) = (one.first().copied(), two.first().copied());
        // Tilde sorts before everything else, even the end of the string.
        if c1 == Some(b'~') || c2 == Some(b'~') {
            if c1 != Some(b'~') {
                return Ordering::Greater;
            }
            if c2 != Some(b'~') {
                return Ordering::Less;
            }
            one = &one[1..];
            two = &two[1..];
            continue;
        }
        // Caret is like tilde, except that the end of the string sorts first.
        if c1 == Some(b'^') || c2 == Some(b'^') {
            if c1.is_none() {
                return Ordering::Less;
            }
            if c2.is_none() {
                return Ordering::Greater;
            }
            if c1 != Some(b'^') {
                return Ordering::Greater;
            }
            if c2 != Some(b'^') {
                return Ordering::Less;
            }
            one = &one[1..];
            two = &two[1..];
            continue;
        }
        let (Some(c1), Some(_)) = (c1, c2) else {
            break;
        };
        let numeric = c1.is_ascii_digit();
        let take = |s: &[u8]| -> usize {
            s.iter()
                .position(|&c| {
                    if numeric {
                        !c.is_ascii_digit()
                    } else {
                        !c.is_ascii_alphabetic()
                    }
                })
                .unwrap_or(s.len())
        };
        let (n1, n2) = (take(one), take(two));
        let (mut seg1, mut seg2) = (&one[..n1], &two[..n2]);
        one = &one[n1..];
        two = &two[n2..];
        if seg2.is_empty() {
            // Numeric segments are newer than alphabetic ones.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        if numeric {
            while seg1.first() == Some(&b'0') {
                seg1 = &seg1[1..];
            }
            while seg2.first() == Some(&b'0') {
                seg2 = &seg2[1..];
            }
            match seg1.len().cmp(&seg2.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        match seg1.cmp(seg2) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    match (one.is_empty(), two.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// An epoch:version-release triple, borrowed from wherever it is stored.
///
/// `epoch` is `None` when the source did not give one; it compares as 0.
/// `release` is `None` when absent (e.g. `Requires: foo >= 1.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evr<'a> {
    pub epoch: Option<&'a str>,
    pub version: &'a str,
    pub release: Option<&'a str>,
}

fn epoch_cmp(a: Option<&str>, b: Option<&str>) -> Ordering {
    fn norm(e: Option<&str>) -> &str {
        e.unwrap_or("").trim_start_matches('0')
    }
    let (a, b) = (norm(a), norm(b));
    if a == b {
        return Ordering::Equal;
    }
    rpmvercmp(
        if a.is_empty() { "0" } else { a },
        if b.is_empty() { "0" } else { b },
    )
}

impl<'a> Evr<'a> {
    pub fn new(epoch: Option<&'a str>, version: &'a str, release: Option<&'a str>) -> Self {
        let nonempty = |s: Option<&'a str>| s.filter(|s| !s.is_empty());
        Evr {
            epoch: nonempty(epoch),
            version,
            release: nonempty(release),
        }
    }

    /// Parses `[epoch:]version[-release]`.
    pub fn parse(s: &'a str) -> Self {
        let (epoch, rest) = match s.find(':') {
            Some(i) if s[..i].bytes().all(|c| c.is_ascii_digit()) => (Some(&s[..i]), &s[i + 1..]),
            _ => (None, s),
        };
        let (version, release) = match rest.rfind('-') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        Evr::new(epoch, version, release)
    }

    /// Total order used to pick the newest package (`rpm -U` semantics:
    /// a missing release sorts before any release).
    pub fn cmp_full(&self, other: &Evr<'_>) -> Ordering {
        epoch_cmp(self.epoch, other.epoch)
            .then_with(|| rpmvercmp(self.version, other.version))
            .then_with(|| match (self.release, other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
    }

    /// Comparison for dependency matching: the release is only compared
    /// when both sides have one (`foo >= 1.0` matches `foo = 1.0-5`).
    pub fn cmp_match(&self, other: &Evr<'_>) -> Ordering {
        epoch_cmp(self.epoch, other.epoch)
            .then_with(|| rpmvercmp(self.version, other.version))
            .then_with(|| match (self.release, other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                _ => Ordering::Equal,
            })
    }
}

impl fmt::Display for Evr<'_> {
    /// libsolv's form: the epoch only when it is not zero, unless the
    /// version itself holds a colon and would otherwise read as an epoch.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let epoch = self.epoch.unwrap_or("0");
        if !epoch.trim_start_matches('0').is_empty() || self.version.contains(':') {
            write!(f, "{epoch}:")?;
        }
        f.write_str(self.version)?;
        if let Some(r) = self.release {
            write!(f, "-{r}")?;
        }
        Ok(())
    }
}

/// The comparison operator of a versioned dependency, as bits like rpm's
/// and libsolv's (`LT = 1, EQ = 2, GT = 4`); 0 means unversioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RelFlags(pub u8);

impl RelFlags {
    pub const NONE: RelFlags = RelFlags(0);
    pub const LT: RelFlags = RelFlags(1);
    pub const EQ: RelFlags = RelFlags(2);
    pub const GT: RelFlags = RelFlags(4);
    pub const LE: RelFlags = RelFlags(3);
    pub const GE: RelFlags = RelFlags(6);

    /// From rpm-md's `flags` attribute (`EQ`, `LT`, `LE`, `GT`, `GE`).
    pub fn from_rpmmd(s: &str) -> Option<RelFlags> {
        Some(match s {
            "EQ" => Self::EQ,
            "LT" => Self::LT,
            "LE" => Self::LE,
            "GT" => Self::GT,
            "GE" => Self::GE,
            _ => return None,
        })
    }

    /// From the operator of a rich dependency or a spec file (`<`, `<=`, ...).
    pub fn from_op(s: &str) -> Option<RelFlags> {
        Some(match s {
            "=" | "==" => Self::EQ,
            "<" => Self::LT,
            "<=" | "=<" => Self::LE,
            ">" => Self::GT,
            ">=" | "=>" => Self::GE,
            _ => return None,
        })
    }

    pub fn op(self) -> &'static str {
        match self.0 {
            1 => "<",
            2 => "=",
            3 => "<=",
            4 => ">",
            5 => "!=",
            6 => ">=",
            7 => "<=>",
            _ => "",
        }
    }

    pub fn is_versioned(self) -> bool {
        self.0 != 0
    }
}

/// Whether a provide `pflags pevr` satisfies a requirement `rflags revr`
/// (both versioned), following rpm's range intersection.
pub fn ranges_intersect(
    pflags: RelFlags,
    pevr: &Evr<'_>,
    rflags: RelFlags,
    revr: &Evr<'_>,
) -> bool {
    let (p, r) = (pflags.0, rflags.0);
    if p == 0 || r == 0 || p >= 8 || r >= 8 {
        return false;
    }
    if p == 7 || r == 7 {
        return true;
    }
    // Both ranges open in the same direction always overlap.
    if p & r & 5 != 0 {
        return true;
    }
    let ev = epoch_cmp(pevr.epoch, revr.epoch).then_with(|| rpmvercmp(pevr.version, revr.version));
    let order = match (ev, pevr.release, revr.release) {
        (Ordering::Equal, Some(a), Some(b)) => rpmvercmp(a, b),
        // Same version, and only one side names a release: libsolv lets
        // the side without one stand for every release, but only through
        // its own `=` (so `> 1.0` does not match `= 1.0-1`, while
        // `= 1.0` matches `> 1.0-1`).
        (Ordering::Equal, None, Some(_)) => return p & 2 != 0,
        (Ordering::Equal, Some(_), None) => return r & 2 != 0,
        (o, _, _) => o,
    };
    match order {
        Ordering::Less => (r & 1) != 0 || (p & 4) != 0,
        Ordering::Equal => (p & r & 2) != 0,
        Ordering::Greater => (r & 4) != 0 || (p & 1) != 0,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn vercmp_matches_rpm() {
        let cases = [
            ("1.0", "1.0", 0),
            ("1.0", "2.0", -1),
            ("2.0.1", "2.0", 1),
            ("1.0a", "1.0", 1),
            ("1.0", "1.0a", -1),
            ("10", "9", 1),
            ("010", "10", 0),
            ("1.0~rc1", "1.0", -1),
            ("1.0~rc1", "1.0~rc2", -1),
            ("1.0~~", "1.0~", -1),
            ("1.0^", "1.0", 1),
            ("1.0^git1", "1.0", 1),
            ("1.0^git1", "1.01", -1),
            ("1.0^git1", "1.0^git2", -1),
            ("1.0~rc1^git1", "1.0~rc1", 1),
            ("a", "1", -1),
            ("1.a", "1.1", -1),
            ("2_0", "2.0", 0),
            ("1..0", "1.0", 0),
            ("5.5p1", "5.5p10", -1),
            ("6.0.rc1", "6.0", 1),
        ];
        for (a, b, want) in cases {
            let got = match rpmvercmp(a, b) {
                Ordering::Less => -1,
                Ordering::Equal => 0,
                Ordering::Greater => 1,
            };
            assert_eq!(got, want, "rpmvercmp({a:?}, {b:?})");
            assert_eq!(
                rpmvercmp(b, a),
                rpmvercmp(a, b).reverse(),
                "antisymmetry {a} {b}"
            );
        }
    }

    #[test]
    fn evr_parse_and_display() {
        let e = Evr::parse("2:1.0-3.fc40");
        assert_eq!(
            (e.epoch, e.version, e.release),
            (Some("2"), "1.0", Some("3.fc40"))
        );
        assert_eq!(e.to_string(), "2:1.0-3.fc40");
        assert_eq!(Evr::parse("0:1.0-1").to_string(), "1.0-1");
        assert_eq!(Evr::parse("1.0").release, None);
        // Found by fuzzing: a colon in the version keeps its epoch in print.
        assert_eq!(Evr::parse("0::x.0-3").to_string(), "0::x.0-3");
    }

    #[test]
    fn epoch_defaults_to_zero() {
        let a = Evr::new(Some("0"), "1.0", Some("1"));
        let b = Evr::new(None, "1.0", Some("1"));
        assert_eq!(a.cmp_full(&b), Ordering::Equal);
        let c = Evr::new(Some("1"), "0.1", None);
        assert_eq!(c.cmp_full(&b), Ordering::Greater);
    }

    #[test]
    fn range_matching() {
        let p = Evr::parse("1.0-5");
        let ge = Evr::parse("1.0");
        assert!(ranges_intersect(RelFlags::EQ, &p, RelFlags::GE, &ge));
        assert!(
            ranges_intersect(RelFlags::EQ, &p, RelFlags::EQ, &ge),
            "release ignored when absent"
        );
        assert!(!ranges_intersect(RelFlags::EQ, &p, RelFlags::GT, &ge));
        assert!(!ranges_intersect(
            RelFlags::EQ,
            &p,
            RelFlags::LT,
            &Evr::parse("1.0-5")
        ));
        assert!(ranges_intersect(
            RelFlags::EQ,
            &p,
            RelFlags::LE,
            &Evr::parse("1.0-5")
        ));
        assert!(ranges_intersect(
            RelFlags::GE,
            &Evr::parse("3"),
            RelFlags::GT,
            &Evr::parse("9")
        ));
        assert!(!ranges_intersect(
            RelFlags::LT,
            &Evr::parse("3"),
            RelFlags::GT,
            &Evr::parse("9")
        ));
        assert!(ranges_intersect(
            RelFlags::EQ,
            &Evr::parse("1:0.5"),
            RelFlags::GE,
            &Evr::parse("2.0")
        ));
        // The cases dnf (libsolv) decides asymmetrically, see tests/ORACLE.md.
        assert!(!ranges_intersect(
            RelFlags::EQ,
            &Evr::parse("1.0-1"),
            RelFlags::GT,
            &Evr::parse("1.0")
        ));
        assert!(ranges_intersect(
            RelFlags::EQ,
            &Evr::parse("1.0"),
            RelFlags::GT,
            &Evr::parse("1.0-1")
        ));
        assert!(ranges_intersect(
            RelFlags::EQ,
            &Evr::parse("1.0"),
            RelFlags::EQ,
            &Evr::parse("1.0-5")
        ));
        assert!(!ranges_intersect(
            RelFlags::EQ,
            &Evr::parse("1.0"),
            RelFlags::GE,
            &Evr::parse("1:1.0")
        ));
        assert!(!ranges_intersect(
            RelFlags::EQ,
            &Evr::parse("1:1.0"),
            RelFlags::EQ,
            &Evr::parse("1.0")
        ));
        assert!(!ranges_intersect(
            RelFlags::EQ,
            &Evr::parse("1.0"),
            RelFlags::GE,
            &Evr::parse("1.0.0")
        ));
        assert!(!ranges_intersect(
            RelFlags::EQ,
            &Evr::parse("1.0"),
            RelFlags::LT,
            &Evr::parse("1.0")
        ));
    }
}
