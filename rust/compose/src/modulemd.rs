//! The modules.yaml of one arch of a module compose: the modulemd v2 stream
//! (with the compose ID and inputs in `xmd`) and the modulemd-defaults
//! document that makes the stream the default one.

use crate::module::modulemd_version;
use crate::publish::PublishRequest;
use crate::Result;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use strata_modulemd::{
    Defaults, Dependencies, Document, License, ModuleStream, Profile, ServiceLevel, Stack,
    StackLayer,
};

/// The module's own stream and defaults documents for one arch.
pub(crate) fn module_documents(
    req: &PublishRequest<'_>,
    arch: &str,
    artifacts: &[String],
) -> (ModuleStream, Defaults) {
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
    let mut strata = json!({
        "compose_id": rec.id,
        "definition": definition,
        "inputs": req.inputs.iter().map(|i| json!({
            "kind": i.kind.to_string(),
            "name": i.name,
            "ident": i.ident,
            "location": i.location,
        })).collect::<Vec<Value>>(),
    });
    if !req.stack.is_empty() {
        let stack = Stack {
            name: def.name.clone(),
            stream: def.stream.clone(),
            compose_id: rec.id.clone(),
            version: modulemd_version(rec.started_at),
            context: rec.context.clone(),
            requires: def
                .module_requires()
                .map(|(m, s)| format!("{m}:{s}"))
                .collect(),
            layers: req
                .stack
                .iter()
                .map(|l| StackLayer {
                    name: l.record.name.clone(),
                    stream: l.record.stream.clone(),
                    compose_id: l.record.id.clone(),
                    version: l.record.version,
                    context: l.record.context.clone(),
                    requires: l.requires.clone(),
                })
                .collect(),
        };
        if let Value::Object(m) = &mut strata {
            m.extend(stack.xmd_entries());
        }
    }
    let mut xmd = Map::new();
    xmd.insert("strata".into(), strata);
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
    (stream, defaults)
}

/// The module's own `modules.yaml` for one arch.
pub(crate) fn modules_yaml_for(
    req: &PublishRequest<'_>,
    arch: &str,
    artifacts: &[String],
) -> Result<String> {
    let (stream, defaults) = module_documents(req, arch, artifacts);
    Ok(strata_modulemd::modules_yaml(&[stream], &[defaults])?)
}

/// The `modules.yaml` of a stack's repository: the module's own documents
/// and those of every compose below it, as each published them.
pub(crate) fn stack_modules_yaml(
    req: &PublishRequest<'_>,
    arch: &str,
    artifacts: &[String],
    layers: &[&strata_repodata::Repo],
) -> Result<(String, Vec<ModuleStream>)> {
    let (stream, defaults) = module_documents(req, arch, artifacts);
    let mut streams = vec![stream];
    let mut all_defaults = vec![defaults];
    for repo in layers {
        let text = strata_repodata::read_metadata(&repo.location, "modules")?.ok_or_else(|| {
            crate::ComposeError::Other(format!(
                "compose {} ({}) has no modules metadata",
                repo.id, repo.location
            ))
        })?;
        let text = String::from_utf8(text).map_err(|_| {
            crate::ComposeError::Other(format!(
                "the modules metadata of compose {} ({}) is not UTF-8",
                repo.id, repo.location
            ))
        })?;
        for doc in strata_modulemd::parse_modules_yaml(&text)? {
            match doc {
                Document::Stream(s) => streams.push(s),
                Document::Defaults(d) => all_defaults.push(d),
                Document::Other { .. } => {}
            }
        }
    }
    let text = strata_modulemd::modules_yaml(&streams, &all_defaults)?;
    Ok((text, streams))
}
