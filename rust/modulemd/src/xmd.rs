//! `xmd.strata`: what a Strata compose says about itself in its modulemd
//! stream. One contract, one type ([`XmdStrata`]): the compose writes it,
//! `dnf stack` (through [`crate::stack_from_yaml`]) and the Koji hub read
//! it.
//!
//! ```yaml
//! xmd:
//!   strata:
//!     compose_id: php-8.2-20261125.n.0
//!     definition: {path: php.yaml, sha256: 9f86…, scm_ref: "git+https://…#abc"}
//!     inputs:                           # what the compose read, but its stack below
//!       - {kind: compose, name: "apache:2.4", ident: apache-2.4-20261125.n.0, location: /srv/…}
//!     requires: ["apache:2.4"]          # stacks only: direct module requires, no platform
//!     stack:                            # stacks only: bottom first, dependency order
//!       - name: base-runtime
//!         stream: f40
//!         compose_id: base-runtime-f40-20261125.n.1
//!         version: 20261125120000
//!         context: 3fa2c1d0
//!         requires: []
//!       - name: apache
//!         stream: "2.4"
//!         compose_id: apache-2.4-20261125.n.0
//!         version: 20261125121500
//!         context: 9b1e77aa
//!         requires: ["base-runtime:f40"]
//! ```
//! A module that requires no module has no `requires` and no `stack`.
//!
//! libmodulemd (and so libdnf's `getYaml()`) re-emits xmd scalars
//! unquoted, so a layer's stream `"2.4"` may come back as `stream: 2.4`:
//! read `xmd.strata` from the YAML text (as [`crate::stack_from_yaml`]
//! does), where a string field keeps the text as written, never from
//! YAML's typed values, where `2.10` would be the number 2.1. Only
//! `version` is a number, read plain or quoted.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `xmd.strata` of a stream composed by Strata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XmdStrata {
    pub compose_id: String,
    /// The definition that was composed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<XmdDefinition>,
    /// What the compose read, as its record lists it, without the
    /// modules below its direct requires (those are in `stack`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<XmdInput>,
    /// A stack's direct module requires, `name:stream` (no platform).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// Every module compose below a stack, bottom first (each after all it
    /// requires).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<StackLayer>,
}

/// `xmd.strata.definition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XmdDefinition {
    pub path: String,
    /// SHA-256 of the definition file, lowercase hex.
    pub sha256: String,
    /// Where the definition came from in SCM; absent when unknown
    /// (libmodulemd's xmd has no null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scm_ref: Option<String>,
}

/// One entry of `xmd.strata.inputs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XmdInput {
    /// `source_repo`, `koji_repo`, `compose` (a direct requirement) or
    /// `platform`. The modules below the direct requirements are named
    /// once, in `stack` (the record's `stack_compose` inputs).
    pub kind: String,
    pub name: String,
    pub ident: String,
    pub location: String,
}

impl XmdStrata {
    /// The stream's `xmd` holding this as `strata`.
    pub fn to_xmd(&self) -> Map<String, Value> {
        // Strings, lists and numbers only: nothing that fails to serialize.
        let strata = serde_json::to_value(self).expect("xmd.strata always serializes");
        Map::from_iter([("strata".to_string(), strata)])
    }
}

/// One module compose of a stack, as the stack compose used it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackLayer {
    pub name: String,
    pub stream: String,
    pub compose_id: String,
    /// The modulemd version of that compose's stream, plain or quoted (see
    /// the module documentation).
    #[serde(deserialize_with = "number_or_string")]
    pub version: u64,
    pub context: String,
    /// Its direct module requires, `name:stream` (no platform).
    #[serde(default)]
    pub requires: Vec<String>,
}

impl StackLayer {
    pub fn nsv(&self) -> String {
        format!("{}:{}", self.name, self.stream)
    }
}

/// A module compose and the module composes it was checked against: a
/// stream's identity and its `xmd.strata` stack, as `dnf stack` uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    pub name: String,
    pub stream: String,
    pub compose_id: String,
    pub version: u64,
    pub context: String,
    /// Direct module requires of the top module, `name:stream`.
    pub requires: Vec<String>,
    /// Every module below, bottom first (each after all it requires).
    pub layers: Vec<StackLayer>,
}

impl Stack {
    pub fn nsv(&self) -> String {
        format!("{}:{}", self.name, self.stream)
    }
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        Num(u64),
        Str(String),
    }
    match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => Ok(n),
        NumOrStr::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("version `{s}` is not a number"))),
    }
}
