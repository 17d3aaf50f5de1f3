//! `POST /api/v1/events`: a forge webhook or message bridge says that a
//! build, a commit or a compose happened. Off unless `[serve] token` is
//! set; then a request needs `Authorization: Bearer <token>`, a body
//! within `max_event_size`, and a place within `events_per_minute` (one
//! budget for all senders). A valid event is logged, written to stdout as
//! one JSON line (its store until the chain's event queue takes it), and
//! answered 202 with the event as parsed and its impact on the catalog
//! ([`crate::plan`]): what it would recompose, and why the rest is left
//! alone.

use std::sync::Mutex;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::{json_response, AppState, Limits};

/// What happened, as a sender describes it. Unknown fields are refused,
/// so a misspelt field is an error rather than a silently dropped value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A Koji build completed: `nvr`, optionally the tag it landed in.
    Build {
        source: String,
        nvr: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
    },
    /// A commit was pushed to a module definition's repository.
    Commit {
        source: String,
        repo: String,
        branch: String,
        commit: String,
    },
    /// A compose ended (e.g. on another Strata).
    Compose {
        source: String,
        compose_id: String,
        state: strata_registry::State,
    },
}

/// The longest text field of an event.
const MAX_FIELD: usize = 512;

impl Event {
    /// Checks what serde cannot: lengths, characters, the form of an NVR
    /// and a commit hash. The message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let fields: Vec<(&str, &str)> = match self {
            Event::Build { source, nvr, tag } => {
                let mut f = vec![("source", source.as_str()), ("nvr", nvr.as_str())];
                if let Some(t) = tag {
                    f.push(("tag", t));
                }
                f
            }
            Event::Commit {
                source,
                repo,
                branch,
                commit,
            } => vec![
                ("source", source),
                ("repo", repo),
                ("branch", branch),
                ("commit", commit),
            ],
            Event::Compose {
                source, compose_id, ..
            } => vec![("source", source), ("compose_id", compose_id)],
        };
        for (name, value) in fields {
            if value.is_empty() || value.len() > MAX_FIELD {
                return Err(format!(
                    "`{name}` must be 1 to {MAX_FIELD} bytes, not {}",
                    value.len()
                ));
            }
            if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(format!(
                    "`{name}` must not contain spaces or control characters"
                ));
            }
        }
        match self {
            Event::Build { nvr, .. } if nvr.rsplitn(3, '-').count() < 3 => {
                Err(format!("`nvr` `{nvr}` is not NAME-VERSION-RELEASE"))
            }
            Event::Commit { commit, .. }
                if !(7..=64).contains(&commit.len())
                    || !commit.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Err(format!(
                    "`commit` `{commit}` is not a commit hash (7 to 64 hex digits)"
                ))
            }
            _ => Ok(()),
        }
    }
}

/// The token and the rate limit.
pub(crate) struct Gate {
    token: Option<String>,
    max_size: usize,
    per_minute: u32,
    bucket: Mutex<(f64, Instant)>,
}

impl Gate {
    pub fn new(token: Option<String>, limits: &Limits) -> Gate {
        Gate {
            token,
            max_size: limits.max_event_size,
            per_minute: limits.events_per_minute,
            bucket: Mutex::new((f64::from(limits.events_per_minute), Instant::now())),
        }
    }

    /// Takes one event from the budget: a bucket of `per_minute` that
    /// refills evenly over the minute. `Err` holds the seconds until the
    /// next event is accepted.
    fn take(&self) -> Result<(), u64> {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = &mut *bucket;
        let now = Instant::now();
        let rate = f64::from(self.per_minute) / 60.0;
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate)
            .min(f64::from(self.per_minute));
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else if rate > 0.0 {
            Err(((1.0 - *tokens) / rate).ceil() as u64)
        } else {
            Err(60)
        }
    }
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refuse(status: StatusCode, error: String) -> Response {
    json_response(&serde_json::json!({ "error": error }), status)
        .unwrap_or_else(|_| status.into_response())
}

pub(crate) async fn post_event(state: AppState, request: Request) -> Response {
    let gate = &state.events;
    let Some(token) = &gate.token else {
        return refuse(
            StatusCode::NOT_FOUND,
            "events are off: set a token in [serve] of strata.toml to accept them".into(),
        );
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
        let mut r = refuse(
            StatusCode::UNAUTHORIZED,
            "an event needs `Authorization: Bearer <token>` with the token of [serve]".into(),
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    if let Err(wait) = gate.take() {
        let mut r = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "more than {} events a minute ([serve.limits] events_per_minute); retry in {wait} s",
                gate.per_minute
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return r;
    }
    let too_big = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "an event is at most {} bytes ([serve.limits] max_event_size)",
                gate.max_size
            ),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > gate.max_size as u64) {
        return too_big();
    }
    let body: Body = request.into_body();
    let Ok(bytes) = axum::body::to_bytes(body, gate.max_size).await else {
        return too_big();
    };
    let event: Event = match serde_json::from_slice(&bytes) {
        Ok(e) => e,
        Err(e) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the event is not valid: {e}"),
            )
        }
    };
    if let Err(reason) = event.validate() {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the event is not valid: {reason}"),
        );
    }
    // Until the chain planner takes events, stdout is their store: one
    // JSON line each, for whatever reads the server's output (a journal,
    // a pipe). Written off the async threads: a full pipe blocks.
    let line = match serde_json::to_string(&event) {
        Ok(line) => line,
        Err(e) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot write the event: {e}"),
            )
        }
    };
    let written = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").and_then(|()| out.flush())
    })
    .await;
    if let Err(e) = written
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        tracing::warn!(error = %e, "cannot record an event on stdout");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot record the event on the server's output: {e}"),
        );
    }
    tracing::info!("event accepted");
    // With `[serve] queue_events`, the event is queued for `strata chain
    // run --pending` (which debounces); the answer is what it would
    // recompose now, and why the rest is left alone.
    let answer = state.planner.answer(&event).await;
    let mut body = serde_json::json!({ "accepted": event, "impact": answer.impact });
    if let Some(note) = answer.note {
        body["note"] = note.into();
    }
    match answer.queued {
        None => {}
        Some(Ok(seqs)) => body["queued"] = seqs.into(),
        Some(Err(why)) => {
            // The sender should send it again: nothing acts on it.
            tracing::warn!(error = %why, "an accepted event was not queued");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, why);
        }
    }
    json_response(&body, StatusCode::ACCEPTED)
        .unwrap_or_else(|_| StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn events_are_checked_field_by_field() {
        let parse = |s: &str| serde_json::from_str::<Event>(s);
        let ok = parse(r#"{"kind":"build","source":"koji","nvr":"httpd-2.4.58-1.fc40"}"#).unwrap();
        assert!(ok.validate().is_ok());
        assert!(parse(r#"{"kind":"build","source":"koji","nvr":"x-1-1","extra":1}"#).is_err());
        assert!(parse(r#"{"kind":"deploy","source":"x"}"#).is_err());
        let bad = parse(r#"{"kind":"build","source":"koji","nvr":"httpd"}"#).unwrap();
        assert_eq!(
            bad.validate().unwrap_err(),
            "`nvr` `httpd` is not NAME-VERSION-RELEASE"
        );
        let bad = parse(r#"{"kind":"commit","source":"s","repo":"r","branch":"b","commit":"xyz"}"#)
            .unwrap();
        assert!(bad.validate().unwrap_err().contains("commit hash"));
        let bad = parse(r#"{"kind":"compose","source":"a b","compose_id":"c","state":"finished"}"#)
            .unwrap();
        assert!(bad.validate().unwrap_err().contains("`source`"));
    }

    #[test]
    fn the_budget_refills_over_the_minute() {
        let limits = Limits {
            events_per_minute: 2,
            ..Limits::default()
        };
        let gate = Gate::new(Some("t".into()), &limits);
        assert!(gate.take().is_ok());
        assert!(gate.take().is_ok());
        assert_eq!(gate.take(), Err(30));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
