//! The documents: a modulemd v2 stream and a modulemd-defaults v1 entry.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One built module stream (`document: modulemd`, `version: 2`), as it
/// stands in a repository: every field that dnf and libmodulemd read there.
///
/// Lists that are sets in modulemd (licenses, `api`, `artifacts`, profile
/// RPMs, dependency streams) may be given in any order and with repeats:
/// they are written sorted and deduplicated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModuleStream {
    pub name: String,
    pub stream: String,
    /// `YYYYMMDDhhmmss` of the compose by convention; 0 means unset.
    pub version: u64,
    /// Up to 10 of `[a-zA-Z0-9_]`; Strata writes 8 hex digits.
    pub context: String,
    pub arch: String,
    pub summary: String,
    pub description: String,
    pub license: License,
    /// Service level name (libmodulemd's end-of-life convention is
    /// `rawhide`) → its end of life.
    pub servicelevels: BTreeMap<String, ServiceLevel>,
    /// Extensible metadata. Strings, booleans, numbers, lists and maps;
    /// no nulls. libmodulemd reads scalars other than booleans back as
    /// strings (`5` becomes `"5"`), and the strings `"TRUE"` and `"FALSE"`
    /// as booleans.
    pub xmd: Map<String, Value>,
    /// modulemd v2 `dependencies`: Strata writes one entry with runtime
    /// requirements only ([`Dependencies::runtime`]).
    pub dependencies: Vec<Dependencies>,
    /// Profile name → profile.
    pub profiles: BTreeMap<String, Profile>,
    /// `data.api.rpms`: binary RPM names.
    pub api: Vec<String>,
    /// `data.artifacts.rpms`: NEVRAs with an explicit epoch
    /// (`httpd-0:2.4.58-1.fc40.x86_64`, see [`artifact_nevra`]).
    pub artifacts: Vec<String>,
}

/// `data.license`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct License {
    /// Licenses of the module metadata itself; libmodulemd requires one.
    pub module: Vec<String>,
    /// Licenses of the packages in the module.
    pub content: Vec<String>,
}

/// One entry of modulemd v2 `dependencies`: module name → streams. An empty
/// list means any stream; streams starting with `-` exclude that stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dependencies {
    pub buildrequires: BTreeMap<String, Vec<String>>,
    pub requires: BTreeMap<String, Vec<String>>,
}

impl Dependencies {
    /// Runtime requirements only: what a compose of pre-built RPMs knows.
    pub fn runtime(requires: BTreeMap<String, Vec<String>>) -> Self {
        Dependencies {
            buildrequires: BTreeMap::new(),
            requires,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buildrequires.is_empty() && self.requires.is_empty()
    }
}

/// One profile of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    pub description: Option<String>,
    /// Binary RPM names installed with the profile.
    pub rpms: Vec<String>,
}

/// One service level of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceLevel {
    /// End of life, `YYYY-MM-DD`.
    pub eol: Option<String>,
}

/// Defaults of one module (`document: modulemd-defaults`, `version: 1`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Defaults {
    pub module: String,
    /// The default stream, if the module has one.
    pub stream: Option<String>,
    /// Stream → names of its default profiles. An empty list says the
    /// stream has no default profile.
    pub profiles: BTreeMap<String, Vec<String>>,
}

/// The end of a stream (`document: modulemd-obsoletes`, `version: 1`):
/// dnf reads its `eol_date` (and, given, the stream that replaces it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Obsoletes {
    pub module: String,
    pub stream: String,
    /// When the document was last changed, `YYYY-MM-DD` (written as
    /// libmodulemd's `YYYY-MM-DDT00:00Z`).
    pub modified: String,
    /// Why, for people: dnf shows it.
    pub message: String,
    /// The day the stream's service ends, `YYYY-MM-DD`.
    pub eol_date: Option<String>,
    /// The stream that replaces it: `(module, stream)`.
    pub obsoleted_by: Option<(String, String)>,
}

impl Obsoletes {
    pub(crate) fn document_label(&self) -> String {
        format!("modulemd-obsoletes of {}:{}", self.module, self.stream)
    }
}

impl ModuleStream {
    /// `name:stream:version:context:arch`, how libmodulemd and dnf name a
    /// stream build.
    pub fn nsvca(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.name, self.stream, self.version, self.context, self.arch
        )
    }

    /// `name:stream:version:context`, the productmd module UID.
    pub fn nsvc(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.name, self.stream, self.version, self.context
        )
    }

    pub(crate) fn document_label(&self) -> String {
        format!("module stream {}", self.nsvca())
    }
}

impl Defaults {
    pub(crate) fn document_label(&self) -> String {
        format!("modulemd-defaults of {}", self.module)
    }
}

/// The artifact form of a package: `name-epoch:version-release.arch` with
/// the epoch always written, as dnf requires in `artifacts.rpms`.
pub fn artifact_nevra(name: &str, epoch: u32, version: &str, release: &str, arch: &str) -> String {
    format!("{name}-{epoch}:{version}-{release}.{arch}")
}
