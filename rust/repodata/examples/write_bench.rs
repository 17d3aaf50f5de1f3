//! Times writing a whole repository's metadata (gzip) from its records:
//! `cargo run --release -p strata-repodata --example write_bench -- REPO [RUNS]`.
//!
//! Every package of REPO in order, written by `write_repodata` (one
//! member per file) and by `write_repodata_parts` in 4 runs kept in a
//! cache directory (cold: every run compressed and kept; warm: every run
//! read back). Prints the median and minimum of RUNS (default 5) and the
//! sizes of primary, filelists and other.

use std::time::{Duration, Instant};
use strata_repodata::{
    load_repo, open_records, write_repodata, write_repodata_parts, LoadOptions, RecordsPart,
    WriteOptions, WrittenRepodata,
};

/// Median and minimum (the machine may be shared: the minimum is the
/// run least disturbed).
fn median(mut times: Vec<Duration>) -> String {
    times.sort();
    format!("{:?} (min {:?})", times[times.len() / 2], times[0])
}

fn sizes(w: &WrittenRepodata) -> String {
    ["primary", "filelists", "other"]
        .iter()
        .map(|t| {
            let f = w.get(t).expect("written");
            format!("{t} {} ({} open)", f.size, f.open_size)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let repo_path = args.next().ok_or("usage: write_bench REPO [RUNS]")?;
    let runs: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let cache = tempfile::tempdir()?;
    let opts = LoadOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    let repo = load_repo("src", &repo_path, &opts)?;
    let store = open_records(&repo, &opts)?;
    let all: Vec<u32> = (0..repo.len() as u32).collect();
    let recs = store.get_many(&all)?;
    println!("{} packages", recs.len());
    let write = WriteOptions {
        timestamp: 1,
        ..Default::default()
    };

    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let out = tempfile::tempdir()?;
        let t = Instant::now();
        let w = write_repodata(out.path(), &recs, &[], &write)?;
        times.push(t.elapsed());
        last = Some((out, w));
    }
    let (_out, w) = last.expect("one run");
    println!("write_repodata: median {}", median(times));
    println!("  {}", sizes(&w));

    let n = recs.len();
    let cut = [0, n / 2, 3 * n / 4, n - n / 16, n];
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..runs {
        let kept = tempfile::tempdir()?;
        let parts: Vec<RecordsPart> = cut
            .windows(2)
            .enumerate()
            .map(|(k, r)| RecordsPart {
                range: r[0]..r[1],
                keep: Some((kept.path().to_path_buf(), format!("run-{k}"))),
            })
            .collect();
        for times in [&mut cold, &mut warm] {
            let out = tempfile::tempdir()?;
            let t = Instant::now();
            let w = write_repodata_parts(out.path(), &recs, &parts, &[], &write)?;
            times.push(t.elapsed());
            last = Some((out, w));
        }
    }
    let (_out, w) = last.expect("one run");
    println!(
        "write_repodata_parts (4 kept runs): cold median {}, warm median {}",
        median(cold),
        median(warm)
    );
    println!("  {}", sizes(&w));
    Ok(())
}
