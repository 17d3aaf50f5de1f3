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
use std::io::Write;
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

fn section(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

pub fn write(dir: &Path, repo: &Repo) -> Result<PathBuf> {
    let path = cache_path(dir, &repo.checksum);
    let err = |e: std::io::Error| RepodataError::Cache {
        path: path.clone(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let (arena, ends) = repo.strings.parts();
    let mut out = Vec::with_capacity(arena.len() + repo.deps.len() * 20 + repo.packages.len() * 80);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    section(&mut out, repo.checksum.as_bytes());
    section(&mut out, arena.as_bytes());
    section(&mut out, bytemuck::cast_slice(ends));
    section(&mut out, bytemuck::cast_slice(&repo.packages));
    section(&mut out, bytemuck::cast_slice(&repo.deps));
    section(&mut out, bytemuck::cast_slice(&repo.files));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(&out).map_err(err)?;
    tmp.persist(&path).map_err(|e| err(e.error))?;
    Ok(path)
}

/// Copies a section into records; `None` when its length is not a whole
/// number of records.
fn pod_vec<T: bytemuck::Pod>(bytes: &[u8]) -> Option<Vec<T>> {
    bytes
        .len()
        .is_multiple_of(std::mem::size_of::<T>())
        .then(|| bytemuck::pod_collect_to_vec(bytes))
}

struct Sections<'a> {
    data: &'a [u8],
}

impl<'a> Sections<'a> {
    fn next(&mut self) -> Option<&'a [u8]> {
        let len = u64::from_le_bytes(self.data.get(..8)?.try_into().ok()?) as usize;
        let body = self.data.get(8..8usize.checked_add(len)?)?;
        self.data = &self.data[8 + len..];
        Some(body)
    }
}

/// Loads a cached repository; `Ok(None)` when there is no usable entry.
pub fn read(dir: &Path, checksum: &str, id: &str, location: &str) -> Result<Option<Repo>> {
    let path = cache_path(dir, checksum);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(_) => return Ok(None),
    };
    let parsed = (|| {
        if data.get(..8)? != MAGIC || data.get(8..12)? != VERSION.to_le_bytes() {
            return None;
        }
        let mut s = Sections { data: &data[12..] };
        let sum = std::str::from_utf8(s.next()?).ok()?;
        if sum != checksum {
            return None;
        }
        let arena = String::from_utf8(s.next()?.to_vec()).ok()?;
        let ends: Vec<u32> = pod_vec(s.next()?)?;
        let packages: Vec<PkgRec> = pod_vec(s.next()?)?;
        let deps: Vec<DepRec> = pod_vec(s.next()?)?;
        let files: Vec<u32> = pod_vec(s.next()?)?;
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
