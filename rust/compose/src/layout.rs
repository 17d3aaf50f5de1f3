//! Where a published compose keeps what, as Pungi lays out a compose
//! (productmd can load it):
//! ```text
//! OUT/<compose-id>/STATUS                      STARTED, FINISHED once recorded
//! OUT/<compose-id>/compose/<Variant>/<arch>/os/Packages/<l>/<rpm>
//! OUT/<compose-id>/compose/<Variant>/<arch>/os/repodata/…  (+ modules.yaml)
//! OUT/<compose-id>/compose/<Variant>Stack.repo            a stack: one section a module
//! OUT/<compose-id>/compose/<Variant>Stack/<arch>/os/       a stack's whole stack (merged)
//! OUT/<compose-id>/compose/metadata/{composeinfo,rpms,modules}.json
//! OUT/<compose-id>/logs/<arch>/repoclosure.log
//! OUT/latest-<name>-<stream> → <compose-id>
//! ```

use crate::productmd;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strata_registry::ComposeRecord;

/// The productmd variant of a module's own repository (`Apache`).
pub(crate) fn variant_uid(module_name: &str) -> String {
    productmd::variant_uid(module_name)
}

/// The productmd variant of a stack compose's whole stack: the module's
/// variant and `Stack` (`PhpStack`).
pub(crate) fn stack_variant_uid(module_name: &str) -> String {
    format!("{}Stack", productmd::variant_uid(module_name))
}

/// `compose/<Variant>/<arch>/os`: a module compose's repository for
/// `arch`, relative to the compose directory.
pub(crate) fn repo_subdir(module_name: &str, arch: &str) -> PathBuf {
    Path::new("compose").join(productmd::os_tree(&variant_uid(module_name), arch))
}

/// `compose/<Variant>Stack/<arch>/os`: the repository of the whole stack
/// (the module and every compose below it), relative to the compose
/// directory. Only a module that requires modules has one.
pub fn stack_repo_subdir(module_name: &str, arch: &str) -> PathBuf {
    Path::new("compose").join(productmd::os_tree(&stack_variant_uid(module_name), arch))
}

/// `compose/<Variant>Stack.repo`: a stack compose's `.repo` file, one
/// section for each module's own repository, relative to the compose
/// directory.
pub fn stack_repo_file_subpath(module_name: &str) -> PathBuf {
    Path::new("compose").join(format!("{}.repo", stack_variant_uid(module_name)))
}

/// The `.repo` file of a finished stack compose; `None` for a module
/// that requires no module.
pub fn stack_repo_file(record: &ComposeRecord) -> Option<PathBuf> {
    let o = record.outputs.as_ref()?;
    Some(o.path.join(stack_repo_file_subpath(&record.name))).filter(|p| p.is_file())
}

/// The whole-stack repositories a finished compose published, by arch:
/// none for a module that requires no module.
pub fn stack_repos(record: &ComposeRecord) -> BTreeMap<String, PathBuf> {
    let Some(o) = &record.outputs else {
        return BTreeMap::new();
    };
    o.repos
        .keys()
        .map(|arch| {
            (
                arch.clone(),
                o.path.join(stack_repo_subdir(&record.name, arch)),
            )
        })
        .filter(|(_, p)| p.is_dir())
        .collect()
}
