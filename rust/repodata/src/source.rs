//! Where repository files come from (a directory, `file://` or `http(s)://`)
//! and how they are read: verified against repomd.xml's checksum and size
//! while streaming, and decompressed by content (gz, xz, zstd, bz2 or plain).

use crate::confined::{self, ConfinedError, ConfinedFile, Root, Symlinks};
use crate::error::{RepodataError, Result};
use crate::http;
use crate::limits::{self, exceeded, Limit};
use sha2::Digest;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The base of a repository: the folder that holds `repodata/`. An
/// `http(s)://` URL may carry credentials (`https://user:secret@host/…`):
/// they are used for fetching, and left out wherever it is shown
/// ([`Location::display`], `Debug`, errors).
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    Http(String),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(d) => f.debug_tuple("Dir").field(d).finish(),
            Location::Http(u) => f
                .debug_tuple("Http")
                .field(&strata_model::redact_credentials(u))
                .finish(),
        }
    }
}

/// The package payloads of one repository, for opening many: a
/// directory's root is opened once.
pub struct Payloads {
    location: Location,
    from: PayloadsFrom,
}

enum PayloadsFrom {
    /// The root, the path of the repository beneath it (in a Koji topdir)
    /// and what to do with symbolic links.
    Dir {
        root: Root,
        prefix: Option<String>,
        symlinks: Symlinks,
    },
    Http(String),
}

impl Payloads {
    /// How the file at `href` is named in messages.
    pub fn display(&self, href: &str) -> String {
        self.location.display(href)
    }

    /// Opens the payload at `href`.
    pub fn open(&self, href: &str) -> Result<Payload> {
        let loc = &self.location;
        loc.check_href(href)?;
        match &self.from {
            PayloadsFrom::Dir {
                root,
                prefix,
                symlinks,
            } => {
                let opened = match prefix {
                    Some(p) => root.open_file(&format!("{p}/{href}"), *symlinks),
                    None => root.open_file(href, *symlinks),
                };
                opened
                    .map(Payload::Local)
                    .map_err(|e| loc.confined_error(href, e))
            }
            // Bounded by the size the metadata gives, in `payload::download`.
            PayloadsFrom::Http(base) => loc
                .http_get(&format!("{base}/{href}"), href, u64::MAX, "unbounded")
                .map(|body| Payload::Remote(Box::new(body))),
        }
    }
}

/// A package payload, opened: a regular file inside the repository (to
/// be hardlinked or copied from), or a download.
pub enum Payload {
    Local(ConfinedFile),
    Remote(Box<dyn Read + Send>),
}

impl Location {
    /// Accepts a path, a `file://` URL or an `http(s)://` URL.
    pub fn parse(s: &str) -> Location {
        if let Some(rest) = s.strip_prefix("file://") {
            Location::Dir(PathBuf::from(rest))
        } else if s.starts_with("http://") || s.starts_with("https://") {
            Location::Http(s.trim_end_matches('/').to_string())
        } else {
            Location::Dir(PathBuf::from(s))
        }
    }

    /// How a file under this base is named in messages (without a
    /// password).
    pub fn display(&self, href: &str) -> String {
        match self {
            Location::Dir(d) => d.join(href).display().to_string(),
            Location::Http(u) => format!("{}/{href}", strata_model::redact_credentials(u)),
        }
    }

    /// An href is the repository's word: it must stay relative and below
    /// the base, and for a server carry nothing a server would read as
    /// more than a path (a query, a fragment, an encoded `.` or `/`).
    fn check_href(&self, href: &str) -> Result<()> {
        let problem = if href.starts_with('/') || href.split('/').any(|c| c == "..") {
            Some("the location leaves the source repository")
        } else if href.is_empty() || href.chars().any(char::is_control) {
            Some("the location is empty or has control characters")
        } else if matches!(self, Location::Http(_))
            && (href.contains(['?', '#', '\\'])
                || href.to_ascii_lowercase().contains("%2e")
                || href.to_ascii_lowercase().contains("%2f"))
        {
            Some("the location has a query, a fragment or an encoded `.` or `/`")
        } else {
            None
        };
        match problem {
            Some(reason) => Err(RepodataError::Invalid {
                path: self.display(href),
                reason: reason.into(),
            }),
            None => Ok(()),
        }
    }

    /// Opens `href` (relative to the base) for reading: for a directory, a
    /// regular file reached through no symbolic link (see `confined`); for
    /// a server, a body bounded to `limit` bytes (`what` names the limit in
    /// the error), fetched with the timeouts of `http`.
    pub(crate) fn open_bounded(
        &self,
        href: &str,
        limit: u64,
        what: &'static str,
    ) -> Result<Box<dyn Read + Send>> {
        self.check_href(href)?;
        match self {
            Location::Dir(d) => {
                let f = confined::open(d, href, Symlinks::Refuse)
                    .map_err(|e| self.confined_error(href, e))?;
                Ok(Box::new(f.into_file()))
            }
            Location::Http(base) => {
                let body = self.http_get(&format!("{base}/{href}"), href, limit, what)?;
                Ok(Box::new(body))
            }
        }
    }

    /// Opens `href` (relative to the base) for reading, unbounded: the
    /// reader bounds what it takes.
    pub(crate) fn open(&self, href: &str) -> Result<Box<dyn Read + Send>> {
        self.open_bounded(href, u64::MAX, "unbounded")
    }

    /// GETs `url`, the file `href` of this repository (credentials in the
    /// URL are sent as basic authentication); errors name it by
    /// [`Location::display`], without a password.
    fn http_get(
        &self,
        url: &str,
        href: &str,
        limit: u64,
        what: &'static str,
    ) -> Result<http::Body> {
        http::get(url, limit, what).map_err(|source| RepodataError::Fetch {
            url: self.display(href),
            source,
        })
    }

    /// The package payloads of this repository. In a directory each must
    /// be a regular file inside the repository, reached through no
    /// symbolic link; `koji_topdir` names the Koji topdir a Koji
    /// repository lives in, beneath which the links Koji makes
    /// (`toplink`, other volumes) are followed while they stay beneath it.
    pub fn payloads(&self, koji_topdir: Option<&Path>) -> Result<Payloads> {
        let from = match self {
            Location::Dir(d) => {
                let under_top =
                    koji_topdir.and_then(|t| d.strip_prefix(t).ok().map(|under| (t, under)));
                let (root, prefix, symlinks) = match under_top {
                    Some((top, under)) => (
                        top,
                        Some(under.to_string_lossy().into_owned()),
                        Symlinks::Beneath,
                    ),
                    None => (d.as_path(), None, Symlinks::Refuse),
                };
                PayloadsFrom::Dir {
                    root: Root::open(root).map_err(|e| self.confined_error("", e))?,
                    prefix,
                    symlinks,
                }
            }
            Location::Http(base) => PayloadsFrom::Http(base.clone()),
        };
        Ok(Payloads {
            location: self.clone(),
            from,
        })
    }

    fn confined_error(&self, href: &str, e: ConfinedError) -> RepodataError {
        match e {
            ConfinedError::Io(source) => RepodataError::Io {
                path: self.display(href),
                source,
            },
            reason => RepodataError::Confined {
                path: self.display(href),
                reason,
            },
        }
    }

    pub fn as_dir(&self) -> Option<&Path> {
        match self {
            Location::Dir(d) => Some(d),
            Location::Http(_) => None,
        }
    }
}

/// How far a checksum type is trusted to verify what a repository serves.
/// createrepo_c builds without md5 and sha1 by default since 0.17.2 (its
/// PR #264); md5 collisions are made in seconds, so it is refused. sha1 is
/// still what EL7-era repositories carry, and librepo and dnf still verify
/// it: accepted, with a warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumTrust {
    Trusted,
    /// Accepted with a warning.
    Deprecated,
    Refused,
    Unknown,
}

impl ChecksumTrust {
    pub fn of(kind: &str) -> ChecksumTrust {
        match kind.to_ascii_lowercase().as_str() {
            "sha256" | "sha512" | "sha384" | "sha224" => ChecksumTrust::Trusted,
            "sha1" | "sha" => ChecksumTrust::Deprecated,
            "md5" => ChecksumTrust::Refused,
            _ => ChecksumTrust::Unknown,
        }
    }
}

/// The checksum algorithms Strata verifies with (see [`ChecksumTrust`]).
pub(crate) enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Sha384(sha2::Sha384),
    Sha224(sha2::Sha224),
    Sha1(sha1::Sha1),
}

impl Hasher {
    pub(crate) fn new(kind: &str) -> Option<Hasher> {
        Some(match kind.to_ascii_lowercase().as_str() {
            "sha256" => Hasher::Sha256(Default::default()),
            "sha512" => Hasher::Sha512(Default::default()),
            "sha384" => Hasher::Sha384(Default::default()),
            "sha224" => Hasher::Sha224(Default::default()),
            "sha1" | "sha" => Hasher::Sha1(Default::default()),
            _ => return None,
        })
    }

    pub(crate) fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
            Hasher::Sha384(h) => h.update(b),
            Hasher::Sha224(h) => h.update(b),
            Hasher::Sha1(h) => h.update(b),
        }
    }

    /// The digest, lowercase hex.
    pub(crate) fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
            Hasher::Sha384(h) => hex::encode(h.finalize()),
            Hasher::Sha224(h) => hex::encode(h.finalize()),
            Hasher::Sha1(h) => hex::encode(h.finalize()),
        }
    }
}

/// What repomd.xml promises about one file.
#[derive(Debug, Clone)]
pub struct Expected {
    pub checksum_type: String,
    pub checksum: String,
    pub size: Option<u64>,
    /// The decompressed size.
    pub open_size: Option<u64>,
}

impl Expected {
    /// The most bytes the file may have, and the most it may decompress
    /// to: what repomd.xml announces, else `max_open_size`. An
    /// announcement above `max_open_size` is refused.
    fn limits(&self, path: &str) -> Result<(u64, Limit, u64, Limit)> {
        self.limits_under(path, limits::max_open_size())
    }

    fn limits_under(&self, path: &str, max: u64) -> Result<(u64, Limit, u64, Limit)> {
        let bounded =
            |announced: Option<u64>, what, given: fn(u64) -> Limit, fallback| match announced {
                Some(n) if n > max => Err(RepodataError::TooLarge {
                    path: path.to_string(),
                    limit: Limit::Announced {
                        what,
                        announced: n,
                        max,
                    },
                }),
                Some(n) => Ok((n, given(n))),
                None => Ok((max, fallback)),
            };
        let (raw, raw_limit) = bounded(self.size, "<size>", Limit::Size, Limit::MaxSize(max))?;
        let (open, open_limit) = bounded(
            self.open_size,
            "<open-size>",
            Limit::OpenSize,
            Limit::MaxOpenSize(max),
        )?;
        Ok((raw, raw_limit, open, open_limit))
    }
}

/// Passes bytes through while hashing and counting them, and fails past
/// `limit` bytes (before hashing them: a body without end stops there).
pub(crate) struct Verifying<R> {
    inner: R,
    hasher: Option<Hasher>,
    bytes: u64,
    limit: u64,
    over: Limit,
}

impl<R: Read> Read for Verifying<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.bytes > self.limit {
            return Err(exceeded(self.over.clone()));
        }
        // One byte past the limit is asked for, to tell "exactly" from
        // "more".
        let room = (self.limit - self.bytes).saturating_add(1);
        let len = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..len])?;
        self.bytes += n as u64;
        if self.bytes > self.limit {
            return Err(exceeded(self.over.clone()));
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

impl<R: Read> Verifying<R> {
    /// Reads what is left and compares checksum and size with `expected`.
    fn finish(mut self, path: &str, expected: &Expected) -> Result<()> {
        io::copy(&mut self, &mut io::sink()).map_err(|e| stream_error(path, &e))?;
        let actual = self.hasher.take().expect("hasher").finish();
        if !actual.eq_ignore_ascii_case(&expected.checksum) {
            return Err(RepodataError::Checksum {
                path: path.to_string(),
                kind: expected.checksum_type.clone(),
                expected: expected.checksum.clone(),
                actual,
            });
        }
        if let Some(size) = expected.size {
            if size != self.bytes {
                return Err(RepodataError::Size {
                    path: path.to_string(),
                    expected: size,
                    actual: self.bytes,
                });
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
    Bzip2,
}

impl Compression {
    fn sniff(head: &[u8]) -> Option<Compression> {
        Some(if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else if head.starts_with(b"<")
            || head.starts_with(&[0xef, 0xbb, 0xbf])
            // Plain YAML metadata (modules.yaml).
            || head.starts_with(b"---")
            || head.starts_with(b"document:")
        {
            Compression::None
        } else {
            return None;
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Compression::None => "plain",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
        }
    }
}

/// A failure of the input stream (not of the parser), carried through the
/// parser's I/O errors and mapped back by [`stream_error`].
#[derive(Debug, Clone)]
pub(crate) enum StreamFailure {
    Decode(Compression, std::sync::Arc<io::Error>),
    TooLarge(Limit),
    OpenSize { expected: u64, actual: u64 },
}

impl std::fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamFailure::Decode(c, e) => write!(f, "{}: {e}", c.name()),
            StreamFailure::TooLarge(limit) => limit.fmt(f),
            StreamFailure::OpenSize { expected, actual } => write!(
                f,
                "repomd.xml says {expected} bytes, the file decompresses to {actual}"
            ),
        }
    }
}
impl std::error::Error for StreamFailure {}

/// Whether an error of the raw stream is one of ours (a limit, a stalled
/// peer), to pass on as it is rather than as a decompression failure.
fn typed(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|i| i.is::<StreamFailure>() || i.is::<http::HttpError>())
}

/// Reads the metadata file `href` whole, as stored (not decompressed), and
/// checks its checksum and size against `expected`: a file still as
/// repomd.xml describes it.
pub(crate) fn verify_stored(location: &Location, href: &str, expected: &Expected) -> Result<()> {
    let path = location.display(href);
    let (raw, _) = open_verifying(location, href, expected)?;
    raw.finish(&path, expected)
}

/// A metadata file read through a check of its checksum and size.
type VerifyingFile = Verifying<Box<dyn Read + Send>>;

/// Opens a metadata file to read through a check of its checksum and size
/// against `expected` (refused when its checksum kind is); with the limit
/// its decompressed content must keep to.
fn open_verifying(
    location: &Location,
    href: &str,
    expected: &Expected,
) -> Result<(VerifyingFile, (u64, Limit))> {
    let path = location.display(href);
    match ChecksumTrust::of(&expected.checksum_type) {
        ChecksumTrust::Refused => {
            return Err(RepodataError::WeakChecksum {
                path,
                kind: expected.checksum_type.clone(),
            })
        }
        ChecksumTrust::Deprecated => tracing::warn!(
            "repomd.xml verifies `{path}` by {}, which createrepo_c no longer writes by \
             default and collisions can defeat; accepted as dnf does (regenerate the \
             repository with `createrepo_c --checksum sha256`)",
            expected.checksum_type
        ),
        ChecksumTrust::Trusted | ChecksumTrust::Unknown => {}
    }
    let hasher =
        Hasher::new(&expected.checksum_type).ok_or_else(|| RepodataError::ChecksumType {
            path: path.clone(),
            kind: expected.checksum_type.clone(),
        })?;
    let (raw_max, raw_limit, open_max, open_limit) = expected.limits(&path)?;
    let raw = Verifying {
        inner: location.open(href)?,
        hasher: Some(hasher),
        bytes: 0,
        limit: raw_max,
        over: raw_limit,
    };
    Ok((raw, (open_max, open_limit)))
}

/// Opens a metadata file, verifies it, decompresses it, and hands the
/// decompressed stream to `parse`. Integrity problems take precedence:
/// when parsing fails, the raw file is still checked, so a corrupted
/// download is reported as a checksum mismatch rather than as bad XML.
pub(crate) fn read_verified<T>(
    location: &Location,
    href: &str,
    expected: &Expected,
    parse: impl FnOnce(&mut dyn BufRead, &str) -> Result<T>,
) -> Result<T> {
    read_verified_unless_dropped(location, href, expected, |input, path| {
        parse(input, path).map(Some)
    })
    .map(|r| r.expect("never dropped"))
}

/// `read_verified`, except that `parse` may drop the file: `Ok(None)`
/// ends the read at once, without checking the file (nothing was taken
/// from it).
pub(crate) fn read_verified_unless_dropped<T>(
    location: &Location,
    href: &str,
    expected: &Expected,
    parse: impl FnOnce(&mut dyn BufRead, &str) -> Result<Option<T>>,
) -> Result<Option<T>> {
    let path = location.display(href);
    let (raw, (open_max, open_limit)) = open_verifying(location, href, expected)?;
    // The magic bytes, however few each read returns (a slow network).
    let mut raw = raw;
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < head.len() {
        match raw.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(stream_error(&path, &e)),
        }
    }
    let head = head[..got].to_vec();
    let format = Compression::sniff(&head);
    let mut raw = BufReader::with_capacity(1 << 16, io::Cursor::new(head.clone()).chain(raw));
    let Some(format) = format else {
        return Err(RepodataError::UnknownCompression {
            path: path.clone(),
            magic: head
                .iter()
                .take(6)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        });
    };
    // Decompression (and hashing) runs on its own thread, feeding the
    // parser chunk by chunk: on two cores the two overlap.
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(8);
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || -> Result<Verifying<Box<dyn Read + Send>>> {
            {
                let mut decoder: Box<dyn Read + '_> = match format {
                    Compression::None => Box::new(&mut raw),
                    Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(&mut raw)),
                    Compression::Xz => {
                        Box::new(xz2::bufread::XzDecoder::new_multi_decoder(&mut raw))
                    }
                    Compression::Zstd => match zstd::stream::read::Decoder::with_buffer(&mut raw) {
                        Ok(d) => Box::new(d),
                        Err(e) => Box::new(Failing(Some(e))),
                    },
                    Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(&mut raw)),
                };
                // Decompressed bytes so far, against the open size.
                let mut open = 0u64;
                loop {
                    let mut chunk = vec![0u8; CHUNK];
                    let mut filled = 0;
                    let mut result = loop {
                        match decoder.read(&mut chunk[filled..]) {
                            Ok(0) => break Ok(()),
                            Ok(n) => {
                                filled += n;
                                if filled == CHUNK {
                                    break Ok(());
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => break Err(e),
                        }
                    };
                    chunk.truncate(filled);
                    let done = filled < CHUNK;
                    open += filled as u64;
                    if open > open_max {
                        // Not a byte past the limit goes to the parser.
                        result = Err(exceeded(open_limit.clone()));
                    } else if filled > 0 && tx.send(Ok(chunk)).is_err() {
                        break;
                    }
                    if result.is_ok() && done {
                        if let Some(expected) = expected.open_size.filter(|&n| n != open) {
                            result = Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                StreamFailure::OpenSize {
                                    expected,
                                    actual: open,
                                },
                            ));
                        }
                    }
                    if let Err(e) = result {
                        let e = if typed(&e) {
                            e
                        } else {
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                StreamFailure::Decode(format, std::sync::Arc::new(e)),
                            )
                        };
                        let _ = tx.send(Err(e));
                        break;
                    }
                    if done {
                        break;
                    }
                }
            }
            drop(tx);
            Ok(raw.into_inner().into_inner().1)
        });
        let mut decoded = Chunks {
            rx,
            current: Vec::new(),
            pos: 0,
        };
        let result = parse(&mut decoded, &path);
        // Let the worker finish even if the parser stopped early.
        drop(decoded);
        let raw = worker.join().expect("decompression thread panicked")?;
        if let Ok(None) = result {
            return Ok(None);
        }
        let verified = raw.finish(&path, expected);
        match (result, verified) {
            (_, Err(e)) => Err(e),
            (r, Ok(())) => r,
        }
    })
}

const CHUNK: usize = 1 << 18;

/// A reader that only returns the error it was made with.
struct Failing(Option<io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| io::Error::other("decoder failed")))
    }
}

/// The parser's side of the decompression pipeline.
struct Chunks {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::limits::read_buffered(self, buf)
    }
}

impl BufRead for Chunks {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.current.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(&[]),
            }
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos += amt;
    }
}

/// Maps an I/O error met while reading a file (`path`: its name, the URL
/// for HTTP) back to what it carries: a decompression failure, a limit, a
/// stalled peer.
pub(crate) fn stream_error(path: &str, e: &io::Error) -> RepodataError {
    if let Some(http) = http::body_error(e) {
        return RepodataError::Fetch {
            url: path.to_string(),
            source: http.clone(),
        };
    }
    let path = path.to_string();
    match e.get_ref().and_then(|i| i.downcast_ref::<StreamFailure>()) {
        Some(StreamFailure::Decode(format, e)) => RepodataError::Decompress {
            path,
            format: format.name(),
            source: e.clone(),
        },
        Some(StreamFailure::TooLarge(limit)) => RepodataError::TooLarge {
            path,
            limit: limit.clone(),
        },
        Some(&StreamFailure::OpenSize { expected, actual }) => RepodataError::OpenSize {
            path,
            expected,
            actual,
        },
        None => RepodataError::Io {
            path,
            source: io::Error::new(e.kind(), e.to_string()),
        },
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn limits_are_what_repomd_announces_else_the_maximum() {
        let mut e = Expected {
            checksum_type: "sha256".into(),
            checksum: "00".into(),
            size: Some(10),
            open_size: Some(100),
        };
        let (raw, raw_limit, open, open_limit) = e.limits_under("p", 1000).unwrap();
        assert_eq!((raw, open), (10, 100));
        assert_eq!(
            (raw_limit, open_limit),
            (Limit::Size(10), Limit::OpenSize(100))
        );
        e.size = None;
        e.open_size = None;
        let (raw, raw_limit, open, open_limit) = e.limits_under("p", 1000).unwrap();
        assert_eq!((raw, open), (1000, 1000));
        assert_eq!(
            (raw_limit, open_limit),
            (Limit::MaxSize(1000), Limit::MaxOpenSize(1000))
        );
        // repomd.xml may not announce past the maximum either.
        e.open_size = Some(5 << 30);
        let err = e.limits_under("p", 4 << 30).unwrap_err().to_string();
        assert_eq!(
            err,
            "`p` is too large: repomd.xml announces 5368709120 bytes (<open-size>), more than \
             4 GiB (set [repodata] max_open_size)"
        );
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        let loc = Location::parse("https://rel:s3cret@example.org/f40/");
        assert_eq!(
            loc.display("repodata/repomd.xml"),
            "https://rel@example.org/f40/repodata/repomd.xml"
        );
        assert!(!format!("{loc:?}").contains("s3cret"));
        // The location itself keeps it, for fetching.
        assert_eq!(
            loc,
            Location::Http("https://rel:s3cret@example.org/f40".into())
        );
    }

    #[test]
    fn payloads_of_a_koji_repository_are_read_beneath_its_topdir() {
        let t = tempfile::tempdir().unwrap();
        let top = t.path();
        let arch = top.join("repos/f40-build/7/x86_64");
        std::fs::create_dir_all(&arch).unwrap();
        std::os::unix::fs::symlink("../../../..", arch.join("toplink")).unwrap();
        std::fs::create_dir_all(top.join("packages/foo/1/1/noarch")).unwrap();
        std::fs::write(
            top.join("packages/foo/1/1/noarch/foo-1-1.noarch.rpm"),
            b"rpm",
        )
        .unwrap();
        let loc = Location::parse(&arch.display().to_string());
        let href = "toplink/packages/foo/1/1/noarch/foo-1-1.noarch.rpm";
        assert!(matches!(
            loc.payloads(Some(top)).unwrap().open(href).unwrap(),
            Payload::Local(f) if f.len() == 3
        ));
        // Anywhere else, toplink is a symbolic link like any other.
        let e = match loc.payloads(None).unwrap().open(href) {
            Err(e) => e,
            Ok(_) => panic!("followed toplink outside a Koji topdir"),
        };
        assert!(matches!(e, RepodataError::Confined { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("`toplink` in its path is a symbolic link"),
            "{e}"
        );
    }

    #[test]
    fn hrefs_stay_inside() {
        let dir = Location::parse("/srv/repo");
        let http = Location::parse("https://example.org/repo");
        for bad in ["/etc/passwd", "../x.rpm", "a/../../x.rpm", "", "a\nb.rpm"] {
            assert!(dir.check_href(bad).is_err(), "{bad:?}");
            assert!(http.check_href(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "x.rpm?a=b",
            "x.rpm#f",
            "%2e%2E/x.rpm",
            "a%2Fb.rpm",
            "a\\b.rpm",
        ] {
            assert!(dir.check_href(bad).is_ok(), "{bad:?}");
            assert!(http.check_href(bad).is_err(), "{bad:?}");
        }
        assert!(http.check_href("Packages/c/c++-1-1.x86_64.rpm").is_ok());
    }

    #[test]
    fn reading_stops_past_the_size_repomd_gives() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("repodata")).unwrap();
        let body = format!("<metadata>{}</metadata>", " ".repeat(1 << 20));
        std::fs::write(t.path().join("repodata/p.xml"), &body).unwrap();
        let loc = Location::parse(&t.path().display().to_string());
        // Past the limit in the first read (the compression sniff), and
        // while the parser reads.
        for limit in [1000, 200_000] {
            let expected = Expected {
                checksum_type: "sha256".into(),
                checksum: hex::encode(sha2::Sha256::digest(body.as_bytes())),
                size: Some(limit),
                open_size: None,
            };
            let mut seen = 0;
            let e = read_verified(&loc, "repodata/p.xml", &expected, |input, _| {
                let mut buf = [0u8; 4096];
                while let Ok(n) = input.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen += n;
                }
                Ok(())
            })
            .unwrap_err();
            assert!(
                matches!(e, RepodataError::TooLarge { limit: Limit::Size(l), .. } if l == limit),
                "{e}"
            );
            assert!(e.to_string().contains("p.xml"), "{e}");
            assert!(seen as u64 <= limit, "{seen} bytes passed on");
        }
    }

    #[test]
    fn md5_is_refused_and_sha1_accepted() {
        assert_eq!(ChecksumTrust::of("md5"), ChecksumTrust::Refused);
        assert_eq!(ChecksumTrust::of("sha"), ChecksumTrust::Deprecated);
        assert_eq!(ChecksumTrust::of("SHA1"), ChecksumTrust::Deprecated);
        assert_eq!(ChecksumTrust::of("sha256"), ChecksumTrust::Trusted);
        assert!(Hasher::new("md5").is_none());
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("repodata")).unwrap();
        std::fs::write(t.path().join("repodata/p.xml"), b"<metadata/>").unwrap();
        let expected = Expected {
            checksum_type: "md5".into(),
            checksum: "0".repeat(32),
            size: None,
            open_size: None,
        };
        let loc = Location::parse(&t.path().display().to_string());
        let e = read_verified(&loc, "repodata/p.xml", &expected, |_, _| Ok(())).unwrap_err();
        assert!(matches!(e, RepodataError::WeakChecksum { .. }), "{e}");
        assert!(
            e.to_string().contains("p.xml") && e.to_string().contains("md5"),
            "{e}"
        );
    }
}
