//! The SCM clone cache: catalog (and policy) entries that name a file in a
//! git repository at a revision (`git+https://host/repo?path#ref`, as Koji
//! builders take them) are fetched into a bare repository under the cache
//! directory, and the one file is written out beside it, by commit.
//!
//! A remote is hostile until checked, so every git run is bounded: a time
//! limit (the process is killed when it passes), no terminal prompt or
//! askpass program (a repository that wants a password fails at once
//! instead of waiting for a person), a shallow fetch of the one revision,
//! and a size cap on the clone (checked after each fetch; the clone is
//! removed when it is over). The file itself is read at most one byte past
//! the definition size limit. Concurrent processes share the cache under
//! a lock per repository.

use crate::process::{run_bounded, NotRun};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long one git run may take unless `[chain] scm_timeout` says.
pub const DEFAULT_SCM_TIMEOUT: Duration = Duration::from_secs(300);
/// The largest clone of one repository unless `[chain] scm_max_size` says:
/// shallow clones of definition repositories are kilobytes.
pub const DEFAULT_SCM_MAX_BYTES: u64 = 512 << 20;
/// The most of git's error output kept for a message.
const MAX_STDERR: usize = 4096;

/// Bounds of every SCM fetch.
#[derive(Debug, Clone, Copy)]
pub struct ScmLimits {
    pub timeout: Duration,
    pub max_bytes: u64,
}

impl Default for ScmLimits {
    fn default() -> ScmLimits {
        ScmLimits {
            timeout: DEFAULT_SCM_TIMEOUT,
            max_bytes: DEFAULT_SCM_MAX_BYTES,
        }
    }
}

/// The clone cache: `DIR/<key>.git` (bare, shallow), `DIR/<key>.lock`,
/// `DIR/<key>.files/<commit>/<path>`; `key` is a digest of the URL.
#[derive(Debug, Clone)]
pub struct ScmCache {
    pub dir: PathBuf,
    pub limits: ScmLimits,
}

/// One file fetched from SCM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScmFile {
    /// The file, written out under the cache.
    pub path: PathBuf,
    /// The commit the revision named when it was fetched.
    pub commit: String,
}

/// A fetch that failed; `repository` is shown without a password.
#[derive(Debug, thiserror::Error)]
pub enum ScmError {
    #[error("cannot run git to {action} {repository} (is git installed?)")]
    Spawn {
        action: &'static str,
        repository: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "git did not {action} {repository} within {secs} s ([chain] scm_timeout); it was stopped"
    )]
    Timeout {
        action: &'static str,
        repository: String,
        secs: u64,
    },
    #[error("git could not {action} {repository}: {stderr}")]
    Git {
        action: &'static str,
        repository: String,
        stderr: String,
    },
    #[error(
        "the clone of {repository} takes {bytes} bytes, more than the {max} allowed \
         ([chain] scm_max_size); it was removed"
    )]
    TooLarge {
        repository: String,
        bytes: u64,
        max: u64,
    },
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ScmCache {
    pub fn new(dir: PathBuf, limits: ScmLimits) -> ScmCache {
        ScmCache { dir, limits }
    }

    /// `path` of `repository` at `revision` (a branch, tag or commit),
    /// fetched unless the revision is a full commit ID already in the
    /// cache. A branch is fetched every time: it moves.
    pub fn fetch_file(
        &self,
        repository: &str,
        path: &str,
        revision: &str,
    ) -> Result<ScmFile, ScmError> {
        let shown = strata_model::redact_credentials(repository).into_owned();
        let key = &hex::encode(Sha256::digest(repository.as_bytes()))[..24];
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| ScmError::Io {
                action,
                path,
                source,
            }
        };
        std::fs::create_dir_all(&self.dir).map_err(io("create the SCM cache", &self.dir))?;
        let lock_path = self.dir.join(format!("{key}.lock"));
        let _lock = self.lock(&lock_path, &shown)?;
        let clone = self.dir.join(format!("{key}.git"));
        if !clone.join("HEAD").is_file() {
            let _ = std::fs::remove_dir_all(&clone);
            self.git(None, "create a clone of", &shown)
                .arg("init")
                .arg("--bare")
                .arg("--quiet")
                .arg(&clone)
                .run(self.limits.timeout)?;
        }
        let full_commit = revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
        let known = full_commit
            && self
                .git(Some(&clone), "look up a commit of", &shown)
                .args(["cat-file", "-e", &format!("{revision}^{{commit}}")])
                .run(self.limits.timeout)
                .is_ok();
        let commit = if known {
            revision.to_ascii_lowercase()
        } else {
            self.git(Some(&clone), "fetch", &shown)
                .args(["fetch", "--quiet", "--no-tags", "--depth=1", "--"])
                .arg(repository)
                .arg(revision)
                .run(self.limits.timeout)?;
            let bytes = dir_size(&clone);
            if bytes > self.limits.max_bytes {
                let _ = std::fs::remove_dir_all(&clone);
                return Err(ScmError::TooLarge {
                    repository: shown,
                    bytes,
                    max: self.limits.max_bytes,
                });
            }
            let out = self
                .git(Some(&clone), "resolve the revision of", &shown)
                .args(["rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}"])
                .run(self.limits.timeout)?;
            String::from_utf8_lossy(&out).trim().to_owned()
        };
        let file = self
            .dir
            .join(format!("{key}.files"))
            .join(&commit)
            .join(path);
        if file.is_file() {
            // Written whole (renamed into place) by an earlier fetch of
            // the same commit: a commit's content never changes.
            return Ok(ScmFile { path: file, commit });
        }
        let bytes = self
            .git(Some(&clone), "read a file of", &shown)
            .args(["cat-file", "blob", &format!("{commit}:{path}")])
            .cap(strata_model::MAX_DEFINITION_BYTES as u64 + 1)
            .run(self.limits.timeout)?;
        let parent = file.parent().expect("a file under the cache");
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        let tmp = tempfile::NamedTempFile::new_in(parent).map_err(io("write into", parent))?;
        std::fs::write(tmp.path(), &bytes).map_err(io("write", tmp.path()))?;
        tmp.persist(&file)
            .map_err(|e| e.error)
            .map_err(io("write", &file))?;
        Ok(ScmFile { path: file, commit })
    }

    fn git<'a>(&self, dir: Option<&Path>, action: &'static str, shown: &'a str) -> Git<'a> {
        let mut cmd = Command::new("git");
        if let Some(dir) = dir {
            cmd.arg("-C").arg(dir);
        }
        // Never wait for a person: no prompt, no askpass program, ssh in
        // batch mode; stable English messages for the error text.
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true")
            .env("SSH_ASKPASS", "true")
            .env("LC_ALL", "C")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE");
        if std::env::var_os("GIT_SSH_COMMAND").is_none() {
            cmd.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
        }
        Git {
            cmd,
            action,
            shown,
            cap: 1 << 20,
        }
    }

    /// The repository's lock, waiting at most the time limit for another
    /// process's fetch (itself bounded by the same limit); `None` where
    /// the file system cannot lock.
    fn lock(&self, path: &Path, shown: &str) -> Result<Option<std::fs::File>, ScmError> {
        strata_compose::lock_waiting(path, self.limits.timeout).map_err(|e| match e {
            strata_compose::ComposeError::LockTimeout { .. } => ScmError::Timeout {
                action: "wait for another fetch of",
                repository: shown.to_owned(),
                secs: self.limits.timeout.as_secs(),
            },
            other => ScmError::Io {
                action: "lock",
                path: path.to_path_buf(),
                source: std::io::Error::other(strata_compose::error_chain(&other)),
            },
        })
    }
}

/// One git run, bounded in time and output.
struct Git<'a> {
    cmd: Command,
    action: &'static str,
    shown: &'a str,
    /// The most of stdout kept (the reader of a longer file then finds it
    /// one byte too large).
    cap: u64,
}

impl Git<'_> {
    fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, args: I) -> Self {
        self.cmd.args(args);
        self
    }

    fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    fn cap(mut self, cap: u64) -> Self {
        self.cap = cap;
        self
    }

    /// Its stdout (at most `cap` bytes), or why not.
    fn run(mut self, limit: Duration) -> Result<Vec<u8>, ScmError> {
        let (action, repository) = (self.action, self.shown.to_owned());
        let ran = match run_bounded(&mut self.cmd, limit, [self.cap, MAX_STDERR as u64]) {
            Ok(ran) => ran,
            Err(NotRun::Spawn(source)) => {
                return Err(ScmError::Spawn {
                    action,
                    repository,
                    source,
                })
            }
            Err(NotRun::Timeout) => {
                return Err(ScmError::Timeout {
                    action,
                    repository,
                    secs: limit.as_secs(),
                })
            }
        };
        if !ran.status.success() {
            let text = String::from_utf8_lossy(&ran.stderr);
            let stderr = strata_model::one_line(text.trim()).into_owned();
            return Err(ScmError::Git {
                action,
                repository,
                stderr: if stderr.is_empty() {
                    format!("git exited with {}", ran.status)
                } else {
                    stderr
                },
            });
        }
        Ok(ran.stdout)
    }
}

/// Bytes under `dir` (files only; what cannot be read counts nothing).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(items) = std::fs::read_dir(&d) else {
            continue;
        };
        for item in items.flatten() {
            match item.file_type() {
                Ok(t) if t.is_dir() => stack.push(item.path()),
                Ok(t) if t.is_file() => total += item.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}
