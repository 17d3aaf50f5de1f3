//! Times the record store and the writer on a repository:
//! `cargo run --release -p strata-repodata --example records_bench -- REPO [N]`.

use std::time::Instant;
use strata_repodata::{load_repo, open_records, write_repodata, LoadOptions, WriteOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let repo_path = args.next().ok_or("usage: records_bench REPO [N]")?;
    let want: usize = args.next().map_or(Ok(5000), |s| s.parse())?;
    if let Ok(dir) = std::env::var("PROFILE_GET_MANY") {
        let opts = LoadOptions {
            cache_dir: Some(dir.into()),
            ..Default::default()
        };
        let repo = load_repo("src", &repo_path, &opts)?;
        let store = open_records(&repo, &opts)?;
        let n = repo.len() as u64;
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let indices: Vec<u32> = (0..want)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % n) as u32
            })
            .collect();
        let t = Instant::now();
        for _ in 0..30 {
            store.get_many(&indices)?;
        }
        println!("30 x get_many: {:?}", t.elapsed() / 30);
        let t = Instant::now();
        for _ in 0..30 {
            open_records(&repo, &opts)?;
        }
        println!("30 x open_records: {:?}", t.elapsed() / 30);
        return Ok(());
    }
    let t = Instant::now();
    let repo = load_repo("src", &repo_path, &LoadOptions::default())?;
    println!(
        "load_repo (no cache): {:?}, {} packages",
        t.elapsed(),
        repo.len()
    );

    let t = Instant::now();
    let store = open_records(&repo, &LoadOptions::default())?;
    println!("open_records cold, in memory: {:?}", t.elapsed());

    let cache = tempfile::tempdir()?;
    let opts = LoadOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    load_repo("src", &repo_path, &opts)?;
    for round in 0..3 {
        let t = Instant::now();
        let warm = load_repo("src", &repo_path, &opts)?;
        println!(
            "load_repo warm (round {round}): {:?}, {} packages",
            t.elapsed(),
            warm.len()
        );
    }
    let t = Instant::now();
    let built = open_records(&repo, &opts)?;
    let size = std::fs::metadata(built.cache_file().unwrap())?.len();
    println!(
        "open_records cold, writing the cache: {:?} ({size} bytes)",
        t.elapsed()
    );
    drop(built);
    let t = Instant::now();
    let warm = open_records(&repo, &opts)?;
    println!(
        "open_records warm: {:?} (from cache: {})",
        t.elapsed(),
        warm.from_cache()
    );

    // A fixed pseudo-random selection.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let n = repo.len() as u64;
    let indices: Vec<u32> = (0..want.min(repo.len()))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n) as u32
        })
        .collect();
    for (what, s) in [("cache file", &warm), ("memory", &store)] {
        for round in 0..3 {
            let t = Instant::now();
            let recs = s.get_many(&indices)?;
            let bytes: usize = recs
                .iter()
                .map(|r| r.primary.len() + r.filelists.len() + r.other.len())
                .sum();
            println!(
                "get_many {} from {what} (round {round}): {:?}, {bytes} bytes",
                indices.len(),
                t.elapsed()
            );
        }
    }
    let mut sorted = indices.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let sorted: Vec<u32> = sorted.into_iter().take(50).collect();
    let t = Instant::now();
    warm.get_many(&sorted)?;
    println!(
        "get_many {} from cache file: {:?}",
        sorted.len(),
        t.elapsed()
    );

    let recs = warm.get_many(&indices)?;
    let t = Instant::now();
    let mut moved = 0;
    for r in &recs {
        moved += strata_repodata::rewrite_location(&r.primary, "Packages/x/x.rpm")?.len();
    }
    println!(
        "rewrite_location {} records: {:?} ({moved} bytes)",
        recs.len(),
        t.elapsed()
    );
    let out = tempfile::tempdir()?;
    // KEEP_OUTPUT=DIR keeps the written repository for a look.
    let dest = std::env::var_os("KEEP_OUTPUT").map_or_else(|| out.path().to_path_buf(), Into::into);
    let t = Instant::now();
    write_repodata(&dest, &recs, &[], &WriteOptions::default())?;
    println!(
        "write_repodata {} packages (gz): {:?}",
        recs.len(),
        t.elapsed()
    );
    Ok(())
}
