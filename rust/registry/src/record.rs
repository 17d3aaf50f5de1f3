//! What the registry stores about a compose: the request that starts it
//! ([`NewCompose`]), how it ends ([`Outcome`]) and the whole record
//! ([`ComposeRecord`]). Plain data, no I/O; shared by every backend.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::UnknownName;
use crate::owner::Owner;
pub use strata_model::ArtifactKind;

/// Binary packages of a compose: arch → NEVRAs. Sorted and without
/// duplicates, so the same compose always reads back the same.
pub type PackagesByArch = BTreeMap<String, BTreeSet<String>>;

/// The module stream a compose published: arch → its modulemd document
/// (one YAML document, `---` to `...`, as the repository's modules.yaml
/// holds it and Koji's module builds carry it as `modulemd_str`). Each
/// arch has its own: the documents name their arch and list that arch's
/// artifacts.
pub type ModulemdByArch = BTreeMap<String, String>;

/// productmd's compose types. The type shows in the compose ID as a
/// suffix after the date (`20261125.n.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComposeType {
    Production,
    Test,
    /// Strata's default: composes follow the package source as it moves.
    #[default]
    Nightly,
    Ci,
    Development,
}

impl ComposeType {
    pub const ALL: [ComposeType; 5] = [
        ComposeType::Production,
        ComposeType::Test,
        ComposeType::Nightly,
        ComposeType::Ci,
        ComposeType::Development,
    ];

    /// The name productmd uses (`composeinfo.json` `compose.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            ComposeType::Production => "production",
            ComposeType::Test => "test",
            ComposeType::Nightly => "nightly",
            ComposeType::Ci => "ci",
            ComposeType::Development => "development",
        }
    }

    /// The compose ID suffix after the date, as productmd writes it.
    pub fn suffix(self) -> &'static str {
        match self {
            ComposeType::Production => "",
            ComposeType::Test => ".t",
            ComposeType::Nightly => ".n",
            ComposeType::Ci => ".ci",
            ComposeType::Development => ".d",
        }
    }
}

impl fmt::Display for ComposeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ComposeType {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ComposeType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "compose type",
                value: s.to_owned(),
                expected: "production, test, nightly, ci, development",
            })
    }
}

/// Where a compose is in its life. A compose whose process died stays
/// `Started` for good and never counts as good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Started,
    Finished,
    Failed,
}

impl State {
    pub const ALL: [State; 3] = [State::Started, State::Finished, State::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Started => "started",
            State::Finished => "finished",
            State::Failed => "failed",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "compose state",
                value: s.to_owned(),
                expected: "started, finished, failed",
            })
    }
}

/// What kind of thing a compose was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// A yum repository, identified by its repomd checksum.
    SourceRepo,
    /// A Koji tag's repository, identified by the Koji repo ID.
    KojiRepo,
    /// Another module compose (a dependency's last good), by compose ID.
    Compose,
    /// A module compose further down a stack (required by a required
    /// module), by compose ID: the stack was checked against it.
    StackCompose,
    /// The platform repositories, identified by their checksum.
    Platform,
}

impl InputKind {
    pub const ALL: [InputKind; 5] = [
        InputKind::SourceRepo,
        InputKind::KojiRepo,
        InputKind::Compose,
        InputKind::StackCompose,
        InputKind::Platform,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::SourceRepo => "source_repo",
            InputKind::KojiRepo => "koji_repo",
            InputKind::Compose => "compose",
            InputKind::StackCompose => "stack_compose",
            InputKind::Platform => "platform",
        }
    }
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InputKind {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InputKind::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "input kind",
                value: s.to_owned(),
                expected: "source_repo, koji_repo, compose, stack_compose, platform",
            })
    }
}

/// What a compose record is of: one registry holds module composes and
/// artifact composes alike, so that the graph of what was built on what
/// is one graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// A module (or stack) compose: a yum repository.
    Module,
    /// An artifact compose: a container image, ostree commit or ISO built
    /// from module composes.
    Artifact,
}

impl RecordKind {
    pub const ALL: [RecordKind; 2] = [RecordKind::Module, RecordKind::Artifact];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Module => "module",
            RecordKind::Artifact => "artifact",
        }
    }

    /// The kind of a record whose artifact kind is `artifact`.
    pub fn of(artifact: Option<ArtifactKind>) -> RecordKind {
        match artifact {
            Some(_) => RecordKind::Artifact,
            None => RecordKind::Module,
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordKind {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordKind::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "record kind",
                value: s.to_owned(),
                expected: "module, artifact",
            })
    }
}

/// One thing a compose read, pinned to the exact content it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub kind: InputKind,
    /// What the definition calls it: the module `name:stream`, the Koji
    /// tag, the repository URL as written.
    pub name: String,
    /// The exact content: repomd checksum, Koji repo ID, compose ID.
    pub ident: String,
    /// Where it was read from (URL or path).
    pub location: String,
}

/// A compose about to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCompose {
    pub name: String,
    pub stream: String,
    pub compose_type: ComposeType,
    /// Unix seconds. Its UTC date goes into the compose ID; pin it for a
    /// reproducible build.
    pub started_at: i64,
    pub definition_path: PathBuf,
    /// SHA-256 of the definition file's bytes, lowercase hex.
    pub definition_digest: String,
    /// The SCM commit (or other reference) the definition came from.
    pub scm_ref: Option<String>,
    pub arches: Vec<String>,
    /// The modulemd version of the module stream built by this compose.
    pub version: u64,
    /// The modulemd context.
    pub context: String,
    pub inputs: Vec<Input>,
    /// The process that runs the compose ([`Owner::current`]); `None`
    /// where it cannot be told, and then the compose is never judged
    /// abandoned automatically.
    pub owner: Option<Owner>,
    /// A scratch compose's label, digits (Koji: the task ID). Its ID
    /// then has `-<label>.scratch` after the stream
    /// (`apache-2.4-1234.scratch-20261125.n.0`), a form no other compose's
    /// ID has: a scratch compose, even one recorded in a registry of its
    /// own, is never mistaken for (or equal to) a real one.
    pub scratch: Option<String>,
    /// The chain that runs this compose and the event that caused it.
    pub chain: Option<ChainCause>,
    /// Tests the compose must pass to be good (the policy's tests): it is
    /// not good until [`crate::Registry::record_test`] has recorded each
    /// as passed.
    pub required_tests: Vec<String>,
    /// `Some` for an artifact compose: what it builds. Its inputs are then
    /// the compose IDs of every module it installs (whole stacks, bottom
    /// first) and the platform repositories' checksums, and it finishes
    /// with a build ID ([`Outputs::build_id`]).
    #[serde(default)]
    pub artifact: Option<ArtifactKind>,
}

/// Why a chain made a compose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCause {
    pub chain_id: String,
    /// The event as `strata impact` names it, e.g. `build
    /// httpd-2.4.58-2.fc40`.
    pub event: String,
}

/// Where a finished compose was published.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Outputs {
    /// The compose directory.
    pub path: PathBuf,
    /// arch → the yum repository of that arch.
    pub repos: BTreeMap<String, PathBuf>,
    /// An artifact's build ID, derived from its content (an OCI manifest
    /// digest, an ostree commit checksum, an ISO's SHA-256); `None` for a
    /// module compose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
}

/// How a compose ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Outcome {
    Finished {
        finished_at: i64,
        outputs: Outputs,
        packages: PackagesByArch,
        /// Time spent per phase, as the pipeline measured it.
        timings: serde_json::Value,
        /// The stream's modulemd, as published.
        #[serde(default)]
        modulemd: ModulemdByArch,
    },
    Failed {
        finished_at: i64,
        /// The error chain as the user saw it.
        error: String,
        /// The closure report with its suggestions, when the gate failed.
        report: Option<serde_json::Value>,
        /// The packages chosen before the failure, if it got that far.
        packages: PackagesByArch,
    },
}

impl Outcome {
    pub fn state(&self) -> State {
        match self {
            Outcome::Finished { .. } => State::Finished,
            Outcome::Failed { .. } => State::Failed,
        }
    }

    pub fn finished_at(&self) -> i64 {
        match self {
            Outcome::Finished { finished_at, .. } | Outcome::Failed { finished_at, .. } => {
                *finished_at
            }
        }
    }

    pub fn packages(&self) -> &PackagesByArch {
        match self {
            Outcome::Finished { packages, .. } | Outcome::Failed { packages, .. } => packages,
        }
    }
}

/// Everything the registry knows about one compose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComposeRecord {
    /// The compose ID, e.g. `apache-2.4-20261125.n.0`.
    pub id: String,
    pub name: String,
    pub stream: String,
    pub compose_type: ComposeType,
    /// `YYYYMMDD`, the UTC date of `started_at`.
    pub date: String,
    pub respin: u32,
    pub state: State,
    pub version: u64,
    pub context: String,
    pub definition_path: PathBuf,
    pub definition_digest: String,
    pub scm_ref: Option<String>,
    pub arches: Vec<String>,
    pub inputs: Vec<Input>,
    pub packages: PackagesByArch,
    /// Only for finished composes.
    pub outputs: Option<Outputs>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub timings: Option<serde_json::Value>,
    pub error: Option<String>,
    pub report: Option<serde_json::Value>,
    /// Who ran the compose; `None` for composes recorded before owners
    /// were (schema version 1) or where it could not be told.
    #[serde(default)]
    pub owner: Option<Owner>,
    /// The stream's modulemd as the compose published it; empty for a
    /// compose that published nothing, or one recorded before schema
    /// version 3.
    #[serde(default)]
    pub modulemd: ModulemdByArch,
    /// What an artifact compose built; `None` (and not shown) for a
    /// module compose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactKind>,
    /// The [`crate::stack_digest`] of its stack (its inputs of kind
    /// `compose` and `stack_compose`), as stored when it finished; `None`
    /// for a compose not finished, or finished before schema version 12.
    /// Not shown (the inputs it digests are), and not read from JSON.
    #[serde(skip)]
    pub stack_digest: Option<String>,
}

impl ComposeRecord {
    /// The whole record: a summary and what summaries leave out. The
    /// package counts are those of `packages`.
    pub fn from_summary(
        summary: ComposeSummary,
        inputs: Vec<Input>,
        packages: PackagesByArch,
        timings: Option<serde_json::Value>,
        report: Option<serde_json::Value>,
        modulemd: ModulemdByArch,
    ) -> ComposeRecord {
        let ComposeSummary {
            id,
            name,
            stream,
            compose_type,
            date,
            respin,
            state,
            version,
            context,
            definition_path,
            definition_digest,
            scm_ref,
            arches,
            package_counts: _,
            outputs,
            started_at,
            finished_at,
            error,
            owner,
            artifact,
        } = summary;
        ComposeRecord {
            id,
            name,
            stream,
            compose_type,
            date,
            respin,
            state,
            version,
            context,
            definition_path,
            definition_digest,
            scm_ref,
            arches,
            inputs,
            packages,
            outputs,
            started_at,
            finished_at,
            timings,
            error,
            report,
            owner,
            modulemd,
            artifact,
            stack_digest: None,
        }
    }

    /// Whether this is a module or an artifact compose.
    pub fn kind(&self) -> RecordKind {
        RecordKind::of(self.artifact)
    }

    /// The record without its inputs, package lists, report, timings and
    /// modulemd.
    pub fn summary(&self) -> ComposeSummary {
        ComposeSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            stream: self.stream.clone(),
            compose_type: self.compose_type,
            date: self.date.clone(),
            respin: self.respin,
            state: self.state,
            version: self.version,
            context: self.context.clone(),
            definition_path: self.definition_path.clone(),
            definition_digest: self.definition_digest.clone(),
            scm_ref: self.scm_ref.clone(),
            arches: self.arches.clone(),
            package_counts: self
                .packages
                .iter()
                .map(|(arch, nevras)| (arch.clone(), nevras.len()))
                .collect(),
            outputs: self.outputs.clone(),
            started_at: self.started_at,
            finished_at: self.finished_at,
            error: self.error.clone(),
            owner: self.owner.clone(),
            artifact: self.artifact,
        }
    }
}

/// What listings show of a compose: everything but its inputs, package
/// lists, report, timings and modulemd, so that listing hundreds of composes reads
/// one row each instead of thousands of packages. The fields have the
/// names and meanings of [`ComposeRecord`]'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComposeSummary {
    pub id: String,
    pub name: String,
    pub stream: String,
    pub compose_type: ComposeType,
    pub date: String,
    pub respin: u32,
    pub state: State,
    pub version: u64,
    pub context: String,
    pub definition_path: PathBuf,
    pub definition_digest: String,
    pub scm_ref: Option<String>,
    pub arches: Vec<String>,
    /// arch → how many packages the compose has (or chose before failing).
    pub package_counts: BTreeMap<String, usize>,
    /// Only for finished composes.
    pub outputs: Option<Outputs>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    pub owner: Option<Owner>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactKind>,
}

impl ComposeSummary {
    /// Whether this is a module or an artifact compose.
    pub fn kind(&self) -> RecordKind {
        RecordKind::of(self.artifact)
    }
}

/// Which composes [`crate::Registry::list`] returns; every field left
/// `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub name: Option<String>,
    pub stream: Option<String>,
    pub state: Option<State>,
    /// At most this many, the newest (after `offset`).
    pub limit: Option<usize>,
    /// Skips this many of the newest first: with `limit`, one page.
    pub offset: Option<usize>,
    /// Only composes of this compose date (the date in the compose ID) or
    /// later.
    pub since: Option<jiff::civil::Date>,
    /// Only composes of this compose date or earlier.
    pub until: Option<jiff::civil::Date>,
    /// Only good composes: finished, and every test they were begun with
    /// passed ([`NewCompose::required_tests`]). A compose whose tests failed
    /// or have not run is recorded but nothing builds on it.
    pub good: bool,
    /// Only module composes, or only artifact composes.
    pub kind: Option<RecordKind>,
    /// Only the newest compose of each `name:stream` among those the
    /// other conditions match (with `good`, each stream's last good
    /// compose), in one query however many streams there are.
    pub newest_per_stream: bool,
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for t in ComposeType::ALL {
            assert_eq!(t.as_str().parse::<ComposeType>().unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for k in InputKind::ALL {
            assert_eq!(k.as_str().parse::<InputKind>().unwrap(), k);
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for k in RecordKind::ALL {
            assert_eq!(k.as_str().parse::<RecordKind>().unwrap(), k);
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn unknown_names_say_what_is_expected() {
        let err = "weekly".parse::<ComposeType>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown compose type `weekly` (expected one of: production, test, nightly, ci, development)"
        );
        assert!("Finished".parse::<State>().is_err());
    }

    #[test]
    fn suffixes_are_productmds() {
        let suffixes: Vec<_> = ComposeType::ALL.iter().map(|t| t.suffix()).collect();
        assert_eq!(suffixes, ["", ".t", ".n", ".ci", ".d"]);
        assert_eq!(ComposeType::default(), ComposeType::Nightly);
    }
}
