//! The PostgreSQL backend against a real server: a private cluster
//! (`common/pgkit.rs`) started once for this binary, a new database for
//! each check. The conformance checks (`common/conformance.rs`, the same
//! the SQLite backend passes), then what only PostgreSQL has: the schema
//! `strata` beside other tables, its version, refusing what is not
//! Strata's, Unix sockets, passwords kept out of messages.
//!
//! Without PostgreSQL installed this fails, saying what to install.

mod common;

use std::process::ExitCode;

use common::conformance::{self, new, test_data, Backend, Check, Target, NOV25};
use common::pgkit::Cluster;
use std::time::Duration;
use strata_registry::{PgRegistry, PgTimeouts, Registry, RegistryError, State};

struct Pg(Cluster);

impl Backend for Pg {
    fn fresh(&self) -> Target {
        let url = self.0.create_db();
        Target {
            shown: url.clone(),
            location: url,
            guard: None,
        }
    }

    fn load_v1(&self, t: &Target) {
        self.load(t, 1);
    }

    fn load_v7(&self, t: &Target) {
        self.load(t, 7);
    }

    fn lean_column(&self, t: &Target, compose_id: &str) -> Option<String> {
        // psql shows NULL as nothing; the column is never empty.
        let shown = self.0.psql(
            db_name(&t.location),
            &format!("SELECT lean FROM strata.composes WHERE id = '{compose_id}'"),
        );
        (!shown.is_empty()).then_some(shown)
    }

    fn forget_lean(&self, t: &Target) {
        self.0.psql(
            db_name(&t.location),
            "UPDATE strata.composes SET lean = NULL",
        );
    }

    fn exists(&self, t: &Target) -> bool {
        self.0.psql(
            db_name(&t.location),
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'strata'",
        ) != "0"
    }
}

impl Pg {
    /// The registry of `test-data/v<version>`: its schema file as it was,
    /// then the rows, which the SQLite dump shares.
    fn load(&self, t: &Target, version: u32) {
        let db = db_name(&t.location);
        self.0
            .psql(db, &test_data(&format!("v{version}/postgresql-schema.sql")));
        self.0.psql(
            db,
            &format!(
                "SET search_path = strata; {}",
                test_data(&format!("v{version}/rows.sql"))
            ),
        );
    }
}

/// The database name at the end of a URL.
fn db_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

fn tables(pg: &Pg, url: &str, schema: &str) -> String {
    pg.0.psql(
        db_name(url),
        &format!(
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables \
             WHERE schemaname = '{schema}'"
        ),
    )
}

fn lives_in_its_own_schema_beside_other_tables(pg: &Pg) {
    let t = pg.fresh();
    let db = db_name(&t.location);
    // Koji's own tables are in `public`.
    pg.0.psql(
        db,
        "CREATE TABLE build (id SERIAL PRIMARY KEY, nvr TEXT); \
         INSERT INTO build (nvr) VALUES ('httpd-2.4.58-1.fc40')",
    );
    let mut reg = t.open();
    reg.begin(&new("apache", "2.4")).unwrap();
    assert_eq!(
        tables(pg, &t.location, "strata"),
        "chain_events,chain_steps,chains,compose_inputs,compose_modulemd,compose_package_lists,\
         compose_repos,compose_tests,composes,counters,registry_info,release_inputs,releases,\
         schema_version,stream_locks"
    );
    assert_eq!(tables(pg, &t.location, "public"), "build");
    assert_eq!(
        pg.0.psql(db, "SELECT nvr FROM build"),
        "httpd-2.4.58-1.fc40"
    );
    assert_eq!(
        pg.0.psql(
            db,
            "SELECT string_agg(version::text, ',') FROM strata.schema_version"
        ),
        "13"
    );
    assert_eq!(
        pg.0.psql(db, "SELECT id FROM strata.composes"),
        "apache-2.4-20261125.n.0"
    );
    // Opening again changes nothing.
    drop(t.open());
    assert_eq!(
        pg.0.psql(db, "SELECT count(*) FROM strata.schema_version"),
        "1"
    );
}

fn a_newer_schema_is_refused(pg: &Pg) {
    let t = pg.fresh();
    t.open().begin(&new("apache", "2.4")).unwrap();
    pg.0.psql(
        db_name(&t.location),
        "INSERT INTO strata.schema_version (version) VALUES (14)",
    );
    let with_password = t.location.replace("postgres@", "postgres:s3cret@");
    let err = PgRegistry::connect(&with_password).unwrap_err();
    assert!(matches!(err, RegistryError::NewerSchema { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the compose registry {} has schema version 14, but this Strata knows versions up \
             to 13 only; use a newer Strata to read it",
            t.location
        )
    );
}

fn another_schema_named_strata_is_not_taken_over(pg: &Pg) {
    let t = pg.fresh();
    let db = db_name(&t.location);
    pg.0.psql(
        db,
        "CREATE SCHEMA strata; CREATE TABLE strata.notes (body TEXT)",
    );
    let err = PgRegistry::connect(&t.location).unwrap_err();
    assert!(matches!(err, RegistryError::NotARegistry { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a Strata compose registry: its schema `strata` has 1 tables or views \
             but no strata.schema_version",
            t.location
        )
    );
    assert_eq!(tables(pg, &t.location, "strata"), "notes");

    // An empty schema a DBA created beforehand is used.
    let t = pg.fresh();
    pg.0.psql(db_name(&t.location), "CREATE SCHEMA strata");
    t.open().begin(&new("apache", "2.4")).unwrap();
}

fn the_schema_file_can_be_applied_by_hand(pg: &Pg) {
    let t = pg.fresh();
    let sql = concat!(env!("CARGO_MANIFEST_DIR"), "/sql/postgresql.sql");
    pg.0.psql(db_name(&t.location), &std::fs::read_to_string(sql).unwrap());
    let mut reg = t.open();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    assert_eq!(id, "apache-2.4-20261125.n.0");
}

/// The columns, types, constraints and indexes of the schema `strata`.
fn schema_shape(pg: &Pg, url: &str) -> String {
    let db = db_name(url);
    let columns = pg.0.psql(
        db,
        "SELECT string_agg(format('%s.%s %s %s %s', table_name, column_name, data_type, \
         is_nullable, ordinal_position), E'\\n' ORDER BY table_name, ordinal_position) \
         FROM information_schema.columns WHERE table_schema = 'strata' \
         AND table_name <> 'schema_version'",
    );
    let constraints = pg.0.psql(
        db,
        "SELECT string_agg(format('%s %s', conrelid::regclass, pg_get_constraintdef(oid)), \
         E'\\n' ORDER BY conrelid::regclass::text, pg_get_constraintdef(oid)) \
         FROM pg_constraint WHERE connamespace = 'strata'::regnamespace",
    );
    let indexes = pg.0.psql(
        db,
        "SELECT string_agg(indexdef, E'\\n' ORDER BY indexdef) FROM pg_indexes \
         WHERE schemaname = 'strata'",
    );
    let versions = pg.0.psql(
        db,
        "SELECT string_agg(version::text, ',' ORDER BY version) FROM strata.schema_version",
    );
    format!("{columns}\n{constraints}\n{indexes}\nversions {versions}")
}

fn an_updated_version_1_database_has_the_schema_of_a_new_one(pg: &Pg) {
    let new = pg.fresh();
    drop(new.open());
    let old = pg.fresh();
    pg.load_v1(&old);
    drop(old.open());
    let (new, old) = (
        schema_shape(pg, &new.location),
        schema_shape(pg, &old.location),
    );
    assert!(
        old.contains("composes.owner_pid_namespace bigint YES 26"),
        "{old}"
    );
    assert!(
        old.contains("compose_package_lists.nevras bytea NO 4"),
        "{old}"
    );
    assert!(
        old.contains("compose_modulemd.document bytea NO 3"),
        "{old}"
    );
    assert!(!old.contains("compose_packages."), "{old}");
    assert_eq!(
        old.rsplit_once('\n').unwrap().1,
        "versions 1,2,3,4,5,6,7,8,9,10,11,12,13",
        "an update records each version"
    );
    // Apart from the versions applied, the same.
    let strip = |s: &str| s.rsplit_once('\n').unwrap().0.to_owned();
    assert_eq!(strip(&new), strip(&old));
    assert!(new.ends_with("versions 13"), "{new}");
    assert!(
        new.contains("composes_by_stream ON strata.composes USING btree (name, stream, state, seq) INCLUDE (id)"),
        "{new}"
    );
    assert!(new.contains("registry_info.value text NO 2"), "{new}");
    assert!(new.contains("composes.lean text YES 33"), "{new}");
    assert!(
        new.contains("compose_inputs_direct ON strata.compose_inputs USING btree (ident) WHERE (kind = 'compose'::text)"),
        "{new}"
    );
    assert!(!new.contains("compose_inputs_by_ident"), "{new}");
    assert!(new.contains("releases.owner_pid bigint YES 19"), "{new}");
    assert!(new.contains("releases.scm_ref text YES 23"), "{new}");
    assert!(new.contains("releases.release_date text NO 9"), "{new}");
    assert!(new.contains("release_inputs.compose_id text NO 5"), "{new}");
    assert!(new.contains("composes.fingerprint text YES 32"), "{new}");
    assert!(new.contains("composes.build_id text YES 31"), "{new}");
}

fn corrupt_rows_are_reported_not_guessed(pg: &Pg) {
    let t = pg.fresh();
    let id = t.open().begin(&new("apache", "2.4")).unwrap().id;
    pg.0.psql(
        db_name(&t.location),
        "UPDATE strata.composes SET compose_type = 'weekly'",
    );
    let err = t.open().get(&id).unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "compose registry {}: the record of compose `{id}` is corrupt: unknown compose type \
             `weekly` (expected one of: production, test, nightly, ci, development)",
            t.location
        )
    );
}

fn unix_sockets_work(pg: &Pg) {
    let t = pg.fresh();
    let url = format!(
        "postgresql:///{}?host={}&port={}&user=postgres",
        db_name(&t.location),
        pg.0.socket_dir().display(),
        pg.0.port
    );
    let mut reg = PgRegistry::connect(&url).unwrap();
    let id = reg.begin(&new("apache", "2.4")).unwrap().id;
    reg.finish(&id, &conformance::finished(NOV25)).unwrap();
    // The same database over TCP.
    assert_eq!(
        t.open().latest_good("apache", "2.4").unwrap().unwrap().id,
        id
    );
}

fn connection_errors_name_the_database_not_the_password(pg: &Pg) {
    let url = format!(
        "postgresql://postgres:s3cret@127.0.0.1:{}/no_such_db",
        pg.0.port
    );
    let err = PgRegistry::connect(&url).unwrap_err();
    assert!(matches!(err, RegistryError::Open { .. }), "{err:?}");
    let shown = format!("postgresql://postgres@127.0.0.1:{}/no_such_db", pg.0.port);
    assert_eq!(
        err.to_string(),
        format!("cannot open the compose registry {shown}")
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        cause.contains("database \"no_such_db\" does not exist"),
        "{cause}"
    );
    assert!(!format!("{err:?}").contains("s3cret"));

    // Through the location the front ends use.
    let loc = strata_registry::RegistryLocation::parse(url.as_ref()).unwrap();
    let Err(err) = strata_registry::open(&loc) else {
        panic!("opened {shown}");
    };
    assert!(err.to_string().contains(&shown), "{err}");
}

fn permission_errors_name_the_action(pg: &Pg) {
    let t = pg.fresh();
    let db = db_name(&t.location);
    t.open().begin(&new("apache", "2.4")).unwrap();
    // A role that may read but not write, as a read-only hub user.
    pg.0.psql(
        db,
        "CREATE ROLE reader LOGIN; GRANT USAGE ON SCHEMA strata TO reader; \
         GRANT SELECT ON ALL TABLES IN SCHEMA strata TO reader",
    );
    let url = t.location.replace("postgres@", "reader@");
    let mut reg = PgRegistry::connect(&url).unwrap();
    assert_eq!(reg.list(&Default::default()).unwrap().len(), 1);
    let err = reg.begin(&new("apache", "2.4")).unwrap_err();
    assert!(matches!(err, RegistryError::Backend { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("compose registry {url}: cannot ")),
        "{msg}"
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("permission denied"), "{cause}");
    // Nothing was recorded, and the connection is still usable.
    let all = reg.list(&Default::default()).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, State::Started);

    // Opened for reading, the role reads; writes fail in the session
    // itself (read-only transactions), whatever the grants.
    let mut reader = PgRegistry::connect_read_only(&url).unwrap();
    assert_eq!(reader.list_summaries(&Default::default()).unwrap().len(), 1);
    let err = reader.abandon(&all[0].id, "gone").unwrap_err();
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("read-only transaction"), "{cause}");
}

fn a_stopped_server_fails_within_the_statement_timeout(pg: &Pg) {
    let t = pg.fresh();
    let timeouts = PgTimeouts {
        connect: Duration::from_secs(1),
        statement: Duration::from_secs(1),
    };
    let mut reg = PgRegistry::connect_with(&t.location, &timeouts).unwrap();
    reg.begin(&new("apache", "2.4")).unwrap();
    // A reader (`composes list`) has the same deadlines.
    let reader = PgRegistry::connect_read_only_with(&t.location, &timeouts).unwrap();
    // Mid-session: the server stops answering.
    let paused = pg.0.pause();
    let err = reg.list(&Default::default()).unwrap_err();
    let again = reg.latest_good("apache", "2.4").unwrap_err();
    let connect = PgRegistry::connect_with(&t.location, &timeouts).unwrap_err();
    let read = reader.list_summaries(&Default::default()).unwrap_err();
    let connect_read = PgRegistry::connect_read_only_with(&t.location, &timeouts).unwrap_err();
    drop(paused);
    assert!(matches!(err, RegistryError::Backend { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("compose registry {}: cannot ", t.location)),
        "{err}"
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(
        cause,
        "the server did not answer within 3 s ([registry] statement_timeout = 1 s and 2 s more)"
    );
    // The connection is given up: what it was sent may still run.
    let cause = std::error::Error::source(&again).unwrap().to_string();
    assert!(cause.contains("given up"), "{cause}");
    // A new connection waits for the whole handshake no longer than the
    // connect timeout.
    assert!(matches!(connect, RegistryError::Open { .. }), "{connect:?}");
    let cause = std::error::Error::source(&connect).unwrap().to_string();
    assert_eq!(
        cause,
        "the server did not answer within 1 s (connect timeout; set [registry] connect_timeout)"
    );
    for (err, want) in [
        (
            read,
            "the server did not answer within 3 s ([registry] statement_timeout = 1 s and 2 s more)",
        ),
        (
            connect_read,
            "the server did not answer within 1 s (connect timeout; set [registry] connect_timeout)",
        ),
    ] {
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert_eq!(cause, want, "{err:?}");
    }
    // Once it answers again, so does the registry.
    let reg = PgRegistry::connect_with(&t.location, &timeouts).unwrap();
    assert_eq!(reg.list(&Default::default()).unwrap().len(), 1);
}

fn main() -> ExitCode {
    if let Some(code) = conformance::child_main() {
        return code;
    }
    let pg = Pg(Cluster::start());
    let mut checks: Vec<Check<Pg>> = conformance::checks();
    checks.extend([
        (
            "lives_in_its_own_schema_beside_other_tables",
            lives_in_its_own_schema_beside_other_tables as fn(&Pg),
        ),
        ("a_newer_schema_is_refused", a_newer_schema_is_refused),
        (
            "another_schema_named_strata_is_not_taken_over",
            another_schema_named_strata_is_not_taken_over,
        ),
        (
            "the_schema_file_can_be_applied_by_hand",
            the_schema_file_can_be_applied_by_hand,
        ),
        (
            "an_updated_version_1_database_has_the_schema_of_a_new_one",
            an_updated_version_1_database_has_the_schema_of_a_new_one,
        ),
        (
            "corrupt_rows_are_reported_not_guessed",
            corrupt_rows_are_reported_not_guessed,
        ),
        ("unix_sockets_work", unix_sockets_work),
        (
            "connection_errors_name_the_database_not_the_password",
            connection_errors_name_the_database_not_the_password,
        ),
        (
            "permission_errors_name_the_action",
            permission_errors_name_the_action,
        ),
        (
            "a_stopped_server_fails_within_the_statement_timeout",
            a_stopped_server_fails_within_the_statement_timeout,
        ),
    ]);
    let code = conformance::run(&pg, &checks);
    drop(pg);
    code
}
