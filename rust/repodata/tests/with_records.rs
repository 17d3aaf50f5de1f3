//! `load_repo_with_records` against the two calls it stands for:
//! `load_repo` then `open_records` give the same repository, the same
//! records, the same cache files and the same errors.

mod common;

use common::*;
use std::path::Path;
use strata_repodata::{
    load_repo, load_repo_with_records, open_records, LoadOptions, RecordStore, Repo, RepodataError,
    Result,
};

fn cache_opts(dir: &Path) -> LoadOptions {
    LoadOptions {
        cache_dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

fn two_step(id: &str, location: &str, opts: &LoadOptions) -> Result<(Repo, RecordStore)> {
    let repo = load_repo(id, location, opts)?;
    let store = open_records(&repo, opts)?;
    Ok((repo, store))
}

/// Every field of two repositories, string by string.
fn assert_same_repo(a: &Repo, b: &Repo) {
    assert_eq!(
        (&a.id, &a.location, &a.checksum),
        (&b.id, &b.location, &b.checksum)
    );
    assert_eq!(a.strings.len(), b.strings.len());
    for i in 0..a.strings.len() as u32 {
        assert_eq!(a.str(i), b.str(i), "string {i}");
    }
    let bytes = |v: &[strata_repodata::PkgRec]| bytemuck::cast_slice::<_, u8>(v).to_vec();
    assert!(bytes(&a.packages) == bytes(&b.packages), "packages differ");
    assert_eq!(a.deps, b.deps);
    assert_eq!(a.files, b.files);
}

fn assert_same_records(a: &RecordStore, b: &RecordStore, indices: &[u32]) {
    assert_eq!(a.len(), b.len());
    assert_eq!(a.get_many(indices).unwrap(), b.get_many(indices).unwrap());
}

/// The files of a cache directory, by name.
fn cache_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// The error both ways, which must be the same.
fn same_error(location: &str) -> RepodataError {
    let a = two_step("x", location, &LoadOptions::default()).unwrap_err();
    let b = load_repo_with_records("x", location, &LoadOptions::default()).unwrap_err();
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(
        std::mem::discriminant(&a),
        std::mem::discriminant(&b),
        "{a:?} / {b:?}"
    );
    b
}

#[test]
fn bookworm_is_the_same_both_ways_and_so_are_the_caches() {
    let data = bookworm().display().to_string();
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (repo_a, store_a) = two_step("bookworm", &data, &cache_opts(one.path())).unwrap();
    let (repo_b, store_b) =
        load_repo_with_records("bookworm", &data, &cache_opts(two.path())).unwrap();
    assert!(!store_b.from_cache());
    assert_same_repo(&repo_a, &repo_b);
    let pick: Vec<u32> = (0..repo_a.len() as u32)
        .step_by(997)
        .chain([63_439])
        .collect();
    assert_same_records(&store_a, &store_b, &pick);
    // Byte for byte the same cache files: the same records, blocks and
    // dictionaries, and the same parsed repository.
    assert_eq!(cache_files(one.path()), cache_files(two.path()));

    let (warm_repo, warm) =
        load_repo_with_records("bookworm", &data, &cache_opts(two.path())).unwrap();
    assert!(warm.from_cache());
    assert_same_repo(&repo_a, &warm_repo);
    assert_same_records(&store_a, &warm, &pick);
}

#[test]
fn a_small_repository_is_the_same_both_ways() {
    let location = source_repo();
    let (repo_a, store_a) = two_step("src", &location, &LoadOptions::default()).unwrap();
    let (repo_b, store_b) =
        load_repo_with_records("src", &location, &LoadOptions::default()).unwrap();
    assert_same_repo(&repo_a, &repo_b);
    let all: Vec<u32> = (0..repo_a.len() as u32).collect();
    assert_same_records(&store_a, &store_b, &all);
    assert!(store_b.cache_file().is_none());

    // Only one of the two caches there: the other is made, the same.
    let cache = tempfile::tempdir().unwrap();
    let opts = cache_opts(cache.path());
    let (_, first) = load_repo_with_records("src", &location, &opts).unwrap();
    let records_file = first.cache_file().unwrap().to_path_buf();
    drop(first);
    let both = cache_files(cache.path());
    assert_eq!(both.len(), 2);
    for name in [both[0].0.clone(), both[1].0.clone()] {
        std::fs::remove_file(cache.path().join(&name)).unwrap();
        let (repo, store) = load_repo_with_records("src", &location, &opts).unwrap();
        assert_eq!(store.from_cache(), cache.path().join(&name) != records_file);
        assert_same_repo(&repo_a, &repo);
        assert_same_records(&store_a, &store, &all);
        assert_eq!(cache_files(cache.path()), both);
    }
}

#[test]
fn without_filelists_or_other_the_records_are_the_same_minimal_ones() {
    let xml = gunzip(&md_file(Path::new(&source_repo()), "primary"));
    let dir = tempfile::tempdir().unwrap();
    make_repo(dir.path(), &xml, None, None);
    let location = dir.path().display().to_string();
    let (a_repo, a) = two_step("p", &location, &LoadOptions::default()).unwrap();
    let (b_repo, b) = load_repo_with_records("p", &location, &LoadOptions::default()).unwrap();
    assert_same_repo(&a_repo, &b_repo);
    let all: Vec<u32> = (0..a_repo.len() as u32).collect();
    assert_same_records(&a, &b, &all);
    assert!(b.get_many(&[0]).unwrap()[0]
        .other
        .ends_with("/>\n</package>"));
}

/// The metadata file of `mdtype` in a repository directory.
fn md_file(repo: &Path, mdtype: &str) -> std::path::PathBuf {
    let loc = strata_repodata::Location::parse(&repo.display().to_string());
    let href = strata_repodata::Repomd::load(&loc)
        .unwrap()
        .get(mdtype)
        .unwrap()
        .href
        .clone();
    repo.join(href)
}

#[test]
fn damaged_sources_give_the_same_errors() {
    let src = Path::new(&source_repo()).to_path_buf();
    let primary = gunzip(&md_file(&src, "primary"));
    let filelists = gunzip(&md_file(&src, "filelists"));
    let other = gunzip(&md_file(&src, "other"));

    // A damaged download: the checksum mismatch, not the XML, is reported.
    let dir = tempfile::tempdir().unwrap();
    copy_repo(&src, dir.path());
    let file = md_file(dir.path(), "primary");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let e = same_error(&dir.path().display().to_string());
    assert!(
        matches!(e.without_context(), RepodataError::Checksum { .. }),
        "{e}"
    );
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x40;
    std::fs::write(&file, &flipped).unwrap();
    let e = same_error(&dir.path().display().to_string());
    assert!(
        matches!(e.without_context(), RepodataError::Checksum { .. }),
        "{e}"
    );

    // The same for a damaged filelists.xml.
    let dir = tempfile::tempdir().unwrap();
    copy_repo(&src, dir.path());
    let file = md_file(dir.path(), "filelists");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 9]).unwrap();
    let e = same_error(&dir.path().display().to_string());
    assert!(
        matches!(e.without_context(), RepodataError::Checksum { .. }),
        "{e}"
    );

    let cases: Vec<(&str, String, Option<String>, Option<String>)> = vec![
        // Truncated XML that repomd.xml vouches for.
        (
            "file ends",
            primary[..primary.rfind("<package ").unwrap() + 30].to_string(),
            Some(filelists.clone()),
            Some(other.clone()),
        ),
        (
            "truncated",
            primary[..primary.rfind("</metadata>").unwrap()].to_string(),
            Some(filelists.clone()),
            Some(other.clone()),
        ),
        // Only the record cutter objects: a package without a pkgid.
        (
            "without a pkgid",
            strip_first_checksum(&primary),
            Some(filelists.clone()),
            Some(other.clone()),
        ),
        // Both object; the parser's complaint (later in the file) wins, as
        // it would when it ran first.
        (
            "without name, arch or version",
            strip_last_name(&strip_first_checksum(&primary)),
            Some(filelists.clone()),
            Some(other.clone()),
        ),
        // Not primary at all.
        (
            "no <metadata> element",
            "<other/>".to_string(),
            Some(filelists.clone()),
            None,
        ),
        // filelists disagrees with primary, or misses a package.
        (
            "`4`",
            primary.clone(),
            Some(filelists.replace(
                "<version epoch=\"1\" ver=\"2.0\" rel=\"3\"/>",
                "<version epoch=\"1\" ver=\"2.0\" rel=\"4\"/>",
            )),
            Some(other.clone()),
        ),
        (
            "gamma",
            primary.clone(),
            Some(filelists.clone()),
            Some(drop_record(&other, "name=\"gamma\"")),
        ),
        (
            "filelists.xml.gz",
            primary.clone(),
            Some(filelists[..filelists.len() - 5].to_string()),
            Some(other.clone()),
        ),
    ];
    for (want, p, f, o) in cases {
        let dir = tempfile::tempdir().unwrap();
        make_repo(dir.path(), &p, f.as_deref(), o.as_deref());
        let e = same_error(&dir.path().display().to_string()).to_string();
        assert!(e.contains(want), "{want}: {e}");
    }
}

#[test]
fn the_repository_cache_is_kept_when_only_the_records_fail() {
    let src = Path::new(&source_repo()).to_path_buf();
    let primary = strip_first_checksum(&gunzip(&md_file(&src, "primary")));
    let dir = tempfile::tempdir().unwrap();
    make_repo(dir.path(), &primary, None, None);
    let location = dir.path().display().to_string();
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    two_step("x", &location, &cache_opts(one.path())).unwrap_err();
    load_repo_with_records("x", &location, &cache_opts(two.path())).unwrap_err();
    let files = cache_files(two.path());
    assert_eq!(files.len(), 1, "the parsed repository only");
    assert_eq!(cache_files(one.path()), files);
}

fn strip_first_checksum(primary: &str) -> String {
    let s = primary.find("<checksum ").unwrap();
    let e = s + primary[s..].find("</checksum>").unwrap() + "</checksum>".len();
    format!("{}{}", &primary[..s], &primary[e..])
}

fn strip_last_name(primary: &str) -> String {
    let s = primary.rfind("<name>").unwrap();
    let e = s + primary[s..].find("</name>").unwrap() + "</name>".len();
    format!("{}{}", &primary[..s], &primary[e..])
}

fn drop_record(xml: &str, needle: &str) -> String {
    let at = xml.find(needle).unwrap();
    let s = xml[..at].rfind("<package ").unwrap();
    let e = at + xml[at..].find("</package>").unwrap() + "</package>".len();
    format!("{}{}", &xml[..s], &xml[e..])
}

#[test]
fn loads_of_one_repository_at_once_share_the_parse() {
    let location = source_repo();
    let (want, want_store) = two_step("src", &location, &LoadOptions::default()).unwrap();
    let all: Vec<u32> = (0..want.len() as u32).collect();
    let want_records = want_store.get_many(&all).unwrap();
    for round in 0..4 {
        let cache = tempfile::tempdir().unwrap();
        let opts = cache_opts(cache.path());
        let start = std::sync::Barrier::new(3);
        let (a, b, c) = std::thread::scope(|s| {
            let a = s.spawn(|| {
                start.wait();
                load_repo("a", &location, &opts).unwrap()
            });
            let b = s.spawn(|| {
                start.wait();
                load_repo_with_records("src", &location, &opts).unwrap()
            });
            start.wait();
            let c = load_repo("c", &location, &opts).unwrap();
            (a.join().unwrap(), b.join().unwrap(), c)
        });
        assert_eq!((a.id.as_str(), c.id.as_str()), ("a", "c"), "round {round}");
        for mut repo in [a, c] {
            repo.id = "src".into();
            assert_same_repo(&want, &repo);
        }
        assert_same_repo(&want, &b.0);
        assert_eq!(b.1.get_many(&all).unwrap(), want_records);
        assert_eq!(cache_files(cache.path()).len(), 2);
    }
}

#[test]
fn caches_that_cannot_be_written_only_cost_time() {
    let location = source_repo();
    let (want, want_store) = two_step("src", &location, &LoadOptions::default()).unwrap();
    let all: Vec<u32> = (0..want.len() as u32).collect();
    // The cache directory would be inside a regular file.
    let file = tempfile::NamedTempFile::new().unwrap();
    let opts = cache_opts(&file.path().join("cache"));
    for _ in 0..2 {
        let (repo, store) = load_repo_with_records("src", &location, &opts).unwrap();
        assert!(!store.from_cache());
        assert_same_repo(&want, &repo);
        assert_same_records(&want_store, &store, &all);
    }
}
