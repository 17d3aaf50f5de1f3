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

mod json;
mod validate;

#[cfg(test)]
mod against_productmd;
#[cfg(test)]
mod fixtures;

pub(crate) use crate::error::ProductmdError;
#[cfg(test)]
pub(crate) use json::rpms_json;
pub(crate) use json::{composeinfo_json, images_json, modules_json, rpms_json_with_layers, Images};
use serde::Serialize;
use strata_registry::ComposeType;
pub(crate) use validate::validate;

/// productmd's metadata format version, written in every header.
const FORMAT_VERSION: &str = "1.2";

/// The release type written: a module compose is a release of its own.
const RELEASE_TYPE: &str = "ga";

/// The compose as productmd describes it, with its variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ComposeInfo {
    /// Ends with `-<date><type suffix>.<respin>` (`apache-2.4-20261125.n.0`).
    pub compose_id: String,
    /// `YYYYMMDD`.
    pub date: String,
    /// Its type, which gives the compose ID's suffix.
    pub compose_type: ComposeType,
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
    pub category: RpmCategory,
}

/// A compose of the stack below a module, as its `rpms.json` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LayerRef {
    pub compose_id: String,
    /// `name:stream`.
    pub module: String,
    /// Its compose directory (`OUT/<compose-id>`), whose own
    /// `compose/metadata/rpms.json` lists its RPMs.
    pub path: String,
}

/// What an RPM of `rpms.json` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RpmCategory {
    Binary,
    // Strata publishes binary RPMs only; productmd's other categories are
    // here for the checks, which follow productmd's rules for all three.
    #[allow(dead_code)]
    Debug,
    Source,
}

impl RpmCategory {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RpmCategory::Binary => "binary",
            RpmCategory::Debug => "debug",
            RpmCategory::Source => "source",
        }
    }
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

/// The key of an RPM in rpms.json: a source RPM is filed under itself.
pub(super) fn srpm_key(r: &RpmEntry) -> &str {
    if r.category == RpmCategory::Source && r.srpm_nevra.is_empty() {
        &r.nevra
    } else {
        &r.srpm_nevra
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn variant_uids() {
        assert_eq!(variant_uid("apache"), "Apache");
        assert_eq!(variant_uid("base-runtime"), "BaseRuntime");
        assert_eq!(variant_uid("perl_DBI"), "PerlDBI");
        assert_eq!(variant_uid("389-ds"), "389Ds");
        assert_eq!(variant_uid("+.-"), "Module");
    }
}
