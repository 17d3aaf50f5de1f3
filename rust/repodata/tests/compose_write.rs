//! Writing a compose's repodata from a source's records, checked with our
//! reader and with real dnf.

mod common;

use common::*;
use std::path::Path;
use strata_repodata::{
    load_repo, open_records, write_repodata, write_repodata_parts, Compression, ExtraMetadata,
    LoadOptions, RecordsPart, Repo, Repomd, WriteOptions,
};

fn opts() -> WriteOptions {
    WriteOptions {
        compression: Compression::Gz,
        revision: "strata-test-1".into(),
        timestamp: 1_700_000_123,
    }
}

/// Loads `source`, writes the packages at `indices` (relocated) into
/// `out`, and returns the source.
fn compose(source: &str, indices: &[u32], out: &Path, extra: &[ExtraMetadata]) -> Repo {
    let repo = load_repo("src", source, &LoadOptions::default()).unwrap();
    let store = open_records(&repo, &LoadOptions::default()).unwrap();
    let records = relocated(&repo, store.get_many(indices).unwrap(), indices);
    write_repodata(out, &records, extra, &opts()).unwrap();
    repo
}

#[test]
fn subsets_of_the_example_repositories_read_back_the_same() {
    for (name, pick) in [
        ("base", vec![3u32, 0, 2]),
        ("apache", vec![4, 1]),
        ("f40-build", vec![1]),
    ] {
        let out = tempfile::tempdir().unwrap();
        let src = compose(&example(name), &pick, out.path(), &[]);
        let written = load_repo(
            "out",
            &out.path().display().to_string(),
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(written.len(), pick.len(), "{name}");
        // Records are written in the order given, so package k is pick[k].
        for (k, &i) in pick.iter().enumerate() {
            let (a, b) = (src.package(i), written.package(k as u32));
            assert_eq!(a.nevra().to_string(), b.nevra().to_string(), "{name}");
            assert_eq!(a.checksum(), b.checksum(), "{name}");
            assert_eq!(deps_of(&src, i), deps_of(&written, k as u32), "{name}");
            assert_eq!(b.location(), compose_href(&src, i), "{name}");
        }
        // dnf lists exactly the written packages.
        let mut listed = dnf_repoquery(
            out.path(),
            &["--qf", "%{name}-%{epoch}:%{version}-%{release}.%{arch}"],
        );
        listed.sort();
        assert_eq!(listed, nevras(&written), "{name}");
    }
}

#[test]
fn dnf_sees_the_same_requires_files_and_changelogs_as_in_the_source() {
    let source = source_repo();
    let repo = load_repo("src", &source, &LoadOptions::default()).unwrap();
    let alpha = repo.iter().find(|p| p.name() == "alpha").unwrap().index;
    let beta = repo.iter().find(|p| p.name() == "beta").unwrap().index;
    let out = tempfile::tempdir().unwrap();
    compose(&source, &[beta, alpha], out.path(), &[]);

    let mut listed = dnf_repoquery(
        out.path(),
        &["--qf", "%{name}-%{epoch}:%{version}-%{release}.%{arch}"],
    );
    listed.sort();
    assert_eq!(listed, ["alpha-0:1.0-2.noarch", "beta-1:2.0-3.noarch"]);

    let src = Path::new(&source);
    for query in [
        &["--requires", "alpha"][..],
        &["--provides", "alpha"],
        &["--conflicts", "alpha"],
        &["--obsoletes", "beta"],
        &["--list", "alpha"],
        &["--list", "beta"],
        &["--changelogs", "alpha"],
        &[
            "--qf",
            "%{summary}|%{description}|%{license}|%{size}",
            "alpha",
        ],
    ] {
        let theirs = dnf_repoquery(src, query);
        let ours = dnf_repoquery(out.path(), query);
        assert!(!theirs.is_empty(), "{query:?} says nothing on the source");
        assert_eq!(ours, theirs, "{query:?}");
    }
    // The file list really comes from filelists.xml: the path with `&`.
    assert!(dnf_repoquery(out.path(), &["--list", "alpha"])
        .contains(&"/usr/share/alpha/docs/read me & notes.txt".to_string()));
    let loc = dnf_repoquery(out.path(), &["--location", "alpha"]);
    assert_eq!(
        loc,
        [format!(
            "file://{}/Packages/a/alpha-1.0-2.noarch.rpm",
            out.path().display()
        )]
    );
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let source = source_repo();
    let extra = [ExtraMetadata {
        mdtype: "modules".into(),
        file_stem: "modules.yaml".into(),
        content: b"---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: alpha\n  stream: '1'\n...\n".to_vec(),
    }];
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    compose(&source, &[2, 0, 1], a.path(), &extra);
    compose(&source, &[2, 0, 1], b.path(), &extra);
    let (ta, tb) = (tree(a.path()), tree(b.path()));
    assert_eq!(
        ta.len(),
        5,
        "{:?}",
        ta.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    assert_eq!(ta, tb);
    // Another order is another repository.
    let c = tempfile::tempdir().unwrap();
    compose(&source, &[0, 1, 2], c.path(), &extra);
    assert_ne!(tree(c.path()), ta);
}

const MODULES_YAML: &str = r#"---
document: modulemd
version: 2
data:
  name: alpha
  stream: "1"
  version: 20240101
  context: c0ffee42
  arch: noarch
  summary: Alpha module
  description: Alpha module for tests
  license:
    module: [MIT]
  profiles:
    default:
      rpms: [alpha]
  artifacts:
    rpms:
    - alpha-0:1.0-2.noarch
    - beta-1:2.0-3.noarch
...
"#;

#[test]
fn modules_yaml_is_listed_in_repomd_and_dnf_reads_it() {
    let source = source_repo();
    let repo = load_repo("src", &source, &LoadOptions::default()).unwrap();
    let pick: Vec<u32> = repo
        .iter()
        .filter(|p| p.name() == "alpha" || p.name() == "beta")
        .map(|p| p.index)
        .collect();
    let out = tempfile::tempdir().unwrap();
    let extra = [ExtraMetadata {
        mdtype: "modules".into(),
        file_stem: "modules.yaml".into(),
        content: MODULES_YAML.as_bytes().to_vec(),
    }];
    compose(&source, &pick, out.path(), &extra);

    let loc = strata_repodata::Location::parse(&out.path().display().to_string());
    let repomd = Repomd::load(&loc).unwrap();
    assert_eq!(repomd.revision.as_deref(), Some("strata-test-1"));
    let types: Vec<&str> = repomd.entries.iter().map(|e| e.mdtype.as_str()).collect();
    assert_eq!(types, ["primary", "filelists", "other", "modules"]);
    let modules = repomd.get("modules").unwrap();
    assert!(modules.href.starts_with("repodata/") && modules.href.ends_with("-modules.yaml.gz"));
    let content = strata_repodata::read_metadata(&out.path().display().to_string(), "modules")
        .unwrap()
        .unwrap();
    assert_eq!(content, MODULES_YAML.as_bytes());
    let text = std::fs::read_to_string(out.path().join("repodata/repomd.xml")).unwrap();
    assert!(text.contains("<timestamp>1700000123</timestamp>"));
    assert!(text.contains("<open-checksum type=\"sha256\">"));

    let listed = dnf(out.path(), &["module", "list", "--repo", "local"]);
    assert!(
        listed
            .iter()
            .any(|l| l.starts_with("alpha") && l.contains(" 1 ")),
        "{listed:?}"
    );
}

#[test]
fn hostile_hrefs_are_escaped() {
    let source = example("base");
    let repo = load_repo("src", &source, &LoadOptions::default()).unwrap();
    let store = open_records(&repo, &LoadOptions::default()).unwrap();
    let hrefs = [
        "odd/a\"b.rpm",
        "odd/<c>.rpm",
        "odd/d&amp;e.rpm",
        "odd/f'g.rpm",
    ];
    let records: Vec<_> = store
        .get_many(&[0, 1, 2, 3])
        .unwrap()
        .into_iter()
        .zip(hrefs)
        .map(|(mut r, h)| {
            r.primary = strata_repodata::rewrite_location(&r.primary, h).unwrap();
            r
        })
        .collect();
    let out = tempfile::tempdir().unwrap();
    write_repodata(out.path(), &records, &[], &opts()).unwrap();
    let written = load_repo(
        "out",
        &out.path().display().to_string(),
        &LoadOptions::default(),
    )
    .unwrap();
    let locs: Vec<&str> = written.iter().map(|p| p.location()).collect();
    assert_eq!(locs, hrefs);
    let primary = written_file(out.path(), "primary");
    let xml = gunzip(&primary);
    assert!(
        xml.contains(r#"<location href="odd/a&quot;b.rpm"/>"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<location href="odd/&lt;c&gt;.rpm"/>"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<location href="odd/d&amp;amp;e.rpm"/>"#),
        "{xml}"
    );
    // dnf parses it and sees the same locations.
    let mut seen = dnf_repoquery(out.path(), &["--location"]);
    seen.sort();
    let base = format!("file://{}/", out.path().display());
    let mut want: Vec<String> = hrefs.iter().map(|h| format!("{base}{h}")).collect();
    want.sort();
    assert_eq!(seen, want);
}

fn written_file(repo: &Path, mdtype: &str) -> std::path::PathBuf {
    let loc = strata_repodata::Location::parse(&repo.display().to_string());
    let href = Repomd::load(&loc)
        .unwrap()
        .get(mdtype)
        .unwrap()
        .href
        .clone();
    repo.join(href)
}

#[test]
fn zstd_and_xz_repodata_read_back() {
    let source = source_repo();
    let repo = load_repo("src", &source, &LoadOptions::default()).unwrap();
    let store = open_records(&repo, &LoadOptions::default()).unwrap();
    let all: Vec<u32> = (0..repo.len() as u32).collect();
    let records = store.get_many(&all).unwrap();
    for (c, suffix, magic) in [
        (Compression::Zstd, ".zst", &[0x28u8, 0xb5, 0x2f, 0xfd][..]),
        (
            Compression::Xz,
            ".xz",
            &[0xfd, b'7', b'z', b'X', b'Z', 0][..],
        ),
    ] {
        let out = tempfile::tempdir().unwrap();
        let w = write_repodata(
            out.path(),
            &records,
            &[],
            &WriteOptions {
                compression: c,
                ..opts()
            },
        )
        .unwrap();
        for f in &w.files {
            assert!(f.href.ends_with(suffix), "{}", f.href);
            assert!(std::fs::read(&f.path).unwrap().starts_with(magic));
        }
        let back = load_repo(
            "out",
            &out.path().display().to_string(),
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(nevras(&back), nevras(&repo));
        let mut listed = dnf_repoquery(
            out.path(),
            &["--qf", "%{name}-%{epoch}:%{version}-%{release}.%{arch}"],
        );
        listed.sort();
        assert_eq!(listed, nevras(&repo), "dnf on {suffix}");
        assert_eq!(
            dnf_repoquery(out.path(), &["--list", "beta"]),
            dnf_repoquery(Path::new(&source), &["--list", "beta"])
        );
        // Our own store reads the written filelists and other again.
        let again = open_records(&back, &LoadOptions::default()).unwrap();
        assert_eq!(again.get_many(&all).unwrap(), records);
    }
}

#[test]
fn empty_composes_are_valid_repositories() {
    let out = tempfile::tempdir().unwrap();
    let w = write_repodata(out.path(), &[], &[], &opts()).unwrap();
    assert_eq!(w.files.len(), 3);
    assert_eq!(
        gunzip(&w.get("filelists").unwrap().path),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"0\">\n</filelists>"
    );
    let back = load_repo(
        "out",
        &out.path().display().to_string(),
        &LoadOptions::default(),
    )
    .unwrap();
    assert!(back.is_empty());
    assert!(dnf_repoquery(out.path(), &[]).is_empty());
}

#[test]
fn a_large_primary_compressed_on_several_threads_is_read_by_dnf_and_createrepo_c() {
    // 12,000 bookworm packages: about 18 MB of primary.xml, several gzip
    // blocks compressed side by side.
    let source = bookworm().display().to_string();
    let pick: Vec<u32> = (0..12_000).map(|i| i * 5).collect();
    let out = tempfile::tempdir().unwrap();
    compose(&source, &pick, out.path(), &[]);
    let primary = std::fs::read(written_file(out.path(), "primary")).unwrap();
    // ParallelGz's header (OS "unknown"), so this is the parallel writer's output.
    assert_eq!(primary[9], 255);
    let want = dnf_reads_what_was_written(out.path(), pick.len());
    // createrepo_c's library reads it whole: mergerepo_c writes it again.
    let merged = tempfile::tempdir().unwrap();
    let out_merge = std::process::Command::new("mergerepo_c")
        .args(["--no-database", "--repo"])
        .arg(format!("file://{}", out.path().display()))
        .arg("--outputdir")
        .arg(merged.path())
        .output()
        .expect("mergerepo_c (createrepo_c) runs");
    assert!(
        out_merge.status.success(),
        "{}",
        String::from_utf8_lossy(&out_merge.stderr)
    );
    let remerged = load_repo(
        "merged",
        &merged.path().display().to_string(),
        &LoadOptions::default(),
    )
    .unwrap();
    let mut again = nevras(&remerged);
    again.dedup();
    assert_eq!(again, want);
}

#[test]
fn a_merged_repository_with_a_large_kept_run_is_read_by_dnf() {
    // A whole-stack repository: 12,000 bookworm packages as one kept run
    // (about 18 MB of primary: one member deflated on several threads),
    // 300 more as a small one, each member kept for the next write.
    let source = bookworm().display().to_string();
    let repo = load_repo("src", &source, &LoadOptions::default()).unwrap();
    let store = open_records(&repo, &LoadOptions::default()).unwrap();
    let pick: Vec<u32> = (0..12_300).map(|i| i * 5).collect();
    let records = relocated(&repo, store.get_many(&pick).unwrap(), &pick);
    let cache = tempfile::tempdir().unwrap();
    let parts = [
        RecordsPart {
            range: 0..12_000,
            keep: Some((cache.path().to_path_buf(), "base-1.x86_64".into())),
        },
        RecordsPart {
            range: 12_000..12_300,
            keep: Some((cache.path().to_path_buf(), "own-1.x86_64".into())),
        },
    ];
    let out = tempfile::tempdir().unwrap();
    let cold = write_repodata_parts(out.path(), &records, &parts, &[], &opts()).unwrap();
    dnf_reads_what_was_written(out.path(), pick.len());
    // The same open text as in one piece; warm, the same bytes as cold.
    let single = tempfile::tempdir().unwrap();
    let one = write_repodata(single.path(), &records, &[], &opts()).unwrap();
    let again = tempfile::tempdir().unwrap();
    let warm = write_repodata_parts(again.path(), &records, &parts, &[], &opts()).unwrap();
    for ((c, w), o) in cold.files.iter().zip(&warm.files).zip(&one.files) {
        assert_eq!(c.open_checksum, o.open_checksum, "{}", c.mdtype);
        assert_eq!(w.checksum, c.checksum, "{}", c.mdtype);
    }
}

/// The repository written at `dir` holds `count` packages, and dnf lists
/// exactly their NEVRAs; returns them, sorted.
fn dnf_reads_what_was_written(dir: &std::path::Path, count: usize) -> Vec<String> {
    let written = load_repo("out", &dir.display().to_string(), &LoadOptions::default()).unwrap();
    assert_eq!(written.len(), count);
    let mut listed = dnf_repoquery(
        dir,
        &["--qf", "%{name}-%{epoch}:%{version}-%{release}.%{arch}"],
    );
    listed.sort();
    listed.dedup();
    let mut want = nevras(&written);
    want.dedup();
    assert_eq!(listed, want);
    want
}
