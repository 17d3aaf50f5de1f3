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
//! stack_repo = "repo-file"     # or "merged": also one whole-stack repository
//! repo_base_url = "https://composes.example.org/strata"   # `out`, served
//! [platform.f40]
//! repos = ["/srv/repos/f40/$arch"]
//! [koji]
//! hub = "https://koji.fedoraproject.org/kojihub"
//! topurl = "https://kojipkgs.fedoraproject.org"
//! timeout = 600                 # seconds for one call to the hub
//! [network]                     # every HTTP peer: repositories, payloads
//! connect_timeout = 30          # seconds
//! read_timeout = 30             # seconds without data, and the stretch
//! min_rate = 1000               #   over which this many bytes/s must come
//! retries = 3                   # after connection failures, HTTP 5xx/429
//! [repodata]
//! max_open_size = "4 GiB"       # a metadata file without <open-size>
//! [cache]
//! max_size = "10 GiB"           # least recently used entries go first
//! max_age = 30                  # days unused
//! [chain]                       # what chained recomposes watch
//! catalog = ["modules/*.yaml", "git+https://src.example.org/m.git?php.yaml#main"]
//! policy = "policy.yaml"        # a strata-policy document (path or SCM URL)
//! scm_timeout = 300             # seconds per git run of an SCM fetch
//! scm_max_size = "512 MiB"      # the largest clone of one SCM repository
//! repo_wait = 7200              # seconds a build event waits for its repo
//! ```
//! (`[registry]` also takes `connect_timeout` and `statement_timeout`, in
//! seconds, for PostgreSQL, and `busy_timeout`, the seconds a SQLite
//! writer waits for another.) Relative paths are relative to the file that
//! names them; sizes are bytes or a string with a unit (`"500 MB"`).

use crate::error::ComposeError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use strata_registry::{OpenOptions, PgTimeouts, Registry, RegistryLocation};
use strata_repodata::http::NetworkSettings;
use strata_repodata::CacheLimits;

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
    #[serde(default)]
    pub network: NetworkConfig,
    #[serde(default)]
    pub repodata: RepodataConfig,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub serve: ServeConfig,
    #[serde(default)]
    pub chain: ChainConfig,
}

/// `[chain]`: the catalog of definitions chained recomposes watch, and
/// their policy. Entries are kept as written (paths made absolute): the
/// chain crate parses them, so that its errors name the entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// Paths (globs allowed) or `git+https://host/repo?path#ref` SCM URLs.
    #[serde(default)]
    pub catalog: Vec<String>,
    /// A `strata-policy` document: a path or an SCM URL.
    pub policy: Option<String>,
    /// Seconds one git run of an SCM fetch may take (default 300).
    pub scm_timeout: Option<u64>,
    /// The largest clone of one SCM repository (default 512 MiB).
    pub scm_max_size: Option<Size>,
    /// Seconds a queued build event waits for its build to reach a
    /// repository the catalog reads before it is planned anyway (default
    /// 7200: Koji regenerates a large tag's repo in tens of minutes).
    pub repo_wait: Option<u64>,
    /// The file that set these, for errors ("strata.toml: [chain] catalog
    /// entry 2 …"); `None` for the embedded defaults.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// A SQLite file.
    pub path: Option<PathBuf>,
    /// A PostgreSQL database: `postgresql://` or `postgres://` URL.
    pub url: Option<String>,
    /// Seconds to connect to PostgreSQL (a `connect_timeout` in the URL
    /// wins).
    pub connect_timeout: Option<f64>,
    /// Seconds one statement may take, on the server and waiting for it.
    pub statement_timeout: Option<f64>,
    /// Seconds a SQLite writer waits for another before giving up.
    pub busy_timeout: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeConfig {
    pub out: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    /// Arches for definitions that name none; default: this machine's.
    #[serde(default)]
    pub arches: Vec<String>,
    /// How a stack compose offers its stack (see [`StackRepo`]).
    #[serde(default)]
    pub stack_repo: StackRepo,
    /// Where `out` is served (HTTP): the `.repo` file of a stack names its
    /// repositories under this URL rather than as `file://` paths.
    pub repo_base_url: Option<String>,
}

/// How a stack compose (a module that requires modules) offers the whole
/// stack, beside the module's own repository.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StackRepo {
    /// `compose/<Variant>Stack.repo`: one section for each layer's own
    /// published repository and one for the module's, as multi-repository
    /// products ship; nothing of the layers is copied, so a compose costs
    /// what its module holds.
    #[default]
    RepoFile,
    /// The `.repo` file, and one repository holding the whole stack
    /// (`compose/<Variant>Stack/<arch>/os`), merged from the layers'
    /// published repositories: for a stack that is a deliverable of its
    /// own (a Pungi compose, a single repository to mirror).
    Merged,
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
    /// Seconds one call to the hub may take, answer included.
    pub timeout: Option<f64>,
}

/// `[network]`: every HTTP peer (see `strata_repodata::http`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Seconds.
    pub connect_timeout: Option<f64>,
    /// Seconds.
    pub read_timeout: Option<f64>,
    /// Bytes a second.
    pub min_rate: Option<u64>,
    pub retries: Option<u32>,
}

/// `[repodata]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepodataConfig {
    /// The most a metadata file without an `<open-size>` may decompress to.
    pub max_open_size: Option<Size>,
}

/// `[cache]`: the cache of parsed repositories and record stores.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    pub max_size: Option<Size>,
    /// Days.
    pub max_age: Option<f64>,
}

/// `[serve]`: `strata serve`, the dashboard and JSON API. Every setting
/// has a default; `POST /api/v1/events` is off unless `token` is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// `ADDRESS:PORT` to listen on (default `127.0.0.1:8080`).
    pub listen: Option<String>,
    /// The path the server is reached under behind a reverse proxy
    /// (e.g. `/strata`); default: none.
    pub base_path: Option<String>,
    /// The bearer token `POST /api/v1/events` requires; without one, events
    /// are refused.
    pub token: Option<String>,
    /// Queue each accepted event in the registry for `strata chain run
    /// --pending` (which debounces them): the server then writes the
    /// registry's event queue. Default false: the server only reads.
    pub queue_events: Option<bool>,
    #[serde(default)]
    pub limits: ServeLimits,
}

/// `[serve.limits]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeLimits {
    /// Registry calls running at once (each holds a connection).
    pub registry_workers: Option<usize>,
    /// Seconds one registry call may take before the request gets 503.
    pub registry_timeout: Option<f64>,
    /// The largest event body accepted.
    pub max_event_size: Option<Size>,
    /// Events accepted a minute, from all senders together.
    pub events_per_minute: Option<u32>,
    /// The largest log file served.
    pub max_log_size: Option<Size>,
    /// The most records one `/api/v1/composes` answer holds.
    pub max_list: Option<usize>,
    /// Composes a page of `/composes` shows.
    pub page_size: Option<usize>,
    /// Seconds the impact of an event (`POST /api/v1/events`) may take
    /// before the answer says it was not computed.
    pub impact_timeout: Option<f64>,
    /// No longer used: the registry now filters by date and finds the
    /// last good compose of every stream itself, a page at a time.
    /// Accepted so that configurations that set it still load.
    pub max_scan: Option<usize>,
}

/// A number of bytes: an integer, or a string with a unit (`"10 GiB"`,
/// `"500 MB"`, `"4G"`; K, M, G are powers of ten, KiB, MiB, GiB of two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl std::str::FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Size, String> {
        s.trim()
            .parse::<bytesize::ByteSize>()
            .map(|b| Size(b.as_u64()))
            .map_err(|_| format!("`{s}` is not a size (e.g. 10 GiB, 500 MB, or a number of bytes)"))
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Size, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a size: a number of bytes, or a string such as \"10 GiB\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom(format!("{v} is not a size")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Size, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Defaults of the settings that have no `Option` in their own crate.
pub(crate) const DEFAULT_KOJI_TIMEOUT: Duration = Duration::from_secs(600);
pub(crate) const DEFAULT_PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_PG_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

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
        config.check().map_err(bad)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rel = |p: &mut Option<PathBuf>| {
            if let Some(x) = p.as_mut().filter(|x| x.is_relative()) {
                *x = base.join(&*x);
            }
        };
        rel(&mut config.registry.path);
        rel(&mut config.compose.out);
        rel(&mut config.compose.cache_dir);
        let rel_text = |r: &mut String| {
            if !r.contains("://") && Path::new(r.as_str()).is_relative() {
                *r = base.join(&*r).display().to_string();
            }
        };
        for p in config.platform.values_mut() {
            p.repos.iter_mut().for_each(rel_text);
        }
        config.chain.catalog.iter_mut().for_each(rel_text);
        config.chain.policy.iter_mut().for_each(rel_text);
        config.chain.source = Some(path.to_path_buf());
        Ok(config)
    }
}

/// A number of seconds from the configuration as a duration; it must be
/// positive (and finite).
fn seconds(value: f64, key: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{key} must be a positive number of seconds, not {value}"))
}

impl Config {
    /// The checks TOML's types do not make.
    fn check(&self) -> Result<(), String> {
        let timeouts = [
            (self.network.connect_timeout, "[network] connect_timeout"),
            (self.network.read_timeout, "[network] read_timeout"),
            (self.registry.connect_timeout, "[registry] connect_timeout"),
            (
                self.registry.statement_timeout,
                "[registry] statement_timeout",
            ),
            (self.registry.busy_timeout, "[registry] busy_timeout"),
            (self.koji.as_ref().and_then(|k| k.timeout), "[koji] timeout"),
        ];
        for (value, key) in timeouts {
            if let Some(v) = value {
                seconds(v, key)?;
            }
        }
        if let Some(days) = self.cache.max_age {
            seconds(days * 86400.0, "[cache] max_age (days)").map_err(|_| {
                format!("[cache] max_age must be a positive number of days, not {days}")
            })?;
        }
        if let Some(u) = &self.compose.repo_base_url {
            let ok = url::Url::parse(u)
                .map(|u| !u.cannot_be_a_base() && u.query().is_none() && u.fragment().is_none())
                .unwrap_or(false);
            if !ok {
                return Err(format!(
                    "[compose] repo_base_url `{}` is not a base URL (scheme://host/path, \
                     no query or fragment)",
                    strata_model::redact_credentials(u)
                ));
            }
        }
        if self.network.min_rate == Some(0) {
            return Err("[network] min_rate must be at least 1 byte/s".into());
        }
        Ok(())
    }

    /// `[network]`, over the defaults.
    pub fn network(&self) -> NetworkSettings {
        let n = &self.network;
        let d = NetworkSettings::default();
        let secs = |v: Option<f64>, default| v.and_then(|v| seconds(v, "").ok()).unwrap_or(default);
        NetworkSettings {
            connect_timeout: secs(n.connect_timeout, d.connect_timeout),
            read_timeout: secs(n.read_timeout, d.read_timeout),
            min_rate: n.min_rate.unwrap_or(d.min_rate),
            retries: n.retries.unwrap_or(d.retries),
            ..d
        }
    }

    /// The cache directory: `given` (a command-line option), else
    /// `[compose] cache_dir`, else the default under $XDG_CACHE_HOME.
    pub fn cache_dir(&self, given: Option<&Path>) -> Option<PathBuf> {
        given
            .map(Path::to_path_buf)
            .or_else(|| self.compose.cache_dir.clone())
            .or_else(strata_repodata::default_cache_dir)
    }

    /// `[cache]`, over the defaults.
    pub fn cache_limits(&self) -> CacheLimits {
        let d = CacheLimits::default();
        CacheLimits {
            max_size: self.cache.max_size.map_or(d.max_size, |s| s.0),
            max_age: self
                .cache
                .max_age
                .and_then(|days| seconds(days * 86400.0, "").ok())
                .unwrap_or(d.max_age),
        }
    }

    /// `[registry]`'s timeouts, over the defaults.
    pub fn pg_timeouts(&self) -> PgTimeouts {
        let r = &self.registry;
        PgTimeouts {
            connect: r
                .connect_timeout
                .and_then(|v| seconds(v, "").ok())
                .unwrap_or(DEFAULT_PG_CONNECT_TIMEOUT),
            statement: r
                .statement_timeout
                .and_then(|v| seconds(v, "").ok())
                .unwrap_or(DEFAULT_PG_STATEMENT_TIMEOUT),
        }
    }

    /// `[registry]`'s timeouts for opening the registry, over the defaults.
    pub fn registry_options(&self) -> OpenOptions {
        let d = OpenOptions::default();
        OpenOptions {
            postgres: self.pg_timeouts(),
            busy_timeout: self
                .registry
                .busy_timeout
                .and_then(|v| seconds(v, "").ok())
                .unwrap_or(d.busy_timeout),
        }
    }

    /// Makes the settings that hold for the whole process take effect:
    /// `[network]` (the shared HTTP agent) and `[repodata]`.
    pub fn apply(&self) {
        strata_repodata::http::configure(self.network());
        strata_repodata::limits::set_max_open_size(
            self.repodata
                .max_open_size
                .map_or(strata_repodata::limits::DEFAULT_MAX_OPEN_SIZE, |s| s.0),
        );
    }
}

impl KojiConfig {
    /// How long one call to the hub may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
            .and_then(|v| seconds(v, "").ok())
            .unwrap_or(DEFAULT_KOJI_TIMEOUT)
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
        .ok_or(ComposeError::NoRegistry)
}

/// Opens the registry [`registry_location`] names, with the
/// configuration's timeouts.
pub fn open_registry(
    explicit: Option<&OsStr>,
    config: &Config,
) -> Result<Box<dyn Registry>, ComposeError> {
    let location = registry_location(explicit, config)?;
    Ok(strata_registry::open_with(
        &location,
        &config.registry_options(),
    )?)
}

/// Opens the registry [`registry_location`] names for reading only (see
/// [`strata_registry::open_read_only`]), with the configuration's
/// timeouts.
pub fn open_registry_read_only(
    explicit: Option<&OsStr>,
    config: &Config,
) -> Result<Box<dyn Registry>, ComposeError> {
    let location = registry_location(explicit, config)?;
    Ok(strata_registry::open_read_only_with(
        &location,
        &config.registry_options(),
    )?)
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
    fn chain_paths_follow_the_file_and_urls_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(
            &path,
            "[chain]\ncatalog = [\"modules/*.yaml\", \"/abs/x.yaml\", \
             \"git+https://src.example.org/m.git?php.yaml#main\"]\npolicy = \"policy.yaml\"\n\
             repo_wait = 900\n",
        )
        .unwrap();
        let c = Config::read(&path).unwrap().chain;
        assert_eq!(c.repo_wait, Some(900));
        assert_eq!(
            c.catalog,
            [
                dir.path().join("modules/*.yaml").display().to_string(),
                "/abs/x.yaml".to_string(),
                "git+https://src.example.org/m.git?php.yaml#main".to_string(),
            ]
        );
        assert_eq!(
            c.policy.unwrap(),
            dir.path().join("policy.yaml").display().to_string()
        );
        assert_eq!(c.source.unwrap(), path);
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
    fn limits_have_defaults_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        let read = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::read(&path)
        };
        let c = read("").unwrap();
        assert_eq!(c.network(), NetworkSettings::default());
        assert_eq!(c.cache_limits(), CacheLimits::default());
        assert_eq!(c.pg_timeouts().statement, DEFAULT_PG_STATEMENT_TIMEOUT);
        assert_eq!(
            c.registry_options().busy_timeout,
            strata_registry::DEFAULT_BUSY_TIMEOUT
        );
        let c = read(
            "[network]\nconnect_timeout = 2\nread_timeout = 0.5\nmin_rate = 10\nretries = 0\n\
             [cache]\nmax_size = \"1.5 GiB\"\nmax_age = 7\n[repodata]\nmax_open_size = 1000\n\
             [registry]\nstatement_timeout = 5\nbusy_timeout = 0.25\n",
        )
        .unwrap();
        let n = c.network();
        assert_eq!(n.connect_timeout, Duration::from_secs(2));
        assert_eq!(n.read_timeout, Duration::from_millis(500));
        assert_eq!((n.min_rate, n.retries), (10, 0));
        assert_eq!(c.cache_limits().max_size, 3 << 29);
        assert_eq!(c.cache_limits().max_age, Duration::from_secs(7 * 86400));
        assert_eq!(c.repodata.max_open_size, Some(Size(1000)));
        assert_eq!(c.pg_timeouts().statement, Duration::from_secs(5));
        assert_eq!(
            c.registry_options().busy_timeout,
            Duration::from_millis(250)
        );
        assert_eq!("500 MB".parse::<Size>().unwrap(), Size(500_000_000));
        assert_eq!("4G".parse::<Size>().unwrap(), Size(4_000_000_000));

        for (text, want) in [
            (
                "[network]\nread_timeout = -1\n",
                "[network] read_timeout must be a positive number of seconds, not -1",
            ),
            (
                "[network]\nconnect_timeout = 0\n",
                "[network] connect_timeout must be a positive",
            ),
            (
                "[registry]\nstatement_timeout = nan\n",
                "[registry] statement_timeout must be",
            ),
            (
                "[registry]\nbusy_timeout = 0\n",
                "[registry] busy_timeout must be a positive",
            ),
            (
                "[cache]\nmax_age = -2\n",
                "[cache] max_age must be a positive number of days",
            ),
            ("[cache]\nmax_size = \"lots\"\n", "`lots` is not a size"),
            (
                "[network]\nmin_rate = 0\n",
                "[network] min_rate must be at least",
            ),
            ("[network]\ntimeout = 3\n", "timeout"),
        ] {
            let e = read(text).unwrap_err().to_string();
            assert!(e.contains("strata.toml") && e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn stack_repo_is_a_repo_file_unless_merged_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        let read = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::read(&path)
        };
        assert_eq!(read("").unwrap().compose.stack_repo, StackRepo::RepoFile);
        let c = read(
            "[compose]\nstack_repo = \"merged\"\n\
             repo_base_url = \"https://composes.example.org/strata\"\n",
        )
        .unwrap();
        assert_eq!(c.compose.stack_repo, StackRepo::Merged);
        assert_eq!(
            c.compose.repo_base_url.as_deref(),
            Some("https://composes.example.org/strata")
        );
        for (text, want) in [
            (
                "[compose]\nstack_repo = \"whole\"\n",
                "unknown variant `whole`",
            ),
            (
                "[compose]\nrepo_base_url = \"composes/strata\"\n",
                "[compose] repo_base_url `composes/strata` is not a base URL",
            ),
            (
                "[compose]\nrepo_base_url = \"https://u:secret@h/x?y=1\"\n",
                "is not a base URL",
            ),
        ] {
            let e = read(text).unwrap_err().to_string();
            assert!(e.contains("strata.toml") && e.contains(want), "{text}: {e}");
            assert!(!e.contains("secret"), "{e}");
        }
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
