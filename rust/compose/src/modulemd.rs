//! The modules.yaml of one arch of a module compose: the modulemd v2 stream
//! (with the compose ID and inputs in `xmd`) and the modulemd-defaults
//! document that makes the stream the default one.

use crate::module::modulemd_version;
use crate::publish::PublishRequest;
use crate::Result;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use strata_modulemd::{Defaults, Dependencies, License, ModuleStream, Profile, ServiceLevel};

pub(crate) fn modules_yaml_for(
    req: &PublishRequest<'_>,
    arch: &str,
    artifacts: &[String],
) -> Result<String> {
    let def = req.definition;
    let rec = req.record;
    let mut definition = json!({
        "path": rec.definition_path,
        "sha256": rec.definition_digest,
    });
    // libmodulemd's xmd has no null.
    if let Some(r) = &rec.scm_ref {
        definition["scm_ref"] = json!(r);
    }
    let mut xmd = Map::new();
    xmd.insert(
        "strata".into(),
        json!({
            "compose_id": rec.id,
            "definition": definition,
            "inputs": req.inputs.iter().map(|i| json!({
                "kind": i.kind.to_string(),
                "name": i.name,
                "ident": i.ident,
                "location": i.location,
            })).collect::<Vec<Value>>(),
        }),
    );
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
    }
    let stream = ModuleStream {
        name: def.name.clone(),
        stream: def.stream.clone(),
        version: modulemd_version(rec.started_at),
        context: rec.context.clone(),
        arch: arch.to_string(),
        summary: def.summary.clone(),
        description: def.description.clone(),
        license: License {
            module: def.license.clone(),
            content: Vec::new(),
        },
        servicelevels,
        xmd,
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
    Ok(strata_modulemd::modules_yaml(&[stream], &[defaults])?)
}
