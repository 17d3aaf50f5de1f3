//! A memo of published repositories found intact, so a stack of hundreds
//! of layers is not re-hashed by every compose that uses it.
//!
//! `load_verified_repo` checks every metadata file of a layer against its
//! repomd.xml. Once that passed, the memo keeps, per repository, the
//! primary checksum, the metadata types and the identity of each file as
//! `lstat` gives it (device, inode, size, mtime and ctime in nanoseconds).
//! A later load whose files all still have those identities reuses the
//! verdict: any write, replacement, new hardlink or removal changes one of
//! them (ctime cannot be set back from user space), and then the files are
//! checked again in full. A memo is only written when nothing changed while
//! the files were being checked. It lives in the cache directory, trusted
//! as much as the parsed repositories beside it, and is pruned with them
//! (`verified-*.strata`).

use rustix::fd::OwnedFd;
use rustix::fs::{openat, statat, AtFlags, FileType, Mode, OFlags, CWD};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a memo says of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Checksum of its primary.xml (`type:hex`), the cache key.
    pub checksum: String,
    /// The metadata types its repomd.xml lists.
    pub mdtypes: Vec<String>,
    /// What a gate asks of it without loading it; kept for a small
    /// repository only (see [`LayerIndex::MAX_PACKAGES`]).
    pub index: Option<LayerIndex>,
}

/// What a stack's gate needs to know of a layer before loading it: its
/// package names (dnf hides platform packages named like them) and every
/// name a requirement could find in it (each package's name, provides and
/// the files primary.xml lists), as [`name_hash`]es. A layer none of whose
/// names a checked package requires cannot change the gate's answer, so
/// only the layers that may provide one are loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerIndex {
    /// How many packages it holds.
    pub packages: usize,
    /// Its package names, each once, sorted, a space between each two
    /// (one string: a deep stack reads hundreds of these).
    names: String,
    /// [`name_hash`] of each name it provides, sorted, each once. A
    /// collision only loads a layer that was not needed.
    provides: Vec<u64>,
    /// [`name_key`] of each of `names`, in their order: computed when the
    /// index is made or read (not written), on the threads that load the
    /// layers, so that a gate's modular filter compares numbers instead of
    /// splitting and hashing every name of a deep stack itself.
    name_keys: Vec<u64>,
}

impl LayerIndex {
    /// Repositories with more packages are not indexed: a memo stays a
    /// few kilobytes, read in one go, and a large repository is loaded.
    pub const MAX_PACKAGES: usize = 1000;

    /// The index of `repo`, unless it holds more than [`Self::MAX_PACKAGES`].
    pub(crate) fn of(repo: &crate::Repo) -> Option<LayerIndex> {
        if repo.len() > Self::MAX_PACKAGES {
            return None;
        }
        let mut names: Vec<&str> = repo.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        if names
            .iter()
            .any(|n| n.is_empty() || n.contains(char::is_whitespace))
        {
            // rpm refuses such names; a memo could not hold them.
            return None;
        }
        let names = names.join(" ");
        let mut provides: Vec<u64> = repo
            .iter()
            .flat_map(|p| {
                std::iter::once(p.name())
                    .chain(p.provides().map(|d| d.name()))
                    .chain(p.files())
                    .map(name_hash)
                    .collect::<Vec<u64>>()
            })
            .collect();
        provides.sort_unstable();
        provides.dedup();
        // What the memo's lines would take: a layer whose index would not
        // fit is not indexed (so no load writes its memo again for one).
        if names.len() + provides.len() * 17 > Self::MAX_TEXT {
            return None;
        }
        LayerIndex::new(repo.len(), names, provides)
    }

    /// The index of `packages` packages named `names` providing
    /// `provides`; `None` unless the names are sorted, each once and not
    /// empty, a space between each two, and no more than `packages`, and
    /// `packages` is at most [`Self::MAX_PACKAGES`]. The names are split
    /// once, checked and keyed in the same pass.
    fn new(packages: usize, names: String, provides: Vec<u64>) -> Option<LayerIndex> {
        let mut name_keys = Vec::new();
        if !names.is_empty() {
            // A deep stack's compose splits the names of hundreds of memos.
            name_keys.reserve(packages.min(names.len() / 2 + 1));
            let mut last = "";
            for n in pieces(&names, b' ') {
                if n.is_empty() || last >= n {
                    return None;
                }
                name_keys.push(name_key(n));
                last = n;
            }
        }
        if packages < name_keys.len() || packages > Self::MAX_PACKAGES {
            return None;
        }
        Some(LayerIndex {
            packages,
            names,
            provides,
            name_keys,
        })
    }

    /// The most an index takes in a memo, leaving room for the rest of it.
    const MAX_TEXT: usize = MAX_MEMO_BYTES as usize / 2;

    /// Its package names, each once, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.split(' ').filter(|n| !n.is_empty())
    }

    /// [`name_key`] of each of its package names, in the order of
    /// [`LayerIndex::names`].
    pub fn name_keys(&self) -> &[u64] {
        &self.name_keys
    }

    /// Whether a requirement of `name` may find a provider in it.
    pub fn may_provide(&self, name: &str) -> bool {
        self.provides.binary_search(&name_hash(name)).is_ok()
    }

    /// [`name_hash`] of every name it provides, sorted.
    pub fn provides(&self) -> &[u64] {
        &self.provides
    }
}

/// 64-bit FNV-1a of a name: fixed, so a memo written by one process is
/// read the same by every other.
pub fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A name's key in one process: quick to compute (a few bytes at a time)
/// and to compare, never written (it may differ between builds). Equal
/// names have equal keys; a key shared by two names is told apart by
/// comparing the names.
pub fn name_key(name: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(name.as_bytes());
    h.finish()
}

/// A file's identity: changes whenever the file or its name does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

/// Where a repository's metadata files are, below its root.
const REPODATA: &str = "repodata/";

/// The largest memo read; a real one is a few hundred bytes.
const MAX_MEMO_BYTES: u64 = 64 * 1024;
const HEADER: &str = "strata-verified 2";
/// A memo written before layers were indexed: read, never written.
const HEADER_1: &str = "strata-verified 1";

/// The stamp of `root/rel`, without following a symlink at the end
/// (none is ever verified); `None` when it cannot be read.
pub(crate) fn stamp(root: &Path, rel: &str) -> Option<Stamp> {
    stamps(root, &[rel])?.pop()
}

/// `root` opened once, so the stamps of its files resolve a short path
/// each: a deep stack stamps thousands of files per compose, and the
/// kernel's path walk from `/` was most of their cost.
fn open_root(root: &Path) -> Option<OwnedFd> {
    openat(
        CWD,
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

fn stamp_at(root: &OwnedFd, rel: &str) -> Option<Stamp> {
    let m = statat(root, rel, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    if FileType::from_raw_mode(m.st_mode) != FileType::RegularFile {
        return None;
    }
    Some(Stamp {
        dev: m.st_dev,
        ino: m.st_ino,
        size: u64::try_from(m.st_size).ok()?,
        mtime_ns: i128::from(m.st_mtime) * 1_000_000_000 + i128::from(m.st_mtime_nsec),
        ctime_ns: i128::from(m.st_ctime) * 1_000_000_000 + i128::from(m.st_ctime_nsec),
    })
}

/// The stamps of `rels` under `root`, in order; `None` if one is missing.
pub(crate) fn stamps(root: &Path, rels: &[&str]) -> Option<Vec<Stamp>> {
    // Every file of a published repository is in `repodata/`: stamped from
    // there, each is one name to look up rather than two.
    let names: Option<Vec<&str>> = rels
        .iter()
        .map(|rel| rel.strip_prefix(REPODATA).filter(|n| !n.contains('/')))
        .collect();
    let (fd, names) = match names {
        Some(names) => (open_root(&root.join(REPODATA))?, names),
        None => (open_root(root)?, rels.to_vec()),
    };
    names.iter().map(|n| stamp_at(&fd, n)).collect()
}

fn memo_path(dir: &Path, root: &Path) -> PathBuf {
    let digest = Sha256::digest(root.as_os_str().as_encoded_bytes());
    // The first half of the digest, in hex: the 32 digits the name keeps
    // (hex-encoding the whole digest to drop half of it was a tenth of
    // reading a memo).
    dir.join(format!("verified-{}.strata", hex::encode(&digest[..16])))
}

/// The text of the memo at `path`: not through a symlink, at most
/// [`MAX_MEMO_BYTES`], read with one open and (for a memo of the usual few
/// hundred bytes) one read. A deep stack reads hundreds of memos per
/// compose, and each system call is a few microseconds: an `lstat` before
/// opening, then a `statx` for the size, were a third of them. What is not
/// a regular file is refused without asking: a FIFO does not block the
/// open (`O_NONBLOCK`) and reads as empty, a directory does not read, a
/// device reads as more than a memo holds or as empty.
fn read_memo(path: &Path) -> Option<String> {
    let fd = openat(
        CWD,
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    // A short read is the whole of a regular file; reading stops one
    // buffer past the limit (which refuses it).
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = rustix::io::read(&fd, &mut buf[..]).ok()?;
        text.extend_from_slice(&buf[..n]);
        if n < buf.len() || text.len() as u64 > MAX_MEMO_BYTES {
            break;
        }
    }
    if text.len() as u64 > MAX_MEMO_BYTES {
        return None;
    }
    String::from_utf8(text).ok()
}

/// The memo's verdict on the repository at `root`, if every file it names
/// still has the identity it had when checked, with those files and their
/// stamps (to write the memo again with more in it).
pub(crate) fn recall_stamped(dir: &Path, root: &Path) -> Option<(Verdict, Remembered)> {
    let (verdict, files) = read(dir, root)?;
    files.hold(root).then_some((verdict, files))
}

/// The memo on the repository at `root` as it reads, its stamps not yet
/// compared with the files': the verdict holds only if
/// [`Remembered::hold`] says so.
pub(crate) fn read(dir: &Path, root: &Path) -> Option<(Verdict, Remembered)> {
    let text = read_memo(&memo_path(dir, root))?;
    let mut lines = lines_of(&text).peekable();
    let version = lines.next()?;
    if version != HEADER && version != HEADER_1 {
        return None;
    }
    let mut line = |key: &str| lines.next()?.strip_prefix(key);
    let memo_root = line("root ")?;
    if memo_root.as_bytes() != root.as_os_str().as_encoded_bytes() {
        return None;
    }
    let checksum = line("primary ")?.to_owned();
    let mdtypes: Vec<String> = line("types")?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let index = match lines.peek() {
        Some(l) if version == HEADER && l.starts_with("index ") => {
            let packages = lines.next()?.strip_prefix("index ")?.parse().ok()?;
            let names = lines.next()?.strip_prefix("names")?;
            let names = names.strip_prefix(' ').unwrap_or(names).to_owned();
            let provides = provides_of(lines.next()?.strip_prefix("provides")?)?;
            // As written: sorted and each once, or it is not a memo of ours.
            Some(LayerIndex::new(packages, names, provides)?)
        }
        _ => None,
    };
    // A published repository's five files, as a rule.
    let (mut rels, mut then) = (Vec::with_capacity(6), Vec::with_capacity(6));
    for l in lines {
        let mut f = fields(l, 7);
        if f.next()? != "file" {
            return None;
        }
        let mut num = || f.next()?.parse::<i128>().ok();
        let (dev, ino, size, mtime_ns, ctime_ns) = (num()?, num()?, num()?, num()?, num()?);
        then.push(Stamp {
            dev: u64::try_from(dev).ok()?,
            ino: u64::try_from(ino).ok()?,
            size: u64::try_from(size).ok()?,
            mtime_ns,
            ctime_ns,
        });
        rels.push(f.next()?);
    }
    // repomd.xml and primary.xml at least.
    (rels.len() >= 2).then(|| {
        let rels = rels.into_iter().map(str::to_owned).collect();
        (
            Verdict {
                checksum,
                mdtypes,
                index,
            },
            Remembered {
                rels,
                stamps: then,
                before_index: version == HEADER_1,
            },
        )
    })
}

/// The first `n - 1` fields of `line` separated by single spaces, then the
/// rest of it (as `str::splitn(n, ' ')`, with `memchr`).
fn fields(line: &str, n: usize) -> impl Iterator<Item = &str> + '_ {
    let mut start = 0;
    let ends = memchr::memchr_iter(b' ', line.as_bytes()).take(n.saturating_sub(1));
    ends.chain([line.len()]).map_while(move |end| {
        // The rest once `n - 1` fields were taken, and nothing after.
        let piece = line.get(start..end)?;
        start = end + 1;
        Some(piece)
    })
}

/// The pieces of `text` between each two `sep` bytes, as
/// `str::split(sep)` gives them (empty ones included), found with `memchr`
/// (vectorised): `str::split` looked at each byte in turn, and a deep
/// stack's compose splits hundreds of memos. `sep` is ASCII, so the pieces
/// are on character boundaries.
fn pieces(text: &str, sep: u8) -> impl Iterator<Item = &str> + '_ {
    debug_assert!(sep.is_ascii());
    let mut start = 0;
    memchr::memchr_iter(sep, text.as_bytes())
        .chain([text.len()])
        .map(move |end| {
            let piece = &text[start..end];
            start = end + 1;
            piece
        })
}

/// The lines of `text`, each without its `\n` (a last one may lack it),
/// as [`pieces`] (`str::lines` looked at each byte of a memo's long lines
/// in turn). A `\r` is kept, and then the memo is not read (nothing of
/// ours writes one).
fn lines_of(text: &str) -> impl Iterator<Item = &str> + '_ {
    let body = text.strip_suffix('\n').unwrap_or(text);
    (!text.is_empty())
        .then(|| pieces(body, b'\n'))
        .into_iter()
        .flatten()
}

/// The hashes of a memo's `provides` line (after the key): each a space
/// and sixteen lowercase hex digits, ascending; `None` for anything else.
/// Read at a fixed stride, not split: a deep stack's memos hold tens of
/// thousands of them, and this was a tenth of reading a layer's memo.
fn provides_of(line: &str) -> Option<Vec<u64>> {
    const ENTRY: usize = 17;
    let bytes = line.as_bytes();
    if !bytes.len().is_multiple_of(ENTRY) {
        return None;
    }
    let mut out: Vec<u64> = Vec::with_capacity(bytes.len() / ENTRY);
    for entry in bytes.chunks_exact(ENTRY) {
        let h = match entry.split_first() {
            Some((b' ', digits)) => hex_u64(digits)?,
            _ => return None,
        };
        if out.last().is_some_and(|&last| last >= h) {
            return None;
        }
        out.push(h);
    }
    Some(out)
}

/// Each byte's value as a lowercase hex digit; `INVALID` for any other.
const HEX_DIGITS: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};
const INVALID: u8 = 0xF0;

/// Sixteen lowercase hex digits, as a memo writes a hash (without a
/// branch per digit).
fn hex_u64(digits: &[u8]) -> Option<u64> {
    if digits.len() != 16 {
        return None;
    }
    let (mut v, mut seen) = (0u64, 0u8);
    for &b in digits {
        let d = HEX_DIGITS[usize::from(b)];
        seen |= d;
        v = v << 4 | u64::from(d & 0x0F);
    }
    (seen & INVALID == 0).then_some(v)
}

/// The files a memo names, and their stamps.
#[derive(Debug, Clone)]
pub(crate) struct Remembered {
    pub rels: Vec<String>,
    pub stamps: Vec<Stamp>,
    /// Written before layers were indexed (version 1): worth writing again
    /// with an index. A version-2 memo without one is of a layer too large
    /// to index, and stays as it is.
    pub before_index: bool,
}

impl Remembered {
    /// Whether every file still has the stamp it had when checked.
    pub(crate) fn hold(&self, root: &Path) -> bool {
        let rels: Vec<&str> = self.rels.iter().map(String::as_str).collect();
        stamps(root, &rels).is_some_and(|now| now == self.stamps)
    }
}

/// Files changed this recently are not remembered: file times move in
/// clock ticks, so a file rewritten within the tick it was checked in could
/// keep its stamp (git's "racy clean" entries).
pub(crate) const RACY: Duration = Duration::from_secs(2);

/// Keeps the verdict on the repository at `root`, whose files `rels` (its
/// repomd.xml first) had `before` as stamps before they were checked, if
/// they still have them and none changed within `racy` of now. A memo that
/// cannot be written only costs a re-check: a debug message.
pub(crate) fn remember(
    dir: &Path,
    root: &Path,
    verdict: &Verdict,
    rels: &[&str],
    before: &[Stamp],
    racy: Duration,
) {
    if stamps(root, rels).as_deref() != Some(before) {
        tracing::debug!(root = %root.display(), "changed while verified: not remembered");
        return;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    if before
        .iter()
        .any(|s| now - s.ctime_ns.max(s.mtime_ns) < racy.as_nanos() as i128)
    {
        tracing::debug!(root = %root.display(), "changed just now: not remembered yet");
        return;
    }
    let Some(root_text) = root.to_str().filter(|r| !r.contains('\n')) else {
        return;
    };
    if rels.iter().any(|r| r.contains('\n'))
        || verdict.checksum.contains('\n')
        || verdict
            .mdtypes
            .iter()
            .any(|t| t.contains(char::is_whitespace))
    {
        return;
    }
    let mut text = format!(
        "{HEADER}\nroot {root_text}\nprimary {}\ntypes {}\n",
        verdict.checksum,
        verdict.mdtypes.join(" ")
    );
    // Package names never hold white space (rpm refuses them); an index
    // that would not fit the memo is left out.
    if let Some(index) = verdict.index.as_ref().filter(|i| !i.names.contains('\n')) {
        let mut lines = format!("index {}\nnames", index.packages);
        if !index.names.is_empty() {
            lines.push(' ');
            lines.push_str(&index.names);
        }
        lines.push_str("\nprovides");
        for h in &index.provides {
            let _ = write!(lines, " {h:016x}");
        }
        lines.push('\n');
        if text.len() + lines.len() + rels.iter().map(|r| r.len() + 210).sum::<usize>()
            <= MAX_MEMO_BYTES as usize
        {
            text.push_str(&lines);
        }
    }
    for (rel, s) in rels.iter().zip(before) {
        let _ = writeln!(
            text,
            "file {} {} {} {} {} {rel}",
            s.dev, s.ino, s.size, s.mtime_ns, s.ctime_ns
        );
    }
    let path = memo_path(dir, root);
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-verified-")
            .tempfile_in(dir)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    });
    if let Err(e) = written {
        tracing::debug!(path = %path.display(), "cannot keep a verification memo: {e}");
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// The memo's verdict, if its files still have their stamps.
    fn recall(dir: &Path, root: &Path) -> Option<Verdict> {
        recall_stamped(dir, root).map(|(verdict, _)| verdict)
    }

    #[test]
    fn a_memo_holds_while_its_files_are_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("repodata")).unwrap();
        std::fs::write(root.join("repodata/repomd.xml"), "r").unwrap();
        std::fs::write(root.join("repodata/p.xml.gz"), "p").unwrap();
        let cache = dir.path().join("cache");
        let rels = ["repodata/repomd.xml", "repodata/p.xml.gz"];
        let verdict = Verdict {
            checksum: "sha256:ab".into(),
            mdtypes: vec!["primary".into(), "modules".into()],
            index: None,
        };
        assert_eq!(recall(&cache, &root), None);
        // Files written just now are not remembered yet.
        let before = stamps(&root, &rels).unwrap();
        remember(&cache, &root, &verdict, &rels, &before, RACY);
        assert_eq!(recall(&cache, &root), None);
        remember(&cache, &root, &verdict, &rels, &before, Duration::ZERO);
        assert_eq!(recall(&cache, &root), Some(verdict.clone()));
        // Another repository's memo is another file.
        assert_eq!(recall(&cache, dir.path()), None);

        // Rewritten with the same content and size: a new file (the old
        // one held open, so its inode cannot be reused).
        let _held = std::fs::File::open(root.join("repodata/p.xml.gz")).unwrap();
        std::fs::remove_file(root.join("repodata/p.xml.gz")).unwrap();
        std::fs::write(root.join("repodata/p.xml.gz"), "p").unwrap();
        assert_eq!(recall(&cache, &root), None);
        // Read, the memo still says what it said; its stamps do not hold.
        let (said, files) = read(&cache, &root).unwrap();
        assert_eq!(said, verdict);
        assert!(!files.hold(&root));

        // Changed between the stamps and the check: nothing remembered.
        let before = stamps(&root, &rels).unwrap();
        std::fs::write(root.join("repodata/repomd.xml"), "changed").unwrap();
        remember(&cache, &root, &verdict, &rels, &before, Duration::ZERO);
        assert_eq!(recall(&cache, &root), None);

        // Removed, or a symlink in its place.
        let before = stamps(&root, &rels).unwrap();
        remember(&cache, &root, &verdict, &rels, &before, Duration::ZERO);
        assert!(recall(&cache, &root).is_some());
        std::fs::remove_file(root.join("repodata/p.xml.gz")).unwrap();
        assert_eq!(recall(&cache, &root), None);
        std::os::unix::fs::symlink(
            root.join("repodata/repomd.xml"),
            root.join("repodata/p.xml.gz"),
        )
        .unwrap();
        assert_eq!(recall(&cache, &root), None);
    }

    /// A repository `dir/repo` with the files `rels`, its verdict
    /// remembered in `dir/cache`: (root, cache, verdict).
    fn remembered(dir: &Path, rels: &[&str]) -> (PathBuf, PathBuf, Verdict) {
        let root = dir.join("repo");
        for rel in rels {
            std::fs::create_dir_all(root.join(rel).parent().unwrap()).unwrap();
            std::fs::write(root.join(rel), rel).unwrap();
        }
        let cache = dir.join("cache");
        let verdict = Verdict {
            checksum: "sha256:ab".into(),
            mdtypes: vec!["primary".into()],
            index: None,
        };
        let before = stamps(&root, rels).unwrap();
        remember(&cache, &root, &verdict, rels, &before, Duration::ZERO);
        (root, cache, verdict)
    }

    #[test]
    fn a_memo_keeps_an_index_as_written_and_refuses_one_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let rels = ["repodata/repomd.xml", "repodata/p.xml.gz"];
        let (root, cache, plain) = remembered(dir.path(), &rels);
        // A version-2 memo without an index (a layer too large to index)
        // is not one to write again.
        let (v, files) = recall_stamped(&cache, &root).unwrap();
        assert!(v.index.is_none() && !files.before_index);
        let mut provides: Vec<u64> = ["httpd", "/usr/sbin/httpd", "webserver"]
            .iter()
            .map(|n| name_hash(n))
            .collect();
        provides.sort_unstable();
        let index = LayerIndex::new(2, "httpd httpd-tools".into(), provides).unwrap();
        assert_eq!(
            index.name_keys(),
            [name_key("httpd"), name_key("httpd-tools")]
        );
        let verdict = Verdict {
            index: Some(index.clone()),
            ..plain
        };
        let before = stamps(&root, &rels).unwrap();
        remember(&cache, &root, &verdict, &rels, &before, Duration::ZERO);
        let (got, files) = recall_stamped(&cache, &root).unwrap();
        assert_eq!(got, verdict);
        assert!(!files.before_index);
        let index = got.index.unwrap();
        assert!(index.may_provide("webserver") && index.may_provide("/usr/sbin/httpd"));
        assert!(!index.may_provide("nginx"));

        // Hashes out of order, or more names than packages: not ours.
        let memo = memo_path(&cache, &root);
        let text = std::fs::read_to_string(&memo).unwrap();
        let line = text.lines().find(|l| l.starts_with("provides")).unwrap();
        let mut hashes: Vec<&str> = line.split(' ').skip(1).collect();
        hashes.reverse();
        let swapped = text.replace(line, &format!("provides {}", hashes.join(" ")));
        std::fs::write(&memo, swapped).unwrap();
        assert_eq!(recall(&cache, &root), None);
        std::fs::write(&memo, text.replace("index 2", "index 1")).unwrap();
        assert_eq!(recall(&cache, &root), None);
        // Names out of order, twice, with an empty one between, or more
        // packages than an index holds: not ours either.
        for bad in [
            "names httpd-tools httpd",
            "names httpd httpd",
            "names httpd  httpd-tools",
            "names httpd httpd-tools ",
        ] {
            std::fs::write(&memo, text.replace("names httpd httpd-tools", bad)).unwrap();
            assert_eq!(recall(&cache, &root), None, "{bad}");
        }
        std::fs::write(&memo, text.replace("index 2", "index 1001")).unwrap();
        assert_eq!(recall(&cache, &root), None);
        // A version-1 memo (no index) still holds.
        let v1: String = text
            .replace(HEADER, HEADER_1)
            .lines()
            .filter(|l| {
                !l.starts_with("index ") && !l.starts_with("names") && !l.starts_with("provides")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&memo, &v1).unwrap();
        let (v, files) = recall_stamped(&cache, &root).unwrap();
        assert_eq!(v.index, None);
        assert!(files.before_index);
        // An index in a version-1 memo is not one.
        std::fs::write(&memo, text.replace(HEADER, HEADER_1)).unwrap();
        assert_eq!(recall(&cache, &root), None);
    }

    #[test]
    fn a_provides_line_is_read_as_written_and_nothing_else() {
        let (a, b) = (0x0123_4567_89ab_cdef_u64, 0xfedc_ba98_7654_3210_u64);
        let line = format!(" {a:016x} {b:016x}");
        assert_eq!(provides_of(&line), Some(vec![a, b]));
        assert_eq!(provides_of(""), Some(vec![]));
        for bad in [
            format!(" {b:016x} {a:016x}"),      // descending
            format!(" {a:016x} {a:016x}"),      // twice
            format!(" {a:016X}"),               // upper case
            format!("{a:016x} "),               // the space after
            format!(" {a:016x}  {b:016x}"),     // two spaces
            format!(" {:015x}", a >> 4),        // fifteen digits
            format!(" {a:016x} "),              // a space left over
            " 0123456789abcdeg".to_owned(),     // not a hex digit
            " 0123456789abcd\u{e9}".to_owned(), // not ASCII (17 bytes)
        ] {
            assert_eq!(provides_of(&bad), None, "{bad:?}");
        }
        for v in [0, 1, u64::MAX, a, b] {
            assert_eq!(hex_u64(format!("{v:016x}").as_bytes()), Some(v));
        }
    }

    #[test]
    fn an_index_too_large_for_a_memo_is_not_made() {
        // 2,000 distinct provides take 34,000 bytes of hashes: over half a
        // memo.
        let caps: Vec<String> = (0..2000).map(|i| format!("cap{i}")).collect();
        assert!(LayerIndex::of(&one_package("big", &caps)).is_none());
        let index = LayerIndex::of(&one_package("small", &["cap".to_owned()])).unwrap();
        assert!(index.may_provide("cap") && index.may_provide("small"));
        assert!(!index.may_provide("cap0"));
    }

    /// A repository of one package `name` providing `provides`.
    fn one_package(name: &str, provides: &[String]) -> crate::Repo {
        let entries: String = provides
            .iter()
            .map(|p| format!("<rpm:entry name=\"{p}\"/>"))
            .collect();
        let xml = format!(
            "<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
             xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"1\">\
             <package type=\"rpm\"><name>{name}</name><arch>x86_64</arch>\
             <version epoch=\"0\" ver=\"1\" rel=\"1\"/>\
             <checksum type=\"sha256\" pkgid=\"YES\">aa</checksum>\
             <format><rpm:provides>{entries}</rpm:provides></format></package></metadata>"
        );
        let mut repo = crate::Repo::empty(name, "/nowhere", "sha256:00");
        crate::parse_primary(&mut xml.as_bytes(), "primary.xml", &mut repo).unwrap();
        repo
    }

    #[test]
    fn files_outside_repodata_are_stamped_from_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let rels = ["repodata/repomd.xml", "extra/p.xml.gz"];
        let (root, cache, verdict) = remembered(dir.path(), &rels);
        assert_eq!(recall(&cache, &root), Some(verdict));
        std::fs::write(root.join("extra/p.xml.gz"), "changed").unwrap();
        assert_eq!(recall(&cache, &root), None);
    }

    #[test]
    fn only_a_memo_that_is_a_regular_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let rels = ["repodata/repomd.xml", "repodata/p.xml.gz"];
        let (root, cache, verdict) = remembered(dir.path(), &rels);
        assert_eq!(recall(&cache, &root), Some(verdict.clone()));
        let memo = memo_path(&cache, &root);
        let kept = cache.join("kept");
        std::fs::rename(&memo, &kept).unwrap();
        // A symlink to a good memo is not followed.
        std::os::unix::fs::symlink(&kept, &memo).unwrap();
        assert_eq!(recall(&cache, &root), None);
        std::fs::remove_file(&memo).unwrap();
        // A FIFO neither blocks nor reads as a memo.
        rustix::fs::mknodat(CWD, &memo, FileType::Fifo, Mode::RUSR | Mode::WUSR, 0).unwrap();
        assert_eq!(recall(&cache, &root), None);
        std::fs::remove_file(&memo).unwrap();
        // Nor a directory.
        std::fs::create_dir(&memo).unwrap();
        assert_eq!(recall(&cache, &root), None);
        std::fs::remove_dir(&memo).unwrap();
        // Nor one larger than a memo can be, even by a byte.
        let exact = std::fs::read_to_string(&kept).unwrap();
        let pad = MAX_MEMO_BYTES as usize - exact.len();
        std::fs::write(&memo, format!("{exact}{}", "#".repeat(pad))).unwrap();
        assert_eq!(
            read_memo(&memo).map(|t| t.len()),
            Some(MAX_MEMO_BYTES as usize)
        );
        std::fs::write(&memo, format!("{exact}{}", "#".repeat(pad + 1))).unwrap();
        assert_eq!(read_memo(&memo), None);
        assert_eq!(recall(&cache, &root), None);
        std::fs::remove_file(&memo).unwrap();
        // Nor one far larger.
        let mut big = std::fs::read_to_string(&kept).unwrap();
        big.push_str(&"#".repeat(MAX_MEMO_BYTES as usize));
        std::fs::write(&memo, big).unwrap();
        assert_eq!(recall(&cache, &root), None);
        std::fs::rename(&kept, &memo).unwrap();
        assert_eq!(recall(&cache, &root), Some(verdict));
    }

    #[test]
    fn pieces_lines_and_fields_split_as_the_standard_library_does() {
        for text in [
            "",
            "\n",
            "one",
            "one\n",
            "one\ntwo",
            "one\n\ntwo\n",
            "one\n\n",
            "a\r\nb",
            "  x  y \n z",
        ] {
            // `str::lines` drops a `\r` before a `\n`; a memo never has one.
            let std: Vec<&str> = text.split('\n').collect();
            let std = match std.split_last() {
                Some((&"", rest)) => rest.to_vec(),
                _ => std,
            };
            assert_eq!(lines_of(text).collect::<Vec<_>>(), std, "{text:?}");
            assert_eq!(
                pieces(text, b' ').collect::<Vec<_>>(),
                text.split(' ').collect::<Vec<_>>(),
                "{text:?}"
            );
        }
        for line in [
            "",
            "file",
            "file 1 2 3 4 5 repodata/repomd.xml",
            "file 1 2 3 4 5 repodata/a name with spaces",
            "file  2 3",
            "file 1 2 3 4 5 ",
        ] {
            for n in [1, 2, 7] {
                assert_eq!(
                    fields(line, n).collect::<Vec<_>>(),
                    line.splitn(n, ' ').collect::<Vec<_>>(),
                    "{line:?} in {n}"
                );
            }
        }
    }

    #[test]
    fn a_memo_is_named_by_the_first_half_of_its_roots_digest() {
        // The name memos were always written under: a memo kept by an
        // earlier build is found.
        let root = Path::new("/srv/out/php-8.2-20261125.n.0/compose/Php/x86_64/os");
        let digest = hex::encode(Sha256::digest(root.as_os_str().as_encoded_bytes()));
        assert_eq!(
            memo_path(Path::new("/cache"), root),
            Path::new("/cache").join(format!("verified-{}.strata", &digest[..32]))
        );
    }

    #[test]
    fn an_index_is_refused_unless_its_names_are_sorted_and_each_once() {
        let index = |names: &str| LayerIndex::new(5, names.to_owned(), vec![1, 2]);
        let good = index("bash glibc zlib").unwrap();
        assert_eq!(good.names().collect::<Vec<_>>(), ["bash", "glibc", "zlib"]);
        assert_eq!(
            good.name_keys(),
            ["bash", "glibc", "zlib"].map(name_key).as_slice()
        );
        assert!(index("").is_some_and(|i| i.names().next().is_none()));
        for bad in [
            "glibc bash",
            "bash bash",
            "bash  glibc",
            " bash",
            "bash ",
            "a b c d e f",
        ] {
            assert!(index(bad).is_none(), "{bad:?}");
        }
    }
}
