//! Errors of the solving layer.

#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error("no repository named `{id}` (known: {known})")]
    UnknownRepo { id: String, known: String },
    #[error(transparent)]
    Repodata(#[from] strata_repodata::RepodataError),
    #[error("libsolv: {0}")]
    Libsolv(String),
}
