//! The parsed-repository cache: one file per primary.xml checksum, so a
//! second run over unchanged metadata skips decompression and parsing.
//!
//! Layout (little endian): the header of `cache_file`, then
//! length-prefixed sections, each padded to a multiple of eight bytes:
//! checksum, string arena, string ends, packages, deps, files. Records are
//! plain-old-data and aligned in the file, so a loaded repository maps the
//! file and reads them in place (see `pods`); everything is validated
//! before use. Writing aside, mapping and marking use are `cache_file`'s;
//! anything that does not validate is ignored and rebuilt.
//!
//! The cache directory also holds the record stores (`records`). Both
//! kinds of entry are pruned by [`prune`]: after an entry is written
//! (against `[cache]` in strata.toml), and by `strata cache prune`. An
//! entry's mtime is its last use (a hit sets it), so the least recently
//! used go first. Removing is safe while other processes use an entry:
//! what they have mapped stays mapped after the unlink, and entries being
//! written have temporary names until they are complete.

use crate::cache_file::{self, CacheFileError, Format, Image, HEADER_LEN};
use crate::error::{RepodataError, Result};
use crate::pods::Pods;
use crate::repo::{DepRec, PkgRec, Repo};
use crate::strings::StringPool;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const FORMAT: Format = Format {
    magic: b"STRATAR\0",
    // 2: sections aligned to eight bytes. 3: only from metadata that
    // passed the checks of `wellformed` (an older cache may hold a
    // repository parsed without them). 4: only from metadata read within
    // `limits` (its `<open-size>` matched, no XML token past its bound),
    // which a cache of 3 was not checked against.
    version: 4,
    what: "parsed-repository cache file",
};

/// The cache file for a primary checksum (`type:hex`).
pub fn cache_path(dir: &Path, checksum: &str) -> PathBuf {
    let safe: String = checksum
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    dir.join(format!("{safe}.v{}.repo", FORMAT.version))
}

/// Writes the cache file of `repo` into `dir`; returns its path.
pub fn write(dir: &Path, repo: &Repo) -> Result<PathBuf> {
    let path = cache_path(dir, &repo.checksum);
    let (arena, ends) = repo.strings.parts();
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
    cache_file::write_aside(&path, |out| {
        FORMAT.write_header(out)?;
        for bytes in sections {
            out.write_all(&(bytes.len() as u64).to_le_bytes())?;
            out.write_all(bytes)?;
            cache_file::pad8(out, bytes.len() as u64)?;
        }
        Ok(())
    })
    .map_err(|source| RepodataError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Loads a cached repository; `Ok(None)` when there is no usable entry
/// (one that does not check out is ignored with a warning, and rebuilt).
pub fn read(dir: &Path, checksum: &str, id: &str, location: &str) -> Result<Option<Repo>> {
    let path = cache_path(dir, checksum);
    let image = match cache_file::open(&path) {
        Ok(Some(image)) => image,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::warn!(path = %path.display(), "cannot open a cache file, ignoring it: {e}");
            return Ok(None);
        }
    };
    match decode(&image, checksum, id, location) {
        Ok(repo) => Ok(Some(repo)),
        Err(reason) => {
            tracing::warn!(path = %path.display(), "ignoring an unusable cache file: {reason}");
            Ok(None)
        }
    }
}

fn decode(
    image: &Image,
    checksum: &str,
    id: &str,
    location: &str,
) -> std::result::Result<Repo, CacheFileError> {
    let bytes = image.bytes();
    FORMAT.check_header(bytes)?;
    let mut c = image.cursor(HEADER_LEN, bytes.len())?;
    if c.section()? != checksum.as_bytes() {
        return Err(CacheFileError::Damaged(
            "it was written for another primary.xml".into(),
        ));
    }
    let arena: Pods<u8> = c.pods_section()?;
    let ends: Pods<u32> = c.pods_section()?;
    let packages: Pods<PkgRec> = c.pods_section()?;
    let deps: Pods<DepRec> = c.pods_section()?;
    let files: Pods<u32> = c.pods_section()?;
    let strings = StringPool::from_pods(arena, ends)
        .ok_or_else(|| CacheFileError::Damaged("its strings are damaged".into()))?;
    let repo = Repo {
        id: id.to_string(),
        location: location.to_string(),
        checksum: checksum.to_string(),
        strings,
        packages,
        deps,
        files,
    };
    if !validate(&repo) {
        return Err(CacheFileError::Damaged(
            "a package refers past its tables".into(),
        ));
    }
    Ok(repo)
}

/// `[cache]` in strata.toml: how large and how old a cache directory's
/// entries may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheLimits {
    /// Bytes of all entries together; the least recently used go first.
    pub max_size: u64,
    /// Entries unused for longer go.
    pub max_age: Duration,
}

impl Default for CacheLimits {
    /// 10 GiB: a few dozen Fedora-sized repositories with their records.
    fn default() -> Self {
        CacheLimits {
            max_size: 10 << 30,
            max_age: Duration::from_secs(30 * 86400),
        }
    }
}

/// Temporary files of writes that never finished (a killed process) are
/// removed once they are this old; a write takes seconds.
const LEFTOVER_AGE: Duration = Duration::from_secs(86400);

/// Why an entry goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneReason {
    /// Unused for longer than `max_age`.
    Age,
    /// The least recently used, while the entries exceed `max_size`.
    Size,
    /// The temporary file of a write that never finished.
    Leftover,
}

/// One file a prune removed (or would remove).
#[derive(Debug, Clone)]
pub struct PrunedFile {
    pub path: PathBuf,
    pub bytes: u64,
    /// Since its last use (or write).
    pub unused_for: Duration,
    pub reason: PruneReason,
}

/// What a prune did.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    /// Oldest first.
    pub removed: Vec<PrunedFile>,
    pub kept: usize,
    pub kept_bytes: u64,
}

impl Pruned {
    pub fn freed(&self) -> u64 {
        self.removed.iter().map(|r| r.bytes).sum()
    }
}

/// What the cache directory holds that a prune may remove: parsed
/// repositories (`<checksum>.v<N>.repo`), record stores
/// (`records-<key>.v<N>.strata`), verification memos
/// (`verified-<key>.strata`), kept gzip members of whole-stack
/// repositories (`gzpart-<key>-<n>.strata`), stacks' memos
/// (`stack-<key>.strata`), and temporary files (`.tmp…`).
pub(crate) fn entry_kind(name: &str) -> Option<bool> {
    if name.starts_with(".tmp") {
        Some(false)
    } else if (name.ends_with(".repo") && name.contains(".v"))
        || ((name.starts_with("records-")
            || name.starts_with("verified-")
            || name.starts_with("gzpart-")
            || name.starts_with("stack-"))
            && name.ends_with(".strata"))
    {
        Some(true)
    } else {
        None
    }
}

/// Removes the entries of cache directory `dir` that are older than
/// `limits.max_age`, then the least recently used while the rest exceed
/// `limits.max_size`, and temporary files left over by writes that never
/// finished; never `keep` (the entry just written). With `dry_run`, only
/// says what it would remove. Other files are left alone.
pub fn prune(
    dir: &Path,
    limits: &CacheLimits,
    keep: Option<&Path>,
    dry_run: bool,
) -> Result<Pruned> {
    let err = |source: std::io::Error| RepodataError::Io {
        path: dir.display().to_string(),
        source,
    };
    let now = SystemTime::now();
    let mut entries = Vec::new();
    let mut leftovers = Vec::new();
    for item in std::fs::read_dir(dir).map_err(err)? {
        let item = item.map_err(err)?;
        let name = item.file_name();
        let Some(is_entry) = name.to_str().and_then(entry_kind) else {
            continue;
        };
        // Another process may have removed it meanwhile.
        let Ok(meta) = item.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let unused_for = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        let file = PrunedFile {
            path: item.path(),
            bytes: meta.len(),
            unused_for,
            reason: PruneReason::Leftover,
        };
        if is_entry {
            entries.push(file);
        } else if unused_for > LEFTOVER_AGE {
            leftovers.push(file);
        }
    }
    // Least recently used first.
    entries.sort_by(|a, b| b.unused_for.cmp(&a.unused_for).then(a.path.cmp(&b.path)));
    let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
    let mut pruned = Pruned::default();
    for mut e in entries {
        let kept = keep == Some(e.path.as_path());
        e.reason = if e.unused_for > limits.max_age {
            PruneReason::Age
        } else {
            PruneReason::Size
        };
        if kept || (e.reason == PruneReason::Size && total <= limits.max_size) {
            pruned.kept += 1;
            pruned.kept_bytes += e.bytes;
            continue;
        }
        total -= e.bytes;
        pruned.removed.push(e);
    }
    pruned.removed.extend(leftovers);
    pruned
        .removed
        .sort_by(|a, b| b.unused_for.cmp(&a.unused_for).then(a.path.cmp(&b.path)));
    if !dry_run {
        pruned
            .removed
            .retain(|e| match std::fs::remove_file(&e.path) {
                Ok(()) => true,
                // Removed by another prune meanwhile: not ours to count.
                Err(x) if x.kind() == std::io::ErrorKind::NotFound => false,
                Err(x) => {
                    tracing::warn!(path = %e.path.display(), "cannot remove a cache entry: {x}");
                    false
                }
            });
    }
    Ok(pruned)
}

/// Prunes `dir` after `written` was added to it. A cache that cannot be
/// pruned only costs disk space: a warning.
pub(crate) fn prune_after_write(dir: &Path, limits: &CacheLimits, written: &Path) {
    match prune(dir, limits, Some(written), false) {
        Ok(p) => {
            for r in &p.removed {
                tracing::info!(path = %r.path.display(), bytes = r.bytes, reason = ?r.reason, "pruned a cache entry");
            }
        }
        Err(e) => tracing::warn!("{e}"),
    }
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

    #[test]
    fn every_kind_of_entry_is_pruned_and_nothing_else() {
        for (name, kind) in [
            ("sha256-ab.v4.repo", Some(true)),
            ("records-ab.v2.strata", Some(true)),
            ("verified-0123abcd.strata", Some(true)),
            (".tmp-verified-x", Some(false)),
            ("notes.txt", None),
            ("verified-x.txt", None),
        ] {
            assert_eq!(entry_kind(name), kind, "{name}");
        }
    }

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
    fn every_index_out_of_range_is_refused() {
        let repo = sample();
        assert!(validate(&repo));
        let n = repo.strings.len() as u32;
        let bad_pkg: [fn(&mut PkgRec, u32); 11] = [
            |p, n| p.name = n,
            |p, n| p.arch = n,
            |p, n| p.epoch = n,
            |p, n| p.version = n,
            |p, n| p.release = n,
            |p, n| p.location = n,
            |p, n| p.checksum = n,
            |p, n| p.sourcerpm = n,
            |p, _| p.deps_ends = [1, 0, 1, 1],
            |p, _| p.deps_start = u32::MAX,
            |p, _| p.files_len = 2,
        ];
        for (i, spoil) in bad_pkg.iter().enumerate() {
            let mut r = sample();
            let mut p = r.packages[0];
            spoil(&mut p, n);
            r.packages = vec![p].into();
            assert!(!validate(&r), "package field {i}");
        }
        let bad_dep: [fn(&mut DepRec, u32); 5] = [
            |d, n| d.name = n,
            |d, n| d.epoch = n,
            |d, n| d.version = n,
            |d, n| d.release = n,
            |d, _| d.flags = 8,
        ];
        for (i, spoil) in bad_dep.iter().enumerate() {
            let mut r = sample();
            let mut d = r.deps[0];
            spoil(&mut d, n);
            r.deps = vec![d].into();
            assert!(!validate(&r), "dependency field {i}");
        }
        let mut r = sample();
        r.files = vec![n].into();
        assert!(!validate(&r), "file");
        // The largest ID in range is fine.
        let mut r = sample();
        r.files = vec![n - 1].into();
        assert!(validate(&r));
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
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        damaged.push(huge);
        let padded = |n: usize| n.next_multiple_of(8);
        let arena_len_at = 16 + 8 + padded(repo.checksum.len());
        let ends_len_at = arena_len_at + 8 + padded(repo.strings.parts().0.len());
        let mut odd = good.clone();
        odd[ends_len_at] += 1;
        damaged.push(odd);
        let mut out_of_range = good.clone();
        let pkg_at = ends_len_at + 8 + padded(4 * repo.strings.len()) + 8;
        out_of_range[pkg_at..pkg_at + 4].copy_from_slice(&99u32.to_le_bytes());
        damaged.push(out_of_range);
        // Not a character boundary in the arena.
        let mut split = good.clone();
        split[arena_len_at + 8] = 0xc3;
        damaged.push(split);
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
