//! What a Strata compose says about itself in its modulemd stream's `xmd`,
//! and the stack below it: written by the compose, read by `dnf stack`.
//!
//! ```yaml
//! xmd:
//!   strata:
//!     compose_id: php-8.2-20261125.n.0
//!     requires: ["apache:2.4"]          # direct module requires, no platform
//!     stack:                            # bottom first: dependency order
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
//! A module that requires no module has an empty (or no) `stack`.

use crate::model::ModuleStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One module compose of a stack, as the stack compose used it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackLayer {
    pub name: String,
    pub stream: String,
    pub compose_id: String,
    /// The modulemd version of that compose's stream. libmodulemd keeps
    /// xmd scalars as strings, so a stream re-emitted by it (as dnf hands
    /// it out) has this quoted: both are read.
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

/// A module compose and the module composes it was checked against.
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

/// The part of `xmd.strata` that describes the stack.
#[derive(Serialize, Deserialize)]
struct XmdStrata {
    compose_id: String,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    stack: Vec<StackLayer>,
}

impl Stack {
    /// The entries `stack` writes into `xmd.strata` (beside the compose's
    /// other keys there).
    pub fn xmd_entries(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("compose_id".into(), Value::String(self.compose_id.clone()));
        m.insert(
            "requires".into(),
            serde_json::to_value(&self.requires).unwrap_or_default(),
        );
        m.insert(
            "stack".into(),
            serde_json::to_value(&self.layers).unwrap_or_default(),
        );
        m
    }

    /// The stack a stream describes in its `xmd.strata`; `None` for a
    /// stream without Strata's `xmd` (not composed by Strata), an error
    /// naming the stream when the entry is malformed.
    pub fn from_stream(s: &ModuleStream) -> Result<Option<Stack>, String> {
        let Some(x) = s.xmd.get("strata") else {
            return Ok(None);
        };
        let x: XmdStrata = serde_json::from_value(x.clone()).map_err(|e| {
            format!(
                "{}:{}:{}:{}: xmd.strata: {e}",
                s.name, s.stream, s.version, s.context
            )
        })?;
        Ok(Some(Stack {
            name: s.name.clone(),
            stream: s.stream.clone(),
            compose_id: x.compose_id,
            version: s.version,
            context: s.context.clone(),
            requires: x.requires,
            layers: x.stack,
        }))
    }

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
