//! Site configuration: where the registry lives, the platform lookasides,
//! the Koji hub. TOML, read from `--config`, `$STRATA_CONFIG` or
//! `/etc/strata/strata.toml`; every setting has an embedded default, so a
//! compose of a module with no platform needs no file at all.
//!
//! ```toml
//! [registry]
//! path = "/var/lib/strata/registry.sqlite"
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
use std::path::{Path, PathBuf};

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
    pub path: Option<PathBuf>,
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

/// The registry a command uses: the one given, else the configuration's,
/// else `~/.local/share/strata/registry.sqlite`.
pub fn open_registry(
    explicit: Option<&Path>,
    config: &Config,
) -> Result<strata_registry::SqliteRegistry, ComposeError> {
    let path = explicit
        .map(Path::to_path_buf)
        .or_else(|| config.registry.path.clone())
        .or_else(strata_registry::SqliteRegistry::default_path)
        .ok_or_else(|| {
            ComposeError::Other("no registry path: pass --registry or set [registry] path".into())
        })?;
    Ok(strata_registry::SqliteRegistry::open(&path)?)
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
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(&path, "[registry]\npth = \"x\"\n").unwrap();
        let e = Config::read(&path).unwrap_err().to_string();
        assert!(e.contains("strata.toml") && e.contains("pth"), "{e}");
    }
}
