//! Running a program from outside (git, `dot`, a policy's test command)
//! bounded in time and in what is kept of its output: the program is
//! killed with its process group when the limit passes, what it leaves
//! running is killed when it ends ([`strata_compose::child`]), and its
//! output is read on threads (what is over the cap is drained, not kept),
//! so that a full pipe cannot stall it past the limit, nor a process it
//! left holding the pipe keep this waiting.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_compose::child::{Waited, Watched};

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

/// How long the output is read on after the program and its group ended:
/// only a process that left the group (a daemon, `setsid`) can still hold
/// the pipes open, and it is not waited for.
const DRAIN: Duration = Duration::from_secs(1);

/// One pipe read on a thread of its own: what was kept so far, and a
/// message when it closed.
struct Reader {
    kept: Arc<Mutex<Vec<u8>>>,
    closed: Receiver<()>,
}

impl Reader {
    fn start(pipe: Option<impl Read + Send + 'static>, cap: u64) -> Reader {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let (tx, closed) = std::sync::mpsc::channel();
        let shared = Arc::clone(&kept);
        std::thread::spawn(move || {
            if let Some(mut pipe) = pipe {
                let mut buf = [0u8; 8192];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let mut kept = shared.lock().unwrap_or_else(|p| p.into_inner());
                            let room = cap.saturating_sub(kept.len() as u64) as usize;
                            kept.extend_from_slice(&buf[..n.min(room)]);
                        }
                    }
                }
            }
            let _ = tx.send(());
        });
        Reader { kept, closed }
    }

    /// What was read by `until` (or the pipe's end, if sooner).
    fn take(self, until: Instant) -> Vec<u8> {
        let _ = self
            .closed
            .recv_timeout(until.saturating_duration_since(Instant::now()));
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *kept)
    }
}

/// Runs `cmd` (stdin closed) for at most `limit`, keeping at most `cap`
/// bytes of each of stdout and stderr. It runs in a process group of its
/// own ([`Watched`]): at its end, or at the limit, what it left running is
/// killed, so that nothing it started runs on or keeps this waiting.
pub(crate) fn run_bounded(
    cmd: &mut Command,
    limit: Duration,
    cap: [u64; 2],
) -> Result<Ran, NotRun> {
    let deadline = Instant::now() + limit;
    let mut child = Watched::spawn(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .map_err(NotRun::Spawn)?;
    let (stdout, stderr) = child.take_pipes();
    let out = Reader::start(stdout, cap[0]);
    let err = Reader::start(stderr, cap[1]);
    // The deadline first: a limit of zero always stops the program.
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() || child.wait_for(left) == Waited::Running {
        child.stop();
        return Err(NotRun::Timeout);
    }
    let status = child.finish().map_err(NotRun::Spawn)?;
    let until = Instant::now() + DRAIN;
    Ok(Ran {
        status,
        stdout: out.take(until),
        stderr: err.take(until),
    })
}

#[cfg(test)]
mod test {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", script]);
        c
    }

    /// Runs `run_bounded` on a thread: its answer, or None when it has not
    /// answered within `bound` (it hangs).
    fn bounded(mut cmd: Command, limit: Duration, bound: Duration) -> Option<Result<Ran, NotRun>> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(run_bounded(&mut cmd, limit, [1024, 1024]));
        });
        rx.recv_timeout(bound).ok()
    }

    #[test]
    fn output_is_kept_up_to_its_cap_and_the_status_given() {
        let ran = bounded(
            sh("printf 'out'; head -c 5000 /dev/zero | tr '\\0' x >&2; exit 4"),
            Duration::from_secs(60),
            Duration::from_secs(120),
        )
        .expect("run_bounded answers")
        .unwrap_or_else(|_| panic!("it ran"));
        assert_eq!(ran.status.code(), Some(4));
        assert_eq!(ran.stdout, b"out");
        assert_eq!(ran.stderr, vec![b'x'; 1024]);
    }

    #[test]
    fn a_background_process_holding_the_output_does_not_hang_it() {
        // A test command that starts a server and forgets it: the server
        // holds stdout open; reading it to its end waited for the server.
        // (That the server is killed is `child`'s to hold.)
        let ran = bounded(
            sh("sleep 600 & echo done"),
            Duration::from_secs(60),
            Duration::from_secs(120),
        )
        .expect("run_bounded returned although a background process holds its output")
        .unwrap_or_else(|_| panic!("it ran"));
        assert!(ran.status.success());
        assert_eq!(ran.stdout, b"done\n");
    }

    #[test]
    fn past_its_limit_a_program_is_stopped() {
        // Its child holds the output too: the answer does not wait for it.
        let got = bounded(
            sh("sleep 600 & wait"),
            Duration::from_millis(300),
            Duration::from_secs(120),
        )
        .expect("run_bounded answers at its limit");
        assert!(matches!(got, Err(NotRun::Timeout)));
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let got = bounded(
            Command::new("/nonexistent/program"),
            Duration::from_secs(5),
            Duration::from_secs(60),
        )
        .expect("run_bounded answers");
        assert!(matches!(got, Err(NotRun::Spawn(e)) if e.kind() == std::io::ErrorKind::NotFound));
    }
}
