//! Parses of one primary.xml that are under way in this process. A compose
//! can load the same repository twice at once (a source that is also a
//! lookaside); the second load waits for the first and copies its result
//! rather than decompressing and parsing the file again. Like the cache,
//! of which this is the in-memory front, it works by primary checksum (the
//! same checksum is the same content, wherever it was read from), and only
//! where the cache is enabled: without one, every load reads its own files.

use crate::repo::Repo;
use crate::LoadOptions;
use std::io::{self, BufRead, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

enum State {
    /// A parse of the repository alone that has not begun, or is in its
    /// first `TAKEOVER_BYTES`: a load that wants the records too may still
    /// take it over, and so read the file once for both.
    Claimed,
    Running,
    /// Taken over; the load that claimed it waits like any other.
    TakenOver,
    /// The repository, or `None` when the parse failed (a waiter then
    /// parses for itself, and so meets the error itself).
    Done(Option<Arc<Repo>>),
}

struct Slot {
    state: Mutex<State>,
    ready: Condvar,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

static UNDER_WAY: Mutex<Vec<(String, Arc<Slot>)>> = Mutex::new(Vec::new());

/// The right, and the duty, to parse a primary.xml and share the result.
pub(crate) struct Ticket {
    /// `None` when nothing is shared.
    shared: Option<(String, Arc<Slot>)>,
    /// Whether this is the claim of a parse of the repository alone.
    alone: bool,
}

/// A parse that another load has under way.
pub(crate) struct Waiter {
    slot: Arc<Slot>,
}

pub(crate) enum Claim {
    Mine(Ticket),
    Theirs(Waiter),
}

/// Claims the parse of the primary.xml with `checksum` for a load with
/// `opts` (`with_records`: a load that cuts records in the same pass), or
/// finds the load that has it.
pub(crate) fn claim(opts: &LoadOptions, checksum: &str, with_records: bool) -> Claim {
    let Some(dir) = &opts.cache_dir else {
        return Claim::Mine(Ticket {
            shared: None,
            alone: !with_records,
        });
    };
    let key = format!("{}\0{checksum}", dir.display());
    let mut list = UNDER_WAY.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, slot)) = list.iter().find(|(k, _)| *k == key) {
        let mut state = slot.lock();
        if with_records && matches!(*state, State::Claimed) {
            *state = State::TakenOver;
            return Claim::Mine(Ticket {
                shared: Some((key, slot.clone())),
                alone: false,
            });
        }
        return Claim::Theirs(Waiter { slot: slot.clone() });
    }
    let state = if with_records {
        State::Running
    } else {
        State::Claimed
    };
    let slot = Arc::new(Slot {
        state: Mutex::new(state),
        ready: Condvar::new(),
    });
    list.push((key.clone(), slot.clone()));
    Claim::Mine(Ticket {
        shared: Some((key, slot)),
        alone: !with_records,
    })
}

impl Ticket {
    /// Asked as the parse goes: `false` when a load that cuts the records
    /// too has taken it over (then wait with `into_waiter`). `closing`:
    /// from now on the parse is not given up.
    fn keep(&self, closing: bool) -> bool {
        let Some((_, slot)) = self.shared.as_ref().filter(|_| self.alone) else {
            return true;
        };
        let mut state = slot.lock();
        match *state {
            State::TakenOver => false,
            _ => {
                if closing {
                    *state = State::Running;
                }
                true
            }
        }
    }

    /// After the parse was taken over: wait for the load that took it.
    pub(crate) fn into_waiter(mut self) -> Option<Waiter> {
        self.shared.take().map(|(_, slot)| Waiter { slot })
    }

    /// Hands the result to those waiting (`None`: the parse failed).
    pub(crate) fn publish(mut self, repo: Option<Arc<Repo>>) {
        self.finish(repo);
    }

    fn finish(&mut self, repo: Option<Arc<Repo>>) {
        let Some((key, slot)) = self.shared.take() else {
            return;
        };
        let mut state = slot.lock();
        if self.alone && matches!(*state, State::TakenOver) {
            // Not ours to finish any more.
            return;
        }
        UNDER_WAY
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(k, s)| !(*k == key && Arc::ptr_eq(s, &slot)));
        *state = State::Done(repo);
        slot.ready.notify_all();
    }
}

/// How much of a parse of the repository alone may be given up when a
/// load that cuts the records too comes: its first 8 MiB of open XML. Loads
/// that start together meet well within it.
const TAKEOVER_BYTES: u64 = 8 << 20;
const POLL_BYTES: u64 = 256 << 10;

/// The parser's input while its parse may be taken over: every 256 KiB it
/// asks, and once taken over it ends the input with an error.
pub(crate) struct Watched<'a> {
    inner: &'a mut dyn BufRead,
    ticket: &'a Ticket,
    consumed: u64,
    next_poll: u64,
    pub(crate) taken_over: bool,
}

impl<'a> Watched<'a> {
    pub(crate) fn new(inner: &'a mut dyn BufRead, ticket: &'a Ticket) -> Self {
        Watched {
            inner,
            ticket,
            consumed: 0,
            next_poll: 0,
            taken_over: false,
        }
    }
}

impl Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::limits::read_buffered(self, buf)
    }
}

impl BufRead for Watched<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if !self.taken_over && self.consumed >= self.next_poll {
            let closing = self.consumed >= TAKEOVER_BYTES;
            self.taken_over = !self.ticket.keep(closing);
            self.next_poll = if closing {
                u64::MAX
            } else {
                self.consumed + POLL_BYTES
            };
        }
        if self.taken_over {
            return Err(io::Error::other("the parse was taken over"));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.consumed += amt as u64;
        self.inner.consume(amt);
    }
}

impl Drop for Ticket {
    /// A load that ends without publishing (an early return, a panic)
    /// still releases those waiting.
    fn drop(&mut self) {
        self.finish(None);
    }
}

impl Waiter {
    /// The repository the other load parsed, under this load's name and
    /// location; `None` when that parse failed. Read from the cache file
    /// the other load has written by then (mapped, so nothing is copied),
    /// else copied.
    pub(crate) fn wait(self, id: &str, location: &str, opts: &LoadOptions) -> Option<Repo> {
        let mut state = self.slot.lock();
        let shared = loop {
            match &*state {
                State::Done(repo) => break repo.clone()?,
                _ => {
                    state = self
                        .slot
                        .ready
                        .wait(state)
                        .unwrap_or_else(|p| p.into_inner())
                }
            }
        };
        drop(state);
        if let Some(dir) = &opts.cache_dir {
            if let Ok(Some(repo)) = crate::cache::read(dir, &shared.checksum, id, location) {
                return Some(repo);
            }
        }
        let mut repo = (*shared).clone();
        repo.id = id.to_string();
        repo.location = location.to_string();
        Some(repo)
    }
}

/// Takes back a published repository: no copy once the waiters have
/// taken theirs (as they have by the time a load finishes its other work,
/// or as soon as they have mapped the cache file).
pub(crate) fn unshare(repo: Arc<Repo>) -> Repo {
    Arc::try_unwrap(repo).unwrap_or_else(|shared| (*shared).clone())
}

#[cfg(test)]
mod test {
    use super::*;

    fn opts(dir: &str) -> LoadOptions {
        LoadOptions {
            cache_dir: Some(dir.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_second_load_waits_for_the_first_and_gets_its_own_name() {
        let Claim::Mine(ticket) = claim(&opts("/c1"), "sha256:aa", false) else {
            panic!("nothing under way yet");
        };
        let Claim::Theirs(waiter) = claim(&opts("/c1"), "sha256:aa", false) else {
            panic!("the first load has it");
        };
        // Another cache, another checksum, or no cache: not shared.
        assert!(matches!(
            claim(&opts("/c2"), "sha256:aa", false),
            Claim::Mine(_)
        ));
        assert!(matches!(
            claim(&opts("/c1"), "sha256:bb", false),
            Claim::Mine(_)
        ));
        let Claim::Mine(unshared) = claim(&LoadOptions::default(), "sha256:aa", false) else {
            panic!("without a cache nothing is shared");
        };
        assert!(unshared.shared.is_none());
        let got = std::thread::scope(|s| {
            let w = s.spawn(|| waiter.wait("b", "/there", &LoadOptions::default()));
            assert!(ticket.keep(true));
            let repo = Arc::new(Repo::empty("a", "/here", "sha256:aa"));
            ticket.publish(Some(repo.clone()));
            let got = w.join().unwrap();
            assert_eq!(unshare(repo).id, "a");
            got
        });
        let got = got.unwrap();
        assert_eq!((got.id.as_str(), got.location.as_str()), ("b", "/there"));
        assert_eq!(got.checksum, "sha256:aa");
        // Done: the next load parses for itself.
        assert!(matches!(
            claim(&opts("/c1"), "sha256:aa", false),
            Claim::Mine(_)
        ));
    }

    #[test]
    fn a_failed_load_releases_those_waiting() {
        let Claim::Mine(ticket) = claim(&opts("/c3"), "sha256:cc", false) else {
            panic!("nothing under way yet");
        };
        let Claim::Theirs(waiter) = claim(&opts("/c3"), "sha256:cc", false) else {
            panic!("the first load has it");
        };
        std::thread::scope(|s| {
            let w = s.spawn(|| waiter.wait("b", "/there", &LoadOptions::default()));
            drop(ticket);
            assert!(w.join().unwrap().is_none());
        });
    }

    #[test]
    fn a_load_that_cuts_records_takes_over_a_parse_not_begun() {
        let Claim::Mine(alone) = claim(&opts("/c4"), "sha256:dd", false) else {
            panic!("nothing under way yet");
        };
        let Claim::Mine(both) = claim(&opts("/c4"), "sha256:dd", true) else {
            panic!("not begun: taken over");
        };
        assert!(!alone.keep(false));
        let waiter = alone.into_waiter().unwrap();
        assert!(both.keep(true));
        // Taken over once, not twice.
        assert!(matches!(
            claim(&opts("/c4"), "sha256:dd", true),
            Claim::Theirs(_)
        ));
        std::thread::scope(|s| {
            let w = s.spawn(|| waiter.wait("a", "/a", &LoadOptions::default()));
            both.publish(Some(Arc::new(Repo::empty("b", "/b", "sha256:dd"))));
            assert_eq!(w.join().unwrap().unwrap().id, "a");
        });

        // A parse past its first part is not taken over.
        let Claim::Mine(alone) = claim(&opts("/c4"), "sha256:dd", false) else {
            panic!("done: free again");
        };
        assert!(alone.keep(false));
        assert!(alone.keep(true));
        assert!(matches!(
            claim(&opts("/c4"), "sha256:dd", true),
            Claim::Theirs(_)
        ));
    }

    #[test]
    fn a_parse_in_its_first_part_is_given_up_for_a_takeover() {
        let data = vec![b'x'; (TAKEOVER_BYTES as usize) * 2];
        let Claim::Mine(alone) = claim(&opts("/c5"), "sha256:ee", false) else {
            panic!("nothing under way yet");
        };
        let mut input = &data[..];
        let mut watched = Watched::new(&mut input, &alone);
        let mut buf = vec![0u8; 300 << 10];
        watched.read_exact(&mut buf).unwrap();
        let Claim::Mine(both) = claim(&opts("/c5"), "sha256:ee", true) else {
            panic!("taken over");
        };
        assert!(watched.read_exact(&mut buf).is_err());
        assert!(watched.taken_over);
        drop(both);
        assert!(alone.into_waiter().is_some());

        // Past its first part, it is not.
        let Claim::Mine(alone) = claim(&opts("/c5"), "sha256:ee", false) else {
            panic!("done: free again");
        };
        let mut input = &data[..];
        let mut watched = Watched::new(&mut input, &alone);
        let mut rest = Vec::new();
        std::io::copy(
            &mut (&mut watched).take(TAKEOVER_BYTES + (1 << 20)),
            &mut rest,
        )
        .unwrap();
        watched.fill_buf().unwrap();
        assert!(matches!(
            claim(&opts("/c5"), "sha256:ee", true),
            Claim::Theirs(_)
        ));
        watched.read_exact(&mut buf).unwrap();
        assert!(!watched.taken_over);
    }
}
