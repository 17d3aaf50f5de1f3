//! The modulemd documents of a module compose, per arch: the modulemd v2
//! stream (with `xmd.strata`, the contract `strata_modulemd::XmdStrata`
//! defines) and the modulemd-defaults document that makes the stream the
//! default one. What the writer needs is [`ModuleDocs`], filled in by the
//! compose; it knows nothing of publishing.

use crate::error::Result;
use std::collections::BTreeMap;
use strata_model::ModuleDefinition;
use strata_modulemd::{
    Defaults, Dependencies, License, ModuleStream, Profile, ServiceLevel, XmdStrata,
};

/// Everything a module compose's modulemd says beyond the packages of one
/// arch.
pub(crate) struct ModuleDocs<'a> {
    pub definition: &'a ModuleDefinition,
    /// The stream's modulemd version and context (the compose record's).
    pub version: u64,
    pub context: &'a str,
    pub xmd: XmdStrata,
}

impl ModuleDocs<'_> {
    /// The module's own stream and defaults documents for one arch.
    pub(crate) fn documents(&self, arch: &str, artifacts: &[String]) -> (ModuleStream, Defaults) {
        let def = self.definition;
        let requires: BTreeMap<String, Vec<String>> = def
            .requires
            .iter()
            .map(|(m, s)| (m.clone(), vec![s.clone()]))
            .collect();
        let profiles = def
            .profiles
            .iter()
            .map(|(name, rpms)| {
                (
                    name.clone(),
                    Profile {
                        description: None,
                        rpms: rpms.clone(),
                    },
                )
            })
            .collect();
        let mut servicelevels = BTreeMap::new();
        if let Some(l) = &def.lifecycle {
            // MBS records a stream's end of life as the `rawhide` service level.
            servicelevels.insert(
                "rawhide".to_string(),
                ServiceLevel {
                    eol: Some(l.eol.clone()),
                },
            );
            // The definition's service levels, each ending on its own day,
            // so that tools reading modulemd see them too.
            for (level, end) in &l.sla {
                servicelevels.insert(
                    level.clone(),
                    ServiceLevel {
                        eol: Some(end.clone()),
                    },
                );
            }
        }
        let stream = ModuleStream {
            name: def.name.clone(),
            stream: def.stream.clone(),
            version: self.version,
            context: self.context.to_string(),
            arch: arch.to_string(),
            summary: def.summary.clone(),
            description: def.description.clone(),
            license: License {
                module: def.license.clone(),
                content: Vec::new(),
            },
            servicelevels,
            xmd: self.xmd.to_xmd(),
            dependencies: if requires.is_empty() {
                Vec::new()
            } else {
                vec![Dependencies::runtime(requires)]
            },
            profiles,
            api: def.api.clone(),
            artifacts: artifacts.to_vec(),
        };
        let mut default_profiles = BTreeMap::new();
        if def.profiles.contains_key("default") {
            default_profiles.insert(def.stream.clone(), vec!["default".to_string()]);
        }
        let defaults = Defaults {
            module: def.name.clone(),
            stream: Some(def.stream.clone()),
            profiles: default_profiles,
        };
        (stream, defaults)
    }
}

/// The stream alone, as the compose record keeps it and Koji's module
/// builds carry it (`modulemd_str`), and the `modules.yaml` of `stream`
/// and `defaults`.
pub(crate) fn texts(stream: &ModuleStream, defaults: &Defaults) -> Result<(String, String)> {
    Ok(strata_modulemd::stream_and_index(stream, defaults)?)
}
