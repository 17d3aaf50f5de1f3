//! Staging directories and the locks that tell a live compose from an
//! abandoned one, when several hosts share the output directory (Koji
//! builders share /mnt/koji).
//!
//! A compose stages its output in
//! `OUT/.staging/.staging-<compose-id>@<host>-<pid>/`:
//! ```text
//! lock             flock()ed (exclusive) for the whole life of the compose
//! tree/            the compose; renamed to OUT/<compose-id> when complete
//! STATUS.finished  renamed to OUT/<compose-id>/STATUS once the registry
//!                  recorded the compose finished
//! ```
//! The lock file is made under another name, locked, then renamed to
//! `lock`, so a `lock` is never seen unlocked while its compose lives.
//! Another compose removes a staging directory only when it can take that
//! lock without waiting: the kernel (or, on NFSv4, the server) releases it
//! when its holder dies, however it dies, on whichever host. A PID says
//! nothing across hosts or PID namespaces, so it is only a fallback for a
//! directory that has no lock to ask: a file system without lock support
//! (flock fails with ENOLCK or EOPNOTSUPP; NFSv3 without lockd, some FUSE
//! file systems), or the instant between the directory's creation and its
//! lock's. Then only a directory of this host whose PID no longer exists
//! is removed, and another host's is never touched. (An NFS mount with
//! `local_lock=flock` or `nolock` makes flock host-local while seeming to
//! work: do not share OUT across hosts on such a mount.)
//!
//! Staging directories have a directory of their own, `OUT/.staging`, so
//! that looking for abandoned ones reads only the live few, not every
//! compose kept in OUT (thousands, at a distribution's scale). Until it
//! exists, OUT itself is looked in: Strata before it staged there.

use crate::error::{io, ComposeError, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PREFIX: &str = ".staging-";
/// `OUT/.staging`, where staging directories are.
const ROOT: &str = ".staging";
const LOCK: &str = "lock";
const LOCK_NEW: &str = "lock.new";
const TREE: &str = "tree";
const STATUS_FINISHED: &str = "STATUS.finished";

/// This host's name as it goes into file names: the characters of a DNS
/// name, anything else replaced by `_`.
pub(crate) fn host_name() -> String {
    let uname = rustix::system::uname();
    let name: String = uname
        .nodename()
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// Who staged a directory, from its name.
#[derive(Debug, PartialEq, Eq)]
struct Owner {
    host: String,
    pid: u32,
}

/// `.staging-<id>@<host>-<pid>` → the owner. (`@` is not allowed in compose
/// IDs; a host name has `-` but the PID does not.)
fn parse_owner(name: &str) -> Option<Owner> {
    let rest = name.strip_prefix(PREFIX)?;
    let (_, host_pid) = rest.rsplit_once('@')?;
    let (host, pid) = host_pid.rsplit_once('-')?;
    Some(Owner {
        host: host.to_string(),
        pid: pid.parse().ok()?,
    })
}

/// The outcome of asking for a lock without waiting.
enum TryLock {
    Taken,
    HeldElsewhere,
    /// The file system cannot lock (or refused for another reason).
    Unsupported(std::io::Error),
}

fn try_lock(file: &File) -> TryLock {
    use rustix::fs::{flock, FlockOperation};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => TryLock::Taken,
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => TryLock::HeldElsewhere,
        Err(e) => TryLock::Unsupported(e.into()),
    }
}

/// Takes an exclusive lock on `path` (created if missing), waiting at
/// most `limit` for another holder. `Ok(None)`: the file system cannot
/// lock; the caller goes on unprotected, as it did before locks.
pub fn lock_waiting(path: &Path, limit: Duration) -> Result<Option<File>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io(path))?;
    let deadline = Instant::now() + limit;
    loop {
        match try_lock(&file) {
            TryLock::Taken => return Ok(Some(file)),
            TryLock::Unsupported(e) => {
                tracing::warn!(
                    "cannot lock {}: {e}; going on without the lock",
                    path.display()
                );
                return Ok(None);
            }
            TryLock::HeldElsewhere if Instant::now() >= deadline => {
                return Err(crate::error::ComposeError::LockTimeout {
                    path: path.display().to_string(),
                    waited_s: limit.as_secs(),
                })
            }
            TryLock::HeldElsewhere => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A compose's staging directory, locked while this value lives and
/// removed (with whatever it still holds) when it is dropped: on every
/// error and interruption, and after the output was put in place. A
/// process that dies without dropping it leaves it for the next compose
/// (its lock dies with the process).
pub(crate) struct Staging {
    dir: PathBuf,
    /// Held for the life of the compose; None where locks do not work.
    _lock: Option<File>,
    /// Removals of parts of the directory already running (see
    /// [`Staging::remover`]); joined before the rest goes.
    removing: Vec<std::thread::JoinHandle<()>>,
}

impl Staging {
    /// Makes `OUT/.staging/.staging-<compose_id>@<host>-<pid>/` with its
    /// lock taken and an empty `tree/`.
    pub(crate) fn create(out: &Path, compose_id: &str) -> Result<Staging> {
        let root = out.join(ROOT);
        match std::fs::create_dir(&root) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(io(&root)(e)),
            _ => {}
        }
        // Not through a symlink: a staged compose is renamed into OUT,
        // which only works on OUT's own file system.
        if !std::fs::symlink_metadata(&root).is_ok_and(|m| m.is_dir()) {
            return Err(io(&root)(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "is not a directory: composes are staged in it",
            )));
        }
        let dir = root.join(format!(
            "{PREFIX}{compose_id}@{}-{}",
            host_name(),
            std::process::id()
        ));
        std::fs::create_dir(&dir).map_err(io(&dir))?;
        // From here on, dropping removes the directory again.
        let mut staging = Staging {
            dir,
            _lock: None,
            removing: Vec::new(),
        };
        staging._lock = staging.lock(compose_id)?;
        let tree = staging.tree();
        std::fs::create_dir(&tree).map_err(io(&tree))?;
        Ok(staging)
    }

    /// Locks `lock.new`, then gives it its name, so that `lock` is never
    /// seen unlocked while this compose lives.
    fn lock(&self, compose_id: &str) -> Result<Option<File>> {
        let new = self.dir.join(LOCK_NEW);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&new)
            .map_err(io(&new))?;
        let held = match try_lock(&file) {
            TryLock::Taken => true,
            TryLock::HeldElsewhere => false,
            TryLock::Unsupported(e) => {
                tracing::warn!(
                    "{} cannot be locked ({e}): other composes tell this one is alive by its \
                     host name and PID only",
                    self.dir.display()
                );
                false
            }
        };
        // Who holds it, for a person looking at a leftover.
        writeln!(
            file,
            "host {}\npid {}\ncompose {compose_id}",
            host_name(),
            std::process::id()
        )
        .map_err(io(&new))?;
        let lock = self.dir.join(LOCK);
        std::fs::rename(&new, &lock).map_err(io(&lock))?;
        Ok(held.then_some(file))
    }

    /// Where the compose is written.
    pub(crate) fn tree(&self) -> PathBuf {
        self.dir.join(TREE)
    }

    /// The `STATUS` that replaces the published one once the registry
    /// recorded the compose finished.
    pub(crate) fn finished_status(&self) -> PathBuf {
        self.dir.join(STATUS_FINISHED)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts removing `part` (a directory inside the staging directory:
    /// an artifact's installroot) on a thread of its own, so that
    /// unlinking its files overlaps the writing, the syncs and the
    /// registry's record instead of following them. Files handed to the
    /// returned [`Remover`] go at once (the reader is done with them);
    /// the rest of `part` goes once the `Remover` is dropped. The staging
    /// directory itself is still removed only after this: dropping the
    /// `Staging` waits for it.
    pub(crate) fn remover(&mut self, part: PathBuf) -> Remover {
        debug_assert!(
            part.starts_with(&self.dir),
            "only a part of the staging directory"
        );
        let (tx, rx) = std::sync::mpsc::channel::<PathBuf>();
        let spawned = std::thread::Builder::new()
            .name("strata-remove".into())
            .spawn(move || {
                for file in rx {
                    // Only what lies in `part`; a file that cannot go now
                    // goes with the rest (or is reported then).
                    if file.starts_with(&part) {
                        let _ = std::fs::remove_file(&file);
                    }
                }
                if let Err(e) = std::fs::remove_dir_all(&part) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!("cannot remove {}: {e}", part.display());
                    }
                }
            });
        match spawned {
            Ok(handle) => {
                self.removing.push(handle);
                Remover(Some(tx))
            }
            // Without a thread, `part` goes with the rest, as before.
            Err(_) => Remover(None),
        }
    }

    /// Ends the writing of the tree: `STATUS` STARTED in it (Pungi's word
    /// while a compose is not known to be good), the `STATUS` FINISHED
    /// that replaces it once recorded written now (while a full disk can
    /// still fail the compose cleanly; after the record it only has to be
    /// renamed), and everything made durable before it becomes visible.
    pub(crate) fn seal(&self) -> Result<()> {
        let tree = self.tree();
        let status = tree.join("STATUS");
        std::fs::write(&status, "STARTED\n").map_err(io(&status))?;
        let finished = self.finished_status();
        std::fs::write(&finished, "FINISHED\n").map_err(io(&finished))?;
        sync_tree(&tree)?;
        std::fs::File::open(&finished)
            .and_then(|f| f.sync_all())
            .map_err(io(&finished))?;
        sync_dir(&self.dir);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        for handle in self.removing.drain(..) {
            // A removal that panicked leaves its part to remove_dir_all.
            let _ = handle.join();
        }
        // The lock is released after the removal (fields drop after this),
        // so nobody else starts removing it at the same time.
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(
                    "cannot remove staging directory {}: {e}; the next compose will",
                    self.dir.display()
                );
            }
        }
    }
}

/// Hands files to a background removal (see [`Staging::remover`]).
pub(crate) struct Remover(Option<std::sync::mpsc::Sender<PathBuf>>);

impl Remover {
    /// `file` is no longer needed: it may go now.
    pub(crate) fn done_with(&self, file: PathBuf) {
        if let Some(tx) = &self.0 {
            // A removal thread that is gone leaves the file to the end.
            let _ = tx.send(file);
        }
    }
}

/// Removes the staging directories of OUT (`out`) that are provably
/// abandoned (see the module documentation); every other one is left
/// alone. They are in `OUT/.staging`, or in OUT itself until that exists.
pub(crate) fn clean_stale_staging(out: &Path) {
    let root = out.join(ROOT);
    let dir = match std::fs::symlink_metadata(&root) {
        Ok(m) if m.is_dir() => root,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.to_path_buf(),
        // Staging fails on it, and says so.
        _ => return,
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let host = host_name();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.starts_with(PREFIX) || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = e.path();
        let owner = parse_owner(&name);
        // This process's own composes (threads of a Python program) are
        // alive; and where flock is emulated with POSIX locks (NFS), a
        // process would be granted its own lock again.
        if owner
            .as_ref()
            .is_some_and(|o| o.host == host && o.pid == std::process::id())
        {
            continue;
        }
        let why = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join(LOCK))
        {
            Ok(file) => match try_lock(&file) {
                // Removed while holding the lock: nobody else removes it
                // at the same time, and its owner is gone.
                TryLock::Taken => {
                    remove_abandoned(&dir, "its lock is free: the compose is no longer running");
                    continue;
                }
                TryLock::HeldElsewhere => continue,
                TryLock::Unsupported(_) => "cannot be locked here",
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "has no lock file",
            Err(e) => {
                tracing::info!("leaving {}: cannot open its lock: {e}", dir.display());
                continue;
            }
        };
        match owner {
            Some(o) if o.host == host && !pid_alive(o.pid) => remove_abandoned(
                &dir,
                &format!(
                    "it {why}, and process {} no longer runs on this host",
                    o.pid
                ),
            ),
            Some(_) => {}
            // Older Strata named staging directories without the host;
            // which host made them cannot be known, so they stay.
            None => tracing::info!(
                "leaving {}: it {why} and its name does not say which host made it; \
                 remove it by hand once no compose uses it",
                dir.display()
            ),
        }
    }
}

fn remove_abandoned(dir: &Path, why: &str) {
    tracing::info!("removing {}: {why}", dir.display());
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("cannot remove {}: {e}", dir.display());
        }
    }
}

/// Whether process `pid` exists on this host (in this PID namespace).
/// Permission errors mean it exists.
fn pid_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(e) if e == rustix::io::Errno::SRCH
    )
}

/// Flushes every file under `dir` to disk, then the directories. The
/// flushes are independent, and a disk (a VM's virtual one above all)
/// serves several at once much faster than one after another, so they run
/// on a few threads: a small compose's publishing is mostly its flushes.
pub(crate) fn sync_tree(dir: &Path) -> Result<()> {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    walk(dir, &mut files, &mut dirs)?;
    on_threads(&files, |p| {
        std::fs::File::open(p)
            .and_then(|f| f.sync_all())
            .map_err(io(p))
    })?;
    on_threads(&dirs, |d| {
        sync_dir(d);
        Ok(())
    })
}

/// The files under `dir` that need a flush, and its directories.
fn walk(dir: &Path, files: &mut Vec<PathBuf>, dirs: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        let p = e.path();
        let ft = e.file_type().map_err(io(&p))?;
        if ft.is_dir() {
            walk(&p, files, dirs)?;
        } else if ft.is_file() {
            // Hardlinked payloads are already durable in the source.
            if !e.metadata().map(|m| is_hardlinked(&m)).unwrap_or(false) {
                files.push(p);
            }
        }
    }
    dirs.push(dir.to_path_buf());
    Ok(())
}

/// `f` on every path, on up to [`SYNC_THREADS`] threads; the first error.
fn on_threads(paths: &[PathBuf], f: impl Fn(&Path) -> Result<()> + Sync) -> Result<()> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || -> Result<()> {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(p) = paths.get(i) else {
                return Ok(());
            };
            f(p)?;
        }
    };
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..SYNC_THREADS.min(paths.len()))
            .map(|_| s.spawn(work))
            .collect();
        let mine = work();
        helpers
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .chain(std::iter::once(mine))
            .collect()
    })
}

/// Flushes in flight at once: enough for a disk's queue, few threads.
const SYNC_THREADS: usize = 8;

fn is_hardlinked(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    m.nlink() > 1
}

/// Swaps two directories in one step (`renameat2(RENAME_EXCHANGE)`): a
/// reader of either path sees the old tree or the new one whole, never a
/// mix, as a repository being replaced must (its repodata and its
/// packages go together). Both must exist on one filesystem; a filesystem
/// without the exchange gives an error saying so.
pub fn exchange_dirs(a: &Path, b: &Path) -> Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    for p in [a, b] {
        let meta = std::fs::symlink_metadata(p).map_err(io(p))?;
        if !meta.is_dir() {
            return Err(ComposeError::Io {
                path: p.display().to_string(),
                source: std::io::Error::other("not a directory (only directories are exchanged)"),
            });
        }
    }
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|e| ComposeError::Io {
        path: format!("{} ⇄ {}", a.display(), b.display()),
        source: std::io::Error::other(format!(
            "cannot exchange the two directories in one step (renameat2 RENAME_EXCHANGE): {e}"
        )),
    })?;
    if let Some(parent) = b.parent() {
        sync_dir(parent);
    }
    if let Some(parent) = a.parent().filter(|p| Some(*p) != b.parent()) {
        sync_dir(parent);
    }
    Ok(())
}

/// Makes the entries of `dir` (a rename into it, a new file) durable;
/// best effort, as some file systems refuse to sync a directory.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn fake(out: &Path, host: &str, pid: u32, locked: bool) -> (PathBuf, Option<File>) {
        let dir = out
            .join(ROOT)
            .join(format!("{PREFIX}m-1-20261125.n.0@{host}-{pid}"));
        std::fs::create_dir_all(dir.join(TREE)).unwrap();
        let f = File::create(dir.join(LOCK)).unwrap();
        let held = locked.then(|| {
            assert!(matches!(try_lock(&f), TryLock::Taken));
            f
        });
        (dir, held)
    }

    /// A PID that cannot exist: above Linux's largest pid_max.
    const DEAD: u32 = 4_194_305;

    #[test]
    fn a_part_handed_to_the_remover_goes_before_the_staging_directory_and_nothing_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, "keep").unwrap();
        let mut staging = Staging::create(tmp.path(), "m-1-20261206.n.0").unwrap();
        let root = staging.dir().join("root");
        std::fs::create_dir_all(root.join("usr/share")).unwrap();
        let files: Vec<PathBuf> = (0..50)
            .map(|i| root.join(format!("usr/share/f{i}")))
            .collect();
        for f in &files {
            std::fs::write(f, "x").unwrap();
        }
        let dir = staging.dir().to_path_buf();
        {
            let remover = staging.remover(root.clone());
            for f in &files[..10] {
                remover.done_with(f.clone());
            }
            // Not in the part: never removed by it.
            remover.done_with(outside.clone());
            // The files handed over go while the remover lives.
            let deadline = Instant::now() + Duration::from_secs(10);
            while files[..10].iter().any(|f| f.exists()) {
                assert!(Instant::now() < deadline, "handed files still there");
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(files[10..].iter().all(|f| f.exists()));
        }
        // Dropped: the rest of the part goes; the tree stays until the
        // staging directory itself is dropped.
        let deadline = Instant::now() + Duration::from_secs(10);
        while root.exists() {
            assert!(Instant::now() < deadline, "the part is still there");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(staging.tree().exists());
        drop(staging);
        assert!(!dir.exists());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
    }

    #[test]
    fn names() {
        assert_eq!(
            parse_owner(".staging-apache-2.4-20261125.n.0@builder-01.example.org-4242"),
            Some(Owner {
                host: "builder-01.example.org".into(),
                pid: 4242
            })
        );
        assert_eq!(parse_owner(".staging-apache-2.4-20261125.n.0-4242"), None);
        assert!(!host_name().is_empty());
    }

    #[test]
    fn a_held_lock_keeps_a_directory_whatever_its_name_says() {
        let out = tempfile::tempdir().unwrap();
        let (here, here_lock) = fake(out.path(), &host_name(), DEAD, true);
        let (there, there_lock) = fake(out.path(), "elsewhere", DEAD, true);
        clean_stale_staging(out.path());
        assert!(here.is_dir() && there.is_dir());
        drop((here_lock, there_lock));
        clean_stale_staging(out.path());
        assert!(!here.exists() && !there.exists());
    }

    #[test]
    fn without_a_lock_only_dead_local_processes_count() {
        let out = tempfile::tempdir().unwrap();
        let (dead_here, _) = fake(out.path(), &host_name(), DEAD, false);
        std::fs::remove_file(dead_here.join(LOCK)).unwrap();
        let (alive_here, _) = fake(out.path(), &host_name(), std::process::id(), false);
        std::fs::remove_file(alive_here.join(LOCK)).unwrap();
        let (there, _) = fake(out.path(), "elsewhere", DEAD, false);
        std::fs::remove_file(there.join(LOCK)).unwrap();
        let legacy = out
            .path()
            .join(ROOT)
            .join(format!("{PREFIX}m-1-20261125.n.0-{DEAD}"));
        std::fs::create_dir(&legacy).unwrap();
        clean_stale_staging(out.path());
        assert!(!dead_here.exists());
        assert!(alive_here.is_dir() && there.is_dir() && legacy.is_dir());
    }

    #[test]
    fn staging_has_a_directory_of_its_own_and_only_it_is_read_once_it_exists() {
        let out = tempfile::tempdir().unwrap();
        // Strata before `.staging` staged in OUT itself: while there is no
        // `.staging`, an abandoned one there is still found.
        let old = out
            .path()
            .join(format!("{PREFIX}m-1-20261124.n.0@{}-{DEAD}", host_name()));
        std::fs::create_dir(&old).unwrap();
        File::create(old.join(LOCK)).unwrap();
        let kept = out.path().join("m-1-20261124.n.1");
        std::fs::create_dir(&kept).unwrap();
        clean_stale_staging(out.path());
        assert!(!old.exists() && kept.is_dir());

        let staging = Staging::create(out.path(), "m-1-20261125.n.0").unwrap();
        assert_eq!(
            staging.dir().parent(),
            Some(out.path().join(ROOT).as_path())
        );
        // From now on OUT itself is not read: what looks like an abandoned
        // staging directory there is left alone.
        std::fs::create_dir(&old).unwrap();
        File::create(old.join(LOCK)).unwrap();
        let (abandoned, _) = fake(out.path(), &host_name(), DEAD, false);
        clean_stale_staging(out.path());
        assert!(old.is_dir() && !abandoned.exists() && staging.dir().is_dir());
        drop(staging);

        // A `.staging` that is not a directory is an error naming it, and
        // nothing is staged through a symlink.
        let elsewhere = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), out.path().join(ROOT)).unwrap();
        let e = Staging::create(out.path(), "m-1-20261125.n.0")
            .err()
            .expect("a symlinked .staging is refused")
            .to_string();
        assert!(
            e.contains(".staging") && e.contains("not a directory"),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn staging_is_locked_while_it_lives_and_removed_when_dropped() {
        let out = tempfile::tempdir().unwrap();
        let staging = Staging::create(out.path(), "m-1-20261125.n.0").unwrap();
        let dir = staging.dir().to_path_buf();
        assert!(staging.tree().is_dir());
        let other = File::open(dir.join(LOCK)).unwrap();
        assert!(matches!(try_lock(&other), TryLock::HeldElsewhere));
        clean_stale_staging(out.path());
        assert!(dir.is_dir());
        drop(staging);
        assert!(!dir.exists());
    }

    #[test]
    fn waiting_for_a_lock_is_bounded() {
        let out = tempfile::tempdir().unwrap();
        let path = out.path().join(".x.lock");
        let held = lock_waiting(&path, Duration::ZERO).unwrap();
        assert!(held.is_some());
        let e = lock_waiting(&path, Duration::ZERO).unwrap_err().to_string();
        assert!(e.contains(".x.lock") && e.contains("0 s"), "{e}");
        drop(held);
        assert!(lock_waiting(&path, Duration::ZERO).unwrap().is_some());
    }

    #[test]
    fn exchange_swaps_whole_trees_and_refuses_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(a.join("repodata")).unwrap();
        std::fs::write(a.join("repodata/repomd.xml"), "new").unwrap();
        std::fs::create_dir_all(b.join("repodata")).unwrap();
        std::fs::write(b.join("repodata/repomd.xml"), "old").unwrap();
        std::fs::write(b.join("media.repo"), "kept aside").unwrap();
        exchange_dirs(&a, &b).unwrap();
        assert_eq!(
            std::fs::read_to_string(b.join("repodata/repomd.xml")).unwrap(),
            "new"
        );
        assert!(!b.join("media.repo").exists());
        assert_eq!(
            std::fs::read_to_string(a.join("repodata/repomd.xml")).unwrap(),
            "old"
        );
        assert!(a.join("media.repo").exists());

        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let shown = exchange_dirs(&a, &file).unwrap_err().to_string();
        assert!(
            shown.contains("not a directory") && shown.contains('f'),
            "{shown}"
        );
        let shown = exchange_dirs(&a, &dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(shown.contains("missing"), "{shown}");
    }
}
