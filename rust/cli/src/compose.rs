//! `strata compose module|artifact`, `strata composes list|show`, `strata latest`,
//! `strata validate`: argument handling and printing; the work is in
//! strata-compose and strata-registry. What only reads opens the registry
//! read-only, and free text from it is printed escaped, one line a field.

use super::composes::{one_line, open_read_only, write_table};
use super::{
    progress_bar, ComposeArtifactArgs, ComposeModuleArgs, ComposesListArgs, ComposesShowArgs,
    LatestArgs, RegistryArgs, TreeArgs, ValidateArgs,
};
use indicatif::ProgressBar;
use std::io::Write;
use std::process::ExitCode;
use strata_compose::{
    compose_module, compose_module_if_changed, compose_time, signal_name, stack_repo_file,
    stack_repos, ComposeRequest, Config, Hold, IfChanged, Interrupt, Progress,
};
use strata_model::StrataDocument;
use strata_registry::{ComposeSummary, ListFilter, Owner, Registry, State};

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

pub(crate) fn open_registry(
    args: &RegistryArgs,
    config: &Config,
) -> Result<Box<dyn Registry>, Box<dyn std::error::Error>> {
    Ok(strata_compose::open_registry(
        args.registry.as_deref(),
        config,
    )?)
}

pub(crate) struct Bar(pub(crate) Option<ProgressBar>);

impl Progress for Bar {
    fn stage(&self, what: &str) {
        tracing::info!("{what}");
        if let Some(pb) = &self.0 {
            pb.set_message(what.to_string());
            pb.set_length(0);
            pb.set_position(0);
        }
    }
    fn step(&self, done: usize, total: usize) {
        if let Some(pb) = &self.0 {
            pb.set_length(total as u64);
            pb.set_position(done as u64);
        }
    }
    fn about_to_publish(&self, _compose_id: &str, interrupt: &Interrupt) {
        // For tests of crash consistency and signals, which stop a compose
        // with everything staged and nothing published.
        if let Some(value) = std::env::var_os("STRATA_TEST_PAUSE_BEFORE_PUBLISH") {
            Hold::parse(&value).wait(interrupt);
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP stop the compose at its next safe point
/// (it removes its staging directory and is recorded failed), and the
/// process then exits with 128 + the signal's number, as shells expect of
/// a process a signal ended. A second signal while the compose cleans up
/// ends the process at once (the staging directory is left to the next
/// compose). The handlers only set flags, so they stay installed until the
/// process exits.
pub(crate) fn stop_on_signals(interrupt: &Interrupt) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::flag;
    use std::sync::Arc;
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        // signal-hook runs a signal's actions in the order they were
        // registered: the exit is armed by the flag the first signal sets.
        flag::register_conditional_shutdown(
            signal,
            128 + signal,
            Arc::clone(interrupt.raised_flag()),
        )?;
        flag::register_usize(signal, Arc::clone(interrupt.signal_slot()), signal as usize)?;
        flag::register(signal, Arc::clone(interrupt.raised_flag()))?;
    }
    Ok(())
}

/// What every compose command starts with: signals that stop it, the
/// configuration, the registry it writes and the folder it publishes in.
pub(crate) struct Setup {
    pub(crate) interrupt: Interrupt,
    pub(crate) config: Config,
    pub(crate) registry: Box<dyn Registry>,
    pub(crate) out: std::path::PathBuf,
}

pub(crate) fn compose_setup(
    registry: &RegistryArgs,
    out: Option<&std::path::Path>,
) -> Result<Setup, Box<dyn std::error::Error>> {
    let interrupt = Interrupt::new();
    stop_on_signals(&interrupt).map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let config = Config::load(registry.config.as_deref())?;
    config.apply();
    let reg = open_registry(registry, &config)?;
    let out = out
        .map(std::path::Path::to_path_buf)
        .or_else(|| config.compose.out.clone())
        .ok_or(strata_compose::ComposeError::NoOut)?;
    Ok(Setup {
        interrupt,
        config,
        registry: reg,
        out,
    })
}

/// Clears the progress bar and gives what a compose made; a compose a
/// signal stopped is reported and gives its exit status (128 + signal).
pub(crate) fn ended<T, E: std::error::Error + 'static>(
    bar: &Bar,
    outcome: Result<T, E>,
    interrupt: &Interrupt,
) -> Result<Result<T, ExitCode>, Box<dyn std::error::Error>> {
    if let Some(pb) = &bar.0 {
        pb.finish_and_clear();
    }
    match (outcome, interrupt.signal()) {
        (Ok(value), _) => Ok(Ok(value)),
        (Err(e), Some(signal)) => {
            super::report_error(&e);
            Ok(Err(ExitCode::from(
                u8::try_from(128 + signal).unwrap_or(255),
            )))
        }
        (Err(e), None) => Err(e.into()),
    }
}

pub fn run_compose_artifact(args: ComposeArtifactArgs) -> CliResult {
    let Setup {
        interrupt,
        config,
        mut registry,
        out,
    } = compose_setup(&args.registry, args.out.as_deref())?;
    let req = strata_compose::ArtifactRequest {
        definition: args.definition.clone(),
        out,
        arch: args.arch.clone(),
        compose_type: args.compose_type.parse()?,
        scm_ref: args.scm_ref.clone(),
        started_at: compose_time(),
        with_composes: args.with_compose.clone(),
        interrupt: interrupt.clone(),
        tool_limit: strata_compose::DEFAULT_TOOL_LIMIT,
        chain: None,
    };
    let bar = Bar(progress_bar(!args.json));
    let outcome = strata_compose::compose_artifact(&req, &config, &mut *registry, &bar);
    let rec = match ended(&bar, outcome, &interrupt)? {
        Ok(rec) => rec,
        Err(stopped) => return Ok(stopped),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &rec)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{} FINISHED", rec.id)?;
        if let Some(o) = &rec.outputs {
            writeln!(out, "  {}", o.path.display())?;
            if let Some(id) = &o.build_id {
                writeln!(out, "  build ID {id}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_compose_module(args: ComposeModuleArgs) -> CliResult {
    let Setup {
        interrupt,
        config,
        mut registry,
        out,
    } = compose_setup(&args.registry, args.out.as_deref())?;
    let cache_dir = if args.no_cache {
        None
    } else {
        args.cache_dir
            .clone()
            .or_else(|| config.compose.cache_dir.clone())
            .or_else(strata_repodata::default_cache_dir)
    };
    let req = ComposeRequest {
        definition: args.definition.clone(),
        out,
        arches: args.arch.clone(),
        compose_type: args.compose_type.parse()?,
        metadata_only: args.metadata_only,
        verify_payloads: args.verify_payloads,
        scm_ref: args.scm_ref.clone(),
        started_at: compose_time(),
        cache_dir,
        with_composes: args.with_compose.clone(),
        interrupt: interrupt.clone(),
        scratch: None,
        // This command composes once and exits.
        then_exits: true,
    };
    let bar = Bar(progress_bar(!args.json));
    let outcome = if args.if_changed {
        match compose_module_if_changed(&req, &config, &mut *registry, &bar) {
            Ok(IfChanged::Reused(rec)) => {
                if let Some(pb) = &bar.0 {
                    pb.finish_and_clear();
                }
                let mut out = std::io::stdout().lock();
                if args.json {
                    strata_compose::write_json(&mut out, &rec)?;
                } else {
                    writeln!(
                        out,
                        "{} REUSED: nothing it would use changed since it was composed",
                        rec.id
                    )?;
                    print_outputs(&mut out, &rec)?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            Ok(IfChanged::Composed(result)) => Ok(*result),
            Err(e) => Err(e),
        }
    } else {
        compose_module(&req, &config, &mut *registry, &bar)
    };
    if let Some(pb) = &bar.0 {
        pb.finish_and_clear();
    }
    let outcome = match (outcome, interrupt.signal()) {
        (Ok(o), signal) => {
            if let Some(signal) = signal {
                eprintln!(
                    "warning: {} arrived too late to stop the compose; its outcome stands",
                    signal_name(signal)
                );
            }
            o
        }
        (Err(e), Some(signal)) => {
            super::report_error(&e);
            return Ok(ExitCode::from(u8::try_from(128 + signal).unwrap_or(255)));
        }
        (Err(e), None) => return Err(e.into()),
    };
    let mut out = std::io::stdout().lock();
    let rec = &outcome.record;
    if outcome.published() {
        if args.json {
            strata_compose::write_json(&mut out, rec)?;
        } else {
            writeln!(out, "{} FINISHED", rec.id)?;
            print_outputs(&mut out, rec)?;
        }
        // The process exits next: the record (on a deep stack every layer
        // an input, and a modulemd naming each) and the gate's report are
        // left to the exit, not freed piece by piece.
        std::mem::forget(outcome);
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        let mut record = rec.clone();
        // The registry keeps a report up to a size; what is printed here
        // is the whole of it.
        if record
            .report
            .as_ref()
            .is_some_and(|r| r.get("report_cut").is_some())
        {
            record.report = Some(outcome.gate.to_value()?);
        }
        strata_compose::write_json(&mut out, &record)?;
    } else {
        // dnf's format on stdout, what it has no format for on stderr.
        for section in outcome.gate.sections() {
            out.write_all(section.report.as_bytes())?;
            eprint!("{}", section.notes);
        }
        out.flush()?;
        eprintln!(
            "Error: compose {} FAILED: {}",
            rec.id,
            rec.error.as_deref().unwrap_or("repoclosure failed")
        );
    }
    Ok(ExitCode::from(1))
}

/// Where a finished compose was published, one line a repository.
fn print_outputs(
    out: &mut impl Write,
    rec: &strata_registry::ComposeRecord,
) -> std::io::Result<()> {
    let Some(o) = &rec.outputs else {
        return Ok(());
    };
    for (arch, path) in &o.repos {
        let n = rec.packages.get(arch).map_or(0, |s| s.len());
        writeln!(out, "  {arch}: {} ({n} packages)", path.display())?;
    }
    for (arch, path) in stack_repos(rec) {
        writeln!(out, "  {arch}: {} (the whole stack)", path.display())?;
    }
    if let Some(p) = stack_repo_file(rec) {
        writeln!(
            out,
            "  {} (the stack, one repository a module)",
            p.display()
        )?;
    }
    Ok(())
}

fn parse_module(spec: &str) -> (Option<String>, Option<String>) {
    match spec.split_once(':') {
        Some((n, s)) => (Some(n.to_string()), Some(s.to_string())),
        None => (Some(spec.to_string()), None),
    }
}

/// `composes list` as a table; free text from the registry is escaped
/// before it is measured, so the columns hold whatever it holds.
fn print_table(out: &mut impl Write, recs: &[ComposeSummary]) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = recs
        .iter()
        .map(|r| {
            vec![
                one_line(&r.id).into_owned(),
                r.state.to_string(),
                fmt_time(r.started_at),
                one_line(&format!(
                    "{}:{}:{}:{}",
                    r.name, r.stream, r.version, r.context
                ))
                .into_owned(),
                one_line(&r.arches.join(",")).into_owned(),
            ]
        })
        .collect();
    write_table(
        out,
        &["COMPOSE", "STATE", "STARTED", "NVSC", "ARCHES"],
        &rows,
    )
}

pub(crate) fn fmt_time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| t.to_string())
}

pub fn run_list(args: ComposesListArgs) -> CliResult {
    list(args, None)
}

/// `strata artifacts list`: the artifact composes only.
pub fn run_list_artifacts(args: ComposesListArgs) -> CliResult {
    list(args, Some(strata_registry::RecordKind::Artifact))
}

fn list(args: ComposesListArgs, kind: Option<strata_registry::RecordKind>) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    config.apply();
    let registry = open_read_only(&args.registry, &config)?;
    let (name, stream) = args
        .module
        .as_deref()
        .map(parse_module)
        .unwrap_or((None, None));
    let state = args
        .state
        .as_deref()
        .map(|s| s.parse::<State>())
        .transpose()?;
    let recs = registry.list_summaries(&ListFilter {
        name,
        stream,
        state,
        limit: args.limit,
        offset: args.offset,
        since: args.since,
        until: args.until,
        kind,
        ..Default::default()
    })?;
    let mut out = std::io::stdout().lock();
    if args.json {
        strata_compose::write_json(&mut out, &recs)?;
    } else {
        print_table(&mut out, &recs)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_show(args: ComposesShowArgs) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    config.apply();
    let registry = open_read_only(&args.registry, &config)?;
    let rec = registry
        .get(&args.compose_id)?
        .ok_or_else(|| format!("no compose `{}` in the registry", args.compose_id))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        strata_compose::write_json(&mut out, &rec)?;
        return Ok(ExitCode::SUCCESS);
    }
    let path = |p: &std::path::Path| one_line(&p.display().to_string()).into_owned();
    writeln!(out, "Compose: {}", one_line(&rec.id))?;
    if rec.state == State::Started {
        // Whether it still runs is what a reader of a started compose
        // wants to know next.
        let liveness = Owner::liveness_of(rec.owner.as_ref(), Owner::current().as_ref());
        writeln!(out, "State: started ({})", one_line(liveness.reason()))?;
    } else {
        writeln!(out, "State: {}", rec.state)?;
    }
    match rec.artifact {
        Some(kind) => writeln!(
            out,
            "Artifact: {} {} ({})",
            kind,
            one_line(&rec.name),
            one_line(&rec.stream)
        )?,
        None => writeln!(
            out,
            "Module: {}",
            one_line(&format!("{}:{}", rec.name, rec.stream))
        )?,
    }
    writeln!(out, "Version: {}", rec.version)?;
    writeln!(out, "Context: {}", one_line(&rec.context))?;
    writeln!(out, "Arches: {}", one_line(&rec.arches.join(" ")))?;
    writeln!(
        out,
        "Definition: {} (sha256 {})",
        path(&rec.definition_path),
        one_line(&rec.definition_digest)
    )?;
    writeln!(
        out,
        "SCM: {}",
        one_line(rec.scm_ref.as_deref().unwrap_or("(none)"))
    )?;
    if let Some(owner) = &rec.owner {
        writeln!(out, "Owner: {}", one_line(&owner.to_string()))?;
    }
    // Why it was made and whether it may be built on: the chain and the
    // event that caused it, and the policy's tests.
    let chained = registry.compose_chain_info(&rec.id)?;
    if let Some(c) = &chained.chain {
        writeln!(
            out,
            "Chain: {} (caused by {})",
            one_line(&c.chain_id),
            one_line(&c.event)
        )?;
    }
    for t in &chained.tests {
        writeln!(out, "Test: {} {}", one_line(&t.name), one_line(&t.state))?;
    }
    writeln!(out, "Started: {}", fmt_time(rec.started_at))?;
    if let Some(f) = rec.finished_at {
        writeln!(out, "Finished: {}", fmt_time(f))?;
    }
    writeln!(out, "Inputs:")?;
    for i in &rec.inputs {
        writeln!(
            out,
            "  {} {} {} ({})",
            i.kind,
            one_line(&i.name),
            one_line(&i.ident),
            one_line(&i.location)
        )?;
    }
    if let Some(o) = &rec.outputs {
        writeln!(out, "Output: {}", path(&o.path))?;
        if let Some(id) = &o.build_id {
            writeln!(out, "Build ID: {}", one_line(id))?;
        }
        for (arch, p) in &o.repos {
            writeln!(out, "  {}: {}", one_line(arch), path(p))?;
        }
        for (arch, p) in stack_repos(&rec) {
            writeln!(out, "  {}: {} (the whole stack)", one_line(&arch), path(&p))?;
        }
        if let Some(p) = stack_repo_file(&rec) {
            writeln!(out, "  {} (the stack, one repository a module)", path(&p))?;
        }
    }
    let total: usize = rec.packages.values().map(|s| s.len()).sum();
    writeln!(out, "Packages: {total}")?;
    for (arch, set) in &rec.packages {
        for nevra in set {
            writeln!(out, "  {} {}", one_line(arch), one_line(nevra))?;
        }
    }
    if let Some(e) = &rec.error {
        // Errors run over several lines (a chain of causes): each is
        // indented under the heading, so none can pass for a field.
        let mut lines = e.lines();
        match (lines.next(), lines.clone().next()) {
            (Some(first), None) => writeln!(out, "Error: {}", one_line(first))?,
            _ => {
                writeln!(out, "Error:")?;
                for line in e.lines() {
                    writeln!(out, "  {}", one_line(line))?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_latest(args: LatestArgs) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    config.apply();
    let registry = open_read_only(&args.registry, &config)?;
    let Some((name, stream)) = args.module.split_once(':') else {
        return Err(format!("`{}` is not NAME:STREAM", args.module).into());
    };
    let mut out = std::io::stdout().lock();
    // The JSON is the whole record; the text needs no package lists.
    let found = if args.json {
        registry
            .latest_good(name, stream)?
            .map(|rec| strata_compose::write_json(&mut out, &rec))
    } else {
        registry.latest_good_summary(name, stream)?.map(|s| {
            writeln!(
                out,
                "{}\t{}",
                s.id,
                one_line(
                    &s.outputs
                        .as_ref()
                        .map(|o| o.path.display().to_string())
                        .unwrap_or_default()
                )
            )
        })
    };
    match found {
        Some(written) => {
            written?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!(
                "error: {} has no good compose",
                one_line(&format!("{name}:{stream}"))
            );
            Ok(ExitCode::from(1))
        }
    }
}

pub fn run_tree(args: TreeArgs) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    config.apply();
    let registry = open_read_only(&args.registry, &config)?;
    let path = std::path::Path::new(&args.what);
    let tree = if args.what.ends_with(".yaml") || args.what.ends_with(".yml") || path.is_file() {
        let (def, _) = strata_compose::read_definition(path)?;
        let layers = strata_compose::resolve_stack(&def, &*registry, &args.with_compose)?;
        strata_compose::tree_of_definition(&def, &layers)
    } else {
        let rec = match (&args.compose, args.what.split_once(':')) {
            (Some(id), _) => registry
                .get(id)?
                .ok_or_else(|| format!("no compose `{id}` in the registry"))?,
            (None, Some((name, stream))) => registry
                .latest_good(name, stream)?
                .ok_or_else(|| format!("{name}:{stream} has no good compose"))?,
            (None, None) => registry.get(&args.what)?.ok_or_else(|| {
                format!(
                    "`{}` is neither NAME:STREAM, a compose ID in the registry, nor a definition file",
                    args.what
                )
            })?,
        };
        strata_compose::tree_of_record(&*registry, &rec)?
    };
    match args.format.as_str() {
        "dot" => print!("{}", strata_chain::tree_dot(&tree)),
        "svg" => super::chain::write_picture(&strata_chain::tree_dot(&tree))?,
        _ => {
            let mut out = std::io::stdout().lock();
            if args.json {
                strata_compose::write_json(&mut out, &tree)?;
            } else {
                out.write_all(tree.to_text().as_bytes())?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_validate(args: ValidateArgs) -> CliResult {
    let mut bad = 0;
    for path in &args.definitions {
        match strata_compose::read_document(path) {
            Ok(StrataDocument::Module(def)) => println!(
                "{}: OK ({}, {} packages)",
                path.display(),
                def.nsv(),
                def.packages.len()
            ),
            Ok(StrataDocument::Artifact(def)) => println!(
                "{}: OK ({} artifact {}, {} stack{})",
                path.display(),
                def.kind,
                def.name,
                def.contents.len(),
                if def.contents.len() == 1 { "" } else { "s" }
            ),
            Ok(StrataDocument::Release(r)) => println!(
                "{}: OK (release {} {}, {} module{}, {} artifact{})",
                path.display(),
                r.name,
                r.version,
                r.modules.len(),
                if r.modules.len() == 1 { "" } else { "s" },
                r.artifacts.len(),
                if r.artifacts.len() == 1 { "" } else { "s" }
            ),
            Ok(StrataDocument::Policy(policy)) => println!(
                "{}: OK (policy, {} rules)",
                path.display(),
                policy.rules.len()
            ),
            Err(strata_compose::ComposeError::Definition(e)) => {
                bad += 1;
                eprintln!("{e}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
