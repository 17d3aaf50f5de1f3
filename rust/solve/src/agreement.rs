//! Tests that hold the core to itself and to libsolv. On seeded random
//! repositories, for every requirement of every package, the sack's
//! providers must be exactly libsolv's whatprovides: in the pool the
//! installability check builds from the sack, and in libsolv's own reading
//! of the same rpm-md files (its parsers, its file provides: what dnf
//! sees). And repoclosure's unresolved requirements must be exactly those
//! libsolv finds no provider for. Repoclosure and installability can then
//! never disagree about who provides what.

use crate::closure::{repoclosure, ClosureOptions};
use crate::install::SackPool;
use crate::libsolv::{DepId, Pool, Rel, RepoId, SolvableId};
use crate::sack::{skipped, PkgId, Sack};
use crate::testkit::{documents, random_packages, write_repo, Entry, Pkg, XorShift};
use std::collections::{BTreeSet, HashMap};
use strata_repodata::Repo;

/// Repositories written to disk and loaded as the CLI loads them.
struct World {
    _dir: tempfile::TempDir,
    pkgs: Vec<Vec<Pkg>>,
    repos: Vec<Repo>,
}

impl World {
    fn new(repos: Vec<Vec<Pkg>>) -> World {
        let dir = tempfile::tempdir().unwrap();
        let loaded = repos
            .iter()
            .enumerate()
            .map(|(i, pkgs)| write_repo(&dir.path().join(format!("r{i}")), &format!("r{i}"), pkgs))
            .collect();
        World {
            _dir: dir,
            pkgs: repos,
            repos: loaded,
        }
    }

    fn refs(&self) -> Vec<&Repo> {
        self.repos.iter().collect()
    }

    fn nevra(&self, id: PkgId) -> String {
        self.pkgs[id.repo as usize][id.pkg as usize].nevra()
    }
}

/// libsolv's own reading of the world: rpm-md parsed by libsolv, file
/// lists loaded and file provides added, as dnf does it.
struct Oracle {
    pool: Pool,
    pkg_of: HashMap<SolvableId, PkgId>,
}

impl Oracle {
    fn new(world: &World, base_arch: &str) -> Oracle {
        let mut pool = Pool::new(base_arch).unwrap();
        let mut repo_ids: Vec<RepoId> = Vec::new();
        for (ri, pkgs) in world.pkgs.iter().enumerate() {
            let repo = pool.add_repo(&format!("r{ri}")).unwrap();
            let (primary, filelists) = documents(pkgs);
            pool.add_rpmmd(repo, &primary, false);
            pool.add_rpmmd(repo, &filelists, true);
            repo_ids.push(repo);
        }
        pool.add_file_provides();
        let mut pkg_of = HashMap::new();
        for (ri, &repo) in repo_ids.iter().enumerate() {
            let solvables: Vec<SolvableId> = pool
                .solvables()
                .into_iter()
                .filter(|&s| pool.solvable_repo(s) == repo)
                .collect();
            let pkgs = &world.pkgs[ri];
            assert_eq!(
                solvables.len(),
                pkgs.len(),
                "libsolv read another package count"
            );
            for (i, &s) in solvables.iter().enumerate() {
                assert_eq!(
                    pool.solvable_str(s),
                    pkgs[i].nevra(),
                    "libsolv's package order"
                );
                pkg_of.insert(
                    s,
                    PkgId {
                        repo: ri as u32,
                        pkg: i as u32,
                    },
                );
            }
        }
        Oracle { pool, pkg_of }
    }

    /// The requirement as libsolv's rpm-md reader makes it; `None` when
    /// libsolv cannot parse it (its reader then drops the requirement).
    fn dep(&mut self, e: &Entry) -> Option<DepId> {
        let pool = &mut self.pool;
        if e.name.starts_with('(') {
            return pool.parse_rich(&e.name);
        }
        let name = pool.intern(&e.name).unwrap();
        let Some(flags) = e.flags else {
            return Some(name.into());
        };
        // As repo_rpmmd.c's makeevr_parts: a zero or empty epoch is left out.
        let mut evr = String::new();
        if let Some(epoch) = e.epoch.as_deref().filter(|&e| !e.is_empty() && e != "0") {
            evr.push_str(epoch);
            evr.push(':');
        }
        evr.push_str(&e.ver);
        if let Some(rel) = &e.rel {
            evr.push('-');
            evr.push_str(rel);
        }
        let rel = match flags {
            "LT" => Rel::LT,
            "LE" => Rel::LE,
            "EQ" => Rel::EQ,
            "GE" => Rel::GE,
            _ => Rel::GT,
        };
        let evr = pool.intern(&evr).unwrap();
        Some(pool.versioned(name, rel, evr))
    }

    fn providers(&mut self, e: &Entry) -> Option<Vec<PkgId>> {
        let dep = self.dep(e)?;
        let mut out: Vec<PkgId> = self
            .pool
            .whatprovides(dep)
            .into_iter()
            .map(|s| self.pkg_of[&s])
            .collect();
        // libsolv's merged lists may name a package twice.
        out.sort_unstable();
        out.dedup();
        Some(out)
    }
}

/// What a world exercised: requirements compared, how many of them
/// libsolv finds no provider for, and how many are rich or name a path.
#[derive(Default)]
struct Seen {
    compared: usize,
    unprovided: usize,
    rich: usize,
    paths: usize,
}

/// Every way the sack and libsolv disagree on `world`, in words.
fn disagreements(world: &World, base_arch: &str, seen: &mut Seen) -> Vec<String> {
    let refs = world.refs();
    let mut sack = Sack::new(&refs, base_arch);
    let all: Vec<PkgId> = sack.package_ids().collect();
    // What repoclosure does before it looks anything up.
    sack.read_file_lists(&all, true).unwrap();
    let mut sack_pool = SackPool::new(&sack, &|_| true).unwrap();
    let mut oracle = Oracle::new(world, base_arch);

    let mut found = Vec::new();
    let mut unprovided = BTreeSet::new();
    let names = |ids: &[PkgId]| ids.iter().map(|&id| world.nevra(id)).collect::<Vec<_>>();
    for &id in &all {
        let written = &world.pkgs[id.repo as usize][id.pkg as usize].requires;
        let read: Vec<_> = sack.package(id).requires().collect();
        assert_eq!(read.len(), written.len(), "requirements read back");
        for (d, e) in read.iter().zip(written) {
            assert_eq!(d.name(), e.name, "requirement read back");
            if skipped(d.name()) {
                continue;
            }
            seen.compared += 1;
            seen.rich += usize::from(e.name.starts_with('('));
            seen.paths += usize::from(e.name.contains('/'));
            let what = format!("`{}` of {}", e.name, world.nevra(id));
            let ours = sack.dep_providers(d, &|_| true);
            let Some(theirs) = oracle.providers(e) else {
                found.push(format!("{what}: libsolv cannot parse it"));
                continue;
            };
            if ours != theirs {
                found.push(format!(
                    "{what}: the sack has {:?}, libsolv's reading {:?}",
                    names(&ours),
                    names(&theirs)
                ));
            }
            let dep = sack_pool.dep(id.repo, d).unwrap();
            let mut pooled: Vec<PkgId> = sack_pool
                .pool
                .whatprovides(dep)
                .into_iter()
                .map(|s| sack_pool.pkg_of[&s])
                .collect();
            pooled.sort_unstable();
            pooled.dedup();
            if ours != pooled {
                found.push(format!(
                    "{what}: the sack has {:?}, the installability pool {:?}",
                    names(&ours),
                    names(&pooled)
                ));
            }
            if theirs.is_empty() {
                seen.unprovided += 1;
                let repo = &world.repos[id.repo as usize].id;
                unprovided.insert((world.nevra(id), repo.clone(), d.to_string()));
            }
        }
    }

    let opts = ClosureOptions {
        base_arch: Some(base_arch.to_string()),
        ..ClosureOptions::default()
    };
    let report = repoclosure(&refs, &opts, &|_, _, _| {}).unwrap();
    let unresolved: BTreeSet<(String, String, String)> = report
        .unresolved
        .iter()
        .flat_map(|u| {
            u.deps
                .iter()
                .map(|d| (u.package.clone(), u.repo.clone(), d.clone()))
        })
        .collect();
    for extra in unresolved.difference(&unprovided) {
        found.push(format!(
            "repoclosure: {extra:?} is unresolved, libsolv has a provider"
        ));
    }
    for missing in unprovided.difference(&unresolved) {
        found.push(format!(
            "repoclosure: {missing:?} has no provider in libsolv, but is not reported"
        ));
    }
    found
}

/// Runs `seeds` random worlds; fails with the seed and what disagreed.
fn check_seeds(seeds: std::ops::RangeInclusive<u64>, packages: usize) {
    let mut seen = Seen::default();
    for seed in seeds {
        let mut rng = XorShift::new(seed);
        let base_arch = rng.pick(&["x86_64", "x86_64", "i686", "aarch64", "ppc64le"]);
        let pkgs = random_packages(&mut rng, packages);
        // A second, smaller repository, so providers come from both.
        let split = packages * 2 / 3;
        let world = World::new(vec![pkgs[..split].to_vec(), pkgs[split..].to_vec()]);
        let found = disagreements(&world, base_arch, &mut seen);
        assert!(
            found.is_empty(),
            "seed {seed} (base arch {base_arch}): {} disagreements, first ones:\n  {}",
            found.len(),
            found[..found.len().min(12)].join("\n  ")
        );
    }
    // The worlds must exercise both outcomes, rich dependencies and paths.
    let Seen {
        compared,
        unprovided,
        rich,
        paths,
    } = seen;
    assert!(
        unprovided * 20 > compared && unprovided * 20 < compared * 19,
        "{unprovided} of {compared} requirements unprovided"
    );
    assert!(rich * 10 > compared && paths * 10 > compared);
}

// 80 seeds of 240 packages in four tests, which the harness runs side by
// side: about 1 s each in a debug build. STRATA_AGREEMENT_SEEDS=N checks
// seeds 81..=N as well, for a longer hunt.
const PACKAGES: usize = 240;

#[test]
fn random_repositories_agree_with_libsolv_1() {
    check_seeds(1..=20, PACKAGES);
}

#[test]
fn random_repositories_agree_with_libsolv_2() {
    check_seeds(21..=40, PACKAGES);
}

#[test]
fn random_repositories_agree_with_libsolv_3() {
    check_seeds(41..=60, PACKAGES);
}

#[test]
fn random_repositories_agree_with_libsolv_4() {
    check_seeds(61..=80, PACKAGES);
    if let Ok(n) = std::env::var("STRATA_AGREEMENT_SEEDS") {
        let n: u64 = n.parse().expect("STRATA_AGREEMENT_SEEDS is a number");
        check_seeds(81..=n.max(81), PACKAGES);
    }
}
