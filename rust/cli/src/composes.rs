//! `strata composes abandon|prune`, the registry's upkeep, and what every
//! printer of records shares: opening the registry for reading only, and
//! showing free text on one line. The rules are in strata-registry
//! (`Owner::liveness`, `prune::plan`, `prune::output_action`).

use std::io::Write;
use std::process::ExitCode;

use strata_compose::{open_registry, open_registry_read_only, Config};
use strata_registry::prune::OutputAction;
use strata_registry::{ListFilter, Liveness, Owner, PrunePolicy, Registry, State};

use super::{ComposesAbandonArgs, ComposesPruneArgs, RegistryArgs};

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// The registry for a command that only reads: nothing is created (a
/// mistyped `--registry` is an error, not a new empty registry), and a
/// read-only file, folder or database role works.
pub fn open_read_only(
    args: &RegistryArgs,
    config: &Config,
) -> Result<Box<dyn Registry>, Box<dyn std::error::Error>> {
    Ok(open_registry_read_only(args.registry.as_deref(), config)?)
}

fn open_writable(
    args: &RegistryArgs,
    config: &Config,
) -> Result<Box<dyn Registry>, Box<dyn std::error::Error>> {
    Ok(open_registry(args.registry.as_deref(), config)?)
}

pub use strata_model::one_line;

/// Writes [`strata_model::table`].
pub fn write_table(
    out: &mut impl Write,
    header: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    out.write_all(strata_model::table(header, rows).as_bytes())
}

pub fn run_abandon(args: ComposesAbandonArgs) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    let mut registry = open_writable(&args.registry, &config)?;
    let here = Owner::current();
    let mut out = std::io::stdout().lock();
    // `ID abandoned: its process 1234 on builder1 is gone`.
    let print = |out: &mut dyn Write, id: &str, error: Option<&str>| {
        writeln!(out, "{id} {}", one_line(error.unwrap_or_default()))
    };
    let Some(id) = &args.compose_id else {
        for rec in registry.abandon_dead(None)? {
            print(&mut out, &rec.id, rec.error.as_deref())?;
        }
        // Release composes too: one sweep ends every record a dead
        // process left started.
        for rec in registry.abandon_dead_releases()? {
            print(&mut out, &rec.id, rec.error.as_deref())?;
        }
        // Say why the others stay, so nobody wonders.
        let started = registry.list_summaries(&ListFilter {
            state: Some(State::Started),
            ..Default::default()
        })?;
        let releases = registry.started_releases()?;
        let left = started
            .iter()
            .map(|s| (&s.id, &s.owner))
            .chain(releases.iter().map(|r| (&r.id, &r.owner)));
        for (id, owner) in left {
            let liveness = Owner::liveness_of(owner.as_ref(), here.as_ref());
            eprintln!("left {id} started: {}", one_line(liveness.reason()));
        }
        return Ok(ExitCode::SUCCESS);
    };
    // A compose, or else a release compose: their IDs never collide.
    let (release, state, owner) = match registry.get(id)? {
        Some(rec) => (false, rec.state, rec.owner),
        None => match registry.get_release(id)? {
            Some(rec) => (true, rec.state, rec.owner),
            None => {
                return Err(format!("no compose or release compose `{id}` in the registry").into())
            }
        },
    };
    let what = if release {
        "release compose"
    } else {
        "compose"
    };
    if state != State::Started {
        return Err(format!(
            "{what} {id} is not started (it is {state}): there is nothing to abandon"
        )
        .into());
    }
    let reason = match Owner::liveness_of(owner.as_ref(), here.as_ref()) {
        Liveness::Gone(reason) => reason,
        other if args.force => format!("by hand with --force; {}", other.reason()),
        other => {
            return Err(format!(
                "{what} {id} is not provably abandoned: {}; pass --force to mark it failed \
                 anyway",
                other.reason()
            )
            .into())
        }
    };
    let error = if release {
        registry.abandon_release(id, &reason)?.error
    } else {
        registry.abandon(id, &reason)?.error
    };
    print(&mut out, id, error.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_prune(args: ComposesPruneArgs) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    let out_dir = match (&args.out, &config.compose.out) {
        (Some(out), _) | (None, Some(out)) => Some(out.clone()),
        (None, None) if args.delete_output => {
            return Err(
                "--delete-output needs the output folder: pass --out or set \
                        [compose] out"
                    .into(),
            )
        }
        (None, None) => None,
    };
    let now = jiff::Timestamp::now().as_second();
    let policy = PrunePolicy {
        keep_finished: args.keep,
        keep_failed_since: now - i64::from(args.keep_failed_days) * 86_400,
        pins: args
            .pins
            .iter()
            .map(|id| (id.clone(), "--pin".to_owned()))
            .collect(),
        keep_chains_since: now - i64::from(args.keep_chain_days) * 86_400,
    };
    let mut registry = open_writable(&args.registry, &config)?;
    let plan = registry.prune(&policy, args.dry_run)?;

    // Records first, then folders: a folder left behind by a failure is
    // harmless, a record pointing at a deleted folder is not.
    let mut failures = 0;
    let mut outputs = Vec::new();
    if args.delete_output {
        let out_dir = out_dir.as_deref().expect("checked above");
        for removed in &plan.removed {
            let action = strata_registry::prune::output_action(out_dir, &removed.compose);
            let done = match &action {
                OutputAction::Delete(path) if !args.dry_run => std::fs::remove_dir_all(path)
                    .map_err(|e| {
                        failures += 1;
                        format!("cannot delete {}: {e}", path.display())
                    }),
                _ => Ok(()),
            };
            outputs.push((removed.compose.id.clone(), action, done));
        }
    }

    let mut out = std::io::stdout().lock();
    if args.json {
        let outputs: Vec<_> = outputs
            .iter()
            .map(|(id, action, done)| output_json(id, action, done, args.dry_run))
            .collect();
        strata_compose::write_json(
            &mut out,
            &serde_json::json!({
                "dry_run": args.dry_run,
                "kept": plan.kept,
                "removed": plan.removed,
                "outputs": outputs,
                "chains": plan.chains,
            }),
        )?;
    } else {
        let (remove, delete) = if args.dry_run {
            ("would remove", "would delete")
        } else {
            ("removed", "deleted")
        };
        for r in &plan.removed {
            writeln!(out, "{remove} {}: {}", r.compose.id, r.because)?;
        }
        for r in &plan.chains.removed {
            writeln!(out, "{remove} chain {}: {r}", r.chain.id)?;
        }
        for (id, action, done) in &outputs {
            match (action, done) {
                (OutputAction::Delete(path), Ok(())) => {
                    writeln!(out, "{delete} {}", one_line(&path.display().to_string()))?
                }
                (OutputAction::Delete(_), Err(e)) => eprintln!("error: {}", one_line(e)),
                (OutputAction::Refuse { path, reason }, _) => eprintln!(
                    "left {} of {id}: {}",
                    one_line(&path.display().to_string()),
                    one_line(reason)
                ),
                (OutputAction::AlreadyGone(_) | OutputAction::NoOutput, _) => {}
            }
        }
        if args.dry_run {
            for k in &plan.kept {
                let because: Vec<String> = k.because.iter().map(|b| b.to_string()).collect();
                writeln!(out, "keep {}: {}", k.compose.id, because.join("; "))?;
            }
            for k in &plan.chains.kept {
                let because: Vec<String> = k.because.iter().map(|b| b.to_string()).collect();
                writeln!(out, "keep chain {}: {}", k.chain.id, because.join("; "))?;
            }
        }
        eprintln!(
            "{} {} compose record(s), kept {}; {} {} chain record(s), kept {}",
            remove,
            plan.removed.len(),
            plan.kept.len(),
            remove,
            plan.chains.removed.len(),
            plan.chains.kept.len()
        );
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn output_json(
    id: &str,
    action: &OutputAction,
    done: &Result<(), String>,
    dry_run: bool,
) -> serde_json::Value {
    let (path, what, reason) = match action {
        OutputAction::NoOutput => (None, "none", None),
        OutputAction::AlreadyGone(p) => (Some(p), "already_gone", None),
        OutputAction::Delete(p) => match done {
            Ok(()) if dry_run => (Some(p), "would_delete", None),
            Ok(()) => (Some(p), "deleted", None),
            Err(e) => (Some(p), "failed", Some(e.as_str())),
        },
        OutputAction::Refuse { path, reason } => (Some(path), "left", Some(reason.as_str())),
    };
    serde_json::json!({"compose_id": id, "path": path, "action": what, "reason": reason})
}
