//! Reading the modules of a published repository: the `modules` metadata
//! repomd.xml lists, read through `strata_repodata::read_metadata` (so
//! checked against its checksum and bounded like every metadata file), as
//! modulemd documents. What the layers of a stack, the Koji hub and the
//! Pungi phase read.

use crate::error::{ComposeError, ModulesMetadataError, Result};
use strata_modulemd::Document;

/// The modulemd documents of the repository at `location` (a path or a
/// `file://`/`http(s)://` URL), in file order; empty when its repomd.xml
/// lists no modules metadata (a repository that is not modular).
pub fn read_repo_modules(location: &str) -> Result<Vec<Document>> {
    let fail = |source: ModulesMetadataError| ComposeError::RepoModules {
        location: strata_model::redact_credentials(location).into_owned(),
        source: Box::new(source),
    };
    let Some(bytes) =
        strata_repodata::read_metadata(location, "modules").map_err(|e| fail(e.into()))?
    else {
        return Ok(Vec::new());
    };
    let text = String::from_utf8(bytes).map_err(|e| fail(ModulesMetadataError::NotUtf8(e)))?;
    strata_modulemd::parse_modules_yaml(&text).map_err(|e| fail(e.into()))
}
