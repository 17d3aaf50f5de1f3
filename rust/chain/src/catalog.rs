//! The catalog: which definitions chained recomposes watch, from `[chain]
//! catalog` in strata.toml (a release document will be another source).
//!
//! An entry is a path (globs allowed; made absolute by the config reader)
//! or an SCM URL as Koji's builders take them (`koji.daemon.SCM`):
//! `git+https://host/repo?path/in/repo.yaml#ref`. Entries are checked all
//! at once before anything starts; each error names the config file and
//! the entry. Fetching SCM entries (a bounded clone cache under the cache
//! directory) is the caller's step after this one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The most definitions one catalog may name: a glob matching a whole
/// file system is a mistake, not a distribution (Fedora has ~300 module
/// streams at most).
pub const MAX_CATALOG_DEFINITIONS: usize = 10_000;

/// SCM schemes accepted, as in Koji's `allowed_scms` usage.
const SCM_SCHEMES: &[&str] = &["git+https", "git+http", "git+ssh", "git+file", "git"];

/// One parsed catalog entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogEntry {
    /// A path or glob on this machine.
    Local { pattern: String },
    /// A file in an SCM repository at a revision.
    Scm {
        /// The clone URL (`https://host/repo`, the `git+` dropped as git
        /// itself would not understand it).
        repository: String,
        /// The definition's path inside the repository.
        path: String,
        /// The branch, tag or commit (`#ref`), required: a chain must know
        /// what it composes.
        revision: String,
    },
}

/// A catalog that cannot be used; nothing was started.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{config}: [chain] catalog entry {index} `{entry}`: {reason}")]
    Entry {
        config: String,
        /// 1-based, as people count.
        index: usize,
        entry: String,
        reason: String,
    },
    #[error(
        "{config}: [chain] catalog names more than {MAX_CATALOG_DEFINITIONS} definitions; \
         narrow its globs"
    )]
    TooMany { config: String },
    #[error("{config}: [chain] catalog is empty or missing: name the definitions chains watch")]
    Empty { config: String },
    #[error("no cache directory for SCM clones: set [compose] cache_dir, or HOME")]
    NoCacheDir,
    #[error("{config}: [chain] policy `{entry}`: {reason}")]
    Policy {
        config: String,
        entry: String,
        reason: String,
    },
    #[error("{config}: [chain] policy `{entry}`: cannot fetch it")]
    PolicyFetch {
        config: String,
        entry: String,
        #[source]
        source: crate::scm::ScmError,
    },
    #[error("{config}: [chain] policy `{entry}`: cannot use it")]
    PolicyRead {
        config: String,
        entry: String,
        #[source]
        source: Box<strata_compose::ComposeError>,
    },
    #[error("{config}: [chain] catalog entry {index} `{entry}`: cannot fetch it")]
    Scm {
        config: String,
        index: usize,
        entry: String,
        #[source]
        source: crate::scm::ScmError,
    },
    #[error("{config}: [chain] catalog entry {index} `{entry}`: {path} is not a definition Strata can compose")]
    Definition {
        config: String,
        index: usize,
        entry: String,
        path: String,
        #[source]
        source: Box<strata_compose::ComposeError>,
    },
    #[error(
        "{config}: [chain] catalog entry {index} `{entry}`: {path} is {what}, not a module or \
         artifact definition"
    )]
    NotComposable {
        config: String,
        index: usize,
        entry: String,
        path: String,
        what: &'static str,
    },
    /// A definition a release of the catalog names cannot be found;
    /// `named` says which release names which definition.
    #[error("{config}: [chain] catalog entry {index} `{entry}`: {named}: {reason}")]
    ReleaseEntry {
        config: String,
        index: usize,
        entry: String,
        named: String,
        reason: String,
    },
    #[error("{config}: [chain] catalog entry {index} `{entry}`: cannot read {path}")]
    Read {
        config: String,
        index: usize,
        entry: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl CatalogEntry {
    /// Parses one entry (`Err` says why it is not one).
    pub fn parse(entry: &str) -> Result<CatalogEntry, String> {
        if entry.trim().is_empty() {
            return Err("the entry is empty".into());
        }
        if entry.chars().any(char::is_control) {
            return Err("the entry contains a control character".into());
        }
        let Some((scheme, rest)) = entry.split_once("://") else {
            return Ok(CatalogEntry::Local {
                pattern: entry.to_owned(),
            });
        };
        if !SCM_SCHEMES.contains(&scheme) {
            return Err(format!(
                "`{scheme}://` is not an SCM URL scheme Strata reads; use one of {}",
                SCM_SCHEMES.join(", ")
            ));
        }
        let (rest, revision) = rest
            .split_once('#')
            .ok_or("the SCM URL names no revision: add `#<branch, tag or commit>`")?;
        let (repo, path) = rest
            .split_once('?')
            .ok_or("the SCM URL names no file: add `?<path in the repository>` before the `#`")?;
        if revision.is_empty()
            || revision.starts_with('-')
            || revision.contains(char::is_whitespace)
        {
            return Err(format!("`{revision}` is not a revision git takes"));
        }
        if path.is_empty()
            || path.starts_with('/')
            || path.split('/').any(|c| c == ".." || c.is_empty())
        {
            return Err(format!(
                "`{path}` is not a relative path inside the repository"
            ));
        }
        if repo.is_empty() || repo.starts_with('/') && scheme != "git+file" {
            return Err("the SCM URL names no host and repository".into());
        }
        let clone_scheme = scheme.strip_prefix("git+").unwrap_or(scheme);
        Ok(CatalogEntry::Scm {
            repository: format!("{clone_scheme}://{repo}"),
            path: path.to_owned(),
            revision: revision.to_owned(),
        })
    }
}

/// What the catalog names: local definition files (sorted, each once) and
/// SCM entries still to fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Each file, with the (1-based) entry that first named it.
    pub files: BTreeMap<PathBuf, usize>,
    pub scm: Vec<ScmEntry>,
}

/// An SCM entry of the catalog, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScmEntry {
    /// 1-based, as people count.
    pub index: usize,
    /// As written in the configuration.
    pub entry: String,
    pub repository: String,
    pub path: String,
    pub revision: String,
}

impl ScmEntry {
    /// The entry with its revision replaced by the commit it named, as a
    /// compose records its SCM reference.
    pub fn at_commit(&self, commit: &str) -> String {
        let base = self.entry.rsplit_once('#').map_or(&*self.entry, |(b, _)| b);
        format!("{base}#{commit}")
    }
}

/// Parses every entry and expands the local globs; `config` names the
/// file the entries came from. The first bad entry is the error, and
/// nothing is started.
pub fn resolve(config: &Path, entries: &[String]) -> Result<Catalog, CatalogError> {
    let shown = config.display().to_string();
    let mut catalog = Catalog::default();
    for (i, entry) in entries.iter().enumerate() {
        let bad = |reason: String| CatalogError::Entry {
            config: shown.clone(),
            index: i + 1,
            entry: entry.clone(),
            reason,
        };
        match CatalogEntry::parse(entry).map_err(bad)? {
            CatalogEntry::Local { pattern } => {
                let paths = glob::glob(&pattern)
                    .map_err(|e| bad(format!("not a valid glob: {}", e.msg)))?;
                let mut matched = 0;
                for path in paths {
                    let path = path.map_err(|e| CatalogError::Read {
                        config: shown.clone(),
                        index: i + 1,
                        entry: entry.clone(),
                        path: e.path().display().to_string(),
                        source: e.into(),
                    })?;
                    matched += 1;
                    if catalog.files.len() >= MAX_CATALOG_DEFINITIONS {
                        return Err(CatalogError::TooMany { config: shown });
                    }
                    catalog.files.entry(path).or_insert(i + 1);
                }
                if matched == 0 {
                    return Err(bad("matches no file".into()));
                }
            }
            CatalogEntry::Scm {
                repository,
                path,
                revision,
            } => catalog.scm.push(ScmEntry {
                index: i + 1,
                entry: entry.clone(),
                repository,
                path,
                revision,
            }),
        }
    }
    Ok(catalog)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn scm_urls_read_as_koji_reads_them() {
        assert_eq!(
            CatalogEntry::parse("git+https://src.example.org/modules.git?php/8.2.yaml#main"),
            Ok(CatalogEntry::Scm {
                repository: "https://src.example.org/modules.git".into(),
                path: "php/8.2.yaml".into(),
                revision: "main".into(),
            })
        );
        for (bad, why) in [
            ("git+https://h/r.git?x.yaml", "names no revision"),
            ("git+https://h/r.git#main", "names no file"),
            ("https://h/r.git?x.yaml#main", "not an SCM URL scheme"),
            ("git+https://h/r.git?../x.yaml#main", "not a relative path"),
            (
                "git+https://h/r.git?x.yaml#--upload-pack=evil",
                "not a revision",
            ),
            ("", "empty"),
        ] {
            let err = CatalogEntry::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn globs_expand_and_bad_entries_name_file_and_entry() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.yaml", "b.yaml", "notes.txt"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let config = dir.path().join("strata.toml");
        let glob = dir.path().join("*.yaml").display().to_string();
        let url = "git+https://h/r.git?x.yaml#main".to_string();
        let c = resolve(&config, &[glob.clone(), url.clone(), glob.clone()]).unwrap();
        assert_eq!(
            c.files,
            BTreeMap::from([
                (dir.path().join("a.yaml"), 1),
                (dir.path().join("b.yaml"), 1)
            ])
        );
        assert_eq!(c.scm.len(), 1);
        let none = dir.path().join("*.yml").display().to_string();
        let err = resolve(&config, &[glob, none.clone()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: [chain] catalog entry 2 `{none}`: matches no file",
                config.display()
            )
        );
    }
}
