//! Opening a file of a repository without leaving the repository.
//!
//! A location href is the repository's word, and a repository may be
//! hostile: `Evil -> /etc` plus an href `Evil/shadow`, an RPM that is a
//! symlink to `/dev/zero`, a FIFO that blocks whoever opens it. So a path
//! is walked one component at a time from a descriptor of the root
//! (openat with `O_NOFOLLOW`, never a path string the kernel resolves on
//! its own), each entry is looked at before it is opened (`fstatat`
//! without following), and only a regular file is opened, non-blocking,
//! then checked again on its descriptor, so an entry swapped in between is
//! noticed. Canonicalising and comparing prefixes would race with a
//! repository changing under us; this does not.
//!
//! A repository's own files may not be reached through any symbolic link
//! ([`Symlinks::Refuse`]). A Koji topdir is the one layout built on them
//! (`repos/<tag>/<id>/<arch>/toplink -> ../../../..`, builds of other
//! volumes linked into `packages/`), so under a topdir symbolic links are
//! followed as long as they stay beneath it ([`Symlinks::Beneath`]):
//! resolved here, component by component, never by the kernel, and `..`
//! never climbs above the root.

use rustix::fs::{fstat, linkat, openat, readlinkat, statat, AtFlags, FileType, Mode, OFlags, CWD};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

/// What to do with symbolic links on the way to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Symlinks {
    /// None may be met: every component is a real directory, the file a
    /// real file.
    Refuse,
    /// Followed while they stay beneath the root (a Koji topdir).
    Beneath,
}

/// How many symbolic links one path may go through (Linux's own limit).
const MAX_SYMLINKS: u32 = 40;

/// Why a file was not opened.
#[derive(Debug, thiserror::Error)]
pub enum ConfinedError {
    #[error(
        "`{component}` in its path is a symbolic link (to `{target}`); repository files are \
         read only through real directories inside the repository"
    )]
    SymlinkInPath { component: String, target: String },
    #[error(
        "it is a symbolic link (to `{target}`); a repository file must be a regular file \
         inside the repository"
    )]
    Symlink { target: String },
    #[error("it is {kind}, not a regular file")]
    NotRegular { kind: &'static str },
    #[error("`{component}` in its path is {kind}, not a directory")]
    NotADirectory {
        component: String,
        kind: &'static str,
    },
    #[error("its path leaves `{root}`: {why}")]
    Escapes { root: String, why: String },
    #[error("it was replaced while it was being opened")]
    Replaced,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<rustix::io::Errno> for ConfinedError {
    fn from(e: rustix::io::Errno) -> Self {
        ConfinedError::Io(e.into())
    }
}

/// The directory a file was found in: one the walk opened, or the root
/// itself (shared, so a flat repository costs no extra descriptor).
#[derive(Debug)]
enum Parent {
    Dir(OwnedFd),
    Root(Arc<OwnedFd>),
}

impl Parent {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Parent::Dir(d) => d.as_fd(),
            Parent::Root(r) => r.as_fd(),
        }
    }
}

/// A regular file opened inside a root, and where it was found.
#[derive(Debug)]
pub struct ConfinedFile {
    file: File,
    /// The directory that holds it and its name there, to hardlink it by.
    parent: Parent,
    name: OsString,
    dev: u64,
    ino: u64,
    len: u64,
}

impl ConfinedFile {
    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn into_file(self) -> File {
        self.file
    }

    /// Its size when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hardlinks the opened file as `dest`, which must not exist (an
    /// existing `dest` is an `AlreadyExists` error, never replaced).
    /// `Ok(false)` when no link was made (another filesystem, the link
    /// limit, no permission): copy from [`Self::file`] instead.
    ///
    /// The link is made by name from the directory descriptor, then what
    /// `dest` is now is compared with the descriptor's file (device and
    /// inode): linking a descriptor itself is not portable
    /// (`AT_EMPTY_PATH` needs CAP_DAC_READ_SEARCH, `/proc/self/fd` needs
    /// /proc), and the check catches a name swapped for another file
    /// since it was opened; such a link is removed again (`Ok(false)`).
    pub fn link_to(&self, dest: &Path) -> std::io::Result<bool> {
        match linkat(
            self.parent.as_fd(),
            self.name.as_os_str(),
            CWD,
            dest,
            AtFlags::empty(),
        ) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                return Err(rustix::io::Errno::EXIST.into());
            }
            Err(_) => return Ok(false),
        }
        let st = statat(CWD, dest, AtFlags::SYMLINK_NOFOLLOW)?;
        if st.st_dev as u64 == self.dev && st.st_ino as u64 == self.ino {
            return Ok(true);
        }
        std::fs::remove_file(dest)?;
        Ok(false)
    }
}

/// Opens the regular file `rel` (`/`-separated) beneath the directory
/// `root` (see [`Root::open_file`]).
pub(crate) fn open(
    root: &Path,
    rel: &str,
    symlinks: Symlinks,
) -> Result<ConfinedFile, ConfinedError> {
    Root::open(root)?.open_file(rel, symlinks)
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// A directory files are opened beneath, opened once for many files.
#[derive(Debug)]
pub(crate) struct Root {
    fd: Arc<OwnedFd>,
    path: std::path::PathBuf,
}

impl Root {
    /// Opens the directory as given: it comes from the configuration or
    /// the command line, not from the repository, and may be reached
    /// through symbolic links of its own.
    pub(crate) fn open(path: &Path) -> Result<Root, ConfinedError> {
        Ok(Root {
            fd: Arc::new(openat(CWD, path, DIR_FLAGS, Mode::empty())?),
            path: path.to_path_buf(),
        })
    }

    /// Opens the regular file `rel` (`/`-separated) beneath the root.
    pub(crate) fn open_file(
        &self,
        rel: &str,
        symlinks: Symlinks,
    ) -> Result<ConfinedFile, ConfinedError> {
        walk(self, rel, symlinks)
    }
}

fn walk(root: &Root, rel: &str, symlinks: Symlinks) -> Result<ConfinedFile, ConfinedError> {
    let escapes = |why: String| ConfinedError::Escapes {
        root: root.path.display().to_string(),
        why,
    };
    // The directories below the root on the way, opened by this walk.
    let mut dirs: Vec<OwnedFd> = Vec::new();
    let mut todo: VecDeque<String> = components(rel).collect();
    // The path as walked so far, for messages.
    let mut walked: Vec<String> = Vec::new();
    let mut followed = 0;
    while let Some(comp) = todo.pop_front() {
        if comp == ".." {
            if symlinks == Symlinks::Refuse || dirs.is_empty() {
                return Err(escapes(format!(
                    "`{}` climbs above it",
                    join(&walked, &comp)
                )));
            }
            dirs.pop();
            walked.pop();
            continue;
        }
        let dir = dirs.last().map_or(root.fd.as_fd(), |d| d.as_fd());
        let st = statat(dir, comp.as_str(), AtFlags::SYMLINK_NOFOLLOW)?;
        let last = todo.is_empty();
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => {
                let target = readlinkat(dir, comp.as_str(), Vec::new())?
                    .to_string_lossy()
                    .into_owned();
                if symlinks == Symlinks::Refuse {
                    return Err(if last {
                        ConfinedError::Symlink { target }
                    } else {
                        ConfinedError::SymlinkInPath {
                            component: join(&walked, &comp),
                            target,
                        }
                    });
                }
                followed += 1;
                if followed > MAX_SYMLINKS {
                    return Err(escapes(format!(
                        "more than {MAX_SYMLINKS} symbolic links on the way"
                    )));
                }
                if target.starts_with('/') {
                    return Err(escapes(format!(
                        "`{}` is a symbolic link to the absolute path `{target}`",
                        join(&walked, &comp)
                    )));
                }
                for c in components(&target).collect::<Vec<_>>().into_iter().rev() {
                    todo.push_front(c);
                }
            }
            FileType::Directory if !last => {
                // O_NOFOLLOW: an entry swapped for a symlink since it was
                // looked at fails here (ELOOP) rather than being followed.
                let fd = openat(
                    dir,
                    comp.as_str(),
                    DIR_FLAGS | OFlags::NOFOLLOW,
                    Mode::empty(),
                )?;
                dirs.push(fd);
                walked.push(comp);
            }
            FileType::RegularFile if last => {
                // Non-blocking: should a FIFO have been swapped in, opening
                // it returns at once instead of waiting for a writer.
                let flags = OFlags::RDONLY
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::NOCTTY
                    | OFlags::CLOEXEC;
                let fd = openat(dir, comp.as_str(), flags, Mode::empty())?;
                let now = fstat(&fd)?;
                if FileType::from_raw_mode(now.st_mode) != FileType::RegularFile
                    || now.st_dev != st.st_dev
                    || now.st_ino != st.st_ino
                {
                    return Err(ConfinedError::Replaced);
                }
                let parent = match dirs.pop() {
                    Some(d) => Parent::Dir(d),
                    None => Parent::Root(root.fd.clone()),
                };
                return Ok(ConfinedFile {
                    file: File::from(fd),
                    parent,
                    name: OsString::from(comp),
                    dev: now.st_dev as u64,
                    ino: now.st_ino as u64,
                    len: now.st_size as u64,
                });
            }
            other if !last => {
                return Err(ConfinedError::NotADirectory {
                    component: join(&walked, &comp),
                    kind: describe(other),
                })
            }
            other => {
                return Err(ConfinedError::NotRegular {
                    kind: describe(other),
                })
            }
        }
    }
    Err(ConfinedError::NotRegular {
        kind: "a directory",
    })
}

fn components(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
}

fn join(walked: &[String], comp: &str) -> String {
    let mut s = walked.join("/");
    if !s.is_empty() {
        s.push('/');
    }
    s.push_str(comp);
    s
}

fn describe(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO (named pipe)",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "of an unknown file type",
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("Packages/a")).unwrap();
        std::fs::write(root.join("Packages/a/x.rpm"), b"payload").unwrap();
        std::fs::create_dir_all(t.path().join("outside")).unwrap();
        std::fs::write(t.path().join("outside/victim"), b"victim").unwrap();
        t
    }

    fn read(f: ConfinedFile) -> Vec<u8> {
        let mut v = Vec::new();
        f.into_file().read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn reads_a_regular_file_inside() {
        let t = tree();
        let root = t.path().join("root");
        let f = open(&root, "Packages/a/x.rpm", Symlinks::Refuse).unwrap();
        assert_eq!(f.len(), 7);
        assert_eq!(read(f), b"payload");
        let f = open(&root, "./Packages//a/x.rpm", Symlinks::Refuse).unwrap();
        assert_eq!(read(f), b"payload");
    }

    #[test]
    fn refuses_symlinks_in_a_repository() {
        let t = tree();
        let root = t.path().join("root");
        symlink(t.path().join("outside"), root.join("Evil")).unwrap();
        symlink("Packages", root.join("Inside")).unwrap();
        symlink("/etc/passwd", root.join("passwd.rpm")).unwrap();
        let e = open(&root, "Evil/victim", Symlinks::Refuse).unwrap_err();
        assert!(
            matches!(&e, ConfinedError::SymlinkInPath { component, .. } if component == "Evil"),
            "{e:?}"
        );
        // Even one that stays inside.
        let e = open(&root, "Inside/a/x.rpm", Symlinks::Refuse).unwrap_err();
        assert!(matches!(e, ConfinedError::SymlinkInPath { .. }), "{e:?}");
        let e = open(&root, "passwd.rpm", Symlinks::Refuse).unwrap_err();
        assert!(
            matches!(&e, ConfinedError::Symlink { target } if target == "/etc/passwd"),
            "{e:?}"
        );
        let e = open(&root, "Packages/../../outside/victim", Symlinks::Refuse).unwrap_err();
        assert!(matches!(e, ConfinedError::Escapes { .. }), "{e:?}");
    }

    #[test]
    fn refuses_what_is_not_a_regular_file_without_opening_it() {
        let t = tree();
        let root = t.path().join("root");
        let fifo = root.join("fifo.rpm");
        rustix::fs::mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
        // Opening a FIFO for reading would wait here for a writer.
        let e = open(&root, "fifo.rpm", Symlinks::Refuse).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        let _socket = std::os::unix::net::UnixListener::bind(root.join("sock.rpm")).unwrap();
        let e = open(&root, "sock.rpm", Symlinks::Refuse).unwrap_err();
        assert!(e.to_string().contains("a socket"), "{e}");
        let e = open(&root, "Packages/a", Symlinks::Refuse).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        let e = open(&root, "Packages/a/x.rpm/y", Symlinks::Refuse).unwrap_err();
        assert!(
            matches!(&e, ConfinedError::NotADirectory { component, .. } if component == "Packages/a/x.rpm"),
            "{e:?}"
        );
        let e = open(&root, "missing.rpm", Symlinks::Refuse).unwrap_err();
        assert!(
            matches!(&e, ConfinedError::Io(io) if io.kind() == std::io::ErrorKind::NotFound),
            "{e:?}"
        );
    }

    #[test]
    fn beneath_a_koji_topdir_links_that_stay_inside_are_followed() {
        let t = tree();
        let top = t.path().join("root");
        let arch = top.join("repos/f40-build/7/x86_64");
        std::fs::create_dir_all(&arch).unwrap();
        symlink("../../../..", arch.join("toplink")).unwrap();
        symlink("/etc", arch.join("abs")).unwrap();
        symlink("../../../../../outside", arch.join("up")).unwrap();
        let rel = "repos/f40-build/7/x86_64/toplink/Packages/a/x.rpm";
        assert_eq!(
            read(open(&top, rel, Symlinks::Beneath).unwrap()),
            b"payload"
        );
        assert!(matches!(
            open(&top, rel, Symlinks::Refuse).unwrap_err(),
            ConfinedError::SymlinkInPath { .. }
        ));
        for bad in ["abs/passwd", "up/victim", "toplink/../outside/victim"] {
            let e = open(
                &top,
                &format!("repos/f40-build/7/x86_64/{bad}"),
                Symlinks::Beneath,
            )
            .unwrap_err();
            assert!(matches!(e, ConfinedError::Escapes { .. }), "{bad}: {e:?}");
        }
        symlink("loop", arch.join("loop")).unwrap();
        let e = open(&top, "repos/f40-build/7/x86_64/loop/x", Symlinks::Beneath).unwrap_err();
        assert!(e.to_string().contains("more than 40"), "{e}");
    }

    #[test]
    fn links_exclusively_and_only_what_was_opened() {
        let t = tree();
        let root = t.path().join("root");
        let f = open(&root, "Packages/a/x.rpm", Symlinks::Refuse).unwrap();
        let dest = t.path().join("dest.rpm");
        assert!(f.link_to(&dest).unwrap());
        assert_eq!(std::fs::read(&dest).unwrap(), b"payload");
        // An existing destination is never replaced or written through.
        let victim = t.path().join("outside/victim");
        let taken = t.path().join("taken.rpm");
        std::fs::hard_link(&victim, &taken).unwrap();
        let e = f.link_to(&taken).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&victim).unwrap(), b"victim");
        // The name now stands for another file than the one opened: no link.
        std::fs::rename(root.join("Packages/a/x.rpm"), t.path().join("moved")).unwrap();
        std::fs::write(root.join("Packages/a/x.rpm"), b"swapped").unwrap();
        let dest2 = t.path().join("dest2.rpm");
        assert!(!f.link_to(&dest2).unwrap());
        assert!(!dest2.exists());
    }
}
