//! What stops a release check before it can report problems: the release
//! document itself, the configuration's catalog, the registry, the
//! platform. Problems with the release's content are not errors: they are
//! the report ([`crate::Problem`]), every one at once.

use strata_chain::CatalogError;
use strata_compose::ComposeError;
use strata_registry::RegistryError;
use strata_repodata::RepodataError;
use strata_solve::SolveError;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The release document cannot be read or is not valid.
    #[error("cannot check the release {file}")]
    Release {
        file: String,
        #[source]
        source: Box<ComposeError>,
    },
    /// The configuration's `[chain] catalog`, where definitions of modules
    /// below the release's come from, cannot be loaded.
    #[error("cannot check the release {file}: the catalog of the configuration cannot be loaded")]
    Catalog {
        file: String,
        #[source]
        source: Box<CatalogError>,
    },
    #[error("cannot check the release {file}: the registry cannot be read")]
    Registry {
        file: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error(
        "cannot check the release {file}: cannot read platform {platform}'s repository {location}"
    )]
    Platform {
        file: String,
        platform: String,
        location: String,
        #[source]
        source: Box<RepodataError>,
    },
    #[error("cannot check the closure of the release {file}")]
    Solve {
        file: String,
        #[source]
        source: Box<SolveError>,
    },
    /// `--from` names neither a file nor a release compose of the registry.
    #[error(
        "cannot check the upgrade from `{from}`: no release document of that path, and no \
         release compose with that ID or release name in the registry (`strata releases list`)"
    )]
    PreviousNotFound { from: String },
    /// The document's `previous:` names no release compose.
    #[error(
        "cannot check the upgrade from the previous release: {file}: data.previous: `{from}` \
         is no release compose ID or release name in the registry (`strata releases list`)"
    )]
    PreviousFieldNotFound { file: String, from: String },
    /// `--from` names a release compose that did not finish.
    #[error(
        "cannot check the upgrade from `{from}`: that release compose is {state}, not finished"
    )]
    PreviousNotFinished { from: String, state: String },
    /// The previous release's document cannot be read or is not valid.
    #[error("cannot check the upgrade from the previous release {file}")]
    Previous {
        file: String,
        #[source]
        source: Box<ComposeError>,
    },
    /// Definitions the release names cannot be used (every one named).
    #[error("cannot use the release {file}: {problems}")]
    Definitions { file: String, problems: String },
    /// The release passed its check but could not be composed; the
    /// release compose is recorded failed with this reason.
    #[error("cannot compose the release {file}")]
    Compose {
        file: String,
        #[source]
        source: Box<ComposeError>,
    },
    /// A compose the check chose was removed before it could be used.
    #[error(
        "cannot compose the release {file}: compose `{compose_id}` is no longer in the registry \
         (pruned while the release was checked?); run it again"
    )]
    ComposeGone { file: String, compose_id: String },
    /// A module's stream changed, and the previous release's stream cannot
    /// be read to mark it obsoleted.
    #[error(
        "cannot compose the release {file}: {module} of the previous release (compose \
         `{compose_id}`) cannot be marked obsoleted: {why}"
    )]
    PreviousStream {
        file: String,
        compose_id: String,
        module: String,
        why: String,
    },
    #[error("cannot compare release composes: no release compose `{id}` in the registry")]
    NoSuchRelease { id: String },
    #[error("cannot compare release composes: the registry cannot be read for `{release}`")]
    Diff {
        release: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error(
        "cannot compare release composes: compose `{compose_id}` of `{release}` is no longer in \
         the registry (pruned)"
    )]
    DiffComposeGone { release: String, compose_id: String },
}
