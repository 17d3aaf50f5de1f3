//! A program Strata runs from outside (an artifact's dnf, ostree and
//! xorriso; a chain's git, `dot` and the policy's test commands), held so
//! that it can always be stopped with everything it started: it leads a
//! process group of its own, and it is watched without being reaped until
//! Strata is done with it, so that its group's ID cannot meanwhile be
//! handed to a stranger's processes.
//!
//! When it ends, or is stopped, what it left running in its group is
//! killed: a background process it forgot would otherwise run on
//! unbounded, and hold the pipes its output is read from open, so that
//! reading them would never end.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// A running program, the leader of its own process group.
#[derive(Debug)]
pub struct Watched {
    child: Child,
    exited: Receiver<()>,
}

/// Whether a [`Watched`] program has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// It has exited (not yet reaped: [`Watched::finish`] does that).
    Exited,
    /// It still runs after the time waited.
    Running,
}

impl Watched {
    /// Starts `cmd` as the leader of a new process group.
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Watched> {
        let child = cmd.process_group(0).spawn()?;
        let exited = exit_notice(&child);
        Ok(Watched { child, exited })
    }

    /// The program's process ID.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The program's standard output and error pipes, when piped.
    pub fn take_pipes(
        &mut self,
    ) -> (
        Option<std::process::ChildStdout>,
        Option<std::process::ChildStderr>,
    ) {
        (self.child.stdout.take(), self.child.stderr.take())
    }

    /// Waits at most `timeout` for the program to exit. Its end is seen the
    /// moment it comes, not at the next look.
    pub fn wait_for(&self, timeout: Duration) -> Waited {
        match self.exited.recv_timeout(timeout) {
            Err(RecvTimeoutError::Timeout) => Waited::Running,
            // Exited, or the watcher could not wait: either way the caller
            // finishes it, which reaps it.
            _ => Waited::Exited,
        }
    }

    /// Kills what the program left running in its group, then reaps it:
    /// its exit status.
    pub fn finish(mut self) -> std::io::Result<ExitStatus> {
        self.kill_group();
        self.child.wait()
    }

    /// Kills the program and its group (SIGKILL) and reaps it.
    pub fn stop(mut self) {
        self.kill_group();
        // The program itself too, should it have moved to another group.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn kill_group(&self) {
        // Safe: the PID is our child's, not yet reaped (a zombie at worst),
        // so the group it leads is still its own.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
    }
}

/// A message when `child` has exited, from a thread that waits for it
/// without reaping it (`WNOWAIT`): its PID stays ours until the caller
/// reaps it, so killing its group meanwhile cannot hit a stranger.
fn exit_notice(child: &Child) -> Receiver<()> {
    use rustix::process::{waitid, Pid, WaitId, WaitIdOptions};
    let pid = Pid::from_child(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        while let Err(rustix::io::Errno::INTR) = waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {}
        let _ = tx.send(());
    });
    rx
}

#[cfg(test)]
mod test {
    use super::*;
    use std::time::Instant;

    /// Whether process `pid` runs (a zombie, left to init, does not).
    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    }

    /// SIGKILL is delivered asynchronously: look until it has been.
    fn ends(pid: i32) -> bool {
        let give_up = Instant::now() + Duration::from_secs(30);
        while alive(pid) && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(20));
        }
        !alive(pid)
    }

    fn pid_in(file: &std::path::Path) -> i32 {
        std::fs::read_to_string(file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn what_a_program_left_running_ends_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let w = Watched::spawn(Command::new("/bin/sh").args([
            "-c",
            &format!("sleep 600 & echo $! > {}; exit 3", pidfile.display()),
        ]))
        .unwrap();
        assert_eq!(w.wait_for(Duration::from_secs(60)), Waited::Exited);
        let status = w.finish().unwrap();
        assert_eq!(status.code(), Some(3));
        let pid = pid_in(&pidfile);
        assert!(
            ends(pid),
            "sleep {pid} outlived the program that started it"
        );
    }

    #[test]
    fn a_stopped_program_ends_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let w = Watched::spawn(Command::new("/bin/sh").args([
            "-c",
            &format!("sleep 600 & echo $! > {}; wait", pidfile.display()),
        ]))
        .unwrap();
        while !pidfile.exists() || std::fs::read_to_string(&pidfile).unwrap().is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(w.wait_for(Duration::from_millis(50)), Waited::Running);
        let leader = w.id() as i32;
        w.stop();
        assert!(ends(pid_in(&pidfile)));
        assert!(!alive(leader));
    }
}
