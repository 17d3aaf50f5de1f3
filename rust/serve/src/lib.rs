//! `strata serve`: the compose registry in a browser and over HTTP.
//!
//! Server-rendered pages (composes, one compose, a stack as a picture,
//! the last good compose per stream) and a JSON API under `/api/v1/` whose
//! answers are byte for byte what `strata … --json` prints
//! ([`strata_compose::json_bytes`]). Read-only: the registry is opened for
//! reading only ([`pool`]); the one thing written to is the log, by
//! `POST /api/v1/events` ([`events`]), which is off unless a token is
//! configured. Everything the registry holds is someone else's text: the
//! templates escape it (autoescaping), log files are served only from the
//! compose's own folder ([`logs`]), and every page is sent with a
//! Content-Security-Policy that allows no script.

mod chains;
mod error;
mod events;
mod logs;
mod pages;
mod plan;
mod pool;
mod stack;

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use strata_compose::Config;
use strata_registry::{OpenOptions, RegistryLocation};

pub use error::ServeError;
pub use events::Event;

/// How much the server takes on, `[serve.limits]` over these defaults.
#[derive(Debug, Clone)]
pub struct Limits {
    pub registry_workers: usize,
    pub registry_timeout: Duration,
    pub max_event_size: usize,
    pub events_per_minute: u32,
    pub max_log_size: u64,
    pub max_list: usize,
    /// The longest an event's impact may take.
    pub impact_timeout: Duration,
    /// Composes a page of `/composes` (and streams a page of `/latest`)
    /// shows: what one page reads from the registry, one more.
    pub page_size: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            registry_workers: 4,
            registry_timeout: Duration::from_secs(30),
            max_event_size: 64 * 1024,
            events_per_minute: 60,
            max_log_size: 16 * 1024 * 1024,
            max_list: 1000,
            page_size: 50,
            impact_timeout: Duration::from_secs(120),
        }
    }
}

/// Everything `strata serve` needs to start.
#[derive(Debug, Clone)]
pub struct Options {
    pub location: RegistryLocation,
    pub registry_options: OpenOptions,
    pub listen: String,
    /// `""`, or a path such as `/strata` every URL is under.
    pub base_path: String,
    pub token: Option<String>,
    pub limits: Limits,
    /// The configuration: its `[chain]` catalog and policy plan what an
    /// event would recompose.
    pub config: Arc<Config>,
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(Box<strata_compose::ComposeError>),

    #[error("bad [serve] setting {name} `{value}`: {reason}")]
    Setting {
        name: &'static str,
        value: String,
        reason: String,
    },

    #[error(transparent)]
    Registry {
        source: strata_registry::RegistryError,
    },

    #[error("cannot listen on {listen}")]
    Listen {
        listen: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot start the server's threads")]
    Runtime {
        #[source]
        source: std::io::Error,
    },

    #[error("the server stopped")]
    Serve {
        #[source]
        source: std::io::Error,
    },
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Options {
    /// The options the command line (`registry`, `listen`, `base_path`)
    /// and the configuration's `[registry]` and `[serve]` give, the
    /// command line first.
    pub fn new(
        registry: Option<&OsStr>,
        listen: Option<&str>,
        base_path: Option<&str>,
        config: &Config,
    ) -> Result<Options, StartError> {
        let serve = &config.serve;
        let location = strata_compose::registry_location(registry, config)
            .map_err(|e| StartError::Config(Box::new(e)))?;
        let listen = listen
            .or(serve.listen.as_deref())
            .unwrap_or(DEFAULT_LISTEN)
            .to_owned();
        let base_path =
            normalize_base_path(base_path.or(serve.base_path.as_deref()).unwrap_or(""))?;
        let token = match serve.token.as_deref() {
            Some(t) if t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(StartError::Setting {
                    name: "token",
                    value: "(hidden)".into(),
                    reason: "a token is at least 16 printable ASCII characters, without spaces"
                        .into(),
                })
            }
            t => t.map(str::to_owned),
        };
        let d = Limits::default();
        let l = &serve.limits;
        let limits = Limits {
            registry_workers: l.registry_workers.unwrap_or(d.registry_workers).max(1),
            registry_timeout: seconds(
                "limits.registry_timeout",
                l.registry_timeout,
                d.registry_timeout,
            )?,
            impact_timeout: seconds("limits.impact_timeout", l.impact_timeout, d.impact_timeout)?,
            max_event_size: l.max_event_size.map_or(d.max_event_size, |s| {
                usize::try_from(s.0).unwrap_or(usize::MAX)
            }),
            events_per_minute: l.events_per_minute.unwrap_or(d.events_per_minute),
            max_log_size: l.max_log_size.map_or(d.max_log_size, |s| s.0),
            max_list: l.max_list.unwrap_or(d.max_list).max(1),
            page_size: l.page_size.unwrap_or(d.page_size).clamp(1, 1000),
        };
        if l.max_scan.is_some() {
            tracing::warn!(
                "[serve.limits] max_scan is no longer used: the registry filters by date \
                 and finds each stream's last good compose a page at a time"
            );
        }
        Ok(Options {
            location,
            registry_options: config.registry_options(),
            listen,
            base_path,
            token,
            limits,
            config: Arc::new(config.clone()),
        })
    }
}

/// A setting in seconds: positive, or the default when not given.
fn seconds(
    name: &'static str,
    given: Option<f64>,
    default: Duration,
) -> Result<Duration, StartError> {
    match given {
        None => Ok(default),
        Some(s) => Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| StartError::Setting {
                name,
                value: s.to_string(),
                reason: "must be a positive number of seconds".into(),
            }),
    }
}

/// `/strata/` → `/strata`; `/` → `` (no base path).
fn normalize_base_path(given: &str) -> Result<String, StartError> {
    let trimmed = given.trim_end_matches('/');
    let bad = |reason: &str| StartError::Setting {
        name: "base_path",
        value: given.to_owned(),
        reason: reason.to_owned(),
    };
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if !trimmed.starts_with('/') {
        return Err(bad("it must start with `/`"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/-._~".contains(c);
    if !trimmed.chars().all(allowed) || trimmed.contains("//") || trimmed.contains("/.") {
        return Err(bad(
            "only letters, digits and `/-._~` may be used, without empty or dot segments",
        ));
    }
    Ok(trimmed.to_owned())
}

/// What every request shares.
pub(crate) struct App {
    pub pool: Arc<pool::Pool>,
    pub base: String,
    pub limits: Limits,
    pub events: events::Gate,
    pub planner: plan::Planner,
}

/// The routes, under the base path.
pub fn router(options: &Options) -> Router {
    let app = Arc::new(App {
        pool: Arc::new(pool::Pool::new(
            options.location.clone(),
            options.registry_options.clone(),
            options.limits.registry_workers,
            options.limits.registry_timeout,
        )),
        base: options.base_path.clone(),
        limits: options.limits.clone(),
        events: events::Gate::new(options.token.clone(), &options.limits),
        planner: plan::Planner::new(
            Arc::clone(&options.config),
            options.location.clone(),
            options.registry_options.clone(),
            options.limits.impact_timeout,
        ),
    });
    let routes: Router<Arc<App>> = Router::new()
        .route("/", get(pages::index))
        .route("/composes", get(pages::composes))
        .route("/composes/{id}", get(pages::compose))
        .route("/composes/{id}/logs/{*path}", get(logs::serve_log))
        .route("/stacks/{module}", get(pages::stack))
        .route("/latest", get(pages::latest))
        .route("/chains", get(chains::chains))
        .route("/chains/{id}", get(chains::chain))
        .route("/artifacts", get(pages::artifacts))
        .route("/artifacts/{id}", get(pages::artifact))
        .route("/api/v1/chains", get(chains::api_chains))
        .route("/api/v1/chains/{id}", get(chains::api_chain))
        .route("/api/v1/artifacts", get(pages::api_artifacts))
        .route("/api/v1/artifacts/{id}", get(pages::api_artifact))
        .route("/api/v1/composes", get(pages::api_composes))
        .route("/api/v1/composes/{id}", get(pages::api_compose))
        .route("/api/v1/latest/{module}", get(pages::api_latest))
        .route("/api/v1/stacks/{module}", get(pages::api_stack))
        .route("/api/v1/events", post(events::post_event))
        .fallback(pages::not_found);
    let router: Router = if app.base.is_empty() {
        routes.with_state(app)
    } else {
        let base = app.base.clone();
        Router::new()
            .nest(&base, routes)
            .fallback(pages::not_found)
            .with_state(app)
    };
    router.layer(axum::middleware::from_fn(security_headers))
}

/// Nothing on a page may run script or load from elsewhere: whatever a
/// hostile string gets past the escaping, the browser refuses to run.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Serves until SIGINT or SIGTERM, printing the address it listens on
/// (`listening on http://127.0.0.1:8080/strata`) on stderr first: with
/// port 0 that is how a caller learns the port. The registry is opened
/// once first, so a mistyped `--registry` is an error at start rather
/// than a server of 503s; once serving, a registry that goes away gives
/// 503 until it is back.
pub async fn serve(options: Options) -> Result<(), StartError> {
    let (location, open_options) = (options.location.clone(), options.registry_options.clone());
    // Blocking, and a PostgreSQL connection must be dropped off the
    // async threads.
    tokio::task::spawn_blocking(move || {
        strata_registry::open_read_only_with(&location, &open_options).map(drop)
    })
    .await
    .map_err(|e| StartError::Runtime {
        source: std::io::Error::other(e),
    })?
    .map_err(|source| StartError::Registry { source })?;
    let listener = tokio::net::TcpListener::bind(&options.listen)
        .await
        .map_err(|source| StartError::Listen {
            listen: options.listen.clone(),
            source,
        })?;
    let addr: SocketAddr = listener.local_addr().map_err(|source| StartError::Listen {
        listen: options.listen.clone(),
        source,
    })?;
    eprintln!(
        "listening on http://{addr}{}/ (registry {})",
        options.base_path, options.location
    );
    let router = router(&options);
    axum::serve(listener, router)
        .with_graceful_shutdown(stop_signal())
        .await
        .map_err(|source| StartError::Serve { source })
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without handlers the default action (exit) still stops us.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// [`serve`] on a runtime of its own: what the CLI calls.
pub fn run(options: Options) -> Result<(), StartError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Registry calls are bounded by the pool; this only caps threads
        // left behind by calls that ran over their timeout.
        .max_blocking_threads(options.limits.registry_workers * 2 + 4)
        .build()
        .map_err(|source| StartError::Runtime { source })?
        .block_on(serve(options))
}

/// A JSON answer with the CLI's bytes.
pub(crate) fn json_response<T: serde::Serialize + ?Sized>(
    value: &T,
    status: StatusCode,
) -> Result<Response, ServeError> {
    let body = strata_compose::json_bytes(value).map_err(|source| ServeError::Json { source })?;
    Ok((status, [(header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub(crate) type AppState = State<Arc<App>>;

#[cfg(test)]
mod test {
    use super::*;

    fn config(toml: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load(Some(&path)).unwrap()
    }

    #[test]
    fn the_command_line_wins_over_serve_settings() {
        let c = config(
            "[registry]\npath = \"/r.sqlite\"\n[serve]\nlisten = \"0.0.0.0:9000\"\n\
             base_path = \"/strata/\"\ntoken = \"0123456789abcdef\"\n\
             [serve.limits]\nregistry_workers = 2\nmax_event_size = \"1 KiB\"\n",
        );
        let o = Options::new(None, None, None, &c).unwrap();
        assert_eq!(
            (o.listen.as_str(), o.base_path.as_str()),
            ("0.0.0.0:9000", "/strata")
        );
        assert_eq!(o.token.as_deref(), Some("0123456789abcdef"));
        assert_eq!(
            (o.limits.registry_workers, o.limits.max_event_size),
            (2, 1024)
        );
        let o = Options::new(
            Some(OsStr::new("/other.sqlite")),
            Some("127.0.0.1:0"),
            Some("/"),
            &c,
        )
        .unwrap();
        assert_eq!(o.location, RegistryLocation::Sqlite("/other.sqlite".into()));
        assert_eq!(
            (o.listen.as_str(), o.base_path.as_str()),
            ("127.0.0.1:0", "")
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let c = config("[registry]\npath = \"/r.sqlite\"\n[serve]\ntoken = \"short\"\n");
        let e = Options::new(None, None, None, &c).unwrap_err().to_string();
        assert_eq!(
            e,
            "bad [serve] setting token `(hidden)`: a token is at least 16 printable ASCII \
             characters, without spaces"
        );
        for bad in ["strata", "/a/../b", "/a b", "/a//b", "/<x>"] {
            let e = normalize_base_path(bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("bad [serve] setting base_path `{bad}`")),
                "{e}"
            );
        }
        assert_eq!(normalize_base_path("/a/b-c/").unwrap(), "/a/b-c");
    }
}
