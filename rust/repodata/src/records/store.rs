//! The record store API: [`RecordStore`] (the records of one repository,
//! by package index) and the `Source` it is built from (the repository's
//! location and its three repomd entries), which opens the store from its
//! cache file when that validates and otherwise streams the three files,
//! cuts them into records and writes the cache file; a damaged cache file
//! met while reading is rebuilt from the source.

use super::blocks::{read_records, Blocks, RecEntry};
use super::idents::{check_against_repo, match_to_primary, minimal_record};
use super::index::{Backing, FORMAT};
use super::scan::{parse_and_scan_primary, scan, Scanned};
use super::{Kind, PackageRecords};
use crate::cache_file::{self, CacheFileError, Image};
use crate::error::{RepodataError, Result};
use crate::limits::MAX_RECORD_BYTES;
use crate::repomd::{Repomd, RepomdEntry};
use crate::source::{self, Location};
use crate::{LoadOptions, Repo};
use sha2::Digest;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

fn cache_io(e: io::Error) -> RepodataError {
    RepodataError::Io {
        path: "record store".into(),
        source: e,
    }
}

/// What a store was built from, so it can be built again.
pub(crate) struct Source {
    /// The repository's name, for messages.
    repo: String,
    location: Location,
    entries: [Option<RepomdEntry>; 3],
    key: String,
    cache_file: Option<PathBuf>,
    cache_limits: crate::CacheLimits,
}

/// The raw records of one repository, by package index (primary order).
pub struct RecordStore {
    source: Source,
    n: usize,
    backing: RwLock<Arc<Backing>>,
    from_cache: bool,
}

impl std::fmt::Debug for RecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStore")
            .field("location", &self.source.location)
            .field("packages", &self.n)
            .field("cache_file", &self.source.cache_file)
            .field("from_cache", &self.from_cache)
            .finish()
    }
}

/// Opens the raw records of `repo`: from the cache when a cache file for
/// the same repomd checksums exists and validates, else by streaming
/// primary, filelists and other once (and writing the cache file).
pub fn open_records(repo: &Repo, opts: &LoadOptions) -> Result<RecordStore> {
    let location = Location::parse(&repo.location);
    let repomd = Repomd::load(&location).map_err(|e| e.in_repository(&repo.id, "repomd.xml"))?;
    let repomd_path = location.display("repodata/repomd.xml");
    let source = Source::new(&repo.id, location, &repomd, opts)?;
    let primary = source.primary_checksum();
    if primary != repo.checksum {
        return Err(RepodataError::Invalid {
            path: repomd_path,
            reason: format!(
                "primary.xml is now {primary}, but `{}` was loaded from {}: reload the repository",
                repo.id, repo.checksum
            ),
        });
    }
    source.open(repo)
}

/// Two metadata files cut into records, or absent from the repository.
pub(crate) type Rest = (Option<Scanned>, Option<Scanned>);

impl Source {
    /// What a store of the repository described by `repomd` is built from.
    pub(crate) fn new(
        repo: &str,
        location: Location,
        repomd: &Repomd,
        opts: &LoadOptions,
    ) -> Result<Source> {
        let entries = Kind::ALL.map(|k| repomd.get(k.mdtype()).cloned());
        if entries[0].is_none() {
            return Err(RepodataError::MissingType {
                path: location.display("repodata/repomd.xml"),
                mdtype: "primary".into(),
            }
            .in_repository(repo, "repomd.xml"));
        }
        let key = Kind::ALL
            .iter()
            .zip(&entries)
            .map(|(k, e)| {
                format!(
                    "{}={}",
                    k.mdtype(),
                    e.as_ref().map_or("none".into(), crate::entry_checksum)
                )
            })
            .collect::<Vec<_>>()
            .join(";");
        let cache_file = opts.cache_dir.as_ref().map(|dir| {
            let digest = hex::encode(sha2::Sha256::digest(key.as_bytes()));
            dir.join(format!(
                "records-{}.v{}.strata",
                &digest[..40],
                FORMAT.version
            ))
        });
        Ok(Source {
            repo: repo.to_string(),
            location,
            entries,
            key,
            cache_file,
            cache_limits: opts.cache_limits.clone(),
        })
    }

    fn primary_checksum(&self) -> String {
        crate::entry_checksum(self.entries[0].as_ref().expect("primary is present"))
    }

    /// Whether a record cache file exists (valid or not).
    pub(crate) fn has_cache_file(&self) -> bool {
        self.cache_file.as_ref().is_some_and(|p| p.exists())
    }

    /// The store of `repo`, from the cache or built.
    pub(crate) fn open(self, repo: &Repo) -> Result<RecordStore> {
        if let Some(path) = &self.cache_file {
            if let Some(backing) = self.try_cache(path, repo.len()) {
                tracing::debug!(repo = %repo.id, path = %path.display(), "records from cache");
                return Ok(self.into_store(backing, true));
            }
        }
        let backing = self.build(Some(repo))?;
        tracing::debug!(repo = %repo.id, packages = backing.index.n, "records streamed");
        Ok(self.into_store(backing, false))
    }

    fn into_store(self, backing: Backing, from_cache: bool) -> RecordStore {
        RecordStore {
            n: backing.index.n,
            source: self,
            backing: RwLock::new(Arc::new(backing)),
            from_cache,
        }
    }

    /// A usable cache file, or `None` (with a warning when one exists but
    /// does not validate).
    fn try_cache(&self, path: &Path, expect_n: usize) -> Option<Backing> {
        let image = match cache_file::open(path) {
            Ok(Some(image)) => image,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read the record cache, rebuilding it: {e}");
                return None;
            }
        };
        let checked = Backing::open(image).and_then(|b| {
            if b.index.key != self.key {
                Err(CacheFileError::Damaged(
                    "it was written for other metadata".into(),
                ))
            } else if b.index.n != expect_n {
                Err(CacheFileError::Damaged(format!(
                    "it holds {} packages, not {expect_n}",
                    b.index.n
                )))
            } else {
                Ok(b)
            }
        });
        match checked {
            Ok(b) => Some(b),
            Err(reason) => {
                tracing::warn!(path = %path.display(), "the record cache is unusable, rebuilding it: {reason}");
                None
            }
        }
    }

    /// Streams one metadata file and cuts it into records.
    fn read(&self, kind: Kind) -> Result<Option<Scanned>> {
        let Some(entry) = &self.entries[kind as usize] else {
            return Ok(None);
        };
        source::read_verified(
            &self.location,
            &entry.href,
            &entry.expected,
            |input, path| scan(input, path, kind, MAX_RECORD_BYTES),
        )
        .map(Some)
        .map_err(|e| self.context(kind, e))
    }

    /// Names this repository and the file of `kind` in an error.
    fn context(&self, kind: Kind, e: RepodataError) -> RepodataError {
        e.in_repository(&self.repo, &format!("{} metadata", kind.mdtype()))
    }

    /// Filelists and other, one after the other.
    fn read_rest(&self) -> Result<Rest> {
        Ok((self.read(Kind::Filelists)?, self.read(Kind::Other)?))
    }

    /// Primary.xml parsed into `repo` and cut into records in one pass,
    /// with filelists and other read alongside. The first result holds the
    /// parser's errors outside and the record cutter's inside.
    pub(crate) fn read_with_repo(
        &self,
        repo: &mut Repo,
    ) -> (Result<Result<Scanned>>, Result<Rest>) {
        let entry = self.entries[0].as_ref().expect("primary is present");
        std::thread::scope(|s| {
            let side = s.spawn(|| self.read_rest());
            let primary = source::read_verified(
                &self.location,
                &entry.href,
                &entry.expected,
                |input, path| parse_and_scan_primary(input, path, repo, MAX_RECORD_BYTES),
            )
            .map(|scanned| scanned.map_err(|e| self.context(Kind::Primary, e)))
            .map_err(|e| self.context(Kind::Primary, e));
            (primary, side.join().expect("record reader thread panicked"))
        })
    }

    /// The three files cut into records, without a repository to check.
    pub(crate) fn read_all(&self) -> (Result<Scanned>, Result<Rest>) {
        std::thread::scope(|s| {
            let side = s.spawn(|| self.read_rest());
            let primary = self
                .read(Kind::Primary)
                .map(|p| p.expect("primary is present"));
            (primary, side.join().expect("record reader thread panicked"))
        })
    }

    /// The store of `repo` from its files cut into records (checked
    /// against `repo`); writes the cache file when there is a cache
    /// directory.
    pub(crate) fn finish(self, primary: Scanned, rest: Rest, repo: &Repo) -> Result<RecordStore> {
        let backing = self.assemble(primary, rest, Some(repo))?;
        tracing::debug!(repo = %repo.id, packages = backing.index.n, "records streamed");
        Ok(self.into_store(backing, false))
    }

    /// Streams the three files and builds the store; writes the cache
    /// file when there is a cache directory.
    fn build(&self, repo: Option<&Repo>) -> Result<Backing> {
        // Primary is by far the largest; filelists and other are read
        // alongside it.
        let (primary, rest) = self.read_all();
        self.assemble(primary?, rest?, repo)
    }

    /// Places filelists and other at their primary packages (minimal
    /// records where a file is absent), checks primary against `repo`, and
    /// builds the store image; writes the cache file when there is a cache
    /// directory.
    fn assemble(&self, primary: Scanned, rest: Rest, repo: Option<&Repo>) -> Result<Backing> {
        let (filelists, other) = rest;
        let n = primary.idents.len();
        let path_of = |k: Kind| {
            let e = self.entries[k as usize].as_ref().expect("entry present");
            self.location.display(&e.href)
        };
        if let Some(repo) = repo {
            check_against_repo(&primary.idents, repo, &path_of(Kind::Primary))
                .map_err(|e| self.context(Kind::Primary, e))?;
        }
        let mut recs: [Vec<RecEntry>; 3] = Default::default();
        let mut regions = Vec::with_capacity(3);
        recs[0] = primary.blocks.recs.clone();
        for (kind, scanned) in [(Kind::Filelists, filelists), (Kind::Other, other)] {
            match scanned {
                Some(s) => {
                    recs[kind as usize] = match_to_primary(&primary.idents, &s, &path_of(kind))
                        .map_err(|e| self.context(kind, e))?;
                    regions.push(s.blocks);
                }
                None => {
                    let mut blocks = Blocks::new(kind.block_packages());
                    for i in 0..n {
                        blocks
                            .push(minimal_record(&primary.idents, i).as_bytes())
                            .map_err(cache_io)?;
                    }
                    let blocks = blocks.finish().map_err(cache_io)?;
                    recs[kind as usize] = blocks.recs.clone();
                    regions.push(blocks);
                }
            }
        }
        regions.insert(0, primary.blocks);
        let regions: [Blocks; 3] = regions.try_into().ok().expect("three regions");
        let unusable = |source| RepodataError::Cache {
            path: self.cache_file.clone().unwrap_or_default(),
            source,
        };
        let in_memory = || -> Result<Backing> {
            let mut image = Vec::new();
            Backing::write_image(&mut image, &self.key, &regions, &recs, n).map_err(cache_io)?;
            Backing::open(Image::Memory(image)).map_err(unusable)
        };
        let Some(path) = &self.cache_file else {
            return in_memory();
        };
        // Written straight to the cache file and mapped back: no copy of
        // the image in memory.
        match cache_file::write_aside(path, |out| {
            Backing::write_image(out, &self.key, &regions, &recs, n)
        })
        .and_then(|()| cache_file::map(&File::open(path)?))
        {
            Ok(map) => {
                if let Some(dir) = path.parent() {
                    crate::cache::prune_after_write(dir, &self.cache_limits, path);
                }
                Backing::open(Image::Mapped(map)).map_err(unusable)
            }
            Err(e) => {
                // A cache that cannot be written only costs time next run.
                tracing::warn!(path = %path.display(), "cannot write the record cache: {e}");
                in_memory()
            }
        }
    }
}

impl RecordStore {
    /// Number of packages (the same as the repository's).
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Whether this store was opened from its cache file.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// The cache file this store is kept in, if any.
    pub fn cache_file(&self) -> Option<&Path> {
        self.source.cache_file.as_deref()
    }

    /// The records of the packages at `indices` (primary order), in the
    /// order asked. Decompresses only the blocks that hold them. A damaged
    /// cache file is rebuilt from the source and the read retried.
    pub fn get_many(&self, indices: &[u32]) -> Result<Vec<PackageRecords>> {
        if let Some(&bad) = indices.iter().find(|&&i| i as usize >= self.n) {
            return Err(RepodataError::Invalid {
                path: self.source.location.display("repodata/repomd.xml"),
                reason: format!("package index {bad} is out of range ({} packages)", self.n),
            });
        }
        let backing = self.backing.read().expect("lock").clone();
        match read_records(&backing, indices) {
            Ok(r) => return Ok(r),
            Err(reason) => {
                let path = self.source.cache_file.clone().unwrap_or_default();
                if matches!(backing.image, Image::Memory(_)) {
                    return Err(RepodataError::Cache {
                        path,
                        source: reason,
                    });
                }
                tracing::warn!(path = %path.display(), "the record cache is damaged, rebuilding it: {reason}");
            }
        }
        let rebuilt = Arc::new(self.source.build(None)?);
        if rebuilt.index.n != self.n {
            return Err(RepodataError::Invalid {
                path: self.source.location.display("repodata/repomd.xml"),
                reason: "the repository changed while it was being composed".into(),
            });
        }
        *self.backing.write().expect("lock") = rebuilt.clone();
        read_records(&rebuilt, indices).map_err(|source| RepodataError::Cache {
            path: self.source.cache_file.clone().unwrap_or_default(),
            source,
        })
    }
}
