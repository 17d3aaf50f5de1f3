//! Events queued for chains, debounced: a burst of builds makes one chain.
//!
//! [`submit`] checks events and queues them in the registry (`strata chain
//! submit`, Python `strata.submit_event`; the `strata serve` events
//! endpoint and the Koji callbacks call it too). [`take`] looks at every
//! queued event together: they coalesce into one plan, whose debounce
//! window is the longest of its steps' policy rules. When that long has
//! passed since the newest queued event (the last one touching the
//! plan's modules), the plan is ready: the caller records it with
//! [`crate::start_consuming`], which takes the events off the queue in the
//! transaction that records the chain, so an event is consumed exactly
//! once whatever is killed when. Until then every event stays queued and
//! [`Pending::Waiting`] says until when.

use crate::event::{Event, EventError};
use crate::impact::{impact, Impact, ImpactError, ImpactOptions};
use crate::load::Watched;
use strata_compose::Config;
use strata_registry::{PendingEvent, Registry, RegistryError};

/// Events that cannot be queued or taken; nothing was queued or consumed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("no compose `{id}` in the registry: the event is not queued")]
    UnknownCompose { id: String },
    #[error("queued event {seq} is not an event this Strata reads")]
    Unreadable {
        seq: i64,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot plan the queued events {seqs}")]
    Impact {
        seqs: String,
        #[source]
        source: Box<ImpactError>,
    },
}

/// Checks `events` and queues them, submitted at `at` (unix seconds).
/// A compose event must name a compose the registry has: the queue holds
/// only events that can be planned.
pub fn submit(
    registry: &mut dyn Registry,
    events: &[Event],
    at: i64,
) -> Result<Vec<PendingEvent>, QueueError> {
    let events: Vec<Event> = events
        .iter()
        .cloned()
        .map(Event::checked)
        .collect::<Result<_, _>>()?;
    for e in &events {
        if let Event::Compose { id } = e {
            if registry.get(id)?.is_none() {
                return Err(QueueError::UnknownCompose { id: id.clone() });
            }
        }
    }
    events
        .iter()
        .map(|e| {
            let json = serde_json::to_value(e).expect("an event serializes");
            Ok(registry.submit_event(&json, at)?)
        })
        .collect()
}

/// What the queue holds at a given time.
#[derive(Debug)]
pub enum Pending {
    /// No event is queued.
    Empty,
    /// The newest event is inside the plan's debounce window: nothing
    /// runs before `until` (unix seconds).
    Waiting {
        until: i64,
        /// The longest window of the plan's rules, in seconds.
        window: u64,
        queued: Vec<PendingEvent>,
    },
    /// The window has passed: record `impact` consuming `consumes`
    /// ([`crate::start_consuming`]).
    Ready {
        impact: Box<Impact>,
        consumes: Vec<i64>,
    },
}

/// The queued events as one plan, ready or waiting at `now`.
pub fn take(
    registry: &dyn Registry,
    watched: &Watched,
    config: &Config,
    opts: &ImpactOptions<'_>,
    now: i64,
) -> Result<Pending, QueueError> {
    let queued = registry.pending_events()?;
    if queued.is_empty() {
        return Ok(Pending::Empty);
    }
    let mut events: Vec<Event> = Vec::new();
    for q in &queued {
        let e: Event = serde_json::from_value(q.event.clone())
            .map_err(|source| QueueError::Unreadable { seq: q.seq, source })?;
        // The same event twice (a build tagged twice) is planned once.
        if !events.contains(&e) {
            events.push(e);
        }
    }
    let found = impact(&events, watched, config, registry, opts).map_err(|e| {
        let seqs: Vec<String> = queued.iter().map(|q| q.seq.to_string()).collect();
        QueueError::Impact {
            seqs: seqs.join(", "),
            source: Box::new(e),
        }
    })?;
    let window = found
        .plan
        .steps
        .iter()
        .filter_map(|s| watched.policy.rule_for(&s.name, &s.stream))
        .map(|r| r.debounce_secs)
        .max()
        .unwrap_or(0);
    let newest = queued.iter().map(|q| q.submitted_at).max().unwrap_or(now);
    let until = newest.saturating_add(i64::try_from(window).unwrap_or(i64::MAX));
    if now < until {
        return Ok(Pending::Waiting {
            until,
            window,
            queued,
        });
    }
    Ok(Pending::Ready {
        impact: Box::new(found),
        consumes: queued.iter().map(|q| q.seq).collect(),
    })
}
