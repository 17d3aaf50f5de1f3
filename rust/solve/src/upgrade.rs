//! Distribution upgrades: does a system installed from the old
//! repositories (a module profile of the previous release, say) upgrade
//! to the new ones as `dnf distro-sync` does, without `--allowerasing`?
//!
//! Each set is first installed from the old repositories, as `dnf install`
//! would install it into an empty system. Those packages become libsolv's
//! installed repository in a pool of the new repositories, and one
//! distupgrade job (SOLVER_DISTUPGRADE | SOLVER_SOLVABLE_ALL) runs with
//! the flags libdnf sets. A failure comes back with libsolv's words and,
//! for each installed package in the way, what it needs and what the new
//! release has instead; a success with what the upgrade changes.
//!
//! One pool holds the new repositories for every set; each set's
//! installed repository is added last and freed after its solve, so its
//! solvable ids are reused. Freeing and adding rebuild the whatprovides
//! index: one rebuild per set.

use crate::closure::{pick_set, repo_index, visible_masks, ClosureOptions, InstallSet};
use crate::error::SolveError;
use crate::install::SackPool;
use crate::libsolv::{Jobs, RepoId, RuleKind, SolvableId, Solver, TransactionCounts};
use crate::report::{SetUpgrade, UpgradeBlocker, UpgradeCounts, UpgradeOutcome};
use crate::sack::{PkgId, Sack};
use rustc_hash::{FxHashMap, FxHashSet};
use strata_model::{ranges_intersect, RelFlags};
use strata_repodata::Repo;

/// One side of an upgrade: a release's repositories as dnf sees them.
#[derive(Debug, Clone, Copy)]
pub struct UpgradeSide<'a> {
    pub repos: &'a [&'a Repo],
    /// Packages hidden in a repository (by package index), as modular
    /// filtering hides them (see [`ClosureOptions::hidden`]).
    pub hidden: &'a [(String, Vec<u32>)],
}

/// Installs each set from `from` (its `repo` is a repository id of
/// `from`) and upgrades that system to `to` with a distupgrade job, judged
/// for `base_arch` (`None`: this machine's). One result per set, in order.
pub fn upgrade_sets(
    from: UpgradeSide<'_>,
    to: UpgradeSide<'_>,
    base_arch: Option<&str>,
    sets: &[InstallSet],
) -> Result<Vec<SetUpgrade>, SolveError> {
    let base_arch = base_arch.map_or_else(|| crate::arch::host_arch().to_string(), str::to_owned);
    // Both sides in one sack, the old repositories first: package ids
    // then name a package of either side, and the ids of the old packages
    // installed are the ids the new pool adds as the installed system.
    let k = from.repos.len();
    let all: Vec<&Repo> = from.repos.iter().chain(to.repos).copied().collect();
    let mut sack = Sack::new(&all, &base_arch);
    let masks = |side: UpgradeSide<'_>| {
        let opts = ClosureOptions {
            hidden: side.hidden.to_vec(),
            ..ClosureOptions::default()
        };
        visible_masks(side.repos, &opts)
    };
    let mut visible = masks(from)?;
    visible.extend(masks(to)?);
    let shown = |id: PkgId| {
        visible[id.repo as usize]
            .as_ref()
            .is_none_or(|m| m[id.pkg as usize])
    };
    let old = |id: PkgId| (id.repo as usize) < k && shown(id);
    let new = |id: PkgId| (id.repo as usize) >= k && shown(id);
    let every: Vec<PkgId> = sack.package_ids().filter(|&id| shown(id)).collect();
    sack.read_file_lists(&every, true)?;

    let mut outcomes: Vec<Option<UpgradeOutcome>> = vec![None; sets.len()];
    let installed = install_old(&sack, from, sets, &old, &mut outcomes)?;

    let later: FxHashSet<PkgId> = installed.iter().flat_map(|(_, ids)| ids).copied().collect();
    let mut sp = SackPool::with_later(&sack, &new, &|id| later.contains(&id))?;
    for (n, ids) in installed {
        let (repo, added) = sp.add_installed(&sack, "@System", &ids)?;
        let outcome = {
            let mut solver = Solver::for_upgrade(&sp.pool);
            let mut jobs = Jobs::new();
            jobs.distupgrade_all();
            if solver.solve(&jobs) == 0 {
                UpgradeOutcome::Upgrades(counts(ids.len(), solver.transaction_counts()))
            } else {
                let added: FxHashMap<SolvableId, PkgId> = added.into_iter().collect();
                let why = Why {
                    sack: &sack,
                    sp: &sp,
                    repo,
                    added: &added,
                    new: &new,
                };
                why.explain(&solver)
            }
        };
        sp.pool.free_repo(repo);
        outcomes[n] = Some(outcome);
    }
    Ok(sets
        .iter()
        .zip(outcomes)
        .map(|(set, outcome)| SetUpgrade {
            label: set.label.clone(),
            outcome: outcome.expect("every set is decided"),
        })
        .collect())
}

/// Installs each set from the old repositories into an empty system;
/// gives the packages of each that installed, and records an outcome for
/// each that did not.
fn install_old(
    sack: &Sack<'_>,
    from: UpgradeSide<'_>,
    sets: &[InstallSet],
    old: &dyn Fn(PkgId) -> bool,
    outcomes: &mut [Option<UpgradeOutcome>],
) -> Result<Vec<(usize, Vec<PkgId>)>, SolveError> {
    let sp = SackPool::new(sack, old)?;
    let mut solver = Solver::new(&sp.pool);
    let mut jobs = Jobs::new();
    let mut installed = Vec::new();
    for (n, set) in sets.iter().enumerate() {
        let ri = repo_index(from.repos, &set.repo)?;
        let (ids, missing) = pick_set(sack, ri, &set.names, old);
        if !missing.is_empty() {
            outcomes[n] = Some(UpgradeOutcome::NotInstalled {
                missing,
                problems: Vec::new(),
            });
            continue;
        }
        jobs.clear();
        for id in &ids {
            jobs.install_solvable(sp.solvable_of[id]);
        }
        if solver.solve(&jobs) > 0 {
            outcomes[n] = Some(UpgradeOutcome::NotInstalled {
                missing: Vec::new(),
                problems: solver
                    .problems()
                    .into_iter()
                    .flat_map(|p| p.rules)
                    .collect(),
            });
            continue;
        }
        let mut pkgs: Vec<PkgId> = solver
            .new_solvables()
            .iter()
            .map(|s| sp.pkg_of[s])
            .collect();
        pkgs.sort_unstable();
        installed.push((n, pkgs));
    }
    Ok(installed)
}

fn counts(before: usize, c: TransactionCounts) -> UpgradeCounts {
    UpgradeCounts {
        before,
        upgraded: c.upgraded,
        downgraded: c.downgraded,
        obsoleted: c.obsoleted,
        erased: c.erased,
        changed: c.changed,
        installed: c.installed,
    }
}

/// What explains a failed upgrade: the pool, its installed repository and
/// where each installed solvable came from.
struct Why<'a, 'r> {
    sack: &'a Sack<'r>,
    sp: &'a SackPool,
    repo: RepoId,
    added: &'a FxHashMap<SolvableId, PkgId>,
    new: &'a dyn Fn(PkgId) -> bool,
}

impl Why<'_, '_> {
    fn explain(&self, solver: &Solver<'_>) -> UpgradeOutcome {
        let problems = solver.problems();
        let mut blockers: Vec<UpgradeBlocker> = Vec::new();
        for info in problems.iter().flat_map(|p| &p.infos) {
            let (Some(source), Some(dep)) = (info.source, info.dep) else {
                continue;
            };
            if !matches!(info.kind, RuleKind::Requires | RuleKind::NothingProvides)
                || !self.sp.pool.in_repo(source, self.repo)
            {
                continue;
            }
            let package = self.sack.package(self.added[&source]);
            let requires = self.sp.pool.dep_str(dep);
            if blockers
                .iter()
                .any(|b| b.package == package.nevra().to_string() && b.requires == requires)
            {
                continue;
            }
            let providers: Vec<PkgId> = self
                .sp
                .pool
                .whatprovides(dep)
                .into_iter()
                .filter(|&s| self.sp.pool.in_repo(s, self.repo))
                .map(|s| self.added[&s])
                .collect();
            let mut replaced_by = Vec::new();
            for &p in &providers {
                replaced_by.extend(self.named(self.sack.package(p).name()));
            }
            replaced_by.sort();
            replaced_by.dedup();
            let mut successors = self.named(package.name());
            successors.extend(self.obsoleting(self.added[&source]));
            successors.sort();
            successors.dedup();
            blockers.push(UpgradeBlocker {
                package: package.nevra().to_string(),
                name: package.name().to_owned(),
                requires,
                provided_by: providers
                    .iter()
                    .map(|&p| self.sack.package(p).nevra().to_string())
                    .collect(),
                replaced_by,
                successors,
            });
        }
        UpgradeOutcome::Fails {
            blockers,
            problems: problems.into_iter().map(|p| p.rules).collect(),
        }
    }

    /// The new release's installable packages called `name`.
    fn named(&self, name: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let keep = |id: PkgId| (self.new)(id) && self.sack.package(id).name() == name;
        self.sack
            .providers_simple(name, RelFlags::NONE, None, &keep, &mut ids);
        ids.iter()
            .map(|&id| self.sack.package(id).nevra().to_string())
            .collect()
    }

    /// The new release's packages that obsolete the installed `id`. A scan
    /// of every package: it runs only to explain a failure.
    fn obsoleting(&self, id: PkgId) -> Vec<String> {
        let target = self.sack.package(id);
        let evr = target.evr();
        let mut out = Vec::new();
        for p in self.sack.package_ids().filter(|&p| (self.new)(p)) {
            let pkg = self.sack.package(p);
            let hits = pkg.obsoletes().any(|o| {
                o.name() == target.name()
                    && o.evr()
                        .is_none_or(|oevr| ranges_intersect(RelFlags::EQ, &evr, o.flags(), &oevr))
            });
            if hits {
                out.push(pkg.nevra().to_string());
            }
        }
        out
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::testkit::{write_repo, Entry, Pkg};

    fn pkg(name: &str, ver: &str, requires: &[Entry], obsoletes: &[Entry]) -> Pkg {
        let mut p = Pkg::new(name, "0", ver, "1", "noarch");
        p.requires = requires.to_vec();
        p.obsoletes = obsoletes.to_vec();
        p
    }

    fn eq(name: &str, ver: &str) -> Entry {
        Entry {
            flags: Some("EQ"),
            epoch: Some("0".into()),
            ver: ver.into(),
            rel: Some("1".into()),
            ..Entry::plain(name)
        }
    }

    fn lt(name: &str, ver: &str) -> Entry {
        Entry {
            flags: Some("LT"),
            ver: ver.into(),
            ..Entry::plain(name)
        }
    }

    fn set(label: &str, repo: &str, names: &[&str]) -> InstallSet {
        InstallSet {
            label: label.into(),
            repo: repo.into(),
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    /// Upgrades `sets` from the old module repository `m` and platform `p`
    /// to the new ones.
    fn run(
        old: (Vec<Pkg>, Vec<Pkg>),
        new: (Vec<Pkg>, Vec<Pkg>),
        hidden_new: &[(String, Vec<u32>)],
        sets: &[InstallSet],
    ) -> Vec<SetUpgrade> {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let om = write_repo(&d.join("om"), "m", &old.0);
        let op = write_repo(&d.join("op"), "p", &old.1);
        let nm = write_repo(&d.join("nm"), "m", &new.0);
        let np = write_repo(&d.join("np"), "p", &new.1);
        let (from, to) = ([&om, &op], [&nm, &np]);
        upgrade_sets(
            UpgradeSide {
                repos: &from,
                hidden: &[],
            },
            UpgradeSide {
                repos: &to,
                hidden: hidden_new,
            },
            Some("x86_64"),
            sets,
        )
        .unwrap()
    }

    #[test]
    fn a_dropped_package_that_needs_the_old_library_blocks_the_upgrade() {
        // Release 1: foo-libs 1.0 and foo-tools (requires foo-libs = 1.0).
        // Release 2: foo-libs 2.0 only, and nothing obsoletes foo-tools.
        let old = vec![
            pkg("foo-libs", "1.0", &[], &[]),
            pkg("foo-tools", "1.0", &[eq("foo-libs", "1.0")], &[]),
        ];
        let sets = [
            set("foo:1/default", "m", &["foo-tools"]),
            set("foo:1/libs", "m", &["foo-libs"]),
        ];
        let out = run(
            (old.clone(), vec![]),
            (vec![pkg("foo-libs", "2.0", &[], &[])], vec![]),
            &[],
            &sets,
        );
        assert_eq!(out[0].label, "foo:1/default");
        let UpgradeOutcome::Fails { blockers, problems } = &out[0].outcome else {
            panic!("{out:#?}");
        };
        assert_eq!(
            blockers,
            &[UpgradeBlocker {
                package: "foo-tools-1.0-1.noarch".into(),
                name: "foo-tools".into(),
                requires: "foo-libs = 1.0-1".into(),
                provided_by: vec!["foo-libs-1.0-1.noarch".into()],
                replaced_by: vec!["foo-libs-2.0-1.noarch".into()],
                successors: vec![],
            }]
        );
        let words = problems.concat().join("\n");
        assert!(words.contains("foo-tools-1.0-1.noarch"), "{words}");
        // A profile that only has the library upgrades.
        assert_eq!(
            out[1].outcome,
            UpgradeOutcome::Upgrades(UpgradeCounts {
                before: 1,
                upgraded: 1,
                ..UpgradeCounts::default()
            })
        );

        // With an Obsoletes in the new foo-libs, foo-tools goes away.
        let out = run(
            (old, vec![]),
            (
                vec![pkg("foo-libs", "2.0", &[], &[lt("foo-tools", "2.0")])],
                vec![],
            ),
            &[],
            &sets[..1],
        );
        assert_eq!(
            out[0].outcome,
            UpgradeOutcome::Upgrades(UpgradeCounts {
                before: 2,
                upgraded: 1,
                obsoleted: 1,
                ..UpgradeCounts::default()
            }),
            "{out:#?}"
        );
    }

    #[test]
    fn modular_filtering_and_sets_that_never_installed() {
        // The platform's libz moves into the module in release 2 (and is
        // hidden there); the old app upgrades onto the module's libz.
        let app = |v: &str| pkg("app", v, &[Entry::plain("libz")], &[]);
        let out = run(
            (vec![app("1")], vec![pkg("libz", "1", &[], &[])]),
            (
                vec![app("2"), pkg("libz", "3", &[], &[])],
                vec![pkg("libz", "2", &[], &[])],
            ),
            &[("p".into(), vec![0])],
            &[
                set("app:1/default", "m", &["app"]),
                set("app:1/broken", "m", &["nothere"]),
                set("app:1/gap", "p", &["libz", "app"]),
            ],
        );
        assert_eq!(
            out[0].outcome,
            UpgradeOutcome::Upgrades(UpgradeCounts {
                before: 2,
                upgraded: 2,
                ..UpgradeCounts::default()
            }),
            "{out:#?}"
        );
        assert_eq!(
            out[1].outcome,
            UpgradeOutcome::NotInstalled {
                missing: vec!["nothere".into()],
                problems: vec![]
            }
        );
        // `app` is not in the platform repository the set names.
        assert!(matches!(
            &out[2].outcome,
            UpgradeOutcome::NotInstalled { missing, .. } if missing == &["app"]
        ));
    }

    #[test]
    fn an_unknown_repository_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let m = write_repo(&dir.path().join("m"), "m", &[]);
        let side = UpgradeSide {
            repos: &[&m],
            hidden: &[],
        };
        let err =
            upgrade_sets(side, side, Some("x86_64"), &[set("x", "nope", &["a"])]).unwrap_err();
        assert!(matches!(err, SolveError::UnknownRepo { .. }), "{err:?}");
    }
}
