//! Putting a package payload into a new repository: a hardlink when the
//! filesystem allows, else a reflink, else a copy; a download streamed to
//! disk. The destination is always created new: an existing file there is
//! an error, never truncated or written through (it might be a hardlink
//! to anything). What is copied or downloaded is checksummed on the way,
//! which costs nothing extra; a hardlink or reflink shares the source's
//! own bytes, whose size was checked when it was opened.

use crate::confined::ConfinedFile;
use crate::source::Hasher;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// How a payload got to its destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    Hardlinked,
    Reflinked,
    Copied,
    Downloaded,
}

/// Why a payload was not placed. The messages complete "package … at …:".
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("its size is {actual} bytes, the source metadata says {expected}")]
    Size { expected: u64, actual: u64 },
    #[error(
        "the server sent more than the {expected} bytes the source metadata says it has; \
         the download was stopped there"
    )]
    TooLarge { expected: u64 },
    #[error("the download ended after {actual} bytes, the source metadata says {expected}")]
    Short { expected: u64, actual: u64 },
    #[error("{kind} is {actual}, the source metadata says {expected}")]
    Checksum {
        kind: String,
        expected: String,
        actual: String,
    },
    #[error("cannot verify a `{0}` checksum")]
    ChecksumType(String),
    #[error("cannot read it")]
    Read(#[source] io::Error),
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Checks `file` (read from its start) against `checksum` (`type:hex`).
pub fn verify(file: &File, checksum: &str) -> Result<(), PlaceError> {
    let mut r = file;
    r.rewind().map_err(PlaceError::Read)?;
    let (mut hasher, expected) = hasher(checksum)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = read_some(&mut r, &mut buf).map_err(PlaceError::Read)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    compare(hasher, expected)
}

/// Puts the opened file at `dest` (which must not exist): hardlinked,
/// else reflinked, else copied and checked against `checksum`.
pub fn place_local(f: &ConfinedFile, dest: &Path, checksum: &str) -> Result<Placed, PlaceError> {
    let write = |source| PlaceError::Write {
        path: dest.to_path_buf(),
        source,
    };
    if f.link_to(dest).map_err(write)? {
        return Ok(Placed::Hardlinked);
    }
    let out = create_new(dest)?;
    if rustix::fs::ioctl_ficlone(&out, f.file()).is_ok() {
        return Ok(Placed::Reflinked);
    }
    let mut src = f.file();
    src.rewind().map_err(PlaceError::Read)?;
    finish(copy(&mut src, out, None, checksum, dest), dest).map(|_| Placed::Copied)
}

/// Streams a download into `dest` (which must not exist), through the
/// hasher, reading no more than `size` bytes (and one more, to notice a
/// server that sends more than the metadata announces).
pub fn download(
    r: &mut dyn Read,
    size: u64,
    dest: &Path,
    checksum: &str,
) -> Result<Placed, PlaceError> {
    let out = create_new(dest)?;
    let mut limited = r.take(size.saturating_add(1));
    let n = finish(copy(&mut limited, out, Some(size), checksum, dest), dest)?;
    debug_assert_eq!(n, size);
    Ok(Placed::Downloaded)
}

fn create_new(dest: &Path) -> Result<File, PlaceError> {
    File::options()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(|source| PlaceError::Write {
            path: dest.to_path_buf(),
            source,
        })
}

/// Removes what a failed copy left.
fn finish(r: Result<u64, PlaceError>, dest: &Path) -> Result<u64, PlaceError> {
    if r.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    r
}

/// Copies `r` into `out`, hashing; with `size`, more than `size` bytes
/// (or fewer) is an error.
fn copy(
    r: &mut dyn Read,
    mut out: File,
    size: Option<u64>,
    checksum: &str,
    dest: &Path,
) -> Result<u64, PlaceError> {
    let (mut hasher, expected) = hasher(checksum)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = read_some(r, &mut buf).map_err(PlaceError::Read)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if let Some(size) = size.filter(|&s| total > s) {
            return Err(PlaceError::TooLarge { expected: size });
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|source| PlaceError::Write {
                path: dest.to_path_buf(),
                source,
            })?;
    }
    if let Some(size) = size.filter(|&s| total != s) {
        return Err(PlaceError::Short {
            expected: size,
            actual: total,
        });
    }
    compare(hasher, expected)?;
    Ok(total)
}

fn read_some(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// A hasher for `type:hex` and the expected hex.
fn hasher(checksum: &str) -> Result<(Hasher, (&str, &str)), PlaceError> {
    let (kind, hex) = checksum.split_once(':').unwrap_or(("sha256", checksum));
    let h = Hasher::new(kind).ok_or_else(|| PlaceError::ChecksumType(kind.to_string()))?;
    Ok((h, (kind, hex)))
}

fn compare(hasher: Hasher, (kind, hex): (&str, &str)) -> Result<(), PlaceError> {
    let digest = hasher.finish();
    if digest.eq_ignore_ascii_case(hex) {
        Ok(())
    } else {
        Err(PlaceError::Checksum {
            kind: kind.to_string(),
            expected: hex.to_string(),
            actual: digest,
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::confined::{open, Symlinks};
    use sha2::Digest;

    fn sum(b: &[u8]) -> String {
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
    }

    #[test]
    fn places_exclusively() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("x.rpm"), b"payload").unwrap();
        let f = open(t.path(), "x.rpm", Symlinks::Refuse).unwrap();
        let dest = t.path().join("out.rpm");
        assert_eq!(
            place_local(&f, &dest, &sum(b"payload")).unwrap(),
            Placed::Hardlinked
        );
        // A second time, over what is there now: refused, nothing written.
        let e = place_local(&f, &dest, &sum(b"payload")).unwrap_err();
        assert!(
            matches!(&e, PlaceError::Write { source, .. } if source.kind() == io::ErrorKind::AlreadyExists),
            "{e:?}"
        );
        verify(f.file(), &sum(b"payload")).unwrap();
        let e = verify(f.file(), &sum(b"other")).unwrap_err();
        assert!(e.to_string().contains("the source metadata says"), "{e}");
    }

    #[test]
    fn downloads_stop_at_the_announced_size() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("d.rpm");
        let body = b"0123456789";
        download(&mut &body[..], 10, &dest, &sum(body)).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), body);
        // An endless body is cut off one byte past the announced size.
        let dest = t.path().join("e.rpm");
        let mut endless = io::repeat(b'x');
        let e = download(&mut endless, 10, &dest, &sum(body)).unwrap_err();
        assert!(matches!(e, PlaceError::TooLarge { expected: 10 }), "{e:?}");
        assert!(!dest.exists(), "a failed download leaves nothing");
        let e = download(&mut &body[..4], 10, &dest, &sum(body)).unwrap_err();
        assert!(matches!(e, PlaceError::Short { actual: 4, .. }), "{e:?}");
        let e = download(&mut &b"9876543210"[..], 10, &dest, &sum(body)).unwrap_err();
        assert!(matches!(e, PlaceError::Checksum { .. }), "{e:?}");
        assert!(!dest.exists());
        // Never over an existing file.
        std::fs::write(&dest, b"keep").unwrap();
        assert!(download(&mut &body[..], 10, &dest, &sum(body)).is_err());
        assert_eq!(std::fs::read(&dest).unwrap(), b"keep");
    }
}
