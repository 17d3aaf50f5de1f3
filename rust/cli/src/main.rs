//! The `strata` command.

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use strata_repodata::{LoadOptions, Repo};
use strata_solve::{repoclosure, ClosureOptions};

mod chain;
mod compose;
mod composes;
mod release;
mod release_compose;

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Incremental, modular composes for RPM distributions"
)]
struct Cli {
    /// More logging (-v info, -vv debug); also RUST_LOG.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that every dependency of the checked packages is provided
    /// (like `dnf repoclosure`), and optionally that they are installable.
    Repoclosure(RepoclosureArgs),
    /// Compose a module or an artifact from its definition.
    #[command(subcommand)]
    Compose(ComposeCommand),
    /// List and inspect recorded composes.
    #[command(subcommand)]
    Composes(ComposesCommand),
    /// List and inspect recorded artifact composes.
    #[command(subcommand)]
    Artifacts(ArtifactsCommand),
    /// Print the last good compose of NAME:STREAM (of an artifact:
    /// NAME:ARCH).
    Latest(LatestArgs),
    /// Print the stack of a module: the compose used at each level.
    Tree(TreeArgs),
    /// Check Strata documents (module and artifact definitions, policies,
    /// releases) without composing anything.
    Validate(ValidateArgs),
    /// Check a release, compose it, compare two release composes.
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// List and inspect recorded release composes.
    #[command(subcommand)]
    Releases(ReleasesCommand),
    /// What events make stale in the [chain] catalog, and the ordered
    /// plan of recomposes, without composing anything.
    Impact(ImpactArgs),
    /// Run chained recomposes, and see and approve them.
    #[command(subcommand)]
    Chain(ChainCommand),
    /// Manage the cache of parsed repositories and metadata records.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Serve the registry read-only: web pages and a JSON API.
    ///
    /// The pages of composes, stacks and last good composes, and
    /// /api/v1/… (the records `--json` prints), until SIGINT or SIGTERM.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// ADDRESS:PORT to listen on. Default: [serve] listen, else
    /// 127.0.0.1:8080 (port 0: any free port, printed on start).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The path every URL is under, behind a reverse proxy (e.g.
    /// /strata). Default: [serve] base_path, else none.
    #[arg(long, value_name = "PATH")]
    base_path: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

fn run_serve(args: ServeArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = strata_compose::Config::load(args.registry.config.as_deref())?;
    let options = strata_serve::Options::new(
        args.registry.registry.as_deref(),
        args.listen.as_deref(),
        args.base_path.as_deref(),
        &config,
    )?;
    strata_serve::run(options)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Remove old and least recently used cache entries.
    ///
    /// Removes the entries unused for longer than the age limit, then the
    /// least recently used while the cache is larger than the size limit,
    /// and files left over by interrupted writes. Limits: the options, else
    /// [cache] max_size and max_age in the configuration, else 10 GiB and
    /// 30 days. Composes and repoclosure prune the same way after they add
    /// an entry.
    Prune(CachePruneArgs),
}

#[derive(Args)]
struct CachePruneArgs {
    /// Keep at most this much (e.g. 10GiB, 500MB, or bytes).
    #[arg(long, value_name = "SIZE")]
    max_size: Option<strata_compose::Size>,
    /// Remove entries unused for more than DAYS days.
    #[arg(long, value_name = "DAYS")]
    max_age: Option<f64>,
    /// The cache to prune. Default: [compose] cache_dir in the
    /// configuration, else $XDG_CACHE_HOME/strata/repos.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Only print what would be removed.
    #[arg(long)]
    dry_run: bool,
    /// Configuration file. Default: $STRATA_CONFIG, else /etc/strata/strata.toml.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ComposeCommand {
    /// Compose one module: pick its packages from the source, check
    /// repoclosure against its required modules and the platform, publish a
    /// repository with modules.yaml and productmd metadata.
    Module(ComposeModuleArgs),
    /// Build one artifact (container image, ostree commit or ISO) from the
    /// last good compose of each stack its definition names: the stacks
    /// are installed with dnf (without scriptlets) from their composes'
    /// repositories and the platform, and the artifact is published
    /// under OUT/<compose-id>/ with its build ID recorded.
    Artifact(ComposeArtifactArgs),
}

#[derive(Args)]
struct ComposeArtifactArgs {
    /// The artifact definition (a `strata-artifact` YAML document).
    definition: PathBuf,
    /// Where composes are published; the artifact goes to OUT/<compose-id>/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Build for this arch; default: the definition's only arch, else the
    /// host's.
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    /// productmd compose type.
    #[arg(long = "type", value_name = "TYPE", default_value = "nightly",
          value_parser = clap::builder::PossibleValuesParser::new(
              strata_registry::ComposeType::ALL.map(strata_registry::ComposeType::as_str)))]
    compose_type: String,
    /// Use this compose for its stream instead of the last good one
    /// (repeatable; over the definition's `compose_pins`).
    #[arg(long = "with-compose", value_name = "COMPOSE_ID")]
    with_compose: Vec<String>,
    /// SCM reference of the definition to record (default: detected from git).
    #[arg(long, value_name = "URL")]
    scm_ref: Option<String>,
    /// Print the compose record as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct RegistryArgs {
    /// The compose registry: a SQLite file, or a PostgreSQL database as a
    /// postgresql:// (or postgres://) URL. Default: [registry] url or path
    /// in the configuration, else ~/.local/share/strata/registry.sqlite.
    #[arg(long, value_name = "PATH|URL", global = true)]
    registry: Option<std::ffi::OsString>,
    /// Configuration file. Default: $STRATA_CONFIG, else /etc/strata/strata.toml.
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct ComposeModuleArgs {
    /// The module definition (a `strata-module` YAML document).
    definition: PathBuf,
    /// Where composes are published; each goes to OUT/<compose-id>/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Compose only this arch (repeatable); default: the definition's arches.
    #[arg(long, value_name = "ARCH")]
    arch: Vec<String>,
    /// productmd compose type.
    #[arg(long = "type", value_name = "TYPE", default_value = "nightly",
          value_parser = clap::builder::PossibleValuesParser::new(
              strata_registry::ComposeType::ALL.map(strata_registry::ComposeType::as_str)))]
    compose_type: String,
    /// Publish repodata and modules.yaml only, without RPM payloads.
    #[arg(long)]
    metadata_only: bool,
    /// Checksum every RPM against the source metadata before linking it
    /// (sizes are always checked; copied or downloaded RPMs are always
    /// checksummed).
    #[arg(long)]
    verify_payloads: bool,
    /// Use this compose for its module in the stack instead of that
    /// module's last good compose (repeatable; over the definition's
    /// `compose_pins`).
    #[arg(long = "with-compose", value_name = "COMPOSE_ID")]
    with_compose: Vec<String>,
    /// Reuse the last good compose, and compose nothing, when nothing it
    /// would use changed: the same definition digest, selected packages,
    /// input composes and repository checksums (Koji repo IDs aside).
    #[arg(long)]
    if_changed: bool,
    /// SCM reference of the definition to record (default: detected from git).
    #[arg(long, value_name = "URL")]
    scm_ref: Option<String>,
    /// Print the compose record as JSON.
    #[arg(long)]
    json: bool,
    /// Where parsed repositories and metadata records are cached.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Do not read or write the cache.
    #[arg(long)]
    no_cache: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Subcommand)]
enum ComposesCommand {
    /// List composes, newest first.
    List(ComposesListArgs),
    /// Show one compose: state, inputs, packages, outputs, error.
    Show(ComposesShowArgs),
    /// Mark a started compose or release compose whose process is gone
    /// as failed.
    Abandon(ComposesAbandonArgs),
    /// Remove the records (and optionally the published directories) of
    /// composes nothing needs any more.
    Prune(ComposesPruneArgs),
}

#[derive(Subcommand)]
enum ArtifactsCommand {
    /// List artifact composes, newest first.
    List(ComposesListArgs),
    /// Show one artifact compose: state, inputs, build ID, packages, error.
    Show(ComposesShowArgs),
}

#[derive(Args)]
struct ComposesAbandonArgs {
    /// The started compose (module, artifact or release compose) to mark
    /// failed.
    #[arg(required_unless_present = "dead", conflicts_with = "dead")]
    compose_id: Option<String>,
    /// Mark failed every started compose and release compose whose
    /// process is provably gone (of this host: process ended, or the host
    /// restarted since).
    #[arg(long)]
    dead: bool,
    /// Mark COMPOSE_ID failed even when its process is not provably gone
    /// (it runs on another host, or records no owner, or still runs).
    #[arg(long, requires = "compose_id")]
    force: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct ComposesPruneArgs {
    /// Keep the N newest finished composes of each stream (the last good
    /// one is always kept).
    #[arg(long, value_name = "N", default_value_t = 3)]
    keep: usize,
    /// Keep failed composes that ended less than DAYS days ago.
    #[arg(long, value_name = "DAYS", default_value_t = 14)]
    keep_failed_days: u32,
    /// Keep chain records that ended less than DAYS days ago. Older ended
    /// chains go unless a kept compose was made by them; chains that may
    /// still run (running, waiting, stopped) and the newest chain stay.
    #[arg(long, value_name = "DAYS", default_value_t = 14)]
    keep_chain_days: u32,
    /// Keep this compose, and what it was built on (repeatable).
    #[arg(long = "pin", value_name = "COMPOSE_ID")]
    pins: Vec<String>,
    /// Show what would be removed and why the rest is kept; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also delete the published directory of each removed compose, when
    /// it is OUT/<compose-id> (anything else is left, and said so).
    #[arg(long)]
    delete_output: bool,
    /// The folder composes are published in; default: [compose] out.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct ComposesListArgs {
    /// Only composes of NAME or NAME:STREAM.
    module: Option<String>,
    /// Only composes in this state: started, finished or failed.
    #[arg(long)]
    state: Option<String>,
    /// At most this many.
    #[arg(long)]
    limit: Option<usize>,
    /// Skip this many of the newest first (with --limit, one page).
    #[arg(long)]
    offset: Option<usize>,
    /// Only composes of this compose date (YYYY-MM-DD, the date in the
    /// compose ID) or later.
    #[arg(long, value_name = "DATE")]
    since: Option<jiff::civil::Date>,
    /// Only composes of this compose date (YYYY-MM-DD) or earlier.
    #[arg(long, value_name = "DATE")]
    until: Option<jiff::civil::Date>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct ComposesShowArgs {
    compose_id: String,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct LatestArgs {
    /// NAME:STREAM
    module: String,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct TreeArgs {
    /// NAME:STREAM (its last good compose), a compose ID, or a definition
    /// file (the composes a compose of it would use now).
    what: String,
    /// Show this compose of NAME:STREAM instead of the last good one.
    #[arg(long, value_name = "COMPOSE_ID")]
    compose: Option<String>,
    /// Use this compose for its module (definition files only; repeatable).
    #[arg(long = "with-compose", value_name = "COMPOSE_ID")]
    with_compose: Vec<String>,
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// text, or a picture of the stack: Graphviz `dot` text, or SVG drawn
    /// by Graphviz's `dot` (package `graphviz`).
    #[arg(long, value_name = "FORMAT", default_value = "text",
          value_parser = ["text", "dot", "svg"])]
    format: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// The events a chain starts from.
#[derive(Args)]
struct EventArgs {
    /// A new build, NAME-VERSION-RELEASE (repeatable).
    #[arg(long, value_name = "NVR")]
    build: Vec<String>,
    /// A Koji tag whose latest builds changed (repeatable).
    #[arg(long, value_name = "TAG")]
    tag: Vec<String>,
    /// A source or platform repository whose metadata changed (repeatable).
    #[arg(long, value_name = "URL|PATH")]
    repo: Vec<String>,
    /// A module compose that finished (repeatable).
    #[arg(long, value_name = "COMPOSE_ID")]
    compose: Vec<String>,
    /// A changed definition of the catalog (repeatable).
    #[arg(long, value_name = "PATH|URL")]
    definition: Vec<String>,
}

/// `strata impact`: at least one event.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("events").required(true).multiple(true)
    .args(["build", "tag", "repo", "compose", "definition"])))]
struct ImpactArgs {
    #[command(flatten)]
    events: EventArgs,
    /// Print the impact as JSON.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// text, or a picture of the graph: Graphviz `dot` text, or SVG drawn
    /// by Graphviz's `dot` (package `graphviz`).
    #[arg(long, value_name = "FORMAT", default_value = "text",
          value_parser = ["text", "dot", "svg"])]
    format: String,
    /// Where parsed repositories (and SCM clones, under scm/) are cached.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Do not read or write the repository cache.
    #[arg(long)]
    no_cache: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Subcommand)]
enum ReleaseCommand {
    /// Check a release against its definitions and the registry: every
    /// module of it and below it supported as long as the release
    /// promises, one stream per module, a good compose of each module and
    /// artifact, and one repoclosure of all their packages against the
    /// platform, with every profile installed; with --from, the upgrade
    /// from the previous release. Every problem at once, each with the
    /// chain of modules that causes it; exit status 1 on any.
    Check(ReleaseCheckArgs),
    /// Check a release, then, only if the check finds nothing, freeze it
    /// into one release compose: OUT/<release-id>/ in Pungi's layout (one
    /// modular variant with every module's packages, modulemd-defaults of
    /// the release's default streams, modulemd-obsoletes with each
    /// stream's end of life; productmd metadata), recorded in the registry
    /// with every compose it ships. Exit status 1 when the check finds
    /// problems (nothing is composed).
    Compose(ReleaseComposeArgs),
    /// Compare two release composes: modules whose stream or compose
    /// changed, NEVRAs added, removed and changed, artifacts changed.
    Diff(ReleaseDiffArgs),
}

#[derive(Args)]
struct ReleaseDiffArgs {
    /// The earlier release compose's ID.
    from: String,
    /// The later release compose's ID.
    to: String,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct ReleaseComposeArgs {
    /// The release (a `strata-release` YAML document).
    release: PathBuf,
    /// Where release composes are published; each goes to
    /// OUT/<release-id>/. Default: [compose] out.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    check: ReleaseCheckOptions,
    /// productmd compose type.
    #[arg(long = "type", value_name = "TYPE", default_value = "nightly",
          value_parser = clap::builder::PossibleValuesParser::new(
              strata_registry::ComposeType::ALL.map(strata_registry::ComposeType::as_str)))]
    compose_type: String,
    /// Checksum every RPM against its repository's metadata before
    /// linking it.
    #[arg(long)]
    verify_payloads: bool,
    /// SCM reference of the release document to record (default: detected
    /// from git, when the file is committed without local changes).
    #[arg(long, value_name = "URL")]
    scm_ref: Option<String>,
    /// Print the check's report and the release compose's record as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Subcommand)]
enum ReleasesCommand {
    /// List release composes, newest first.
    List(ReleasesListArgs),
    /// Show one release compose: state, release date, every compose it
    /// ships, where it was published, the error.
    Show(ReleasesShowArgs),
}

#[derive(Args)]
struct ReleasesListArgs {
    /// At most this many.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct ReleasesShowArgs {
    release_id: String,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// What a release check looks at: `release check` and `release compose`
/// (which checks first) share them.
#[derive(Args)]
struct ReleaseCheckOptions {
    /// The arch whose composes are checked; default: this machine's.
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    /// Cache directory (parsed repositories, SCM clones). Default:
    /// [compose] cache_dir, else ~/.cache/strata.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Also check the upgrade path from the previous release (its
    /// `strata-release` document, or a release compose: its ID, or a
    /// release name for its newest finished one): every profile of a module
    /// in both releases, installed from the previous release's composes,
    /// upgrades to this one as `dnf distro-sync` would; a changed stream is
    /// reported as a switch.
    #[arg(long, value_name = "PREV")]
    from: Option<String>,
}

impl From<ReleaseCheckOptions> for strata_release::CheckOptions {
    fn from(o: ReleaseCheckOptions) -> Self {
        strata_release::CheckOptions {
            arch: o.arch,
            cache_dir: o.cache_dir,
            from: o.from,
            from_display: None,
        }
    }
}

#[derive(Args)]
struct ReleaseCheckArgs {
    /// The release (a `strata-release` YAML document).
    release: PathBuf,
    #[command(flatten)]
    check: ReleaseCheckOptions,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Subcommand)]
enum ChainCommand {
    /// Recompose what the events make stale, bottom-up, by policy; each
    /// compose records the chain and the cause. A step that waits for
    /// approval, or a chain stopped by a signal, continues with `resume`.
    Run(ChainRunArgs),
    /// List chains, newest first.
    List(ChainListArgs),
    /// Show a chain: its cause and each step's state, compose and reason.
    Show(ChainShowArgs),
    /// Approve a step that waits (policy `trigger: approve`); `resume`
    /// then composes it.
    Approve(ChainApproveArgs),
    /// Continue a chain that waited, stopped or was killed, where it
    /// stopped: no compose is made twice.
    Resume(ChainResumeArgs),
    /// Queue events for `chain run --pending`, which coalesces a burst of
    /// them into one chain once the policy's debounce window has passed.
    Submit(ChainSubmitArgs),
    /// Take queued events off the queue without running them: events
    /// `chain run --pending` names as ones that cannot be planned.
    Drop(ChainDropArgs),
}

/// `strata chain drop SEQ…`.
#[derive(Args)]
struct ChainDropArgs {
    /// The queue numbers of the events (as `chain submit` and `chain run
    /// --pending` print them).
    #[arg(required = true, value_name = "SEQ")]
    seqs: Vec<i64>,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `strata chain submit`: at least one event.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("events").required(true).multiple(true)
    .args(["build", "tag", "repo", "compose", "definition"])))]
struct ChainSubmitArgs {
    #[command(flatten)]
    events: EventArgs,
    /// Print the queued events as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// How a chain's steps compose.
#[derive(Args)]
struct ChainComposeArgs {
    /// Where composes are published; default: [compose] out.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// productmd compose type.
    #[arg(long = "type", value_name = "TYPE", default_value = "nightly",
          value_parser = clap::builder::PossibleValuesParser::new(
              strata_registry::ComposeType::ALL.map(strata_registry::ComposeType::as_str)))]
    compose_type: String,
    /// Publish repodata and modules.yaml only, without RPM payloads.
    #[arg(long)]
    metadata_only: bool,
    /// Seconds a policy test may run before it is stopped (and failed).
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    test_timeout: u64,
    /// Print the chain as JSON at the end.
    #[arg(long)]
    json: bool,
    /// Where parsed repositories (and SCM clones, under scm/) are cached.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct ChainRunArgs {
    #[command(flatten)]
    events: EventArgs,
    /// Run this plan (`strata impact --json` output) instead of finding
    /// one for events.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["build", "tag", "repo", "compose", "definition"])]
    plan: Option<PathBuf>,
    /// Take the queued events (`chain submit`) as one chain, once the
    /// debounce window of the plan's policy rules has passed since the
    /// newest of them; before that, say until when and run nothing.
    #[arg(long, conflicts_with_all = ["plan", "build", "tag", "repo", "compose", "definition"])]
    pending: bool,
    /// Print the plan; record and compose nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    compose: ChainComposeArgs,
}

#[derive(Args)]
struct ChainResumeArgs {
    chain_id: String,
    #[command(flatten)]
    compose: ChainComposeArgs,
}

#[derive(Args)]
struct ChainListArgs {
    /// At most this many.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct ChainShowArgs {
    chain_id: String,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct ChainApproveArgs {
    chain_id: String,
    /// The step's module, NAME:STREAM.
    module: String,
    /// Who approves (recorded); default: $USER.
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
struct ValidateArgs {
    /// Definition files; each is read as the document its `document:`
    /// key names.
    #[arg(required = true)]
    definitions: Vec<PathBuf>,
}

#[derive(Args)]
struct RepoclosureArgs {
    /// A repository: ID=PATH, ID=file:///path or ID=https://url.
    #[arg(long = "repo", value_name = "ID=LOCATION", required = true)]
    repos: Vec<String>,
    /// Check only the packages of this repository (repeatable); the others
    /// are lookaside. Default: all repositories.
    #[arg(long, value_name = "ID")]
    check: Vec<String>,
    /// Check only packages of this arch (repeatable).
    #[arg(long, value_name = "ARCH")]
    arch: Vec<String>,
    /// Judge packages for this machine arch instead of this machine's
    /// (dnf's --forcearch).
    #[arg(long, value_name = "ARCH")]
    forcearch: Option<String>,
    /// Only the newest version of each package in each repository counts.
    #[arg(long)]
    newest: bool,
    /// Also check that every checked package can be installed with its
    /// dependencies (SAT), and explain why not.
    #[arg(long)]
    installable: bool,
    /// Suggest packages from this repository that would close the gaps
    /// (repeatable; ID=LOCATION). Suggestions never change the result.
    #[arg(long = "suggest-from", value_name = "ID=LOCATION")]
    suggest_from: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Where parsed repositories are cached.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Do not read or write the cache.
    #[arg(long)]
    no_cache: bool,
    /// Configuration file, for its [network], [repodata] and [cache]
    /// settings. Default: $STRATA_CONFIG, else /etc/strata/strata.toml.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

fn split_repo(spec: &str) -> Result<(&str, &str), String> {
    match spec.split_once('=') {
        Some((id, loc)) if !id.is_empty() && !loc.is_empty() => Ok((id, loc)),
        _ => Err(format!("`{spec}` is not ID=LOCATION")),
    }
}

fn progress_bar(enabled: bool) -> Option<ProgressBar> {
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg:12} [{bar:30}] {pos}/{len}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    Some(pb)
}

fn run_repoclosure(args: RepoclosureArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = strata_compose::Config::load(args.config.as_deref())?;
    config.apply();
    let cache_dir = if args.no_cache {
        None
    } else {
        args.cache_dir
            .clone()
            .or_else(strata_repodata::default_cache_dir)
    };
    let opts = LoadOptions {
        cache_dir,
        cache_limits: config.cache_limits(),
    };
    let mut specs = Vec::new();
    for s in args.repos.iter().chain(args.suggest_from.iter()) {
        specs.push(split_repo(s)?);
    }
    let mut seen = std::collections::HashSet::new();
    for (id, _) in &specs {
        if !seen.insert(*id) {
            return Err(format!("repository id `{id}` is given twice").into());
        }
    }
    let pb = progress_bar(!args.json);
    let mut repos: Vec<Repo> = Vec::with_capacity(specs.len());
    for (id, loc) in &specs {
        if let Some(pb) = &pb {
            pb.set_message(format!("loading {id}"));
        }
        tracing::info!(
            repo = id,
            location = %strata_model::redact_credentials(loc),
            "loading"
        );
        repos.push(strata_repodata::load_repo(id, loc, &opts)?);
    }
    let options = ClosureOptions {
        check: args.check,
        arches: args.arch,
        newest: args.newest,
        base_arch: args.forcearch,
        installable: args.installable,
        suggest_from: args
            .suggest_from
            .iter()
            .map(|s| split_repo(s).map(|(id, _)| id.to_string()))
            .collect::<Result<_, _>>()?,
        hidden: Vec::new(),
    };
    let refs: Vec<&Repo> = repos.iter().collect();
    let report = repoclosure(&refs, &options, &|what, done, total| {
        if let Some(pb) = &pb {
            pb.set_message(what.to_string());
            pb.set_length(total as u64);
            pb.set_position(done as u64);
        }
    })?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        out.write_all(report.to_text().as_bytes())?;
    }
    out.flush()?;
    if !args.json {
        eprint!("{}", report.extras_text());
    }
    if !report.unresolved.is_empty() && !args.json {
        eprintln!(
            "Error: Repoclosure ended with unresolved dependencies ({}) across {} packages.",
            report.unresolved_pairs(),
            report.unresolved.len()
        );
    }
    if let Some(inst) = report
        .installable
        .as_ref()
        .filter(|i| !i.uninstallable.is_empty())
    {
        if !args.json {
            eprintln!(
                "Error: {} of {} checked packages cannot be installed.",
                inst.uninstallable.len(),
                inst.checked
            );
        }
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_cache_prune(args: CachePruneArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    use strata_repodata::cache::PruneReason;
    use strata_repodata::limits::human;
    let config = strata_compose::Config::load(args.config.as_deref())?;
    let dir = args
        .cache_dir
        .clone()
        .or_else(|| config.compose.cache_dir.clone())
        .or_else(strata_repodata::default_cache_dir)
        .ok_or("no cache directory: pass --cache-dir")?;
    let mut limits = config.cache_limits();
    if let Some(size) = args.max_size {
        limits.max_size = size.0;
    }
    if let Some(days) = args.max_age {
        limits.max_age = std::time::Duration::try_from_secs_f64(days * 86400.0)
            .map_err(|_| format!("--max-age must be a number of days, not {days}"))?;
    }
    let pruned = if dir.exists() {
        strata_repodata::cache::prune(&dir, &limits, None, args.dry_run)?
    } else {
        Default::default()
    };
    let mut out = std::io::stdout().lock();
    let verb = if args.dry_run {
        "Would remove"
    } else {
        "Removed"
    };
    for r in &pruned.removed {
        let name = r.path.file_name().unwrap_or_default().to_string_lossy();
        let days = r.unused_for.as_secs() / 86400;
        let why = match r.reason {
            PruneReason::Age => format!("unused for {days} days"),
            PruneReason::Size => format!(
                "least recently used, unused for {}",
                if days > 0 {
                    format!("{days} days")
                } else {
                    format!("{} h", r.unused_for.as_secs() / 3600)
                }
            ),
            PruneReason::Leftover => "left over from an interrupted write".into(),
        };
        writeln!(out, "{verb} {name} ({}, {why})", human(r.bytes))?;
    }
    let files = pruned.removed.len();
    writeln!(
        out,
        "{} {} ({files} file{}); {} {} ({}) kept in {}",
        if args.dry_run { "Would free" } else { "Freed" },
        human(pruned.freed()),
        if files == 1 { "" } else { "s" },
        pruned.kept,
        if pruned.kept == 1 { "entry" } else { "entries" },
        human(pruned.kept_bytes),
        dir.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Prints an error and its causes, uv-style.
fn report_error(e: &dyn std::error::Error) {
    let mut shown = e.to_string();
    eprintln!("error: {shown}");
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        // Messages that already quote their cause are not repeated.
        if !shown.contains(&text) {
            eprintln!("  caused by: {text}");
        }
        shown = text;
        source = s.source();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes are for a terminal; in a log file or a pipe they
        // are noise around the message.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.command {
        Command::Repoclosure(args) => run_repoclosure(args),
        Command::Compose(ComposeCommand::Module(args)) => compose::run_compose_module(args),
        Command::Compose(ComposeCommand::Artifact(args)) => compose::run_compose_artifact(args),
        Command::Composes(ComposesCommand::List(args)) => compose::run_list(args),
        Command::Artifacts(ArtifactsCommand::List(args)) => compose::run_list_artifacts(args),
        Command::Artifacts(ArtifactsCommand::Show(args)) => compose::run_show(args),
        Command::Composes(ComposesCommand::Show(args)) => compose::run_show(args),
        Command::Composes(ComposesCommand::Abandon(args)) => composes::run_abandon(args),
        Command::Composes(ComposesCommand::Prune(args)) => composes::run_prune(args),
        Command::Latest(args) => compose::run_latest(args),
        Command::Tree(args) => compose::run_tree(args),
        Command::Validate(args) => compose::run_validate(args),
        Command::Release(ReleaseCommand::Check(args)) => release::run_check(args),
        Command::Release(ReleaseCommand::Compose(args)) => release_compose::run_compose(args),
        Command::Release(ReleaseCommand::Diff(args)) => release_compose::run_diff(args),
        Command::Releases(ReleasesCommand::List(args)) => release_compose::run_list(args),
        Command::Releases(ReleasesCommand::Show(args)) => release_compose::run_show(args),
        Command::Impact(args) => chain::run_impact(args),
        Command::Chain(ChainCommand::Run(args)) => chain::run_chain(args),
        Command::Chain(ChainCommand::Resume(args)) => chain::resume_chain(args),
        Command::Chain(ChainCommand::List(args)) => chain::list_chains(args),
        Command::Chain(ChainCommand::Show(args)) => chain::show_chain(args),
        Command::Chain(ChainCommand::Approve(args)) => chain::approve(args),
        Command::Chain(ChainCommand::Submit(args)) => chain::submit(args),
        Command::Chain(ChainCommand::Drop(args)) => chain::drop_events(args),
        Command::Cache(CacheCommand::Prune(args)) => run_cache_prune(args),
        Command::Serve(args) => run_serve(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report_error(e.as_ref());
            ExitCode::from(2)
        }
    }
}
