//! The upgrade path (`release check --from PREV`): every profile a user
//! installed from the previous release upgrades to this one, as `dnf
//! distro-sync` (without `--allowerasing`) would do it.
//!
//! Both releases are seen through their composes' records, not through
//! today's definitions: the previous release's modules are its pins (else
//! their last good composes) and every compose below them that their
//! records list as inputs; this release's are the composes the check
//! found. A profile is what the previous compose published in its
//! modulemd. For each module in both releases, each of its previous
//! profiles is installed from the previous release's repositories and
//! upgraded to this release's (`strata_solve::upgrade_sets`). A module
//! whose stream changed is also a switch (not a problem by itself): dnf
//! keeps the enabled stream, so the release compose announces the switch
//! with a modulemd-obsoletes (`obsoleted_by`) that dnf acts on, and the
//! switch then distro-syncs the old stream's packages to the new one's,
//! which is what its profiles are checked for.
//!
//! Each side is its module composes plus its platform, with the platform
//! packages a module ships by name hidden, as dnf's modular filtering
//! hides them.

use crate::error::ReleaseError;
use crate::report::{Problem, ReleaseReport, StreamSwitch, UpgradeSummary};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use strata_compose::{error_chain, substitute_arch, Config};
use strata_registry::{ComposeRecord, InputKind, Registry, ReleaseInputKind, ReleaseRecord, State};
use strata_repodata::{LoadOptions, Repo};
use strata_solve::{upgrade_sets, InstallSet, UpgradeOutcome, UpgradeSide};

/// What `--from` names: a previous release's document, or one of its
/// release composes in the registry.
pub(crate) enum Previous {
    File(PathBuf),
    Compose(Box<ReleaseRecord>),
}

/// Where `--from` points: a file when it looks like one (it exists, or has
/// a `/` or a YAML suffix), else a release compose ID, else a release name
/// (its newest finished release compose). Looked up before the check's
/// work starts, so a `--from` that names nothing fails at once.
pub(crate) fn previous(from: &str, registry: &dyn Registry) -> Result<Previous, ReleaseError> {
    let path = Path::new(from);
    let looks_like_file =
        path.exists() || from.contains('/') || from.ends_with(".yaml") || from.ends_with(".yml");
    if looks_like_file {
        return Ok(Previous::File(path.to_path_buf()));
    }
    previous_in_registry(from, registry)
}

/// The release compose `from` names: its ID, else a release name (its
/// newest finished release compose).
pub(crate) fn previous_in_registry(
    from: &str,
    registry: &dyn Registry,
) -> Result<Previous, ReleaseError> {
    let registry_err = |source| ReleaseError::Registry {
        file: from.to_owned(),
        source: Box::new(source),
    };
    let found = match registry.get_release(from).map_err(registry_err)? {
        Some(r) => Some(r),
        None => registry
            .list_releases(None)
            .map_err(registry_err)?
            .into_iter()
            .find(|r| r.name == from && r.state == State::Finished),
    };
    match found {
        Some(r) if r.state == State::Finished => Ok(Previous::Compose(Box::new(r))),
        Some(r) => Err(ReleaseError::PreviousNotFinished {
            from: from.to_owned(),
            state: r.state.as_str().to_owned(),
        }),
        None => Err(ReleaseError::PreviousNotFound {
            from: from.to_owned(),
        }),
    }
}

/// Checks the upgrade from the previous release (see [`previous`]) to the
/// one `report` describes, adding its problems and summary to the report.
/// `shown` names a previous release document in the report and errors in
/// place of its path.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_upgrade(
    report: &mut ReleaseReport,
    from: &Previous,
    by: &str,
    shown: Option<&str>,
    config: &Config,
    registry: &dyn Registry,
    cache_dir: Option<PathBuf>,
    loaded: Option<Side>,
) -> Result<(), ReleaseError> {
    // The previous release's name, version and the composes it ships (or
    // why one cannot be found).
    let (prev_name, version, shown, roots) = match from {
        Previous::File(path) => {
            let file = shown.map_or_else(|| path.display().to_string(), str::to_owned);
            let (doc, _) =
                strata_compose::read_release(path).map_err(|e| ReleaseError::Previous {
                    file: file.clone(),
                    source: Box::new(e),
                })?;
            let mut roots = Vec::new();
            for m in &doc.modules {
                let found = match &m.compose {
                    Some(id) => registry.get(id),
                    None => registry.latest_good(&m.name, &m.stream),
                }
                .map_err(|source| ReleaseError::Registry {
                    file: report.file.clone(),
                    source: Box::new(source),
                })?;
                roots.push(found.map(|r| r.id).ok_or_else(|| {
                    format!(
                        "{} has no {} in the registry",
                        m.nsv(),
                        m.compose
                            .as_ref()
                            .map_or("good compose".to_owned(), |id| format!("compose {id}"))
                    )
                }));
            }
            (doc.name, doc.version, file, roots)
        }
        Previous::Compose(r) => {
            let roots = r
                .inputs
                .iter()
                .filter(|i| i.kind != ReleaseInputKind::Artifact)
                .map(|i| Ok(i.compose_id.clone()))
                .collect();
            (r.name.clone(), r.version.clone(), r.id.clone(), roots)
        }
    };
    let mut summary = UpgradeSummary {
        from: shown,
        release: prev_name.clone(),
        version,
        checked: false,
        profiles: Vec::new(),
        switches: Vec::new(),
        by: by.to_owned(),
    };
    let arch = report.arch.clone();
    let registry_err = |source| ReleaseError::Registry {
        file: report.file.clone(),
        source: Box::new(source),
    };
    let mut problems: Vec<Problem> = Vec::new();
    let bad = |message: String| Problem::Previous {
        previous: prev_name.clone(),
        message,
    };

    // The previous release's composes: its modules, then what they stand on.
    let mut old: BTreeMap<String, ComposeRecord> = BTreeMap::new();
    let mut queue: Vec<String> = Vec::new();
    for root in roots {
        match root {
            Ok(id) => queue.push(id),
            Err(message) => problems.push(bad(message)),
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    while let Some(id) = queue.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(r) = registry.get(&id).map_err(registry_err)? else {
            problems.push(bad(format!("compose {id} is not in the registry")));
            continue;
        };
        if let Some(message) = unusable(&r, &arch) {
            problems.push(bad(format!("compose {id} {message}")));
            continue;
        }
        for i in &r.inputs {
            if matches!(i.kind, InputKind::Compose | InputKind::StackCompose) {
                queue.push(i.ident.clone());
            }
        }
        old.insert(r.name.clone(), r);
    }

    // This release's composes, as the check found them.
    let mut new: BTreeMap<String, ComposeRecord> = BTreeMap::new();
    for m in &report.modules {
        let Some(id) = &m.compose else { continue };
        if let Some(r) = registry.get(id).map_err(registry_err)? {
            new.insert(r.name.clone(), r);
        }
    }

    // Profiles of modules in both. A changed stream is a switch users
    // make (or dnf makes, from the obsoletes): its profiles must upgrade
    // across it just the same, as `distro-sync` after the switch does it.
    let mut sets: Vec<InstallSet> = Vec::new();
    for (name, o) in &old {
        let Some(n) = new.get(name) else { continue };
        if o.stream != n.stream {
            summary.switches.push(StreamSwitch {
                module: name.clone(),
                from_stream: o.stream.clone(),
                from_compose: o.id.clone(),
                to_stream: n.stream.clone(),
            });
        }
        match profiles(o, &arch) {
            Ok(found) => {
                for (profile, names) in found {
                    sets.push(InstallSet {
                        label: format!("{}:{}/{profile}", o.name, o.stream),
                        repo: o.id.clone(),
                        names,
                    });
                }
            }
            Err(message) => problems.push(bad(format!("compose {} {message}", o.id))),
        }
    }

    let ready = report.closure.is_some()
        && !problems
            .iter()
            .any(|p| matches!(p, Problem::Previous { .. }));
    if ready {
        let opts = LoadOptions {
            cache_dir,
            cache_limits: config.cache_limits(),
        };
        let load = |records: Vec<&ComposeRecord>, problems: &mut Vec<Problem>| {
            side(&report.file, &records, config, &arch, &opts, problems)
        };
        let from_side = load(old.values().collect(), &mut problems)?;
        // This release's side is what its closure check loaded.
        let to_side = match loaded {
            Some(side) => Some(side),
            None => load(new.values().collect(), &mut problems)?,
        };
        if let (Some(f), Some(t)) = (from_side, to_side) {
            let (frefs, trefs): (Vec<&Repo>, Vec<&Repo>) =
                (f.repos.iter().collect(), t.repos.iter().collect());
            let outcomes = upgrade_sets(
                UpgradeSide {
                    repos: &frefs,
                    hidden: &f.hidden,
                },
                UpgradeSide {
                    repos: &trefs,
                    hidden: &t.hidden,
                },
                Some(&arch),
                &sets,
            )
            .map_err(|source| ReleaseError::Solve {
                file: report.file.clone(),
                source: Box::new(source),
            })?;
            for u in &outcomes {
                match &u.outcome {
                    UpgradeOutcome::Upgrades(_) => {}
                    UpgradeOutcome::Fails {
                        blockers,
                        problems: why,
                    } => problems.push(Problem::Upgrade {
                        profile: u.label.clone(),
                        previous: prev_name.clone(),
                        blockers: blockers.clone(),
                        problems: why.concat(),
                    }),
                    UpgradeOutcome::NotInstalled {
                        missing,
                        problems: why,
                    } => {
                        let mut message = format!(
                            "the profile {} does not install from the previous release's \
                             composes, so its upgrade cannot be checked",
                            u.label
                        );
                        if !missing.is_empty() {
                            message += &format!(": no installable {}", missing.join(", "));
                        }
                        if !why.is_empty() {
                            message += &format!(": {}", why.join("; "));
                        }
                        problems.push(bad(message));
                    }
                }
            }
            summary.checked = true;
            summary.profiles = outcomes;
        }
    }
    report.problems.extend(problems);
    report.upgrade = Some(summary);
    Ok(())
}

/// Why a compose cannot stand for its module in the previous release.
fn unusable(r: &ComposeRecord, arch: &str) -> Option<String> {
    if r.artifact.is_some() {
        return Some("is an artifact compose, not a module's".into());
    }
    if r.state != State::Finished {
        return Some(format!("is {}; only a finished compose ships", r.state));
    }
    if !r
        .outputs
        .as_ref()
        .is_some_and(|o| o.repos.contains_key(arch))
    {
        return Some(format!("has no {arch} repository"));
    }
    None
}

/// The profiles a compose published for `arch`: name → package names.
fn profiles(r: &ComposeRecord, arch: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let Some(text) = r.modulemd.get(arch) else {
        return Err(format!(
            "recorded no {arch} modulemd (composed before schema version 3?)"
        ));
    };
    let docs = strata_modulemd::parse_modules_yaml(text)
        .map_err(|e| format!("has a modulemd that cannot be read: {e}"))?;
    Ok(docs
        .into_iter()
        .filter_map(|d| match d {
            strata_modulemd::Document::Stream(s) => Some(s.profiles),
            _ => None,
        })
        .flatten()
        .map(|(name, p)| (name, p.rpms))
        .collect())
}

/// One release's repositories as dnf sees them: its module composes,
/// then its platform, with the platform packages a module ships by name
/// hidden.
pub(crate) struct Side {
    pub repos: Vec<Repo>,
    pub hidden: Vec<(String, Vec<u32>)>,
}

/// Loads the module composes of one release and its platform (named by
/// the composes' platform inputs), hiding the platform packages a module
/// ships by name. `None` when a problem was recorded instead.
fn side(
    file: &str,
    records: &[&ComposeRecord],
    config: &Config,
    arch: &str,
    opts: &LoadOptions,
    problems: &mut Vec<Problem>,
) -> Result<Option<Side>, ReleaseError> {
    let mut repos: Vec<Repo> = Vec::new();
    let mut platforms: BTreeSet<String> = BTreeSet::new();
    let suffix = format!(".{arch}");
    for r in records {
        let dir = &r.outputs.as_ref().expect("checked usable").repos[arch];
        match strata_repodata::load_verified_repo(&r.id, &dir.display().to_string(), opts) {
            Ok((repo, _)) => repos.push(repo),
            Err(e) => {
                problems.push(Problem::Compose {
                    chain: vec![format!("{}:{}", r.name, r.stream)],
                    compose: r.id.clone(),
                    message: format!("has a repository that cannot be read: {}", error_chain(&e)),
                });
                return Ok(None);
            }
        }
        for i in r.inputs.iter().filter(|i| i.kind == InputKind::Platform) {
            if let Some(p) = i.name.strip_suffix(&suffix) {
                platforms.insert(p.to_owned());
            }
        }
    }
    let modules = repos.len();
    for p in &platforms {
        let Some(pc) = config.platform.get(p) else {
            problems.push(Problem::Platform {
                message: format!(
                    "composes of the upgrade check stand on platform {p}, which the \
                     configuration does not name ([platform.{p}] repos)"
                ),
            });
            return Ok(None);
        };
        for r in &pc.repos {
            let location = substitute_arch(r, arch);
            let id = format!("platform-{p}-{}", repos.len() - modules + 1);
            let repo = strata_repodata::load_repo(&id, &location, opts).map_err(|source| {
                ReleaseError::Platform {
                    file: file.to_owned(),
                    platform: p.clone(),
                    location: location.clone(),
                    source: Box::new(source),
                }
            })?;
            repos.push(repo);
        }
    }
    // dnf hides non-modular packages whose names an enabled stream ships.
    let modular: HashSet<&str> = repos[..modules]
        .iter()
        .flat_map(|r| r.iter().map(|p| p.name()))
        .collect();
    let hidden = repos[modules..]
        .iter()
        .map(|r| {
            let ids = r
                .iter()
                .filter(|p| modular.contains(p.name()))
                .map(|p| p.index)
                .collect();
            (r.id.clone(), ids)
        })
        .collect();
    Ok(Some(Side { repos, hidden }))
}
