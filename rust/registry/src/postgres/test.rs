//! What needs no server; the backend itself is tested against a real
//! PostgreSQL in `tests/postgres.rs`.

use super::*;

#[test]
fn passwords_never_show() {
    for (url, shown) in [
        (
            "postgresql://koji:s3cret@db.example/koji",
            "postgresql://koji@db.example/koji",
        ),
        (
            "postgres://koji@db.example:5433/koji",
            "postgres://koji@db.example:5433/koji",
        ),
        (
            "postgresql://db.example/koji",
            "postgresql://db.example/koji",
        ),
        (
            "postgresql://koji:p%40ss@db/koji?sslmode=disable&password=x&application_name=a",
            "postgresql://koji@db/koji?sslmode=disable&application_name=a",
        ),
        (
            "postgresql:///koji?host=/run/postgresql&Password=x",
            "postgresql:///koji?host=/run/postgresql",
        ),
        ("postgresql://u:pw@h", "postgresql://u@h"),
        (
            "host=db password=secret",
            "(a PostgreSQL connection string)",
        ),
    ] {
        assert_eq!(redact_url(url), shown, "{url}");
    }
}

#[test]
fn only_urls_are_accepted() {
    let err = PgRegistry::connect("host=db password=secret").unwrap_err();
    assert!(matches!(err, RegistryError::Location { .. }), "{err:?}");
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[test]
fn the_schema_file_is_the_version_the_code_knows() {
    let header = SCHEMA_SQL.lines().next().unwrap();
    assert!(
        header.ends_with(&format!("version {SCHEMA_VERSION}.")),
        "{header}"
    );
    assert!(SCHEMA_SQL.contains(&format!(
        "INSERT INTO strata.schema_version (version) VALUES ({SCHEMA_VERSION});"
    )));
    // Everything it creates is in the schema `strata`.
    for line in SCHEMA_SQL
        .lines()
        .filter(|l| l.starts_with("CREATE") && !l.starts_with("CREATE SCHEMA"))
    {
        assert!(line.contains(" strata."), "{line}");
    }
}

#[test]
fn unreachable_servers_are_open_errors_without_the_password() {
    // Port 1 on loopback: nothing listens there.
    let err = PgRegistry::connect("postgresql://koji:s3cret@127.0.0.1:1/koji?connect_timeout=5")
        .unwrap_err();
    assert!(matches!(err, RegistryError::Open { .. }), "{err:?}");
    let msg = err.to_string();
    assert_eq!(
        msg,
        "cannot open the compose registry postgresql://koji@127.0.0.1:1/koji?connect_timeout=5"
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("connect"), "{cause}");
    assert!(!cause.contains("s3cret"), "{cause}");
}
