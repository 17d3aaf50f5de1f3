//! The frame of every file in the cache directory, shared by the
//! parsed-repository cache (`cache`) and the record store (`records`), so
//! that both check, map, write and age their files the same way.
//!
//! A cache file starts with a header (an eight-byte magic naming the
//! format, its version as `u32` little endian, four zero bytes) and may end
//! with a footer that locates its table of contents (offset `u64`, length
//! `u64`, CRC-32 of the table `u64`, the magic again). In between, each
//! format lays out sections padded to multiples of eight bytes, so tables of
//! plain-old-data are read in place from the mapped file (`Pods`).
//!
//! Files are written aside and renamed into place, never changed once
//! written: mapping them relies on it, and a reader never sees half a file.
//! Opening a file marks it used (its mtime), which is what `cache::prune`
//! orders entries by. Nothing read from a cache file is trusted: every
//! length and offset is checked against the file before use, and anything
//! that does not check out is a [`CacheFileError`].

use crate::pods::Pods;
use bytemuck::Pod;
use memmap2::Mmap;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

/// Magic, version, four zero bytes.
pub(crate) const HEADER_LEN: usize = 16;
/// Table offset, table length, CRC-32 of the table, magic.
pub(crate) const FOOTER_LEN: usize = 32;

/// Why a cache file cannot be used. It is then ignored (and rebuilt), or,
/// for a store built in memory, reported.
#[derive(Debug, thiserror::Error)]
pub enum CacheFileError {
    #[error("the file is too short")]
    TooShort,
    #[error("not a {0} (bad magic)")]
    Magic(&'static str),
    #[error("written by another version")]
    Version,
    #[error("the file is cut short (no footer)")]
    NoFooter,
    #[error("the footer is out of bounds")]
    Footer,
    #[error("the table of contents is damaged (CRC mismatch)")]
    Crc,
    #[error("{0} runs past the end of the file")]
    CutShort(&'static str),
    #[error("{0} is misaligned")]
    Misaligned(&'static str),
    /// The format's own checks of what it read.
    #[error("{0}")]
    Damaged(String),
    #[error("a block does not decompress: {0}")]
    Block(#[source] io::Error),
}

/// One format of cache file: its magic and version.
pub(crate) struct Format {
    pub magic: &'static [u8; 8],
    pub version: u32,
    /// What the format holds, for messages ("a record store").
    pub what: &'static str,
}

impl Format {
    pub(crate) fn write_header(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self.magic)?;
        out.write_all(&self.version.to_le_bytes())?;
        out.write_all(&[0; 4])
    }

    pub(crate) fn check_header(&self, bytes: &[u8]) -> Result<(), CacheFileError> {
        if bytes.len() < HEADER_LEN {
            return Err(CacheFileError::TooShort);
        }
        if &bytes[..8] != self.magic {
            return Err(CacheFileError::Magic(self.what));
        }
        if bytes[8..12] != self.version.to_le_bytes() {
            return Err(CacheFileError::Version);
        }
        Ok(())
    }

    /// Writes the table of contents `toc` (which starts at offset `at`, a
    /// multiple of eight) and the footer that locates it.
    pub(crate) fn write_toc(&self, out: &mut dyn Write, at: u64, toc: &[u8]) -> io::Result<()> {
        let mut crc = flate2::Crc::new();
        crc.update(toc);
        out.write_all(toc)?;
        out.write_all(&at.to_le_bytes())?;
        out.write_all(&(toc.len() as u64).to_le_bytes())?;
        out.write_all(&u64::from(crc.sum()).to_le_bytes())?;
        out.write_all(self.magic)
    }

    /// Checks the header and footer of a file with a table of contents,
    /// and the table's CRC; returns where the table lies.
    pub(crate) fn check_toc(&self, bytes: &[u8]) -> Result<(usize, usize), CacheFileError> {
        let len = bytes.len();
        if len < HEADER_LEN + FOOTER_LEN {
            return Err(CacheFileError::TooShort);
        }
        self.check_header(bytes)?;
        let footer = &bytes[len - FOOTER_LEN..];
        if &footer[24..] != self.magic {
            return Err(CacheFileError::NoFooter);
        }
        let word = |i: usize| u64::from_le_bytes(footer[i * 8..i * 8 + 8].try_into().expect("8"));
        let (at, toc_len, sum) = (word(0), word(1), word(2));
        if at < HEADER_LEN as u64
            || !at.is_multiple_of(8)
            || at.checked_add(toc_len) != Some((len - FOOTER_LEN) as u64)
        {
            return Err(CacheFileError::Footer);
        }
        let (at, toc_len) = (at as usize, toc_len as usize);
        let mut crc = flate2::Crc::new();
        crc.update(&bytes[at..at + toc_len]);
        if u64::from(crc.sum()) != sum {
            return Err(CacheFileError::Crc);
        }
        Ok((at, toc_len))
    }
}

/// A cache file's bytes: mapped from the file, or an image built in
/// memory (a record store without a cache directory) that reads the same.
pub(crate) enum Image {
    Memory(Vec<u8>),
    Mapped(Arc<Mmap>),
}

impl Image {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Image::Memory(v) => v,
            Image::Mapped(m) => m,
        }
    }

    /// A bounds-checked reader of `at..end` of the image.
    pub(crate) fn cursor(&self, at: usize, end: usize) -> Result<Cursor<'_>, CacheFileError> {
        if at > end || end > self.bytes().len() {
            return Err(CacheFileError::CutShort("a section"));
        }
        Ok(Cursor {
            image: self,
            at,
            end,
        })
    }
}

/// Opens and maps the cache file at `path`, marking it used; `None` when
/// there is none.
pub(crate) fn open(path: &Path) -> io::Result<Option<Image>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    touch(&file, &meta);
    map_len(&file, meta.len()).map(|m| Some(Image::Mapped(m)))
}

/// A file's bytes in place: mapped, or (where mapping fails) read into an
/// anonymous map, which reads the same way.
pub(crate) fn map(file: &File) -> io::Result<Arc<Mmap>> {
    map_len(file, file.metadata()?.len())
}

fn map_len(file: &File, len: u64) -> io::Result<Arc<Mmap>> {
    let len = usize::try_from(len).map_err(io::Error::other)?;
    // Safe because cache files are never changed in place: they are written
    // aside and renamed over (see the module's documentation). The length
    // is given: the caller has it, and asking again is a system call per
    // entry (hundreds for a deep stack).
    if let Ok(map) = unsafe { memmap2::MmapOptions::new().len(len).map(file) } {
        if map.len() == len {
            return Ok(Arc::new(map));
        }
    }
    let mut anon = memmap2::MmapMut::map_anon(len)?;
    io::Read::read_exact(&mut &*file, &mut anon)?;
    Ok(Arc::new(anon.make_read_only()?))
}

/// Marks an entry as used now (its mtime), for `cache::prune`, unless it
/// was marked within [`TOUCH_EVERY`]: a deep stack opens hundreds of
/// entries per compose, and each mark is a metadata write. A cache shared
/// with other users, whose files this user may not touch, only ages them
/// sooner.
pub(crate) fn touch(file: &File, meta: &std::fs::Metadata) {
    let now = SystemTime::now();
    let recent = meta
        .modified()
        .ok()
        .and_then(|m| now.duration_since(m).ok())
        .is_some_and(|age| age < TOUCH_EVERY);
    if !recent {
        let _ = file.set_modified(now);
    }
}

/// How stale an entry's last-use mark may be: far below any prune age.
const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Writes the file at `path` aside (a temporary file in the same
/// directory, created if need be) and renames it into place once `fill`
/// has written all of it.
pub(crate) fn write_aside(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    let mut out = io::BufWriter::with_capacity(1 << 16, tmp);
    fill(&mut out)?;
    let tmp = out.into_inner().map_err(|e| e.into_error())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Zero bytes up to the next multiple of eight, so that what follows is
/// aligned for tables (`written` bytes so far).
pub(crate) fn pad8(out: &mut dyn Write, written: u64) -> io::Result<()> {
    let pad = written.next_multiple_of(8) - written;
    out.write_all(&[0; 8][..pad as usize])
}

/// Reads a region of an image with bounds checks.
pub(crate) struct Cursor<'a> {
    image: &'a Image,
    at: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn is_done(&self) -> bool {
        self.at == self.end
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], CacheFileError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&e| e <= self.end)
            .ok_or(CacheFileError::CutShort("a section"))?;
        let s = &self.image.bytes()[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, CacheFileError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// A length as `u64`, which must fit the address space.
    pub(crate) fn len(&mut self) -> Result<usize, CacheFileError> {
        usize::try_from(self.u64()?).map_err(|_| CacheFileError::CutShort("a length"))
    }

    /// Skips the padding to the next multiple of eight.
    pub(crate) fn pad8(&mut self) -> Result<(), CacheFileError> {
        let padded = self.at.next_multiple_of(8);
        self.take(padded - self.at).map(|_| ())
    }

    /// A section: its length, its bytes, padding.
    pub(crate) fn section(&mut self) -> Result<&'a [u8], CacheFileError> {
        let len = self.len()?;
        let bytes = self.take(len)?;
        self.pad8()?;
        Ok(bytes)
    }

    /// A section of records; an error when its length is not a whole
    /// number of them.
    pub(crate) fn pods_section<T: Pod>(&mut self) -> Result<Pods<T>, CacheFileError> {
        let len = self.len()?;
        let size = std::mem::size_of::<T>();
        if !len.is_multiple_of(size) {
            return Err(CacheFileError::Damaged(
                "a table's length is not a whole number of records".into(),
            ));
        }
        let table = self.table(len / size)?;
        self.pad8()?;
        Ok(table)
    }

    /// `n` records of a table, read in place where the image is mapped.
    pub(crate) fn table<T: Pod>(&mut self, n: usize) -> Result<Pods<T>, CacheFileError> {
        let len = n
            .checked_mul(std::mem::size_of::<T>())
            .ok_or(CacheFileError::CutShort("a table"))?;
        let at = self.at;
        let raw = self.take(len)?;
        match self.image {
            Image::Mapped(map) => {
                Pods::mapped(map, at, n).ok_or(CacheFileError::Misaligned("a table"))
            }
            Image::Memory(_) => Ok(Pods::from(bytemuck::pod_collect_to_vec(raw))),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const F: Format = Format {
        magic: b"STRATST\0",
        version: 7,
        what: "test file",
    };

    fn image(toc: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        F.write_header(&mut out).unwrap();
        out.extend_from_slice(&[1, 2, 3]);
        pad8(&mut out, 19).unwrap();
        F.write_toc(&mut out, 24, toc).unwrap();
        out
    }

    #[test]
    fn checks_header_footer_and_crc() {
        let good = image(b"12345678");
        assert_eq!(F.check_toc(&good).unwrap(), (24, 8));
        // Every cut is refused, as is any changed byte of the frame.
        for n in 0..good.len() {
            assert!(F.check_toc(&good[..n]).is_err(), "cut at {n}");
        }
        for at in (0..12).chain(24..good.len()) {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            assert!(F.check_toc(&bad).is_err(), "byte {at}");
        }
        let mut other = good.clone();
        other[8] = 6;
        assert!(matches!(F.check_toc(&other), Err(CacheFileError::Version)));
        other[0] = b'X';
        let e = F.check_toc(&other).unwrap_err().to_string();
        assert_eq!(e, "not a test file (bad magic)");
    }

    #[test]
    fn cursor_stays_in_bounds_and_reads_tables_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/f");
        write_aside(&path, |out| {
            F.write_header(out)?;
            out.write_all(&12u64.to_le_bytes())?;
            out.write_all(bytemuck::cast_slice(&[7u32, 8, 9]))?;
            pad8(out, 36)
        })
        .unwrap();
        // Written whole, with no temporary file left beside it.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
        let image = open(&path).unwrap().unwrap();
        F.check_header(image.bytes()).unwrap();
        let mut c = image.cursor(HEADER_LEN, image.bytes().len()).unwrap();
        let t: Pods<u32> = c.pods_section().unwrap();
        assert!(t.is_mapped());
        assert_eq!(&t[..], &[7, 8, 9]);
        assert!(c.is_done());
        assert!(c.u64().is_err());
        let mut c = image.cursor(HEADER_LEN, image.bytes().len()).unwrap();
        assert!(c.table::<u64>(usize::MAX).is_err());
        assert!(image.cursor(0, image.bytes().len() + 1).is_err());
        assert!(open(&dir.path().join("none")).unwrap().is_none());
    }

    #[test]
    fn an_entry_is_marked_used_unless_it_was_marked_lately() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entry");
        std::fs::write(&path, b"bytes").unwrap();
        let mark = |ago: u64| {
            let at = SystemTime::now() - std::time::Duration::from_secs(ago);
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(at)
                .unwrap();
            at
        };
        let mtime = || std::fs::metadata(&path).unwrap().modified().unwrap();
        // Marked a minute ago: left as it is (no metadata write).
        let lately = mark(60);
        assert_eq!(open(&path).unwrap().unwrap().bytes(), b"bytes");
        assert_eq!(mtime(), lately);
        // Marked an hour ago: marked now.
        let old = mark(3600);
        open(&path).unwrap().unwrap();
        assert!(mtime() > old + std::time::Duration::from_secs(3000));
    }
}
