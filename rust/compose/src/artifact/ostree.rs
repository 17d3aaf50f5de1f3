//! An ostree artifact: the root filesystem committed with the real
//! `ostree` into a new archive-mode repository on the definition's ref.
//! The commit's metadata names the input composes; its timestamp is the
//! artifact's time and every file is owned by root (ostree keeps no
//! mtimes), so the same inputs give the same commit checksum, which is
//! the build ID.

use super::tools::{self, OSTREE};
use crate::error::Result;
use crate::interrupt::Interrupt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The metadata key that lists the input compose IDs, bottom first,
/// separated by spaces.
pub(crate) const INPUTS_KEY: &str = "strata.input-composes";

pub(crate) struct Commit<'a> {
    pub root: &'a Path,
    /// The repository to create.
    pub repo: &'a Path,
    pub ref_: &'a str,
    pub subject: &'a str,
    pub artifact: &'a str,
    pub epoch: i64,
    pub inputs: &'a [String],
    pub log: &'a Path,
    pub limit: Duration,
    pub interrupt: &'a Interrupt,
}

/// Commits and gives the commit checksum.
pub(crate) fn commit(c: &Commit<'_>) -> Result<String> {
    let mut init = Command::new(OSTREE.program);
    init.arg("init")
        .arg(format!("--repo={}", c.repo.display()))
        .arg("--mode=archive");
    tools::run(
        OSTREE,
        init,
        "create the ostree repository",
        c.log,
        c.limit,
        c.interrupt,
    )?;
    let mut commit = Command::new(OSTREE.program);
    commit
        .arg("commit")
        .arg(format!("--repo={}", c.repo.display()))
        .arg(format!("--branch={}", c.ref_))
        .arg(format!("--subject={}", c.subject))
        .arg(format!("--tree=dir={}", c.root.display()))
        .arg(format!("--timestamp=@{}", c.epoch))
        .arg("--owner-uid=0")
        .arg("--owner-gid=0")
        .arg("--no-xattrs")
        .arg(format!(
            "--add-metadata-string={INPUTS_KEY}={}",
            c.inputs.join(" ")
        ))
        .arg(format!(
            "--add-metadata-string=strata.artifact={}",
            c.artifact
        ));
    tools::run(
        OSTREE,
        commit,
        &format!("commit the root filesystem to {}", c.ref_),
        c.log,
        c.limit,
        c.interrupt,
    )?;
    let mut rev = Command::new(OSTREE.program);
    rev.arg("rev-parse")
        .arg(format!("--repo={}", c.repo.display()))
        .arg(c.ref_);
    tools::output(
        OSTREE,
        rev,
        &format!("read the commit of {}", c.ref_),
        c.log,
        c.limit,
        c.interrupt,
    )
}
