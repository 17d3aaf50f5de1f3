//! Baseline for the installability benchmark: one libsolv solve per
//! package, over the same pool `strata repoclosure --installable` builds.
//!
//! Usage: naive_installcheck [--fast] REPO_DIR [ARCH]

use strata_repodata::LoadOptions;
use strata_solve::InstallcheckMethod;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let fast = args.first().is_some_and(|a| a == "--fast");
    if fast {
        args.remove(0);
    }
    let Some(dir) = args.first() else {
        eprintln!("usage: naive_installcheck [--fast] REPO_DIR [ARCH]");
        std::process::exit(2);
    };
    let arch = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| strata_solve::host_arch().to_string());
    let opts = LoadOptions {
        cache_dir: strata_repodata::default_cache_dir(),
        ..Default::default()
    };
    let repo = strata_repodata::load_repo("repo", dir, &opts).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let method = if fast {
        InstallcheckMethod::Fast
    } else {
        InstallcheckMethod::Naive
    };
    let started = std::time::Instant::now();
    let report = strata_solve::installcheck(&[&repo], &arch, method).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    // A digest of the verdicts, so two runs can be compared for the same
    // answer, not just the same count.
    let mut names: Vec<&str> = report
        .uninstallable
        .iter()
        .map(|u| u.package.as_str())
        .collect();
    names.sort_unstable();
    let digest = names.iter().fold(0xcbf29ce484222325u64, |h, n| {
        n.bytes()
            .chain([b'\n'])
            .fold(h, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
    });
    println!(
        "{} checked, {} uninstallable (digest {digest:016x}), {:.2} s",
        report.checked,
        report.uninstallable.len(),
        started.elapsed().as_secs_f64()
    );
}
