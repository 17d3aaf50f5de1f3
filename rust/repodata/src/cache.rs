//! The parsed-repository cache: one file per primary.xml checksum, so a
//! second run over unchanged metadata skips decompression and parsing.
//!
//! Layout (little endian): magic, format version, then length-prefixed
//! sections: checksum, string arena, string ends, packages, deps, files.
//! Records are plain-old-data and are copied in without per-field decoding.
//! Files are written aside and renamed into place, so a reader never sees
//! half a cache file; anything that does not validate is ignored and
//! rebuilt.

use crate::error::{RepodataError, Result};
use crate::repo::{DepRec, PkgRec, Repo};
use crate::strings::StringPool;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"STRATAR\0";
const VERSION: u32 = 1;

/// The cache file for a primary checksum (`type:hex`).
pub fn cache_path(dir: &Path, checksum: &str) -> PathBuf {
    let safe: String = checksum
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    dir.join(format!("{safe}.v{VERSION}.repo"))
}

pub fn write(dir: &Path, repo: &Repo) -> Result<PathBuf> {
    let path = cache_path(dir, &repo.checksum);
    let err = |e: std::io::Error| RepodataError::Cache {
        path: path.clone(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let (arena, ends) = repo.strings.parts();
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    // Sections go to the file as they lie in memory, without a copy of
    // the whole image.
    let sections: [&[u8]; 6] = [
        repo.checksum.as_bytes(),
        arena.as_bytes(),
        bytemuck::cast_slice(ends),
        bytemuck::cast_slice(&repo.packages),
        bytemuck::cast_slice(&repo.deps),
        bytemuck::cast_slice(&repo.files),
    ];
    let mut head = Vec::with_capacity(12);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&VERSION.to_le_bytes());
    let file = tmp.as_file_mut();
    file.write_all(&head).map_err(err)?;
    for bytes in sections {
        file.write_all(&(bytes.len() as u64).to_le_bytes())
            .map_err(err)?;
        file.write_all(bytes).map_err(err)?;
    }
    tmp.persist(&path).map_err(|e| err(e.error))?;
    Ok(path)
}

/// Reads a cache file section by section straight into the vectors the
/// repository keeps: one copy from the page cache, no buffer of the whole
/// file.
struct SectionReader {
    file: std::io::BufReader<std::fs::File>,
    /// Bytes not yet read, so that a damaged length cannot make it
    /// allocate more than the file holds.
    left: u64,
}

impl SectionReader {
    fn bytes(&mut self, len: usize) -> Option<Vec<u8>> {
        let mut v = vec![0u8; len];
        self.file.read_exact(&mut v).ok()?;
        self.left = self.left.saturating_sub(len as u64);
        Some(v)
    }

    /// The next section's length, checked against what is left.
    fn len(&mut self) -> Option<usize> {
        let mut word = [0u8; 8];
        self.file.read_exact(&mut word).ok()?;
        self.left = self.left.checked_sub(8)?;
        let len = u64::from_le_bytes(word);
        (len <= self.left).then_some(len as usize)
    }

    fn section(&mut self) -> Option<Vec<u8>> {
        let len = self.len()?;
        self.bytes(len)
    }

    /// A section of plain-old-data records; `None` when its length is not
    /// a whole number of them.
    fn pods<T: bytemuck::Pod>(&mut self) -> Option<Vec<T>> {
        let len = self.len()?;
        let size = std::mem::size_of::<T>();
        if !len.is_multiple_of(size) {
            return None;
        }
        let mut v: Vec<T> = bytemuck::zeroed_vec(len / size);
        self.file
            .read_exact(bytemuck::cast_slice_mut(&mut v))
            .ok()?;
        self.left = self.left.saturating_sub(len as u64);
        Some(v)
    }
}

/// Loads a cached repository; `Ok(None)` when there is no usable entry.
pub fn read(dir: &Path, checksum: &str, id: &str, location: &str) -> Result<Option<Repo>> {
    let path = cache_path(dir, checksum);
    let Ok(file) = std::fs::File::open(&path) else {
        return Ok(None);
    };
    let Ok(meta) = file.metadata() else {
        return Ok(None);
    };
    let parsed = (|| {
        // Large sections are read past the buffer, straight into place.
        let mut s = SectionReader {
            file: std::io::BufReader::with_capacity(1 << 12, file),
            left: meta.len(),
        };
        let head = s.bytes(12)?;
        if head[..8] != MAGIC[..] || head[8..12] != VERSION.to_le_bytes() {
            return None;
        }
        let sum = s.section()?;
        if sum != checksum.as_bytes() {
            return None;
        }
        let arena = String::from_utf8(s.section()?).ok()?;
        let ends: Vec<u32> = s.pods()?;
        let packages: Vec<PkgRec> = s.pods()?;
        let deps: Vec<DepRec> = s.pods()?;
        let files: Vec<u32> = s.pods()?;
        let strings = StringPool::from_parts(arena, ends)?;
        let repo = Repo {
            id: id.to_string(),
            location: location.to_string(),
            checksum: checksum.to_string(),
            strings,
            packages,
            deps,
            files,
        };
        validate(&repo).then_some(repo)
    })();
    if parsed.is_none() {
        tracing::warn!(path = %path.display(), "ignoring an unusable cache file");
    }
    Ok(parsed)
}

/// Every index in range, so the accessors cannot panic on a damaged file.
fn validate(repo: &Repo) -> bool {
    let nstr = repo.strings.len() as u32;
    let ok_str = |id: u32| id < nstr;
    let deps_ok = repo.deps.iter().all(|d| {
        ok_str(d.name) && ok_str(d.epoch) && ok_str(d.version) && ok_str(d.release) && d.flags < 8
    });
    let files_ok = repo.files.iter().all(|&f| ok_str(f));
    deps_ok
        && files_ok
        && repo.packages.iter().all(|p| {
            [
                p.name,
                p.arch,
                p.epoch,
                p.version,
                p.release,
                p.location,
                p.checksum,
                p.sourcerpm,
            ]
            .iter()
            .all(|&s| ok_str(s))
                && p.deps_ends.windows(2).all(|w| w[0] <= w[1])
                && (p.deps_start as usize + p.deps_ends[3] as usize) <= repo.deps.len()
                && (p.files_start as usize + p.files_len as usize) <= repo.files.len()
        })
}

#[cfg(test)]
mod test {
    use super::*;

    fn sample() -> Repo {
        let mut repo = Repo::empty("r", "/r", "sha256:00ff");
        let s = &mut repo.strings;
        let (name, arch, ver) = (s.intern("bash"), s.intern("x86_64"), s.intern("5.2"));
        let file = s.intern("/usr/bin/bash");
        repo.deps.push(DepRec {
            name,
            ..Default::default()
        });
        repo.files.push(file);
        repo.packages.push(PkgRec {
            name,
            arch,
            version: ver,
            deps_ends: [1, 1, 1, 1],
            files_len: 1,
            ..Default::default()
        });
        repo
    }

    #[test]
    fn reads_back_what_it_wrote_and_refuses_damaged_files() {
        let dir = tempfile::tempdir().unwrap();
        let repo = sample();
        let path = write(dir.path(), &repo).unwrap();
        let back = read(dir.path(), &repo.checksum, "x", "/x")
            .unwrap()
            .unwrap();
        assert_eq!((back.id.as_str(), back.location.as_str()), ("x", "/x"));
        assert_eq!(back.strings.len(), repo.strings.len());
        assert_eq!(back.package(0).name(), "bash");
        assert_eq!(
            back.package(0).files().collect::<Vec<_>>(),
            ["/usr/bin/bash"]
        );
        assert_eq!(back.deps, repo.deps);
        // Another checksum: not this entry.
        assert!(read(dir.path(), "sha256:0000", "x", "/x")
            .unwrap()
            .is_none());

        let good = std::fs::read(&path).unwrap();
        let mut damaged: Vec<Vec<u8>> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
        // A length far larger than the file, an odd record length, a
        // string id out of range, another version.
        let mut huge = good.clone();
        huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        damaged.push(huge);
        let arena_len_at = 12 + 8 + repo.checksum.len();
        let mut odd = good.clone();
        let ends_at = arena_len_at + 8 + repo.strings.parts().0.len();
        odd[ends_at] += 1;
        damaged.push(odd);
        let mut out_of_range = good.clone();
        let pkg_at = ends_at + 8 + 4 * repo.strings.len() + 8;
        out_of_range[pkg_at..pkg_at + 4].copy_from_slice(&99u32.to_le_bytes());
        damaged.push(out_of_range);
        let mut version = good.clone();
        version[8] ^= 1;
        damaged.push(version);
        for bytes in damaged {
            std::fs::write(&path, &bytes).unwrap();
            assert!(read(dir.path(), &repo.checksum, "x", "/x")
                .unwrap()
                .is_none());
        }
    }
}
