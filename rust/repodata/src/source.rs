//! Where repository files come from (a directory, `file://` or `http(s)://`)
//! and how they are read: verified against repomd.xml's checksum and size
//! while streaming, and decompressed by content (gz, xz, zstd, bz2 or plain).

use crate::confined::{self, ConfinedError, ConfinedFile, Root, Symlinks};
use crate::error::{RepodataError, Result};
use sha2::Digest;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// How long connecting to a repository server may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a repository server may send nothing while a file is read.
/// There is no limit on a whole download: an RPM may be large, and it is
/// bounded by its size in the metadata instead.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

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
            PayloadsFrom::Http(base) => http_get(&format!("{base}/{href}")).map(Payload::Remote),
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
    /// regular file reached through no symbolic link (see `confined`).
    pub fn open(&self, href: &str) -> Result<Box<dyn Read + Send>> {
        self.check_href(href)?;
        match self {
            Location::Dir(d) => {
                let f = confined::open(d, href, Symlinks::Refuse)
                    .map_err(|e| self.confined_error(href, e))?;
                Ok(Box::new(f.into_file()))
            }
            Location::Http(base) => http_get(&format!("{base}/{href}")),
        }
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

/// One agent for every download: connections are reused, and every one
/// is bounded in time.
fn agent() -> &'static ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout_read(READ_TIMEOUT)
            .timeout_write(READ_TIMEOUT)
            .build()
    })
}

/// GETs `url` (credentials in it are sent as basic authentication). The
/// messages never quote the URL as given: ureq's own do, password and all.
fn http_get(url: &str) -> Result<Box<dyn Read + Send>> {
    let shown = strata_model::redact_credentials(url).into_owned();
    let resp = agent().get(url).call().map_err(|e| RepodataError::Fetch {
        url: shown.clone(),
        reason: match e {
            ureq::Error::Status(code, r) => {
                format!("the server answered {code} {}", r.status_text())
            }
            ureq::Error::Transport(t) => {
                let mut s = t.kind().to_string();
                if let Some(m) = t.message() {
                    s.push_str(": ");
                    s.push_str(m);
                }
                if let Some(src) = std::error::Error::source(&t) {
                    s.push_str(": ");
                    s.push_str(&src.to_string());
                }
                let timed_out = std::error::Error::source(&t)
                    .and_then(|e| e.downcast_ref::<io::Error>())
                    .is_some_and(|e| e.kind() == io::ErrorKind::TimedOut);
                if timed_out {
                    s.push_str(&format!(
                        " (no answer within {} s)",
                        CONNECT_TIMEOUT.as_secs()
                    ));
                }
                s
            }
        },
    })?;
    Ok(Box::new(Deadline {
        inner: resp.into_reader(),
    }))
}

/// Says which limit a timed-out read ran into.
struct Deadline<R> {
    inner: R,
}

impl<R: Read> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the server sent nothing for {} s", READ_TIMEOUT.as_secs()),
                )
            } else {
                e
            }
        })
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
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Sha384(sha2::Sha384),
    Sha224(sha2::Sha224),
    Sha1(sha1::Sha1),
}

impl Hasher {
    pub fn new(kind: &str) -> Option<Hasher> {
        Some(match kind.to_ascii_lowercase().as_str() {
            "sha256" => Hasher::Sha256(Default::default()),
            "sha512" => Hasher::Sha512(Default::default()),
            "sha384" => Hasher::Sha384(Default::default()),
            "sha224" => Hasher::Sha224(Default::default()),
            "sha1" | "sha" => Hasher::Sha1(Default::default()),
            _ => return None,
        })
    }

    pub fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
            Hasher::Sha384(h) => h.update(b),
            Hasher::Sha224(h) => h.update(b),
            Hasher::Sha1(h) => h.update(b),
        }
    }

    /// The digest, lowercase hex.
    pub fn finish(self) -> String {
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
}

/// Passes bytes through while hashing and counting them.
/// Reading stops past the size repomd.xml gives (when it gives one), so a
/// server cannot feed a metadata file without end.
pub struct Verifying<R> {
    inner: R,
    hasher: Option<Hasher>,
    bytes: u64,
    limit: Option<u64>,
    /// More than `limit` bytes came.
    over: bool,
}

impl<R: Read> Read for Verifying<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let over = |limit: u64| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more than the {limit} bytes repomd.xml gives for it"),
            )
        };
        if let (true, Some(limit)) = (self.over, self.limit) {
            return Err(over(limit));
        }
        let n = self.inner.read(buf)?;
        if let Some(limit) = self.limit.filter(|&l| self.bytes + n as u64 > l) {
            self.over = true;
            return Err(over(limit));
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R: Read> Verifying<R> {
    /// Reads what is left and compares checksum and size with `expected`.
    fn finish(mut self, path: &str, expected: &Expected) -> Result<()> {
        let rest = io::copy(&mut self, &mut io::sink());
        if let (true, Some(limit)) = (self.over, self.limit) {
            return Err(RepodataError::TooLarge {
                path: path.to_string(),
                expected: limit,
            });
        }
        rest.map_err(|source| RepodataError::Io {
            path: path.to_string(),
            source,
        })?;
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
pub enum Compression {
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

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "plain",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
        }
    }
}

/// A decompression failure, carried through the parser's I/O errors.
#[derive(Debug)]
pub(crate) struct DecodeFailure(pub Compression, pub String);

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.name(), self.1)
    }
}
impl std::error::Error for DecodeFailure {}

/// Opens a metadata file, verifies it, decompresses it, and hands the
/// decompressed stream to `parse`. Integrity problems take precedence:
/// when parsing fails, the raw file is still checked, so a corrupted
/// download is reported as a checksum mismatch rather than as bad XML.
pub fn read_verified<T>(
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
    let raw = Verifying {
        inner: location.open(href)?,
        hasher: Some(hasher),
        bytes: 0,
        limit: expected.size,
        over: false,
    };
    let mut raw = BufReader::with_capacity(1 << 16, raw);
    let head = match raw.fill_buf() {
        Ok(head) => head.to_vec(),
        Err(source) => {
            return Err(match raw.get_ref() {
                // The first read already brought more than repomd.xml gives.
                Verifying {
                    over: true,
                    limit: Some(limit),
                    ..
                } => RepodataError::TooLarge {
                    path,
                    expected: *limit,
                },
                _ => RepodataError::Io { path, source },
            });
        }
    };
    let Some(format) = Compression::sniff(&head) else {
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
                loop {
                    let mut chunk = vec![0u8; CHUNK];
                    let mut filled = 0;
                    let result = loop {
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
                    if filled > 0 && tx.send(Ok(chunk)).is_err() {
                        break;
                    }
                    if let Err(e) = result {
                        let _ = tx.send(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            DecodeFailure(format, e.to_string()),
                        )));
                        break;
                    }
                    if done {
                        break;
                    }
                }
            }
            drop(tx);
            Ok(raw.into_inner())
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
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
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

/// Maps an I/O error met while parsing a decompressed stream.
pub(crate) fn stream_error(path: &str, e: &io::Error) -> RepodataError {
    if let Some(d) = e.get_ref().and_then(|i| i.downcast_ref::<DecodeFailure>()) {
        return RepodataError::Decompress {
            path: path.to_string(),
            format: d.0.name(),
            reason: d.1.clone(),
        };
    }
    RepodataError::Io {
        path: path.to_string(),
        source: io::Error::new(e.kind(), e.to_string()),
    }
}

#[cfg(test)]
mod test {
    use super::*;

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
    fn a_timed_out_read_names_the_limit() {
        struct Silent;
        impl Read for Silent {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::ErrorKind::WouldBlock.into())
            }
        }
        let e = Deadline { inner: Silent }.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(e.to_string(), "the server sent nothing for 60 s");
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
                matches!(e, RepodataError::TooLarge { expected, .. } if expected == limit),
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
