//! What productmd checks when its files are built through its API
//! (`Rpms.add`, `Modules.add`, `ComposeInfo.dump`, productmd 1.51), and a
//! few of Pungi's conventions on top: [`validate`] runs before anything is
//! written.

use super::{
    srpm_key, ComposeInfo, ModuleEntry, ProductmdError, RpmCategory, RpmEntry, VariantInfo,
};
use std::collections::BTreeMap;
use strata_model::{is_release_version, RPM_ARCHES};

fn invalid(what: impl Into<String>, value: &str, why: impl Into<String>) -> ProductmdError {
    ProductmdError::Invalid {
        what: what.into(),
        value: value.to_string(),
        why: why.into(),
    }
}

/// A NEVRA split as productmd's `RPM_NVRA_RE` splits it, requiring the
/// epoch (as `Rpms.add` does) and every part non-empty.
struct Nevra<'a> {
    epoch: &'a str,
    arch: &'a str,
}

fn parse_nevra(s: &str) -> Option<Nevra<'_>> {
    if !s.chars().all(|c| c.is_ascii_graphic()) || s.contains('/') {
        return None;
    }
    let (rest, arch) = s.rsplit_once('.')?;
    let (rest, release) = rest.rsplit_once('-')?;
    let (name, ev) = rest.rsplit_once('-')?;
    let (epoch, version) = ev.split_once(':')?;
    let ok = !name.is_empty()
        && !epoch.is_empty()
        && epoch.bytes().all(|b| b.is_ascii_digit())
        && !version.is_empty()
        && !version.contains(':')
        && !release.is_empty()
        && !arch.is_empty();
    ok.then_some(Nevra { epoch, arch })
}

/// A NEVRA as productmd writes it after `Rpms.add`: epoch written, as an
/// integer (no leading zeros).
fn check_nevra<'a>(what: &str, s: &'a str) -> Result<Nevra<'a>, ProductmdError> {
    let n = parse_nevra(s).ok_or_else(|| {
        invalid(
            what,
            s,
            "not name-epoch:version-release.arch with the epoch written",
        )
    })?;
    if n.epoch.len() > 1 && n.epoch.starts_with('0') {
        return Err(invalid(what, s, "the epoch has leading zeros"));
    }
    Ok(n)
}

fn check_relative_path(what: &str, path: &str, variant_uid: &str) -> Result<(), ProductmdError> {
    if path.is_empty() || path.starts_with('/') {
        return Err(invalid(
            what,
            path,
            "must be a path relative to the compose/ directory",
        ));
    }
    if path
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(invalid(
            what,
            path,
            "must not have empty, `.` or `..` components",
        ));
    }
    if !path.starts_with(&format!("{variant_uid}/")) {
        return Err(invalid(
            what,
            path,
            format!(
                "must lie in the variant's tree `{variant_uid}/` (paths are relative to \
                 the compose/ directory, which holds metadata/)"
            ),
        ));
    }
    Ok(())
}

/// The entry's variant, which must be one of the compose's, and its arch,
/// which must be one of that variant's. `what` is the entry (`rpms[3]`).
fn check_variant_arch<'a>(
    what: &str,
    variant: &str,
    arch: &str,
    info: &'a ComposeInfo,
) -> Result<&'a VariantInfo, ProductmdError> {
    let v = info.variant(variant).ok_or_else(|| {
        invalid(
            format!("{what}.variant"),
            variant,
            format!(
                "not one of the compose's variants {:?}",
                info.variants.iter().map(|v| &v.uid).collect::<Vec<_>>()
            ),
        )
    })?;
    if !v.arches.iter().any(|a| a == arch) {
        return Err(invalid(
            format!("{what}.arch"),
            arch,
            format!("not one of variant {}'s arches {:?}", v.uid, v.arches),
        ));
    }
    Ok(v)
}

fn check_variant(i: usize, v: &VariantInfo, seen: &[VariantInfo]) -> Result<(), ProductmdError> {
    let what = |f: &str| format!("variants[{i}].{f}");
    if v.uid.is_empty() || !v.uid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(invalid(
            what("uid"),
            &v.uid,
            "productmd allows only ASCII letters and digits in a top-level variant ID",
        ));
    }
    if seen.iter().any(|s| s.uid == v.uid) {
        return Err(invalid(
            what("uid"),
            &v.uid,
            "given to two variants: a variant UID names its tree and its metadata",
        ));
    }
    if v.name.trim().is_empty() {
        return Err(invalid(what("name"), &v.name, "must not be blank"));
    }
    if v.arches.is_empty() {
        return Err(invalid(what("arches"), "", "must not be empty"));
    }
    for a in &v.arches {
        if !RPM_ARCHES.contains(&a.as_str()) || a == "src" || a == "nosrc" {
            return Err(invalid(
                what("arches"),
                a,
                "not an arch productmd knows for a compose (RPM_ARCHES without src, nosrc)",
            ));
        }
    }
    Ok(())
}

fn check_info(info: &ComposeInfo) -> Result<(), ProductmdError> {
    let suffix = info.compose_type.suffix();
    if info.date.len() != 8
        || !info.date.bytes().all(|b| b.is_ascii_digit())
        || jiff::civil::Date::strptime("%Y%m%d", &info.date).is_err()
    {
        return Err(invalid("compose.date", &info.date, "not a date YYYYMMDD"));
    }
    let tail = format!("-{}{suffix}.{}", info.date, info.respin);
    if !info.compose_id.ends_with(&tail) || info.compose_id.len() == tail.len() {
        return Err(invalid(
            "compose.id",
            &info.compose_id,
            format!(
                "must end with `{tail}` (date, type suffix and respin, which productmd reads \
                 from a compose ID), after the release"
            ),
        ));
    }
    if info.compose_id.contains(['/', ' ']) {
        return Err(invalid(
            "compose.id",
            &info.compose_id,
            "names a directory: no `/` or spaces",
        ));
    }
    if info.release_name.trim().is_empty() {
        return Err(invalid(
            "release.name",
            &info.release_name,
            "must not be empty",
        ));
    }
    if info.release_short.is_empty() || !info.release_short.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid(
            "release.short",
            &info.release_short,
            "must be one word of printable ASCII",
        ));
    }
    if !is_release_version(&info.release_version) {
        return Err(invalid(
            "release.version",
            &info.release_version,
            "productmd requires a non-digit first character, or numbers joined by single dots",
        ));
    }
    if info.variants.is_empty() {
        return Err(invalid(
            "variants",
            "",
            "a compose has at least one variant",
        ));
    }
    for (i, v) in info.variants.iter().enumerate() {
        check_variant(i, v, &info.variants[..i])?;
    }
    Ok(())
}

fn check_rpm(i: usize, r: &RpmEntry, info: &ComposeInfo) -> Result<(), ProductmdError> {
    let what = |f: &str| format!("rpms[{i}].{f}");
    let variant = check_variant_arch(&format!("rpms[{i}]"), &r.variant, &r.arch, info)?;
    let n = check_nevra(&what("nevra"), &r.nevra)?;
    let is_source_arch = n.arch == "src" || n.arch == "nosrc";
    let source = r.category == RpmCategory::Source;
    if source != is_source_arch {
        return Err(invalid(
            what("category"),
            r.category.as_str(),
            format!("does not fit the package's arch `{}`", n.arch),
        ));
    }
    if source {
        if !r.srpm_nevra.is_empty() && r.srpm_nevra != r.nevra {
            return Err(invalid(
                what("srpm_nevra"),
                &r.srpm_nevra,
                "a source RPM is its own source: leave it empty",
            ));
        }
    } else {
        let s = check_nevra(&what("srpm_nevra"), &r.srpm_nevra)?;
        if s.arch != "src" && s.arch != "nosrc" {
            return Err(invalid(
                what("srpm_nevra"),
                &r.srpm_nevra,
                "a source RPM's arch is src or nosrc",
            ));
        }
    }
    check_relative_path(&what("path"), &r.path, &variant.uid)
}

fn check_module(i: usize, m: &ModuleEntry, info: &ComposeInfo) -> Result<(), ProductmdError> {
    let what = |f: &str| format!("modules[{i}].{f}");
    let variant = check_variant_arch(&format!("modules[{i}]"), &m.variant, &m.arch, info)?;
    // The UID is split at ':' (productmd's `Modules.parse_uid`).
    for (f, v) in [
        ("name", &m.name),
        ("stream", &m.stream),
        ("context", &m.context),
    ] {
        if v.is_empty() || v.contains([':', '/']) || !v.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid(
                what(f),
                v,
                "must be non-empty printable ASCII without `:` or `/`",
            ));
        }
    }
    for (k, r) in m.rpms.iter().enumerate() {
        check_nevra(&what(&format!("rpms[{k}]")), r)?;
    }
    check_relative_path(&what("modulemd_path"), &m.modulemd_path, &variant.uid)
}

/// Checks everything productmd's API checks when these files are built
/// through it; that the variants' UIDs are unique; and that every entry
/// names one of the compose's variants, one of that variant's arches, and
/// paths inside that variant's tree (`<uid>/`). Conflicts are looked for
/// per variant: the same RPM in two variants, each with its own path, is
/// normal.
pub(crate) fn validate(
    info: &ComposeInfo,
    rpms: &[RpmEntry],
    modules: &[ModuleEntry],
) -> Result<(), ProductmdError> {
    check_info(info)?;
    for (i, r) in rpms.iter().enumerate() {
        check_rpm(i, r, info)?;
    }
    for (i, m) in modules.iter().enumerate() {
        check_module(i, m, info)?;
    }
    rpm_conflicts(rpms)?;
    module_conflicts(modules)?;
    Ok(())
}

/// Refuses two different entries under one variant/arch/srpm/nevra key.
fn rpm_conflicts(rpms: &[RpmEntry]) -> Result<(), ProductmdError> {
    let mut seen: BTreeMap<(&str, &str, &str, &str), &RpmEntry> = BTreeMap::new();
    for r in rpms {
        let slot = seen
            .entry((
                r.variant.as_str(),
                r.arch.as_str(),
                srpm_key(r),
                r.nevra.as_str(),
            ))
            .or_insert(r);
        if slot.path != r.path || slot.category != r.category {
            return Err(ProductmdError::Conflict {
                what: format!("RPM {} ({}, variant {})", r.nevra, r.arch, r.variant),
            });
        }
    }
    Ok(())
}

/// Refuses two different entries for one module UID on one arch of one
/// variant.
fn module_conflicts(modules: &[ModuleEntry]) -> Result<(), ProductmdError> {
    let mut seen: BTreeMap<(&str, &str, String), &ModuleEntry> = BTreeMap::new();
    for m in modules {
        let slot = seen
            .entry((m.variant.as_str(), m.arch.as_str(), m.uid()))
            .or_insert(m);
        let mut a = slot.rpms.clone();
        let mut b = m.rpms.clone();
        a.sort();
        a.dedup();
        b.sort();
        b.dedup();
        if slot.modulemd_path != m.modulemd_path || a != b {
            return Err(ProductmdError::Conflict {
                what: format!("module {} ({}, variant {})", m.uid(), m.arch, m.variant),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::super::fixtures::*;
    use super::super::*;

    #[test]
    fn validation() {
        let bad_info: Vec<Edit<ComposeInfo>> = vec![
            (|i| i.date = "2026-11-25".into(), "compose.date"),
            (|i| i.date = "20261325".into(), "compose.date"),
            (
                |i| i.compose_id = "apache-2.4-20261125.0".into(),
                "compose.id",
            ),
            (|i| i.compose_id = "-20261125.n.0".into(), "compose.id"),
            (|i| i.release_version = "2.4a".into(), "release.version"),
            (|i| i.release_version = "".into(), "release.version"),
            (
                |i| i.variants[0].uid = "Base-Runtime".into(),
                "variants[0].uid",
            ),
            (|i| i.variants[0].name = " ".into(), "variants[0].name"),
            (|i| i.variants[0].arches = vec![], "variants[0].arches"),
            (
                |i| i.variants[0].arches = vec!["src".into()],
                "variants[0].arches",
            ),
            (
                |i| i.variants[0].arches = vec!["x86-64".into()],
                "variants[0].arches",
            ),
            (|i| i.variants = vec![], "variants"),
        ];
        for (f, field) in bad_info {
            let mut i = info();
            f(&mut i);
            assert_eq!(what(validate(&i, &[], &[]).unwrap_err()), field);
        }
        let mut i = info();
        i.release_version = "f40".into();
        validate(&i, &[], &[]).unwrap();

        let ok = rpm("x86_64", "httpd-0:2.4.58-1.fc40.x86_64");
        let bad_rpms: Vec<Edit<RpmEntry>> = vec![
            (
                |r| r.nevra = "httpd-2.4.58-1.fc40.x86_64".into(),
                "rpms[0].nevra",
            ),
            (
                |r| r.nevra = "httpd-00:2.4.58-1.fc40.x86_64".into(),
                "rpms[0].nevra",
            ),
            (
                |r| r.srpm_nevra = "httpd-2.4.58-1.fc40.src".into(),
                "rpms[0].srpm_nevra",
            ),
            (
                |r| r.srpm_nevra = "httpd-0:2.4.58-1.fc40.x86_64".into(),
                "rpms[0].srpm_nevra",
            ),
            (|r| r.category = RpmCategory::Source, "rpms[0].category"),
            (|r| r.arch = "ppc64le".into(), "rpms[0].arch"),
            (
                |r| r.path = "/srv/Apache/x86_64/os/Packages/h/h.rpm".into(),
                "rpms[0].path",
            ),
            (
                |r| r.path = "compose/Apache/x86_64/os/Packages/h/h.rpm".into(),
                "rpms[0].path",
            ),
            (
                |r| r.path = "Apache/x86_64/../../h.rpm".into(),
                "rpms[0].path",
            ),
        ];
        for (f, field) in bad_rpms {
            let mut r = ok.clone();
            f(&mut r);
            assert_eq!(what(validate(&info(), &[r], &[]).unwrap_err()), field);
        }
        // A source RPM is keyed under itself.
        let src = RpmEntry {
            variant: "Apache".into(),
            arch: "x86_64".into(),
            srpm_nevra: String::new(),
            nevra: "httpd-0:2.4.58-1.fc40.src".into(),
            path: "Apache/source/tree/Packages/h/httpd-2.4.58-1.fc40.src.rpm".into(),
            category: RpmCategory::Source,
        };
        validate(&info(), &[ok.clone(), src.clone()], &[]).unwrap();
        let json = rpms_json(&info(), &[ok.clone(), src]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let srpm = &v["payload"]["rpms"]["Apache"]["x86_64"]["httpd-0:2.4.58-1.fc40.src"];
        assert_eq!(srpm["httpd-0:2.4.58-1.fc40.src"]["category"], "source");
        assert_eq!(srpm["httpd-0:2.4.58-1.fc40.x86_64"]["category"], "binary");
        // The same RPM twice with different paths.
        let mut other = ok.clone();
        other.path = "Apache/x86_64/os/Packages/h/other.rpm".into();
        assert!(matches!(
            validate(&info(), &[ok.clone(), other], &[]),
            Err(ProductmdError::Conflict { .. })
        ));
        validate(&info(), &[ok.clone(), ok], &[]).unwrap();

        let bad_modules: Vec<Edit<ModuleEntry>> = vec![
            (|m| m.stream = "a:b".into(), "modules[0].stream"),
            (|m| m.context = "".into(), "modules[0].context"),
            (|m| m.arch = "s390x".into(), "modules[0].arch"),
            (|m| m.rpms = vec!["httpd".into()], "modules[0].rpms[0]"),
            (
                |m| m.modulemd_path = "compose/Apache/x86_64/os/repodata".into(),
                "modules[0].modulemd_path",
            ),
        ];
        for (f, field) in bad_modules {
            let mut m = module("x86_64");
            f(&mut m);
            assert_eq!(what(validate(&info(), &[], &[m]).unwrap_err()), field);
        }
    }

    #[test]
    fn an_entry_names_an_unknown_variant() {
        let info = two_variants();
        let mut r = rpm("x86_64", "httpd-0:2.4.58-1.fc40.x86_64");
        r.variant = "Nginx".into();
        r.path = "Nginx/x86_64/os/Packages/h/httpd.rpm".into();
        assert_eq!(
            what(validate(&info, &[r], &[]).unwrap_err()),
            "rpms[0].variant"
        );
        let mut m = module("x86_64");
        m.variant = "apache".into(); // UIDs are compared exactly
        assert_eq!(
            what(validate(&info, &[], &[m]).unwrap_err()),
            "modules[0].variant"
        );
    }

    #[test]
    fn an_arch_not_in_its_variant() {
        let info = two_variants();
        // aarch64 is one of the compose's arches, but not the stack's.
        let r = stack_rpm("aarch64", "httpd-0:2.4.58-1.fc40.aarch64");
        assert_eq!(
            what(validate(&info, &[r], &[]).unwrap_err()),
            "rpms[0].arch"
        );
        let m = stack_module("aarch64");
        assert_eq!(
            what(validate(&info, &[], &[m]).unwrap_err()),
            "modules[0].arch"
        );
        validate(
            &info,
            &[rpm("aarch64", "httpd-0:2.4.58-1.fc40.aarch64")],
            &[],
        )
        .unwrap();
    }

    #[test]
    fn a_path_in_the_other_variants_tree() {
        let info = two_variants();
        let mut r = stack_rpm("x86_64", "httpd-0:2.4.58-1.fc40.x86_64");
        r.path = "Apache/x86_64/os/Packages/h/httpd.rpm".into();
        assert_eq!(
            what(validate(&info, &[r], &[]).unwrap_err()),
            "rpms[0].path"
        );
        let mut m = module("x86_64");
        m.modulemd_path = "ApacheStack/x86_64/os/repodata/abc-modules.yaml.gz".into();
        assert_eq!(
            what(validate(&info, &[], &[m]).unwrap_err()),
            "modules[0].modulemd_path"
        );
    }

    #[test]
    fn duplicate_variant_uids() {
        let mut info = two_variants();
        info.variants[1].uid = "Apache".into();
        assert_eq!(
            what(validate(&info, &[], &[]).unwrap_err()),
            "variants[1].uid"
        );
        // Each variant is checked, not only the first.
        let mut info = two_variants();
        info.variants[1].arches = vec![];
        assert_eq!(
            what(validate(&info, &[], &[]).unwrap_err()),
            "variants[1].arches"
        );
    }
}
