//! How much of a repository's metadata Strata accepts. Everything read
//! from a repository is hostile until checked: a 10 MB gzip can hold
//! 10 GiB of whitespace, and a server can send a body without end. Each
//! file is therefore read against the sizes repomd.xml announces for it
//! (`<size>` for its bytes, `<open-size>` once decompressed), or against
//! [`max_open_size`] where repomd.xml gives none; repomd.xml itself is
//! capped at [`REPOMD_MAX_BYTES`]. Parsers stream, and what they hold at
//! once is bounded too: one XML token ([`MAX_XML_TOKEN_BYTES`]) and, for
//! the record store, one `<package>` record ([`MAX_RECORD_BYTES`]).

use crate::source::StreamFailure;
use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};

/// repomd.xml is an index of a few KiB; Fedora's is under 10 KiB.
pub const REPOMD_MAX_BYTES: u64 = 16 << 20;

/// The default of [`max_open_size`]: rawhide's filelists.xml is about
/// 600 MB open, its primary.xml about 200 MB.
pub const DEFAULT_MAX_OPEN_SIZE: u64 = 4 << 30;

/// One XML text, tag or comment: the XML reader buffers a token whole.
/// Real metadata has none above a few MiB (a long changelog entry).
pub const MAX_XML_TOKEN_BYTES: u64 = 64 << 20;

/// One `<package>` record of primary, filelists or other, which the
/// record store holds whole while it cuts it out. The largest in Fedora
/// (the file lists of kernel-devel and the like) are a few MiB.
pub const MAX_RECORD_BYTES: u64 = 256 << 20;

/// Metadata read whole into memory (modules.yaml and the like).
pub const MAX_BUFFERED_METADATA_BYTES: u64 = 256 << 20;

static MAX_OPEN_SIZE: AtomicU64 = AtomicU64::new(DEFAULT_MAX_OPEN_SIZE);

/// The most a metadata file may decompress to (and, where repomd.xml
/// gives no `<size>`, its compressed size); `[repodata] max_open_size` in
/// strata.toml. Also caps what repomd.xml itself may announce.
pub fn max_open_size() -> u64 {
    MAX_OPEN_SIZE.load(Ordering::Relaxed)
}

/// Sets [`max_open_size`] for this process.
pub fn set_max_open_size(bytes: u64) {
    MAX_OPEN_SIZE.store(bytes, Ordering::Relaxed);
}

/// A limit a file went past, for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    /// More bytes than repomd.xml's `<size>`.
    Size(u64),
    /// More decompressed bytes than repomd.xml's `<open-size>`.
    OpenSize(u64),
    /// More decompressed bytes than [`max_open_size`] (no `<open-size>`).
    MaxOpenSize(u64),
    /// More bytes than [`max_open_size`] (no `<size>`).
    MaxSize(u64),
    /// repomd.xml announces more than [`max_open_size`].
    Announced {
        what: &'static str,
        announced: u64,
        max: u64,
    },
    /// repomd.xml longer than [`REPOMD_MAX_BYTES`].
    Repomd,
    /// One XML token longer than [`MAX_XML_TOKEN_BYTES`], starting at
    /// this byte of the decompressed file.
    Token { at: u64 },
    /// One record longer than [`MAX_RECORD_BYTES`], starting at this byte.
    Record { at: u64 },
    /// Metadata read whole, longer than [`MAX_BUFFERED_METADATA_BYTES`].
    Buffered,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Size(n) => write!(f, "more than the {n} bytes repomd.xml announces (<size>)"),
            Limit::OpenSize(n) => write!(
                f,
                "it decompresses to more than the {n} bytes repomd.xml announces (<open-size>)"
            ),
            Limit::MaxOpenSize(n) => write!(
                f,
                "it decompresses to more than {}, the limit for metadata without an \
                 <open-size> in repomd.xml (set [repodata] max_open_size)",
                human(*n)
            ),
            Limit::MaxSize(n) => write!(
                f,
                "more than {}, the limit for metadata without a <size> in repomd.xml \
                 (set [repodata] max_open_size)",
                human(*n)
            ),
            Limit::Announced {
                what,
                announced,
                max,
            } => write!(
                f,
                "repomd.xml announces {announced} bytes ({what}), more than {} \
                 (set [repodata] max_open_size)",
                human(*max)
            ),
            Limit::Repomd => write!(
                f,
                "more than {} (REPOMD_MAX_BYTES)",
                human(REPOMD_MAX_BYTES)
            ),
            Limit::Token { at } => write!(
                f,
                "it holds one XML text, tag or comment of more than {} \
                 (MAX_XML_TOKEN_BYTES), starting at byte {at}",
                human(MAX_XML_TOKEN_BYTES)
            ),
            Limit::Record { at } => write!(
                f,
                "it holds one <package> record of more than {} (MAX_RECORD_BYTES), \
                 starting at byte {at}",
                human(MAX_RECORD_BYTES)
            ),
            Limit::Buffered => write!(
                f,
                "it decompresses to more than {}, the limit for metadata read whole \
                 (MAX_BUFFERED_METADATA_BYTES)",
                human(MAX_BUFFERED_METADATA_BYTES)
            ),
        }
    }
}

/// `bytes` for people: `16 MiB` for exact multiples, else one decimal
/// (`1.5 GiB`), else `123 B`.
pub fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    for (size, unit) in UNITS {
        if bytes >= size {
            return if bytes.is_multiple_of(size) {
                format!("{} {unit}", bytes / size)
            } else {
                format!("{:.1} {unit}", bytes as f64 / size as f64)
            };
        }
    }
    format!("{bytes} B")
}

/// An error of the input stream carrying `limit`, mapped to
/// [`crate::RepodataError::TooLarge`] with the file's name by the reader.
pub(crate) fn exceeded(limit: Limit) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, StreamFailure::TooLarge(limit))
}

/// `Read::read` of a reader that is read through its buffer.
pub(crate) fn read_buffered<R: BufRead + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let avail = r.fill_buf()?;
    let n = avail.len().min(buf.len());
    buf[..n].copy_from_slice(&avail[..n]);
    r.consume(n);
    Ok(n)
}

/// The input of an XML parser, bounding the bytes of one token: the
/// parser calls [`TokenGuard::mark`] after each event, and the guard
/// fails the input once more than [`MAX_XML_TOKEN_BYTES`] were taken
/// since (the XML reader keeps a token whole in memory).
pub(crate) struct TokenGuard<R> {
    inner: R,
    consumed: u64,
    mark: u64,
}

impl<R: BufRead> TokenGuard<R> {
    pub(crate) fn new(inner: R) -> Self {
        TokenGuard {
            inner,
            consumed: 0,
            mark: 0,
        }
    }

    /// A token ended here.
    #[inline]
    pub(crate) fn mark(&mut self) {
        self.mark = self.consumed;
    }
}

impl<R: BufRead> crate::wellformed::TokenStream for TokenGuard<R> {
    #[inline]
    fn mark(&mut self) {
        TokenGuard::mark(self);
    }
}

impl<R: BufRead> Read for TokenGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::limits::read_buffered(self, buf)
    }
}

impl<R: BufRead> BufRead for TokenGuard<R> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.consumed - self.mark > MAX_XML_TOKEN_BYTES {
            return Err(exceeded(Limit::Token { at: self.mark }));
        }
        self.inner.fill_buf()
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        self.consumed += amt as u64;
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human(16 << 20), "16 MiB");
        assert_eq!(human(4 << 30), "4 GiB");
        assert_eq!(human(3 << 29), "1.5 GiB");
        assert_eq!(human(1000), "1000 B");
        assert_eq!(human(1024), "1 KiB");
        assert_eq!(human(0), "0 B");
    }

    #[test]
    fn a_token_longer_than_the_limit_fails_the_input() {
        let data = vec![b' '; (MAX_XML_TOKEN_BYTES + (1 << 20)) as usize];
        // Marked often enough: the whole input passes.
        let mut g = TokenGuard::new(io::BufReader::with_capacity(1 << 16, &data[..]));
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = g.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            g.mark();
        }
        // Never marked: it fails just past the limit, naming where the
        // token began.
        let mut g = TokenGuard::new(io::BufReader::with_capacity(1 << 16, &data[..]));
        g.read_exact(&mut buf[..100]).unwrap();
        g.mark();
        let e = std::io::copy(&mut g, &mut io::sink()).unwrap_err();
        let inner = e
            .get_ref()
            .unwrap()
            .downcast_ref::<StreamFailure>()
            .unwrap();
        assert!(
            matches!(inner, StreamFailure::TooLarge(Limit::Token { at: 100 })),
            "{inner:?}"
        );
        assert!(g.consumed <= 100 + MAX_XML_TOKEN_BYTES + (1 << 16));
    }
}
