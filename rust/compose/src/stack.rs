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
use std::collections::{BTreeMap, HashMap, HashSet};
use strata_model::ModuleDefinition;
use strata_registry::{ComposeRecord, Input, InputKind, Registry, State};

/// One module compose of a stack.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Its record; unless pinned, without its package lists and modulemd
    /// ([`Registry::latest_good_lean`]).
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
pub(crate) fn recorded_requires(rec: &ComposeRecord) -> Vec<String> {
    rec.inputs
        .iter()
        .filter(|i| i.kind == InputKind::Compose)
        .map(|i| i.name.clone())
        .collect()
}

/// The platform stream a compose was checked against, from its
/// `platform` inputs (`<stream>.<arch>`).
fn recorded_platform(rec: &ComposeRecord) -> Option<&str> {
    rec.inputs
        .iter()
        .find(|i| i.kind == InputKind::Platform)
        .map(|i| i.name.rsplit_once('.').map_or(i.name.as_str(), |(p, _)| p))
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
    resolve_with(def, registry, with, &mut |streams| {
        Ok(registry.latest_good_lean_many(streams)?)
    })
}

/// The last good compose (lean) of each `(name, stream)` asked, in order.
pub(crate) type LastGood<'a> =
    dyn FnMut(&[(&str, &str)]) -> Result<Vec<Option<ComposeRecord>>> + 'a;

/// [`resolve`], reading the layers' last good composes (lean) through
/// `last_good`, a wave of the walk at a time (every layer one step further
/// down): a deep stack is a few dozen reads, not hundreds. A plan over
/// hundreds of modules, whose stacks share most layers, reads each once.
pub(crate) fn resolve_with(
    def: &ModuleDefinition,
    registry: &dyn Registry,
    with: &[String],
    last_good: &mut LastGood<'_>,
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

    // Breadth first from the top's requires: name → (stream, required by),
    // in waves; each wave's last good composes are read at once, before
    // its entries are taken in order as one queue would take them.
    let mut layers: BTreeMap<String, Layer> = BTreeMap::new();
    let mut wave: Vec<(String, String, String, bool)> = def
        .module_requires()
        .map(|(m, s)| (m.to_string(), s.to_string(), top.clone(), true))
        .collect();
    // name → the stream it was first queued at. Every further entry of a
    // module at that stream would change nothing (it is found once, and
    // only the top's requires are direct), so it is not queued: a deep
    // stack's requires name each module many times over.
    let mut queued: HashMap<String, String> = wave
        .iter()
        .map(|(m, s, _, _)| (m.clone(), s.clone()))
        .collect();
    while !wave.is_empty() {
        let current = std::mem::take(&mut wave);
        // Each entry's place in what the wave asks (`None`: not asked, it
        // is found, pinned or the top), each stream asked once.
        let mut slots: Vec<Option<usize>> = Vec::with_capacity(current.len());
        let mut got: Vec<Option<ComposeRecord>> = {
            let mut ask: Vec<(&str, &str)> = Vec::new();
            let mut asked: HashMap<(&str, &str), usize> = HashMap::new();
            for (m, s, _, _) in &current {
                let wanted = !layers.contains_key(m) && !pins.contains_key(m) && *m != def.name;
                slots.push(wanted.then(|| {
                    *asked.entry((m.as_str(), s.as_str())).or_insert_with(|| {
                        ask.push((m.as_str(), s.as_str()));
                        ask.len() - 1
                    })
                }));
            }
            if ask.is_empty() {
                Vec::new()
            } else {
                last_good(&ask)?
            }
        };
        for ((m, s, by, direct), slot) in current.into_iter().zip(slots) {
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
                    // Without package lists and modulemd: a deep stack would
                    // read every layer's whole record. Taken by the
                    // stream's first entry; a later one finds the layer.
                    slot.and_then(|i| got.get_mut(i)?.take()).ok_or_else(|| {
                        ComposeError::NoGoodCompose {
                            module: by.clone(),
                            required: format!("{m}:{s}"),
                        }
                    })?,
                    false,
                ),
            };
            if let (Some(want), Some(has)) = (def.platform(), recorded_platform(&record)) {
                if want != has {
                    return Err(ComposeError::PlatformMismatch {
                        module: top.clone(),
                        platform: want.to_string(),
                        layer: format!("{m}:{s} (compose {})", record.id),
                        layer_platform: has.to_owned(),
                    });
                }
            }
            let requires = recorded_requires(&record);
            let mut nsv: Option<String> = None;
            for r in &requires {
                let (rm, rs) = split_nsv(r);
                if queued.get(rm).is_some_and(|q| q == rs) {
                    continue;
                }
                queued
                    .entry(rm.to_string())
                    .or_insert_with(|| rs.to_string());
                let by = nsv.get_or_insert_with(|| format!("{m}:{s}")).clone();
                wave.push((rm.to_string(), rs.to_string(), by, false));
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
/// the order is stable. In waves: each wave is every layer whose requires
/// are all in earlier waves, by name. Linear in layers and requires (a
/// deep stack has hundreds of layers and dozens of waves).
fn order(top: &str, layers: BTreeMap<String, Layer>) -> Result<Vec<Layer>> {
    // How many requires of each layer are not placed yet, and who waits on
    // each layer; requires outside the stack (the platform) do not count.
    let mut waiting = vec![0usize; layers.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); layers.len()];
    {
        let index: HashMap<&str, usize> = layers
            .keys()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        for (i, l) in layers.values().enumerate() {
            for r in &l.requires {
                if let Some(&j) = index.get(split_nsv(r).0) {
                    waiting[i] += 1;
                    dependents[j].push(i);
                }
            }
        }
    }
    let mut layers: Vec<Option<Layer>> = layers.into_values().map(Some).collect();
    let mut wave: Vec<usize> = (0..layers.len()).filter(|&i| waiting[i] == 0).collect();
    let mut out = Vec::with_capacity(layers.len());
    while !wave.is_empty() {
        let mut next = Vec::new();
        for &i in &wave {
            out.push(layers[i].take().expect("placed once"));
            for &d in &dependents[i] {
                waiting[d] -= 1;
                if waiting[d] == 0 {
                    next.push(d);
                }
            }
        }
        // Indexes follow names.
        next.sort_unstable();
        wave = next;
    }
    if out.len() < layers.len() {
        let cycle: Vec<String> = layers.iter().flatten().map(Layer::nsv).collect();
        return Err(ComposeError::StackCycle {
            module: top.to_string(),
            cycle: cycle.join(", "),
        });
    }
    Ok(out)
}

/// Layers whose packages a layer's own gate already checked against the
/// same pool, for arch `arch`: each entry is one layer and every layer of
/// its own stack, by index into `layers`.
///
/// A finished compose passed a gate that checked every package of it and
/// of its stack against that stack and the platform. When this stack
/// holds exactly the composes a layer's record names for its stack
/// (compose IDs), and the platform is the same (repomd checksums), those
/// packages' requirements are still met: this stack only adds packages.
/// The one way it can take a provider away, dnf's modular filtering of
/// platform packages the new module (or another layer) is named like, is
/// checked by the gate ([`crate::gate`]), which also still checks
/// everything not covered here. Only direct requires are asked, top
/// first, and only those no earlier entry covers. A layer finished at
/// schema version 12 or later carries the digest of its stack
/// ([`strata_registry::stack_digest`]), compared with the digest of what
/// this stack holds below it: nothing is read. One finished before has
/// its inputs read ([`Registry::get_inputs_only`]); the few records read
/// cover a deep stack.
pub(crate) fn gated_layers(
    registry: &dyn Registry,
    layers: &[Layer],
    platform: &[&Input],
    arch: &str,
) -> Result<Vec<Vec<usize>>> {
    let index: HashMap<String, usize> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.nsv(), i))
        .collect();
    let platform: Vec<(&str, &str)> = platform
        .iter()
        .map(|i| (i.name.as_str(), i.ident.as_str()))
        .collect();
    let suffix = format!(".{arch}");
    // Whether `rec` finished, for `arch`, against this platform: its gate
    // checked against the same pool below its stack.
    let gated_here = |rec: &ComposeRecord| {
        rec.state == State::Finished
            && rec.arches.iter().any(|a| a == arch)
            && rec
                .inputs
                .iter()
                .filter(|p| p.kind == InputKind::Platform && p.name.ends_with(&suffix))
                .map(|p| (p.name.as_str(), p.ident.as_str()))
                .eq(platform.iter().copied())
    };
    let mut covered = vec![false; layers.len()];
    let mut out = Vec::new();
    let mut refused = 0;
    for (i, layer) in layers.iter().enumerate().rev() {
        if !layer.direct || covered[i] {
            continue;
        }
        let cover = if let Some(digest) = &layer.record.stack_digest {
            gated_here(&layer.record)
                .then(|| closure(layers, &index, i))
                .filter(|cover| {
                    let below: Vec<(String, &str)> = cover
                        .iter()
                        .filter(|&&j| j != i)
                        .map(|&j| (layers[j].nsv(), layers[j].record.id.as_str()))
                        .collect();
                    let here = strata_registry::stack_digest(
                        below.iter().map(|(n, id)| (n.as_str(), *id)),
                    );
                    here == *digest
                })
        } else {
            // Each record read costs about what checking a layer does:
            // once a lower module was composed again, every layer above it
            // was checked against the old one, and reading all their
            // records would cost more than the check it saves.
            if refused == MAX_REFUSED {
                break;
            }
            // Its inputs only: its package lists and modulemd were most of
            // what reading its whole record cost, and none of them is
            // asked.
            let cover = registry
                .get_inputs_only(&layer.record.id)?
                .filter(|rec| gated_here(rec))
                .and_then(|rec| stack_as_recorded(layers, &index, i, &rec));
            if cover.is_none() {
                refused += 1;
            }
            cover
        };
        if let Some(cover) = cover {
            for &j in &cover {
                covered[j] = true;
            }
            out.push(cover);
        }
    }
    Ok(out)
}

/// Layer `i` and every layer of its stack here, when `rec` (layer `i`'s
/// record, with its stack's inputs) names exactly those layers' composes.
/// A record that names less (written before stacks were recorded whole)
/// does not show what its gate saw.
fn stack_as_recorded(
    layers: &[Layer],
    index: &HashMap<String, usize>,
    i: usize,
    rec: &ComposeRecord,
) -> Option<Vec<usize>> {
    let mut cover = vec![i];
    let same_stack = rec
        .inputs
        .iter()
        .filter(|p| matches!(p.kind, InputKind::Compose | InputKind::StackCompose))
        .all(|p| match index.get(&p.name) {
            Some(&j) if layers[j].record.id == p.ident => {
                cover.push(j);
                true
            }
            _ => false,
        });
    (same_stack && closure(layers, index, i) == sorted(cover.clone())).then_some(cover)
}

/// How many layers' records [`gated_layers`] reads that do not vouch for
/// their stack before it gives up.
const MAX_REFUSED: usize = 4;

/// Layer `top` and every layer below it, by the requires of this stack.
fn closure(layers: &[Layer], index: &HashMap<String, usize>, top: usize) -> Vec<usize> {
    let mut seen = vec![false; layers.len()];
    let mut todo = vec![top];
    seen[top] = true;
    while let Some(i) = todo.pop() {
        for r in &layers[i].requires {
            if let Some(&j) = index.get(r.as_str()) {
                if !seen[j] {
                    seen[j] = true;
                    todo.push(j);
                }
            }
        }
    }
    (0..layers.len()).filter(|&j| seen[j]).collect()
}

fn sorted(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v.dedup();
    v
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
    /// Already shown above, with what it requires (a stack is a graph:
    /// many modules require the same one); `requires` is then empty, as
    /// `cargo tree` marks a repeated crate `(*)`. Drawing every path of a
    /// deep stack in full was exponential in its depth.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub repeated: bool,
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
    let mut shown = HashSet::new();
    node_of(registry, rec, &used, &mut records, &mut path, &mut shown)
}

fn node_of(
    registry: &dyn Registry,
    rec: &ComposeRecord,
    used: &BTreeMap<String, String>,
    records: &mut BTreeMap<String, ComposeRecord>,
    path: &mut Vec<String>,
    shown: &mut HashSet<String>,
) -> Result<TreeNode> {
    let nsv = format!("{}:{}", rec.name, rec.stream);
    if !shown.insert(rec.id.clone()) {
        return Ok(TreeNode {
            module: nsv,
            compose_id: rec.id.clone(),
            state: rec.state.to_string(),
            pinned: false,
            note: None,
            repeated: true,
            requires: Vec::new(),
        });
    }
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
            // Its inputs are all the tree needs of it.
            let r = registry
                .get_inputs_only(&id)?
                .ok_or_else(|| ComposeError::MissingCompose {
                    compose_id: id.clone(),
                    module: i.name.clone(),
                    used_by: rec.id.clone(),
                })?;
            records.insert(id.clone(), r);
        }
        let child = records[&id].clone();
        let mut n = node_of(registry, &child, used, records, path, shown)?;
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
        repeated: false,
        requires,
    })
}

/// The stack a compose of `def` would use now (what [`resolve`] gives), as
/// a tree under the definition's module.
pub fn tree_of_definition(def: &ModuleDefinition, layers: &[Layer]) -> TreeNode {
    let by_nsv: BTreeMap<String, &Layer> = layers.iter().map(|l| (l.nsv(), l)).collect();
    fn node<'a>(
        nsv: &'a str,
        by_nsv: &'a BTreeMap<String, &'a Layer>,
        shown: &mut HashSet<&'a str>,
    ) -> TreeNode {
        let l = by_nsv[nsv];
        // resolve() refused cycles: a module shown once is never expanded
        // again, so this ends.
        let repeated = !shown.insert(nsv);
        TreeNode {
            module: nsv.to_string(),
            compose_id: l.record.id.clone(),
            state: l.record.state.to_string(),
            pinned: l.pinned,
            note: None,
            repeated,
            requires: if repeated {
                Vec::new()
            } else {
                l.requires
                    .iter()
                    .filter_map(|r| by_nsv.get_key_value(r.as_str()))
                    .map(|(r, _)| node(r, by_nsv, shown))
                    .collect()
            },
        }
    }
    let mut shown = HashSet::new();
    let requires: Vec<String> = def
        .module_requires()
        .map(|(m, s)| format!("{m}:{s}"))
        .collect();
    TreeNode {
        module: def.nsv(),
        compose_id: String::new(),
        state: "not composed".into(),
        pinned: false,
        note: None,
        repeated: false,
        requires: requires
            .iter()
            .filter_map(|r| by_nsv.get_key_value(r.as_str()))
            .map(|(r, _)| node(r, &by_nsv, &mut shown))
            .collect(),
    }
}

/// How the text marks a module shown above (as `cargo tree` does).
const REPEATED: &str = "(*)";

impl TreeNode {
    /// The tree drawn with box characters, one module per line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.line());
        out.push('\n');
        self.children_text("", &mut out);
        if out.contains(REPEATED) {
            out.push_str(REPEATED);
            out.push_str(" shown above, with what it requires\n");
        }
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
        if self.repeated {
            s.push(' ');
            s.push_str(REPEATED);
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

#[cfg(test)]
pub(crate) mod test {
    use super::*;
    use std::collections::BTreeSet;
    use strata_registry::{ComposeType, Input, NewCompose, Outcome, Outputs, SqliteRegistry};

    /// Records a finished compose of `name:stream` that required `requires`
    /// (by compose ID) on platform f40.
    pub(crate) fn compose(
        reg: &mut SqliteRegistry,
        nsv: &str,
        requires: &[&str],
        ok: bool,
    ) -> String {
        let (name, stream) = nsv.split_once(':').unwrap();
        let mut inputs: Vec<Input> = requires
            .iter()
            .map(|id| {
                let r = reg.get(id).unwrap().unwrap();
                Input {
                    kind: InputKind::Compose,
                    name: format!("{}:{}", r.name, r.stream),
                    ident: id.to_string(),
                    location: String::new(),
                }
            })
            .collect();
        inputs.push(Input {
            kind: InputKind::Platform,
            name: "f40.x86_64".into(),
            ident: "sha256:00".into(),
            location: "/srv/f40".into(),
        });
        let rec = reg
            .begin(&NewCompose {
                scratch: None,
                name: name.into(),
                stream: stream.into(),
                compose_type: ComposeType::Nightly,
                started_at: 1_795_600_800,
                definition_path: format!("{name}.yaml").into(),
                definition_digest: "0".repeat(64),
                scm_ref: None,
                arches: vec!["x86_64".into()],
                version: 1,
                context: "00000000".into(),
                inputs,
                owner: None,
                chain: None,
                required_tests: Vec::new(),
                artifact: None,
            })
            .unwrap();
        let outcome = if ok {
            Outcome::Finished {
                finished_at: 1_795_600_900,
                outputs: Outputs {
                    path: format!("/srv/{}", rec.id).into(),
                    repos: BTreeMap::from([(
                        "x86_64".into(),
                        format!("/srv/{}/os", rec.id).into(),
                    )]),
                    build_id: None,
                },
                packages: Default::default(),
                timings: serde_json::json!({}),
                modulemd: Default::default(),
            }
        } else {
            Outcome::Failed {
                finished_at: 1_795_600_900,
                error: "repoclosure failed".into(),
                report: None,
                packages: Default::default(),
            }
        };
        reg.finish(&rec.id, &outcome).unwrap();
        rec.id
    }

    /// php:8.2, requiring `requires` with `pins`.
    pub(crate) fn def(requires: &[(&str, &str)], pins: &[(&str, &str)]) -> ModuleDefinition {
        module("php", "8.2", requires, pins)
    }

    /// Module `name:stream` (of one package, `name`) on platform f40,
    /// requiring `requires` with `pins`.
    pub(crate) fn module(
        name: &str,
        stream: &str,
        requires: &[(&str, &str)],
        pins: &[(&str, &str)],
    ) -> ModuleDefinition {
        let mut text = format!(
            "document: strata-module\nversion: 1\ndata:\n  name: {name}\n  stream: '{stream}'\n  \
             summary: s\n  description: d\n  license: [MIT]\n  source: {{repos: [x]}}\n  \
             packages: {{{name}: {{}}}}\n  requires:\n    platform: f40\n",
        );
        for (m, s) in requires {
            text.push_str(&format!("    {m}: '{s}'\n"));
        }
        if !pins.is_empty() {
            text.push_str("  compose_pins:\n");
            for (m, id) in pins {
                text.push_str(&format!("    {m}: {id}\n"));
            }
        }
        ModuleDefinition::parse(&text, &format!("{name}.yaml")).unwrap()
    }

    fn names(layers: &[Layer]) -> Vec<(String, bool)> {
        layers.iter().map(|l| (l.nsv(), l.direct)).collect()
    }

    #[test]
    fn a_diamond_resolves_bottom_first_to_last_good_composes() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = SqliteRegistry::open(&dir.path().join("r.sqlite")).unwrap();
        let base0 = compose(&mut reg, "base:f40", &[], true);
        let ssl = compose(&mut reg, "ssl:3", &[&base0], true);
        let base1 = compose(&mut reg, "base:f40", &[], true);
        let _failed = compose(&mut reg, "base:f40", &[], false);
        let apache = compose(&mut reg, "apache:2.4", &[&base1, &ssl], true);
        let layers = resolve(&def(&[("apache", "2.4"), ("ssl", "3")], &[]), &reg, &[]).unwrap();
        assert_eq!(
            names(&layers),
            [
                ("base:f40".to_string(), false),
                ("ssl:3".to_string(), true),
                ("apache:2.4".to_string(), true)
            ]
        );
        // The last good base, not the failed one after it, nor the one ssl
        // was composed against.
        assert_eq!(layers[0].record.id, base1);
        assert_eq!(layers[2].record.id, apache);
        assert_eq!(layers[2].requires, ["base:f40", "ssl:3"]);

        // The tree of a stack compose shows what the stack used, and notes
        // where a layer was composed against something else.
        let top = compose(&mut reg, "php:8.2", &[&apache, &ssl], true);
        let mut rec = reg.get(&top).unwrap().unwrap();
        rec.inputs.push(Input {
            kind: InputKind::StackCompose,
            name: "base:f40".into(),
            ident: base1.clone(),
            location: String::new(),
        });
        let tree = tree_of_record(&reg, &rec).unwrap();
        let text = tree.to_text();
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                format!("php:8.2  {top}"),
                format!("├─ apache:2.4  {apache}"),
                format!("│  ├─ base:f40  {base1}"),
                format!("│  └─ ssl:3  {ssl}"),
                format!(
                    "│     └─ base:f40  {base1}  [{ssl} was composed against base:f40 {base0}] (*)"
                ),
                format!("└─ ssl:3  {ssl} (*)"),
                "(*) shown above, with what it requires".to_string(),
            ]
        );
    }

    /// A deep stack is a graph, not a tree: each of 40 modules requires
    /// the two below it, so it has about 2^40 paths. Each module is drawn
    /// in full once, and marked where it comes again.
    #[test]
    fn a_deep_stack_is_drawn_with_each_module_expanded_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = SqliteRegistry::open(&dir.path().join("r.sqlite")).unwrap();
        let mut ids: Vec<String> = Vec::new();
        for k in 0..40 {
            let below: Vec<&str> = ids.iter().rev().take(2).map(String::as_str).collect();
            let id = compose(&mut reg, &format!("m{k:02}:1"), &below, true);
            ids.push(id);
        }
        let top = reg.get(ids.last().unwrap()).unwrap().unwrap();
        fn count(n: &TreeNode, full: &mut Vec<String>, repeated: &mut usize) {
            if n.repeated {
                assert!(n.requires.is_empty(), "{} repeated with requires", n.module);
                *repeated += 1;
            } else {
                full.push(n.module.clone());
            }
            for r in &n.requires {
                count(r, full, repeated);
            }
        }
        let (mut full, mut repeated) = (Vec::new(), 0);
        count(
            &tree_of_record(&reg, &top).unwrap(),
            &mut full,
            &mut repeated,
        );
        full.sort();
        full.dedup();
        assert_eq!(full.len(), 40, "every module drawn in full once: {full:?}");
        assert_eq!(
            repeated, 38,
            "the second require of each but the lowest two"
        );

        let layers = resolve(&def(&[("m39", "1"), ("m38", "1")], &[]), &reg, &[]).unwrap();
        assert_eq!(layers.len(), 40);
        let tree = tree_of_definition(&def(&[("m39", "1"), ("m38", "1")], &[]), &layers);
        let text = tree.to_text();
        assert_eq!(
            text.lines().filter(|l| !l.ends_with("(*)")).count(),
            42,
            "{text}"
        );
        assert!(text.ends_with("(*) shown above, with what it requires\n"));
    }

    #[test]
    fn layers_are_ordered_in_waves_by_name_and_cycles_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = SqliteRegistry::open(&dir.path().join("r.sqlite")).unwrap();
        let layer = |reg: &mut SqliteRegistry, nsv: &str, requires: &[&str]| {
            let id = compose(reg, nsv, &[], true);
            Layer {
                record: reg.get(&id).unwrap().unwrap(),
                requires: requires.iter().map(|r| r.to_string()).collect(),
                direct: false,
                pinned: false,
                required_by: "top:1".into(),
            }
        };
        // z is below a although it sorts after it; b and z are one wave;
        // platform requires do not count.
        let all = [
            layer(&mut reg, "m:1", &["a:1", "b:1"]),
            layer(&mut reg, "a:1", &["z:1"]),
            layer(&mut reg, "z:1", &["platform:f40"]),
            layer(&mut reg, "b:1", &[]),
        ];
        let map = |ls: &[Layer]| {
            ls.iter()
                .map(|l| (l.record.name.clone(), l.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        let ordered = order("top:1", map(&all)).unwrap();
        let nsvs: Vec<String> = ordered.iter().map(Layer::nsv).collect();
        assert_eq!(nsvs, ["b:1", "z:1", "a:1", "m:1"]);
        // A cycle names the layers caught in it (and those above them).
        let cyclic = [
            layer(&mut reg, "x:1", &["y:1"]),
            layer(&mut reg, "y:1", &["x:1"]),
            layer(&mut reg, "w:1", &[]),
        ];
        let e = order("top:1", map(&cyclic)).unwrap_err();
        assert!(e.to_string().contains("x:1, y:1"), "{e}");
        assert!(!e.to_string().contains("w:1"), "{e}");
    }

    /// The order as rounds, the way it was first written: each round takes
    /// every layer whose requires are all taken. The reference `order`
    /// must agree with.
    fn order_by_rounds(top: &str, mut layers: BTreeMap<String, Layer>) -> Result<Vec<Layer>> {
        let mut done: BTreeSet<String> = BTreeSet::new();
        let mut out = Vec::with_capacity(layers.len());
        while !layers.is_empty() {
            let ready: Vec<String> = layers
                .iter()
                .filter(|(_, l)| {
                    l.requires.iter().all(|r| {
                        done.contains(split_nsv(r).0) || !layers.contains_key(split_nsv(r).0)
                    })
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

    #[test]
    fn waves_order_as_the_rounds_did() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = SqliteRegistry::open(&dir.path().join("r.sqlite")).unwrap();
        let id = compose(&mut reg, "m0:1", &[], true);
        let record = reg.get(&id).unwrap().unwrap();
        // A seeded DAG of 60 layers, each requiring some of the ones
        // before it (and one layer outside the stack), named so that name
        // order and requires order disagree.
        let mut seed = 20261205u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        let name = |i: usize| format!("m{:02}", (i * 37) % 60);
        let layers = |requires: &dyn Fn(usize) -> Vec<String>| {
            (0..60)
                .map(|i| {
                    let layer = Layer {
                        record: record.clone(),
                        requires: requires(i),
                        direct: false,
                        pinned: false,
                        required_by: "top:1".into(),
                    };
                    (name(i), layer)
                })
                .collect::<BTreeMap<_, _>>()
        };
        let picks: Vec<Vec<usize>> = (0..60)
            .map(|i| (0..i).filter(|_| next() % 5 == 0).collect())
            .collect();
        let dag = |i: usize| {
            let mut r: Vec<String> = picks[i].iter().map(|&j| format!("{}:1", name(j))).collect();
            r.push("outside:1".into());
            r
        };
        let by_levels: Vec<String> = order("top:1", layers(&dag))
            .unwrap()
            .iter()
            .map(|l| l.requires.join(","))
            .collect();
        let by_rounds: Vec<String> = order_by_rounds("top:1", layers(&dag))
            .unwrap()
            .iter()
            .map(|l| l.requires.join(","))
            .collect();
        assert_eq!(by_levels, by_rounds);
        // A cycle is named as the rounds name it.
        let cyclic = |i: usize| {
            let mut r = dag(i);
            if i == 3 {
                r.push(format!("{}:1", name(50)));
            }
            if i == 50 {
                r.push(format!("{}:1", name(3)));
            }
            r
        };
        let a = order("top:1", layers(&cyclic)).unwrap_err().to_string();
        let b = order_by_rounds("top:1", layers(&cyclic))
            .unwrap_err()
            .to_string();
        assert_eq!(a, b);
        assert!(a.contains("cycle"), "{a}");
    }

    #[test]
    fn a_layer_vouches_for_its_stack_only_when_it_is_this_stack() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = SqliteRegistry::open(&dir.path().join("r.sqlite")).unwrap();
        let platform = |ident: &str| Input {
            kind: InputKind::Platform,
            name: "f40.x86_64".into(),
            ident: ident.into(),
            location: "/srv/f40".into(),
        };
        let f40 = platform("sha256:00");
        // An empty registry: what vouches by the digest of its stack
        // reads nothing.
        let nothing = SqliteRegistry::open(&dir.path().join("empty.sqlite")).unwrap();
        let covers = |reg: &SqliteRegistry, p: &Input, arch: &str| {
            let mut layers = resolve(&def(&[("apache", "2.4")], &[]), reg, &[]).unwrap();
            let names = |layers: &[Layer], got: Vec<Vec<usize>>| {
                got.iter()
                    .map(|c| sorted(c.clone()).iter().map(|&j| layers[j].nsv()).collect())
                    .collect::<Vec<Vec<String>>>()
            };
            assert!(layers.iter().all(|l| l.record.stack_digest.is_some()));
            let by_digest = names(
                &layers,
                gated_layers(&nothing, &layers, &[p], arch).unwrap(),
            );
            // Layers finished before schema version 12 have none: their
            // inputs are read, with the same outcome.
            for l in &mut layers {
                l.record.stack_digest = None;
            }
            let by_inputs = names(&layers, gated_layers(reg, &layers, &[p], arch).unwrap());
            assert_eq!(by_digest, by_inputs);
            assert!(gated_layers(&nothing, &layers, &[p], arch)
                .unwrap()
                .is_empty());
            by_digest
        };
        let base0 = compose(&mut reg, "base:f40", &[], true);
        let ssl = compose(&mut reg, "ssl:3", &[&base0], true);
        let _apache = compose(&mut reg, "apache:2.4", &[&base0, &ssl], true);
        // apache's gate saw this very stack: it covers all of it.
        assert_eq!(
            covers(&reg, &f40, "x86_64"),
            [["base:f40", "ssl:3", "apache:2.4"]]
        );
        // Not for an arch it was not composed for, nor another platform.
        assert!(covers(&reg, &f40, "aarch64").is_empty());
        assert!(covers(&reg, &platform("sha256:11"), "x86_64").is_empty());
        // A newer base below it: apache's gate never saw it.
        let _base1 = compose(&mut reg, "base:f40", &[], true);
        assert!(covers(&reg, &f40, "x86_64").is_empty());
        // A record that names less than the stack it stands on (ssl, but
        // not the base below ssl) does not vouch for it.
        let ssl1 = compose(&mut reg, "ssl:3", &[&_base1], true);
        let _apache1 = compose(&mut reg, "apache:2.4", &[&ssl1], true);
        assert!(covers(&reg, &f40, "x86_64").is_empty());
        let _apache2 = compose(&mut reg, "apache:2.4", &[&_base1, &ssl1], true);
        assert_eq!(
            covers(&reg, &f40, "x86_64"),
            [["base:f40", "ssl:3", "apache:2.4"]]
        );
    }

    #[test]
    fn records_that_do_not_vouch_are_read_only_so_often() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = SqliteRegistry::open(&dir.path().join("r.sqlite")).unwrap();
        let base0 = compose(&mut reg, "base:1", &[], true);
        let _a0 = compose(&mut reg, "a0:1", &[], true);
        for m in ["m1", "m2", "m3", "m4", "m5"] {
            compose(&mut reg, &format!("{m}:1"), &[&base0], true);
        }
        // Composed again: every m was checked against the old base.
        let _base1 = compose(&mut reg, "base:1", &[], true);
        let f40 = Input {
            kind: InputKind::Platform,
            name: "f40.x86_64".into(),
            ident: "sha256:00".into(),
            location: "/srv/f40".into(),
        };
        // Direct requires are asked top first (m5 … m1, then a0), each
        // record read as if finished before schema version 12.
        let covers = |ms: &[(&str, &str)]| {
            let mut requires = vec![("a0", "1")];
            requires.extend_from_slice(ms);
            let mut layers = resolve(&def(&requires, &[]), &reg, &[]).unwrap();
            for l in &mut layers {
                l.record.stack_digest = None;
            }
            let got = gated_layers(&reg, &layers, &[&f40], "x86_64").unwrap();
            got.iter()
                .map(|c| c.iter().map(|&j| layers[j].nsv()).collect())
                .collect::<Vec<Vec<String>>>()
        };
        // Three refused: a0 is still asked, and vouches for itself.
        assert_eq!(covers(&[("m1", "1"), ("m2", "1"), ("m3", "1")]), [["a0:1"]]);
        // Four refused: reading more would cost more than it saves.
        assert!(covers(&[("m1", "1"), ("m2", "1"), ("m3", "1"), ("m4", "1")]).is_empty());
    }

    #[test]
    fn pins_conflicts_and_platforms() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = SqliteRegistry::open(&dir.path().join("r.sqlite")).unwrap();
        let base0 = compose(&mut reg, "base:f40", &[], true);
        let _base1 = compose(&mut reg, "base:f40", &[], true);
        let bad = compose(&mut reg, "base:f40", &[], false);
        let old = compose(&mut reg, "base:f39", &[], true);
        let apache = compose(&mut reg, "apache:2.4", &[&base0], true);
        // A pin in the definition, and one on the command line over it.
        let d = def(&[("apache", "2.4")], &[("base", &base0)]);
        let layers = resolve(&d, &reg, &[]).unwrap();
        assert!(layers[0].pinned && layers[0].record.id == base0);
        let e = resolve(&d, &reg, std::slice::from_ref(&bad)).unwrap_err();
        assert!(e.to_string().contains("only a finished compose"), "{e}");
        let e = resolve(
            &def(&[("apache", "2.4")], &[]),
            &reg,
            std::slice::from_ref(&old),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("it is a compose of base:f39, the stack requires base:f40"),
            "{e}"
        );
        // Two streams of base.
        let e = resolve(&def(&[("apache", "2.4"), ("base", "f39")], &[]), &reg, &[]).unwrap_err();
        assert!(matches!(e, ComposeError::StreamConflict { .. }), "{e}");
        // A layer composed for another platform.
        let mut rec = reg.get(&apache).unwrap().unwrap();
        rec.inputs.iter_mut().for_each(|i| {
            if i.kind == InputKind::Platform {
                i.name = "f39.x86_64".into()
            }
        });
        assert_eq!(recorded_platform(&rec), Some("f39"));
    }
}
