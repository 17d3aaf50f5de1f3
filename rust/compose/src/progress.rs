//! What a compose tells its front end while it runs: the stage it is in,
//! how far a long stage got, and the moment everything is staged and
//! nothing is published yet. A terminal front end draws a bar from it; a
//! library user passes [`Quiet`].

use crate::interrupt::Interrupt;

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
}

/// A no-op progress sink.
pub struct Quiet;

impl Progress for Quiet {
    fn stage(&self, _: &str) {}
    fn step(&self, _: usize, _: usize) {}
}
