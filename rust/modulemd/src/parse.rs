//! Reading `modules.yaml`: ours, and what libmodulemd writes (createrepo_c,
//! MBS, Pungi), so that a stack's compose can read the composes below it.
//!
//! Scalars are read as the text they are written with: a stream written
//! unquoted as `2.10` stays `"2.10"`, where a YAML type guess would make it
//! the number 2.1. Only `xmd` is read with YAML's types (its numbers and
//! booleans as we wrote them). Unknown keys and document kinds are skipped;
//! nothing is validated.

use crate::error::Error;
use crate::model::{Defaults, Dependencies, License, ModuleStream, Profile, ServiceLevel};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// One document of `modules.yaml`.
// A file holds a handful of these; boxing the stream would only make
// matching clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// `document: modulemd`, version 2 (or 1, with its dependencies turned
    /// into one v2 entry and no other conversion).
    Stream(ModuleStream),
    /// `document: modulemd-defaults`, version 1.
    Defaults(Defaults),
    /// Anything else (`modulemd-translations`, `modulemd-obsoletes`, …):
    /// its kind and version only.
    Other { document: String, version: u64 },
}

/// The documents of a `modules.yaml`, in file order.
pub fn parse_modules_yaml(text: &str) -> Result<Vec<Document>, Error> {
    let mut docs = Vec::new();
    if is_blank(text) {
        return Ok(docs);
    }
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let raw = RawDoc::deserialize(de).map_err(|e| Error::Parse {
            index,
            message: e.to_string(),
        })?;
        docs.push(raw.into_document(index)?);
    }
    Ok(docs)
}

/// Nothing but comments, blank lines and document markers.
fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

#[derive(Deserialize)]
struct RawDoc {
    document: String,
    version: AnyU64,
    #[serde(default)]
    data: Option<RawData>,
}

#[derive(Deserialize, Default)]
struct RawData {
    // modulemd
    name: Option<String>,
    stream: Option<String>,
    version: Option<AnyU64>,
    context: Option<String>,
    arch: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    #[serde(default)]
    servicelevels: BTreeMap<String, RawServiceLevel>,
    #[serde(default)]
    license: RawLicense,
    #[serde(default)]
    xmd: Option<Map<String, Value>>,
    #[serde(default)]
    dependencies: RawDependencies,
    #[serde(default)]
    profiles: BTreeMap<String, RawProfile>,
    #[serde(default)]
    api: RawRpms,
    #[serde(default)]
    artifacts: RawRpms,
    // modulemd-defaults (`stream` and `profiles` are shared)
    module: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawServiceLevel {
    eol: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawLicense {
    #[serde(default)]
    module: Vec<String>,
    #[serde(default)]
    content: Vec<String>,
}

#[derive(Deserialize, Default)]
struct RawRpms {
    #[serde(default)]
    rpms: Vec<String>,
}

#[derive(Deserialize, Default)]
struct RawDepEntry {
    #[serde(default)]
    buildrequires: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    requires: BTreeMap<String, Vec<String>>,
}

/// v2: a list of entries; v1: one map of module → single stream.
#[derive(Default)]
struct RawDependencies(Vec<Dependencies>);

impl<'de> Deserialize<'de> for RawDependencies {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawDependencies;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of dependency entries (v2) or a map (v1)")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RawDependencies::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(e) = seq.next_element::<RawDepEntry>()? {
                    out.push(Dependencies {
                        buildrequires: e.buildrequires,
                        requires: e.requires,
                    });
                }
                Ok(RawDependencies(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entry = Dependencies::default();
                while let Some(key) = map.next_key::<String>()? {
                    let target = match key.as_str() {
                        "buildrequires" => &mut entry.buildrequires,
                        "requires" => &mut entry.requires,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    let single: BTreeMap<String, String> = map.next_value()?;
                    target.extend(single.into_iter().map(|(m, s)| (m, vec![s])));
                }
                Ok(RawDependencies(if entry.is_empty() {
                    Vec::new()
                } else {
                    vec![entry]
                }))
            }
        }
        d.deserialize_any(V)
    }
}

/// A stream's profile (a map) or a defaults document's profile names (a
/// list): the same key holds either, depending on the document.
enum RawProfile {
    Profile(Profile),
    Names(Vec<String>),
}

impl<'de> Deserialize<'de> for RawProfile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawProfile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a profile (map) or a list of profile names")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RawProfile::Names(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element::<String>()? {
                    names.push(n);
                }
                Ok(RawProfile::Names(names))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut p = Profile::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "description" => p.description = Some(map.next_value()?),
                        "rpms" => p.rpms = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(RawProfile::Profile(p))
            }
        }
        d.deserialize_any(V)
    }
}

/// An unsigned integer, written plain or quoted.
struct AnyU64(u64);

impl<'de> Deserialize<'de> for AnyU64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AnyU64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an unsigned integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(AnyU64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(AnyU64)
                    .map_err(|_| E::custom(format!("{v} is negative")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse()
                    .map(AnyU64)
                    .map_err(|_| E::custom(format!("{v:?} is not an unsigned integer")))
            }
        }
        d.deserialize_any(V)
    }
}

impl RawDoc {
    fn into_document(self, index: usize) -> Result<Document, Error> {
        let version = self.version.0;
        let data = self.data.unwrap_or_default();
        let missing = |field: &str| Error::Parse {
            index,
            message: format!("{} document without `data.{field}`", self.document),
        };
        match (self.document.as_str(), version) {
            ("modulemd", 1 | 2) => {
                let name = data.name.ok_or_else(|| missing("name"))?;
                let stream = data.stream.ok_or_else(|| missing("stream"))?;
                let mut profiles = BTreeMap::new();
                for (k, p) in data.profiles {
                    match p {
                        RawProfile::Profile(p) => {
                            profiles.insert(k, p);
                        }
                        RawProfile::Names(_) => {
                            return Err(Error::Parse {
                                index,
                                message: format!(
                                "`data.profiles.{k}` of a module stream is a list, not a profile"
                            ),
                            })
                        }
                    }
                }
                Ok(Document::Stream(ModuleStream {
                    name,
                    stream,
                    version: data.version.map_or(0, |v| v.0),
                    context: data.context.unwrap_or_default(),
                    arch: data.arch.unwrap_or_default(),
                    summary: data.summary.unwrap_or_default(),
                    description: data.description.unwrap_or_default(),
                    license: License {
                        module: data.license.module,
                        content: data.license.content,
                    },
                    servicelevels: data
                        .servicelevels
                        .into_iter()
                        .map(|(k, v)| (k, ServiceLevel { eol: v.eol }))
                        .collect(),
                    xmd: data.xmd.unwrap_or_default(),
                    dependencies: data.dependencies.0,
                    profiles,
                    api: data.api.rpms,
                    artifacts: data.artifacts.rpms,
                }))
            }
            ("modulemd-defaults", 1) => {
                let module = data.module.ok_or_else(|| missing("module"))?;
                let mut profiles = BTreeMap::new();
                for (k, p) in data.profiles {
                    match p {
                        RawProfile::Names(names) => {
                            profiles.insert(k, names);
                        }
                        RawProfile::Profile(_) => {
                            return Err(Error::Parse {
                                index,
                                message: format!(
                                    "`data.profiles.{k}` of modulemd-defaults is a map, not a list of profile names"
                                ),
                            })
                        }
                    }
                }
                Ok(Document::Defaults(Defaults {
                    module,
                    stream: data.stream,
                    profiles,
                }))
            }
            _ => Ok(Document::Other {
                document: self.document,
                version,
            }),
        }
    }
}
