//! What a compose tells its front end while it runs: the stage it is in,
//! how far a long stage got, and the moment everything is staged and
//! nothing is published yet. A terminal front end draws a bar from it; a
//! library user passes [`Quiet`].

use crate::interrupt::Interrupt;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Progress callbacks for a front end.
pub trait Progress {
    /// A new stage begins (`loading inputs for x86_64`).
    fn stage(&self, what: &str);
    /// `done` of `total` steps of the current stage.
    fn step(&self, done: usize, total: usize);
    /// Everything is staged and durable, and nothing is published yet:
    /// the last moment a compose can be stopped without anything visible.
    /// Front ends may hold the compose here (the CLI does, for tests that
    /// line up signals or lock the registry at this point); `interrupt`
    /// tells whether the compose was asked to stop meanwhile.
    fn about_to_publish(&self, _compose_id: &str, _interrupt: &Interrupt) {}
    /// The compose is recorded `started`, before anything is built: its
    /// ID is known. An artifact compose says so (its build is long); a
    /// chain records the ID on its step then, so a step killed while
    /// building finds its compose on resume.
    fn began(&self, _compose_id: &str) {}
}

/// A no-op progress sink.
pub struct Quiet;

impl Progress for Quiet {
    fn stage(&self, _: &str) {}
    fn step(&self, _: usize, _: usize) {}
}

/// A front end holding a compose at [`Progress::about_to_publish`], for
/// tests of crash consistency and signals (everything staged, nothing
/// published). The front ends take it from their environment
/// (`STRATA_TEST_PAUSE_BEFORE_PUBLISH`); the compose itself never looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Wait this long, ending early when the compose is interrupted.
    For(Duration),
    /// Wait while this path exists (at most [`Hold::MAX_WAIT`]), whatever
    /// happens, so that a test can line up signals or lock the registry
    /// before the compose goes on.
    WhileExists(PathBuf),
}

impl Hold {
    /// The longest a [`Hold::WhileExists`] waits.
    pub const MAX_WAIT: Duration = Duration::from_secs(600);

    /// `<seconds>` or a path.
    pub fn parse(value: &OsStr) -> Hold {
        match value.to_str().and_then(|s| s.parse::<u64>().ok()) {
            Some(secs) => Hold::For(Duration::from_secs(secs)),
            None => Hold::WhileExists(PathBuf::from(value)),
        }
    }

    /// Waits as said; `interrupt` ends a [`Hold::For`] early.
    pub fn wait(&self, interrupt: &Interrupt) {
        let step = Duration::from_millis(20);
        let start = Instant::now();
        match self {
            Hold::For(limit) => {
                while start.elapsed() < *limit && !interrupt.is_raised() {
                    std::thread::sleep(step);
                }
            }
            Hold::WhileExists(path) => {
                while path.exists() && start.elapsed() < Hold::MAX_WAIT {
                    std::thread::sleep(step);
                }
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn holds_end_on_interrupt_or_when_the_path_goes() {
        assert_eq!(
            Hold::parse(OsStr::new("30")),
            Hold::For(Duration::from_secs(30))
        );
        let interrupt = Interrupt::new();
        interrupt.raise("test");
        // Raised: a long hold ends at once.
        Hold::For(Duration::from_secs(600)).wait(&interrupt);
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("hold");
        assert_eq!(
            Hold::parse(gone.as_os_str()),
            Hold::WhileExists(gone.clone())
        );
        // No such path: nothing to wait for.
        Hold::parse(gone.as_os_str()).wait(&Interrupt::new());
    }
}
