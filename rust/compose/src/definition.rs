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

/// `git+file://TOPLEVEL?RELPATH#COMMIT` (Koji's SCM URL shape) when the
/// definition is committed in a git work tree without local changes.
pub fn detect_scm_ref(path: &Path) -> Option<String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let commit = git(&["rev-parse", "HEAD"])?;
    let name = path.file_name()?.to_str()?;
    let status = git(&["status", "--porcelain", "--", name])?;
    if !status.is_empty() {
        tracing::warn!(
            "{} has uncommitted changes: the compose records no SCM reference",
            path.display()
        );
        return None;
    }
    let abs = std::fs::canonicalize(path).ok()?;
    let rel = abs.strip_prefix(&top).ok()?.display().to_string();
    Some(format!("git+file://{top}?{rel}#{commit}"))
}
