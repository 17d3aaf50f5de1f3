//! `load_verified_repo`: a published repository is loaded only while every
//! metadata file is still as its repomd.xml lists it, even when the parsed
//! repository is in the cache (which is keyed by primary.xml's checksum
//! alone and so would not notice).

mod common;

use common::*;
use strata_repodata::{load_repo, load_verified_repo, LoadOptions};

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
    let (verified, repomd) = load_verified_repo("layer", &location, &opts).unwrap();
    assert_eq!(nevras(&verified), nevras(&plain));
    assert_eq!(verified.checksum, plain.checksum);
    assert!(repomd.get("filelists").is_some());

    // Damage a file other than primary.xml: the cached repository is still
    // found, only the check notices.
    let href = repomd.get("filelists").unwrap().href.clone();
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
