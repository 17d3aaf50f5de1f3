//! Artifacts in chains: whether an artifact's last good compose still
//! stands, apart from what the plan recomposes below it.
//!
//! An artifact is built from the last good (or pinned) compose of each
//! stack it installs, so it is up to date when its last good compose used
//! exactly those composes and the same definition; then it is not built
//! again (the artifact's analogue of a module's fingerprint, read from the
//! records alone: nothing is installed to find out).

use crate::graph::Why;
use crate::load::CatalogArtifactDefinition;
use strata_registry::{InputKind, Registry, RegistryError};

/// The last good compose of `artifact` for `arch` (if any), and why it is
/// stale now; no reasons: it is up to date.
pub(crate) fn artifact_staleness(
    artifact: &CatalogArtifactDefinition,
    arch: &str,
    registry: &dyn Registry,
) -> Result<(Option<String>, Vec<Why>), RegistryError> {
    let def = &artifact.definition;
    let Some(last) = registry.latest_good(&def.name, arch)? else {
        return Ok((None, vec![Why::NeverComposed]));
    };
    let mut why = Vec::new();
    if last.definition_digest != artifact.digest {
        why.push(Why::Definition {
            digest: artifact.digest.clone(),
        });
    }
    for c in &def.contents {
        let module = format!("{}:{}", c.module, c.stream);
        let now = match def.compose_pins.get(&c.module) {
            Some(pin) => Some(pin.clone()),
            None => registry
                .latest_good_summary(&c.module, &c.stream)?
                .map(|s| s.id),
        };
        let used = last
            .inputs
            .iter()
            .find(|i| i.kind == InputKind::Compose && i.name == module)
            .map(|i| &i.ident);
        // No good compose of the stack now: composing the artifact would
        // fail; that is the compose's error to give, not a reason here.
        if let Some(now) = now {
            if used != Some(&now) {
                why.push(Why::InputChanged {
                    module,
                    compose: now,
                });
            }
        }
    }
    Ok((Some(last.id), why))
}
