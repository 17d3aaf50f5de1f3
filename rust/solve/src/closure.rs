//! Repoclosure: does every requirement of every checked package have a
//! provider among the available packages? Same rules as `dnf repoclosure`
//! (`--check`, `--arch`, `--newest`, libsolv's provider matching), plus the
//! optional installability check and suggestions.

use crate::error::SolveError;
use crate::install;
use crate::report::{ClosureReport, RepoInfo, SetFailure, Unresolved};
use crate::sack::{skipped, PkgId, Sack};
use crate::suggest::suggest;
use rustc_hash::{FxHashMap, FxHashSet};
use std::borrow::Cow;
use strata_model::RichDep;
use strata_repodata::{DepKey, Repo};

/// What to check, mirroring `dnf repoclosure`'s options.
#[derive(Debug, Clone, Default)]
pub struct ClosureOptions {
    /// Repository ids whose packages are checked; empty means all. The
    /// other repositories are lookaside: they only provide.
    pub check: Vec<String>,
    /// Only check packages of these arches; empty means all.
    pub arches: Vec<String>,
    /// Only the newest version of each package name counts, per repository.
    pub newest: bool,
    /// The machine arch packages are judged for (dnf's `--forcearch`);
    /// `None` is this machine's.
    pub base_arch: Option<String>,
    /// Also check that each checked package can be installed (SAT).
    pub installable: bool,
    /// Repository ids that are only searched for suggestions: they neither
    /// provide nor are checked.
    pub suggest_from: Vec<String>,
    /// Packages hidden in a repository (by package index), as dnf's
    /// excludes and modular filtering hide them: they neither provide nor
    /// are checked.
    pub hidden: Vec<(String, Vec<u32>)>,
}

pub(crate) fn repo_index(repos: &[&Repo], id: &str) -> Result<u32, SolveError> {
    repos
        .iter()
        .position(|r| r.id == id)
        .map(|i| i as u32)
        .ok_or_else(|| SolveError::UnknownRepo {
            id: id.to_string(),
            known: repos
                .iter()
                .map(|r| r.id.clone())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Per repository, which packages `opts.hidden` leaves visible (`None`:
/// all of them).
pub(crate) fn visible_masks(
    repos: &[&Repo],
    opts: &ClosureOptions,
) -> Result<Vec<Option<Vec<bool>>>, SolveError> {
    let mut visible: Vec<Option<Vec<bool>>> = vec![None; repos.len()];
    for (id, hidden) in &opts.hidden {
        let ri = repo_index(repos, id)? as usize;
        let mask = visible[ri].get_or_insert_with(|| vec![true; repos[ri].len()]);
        for &i in hidden {
            if let Some(v) = mask.get_mut(i as usize) {
                *v = false;
            }
        }
    }
    Ok(visible)
}

/// Packages to install together, each named by its package name and taken
/// from one repository: a module stream's profile, from its compose.
#[derive(Debug, Clone)]
pub struct InstallSet {
    /// How reports name the set (`php:8.2/default`).
    pub label: String,
    /// The id of the repository the named packages come from.
    pub repo: String,
    pub names: Vec<String>,
}

/// Installs each set, alone, into an empty system, with every package of
/// `repos` available but those `opts.hidden` hides, judged for
/// `opts.base_arch`, as `dnf install` of the set would; gives the sets that
/// cannot be installed, with why. From its repository each name takes its
/// newest package of an arch the base arch installs. File requirements
/// are met through filelists.xml, as in repoclosure's installability check.
pub fn install_sets(
    repos: &[&Repo],
    opts: &ClosureOptions,
    sets: &[InstallSet],
) -> Result<Vec<SetFailure>, SolveError> {
    let base_arch = opts
        .base_arch
        .clone()
        .unwrap_or_else(|| crate::arch::host_arch().to_string());
    let mut sack = Sack::new(repos, &base_arch);
    let visible = visible_masks(repos, opts)?;
    let available = |id: PkgId| {
        visible[id.repo as usize]
            .as_ref()
            .is_none_or(|m| m[id.pkg as usize])
    };
    let all: Vec<PkgId> = sack.package_ids().filter(|&id| available(id)).collect();
    sack.read_file_lists(&all, true)?;
    let mut failures: Vec<SetFailure> = Vec::new();
    let mut picked: Vec<(usize, Vec<PkgId>)> = Vec::new();
    for (n, set) in sets.iter().enumerate() {
        let ri = repo_index(repos, &set.repo)?;
        let (ids, missing) = pick_set(&sack, ri, &set.names, &available);
        if missing.is_empty() {
            picked.push((n, ids));
        } else {
            failures.push(SetFailure {
                label: set.label.clone(),
                missing,
                problems: Vec::new(),
            });
        }
    }
    for (n, problems) in install::install_together(&sack, &available, &picked)? {
        failures.push(SetFailure {
            label: sets[n].label.clone(),
            missing: Vec::new(),
            problems,
        });
    }
    failures.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(failures)
}

/// The packages of a set from repository `ri` of the sack: for each name
/// its newest `available` package of an arch the base arch installs; and
/// the names that have none.
pub(crate) fn pick_set(
    sack: &Sack<'_>,
    ri: u32,
    names: &[String],
    available: &dyn Fn(PkgId) -> bool,
) -> (Vec<PkgId>, Vec<String>) {
    let mut ids = Vec::with_capacity(names.len());
    let mut missing = Vec::new();
    for name in names {
        let best = sack.repos[ri as usize]
            .iter()
            .map(|p| PkgId {
                repo: ri,
                pkg: p.index,
            })
            .filter(|&id| {
                available(id) && sack.is_installable_arch(id) && sack.package(id).name() == name
            })
            .max_by(|&a, &b| sack.package(a).evr().cmp_full(&sack.package(b).evr()));
        match best {
            Some(id) => ids.push(id),
            None => missing.push(name.clone()),
        }
    }
    (ids, missing)
}

/// Per repository, the packages that count when `--newest` is given: for
/// each name and arch, the one with the highest EVR (dnf's `latest()`).
fn newest_mask(repo: &Repo) -> Vec<bool> {
    let mut best: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    for p in repo.iter() {
        best.entry((p.rec().name, p.rec().arch))
            .and_modify(|b| {
                if p.evr().cmp_full(&repo.package(*b).evr()).is_gt() {
                    *b = p.index;
                }
            })
            .or_insert(p.index);
    }
    repo.iter()
        .map(|p| {
            let b = repo.package(best[&(p.rec().name, p.rec().arch)]);
            p.evr().cmp_full(&b.evr()).is_eq()
        })
        .collect()
}

/// The checked packages with requirements nothing `available` provides,
/// each with those requirements (sorted, as rpm prints them). Decides each
/// distinct requirement once per repository.
fn find_unresolved(
    sack: &Sack<'_>,
    to_check: &[PkgId],
    available: &dyn Fn(PkgId) -> bool,
    progress: &dyn Fn(usize),
) -> Vec<(PkgId, Vec<String>)> {
    let mut unresolved = Vec::new();
    let mut memo: Vec<FxHashMap<DepKey, bool>> = vec![FxHashMap::default(); sack.repos.len()];
    for (n, &id) in to_check.iter().enumerate() {
        if n % 4096 == 0 {
            progress(n);
        }
        let pkg = sack.package(id);
        let mut missing: Vec<String> = Vec::new();
        for d in pkg.requires() {
            if skipped(d.name()) {
                continue;
            }
            let ok = *memo[id.repo as usize]
                .entry(d.rec.key())
                .or_insert_with(|| !sack.dep_providers(&d, available).is_empty());
            if !ok {
                missing.push(d.to_string());
            }
        }
        if !missing.is_empty() {
            missing.sort();
            missing.dedup();
            unresolved.push((id, missing));
        }
    }
    progress(to_check.len());
    unresolved
}

/// Every name the requirements of `packages` look up: plain names and
/// paths, and each name inside a rich dependency.
fn required_names<'r>(repos: &[&'r Repo], packages: &[PkgId]) -> FxHashSet<Cow<'r, str>> {
    fn walk<'r>(dep: RichDep, names: &mut FxHashSet<Cow<'r, str>>) {
        match dep {
            RichDep::Simple { name, .. } => {
                names.insert(Cow::Owned(name));
            }
            RichDep::Op { left, right, .. } => {
                walk(*left, names);
                walk(*right, names);
            }
        }
    }
    let mut names: FxHashSet<Cow<'r, str>> = FxHashSet::default();
    for &id in packages {
        for d in repos[id.repo as usize].package(id.pkg).requires() {
            let name = d.name();
            if !strata_model::is_rich(name) {
                names.insert(Cow::Borrowed(name));
            } else if let Ok(rich) = RichDep::parse(name) {
                walk(rich, &mut names);
            }
        }
    }
    names
}

/// Every name the requirements of every package of `repos` look up
/// (plain names and paths, and each name inside a rich dependency): the
/// only names a pool's providers are asked for when those packages are
/// checked.
pub fn names_required_by<'r>(repos: &[&'r Repo]) -> FxHashSet<Cow<'r, str>> {
    let all: Vec<PkgId> = repos
        .iter()
        .enumerate()
        .flat_map(|(ri, r)| {
            (0..r.len() as u32).map(move |pkg| PkgId {
                repo: ri as u32,
                pkg,
            })
        })
        .collect();
    required_names(repos, &all)
}

/// Runs repoclosure over `repos` (all loaded, including suggestion sources).
pub fn repoclosure(
    repos: &[&Repo],
    opts: &ClosureOptions,
    progress: &dyn Fn(&str, usize, usize),
) -> Result<ClosureReport, SolveError> {
    closure_with(repos, opts, progress, Index::Auto)
}

/// Which names the sack indexes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Index {
    /// Only the checked packages' requirements, when they are few against
    /// the pool and nothing follows requirements further.
    Auto,
    /// Every name (tests compare the two).
    #[cfg(test)]
    All,
}

fn closure_with(
    repos: &[&Repo],
    opts: &ClosureOptions,
    progress: &dyn Fn(&str, usize, usize),
    index: Index,
) -> Result<ClosureReport, SolveError> {
    let check: FxHashSet<u32> = opts
        .check
        .iter()
        .map(|id| repo_index(repos, id))
        .collect::<Result<_, _>>()?;
    let candidates: FxHashSet<u32> = opts
        .suggest_from
        .iter()
        .map(|id| repo_index(repos, id))
        .collect::<Result<_, _>>()?;
    let base_arch = opts
        .base_arch
        .clone()
        .unwrap_or_else(|| crate::arch::host_arch().to_string());
    let newest: Vec<Option<Vec<bool>>> = repos
        .iter()
        .map(|r| opts.newest.then(|| newest_mask(r)))
        .collect();
    let visible = visible_masks(repos, opts)?;
    let counts_newest = |id: PkgId| {
        newest[id.repo as usize]
            .as_ref()
            .is_none_or(|m| m[id.pkg as usize])
            && visible[id.repo as usize]
                .as_ref()
                .is_none_or(|m| m[id.pkg as usize])
    };
    let available = |id: PkgId| !candidates.contains(&id.repo) && counts_newest(id);

    let arches: FxHashSet<&str> = opts.arches.iter().map(String::as_str).collect();
    let mut to_check: Vec<PkgId> = Vec::new();
    for (ri, repo) in repos.iter().enumerate() {
        let ri = ri as u32;
        if candidates.contains(&ri) || (!check.is_empty() && !check.contains(&ri)) {
            continue;
        }
        for p in repo.iter() {
            let id = PkgId {
                repo: ri,
                pkg: p.index,
            };
            // Like dnf, every arch is checked; only providers are limited
            // to the arches the base arch can install.
            if !counts_newest(id) {
                continue;
            }
            if !arches.is_empty() && !arches.contains(p.arch()) {
                continue;
            }
            to_check.push(id);
        }
    }

    // A few packages checked against a large pool (a module on a deep
    // stack whose layers their own gates checked) look up only their own
    // requirements: the sack indexes just those names. The installability
    // check and suggestions follow requirements further, into packages
    // not checked, and need every name.
    let pool: usize = repos.iter().map(|r| r.len()).sum();
    let few = !opts.installable && candidates.is_empty() && to_check.len() * 8 < pool;
    let mut sack = if few && index == Index::Auto {
        Sack::for_names(repos, &base_arch, &required_names(repos, &to_check))
    } else {
        Sack::new(repos, &base_arch)
    };

    if opts.installable {
        // The installability check follows requirements (and conflicts)
        // into every available package, not only the checked ones.
        let all: Vec<PkgId> = sack.package_ids().filter(|&id| available(id)).collect();
        sack.read_file_lists(&all, true)?;
    }

    let total = to_check.len();
    let mut unresolved = find_unresolved(&sack, &to_check, &available, &|n| {
        progress("repoclosure", n, total)
    });
    if !opts.installable {
        // A path primary.xml does not list needs filelists.xml, and only
        // a requirement found unresolved can be one: scanning just those
        // spares a pass over every requirement. Files only add providers,
        // so the rest stay resolved.
        let open: Vec<PkgId> = unresolved.iter().map(|u| u.0).collect();
        if sack.read_file_lists(&open, false)? {
            unresolved = find_unresolved(&sack, &open, &available, &|_| {});
        }
    }
    unresolved.sort_by(|a, b| sack.cmp_packages(a.0, b.0));

    let installable = if opts.installable {
        Some(install::check(&sack, &to_check, &available, progress)?)
    } else {
        None
    };

    let suggestions = if candidates.is_empty() {
        None
    } else {
        let ids: Vec<PkgId> = unresolved.iter().map(|u| u.0).collect();
        Some(suggest(&sack, &ids, &available, &|id| {
            candidates.contains(&id.repo)
        }))
    };

    Ok(ClosureReport {
        checked: to_check.len(),
        repos: repos
            .iter()
            .map(|r| RepoInfo {
                id: r.id.clone(),
                // Reports are printed and kept in compose records.
                location: strata_model::redact_credentials(&r.location).into_owned(),
                packages: r.len(),
                checksum: r.checksum.clone(),
            })
            .collect(),
        unresolved: unresolved
            .into_iter()
            .map(|(id, deps)| Unresolved {
                package: sack.package(id).nevra().to_string(),
                repo: repos[id.repo as usize].id.clone(),
                deps,
            })
            .collect(),
        installable,
        suggestions,
    })
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::testkit::{write_repo, Entry, Pkg};

    fn pkg(name: &str, requires: &[&str], provides: &[&str], files: &[&str]) -> Pkg {
        let mut p = Pkg::new(name, "0", "1", "1", "noarch");
        p.requires = requires.iter().map(|r| Entry::plain(r)).collect();
        p.provides.extend(provides.iter().map(|r| Entry::plain(r)));
        p.files = files.iter().map(|f| f.to_string()).collect();
        p
    }

    fn run(repos: &[(&str, Vec<Pkg>)], opts: &ClosureOptions) -> ClosureReport {
        let dir = tempfile::tempdir().unwrap();
        let loaded: Vec<Repo> = repos
            .iter()
            .map(|(id, pkgs)| write_repo(&dir.path().join(id), id, pkgs))
            .collect();
        let refs: Vec<&Repo> = loaded.iter().collect();
        repoclosure(&refs, opts, &|_, _, _| {}).unwrap()
    }

    /// A few packages checked against a large pool index only their own
    /// requirements: the report is the one of a sack of every name, for
    /// every kind of requirement (plain, versioned, paths in primary.xml or
    /// only in filelists.xml, rich, rpm's own, missing) and arch.
    #[test]
    fn a_few_packages_against_a_large_pool_are_checked_as_against_all_of_it() {
        use crate::testkit::{random_packages, XorShift};
        let mut filtered = 0;
        for seed in 1..=12u64 {
            let mut rng = XorShift::new(seed);
            let pkgs = random_packages(&mut rng, 330);
            let dir = tempfile::tempdir().unwrap();
            let module = write_repo(&dir.path().join("m"), "m", &pkgs[..10]);
            let layer = write_repo(&dir.path().join("l"), "l", &pkgs[10..170]);
            let platform = write_repo(&dir.path().join("p"), "p", &pkgs[170..]);
            let refs = [&module, &layer, &platform];
            let opts = ClosureOptions {
                check: vec!["m".into()],
                base_arch: Some("x86_64".into()),
                ..ClosureOptions::default()
            };
            let quiet = |_: &str, _: usize, _: usize| {};
            let auto = closure_with(&refs, &opts, &quiet, Index::Auto).unwrap();
            let all = closure_with(&refs, &opts, &quiet, Index::All).unwrap();
            assert_eq!(auto.unresolved, all.unresolved, "seed {seed}");
            assert_eq!(auto.checked, all.checked, "seed {seed}");
            filtered += usize::from(!all.unresolved.is_empty() && auto.checked * 8 < 330);
        }
        // The worlds are ones where the index matters: something missing.
        assert!(
            filtered > 6,
            "{filtered} of 12 worlds had unresolved requirements"
        );
    }

    fn installable() -> ClosureOptions {
        ClosureOptions {
            base_arch: Some("x86_64".into()),
            installable: true,
            ..ClosureOptions::default()
        }
    }

    fn uninstallable(report: &ClosureReport) -> Vec<&str> {
        let inst = report.installable.as_ref().unwrap();
        inst.uninstallable
            .iter()
            .map(|u| u.package.as_str())
            .collect()
    }

    #[test]
    fn sets_install_together_or_say_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let m = write_repo(
            &dir.path().join("m"),
            "m",
            &[
                pkg("app", &["lib"], &[], &[]),
                pkg("tool", &["/usr/bin/gone"], &[], &[]),
                pkg("cli", &[], &[], &[]),
            ],
        );
        let p = write_repo(&dir.path().join("p"), "p", &[pkg("lib", &[], &[], &[])]);
        let set = |label: &str, names: &[&str]| InstallSet {
            label: label.into(),
            repo: "m".into(),
            names: names.iter().map(|n| n.to_string()).collect(),
        };
        let sets = [
            set("m:1/default", &["app", "cli"]),
            set("m:1/tools", &["tool", "cli"]),
            set("m:1/extra", &["cli", "lib", "nope"]),
        ];
        let opts = installable();
        let failed = install_sets(&[&m, &p], &opts, &sets).unwrap();
        assert_eq!(failed.len(), 2, "{failed:#?}");
        assert_eq!(failed[0].label, "m:1/extra");
        // `lib` is in the platform, not in the set's repository.
        assert_eq!(failed[0].missing, ["lib", "nope"]);
        assert_eq!(failed[1].label, "m:1/tools");
        assert!(
            failed[1]
                .problems
                .iter()
                .any(|p| p.contains("/usr/bin/gone")),
            "{failed:#?}"
        );
        // Hidden (as modular filtering hides it), `lib` provides nothing.
        let hidden = ClosureOptions {
            hidden: vec![("p".into(), vec![0])],
            ..installable()
        };
        let failed = install_sets(&[&m, &p], &hidden, &sets[..1]).unwrap();
        assert_eq!(failed.len(), 1);
        assert!(
            failed[0]
                .problems
                .iter()
                .any(|p| p.contains("nothing provides lib")),
            "{failed:#?}"
        );
    }

    #[test]
    fn both_checks_take_the_same_arches() {
        // Fedora's dnf installs athlon packages on x86_64 (its libsolv is
        // built with FEDORA); Debian's libsolv would not. Whichever libsolv
        // Strata links, repoclosure and installability must agree.
        let mut lib = pkg("lib", &[], &[], &[]);
        lib.arch = "athlon".into();
        let report = run(
            &[("r", vec![pkg("app", &["lib"], &[], &[]), lib])],
            &installable(),
        );
        assert_eq!(report.unresolved, vec![]);
        assert_eq!(uninstallable(&report), Vec::<&str>::new());
    }

    #[test]
    fn paths_inside_rich_dependencies_are_looked_up_in_filelists() {
        // /usr/share/a/data is in filelists.xml only (createrepo_c lists
        // /etc and bin/ paths in primary.xml). Without --installable only
        // unresolved requirements are looked up; with it, all of them.
        let repos = [(
            "r",
            vec![
                pkg("owner", &[], &[], &["/usr/share/a/data"]),
                pkg("user", &["(/usr/share/a/data or nothere)"], &[], &[]),
                pkg("with", &["(owner with /usr/share/a/data)"], &[], &[]),
            ],
        )];
        assert_eq!(run(&repos, &ClosureOptions::default()).unresolved, vec![]);
        let report = run(&repos, &installable());
        assert_eq!(report.unresolved, vec![]);
        assert_eq!(uninstallable(&report), Vec::<&str>::new());
    }

    #[test]
    fn an_explicit_path_provide_does_not_hide_the_packages_listing_the_path() {
        // `alt` provides the path by name but cannot be installed; `owner`
        // lists the file (filelists.xml only), so `user` can be installed.
        let report = run(
            &[(
                "r",
                vec![
                    pkg("alt", &["missing"], &["/usr/share/a/data"], &[]),
                    pkg("owner", &[], &[], &["/usr/share/a/data"]),
                    pkg("user", &["/usr/share/a/data"], &[], &[]),
                ],
            )],
            &installable(),
        );
        assert_eq!(uninstallable(&report), vec!["alt-1-1.noarch"]);
    }

    #[test]
    fn installability_reads_paths_the_lookaside_needs() {
        // Only `main` is checked; its package needs `lib` from the
        // lookaside, which needs a path only filelists.xml lists.
        let report = run(
            &[
                ("main", vec![pkg("app", &["lib"], &[], &[])]),
                (
                    "look",
                    vec![
                        pkg("lib", &["/usr/share/a/data"], &[], &[]),
                        pkg("owner", &[], &[], &["/usr/share/a/data"]),
                    ],
                ),
            ],
            &ClosureOptions {
                check: vec!["main".into()],
                ..installable()
            },
        );
        assert_eq!(report.unresolved, vec![]);
        assert_eq!(uninstallable(&report), Vec::<&str>::new());
    }

    #[test]
    fn an_unreadable_filelists_names_the_repository_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let pkgs = vec![
            pkg("owner", &[], &[], &["/usr/share/a/data"]),
            pkg("user", &["/usr/share/a/data"], &[], &[]),
        ];
        let repo = write_repo(&dir.path().join("r"), "r", &pkgs);
        let repodata = dir.path().join("r/repodata");
        for e in std::fs::read_dir(&repodata).unwrap() {
            let path = e.unwrap().path();
            if path.to_str().unwrap().contains("filelists") {
                std::fs::remove_file(path).unwrap();
            }
        }
        let err = repoclosure(&[&repo], &ClosureOptions::default(), &|_, _, _| {}).unwrap_err();
        assert!(matches!(&err, SolveError::FileLists { repo, .. } if repo == "r"));
        assert!(
            err.to_string().contains("file lists of repository `r`"),
            "{err}"
        );
        let cause = std::error::Error::source(&err).expect("the cause is kept");
        assert!(cause.to_string().contains("filelists"), "{cause}");
    }

    #[test]
    fn libsolv_errors_name_what_was_being_added() {
        use crate::install::{installcheck, InstallcheckMethod};
        use crate::libsolv::LibsolvError;
        let err = installcheck(&[], "x86\0", InstallcheckMethod::Fast).unwrap_err();
        assert!(matches!(&err, SolveError::LibsolvPool { .. }), "{err:?}");
        assert!(err.to_string().contains("base arch"), "{err}");
        // Python callers can name a repository anything.
        let repo = Repo::empty("r\0", "/nowhere", "sha256:00");
        let err = installcheck(&[&repo], "x86_64", InstallcheckMethod::Fast).unwrap_err();
        assert!(matches!(&err, SolveError::LibsolvRepo { repo, .. } if repo == "r\0"));
        let cause = std::error::Error::source(&err).unwrap();
        assert!(matches!(
            cause.downcast_ref::<LibsolvError>(),
            Some(LibsolvError::InteriorNul(_))
        ));
    }
}
