//! Site configuration: where the registry lives, the platform lookasides,
//! the Koji hub. TOML, read from `--config`, `$STRATA_CONFIG` or
//! `/etc/strata/strata.toml`; every setting has an embedded default, so a
//! compose of a module with no platform needs no file at all.
//!
//! ```toml
//! [registry]
//! path = "/var/lib/strata/registry.sqlite"
//! # or, shared with Koji's hub and builders (not both):
//! # url = "postgresql://strata@db.example/koji"
//! [compose]
//! out = "/srv/composes"
//! cache_dir = "/var/cache/strata"
//! [platform.f40]
//! repos = ["/srv/repos/f40/$arch"]
//! [koji]
//! hub = "https://koji.fedoraproject.org/kojihub"
//! topurl = "https://kojipkgs.fedoraproject.org"
//! ```
//! Relative paths are relative to the file that names them.

use crate::error::ComposeError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use strata_registry::{Registry, RegistryLocation};

pub const SYSTEM_CONFIG: &str = "/etc/strata/strata.toml";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub registry: RegistryConfig,
    #[serde(default)]
    pub compose: ComposeConfig,
    /// Platform stream → its lookaside repositories.
    #[serde(default)]
    pub platform: BTreeMap<String, PlatformConfig>,
    #[serde(default)]
    pub koji: Option<KojiConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// A SQLite file.
    pub path: Option<PathBuf>,
    /// A PostgreSQL database: `postgresql://` or `postgres://` URL.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeConfig {
    pub out: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    /// Arches for definitions that name none; default: this machine's.
    #[serde(default)]
    pub arches: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformConfig {
    /// Repositories; `$arch`/`$basearch` are replaced by the compose arch.
    pub repos: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KojiConfig {
    /// The hub's XML-RPC URL.
    pub hub: String,
    /// Where the hub's topdir is served (`…/repos/<tag>/<id>/<arch>`), or
    /// a local path to it (builders mount it).
    pub topurl: String,
}

impl Config {
    /// Reads `explicit`, else `$STRATA_CONFIG`, else the system file if it
    /// exists, else the embedded defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ComposeError> {
        let from_env = std::env::var_os("STRATA_CONFIG").map(PathBuf::from);
        let path = match (explicit, from_env) {
            (Some(p), _) => Some(p.to_path_buf()),
            (None, Some(p)) => Some(p),
            (None, None) => Some(PathBuf::from(SYSTEM_CONFIG)).filter(|p| p.exists()),
        };
        match path {
            Some(p) => Config::read(&p),
            None => Ok(Config::default()),
        }
    }

    pub fn read(path: &Path) -> Result<Config, ComposeError> {
        let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ComposeError::Config {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let bad = |message: String| ComposeError::Config {
            path: path.display().to_string(),
            message,
        };
        match (&config.registry.path, &config.registry.url) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "[registry] sets both `path` (SQLite) and `url` (PostgreSQL); set one".into(),
                ))
            }
            (None, Some(url))
                if !matches!(
                    strata_registry::RegistryLocation::parse(url.as_ref()),
                    Ok(strata_registry::RegistryLocation::Postgres(_))
                ) =>
            {
                return Err(bad(format!(
                    "[registry] url `{}` is not a postgresql:// or postgres:// URL",
                    strata_registry::redact_url(url)
                )));
            }
            _ => {}
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let rel = |p: &mut Option<PathBuf>| {
            if let Some(x) = p.as_mut().filter(|x| x.is_relative()) {
                *x = base.join(&*x);
            }
        };
        rel(&mut config.registry.path);
        rel(&mut config.compose.out);
        rel(&mut config.compose.cache_dir);
        for p in config.platform.values_mut() {
            for r in &mut p.repos {
                if !r.contains("://") && Path::new(r.as_str()).is_relative() {
                    *r = base.join(&*r).display().to_string();
                }
            }
        }
        Ok(config)
    }
}

/// The registry a command uses: the one given (a SQLite path or a
/// `postgresql://` URL), else the configuration's `url` or `path`, else
/// `~/.local/share/strata/registry.sqlite`.
pub fn registry_location(
    explicit: Option<&OsStr>,
    config: &Config,
) -> Result<RegistryLocation, ComposeError> {
    if let Some(given) = explicit {
        return Ok(RegistryLocation::parse(given)?);
    }
    if let Some(url) = &config.registry.url {
        return Ok(RegistryLocation::Postgres(url.clone()));
    }
    config
        .registry
        .path
        .clone()
        .or_else(strata_registry::SqliteRegistry::default_path)
        .map(RegistryLocation::Sqlite)
        .ok_or_else(|| {
            ComposeError::Other("no registry: pass --registry or set [registry] path or url".into())
        })
}

/// Opens the registry [`registry_location`] names.
pub fn open_registry(
    explicit: Option<&OsStr>,
    config: &Config,
) -> Result<Box<dyn Registry>, ComposeError> {
    Ok(strata_registry::open(&registry_location(
        explicit, config,
    )?)?)
}

/// Replaces `$arch` and `$basearch` in a repository location.
pub fn substitute_arch(location: &str, arch: &str) -> String {
    location
        .replace("$basearch", arch)
        .replace("${basearch}", arch)
        .replace("$arch", arch)
        .replace("${arch}", arch)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(
            &path,
            "[registry]\npath = \"reg.sqlite\"\n[platform.f40]\nrepos = [\"repos/$arch\", \"https://x/$basearch\"]\n",
        )
        .unwrap();
        let c = Config::read(&path).unwrap();
        assert_eq!(c.registry.path.unwrap(), dir.path().join("reg.sqlite"));
        let repos = &c.platform["f40"].repos;
        assert_eq!(
            repos[0],
            dir.path().join("repos/$arch").display().to_string()
        );
        assert_eq!(substitute_arch(&repos[1], "aarch64"), "https://x/aarch64");
    }

    #[test]
    fn the_registry_is_a_path_or_a_url() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        let read = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::read(&path)
        };
        let c = read("[registry]\nurl = \"postgresql://strata:pw@db/koji\"\n").unwrap();
        assert_eq!(
            registry_location(None, &c).unwrap(),
            RegistryLocation::Postgres("postgresql://strata:pw@db/koji".into())
        );
        // What is given on the command line wins.
        assert_eq!(
            registry_location(Some(OsStr::new("r.sqlite")), &c).unwrap(),
            RegistryLocation::Sqlite("r.sqlite".into())
        );
        let given = registry_location(Some(OsStr::new("postgres://h/db")), &Config::default());
        assert_eq!(
            given.unwrap(),
            RegistryLocation::Postgres("postgres://h/db".into())
        );

        let e = read("[registry]\nurl = \"postgresql://h/db\"\npath = \"r.sqlite\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("strata.toml") && e.contains("both `path`"),
            "{e}"
        );
        let e = read("[registry]\nurl = \"mysql://u:secret@h/db\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("url `mysql://u@h/db` is not a postgresql:// or postgres:// URL"),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(&path, "[registry]\npth = \"x\"\n").unwrap();
        let e = Config::read(&path).unwrap_err().to_string();
        assert!(e.contains("strata.toml") && e.contains("pth"), "{e}");
    }
}
