//! Why a compose could not be made, in a release engineer's words.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ComposeError {
    #[error(transparent)]
    Definition(#[from] strata_model::DefinitionError),
    #[error("cannot read configuration {path}: {message}")]
    Config { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Repodata(#[from] strata_repodata::RepodataError),
    #[error(transparent)]
    Solve(#[from] strata_solve::SolveError),
    #[error(transparent)]
    Registry(#[from] strata_registry::RegistryError),
    #[error(transparent)]
    Modulemd(#[from] strata_modulemd::Error),
    /// An artifact's inputs cannot be resolved (an unknown stack, a stack
    /// without a good compose, a pin that is not finished, stacks of two
    /// platforms).
    #[error("artifact {artifact}: {problem}")]
    ArtifactInputs { artifact: String, problem: String },
    /// An artifact's image cannot be put into a release compose.
    #[error("cannot put the image of artifact {artifact} (compose {compose_id}) into the release compose: {problem}")]
    ReleaseImage {
        artifact: String,
        compose_id: String,
        problem: String,
    },
    /// Two variants of a release compose would have one UID.
    #[error(
        "cannot compose the release {release_id}: {first} and {second} would both be the \
         variant {uid}; rename one, or compose the release with `variants: one`"
    )]
    ReleaseVariantClash {
        release_id: String,
        uid: String,
        first: String,
        second: String,
    },
    /// An external tool an artifact compose runs is not installed.
    #[error("{action}: `{tool}` is not installed; install the Debian package {debian} (Fedora: {fedora})")]
    ToolMissing {
        action: String,
        tool: &'static str,
        debian: &'static str,
        fedora: &'static str,
    },
    /// An external tool failed; `output` is the end of what it printed
    /// (a failed compose publishes nothing, its logs included, so the
    /// reason travels in the error and the record).
    #[error("{action}: `{tool}` failed ({status}):\n{output}")]
    ToolFailed {
        action: String,
        tool: &'static str,
        status: String,
        output: String,
    },
    /// An external tool ran longer than it may.
    #[error(
        "{action}: `{tool}` did not finish within {limit_s} s (the limit for it) and was stopped"
    )]
    ToolTimedOut {
        action: String,
        tool: &'static str,
        limit_s: u64,
    },
    /// Writing the OCI image failed in a way that is not I/O.
    #[error("cannot write the OCI image {what}")]
    OciImage {
        what: String,
        // Boxed: oci-spec's error is large, and every Result of the crate
        // carries this enum.
        #[source]
        source: Box<oci_spec::OciSpecError>,
    },
    #[error("module {module} requires platform `{platform}`, but the configuration names no repositories for it (add [platform.{platform}] repos = [...])")]
    UnknownPlatform { module: String, platform: String },
    #[error("module {module} requires {required}, which has no good compose yet (compose it first, or check `strata composes list {required}`)")]
    NoGoodCompose { module: String, required: String },
    #[error("{module}: compose {compose_id}, pinned for its stack: {problem}")]
    PinnedCompose {
        module: String,
        compose_id: String,
        problem: String,
    },
    #[error("{module}: the stack requires two streams of {required}: {first} and {second}; a system enables one stream per module")]
    StreamConflict {
        module: String,
        required: String,
        first: String,
        second: String,
    },
    #[error("{module}: the stack's module requires form a cycle: {cycle}")]
    StackCycle { module: String, cycle: String },
    /// `layer` names the module and its compose: `apache:2.4 (compose …)`.
    #[error("{module} requires platform {platform}, but {layer} in its stack was composed for platform {layer_platform}")]
    PlatformMismatch {
        module: String,
        platform: String,
        layer: String,
        layer_platform: String,
    },
    #[error("compose {compose_id} of {required} has no repository for {arch}")]
    DependencyMissingArch {
        compose_id: String,
        required: String,
        arch: String,
    },
    #[error("{module}: the source has no {}for {arch}: {}", if .names.len() == 1 { "package " } else { "packages " }, .names.join(", "))]
    MissingPackages {
        module: String,
        arch: String,
        names: Vec<String>,
    },
    #[error(
        "{module}: `{name}` is pinned to {pin}, but the source has only {available} for {arch}"
    )]
    PinNotFound {
        module: String,
        name: String,
        pin: String,
        arch: String,
        available: String,
    },
    #[error("package {nevra} at {path}: {problem}")]
    Payload {
        nevra: String,
        path: String,
        problem: String,
    },
    /// The source refused to give the payload (the message names the file).
    #[error("package {nevra}: {source}")]
    PayloadSource {
        nevra: String,
        #[source]
        source: Box<strata_repodata::RepodataError>,
    },
    #[error("package {nevra} at {path}: {source}")]
    PayloadPlacing {
        nevra: String,
        path: String,
        #[source]
        source: Box<strata_repodata::payload::PlaceError>,
    },
    #[error("the definition uses a Koji tag, but the configuration has no [koji] hub")]
    NoKoji,
    #[error("Koji hub {hub}: {message}")]
    Koji { hub: String, message: String },
    #[error(
        "no arches to compose: the definition names {named}, the command line asked for {asked}"
    )]
    NoArches { named: String, asked: String },
    #[error("no output directory: pass --out or set [compose] out in the configuration")]
    NoOut,
    /// A signal (or Python's KeyboardInterrupt) stopped the compose at a
    /// safe point, before anything was published.
    #[error("interrupted by {by}; nothing was published")]
    Interrupted { by: String },
    /// The output was in place but the registry did not record the compose
    /// finished, so the output was taken away again.
    #[error("compose {compose_id} could not be recorded as finished, so its output was withdrawn from {path}")]
    NotRecorded {
        compose_id: String,
        path: String,
        #[source]
        source: Box<strata_registry::RegistryError>,
    },
    /// As NotRecorded, but taking the output away failed too: it is in
    /// place (with STATUS STARTED) while the registry does not call it
    /// finished.
    #[error("compose {compose_id} could not be recorded as finished, and its output {path} could not be withdrawn ({withdraw}): remove it by hand")]
    NotRecordedNotWithdrawn {
        compose_id: String,
        path: String,
        withdraw: std::io::Error,
        #[source]
        source: Box<strata_registry::RegistryError>,
    },
    #[error("no registry: pass --registry or set [registry] path or url")]
    NoRegistry,
    /// A compose a stack recorded is gone from the registry.
    #[error("compose {compose_id} of {module} (used by {used_by}) is not in the registry")]
    MissingCompose {
        compose_id: String,
        module: String,
        used_by: String,
    },
    #[error("waited {waited_s} s for the lock {path}, held by another compose; giving up")]
    LockTimeout { path: String, waited_s: u64 },
    /// The modules metadata of a repository cannot be read.
    #[error("cannot read the modules metadata of {location}")]
    RepoModules {
        location: String,
        #[source]
        source: Box<ModulesMetadataError>,
    },
    /// A layer's published repository is gone or no longer what was
    /// published: the stack would point at it.
    #[error("{module}: the published {arch} repository of {layer} (compose {compose_id}) is missing or damaged; recompose {layer}, or pin a good compose of it")]
    LayerRepository {
        module: String,
        layer: String,
        compose_id: String,
        arch: String,
        // Boxed: the error stays small on every path that returns one.
        #[source]
        source: Box<strata_repodata::RepodataError>,
    },
    /// `[compose] repo_base_url` serves `out`; a layer published elsewhere
    /// has no URL under it.
    #[error("{module}: {layer} (compose {compose_id}) is published at {path}, outside {out}, which [compose] repo_base_url serves; recompose {layer} into {out}")]
    LayerOutsideOut {
        module: String,
        layer: String,
        compose_id: String,
        path: String,
        out: String,
    },
    /// OUT already holds a directory named like the new compose: another
    /// registry publishing into the same OUT gave a compose the same ID.
    #[error("cannot publish compose {compose_id}: {path} already exists, and a compose is never written over; another registry publishing into this out directory gave a compose the same ID: give each registry its own [compose] out")]
    PublishedExists { compose_id: String, path: String },
    /// A compose of the stack whose repository has no modules metadata.
    #[error("compose {compose_id} ({location}) has no modules metadata")]
    NoModulesMetadata {
        compose_id: String,
        location: String,
    },
    /// Two different packages would be published under one file name.
    #[error("{within} has two different packages published as {href}: {first}, and {second}")]
    PackageConflict {
        within: String,
        href: String,
        first: String,
        second: String,
    },
    /// Two inputs of a merge hold different documents for one stream.
    #[error("{within}: {document} differs between {first} and {second}")]
    ModuleConflict {
        within: String,
        document: String,
        first: String,
        second: String,
    },
    #[error("cannot merge repositories into {dest}: {problem}")]
    MergeDestination { dest: String, problem: String },
    /// The modules metadata was not among what was written.
    #[error("the repodata written to {repo} lists no modules metadata")]
    ModulesNotWritten { repo: String },
    #[error("cannot write the productmd metadata of {compose_id}")]
    Productmd {
        compose_id: String,
        #[source]
        source: ProductmdError,
    },
    /// The gate's report cannot be turned into the JSON the record keeps.
    #[error("cannot record the repoclosure gate's report")]
    GateReport {
        #[source]
        source: serde_json::Error,
    },
}

/// Why metadata cannot be written as productmd reads it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProductmdError {
    /// `what` names the field (`compose.date`, `rpms[3].nevra`).
    #[error("productmd metadata: `{what}` is {value:?}: {why}")]
    Invalid {
        what: String,
        value: String,
        why: String,
    },
    /// Two RPM (or module) entries with the same key and different data.
    #[error("productmd metadata: {what} is given twice with different data")]
    Conflict { what: String },
}

/// Why the modules metadata of a repository cannot be read.
#[derive(Debug, Error)]
pub enum ModulesMetadataError {
    #[error(transparent)]
    Read(#[from] strata_repodata::RepodataError),
    #[error("it is not UTF-8")]
    NotUtf8(#[source] std::string::FromUtf8Error),
    #[error(transparent)]
    Parse(#[from] strata_modulemd::Error),
}

pub type Result<T> = std::result::Result<T, ComposeError>;

pub(crate) fn io(path: impl AsRef<std::path::Path>) -> impl FnOnce(std::io::Error) -> ComposeError {
    let path = path.as_ref().display().to_string();
    move |source| ComposeError::Io { path, source }
}

/// An error and its causes on one line (`…: cause: cause`), for records
/// and messages that have one line; a cause its parent already quotes is
/// not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = s.source();
    }
    text
}
