//! `release check`: a release document against its module definitions,
//! the registry and one release-wide closure. In order:
//!
//! 1. read the release; read the definitions it names (paths relative to
//!    the release file, or SCM URLs through the bounded clone cache), then
//!    the configuration's catalog for the modules below them;
//! 2. walk `requires` from each of the release's modules, keeping the
//!    chain that reached each module stream: unknown modules, cycles, two
//!    streams of one module, and every module's lifecycle against the
//!    release's (its EOL and each service level);
//! 3. the compose each module stream ships (the release's pin, else the
//!    last good one), and each artifact's;
//! 4. when every module has one compose of the arch: ONE repoclosure of
//!    all their packages together against the platform (platform packages
//!    that a module ships by name are hidden, as dnf's modular filtering
//!    hides them), and every profile installed alone.
//!
//! Everything found is a [`Problem`] in the report; only what stops the
//! check itself (an unreadable release, catalog, registry or platform) is
//! an error.

use crate::error::ReleaseError;
use crate::report::{ArtifactUse, ClosureSummary, ModuleUse, Problem, ReleaseReport};
use crate::upgrade::Side;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use strata_chain::ScmCache;
use strata_compose::{error_chain, substitute_arch, Config};
use strata_model::{ArtifactDefinition, ModuleDefinition, ReleaseDefinition};
use strata_registry::{ComposeRecord, Registry, State};
use strata_repodata::{LoadOptions, Repo};
use strata_solve::{install_sets, repoclosure, ClosureOptions, InstallSet};

/// How to check.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// The arch whose composes are checked; `None`: the host's.
    pub arch: Option<String>,
    /// The cache directory (parsed repositories, SCM clones); `None`: the
    /// configuration's.
    pub cache_dir: Option<PathBuf>,
    /// The previous release (its document, a release compose ID or a
    /// release name), to check the upgrade path from; `None`: the
    /// document's `previous:`, else no upgrade check.
    pub from: Option<String>,
    /// How the report names a previous release given to `from` as a file
    /// (`upgrade.from`, and errors about it), in place of its path: the
    /// SCM URL a Koji task was given rather than the builder's checkout.
    pub from_display: Option<String>,
}

/// A module definition and where it was read.
struct Known {
    definition: ModuleDefinition,
    shown: String,
}

/// Checks the release at `path`.
pub fn check_release(
    path: &Path,
    config: &Config,
    registry: &dyn Registry,
    opts: &CheckOptions,
) -> Result<ReleaseReport, ReleaseError> {
    let file = path.display().to_string();
    let (release, _) = strata_compose::read_release(path).map_err(|e| ReleaseError::Release {
        file: file.clone(),
        source: Box::new(e),
    })?;
    // A previous release that cannot be used fails before the work
    // starts. `--from` wins over the document's `previous:`, which names
    // a release compose (an ID or a release name), never a file.
    let from = match (&opts.from, &release.previous) {
        (Some(from), _) => Some((crate::upgrade::previous(from, registry)?, "--from")),
        (None, Some(named)) => {
            let found =
                crate::upgrade::previous_in_registry(named, registry).map_err(|e| match e {
                    ReleaseError::PreviousNotFound { from } => {
                        ReleaseError::PreviousFieldNotFound {
                            file: file.clone(),
                            from,
                        }
                    }
                    other => other,
                })?;
            Some((found, "data.previous"))
        }
        (None, None) => None,
    };
    let arch = opts
        .arch
        .clone()
        .unwrap_or_else(|| strata_solve::host_arch().to_string());
    let base = path.parent().unwrap_or(Path::new("."));
    let cache_dir = config.cache_dir(opts.cache_dir.as_deref());
    let scm = strata_chain::scm_cache(config, cache_dir.as_deref()).ok();
    let mut problems: Vec<Problem> = Vec::new();

    // Step 1: the definitions.
    let mut known: BTreeMap<(String, String), Known> = BTreeMap::new();
    for (i, m) in release.modules.iter().enumerate() {
        let Some(entry) = &m.definition else {
            continue;
        };
        let bad = |message: String| Problem::Definition {
            entry: format!("data.modules[{i}]"),
            what: m.nsv(),
            message,
        };
        let (at, shown) = match locate(entry, base, scm.as_ref()) {
            Ok(found) => found,
            Err(message) => {
                problems.push(bad(format!("definition `{entry}`: {message}")));
                continue;
            }
        };
        match strata_compose::read_definition(&at) {
            Ok((d, _)) if d.nsv() != m.nsv() => problems.push(bad(format!(
                "definition `{entry}` defines {}, not {}",
                d.nsv(),
                m.nsv()
            ))),
            Ok((definition, _)) => {
                known.insert(
                    (m.name.clone(), m.stream.clone()),
                    Known { definition, shown },
                );
            }
            Err(e) => problems.push(bad(format!(
                "definition `{entry}` cannot be used: {}",
                error_chain(&e)
            ))),
        }
    }
    if !config.chain.catalog.is_empty() {
        let catalog_err = |source| ReleaseError::Catalog {
            file: file.clone(),
            source: Box::new(source),
        };
        let scm = strata_chain::scm_cache(config, cache_dir.as_deref()).map_err(catalog_err)?;
        let source = config
            .chain
            .source
            .clone()
            .unwrap_or_else(|| PathBuf::from(strata_compose::SYSTEM_CONFIG));
        for d in
            strata_chain::load_catalog(&source, &config.chain.catalog, &scm).map_err(catalog_err)?
        {
            // The release's own definitions win over the catalog's.
            known
                .entry((d.definition.name.clone(), d.definition.stream.clone()))
                .or_insert(Known {
                    definition: d.definition,
                    shown: d.shown,
                });
        }
    }

    // Step 2: the modules below, by breadth, each with its first chain.
    let mut reached: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut queue: VecDeque<(String, String, Vec<String>)> = release
        .modules
        .iter()
        .map(|m| (m.name.clone(), m.stream.clone(), vec![m.nsv()]))
        .collect();
    let mut cycles: BTreeSet<Vec<String>> = BTreeSet::new();
    while let Some((name, stream, chain)) = queue.pop_front() {
        if !seen.insert((name.clone(), stream.clone())) {
            continue;
        }
        if let Some(k) = known.get(&(name.clone(), stream.clone())) {
            for (rn, rs) in k.definition.module_requires() {
                let next = format!("{rn}:{rs}");
                // The same stream again is a cycle; another stream of a
                // module on the chain is walked, and reported as two
                // streams.
                let again = chain.iter().position(|c| *c == next);
                let mut longer = chain.clone();
                longer.push(next);
                if let Some(start) = again {
                    cycles.insert(longer[start..].to_vec());
                    continue;
                }
                queue.push_back((rn.to_owned(), rs.to_owned(), longer));
            }
        }
        reached.push((name, stream, chain));
    }
    problems.extend(cycles.into_iter().map(|cycle| Problem::Cycle { cycle }));

    let mut by_name: BTreeMap<&str, Vec<&Vec<String>>> = BTreeMap::new();
    for (name, _, chain) in &reached {
        by_name.entry(name).or_default().push(chain);
    }
    for (module, chains) in &by_name {
        if chains.len() > 1 {
            problems.push(Problem::StreamConflict {
                module: module.to_string(),
                chains: chains.iter().map(|c| c.to_vec()).collect(),
            });
        }
    }

    let promised = &release.lifecycle;
    let mut platforms: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, stream, chain) in &reached {
        let Some(k) = known.get(&(name.clone(), stream.clone())) else {
            problems.push(Problem::UnknownModule {
                chain: chain.clone(),
                known_streams: known
                    .keys()
                    .filter(|(n, _)| n == name)
                    .map(|(n, s)| format!("{n}:{s}"))
                    .collect(),
            });
            continue;
        };
        if let Some(p) = k.definition.platform() {
            platforms
                .entry(p.to_owned())
                .or_default()
                .push(k.definition.nsv());
        }
        let Some(lifecycle) = &k.definition.lifecycle else {
            problems.push(Problem::NoLifecycle {
                chain: chain.clone(),
            });
            continue;
        };
        // `YYYY-MM-DD` dates compare as text; both were checked as dates.
        if lifecycle.eol < promised.eol {
            problems.push(Problem::Lifecycle {
                chain: chain.clone(),
                level: "eol".into(),
                ends: lifecycle.eol.clone(),
                release_ends: promised.eol.clone(),
            });
        }
        for (level, release_ends) in &promised.sla {
            let ends = lifecycle.ends(level);
            // A level ending after the module's EOL was already reported
            // as the EOL.
            if ends < release_ends.as_str() && lifecycle.eol >= promised.eol {
                problems.push(Problem::Lifecycle {
                    chain: chain.clone(),
                    level: level.clone(),
                    ends: ends.to_owned(),
                    release_ends: release_ends.clone(),
                });
            }
        }
    }
    let platform = match platforms.len() {
        0 => None,
        1 => platforms.keys().next().cloned(),
        _ => {
            let each: Vec<String> = platforms
                .iter()
                .map(|(p, ms)| format!("{p} ({})", ms.join(", ")))
                .collect();
            problems.push(Problem::Platform {
                message: format!(
                    "the release's modules require different platforms: {}",
                    each.join("; ")
                ),
            });
            None
        }
    };

    // Step 3: the composes.
    let registry_err = |source| ReleaseError::Registry {
        file: file.clone(),
        source: Box::new(source),
    };
    let mut modules: Vec<ModuleUse> = Vec::new();
    let mut composes: Vec<(String, ComposeRecord)> = Vec::new();
    let mut complete = true;
    for (name, stream, chain) in &reached {
        let nsv = format!("{name}:{stream}");
        let Some(k) = known.get(&(name.clone(), stream.clone())) else {
            // Reported as unknown; its composes would say nothing more.
            complete = false;
            modules.push(ModuleUse {
                module: nsv,
                chain: chain.clone(),
                definition: None,
                compose: None,
            });
            continue;
        };
        let pin = release
            .module(name)
            .filter(|m| &m.stream == stream)
            .and_then(|m| m.compose.clone());
        let found = match &pin {
            Some(id) => {
                let problem = |message: String| Problem::Compose {
                    chain: chain.clone(),
                    compose: id.clone(),
                    message,
                };
                match registry.get(id).map_err(registry_err)? {
                    None => Err(problem("is not in the registry".into())),
                    Some(r) if r.artifact.is_some() => {
                        Err(problem("is an artifact compose, not a module's".into()))
                    }
                    Some(r) if (&r.name, &r.stream) != (name, stream) => Err(problem(format!(
                        "is a compose of {}:{}, not {nsv}",
                        r.name, r.stream
                    ))),
                    Some(r) if r.state != State::Finished => Err(problem(format!(
                        "is {}; only a finished compose can ship",
                        r.state
                    ))),
                    Some(r) => Ok(r),
                }
            }
            None => registry
                .latest_good(name, stream)
                .map_err(registry_err)?
                .ok_or_else(|| Problem::NoGoodCompose {
                    chain: chain.clone(),
                }),
        };
        let compose = match found {
            Ok(r) => {
                let id = r.id.clone();
                if r.outputs
                    .as_ref()
                    .is_some_and(|o| o.repos.contains_key(&arch))
                {
                    composes.push((nsv.clone(), r));
                } else {
                    complete = false;
                    problems.push(Problem::MissingArch {
                        chain: chain.clone(),
                        compose: id.clone(),
                        arch: arch.clone(),
                    });
                }
                Some(id)
            }
            Err(p) => {
                complete = false;
                problems.push(p);
                None
            }
        };
        modules.push(ModuleUse {
            module: nsv,
            chain: chain.clone(),
            definition: Some(k.shown.clone()),
            compose,
        });
    }
    let artifacts = check_artifacts(
        &release,
        base,
        scm.as_ref(),
        &reached,
        registry,
        &arch,
        &mut problems,
    )
    .map_err(registry_err)?;

    // Step 4: the closure, when every module has its one compose.
    // The repositories it loads are this release's side of the upgrade
    // check too: loaded once.
    let (closure, loaded) = if complete
        && !problems
            .iter()
            .any(|p| matches!(p, Problem::StreamConflict { .. } | Problem::Platform { .. }))
    {
        closure(
            &file,
            &composes,
            &known,
            platform.as_deref(),
            config,
            &arch,
            cache_dir,
            &mut problems,
        )?
    } else {
        (None, None)
    };
    let mut report = ReleaseReport {
        file,
        release: release.name.clone(),
        version: release.version.clone(),
        date: release.date.clone(),
        arch,
        modules,
        artifacts,
        closure,
        problems,
        upgrade: None,
    };
    if let Some((from, by)) = &from {
        let cache_dir = config.cache_dir(opts.cache_dir.as_deref());
        let shown = opts.from.as_ref().and(opts.from_display.as_deref());
        crate::upgrade::check_upgrade(
            &mut report,
            from,
            by,
            shown,
            config,
            registry,
            cache_dir,
            loaded,
        )?;
    }
    Ok(report)
}

/// Where a definition entry (a path relative to `base`, or an SCM URL) is
/// on this machine, and how reports show it (as the release writes it).
pub(crate) fn locate(
    entry: &str,
    base: &Path,
    scm: Option<&ScmCache>,
) -> Result<(PathBuf, String), String> {
    strata_chain::locate_in_release(entry, base, None, scm).map(|e| (e.path, entry.to_owned()))
}

/// Each artifact: its definition, what it installs (streams the release
/// ships), and its compose.
fn check_artifacts(
    release: &ReleaseDefinition,
    base: &Path,
    scm: Option<&ScmCache>,
    reached: &[(String, String, Vec<String>)],
    registry: &dyn Registry,
    arch: &str,
    problems: &mut Vec<Problem>,
) -> Result<Vec<ArtifactUse>, strata_registry::RegistryError> {
    let mut out = Vec::new();
    for a in &release.artifacts {
        let bad = |message: String| Problem::Artifact {
            definition: a.definition.clone(),
            message,
        };
        let def: Option<ArtifactDefinition> = match locate(&a.definition, base, scm) {
            Err(m) => {
                problems.push(bad(m));
                None
            }
            Ok((at, _)) => match strata_compose::read_artifact_definition(&at) {
                Ok((d, _)) => Some(d),
                Err(e) => {
                    problems.push(bad(format!("cannot be used: {}", error_chain(&e))));
                    None
                }
            },
        };
        let Some(def) = def else {
            out.push(ArtifactUse {
                definition: a.definition.clone(),
                name: None,
                compose: None,
            });
            continue;
        };
        for c in &def.contents {
            let ships: Vec<&str> = reached
                .iter()
                .filter(|(n, _, _)| *n == c.module)
                .map(|(_, s, _)| s.as_str())
                .collect();
            if !ships.contains(&c.stream.as_str()) {
                problems.push(bad(format!(
                    "it installs {}:{}, which the release does not ship{}",
                    c.module,
                    c.stream,
                    if ships.is_empty() {
                        String::new()
                    } else {
                        format!(" (it ships {}:{})", c.module, ships.join(", "))
                    }
                )));
            }
        }
        let compose = match &a.compose {
            Some(id) => match registry.get(id)? {
                None => {
                    problems.push(bad(format!("compose {id} is not in the registry")));
                    None
                }
                Some(r) if r.artifact.is_none() || r.name != def.name => {
                    problems.push(bad(format!(
                        "compose {id} is not a compose of the artifact {}",
                        def.name
                    )));
                    None
                }
                Some(r) if r.state != State::Finished => {
                    problems.push(bad(format!(
                        "compose {id} is {}; only a finished compose can ship",
                        r.state
                    )));
                    None
                }
                Some(r) => Some(r.id),
            },
            // An artifact compose's stream is its arch.
            None => match registry.latest_good(&def.name, arch)? {
                Some(r) => Some(r.id),
                None => {
                    problems.push(bad(format!(
                        "{} has no good {arch} compose (compose it with `strata compose \
                         artifact`)",
                        def.name
                    )));
                    None
                }
            },
        };
        out.push(ArtifactUse {
            definition: a.definition.clone(),
            name: Some(def.name.clone()),
            compose,
        });
    }
    Ok(out)
}

/// Step 4: one repoclosure of every module's packages against the
/// platform, then every profile.
#[allow(clippy::too_many_arguments)]
fn closure(
    file: &str,
    composes: &[(String, ComposeRecord)],
    known: &BTreeMap<(String, String), Known>,
    platform: Option<&str>,
    config: &Config,
    arch: &str,
    cache_dir: Option<PathBuf>,
    problems: &mut Vec<Problem>,
) -> Result<(Option<ClosureSummary>, Option<Side>), ReleaseError> {
    let opts = LoadOptions {
        cache_dir,
        cache_limits: config.cache_limits(),
    };
    let mut repos: Vec<Repo> = Vec::new();
    let mut module_of: BTreeMap<String, String> = BTreeMap::new();
    for (nsv, r) in composes {
        let dir = &r.outputs.as_ref().expect("checked with the arch").repos[arch];
        match strata_repodata::load_verified_repo(&r.id, &dir.display().to_string(), &opts) {
            Ok((repo, _)) => {
                module_of.insert(r.id.clone(), nsv.clone());
                repos.push(repo);
            }
            Err(e) => problems.push(Problem::Compose {
                chain: vec![nsv.clone()],
                compose: r.id.clone(),
                message: format!("has a repository that cannot be read: {}", error_chain(&e)),
            }),
        }
    }
    if repos.len() < composes.len() {
        return Ok((None, None));
    }
    let mut platform_ids = Vec::new();
    if let Some(p) = platform {
        let Some(pc) = config.platform.get(p) else {
            problems.push(Problem::Platform {
                message: format!(
                    "the release's modules require platform {p}, which the configuration \
                     does not name ([platform.{p}] repos)"
                ),
            });
            return Ok((None, None));
        };
        for (i, r) in pc.repos.iter().enumerate() {
            let location = substitute_arch(r, arch);
            let id = format!("platform-{}", i + 1);
            let repo = strata_repodata::load_repo(&id, &location, &opts).map_err(|source| {
                ReleaseError::Platform {
                    file: file.to_owned(),
                    platform: p.to_owned(),
                    location: location.clone(),
                    source: Box::new(source),
                }
            })?;
            platform_ids.push(id);
            repos.push(repo);
        }
    }
    // dnf hides non-modular packages whose names an enabled stream ships.
    let modular: HashSet<&str> = repos
        .iter()
        .filter(|r| !platform_ids.contains(&r.id))
        .flat_map(|r| r.iter().map(|p| p.name()))
        .collect();
    let mut hidden: Vec<(String, Vec<u32>)> = Vec::new();
    let mut hidden_count = 0;
    for r in repos.iter().filter(|r| platform_ids.contains(&r.id)) {
        let ids: Vec<u32> = r
            .iter()
            .filter(|p| modular.contains(p.name()))
            .map(|p| p.index)
            .collect();
        hidden_count += ids.len();
        hidden.push((r.id.clone(), ids));
    }
    let refs: Vec<&Repo> = repos.iter().collect();
    let options = ClosureOptions {
        check: module_of.keys().cloned().collect(),
        base_arch: Some(arch.to_owned()),
        hidden,
        ..ClosureOptions::default()
    };
    let solve_err = |source| ReleaseError::Solve {
        file: file.to_owned(),
        source: Box::new(source),
    };
    let report = repoclosure(&refs, &options, &|_, _, _| {}).map_err(solve_err)?;
    for u in &report.unresolved {
        problems.push(Problem::Unresolved {
            module: module_of.get(&u.repo).cloned().unwrap_or_default(),
            compose: u.repo.clone(),
            package: u.package.clone(),
            deps: u.deps.clone(),
        });
    }
    let mut sets = Vec::new();
    for (nsv, r) in composes {
        let Some((name, stream)) = nsv.split_once(':') else {
            continue;
        };
        let Some(k) = known.get(&(name.to_owned(), stream.to_owned())) else {
            continue;
        };
        for (profile, names) in &k.definition.profiles {
            sets.push(InstallSet {
                label: format!("{nsv}/{profile}"),
                repo: r.id.clone(),
                names: names.clone(),
            });
        }
    }
    for f in install_sets(&refs, &options, &sets).map_err(solve_err)? {
        problems.push(Problem::Profile {
            profile: f.label,
            missing: f.missing,
            problems: f.problems,
        });
    }
    let summary = ClosureSummary {
        packages: report.checked,
        hidden_platform_packages: hidden_count,
        profiles: sets.len(),
    };
    drop(refs);
    Ok((
        Some(summary),
        Some(Side {
            repos,
            hidden: options.hidden,
        }),
    ))
}

#[cfg(test)]
mod test {
    use super::*;
    use strata_registry::SqliteRegistry;

    fn module(dir: &Path, name: &str, stream: &str, requires: &str, lifecycle: &str) {
        std::fs::write(
            dir.join(format!("{name}-{stream}.yaml")),
            format!(
                "document: strata-module\nversion: 1\ndata:\n  name: {name}\n  stream: '{stream}'\n  \
                 summary: s\n  description: d\n  license: [MIT]\n  source:\n    repos: [/srv/r]\n  \
                 requires: {{platform: f40{requires}}}\n  packages:\n    {name}: {{}}\n{lifecycle}"
            ),
        )
        .unwrap();
    }

    fn release(dir: &Path, modules: &str) -> PathBuf {
        let path = dir.join("release.yaml");
        std::fs::write(
            &path,
            format!(
                "document: strata-release\nversion: 1\ndata:\n  name: f41\n  version: '41'\n  \
                 date: '2026-10-29'\n  lifecycle: {{eol: '2027-11-30', sla: {{security_fixes: \
                 '2027-11-30', bug_fixes: '2027-06-30'}}}}\n  modules:\n{modules}"
            ),
        )
        .unwrap();
        path
    }

    fn check(dir: &Path, path: &Path, config: &Config) -> ReleaseReport {
        let registry = SqliteRegistry::open(&dir.join("registry.sqlite")).unwrap();
        check_release(
            path,
            config,
            &registry,
            &CheckOptions {
                arch: Some("x86_64".into()),
                cache_dir: Some(dir.join("cache")),
                from: None,
                from_display: None,
            },
        )
        .unwrap()
    }

    fn texts(report: &ReleaseReport, skip_composes: bool) -> Vec<String> {
        report
            .problems
            .iter()
            .filter(|p| !(skip_composes && matches!(p, Problem::NoGoodCompose { .. })))
            .map(|p| p.to_string())
            .collect()
    }

    const LONG: &str = "  lifecycle: {eol: '2028-01-31'}\n";

    #[test]
    fn lifecycle_streams_and_unknown_modules_each_with_their_chain() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // php:8.2 → apache:2.4 → base:1 (whose security fixes end early);
        // ruby:3 → apache:2.6 (a second stream), and → gems:1 (undefined);
        // tools:1 gives no lifecycle.
        module(d, "php", "8.2", ", apache: '2.4'", LONG);
        module(d, "apache", "2.4", ", base: '1'", LONG);
        module(d, "apache", "2.6", "", LONG);
        module(
            d,
            "base",
            "1",
            "",
            "  lifecycle: {eol: '2028-01-31', sla: {security_fixes: '2027-01-31'}}\n",
        );
        module(d, "ruby", "3", ", apache: '2.6', gems: '1'", LONG);
        module(d, "tools", "1", "", "");
        let path = release(
            d,
            "    - {module: 'php:8.2', definition: php-8.2.yaml, default: true}\n    \
             - {module: 'ruby:3', definition: ruby-3.yaml}\n    \
             - {module: 'tools:1', definition: tools-1.yaml}\n    \
             - {module: 'go:1', definition: php-8.2.yaml}\n",
        );
        // The modules below come from the catalog.
        let mut config = Config::default();
        config.chain.catalog = vec![
            d.join("apache-*.yaml").display().to_string(),
            d.join("base-1.yaml").display().to_string(),
        ];
        let report = check(d, &path, &config);
        assert_eq!(
            texts(&report, true),
            [
                "data.modules[3] (go:1): definition `php-8.2.yaml` defines php:8.2, not go:1",
                "apache: 2 streams in one release, and dnf enables one: php:8.2 requires \
                 apache:2.4; ruby:3 requires apache:2.6",
                "tools:1, whose definition gives no lifecycle, so it promises no support",
                "go:1: no definition in the release or the catalog defines it",
                "ruby:3 requires gems:1, which no definition in the release or the catalog \
                 defines",
                "php:8.2 requires apache:2.4, which requires base:1, whose security_fixes end \
                 2027-01-31, before the release's 2027-11-30",
            ],
            "{report:#?}"
        );
        let chains: Vec<String> = report
            .modules
            .iter()
            .map(|m| super::super::chain_text(&m.chain))
            .collect();
        assert_eq!(
            chains,
            [
                "php:8.2",
                "ruby:3",
                "tools:1",
                "go:1",
                "php:8.2 requires apache:2.4",
                "ruby:3 requires apache:2.6",
                "ruby:3 requires gems:1",
                "php:8.2 requires apache:2.4, which requires base:1",
            ]
        );
        // Every module without a compose is named, and nothing closes.
        assert_eq!(
            report
                .problems
                .iter()
                .filter(|p| matches!(p, Problem::NoGoodCompose { .. }))
                .count(),
            6
        );
        assert_eq!(report.closure, None);
        assert!(!report.ok());
    }

    #[test]
    fn cycles_and_an_early_end_of_life() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        module(d, "a", "1", ", b: '1'", LONG);
        module(
            d,
            "b",
            "1",
            ", a: '1'",
            "  lifecycle: {eol: '2027-01-31'}\n",
        );
        let path = release(d, "    - {module: 'a:1', definition: a-1.yaml}\n");
        let mut config = Config::default();
        config.chain.catalog = vec![d.join("b-1.yaml").display().to_string()];
        let report = check(d, &path, &config);
        assert_eq!(
            texts(&report, true),
            [
                "modules require each other in a circle: a:1 → b:1 → a:1",
                "a:1 requires b:1, whose end of life is 2027-01-31, before the release's \
                 2027-11-30",
            ],
            "{report:#?}"
        );
        // Another stream of a module on the chain is no circle: two streams.
        module(d, "b", "1", ", a: '2'", LONG);
        module(d, "a", "2", "", LONG);
        config
            .chain
            .catalog
            .push(d.join("a-2.yaml").display().to_string());
        let report = check(d, &path, &config);
        assert_eq!(
            texts(&report, true),
            [
                "a: 2 streams in one release, and dnf enables one: a:1; a:1 requires b:1, \
              which requires a:2"
            ],
            "{report:#?}"
        );
    }

    #[test]
    fn a_definition_that_cannot_be_read_is_a_problem_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("bad.yaml"),
            "document: strata-module\nversion: 1\ndata: {}\n",
        )
        .unwrap();
        let path = release(
            d,
            "    - {module: 'a:1', definition: missing.yaml}\n    \
             - {module: 'b:1', definition: bad.yaml}\n    \
             - {module: 'c:1', definition: 'https://h/r.git?c.yaml#main'}\n",
        );
        let report = check(d, &path, &Config::default());
        let t = texts(&report, true);
        assert!(
            t[0].starts_with("data.modules[0] (a:1): definition `missing.yaml` cannot be used: "),
            "{t:#?}"
        );
        assert!(
            t[1].starts_with("data.modules[1] (b:1): definition `bad.yaml` cannot be used: ")
                && t[1].contains("bad.yaml is not a valid strata-module document"),
            "{t:#?}"
        );
        assert!(
            t[2].starts_with(
                "data.modules[2] (c:1): definition `https://h/r.git?c.yaml#main`: `https://` \
                 is not an SCM URL scheme"
            ),
            "{t:#?}"
        );
        // A broken release document is the error itself, naming the file.
        std::fs::write(
            &path,
            "document: strata-release\nversion: 1\ndata: {name: x}\n",
        )
        .unwrap();
        let registry = SqliteRegistry::open(&d.join("registry.sqlite")).unwrap();
        let err = check_release(
            &path,
            &Config::default(),
            &registry,
            &CheckOptions::default(),
        )
        .unwrap_err();
        let text = error_chain(&err);
        assert!(
            text.starts_with(&format!("cannot check the release {}", path.display())),
            "{text}"
        );
        assert!(
            text.contains("missing field `version`") || text.contains("version"),
            "{text}"
        );
    }
}
