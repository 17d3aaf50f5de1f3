//! Reading rpm-md repositories as createrepo_c writes them: repomd.xml,
//! primary.xml and (on demand) filelists.xml, compressed with gz, xz, zstd
//! or bz2, each verified against the checksum repomd.xml declares
//! ([`load_repo`], [`find_files`], [`read_metadata`]). Parsed repositories
//! are cached by primary checksum (`cache`). For composes: the raw
//! per-package records of a source ([`open_records`],
//! [`load_repo_with_records`]) and writing new repodata from them
//! ([`write_repodata`]), with the payloads placed beside them (`payload`).
//! Large gzip files are deflated on several threads by [`ParallelGz`],
//! the workspace's one parallel gzip writer (container layers use it too).
//! What is read is bounded (`limits`), and fetched with timeouts (`http`).
//!
//! The modules are private and what the workspace uses is re-exported
//! below, except four namespaces of their own: `cache` (the cache
//! directory and its pruning), `http` (the one HTTP agent), `limits` (the
//! bounds on what is read) and `payload` (placing package files).

// Items of the private modules that are not re-exported below stay
// `pub(crate)`: the lint keeps the public API to this list.
#![warn(unreachable_pub)]

pub mod cache;
mod cache_file;
mod confined;
mod error;
mod filelists;
pub mod http;
pub mod limits;
pub mod payload;
mod pgzip;
mod pods;
mod primary;
mod records;
mod repo;
mod repomd;
mod source;
mod strings;
mod underway;
mod verified;
mod wellformed;
mod write;

pub use cache::CacheLimits;
pub use cache_file::CacheFileError;
pub use confined::{ConfinedError, ConfinedFile};
pub use error::{RepodataError, Result};
pub use pgzip::ParallelGz;
pub use pods::Pods;
pub use primary::parse_primary;
pub use records::{open_records, PackageRecords, RecordStore};
pub use repo::{Dep, DepKey, DepKind, DepRec, Package, PkgRec, Repo};
pub use repomd::{Repomd, RepomdEntry};
pub use source::{ChecksumTrust, Expected, Location, Payload, Payloads};
pub use strings::{StrId, StringPool};
pub use verified::{name_hash, name_key, LayerIndex};
pub use write::{
    package_size, rewrite_location, write_repodata, write_repodata_parts, Compression,
    ExtraMetadata, RecordsPart, WriteOptions, WrittenFile, WrittenRepodata,
};

use rustc_hash::FxHashSet;
use std::path::PathBuf;
use underway::Claim;

/// How to load a repository.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Where parsed repositories are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// How large and old the cache may grow; applied after each write.
    pub cache_limits: CacheLimits,
}

/// `$XDG_CACHE_HOME/strata/repos`, else `~/.cache/strata/repos`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("strata").join("repos"))
}

/// Loads the repository at `location` (path, `file://` or `http(s)://`)
/// under the name `id`.
pub fn load_repo(id: &str, location: &str, opts: &LoadOptions) -> Result<Repo> {
    let loc = Location::parse(location);
    let (repomd, checksum) = load_repomd(id, &loc)?;
    let primary = primary_entry(&loc, &repomd).expect("checked by load_repomd");
    if let Some(repo) = from_cache(id, location, &checksum, opts)? {
        return Ok(repo);
    }
    load_parsed(id, location, &loc, primary, &checksum, opts)
        .map_err(|e| e.in_repository(id, "primary metadata"))
}

/// The checksum a compose records for repository `id` at `location`
/// (that of its primary metadata, as [`Repo::checksum`] has it), reading
/// only its repomd.xml.
pub fn repo_checksum(id: &str, location: &str) -> Result<String> {
    load_repomd(id, &Location::parse(location)).map(|(_, checksum)| checksum)
}

/// repomd.xml of repository `id`, and the checksum of its primary.xml.
fn load_repomd(id: &str, loc: &Location) -> Result<(Repomd, String)> {
    let repomd = Repomd::load(loc).map_err(|e| e.in_repository(id, "repomd.xml"))?;
    let primary = primary_entry(loc, &repomd).map_err(|e| e.in_repository(id, "repomd.xml"))?;
    let checksum = entry_checksum(primary);
    Ok((repomd, checksum))
}

/// The decompressed content of the metadata file of type `mdtype`
/// (`modules`, `updateinfo`, …) of the repository at `location`, checked
/// against repomd.xml; `None` when repomd.xml lists no such file.
pub fn read_metadata(location: &str, mdtype: &str) -> Result<Option<Vec<u8>>> {
    let loc = Location::parse(location);
    let repomd = Repomd::load(&loc)?;
    let Some(entry) = repomd.get(mdtype) else {
        return Ok(None);
    };
    source::read_verified(&loc, &entry.href, &entry.expected, |input, path| {
        // Read whole: bounded tighter than what is streamed.
        let mut out = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(input, limits::MAX_BUFFERED_METADATA_BYTES + 1),
            &mut out,
        )
        .map_err(|e| source::stream_error(path, &e))?;
        if out.len() as u64 > limits::MAX_BUFFERED_METADATA_BYTES {
            return Err(RepodataError::TooLarge {
                path: path.to_string(),
                limit: limits::Limit::Buffered,
            });
        }
        Ok(out)
    })
    .map(Some)
}

/// Loads a published repository that must still be as it was written:
/// every metadata file its repomd.xml lists is checked (checksum and size,
/// as stored) before the parsed repository is taken from the cache, which
/// is keyed by primary.xml's checksum and so would not notice a damaged
/// file. Returns the repository and the metadata types its repomd.xml
/// lists. A local repository found intact before, whose files have not
/// changed since (`verified`: their inode, size, mtime and ctime), is not
/// read again: a deep stack of layers costs a few `lstat`s each.
pub fn load_verified_repo(
    id: &str,
    location: &str,
    opts: &LoadOptions,
) -> Result<(Repo, Vec<String>)> {
    let loc = Location::parse(location);
    let memo = opts.cache_dir.as_deref().zip(loc.as_dir());
    if let Some((dir, root)) = memo {
        if let Some((v, files)) = verified::recall_stamped(dir, root) {
            if let Some(repo) = from_cache(id, location, &v.checksum, opts)? {
                if files.before_index {
                    // A memo from before layers were indexed: written again
                    // with the index, so the stacks above need not load it.
                    // (A layer too large to index keeps its memo as it is,
                    // and no load works out an index it would not keep.)
                    if let Some(index) = verified::LayerIndex::of(&repo) {
                        let rels: Vec<&str> = files.rels.iter().map(String::as_str).collect();
                        let verdict = verified::Verdict {
                            index: Some(index),
                            ..v.clone()
                        };
                        verified::remember(
                            dir,
                            root,
                            &verdict,
                            &rels,
                            &files.stamps,
                            verified::RACY,
                        );
                    }
                }
                return Ok((repo, v.mdtypes));
            }
        }
    }
    const REPOMD: &str = "repodata/repomd.xml";
    let repomd_before = memo.and_then(|(_, root)| verified::stamp(root, REPOMD));
    let (repomd, checksum) = load_repomd(id, &loc)?;
    let mut rels = vec![REPOMD];
    rels.extend(repomd.entries.iter().map(|e| e.href.as_str()));
    let before = memo.and_then(|(_, root)| {
        let mut v = vec![repomd_before?];
        v.extend(verified::stamps(root, &rels[1..])?);
        Some(v)
    });
    for e in &repomd.entries {
        source::verify_stored(&loc, &e.href, &e.expected)?;
    }
    let primary = primary_entry(&loc, &repomd).expect("checked by load_repomd");
    let repo = match from_cache(id, location, &checksum, opts)? {
        Some(repo) => repo,
        None => load_parsed(id, location, &loc, primary, &checksum, opts)
            .map_err(|e| e.in_repository(id, "primary metadata"))?,
    };
    let mdtypes: Vec<String> = repomd.entries.iter().map(|e| e.mdtype.clone()).collect();
    if let (Some((dir, root)), Some(before)) = (memo, before) {
        let verdict = verified::Verdict {
            checksum,
            mdtypes: mdtypes.clone(),
            index: verified::LayerIndex::of(&repo),
        };
        verified::remember(dir, root, &verdict, &rels, &before, verified::RACY);
    }
    Ok((repo, mdtypes))
}

/// A published repository as its verification memo remembers it (every
/// metadata file as it was when checked in full), without loading it:
/// what [`load_verified_repo`] would give, and what a gate needs to know
/// before deciding to load it. It holds only while the memo's
/// [`MemoStamps`] do.
#[derive(Debug, Clone)]
pub struct Recalled {
    /// Checksum of its primary.xml (`type:hex`).
    pub checksum: String,
    /// The metadata types its repomd.xml lists.
    pub mdtypes: Vec<String>,
    pub index: LayerIndex,
}

/// What a [`Recalled`] verdict rests on: the identity (`lstat`) of every
/// file of the repository when it was checked in full. The verdict holds
/// while [`MemoStamps::hold`] says so; a write, a replacement or a removal
/// of any of them ends it. Comparing them is a few `lstat`s: a caller may
/// do it while it works with the verdict (a deep stack's gate runs
/// meanwhile), but not rely on what it decided from the verdict before.
#[derive(Debug, Clone)]
#[must_use = "a memo's verdict holds only once its stamps were compared"]
pub struct MemoStamps {
    root: PathBuf,
    files: verified::Remembered,
}

impl MemoStamps {
    /// Whether every file still has the identity it had when checked.
    pub fn hold(&self) -> bool {
        self.files.hold(&self.root)
    }
}

/// The memo's word on the repository at `location` (a directory), when it
/// has one that indexes it, and what that word rests on; else `None`, and
/// the repository is loaded with [`load_verified_repo`]. Nothing of the
/// files is looked at: whether the word still holds is for the
/// [`MemoStamps`] to say.
pub fn recall_verified(location: &str, opts: &LoadOptions) -> Option<(Recalled, MemoStamps)> {
    let dir = opts.cache_dir.as_deref()?;
    let loc = Location::parse(location);
    let root = loc.as_dir()?;
    let (v, files) = verified::read(dir, root)?;
    Some((
        Recalled {
            checksum: v.checksum,
            mdtypes: v.mdtypes,
            index: v.index?,
        },
        MemoStamps {
            root: root.to_path_buf(),
            files,
        },
    ))
}

/// Loads the repository [`recall_verified`] remembered: from the cache,
/// else (the entry was pruned meanwhile) as [`load_verified_repo`] does.
pub fn load_recalled(
    id: &str,
    location: &str,
    recalled: &Recalled,
    opts: &LoadOptions,
) -> Result<Repo> {
    match from_cache(id, location, &recalled.checksum, opts)? {
        Some(repo) => Ok(repo),
        None => load_verified_repo(id, location, opts).map(|(repo, _)| repo),
    }
}

/// Loads the repository at `location` and opens its raw records: the same
/// as `load_repo` then `open_records`, but on a cold cache primary.xml is
/// read, decompressed and tokenized once for both, while filelists.xml and
/// other.xml are read alongside.
pub fn load_repo_with_records(
    id: &str,
    location: &str,
    opts: &LoadOptions,
) -> Result<(Repo, RecordStore)> {
    let loc = Location::parse(location);
    let (repomd, checksum) = load_repomd(id, &loc)?;
    let primary = primary_entry(&loc, &repomd).expect("checked by load_repomd");
    let cached = from_cache(id, location, &checksum, opts)?;
    let source = records::Source::new(id, loc.clone(), &repomd, opts)?;
    // Errors of the records name the repository and file themselves.
    let in_primary = |e: RepodataError| e.in_repository(id, "primary metadata");
    let repo = match cached {
        Some(repo) => repo,
        // The records need a pass over the files too.
        None if !source.has_cache_file() => {
            return match underway::claim(opts, &checksum, true) {
                Claim::Mine(ticket) => {
                    load_both(Repo::empty(id, location, &checksum), source, ticket, opts)
                }
                Claim::Theirs(waiter) => {
                    // Another load is parsing primary.xml: cut the records
                    // meanwhile.
                    tracing::debug!(repo = id, "primary.xml is being parsed by another load");
                    let (primary_records, rest) = source.read_all();
                    let repo = match waiter.wait(id, location, opts) {
                        Some(repo) => repo,
                        None => parse_and_store(id, location, &loc, primary, &checksum, opts)
                            .map_err(in_primary)?,
                    };
                    let store = source.finish(primary_records?, rest?, &repo)?;
                    Ok((repo, store))
                }
            };
        }
        None => load_parsed(id, location, &loc, primary, &checksum, opts).map_err(in_primary)?,
    };
    let store = source.open(&repo)?;
    Ok((repo, store))
}

/// The repository and its records from one pass over primary.xml; the
/// repository is shared with loads waiting for it as soon as it is parsed.
fn load_both(
    mut repo: Repo,
    source: records::Source,
    ticket: underway::Ticket,
    opts: &LoadOptions,
) -> Result<(Repo, RecordStore)> {
    let (primary, rest) = source.read_with_repo(&mut repo);
    // The parser's errors first, as load_repo would have met them first.
    let primary_records = primary?;
    tracing::debug!(repo = %repo.id, packages = repo.len(), "parsed primary.xml");
    let repo = std::sync::Arc::new(repo);
    // The repository's cache file is written while the records are
    // assembled, and then handed to those waiting (who map it rather than
    // copy the repository).
    let store = std::thread::scope(|s| {
        s.spawn(|| {
            store_in_cache(&repo, opts);
            ticket.publish(Some(repo.clone()));
        });
        source.finish(primary_records?, rest?, &repo)
    })?;
    Ok((underway::unshare(repo), store))
}

/// A repository parsed from its primary.xml, or copied from a load of the
/// same file under way.
fn load_parsed(
    id: &str,
    location: &str,
    loc: &Location,
    primary: &repomd::RepomdEntry,
    checksum: &str,
    opts: &LoadOptions,
) -> Result<Repo> {
    let waiter = match underway::claim(opts, checksum, false) {
        Claim::Theirs(waiter) => waiter,
        Claim::Mine(ticket) => {
            let mut repo = Repo::empty(id, location, checksum);
            let parsed = source::read_verified_unless_dropped(
                loc,
                &primary.href,
                &primary.expected,
                |input, path| {
                    // A load that wants the records too may take the parse
                    // over while it is in its first part, and read the file
                    // once for both.
                    let mut watched = underway::Watched::new(input, &ticket);
                    let parsed = primary::parse_primary(&mut watched, path, &mut repo);
                    if watched.taken_over {
                        return Ok(None);
                    }
                    parsed.map(Some)
                },
            );
            if !matches!(parsed, Ok(None)) {
                parsed?;
                tracing::debug!(repo = id, packages = repo.len(), "parsed primary.xml");
                let repo = std::sync::Arc::new(repo);
                store_in_cache(&repo, opts);
                ticket.publish(Some(repo.clone()));
                return Ok(underway::unshare(repo));
            }
            ticket.into_waiter().expect("a shared parse was taken over")
        }
    };
    match waiter.wait(id, location, opts) {
        Some(repo) => {
            tracing::debug!(
                repo = id,
                packages = repo.len(),
                "copied from a load under way"
            );
            Ok(repo)
        }
        None => parse_and_store(id, location, loc, primary, checksum, opts),
    }
}

fn parse_and_store(
    id: &str,
    location: &str,
    loc: &Location,
    primary: &repomd::RepomdEntry,
    checksum: &str,
    opts: &LoadOptions,
) -> Result<Repo> {
    let repo = parse_repo(id, location, loc, primary, checksum)?;
    store_in_cache(&repo, opts);
    Ok(repo)
}

fn primary_entry<'a>(loc: &Location, repomd: &'a Repomd) -> Result<&'a repomd::RepomdEntry> {
    repomd
        .get("primary")
        .ok_or_else(|| RepodataError::MissingType {
            path: loc.display("repodata/repomd.xml"),
            mdtype: "primary".into(),
        })
}

/// `type:hex` of a metadata file as repomd.xml declares it.
fn entry_checksum(entry: &repomd::RepomdEntry) -> String {
    format!(
        "{}:{}",
        entry.expected.checksum_type,
        entry.expected.checksum.to_ascii_lowercase()
    )
}

fn from_cache(
    id: &str,
    location: &str,
    checksum: &str,
    opts: &LoadOptions,
) -> Result<Option<Repo>> {
    let Some(dir) = &opts.cache_dir else {
        return Ok(None);
    };
    let repo = cache::read(dir, checksum, id, location)?;
    if let Some(repo) = &repo {
        tracing::debug!(repo = id, packages = repo.len(), "loaded from cache");
    }
    Ok(repo)
}

fn parse_repo(
    id: &str,
    location: &str,
    loc: &Location,
    primary: &repomd::RepomdEntry,
    checksum: &str,
) -> Result<Repo> {
    let mut repo = Repo::empty(id, location, checksum);
    source::read_verified(loc, &primary.href, &primary.expected, |input, path| {
        primary::parse_primary(input, path, &mut repo)
    })?;
    tracing::debug!(repo = id, packages = repo.len(), "parsed primary.xml");
    Ok(repo)
}

fn store_in_cache(repo: &Repo, opts: &LoadOptions) {
    if let Some(dir) = &opts.cache_dir {
        // A cache that cannot be written only costs speed next time.
        match cache::write(dir, repo) {
            Ok(path) => cache::prune_after_write(dir, &opts.cache_limits, &path),
            Err(e) => tracing::warn!("{e}"),
        }
    }
}

/// Looks up file paths that primary.xml does not list, in the repository's
/// filelists.xml. Returns `(package index, path)` pairs.
pub fn find_files(repo: &Repo, wanted: &FxHashSet<&str>) -> Result<Vec<(u32, String)>> {
    let loc = Location::parse(&repo.location);
    let repomd = Repomd::load(&loc).map_err(|e| e.in_repository(&repo.id, "repomd.xml"))?;
    let Some(entry) = repomd.get("filelists") else {
        return Ok(Vec::new());
    };
    let hits = source::read_verified(&loc, &entry.href, &entry.expected, |input, path| {
        filelists::scan_filelists(input, path, wanted)
    })
    .map_err(|e| e.in_repository(&repo.id, "filelists metadata"))?;
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_pkgid = rustc_hash::FxHashMap::default();
    for p in repo.iter() {
        let sum = p.checksum();
        let hex = sum.split_once(':').map_or(sum, |(_, h)| h);
        by_pkgid.insert(hex, p.index);
    }
    Ok(hits
        .into_iter()
        .filter_map(|(pkgid, path)| by_pkgid.get(pkgid.as_str()).map(|&i| (i, path)))
        .collect())
}
