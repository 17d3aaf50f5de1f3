//! `load_verified_repo`: a published repository is loaded only while every
//! metadata file is still as its repomd.xml lists it, even when the parsed
//! repository is in the cache (which is keyed by primary.xml's checksum
//! alone and so would not notice).

mod common;

use common::*;
use strata_repodata::{
    load_recalled, load_repo, load_verified_repo, recall_verified, LayerIndex, LoadOptions,
};

#[test]
fn a_damaged_file_is_refused_though_the_cache_is_warm() {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("repo");
    copy_repo(std::path::Path::new(&example("f40-build")), &repo_dir);
    let location = repo_dir.display().to_string();
    let opts = LoadOptions {
        cache_dir: Some(dir.path().join("cache")),
        ..Default::default()
    };

    let plain = load_repo("layer", &location, &opts).unwrap();
    let (verified, mdtypes) = load_verified_repo("layer", &location, &opts).unwrap();
    assert_eq!(nevras(&verified), nevras(&plain));
    assert_eq!(verified.checksum, plain.checksum);
    assert!(mdtypes.iter().any(|t| t == "filelists"), "{mdtypes:?}");

    // Damage a file other than primary.xml: the cached repository is still
    // found, only the check notices.
    let repomd = std::fs::read_to_string(repo_dir.join("repodata/repomd.xml")).unwrap();
    let href = filelists_href(&repomd);
    let path = repo_dir.join(&href);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(b'\n');
    std::fs::write(&path, bytes).unwrap();
    assert!(load_repo("layer", &location, &opts).is_ok());
    let err = load_verified_repo("layer", &location, &opts).unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains(&href), "{shown}");

    // A removed file likewise.
    std::fs::remove_file(&path).unwrap();
    let shown = load_verified_repo("layer", &location, &opts)
        .unwrap_err()
        .to_string();
    assert!(shown.contains(&href), "{shown}");
}

/// The example repository copied to `dir/repo`, with a cache in
/// `dir/cache`: (its directory, its location, the cache, load options).
fn layer_with_cache(
    dir: &std::path::Path,
) -> (std::path::PathBuf, String, std::path::PathBuf, LoadOptions) {
    let repo_dir = dir.join("repo");
    copy_repo(std::path::Path::new(&example("f40-build")), &repo_dir);
    let location = repo_dir.display().to_string();
    let cache = dir.join("cache");
    let opts = LoadOptions {
        cache_dir: Some(cache.clone()),
        ..Default::default()
    };
    (repo_dir, location, cache, opts)
}

/// The href of filelists in a repomd.xml.
fn filelists_href(repomd: &str) -> String {
    let at = repomd.find("type=\"filelists\"").unwrap();
    let rest = &repomd[at..];
    let start = rest.find("href=\"").unwrap() + 6;
    let end = start + rest[start..].find('"').unwrap();
    rest[start..end].to_string()
}

#[test]
fn a_remembered_repository_is_checked_again_once_touched() {
    let dir = tempfile::tempdir().unwrap();
    let (repo_dir, location, cache, opts) = layer_with_cache(dir.path());
    let memos = || {
        std::fs::read_dir(&cache)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("verified-")
            })
            .count()
    };
    // Files written this instant are not remembered (their times move in
    // clock ticks); older ones are.
    load_verified_repo("layer", &location, &opts).unwrap();
    assert_eq!(memos(), 0);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (first, _) = load_verified_repo("layer", &location, &opts).unwrap();
    assert_eq!(memos(), 1);
    let (again, mdtypes) = load_verified_repo("layer", &location, &opts).unwrap();
    assert_eq!(nevras(&again), nevras(&first));
    assert!(mdtypes.iter().any(|t| t == "primary"));

    // One byte changed in place, the size kept: checked again, refused.
    let repomd = std::fs::read_to_string(repo_dir.join("repodata/repomd.xml")).unwrap();
    let href = filelists_href(&repomd);
    let path = repo_dir.join(&href);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let shown = load_verified_repo("layer", &location, &opts)
        .unwrap_err()
        .to_string();
    assert!(shown.contains(&href), "{shown}");
}

#[test]
fn a_remembered_repository_is_recalled_with_its_index_without_loading_it() {
    let dir = tempfile::tempdir().unwrap();
    let (repo_dir, location, cache, opts) = layer_with_cache(dir.path());
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert!(recall_verified(&location, &opts).is_none());
    let (repo, mdtypes) = load_verified_repo("layer", &location, &opts).unwrap();
    let (recalled, stamps) = recall_verified(&location, &opts).expect("remembered and indexed");
    assert!(stamps.hold());
    assert_eq!(recalled.checksum, repo.checksum);
    assert_eq!(recalled.mdtypes, mdtypes);
    let index = &recalled.index;
    assert_eq!(index.packages, repo.len());
    let mut names: Vec<&str> = repo.iter().map(|p| p.name()).collect();
    names.sort();
    names.dedup();
    assert!(names.len() > 1, "{names:?}");
    assert_eq!(index.names().collect::<Vec<_>>(), names);
    // Every name a requirement could find in it, and not others.
    for p in repo.iter() {
        assert!(index.may_provide(p.name()));
        for d in p.provides() {
            assert!(index.may_provide(d.name()), "{}", d.name());
        }
        for f in p.files() {
            assert!(index.may_provide(f), "{f}");
        }
    }
    assert!(!index.may_provide("no-such-capability()(64bit)"));
    let loaded = load_recalled("layer", &location, &recalled, &opts).unwrap();
    assert_eq!(nevras(&loaded), nevras(&repo));

    // Its cache entry pruned meanwhile: loaded from its files.
    for e in std::fs::read_dir(&cache).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "repo") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let loaded = load_recalled("layer", &location, &recalled, &opts).unwrap();
    assert_eq!(nevras(&loaded), nevras(&repo));

    // A memo written before layers were indexed is read, and written again
    // with the index by the next load.
    let memo = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("verified-")
        })
        .unwrap();
    let text = std::fs::read_to_string(&memo).unwrap();
    let old: String = text
        .replacen("strata-verified 2", "strata-verified 1", 1)
        .lines()
        .filter(|l| {
            !["index ", "names", "provides"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&memo, old).unwrap();
    assert!(recall_verified(&location, &opts).is_none());
    let (again, _) = load_verified_repo("layer", &location, &opts).unwrap();
    assert_eq!(nevras(&again), nevras(&repo));
    assert_eq!(
        recall_verified(&location, &opts).unwrap().0.index,
        recalled.index
    );

    // Touched: the memo still reads as it did, but its stamps no longer
    // hold, and nothing is loaded from it.
    let repomd = repo_dir.join("repodata/repomd.xml");
    let bytes = std::fs::read(&repomd).unwrap();
    std::fs::remove_file(&repomd).unwrap();
    std::fs::write(&repomd, bytes).unwrap();
    let (said, stamps) = recall_verified(&location, &opts).unwrap();
    assert_eq!(said.index, recalled.index);
    assert!(!stamps.hold());
    // The load checks every file again (all intact) and remembers them
    // as they are now: once they are old enough, the memo holds again.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (again, _) = load_verified_repo("layer", &location, &opts).unwrap();
    assert_eq!(nevras(&again), nevras(&repo));
    assert!(recall_verified(&location, &opts).unwrap().1.hold());
    assert!(LayerIndex::MAX_PACKAGES >= repo.len());
}
