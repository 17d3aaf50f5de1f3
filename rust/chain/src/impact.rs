//! Impact: what the events make stale, and the plan that follows, without
//! composing anything (`strata impact`, and the first step of `strata
//! chain run`).
//!
//! The events choose which catalog modules to check; each checked module
//! is compared with its last good compose by content ([`Fingerprint`]:
//! select from the sources, no gate, no publish; the digest stored with
//! the last good compose says "up to date" in one comparison). The
//! sources and the platform are read once per plan, the stack's layers
//! not at all (their compose IDs come from the registry). The plan then adds the
//! stacks above whatever is recomposed. Modules the events cannot touch
//! are not loaded at all, and said so ("not affected by the events").
//!
//! Which modules an event can touch:
//! - `--build NVR`, `--repo`: every module (a build or a repository may
//!   feed any source or platform; the selection says whether it did);
//! - `--tag TAG`: the modules composed from that Koji tag;
//! - `--compose ID`: the modules that require that compose's module (their
//!   input compose differs from the one their last good compose used);
//! - `--definition PATH|URL`: that module, or that artifact.
//!
//! Artifacts of the catalog come last: each is composed after the stacks
//! it installs when the plan recomposes one of them, or when its own last
//! good compose is out of date ([`crate::artifact`]); the events choose
//! which are checked as modules are chosen (`--compose ID`: the artifacts
//! that install that module).

use crate::artifact::artifact_staleness;
use crate::catalog::{CatalogEntry, CatalogError};
use crate::event::{Event, EventError};
use crate::graph::{order, plan, plan_artifacts, ChainError, LeftAlone, Plan, Why};
use crate::load::Watched;
use crate::stale::stale_reasons;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use strata_compose::{
    build_presence, fingerprint_shared, ComposeError, Config, Fingerprint, Interrupt, Progress,
    SharedInputs,
};
use strata_model::Source;
use strata_registry::{Registry, RegistryError};

/// What the events affect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Impact {
    pub events: Vec<Event>,
    pub plan: Plan,
    /// `name:stream` → the last good compose each checked module has now
    /// (what a step replaces, and what a left-alone module keeps).
    pub last_good: BTreeMap<String, Option<String>>,
    /// `name:stream` → where its definition is (path or SCM URL).
    pub definitions: BTreeMap<String, String>,
    /// `name:stream` → the catalog modules it requires (the graph's edges);
    /// for an artifact, the catalog modules it installs.
    #[serde(default)]
    pub requires: BTreeMap<String, Vec<String>>,
    /// `name:arch` → kind (`container`, `ostree`, `iso`) of every artifact
    /// node, in the plan or left alone; every other node is a module.
    #[serde(default)]
    pub artifacts: BTreeMap<String, String>,
    /// The builds of the events (`--build NVR`) on their way to the
    /// repositories the checked modules read, and in none of them yet:
    /// tagged into a module's Koji tag and not in its repo, or (a package
    /// no Koji tag of the catalog has) in no repository at all. Planned
    /// now they change nothing, so a queue holds them back
    /// ([`crate::queue`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub awaited_builds: Vec<String>,
}

/// An impact that cannot be computed; nothing was started.
#[derive(Debug, thiserror::Error)]
pub enum ImpactError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("cannot read the registry")]
    Registry(#[from] RegistryError),
    #[error("cannot find what {module} would use now ({definition})")]
    Current {
        module: String,
        definition: String,
        #[source]
        source: Box<ComposeError>,
    },
    #[error("no compose `{id}` in the registry")]
    UnknownCompose { id: String },
    #[error("no module of the catalog is composed from Koji tag `{tag}`")]
    UnknownTag { tag: String },
    #[error("the definition `{location}` is not in the catalog ([chain] catalog)")]
    NotInCatalog { location: String },
    #[error("give at least one event (--build, --tag, --repo, --compose, --definition)")]
    NoEvents,
}

/// Where the work reads: the cache of parsed repositories, and what stops
/// it.
pub struct ImpactOptions<'a> {
    pub cache_dir: Option<&'a Path>,
    pub interrupt: &'a Interrupt,
    pub progress: &'a dyn Progress,
}

/// Whether `location` (as given to `--definition`) names the catalog's
/// definition shown as `shown`, read from `path`.
pub(crate) fn names_definition(location: &str, shown: &str, path: &Path) -> bool {
    if location == shown {
        return true;
    }
    match (CatalogEntry::parse(location), CatalogEntry::parse(shown)) {
        (
            Ok(CatalogEntry::Scm {
                repository: r1,
                path: p1,
                ..
            }),
            Ok(CatalogEntry::Scm {
                repository: r2,
                path: p2,
                ..
            }),
        ) => r1 == r2 && p1 == p2,
        (Ok(CatalogEntry::Local { .. }), Ok(CatalogEntry::Local { .. })) => {
            match (std::fs::canonicalize(location), std::fs::canonicalize(path)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            }
        }
        _ => false,
    }
}

/// Which catalog modules and artifacts (indices into each) the events can
/// touch.
fn touched(
    events: &[Event],
    watched: &Watched,
    registry: &dyn Registry,
) -> Result<(BTreeSet<usize>, BTreeSet<usize>), ImpactError> {
    let defs = &watched.definitions;
    let arts = &watched.artifacts;
    let mut out = BTreeSet::new();
    let mut artifacts = BTreeSet::new();
    for event in events {
        match event {
            Event::Build { .. } | Event::Repo { .. } => {
                out.extend(0..defs.len());
                artifacts.extend(0..arts.len());
            }
            Event::Tag { tag } => {
                let before = out.len();
                let using = defs.iter().enumerate().filter(
                    |(_, d)| matches!(&d.definition.source, Source::Koji { tag: t } if t == tag),
                );
                let mut any = false;
                for (i, _) in using {
                    any = true;
                    out.insert(i);
                }
                if !any && before == out.len() {
                    return Err(ImpactError::UnknownTag { tag: tag.clone() });
                }
            }
            Event::Compose { id } => {
                let rec = registry
                    .get(id)?
                    .ok_or_else(|| ImpactError::UnknownCompose { id: id.clone() })?;
                out.extend(defs.iter().enumerate().filter_map(|(i, d)| {
                    d.definition
                        .module_requires()
                        .any(|(n, s)| n == rec.name && s == rec.stream)
                        .then_some(i)
                }));
                artifacts.extend(arts.iter().enumerate().filter_map(|(i, a)| {
                    a.definition
                        .contents
                        .iter()
                        .any(|c| c.module == rec.name && c.stream == rec.stream)
                        .then_some(i)
                }));
            }
            Event::Definition { location } => {
                let module = defs
                    .iter()
                    .position(|d| names_definition(location, &d.shown, &d.path));
                let artifact = arts
                    .iter()
                    .position(|a| names_definition(location, &a.shown, &a.path));
                match (module, artifact) {
                    (Some(i), _) => {
                        out.insert(i);
                    }
                    (None, Some(i)) => {
                        artifacts.insert(i);
                    }
                    (None, None) => {
                        return Err(ImpactError::NotInCatalog {
                            location: location.clone(),
                        })
                    }
                }
            }
        }
    }
    Ok((out, artifacts))
}

/// The impact of `events` on the catalog and policy of `watched`.
pub fn impact(
    events: &[Event],
    watched: &Watched,
    config: &Config,
    registry: &dyn Registry,
    opts: &ImpactOptions<'_>,
) -> Result<Impact, ImpactError> {
    if events.is_empty() {
        return Err(ImpactError::NoEvents);
    }
    let events: Vec<Event> = events
        .iter()
        .cloned()
        .map(Event::checked)
        .collect::<Result<_, _>>()?;
    let modules: Vec<_> = watched.definitions.iter().map(|d| d.module()).collect();
    // The graph first: a cycle or a duplicate is refused before anything
    // is loaded. Modules are checked bottom-up, so that one above a stale
    // module is not loaded: the plan recomposes it anyway.
    let order = order(&modules)?;
    let (checked, checked_artifacts) = touched(&events, watched, registry)?;
    let in_catalog: BTreeSet<String> = modules
        .iter()
        .map(|m| format!("{}:{}", m.name, m.stream))
        .collect();
    let mut stale: BTreeMap<String, Vec<Why>> = BTreeMap::new();
    let mut last_good = BTreeMap::new();
    // The source (one repository for hundreds of modules, at Fedora
    // scale) and the platform are read once for the whole plan.
    let shared = SharedInputs::new(config, opts.cache_dir);
    // The builds named by the events: each checked module says which of
    // them its repositories do not have yet.
    let builds: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Build { nvr } => Some(nvr.clone()),
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Per checked module: the builds tagged into its Koji tag and not in
    // the tag's repo yet (`None`: a module of plain repositories).
    let mut pending_in: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
    // `None` until a module's repositories were looked at.
    let mut seen_builds: Option<BTreeSet<String>> = None;
    // Builds a Koji tag of the catalog has the package of: it decides.
    let mut decided: BTreeSet<String> = BTreeSet::new();
    for i in order.into_iter().filter(|i| checked.contains(i)) {
        let d = &watched.definitions[i];
        opts.interrupt.check().map_err(|e| current_error(d, e))?;
        let key = d.definition.nsv();
        let last = registry.latest_good_summary(&d.definition.name, &d.definition.stream)?;
        last_good.insert(key.clone(), last.as_ref().map(|r| r.id.clone()));
        if d.definition
            .module_requires()
            .any(|(n, s)| stale.contains_key(&format!("{n}:{s}")))
        {
            continue;
        }
        opts.progress.stage(&format!("checking {key}"));
        let now = match fingerprint_shared(
            &shared,
            &d.path,
            &d.definition,
            &d.digest,
            registry,
            opts.interrupt,
            opts.progress,
        ) {
            Ok(now) => now,
            // A module below that the events did not touch has no good
            // compose: it is composed first, and this one above it.
            Err(ComposeError::NoGoodCompose { required, .. }) if in_catalog.contains(&required) => {
                stale.insert(required, vec![Why::NeverComposed]);
                continue;
            }
            Err(e) => return Err(current_error(d, e)),
        };
        if !builds.is_empty() {
            let presence = build_presence(
                &shared,
                &d.path,
                &d.definition,
                &builds,
                opts.interrupt,
                opts.progress,
            )
            .map_err(|e| current_error(d, e))?;
            seen_builds
                .get_or_insert_with(BTreeSet::new)
                .extend(presence.present);
            decided.extend(presence.decided_by_tag);
            pending_in.insert(key.clone(), presence.tagged_not_in_repo);
        }
        let why = match last {
            None => vec![Why::NeverComposed],
            // Up to date is one comparison of digests; the record (its
            // package lists) is read only to say what changed, or for a
            // compose recorded before digests were stored.
            Some(last) if registry.fingerprint(&last.id)? == Some(now.digest()) => Vec::new(),
            Some(last) => stale_reasons(
                registry
                    .get(&last.id)?
                    .as_ref()
                    .map(Fingerprint::of_record)
                    .as_ref(),
                &now,
            ),
        };
        if !why.is_empty() {
            stale.insert(key, why);
        }
    }
    let mut plan = plan(&modules, &stale, &watched.policy)?;
    // On their way: tagged into a module's tag and not in its repo yet;
    // or in no repository, of a package no tag of the catalog decides on
    // (a tag that has the package and not this build superseded it: it
    // never comes).
    let tagged: BTreeSet<&String> = pending_in.values().flatten().flatten().collect();
    let awaited_builds: Vec<String> = match &seen_builds {
        Some(seen) => builds
            .iter()
            .filter(|b| !seen.contains(*b))
            .filter(|b| tagged.contains(b) || !decided.contains(*b))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    // Up to date as far as its repositories say, with a build on its way
    // to them: not known to be up to date. From a Koji tag: the builds
    // tagged into it and not in its repo yet. From plain repositories
    // (whose next content nothing announces): the builds awaited; a build
    // some other module's repository has is that module's, not this one's.
    for (key, pending) in pending_in {
        let builds = pending.unwrap_or_else(|| awaited_builds.clone());
        if builds.is_empty() {
            continue;
        }
        if let Some(reason @ LeftAlone::UpToDate) = plan.left_alone.get_mut(&key) {
            *reason = LeftAlone::NotInRepository { builds };
        }
    }
    for (i, d) in watched.definitions.iter().enumerate() {
        let key = d.definition.nsv();
        if !checked.contains(&i) {
            if let Some(reason @ LeftAlone::UpToDate) = plan.left_alone.get_mut(&key) {
                *reason = LeftAlone::Unaffected;
            }
        }
    }
    // Artifacts: their own staleness from the records (no install), then
    // their place above the stacks the plan recomposes.
    let mut stale_artifacts: BTreeMap<String, Vec<Why>> = BTreeMap::new();
    let mut artifact_nodes = Vec::new();
    let mut artifact_kinds = BTreeMap::new();
    let mut unaffected_artifacts = BTreeSet::new();
    for (i, a) in watched.artifacts.iter().enumerate() {
        for node in a.nodes() {
            let key = format!("{}:{}", node.name, node.arch);
            artifact_kinds.insert(key.clone(), node.kind.as_str().to_owned());
            if checked_artifacts.contains(&i) {
                let (last, why) = artifact_staleness(a, &node.arch, registry)?;
                last_good.insert(key.clone(), last);
                if !why.is_empty() {
                    stale_artifacts.insert(key, why);
                }
            } else {
                unaffected_artifacts.insert(key);
            }
            artifact_nodes.push(node);
        }
    }
    plan_artifacts(
        &mut plan,
        &artifact_nodes,
        &stale_artifacts,
        &watched.policy,
    )?;
    for key in &unaffected_artifacts {
        if let Some(reason @ LeftAlone::UpToDate) = plan.left_alone.get_mut(key) {
            *reason = LeftAlone::Unaffected;
        }
    }
    // Steps not checked themselves (stacks above) still replace a compose.
    for step in &plan.steps {
        let key = format!("{}:{}", step.name, step.stream);
        if let std::collections::btree_map::Entry::Vacant(e) = last_good.entry(key) {
            let id = registry
                .latest_good_summary(&step.name, &step.stream)?
                .map(|s| s.id);
            e.insert(id);
        }
    }
    let mut definitions: BTreeMap<String, String> = watched
        .definitions
        .iter()
        .map(|d| (d.definition.nsv(), d.shown.clone()))
        .collect();
    // The graph's edges: what each node stands on, within the catalog.
    let edges = |below: &[(String, String)]| -> Vec<String> {
        below
            .iter()
            .map(|(n, s)| format!("{n}:{s}"))
            .filter(|k| in_catalog.contains(k))
            .collect()
    };
    let mut requires: BTreeMap<String, Vec<String>> = modules
        .iter()
        .map(|m| (format!("{}:{}", m.name, m.stream), edges(&m.requires)))
        .collect();
    for node in &artifact_nodes {
        let key = format!("{}:{}", node.name, node.arch);
        definitions.insert(key.clone(), node.definition.clone());
        requires.insert(key, edges(&node.contents));
    }
    Ok(Impact {
        events,
        plan,
        last_good,
        definitions,
        requires,
        artifacts: artifact_kinds,
        awaited_builds,
    })
}

fn current_error(d: &crate::CatalogDefinition, e: ComposeError) -> ImpactError {
    ImpactError::Current {
        module: d.definition.nsv(),
        definition: d.shown.clone(),
        source: Box::new(e),
    }
}

impl Impact {
    /// What a chain records of its plan: the steps, the events, and the
    /// modules left alone for a reason worth reading, with what the
    /// plan knows of each of those (last good compose, definition,
    /// requires, artifact kind). The catalog's other modules, which the
    /// events cannot change ([`LeftAlone::Unaffected`]), are left out: at a
    /// thousand modules they made a one-step chain's record hundreds of
    /// KB, and a chain needs only its steps to run or resume.
    pub fn recorded(&self) -> Impact {
        let left_alone: BTreeMap<String, LeftAlone> = self
            .plan
            .left_alone
            .iter()
            .filter(|(_, why)| **why != LeftAlone::Unaffected)
            .map(|(k, why)| (k.clone(), why.clone()))
            .collect();
        let keys: BTreeSet<String> = self
            .plan
            .steps
            .iter()
            .map(|s| format!("{}:{}", s.name, s.stream))
            .chain(left_alone.keys().cloned())
            .collect();
        fn only<V: Clone>(
            map: &BTreeMap<String, V>,
            keys: &BTreeSet<String>,
        ) -> BTreeMap<String, V> {
            map.iter()
                .filter(|(k, _)| keys.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
        Impact {
            events: self.events.clone(),
            plan: Plan {
                steps: self.plan.steps.clone(),
                left_alone,
            },
            last_good: only(&self.last_good, &keys),
            definitions: only(&self.definitions, &keys),
            requires: only(&self.requires, &keys),
            artifacts: only(&self.artifacts, &keys),
            awaited_builds: self.awaited_builds.clone(),
        }
    }

    /// The plan as people read it: each step with why, then every module
    /// left alone with why.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let one = |s: &str| strata_model::one_line(s).into_owned();
        let mut out = String::new();
        let causes: Vec<String> = self.events.iter().map(|e| one(&e.to_string())).collect();
        let n = self.plan.steps.len();
        let _ = writeln!(
            out,
            "Impact of {}: {n} recompose{}",
            causes.join(", "),
            if n == 1 { "" } else { "s" }
        );
        for (i, step) in self.plan.steps.iter().enumerate() {
            let key = format!("{}:{}", step.name, step.stream);
            let mut head = format!("{:>3}. {}", i + 1, one(&key));
            if !step.after.is_empty() {
                let after: Vec<String> = step.after.iter().map(|a| (a + 1).to_string()).collect();
                let _ = write!(head, " (after {})", after.join(", "));
            }
            let _ = write!(head, " [{}]", step.trigger.as_str());
            if let Some(kind) = self.artifacts.get(&key) {
                let _ = write!(head, " artifact ({})", one(kind));
            }
            let _ = writeln!(out, "{head}");
            if let Some(Some(id)) = self.last_good.get(&key) {
                let _ = writeln!(out, "       replaces {}", one(id));
            }
            for why in &step.why {
                let _ = writeln!(out, "       {}", one(&why.to_string()));
            }
            for test in &step.tests {
                let _ = writeln!(out, "       then test {}", one(&test.name));
            }
        }
        if !self.plan.left_alone.is_empty() {
            let _ = writeln!(out, "Left alone:");
            for (module, reason) in &self.plan.left_alone {
                let what = match self.artifacts.get(module) {
                    Some(kind) => format!(" (artifact, {})", one(kind)),
                    None => String::new(),
                };
                let _ = writeln!(out, "  {}{what}: {}", one(module), one(&reason.to_string()));
            }
        }
        out
    }
}
