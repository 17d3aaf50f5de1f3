//! The stack below a module: every module it requires, directly or through
//! another required module, each resolved to one compose.
//!
//! Each module stream of the tree resolves to its last good compose, unless
//! a compose is pinned (in the definition's `compose_pins`, or given on the
//! command line). The edges come from each compose's own record: the
//! modules its definition required (its `compose` inputs). One stream per
//! module in the whole tree, as dnf enables one stream per module; one
//! platform for all of it.

use crate::error::{ComposeError, Result};
use std::collections::{BTreeMap, BTreeSet};
use strata_model::ModuleDefinition;
use strata_registry::{ComposeRecord, InputKind, Registry, State};

/// One module compose of a stack.
#[derive(Debug, Clone)]
pub struct Layer {
    pub record: ComposeRecord,
    /// Its direct module requires, `name:stream` (platform excluded).
    pub requires: Vec<String>,
    /// Required by the top module itself (else only through another layer).
    pub direct: bool,
    /// Its compose was pinned rather than taken as the last good one.
    pub pinned: bool,
    /// The first module (top or layer) found requiring it.
    pub required_by: String,
}

impl Layer {
    pub fn nsv(&self) -> String {
        format!("{}:{}", self.record.name, self.record.stream)
    }
}

/// The direct module requires a compose recorded (`compose` inputs,
/// `name:stream`).
pub fn recorded_requires(rec: &ComposeRecord) -> Vec<String> {
    rec.inputs
        .iter()
        .filter(|i| i.kind == InputKind::Compose)
        .map(|i| i.name.clone())
        .collect()
}

/// The platform stream a compose was checked against, from its
/// `platform` inputs (`<stream>.<arch>`).
fn recorded_platform(rec: &ComposeRecord) -> Option<String> {
    rec.inputs
        .iter()
        .find(|i| i.kind == InputKind::Platform)
        .map(|i| {
            i.name
                .rsplit_once('.')
                .map(|(p, _)| p)
                .unwrap_or(&i.name)
                .to_string()
        })
}

fn split_nsv(nsv: &str) -> (&str, &str) {
    nsv.split_once(':').unwrap_or((nsv, ""))
}

/// Resolves the stack below `def`, bottom first: every layer comes after
/// all the layers it requires. `with` are compose IDs given on the command
/// line; they win over the definition's `compose_pins`.
pub fn resolve(
    def: &ModuleDefinition,
    registry: &dyn Registry,
    with: &[String],
) -> Result<Vec<Layer>> {
    let top = def.nsv();
    // name → compose ID
    let mut pins: BTreeMap<String, String> = def.compose_pins.clone();
    for id in with {
        let rec = registry
            .get(id)?
            .ok_or_else(|| ComposeError::PinnedCompose {
                module: top.clone(),
                compose_id: id.clone(),
                problem: "no such compose in the registry".into(),
            })?;
        pins.insert(rec.name, id.clone());
    }

    // Breadth first from the top's requires: name → (stream, required by).
    let mut layers: BTreeMap<String, Layer> = BTreeMap::new();
    let mut queue: std::collections::VecDeque<(String, String, String, bool)> = def
        .module_requires()
        .map(|(m, s)| (m.to_string(), s.to_string(), top.clone(), true))
        .collect();
    while let Some((m, s, by, direct)) = queue.pop_front() {
        if m == def.name {
            return Err(ComposeError::StackCycle {
                module: top.clone(),
                cycle: format!("{top} → … → {by} → {m}:{s}"),
            });
        }
        if let Some(l) = layers.get_mut(&m) {
            if l.record.stream != s {
                return Err(ComposeError::StreamConflict {
                    module: top.clone(),
                    required: m.clone(),
                    first: format!("{}:{} (required by {})", m, l.record.stream, l.required_by),
                    second: format!("{m}:{s} (required by {by})"),
                });
            }
            l.direct |= direct;
            continue;
        }
        let (record, pinned) = match pins.get(&m) {
            Some(id) => {
                let problem = |p: String| ComposeError::PinnedCompose {
                    module: top.clone(),
                    compose_id: id.clone(),
                    problem: p,
                };
                let rec = registry
                    .get(id)?
                    .ok_or_else(|| problem("no such compose in the registry".into()))?;
                if rec.stream != s {
                    return Err(problem(format!(
                        "it is a compose of {}:{}, the stack requires {m}:{s}",
                        rec.name, rec.stream
                    )));
                }
                if rec.state != State::Finished {
                    return Err(problem(format!(
                        "it is {}, only a finished compose can be used",
                        rec.state
                    )));
                }
                (rec, true)
            }
            None => (
                registry
                    .latest_good(&m, &s)?
                    .ok_or_else(|| ComposeError::NoGoodCompose {
                        module: by.clone(),
                        required: format!("{m}:{s}"),
                    })?,
                false,
            ),
        };
        if let (Some(want), Some(has)) = (def.platform(), recorded_platform(&record)) {
            if want != has {
                return Err(ComposeError::PlatformMismatch {
                    module: top.clone(),
                    platform: want.to_string(),
                    layer: format!("{m}:{s}"),
                    compose_id: record.id.clone(),
                    layer_platform: has,
                });
            }
        }
        let requires = recorded_requires(&record);
        let nsv = format!("{m}:{s}");
        for r in &requires {
            let (rm, rs) = split_nsv(r);
            queue.push_back((rm.to_string(), rs.to_string(), nsv.clone(), false));
        }
        layers.insert(
            m.clone(),
            Layer {
                record,
                requires,
                direct,
                pinned,
                required_by: by,
            },
        );
    }
    for (name, id) in &pins {
        if !layers.contains_key(name) {
            return Err(ComposeError::PinnedCompose {
                module: top.clone(),
                compose_id: id.clone(),
                problem: format!("{top} does not require {name}, directly or through its stack"),
            });
        }
    }
    order(&top, layers)
}

/// Bottom first: a layer after everything it requires; ties by name, so
/// the order is stable.
fn order(top: &str, mut layers: BTreeMap<String, Layer>) -> Result<Vec<Layer>> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::with_capacity(layers.len());
    while !layers.is_empty() {
        let ready: Vec<String> = layers
            .iter()
            .filter(|(_, l)| {
                l.requires
                    .iter()
                    .all(|r| done.contains(split_nsv(r).0) || !layers.contains_key(split_nsv(r).0))
            })
            .map(|(n, _)| n.clone())
            .collect();
        if ready.is_empty() {
            let cycle: Vec<String> = layers.values().map(Layer::nsv).collect();
            return Err(ComposeError::StackCycle {
                module: top.to_string(),
                cycle: cycle.join(", "),
            });
        }
        for n in ready {
            let l = layers.remove(&n).expect("listed above");
            done.insert(n);
            out.push(l);
        }
    }
    Ok(out)
}

/// One module of a printed stack: the compose used for it and what it
/// requires, as the stack used them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TreeNode {
    /// `name:stream`.
    pub module: String,
    pub compose_id: String,
    /// started, finished or failed (of the top compose; layers are always
    /// finished ones).
    pub state: String,
    /// Pinned rather than the last good compose (definitions only).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
    /// When the stack used another compose of a module than this layer's
    /// own compose was checked against: what that layer recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub requires: Vec<TreeNode>,
}

/// The stack of a recorded compose: each module with the compose ID the
/// compose recorded for it.
pub fn tree_of_record(registry: &dyn Registry, rec: &ComposeRecord) -> Result<TreeNode> {
    // What the stack used: name:stream → compose ID.
    let used: BTreeMap<String, String> = rec
        .inputs
        .iter()
        .filter(|i| matches!(i.kind, InputKind::Compose | InputKind::StackCompose))
        .map(|i| (i.name.clone(), i.ident.clone()))
        .collect();
    let mut records: BTreeMap<String, ComposeRecord> = BTreeMap::new();
    let mut path = Vec::new();
    node_of(registry, rec, &used, &mut records, &mut path)
}

fn node_of(
    registry: &dyn Registry,
    rec: &ComposeRecord,
    used: &BTreeMap<String, String>,
    records: &mut BTreeMap<String, ComposeRecord>,
    path: &mut Vec<String>,
) -> Result<TreeNode> {
    let nsv = format!("{}:{}", rec.name, rec.stream);
    path.push(nsv.clone());
    let mut requires = Vec::new();
    for i in rec.inputs.iter().filter(|i| i.kind == InputKind::Compose) {
        if path.contains(&i.name) {
            return Err(ComposeError::StackCycle {
                module: path[0].clone(),
                cycle: format!("{} → {}", path.join(" → "), i.name),
            });
        }
        // The stack's choice, else (a compose recorded before stacks were
        // recorded whole) what this layer itself used.
        let id = used.get(&i.name).unwrap_or(&i.ident).clone();
        let note = (id != i.ident)
            .then(|| format!("{} was composed against {} {}", rec.id, i.name, i.ident));
        if !records.contains_key(&id) {
            let r = registry.get(&id)?.ok_or_else(|| {
                ComposeError::Other(format!(
                    "compose {id} of {} (used by {}) is not in the registry",
                    i.name, rec.id
                ))
            })?;
            records.insert(id.clone(), r);
        }
        let child = records[&id].clone();
        let mut n = node_of(registry, &child, used, records, path)?;
        n.note = note;
        requires.push(n);
    }
    path.pop();
    Ok(TreeNode {
        module: nsv,
        compose_id: rec.id.clone(),
        state: rec.state.to_string(),
        pinned: false,
        note: None,
        requires,
    })
}

/// The stack a compose of `def` would use now (what [`resolve`] gives), as
/// a tree under the definition's module.
pub fn tree_of_definition(def: &ModuleDefinition, layers: &[Layer]) -> TreeNode {
    let by_nsv: BTreeMap<String, &Layer> = layers.iter().map(|l| (l.nsv(), l)).collect();
    fn node(nsv: &str, by_nsv: &BTreeMap<String, &Layer>, depth: usize) -> TreeNode {
        let l = by_nsv[nsv];
        TreeNode {
            module: nsv.to_string(),
            compose_id: l.record.id.clone(),
            state: l.record.state.to_string(),
            pinned: l.pinned,
            note: None,
            // resolve() refused cycles; the depth bound is a guard only.
            requires: if depth > by_nsv.len() {
                Vec::new()
            } else {
                l.requires
                    .iter()
                    .filter(|r| by_nsv.contains_key(r.as_str()))
                    .map(|r| node(r, by_nsv, depth + 1))
                    .collect()
            },
        }
    }
    TreeNode {
        module: def.nsv(),
        compose_id: String::new(),
        state: "not composed".into(),
        pinned: false,
        note: None,
        requires: def
            .module_requires()
            .map(|(m, s)| node(&format!("{m}:{s}"), &by_nsv, 0))
            .collect(),
    }
}

impl TreeNode {
    /// The tree drawn with box characters, one module per line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.line());
        out.push('\n');
        self.children_text("", &mut out);
        out
    }

    fn line(&self) -> String {
        let mut s = self.module.clone();
        if !self.compose_id.is_empty() {
            s.push_str("  ");
            s.push_str(&self.compose_id);
        }
        if self.state != "finished" {
            s.push_str(&format!("  ({})", self.state));
        }
        if self.pinned {
            s.push_str("  (pinned)");
        }
        if let Some(n) = &self.note {
            s.push_str(&format!("  [{n}]"));
        }
        s
    }

    fn children_text(&self, prefix: &str, out: &mut String) {
        for (i, c) in self.requires.iter().enumerate() {
            let last = i + 1 == self.requires.len();
            out.push_str(prefix);
            out.push_str(if last { "└─ " } else { "├─ " });
            out.push_str(&c.line());
            out.push('\n');
            c.children_text(
                &format!("{prefix}{}", if last { "   " } else { "│  " }),
                out,
            );
        }
    }
}
