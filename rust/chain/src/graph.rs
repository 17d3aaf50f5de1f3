//! The module graph of the catalog and the plan built on it.
//!
//! Modules are `name:stream`; an edge runs from a module to each module it
//! requires (`platform` is not a module: its repositories come from
//! configuration). The plan walks upwards from the modules made stale
//! directly: whatever requires a recomposed module gets a new input
//! compose, so it is recomposed too — unless the policy leaves the module
//! below alone, in which case nothing above changes because of it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strata_model::{ArtifactKind, EventKind, OnFailure, Policy, PolicyTest, Trigger};

/// One module the catalog watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogModule {
    pub name: String,
    pub stream: String,
    /// Where its definition is, as shown (a path or an SCM URL).
    pub definition: String,
    /// The modules it requires, `(name, stream)`, without `platform`.
    pub requires: Vec<(String, String)>,
}

/// One artifact the catalog watches, for one arch: a node above the
/// stacks it installs. Its key in the plan is `name:arch` (an artifact
/// compose's stream is its arch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogArtifact {
    pub name: String,
    pub arch: String,
    pub kind: ArtifactKind,
    /// Where its definition is, as shown (a path or an SCM URL).
    pub definition: String,
    /// The stacks it installs, `(name, stream)`.
    pub contents: Vec<(String, String)>,
}

/// What a node of the plan composes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A module stream (a repository).
    #[default]
    Module,
    /// An artifact built from stacks (`strata-artifact`).
    Artifact,
}

/// Which NEVRA replaces which in one arch of a module's selection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NevraChange {
    pub arch: String,
    /// `None`: newly selected.
    pub old: Option<String>,
    /// `None`: no longer selected.
    pub new: Option<String>,
}

/// Why a module is recomposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "kebab-case")]
pub enum Why {
    /// Its selection changes.
    Selection { changes: Vec<NevraChange> },
    /// Its definition's digest differs from the last good compose's.
    Definition { digest: String },
    /// A platform repository's repomd checksum differs.
    Platform { repo: String },
    /// A source repository's repomd checksum differs.
    Source { repo: String },
    /// A module it requires is recomposed in this plan.
    InputCompose { module: String },
    /// A module it uses has a newer last good compose than the one its
    /// last good compose used (an artifact built before that compose).
    InputChanged { module: String, compose: String },
    /// It has no good compose yet.
    NeverComposed,
}

impl std::fmt::Display for NevraChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.old, &self.new) {
            (Some(old), Some(new)) => write!(f, "{}: {old} → {new}", self.arch),
            (None, Some(new)) => write!(f, "{}: + {new}", self.arch),
            (Some(old), None) => write!(f, "{}: − {old}", self.arch),
            (None, None) => write!(f, "{}: (no change)", self.arch),
        }
    }
}

impl std::fmt::Display for Why {
    /// One line of the plan's text: `selection: x86_64: a-1 → a-2, …`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Selection { changes } => {
                let shown: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
                write!(f, "selection: {}", shown.join(", "))
            }
            Why::Definition { digest } => write!(f, "definition changed (sha256 {digest})"),
            Why::Platform { repo } => write!(f, "platform repository {repo} changed"),
            Why::Source { repo } => write!(f, "source repository {repo} changed"),
            Why::InputCompose { module } => write!(f, "input compose: {module} is recomposed"),
            Why::InputChanged { module, compose } => {
                write!(f, "input compose changes: {module} is now {compose}")
            }
            Why::NeverComposed => f.write_str("no good compose yet"),
        }
    }
}

impl Why {
    /// The policy's name for this reason, which the rule's `events` must
    /// list for the module to be recomposed.
    pub fn kind(&self) -> EventKind {
        match self {
            Why::Selection { .. } | Why::NeverComposed => EventKind::Build,
            Why::Definition { .. } => EventKind::Definition,
            Why::Platform { .. } => EventKind::Platform,
            Why::Source { .. } => EventKind::Source,
            Why::InputCompose { .. } | Why::InputChanged { .. } => EventKind::Compose,
        }
    }
}

/// One recompose of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub stream: String,
    pub why: Vec<Why>,
    /// Steps (indices into [`Plan::steps`]) that must end first.
    pub after: Vec<usize>,
    pub trigger: Trigger,
    pub on_failure: OnFailure,
    pub tests: Vec<PolicyTest>,
    /// What the step composes: for an artifact, `name` is the artifact's
    /// and `stream` the arch it is built for. Plans recorded before
    /// artifacts were chained have only modules.
    #[serde(default)]
    pub kind: NodeKind,
}

/// Why a module is not in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum LeftAlone {
    /// Nothing it would use differs from its last good compose.
    UpToDate,
    /// The policy says `trigger: never` ("policy: manual").
    Manual,
    /// The policy's rule does not count these events.
    Ignores { events: Vec<EventKind> },
    /// No policy rule matches it.
    NoRule,
    /// A module below it is left alone for one of the reasons above, so
    /// its input compose does not change.
    Below { module: String },
    /// The events cannot change what it uses, so it was not checked.
    Unaffected,
    /// Nothing it would use differs from its last good compose, but the
    /// events' builds are on their way to the repositories it reads: a
    /// build tagged into its Koji tag, before the tag's repo is
    /// regenerated (or, for plain repositories, a build no repository of
    /// the plan has yet). Whether they change it is not known yet.
    NotInRepository { builds: Vec<String> },
}

impl std::fmt::Display for LeftAlone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeftAlone::UpToDate => f.write_str("up to date"),
            LeftAlone::Manual => f.write_str("policy: manual"),
            LeftAlone::Ignores { events } => {
                let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
                write!(f, "policy: ignores {} events", names.join(", "))
            }
            LeftAlone::NoRule => f.write_str("policy: no rule matches"),
            LeftAlone::Below { module } => write!(f, "{module} below it is left alone"),
            LeftAlone::Unaffected => f.write_str("not affected by the events"),
            LeftAlone::NotInRepository { builds } => match builds.as_slice() {
                [one] => write!(f, "build {one} not in the repository yet"),
                many => write!(f, "builds {} not in the repository yet", many.join(", ")),
            },
        }
    }
}

/// The ordered plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Bottom-up: a step comes after every step it waits for.
    pub steps: Vec<Step>,
    /// Every other catalog module (`name:stream`), and why.
    pub left_alone: BTreeMap<String, LeftAlone>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The catalog's requirements loop; nothing can be composed first.
    #[error("the catalog's module requirements form a cycle: {}", cycle.join(" → "))]
    Cycle { cycle: Vec<String> },
    /// Two catalog entries define the same module stream.
    #[error("{module} is defined twice in the catalog: by {first} and by {second}")]
    Duplicate {
        module: String,
        first: String,
        second: String,
    },
    /// A stale module named by the caller is not in the catalog.
    #[error("{module} is not in the catalog")]
    NotInCatalog { module: String },
}

fn nsv(name: &str, stream: &str) -> String {
    format!("{name}:{stream}")
}

/// Indices of the catalog's modules in dependency order (what is required
/// first; independent ones by name:stream, so the order is the same every
/// time), or the cycle or duplicate that prevents one. Requirements outside
/// the catalog are ignored.
pub fn order(catalog: &[CatalogModule]) -> Result<Vec<usize>, ChainError> {
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for (i, m) in catalog.iter().enumerate() {
        if let Some(&j) = index.get(&nsv(&m.name, &m.stream)) {
            return Err(ChainError::Duplicate {
                module: nsv(&m.name, &m.stream),
                first: catalog[j].definition.clone(),
                second: m.definition.clone(),
            });
        }
        index.insert(nsv(&m.name, &m.stream), i);
    }
    // Depth-first, in name order so the plan is the same every time.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; catalog.len()];
    let mut out = Vec::with_capacity(catalog.len());
    let mut path: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        catalog: &[CatalogModule],
        index: &BTreeMap<String, usize>,
        mark: &mut [Mark],
        path: &mut Vec<usize>,
        out: &mut Vec<usize>,
    ) -> Result<(), ChainError> {
        match mark[i] {
            Mark::Done => return Ok(()),
            Mark::Open => {
                let start = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..]
                    .iter()
                    .map(|&p| nsv(&catalog[p].name, &catalog[p].stream))
                    .collect();
                cycle.push(nsv(&catalog[i].name, &catalog[i].stream));
                return Err(ChainError::Cycle { cycle });
            }
            Mark::New => {}
        }
        mark[i] = Mark::Open;
        path.push(i);
        let mut deps: Vec<usize> = catalog[i]
            .requires
            .iter()
            .filter_map(|(n, s)| index.get(&nsv(n, s)).copied())
            .collect();
        deps.sort_unstable();
        for d in deps {
            visit(d, catalog, index, mark, path, out)?;
        }
        path.pop();
        mark[i] = Mark::Done;
        out.push(i);
        Ok(())
    }
    for &i in index.values() {
        visit(i, catalog, &index, &mut mark, &mut path, &mut out)?;
    }
    Ok(out)
}

/// Whether the node `name:stream` is recomposed: its own reasons `own`,
/// plus each node it stands on (`below`) that the plan recomposes (which
/// it then waits for), under its policy rule. `Ok`: why, the steps it
/// waits for, and the rule; `Err`: why it is left alone.
fn decide<'p>(
    (name, stream): (&str, &str),
    mut why: Vec<Why>,
    below: &[(String, String)],
    step_of: &BTreeMap<String, usize>,
    left_alone: &BTreeMap<String, LeftAlone>,
    policy: &'p Policy,
) -> Result<(Vec<Why>, Vec<usize>, &'p strata_model::PolicyRule), LeftAlone> {
    let mut after = Vec::new();
    let mut blocked_below = None;
    for (n, s) in below {
        let below = nsv(n, s);
        if let Some(&step) = step_of.get(&below) {
            why.push(Why::InputCompose {
                module: below.clone(),
            });
            after.push(step);
        } else if matches!(
            left_alone.get(&below),
            Some(l) if !matches!(l, LeftAlone::UpToDate | LeftAlone::Unaffected)
        ) {
            blocked_below.get_or_insert(below);
        }
    }
    if why.is_empty() {
        return Err(blocked_below.map_or(LeftAlone::UpToDate, |module| LeftAlone::Below { module }));
    }
    let rule = policy.rule_for(name, stream).ok_or(LeftAlone::NoRule)?;
    if rule.trigger == Trigger::Never {
        return Err(LeftAlone::Manual);
    }
    if !why.iter().any(|w| rule.counts(w.kind())) {
        let mut events: Vec<EventKind> = why.iter().map(Why::kind).collect();
        events.sort();
        events.dedup();
        return Err(LeftAlone::Ignores { events });
    }
    after.sort_unstable();
    after.dedup();
    Ok((why, after, rule))
}

/// The plan for `stale`: the modules (`name:stream`) an event makes stale
/// directly, each with why. Everything in the catalog not in the plan is
/// in [`Plan::left_alone`] with its reason.
pub fn plan(
    catalog: &[CatalogModule],
    stale: &BTreeMap<String, Vec<Why>>,
    policy: &Policy,
) -> Result<Plan, ChainError> {
    let order = order(catalog)?;
    for module in stale.keys() {
        if !catalog.iter().any(|m| nsv(&m.name, &m.stream) == *module) {
            return Err(ChainError::NotInCatalog {
                module: module.clone(),
            });
        }
    }
    let mut steps: Vec<Step> = Vec::new();
    let mut step_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut left_alone: BTreeMap<String, LeftAlone> = BTreeMap::new();
    for i in order {
        let m = &catalog[i];
        let key = nsv(&m.name, &m.stream);
        let own = stale.get(&key).cloned().unwrap_or_default();
        let (why, after, rule) = match decide(
            (&m.name, &m.stream),
            own,
            &m.requires,
            &step_of,
            &left_alone,
            policy,
        ) {
            Ok(decided) => decided,
            Err(reason) => {
                left_alone.insert(key, reason);
                continue;
            }
        };
        step_of.insert(key, steps.len());
        steps.push(Step {
            name: m.name.clone(),
            stream: m.stream.clone(),
            why,
            after,
            trigger: rule.trigger,
            on_failure: rule.on_failure,
            tests: rule.tests.clone(),
            kind: NodeKind::Module,
        });
    }
    Ok(Plan { steps, left_alone })
}

/// Adds the catalog's artifacts to `plan` (made by [`plan`]), after the
/// module steps: an artifact is composed when a stack it installs is
/// recomposed by the plan (its input compose changes) or when `stale`
/// (keys `name:arch`) says so for its own reasons (definition, never
/// composed, built on an older compose). The policy's rules match an
/// artifact as `name:arch`, so `php-iso:*` is every arch of `php-iso`
/// and `*:*` covers artifacts too.
pub fn plan_artifacts(
    plan: &mut Plan,
    artifacts: &[CatalogArtifact],
    stale: &BTreeMap<String, Vec<Why>>,
    policy: &Policy,
) -> Result<(), ChainError> {
    // Artifacts and modules share the plan's keys: one name for both
    // would make a step ambiguous.
    let modules: std::collections::BTreeSet<String> = plan
        .steps
        .iter()
        .map(|s| nsv(&s.name, &s.stream))
        .chain(plan.left_alone.keys().cloned())
        .collect();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for a in artifacts {
        let key = nsv(&a.name, &a.arch);
        let first = if modules.contains(&key) {
            Some("a module definition of the catalog")
        } else {
            seen.insert(key.clone(), &a.definition)
        };
        if let Some(first) = first {
            return Err(ChainError::Duplicate {
                module: key,
                first: first.to_owned(),
                second: a.definition.clone(),
            });
        }
    }
    for key in stale.keys() {
        if !artifacts.iter().any(|a| nsv(&a.name, &a.arch) == *key) {
            return Err(ChainError::NotInCatalog {
                module: key.clone(),
            });
        }
    }
    let step_of: BTreeMap<String, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (nsv(&s.name, &s.stream), i))
        .collect();
    let mut sorted: Vec<&CatalogArtifact> = artifacts.iter().collect();
    sorted.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    for a in sorted {
        let key = nsv(&a.name, &a.arch);
        let own = stale.get(&key).cloned().unwrap_or_default();
        match decide(
            (&a.name, &a.arch),
            own,
            &a.contents,
            &step_of,
            &plan.left_alone,
            policy,
        ) {
            Ok((why, after, rule)) => plan.steps.push(Step {
                name: a.name.clone(),
                stream: a.arch.clone(),
                why,
                after,
                trigger: rule.trigger,
                on_failure: rule.on_failure,
                // A rule's tests take a module's repository; an artifact
                // has none.
                tests: Vec::new(),
                kind: NodeKind::Artifact,
            }),
            Err(reason) => {
                plan.left_alone.insert(key, reason);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    fn module(name: &str, requires: &[&str]) -> CatalogModule {
        CatalogModule {
            name: name.into(),
            stream: "1".into(),
            definition: format!("modules/{name}.yaml"),
            requires: requires
                .iter()
                .map(|r| (r.to_string(), "1".to_string()))
                .collect(),
        }
    }

    fn policy(text: &str) -> Policy {
        Policy::parse(
            &format!("document: strata-policy\nversion: 1\ndata:\n  rules:\n{text}"),
            "p.yaml",
        )
        .unwrap()
    }

    fn rebuilt(module: &str) -> BTreeMap<String, Vec<Why>> {
        BTreeMap::from([(
            format!("{module}:1"),
            vec![Why::Selection {
                changes: vec![NevraChange {
                    arch: "x86_64".into(),
                    old: Some("libfoo-0:1.0-1.x86_64".into()),
                    new: Some("libfoo-0:1.0-2.x86_64".into()),
                }],
            }],
        )])
    }

    fn stack() -> Vec<CatalogModule> {
        // Listed top first: the order comes from the graph, not the list.
        vec![
            module("php", &["apache"]),
            module("apache", &["base"]),
            module("base", &[]),
            module("other", &[]),
        ]
    }

    #[test]
    fn the_order_puts_requirements_first_and_ties_by_name() {
        let listed = vec![
            module("php", &["apache", "platform"]),
            module("tools", &[]),
            module("apache", &["base"]),
            module("base", &[]),
        ];
        // Requirements outside the catalog (platform) are ignored.
        assert_eq!(order(&listed).unwrap(), [3, 2, 0, 1]);
        let twice = vec![module("a", &[]), module("a", &[])];
        assert!(matches!(
            order(&twice).unwrap_err(),
            ChainError::Duplicate { module, .. } if module == "a:1"
        ));
    }

    #[test]
    fn a_rebuilt_base_recomposes_the_stacks_above_it_bottom_up() {
        let p = plan(&stack(), &rebuilt("base"), &policy("    - match: '*:*'\n")).unwrap();
        let names: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["base", "apache", "php"]);
        assert_eq!(p.steps[0].after, Vec::<usize>::new());
        assert_eq!(p.steps[1].after, [0]);
        assert_eq!(p.steps[2].after, [1]);
        assert_eq!(
            p.steps[2].why,
            [Why::InputCompose {
                module: "apache:1".into()
            }]
        );
        assert_eq!(
            p.left_alone,
            BTreeMap::from([("other:1".to_string(), LeftAlone::UpToDate)])
        );
    }

    #[test]
    fn nothing_stale_means_an_empty_plan() {
        let p = plan(&stack(), &BTreeMap::new(), &policy("    - match: '*:*'\n")).unwrap();
        assert!(p.steps.is_empty());
        assert!(p.left_alone.values().all(|l| *l == LeftAlone::UpToDate));
    }

    #[test]
    fn the_policy_leaves_modules_alone_with_a_reason() {
        // apache is manual: php above it keeps its input compose.
        let p = plan(
            &stack(),
            &rebuilt("base"),
            &policy("    - match: 'apache:*'\n      trigger: never\n    - match: '*:*'\n"),
        )
        .unwrap();
        let names: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["base"]);
        assert_eq!(p.left_alone["apache:1"].to_string(), "policy: manual");
        assert_eq!(
            p.left_alone["php:1"].to_string(),
            "apache:1 below it is left alone"
        );
        // php ignores compose events; no rule for base.
        let p = plan(
            &stack(),
            &rebuilt("base"),
            &policy(
                "    - match: 'php:*'\n      events: [build]\n    - match: 'apache:*'\n      trigger: approve\n",
            ),
        )
        .unwrap();
        assert!(p.steps.is_empty());
        assert_eq!(
            p.left_alone["base:1"].to_string(),
            "policy: no rule matches"
        );
        let p = plan(
            &stack(),
            &rebuilt("apache"),
            &policy(
                "    - match: 'php:*'\n      events: [build]\n    - match: 'apache:*'\n      trigger: approve\n",
            ),
        )
        .unwrap();
        assert_eq!(p.steps.len(), 1);
        assert_eq!(p.steps[0].trigger, Trigger::Approve);
        assert_eq!(
            p.left_alone["php:1"].to_string(),
            "policy: ignores compose events"
        );
    }

    #[test]
    fn bad_catalogs_are_refused_naming_the_modules() {
        let cycle = vec![
            module("a", &["b"]),
            module("b", &["c"]),
            module("c", &["a"]),
        ];
        let err = plan(&cycle, &BTreeMap::new(), &Policy::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the catalog's module requirements form a cycle: a:1 → b:1 → c:1 → a:1"
        );
        let twice = vec![module("a", &[]), module("a", &[])];
        let err = plan(&twice, &BTreeMap::new(), &Policy::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a:1 is defined twice in the catalog: by modules/a.yaml and by modules/a.yaml"
        );
        let err = plan(&stack(), &rebuilt("zzz"), &Policy::default()).unwrap_err();
        assert_eq!(err.to_string(), "zzz:1 is not in the catalog");
    }

    fn iso(name: &str, contents: &[&str]) -> CatalogArtifact {
        CatalogArtifact {
            name: name.into(),
            arch: "x86_64".into(),
            kind: ArtifactKind::Iso,
            definition: format!("artifacts/{name}.yaml"),
            contents: contents
                .iter()
                .map(|c| (c.to_string(), "1".to_string()))
                .collect(),
        }
    }

    #[test]
    fn artifacts_follow_the_stacks_they_install() {
        let all = policy("    - match: '*:*'\n");
        let mut p = plan(&stack(), &rebuilt("base"), &all).unwrap();
        let arts = [iso("php-iso", &["php"]), iso("other-iso", &["other"])];
        plan_artifacts(&mut p, &arts, &BTreeMap::new(), &all).unwrap();
        let names: Vec<(&str, NodeKind)> =
            p.steps.iter().map(|s| (s.name.as_str(), s.kind)).collect();
        assert_eq!(
            names,
            [
                ("base", NodeKind::Module),
                ("apache", NodeKind::Module),
                ("php", NodeKind::Module),
                ("php-iso", NodeKind::Artifact)
            ]
        );
        assert_eq!(p.steps[3].stream, "x86_64");
        assert_eq!(p.steps[3].after, [2]);
        assert_eq!(
            p.steps[3].why,
            [Why::InputCompose {
                module: "php:1".into()
            }]
        );
        assert_eq!(p.left_alone["other-iso:x86_64"], LeftAlone::UpToDate);

        // Its own reason (a changed definition), and rules by name:arch.
        let mut p = plan(&stack(), &BTreeMap::new(), &all).unwrap();
        let own = BTreeMap::from([(
            "other-iso:x86_64".to_string(),
            vec![Why::Definition {
                digest: "d2".into(),
            }],
        )]);
        let manual =
            policy("    - match: 'other-iso:*'\n      trigger: never\n    - match: '*:*'\n");
        plan_artifacts(&mut p, &arts, &own, &manual).unwrap();
        assert!(p.steps.is_empty());
        assert_eq!(p.left_alone["other-iso:x86_64"], LeftAlone::Manual);

        // php left alone by policy: the iso on it is too, and says why.
        let no_php = policy("    - match: 'php:*'\n      trigger: never\n    - match: '*:*'\n");
        let mut p = plan(&stack(), &rebuilt("base"), &no_php).unwrap();
        plan_artifacts(&mut p, &arts, &BTreeMap::new(), &no_php).unwrap();
        assert_eq!(
            p.left_alone["php-iso:x86_64"].to_string(),
            "php:1 below it is left alone"
        );

        // An artifact named as a module stream is refused.
        let mut p = plan(&stack(), &BTreeMap::new(), &all).unwrap();
        let clash = CatalogArtifact {
            arch: "1".into(),
            ..iso("php", &[])
        };
        let err = plan_artifacts(&mut p, &[clash], &BTreeMap::new(), &all).unwrap_err();
        assert_eq!(
            err.to_string(),
            "php:1 is defined twice in the catalog: by a module definition of the catalog and by artifacts/php.yaml"
        );
    }
}
