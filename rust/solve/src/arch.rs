//! Which package arches a machine of a given base arch can install, as rpm
//! and libsolv define it (multilib included), plus `noarch`.

/// The arches installable on `base`, best first, `noarch` last.
pub(crate) fn compatible_arches(base: &str) -> Vec<&str> {
    let list: &[&str] = match base {
        "x86_64" => &["x86_64", "i686", "i586", "i486", "i386", "athlon"],
        "x86_64_v2" => &["x86_64_v2", "x86_64", "i686", "i586", "i486", "i386"],
        "x86_64_v3" => &[
            "x86_64_v3",
            "x86_64_v2",
            "x86_64",
            "i686",
            "i586",
            "i486",
            "i386",
        ],
        "i686" => &["i686", "i586", "i486", "i386", "athlon"],
        "aarch64" => &["aarch64"],
        "ppc64le" => &["ppc64le"],
        "ppc64" => &["ppc64", "ppc"],
        "s390x" => &["s390x", "s390"],
        "armv7hl" => &["armv7hl", "armv7l", "armv6hl", "armv6l", "armv5tel"],
        "riscv64" => &["riscv64"],
        other => return vec![other, "noarch"],
    };
    let mut v = list.to_vec();
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
        assert!(compatible_arches("x86_64").contains(&"noarch"));
        assert!(!compatible_arches("x86_64").contains(&"aarch64"));
        assert_eq!(compatible_arches("aarch64"), vec!["aarch64", "noarch"]);
    }
}
