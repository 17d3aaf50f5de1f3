//! Where repository files come from (a directory, `file://` or `http(s)://`)
//! and how they are read: verified against repomd.xml's checksum and size
//! while streaming, and decompressed by content (gz, xz, zstd, bz2 or plain).

use crate::error::{RepodataError, Result};
use crate::http;
use crate::limits::{self, exceeded, Limit};
use sha2::Digest;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The base of a repository: the folder that holds `repodata/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    Http(String),
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

    /// How a file under this base is named in messages.
    pub fn display(&self, href: &str) -> String {
        match self {
            Location::Dir(d) => d.join(href).display().to_string(),
            Location::Http(u) => format!("{u}/{href}"),
        }
    }

    /// Opens `href` (relative to the base) for reading. A local file must
    /// be a regular file: a FIFO would block the open, and a device never
    /// end. An HTTP body is bounded to `limit` bytes (`what` names the
    /// limit in the error); see `http` for its timeouts.
    pub fn open_bounded(
        &self,
        href: &str,
        limit: u64,
        what: &'static str,
    ) -> Result<Box<dyn Read + Send>> {
        if href.split('/').any(|c| c == "..") || href.starts_with('/') {
            return Err(RepodataError::Invalid {
                path: self.display(href),
                reason: "location escapes the repository".into(),
            });
        }
        match self {
            Location::Dir(d) => Ok(Box::new(open_regular(&d.join(href))?)),
            Location::Http(base) => {
                let url = format!("{base}/{href}");
                match http::get(&url, limit, what) {
                    Ok(body) => Ok(Box::new(body)),
                    Err(source) => Err(RepodataError::Fetch { url, source }),
                }
            }
        }
    }

    /// Opens `href` (relative to the base) for reading, unbounded: the
    /// reader bounds what it takes.
    pub fn open(&self, href: &str) -> Result<Box<dyn Read + Send>> {
        self.open_bounded(href, u64::MAX, "unbounded")
    }

    pub fn as_dir(&self) -> Option<&Path> {
        match self {
            Location::Dir(d) => Some(d),
            Location::Http(_) => None,
        }
    }
}

/// Opens a local repository file, refusing anything but a regular file
/// (after symlinks): checked before opening, as opening a FIFO blocks
/// until a writer comes, and again on the open file (opened without
/// blocking), as the path may have changed in between.
fn open_regular(path: &Path) -> Result<File> {
    let io_err = |source| RepodataError::Io {
        path: path.display().to_string(),
        source,
    };
    refuse_special(path, &std::fs::metadata(path).map_err(io_err)?.file_type())?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io_err)?;
    refuse_special(path, &file.metadata().map_err(io_err)?.file_type())?;
    // Reads of a regular file do not block either way, so the flag stays.
    Ok(file)
}

fn refuse_special(path: &Path, t: &std::fs::FileType) -> Result<()> {
    let kind = if t.is_file() {
        return Ok(());
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_dir() {
        "a directory"
    } else {
        "not a file"
    };
    Err(RepodataError::NotRegular {
        path: path.display().to_string(),
        kind,
    })
}

/// The checksum algorithms createrepo_c writes into repomd.xml.
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Sha384(sha2::Sha384),
    Sha224(sha2::Sha224),
    Sha1(sha1::Sha1),
    Md5(md5::Md5),
}

impl Hasher {
    pub fn new(kind: &str) -> Option<Hasher> {
        Some(match kind {
            "sha256" => Hasher::Sha256(Default::default()),
            "sha512" => Hasher::Sha512(Default::default()),
            "sha384" => Hasher::Sha384(Default::default()),
            "sha224" => Hasher::Sha224(Default::default()),
            "sha1" | "sha" => Hasher::Sha1(Default::default()),
            "md5" => Hasher::Md5(Default::default()),
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
            Hasher::Md5(h) => h.update(b),
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
            Hasher::Md5(h) => hex::encode(h.finalize()),
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
pub struct Verifying<R> {
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

/// A failure of the input stream (not of the parser), carried through the
/// parser's I/O errors and mapped back by [`stream_error`].
#[derive(Debug, Clone)]
pub(crate) enum StreamFailure {
    Decode(Compression, String),
    TooLarge(Limit),
    OpenSize { expected: u64, actual: u64 },
}

impl std::fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamFailure::Decode(c, reason) => write!(f, "{}: {reason}", c.name()),
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
                                StreamFailure::Decode(format, e.to_string()),
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
        Some(StreamFailure::Decode(format, reason)) => RepodataError::Decompress {
            path,
            format: format.name(),
            reason: reason.clone(),
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
}
