//! What a registry of many large composes costs: records N composes of
//! one stream, each with P packages per arch (a few changing from one
//! compose to the next, as in a nightly), then times the reads front ends
//! make. `bench/registry.py` runs it on SQLite and PostgreSQL and adds
//! the sizes on disk.
//!
//!     cargo run --release -p strata-registry --example registry_scale -- \
//!         LOCATION [--composes 300] [--packages 5000] [--arches 1]
//!
//! Prints one JSON object: seconds for writing, `list` (whole records),
//! `list_summaries`, `latest_good` and `latest_good_summary`.

use std::collections::BTreeMap;
use std::time::Instant;

use strata_registry::{
    ComposeType, Input, InputKind, ListFilter, NewCompose, Outcome, Outputs, Owner, PackagesByArch,
    RegistryLocation,
};

const SYLLABLES: [&str; 16] = [
    "lib", "py", "perl", "gnome", "kde", "x", "font", "ruby", "go", "rust", "tex", "qt", "gtk",
    "sys", "net", "data",
];

/// A package name that looks like a distribution's: `python3-gtkfont42`.
fn name(i: usize) -> String {
    let a = SYLLABLES[i % 16];
    let b = SYLLABLES[(i / 16) % 16];
    let c = SYLLABLES[(i / 256) % 16];
    let prefix = [
        "python3-", "perl-", "", "golang-", "rust-", "", "texlive-", "",
    ][i % 8];
    format!("{prefix}{a}{b}{c}{}", i % 97)
}

/// The packages of compose `n`: one in fifty gets a new release each time.
fn packages(n: usize, count: usize, arches: &[String]) -> PackagesByArch {
    arches
        .iter()
        .map(|arch| {
            let nevras = (0..count)
                .map(|i| {
                    let release = 1 + (n + i % 50) / 50;
                    let epoch = if i % 11 == 0 { 1 } else { 0 };
                    format!(
                        "{}-{epoch}:{}.{}.{}-{release}.fc40.{arch}",
                        name(i),
                        1 + i % 9,
                        i % 23,
                        i % 5
                    )
                })
                .collect();
            (arch.clone(), nevras)
        })
        .collect()
}

fn arg(args: &[String], flag: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == flag)
        .map(|i| args[i + 1].parse().expect("a number"))
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let location = args
        .first()
        .ok_or("usage: registry_scale LOCATION [options]")?;
    let composes = arg(&args, "--composes", 300);
    let count = arg(&args, "--packages", 5000);
    let arches: Vec<String> = ["x86_64", "aarch64", "ppc64le", "s390x"]
        [..arg(&args, "--arches", 1)]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let mut registry = strata_registry::open(&RegistryLocation::parse(location.as_ref())?)?;

    let start = Instant::now();
    for n in 0..composes {
        let started_at = 1_795_600_800 + 3600 * n as i64;
        let id = registry
            .begin(&NewCompose {
                scratch: None,
                name: "fedora-core".into(),
                stream: "40".into(),
                compose_type: ComposeType::Nightly,
                started_at,
                definition_path: "modules/fedora-core.yaml".into(),
                definition_digest:
                    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
                scm_ref: Some(format!(
                    "git+https://src.example/modules.git?fedora-core.yaml#{n:040x}"
                )),
                arches: arches.clone(),
                version: 4_020_261_125_100_000 + n as u64,
                context: "9edba152".into(),
                inputs: vec![Input {
                    kind: InputKind::KojiRepo,
                    name: "f40-build".into(),
                    ident: format!("{}", 6_034_451 + n),
                    location: format!("https://kojipkgs.example/repos/f40-build/{}", 6_034_451 + n),
                }],
                owner: Owner::current(),
                chain: None,
                required_tests: Vec::new(),
                artifact: None,
            })?
            .id;
        let path = format!("/srv/composes/{id}");
        registry.finish(
            &id,
            &Outcome::Finished {
                finished_at: started_at + 600,
                outputs: Outputs {
                    repos: arches
                        .iter()
                        .map(|a| (a.clone(), format!("{path}/{a}/os").into()))
                        .collect::<BTreeMap<_, _>>(),
                    path: path.into(),
                    build_id: None,
                },
                packages: packages(n, count, &arches),
                timings: serde_json::json!({"load_s": 1.5, "select_s": 0.2, "gate_s": 3.1}),
                modulemd: Default::default(),
            },
        )?;
    }
    let write = start.elapsed().as_secs_f64();

    let timed = |f: &dyn Fn() -> usize| {
        let start = Instant::now();
        let n = f();
        (start.elapsed().as_secs_f64(), n)
    };
    let all = ListFilter::default();
    let (list, n_full) = timed(&|| registry.list(&all).unwrap().len());
    let (summaries, n_summaries) = timed(&|| registry.list_summaries(&all).unwrap().len());
    assert_eq!((n_full, n_summaries), (composes, composes));
    let (latest, _) = timed(&|| {
        registry
            .latest_good("fedora-core", "40")
            .unwrap()
            .unwrap()
            .packages
            .len()
    });
    let (latest_summary, _) = timed(&|| {
        registry
            .latest_good_summary("fedora-core", "40")
            .unwrap()
            .unwrap()
            .package_counts
            .len()
    });
    println!(
        "{}",
        serde_json::json!({
            "composes": composes,
            "packages_per_arch": count,
            "arches": arches.len(),
            "write_s": write,
            "list_s": list,
            "list_summaries_s": summaries,
            "latest_good_s": latest,
            "latest_good_summary_s": latest_summary,
        })
    );
    Ok(())
}
