-- Strata compose registry: PostgreSQL schema, version 3.
--
-- Everything lives in the schema `strata`, so the tables can share a
-- database with Koji's own. Strata runs this file (in one transaction,
-- holding an advisory lock) when it opens a database that has no
-- `strata.schema_version` yet; a DBA may also run it by hand:
--
--     psql -v ON_ERROR_STOP=1 -1 -f postgresql.sql koji
--
-- `strata.schema_version` holds one row per schema version applied.
-- Strata refuses a database whose highest version is newer than it knows,
-- and updates an older one itself when it connects with the rights to
-- (`MIGRATIONS` in src/postgres/mod.rs; moving version 1's package rows
-- into compressed lists needs code, not only SQL). The columns match the
-- SQLite backend's (TEXT, BIGINT and BYTEA; JSON kept as text, so that
-- records read back byte for byte), in the same order as an updated
-- version-1 database has them.

CREATE SCHEMA IF NOT EXISTS strata;

CREATE TABLE strata.schema_version (
    version    BIGINT      NOT NULL PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE strata.composes (
    id                TEXT    NOT NULL PRIMARY KEY,
    -- Order of begin in this registry: what 'newest' means.
    seq               BIGINT  NOT NULL UNIQUE,
    -- The ID without '.respin'; respins count per id_base.
    id_base           TEXT    NOT NULL,
    respin            BIGINT  NOT NULL,
    name              TEXT    NOT NULL,
    stream            TEXT    NOT NULL,
    compose_type      TEXT    NOT NULL,
    compose_date      TEXT    NOT NULL,
    state             TEXT    NOT NULL
                      CHECK (state IN ('started', 'finished', 'failed')),
    version           BIGINT  NOT NULL,
    context           TEXT    NOT NULL,
    definition_path   TEXT    NOT NULL,
    definition_digest TEXT    NOT NULL,
    scm_ref           TEXT,
    arches            TEXT    NOT NULL,  -- JSON array
    started_at        BIGINT  NOT NULL,
    finished_at       BIGINT,
    output_path       TEXT,
    timings           TEXT,              -- JSON
    error             TEXT,
    report            TEXT,              -- JSON
    -- Who runs the compose (all set, or none): host name, PID, the
    -- process's start time in clock ticks after boot (/proc/<pid>/stat
    -- field 22), the boot ID, the PID namespace's inode.
    owner_host          TEXT,
    owner_pid           BIGINT,
    owner_start_time    BIGINT,
    owner_boot_id       TEXT,
    owner_pid_namespace BIGINT,
    UNIQUE (id_base, respin)
);
CREATE INDEX composes_by_stream ON strata.composes (name, stream, state, seq);

CREATE TABLE strata.compose_inputs (
    compose_id TEXT   NOT NULL REFERENCES strata.composes (id),
    position   BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    ident      TEXT   NOT NULL,
    location   TEXT   NOT NULL,
    PRIMARY KEY (compose_id, position)
);
CREATE INDEX compose_inputs_by_ident ON strata.compose_inputs (kind, ident);

CREATE TABLE strata.compose_repos (
    compose_id TEXT NOT NULL REFERENCES strata.composes (id),
    arch       TEXT NOT NULL,
    path       TEXT NOT NULL,
    PRIMARY KEY (compose_id, arch)
);

CREATE TABLE strata.compose_package_lists (
    compose_id TEXT   NOT NULL REFERENCES strata.composes (id),
    arch       TEXT   NOT NULL,
    count      BIGINT NOT NULL,
    -- zstd of the sorted NEVRAs joined by newlines.
    nevras     BYTEA  NOT NULL,
    PRIMARY KEY (compose_id, arch)
);

CREATE TABLE strata.compose_modulemd (
    compose_id TEXT  NOT NULL REFERENCES strata.composes (id),
    arch       TEXT  NOT NULL,
    -- zstd of the stream's modulemd document for the arch.
    document   BYTEA NOT NULL,
    PRIMARY KEY (compose_id, arch)
);

INSERT INTO strata.schema_version (version) VALUES (3);
