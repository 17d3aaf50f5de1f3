//! The record store: raw records as in the source, the cache file, damaged
//! caches, and sources that disagree with themselves.

mod common;

use common::*;
use std::path::Path;
use strata_repodata::{load_repo, open_records, LoadOptions, RepodataError};

fn cache_opts(dir: &Path) -> LoadOptions {
    LoadOptions {
        cache_dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
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

/// The `<package …>…</package>` elements of an open metadata file, in order.
fn source_records(xml: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(s) = xml[at..].find("<package ") {
        let s = at + s;
        let e = s + xml[s..].find("</package>").unwrap() + "</package>".len();
        out.push(&xml[s..e]);
        at = e;
    }
    out
}

#[test]
fn bookworm_records_are_the_source_bytes() {
    let data = bookworm();
    let cache = tempfile::tempdir().unwrap();
    let opts = cache_opts(cache.path());
    let repo = load_repo("bookworm", &data.display().to_string(), &opts).unwrap();
    assert_eq!(repo.len(), 63_440);
    let store = open_records(&repo, &opts).unwrap();
    assert!(!store.from_cache());
    assert_eq!(store.len(), repo.len());

    let primary = gunzip(&md_file(&data, "primary"));
    let filelists = gunzip(&md_file(&data, "filelists"));
    let other = gunzip(&md_file(&data, "other"));
    let (p, f, o) = (
        source_records(&primary),
        source_records(&filelists),
        source_records(&other),
    );
    assert_eq!(p.len(), repo.len());
    let mut pick: Vec<u32> = vec![0, 1, 2, 63, 64, 65, 4_095, 31_720, 63_438, 63_439];
    let mut x: u64 = 12345;
    for _ in 0..40 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        pick.push(((x >> 33) % repo.len() as u64) as u32);
    }
    let check = |got: &[strata_repodata::PackageRecords]| {
        for (r, &i) in got.iter().zip(&pick) {
            assert_eq!(r.primary, p[i as usize], "primary record {i}");
            let pkgid = repo.package(i).checksum().split_once(':').unwrap().1;
            let needle = format!("<package pkgid=\"{pkgid}\"");
            let fl = f.iter().find(|r| r.starts_with(&needle)).unwrap();
            let ot = o.iter().find(|r| r.starts_with(&needle)).unwrap();
            assert_eq!(&r.filelists, fl, "filelists record {i}");
            assert_eq!(&r.other, ot, "other record {i}");
        }
    };
    check(&store.get_many(&pick).unwrap());

    // Second open: from the cache file, same records.
    let warm = open_records(&repo, &opts).unwrap();
    assert!(warm.from_cache());
    check(&warm.get_many(&pick).unwrap());
}

#[test]
fn second_open_reads_the_cache_not_the_source() {
    let src = tempfile::tempdir().unwrap();
    copy_repo(Path::new(&source_repo()), src.path());
    let cache = tempfile::tempdir().unwrap();
    let opts = cache_opts(cache.path());
    let location = src.path().display().to_string();
    let repo = load_repo("src", &location, &LoadOptions::default()).unwrap();
    let all: Vec<u32> = (0..repo.len() as u32).collect();

    let first = open_records(&repo, &opts).unwrap();
    assert!(!first.from_cache());
    let path = first.cache_file().unwrap().to_path_buf();
    assert!(path.starts_with(cache.path()) && path.is_file());
    let records = first.get_many(&all).unwrap();

    // Without the metadata files only the cache can answer.
    for mdtype in ["primary", "filelists", "other"] {
        std::fs::remove_file(md_file(src.path(), mdtype)).unwrap();
    }
    let warm = open_records(&repo, &opts).unwrap();
    assert!(warm.from_cache());
    assert_eq!(warm.get_many(&all).unwrap(), records);
    // And without a cache there is nothing to read.
    let e = open_records(&repo, &LoadOptions::default()).unwrap_err();
    assert!(
        matches!(e.without_context(), RepodataError::Io { .. }),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("reading the primary metadata of repository `src`: cannot read `"),
        "{e}"
    );
}

#[test]
fn a_damaged_cache_file_is_rebuilt() {
    let location = source_repo();
    let repo = load_repo("src", &location, &LoadOptions::default()).unwrap();
    let all: Vec<u32> = (0..repo.len() as u32).collect();
    let cache = tempfile::tempdir().unwrap();
    let opts = cache_opts(cache.path());
    let first = open_records(&repo, &opts).unwrap();
    let records = first.get_many(&all).unwrap();
    let path = first.cache_file().unwrap().to_path_buf();
    let good = std::fs::read(&path).unwrap();

    // Cut short, garbage, or a wrong version: noticed on open.
    let mut wrong_version = good.clone();
    wrong_version[8] ^= 0xff;
    // A flipped byte in the index (just before the 32-byte footer): its
    // CRC no longer matches.
    let mut index_flipped = good.clone();
    index_flipped[good.len() - 40] ^= 0x01;
    for damaged in [
        good[..good.len() / 2].to_vec(),
        vec![7u8; 300],
        wrong_version,
        index_flipped,
    ] {
        std::fs::write(&path, &damaged).unwrap();
        let store = open_records(&repo, &opts).unwrap();
        assert!(!store.from_cache());
        assert_eq!(store.get_many(&all).unwrap(), records);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            good,
            "the cache file is written again"
        );
    }

    // A flipped byte inside a block: the index still validates, the block
    // does not, and the read rebuilds the store.
    let mut flipped = good.clone();
    flipped[40] ^= 0x55;
    std::fs::write(&path, &flipped).unwrap();
    let store = open_records(&repo, &opts).unwrap();
    assert!(store.from_cache());
    assert_eq!(store.get_many(&all).unwrap(), records);
    assert_eq!(std::fs::read(&path).unwrap(), good);
    assert!(open_records(&repo, &opts).unwrap().from_cache());
}

#[test]
fn get_many_keeps_order_and_repeats() {
    let repo = load_repo("src", &source_repo(), &LoadOptions::default()).unwrap();
    let store = open_records(&repo, &LoadOptions::default()).unwrap();
    let got = store.get_many(&[3, 0, 3]).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], got[2]);
    assert!(got[1]
        .primary
        .contains(&format!("<name>{}</name>", repo.package(0).name())));
    assert!(got[0]
        .filelists
        .contains(&format!("name=\"{}\"", repo.package(3).name())));
    assert!(store.get_many(&[]).unwrap().is_empty());
    let e = store.get_many(&[4]).unwrap_err().to_string();
    assert!(e.contains("index 4 is out of range"), "{e}");
}

#[test]
fn a_truncated_primary_is_an_error_naming_the_file() {
    let src = tempfile::tempdir().unwrap();
    copy_repo(Path::new(&source_repo()), src.path());
    let repo = load_repo(
        "src",
        &src.path().display().to_string(),
        &LoadOptions::default(),
    )
    .unwrap();
    let primary = md_file(src.path(), "primary");
    let bytes = std::fs::read(&primary).unwrap();
    std::fs::write(&primary, &bytes[..bytes.len() / 2]).unwrap();
    let e = open_records(&repo, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&primary.display().to_string()) && e.contains("mismatch"),
        "{e}"
    );

    // Truncated XML that repomd.xml vouches for: a different primary from
    // the one loaded, then (loaded afresh) a parse error naming the file.
    let xml = gunzip(&md_file(Path::new(&source_repo()), "primary"));
    let cut = &xml[..xml.rfind("<package ").unwrap() + 30];
    let fresh = tempfile::tempdir().unwrap();
    make_repo(fresh.path(), cut, None, None);
    let e = load_repo(
        "x",
        &fresh.path().display().to_string(),
        &LoadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("primary.xml.gz") && e.contains("file ends"),
        "{e}"
    );
    make_repo(src.path(), cut, None, None);
    let e = open_records(&repo, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("reload the repository"), "{e}");
}

#[test]
fn without_filelists_or_other_the_records_are_minimal() {
    let xml = gunzip(&md_file(Path::new(&source_repo()), "primary"));
    let dir = tempfile::tempdir().unwrap();
    make_repo(dir.path(), &xml, None, None);
    let repo = load_repo(
        "p",
        &dir.path().display().to_string(),
        &LoadOptions::default(),
    )
    .unwrap();
    let store = open_records(&repo, &LoadOptions::default()).unwrap();
    let beta = repo.iter().find(|p| p.name() == "beta").unwrap();
    let pkgid = beta.checksum().split_once(':').unwrap().1;
    let r = &store.get_many(&[beta.index]).unwrap()[0];
    let minimal = format!(
        "<package pkgid=\"{pkgid}\" name=\"beta\" arch=\"noarch\">\n  <version epoch=\"1\" ver=\"2.0\" rel=\"3\"/>\n</package>"
    );
    assert_eq!(r.filelists, minimal);
    assert_eq!(r.other, minimal);
    assert!(source_records(&xml).contains(&r.primary.as_str()));

    // Written out, dnf reads it: no files beyond primary's, no changelog.
    let out = tempfile::tempdir().unwrap();
    let all: Vec<u32> = (0..repo.len() as u32).collect();
    let records = relocated(&repo, store.get_many(&all).unwrap(), &all);
    strata_repodata::write_repodata(out.path(), &records, &[], &Default::default()).unwrap();
    assert_eq!(
        dnf_repoquery(out.path(), &["--qf", "%{name}"]).len(),
        repo.len()
    );
    let listed = dnf_repoquery(out.path(), &["--list", "beta"]);
    assert!(listed.iter().all(|l| l.is_empty()), "{listed:?}");
    assert!(!dnf_repoquery(Path::new(&source_repo()), &["--list", "beta"]).is_empty());
}

#[test]
fn filelists_or_other_disagreeing_with_primary_is_an_error() {
    let src = Path::new(&source_repo()).to_path_buf();
    let primary = gunzip(&md_file(&src, "primary"));
    let filelists = gunzip(&md_file(&src, "filelists"));
    let other = gunzip(&md_file(&src, "other"));

    // beta's filelists record claims another release.
    let dir = tempfile::tempdir().unwrap();
    let wrong = filelists.replace(
        "<version epoch=\"1\" ver=\"2.0\" rel=\"3\"/>",
        "<version epoch=\"1\" ver=\"2.0\" rel=\"4\"/>",
    );
    assert_ne!(wrong, filelists);
    make_repo(dir.path(), &primary, Some(&wrong), Some(&other));
    let repo = load_repo(
        "x",
        &dir.path().display().to_string(),
        &LoadOptions::default(),
    )
    .unwrap();
    let e = open_records(&repo, &LoadOptions::default()).unwrap_err();
    let fl = md_file(dir.path(), "filelists").display().to_string();
    assert!(
        matches!(e.without_context(), RepodataError::RecordMismatch { .. }),
        "{e}"
    );
    let e = e.to_string();
    // The action and the repository come first, then the file and the
    // problem.
    assert!(
        e.starts_with("reading the filelists metadata of repository `x`: `"),
        "{e}"
    );
    assert!(
        e.contains(&fl) && e.contains("beta-1:2.0-3.noarch") && e.contains("`4`"),
        "{e}"
    );

    // gamma has no other record.
    let records = source_records(&other);
    let gamma = records
        .iter()
        .find(|r| r.contains("name=\"gamma\""))
        .unwrap();
    let without = other.replace(gamma, "");
    let dir = tempfile::tempdir().unwrap();
    make_repo(dir.path(), &primary, Some(&filelists), Some(&without));
    let repo = load_repo(
        "x",
        &dir.path().display().to_string(),
        &LoadOptions::default(),
    )
    .unwrap();
    let e = open_records(&repo, &LoadOptions::default()).unwrap_err();
    assert!(
        matches!(e.without_context(), RepodataError::MissingRecord { .. }),
        "{e}"
    );
    let e = e.to_string();
    let ot = md_file(dir.path(), "other").display().to_string();
    assert!(e.contains(&ot) && e.contains("gamma-0.5-1.noarch"), "{e}");
}
