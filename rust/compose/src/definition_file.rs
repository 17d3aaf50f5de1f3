//! Reading a definition file as hostile input: only a regular file, and at
//! most one byte past the size limit, so that a FIFO, a device or a huge
//! file cannot hang or exhaust the compose before the definition is even
//! parsed.

use crate::error::{io, ComposeError, Result};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use strata_model::definition::MAX_DEFINITION_BYTES;
use strata_model::{DefinitionError, Problem};

/// The bytes of the definition at `path`: at most
/// `MAX_DEFINITION_BYTES + 1`, which [`strata_model::ModuleDefinition::from_bytes`]
/// then refuses as too large.
pub(crate) fn read_definition_bytes(path: &Path) -> Result<Vec<u8>> {
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
            problems: vec![Problem {
                key: String::new(),
                line: None,
                column: None,
                message: format!("this is {what}; a module definition must be a regular file"),
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
