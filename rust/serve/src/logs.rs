//! A compose's log files (`<compose folder>/logs/…`), listed on its page
//! and served as plain text. Only files inside the compose's own `logs`
//! folder: every path component is checked (no `..`, no hidden names, no
//! separators) and opened with `O_NOFOLLOW` from the folder down, so
//! neither a crafted URL nor a symlink planted in the folder reaches any
//! other file. Sizes are capped.

use std::os::fd::OwnedFd;
use std::path::Path as FsPath;
use std::sync::Arc;

use axum::extract::Path;
use axum::response::Response;
use rustix::fs::{Mode, OFlags};

use crate::error::ServeError;
use crate::pages::{error_page, text_response};
use crate::{App, AppState};

/// How deep and how many log files a compose page lists.
const MAX_DEPTH: usize = 3;
const MAX_LISTED: usize = 1000;

/// The log files under `compose_dir/logs`, as paths relative to it
/// (`x86_64/repoclosure.log`), sorted; symlinks and unreadable folders
/// are left out. Bounded in depth and count.
pub fn list(compose_dir: &FsPath) -> Vec<String> {
    let mut out = Vec::new();
    walk(&compose_dir.join("logs"), "", 0, &mut out);
    out.sort();
    out
}

fn walk(dir: &FsPath, prefix: &str, depth: usize, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if out.len() >= MAX_LISTED {
            return;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !component_ok(&name) {
            continue;
        }
        // file_type() does not follow symlinks: a link is neither.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let rel = format!("{prefix}{name}");
        if kind.is_file() {
            out.push(rel);
        } else if kind.is_dir() && depth + 1 < MAX_DEPTH {
            walk(&entry.path(), &format!("{rel}/"), depth + 1, out);
        }
    }
}

/// A path component that names a file inside its folder and nothing
/// else.
fn component_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
}

pub(crate) async fn serve_log(
    state: AppState,
    Path((id, path)): Path<(String, String)>,
) -> Response {
    let app = Arc::clone(&state);
    match read_log(app, id, path).await {
        Ok(body) => text_response(body),
        Err(e) => error_page(&state, e),
    }
}

async fn read_log(app: Arc<App>, id: String, path: String) -> Result<Vec<u8>, ServeError> {
    let refused = |reason: &str| ServeError::LogRefused {
        compose_id: id.clone(),
        path: path.clone(),
        reason: reason.to_owned(),
    };
    let parts: Vec<String> = path.split('/').map(str::to_owned).collect();
    if parts.len() > MAX_DEPTH || !parts.iter().all(|p| component_ok(p)) {
        return Err(refused(
            "a log path is names inside the compose's logs folder, without `..`, hidden names \
             or empty parts",
        ));
    }
    let lookup = id.clone();
    let rec = app
        .pool
        .run(move |r| r.get(&lookup)?.ok_or(ServeError::NoSuchCompose(lookup)))
        .await?;
    let Some(outputs) = rec.outputs else {
        return Err(ServeError::NoSuchLog {
            compose_id: id,
            path,
        });
    };
    let limit = app.limits.max_log_size;
    let logs = outputs.path.join("logs");
    tokio::task::spawn_blocking(move || read_inside(&logs, &parts, limit, &id, &path))
        .await
        .map_err(|e| ServeError::Panicked(e.to_string()))?
}

/// Opens `parts` under `dir` one component at a time, refusing symlinks
/// at every step, and reads the file if it is a regular one within
/// `limit` bytes.
fn read_inside(
    dir: &FsPath,
    parts: &[String],
    limit: u64,
    id: &str,
    path: &str,
) -> Result<Vec<u8>, ServeError> {
    use std::io::Read;
    let missing = || ServeError::NoSuchLog {
        compose_id: id.to_owned(),
        path: path.to_owned(),
    };
    let refused = |reason: &str| ServeError::LogRefused {
        compose_id: id.to_owned(),
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let read_error = |source: std::io::Error| ServeError::LogRead {
        compose_id: id.to_owned(),
        path: path.to_owned(),
        source,
    };
    let open = |at: Option<&OwnedFd>, name: &FsPath, flags: OFlags| {
        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY;
        match at {
            Some(fd) => rustix::fs::openat(fd, name, flags, Mode::empty()),
            None => rustix::fs::open(name, flags, Mode::empty()),
        }
    };
    let classify = |e: rustix::io::Errno| match e {
        rustix::io::Errno::NOENT => missing(),
        // O_NOFOLLOW on a symlink.
        rustix::io::Errno::LOOP => refused("it is a symbolic link"),
        e => read_error(e.into()),
    };
    let mut fd = open(None, dir, OFlags::DIRECTORY).map_err(classify)?;
    let (last, folders) = parts.split_last().ok_or_else(missing)?;
    for folder in folders {
        fd = open(Some(&fd), FsPath::new(folder), OFlags::DIRECTORY).map_err(|e| match e {
            // O_DIRECTORY | O_NOFOLLOW on a symlink says ENOTDIR.
            rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP => {
                refused("a part of it is a symbolic link or not a folder")
            }
            e => classify(e),
        })?;
    }
    let file = open(Some(&fd), FsPath::new(last), OFlags::NONBLOCK).map_err(classify)?;
    let stat = rustix::fs::fstat(&file).map_err(|e| read_error(e.into()))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(refused("it is not a regular file"));
    }
    let size = stat.st_size as u64;
    if size > limit {
        return Err(ServeError::LogTooLarge {
            compose_id: id.to_owned(),
            path: path.to_owned(),
            size,
            limit,
        });
    }
    let mut body = Vec::with_capacity(size as usize);
    // The file may grow after fstat: never read past the limit.
    std::fs::File::from(file)
        .take(limit + 1)
        .read_to_end(&mut body)
        .map_err(read_error)?;
    if body.len() as u64 > limit {
        return Err(ServeError::LogTooLarge {
            compose_id: id.to_owned(),
            path: path.to_owned(),
            size: body.len() as u64,
            limit,
        });
    }
    Ok(body)
}

#[cfg(test)]
mod test {
    use super::*;

    fn read(dir: &FsPath, path: &str) -> Result<Vec<u8>, ServeError> {
        let parts: Vec<String> = path.split('/').map(str::to_owned).collect();
        read_inside(dir, &parts, 100, "c", path)
    }

    #[test]
    fn reads_files_and_refuses_links_and_big_files() {
        let tmp = tempfile::tempdir().unwrap();
        let logs = tmp.path().join("logs");
        std::fs::create_dir_all(logs.join("x86_64")).unwrap();
        std::fs::write(logs.join("x86_64/repoclosure.log"), "ok\n").unwrap();
        std::fs::write(tmp.path().join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret"), logs.join("x86_64/link.log"))
            .unwrap();
        std::os::unix::fs::symlink(tmp.path(), logs.join("up")).unwrap();
        std::fs::write(logs.join("big.log"), vec![b'x'; 101]).unwrap();

        assert_eq!(read(&logs, "x86_64/repoclosure.log").unwrap(), b"ok\n");
        assert!(matches!(
            read(&logs, "x86_64/link.log"),
            Err(ServeError::LogRefused { .. })
        ));
        assert!(matches!(
            read(&logs, "up/secret"),
            Err(ServeError::LogRefused { .. })
        ));
        assert!(matches!(
            read(&logs, "big.log"),
            Err(ServeError::LogTooLarge {
                size: 101,
                limit: 100,
                ..
            })
        ));
        assert!(matches!(
            read(&logs, "x86_64"),
            Err(ServeError::LogRefused { .. })
        ));
        assert_eq!(list(tmp.path()), ["big.log", "x86_64/repoclosure.log"]);
        assert!(!component_ok(".."));
        assert!(!component_ok(""));
        assert!(!component_ok("a\\b"));
    }
}
