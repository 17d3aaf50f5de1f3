//! An ISO artifact: install media holding the whole stack as one
//! repository (packages, repodata, modules.yaml), with `.treeinfo` and
//! `media.repo` as Pungi writes them, made by the real `xorriso`. It is
//! not bootable: that needs lorax and anaconda's images. xorriso reads
//! `SOURCE_DATE_EPOCH` for every timestamp and the volume's UUID, and the
//! tree is written from sorted inputs, so the same inputs give the same
//! bytes; the ISO's SHA-256 is the build ID.

use super::tools::{self, XORRISO};
use crate::error::{io, Result};
use crate::interrupt::Interrupt;
use crate::merge::{merge_repositories, MergeOptions};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub(crate) struct Media<'a> {
    /// The composes' repositories, bottom first.
    pub repos: &'a [PathBuf],
    /// Where the media's tree is assembled (must not exist).
    pub tree: &'a Path,
    /// The ISO to write.
    pub iso: &'a Path,
    pub volume_id: &'a str,
    pub name: &'a str,
    pub summary: &'a str,
    pub arch: &'a str,
    /// The platform's release version (`40`), for `.treeinfo`.
    pub version: &'a str,
    pub variant: &'a str,
    pub epoch: i64,
    pub log: &'a Path,
    pub limit: Duration,
    pub interrupt: &'a Interrupt,
}

/// Writes the ISO; gives its SHA-256 (hex) and size.
pub(crate) fn write(m: &Media<'_>) -> Result<(String, u64)> {
    merge_repositories(
        m.repos,
        m.tree,
        &MergeOptions {
            verify_payloads: false,
            cache_dir: None,
            timestamp: Some(m.epoch),
        },
    )?;
    m.interrupt.check()?;
    let treeinfo = m.tree.join(".treeinfo");
    std::fs::write(&treeinfo, treeinfo_text(m)).map_err(io(&treeinfo))?;
    let media = m.tree.join("media.repo");
    std::fs::write(
        &media,
        format!(
            "[InstallMedia]\nname={}\nmediaid={}\nmetadata_expire=-1\ngpgcheck=0\ncost=500\n",
            m.summary, m.epoch
        ),
    )
    .map_err(io(&media))?;
    let mut x = Command::new(XORRISO.program);
    x.env("SOURCE_DATE_EPOCH", m.epoch.to_string())
        .args(["-as", "mkisofs", "-quiet", "-r", "-J", "-joliet-long"])
        // SOURCE_DATE_EPOCH covers the volume dates and UUID, not the
        // files' own.
        .arg("--set_all_file_dates")
        .arg(format!("={}", m.epoch))
        .arg("-V")
        .arg(m.volume_id)
        .arg("-o")
        .arg(m.iso)
        .arg(m.tree);
    tools::run(
        XORRISO,
        x,
        &format!("write {}", m.iso.display()),
        m.log,
        m.limit,
        m.interrupt,
    )?;
    let mut f = std::fs::File::open(m.iso).map_err(io(m.iso))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(m.iso))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hash.finalize()), size))
}

/// `.treeinfo` as productmd 1.2 reads it and Pungi writes it for a
/// variant's tree: the repository is the tree itself.
fn treeinfo_text(m: &Media<'_>) -> String {
    let v = m.variant;
    format!(
        "[header]\ntype = productmd.treeinfo\nversion = 1.2\n\n\
         [release]\nname = {summary}\nshort = {name}\nversion = {version}\n\n\
         [tree]\narch = {arch}\nbuild_timestamp = {epoch}\nplatforms = {arch}\nvariants = {v}\n\n\
         [variant-{v}]\nid = {v}\nname = {v}\npackages = Packages\nrepository = .\n\
         type = variant\nuid = {v}\n",
        summary = m.summary,
        name = m.name,
        version = if m.version.is_empty() { "0" } else { m.version },
        arch = m.arch,
        epoch = m.epoch,
    )
}
