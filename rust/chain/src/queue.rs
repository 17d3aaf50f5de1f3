//! Events queued for chains, debounced: a burst of builds makes one chain.
//!
//! [`submit`] checks events and queues them in the registry (`strata chain
//! submit`, Python `strata.submit_event`; the `strata serve` events
//! endpoint and the Koji callbacks call it too). [`take`] looks at every
//! queued event together and groups them by the modules their plans
//! touch: events whose module sets meet are one group, whose debounce
//! window is the longest of its steps' policy rules. When that long has
//! passed since the group's newest event, the group is ready; every ready
//! group is planned as one chain, which the caller records with
//! [`crate::start_consuming`]: it takes the events off the queue in the
//! transaction that records the chain, so an event is consumed exactly
//! once whatever is killed when, and a second taker at the same time is
//! told the events are taken ([`crate::RunError::Taken`]). Groups still
//! inside their window stay queued ([`Pending::waiting`] says until
//! when); an event that cannot be planned stays queued, named with its
//! error ([`Pending::unplannable`]), until dropped ([`drop_events`]).
//!
//! A build event whose build is on its way to the catalog's repositories
//! and in none yet ([`Impact::awaited_builds`]: tagged into a module's
//! Koji tag, whose repo Koji regenerates after the tagging; with
//! `debounce: 0` the event is taken before) would plan nothing and be
//! consumed: it stays queued instead ([`Pending::awaiting_repo`]), for at
//! most `[chain] repo_wait` seconds ([`REPO_WAIT_SECS`] by default) after
//! it was queued. After that it is planned
//! against the repositories as they are (a tagging rolled back, or a
//! build into a tag no module reads: nothing changes) and consumed.
//!
//! Times are the queue's clock ([`strata_compose::queue_now`]): the real
//! time, never `SOURCE_DATE_EPOCH`.

use crate::event::{Event, EventError};
use crate::graph::{NodeKind, Why};
use crate::impact::names_definition;
use crate::impact::{impact, Impact, ImpactError, ImpactOptions};
use crate::load::Watched;
use std::collections::{BTreeMap, BTreeSet};
use strata_compose::Config;
use strata_registry::{PendingEvent, Registry, RegistryError};

/// How long (seconds after it was queued) a build event waits for its
/// build to reach a repository the catalog reads before it is planned
/// anyway, unless `[chain] repo_wait` says otherwise. Koji's repo of a large tag takes tens of minutes to
/// regenerate, longer behind a queue of others.
pub const REPO_WAIT_SECS: i64 = 2 * 3600;

/// Events that cannot be queued or taken; nothing was queued or consumed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("no compose `{id}` in the registry: the event is not queued")]
    UnknownCompose { id: String },
    #[error("no event {seq} is queued (taken by a chain, dropped, or never queued): nothing was dropped")]
    NotQueued { seq: i64 },
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

/// Takes the queued events `seqs` off the queue without a chain (`strata
/// chain drop`); all or none. Gives what was dropped.
pub fn drop_events(
    registry: &mut dyn Registry,
    seqs: &[i64],
) -> Result<Vec<PendingEvent>, QueueError> {
    registry.drop_events(seqs).map_err(|e| match e {
        RegistryError::EventNotQueued { seq, .. } => QueueError::NotQueued { seq },
        e => e.into(),
    })
}

/// A queued event that cannot be planned (its compose was pruned, its
/// definition left the catalog, …). It stays queued, named on every
/// `run --pending`, until dropped (`strata chain drop SEQ`); the other
/// events are planned without it.
#[derive(Debug)]
pub struct Unplannable {
    /// The queue numbers of this event (the same event may be queued
    /// more than once).
    pub seqs: Vec<i64>,
    /// The event as recorded, or `None` when it is not one this Strata
    /// reads.
    pub event: Option<Event>,
    /// Why it cannot be planned, as people read it.
    pub error: String,
}

impl std::fmt::Display for Unplannable {
    /// One line for people, as `chain run --pending` and the Koji consumer
    /// log it: the event and its error on one line each, whatever they hold.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seqs: Vec<String> = self.seqs.iter().map(i64::to_string).collect();
        let event = self
            .event
            .as_ref()
            .map_or_else(|| "(unreadable)".to_owned(), Event::to_string);
        write!(
            f,
            "queued event {} ({}) cannot be planned: {}; drop it with `strata chain drop {}`",
            seqs.join(", "),
            strata_model::one_line(&event),
            strata_model::one_line(&self.error),
            seqs.join(" ")
        )
    }
}

/// Queued events whose debounce window has not passed yet.
#[derive(Debug)]
pub struct Waiting {
    /// Unix seconds: nothing of theirs runs before.
    pub until: i64,
    /// The longest window of the rules of the modules they touch, in
    /// seconds.
    pub window: u64,
    pub queued: Vec<PendingEvent>,
}

/// A queued build event whose build is on its way to the catalog's
/// repositories and in none yet.
#[derive(Debug)]
pub struct AwaitingRepo {
    pub nvr: String,
    pub queued: Vec<PendingEvent>,
    /// Unix seconds: from then on it is planned with the repositories as
    /// they are (`wait` after it was first queued).
    pub until: i64,
    /// Seconds it may wait: `[chain] repo_wait`.
    pub wait: u64,
}

impl std::fmt::Display for AwaitingRepo {
    /// One line for people, as `chain run --pending` and the Koji consumer
    /// log it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seqs: Vec<String> = self.queued.iter().map(|q| q.seq.to_string()).collect();
        let until = jiff::Timestamp::from_second(self.until)
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|_| self.until.to_string());
        write!(
            f,
            "queued event {} (build {}) waits: the build is in no repository the catalog reads \
             yet; from {until} ({} after it was queued, [chain] repo_wait) it is planned \
             against the repositories as they are",
            seqs.join(", "),
            strata_model::one_line(&self.nvr),
            span(self.wait)
        )
    }
}

/// `secs` for people: in hours, minutes or seconds, whichever is whole.
fn span(secs: u64) -> String {
    match secs {
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// How long a build event waits for its repository: `[chain] repo_wait`.
fn repo_wait(config: &Config) -> u64 {
    config
        .chain
        .repo_wait
        .unwrap_or(REPO_WAIT_SECS.unsigned_abs())
}

/// What the queue holds at a given time.
#[derive(Debug, Default)]
pub struct Pending {
    /// The events whose window has passed, as one plan: record `impact`
    /// consuming `consumes` ([`crate::start_consuming`]).
    pub ready: Option<(Box<Impact>, Vec<i64>)>,
    /// Groups still inside their window: events whose plans touch
    /// disjoint module sets wait apart, so a burst on one stack does not
    /// hold back another.
    pub waiting: Vec<Waiting>,
    pub unplannable: Vec<Unplannable>,
    /// Build events held back until their build is in a repository.
    pub awaiting_repo: Vec<AwaitingRepo>,
}

impl Pending {
    /// Nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ready.is_none()
            && self.waiting.is_empty()
            && self.unplannable.is_empty()
            && self.awaiting_repo.is_empty()
    }
}

/// One distinct queued event and its queue entries.
struct Queued<'a> {
    event: Event,
    entries: Vec<&'a PendingEvent>,
}

impl Queued<'_> {
    /// When a build event stops waiting for its repository: `wait`
    /// seconds after it was first queued.
    fn repo_wait_ends(&self, now: i64, wait: u64) -> i64 {
        let first = self.entries.iter().map(|p| p.submitted_at).min();
        first
            .unwrap_or(now)
            .saturating_add(i64::try_from(wait).unwrap_or(i64::MAX))
    }
}

/// The queued events, ready or waiting at `now`, and those that cannot
/// be planned.
///
/// One impact plans every queued event together (the cost of one plan,
/// whatever the queue holds); each event is then given the plan's steps
/// it touches (see [`steps_of`]) and the steps above them, and events
/// whose step sets meet are debounced as one group. The ready groups are
/// planned again, alone, for the chain. Only when the joint plan fails is
/// each event planned alone, to name the ones that cannot be.
pub fn take(
    registry: &dyn Registry,
    watched: &Watched,
    config: &Config,
    opts: &ImpactOptions<'_>,
    now: i64,
) -> Result<Pending, QueueError> {
    let all = registry.pending_events()?;
    let mut out = Pending::default();
    let mut queued: Vec<Queued<'_>> = Vec::new();
    for q in &all {
        match serde_json::from_value::<Event>(q.event.clone()) {
            // The same event twice (a build tagged twice) is planned once.
            Ok(e) => match queued.iter_mut().find(|d| d.event == e) {
                Some(d) => d.entries.push(q),
                None => queued.push(Queued {
                    event: e,
                    entries: vec![q],
                }),
            },
            Err(source) => out.unplannable.push(Unplannable {
                seqs: vec![q.seq],
                event: None,
                error: strata_compose::error_chain(&QueueError::Unreadable { seq: q.seq, source }),
            }),
        }
    }
    if queued.is_empty() {
        return Ok(out);
    }
    let plan_of = |events: &[&Queued<'_>]| {
        let events: Vec<Event> = events.iter().map(|q| q.event.clone()).collect();
        impact(&events, watched, config, registry, opts)
    };
    let refs: Vec<&Queued<'_>> = queued.iter().collect();
    let (mut joint, mut plannable) = match plan_of(&refs) {
        Ok(joint) => (joint, refs),
        // An interrupt is no event's fault.
        Err(e) if opts.interrupt.is_raised() => return Err(impact_error(&all, e)),
        Err(_) => {
            let mut good = Vec::new();
            for q in refs {
                match plan_of(&[q]) {
                    Ok(_) => good.push(q),
                    Err(e) => out.unplannable.push(Unplannable {
                        seqs: q.entries.iter().map(|p| p.seq).collect(),
                        event: Some(q.event.clone()),
                        error: strata_compose::error_chain(&e),
                    }),
                }
            }
            if good.is_empty() {
                return Ok(out);
            }
            let joint = plan_of(&good).map_err(|e| impact_error(&all, e))?;
            (joint, good)
        }
    };
    // Builds on their way to a repository: held back (within their
    // bound), and the others planned without them.
    let wait = repo_wait(config);
    let (held, rest): (Vec<&Queued<'_>>, Vec<&Queued<'_>>) = plannable.iter().partition(|q| {
        matches!(&q.event, Event::Build { nvr } if joint.awaited_builds.contains(nvr))
            && now < q.repo_wait_ends(now, wait)
    });
    if !held.is_empty() {
        for q in &held {
            let Event::Build { nvr } = &q.event else {
                unreachable!("only build events are held");
            };
            out.awaiting_repo.push(AwaitingRepo {
                nvr: nvr.clone(),
                queued: q.entries.iter().map(|&p| p.clone()).collect(),
                until: q.repo_wait_ends(now, wait),
                wait,
            });
        }
        if rest.is_empty() {
            return Ok(out);
        }
        joint = plan_of(&rest).map_err(|e| impact_error(&all, e))?;
        plannable = rest;
    }
    // Each event's steps, closed upwards; then groups of events whose
    // steps meet.
    let above = dependents(&joint);
    // The module of each compose event (the joint plan found them all).
    let mut composed = BTreeMap::new();
    for q in &plannable {
        if let Event::Compose { id } = &q.event {
            if let Some(rec) = registry.get(id)? {
                composed.insert(id.clone(), format!("{}:{}", rec.name, rec.stream));
            }
        }
    }
    let mut sets: Vec<BTreeSet<usize>> = plannable
        .iter()
        .map(|q| steps_of(&q.event, &joint, watched, &composed))
        .collect();
    // A step no event names (a platform change seen while planning, a
    // build nobody queued) goes with the build and repository events,
    // which made the plan look at every module.
    let covered: BTreeSet<usize> = sets.iter().flatten().copied().collect();
    let uncovered: Vec<usize> = (0..joint.plan.steps.len())
        .filter(|i| !covered.contains(i))
        .collect();
    for (q, set) in plannable.iter().zip(&mut sets) {
        if matches!(q.event, Event::Build { .. } | Event::Repo { .. }) {
            set.extend(&uncovered);
        }
    }
    let sets: Vec<BTreeSet<usize>> = sets
        .into_iter()
        .map(|set| close_upwards(set, &above))
        .collect();
    // Groups: events whose step sets meet (union-find). Events that touch
    // no step go with whatever runs next.
    let mut parent: Vec<usize> = (0..plannable.len()).collect();
    fn root(parent: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while parent[r] != r {
            r = parent[r];
        }
        parent[i] = r;
        r
    }
    for i in 0..plannable.len() {
        for j in 0..i {
            if !sets[i].is_disjoint(&sets[j]) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut free = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        if set.is_empty() {
            free.push(i);
        } else {
            let r = root(&mut parent, i);
            groups.entry(r).or_default().push(i);
        }
    }
    let entries_of = |members: &[usize]| -> Vec<PendingEvent> {
        let mut e: Vec<PendingEvent> = members
            .iter()
            .flat_map(|&i| plannable[i].entries.iter().map(|&p| p.clone()))
            .collect();
        e.sort_by_key(|p| p.seq);
        e
    };
    let mut ready: Vec<usize> = Vec::new();
    let mut waiting: Vec<(Waiting, Vec<usize>)> = Vec::new();
    for members in groups.values() {
        let window = members
            .iter()
            .flat_map(|&i| &sets[i])
            .filter_map(|&s| {
                let step = &joint.plan.steps[s];
                watched.policy.rule_for(&step.name, &step.stream)
            })
            .map(|r| r.debounce_secs)
            .max()
            .unwrap_or(0);
        let entries = entries_of(members);
        let newest = entries.iter().map(|q| q.submitted_at).max().unwrap_or(now);
        let until = newest.saturating_add(i64::try_from(window).unwrap_or(i64::MAX));
        if now < until {
            waiting.push((
                Waiting {
                    until,
                    window,
                    queued: entries,
                },
                members.clone(),
            ));
        } else {
            ready.extend(members);
        }
    }
    waiting.sort_by_key(|(w, _)| w.until);
    match (ready.is_empty(), waiting.first_mut()) {
        // Nothing runs now: they wait with the first group that runs.
        (true, Some((first, members))) => {
            members.extend(&free);
            first.queued = entries_of(members);
        }
        _ => ready.extend(&free),
    }
    out.waiting = waiting.into_iter().map(|(w, _)| w).collect();
    if !ready.is_empty() {
        ready.sort_unstable();
        let consumes = ready
            .iter()
            .flat_map(|&i| plannable[i].entries.iter().map(|p| p.seq))
            .collect();
        let found = if ready.len() == plannable.len() {
            joint
        } else {
            let keep: BTreeSet<usize> = ready.iter().flat_map(|&i| &sets[i]).copied().collect();
            let events = ready.iter().map(|&i| plannable[i].event.clone()).collect();
            restrict(joint, keep, events)
        };
        out.ready = Some((Box::new(found), consumes));
    }
    Ok(out)
}

/// The joint plan cut down to the steps `keep` (and the steps they wait
/// for), caused by `events`: what the ready groups run while the others
/// wait.
fn restrict(joint: Impact, mut keep: BTreeSet<usize>, events: Vec<Event>) -> Impact {
    let mut todo: Vec<usize> = keep.iter().copied().collect();
    while let Some(i) = todo.pop() {
        for &a in &joint.plan.steps[i].after {
            if keep.insert(a) {
                todo.push(a);
            }
        }
    }
    let index: BTreeMap<usize, usize> = keep.iter().enumerate().map(|(n, &o)| (o, n)).collect();
    let mut impact = joint;
    let steps = std::mem::take(&mut impact.plan.steps);
    impact.plan.steps = steps
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, mut step)| {
            step.after = step.after.iter().map(|a| index[a]).collect();
            step
        })
        .collect();
    impact.events = events;
    impact
}

fn impact_error(queued: &[PendingEvent], e: ImpactError) -> QueueError {
    let seqs: Vec<String> = queued.iter().map(|q| q.seq.to_string()).collect();
    QueueError::Impact {
        seqs: seqs.join(", "),
        source: Box::new(e),
    }
}

/// For each step of the plan, the steps that wait for it.
fn dependents(joint: &Impact) -> Vec<Vec<usize>> {
    let mut above = vec![Vec::new(); joint.plan.steps.len()];
    for (i, step) in joint.plan.steps.iter().enumerate() {
        for &a in &step.after {
            above[a].push(i);
        }
    }
    above
}

fn close_upwards(mut set: BTreeSet<usize>, above: &[Vec<usize>]) -> BTreeSet<usize> {
    let mut todo: Vec<usize> = set.iter().copied().collect();
    while let Some(i) = todo.pop() {
        for &a in &above[i] {
            if set.insert(a) {
                todo.push(a);
            }
        }
    }
    set
}

/// The steps of the joint plan `event` makes stale directly:
/// - a build: the steps whose selection now takes that build (a build
///   changes nothing else);
/// - a tag: the steps of the modules composed from it;
/// - a compose: the steps of the modules (and artifacts) that use its
///   module;
/// - a definition: its module's or artifact's step;
/// - a repository (which may feed any module): every step.
fn steps_of(
    event: &Event,
    joint: &Impact,
    watched: &Watched,
    composed: &BTreeMap<String, String>,
) -> BTreeSet<usize> {
    let steps = &joint.plan.steps;
    let key = |s: &crate::Step| format!("{}:{}", s.name, s.stream);
    let direct = |i: usize| -> bool {
        let step = &steps[i];
        match event {
            Event::Build { nvr } => step.why.iter().any(|w| match w {
                Why::Selection { changes } => changes
                    .iter()
                    .any(|c| c.new.as_deref().is_some_and(|n| nevra_is_build(n, nvr))),
                _ => false,
            }),
            Event::Tag { tag } => watched.definitions.iter().any(|d| {
                d.definition.nsv() == key(step)
                    && matches!(&d.definition.source, strata_model::Source::Koji { tag: t } if t == tag)
            }),
            Event::Compose { id } => composed.get(id).is_some_and(|module| {
                joint
                    .requires
                    .get(&key(step))
                    .is_some_and(|r| r.contains(module))
            }),
            Event::Definition { location } => match step.kind {
                NodeKind::Module => watched.definitions.iter().any(|d| {
                    d.definition.nsv() == key(step)
                        && names_definition(location, &d.shown, &d.path)
                }),
                NodeKind::Artifact => watched.artifacts.iter().any(|a| {
                    a.definition.name == step.name
                        && names_definition(location, &a.shown, &a.path)
                }),
            },
            Event::Repo { .. } => true,
        }
    };
    (0..steps.len()).filter(|&i| direct(i)).collect()
}

/// Whether binary package `nevra` (`name-[epoch:]version-release.arch`)
/// may come from build `nvr`: the same version and release (a build's
/// packages carry its version-release, not its name). Wrong only towards
/// grouping more events together, never fewer.
fn nevra_is_build(nevra: &str, nvr: &str) -> bool {
    fn version_release(s: &str) -> Option<(&str, &str)> {
        let (rest, release) = s.rsplit_once('-')?;
        let (_, version) = rest.rsplit_once('-')?;
        Some((
            version.rsplit_once(':').map_or(version, |(_, v)| v),
            release,
        ))
    }
    let binary = nevra.rsplit_once('.').map_or(nevra, |(b, _)| b);
    matches!(
        (version_release(binary), version_release(nvr)),
        (Some(a), Some(b)) if a == b
    )
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn binary_packages_are_matched_to_their_build_by_version_release() {
        assert!(nevra_is_build(
            "libfoo-0:1.0-2.fc40.x86_64",
            "libfoo-1.0-2.fc40"
        ));
        assert!(nevra_is_build(
            "libfoo-devel-1.0-2.fc40.noarch",
            "libfoo-1.0-2.fc40"
        ));
        assert!(!nevra_is_build(
            "libfoo-0:1.0-1.fc40.x86_64",
            "libfoo-1.0-2.fc40"
        ));
        assert!(!nevra_is_build(
            "ruby-0:3.3.0-1.fc40.x86_64",
            "php-8.2.13-2.fc40"
        ));
        assert!(!nevra_is_build("garbage", "php-8.2.13-2.fc40"));
    }
}
