//! Running a program from outside (git, a policy's test command) bounded
//! in time and in what is kept of its output: the program is killed when
//! the limit passes, and its output is read on threads (what is over the
//! cap is drained, not kept), so that a full pipe cannot stall it past the
//! limit.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a program did.
pub(crate) struct Ran {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a program did not run to its end.
pub(crate) enum NotRun {
    /// It could not be started (or waited for).
    Spawn(std::io::Error),
    /// The limit passed; it was killed.
    Timeout,
}

/// Runs `cmd` (stdin closed) for at most `limit`, keeping at most `cap`
/// bytes of each of stdout and stderr.
pub(crate) fn run_bounded(
    cmd: &mut Command,
    limit: Duration,
    cap: [u64; 2],
) -> Result<Ran, NotRun> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NotRun::Spawn)?;
    let read = |pipe: Option<Box<dyn Read + Send>>, cap: u64| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = (&mut pipe).take(cap).read_to_end(&mut buf);
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            }
            buf
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        cap[0],
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        cap[1],
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        // The deadline first: a limit of zero always stops the program.
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(NotRun::Timeout);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NotRun::Spawn(e));
            }
        }
    };
    Ok(Ran {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}
