//! productmd metadata (composeinfo.json, rpms.json, modules.json).
//!
//! What Pungi writes into `compose/metadata/` and what compose tooling
//! reads back with the `productmd` library (`productmd.compose.Compose`).
//! The functions here are pure: they format, byte for byte as productmd's
//! own `dump()` does (`json.dump(indent=4, sort_keys=True,
//! separators=(",", ": "))`, ASCII-only with `\uXXXX` escapes, no trailing
//! newline), so a file loaded and dumped again by productmd is unchanged.
//!
//! productmd checks little when it loads a file, more when a file is built
//! through its API (`Rpms.add`, `Modules.add`, `ComposeInfo.dump`). [`validate`]
//! applies all of those rules (productmd 1.51) and a few of Pungi's
//! conventions on top; call it before writing.
//!
//! One module compose is one productmd compose with one or more variants
//! (a module's own repository, e.g. `Php`, and for a stack also the whole
//! stack's, e.g. `PhpStack`), each laid out as Pungi lays out a variant
//! (paths relative to the `compose/` directory, the one holding
//! `metadata/`):
//! ```text
//! <Variant>/<arch>/os/                      os_tree, repository
//! <Variant>/<arch>/os/Packages/<l>/<rpm>    packages
//! <Variant>/<arch>/os/repodata/             with the modules metadata
//! metadata/{composeinfo,rpms,modules}.json
//! ```
//! Every RPM and module entry names its variant; the same RPM may be in
//! several variants, each with its own path, as in Pungi's composes.
//! The release is the module: release short name = module name, version =
//! stream, type `ga` (so productmd's `create_compose_id` gives back the
//! compose ID: `apache-2.4-20261125.n.0`).

#[cfg(test)]
mod against_productmd;

pub(crate) use crate::error::ProductmdError;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::collections::BTreeMap;
use std::io;

/// productmd's metadata format version, written in every header.
pub(crate) const FORMAT_VERSION: &str = "1.2";

/// productmd's compose types (`composeinfo.COMPOSE_TYPES`) and the
/// suffix each puts after the date in a compose ID.
pub(crate) const COMPOSE_TYPES: [(&str, &str); 5] = [
    ("test", ".t"),
    ("ci", ".ci"),
    ("nightly", ".n"),
    ("production", ""),
    ("development", ".d"),
];

/// The release type written: a module compose is a release of its own.
pub(crate) const RELEASE_TYPE: &str = "ga";

/// productmd's `common.RPM_ARCHES`, shared with the definition check.
pub(crate) use strata_model::rules::RPM_ARCHES;

/// The compose as productmd describes it, with its variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ComposeInfo {
    /// Ends with `-<date><type suffix>.<respin>` (`apache-2.4-20261125.n.0`).
    pub compose_id: String,
    /// `YYYYMMDD`.
    pub date: String,
    /// One of [`COMPOSE_TYPES`]: `production`, `nightly`, `ci`, `test`,
    /// `development`.
    pub compose_type: String,
    pub respin: u32,
    /// Release name, e.g. the module name.
    pub release_name: String,
    /// Release short name: the module name.
    pub release_short: String,
    /// Release version: the stream; productmd requires either a non-digit
    /// first character or numbers joined by dots (`f40`, `2.4`, `8`).
    pub release_version: String,
    /// At least one; UIDs unique.
    pub variants: Vec<VariantInfo>,
}

/// One top-level variant of the compose (`composeinfo.json`'s
/// `variants`), with its tree `<uid>/` in the `compose/` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VariantInfo {
    /// See [`variant_uid`].
    pub uid: String,
    /// Human-readable variant name, e.g. the module's summary.
    pub name: String,
    /// The variant's arches (basearches, as Pungi's variants have).
    pub arches: Vec<String>,
}

impl ComposeInfo {
    /// The variant with this UID.
    pub(crate) fn variant(&self, uid: &str) -> Option<&VariantInfo> {
        self.variants.iter().find(|v| v.uid == uid)
    }
}

/// One RPM of one variant of the compose (`rpms.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RpmEntry {
    /// The UID of the variant it is published in.
    pub variant: String,
    /// The compose arch it is published under (for source RPMs too).
    pub arch: String,
    /// `name-epoch:version-release.src` of its source RPM; empty, or the
    /// RPM's own NEVRA, for a source RPM.
    pub srpm_nevra: String,
    /// `name-epoch:version-release.arch`, epoch always written.
    pub nevra: String,
    /// Relative to the `compose/` directory:
    /// `<Variant>/<arch>/os/Packages/<l>/<file>.rpm`.
    pub path: String,
    /// `binary`, `debug` or `source`.
    pub category: String,
}

/// One module stream of one variant of the compose on one arch
/// (`modules.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModuleEntry {
    /// The UID of the variant it is published in.
    pub variant: String,
    pub arch: String,
    pub name: String,
    pub stream: String,
    pub version: u64,
    pub context: String,
    /// The stream's artifacts (NEVRAs with epoch), as Pungi lists them.
    pub rpms: Vec<String>,
    /// Relative to the `compose/` directory: the modules metadata of the
    /// repository, as Pungi records it
    /// (`<Variant>/<arch>/os/repodata/<checksum>-modules.yaml.gz`).
    pub modulemd_path: String,
}

impl ModuleEntry {
    /// `name:stream:version:context`, productmd's module UID.
    pub(crate) fn uid(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.name, self.stream, self.version, self.context
        )
    }

    /// productmd requires a Koji tag for every module. A module compose is
    /// not a Koji module build, so this is the tag MBS would have given
    /// the build (`module-<name>-<stream>-<version>-<context>`): stable,
    /// unique per stream build, and recognisable.
    pub(crate) fn koji_tag(&self) -> String {
        format!(
            "module-{}-{}-{}-{}",
            self.name, self.stream, self.version, self.context
        )
    }
}

fn invalid(what: impl Into<String>, value: &str, why: impl Into<String>) -> ProductmdError {
    ProductmdError::Invalid {
        what: what.into(),
        value: value.to_string(),
        why: why.into(),
    }
}

/// The productmd variant UID of a module: its ASCII letters and digits, in
/// CamelCase at each run (`apache` → `Apache`, `base-runtime` →
/// `BaseRuntime`, `perl_DBI` → `PerlDBI`), as productmd allows only
/// `[a-zA-Z0-9]` in a variant ID and Pungi's variants are CamelCase.
/// A name without any letter or digit gives `Module`.
pub(crate) fn variant_uid(module_name: &str) -> String {
    let mut uid = String::new();
    for run in module_name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|r| !r.is_empty())
    {
        let mut chars = run.chars();
        if let Some(first) = chars.next() {
            uid.push(first.to_ascii_uppercase());
            uid.extend(chars);
        }
    }
    if uid.is_empty() {
        uid.push_str("Module");
    }
    uid
}

/// `<Variant>/<arch>/os`: the variant's tree and repository for `arch`,
/// relative to the `compose/` directory.
pub(crate) fn os_tree(variant_uid: &str, arch: &str) -> String {
    format!("{variant_uid}/{arch}/os")
}

fn compose_type_suffix(compose_type: &str) -> Option<&'static str> {
    COMPOSE_TYPES
        .iter()
        .find(|(t, _)| *t == compose_type)
        .map(|(_, s)| *s)
}

use strata_model::rules::is_release_version;

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
    let suffix = compose_type_suffix(&info.compose_type).ok_or_else(|| {
        invalid(
            "compose.type",
            &info.compose_type,
            format!(
                "not a productmd compose type ({})",
                COMPOSE_TYPES.map(|(t, _)| t).join(", ")
            ),
        )
    })?;
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
    if !["binary", "debug", "source"].contains(&r.category.as_str()) {
        return Err(invalid(
            what("category"),
            &r.category,
            "not binary, debug or source",
        ));
    }
    let n = check_nevra(&what("nevra"), &r.nevra)?;
    let is_source_arch = n.arch == "src" || n.arch == "nosrc";
    if (r.category == "source") != is_source_arch {
        return Err(invalid(
            what("category"),
            &r.category,
            format!("does not fit the package's arch `{}`", n.arch),
        ));
    }
    if r.category == "source" {
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

/// A JSON value whose maps are always sorted, whatever serde_json's
/// features (`preserve_order` would keep insertion order in its `Map`).
enum J {
    Null,
    Bool(bool),
    Int(u64),
    Str(String),
    Arr(Vec<J>),
    Obj(BTreeMap<String, J>),
}

impl Serialize for J {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            J::Null => s.serialize_unit(),
            J::Bool(b) => s.serialize_bool(*b),
            J::Int(n) => s.serialize_u64(*n),
            J::Str(v) => s.serialize_str(v),
            J::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            J::Obj(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

fn obj<const N: usize>(entries: [(&str, J); N]) -> J {
    J::Obj(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn s(v: &str) -> J {
    J::Str(v.to_string())
}

/// The object under `key` in `map`, created empty if missing.
fn child<'a>(map: &'a mut BTreeMap<String, J>, key: &str) -> &'a mut BTreeMap<String, J> {
    match map
        .entry(key.to_string())
        .or_insert_with(|| J::Obj(BTreeMap::new()))
    {
        J::Obj(m) => m,
        _ => unreachable!("only objects are inserted under these keys"),
    }
}

/// Python's `json.dump(indent=4, separators=(",", ": "))` with the default
/// `ensure_ascii=True`: serde_json's pretty printer, with every character
/// outside printable ASCII escaped as `\uXXXX` (lower-case hex, surrogate
/// pairs beyond the BMP).
struct PythonFormatter(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for PythonFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for c in fragment.chars() {
            if (' '..='~').contains(&c) {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

fn dump(doc: &J) -> String {
    let mut out = Vec::new();
    let fmt = PythonFormatter(serde_json::ser::PrettyFormatter::with_indent(b"    "));
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    doc.serialize(&mut ser)
        .expect("serializing to memory cannot fail");
    String::from_utf8(out).expect("the formatter writes ASCII")
}

fn header(metadata_type: &str) -> J {
    obj([("type", s(metadata_type)), ("version", s(FORMAT_VERSION))])
}

/// `payload.compose`, as every productmd file carries it.
fn compose(info: &ComposeInfo) -> J {
    obj([
        ("date", s(&info.date)),
        ("id", s(&info.compose_id)),
        ("respin", J::Int(info.respin.into())),
        ("type", s(&info.compose_type)),
    ])
}

fn sorted_arches(v: &VariantInfo) -> Vec<&str> {
    let mut arches: Vec<&str> = v.arches.iter().map(String::as_str).collect();
    arches.sort_unstable();
    arches.dedup();
    arches
}

/// One variant of `composeinfo.json`'s `variants`.
fn variant_json(v: &VariantInfo) -> J {
    let uid = &v.uid;
    let arches = sorted_arches(v);
    let per_arch = |f: &dyn Fn(&str) -> String| {
        J::Obj(
            arches
                .iter()
                .map(|a| (a.to_string(), J::Str(f(a))))
                .collect(),
        )
    };
    let paths = obj([
        ("os_tree", per_arch(&|a| os_tree(uid, a))),
        (
            "packages",
            per_arch(&|a| format!("{}/Packages", os_tree(uid, a))),
        ),
        ("repository", per_arch(&|a| os_tree(uid, a))),
    ]);
    obj([
        ("arches", J::Arr(arches.iter().map(|a| s(a)).collect())),
        ("id", s(uid)),
        ("name", s(&v.name)),
        ("paths", paths),
        ("type", s("variant")),
        ("uid", s(uid)),
    ])
}

/// `compose/metadata/composeinfo.json` (`productmd.composeinfo`): every
/// variant, keyed by its UID.
pub(crate) fn composeinfo_json(info: &ComposeInfo) -> String {
    let variants = info
        .variants
        .iter()
        .map(|v| (v.uid.clone(), variant_json(v)))
        .collect();
    dump(&obj([
        ("header", header("productmd.composeinfo")),
        (
            "payload",
            obj([
                ("compose", compose(info)),
                (
                    "release",
                    // `is_layered` is written only when true, `internal` always.
                    obj([
                        ("internal", J::Bool(false)),
                        ("name", s(&info.release_name)),
                        ("short", s(&info.release_short)),
                        ("type", s(RELEASE_TYPE)),
                        ("version", s(&info.release_version)),
                    ]),
                ),
                ("variants", J::Obj(variants)),
            ]),
        ),
    ]))
}

/// The key of an RPM in rpms.json: a source RPM is filed under itself.
fn srpm_key(r: &RpmEntry) -> &str {
    if r.category == "source" && r.srpm_nevra.is_empty() {
        &r.nevra
    } else {
        &r.srpm_nevra
    }
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

/// `compose/metadata/rpms.json` (`productmd.rpms`): variant → arch →
/// source NEVRA → NEVRA → `{category, path, sigkey}`. Strata does not see
/// signatures in repodata, so `sigkey` is null, as Pungi writes it for
/// unsigned packages. A variant without RPMs is left out, as productmd's
/// `Rpms.add` creates a variant's key with its first RPM. Repeated
/// identical entries are written once; conflicting ones are [`validate`]'s
/// business (the last one wins here).
pub(crate) fn rpms_json(info: &ComposeInfo, rpms: &[RpmEntry]) -> String {
    let mut variants: BTreeMap<String, J> = BTreeMap::new();
    for r in rpms {
        let entries = child(
            child(child(&mut variants, &r.variant), &r.arch),
            srpm_key(r),
        );
        entries.insert(
            r.nevra.clone(),
            obj([
                ("category", s(&r.category)),
                ("path", s(&r.path)),
                ("sigkey", J::Null),
            ]),
        );
    }
    dump(&obj([
        ("header", header("productmd.rpms")),
        (
            "payload",
            obj([("compose", compose(info)), ("rpms", J::Obj(variants))]),
        ),
    ]))
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

/// `compose/metadata/modules.json` (`productmd.modules`): variant → arch →
/// `name:stream:version:context` → `{metadata: {uid, name, stream, version,
/// context, koji_tag}, modulemd_path: {binary: path}, rpms: [...]}`; the
/// RPM list sorted and without repeats. A variant without modules is left
/// out, as productmd's `Modules.add` creates a variant's key with its first
/// module.
pub(crate) fn modules_json(info: &ComposeInfo, modules: &[ModuleEntry]) -> String {
    let mut variants: BTreeMap<String, J> = BTreeMap::new();
    for m in modules {
        let uids = child(child(&mut variants, &m.variant), &m.arch);
        let mut rpms: Vec<&str> = m.rpms.iter().map(String::as_str).collect();
        rpms.sort_unstable();
        rpms.dedup();
        let uid = m.uid();
        let entry = obj([
            (
                "metadata",
                obj([
                    ("context", s(&m.context)),
                    ("koji_tag", s(&m.koji_tag())),
                    ("name", s(&m.name)),
                    ("stream", s(&m.stream)),
                    ("uid", s(&uid)),
                    ("version", J::Str(m.version.to_string())),
                ]),
            ),
            ("modulemd_path", obj([("binary", s(&m.modulemd_path))])),
            ("rpms", J::Arr(rpms.into_iter().map(s).collect())),
        ]);
        uids.insert(uid, entry);
    }
    dump(&obj([
        ("header", header("productmd.modules")),
        (
            "payload",
            obj([("compose", compose(info)), ("modules", J::Obj(variants))]),
        ),
    ]))
}

#[cfg(test)]
mod test {
    use super::*;

    fn info() -> ComposeInfo {
        ComposeInfo {
            compose_id: "apache-2.4-20261125.n.0".into(),
            date: "20261125".into(),
            compose_type: "nightly".into(),
            respin: 0,
            release_name: "apache".into(),
            release_short: "apache".into(),
            release_version: "2.4".into(),
            variants: vec![VariantInfo {
                uid: variant_uid("apache"),
                name: "Apache HTTP Server".into(),
                arches: vec!["x86_64".into(), "aarch64".into()],
            }],
        }
    }

    fn rpm(arch: &str, nevra: &str) -> RpmEntry {
        RpmEntry {
            variant: "Apache".into(),
            arch: arch.into(),
            srpm_nevra: "httpd-0:2.4.58-1.fc40.src".into(),
            nevra: nevra.into(),
            path: format!("Apache/{arch}/os/Packages/h/{nevra}.rpm"),
            category: "binary".into(),
        }
    }

    fn module(arch: &str) -> ModuleEntry {
        ModuleEntry {
            variant: "Apache".into(),
            arch: arch.into(),
            name: "apache".into(),
            stream: "2.4".into(),
            version: 20261125083000,
            context: "c0ffee43".into(),
            rpms: vec!["httpd-0:2.4.58-1.fc40.x86_64".into()],
            modulemd_path: format!("Apache/{arch}/os/repodata/abc-modules.yaml.gz"),
        }
    }

    #[test]
    fn variant_uids() {
        assert_eq!(variant_uid("apache"), "Apache");
        assert_eq!(variant_uid("base-runtime"), "BaseRuntime");
        assert_eq!(variant_uid("perl_DBI"), "PerlDBI");
        assert_eq!(variant_uid("389-ds"), "389Ds");
        assert_eq!(variant_uid("+.-"), "Module");
    }

    #[test]
    fn composeinfo_bytes() {
        let want = r#"{
    "header": {
        "type": "productmd.composeinfo",
        "version": "1.2"
    },
    "payload": {
        "compose": {
            "date": "20261125",
            "id": "apache-2.4-20261125.n.0",
            "respin": 0,
            "type": "nightly"
        },
        "release": {
            "internal": false,
            "name": "apache",
            "short": "apache",
            "type": "ga",
            "version": "2.4"
        },
        "variants": {
            "Apache": {
                "arches": [
                    "aarch64",
                    "x86_64"
                ],
                "id": "Apache",
                "name": "Apache HTTP Server",
                "paths": {
                    "os_tree": {
                        "aarch64": "Apache/aarch64/os",
                        "x86_64": "Apache/x86_64/os"
                    },
                    "packages": {
                        "aarch64": "Apache/aarch64/os/Packages",
                        "x86_64": "Apache/x86_64/os/Packages"
                    },
                    "repository": {
                        "aarch64": "Apache/aarch64/os",
                        "x86_64": "Apache/x86_64/os"
                    }
                },
                "type": "variant",
                "uid": "Apache"
            }
        }
    }
}"#;
        assert_eq!(composeinfo_json(&info()), want);
    }

    #[test]
    fn ascii_only_like_python() {
        let mut i = info();
        i.variants[0].name = "Ápache \u{1F600} \"q\"\n\u{7f}".into();
        let text = composeinfo_json(&i);
        assert!(
            text.contains(r#""name": "\u00c1pache \ud83d\ude00 \"q\"\n\u007f""#),
            "{text}"
        );
        assert!(text.is_ascii());
    }

    #[test]
    fn deterministic() {
        let rpms = vec![
            rpm("x86_64", "httpd-0:2.4.58-1.fc40.x86_64"),
            rpm("aarch64", "httpd-0:2.4.58-1.fc40.aarch64"),
            rpm("x86_64", "httpd-tools-0:2.4.58-1.fc40.x86_64"),
        ];
        let mut reversed = rpms.clone();
        reversed.reverse();
        assert_eq!(rpms_json(&info(), &rpms), rpms_json(&info(), &reversed));
        let modules = vec![module("x86_64"), module("aarch64")];
        let mut rev = modules.clone();
        rev.reverse();
        assert_eq!(modules_json(&info(), &modules), modules_json(&info(), &rev));
        validate(&info(), &rpms, &modules).unwrap();
    }

    /// A change that breaks an entry, and the field validation names.
    type Edit<T> = (fn(&mut T), &'static str);

    fn what(e: ProductmdError) -> String {
        match e {
            ProductmdError::Invalid { what, .. } => what,
            ProductmdError::Conflict { what } => what,
        }
    }

    #[test]
    fn validation() {
        let bad_info: Vec<Edit<ComposeInfo>> = vec![
            (|i| i.compose_type = "weekly".into(), "compose.type"),
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
            (|r| r.category = "package".into(), "rpms[0].category"),
            (|r| r.category = "source".into(), "rpms[0].category"),
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
            category: "source".into(),
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

    /// `Apache` (x86_64, aarch64) and the stack's `ApacheStack` (x86_64).
    fn two_variants() -> ComposeInfo {
        let mut i = info();
        i.variants.push(VariantInfo {
            uid: "ApacheStack".into(),
            name: "Apache and its stack".into(),
            arches: vec!["x86_64".into()],
        });
        i
    }

    /// `rpm(arch, nevra)`, published in the stack's variant.
    fn stack_rpm(arch: &str, nevra: &str) -> RpmEntry {
        RpmEntry {
            variant: "ApacheStack".into(),
            path: format!("ApacheStack/{arch}/os/Packages/h/{nevra}.rpm"),
            ..rpm(arch, nevra)
        }
    }

    fn stack_module(arch: &str) -> ModuleEntry {
        ModuleEntry {
            variant: "ApacheStack".into(),
            modulemd_path: format!("ApacheStack/{arch}/os/repodata/def-modules.yaml.gz"),
            ..module(arch)
        }
    }

    #[test]
    fn composeinfo_has_every_variant() {
        let v: serde_json::Value =
            serde_json::from_str(&composeinfo_json(&two_variants())).unwrap();
        let variants = v["payload"]["variants"].as_object().unwrap();
        assert_eq!(
            variants.keys().collect::<Vec<_>>(),
            ["Apache", "ApacheStack"]
        );
        let stack = &variants["ApacheStack"];
        assert_eq!(stack["uid"], "ApacheStack");
        assert_eq!(stack["id"], "ApacheStack");
        assert_eq!(stack["name"], "Apache and its stack");
        assert_eq!(stack["arches"], serde_json::json!(["x86_64"]));
        assert_eq!(
            stack["paths"]["packages"],
            serde_json::json!({"x86_64": "ApacheStack/x86_64/os/Packages"})
        );
        assert_eq!(variants["Apache"]["arches"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn the_same_rpm_in_two_variants() {
        let info = two_variants();
        let nevra = "httpd-0:2.4.58-1.fc40.x86_64";
        let rpms = vec![rpm("x86_64", nevra), stack_rpm("x86_64", nevra)];
        let modules = vec![module("x86_64"), stack_module("x86_64")];
        validate(&info, &rpms, &modules).unwrap();

        let v: serde_json::Value = serde_json::from_str(&rpms_json(&info, &rpms)).unwrap();
        let path = |variant: &str| {
            v["payload"]["rpms"][variant]["x86_64"]["httpd-0:2.4.58-1.fc40.src"][nevra]["path"]
                .clone()
        };
        assert_eq!(
            path("Apache"),
            "Apache/x86_64/os/Packages/h/httpd-0:2.4.58-1.fc40.x86_64.rpm"
        );
        assert_eq!(
            path("ApacheStack"),
            "ApacheStack/x86_64/os/Packages/h/httpd-0:2.4.58-1.fc40.x86_64.rpm"
        );
        let v: serde_json::Value = serde_json::from_str(&modules_json(&info, &modules)).unwrap();
        let uid = module("x86_64").uid();
        assert_eq!(
            v["payload"]["modules"]["ApacheStack"]["x86_64"][&uid]["modulemd_path"]["binary"],
            "ApacheStack/x86_64/os/repodata/def-modules.yaml.gz"
        );
        assert_eq!(
            v["payload"]["modules"]["Apache"]["x86_64"][&uid]["modulemd_path"]["binary"],
            "Apache/x86_64/os/repodata/abc-modules.yaml.gz"
        );

        // Within one variant the same RPM with two paths still conflicts.
        let mut other = stack_rpm("x86_64", nevra);
        other.path = "ApacheStack/x86_64/os/Packages/h/other.rpm".into();
        assert!(matches!(
            validate(&info, &[rpms[1].clone(), other], &[]),
            Err(ProductmdError::Conflict { .. })
        ));
        let mut other = stack_module("x86_64");
        other.modulemd_path = "ApacheStack/x86_64/os/repodata/other-modules.yaml.gz".into();
        assert!(matches!(
            validate(&info, &[], &[modules[1].clone(), other]),
            Err(ProductmdError::Conflict { .. })
        ));
    }

    #[test]
    fn a_variant_without_entries_is_left_out() {
        let info = two_variants();
        let rpms = vec![rpm("x86_64", "httpd-0:2.4.58-1.fc40.x86_64")];
        let modules = vec![stack_module("x86_64")];
        validate(&info, &rpms, &modules).unwrap();
        let v: serde_json::Value = serde_json::from_str(&rpms_json(&info, &rpms)).unwrap();
        let variants = v["payload"]["rpms"].as_object().unwrap();
        assert_eq!(variants.keys().collect::<Vec<_>>(), ["Apache"]);
        let v: serde_json::Value = serde_json::from_str(&modules_json(&info, &modules)).unwrap();
        let variants = v["payload"]["modules"].as_object().unwrap();
        assert_eq!(variants.keys().collect::<Vec<_>>(), ["ApacheStack"]);
        // No entries at all: an empty map, as productmd writes it.
        assert!(rpms_json(&info, &[]).contains("\"rpms\": {}"));
        assert!(modules_json(&info, &[]).contains("\"modules\": {}"));
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

    #[test]
    fn module_uid_and_tag() {
        let m = module("x86_64");
        assert_eq!(m.uid(), "apache:2.4:20261125083000:c0ffee43");
        assert_eq!(m.koji_tag(), "module-apache-2.4-20261125083000-c0ffee43");
        let text = modules_json(&info(), &[m]);
        assert!(text.contains("\"version\": \"20261125083000\""), "{text}");
    }
}
