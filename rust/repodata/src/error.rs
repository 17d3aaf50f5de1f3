//! Errors a release engineer can act on: each names the file and what is wrong.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RepodataError {
    /// An error met while reading a repository the caller named: which
    /// file of which repository, then what went wrong (the cause, also
    /// quoted, for front ends that show only the message).
    #[error("reading the {what} of repository `{repo}`: {source}")]
    InRepository {
        repo: String,
        /// `repomd.xml`, `primary metadata`, …
        what: String,
        #[source]
        source: Box<RepodataError>,
    },
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
    #[error("malformed XML in `{path}` at byte {position}: {source}")]
    Xml {
        path: String,
        position: u64,
        #[source]
        source: quick_xml::Error,
    },
    /// Not what the file's XML must be, by Strata's own checks (not
    /// well-formed, truncated, text not UTF-8, a missing attribute).
    #[error("malformed XML in `{path}` at byte {position}: {reason}")]
    Malformed {
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
    #[error("cannot decompress `{path}` ({format}): {source}")]
    Decompress {
        path: String,
        format: &'static str,
        #[source]
        source: std::sync::Arc<std::io::Error>,
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
    /// A record that is not well-formed XML.
    #[error("the primary record of `{package}` is unusable: {source}")]
    RecordXml {
        package: String,
        #[source]
        source: quick_xml::Error,
    },
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

impl RepodataError {
    /// The error without the repository it was met in: what to match on.
    pub fn without_context(&self) -> &RepodataError {
        match self {
            RepodataError::InRepository { source, .. } => source.without_context(),
            other => other,
        }
    }

    /// Names the repository and the file being read (once: an error that
    /// already names its repository is kept as it is).
    pub(crate) fn in_repository(self, repo: &str, what: &str) -> Self {
        match self {
            RepodataError::InRepository { .. } => self,
            source => RepodataError::InRepository {
                repo: repo.to_string(),
                what: what.to_string(),
                source: Box::new(source),
            },
        }
    }

    /// The XML reader's error at byte `position` of `path`; a failure of
    /// the stream beneath it (decompression, a limit, the network) as what
    /// it is.
    pub(crate) fn xml(path: &str, position: u64, e: impl Into<quick_xml::Error>) -> Self {
        match e.into() {
            quick_xml::Error::Io(io) => crate::source::stream_error(path, &io),
            source => RepodataError::Xml {
                path: path.to_string(),
                position,
                source,
            },
        }
    }

    /// What Strata's own checks find wrong at byte `position` of `path`.
    pub(crate) fn malformed(path: &str, position: u64, reason: impl Into<String>) -> Self {
        RepodataError::Malformed {
            path: path.to_string(),
            position,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::error::Error;

    #[test]
    fn causes_are_kept_as_sources_and_context_comes_first() {
        let mut repo = crate::Repo::empty("r", "/r", "sha256:00");
        let xml = b"<metadata packages=\"1\"><package></metadata>";
        let e = crate::parse_primary(&mut &xml[..], "p.xml", &mut repo).unwrap_err();
        assert!(matches!(e, RepodataError::Xml { .. }), "{e:?}");
        let cause = e.source().expect("a cause");
        assert!(cause.downcast_ref::<quick_xml::Error>().is_some());
        assert!(e
            .to_string()
            .starts_with("malformed XML in `p.xml` at byte "));

        let e = e.in_repository("base", "primary metadata");
        let text = e.to_string();
        assert!(
            text.starts_with(
                "reading the primary metadata of repository `base`: malformed XML in `p.xml`"
            ),
            "{text}"
        );
        assert!(matches!(e.without_context(), RepodataError::Xml { .. }));
        assert_eq!(
            e.source().unwrap().to_string(),
            e.without_context().to_string()
        );
        // Named once, by the innermost caller that knows the repository.
        let again = e.in_repository("other", "repomd.xml").to_string();
        assert_eq!(again, text);
    }
}
