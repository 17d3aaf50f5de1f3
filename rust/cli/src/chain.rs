//! `strata impact`: argument handling and printing; the work is in
//! strata-chain.

use super::composes::open_read_only;
use super::{progress_bar, ImpactArgs};
use std::io::Write;
use std::process::ExitCode;
use strata_chain::{impact, load_watched, scm_cache, Event, ImpactOptions};
use strata_compose::{Config, Interrupt, Progress};

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

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

/// The events of the command line, in the order of its options' kinds.
fn events(args: &ImpactArgs) -> Vec<Event> {
    let mut out = Vec::new();
    out.extend(
        args.build
            .iter()
            .map(|nvr| Event::Build { nvr: nvr.clone() }),
    );
    out.extend(args.tag.iter().map(|tag| Event::Tag { tag: tag.clone() }));
    out.extend(args.repo.iter().map(|l| Event::Repo {
        location: l.clone(),
    }));
    out.extend(
        args.compose
            .iter()
            .map(|id| Event::Compose { id: id.clone() }),
    );
    out.extend(args.definition.iter().map(|l| Event::Definition {
        location: l.clone(),
    }));
    out
}

pub fn run_impact(args: ImpactArgs) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    config.apply();
    let registry = open_read_only(&args.registry, &config)?;
    let cache_dir = if args.no_cache {
        None
    } else {
        args.cache_dir
            .clone()
            .or_else(|| config.compose.cache_dir.clone())
            .or_else(strata_repodata::default_cache_dir)
    };
    let scm = scm_cache(&config, cache_dir.as_deref())?;
    let watched = load_watched(&config, &scm)?;
    let interrupt = Interrupt::new();
    let bar = Stages(progress_bar(!args.json));
    let found = impact(
        &events(&args),
        &watched,
        &config,
        &*registry,
        &ImpactOptions {
            cache_dir: cache_dir.as_deref(),
            interrupt: &interrupt,
            progress: &bar,
        },
    );
    if let Some(pb) = &bar.0 {
        pb.finish_and_clear();
    }
    let found = found?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &found)?;
        writeln!(out)?;
    } else {
        out.write_all(found.to_text().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
