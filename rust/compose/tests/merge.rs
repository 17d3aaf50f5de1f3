//! Merging published repositories (`merge_repositories`, what the Pungi
//! phase calls and the whole-stack repository of a stack is made with),
//! on composes of the bundled example modules.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use strata_compose::{
    compose_module, merge_repositories, read_repo_modules, stack_repos, ComposeError,
    ComposeRequest, Config, Interrupt, MergeOptions, Quiet,
};
use strata_modulemd::Document;
use strata_registry::{ComposeRecord, ComposeType, SqliteRegistry};
use strata_repodata::{write_repodata, LoadOptions, WriteOptions};

/// The example modules apache and php (a stack over apache), composed
/// from the bundled repositories into `dir`.
fn examples(dir: &Path) -> (ComposeRecord, ComposeRecord) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let config = dir.join("strata.toml");
    std::fs::write(
        &config,
        format!(
            // The whole-stack repository, to compare merge_repositories with.
            "[compose]\nstack_repo = \"merged\"\n[platform.f40]\nrepos = [\"{}\"]\n",
            examples.join("repos/base").display()
        ),
    )
    .unwrap();
    let config = Config::read(&config).unwrap();
    let mut registry = SqliteRegistry::open(&dir.join("registry.sqlite")).unwrap();
    let mut compose = |module: &str| {
        let req = ComposeRequest {
            definition: examples.join(format!("modules/{module}.yaml")),
            out: dir.join("out"),
            arches: vec![],
            compose_type: ComposeType::Nightly,
            metadata_only: false,
            verify_payloads: false,
            scm_ref: Some("test".into()),
            started_at: 1_795_600_800,
            cache_dir: None,
            with_composes: vec![],
            interrupt: Interrupt::new(),
            scratch: None,
            then_exits: false,
        };
        let result = compose_module(&req, &config, &mut registry, &Quiet).unwrap();
        assert!(result.published(), "{}", result.gate.to_text());
        result.record
    };
    (compose("apache"), compose("php"))
}

fn own_repo(rec: &ComposeRecord) -> PathBuf {
    rec.outputs.as_ref().unwrap().repos["x86_64"].clone()
}

fn package_files(repo: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![repo.join("Packages")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            } else {
                let rel = e.path().strip_prefix(repo).unwrap().display().to_string();
                out.insert(rel, e.metadata().unwrap().ino());
            }
        }
    }
    out
}

fn streams(repo: &Path) -> Vec<String> {
    read_repo_modules(&repo.display().to_string())
        .unwrap()
        .into_iter()
        .map(|d| match d {
            Document::Stream(s) => s.nsvc(),
            Document::Defaults(d) => format!("defaults {}", d.module),
            Document::Other { document, .. } => document,
        })
        .collect()
}

#[test]
fn merged_repositories_hold_every_package_and_stream_once() {
    let dir = tempfile::tempdir().unwrap();
    let (apache, php) = examples(dir.path());
    let php_stack = stack_repos(&php)["x86_64"].clone();
    let inputs = [php_stack.clone(), own_repo(&apache)];
    let dest = dir.path().join("variant/x86_64/os");
    let merged = merge_repositories(&inputs, &dest, &MergeOptions::default()).unwrap();
    assert_eq!(merged.path, dest);

    // apache's packages are in both inputs: once, from the first.
    let expected: BTreeMap<String, u64> = package_files(&php_stack);
    let got = package_files(&dest);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    // Hardlinked, not copied.
    assert_eq!(got, expected);
    for p in &merged.packages {
        assert!(got.contains_key(&p.href), "{p:?}");
        assert_eq!(p.from, php_stack.display().to_string());
    }
    assert_eq!(merged.packages.len(), got.len());

    // One repodata, read back as any repository.
    let repo = strata_repodata::load_repo(
        "merged",
        &dest.display().to_string(),
        &LoadOptions::default(),
    )
    .unwrap();
    let mut nevras: Vec<String> = repo.iter().map(|p| p.nevra_with_epoch()).collect();
    nevras.sort();
    let mut listed: Vec<String> = merged.packages.iter().map(|p| p.nevra.clone()).collect();
    listed.sort();
    assert_eq!(nevras, listed);

    // Each stream and each module's defaults once, though apache's
    // came from both inputs.
    let names = streams(&dest);
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("apache:2.4:"))
            .count(),
        1,
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| *n == "defaults apache").count(),
        1,
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.starts_with("php:8.2:")), "{names:?}");
    assert_eq!(merged.streams.len(), 2);
    assert!(merged
        .modules_href
        .as_deref()
        .unwrap()
        .ends_with("-modules.yaml.gz"));
    // Nothing was left beside it.
    let beside: Vec<_> = std::fs::read_dir(dest.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["os"]);
}

#[test]
fn two_packages_under_one_name_are_an_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let (apache, _) = examples(dir.path());
    let own = own_repo(&apache);
    // A copy of apache's repository whose metadata gives httpd another
    // checksum: another build under the same file name.
    let other = dir.path().join("other");
    let repo_id = other.display().to_string();
    let (repo, store) = strata_repodata::load_repo_with_records(
        "own",
        &own.display().to_string(),
        &LoadOptions::default(),
    )
    .unwrap();
    let all: Vec<u32> = (0..repo.len() as u32).collect();
    let mut records = store.get_many(&all).unwrap();
    let httpd = repo.iter().find(|p| p.name() == "httpd").unwrap();
    let sum = httpd.checksum().split_once(':').unwrap().1.to_string();
    let forged = "0".repeat(sum.len());
    for r in &mut records {
        r.primary = r.primary.replace(&sum, &forged);
        r.filelists = r.filelists.replace(&sum, &forged);
        r.other = r.other.replace(&sum, &forged);
    }
    write_repodata(&other, &records, &[], &WriteOptions::default()).unwrap();
    for href in package_files(&own).keys() {
        std::fs::create_dir_all(other.join(href).parent().unwrap()).unwrap();
        std::fs::hard_link(own.join(href), other.join(href)).unwrap();
    }

    let dest = dir.path().join("merged");
    let err =
        merge_repositories(&[own.clone(), other], &dest, &MergeOptions::default()).unwrap_err();
    let ComposeError::PackageConflict {
        href,
        first,
        second,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(
        href.ends_with(".rpm") && href.contains("/httpd-2.4"),
        "{href}"
    );
    assert!(
        first.contains(&own.display().to_string()) && first.contains(&sum),
        "{err}"
    );
    assert!(
        second.contains(&repo_id) && second.contains(&forged),
        "{err}"
    );
    // Nothing half-written: no destination, no staging directory.
    assert!(!dest.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".merge-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_destination_must_be_new_or_empty() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("os");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("keep"), "x").unwrap();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/repos/base");
    let err = merge_repositories(&[input], &dest, &MergeOptions::default()).unwrap_err();
    assert!(
        matches!(err, ComposeError::MergeDestination { .. })
            && err.to_string().contains("not empty"),
        "{err}"
    );
    assert!(dest.join("keep").exists());
    let err =
        merge_repositories(&[], &dir.path().join("new"), &MergeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no repositories"), "{err}");
}

#[test]
fn repositories_without_modules_merge_without_modules_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/repos");
    let dest = dir.path().join("os");
    let merged = merge_repositories(
        &[examples.join("apache"), examples.join("php")],
        &dest,
        &MergeOptions::default(),
    )
    .unwrap();
    assert_eq!(merged.modules_href, None);
    assert!(merged.streams.is_empty());
    assert!(read_repo_modules(&dest.display().to_string())
        .unwrap()
        .is_empty());
    let repo = strata_repodata::load_repo(
        "merged",
        &dest.display().to_string(),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(repo.len(), merged.packages.len());
}
