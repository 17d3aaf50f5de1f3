//! `strata release check`: argument handling and printing; the work is in
//! strata-release.

use super::composes::open_read_only;
use super::ReleaseCheckArgs;
use std::io::Write;
use std::process::ExitCode;
use strata_compose::Config;
use strata_release::check_release;

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

pub fn run_check(args: ReleaseCheckArgs) -> CliResult {
    let config = Config::load(args.registry.config.as_deref())?;
    config.apply();
    let registry = open_read_only(&args.registry, &config)?;
    let report = check_release(&args.release, &config, &*registry, &args.check.into())?;
    let mut out = std::io::stdout().lock();
    if args.json {
        strata_compose::write_json(&mut out, &report)?;
    } else {
        out.write_all(report.to_text().as_bytes())?;
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
