//! Errors of the solving layer. Each names what was being done and to
//! what; the underlying error is kept as the source, not as text.

use crate::libsolv::LibsolvError;
use strata_repodata::RepodataError;

#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    /// A repository id in the options (`check`, `suggest_from`, `hidden`)
    /// that is not among the loaded repositories.
    #[error("no repository named `{id}` (known: {known})")]
    UnknownRepo { id: String, known: String },
    /// filelists.xml was needed for file requirements primary.xml does not
    /// list, and could not be read.
    #[error("cannot read the file lists of repository `{repo}` (needed for file requirements that primary.xml does not list)")]
    FileLists {
        repo: String,
        #[source]
        source: RepodataError,
    },
    #[error("cannot set up libsolv for base arch `{arch}`")]
    LibsolvPool {
        arch: String,
        #[source]
        source: LibsolvError,
    },
    #[error("cannot add repository `{repo}` to libsolv's pool")]
    LibsolvRepo {
        repo: String,
        #[source]
        source: LibsolvError,
    },
    #[error("cannot add package `{package}` of repository `{repo}` to libsolv's pool")]
    LibsolvPackage {
        package: String,
        repo: String,
        #[source]
        source: LibsolvError,
    },
}
