//! What can go wrong answering a request, and the status each gets: a
//! registry that cannot be reached is 503 (and the server recovers when
//! it comes back), what is not there is 404, bad input is 400.

use axum::http::StatusCode;
use strata_registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The registry cannot be opened or read now: gone, locked, its
    /// database down.
    #[error("the compose registry is unavailable")]
    Unavailable {
        #[source]
        source: RegistryError,
    },

    #[error("the compose registry {location} did not answer within {secs} s ([serve.limits] registry_timeout)")]
    Timeout { location: String, secs: f64 },

    #[error(
        "the server is busy: all {workers} registry workers stayed taken for {secs} s \
         ([serve.limits] registry_workers, registry_timeout)"
    )]
    Busy { workers: usize, secs: f64 },

    #[error("cannot read the compose registry")]
    Registry {
        #[source]
        source: RegistryError,
    },

    #[error("cannot draw the stack of {module}")]
    Stack {
        module: String,
        #[source]
        source: Box<strata_compose::ComposeError>,
    },

    #[error("a registry worker failed: {0}")]
    Panicked(String),

    #[error("no compose `{0}` in the registry")]
    NoSuchCompose(String),

    #[error("no chain `{0}` in the registry")]
    NoSuchChain(String),

    #[error("no artifact compose `{0}` in the registry")]
    NoSuchArtifact(String),

    #[error("{0} has no good compose")]
    NoGoodCompose(String),

    #[error("`{0}` is not NAME:STREAM")]
    NotNameStream(String),

    #[error("compose `{compose_id}` has no log file `{path}`")]
    NoSuchLog { compose_id: String, path: String },

    #[error("log file `{path}` of compose `{compose_id}` is refused: {reason}")]
    LogRefused {
        compose_id: String,
        path: String,
        reason: String,
    },

    #[error(
        "log file `{path}` of compose `{compose_id}` is {size} bytes, over the limit of {limit} \
         ([serve.limits] max_log_size); read it from the compose folder"
    )]
    LogTooLarge {
        compose_id: String,
        path: String,
        size: u64,
        limit: u64,
    },

    #[error("cannot read log file `{path}` of compose `{compose_id}`")]
    LogRead {
        compose_id: String,
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("bad query parameter `{name}`: {reason}")]
    BadQuery { name: &'static str, reason: String },

    #[error("no page here")]
    NoRoute,

    #[error("cannot render page {template}")]
    Render {
        template: &'static str,
        #[source]
        source: minijinja::Error,
    },

    #[error("cannot write the JSON answer")]
    Json {
        #[source]
        source: serde_json::Error,
    },
}

impl From<RegistryError> for ServeError {
    fn from(source: RegistryError) -> ServeError {
        match source {
            RegistryError::Open { .. }
            | RegistryError::Missing { .. }
            | RegistryError::Backend { .. } => ServeError::Unavailable { source },
            source => ServeError::Registry { source },
        }
    }
}

impl ServeError {
    pub fn status(&self) -> StatusCode {
        match self {
            ServeError::Unavailable { .. }
            | ServeError::Timeout { .. }
            | ServeError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ServeError::NoSuchCompose(_)
            | ServeError::NoSuchChain(_)
            | ServeError::NoSuchArtifact(_)
            | ServeError::NoGoodCompose(_)
            | ServeError::NoSuchLog { .. }
            | ServeError::NoRoute => StatusCode::NOT_FOUND,
            ServeError::NotNameStream(_) | ServeError::BadQuery { .. } => StatusCode::BAD_REQUEST,
            ServeError::LogRefused { .. } => StatusCode::FORBIDDEN,
            ServeError::LogTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServeError::Registry { .. }
            | ServeError::Stack { .. }
            | ServeError::Panicked(_)
            | ServeError::LogRead { .. }
            | ServeError::Render { .. }
            | ServeError::Json { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message and its causes, one a line, as the CLI prints them.
    pub fn chain(&self) -> Vec<String> {
        let mut out = vec![self.to_string()];
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let text = s.to_string();
            if !out.last().is_some_and(|l| l.contains(&text)) {
                out.push(text);
            }
            source = s.source();
        }
        out
    }
}
