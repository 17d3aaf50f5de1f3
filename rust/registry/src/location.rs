//! Where a registry is: a SQLite file, or a PostgreSQL database named by
//! a `postgresql://` (or `postgres://`) URL. Front ends take either in
//! one option (`--registry`, `registry=`) and open it with [`open`].

use std::ffi::OsStr;
use std::fmt;
use std::path::PathBuf;

use crate::error::RegistryError;
use crate::postgres::redact_url;
use crate::{PgRegistry, PgTimeouts, Registry, Result, SqliteRegistry};
use std::time::Duration;

/// A registry to open.
#[derive(Clone, PartialEq, Eq)]
pub enum RegistryLocation {
    /// A SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (the schema `strata` is created in the
    /// database if missing).
    Postgres(String),
}

/// Whether `text` is a PostgreSQL URL, as libpq spells them.
pub(crate) fn is_postgres_url(text: &str) -> bool {
    ["postgresql://", "postgres://"].iter().any(|scheme| {
        text.len() >= scheme.len() && text[..scheme.len()].eq_ignore_ascii_case(scheme)
    })
}

impl RegistryLocation {
    /// A `postgresql://` or `postgres://` URL is a PostgreSQL database;
    /// any other `scheme://` is refused (rather than taken for a file
    /// name); everything else is the path of a SQLite file.
    pub fn parse(text: &OsStr) -> Result<Self> {
        let Some(s) = text.to_str() else {
            // Not UTF-8, so not a URL.
            return Ok(RegistryLocation::Sqlite(PathBuf::from(text)));
        };
        if is_postgres_url(s) {
            return Ok(RegistryLocation::Postgres(s.to_owned()));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            {
                return Err(RegistryError::Location {
                    location: redact_url(s),
                    reason: format!(
                        "`{scheme}://` is not a registry URL; give the path of a SQLite file \
                         or a postgresql:// URL"
                    ),
                });
            }
        }
        Ok(RegistryLocation::Sqlite(PathBuf::from(s)))
    }
}

/// Shows the location as errors and logs do: a path, or the URL without
/// its password.
impl fmt::Display for RegistryLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryLocation::Sqlite(path) => write!(f, "{}", path.display()),
            RegistryLocation::Postgres(url) => f.write_str(&redact_url(url)),
        }
    }
}

/// Never prints the password.
impl fmt::Debug for RegistryLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryLocation::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            RegistryLocation::Postgres(url) => {
                f.debug_tuple("Postgres").field(&redact_url(url)).finish()
            }
        }
    }
}

/// How long a registry may wait (`[registry]` in strata.toml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// PostgreSQL's connect and statement timeouts.
    pub postgres: PgTimeouts,
    /// How long a SQLite writer waits for another before giving up.
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            postgres: PgTimeouts::default(),
            busy_timeout: crate::sqlite::DEFAULT_BUSY_TIMEOUT,
        }
    }
}

/// Opens the registry at `location`, creating its schema if needed.
pub fn open(location: &RegistryLocation) -> Result<Box<dyn Registry>> {
    open_with(location, &OpenOptions::default())
}

/// [`open`], with these timeouts.
pub fn open_with(location: &RegistryLocation, options: &OpenOptions) -> Result<Box<dyn Registry>> {
    Ok(match location {
        RegistryLocation::Sqlite(path) => {
            Box::new(SqliteRegistry::open_with(path, options.busy_timeout)?)
        }
        RegistryLocation::Postgres(url) => {
            Box::new(PgRegistry::connect_with(url, &options.postgres)?)
        }
    })
}

/// Opens the existing registry at `location` for reading: it creates no
/// file, folder or schema ([`RegistryError::Missing`] when there is
/// none), works on read-only files, folders and database roles, and
/// refuses every write. A registry of an older schema is updated first
/// if it can be.
pub fn open_read_only(location: &RegistryLocation) -> Result<Box<dyn Registry>> {
    open_read_only_with(location, &OpenOptions::default())
}

/// [`open_read_only`], with these timeouts.
pub fn open_read_only_with(
    location: &RegistryLocation,
    options: &OpenOptions,
) -> Result<Box<dyn Registry>> {
    Ok(match location {
        RegistryLocation::Sqlite(path) => Box::new(SqliteRegistry::open_read_only_with(
            path,
            options.busy_timeout,
        )?),
        RegistryLocation::Postgres(url) => {
            Box::new(PgRegistry::connect_read_only_with(url, &options.postgres)?)
        }
    })
}

#[cfg(test)]
mod test {
    use super::*;

    fn parse(s: &str) -> Result<RegistryLocation> {
        RegistryLocation::parse(OsStr::new(s))
    }

    #[test]
    fn urls_and_paths() {
        assert_eq!(
            parse("postgresql://koji@db/koji").unwrap(),
            RegistryLocation::Postgres("postgresql://koji@db/koji".into())
        );
        assert_eq!(
            parse("POSTGRES://db/koji").unwrap(),
            RegistryLocation::Postgres("POSTGRES://db/koji".into())
        );
        for path in [
            "registry.sqlite",
            "/var/lib/strata/r.sqlite",
            "./postgresql:x",
            "./a://x",
        ] {
            assert_eq!(
                parse(path).unwrap(),
                RegistryLocation::Sqlite(path.into()),
                "{path}"
            );
        }
        let err = parse("mysql://root:pw@db/strata").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot use `mysql://root@db/strata` as a compose registry: `mysql://` is not a \
             registry URL; give the path of a SQLite file or a postgresql:// URL"
        );
    }

    #[test]
    fn shown_without_password() {
        let loc = parse("postgresql://koji:s3cret@db/koji").unwrap();
        assert_eq!(loc.to_string(), "postgresql://koji@db/koji");
        assert!(!format!("{loc:?}").contains("s3cret"));
    }
}
