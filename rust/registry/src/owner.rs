//! Who runs a started compose, and whether it provably no longer does.
//!
//! A compose whose process dies (kill -9, a reboot, a signal no handler
//! got to) stays `started` for good. To end such records safely, `begin`
//! records the owner: host name, PID, the process's start time and the
//! boot ID. A PID alone proves nothing, as PIDs are reused; PID, start
//! time (`/proc/<pid>/stat` field 22, clock ticks after boot) and boot ID
//! (`/proc/sys/kernel/random/boot_id`) name one process for good. The PID
//! namespace is recorded as well: containers can share a host name and a
//! kernel (so a boot ID) yet see different processes under one PID.
//!
//! Only the host that ran a compose can tell that its process is gone:
//! composes of other hosts are never judged gone, so a compose running
//! elsewhere is never ended by mistake.

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The process that runs (or ran) a compose.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner {
    /// The host name (`uname -n`).
    pub host: String,
    pub pid: u32,
    /// When the process started, in clock ticks after boot
    /// (`/proc/<pid>/stat` field 22): with the boot ID, it tells the
    /// process from a later one that got the same PID.
    pub start_time: u64,
    /// `/proc/sys/kernel/random/boot_id`: a new one at every boot.
    pub boot_id: String,
    /// The inode of the PID namespace (`/proc/<pid>/ns/pid`), when known.
    pub pid_namespace: Option<u64>,
}

/// Whether the owner of a started compose still runs, as far as this
/// host can tell. Each carries the reason as a clause about the compose:
/// "its process 1234 on builder1 is gone".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// The process is provably gone: the compose can never end by itself.
    Gone(String),
    /// The process still runs.
    Running(String),
    /// This host cannot tell (another host, no owner recorded, /proc
    /// unreadable): only an operator can decide.
    Unknown(String),
}

impl Liveness {
    pub fn is_gone(&self) -> bool {
        matches!(self, Liveness::Gone(_))
    }

    pub fn reason(&self) -> &str {
        match self {
            Liveness::Gone(r) | Liveness::Running(r) | Liveness::Unknown(r) => r,
        }
    }
}

/// The most read from one /proc file: they are a line or two; anything
/// longer is not what this code expects.
const PROC_READ_LIMIT: u64 = 4096;

/// A small /proc file as text, at most [`PROC_READ_LIMIT`] bytes.
fn read_proc(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(PROC_READ_LIMIT + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > PROC_READ_LIMIT {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is longer than {PROC_READ_LIMIT} bytes", path.display()),
        ));
    }
    Ok(text)
}

/// Field 22 (`starttime`) of a `/proc/<pid>/stat` line. The command name
/// (field 2) is in parentheses and may itself hold spaces and
/// parentheses, so fields are counted after the last `)`.
fn start_time_of_stat(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // rest starts at field 3 (state); field 22 is the 20th from there.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// `pid:[4026531836]` → 4026531836.
fn namespace_inode(link: &str) -> Option<u64> {
    link.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

fn pid_namespace(proc_dir: &Path) -> Option<u64> {
    let link = std::fs::read_link(proc_dir.join("ns/pid")).ok()?;
    namespace_inode(link.to_str()?)
}

fn boot_id() -> Option<String> {
    let id = read_proc(Path::new("/proc/sys/kernel/random/boot_id")).ok()?;
    Some(id.trim().to_owned()).filter(|id| !id.is_empty())
}

fn host_name() -> Option<String> {
    let host = read_proc(Path::new("/proc/sys/kernel/hostname")).ok()?;
    Some(host.trim().to_owned()).filter(|h| !h.is_empty())
}

impl Owner {
    /// This process, or `None` where /proc does not tell (not Linux):
    /// such composes record no owner and are never judged gone.
    pub fn current() -> Option<Owner> {
        let stat = read_proc(Path::new("/proc/self/stat")).ok()?;
        Some(Owner {
            host: host_name()?,
            pid: std::process::id(),
            start_time: start_time_of_stat(&stat)?,
            boot_id: boot_id()?,
            pid_namespace: pid_namespace(Path::new("/proc/self")),
        })
    }

    /// Whether the owner of a compose (`None`: not recorded) still runs,
    /// judged from this host (`here`, as [`Owner::current`] gives it).
    pub fn liveness_of(owner: Option<&Owner>, here: Option<&Owner>) -> Liveness {
        match owner {
            Some(owner) => owner.liveness(here),
            None => Liveness::Unknown(
                "it records no owner: it was begun by a Strata that did not record owners, \
                 or where /proc could not tell"
                    .into(),
            ),
        }
    }

    /// Whether this owner still runs, judged from this host (`here`, as
    /// [`Owner::current`] gives it).
    pub fn liveness(&self, here: Option<&Owner>) -> Liveness {
        let Some(here) = here else {
            return Liveness::Unknown(format!(
                "its process {} on {} cannot be checked from here: this host has no /proc to tell",
                self.pid, self.host
            ));
        };
        if self.host != here.host {
            return Liveness::Unknown(format!(
                "its process {} runs on {}, not on this host ({}); only {} can tell whether \
                 it is gone",
                self.pid, self.host, here.host, self.host
            ));
        }
        if self.boot_id != here.boot_id {
            return Liveness::Gone(format!(
                "its process {} on {} is gone: {} has restarted since (boot ID {}, now {})",
                self.pid, self.host, self.host, self.boot_id, here.boot_id
            ));
        }
        if self.pid_namespace != here.pid_namespace {
            return Liveness::Unknown(format!(
                "its process {} on {} is in another PID namespace (a container?) than this one",
                self.pid, self.host
            ));
        }
        self.check_process()
    }

    /// Looks at PID on this host, same boot, same PID namespace.
    fn check_process(&self) -> Liveness {
        let proc_dir = Path::new("/proc").join(self.pid.to_string());
        let gone = || Liveness::Gone(format!("its process {} on {} is gone", self.pid, self.host));
        match read_proc(&proc_dir.join("stat")) {
            Ok(stat) => match start_time_of_stat(&stat) {
                Some(t) if t == self.start_time => Liveness::Running(format!(
                    "its process {} on {} is still running",
                    self.pid, self.host
                )),
                Some(_) => Liveness::Gone(format!(
                    "its process {} on {} is gone (PID {} now belongs to a later process)",
                    self.pid, self.host, self.pid
                )),
                None => Liveness::Unknown(format!(
                    "{}/stat has no start time this code can read",
                    proc_dir.display()
                )),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // /proc mounted with hidepid hides other users' live
                // processes too: only the kernel's answer to signal 0
                // proves the PID unused.
                match rustix::process::Pid::from_raw(self.pid as i32)
                    .map(rustix::process::test_kill_process)
                {
                    Some(Err(rustix::io::Errno::SRCH)) => gone(),
                    _ => Liveness::Unknown(format!(
                        "its process {} on {} is hidden from this user (/proc hidepid)",
                        self.pid, self.host
                    )),
                }
            }
            Err(e) => Liveness::Unknown(format!("cannot read {}/stat: {e}", proc_dir.display())),
        }
    }
}

/// `process 1234 on builder1 (boot 8c1b…, started at tick 123456)`.
impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "process {} on {} (boot {}, started at tick {}",
            self.pid, self.host, self.boot_id, self.start_time
        )?;
        if let Some(ns) = self.pid_namespace {
            write!(f, ", PID namespace {ns}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn start_time_is_field_22_even_with_odd_command_names() {
        let stat = "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 300 0 0 0 2 1 0 0 20 0 1 0 \
                    987654 12345678 900 18446744073709551615";
        assert_eq!(start_time_of_stat(stat), Some(987654));
        assert_eq!(start_time_of_stat("4242 (x) S 1"), None);
        assert_eq!(start_time_of_stat("no parenthesis"), None);
    }

    #[test]
    fn namespaces_read_as_inodes() {
        assert_eq!(namespace_inode("pid:[4026531836]"), Some(4026531836));
        assert_eq!(namespace_inode("net:[4026531836]"), None);
    }

    #[test]
    fn this_process_is_running_and_a_later_one_with_its_pid_is_not_it() {
        let me = Owner::current().expect("Linux has /proc");
        assert_eq!(me.pid, std::process::id());
        assert!(!me.boot_id.is_empty() && !me.host.is_empty());
        let here = Some(&me);
        assert!(matches!(me.liveness(here), Liveness::Running(_)));

        let reused = Owner {
            start_time: me.start_time + 1,
            ..me.clone()
        };
        let l = reused.liveness(here);
        assert!(l.is_gone(), "{l:?}");
        assert!(
            l.reason().contains("now belongs to a later process"),
            "{l:?}"
        );

        let rebooted = Owner {
            boot_id: "00000000-0000-0000-0000-000000000000".into(),
            ..me.clone()
        };
        let l = rebooted.liveness(here);
        assert!(
            l.is_gone() && l.reason().contains("has restarted since"),
            "{l:?}"
        );

        let elsewhere = Owner {
            host: "builder9.example".into(),
            ..reused.clone()
        };
        let l = elsewhere.liveness(here);
        assert!(matches!(l, Liveness::Unknown(_)), "{l:?}");
        assert!(l.reason().contains("runs on builder9.example"), "{l:?}");

        let container = Owner {
            pid_namespace: Some(1),
            ..reused
        };
        assert!(matches!(container.liveness(here), Liveness::Unknown(_)));
        assert!(matches!(me.liveness(None), Liveness::Unknown(_)));
    }

    #[test]
    fn a_process_that_ended_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let me = Owner::current().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = Owner { pid, ..me.clone() };
        let l = dead.liveness(Some(&me));
        // Gone, whether or not another process has taken the PID since.
        assert!(l.is_gone(), "{l:?}");
        let expected = format!("its process {pid} on {} is gone", me.host);
        assert!(l.reason().starts_with(&expected), "{l:?}");
    }
}
