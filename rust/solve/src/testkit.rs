//! Test helpers: a seeded generator of random package sets, written as real
//! rpm-md repositories (strata_repodata's writer, createrepo_c's layout)
//! and loaded back the way the CLI loads them. Below every other module,
//! so any test may use it.

use std::fmt::Write as _;
use std::path::Path;
use strata_repodata::{LoadOptions, PackageRecords, Repo, WriteOptions};

/// A tiny deterministic generator (xorshift64), so random tests need no
/// dependency and a seed reproduces a failure.
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> XorShift {
        // Spread small seeds over the state; zero would stay zero.
        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).max(1))
    }

    /// A number below `n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// True one time in `n`.
    pub(crate) fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// One `<rpm:entry>`: a name (or a whole rich dependency), and for a
/// versioned one the flags and `epoch`, `ver`, `rel` attributes.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) name: String,
    /// `LT`, `LE`, `EQ`, `GE`, `GT`.
    pub(crate) flags: Option<&'static str>,
    pub(crate) epoch: Option<String>,
    pub(crate) ver: String,
    pub(crate) rel: Option<String>,
    pub(crate) pre: bool,
}

impl Entry {
    pub(crate) fn plain(name: &str) -> Entry {
        Entry {
            name: name.to_string(),
            flags: None,
            epoch: None,
            ver: String::new(),
            rel: None,
            pre: false,
        }
    }

    fn xml(&self, out: &mut String) {
        write!(out, "<rpm:entry name=\"{}\"", escape(&self.name)).unwrap();
        if let Some(flags) = self.flags {
            write!(out, " flags=\"{flags}\"").unwrap();
            if let Some(e) = &self.epoch {
                write!(out, " epoch=\"{e}\"").unwrap();
            }
            write!(out, " ver=\"{}\"", escape(&self.ver)).unwrap();
            if let Some(r) = &self.rel {
                write!(out, " rel=\"{}\"", escape(r)).unwrap();
            }
        }
        if self.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>");
    }
}

/// A package to write: its NEVRA, dependencies and files.
#[derive(Clone, Debug)]
pub(crate) struct Pkg {
    pub(crate) name: String,
    pub(crate) epoch: String,
    pub(crate) ver: String,
    pub(crate) rel: String,
    pub(crate) arch: String,
    /// Its own `name = epoch:ver-rel` comes first, as createrepo_c writes it.
    pub(crate) provides: Vec<Entry>,
    pub(crate) requires: Vec<Entry>,
    pub(crate) obsoletes: Vec<Entry>,
    pub(crate) files: Vec<String>,
}

impl Pkg {
    pub(crate) fn new(name: &str, epoch: &str, ver: &str, rel: &str, arch: &str) -> Pkg {
        let own = Entry {
            name: name.to_string(),
            flags: Some("EQ"),
            epoch: Some(epoch.to_string()),
            ver: ver.to_string(),
            rel: Some(rel.to_string()),
            pre: false,
        };
        Pkg {
            name: name.to_string(),
            epoch: epoch.to_string(),
            ver: ver.to_string(),
            rel: rel.to_string(),
            arch: arch.to_string(),
            provides: vec![own],
            requires: Vec::new(),
            obsoletes: Vec::new(),
            files: Vec::new(),
        }
    }

    /// `name-[epoch:]ver-rel.arch`, as reports print it.
    pub(crate) fn nevra(&self) -> String {
        let epoch = match self.epoch.as_str() {
            "" | "0" => String::new(),
            e => format!("{e}:"),
        };
        format!(
            "{}-{epoch}{}-{}.{}",
            self.name, self.ver, self.rel, self.arch
        )
    }
}

/// Paths createrepo_c puts in primary.xml; the others are in
/// filelists.xml only.
pub(crate) fn in_primary(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The three records of package number `i` of a repository.
fn records(i: usize, p: &Pkg) -> PackageRecords {
    let pkgid = format!("{i:064x}");
    let (name, arch) = (escape(&p.name), escape(&p.arch));
    let version = format!(
        "<version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
        escape(&p.epoch),
        escape(&p.ver),
        escape(&p.rel)
    );
    let mut primary = format!(
        "<package type=\"rpm\"><name>{name}</name><arch>{arch}</arch>{version}\
         <checksum type=\"sha256\" pkgid=\"YES\">{pkgid}</checksum>\
         <location href=\"{name}-{i}.rpm\"/><format>"
    );
    for (tag, list) in [
        ("provides", &p.provides),
        ("requires", &p.requires),
        ("obsoletes", &p.obsoletes),
    ] {
        if list.is_empty() {
            continue;
        }
        write!(primary, "<rpm:{tag}>").unwrap();
        for e in list {
            e.xml(&mut primary);
        }
        write!(primary, "</rpm:{tag}>").unwrap();
    }
    for f in p.files.iter().filter(|f| in_primary(f)) {
        write!(primary, "<file>{}</file>", escape(f)).unwrap();
    }
    primary.push_str("</format></package>");
    let mut filelists =
        format!("<package pkgid=\"{pkgid}\" name=\"{name}\" arch=\"{arch}\">{version}");
    for f in &p.files {
        write!(filelists, "<file>{}</file>", escape(f)).unwrap();
    }
    filelists.push_str("</package>");
    let other =
        format!("<package pkgid=\"{pkgid}\" name=\"{name}\" arch=\"{arch}\">{version}</package>");
    PackageRecords {
        primary,
        filelists,
        other,
    }
}

/// primary.xml and filelists.xml of `pkgs`, uncompressed, as
/// [`write_repo`] writes them (for libsolv's own parser).
pub(crate) fn documents(pkgs: &[Pkg]) -> (String, String) {
    let n = pkgs.len();
    let mut primary = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{n}\">\n"
    );
    let mut filelists = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{n}\">\n"
    );
    for (i, p) in pkgs.iter().enumerate() {
        let r = records(i, p);
        primary.push_str(&r.primary);
        primary.push('\n');
        filelists.push_str(&r.filelists);
        filelists.push('\n');
    }
    primary.push_str("</metadata>\n");
    filelists.push_str("</filelists>\n");
    (primary, filelists)
}

/// Writes `pkgs` as an rpm-md repository in `dir` and loads it as `id`
/// (no cache).
pub(crate) fn write_repo(dir: &Path, id: &str, pkgs: &[Pkg]) -> Repo {
    let records: Vec<PackageRecords> = pkgs
        .iter()
        .enumerate()
        .map(|(i, p)| records(i, p))
        .collect();
    strata_repodata::write_repodata(dir, &records, &[], &WriteOptions::default())
        .expect("writing a test repository");
    let location = dir.to_str().expect("a UTF-8 temporary path");
    strata_repodata::load_repo(id, location, &LoadOptions::default())
        .expect("loading a test repository")
}

/// What random package sets are made of.
const NAMES: [&str; 10] = ["a", "b", "c", "d", "e", "f", "g", "h", "lib-x", "py3_y"];
/// Provided only through `Provides:`, never as a package name.
const CAPS: [&str; 4] = ["cap", "mail", "font(sans)", "lib.so.1()(64bit)"];
/// Required, never provided.
const MISSING: [&str; 2] = ["nothere", "gone(x)"];
const EPOCHS: [&str; 4] = ["0", "0", "1", "2"];
/// Tilde sorts before anything, caret after the base but before the next
/// version, leading zeros and letters are compared as rpm does.
const VERSIONS: [&str; 11] = [
    "1",
    "1.0",
    "1.0~rc1",
    "1.0^post1",
    "1.0.1",
    "1.01",
    "1.1",
    "2",
    "2~1",
    "10",
    "1.a",
];
const RELEASES: [&str; 4] = ["1", "2", "1.fc40", "1~pre"];
const FLAGS: [&str; 5] = ["LT", "LE", "EQ", "GE", "GT"];
const ARCHES: [&str; 9] = [
    "noarch", "noarch", "x86_64", "x86_64", "i686", "i586", "athlon", "aarch64", "ppc64le",
];

/// A path some packages list, in primary.xml or only in filelists.xml.
fn path(rng: &mut XorShift) -> String {
    let x = rng.pick(&["a", "b", "c"]);
    match rng.below(5) {
        0 => format!("/usr/bin/{x}"),
        1 => format!("/etc/{x}.conf"),
        2 => format!("/usr/share/{x}/data"),
        3 => format!("/usr/lib64/lib{x}.so.1"),
        _ => format!("/usr/sbin/{x}d"),
    }
}

/// A version for a dependency: any mix of epoch and release.
fn dep_evr(rng: &mut XorShift) -> (Option<String>, String, Option<String>) {
    let epoch = match rng.below(4) {
        0 => Some(rng.pick(&EPOCHS).to_string()),
        _ => None,
    };
    let ver = rng.pick(&VERSIONS).to_string();
    let rel = (!rng.one_in(3)).then(|| rng.pick(&RELEASES).to_string());
    (epoch, ver, rel)
}

/// A plain or versioned dependency on a name, as an entry.
fn simple_entry(rng: &mut XorShift, names: &[&str]) -> Entry {
    let name = rng.pick(names);
    if rng.one_in(3) {
        return Entry::plain(name);
    }
    let (epoch, ver, rel) = dep_evr(rng);
    Entry {
        name: name.to_string(),
        flags: Some(rng.pick(&FLAGS)),
        epoch,
        ver,
        rel,
        pre: false,
    }
}

/// The same dependency inside a rich one: `name op [epoch:]ver[-rel]`.
fn simple_text(rng: &mut XorShift) -> String {
    let names: Vec<&str> = NAMES.iter().chain(&CAPS).chain(&MISSING).copied().collect();
    if rng.one_in(6) {
        return path(rng);
    }
    let e = simple_entry(rng, &names);
    let Some(flags) = e.flags else {
        return e.name;
    };
    let op = match flags {
        "LT" => "<",
        "LE" => "<=",
        "EQ" => "=",
        "GE" => ">=",
        _ => ">",
    };
    let mut evr = String::new();
    if let Some(epoch) = &e.epoch {
        write!(evr, "{epoch}:").unwrap();
    }
    evr.push_str(&e.ver);
    if let Some(rel) = &e.rel {
        write!(evr, "-{rel}").unwrap();
    }
    format!("{} {op} {evr}", e.name)
}

/// A rich dependency of every operator rpm knows, nested up to `depth`.
fn rich_text(rng: &mut XorShift, depth: usize) -> String {
    let operand = |rng: &mut XorShift| {
        if depth < 2 && rng.one_in(4) {
            rich_text(rng, depth + 1)
        } else {
            simple_text(rng)
        }
    };
    let (a, b) = (operand(rng), operand(rng));
    match rng.below(10) {
        0 => format!("({a} and {b})"),
        1 => format!("({a} or {b})"),
        2 => format!("({a} or {b} or {})", operand(rng)),
        3 => format!("({a} if {b})"),
        4 => format!("({a} if {b} else {})", operand(rng)),
        5 => format!("({a} unless {b})"),
        6 => format!("({a} unless {b} else {})", operand(rng)),
        7 => format!("({a} with {b})"),
        8 => format!("({a} without {b})"),
        _ => format!("({a} and {b} and {})", operand(rng)),
    }
}

/// A random package set of `n` packages: a small alphabet of names in
/// several versions and arches (multilib and foreign ones included),
/// versioned and unversioned provides of every relation, explicit file
/// provides, and requirements of every kind: plain, versioned, on files in
/// primary.xml or only in filelists.xml, rich, rpm's own, and missing.
pub(crate) fn random_packages(rng: &mut XorShift, n: usize) -> Vec<Pkg> {
    let provided: Vec<&str> = NAMES.iter().chain(&CAPS).copied().collect();
    let required: Vec<&str> = NAMES.iter().chain(&CAPS).chain(&MISSING).copied().collect();
    (0..n)
        .map(|_| {
            let mut p = Pkg::new(
                rng.pick(&NAMES),
                rng.pick(&EPOCHS),
                rng.pick(&VERSIONS),
                rng.pick(&RELEASES),
                rng.pick(&ARCHES),
            );
            for _ in 0..rng.below(3) {
                let mut e = simple_entry(rng, &provided);
                if e.flags.is_some() && !rng.one_in(4) {
                    // Most versioned provides say `=`; the rest any relation.
                    e.flags = Some("EQ");
                }
                p.provides.push(e);
            }
            if rng.one_in(10) {
                p.provides.push(Entry::plain(&path(rng)));
            }
            for _ in 0..rng.below(3) {
                p.files.push(path(rng));
            }
            for _ in 0..rng.below(6) {
                let mut e = match rng.below(10) {
                    0 | 1 => Entry::plain(&path(rng)),
                    2 | 3 => Entry::plain(&rich_text(rng, 0)),
                    4 => Entry::plain(rng.pick(&["rpmlib(CompressedFileNames)", "/opt/nobody"])),
                    _ => simple_entry(rng, &required),
                };
                e.pre = rng.one_in(8);
                p.requires.push(e);
            }
            p
        })
        .collect()
}
