//! Which compose records a prune removes, and why every other one stays.
//!
//! A record stays when anything may still need it: it is `started` (its
//! process may still run, or it awaits `strata composes abandon`); it is
//! the last good compose of its stream (what the next compose of a
//! module above builds on); it is one of the newest finished composes of
//! its stream (to go back to); it failed recently (to look into); it is
//! pinned (by an operator now, by a release later); or a record that
//! stays used it as an input (`compose` or `stack_compose`), however many
//! layers down. Everything else goes.
//!
//! The rules are one pure function ([`plan`]) over the records and their
//! input edges, so every backend prunes alike and `--dry-run` shows
//! exactly what a real run removes. Every compose a finished release
//! compose ships is pinned too ("release f41-41-20261029.n.0").
//!
//! Chain records go with them ([`plan_chains`]): a chain records its cause
//! and whole plan (at a thousand modules, tens to hundreds of KB), and
//! thousands of builds a day make thousands of chains. A chain stays while
//! it may still run (running, waiting, stopped), while a kept compose was
//! made by it (what `composes show` and the web view name as its cause),
//! while it ended recently, and when it is the newest (so that chain IDs
//! of its day are never handed out twice).
//!
//! A removed compose's ID is never handed out again: `begin` numbers the
//! respins of a day (`apache-2.4-20261125.n.3`) one past the highest the
//! registry holds, so removing the highest would let the next compose of
//! that day take its ID, which outputs, logs, Koji and productmd may still
//! name. The highest respin removed of each ID base is kept in the
//! `counters` table (`respin:apache-2.4-20261125.n`, which `begin` counts
//! with the respins the registry holds); a later prune drops the row once
//! a higher respin of that base is recorded. What stays is one small row
//! per day's series of composes removed whole, not a record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::chain::ChainState;
use crate::error::RegistryError;
use crate::record::{ComposeSummary, State};
use crate::Result;

/// What a prune keeps besides what is always kept (started composes,
/// the last good compose of each stream, the inputs of kept composes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrunePolicy {
    /// How many finished composes of each stream to keep, newest first;
    /// the last good one counts among them and is kept even at 0.
    pub keep_finished: usize,
    /// Failed composes that ended at or after this time (unix seconds)
    /// are kept.
    pub keep_failed_since: i64,
    /// Compose ID → what pins it ("--pin on the command line", later
    /// "release F41"). Pinning a compose the registry does not hold is an
    /// error, so that a typo never lets the prune go ahead.
    pub pins: BTreeMap<String, String>,
    /// Ended chains (finished or failed) that ended after this time (unix
    /// seconds) are kept. The default keeps every chain.
    pub keep_chains_since: i64,
}

/// Why a compose is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum KeepReason {
    /// Not ended: running, or abandoned and not yet marked failed.
    Started,
    LastGood,
    /// The `rank`th newest finished compose of its stream (1 is the
    /// newest), within the newest `keep` ones.
    Newest {
        rank: usize,
        keep: usize,
    },
    /// Failed at or after `since` (unix seconds).
    RecentFailure {
        since: i64,
    },
    /// An input of `compose_id`, which is kept.
    InputOf {
        compose_id: String,
    },
    Pinned {
        by: String,
    },
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepReason::Started => f.write_str("started (running, or not yet abandoned)"),
            KeepReason::LastGood => f.write_str("the last good compose of its stream"),
            KeepReason::Newest { rank, keep } => write!(
                f,
                "finished; number {rank} of the {keep} newest finished composes of its stream kept"
            ),
            KeepReason::RecentFailure { since } => {
                write!(f, "failed after {}, recently enough to keep", time(*since))
            }
            KeepReason::InputOf { compose_id } => {
                write!(f, "an input of {compose_id}, which is kept")
            }
            KeepReason::Pinned { by } => write!(f, "pinned by {by}"),
        }
    }
}

/// Why a compose is removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RemoveReason {
    /// Finished, but older than the newest `keep` of its stream.
    OldFinished { keep: usize },
    /// Failed before `since`.
    OldFailure { since: i64 },
}

impl fmt::Display for RemoveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoveReason::OldFinished { keep } => write!(
                f,
                "finished, older than the {keep} newest finished composes of its stream, and \
                 no kept compose uses it"
            ),
            RemoveReason::OldFailure { since } => write!(
                f,
                "failed before {}, and no kept compose uses it",
                time(*since)
            ),
        }
    }
}

fn time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| t.to_string())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kept {
    pub compose: ComposeSummary,
    /// Every reason that holds, the first the strongest.
    pub because: Vec<KeepReason>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Removed {
    pub compose: ComposeSummary,
    pub because: RemoveReason,
}

/// What a prune keeps and removes, each newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PrunePlan {
    pub kept: Vec<Kept>,
    pub removed: Vec<Removed>,
    /// The chain records kept and removed.
    pub chains: ChainPrunePlan,
}

/// A chain as a prune reads it: not its plan or events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainSummary {
    pub id: String,
    pub state: ChainState,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// Why a chain record is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ChainKeepReason {
    /// Running, waiting for an approval, or stopped: it may still run.
    NotEnded { state: ChainState },
    /// The newest chain: the next chain ID of its day counts on it.
    Newest,
    /// It made `compose_id`, which is kept.
    Made { compose_id: String },
    /// Ended after `since` (unix seconds).
    Recent { since: i64 },
}

impl fmt::Display for ChainKeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainKeepReason::NotEnded { state } => write!(f, "{state}: it may still run"),
            ChainKeepReason::Newest => {
                f.write_str("the newest chain (the next chain ID of its day follows it)")
            }
            ChainKeepReason::Made { compose_id } => {
                write!(f, "it made {compose_id}, which is kept")
            }
            ChainKeepReason::Recent { since } => {
                write!(f, "ended after {}, recently enough to keep", time(*since))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptChain {
    pub chain: ChainSummary,
    /// Every reason that holds.
    pub because: Vec<ChainKeepReason>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedChain {
    pub chain: ChainSummary,
    /// It ended (finished or failed) at or before this time (unix
    /// seconds), and no kept compose was made by it.
    pub ended_by: i64,
}

impl fmt::Display for RemovedChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} by {}, and no kept compose was made by it",
            self.chain.state,
            time(self.ended_by)
        )
    }
}

/// The chain records a prune keeps and removes, each newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChainPrunePlan {
    pub kept: Vec<KeptChain>,
    pub removed: Vec<RemovedChain>,
}

/// What a backend reads to plan a prune: every compose, newest first,
/// every `(compose, the compose it used)` of `compose` and `stack_compose`
/// inputs, and the finished composes that are not good (a test they were
/// begun with failed or has not run).
pub(crate) type PruneInputs = (Vec<ComposeSummary>, Vec<(String, String)>, HashSet<String>);

/// What a backend reads to plan the chains' prune: every chain, newest
/// first, and every `(compose, the chain that made it)`.
pub(crate) type ChainPruneInputs = (Vec<ChainSummary>, Vec<(String, String)>);

/// The chains' plan: `chains` newest first, `made` the `(compose, chain
/// that made it)` pairs, `plan` the composes' plan (its kept composes
/// keep the chains that made them).
pub fn plan_chains(
    chains: Vec<ChainSummary>,
    made: &[(String, String)],
    plan: &PrunePlan,
    policy: &PrunePolicy,
) -> ChainPrunePlan {
    let kept: HashSet<&str> = plan.kept.iter().map(|k| k.compose.id.as_str()).collect();
    let mut made_kept: HashMap<&str, Vec<&str>> = HashMap::new();
    for (compose, chain) in made {
        if kept.contains(compose.as_str()) {
            made_kept
                .entry(chain.as_str())
                .or_default()
                .push(compose.as_str());
        }
    }
    let mut out = ChainPrunePlan::default();
    for (i, chain) in chains.into_iter().enumerate() {
        let mut because = Vec::new();
        let ended = matches!(chain.state, ChainState::Finished | ChainState::Failed);
        if !ended {
            because.push(ChainKeepReason::NotEnded { state: chain.state });
        }
        if i == 0 {
            because.push(ChainKeepReason::Newest);
        }
        for compose_id in made_kept.get(chain.id.as_str()).into_iter().flatten() {
            because.push(ChainKeepReason::Made {
                compose_id: (*compose_id).to_owned(),
            });
        }
        // An ended chain without an end time (recorded by hand) ended
        // no later than it began.
        if ended && chain.finished_at.unwrap_or(chain.created_at) > policy.keep_chains_since {
            because.push(ChainKeepReason::Recent {
                since: policy.keep_chains_since,
            });
        }
        if because.is_empty() {
            out.removed.push(RemovedChain {
                chain,
                ended_by: policy.keep_chains_since,
            });
        } else {
            out.kept.push(KeptChain { chain, because });
        }
    }
    out
}

/// The whole plan, on one transaction of a backend: the composes'
/// (`inputs`, as the backend read them; pins checked, the composes
/// finished release composes ship pinned), then the chains'.
pub(crate) fn plan_in(
    s: &mut dyn crate::chain::Store,
    (all, uses, not_good): PruneInputs,
    policy: &PrunePolicy,
) -> Result<PrunePlan> {
    check_pins(s.db(), &all, policy)?;
    let pins = crate::release::pins(s)?;
    let policy = with_release_pins(policy, &all, pins);
    let mut plan = plan(all, &uses, &not_good, &policy);
    let (chains, made) = crate::chain::prune_inputs(s)?;
    plan.chains = plan_chains(chains, &made, &plan, &policy);
    Ok(plan)
}

/// Refuses pins that name no compose in the registry (a typo, or a
/// compose already removed by hand): a prune must not go ahead on a
/// misspelt keep.
fn check_pins(db: &str, composes: &[ComposeSummary], policy: &PrunePolicy) -> Result<()> {
    let ids: HashSet<&str> = composes.iter().map(|c| c.id.as_str()).collect();
    let unknown: Vec<String> = policy
        .pins
        .keys()
        .filter(|id| !ids.contains(id.as_str()))
        .cloned()
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(RegistryError::UnknownPins {
        db: db.to_owned(),
        ids: unknown,
    })
}

/// `policy` with the composes finished release composes ship pinned
/// (`release_pins`: compose ID, what pins it), where the registry still
/// holds them; a pin the operator gave stands as given.
fn with_release_pins(
    policy: &PrunePolicy,
    composes: &[ComposeSummary],
    release_pins: Vec<(String, String)>,
) -> PrunePolicy {
    let ids: HashSet<&str> = composes.iter().map(|c| c.id.as_str()).collect();
    let mut policy = policy.clone();
    for (id, by) in release_pins {
        if ids.contains(id.as_str()) {
            policy.pins.entry(id).or_insert(by);
        }
    }
    policy
}

/// The plan for `composes` (every compose of the registry, newest first)
/// whose inputs are `uses` (`(compose, the compose it used)`); `not_good`
/// are finished composes whose tests failed or have not run: the last
/// good compose is the newest finished one not among them.
pub fn plan(
    composes: Vec<ComposeSummary>,
    uses: &[(String, String)],
    not_good: &HashSet<String>,
    policy: &PrunePolicy,
) -> PrunePlan {
    let mut good_seen: HashSet<(&str, &str)> = HashSet::new();
    let mut keep: HashMap<String, Vec<KeepReason>> = HashMap::new();
    let mut finished_seen: HashMap<(&str, &str), usize> = HashMap::new();
    for c in &composes {
        let mut reasons = Vec::new();
        if let Some(by) = policy.pins.get(&c.id) {
            reasons.push(KeepReason::Pinned { by: by.clone() });
        }
        match c.state {
            State::Started => reasons.push(KeepReason::Started),
            State::Finished => {
                let seen = finished_seen
                    .entry((c.name.as_str(), c.stream.as_str()))
                    .or_default();
                *seen += 1;
                let good = !not_good.contains(&c.id);
                if good && good_seen.insert((c.name.as_str(), c.stream.as_str())) {
                    reasons.insert(0, KeepReason::LastGood);
                } else if *seen <= policy.keep_finished {
                    reasons.push(KeepReason::Newest {
                        rank: *seen,
                        keep: policy.keep_finished,
                    });
                }
            }
            State::Failed => {
                if c.finished_at.unwrap_or(c.started_at) >= policy.keep_failed_since {
                    reasons.push(KeepReason::RecentFailure {
                        since: policy.keep_failed_since,
                    });
                }
            }
        }
        if !reasons.is_empty() {
            keep.insert(c.id.clone(), reasons);
        }
    }

    // Inputs of kept composes, transitively: a stack's layers stay as
    // long as a compose built on them does.
    let mut used_by: HashMap<&str, Vec<&str>> = HashMap::new();
    for (user, used) in uses {
        used_by
            .entry(user.as_str())
            .or_default()
            .push(used.as_str());
    }
    let known: HashSet<&str> = composes.iter().map(|c| c.id.as_str()).collect();
    // Newest first, so a compose is named as kept by the newest user.
    let mut work: Vec<String> = composes
        .iter()
        .rev()
        .filter(|c| keep.contains_key(&c.id))
        .map(|c| c.id.clone())
        .collect();
    while let Some(user) = work.pop() {
        for &used in used_by.get(user.as_str()).into_iter().flatten() {
            if !known.contains(used) {
                continue;
            }
            let reasons = keep.entry(used.to_owned()).or_default();
            let first = reasons.is_empty();
            if !reasons
                .iter()
                .any(|r| matches!(r, KeepReason::InputOf { compose_id } if *compose_id == user))
            {
                reasons.push(KeepReason::InputOf {
                    compose_id: user.clone(),
                });
            }
            if first {
                work.push(used.to_owned());
            }
        }
    }

    let mut plan = PrunePlan::default();
    for c in composes {
        match keep.remove(&c.id) {
            Some(because) => plan.kept.push(Kept {
                compose: c,
                because,
            }),
            None => {
                let because = match c.state {
                    State::Failed => RemoveReason::OldFailure {
                        since: policy.keep_failed_since,
                    },
                    _ => RemoveReason::OldFinished {
                        keep: policy.keep_finished.max(1),
                    },
                };
                plan.removed.push(Removed {
                    compose: c,
                    because,
                });
            }
        }
    }
    plan
}

/// What to do with the published directory of a removed compose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputAction {
    /// The compose was never published (failed, or published nowhere).
    NoOutput,
    /// Its directory is already gone.
    AlreadyGone(PathBuf),
    /// Its directory is `OUT/<compose ID>`, a real directory: delete it.
    Delete(PathBuf),
    /// Its recorded output is not where a prune may delete: left alone.
    Refuse { path: PathBuf, reason: String },
}

/// Whether the published directory of `compose` may be deleted: only a
/// real directory (not a symbolic link) named by the compose ID, right
/// inside `out_dir` (the configured output folder). Anything else stays:
/// a record edited by hand or a moved tree must not make a prune delete
/// some other folder.
pub fn output_action(out_dir: &Path, compose: &ComposeSummary) -> OutputAction {
    let Some(outputs) = &compose.outputs else {
        return OutputAction::NoOutput;
    };
    let path = outputs.path.clone();
    let refuse = |reason: String| OutputAction::Refuse {
        path: path.clone(),
        reason,
    };
    if path.file_name() != Some(compose.id.as_ref()) {
        return refuse(format!("it is not named {}", compose.id));
    }
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return OutputAction::AlreadyGone(path)
        }
        Err(e) => return refuse(format!("cannot look at it: {e}")),
    };
    if !meta.is_dir() {
        return refuse("it is not a directory (a symbolic link or a file)".into());
    }
    let parent = path.parent().map(std::fs::canonicalize);
    let out = std::fs::canonicalize(out_dir);
    match (parent, out) {
        (Some(Ok(parent)), Ok(out)) if parent == out => OutputAction::Delete(path),
        (_, Err(e)) => refuse(format!(
            "the output folder {} cannot be resolved: {e}",
            out_dir.display()
        )),
        _ => refuse(format!(
            "it is not directly inside the output folder {}",
            out_dir.display()
        )),
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::record::{ComposeType, Outputs};

    fn summary(id: &str, name: &str, state: State, finished_at: i64) -> ComposeSummary {
        ComposeSummary {
            id: id.into(),
            name: name.into(),
            stream: "1".into(),
            compose_type: ComposeType::Nightly,
            date: "20261125".into(),
            respin: 0,
            state,
            version: 1,
            context: "c".into(),
            definition_path: "d.yaml".into(),
            definition_digest: "0".repeat(64),
            scm_ref: None,
            arches: vec!["x86_64".into()],
            package_counts: Default::default(),
            outputs: None,
            started_at: finished_at - 10,
            finished_at: (state != State::Started).then_some(finished_at),
            error: None,
            owner: None,
            artifact: None,
        }
    }

    fn reasons(plan: &PrunePlan, id: &str) -> Vec<KeepReason> {
        plan.kept
            .iter()
            .find(|k| k.compose.id == id)
            .map(|k| k.because.clone())
            .unwrap_or_default()
    }

    #[test]
    fn keeps_what_is_needed_and_says_why() {
        use State::*;
        // Newest first.
        let composes = vec![
            summary("php.3", "php", Failed, 900),
            summary("php.2", "php", Finished, 800),
            summary("base.4", "base", Started, 700),
            summary("base.3", "base", Failed, 600),
            summary("base.2", "base", Finished, 500),
            summary("php.1", "php", Finished, 400),
            summary("base.1", "base", Finished, 300),
            summary("base.0", "base", Finished, 200),
            summary("php.0", "php", Finished, 100),
        ];
        let uses = vec![
            ("php.2".to_owned(), "base.1".to_owned()),
            ("php.1".to_owned(), "base.0".to_owned()),
            ("php.0".to_owned(), "gone-1-20200101.n.0".to_owned()),
        ];
        let policy = PrunePolicy {
            keep_finished: 1,
            keep_failed_since: 850,
            pins: BTreeMap::from([("php.0".into(), "release F41".into())]),
            keep_chains_since: 0,
        };
        let plan = plan(composes, &uses, &HashSet::new(), &policy);
        let kept: Vec<&str> = plan.kept.iter().map(|k| k.compose.id.as_str()).collect();
        let removed: Vec<&str> = plan.removed.iter().map(|r| r.compose.id.as_str()).collect();
        assert_eq!(
            kept,
            ["php.3", "php.2", "base.4", "base.2", "base.1", "php.0"]
        );
        assert_eq!(removed, ["base.3", "php.1", "base.0"]);
        assert_eq!(
            reasons(&plan, "php.3"),
            [KeepReason::RecentFailure { since: 850 }]
        );
        assert_eq!(reasons(&plan, "php.2"), [KeepReason::LastGood]);
        assert_eq!(reasons(&plan, "base.4"), [KeepReason::Started]);
        assert_eq!(
            reasons(&plan, "base.1"),
            [KeepReason::InputOf {
                compose_id: "php.2".into()
            }]
        );
        assert_eq!(
            reasons(&plan, "php.0"),
            [KeepReason::Pinned {
                by: "release F41".into()
            }]
        );
        assert_eq!(
            plan.removed[0].because,
            RemoveReason::OldFailure { since: 850 }
        );
        assert_eq!(
            plan.removed[1].because.to_string(),
            "finished, older than the 1 newest finished composes of its stream, and no kept \
             compose uses it"
        );
    }

    #[test]
    fn inputs_are_kept_through_every_layer() {
        use State::*;
        let composes = vec![
            summary("top.0", "top", Finished, 300),
            summary("mid.1", "mid", Finished, 250),
            summary("mid.0", "mid", Finished, 200),
            summary("low.1", "low", Finished, 150),
            summary("low.0", "low", Finished, 100),
        ];
        let uses = vec![
            ("top.0".to_owned(), "mid.0".to_owned()),
            ("mid.0".to_owned(), "low.0".to_owned()),
        ];
        let policy = PrunePolicy {
            keep_finished: 1,
            ..Default::default()
        };
        let plan = plan(composes, &uses, &HashSet::new(), &policy);
        assert!(plan.removed.is_empty(), "{:?}", plan.removed);
        assert_eq!(
            reasons(&plan, "low.0"),
            [KeepReason::InputOf {
                compose_id: "mid.0".into()
            }]
        );
        assert_eq!(
            reasons(&plan, "low.0")[0].to_string(),
            "an input of mid.0, which is kept"
        );
    }

    #[test]
    fn chains_stay_while_they_may_run_made_a_kept_compose_or_are_recent() {
        use State::*;
        let composes = vec![
            summary("php.1", "php", Finished, 900),
            summary("php.0", "php", Finished, 400),
        ];
        let policy = PrunePolicy {
            keep_finished: 1,
            keep_chains_since: 500,
            ..Default::default()
        };
        let composes = plan(composes, &[], &HashSet::new(), &policy);
        assert_eq!(composes.removed[0].compose.id, "php.0");
        let chain = |id: &str, state, created_at, finished_at| ChainSummary {
            id: id.into(),
            state,
            created_at,
            finished_at,
        };
        // Newest first.
        let chains = vec![
            chain("chain.6", ChainState::Finished, 950, Some(960)),
            chain("chain.5", ChainState::Failed, 700, Some(710)),
            chain("chain.4", ChainState::Running, 100, None),
            chain("chain.3", ChainState::Waiting, 90, None),
            chain("chain.2", ChainState::Stopped, 80, Some(85)),
            chain("chain.1", ChainState::Finished, 70, Some(75)),
            chain("chain.0", ChainState::Failed, 60, None),
            chain("made-old", ChainState::Finished, 50, Some(55)),
        ];
        let made = vec![
            ("php.1".to_owned(), "chain.1".to_owned()),
            ("php.0".to_owned(), "made-old".to_owned()),
        ];
        let out = plan_chains(chains, &made, &composes, &policy);
        let kept: Vec<(&str, &[ChainKeepReason])> = out
            .kept
            .iter()
            .map(|k| (k.chain.id.as_str(), k.because.as_slice()))
            .collect();
        assert_eq!(
            kept,
            [
                (
                    "chain.6",
                    &[
                        ChainKeepReason::Newest,
                        ChainKeepReason::Recent { since: 500 }
                    ][..]
                ),
                ("chain.5", &[ChainKeepReason::Recent { since: 500 }][..]),
                (
                    "chain.4",
                    &[ChainKeepReason::NotEnded {
                        state: ChainState::Running
                    }][..]
                ),
                (
                    "chain.3",
                    &[ChainKeepReason::NotEnded {
                        state: ChainState::Waiting
                    }][..]
                ),
                (
                    "chain.2",
                    &[ChainKeepReason::NotEnded {
                        state: ChainState::Stopped
                    }][..]
                ),
                (
                    "chain.1",
                    &[ChainKeepReason::Made {
                        compose_id: "php.1".into()
                    }][..]
                ),
            ]
        );
        // Old and ended, and what it made is removed too (or never was).
        let removed: Vec<&str> = out.removed.iter().map(|r| r.chain.id.as_str()).collect();
        assert_eq!(removed, ["chain.0", "made-old"]);
        assert_eq!(
            out.removed[0].to_string(),
            "failed by 1970-01-01 00:08:20 UTC, and no kept compose was made by it"
        );
        assert_eq!(kept[5].1[0].to_string(), "it made php.1, which is kept");
        // The default keeps every chain.
        let all = plan_chains(
            vec![chain("a", ChainState::Finished, 1, Some(2))],
            &[],
            &composes,
            &PrunePolicy::default(),
        );
        assert!(all.removed.is_empty());
    }

    #[test]
    fn only_real_compose_directories_inside_out_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("composes");
        let id = "apache-2.4-20261125.n.0";
        std::fs::create_dir_all(out.join(id)).unwrap();
        let mut c = summary(id, "apache", State::Finished, 100);
        assert_eq!(output_action(&out, &c), OutputAction::NoOutput);
        let mut at = |path: PathBuf| {
            c.outputs = Some(Outputs {
                path,
                repos: Default::default(),
                build_id: None,
            });
            output_action(&out, &c)
        };
        assert_eq!(at(out.join(id)), OutputAction::Delete(out.join(id)));
        // Through `..` it is still the same folder.
        let dotted = out.join("x/..").join(id);
        std::fs::create_dir(out.join("x")).unwrap();
        assert_eq!(at(dotted.clone()), OutputAction::Delete(dotted));
        assert!(matches!(at(out.join("other")), OutputAction::Refuse { .. }));
        let elsewhere = dir.path().join(id);
        std::fs::create_dir(&elsewhere).unwrap();
        let OutputAction::Refuse { reason, .. } = at(elsewhere) else {
            panic!()
        };
        assert!(
            reason.contains("not directly inside the output folder"),
            "{reason}"
        );
        let deeper = out.join("x").join(id);
        std::fs::create_dir(&deeper).unwrap();
        assert!(matches!(at(deeper), OutputAction::Refuse { .. }));
        let link_dir = dir.path().join("links");
        std::fs::create_dir(&link_dir).unwrap();
        std::fs::remove_dir(out.join(id)).unwrap();
        std::os::unix::fs::symlink(dir.path().join(id), out.join(id)).unwrap();
        let OutputAction::Refuse { reason, .. } = at(out.join(id)) else {
            panic!()
        };
        assert!(reason.contains("symbolic link"), "{reason}");
        std::fs::remove_file(out.join(id)).unwrap();
        assert_eq!(at(out.join(id)), OutputAction::AlreadyGone(out.join(id)));
    }
}
