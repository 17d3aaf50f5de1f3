//! Which package arches a machine of a given base arch can install, as
//! Fedora's dnf decides it: libsolv's arch policies (poolarch.c) as
//! Fedora builds libsolv (with FEDORA, which adds athlon to the x86_64
//! family). The provider index and the libsolv pool both take the policy
//! from here, so repoclosure and installability agree whichever way the
//! system libsolv was built (Debian's leaves athlon out).

/// libsolv's policies (libsolv/oracle.rs tests them against the system
/// libsolv): the base arch, then the arches it can also install,
/// best first, `:` apart (no arch may replace another). A base arch not
/// listed installs only itself. noarch always comes on top.
pub(crate) const POLICIES: &[(&str, &str)] = &[
    (
        "x86_64_v4",
        "x86_64_v4:x86_64_v3:x86_64_v2:x86_64:athlon:i686:i586:i486:i386",
    ),
    (
        "x86_64_v3",
        "x86_64_v3:x86_64_v2:x86_64:athlon:i686:i586:i486:i386",
    ),
    ("x86_64_v2", "x86_64_v2:x86_64:athlon:i686:i586:i486:i386"),
    ("x86_64", "x86_64:athlon:i686:i586:i486:i386"),
    ("i686", "i686:i586:i486:i386"),
    ("i586", "i586:i486:i386"),
    ("i486", "i486:i386"),
    ("s390x", "s390x:s390"),
    ("ppc64", "ppc64:ppc"),
    ("ppc64p7", "ppc64p7:ppc64:ppc"),
    ("ia64", "ia64:i686:i586:i486:i386"),
    (
        "armv8hcnl",
        "armv8hcnl:armv8hnl:armv8hl:armv7hnl:armv7hl:armv6hl",
    ),
    ("armv8hnl", "armv8hnl:armv8hl:armv7hnl:armv7hl:armv6hl"),
    ("armv8hl", "armv8hl:armv7hl:armv6hl"),
    (
        "armv8l",
        "armv8l:armv7l:armv6l:armv5tejl:armv5tel:armv5tl:armv5l:armv4tl:armv4l:armv3l",
    ),
    ("armv7hnl", "armv7hnl:armv7hl:armv6hl"),
    ("armv7hl", "armv7hl:armv6hl"),
    (
        "armv7l",
        "armv7l:armv6l:armv5tejl:armv5tel:armv5tl:armv5l:armv4tl:armv4l:armv3l",
    ),
    (
        "armv6l",
        "armv6l:armv5tejl:armv5tel:armv5tl:armv5l:armv4tl:armv4l:armv3l",
    ),
    (
        "armv5tejl",
        "armv5tejl:armv5tel:armv5tl:armv5l:armv4tl:armv4l:armv3l",
    ),
    ("armv5tel", "armv5tel:armv5tl:armv5l:armv4tl:armv4l:armv3l"),
    ("armv5tl", "armv5tl:armv5l:armv4tl:armv4l:armv3l"),
    ("armv5l", "armv5l:armv4tl:armv4l:armv3l"),
    ("armv4tl", "armv4tl:armv4l:armv3l"),
    ("armv4l", "armv4l:armv3l"),
    ("sh4a", "sh4a:sh4"),
    (
        "sparc64v",
        "sparc64v:sparc64:sparcv9v:sparcv9:sparcv8:sparc",
    ),
    ("sparc64", "sparc64:sparcv9:sparcv8:sparc"),
    ("sparcv9v", "sparcv9v:sparcv9:sparcv8:sparc"),
    ("sparcv9", "sparcv9:sparcv8:sparc"),
    ("sparcv8", "sparcv8:sparc"),
    ("e2kv6", "e2kv6:e2kv5:e2kv4:e2k"),
    ("e2kv5", "e2kv5:e2kv4:e2k"),
    ("e2kv4", "e2kv4:e2k"),
    ("ia32e", "ia32e:x86_64:athlon:i686:i586:i486:i386"),
    ("athlon", "athlon:i686:i586:i486:i386"),
    ("amd64", "amd64:x86_64:athlon:i686:i586:i486:i386"),
    ("geode", "geode:i586:i486:i386"),
    ("ppc64iseries", "ppc64iseries:ppc64:ppc"),
    ("ppc64pseries", "ppc64pseries:ppc64:ppc"),
];

/// The arch policy of a `base` machine, in libsolv's notation (for
/// pool_setarchpolicy).
pub(crate) fn arch_policy(base: &str) -> &str {
    POLICIES
        .iter()
        .find(|(b, _)| *b == base)
        .map_or(base, |(_, policy)| policy)
}

/// The arches installable on `base`, best first, `noarch` last.
pub(crate) fn compatible_arches(base: &str) -> Vec<&str> {
    let mut v: Vec<&str> = arch_policy(base).split(':').collect();
    v.push("noarch");
    v
}

/// The machine's own base arch, in rpm's spelling.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "i686",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "arm" => "armv7hl",
        other => other,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn multilib() {
        assert!(compatible_arches("x86_64").contains(&"i686"));
        assert!(compatible_arches("x86_64").contains(&"athlon"));
        assert!(compatible_arches("x86_64").contains(&"noarch"));
        assert!(!compatible_arches("x86_64").contains(&"aarch64"));
        assert!(!compatible_arches("i686").contains(&"athlon"));
        assert_eq!(compatible_arches("aarch64"), vec!["aarch64", "noarch"]);
        // Hard-float cannot run soft-float packages.
        assert_eq!(
            compatible_arches("armv7hl"),
            vec!["armv7hl", "armv6hl", "noarch"]
        );
    }
}
