//! The root filesystem of an artifact: the stacks' profiles and extra
//! packages installed by the real dnf into an installroot, from the
//! composes' own repositories and the platform only, so nothing comes
//! from anywhere else.
//!
//! Scriptlets do not run (`tsflags=noscripts`): they would run the
//! host's shell against the installroot, and on a host that is not the
//! target distribution they fail while dnf still exits 0 (NOTES.md).
//! Files are as the packages ship them; what scriptlets would create
//! (users, alternatives, caches) is not there.
//!
//! What dnf and rpm keep about the transaction (the rpm database, dnf's
//! history, caches and logs) holds the time of the install, so it is
//! moved out of the root: the same inputs then give the same root, and
//! the record lists the packages instead, read from the moved database
//! while the root is written out (`rpm -qa` is a tenth of a second).

use super::tools::{self, DNF};
use crate::error::{io, Result};
use crate::interrupt::Interrupt;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// One repository dnf reads: an ID and a local directory.
#[derive(Debug, Clone)]
pub(crate) struct DnfRepo {
    pub id: String,
    pub path: PathBuf,
}

/// What to install, and where.
pub(crate) struct Install<'a> {
    /// The installroot (created, empty).
    pub root: &'a Path,
    /// A directory for dnf's configuration and HOME.
    pub work: &'a Path,
    /// Where dnf's output goes.
    pub log: &'a Path,
    pub arch: &'a str,
    /// The platform stream (`f40`): dnf's module platform and, from its
    /// digits, `--releasever`.
    pub platform: &'a str,
    pub repos: &'a [DnfRepo],
    /// `name:stream[/profile]` specs for `dnf module install`.
    pub modules: &'a [String],
    /// Extra packages for `dnf install`.
    pub packages: &'a [String],
    pub limit: Duration,
    pub interrupt: &'a Interrupt,
}

/// Paths in the root (relative) that hold the install's own state, left
/// out of every artifact.
const TRANSACTION_STATE: &[&str] = &[
    "var/lib/rpm",
    "var/lib/dnf",
    "var/cache/dnf",
    "var/log/dnf.log",
    "var/log/dnf.librepo.log",
    "var/log/dnf.rpm.log",
    "var/log/hawkey.log",
];

/// A finished install: the transaction's state, moved out of the root.
pub(crate) struct Installed {
    /// Holds [`TRANSACTION_STATE`]'s paths, as they were in the root.
    state: PathBuf,
    home: PathBuf,
}

/// Installs, and moves the transaction's state out of the root.
pub(crate) fn install(req: &Install<'_>) -> Result<Installed> {
    let home = req.work.join("home");
    let reposd = req.work.join("repos.d");
    for d in [req.root, &home, &reposd] {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    // Debian's rpm keeps its database under ~/.rpmdb; the Fedora place
    // is what `rpm --root` and the image's users expect.
    let macros = home.join(".rpmmacros");
    std::fs::write(&macros, "%_dbpath /var/lib/rpm\n").map_err(io(&macros))?;
    let conf = req.work.join("dnf.conf");
    std::fs::write(&conf, dnf_conf(req.platform, &reposd, req.repos)).map_err(io(&conf))?;
    let log = req.log;
    let releasever: String = req.platform.chars().filter(char::is_ascii_digit).collect();
    let dnf = |command: &[&str], specs: &[String]| {
        let mut c = Command::new(DNF.program);
        c.env("HOME", &home)
            .env("LC_ALL", "C.UTF-8")
            .arg("-y")
            .arg("-c")
            .arg(&conf)
            .arg(format!("--installroot={}", req.root.display()))
            .arg(format!(
                "--releasever={}",
                if releasever.is_empty() {
                    "0"
                } else {
                    &releasever
                }
            ))
            .arg(format!("--forcearch={}", req.arch))
            // dnf-plugins-core's `local` plugin adds a broken repository
            // in an installroot; no plugin has business here.
            .arg("--disableplugin=*")
            .args(command)
            .args(specs);
        c
    };
    if !req.modules.is_empty() {
        tools::run(
            DNF,
            dnf(&["module", "install"], req.modules),
            &format!("install {} into the installroot", req.modules.join(", ")),
            log,
            req.limit,
            req.interrupt,
        )?;
    }
    if !req.packages.is_empty() {
        tools::run(
            DNF,
            dnf(&["install"], req.packages),
            &format!("install {} into the installroot", req.packages.join(", ")),
            log,
            req.limit,
            req.interrupt,
        )?;
    }
    // Moved, not removed: the package list is read from the database
    // afterwards, while the root is written out. A rename within the
    // staging directory costs nothing.
    let state = req.work.join("state");
    for rel in TRANSACTION_STATE {
        let p = req.root.join(rel);
        if std::fs::symlink_metadata(&p).is_ok() {
            let to = state.join(rel);
            let above = to.parent().expect("a state path has a parent");
            std::fs::create_dir_all(above).map_err(io(above))?;
            std::fs::rename(&p, &to).map_err(io(&p))?;
        }
    }
    Ok(Installed { state, home })
}

impl Installed {
    /// The installed packages as NEVRAs
    /// (`name-epoch:version-release.arch`), from the moved rpm database.
    pub(crate) fn packages(
        &self,
        log: &Path,
        limit: Duration,
        interrupt: &Interrupt,
    ) -> Result<BTreeSet<String>> {
        let mut rpm = Command::new("rpm");
        rpm.env("HOME", &self.home)
            .arg("--dbpath")
            .arg(self.state.join("var/lib/rpm"))
            .args(["-qa", "--qf"])
            .arg("%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n");
        let listed = tools::output(
            tools::Tool {
                name: "rpm",
                program: "rpm",
                debian: "rpm",
                fedora: "rpm",
            },
            rpm,
            "list the packages installed into the installroot",
            log,
            limit,
            interrupt,
        )?;
        Ok(listed.lines().map(str::to_owned).collect())
    }
}

/// dnf's configuration: only `repos`, no weak dependencies (an artifact
/// holds what its definition names and what that requires), no
/// scriptlets, no GPG (the composes were checked when they were made),
/// and no history: dnf's history database is transaction state, left out
/// of every artifact, and writing it synced every package's rows (about
/// 400 `fdatasync`s and an eighth of the install's time for 100 packages).
fn dnf_conf(platform: &str, reposd: &Path, repos: &[DnfRepo]) -> String {
    let mut s = format!(
        "[main]\ngpgcheck=0\nreposdir={}\nmodule_platform_id=platform:{platform}\n\
         install_weak_deps=0\ntsflags=noscripts\nkeepcache=0\nbest=1\nhistory_record=0\n",
        reposd.display()
    );
    for r in repos {
        let _ = write!(
            s,
            "[{id}]\nname={id}\nbaseurl=file://{}\nenabled=1\n",
            r.path.display(),
            id = r.id
        );
    }
    s
}
