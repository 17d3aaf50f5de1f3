//! The queue of chain events (schema version 6): events submitted (by
//! `strata chain submit`, the `strata serve` events endpoint, the Koji
//! callbacks) wait here until their debounce window has passed, then one
//! chain takes them all ([`crate::NewChain::consumes`]), removing them in
//! the transaction that records the chain: a crash either leaves them
//! queued or has the chain hold them, never both, never neither.
//!
//! The queue is bounded ([`MAX_PENDING_EVENTS`], [`MAX_EVENT_BYTES`]): a
//! flood of events is refused with an error, not stored without end.
//! Written once over [`Store`], like the chain SQL.

use crate::chain::{int, text, Kind, Store, Val};
use crate::error::RegistryError;
use crate::Result;
use serde::{Deserialize, Serialize};

/// At most this many events wait at once.
pub const MAX_PENDING_EVENTS: usize = 10_000;

/// One event's JSON is at most this long.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// A queued event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEvent {
    /// Order of submission; what a chain names to consume it. Never
    /// handed out twice in a registry (schema version 9).
    pub seq: i64,
    /// The event as `strata impact --json` prints it.
    pub event: serde_json::Value,
    /// Unix seconds.
    pub submitted_at: i64,
}

pub(crate) fn submit(
    s: &mut dyn Store,
    event: &serde_json::Value,
    at: i64,
) -> Result<PendingEvent> {
    let json = event.to_string();
    if json.len() > MAX_EVENT_BYTES {
        return Err(RegistryError::EventTooLarge {
            db: s.db().to_owned(),
            size: json.len(),
            limit: MAX_EVENT_BYTES,
        });
    }
    let queued = s.rows(
        "SELECT COUNT(*) FROM strata.chain_events",
        &[],
        &[Kind::Int],
    )?[0][0]
        .int()
        .unwrap_or(0);
    if queued as usize >= MAX_PENDING_EVENTS {
        return Err(RegistryError::EventQueueFull {
            db: s.db().to_owned(),
            limit: MAX_PENDING_EVENTS,
        });
    }
    // A number never handed out before (schema version 9): a chain names
    // the events it planned by number, so a number given again to a new
    // event would let that chain take the new one off the queue in place
    // of one another chain took meanwhile. The update holds the counter's
    // row until the transaction ends, so two submitters never read the
    // same value.
    s.exec(
        "UPDATE strata.counters SET value = value + 1 WHERE name = 'chain_events'",
        &[],
    )?;
    let seq = s
        .rows(
            "SELECT value FROM strata.counters WHERE name = 'chain_events'",
            &[],
            &[Kind::Int],
        )?
        .first()
        .and_then(|r| r[0].int())
        .ok_or_else(|| RegistryError::NotARegistry {
            db: s.db().to_owned(),
            reason: "its table counters has no row 'chain_events'".into(),
        })?;
    s.exec(
        "INSERT INTO strata.chain_events (seq, event, submitted_at) VALUES (?1, ?2, ?3)",
        &[int(seq), text(json), int(at)],
    )?;
    Ok(PendingEvent {
        seq,
        event: event.clone(),
        submitted_at: at,
    })
}

pub(crate) fn pending(s: &mut dyn Store) -> Result<Vec<PendingEvent>> {
    let db = s.db().to_owned();
    s.rows(
        "SELECT seq, event, submitted_at FROM strata.chain_events ORDER BY seq",
        &[],
        &[Kind::Int, Kind::Text, Kind::Int],
    )?
    .into_iter()
    .map(|r| {
        let seq = r[0].int().unwrap_or_default();
        let event = serde_json::from_str(r[1].text().unwrap_or("null")).map_err(|e| {
            RegistryError::Corrupt {
                db: db.clone(),
                compose_id: format!("(queued event {seq})"),
                reason: format!("event: {e}"),
            }
        })?;
        Ok(PendingEvent {
            seq,
            event,
            submitted_at: r[2].int().unwrap_or_default(),
        })
    })
    .collect()
}

/// Takes event `seq` off the queue, within a chain's creation.
pub(crate) fn consume(s: &mut dyn Store, seq: i64) -> Result<()> {
    let removed = s.exec(
        "DELETE FROM strata.chain_events WHERE seq = ?1",
        &[Val::Int(Some(seq))],
    )?;
    if removed == 0 {
        return Err(RegistryError::EventNotQueued {
            db: s.db().to_owned(),
            seq,
        });
    }
    Ok(())
}

/// Takes the events `seqs` off the queue without a chain (`strata chain
/// drop`: events that cannot be planned); all or none: an event not
/// queued is the error and nothing is removed.
pub(crate) fn drop_events(s: &mut dyn Store, seqs: &[i64]) -> Result<Vec<PendingEvent>> {
    let queued = pending(s)?;
    let mut dropped = Vec::with_capacity(seqs.len());
    for &seq in seqs {
        let Some(event) = queued.iter().find(|e| e.seq == seq) else {
            return Err(RegistryError::EventNotQueued {
                db: s.db().to_owned(),
                seq,
            });
        };
        if !dropped.contains(event) {
            consume(s, seq)?;
            dropped.push(event.clone());
        }
    }
    Ok(dropped)
}

/// The fingerprint digest stored with a compose, if it has one.
pub(crate) fn fingerprint(s: &mut dyn Store, compose_id: &str) -> Result<Option<String>> {
    Ok(s.rows(
        "SELECT fingerprint FROM strata.composes WHERE id = ?1",
        &[text(compose_id)],
        &[Kind::Text],
    )?
    .first()
    .and_then(|r| r[0].text().map(str::to_owned)))
}
