//! Shared helpers for the integration tests: example repositories, a
//! source repository built with real rpmbuild and createrepo_c, and dnf
//! run against written repositories.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use strata_repodata::{PackageRecords, Repo};

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One of the bundled example repositories (createrepo_c metadata).
pub fn example(name: &str) -> String {
    crate_dir()
        .join("../../examples/repos")
        .join(name)
        .canonicalize()
        .expect("example repository")
        .display()
        .to_string()
}

/// The large dataset (63,440 packages); missing is a failure, not a skip.
pub fn bookworm() -> PathBuf {
    let p = std::env::var_os("STRATA_BOOKWORM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/datasets/debian-bookworm-main"));
    assert!(
        p.join("repodata/repomd.xml").is_file(),
        "dataset missing: {}",
        p.display()
    );
    p
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A repository built from test-data/compose-source.spec with rpmbuild and
/// createrepo_c: packages with files, changelogs, rich and versioned
/// dependencies and an epoch. Built once per test binary.
pub fn source_repo() -> String {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let top = dir.path().join("rpmbuild");
        for sub in ["BUILD", "RPMS", "SOURCES", "SPECS", "SRPMS", "BUILDROOT"] {
            std::fs::create_dir_all(top.join(sub)).unwrap();
        }
        run(Command::new("rpmbuild")
            .arg("--quiet")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .arg("-bb")
            .arg(crate_dir().join("test-data/compose-source.spec")));
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        run(Command::new("createrepo_c")
            .args([
                "--quiet",
                "--no-database",
                "--revision",
                "1700000000",
                "--set-timestamp-to-revision",
                "--outputdir",
            ])
            .arg(&repo)
            .arg(top.join("RPMS")));
        dir
    });
    dir.path().join("repo").display().to_string()
}

/// Runs `dnf repoquery --repo local ARGS` against the repository at
/// `repo` with a throwaway configuration and cache; returns stdout lines.
pub fn dnf_repoquery(repo: &Path, args: &[&str]) -> Vec<String> {
    dnf(repo, &[&["repoquery", "--repo", "local"], args].concat())
}

/// Runs dnf against the repository at `repo` only.
pub fn dnf(repo: &Path, args: &[&str]) -> Vec<String> {
    let work = tempfile::tempdir().expect("tempdir");
    for sub in ["repos.d", "cache", "log", "persist"] {
        std::fs::create_dir_all(work.path().join(sub)).unwrap();
    }
    let w = work.path().display();
    let conf = work.path().join("dnf.conf");
    std::fs::write(
        &conf,
        format!(
            "[main]\ngpgcheck=0\nreposdir={w}/repos.d\ncachedir={w}/cache\nlogdir={w}/log\npersistdir={w}/persist\nmodule_platform_id=platform:f40\n[local]\nname=local\nbaseurl=file://{}\n",
            repo.display()
        ),
    )
    .unwrap();
    let dnf = if Path::new("/usr/bin/dnf").exists() {
        "/usr/bin/dnf"
    } else {
        "dnf"
    };
    run(Command::new(dnf)
        .arg("-q")
        .arg("-c")
        .arg(&conf)
        .args([
            "--disableplugin=local",
            "--releasever=40",
            "--forcearch=x86_64",
        ])
        .args(args))
    .lines()
    .map(str::to_string)
    .collect()
}

/// `name-epoch:version-release.arch` of every package.
pub fn nevras(repo: &Repo) -> Vec<String> {
    let mut v: Vec<String> = repo.iter().map(|p| p.nevra_with_epoch()).collect();
    v.sort();
    v
}

/// A package's dependencies and primary file list, printed.
pub fn deps_of(repo: &Repo, index: u32) -> Vec<String> {
    let p = repo.package(index);
    let mut v: Vec<String> = Vec::new();
    v.extend(p.provides().map(|d| format!("P {d}")));
    v.extend(
        p.requires()
            .map(|d| format!("R {d}{}", if d.is_pre() { " (pre)" } else { "" })),
    );
    v.extend(p.conflicts().map(|d| format!("C {d}")));
    v.extend(p.obsoletes().map(|d| format!("O {d}")));
    v.extend(p.files().map(|f| format!("F {f}")));
    v
}

/// Where a compose places a package: `Packages/<first letter>/<file>`.
pub fn compose_href(repo: &Repo, index: u32) -> String {
    let p = repo.package(index);
    let file = p.location().rsplit('/').next().unwrap();
    format!("Packages/{}/{file}", &p.name()[..1])
}

/// The records of `indices` with their locations rewritten for a compose.
pub fn relocated(
    repo: &Repo,
    records: Vec<PackageRecords>,
    indices: &[u32],
) -> Vec<PackageRecords> {
    records
        .into_iter()
        .zip(indices)
        .map(|(mut r, &i)| {
            r.primary =
                strata_repodata::rewrite_location(&r.primary, &compose_href(repo, i)).unwrap();
            r
        })
        .collect()
}

/// All files under `dir` (relative name, bytes), sorted.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Copies a repository's `repodata/` into a new directory.
pub fn copy_repo(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst.join("repodata")).unwrap();
    for e in std::fs::read_dir(src.join("repodata")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join("repodata").join(e.file_name())).unwrap();
    }
}

/// Decompresses a gzip file.
pub fn gunzip(path: &Path) -> String {
    let mut s = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap()),
        &mut s,
    )
    .unwrap();
    s
}

/// Writes a repository whose metadata files hold the given XML texts
/// (gzip, with a matching repomd.xml). `None` leaves a type out.
pub fn make_repo(dir: &Path, primary: &str, filelists: Option<&str>, other: Option<&str>) {
    use sha2::Digest;
    use std::io::Write;
    let rd = dir.join("repodata");
    std::fs::create_dir_all(&rd).unwrap();
    let mut repomd = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\">\n");
    for (mdtype, text) in [
        ("primary", Some(primary)),
        ("filelists", filelists),
        ("other", other),
    ] {
        let Some(text) = text else { continue };
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        let sum = hex::encode(sha2::Sha256::digest(&bytes));
        let name = format!("{sum}-{mdtype}.xml.gz");
        std::fs::write(rd.join(&name), &bytes).unwrap();
        repomd.push_str(&format!(
            "<data type=\"{mdtype}\"><checksum type=\"sha256\">{sum}</checksum><location href=\"repodata/{name}\"/><size>{}</size></data>\n",
            bytes.len()
        ));
    }
    repomd.push_str("</repomd>\n");
    std::fs::write(rd.join("repomd.xml"), repomd).unwrap();
}
