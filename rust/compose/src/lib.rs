//! The module compose pipeline. A compose runs these steps, in this
//! order, each in its own file:
//!
//! 1. `definition`: read and check the module definition.
//! 2. `inputs`: load the source, the stack below the module (`stack`:
//!    each required module's last good or pinned compose, read through
//!    the stack's memo in the cache directory, `stack_memo`) and the
//!    platform, for every arch.
//! 3. `select`: pick one build of every manifest package.
//! 4. `gate`: the repoclosure gate, and its report ([`GateReport`]).
//! 5. `publish`: write the repositories (`link`, `merge` for a stack's
//!    whole-stack repository), `modules.yaml` (`modulemd`) and the
//!    productmd metadata (`productmd`) into a staging directory
//!    (`staging`), laid out as Pungi lays out a compose (`layout`).
//! 6. `record`: put the compose in place and record its end in the
//!    registry, in the order that keeps the two consistent.
//!
//! `compose` runs them ([`compose_module`]); `fingerprint` runs steps 1–3
//! only, to reuse the last good compose when nothing it would use changed
//! ([`compose_module_if_changed`]); `artifact` builds a container image,
//! ostree commit or ISO from module composes the same way
//! ([`compose_artifact`]); `release` freezes the composes of a checked
//! release into one release compose ([`compose_release`]), with its
//! artifacts' images (`release_images`). Below the steps sit what
//! they share: `error`, `interrupt`, `child` (a program run from outside,
//! bounded, with what it starts), `progress`, `ids` (versions,
//! contexts, NEVRAs, the compose time), `config`, `koji` (a Koji tag as a
//! source) and `repo_modules` ([`read_repo_modules`]). Each file uses
//! only those listed before it in `layers::ORDER` (a test holds it), so
//! the crate reads top to bottom without cycles.
//!
//! Front ends (the CLI, the Python bindings and through them Koji, Pungi
//! and dnf) call what is re-exported here; everything else is private.

// Anything `pub` is part of the API: the rest says `pub(crate)`.
#![warn(unreachable_pub)]

mod artifact;
pub mod child;
mod compose;
mod config;
mod definition;
mod error;
mod fingerprint;
mod gate;
mod ids;
mod inputs;
mod interrupt;
mod json;
mod koji;
mod layout;
mod link;
mod merge;
mod modulemd;
mod productmd;
mod progress;
mod publish;
mod record;
mod release;
mod release_images;
mod repo_modules;
mod select;
mod stack;
mod stack_memo;
mod staging;

pub use artifact::{
    artifact_arches, compose_artifact, compose_scratch_artifact, ArtifactRequest,
    DEFAULT_TOOL_LIMIT,
};
pub use compose::{
    compose_module, compose_module_in_chain, ComposeRequest, ComposeResult, InChain,
};
pub use config::{
    open_registry, open_registry_read_only, registry_location, substitute_arch, CacheConfig,
    ChainConfig, ComposeConfig, Config, KojiConfig, NetworkConfig, PlatformConfig, RegistryConfig,
    RepodataConfig, ServeConfig, ServeLimits, Size, StackRepo, SYSTEM_CONFIG,
};
pub use definition::{
    detect_scm_ref, read_artifact_definition, read_definition, read_document, read_document_digest,
    read_release,
};
pub use error::{error_chain, ComposeError, ModulesMetadataError, Result};
pub use fingerprint::{
    build_presence, compose_in_chain_if_changed, compose_module_if_changed, current_of,
    fingerprint_now, fingerprint_shared, BuildPresence, Current, Fingerprint, IfChanged,
    SharedInputs,
};
pub use gate::{GateReport, GateSection};
pub use ids::{build_nvr, compose_time, context, modulemd_version, now, queue_now};
pub use interrupt::{signal_name, Interrupt};
pub use json::{json_bytes, write_json};
pub use layout::{stack_repo_file, stack_repo_file_subpath, stack_repo_subdir, stack_repos};
pub use merge::{merge_repositories, MergeOptions, MergedPackage, MergedRepo};
pub use progress::{Hold, Progress, Quiet};
pub use release::{
    compose_release, ReleaseContent, ReleaseModuleRepo, ReleaseSwitch, RELEASE_VARIANT,
};
pub use release_images::ReleaseArtifact;
pub use repo_modules::read_repo_modules;
pub use stack::{resolve as resolve_stack, tree_of_definition, tree_of_record, Layer, TreeNode};
pub use staging::{exchange_dirs, lock_waiting};

#[cfg(test)]
#[path = "../../layers_check.rs"]
mod layers_check;

#[cfg(test)]
mod layers {
    /// The modules, each after everything it uses: the steps of a compose
    /// in their order, what they share below them.
    const ORDER: [&str; 28] = [
        "error",
        "json",
        "interrupt",
        "child",
        "progress",
        "ids",
        "config",
        "koji",
        "staging",
        "productmd",
        "layout",
        "repo_modules",
        "link",
        "merge",
        "modulemd",
        "definition",
        "stack",
        "stack_memo",
        "inputs",
        "select",
        "gate",
        "publish",
        "record",
        "compose",
        "fingerprint",
        "artifact",
        "release_images",
        "release",
    ];

    /// Each module uses only those before it: no import cycle, and the
    /// pipeline reads top to bottom. A new module goes into ORDER and the
    /// crate documentation.
    #[test]
    fn modules_depend_only_downward() {
        crate::layers_check::check(env!("CARGO_MANIFEST_DIR"), &ORDER);
    }
}
