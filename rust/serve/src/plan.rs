//! What an event would recompose: the impact (`strata impact`) of an
//! accepted event on the server's catalog (`[chain] catalog` of its
//! configuration), answered with the 202 of `POST /api/v1/events`. Nothing
//! is composed and the registry is only read; the work (load the catalog,
//! select against the current inputs) runs on a blocking thread, one
//! event at a time, within `[serve.limits] impact_timeout`, and is stopped
//! at its next safe point when the time is up.
//!
//! Every accepted event gets an answer: when there is no plan to give (no
//! catalog, an event no catalog module can be touched by, the time ran
//! out, an error), the plan is empty and `note` says why.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use strata_chain::{
    impact, load_watched, scm_cache, CatalogEntry, Event as ChainEvent, Impact, ImpactOptions,
    Plan, Watched,
};
use strata_compose::{error_chain, queue_now, Config, Interrupt, Progress};
use strata_registry::{OpenOptions, RegistryLocation, State};
use tokio::sync::Semaphore;

use crate::events::Event;

/// Computes impacts, one at a time.
pub(crate) struct Planner {
    config: Arc<Config>,
    location: RegistryLocation,
    options: OpenOptions,
    timeout: Duration,
    one: Semaphore,
}

/// The impact of an event, or why there is none.
pub(crate) struct Answer {
    pub impact: Impact,
    pub note: Option<String>,
    /// With `[serve] queue_events`: the queue numbers its chain events got
    /// (`strata chain run --pending` takes them), or why it was not queued.
    pub queued: Option<Result<Vec<i64>, String>>,
}

/// Where progress would go: the server shows none.
struct Quiet;

impl Progress for Quiet {
    fn stage(&self, _: &str) {}
    fn step(&self, _: usize, _: usize) {}
}

/// The same repository however a forge spells it: no `git+`, no trailing
/// `/` or `.git`.
fn same_repository(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        let s = s.strip_prefix("git+").unwrap_or(s).trim_end_matches('/');
        s.strip_suffix(".git").unwrap_or(s).to_owned()
    };
    norm(a) == norm(b)
}

/// The chain's events for `event`, or why it can change nothing.
fn chain_events(event: &Event, watched: &Watched) -> Result<Vec<ChainEvent>, String> {
    match event {
        // A build is checked against every module (the selection says
        // whether it feeds one); the tag it landed in adds nothing.
        Event::Build { nvr, .. } => Ok(vec![ChainEvent::Build { nvr: nvr.clone() }]),
        Event::Compose {
            compose_id, state, ..
        } => match state {
            State::Finished => Ok(vec![ChainEvent::Compose {
                id: compose_id.clone(),
            }]),
            other => Err(format!(
                "compose `{compose_id}` ended {other}: only a finished compose changes what \
                 is built on it"
            )),
        },
        // A commit changes the catalog definitions in that repository.
        Event::Commit { repo, branch, .. } => {
            // Module and artifact definitions alike.
            let shown = watched
                .definitions
                .iter()
                .map(|d| &d.shown)
                .chain(watched.artifacts.iter().map(|a| &a.shown));
            let defs: Vec<ChainEvent> = shown
                .filter(|shown| match CatalogEntry::parse(shown) {
                    Ok(CatalogEntry::Scm {
                        repository,
                        revision,
                        ..
                    }) => same_repository(&repository, repo) && revision == *branch,
                    _ => false,
                })
                .map(|shown| ChainEvent::Definition {
                    location: shown.clone(),
                })
                .collect();
            if defs.is_empty() {
                Err(format!(
                    "no definition of the catalog ([chain] catalog) comes from branch \
                     `{branch}` of `{repo}`"
                ))
            } else {
                Ok(defs)
            }
        }
    }
}

/// An impact that recomposes nothing.
fn empty(events: Vec<ChainEvent>) -> Impact {
    Impact {
        events,
        plan: Plan {
            steps: Vec::new(),
            left_alone: BTreeMap::new(),
        },
        last_good: BTreeMap::new(),
        definitions: BTreeMap::new(),
        requires: BTreeMap::new(),
        artifacts: BTreeMap::new(),
        awaited_builds: Vec::new(),
    }
}

impl Planner {
    pub fn new(
        config: Arc<Config>,
        location: RegistryLocation,
        options: OpenOptions,
        timeout: Duration,
    ) -> Planner {
        Planner {
            config,
            location,
            options,
            timeout,
            one: Semaphore::new(1),
        }
    }

    /// The impact of `event`, within the time limit (waiting for the
    /// event before it included).
    pub async fn answer(&self, event: &Event) -> Answer {
        if self.config.chain.catalog.is_empty() {
            let file = self.config.chain.source.as_ref().map_or_else(
                || strata_compose::SYSTEM_CONFIG.to_owned(),
                |f| f.display().to_string(),
            );
            return Answer {
                impact: empty(Vec::new()),
                note: Some(format!(
                    "no catalog is configured ([chain] catalog in {file}): nothing is planned"
                )),
                queued: None,
            };
        }
        let secs = self.timeout.as_secs_f64();
        let late = || Answer {
            impact: empty(Vec::new()),
            note: Some(format!(
                "the impact was not computed within {secs} s ([serve.limits] impact_timeout)"
            )),
            queued: None,
        };
        let deadline = tokio::time::Instant::now() + self.timeout;
        let Ok(Ok(permit)) = tokio::time::timeout_at(deadline, self.one.acquire()).await else {
            return late();
        };
        let interrupt = Interrupt::new();
        let work = {
            let (config, location, options) = (
                Arc::clone(&self.config),
                self.location.clone(),
                self.options.clone(),
            );
            let (event, interrupt) = (event.clone(), interrupt.clone());
            tokio::task::spawn_blocking(move || {
                compute(&config, &location, &options, &event, &interrupt)
            })
        };
        let answer = match tokio::time::timeout_at(deadline, work).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(join)) => Answer {
                impact: empty(Vec::new()),
                note: Some(format!("the impact could not be computed: {join}")),
                queued: None,
            },
            Err(_) => {
                // Stops the work at its next safe point; the next event
                // waits for it no longer than its own limit.
                interrupt.raise(format!(
                    "the impact took longer than {secs} s ([serve.limits] impact_timeout)"
                ));
                late()
            }
        };
        drop(permit);
        answer
    }
}

/// The impact, on this thread (blocking): the catalog, the registry
/// (read-only) and the current inputs of the modules the event touches.
fn compute(
    config: &Config,
    location: &RegistryLocation,
    options: &OpenOptions,
    event: &Event,
    interrupt: &Interrupt,
) -> Answer {
    let cache = config.cache_dir(None);
    let watched =
        match scm_cache(config, cache.as_deref()).and_then(|scm| load_watched(config, &scm)) {
            Ok(w) => w,
            Err(e) => {
                return Answer {
                    impact: empty(Vec::new()),
                    note: Some(format!("cannot read the catalog: {}", error_chain(&e))),
                    queued: None,
                }
            }
        };
    let events = match chain_events(event, &watched) {
        Ok(events) => events,
        Err(why) => {
            return Answer {
                impact: empty(Vec::new()),
                note: Some(format!("{why}: nothing is planned")),
                queued: None,
            }
        }
    };
    // Queued before it is planned: the queue is what a chain acts on, the
    // plan only a preview of it. The connection that queued serves the
    // plan too; without queueing (or when that connection cannot be
    // opened) the plan reads through a read-only one.
    let open = || {
        strata_registry::open_read_only_with(location, options)
            .map_err(|e| format!("cannot open the compose registry: {}", error_chain(&e)))
    };
    let (queued, registry) = if config.serve.queue_events.unwrap_or(false) {
        match strata_registry::open_with(location, options) {
            Ok(mut registry) => {
                let queued = strata_chain::queue::submit(&mut *registry, &events, queue_now())
                    .map(|q| q.into_iter().map(|p| p.seq).collect())
                    .map_err(|e| format!("cannot queue the event: {}", error_chain(&e)));
                (Some(queued), Ok(registry))
            }
            Err(e) => (
                Some(Err(format!(
                    "cannot open the compose registry: {}",
                    error_chain(&e)
                ))),
                open(),
            ),
        }
    } else {
        (None, open())
    };
    let result = registry.and_then(|registry| {
        let found = impact(
            &events,
            &watched,
            config,
            &*registry,
            &ImpactOptions {
                cache_dir: cache.as_deref(),
                interrupt,
                progress: &Quiet,
            },
        )
        .map_err(|e| error_chain(&e));
        // A PostgreSQL connection is closed here, off the async threads.
        drop(registry);
        found
    });
    match result {
        Ok(impact) => Answer {
            impact,
            note: None,
            queued,
        },
        Err(why) => Answer {
            impact: empty(events),
            note: Some(format!("no plan: {why}")),
            queued,
        },
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn repositories_match_however_spelt() {
        assert!(same_repository(
            "https://src.example/modules/php",
            "git+https://src.example/modules/php.git/"
        ));
        assert!(!same_repository(
            "https://src.example/modules/php",
            "https://src.example/modules/php-other"
        ));
    }
}
