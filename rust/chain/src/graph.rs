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
use strata_model::{EventKind, OnFailure, Policy, PolicyTest, Trigger};

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
            Why::InputCompose { .. } => EventKind::Compose,
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

/// The catalog in dependency order (what is required first), or the cycle
/// that prevents one.
pub(crate) fn order(catalog: &[CatalogModule]) -> Result<Vec<usize>, ChainError> {
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
        let mut why: Vec<Why> = stale.get(&key).cloned().unwrap_or_default();
        let mut after = Vec::new();
        let mut blocked_below = None;
        for (n, s) in &m.requires {
            let below = nsv(n, s);
            if let Some(&step) = step_of.get(&below) {
                why.push(Why::InputCompose {
                    module: below.clone(),
                });
                after.push(step);
            } else if matches!(
                left_alone.get(&below),
                Some(l) if !matches!(l, LeftAlone::UpToDate)
            ) {
                blocked_below.get_or_insert(below);
            }
        }
        if why.is_empty() {
            let reason = match blocked_below {
                Some(module) => LeftAlone::Below { module },
                None => LeftAlone::UpToDate,
            };
            left_alone.insert(key, reason);
            continue;
        }
        let Some(rule) = policy.rule_for(&m.name, &m.stream) else {
            left_alone.insert(key, LeftAlone::NoRule);
            continue;
        };
        if rule.trigger == Trigger::Never {
            left_alone.insert(key, LeftAlone::Manual);
            continue;
        }
        if !why.iter().any(|w| rule.counts(w.kind())) {
            let mut events: Vec<EventKind> = why.iter().map(Why::kind).collect();
            events.sort();
            events.dedup();
            left_alone.insert(key, LeftAlone::Ignores { events });
            continue;
        }
        after.sort_unstable();
        after.dedup();
        step_of.insert(key, steps.len());
        steps.push(Step {
            name: m.name.clone(),
            stream: m.stream.clone(),
            why,
            after,
            trigger: rule.trigger,
            on_failure: rule.on_failure,
            tests: rule.tests.clone(),
        });
    }
    Ok(Plan { steps, left_alone })
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
}
