//! A recorded chain as `strata chain show --json` prints it and
//! `strata serve` answers it (`/api/v1/chains/<id>`): one value for both.

use strata_registry::{ChainRecord, Registry, RegistryError};

/// The chain as recorded, with `composes`: for each compose its steps
/// made, the chain and cause that compose records and how its tests went.
/// A compose the registry no longer has (pruned) is left out of
/// `composes`, as the step still names it.
pub fn chain_json(
    chain: &ChainRecord,
    registry: &dyn Registry,
) -> Result<serde_json::Value, RegistryError> {
    let mut composes = serde_json::Map::new();
    for id in chain.steps.iter().filter_map(|s| s.compose_id.as_ref()) {
        match registry.compose_chain_info(id) {
            Ok(info) => {
                composes.insert(id.clone(), to_value(&info));
            }
            Err(RegistryError::NoSuchCompose { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let mut value = to_value(chain);
    value["composes"] = composes.into();
    Ok(value)
}

/// Records whose fields are strings, numbers and JSON values already:
/// they always serialize.
fn to_value<T: serde::Serialize>(record: &T) -> serde_json::Value {
    serde_json::to_value(record).expect("registry records serialize")
}
