//! The events a chain starts from, as `strata impact` and `strata chain
//! run` take them on the command line and the registry records them as a
//! compose's cause.

use serde::{Deserialize, Serialize};
use std::fmt;
use strata_model::EventKind;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// A new build (`--build NVR`).
    Build { nvr: String },
    /// A tag's latest builds, compared with what each module's last good
    /// compose selected (`--tag TAG`).
    Tag { tag: String },
    /// A source or platform repository whose metadata changed (`--repo`):
    /// a URL or a path.
    Repo { location: String },
    /// A module compose that finished (`--compose ID`).
    Compose { id: String },
    /// A changed definition (`--definition PATH|URL`).
    Definition { location: String },
}

/// An event that cannot be one: empty, or with control characters (it is
/// recorded in the registry and shown in reports).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is not a valid {what}: {reason}")]
pub struct EventError {
    pub what: &'static str,
    pub shown: String,
    pub reason: &'static str,
}

/// The longest event value: NVRs, tags and compose IDs are far shorter;
/// a URL of a few KB is not a repository anyone means.
const MAX_EVENT_LEN: usize = 4096;

impl Event {
    /// Checks an event built from outside (command line, Koji callback).
    pub fn checked(self) -> Result<Event, EventError> {
        let (what, value) = match &self {
            Event::Build { nvr } => ("build NVR", nvr),
            Event::Tag { tag } => ("tag", tag),
            Event::Repo { location } => ("repository location", location),
            Event::Compose { id } => ("compose ID", id),
            Event::Definition { location } => ("definition location", location),
        };
        let fail = |reason| EventError {
            what,
            shown: value
                .chars()
                .take(64)
                .flat_map(char::escape_debug)
                .collect(),
            reason,
        };
        if value.trim().is_empty() {
            return Err(fail("it is empty"));
        }
        if value.len() > MAX_EVENT_LEN {
            return Err(fail("it is longer than 4096 bytes"));
        }
        if value.chars().any(char::is_control) {
            return Err(fail("it contains a control character"));
        }
        if matches!(
            self,
            Event::Build { .. } | Event::Tag { .. } | Event::Compose { .. }
        ) && value.chars().any(char::is_whitespace)
        {
            return Err(fail("it contains white space"));
        }
        Ok(self)
    }

    /// The policy's name for this kind of event. A tag's new builds are
    /// builds; a changed repository counts as `platform` or `source`
    /// depending on which module uses it, so the caller decides that per
    /// module ([`Why`](crate::Why)).
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Build { .. } | Event::Tag { .. } => EventKind::Build,
            Event::Repo { .. } => EventKind::Source,
            Event::Compose { .. } => EventKind::Compose,
            Event::Definition { .. } => EventKind::Definition,
        }
    }
}

/// Events from the option lists every front end takes (`--build`, `--tag`,
/// `--repo`, `--compose`, `--definition`; Python's keyword arguments), in
/// that order.
pub fn events_of(
    builds: Vec<String>,
    tags: Vec<String>,
    repos: Vec<String>,
    composes: Vec<String>,
    definitions: Vec<String>,
) -> Vec<Event> {
    let mut out = Vec::new();
    out.extend(builds.into_iter().map(|nvr| Event::Build { nvr }));
    out.extend(tags.into_iter().map(|tag| Event::Tag { tag }));
    out.extend(repos.into_iter().map(|location| Event::Repo { location }));
    out.extend(composes.into_iter().map(|id| Event::Compose { id }));
    out.extend(
        definitions
            .into_iter()
            .map(|location| Event::Definition { location }),
    );
    out
}

impl fmt::Display for Event {
    /// As recorded as a compose's cause: `build httpd-2.4.58-2.fc40`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Build { nvr } => write!(f, "build {nvr}"),
            Event::Tag { tag } => write!(f, "tag {tag}"),
            Event::Repo { location } => write!(f, "repo {location}"),
            Event::Compose { id } => write!(f, "compose {id}"),
            Event::Definition { location } => write!(f, "definition {location}"),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn events_are_checked_and_shown_as_recorded() {
        let e = Event::Build {
            nvr: "httpd-2.4.58-2.fc40".into(),
        }
        .checked()
        .unwrap();
        assert_eq!(e.to_string(), "build httpd-2.4.58-2.fc40");
        assert_eq!(e.kind(), EventKind::Build);
        let err = Event::Tag {
            tag: "f40 build".into(),
        }
        .checked()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`f40 build` is not a valid tag: it contains white space"
        );
        let err = Event::Compose { id: String::new() }.checked().unwrap_err();
        assert_eq!(err.to_string(), "`` is not a valid compose ID: it is empty");
        let err = Event::Repo {
            location: "/srv/a\nb".into(),
        }
        .checked()
        .unwrap_err();
        assert!(err.to_string().contains("control character"), "{err}");
    }

    #[test]
    fn events_round_trip_through_json() {
        let e = Event::Definition {
            location: "git+https://src.example.org/m.git?php.yaml#main".into(),
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"event":"definition","location":"git+https://src.example.org/m.git?php.yaml#main"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e);
    }
}
