//! The external tools an artifact compose runs (dnf, ostree, xorriso):
//! each bounded in time, stopped with its children when interrupted, its
//! output kept in the compose's log (published with it) and the end of
//! it quoted when it fails. A tool that is not installed is named with the
//! package that provides it.

use crate::child::{Waited, Watched};
use crate::error::{io, ComposeError, Result};
use crate::interrupt::Interrupt;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A tool and the packages that provide it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tool {
    pub name: &'static str,
    /// The program run: an absolute path where the tool must be the
    /// system's (Debian's dnf runs under /usr/bin/python3, not whatever
    /// `python3` is first on PATH).
    pub program: &'static str,
    pub debian: &'static str,
    pub fedora: &'static str,
}

pub(crate) const DNF: Tool = Tool {
    name: "dnf",
    program: "/usr/bin/dnf",
    debian: "dnf",
    fedora: "dnf",
};
pub(crate) const OSTREE: Tool = Tool {
    name: "ostree",
    program: "ostree",
    debian: "ostree",
    fedora: "ostree",
};
pub(crate) const XORRISO: Tool = Tool {
    name: "xorriso",
    program: "xorriso",
    debian: "xorriso",
    fedora: "xorriso",
};

/// How much of a failed tool's log an error quotes: its end, where the
/// reason is.
const QUOTED_BYTES: u64 = 4096;

/// Runs `cmd` (a command of `tool`) to its end, at most `limit`, its
/// output appended to `log`. `action` says what it was for, in errors.
pub(crate) fn run(
    tool: Tool,
    cmd: Command,
    action: &str,
    log: &Path,
    limit: Duration,
    interrupt: &Interrupt,
) -> Result<()> {
    run_to(tool, cmd, action, log, None, limit, interrupt)
}

/// The most standard output [`output`] reads: a package list of 70,000
/// NEVRAs is about 3 MB.
const OUTPUT_LIMIT: u64 = 64 * 1024 * 1024;

/// [`run`], and the command's standard output (at most [`OUTPUT_LIMIT`]),
/// which then stays out of the log.
pub(crate) fn output(
    tool: Tool,
    cmd: Command,
    action: &str,
    log: &Path,
    limit: Duration,
    interrupt: &Interrupt,
) -> Result<String> {
    // Named for the tool: two tools may run at once (the package list is
    // read while ostree commits).
    let out = log.with_extension(format!("{}.stdout", tool.name));
    run_to(tool, cmd, action, log, Some(&out), limit, interrupt)?;
    let mut text = Vec::new();
    std::fs::File::open(&out)
        .and_then(|f| f.take(OUTPUT_LIMIT + 1).read_to_end(&mut text))
        .map_err(io(&out))?;
    std::fs::remove_file(&out).map_err(io(&out))?;
    if text.len() as u64 > OUTPUT_LIMIT {
        return Err(ComposeError::ToolFailed {
            action: action.to_string(),
            tool: tool.name,
            status: "exit status: 0".into(),
            output: format!("it printed more than {OUTPUT_LIMIT} bytes, the most read"),
        });
    }
    Ok(String::from_utf8_lossy(&text).trim().to_string())
}

fn run_to(
    tool: Tool,
    mut cmd: Command,
    action: &str,
    log: &Path,
    stdout: Option<&Path>,
    limit: Duration,
    interrupt: &Interrupt,
) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io(log))?;
    let start = file.metadata().map_err(io(log))?.len();
    let err = file.try_clone().map_err(io(log))?;
    let out = match stdout {
        Some(p) => std::fs::File::create(p).map_err(io(p))?,
        None => file,
    };
    // Its own process group, so that stopping it stops what it started
    // (rpm, scriptlet shells, ostree's helpers), and what it leaves
    // running (a daemon a scriptlet started) ends with it.
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let child = match Watched::spawn(&mut cmd) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ComposeError::ToolMissing {
                action: action.to_string(),
                tool: tool.name,
                debian: tool.debian,
                fedora: tool.fedora,
            })
        }
        Err(e) => return Err(io(tool.program)(e)),
    };
    let deadline = Instant::now() + limit;
    // The end is seen the moment it comes (sleeping between looks cost
    // half a look on average, for every tool run), and the interrupt and
    // the limit are looked at every 50 ms meanwhile.
    let status = loop {
        if child.wait_for(Duration::from_millis(50)) == Waited::Exited {
            break child.finish().map_err(io(tool.program))?;
        }
        if let Err(e) = interrupt.check() {
            child.stop();
            return Err(e);
        }
        if Instant::now() >= deadline {
            child.stop();
            return Err(ComposeError::ToolTimedOut {
                action: action.to_string(),
                tool: tool.name,
                limit_s: limit.as_secs(),
            });
        }
    };
    if status.success() {
        return Ok(());
    }
    Err(ComposeError::ToolFailed {
        action: action.to_string(),
        tool: tool.name,
        status: status.to_string(),
        output: tail(log, start),
    })
}

/// The end of `log` from byte `start` on: at most [`QUOTED_BYTES`].
fn tail(log: &Path, start: u64) -> String {
    let Ok(mut f) = std::fs::File::open(log) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = start.max(len.saturating_sub(QUOTED_BYTES));
    let mut bytes = Vec::new();
    if f.seek(SeekFrom::Start(from)).is_ok() {
        let _ = f.take(QUOTED_BYTES).read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

#[cfg(test)]
mod test {
    use super::*;

    const SH: Tool = Tool {
        name: "sh",
        program: "/bin/sh",
        debian: "dash",
        fedora: "bash",
    };

    fn sh(script: &str) -> Command {
        let mut c = Command::new(SH.program);
        c.args(["-c", script]);
        c
    }

    #[test]
    fn a_failure_quotes_the_end_of_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let e = run(
            SH,
            sh("echo first; echo the reason >&2; exit 3"),
            "install the stack",
            &log,
            Duration::from_secs(30),
            &Interrupt::new(),
        )
        .unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.starts_with("install the stack: `sh` failed (exit status: 3)"),
            "{shown}"
        );
        assert!(shown.ends_with("first\nthe reason"), "{shown}");
    }

    #[test]
    fn two_tools_at_once_each_get_their_own_output() {
        // The package list (rpm) is read while ostree runs, into one log.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("artifact.log");
        let other = Tool { name: "sh2", ..SH };
        let run = |tool: Tool, script: &str| {
            let limit = Duration::from_secs(60);
            output(tool, sh(script), tool.name, &log, limit, &Interrupt::new())
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| run(SH, "sleep 0.3; echo from-a"));
            let b = s.spawn(|| run(other, "echo from-b; sleep 0.6"));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(a.unwrap(), "from-a");
        assert_eq!(b.unwrap(), "from-b");
    }

    #[test]
    fn a_missing_tool_names_its_packages() {
        let dir = tempfile::tempdir().unwrap();
        let tool = Tool {
            program: "/nonexistent/xorriso",
            ..XORRISO
        };
        let e = run(
            tool,
            Command::new(tool.program),
            "write the ISO",
            &dir.path().join("log"),
            Duration::from_secs(5),
            &Interrupt::new(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "write the ISO: `xorriso` is not installed; install the Debian package xorriso (Fedora: xorriso)"
        );
    }

    #[test]
    fn a_tool_past_its_limit_is_stopped_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let e = run(
            SH,
            sh(&format!("sleep 60 & echo $! > {}; wait", pidfile.display())),
            "install the stack",
            &dir.path().join("log"),
            Duration::from_millis(300),
            &Interrupt::new(),
        )
        .unwrap_err();
        assert!(matches!(e, ComposeError::ToolTimedOut { .. }), "{e}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild was killed too: it ends (or is a zombie left to
        // init). SIGKILL is delivered asynchronously, so look until then;
        // a survivor never ends and fails the test.
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false)
        };
        let give_up = Instant::now() + Duration::from_secs(30);
        while alive() && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(), "sleep {pid} survived");
    }
}
