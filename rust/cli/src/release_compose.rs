//! `strata release compose`, `strata release diff`, `strata releases
//! list|show`: argument
//! handling and printing; the work and the renderings are strata-release's.
//! Apart from release.rs (the check), which the upgrade check extends.

use super::compose::{compose_setup, ended, Bar, Setup};
use super::composes::open_read_only;
use super::{ReleaseComposeArgs, ReleaseDiffArgs, ReleasesListArgs, ReleasesShowArgs};
use std::io::Write;
use std::process::ExitCode;
use strata_compose::Config;
use strata_release::{
    compose_release, release_diff, release_text, releases_table, ComposeOptions, ReleaseComposed,
};

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

pub fn run_compose(args: ReleaseComposeArgs) -> CliResult {
    let Setup {
        interrupt,
        config,
        mut registry,
        out,
    } = compose_setup(&args.registry, args.out.as_deref())?;
    let opts = ComposeOptions {
        check: args.check.into(),
        out,
        compose_type: args.compose_type.parse()?,
        verify_payloads: args.verify_payloads,
        scm_ref: args
            .scm_ref
            .or_else(|| strata_compose::detect_scm_ref(&args.release)),
    };
    let bar = Bar(super::progress_bar(!args.json));
    let outcome = compose_release(
        &args.release,
        &config,
        &mut *registry,
        &opts,
        &interrupt,
        &bar,
    );
    let outcome = match ended(&bar, outcome, &interrupt)? {
        Ok(outcome) => outcome,
        Err(stopped) => return Ok(stopped),
    };
    let mut out = std::io::stdout().lock();
    match outcome {
        ReleaseComposed::Refused(report) => {
            if args.json {
                strata_compose::write_json(
                    &mut out,
                    &serde_json::json!({"report": report, "release": null}),
                )?;
            } else {
                out.write_all(report.to_text().as_bytes())?;
                writeln!(
                    out,
                    "Nothing was composed: the release check found problems."
                )?;
            }
            Ok(ExitCode::from(1))
        }
        ReleaseComposed::Composed { report, record } => {
            if args.json {
                strata_compose::write_json(
                    &mut out,
                    &serde_json::json!({"report": report, "release": record}),
                )?;
            } else {
                out.write_all(release_text(&record).as_bytes())?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read_only(
    args: &super::RegistryArgs,
) -> Result<Box<dyn strata_registry::Registry>, Box<dyn std::error::Error>> {
    let config = Config::load(args.config.as_deref())?;
    config.apply();
    open_read_only(args, &config)
}

pub fn run_list(args: ReleasesListArgs) -> CliResult {
    let registry = read_only(&args.registry)?;
    let records = registry.list_releases(args.limit)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        strata_compose::write_json(&mut out, &records)?;
    } else {
        out.write_all(releases_table(&records).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_show(args: ReleasesShowArgs) -> CliResult {
    let registry = read_only(&args.registry)?;
    let Some(record) = registry.get_release(&args.release_id)? else {
        return Err(format!("no release compose `{}` in the registry", args.release_id).into());
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        strata_compose::write_json(&mut out, &record)?;
    } else {
        out.write_all(release_text(&record).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_diff(args: ReleaseDiffArgs) -> CliResult {
    let registry = read_only(&args.registry)?;
    let diff = release_diff(&*registry, &args.from, &args.to)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        strata_compose::write_json(&mut out, &diff)?;
    } else {
        out.write_all(diff.to_text().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
