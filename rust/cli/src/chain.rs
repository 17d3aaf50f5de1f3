//! `strata impact` and `strata chain run|resume|list|show|approve`:
//! argument handling and printing; the work is in strata-chain.

use super::compose::{fmt_time, open_registry, stop_on_signals};
use super::composes::{one_line, open_read_only, write_table};
use super::{
    progress_bar, ChainApproveArgs, ChainComposeArgs, ChainDropArgs, ChainListArgs,
    ChainResumeArgs, ChainRunArgs, ChainShowArgs, ChainSubmitArgs, EventArgs, ImpactArgs,
};
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;
use strata_chain::{
    events_of, impact, impact_dot, load_watched, queue, run_chain as run, scm_cache, start_chain,
    start_consuming, Event, Impact, ImpactOptions, RunError, RunOptions, Watched,
};
use strata_compose::{signal_name, Config, Interrupt, Progress};
use strata_registry::{ChainRecord, ChainState, Registry};

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// The largest plan file `chain run --plan` reads: plans of thousands of
/// modules are a few MB.
const MAX_PLAN_BYTES: u64 = 64 << 20;

/// Progress on a terminal: which module is being checked.
struct Stages(Option<indicatif::ProgressBar>);

impl Progress for Stages {
    fn stage(&self, what: &str) {
        tracing::info!("{what}");
        if let Some(pb) = &self.0 {
            pb.set_message(what.to_string());
        }
    }
    fn step(&self, _: usize, _: usize) {}
}

/// The events of the command line.
fn events(args: &EventArgs) -> Vec<Event> {
    events_of(
        args.build.clone(),
        args.tag.clone(),
        args.repo.clone(),
        args.compose.clone(),
        args.definition.clone(),
    )
}

fn cache_dir(
    given: Option<&std::path::Path>,
    no_cache: bool,
    config: &Config,
) -> Option<std::path::PathBuf> {
    (!no_cache).then(|| config.cache_dir(given)).flatten()
}

/// The impact of `events` on the configured catalog.
fn find_impact(
    events: &[Event],
    config: &Config,
    registry: &dyn Registry,
    cache_dir: Option<&std::path::Path>,
    json: bool,
) -> Result<(Impact, Watched), Box<dyn std::error::Error>> {
    let scm = scm_cache(config, cache_dir)?;
    let watched = load_watched(config, &scm)?;
    let interrupt = Interrupt::new();
    let bar = Stages(progress_bar(!json));
    let found = impact(
        events,
        &watched,
        config,
        registry,
        &ImpactOptions {
            cache_dir,
            interrupt: &interrupt,
            progress: &bar,
        },
    );
    if let Some(pb) = &bar.0 {
        pb.finish_and_clear();
    }
    Ok((found?, watched))
}

fn print_impact(found: &Impact, json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        strata_compose::write_json(&mut out, found)
    } else {
        out.write_all(found.to_text().as_bytes())
    }
}

pub fn run_impact(args: ImpactArgs) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    config.apply();
    let registry = open_read_only(&args.registry, &config)?;
    let cache = cache_dir(args.cache_dir.as_deref(), args.no_cache, &config);
    let (found, _) = find_impact(
        &events(&args.events),
        &config,
        &*registry,
        cache.as_deref(),
        args.json,
    )?;
    match args.format.as_str() {
        "dot" => print!("{}", impact_dot(&found)),
        "svg" => write_picture(&impact_dot(&found))?,
        _ => print_impact(&found, args.json)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// SVG of `dot` text on stdout.
pub fn write_picture(dot: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut out = std::io::stdout().lock();
    out.write_all(&strata_chain::svg(dot)?)?;
    out.flush()?;
    Ok(())
}

/// A plan file as `strata impact --json` wrote it.
fn read_plan(path: &std::path::Path) -> Result<Impact, Box<dyn std::error::Error>> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_PLAN_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_PLAN_BYTES {
        return Err(format!(
            "the plan {} is larger than {} MiB; it is not a plan `strata impact --json` wrote",
            path.display(),
            MAX_PLAN_BYTES >> 20
        )
        .into());
    }
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a plan as `strata impact --json` writes it: {e}",
            path.display()
        )
        .into()
    })
}

pub fn run_chain(args: ChainRunArgs) -> CliResult {
    let c = &args.compose;
    let config = Config::load(c.registry.config.as_deref())?;
    config.apply();
    let cache = cache_dir(c.cache_dir.as_deref(), false, &config);
    if args.pending {
        return run_pending(&args, &config, cache.as_deref());
    }
    let (found, watched) = match &args.plan {
        Some(path) => {
            let scm = scm_cache(&config, cache.as_deref())?;
            (read_plan(path)?, load_watched(&config, &scm)?)
        }
        None => {
            let registry = open_registry(&c.registry, &config)?;
            find_impact(
                &events(&args.events),
                &config,
                &*registry,
                cache.as_deref(),
                c.json,
            )?
        }
    };
    if args.dry_run {
        print_impact(&found, c.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut registry = open_registry(&c.registry, &config)?;
    let Some(chain) = start_chain(&found, &mut *registry)? else {
        if c.json {
            println!("null");
        } else {
            println!("Nothing to recompose: every module is up to date or left alone.");
            print!("{}", found.to_text());
        }
        return Ok(ExitCode::SUCCESS);
    };
    drop(registry);
    eprintln!("{}: {} steps", chain.id, found.plan.steps.len());
    execute(&chain.id, &watched, &config, c)
}

/// `chain run --pending`: the queued events as one chain, once their
/// debounce window has passed.
fn run_pending(args: &ChainRunArgs, config: &Config, cache: Option<&std::path::Path>) -> CliResult {
    let c = &args.compose;
    let scm = scm_cache(config, cache)?;
    let watched = load_watched(config, &scm)?;
    let mut registry = open_registry(&c.registry, config)?;
    let interrupt = Interrupt::new();
    let bar = Stages(progress_bar(!c.json));
    let taken = queue::take(
        &*registry,
        &watched,
        config,
        &ImpactOptions {
            cache_dir: cache,
            interrupt: &interrupt,
            progress: &bar,
        },
        strata_compose::queue_now(),
    );
    if let Some(pb) = &bar.0 {
        pb.finish_and_clear();
    }
    let taken = taken?;
    if taken.is_empty() {
        if c.json {
            println!("null");
        } else {
            println!("No events are queued.");
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Events that cannot be planned stay queued and are named every time,
    // without holding back the others; the run then ends with status 1.
    for u in &taken.unplannable {
        eprintln!("{u}");
    }
    for a in &taken.awaiting_repo {
        eprintln!("{a}");
    }
    let failed = if taken.unplannable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    for w in &taken.waiting {
        let n = w.queued.len();
        let seqs: Vec<String> = w.queued.iter().map(|q| q.seq.to_string()).collect();
        eprintln!(
            "{n} queued event{} wait{} until {} (debounce {} s after the newest; queued {}): \
             nothing of theirs runs yet",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" },
            fmt_time(w.until),
            w.window,
            seqs.join(", "),
        );
    }
    let Some((found, consumes)) = taken.ready else {
        if c.json {
            println!("null");
        }
        return Ok(failed);
    };
    if args.dry_run {
        print_impact(&found, c.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    // For tests that line up two takers of the same events: `PATH.held`
    // says this one has planned and holds while PATH exists.
    if let Some(value) = std::env::var_os("STRATA_TEST_PAUSE_BEFORE_CONSUME") {
        let mut held = value.clone();
        held.push(".held");
        let _ = std::fs::write(held, b"");
        strata_compose::Hold::parse(&value).wait(&interrupt);
    }
    let chain = match start_consuming(&found, &consumes, &mut *registry) {
        Ok(chain) => chain,
        Err(RunError::Taken { seq }) => {
            if c.json {
                println!("null");
            }
            println!(
                "The queued events were taken by another `strata chain run --pending` at the \
                 same time (event {seq} first): nothing to do here."
            );
            return Ok(failed);
        }
        Err(e) => return Err(e.into()),
    };
    drop(registry);
    eprintln!(
        "{}: {} steps, {} queued event{}",
        chain.id,
        found.plan.steps.len(),
        consumes.len(),
        if consumes.len() == 1 { "" } else { "s" }
    );
    if found.plan.steps.is_empty() {
        if c.json {
            print_chain(&chain, None, true)?;
        } else {
            println!("Nothing to recompose: every module is up to date or left alone.");
            print!("{}", found.to_text());
        }
        return Ok(failed);
    }
    let ran = execute(&chain.id, &watched, config, c)?;
    Ok(if ran == ExitCode::SUCCESS {
        failed
    } else {
        ran
    })
}

/// `strata chain drop`: take queued events off the queue.
pub fn drop_events(args: ChainDropArgs) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    config.apply();
    let mut registry = open_registry(&args.registry, &config)?;
    let dropped = queue::drop_events(&mut *registry, &args.seqs)?;
    for q in &dropped {
        let shown = serde_json::from_value::<Event>(q.event.clone())
            .map_or_else(|_| q.event.to_string(), |e| e.to_string());
        println!("dropped queued event {}: {}", q.seq, one_line(&shown));
    }
    Ok(ExitCode::SUCCESS)
}

/// `strata chain submit`: queue the events.
pub fn submit(args: ChainSubmitArgs) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    config.apply();
    let mut registry = open_registry(&args.registry, &config)?;
    let queued = queue::submit(
        &mut *registry,
        &events(&args.events),
        strata_compose::queue_now(),
    )?;
    let mut out = std::io::stdout().lock();
    if args.json {
        strata_compose::write_json(&mut out, &queued)?;
    } else {
        for q in &queued {
            writeln!(
                out,
                "queued event {}: {}",
                q.seq,
                one_line(&q.event.to_string())
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn resume_chain(args: ChainResumeArgs) -> CliResult {
    let c = &args.compose;
    let config = Config::load(c.registry.config.as_deref())?;
    config.apply();
    let cache = cache_dir(c.cache_dir.as_deref(), false, &config);
    let scm = scm_cache(&config, cache.as_deref())?;
    let watched = load_watched(&config, &scm)?;
    execute(&args.chain_id, &watched, &config, c)
}

/// Runs the chain's remaining steps, then prints it.
fn execute(chain_id: &str, watched: &Watched, config: &Config, c: &ChainComposeArgs) -> CliResult {
    let interrupt = Interrupt::new();
    stop_on_signals(&interrupt).map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let out = c
        .out
        .clone()
        .or_else(|| config.compose.out.clone())
        .ok_or(strata_compose::ComposeError::NoOut)?;
    let open =
        || strata_compose::open_registry(c.registry.registry.as_deref(), config).map_err(Box::new);
    let report = |line: &str| eprintln!("{}", one_line(line));
    let chain = run(
        chain_id,
        watched,
        config,
        &RunOptions {
            out,
            cache_dir: cache_dir(c.cache_dir.as_deref(), false, config),
            compose_type: c.compose_type.parse()?,
            metadata_only: c.metadata_only,
            test_timeout: Duration::from_secs(c.test_timeout),
            interrupt: interrupt.clone(),
            open_registry: &open,
            report: &report,
        },
    )?;
    print_chain(&chain, None, c.json)?;
    Ok(match chain.state {
        ChainState::Finished => ExitCode::SUCCESS,
        ChainState::Waiting => {
            for s in chain.steps.iter().filter(|s| s.state.as_str() == "waiting") {
                eprintln!(
                    "{}:{} waits for approval: strata chain approve {} {}:{}, then strata chain \
                     resume {}",
                    one_line(&s.name),
                    one_line(&s.stream),
                    chain.id,
                    one_line(&s.name),
                    one_line(&s.stream),
                    chain.id
                );
            }
            ExitCode::SUCCESS
        }
        ChainState::Stopped => {
            if let Some(signal) = interrupt.signal() {
                eprintln!(
                    "{} stopped by {}: strata chain resume {} continues it",
                    chain.id,
                    signal_name(signal),
                    chain.id
                );
                return Ok(ExitCode::from(u8::try_from(128 + signal).unwrap_or(255)));
            }
            ExitCode::from(1)
        }
        ChainState::Failed | ChainState::Running => ExitCode::from(1),
    })
}

/// A chain as text (or JSON, with what each compose records of it).
fn print_chain(
    chain: &ChainRecord,
    registry: Option<&dyn Registry>,
    json: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut out = std::io::stdout().lock();
    if json {
        match registry {
            Some(registry) => {
                strata_compose::write_json(&mut out, &strata_chain::chain_json(chain, registry)?)?
            }
            None => strata_compose::write_json(&mut out, chain)?,
        }
        return Ok(());
    }
    writeln!(out, "Chain: {}", one_line(&chain.id))?;
    writeln!(out, "State: {}", chain.state)?;
    let events: Vec<String> = serde_json::from_value::<Vec<Event>>(chain.events.clone())
        .map(|e| {
            e.iter()
                .map(|e| one_line(&e.to_string()).into_owned())
                .collect()
        })
        .unwrap_or_default();
    writeln!(out, "Cause: {}", events.join(", "))?;
    writeln!(out, "Created: {}", fmt_time(chain.created_at))?;
    if let Some(f) = chain.finished_at {
        writeln!(out, "Ended: {}", fmt_time(f))?;
    }
    writeln!(out, "Steps:")?;
    // The recorded plan says which steps build artifacts.
    let plan = serde_json::from_value::<strata_chain::Impact>(chain.plan.clone()).ok();
    for s in &chain.steps {
        let artifact = plan.as_ref().is_some_and(|p| {
            p.plan
                .steps
                .get(s.position)
                .is_some_and(|step| step.kind == strata_chain::NodeKind::Artifact)
        });
        let mut line = format!(
            "  {}. {}{}:{} {}",
            s.position + 1,
            if artifact { "artifact " } else { "" },
            one_line(&s.name),
            one_line(&s.stream),
            s.state
        );
        if let Some(id) = &s.compose_id {
            line.push_str(&format!(" {}", one_line(id)));
        }
        writeln!(out, "{line}")?;
        if let Some(by) = &s.approved_by {
            writeln!(out, "       approved by {}", one_line(by))?;
        }
        if let Some(r) = &s.reason {
            writeln!(out, "       {}", one_line(r))?;
        }
        if let (Some(registry), Some(id)) = (registry, &s.compose_id) {
            if let Ok(info) = registry.compose_chain_info(id) {
                for t in info.tests {
                    writeln!(out, "       test {}: {}", one_line(&t.name), t.state)?;
                }
            }
        }
    }
    Ok(())
}

pub fn list_chains(args: ChainListArgs) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    config.apply();
    let registry = open_read_only(&args.registry, &config)?;
    let chains = registry.list_chains(args.limit)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        strata_compose::write_json(&mut out, &chains)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = chains
        .iter()
        .map(|c| {
            let done = c.steps.iter().filter(|s| s.state.is_done()).count();
            let events: Vec<String> = serde_json::from_value::<Vec<Event>>(c.events.clone())
                .map(|e| e.iter().map(Event::to_string).collect())
                .unwrap_or_default();
            vec![
                one_line(&c.id).into_owned(),
                c.state.to_string(),
                fmt_time(c.created_at),
                format!("{done}/{}", c.steps.len()),
                one_line(&events.join(", ")).into_owned(),
            ]
        })
        .collect();
    write_table(
        &mut out,
        &["CHAIN", "STATE", "CREATED", "STEPS", "CAUSE"],
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

pub fn show_chain(args: ChainShowArgs) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    config.apply();
    let registry = open_read_only(&args.registry, &config)?;
    let chain = registry
        .get_chain(&args.chain_id)?
        .ok_or_else(|| format!("no chain `{}` in the registry", args.chain_id))?;
    print_chain(&chain, Some(&*registry), args.json)?;
    Ok(ExitCode::SUCCESS)
}

pub fn approve(args: ChainApproveArgs) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    config.apply();
    let mut registry = open_registry(&args.registry, &config)?;
    let by = args
        .by
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    registry.approve_step(&args.chain_id, &args.module, &by, strata_compose::now())?;
    println!(
        "{} of {} approved by {}: strata chain resume {} composes it",
        one_line(&args.module),
        one_line(&args.chain_id),
        one_line(&by),
        one_line(&args.chain_id)
    );
    Ok(ExitCode::SUCCESS)
}
