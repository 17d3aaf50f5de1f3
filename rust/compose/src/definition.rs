//! Step 1 of a compose: the definition. It is read as hostile input (only
//! a regular file, and at most one byte past the size limit, so that a
//! FIFO, a device or a huge file cannot hang or exhaust the compose before
//! the definition is even parsed), checked, and digested; where it is
//! committed in git, its SCM reference is found.

use crate::error::{io, ComposeError, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};
use strata_model::MAX_DEFINITION_BYTES;
use strata_model::{
    ArtifactDefinition, DefinitionError, ModuleDefinition, Problem, ReleaseDefinition,
    StrataDocument,
};

/// Reads and validates a definition file; gives it with the SHA-256 of
/// its bytes.
pub fn read_definition(path: &Path) -> Result<(ModuleDefinition, String)> {
    let bytes = read_definition_bytes(path, strata_model::MODULE_DOCUMENT, "a module definition")?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let def = ModuleDefinition::from_bytes(&bytes, &path.display().to_string())?;
    Ok((def, digest))
}

/// Reads and validates an artifact definition file; gives it with the
/// SHA-256 of its bytes.
pub fn read_artifact_definition(path: &Path) -> Result<(ArtifactDefinition, String)> {
    let bytes = read_definition_bytes(
        path,
        strata_model::ARTIFACT_DOCUMENT,
        "an artifact definition",
    )?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let def = ArtifactDefinition::from_bytes(&bytes, &path.display().to_string())?;
    Ok((def, digest))
}

/// Reads and validates a release document; gives it with the SHA-256 of
/// its bytes.
pub fn read_release(path: &Path) -> Result<(ReleaseDefinition, String)> {
    let bytes = read_definition_bytes(path, strata_model::RELEASE_DOCUMENT, "a release document")?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let def = ReleaseDefinition::from_bytes(&bytes, &path.display().to_string())?;
    Ok((def, digest))
}

/// Reads a file as the document its `document:` key names (a module
/// definition when it names none: that reader then says what is missing),
/// with the same limits as [`read_definition`].
pub fn read_document(path: &Path) -> Result<StrataDocument> {
    Ok(read_document_digest(path)?.0)
}

/// [`read_document`], with the SHA-256 of the file's bytes (what a
/// compose of it records): for a catalog entry, which may be a module or
/// an artifact definition.
pub fn read_document_digest(path: &Path) -> Result<(StrataDocument, String)> {
    // The size limit is the same for every document; the type is only
    // known once the bytes are read, so what cannot be read is reported
    // as a module definition, the default.
    let bytes = read_definition_bytes(path, strata_model::MODULE_DOCUMENT, "a module definition")?;
    let digest = hex::encode(Sha256::digest(&bytes));
    Ok((
        StrataDocument::from_bytes(&bytes, &path.display().to_string())?,
        digest,
    ))
}

/// The bytes of the definition at `path`: at most
/// `MAX_DEFINITION_BYTES + 1`, which [`strata_model::ModuleDefinition::from_bytes`]
/// then refuses as too large.
fn read_definition_bytes(path: &Path, document: &'static str, noun: &str) -> Result<Vec<u8>> {
    // Non-blocking, so that opening a FIFO does not wait for a writer; the
    // flag changes nothing for the regular file read below.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io(path))?;
    let meta = file.metadata().map_err(io(path))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "not a regular file"
        };
        return Err(ComposeError::Definition(DefinitionError {
            file: path.display().to_string(),
            document,
            problems: vec![Problem {
                key: String::new(),
                line: None,
                column: None,
                message: format!("this is {what}; {noun} must be a regular file"),
            }],
        }));
    }
    let cap = MAX_DEFINITION_BYTES + 1;
    let mut bytes = Vec::with_capacity((meta.len() as usize).min(cap));
    file.take(cap as u64)
        .read_to_end(&mut bytes)
        .map_err(io(path))?;
    Ok(bytes)
}

/// How long [`detect_scm_ref`] waits for git: a local `rev-parse` and
/// `status` of one file take milliseconds; a hung file system must not
/// hang the compose.
const GIT_LIMIT: Duration = Duration::from_secs(10);

/// `git+file://TOPLEVEL?RELPATH#COMMIT` (Koji's SCM URL shape) when the
/// definition is committed in a git work tree without local changes.
/// Both questions go to git at once (a git process's start is most of
/// its time), each bounded by [`GIT_LIMIT`].
pub fn detect_scm_ref(path: &Path) -> Option<String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name()?.to_str()?;
    if !may_be_in_work_tree(dir) {
        return None;
    }
    let deadline = Instant::now() + GIT_LIMIT;
    let head = Git::ask(dir, &["rev-parse", "--show-toplevel", "HEAD"]);
    let status = Git::ask(dir, &["status", "--porcelain", "--", name]);
    // Both answered (or stopped at the limit) before either is judged: a
    // git left running after the probe is done would race the user's.
    let head = head.and_then(|g| g.answer(deadline));
    let status = status.and_then(|g| g.answer(deadline));
    let (head, status) = (head?, status?);
    let mut lines = head.lines();
    let (top, commit) = (lines.next()?, lines.next()?);
    if !status.is_empty() {
        tracing::warn!(
            "{} has uncommitted changes: the compose records no SCM reference",
            path.display()
        );
        return None;
    }
    let abs = std::fs::canonicalize(path).ok()?;
    let rel = abs.strip_prefix(top).ok()?.display().to_string();
    Some(format!("git+file://{top}?{rel}#{commit}"))
}

/// Whether git could find a work tree holding `dir`: there is a `.git`
/// in it or above it, or the environment names one (`GIT_DIR`,
/// `GIT_WORK_TREE`). Where neither holds (a generated definition, a tree
/// unpacked from an archive), git would only say so: two git processes
/// cost a compose a few milliseconds of a core, which a deep stack's
/// loads would rather have. What cannot be looked at is left to git.
fn may_be_in_work_tree(dir: &Path) -> bool {
    if ["GIT_DIR", "GIT_WORK_TREE"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
    {
        return true;
    }
    // Physical, as git walks up from its working directory.
    let Ok(abs) = std::fs::canonicalize(dir) else {
        return true;
    };
    abs.ancestors()
        .any(|d| match d.join(".git").symlink_metadata() {
            Ok(_) => true,
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        })
}

/// A git command under way: its output comes from a thread that waits
/// for it; the process is stopped through a pidfd, which names it and
/// nothing else even once it has been reaped.
struct Git {
    done: std::sync::mpsc::Receiver<std::io::Result<std::process::Output>>,
    pidfd: Option<std::os::fd::OwnedFd>,
    args: String,
}

impl Git {
    fn ask(dir: &Path, args: &[&str]) -> Option<Git> {
        use std::process::Stdio;
        // A probe only reads: `--no-optional-locks` keeps `git status`
        // from writing the refreshed index, which takes `index.lock`
        // while the user's own git may want it.
        let child = std::process::Command::new("git")
            .arg("--no-optional-locks")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // Opened before anyone waits, so it is this child's.
        let pidfd = rustix::process::pidfd_open(
            rustix::process::Pid::from_child(&child),
            rustix::process::PidfdFlags::empty(),
        )
        .ok();
        let (tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        Some(Git {
            done,
            pidfd,
            args: args.join(" "),
        })
    }

    /// Its standard output, trimmed, if it succeeded by `deadline`.
    fn answer(self, deadline: Instant) -> Option<String> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.done.recv_timeout(wait) {
            Ok(Ok(out)) if out.status.success() => {
                Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
            }
            Ok(_) => None,
            Err(_) => {
                tracing::warn!(
                    "git {} did not answer within {} s: the compose records no SCM reference",
                    self.args,
                    GIT_LIMIT.as_secs()
                );
                if let Some(fd) = &self.pidfd {
                    let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
                }
                None
            }
        }
    }
}

/// [`detect_scm_ref`] on a thread of its own, started when the compose
/// starts and asked when it is recorded, so that git runs while the
/// compose reads its inputs. A reference the caller gave (Koji's SCM URL)
/// is used as it is.
pub(crate) enum ScmProbe {
    Known(Option<String>),
    Asking(std::thread::JoinHandle<Option<String>>),
}

impl ScmProbe {
    pub(crate) fn start(given: Option<String>, definition: &Path) -> ScmProbe {
        if given.is_some() {
            return ScmProbe::Known(given);
        }
        let path = definition.to_path_buf();
        match std::thread::Builder::new()
            .name("strata-scm".into())
            .spawn(move || detect_scm_ref(&path))
        {
            Ok(handle) => ScmProbe::Asking(handle),
            Err(_) => ScmProbe::Known(detect_scm_ref(definition)),
        }
    }

    pub(crate) fn answer(self) -> Option<String> {
        match self {
            ScmProbe::Known(known) => known,
            ScmProbe::Asking(handle) => handle.join().unwrap_or(None),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn the_scm_reference_is_found_only_for_a_committed_unchanged_definition() {
        let tmp = tempfile::tempdir().unwrap();
        let top = std::fs::canonicalize(tmp.path()).unwrap();
        let sub = top.join("modules");
        std::fs::create_dir(&sub).unwrap();
        let def = sub.join("php.yaml");
        std::fs::write(&def, "one\n").unwrap();
        // Not a work tree yet: git is not even asked.
        assert!(!may_be_in_work_tree(&sub));
        assert_eq!(detect_scm_ref(&def), None);
        git(&top, &["init", "-q", "-b", "main"]);
        assert!(may_be_in_work_tree(&sub));
        // A work tree without a commit.
        assert_eq!(detect_scm_ref(&def), None);
        git(&top, &["add", "."]);
        git(&top, &["commit", "-q", "-m", "one"]);
        let head = std::process::Command::new("git")
            .arg("-C")
            .arg(&top)
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap();
        let head = String::from_utf8(head.stdout).unwrap();
        let want = format!(
            "git+file://{}?modules/php.yaml#{}",
            top.display(),
            head.trim()
        );
        assert_eq!(detect_scm_ref(&def).as_deref(), Some(want.as_str()));
        // From a probe started earlier, and a given one as given.
        assert_eq!(
            ScmProbe::start(None, &def).answer().as_deref(),
            Some(want.as_str())
        );
        let given = "git+https://src.example.org/m.git?php.yaml#abc".to_string();
        assert_eq!(
            ScmProbe::start(Some(given.clone()), &def).answer(),
            Some(given)
        );
        // Changed, or another file changed beside it: only its own state
        // counts.
        std::fs::write(sub.join("other.yaml"), "x\n").unwrap();
        assert_eq!(detect_scm_ref(&def).as_deref(), Some(want.as_str()));
        std::fs::write(&def, "two\n").unwrap();
        assert_eq!(detect_scm_ref(&def), None);
    }

    #[test]
    fn git_is_asked_wherever_it_could_find_a_work_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let top = std::fs::canonicalize(tmp.path()).unwrap();
        let plain = top.join("plain/modules");
        std::fs::create_dir_all(&plain).unwrap();
        assert!(!may_be_in_work_tree(&plain));
        // A linked work tree's `.git` is a file.
        let linked = top.join("linked/modules");
        std::fs::create_dir_all(&linked).unwrap();
        std::fs::write(top.join("linked/.git"), "gitdir: /elsewhere\n").unwrap();
        assert!(may_be_in_work_tree(&linked));
        // Reached through a symlink from outside: git walks up from where
        // it really is.
        std::os::unix::fs::symlink(&linked, top.join("plain/to-linked")).unwrap();
        assert!(may_be_in_work_tree(&top.join("plain/to-linked")));
        // What cannot be resolved is left to git.
        assert!(may_be_in_work_tree(&top.join("gone")));
    }

    /// The probe only reads the work tree: git writes no refreshed index
    /// for it (`--no-optional-locks`), so it never holds `index.lock`
    /// against the user's own git, and no git of it runs on after it
    /// answered (before, a work tree without a commit answered at once
    /// and left `git status` running; the user's `git add` then found
    /// the lock taken).
    #[test]
    fn the_probe_neither_writes_the_index_nor_leaves_git_running() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let top = std::fs::canonicalize(tmp.path()).unwrap();
        let def = top.join("php.yaml");
        std::fs::write(&def, "one\n").unwrap();
        git(&top, &["init", "-q", "-b", "main"]);
        for _ in 0..20 {
            // No commit yet: `rev-parse HEAD` fails at once.
            std::fs::write(top.join("other.yaml"), "x\n").unwrap();
            assert_eq!(detect_scm_ref(&def), None);
            assert!(
                !top.join(".git/index.lock").exists(),
                "a git of the probe still holds index.lock"
            );
            git(&top, &["add", "."]);
            git(&top, &["rm", "-q", "--cached", "other.yaml", "php.yaml"]);
        }
        git(&top, &["add", "."]);
        git(&top, &["commit", "-q", "-m", "one"]);
        // Same content, newer stat data: a `git status` that may write
        // refreshes the index and replaces it.
        let later = std::time::SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&def)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let index = top.join(".git/index");
        let before = std::fs::metadata(&index).unwrap();
        assert!(detect_scm_ref(&def).is_some());
        let after = std::fs::metadata(&index).unwrap();
        assert_eq!(
            (before.ino(), before.mtime_nsec(), before.mtime()),
            (after.ino(), after.mtime_nsec(), after.mtime()),
            "the probe rewrote the index"
        );
    }
}
