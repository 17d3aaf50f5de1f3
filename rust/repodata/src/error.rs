//! Errors a release engineer can act on: each names the file and what is wrong.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RepodataError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot fetch `{url}`: {source}")]
    Fetch {
        url: String,
        #[source]
        source: crate::http::HttpError,
    },
    #[error("`{path}` is too large: {limit}")]
    TooLarge {
        path: String,
        limit: crate::limits::Limit,
    },
    #[error("open-size mismatch for `{path}`: repomd.xml says {expected} bytes, the file decompresses to {actual}")]
    OpenSize {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error("`{path}` is not a repository: no repodata/repomd.xml")]
    NotARepo { path: String },
    #[error("malformed XML in `{path}` at byte {position}: {reason}")]
    Xml {
        path: String,
        position: u64,
        reason: String,
    },
    /// Well-formed, but not what repository metadata may hold (a DTD, an
    /// entity of its own).
    #[error("refusing `{path}` at byte {position}: {reason}")]
    Refused {
        path: String,
        position: u64,
        reason: String,
    },
    #[error("invalid metadata in `{path}`: {reason}")]
    Invalid { path: String, reason: String },
    #[error("`{path}` has no `{mdtype}` metadata")]
    MissingType { path: String, mdtype: String },
    #[error("checksum mismatch for `{path}`: repomd.xml says {kind}:{expected}, the file has {kind}:{actual}")]
    Checksum {
        path: String,
        kind: String,
        expected: String,
        actual: String,
    },
    #[error("size mismatch for `{path}`: repomd.xml says {expected} bytes, the file has {actual}")]
    Size {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error("unsupported checksum type `{kind}` for `{path}`")]
    ChecksumType { path: String, kind: String },
    #[error(
        "`{path}` is verified by {kind}, which Strata does not accept: {kind} collisions are \
         made in seconds (regenerate the repository with `createrepo_c --checksum sha256`)"
    )]
    WeakChecksum { path: String, kind: String },
    #[error("refusing `{path}`: {reason}")]
    Confined {
        path: String,
        #[source]
        reason: crate::confined::ConfinedError,
    },
    #[error("cannot decompress `{path}` ({format}): {reason}")]
    Decompress {
        path: String,
        format: &'static str,
        reason: String,
    },
    #[error("unknown compression in `{path}` (starts with bytes {magic})")]
    UnknownCompression { path: String, magic: String },
    #[error("cache file `{}` is unusable: {source}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: crate::cache_file::CacheFileError,
    },
    #[error("`{path}` has no record for `{package}` (pkgid {pkgid}), which primary.xml lists")]
    MissingRecord {
        path: String,
        package: String,
        pkgid: String,
    },
    #[error("`{path}` disagrees with primary.xml about `{package}`: {reason}")]
    RecordMismatch {
        path: String,
        package: String,
        reason: String,
    },
    #[error("the primary record of `{package}` is unusable: {reason}")]
    BadRecord { package: String, reason: String },
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write repodata into `{}`: {reason}", path.display())]
    WriteInput { path: PathBuf, reason: String },
}

pub type Result<T, E = RepodataError> = std::result::Result<T, E>;
