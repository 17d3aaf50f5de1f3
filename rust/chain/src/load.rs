//! The catalog, loaded: every definition it names read and checked (SCM
//! entries fetched through the clone cache first), before anything is
//! planned or composed. The first entry that cannot be used is the error,
//! naming the configuration file and the entry.
//!
//! An entry is a module definition, an artifact definition or a release:
//! each file's `document:` says which, so one glob may name all three. A
//! release stands for the definitions it names (its modules' and
//! artifacts'): paths relative to the release file (inside the same
//! repository and revision, for a release from SCM) or SCM URLs.

use crate::catalog::{resolve, CatalogEntry, CatalogError};
use crate::graph::{CatalogArtifact, CatalogModule};
use crate::scm::{ScmCache, ScmLimits};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use strata_compose::{ChainConfig, Config};
use strata_model::{ArtifactDefinition, ModuleDefinition, Policy, StrataDocument};

/// One definition of the catalog, read.
#[derive(Debug, Clone)]
pub struct CatalogDefinition {
    /// As shown in plans: the file's path, or the SCM URL as written.
    pub shown: String,
    /// The file to compose from (for an SCM entry, its copy in the cache).
    pub path: PathBuf,
    /// For an SCM entry: the URL at the commit its revision named, as the
    /// compose records it.
    pub scm_ref: Option<String>,
    pub definition: ModuleDefinition,
    /// SHA-256 of the file's bytes, as composes record it.
    pub digest: String,
}

impl CatalogDefinition {
    /// The module as the graph sees it.
    pub fn module(&self) -> CatalogModule {
        CatalogModule {
            name: self.definition.name.clone(),
            stream: self.definition.stream.clone(),
            definition: self.shown.clone(),
            requires: self
                .definition
                .module_requires()
                .map(|(n, s)| (n.to_owned(), s.to_owned()))
                .collect(),
        }
    }
}

/// One artifact definition of the catalog, read: an artifact a chain
/// composes after the stacks it installs.
#[derive(Debug, Clone)]
pub struct CatalogArtifactDefinition {
    /// As shown in plans: the file's path, or the SCM URL as written.
    pub shown: String,
    /// The file to compose from (for an SCM entry, its copy in the cache).
    pub path: PathBuf,
    /// For an SCM entry: the URL at the commit its revision named.
    pub scm_ref: Option<String>,
    pub definition: ArtifactDefinition,
    /// SHA-256 of the file's bytes, as artifact composes record it.
    pub digest: String,
    /// The arches a chain composes it for, one compose each (the
    /// definition's, else the host's).
    pub arches: Vec<String>,
}

impl CatalogArtifactDefinition {
    /// The artifact as the graph sees it: one node per arch, standing on
    /// the stacks it installs that are not pinned.
    pub fn nodes(&self) -> Vec<CatalogArtifact> {
        self.arches
            .iter()
            .map(|arch| CatalogArtifact {
                name: self.definition.name.clone(),
                arch: arch.clone(),
                kind: self.definition.kind,
                definition: self.shown.clone(),
                // A pinned stack does not change under it.
                contents: self
                    .definition
                    .contents
                    .iter()
                    .filter(|c| !self.definition.compose_pins.contains_key(&c.module))
                    .map(|c| (c.module.clone(), c.stream.clone()))
                    .collect(),
            })
            .collect()
    }
}

/// What a catalog names, read: module definitions and artifact
/// definitions.
#[derive(Debug, Clone, Default)]
pub struct LoadedCatalog {
    pub definitions: Vec<CatalogDefinition>,
    pub artifacts: Vec<CatalogArtifactDefinition>,
}

/// Reads every module definition `entries` (from `[chain] catalog` of
/// `config`) name; SCM entries are fetched into `scm`. Artifact
/// definitions are read and checked too, and left out (see
/// [`load_catalog_all`]).
pub fn load_catalog(
    config: &Path,
    entries: &[String],
    scm: &ScmCache,
) -> Result<Vec<CatalogDefinition>, CatalogError> {
    Ok(load_catalog_all(config, entries, scm)?.definitions)
}

/// Reads every module and artifact definition `entries` (from `[chain]
/// catalog` of `config`) name; SCM entries are fetched into `scm`.
pub fn load_catalog_all(
    config: &Path,
    entries: &[String],
    scm: &ScmCache,
) -> Result<LoadedCatalog, CatalogError> {
    let catalog = resolve(config, entries)?;
    let shown_config = config.display().to_string();
    let mut out = LoadedCatalog::default();
    let mut releases: Vec<ReleaseFound> = Vec::new();
    for (path, &index) in &catalog.files {
        let found = Found {
            index,
            path: path.clone(),
            shown: path.display().to_string(),
            scm: None,
        };
        read(
            &shown_config,
            entries,
            &found,
            &mut out,
            Some(&mut releases),
        )?;
    }
    for entry in &catalog.scm {
        let file = scm
            .fetch_file(&entry.repository, &entry.path, &entry.revision)
            .map_err(|source| CatalogError::Scm {
                config: shown_config.clone(),
                index: entry.index,
                entry: entry.entry.clone(),
                source,
            })?;
        let found = Found {
            index: entry.index,
            path: file.path,
            shown: entry.entry.clone(),
            scm: Some((entry.at_commit(&file.commit), entry.path.clone())),
        };
        read(
            &shown_config,
            entries,
            &found,
            &mut out,
            Some(&mut releases),
        )?;
    }
    // What the releases name, each definition once (a release may name a
    // definition the catalog names too, or another release does).
    let key = |path: &Path, scm_ref: Option<&String>| match scm_ref {
        Some(at) => at.clone(),
        None => std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string(),
    };
    let mut seen: HashSet<String> = out
        .definitions
        .iter()
        .map(|d| key(&d.path, d.scm_ref.as_ref()))
        .chain(
            out.artifacts
                .iter()
                .map(|a| key(&a.path, a.scm_ref.as_ref())),
        )
        .collect();
    for release in releases {
        let named = release
            .modules
            .iter()
            .chain(&release.artifacts)
            .cloned()
            .collect::<Vec<_>>();
        for definition in named {
            let bad = |reason: String| CatalogError::ReleaseEntry {
                config: shown_config.clone(),
                index: release.from.index,
                entry: entries[release.from.index - 1].clone(),
                named: format!(
                    "the release {} names the definition `{definition}`",
                    release.from.shown
                ),
                reason,
            };
            let from = &release.from;
            let found = locate_in_release(
                &definition,
                from.path.parent().unwrap_or(Path::new(".")),
                from.scm
                    .as_ref()
                    .map(|(at, path)| (at.as_str(), path.as_str())),
                Some(scm),
            )
            .map(|e| Found {
                index: from.index,
                path: e.path,
                shown: e.shown,
                scm: e.scm,
            })
            .map_err(bad)?;
            let at = found.scm.as_ref().map(|(at, _)| at);
            if seen.insert(key(&found.path, at)) {
                read(&shown_config, entries, &found, &mut out, None)?;
            }
        }
    }
    Ok(out)
}

/// A catalog file found: where it is, and how plans show it.
struct Found {
    /// The catalog entry (1-based) that named it, directly or through a
    /// release.
    index: usize,
    path: PathBuf,
    shown: String,
    /// For a file from SCM: the entry at the commit its revision named (as
    /// composes record it), and the file's path in the repository.
    scm: Option<(String, String)>,
}

/// A release of the catalog: the definitions it names, still to read.
struct ReleaseFound {
    from: Found,
    modules: Vec<String>,
    artifacts: Vec<String>,
}

/// Reads the catalog file `found` into `out`; a release goes to
/// `releases`, or is refused where a release cannot be (`None`: inside a
/// release).
fn read(
    shown_config: &str,
    entries: &[String],
    found: &Found,
    out: &mut LoadedCatalog,
    releases: Option<&mut Vec<ReleaseFound>>,
) -> Result<(), CatalogError> {
    let (index, path) = (found.index, found.path.as_path());
    let bad = |source| CatalogError::Definition {
        config: shown_config.to_owned(),
        index,
        entry: entries[index - 1].clone(),
        path: path.display().to_string(),
        source,
    };
    let (document, digest) =
        strata_compose::read_document_digest(path).map_err(|e| bad(Box::new(e)))?;
    let scm_ref = found.scm.as_ref().map(|(at, _)| at.clone());
    let what = match (document, releases) {
        (StrataDocument::Module(definition), _) => {
            out.definitions.push(CatalogDefinition {
                shown: found.shown.clone(),
                path: path.to_path_buf(),
                scm_ref,
                definition: *definition,
                digest,
            });
            return Ok(());
        }
        (StrataDocument::Artifact(definition), _) => {
            out.artifacts.push(CatalogArtifactDefinition {
                shown: found.shown.clone(),
                path: path.to_path_buf(),
                scm_ref,
                arches: strata_compose::artifact_arches(&definition),
                definition: *definition,
                digest,
            });
            return Ok(());
        }
        (StrataDocument::Release(release), Some(releases)) => {
            releases.push(ReleaseFound {
                from: Found {
                    index,
                    path: path.to_path_buf(),
                    shown: found.shown.clone(),
                    scm: found.scm.clone(),
                },
                modules: release
                    .modules
                    .iter()
                    .filter_map(|m| m.definition.clone())
                    .collect(),
                artifacts: release
                    .artifacts
                    .iter()
                    .map(|a| a.definition.clone())
                    .collect(),
            });
            return Ok(());
        }
        (StrataDocument::Release(_), None) => "a release document named by a release",
        (StrataDocument::Policy(_), _) => "a strata-policy document",
    };
    Err(CatalogError::NotComposable {
        config: shown_config.to_owned(),
        index,
        entry: entries[index - 1].clone(),
        path: path.display().to_string(),
        what,
    })
}

/// A definition a release names, found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseEntry {
    pub path: PathBuf,
    /// How plans show it: the SCM URL, or the local path.
    pub shown: String,
    /// For a file from SCM: the URL at the commit its revision named (as
    /// composes record it), and the file's path in the repository.
    pub scm: Option<(String, String)>,
}

/// Where the definition `entry` that a release names is: an SCM URL as it
/// says (fetched into `scm`); a path relative to `release_dir`, or, for a
/// release read from SCM (`release_scm`: its URL at the commit, and its
/// path in that repository), relative to the release's folder in the same
/// repository at the same commit, never outside it. `Err` says why, for a
/// message naming the entry.
pub fn locate_in_release(
    entry: &str,
    release_dir: &Path,
    release_scm: Option<(&str, &str)>,
    scm: Option<&ScmCache>,
) -> Result<ReleaseEntry, String> {
    let fetch = |url: &str| -> Result<ReleaseEntry, String> {
        let CatalogEntry::Scm {
            repository,
            path,
            revision,
        } = CatalogEntry::parse(url)?
        else {
            unreachable!("an SCM URL parses as one");
        };
        let scm =
            scm.ok_or("no cache directory for SCM clones: set [compose] cache_dir, or HOME")?;
        let file = scm
            .fetch_file(&repository, &path, &revision)
            .map_err(|e| format!("cannot fetch it: {}", strata_compose::error_chain(&e)))?;
        let base = url.rsplit_once('#').map_or(url, |(b, _)| b);
        Ok(ReleaseEntry {
            path: file.path,
            shown: url.to_owned(),
            scm: Some((format!("{base}#{}", file.commit), path)),
        })
    };
    match CatalogEntry::parse(entry)? {
        CatalogEntry::Scm { .. } => fetch(entry),
        CatalogEntry::Local { pattern } => match release_scm {
            None => {
                let path = release_dir.join(&pattern);
                Ok(ReleaseEntry {
                    shown: path.display().to_string(),
                    path,
                    scm: None,
                })
            }
            Some((at_commit, release_path)) => {
                let joined = beside(release_path, &pattern)
                    .ok_or_else(|| format!("`{pattern}` leaves the release's repository"))?;
                let (base, commit) = at_commit
                    .rsplit_once('#')
                    .expect("an SCM reference has a revision");
                let repo = base.rsplit_once('?').map_or(base, |(r, _)| r);
                fetch(&format!("{repo}?{joined}#{commit}"))
            }
        },
    }
}

/// `rel` next to the file at `path` inside a repository, `..` resolved;
/// `None` when it is absolute or climbs out of the repository.
fn beside(path: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// What `[chain]` of a configuration names, loaded: the catalog's
/// definitions and the policy.
#[derive(Debug, Clone)]
pub struct Watched {
    pub definitions: Vec<CatalogDefinition>,
    /// The catalog's artifact definitions: composed after their stacks.
    pub artifacts: Vec<CatalogArtifactDefinition>,
    pub policy: Policy,
    /// Where the policy came from (`None`: no `[chain] policy`, so no rule
    /// matches anything and chains recompose nothing).
    pub policy_file: Option<String>,
}

impl ScmLimits {
    /// The limits `[chain]` sets, else the defaults.
    pub fn of(config: &ChainConfig) -> ScmLimits {
        let default = ScmLimits::default();
        ScmLimits {
            timeout: config
                .scm_timeout
                .map_or(default.timeout, std::time::Duration::from_secs),
            max_bytes: config.scm_max_size.map_or(default.max_bytes, |s| s.0),
        }
    }
}

/// The SCM clone cache of a configuration: `scm/` in the cache directory
/// (`cache_dir`, else `[compose] cache_dir`, else the default cache).
pub fn scm_cache(config: &Config, cache_dir: Option<&Path>) -> Result<ScmCache, CatalogError> {
    let dir = config
        .cache_dir(cache_dir)
        .ok_or(CatalogError::NoCacheDir)?;
    Ok(ScmCache::new(dir.join("scm"), ScmLimits::of(&config.chain)))
}

/// Loads the catalog and the policy `[chain]` of `config` names; nothing
/// is started when either cannot be used.
pub fn load_watched(config: &Config, scm: &ScmCache) -> Result<Watched, CatalogError> {
    let file = config
        .chain
        .source
        .clone()
        .unwrap_or_else(|| PathBuf::from(strata_compose::SYSTEM_CONFIG));
    if config.chain.catalog.is_empty() {
        return Err(CatalogError::Empty {
            config: file.display().to_string(),
        });
    }
    let LoadedCatalog {
        definitions,
        artifacts,
    } = load_catalog_all(&file, &config.chain.catalog, scm)?;
    let Some(entry) = &config.chain.policy else {
        return Ok(Watched {
            definitions,
            artifacts,
            policy: Policy::default(),
            policy_file: None,
        });
    };
    let shown_config = file.display().to_string();
    let bad = |reason: String| CatalogError::Policy {
        config: shown_config.clone(),
        entry: entry.clone(),
        reason,
    };
    let path = match CatalogEntry::parse(entry).map_err(bad)? {
        CatalogEntry::Local { pattern } => PathBuf::from(pattern),
        CatalogEntry::Scm {
            repository,
            path,
            revision,
        } => {
            scm.fetch_file(&repository, &path, &revision)
                .map_err(|source| CatalogError::PolicyFetch {
                    config: shown_config.clone(),
                    entry: entry.clone(),
                    source,
                })?
                .path
        }
    };
    let policy = match strata_compose::read_document(&path) {
        Ok(StrataDocument::Policy(p)) => p,
        Ok(StrataDocument::Module(_)) => {
            return Err(bad(format!(
                "{} is a module definition, not a strata-policy document",
                path.display()
            )))
        }
        Ok(StrataDocument::Artifact(_)) => {
            return Err(bad(format!(
                "{} is an artifact definition, not a strata-policy document",
                path.display()
            )))
        }
        Ok(StrataDocument::Release(_)) => {
            return Err(bad(format!(
                "{} is a release document, not a strata-policy document",
                path.display()
            )))
        }
        Err(source) => {
            return Err(CatalogError::PolicyRead {
                config: shown_config,
                entry: entry.clone(),
                source: Box::new(source),
            })
        }
    };
    Ok(Watched {
        definitions,
        artifacts,
        policy,
        policy_file: Some(entry.clone()),
    })
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::scm::ScmError;
    use std::process::Command;
    use std::time::Duration;

    fn definition(name: &str, requires: &str) -> String {
        format!(
            "document: strata-module\nversion: 1\ndata:\n  name: {name}\n  stream: '1'\n  \
             summary: s\n  description: d\n  license: [MIT]\n  source:\n    repos: [/srv/r]\n  \
             requires: {{platform: f40{requires}}}\n  packages:\n    {name}: {{}}\n"
        )
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.org")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.org")
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// A git repository with modules/base.yaml on branch main.
    fn repo(dir: &Path) -> PathBuf {
        let repo = dir.join("modules.git");
        std::fs::create_dir_all(repo.join("modules")).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("modules/base.yaml"), definition("base", "")).unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "base"]);
        repo
    }

    #[test]
    fn paths_and_scm_entries_load_into_one_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo(dir.path());
        std::fs::write(
            dir.path().join("apache.yaml"),
            definition("apache", ", base: '1'"),
        )
        .unwrap();
        let config = dir.path().join("strata.toml");
        let url = format!("git+file://{}?modules/base.yaml#main", repo.display());
        let cache = ScmCache::new(dir.path().join("cache/scm"), ScmLimits::default());
        let local = dir.path().join("*.yaml").display().to_string();
        let loaded = load_catalog(&config, &[local, url.clone()], &cache).unwrap();
        let modules: Vec<CatalogModule> = loaded.iter().map(|d| d.module()).collect();
        assert_eq!(modules[0].name, "apache");
        assert_eq!(modules[0].requires, [("base".into(), "1".into())]);
        assert_eq!(modules[1].name, "base");
        assert_eq!(modules[1].definition, url);
        let head = git(&repo, &["rev-parse", "HEAD"]);
        assert_eq!(
            loaded[1].scm_ref.as_deref(),
            Some(&*format!(
                "git+file://{}?modules/base.yaml#{head}",
                repo.display()
            ))
        );
        // The branch moves: the next load fetches its new commit.
        std::fs::write(
            repo.join("modules/base.yaml"),
            definition("base", "") + "  api: [base]\n",
        )
        .unwrap();
        git(&repo, &["commit", "-q", "-am", "api"]);
        let again = load_catalog(&config, std::slice::from_ref(&url), &cache).unwrap();
        assert_eq!(again[0].definition.api, ["base"]);
        assert_ne!(again[0].digest, loaded[1].digest);
        // A full commit ID in the cache is read without fetching: the
        // repository can be gone.
        let pinned = format!("git+file://{}?modules/base.yaml#{head}", repo.display());
        std::fs::rename(&repo, dir.path().join("moved")).unwrap();
        let old = load_catalog(&config, &[pinned], &cache).unwrap();
        assert_eq!(old[0].digest, loaded[1].digest);
    }

    fn release(modules: &[&str]) -> String {
        let mut text = "document: strata-release\nversion: 1\ndata:\n  name: r\n  \
                        version: '1'\n  date: '2026-05-01'\n  lifecycle: {eol: '2027-12-31'}\n  \
                        modules:\n"
            .to_owned();
        for (i, definition) in modules.iter().enumerate() {
            text += &format!("    - {{module: 'm{i}:1', definition: '{definition}'}}\n");
        }
        text
    }

    #[test]
    fn a_release_in_the_catalog_stands_for_the_definitions_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo(dir.path());
        // In SCM: a release beside base.yaml, naming it relatively.
        std::fs::write(repo.join("modules/release.yaml"), release(&["base.yaml"])).unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "release"]);
        let head = git(&repo, &["rev-parse", "HEAD"]);
        // On disk: a release naming apache beside it (also named by the
        // catalog itself: read once) and base through SCM.
        let here = dir.path().join("here");
        std::fs::create_dir_all(here.join("releases")).unwrap();
        std::fs::write(
            here.join("apache.yaml"),
            definition("apache", ", base: '1'"),
        )
        .unwrap();
        let base_url = format!("git+file://{}?modules/base.yaml#main", repo.display());
        std::fs::write(
            here.join("releases/f41.yaml"),
            release(&["../apache.yaml", &base_url]),
        )
        .unwrap();
        let config = here.join("strata.toml");
        let cache = ScmCache::new(dir.path().join("cache/scm"), ScmLimits::default());
        let entries = [
            here.join("releases/*.yaml").display().to_string(),
            here.join("apache.yaml").display().to_string(),
        ];
        let loaded = load_catalog(&config, &entries, &cache).unwrap();
        let names: Vec<&str> = loaded.iter().map(|d| &*d.definition.name).collect();
        assert_eq!(names, ["apache", "base"]);
        assert_eq!(loaded[1].shown, base_url);
        // A release from SCM: its relative definitions come from the same
        // repository at the same commit.
        let rel_url = format!("git+file://{}?modules/release.yaml#main", repo.display());
        let loaded = load_catalog(&config, std::slice::from_ref(&rel_url), &cache).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].definition.name, "base");
        assert_eq!(
            loaded[0].scm_ref.as_deref(),
            Some(&*format!(
                "git+file://{}?modules/base.yaml#{head}",
                repo.display()
            ))
        );
        // What cannot be found is named with the release and the entry.
        std::fs::write(here.join("releases/bad.yaml"), release(&["../nope.yaml"])).unwrap();
        let err = load_catalog(&config, &entries, &cache).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, CatalogError::Definition { .. }), "{text}");
        assert!(text.contains("nope.yaml"), "{text}");
        std::fs::remove_file(here.join("releases/bad.yaml")).unwrap();
        std::fs::write(repo.join("modules/up.yaml"), release(&["../../out.yaml"])).unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "up"]);
        let up = format!("git+file://{}?modules/up.yaml#main", repo.display());
        let err = load_catalog(&config, &[up], &cache).unwrap_err();
        assert!(
            err.to_string()
                .contains("names the definition `../../out.yaml`: `../../out.yaml` leaves the release's repository"),
            "{err}"
        );
        // A release naming a release is refused.
        std::fs::write(here.join("releases/nested.yaml"), release(&["f41.yaml"])).unwrap();
        let err = load_catalog(&config, &entries, &cache).unwrap_err();
        assert!(
            err.to_string()
                .contains("is a release document named by a release"),
            "{err}"
        );
    }

    #[test]
    fn paths_beside_a_file_in_a_repository() {
        assert_eq!(beside("a/r.yaml", "m.yaml").as_deref(), Some("a/m.yaml"));
        assert_eq!(beside("a/r.yaml", "../m.yaml").as_deref(), Some("m.yaml"));
        assert_eq!(beside("r.yaml", "./x/m.yaml").as_deref(), Some("x/m.yaml"));
        assert_eq!(beside("r.yaml", "../m.yaml"), None);
        assert_eq!(beside("a/r.yaml", "/etc/m.yaml"), None);
    }

    #[test]
    fn scm_failures_name_the_file_the_entry_and_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo(dir.path());
        let config = dir.path().join("strata.toml");
        let cache = |limits| ScmCache::new(dir.path().join("cache/scm"), limits);
        let entry =
            |path: &str, rev: &str| vec![format!("git+file://{}?{path}#{rev}", repo.display())];
        let err = load_catalog(
            &config,
            &entry("modules/php.yaml", "main"),
            &cache(ScmLimits::default()),
        )
        .unwrap_err();
        let text = strata_compose::error_chain(&err);
        assert!(
            text.starts_with(&format!(
                "{}: [chain] catalog entry 1 `git+file://",
                config.display()
            )),
            "{text}"
        );
        assert!(text.contains("git could not read a file of"), "{text}");
        let err = load_catalog(
            &config,
            &entry("modules/base.yaml", "no-such-branch"),
            &cache(ScmLimits::default()),
        )
        .unwrap_err();
        assert!(
            matches!(
                &err,
                CatalogError::Scm {
                    source: ScmError::Git {
                        action: "fetch",
                        ..
                    },
                    ..
                }
            ),
            "{err:?}"
        );
        let tiny = ScmLimits {
            max_bytes: 1,
            ..ScmLimits::default()
        };
        let err =
            load_catalog(&config, &entry("modules/base.yaml", "main"), &cache(tiny)).unwrap_err();
        let text = strata_compose::error_chain(&err);
        assert!(
            text.contains("more than the 1 allowed ([chain] scm_max_size)"),
            "{text}"
        );
        let stopped = ScmLimits {
            timeout: Duration::ZERO,
            ..ScmLimits::default()
        };
        let err = load_catalog(
            &config,
            &entry("modules/base.yaml", "main"),
            &cache(stopped),
        )
        .unwrap_err();
        let text = strata_compose::error_chain(&err);
        assert!(text.contains("within 0 s ([chain] scm_timeout)"), "{text}");
        // A file that is not a definition.
        std::fs::write(repo.join("notes.yaml"), "just: notes\n").unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "notes"]);
        let err = load_catalog(
            &config,
            &entry("notes.yaml", "main"),
            &cache(ScmLimits::default()),
        )
        .unwrap_err();
        let text = strata_compose::error_chain(&err);
        assert!(
            text.contains("is not a definition Strata can compose"),
            "{text}"
        );
        assert!(
            text.contains("notes.yaml is not a valid strata-module document"),
            "{text}"
        );
    }

    #[test]
    fn the_configured_catalog_and_policy_load_from_scm() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo(dir.path());
        std::fs::write(
            repo.join("policy.yaml"),
            "document: strata-policy\nversion: 1\ndata:\n  rules:\n    - match: '*:*'\n",
        )
        .unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "policy"]);
        let at = |path: &str| format!("git+file://{}?{path}#main", repo.display());
        let toml = dir.path().join("strata.toml");
        std::fs::write(
            &toml,
            format!(
                "[compose]\ncache_dir = \"cache\"\n[chain]\ncatalog = [\"{}\"]\npolicy = \"{}\"\n",
                at("modules/base.yaml"),
                at("policy.yaml")
            ),
        )
        .unwrap();
        let config = Config::read(&toml).unwrap();
        let scm = scm_cache(&config, None).unwrap();
        assert_eq!(scm.dir, dir.path().join("cache/scm"));
        let watched = load_watched(&config, &scm).unwrap();
        assert_eq!(watched.definitions.len(), 1);
        assert_eq!(watched.policy.rules.len(), 1);
        // A module definition named as the policy, and no catalog.
        let mut wrong = config.clone();
        wrong.chain.policy = Some(at("modules/base.yaml"));
        let err = load_watched(&wrong, &scm).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("is a module definition, not a strata-policy document"),
            "{err}"
        );
        wrong.chain.catalog.clear();
        let err = load_watched(&wrong, &scm).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: [chain] catalog is empty or missing: name the definitions chains watch",
                toml.display()
            )
        );
    }
}
