//! Stopping a compose from outside: a signal (the CLI), or an exception
//! raised by a Python signal handler (the bindings), asks the compose to
//! stop; the compose looks at the request only at safe points (between
//! stages, between packages, never while its output is being put in place
//! or recorded) and then unwinds through its normal error path: staging
//! removed, record `failed`, locks released.
//!
//! The request is a pair of atomics so that a signal handler can make it
//! (an atomic store is async-signal-safe; nothing else a handler could do
//! here is). Front ends install the handlers; this crate never does, so a
//! library user keeps its own signal dispositions.

use crate::error::{ComposeError, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// A request to stop a compose at its next safe point. Clones share the
/// request. The default never fires unless raised.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    raised: Arc<AtomicBool>,
    /// The signal number, when a signal made the request (0: none).
    signal: Arc<AtomicUsize>,
    /// What made the request when it was not a signal handler of ours.
    reason: Arc<OnceLock<String>>,
}

impl Interrupt {
    pub fn new() -> Self {
        Self::default()
    }

    /// The flag a signal handler sets (signal-hook's `flag::register`),
    /// after storing the signal's number into [`Interrupt::signal_slot`].
    /// It also arms a "second signal exits at once" handler
    /// (`flag::register_conditional_shutdown`).
    pub fn raised_flag(&self) -> &Arc<AtomicBool> {
        &self.raised
    }

    /// Where a signal handler stores the signal's number
    /// (signal-hook's `flag::register_usize`).
    pub fn signal_slot(&self) -> &Arc<AtomicUsize> {
        &self.signal
    }

    /// Asks the compose to stop because of signal `signal`, from ordinary
    /// code (not from a signal handler).
    pub fn raise_signal(&self, signal: i32) {
        let _ = self.signal.compare_exchange(
            0,
            usize::try_from(signal).unwrap_or(0),
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        self.raised.store(true, Ordering::SeqCst);
    }

    /// Asks the compose to stop for `reason` (e.g. `KeyboardInterrupt`);
    /// the first reason given is the one reported.
    pub fn raise(&self, reason: impl Into<String>) {
        let _ = self.reason.set(reason.into());
        self.raised.store(true, Ordering::SeqCst);
    }

    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// The signal that made the request, if a signal did.
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            n => i32::try_from(n).ok(),
        }
    }

    /// What made the request: `SIGTERM`, or the reason given to
    /// [`Interrupt::raise`].
    pub fn cause(&self) -> Option<String> {
        if !self.is_raised() {
            return None;
        }
        Some(match (self.signal(), self.reason.get()) {
            (Some(n), _) => signal_name(n),
            (None, Some(reason)) => reason.clone(),
            (None, None) => "a request to stop".into(),
        })
    }

    /// A safe point: `Err(Interrupted)` once a stop was asked for.
    pub fn check(&self) -> Result<()> {
        match self.cause() {
            None => Ok(()),
            Some(by) => Err(ComposeError::Interrupted { by }),
        }
    }
}

/// `SIGTERM` for 15, as shells and `kill -l` name signals.
pub fn signal_name(signal: i32) -> String {
    use rustix::process::Signal;
    let name = [
        (Signal::HUP, "SIGHUP"),
        (Signal::INT, "SIGINT"),
        (Signal::QUIT, "SIGQUIT"),
        (Signal::TERM, "SIGTERM"),
    ]
    .into_iter()
    .find(|(s, _)| s.as_raw() == signal)
    .map(|(_, name)| name);
    match name {
        Some(name) => name.to_string(),
        None => format!("signal {signal}"),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn first_cause_is_reported() {
        let i = Interrupt::new();
        assert!(i.check().is_ok());
        let clone = i.clone();
        clone.raise_signal(rustix::process::Signal::TERM.as_raw());
        clone.raise_signal(rustix::process::Signal::INT.as_raw());
        assert_eq!(i.cause().as_deref(), Some("SIGTERM"));
        let e = i.check().unwrap_err().to_string();
        assert!(e.contains("interrupted by SIGTERM"), "{e}");
    }

    #[test]
    fn a_reason_without_a_signal() {
        let i = Interrupt::new();
        i.raise("KeyboardInterrupt");
        i.raise("SystemExit");
        assert_eq!(i.signal(), None);
        assert_eq!(i.cause().as_deref(), Some("KeyboardInterrupt"));
    }

    #[test]
    fn names() {
        assert_eq!(signal_name(rustix::process::Signal::HUP.as_raw()), "SIGHUP");
        assert_eq!(signal_name(63), "signal 63");
    }
}
