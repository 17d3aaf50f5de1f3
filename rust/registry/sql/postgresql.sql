-- Strata compose registry: PostgreSQL schema, version 13.
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
    -- The chain that made the compose and the event that caused it.
    chain_id            TEXT,
    cause               TEXT,
    -- Module and artifact composes share the table (one graph); an
    -- artifact records what it builds and its content digest: OCI
    -- manifest digest, ostree commit checksum or ISO SHA-256.
    record_kind         TEXT    NOT NULL DEFAULT 'module'
                        CHECK (record_kind IN ('module', 'artifact')),
    artifact_kind       TEXT
                        CHECK (artifact_kind IN ('container', 'ostree', 'iso')),
    build_id            TEXT,
    -- sha256 of what the compose used that counts for staleness
    -- (strata_registry::fingerprint_digest), written when it finishes;
    -- NULL for composes recorded before version 6: recompute it.
    fingerprint         TEXT,
    -- What a lean read of a finished compose (a layer a stack walk reads)
    -- needs besides this row, as JSON: its inputs other than
    -- 'stack_compose' in position order, and its repositories,
    -- [[[kind, name, ident, location], ...], [[arch, path], ...]].
    -- Written when it finishes (version 11; the update fills it in for
    -- composes finished before); NULL until then.
    lean                TEXT,
    -- sha256 of its stack, the (name:stream, compose ID) of its inputs of
    -- kind 'compose' and 'stack_compose' (strata_registry::stack_digest),
    -- written when it finishes (version 12); NULL until then, and for
    -- composes finished before: a reader reads their inputs instead.
    stack_digest        TEXT,
    UNIQUE (id_base, respin)
);
-- The index holds the ID: a stream's last good compose is found from it
-- alone (version 13).
CREATE INDEX composes_by_stream ON strata.composes (name, stream, state, seq) INCLUDE (id);
CREATE INDEX composes_by_kind ON strata.composes (record_kind, seq);

CREATE TABLE strata.compose_inputs (
    compose_id TEXT   NOT NULL REFERENCES strata.composes (id),
    position   BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    ident      TEXT   NOT NULL,
    location   TEXT   NOT NULL,
    PRIMARY KEY (compose_id, position)
);
-- Only inputs naming a direct requirement are indexed by what they name
-- (version 10): a deep compose's `stack_compose` inputs each name another
-- compose, and indexing them wrote an index page per layer.
CREATE INDEX compose_inputs_direct ON strata.compose_inputs (ident)
    WHERE kind = 'compose';

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

CREATE INDEX composes_by_chain ON strata.composes (chain_id);

-- The tests a compose must pass to be good, named when it begins;
-- a compose with a test not 'passed' is recorded but not good.
CREATE TABLE strata.compose_tests (
    compose_id  TEXT   NOT NULL REFERENCES strata.composes (id),
    name        TEXT   NOT NULL,
    state       TEXT   NOT NULL
                CHECK (state IN ('pending', 'passed', 'failed')),
    finished_at BIGINT,
    output      TEXT,              -- capped like errors
    PRIMARY KEY (compose_id, name)
);

-- Chains: what caused them, their plan, and where each step stands,
-- so that a chain killed at any point resumes from here.
CREATE TABLE strata.chains (
    id                  TEXT   NOT NULL PRIMARY KEY,
    seq                 BIGINT NOT NULL UNIQUE,
    state               TEXT   NOT NULL
                        CHECK (state IN ('running', 'waiting', 'finished', 'failed', 'stopped')),
    events              TEXT   NOT NULL,  -- JSON array: the cause events
    plan                TEXT   NOT NULL,  -- JSON: the plan as `strata impact --json` prints it
    created_at          BIGINT NOT NULL,
    finished_at         BIGINT,
    owner_host          TEXT,
    owner_pid           BIGINT,
    owner_start_time    BIGINT,
    owner_boot_id       TEXT,
    owner_pid_namespace BIGINT
);

CREATE TABLE strata.chain_steps (
    chain_id    TEXT   NOT NULL REFERENCES strata.chains (id),
    -- Order in the plan, bottom-up.
    position    BIGINT NOT NULL,
    name        TEXT   NOT NULL,
    stream      TEXT   NOT NULL,
    state       TEXT   NOT NULL
                CHECK (state IN ('pending', 'waiting', 'approved', 'running',
                                 'finished', 'failed', 'reused', 'skipped')),
    -- The compose this step made or reused. No reference: pruning a
    -- compose keeps the chain's history readable.
    compose_id  TEXT,
    -- Why: the excuse (composed on a last good compose), or why the
    -- step was skipped or failed; capped like errors.
    reason      TEXT,
    approved_by TEXT,
    approved_at BIGINT,
    PRIMARY KEY (chain_id, position),
    UNIQUE (chain_id, name, stream)
);

-- At most one chain recomposes a module stream at a time.
CREATE TABLE strata.stream_locks (
    name     TEXT   NOT NULL,
    stream   TEXT   NOT NULL,
    chain_id TEXT   NOT NULL REFERENCES strata.chains (id),
    since    BIGINT NOT NULL,
    PRIMARY KEY (name, stream)
);

-- Chain events waiting for their debounce window. A chain that takes
-- them deletes them in the transaction that records it (its `events`
-- keep them), so each is consumed exactly once.
CREATE TABLE strata.chain_events (
    seq          BIGINT NOT NULL PRIMARY KEY,
    event        TEXT   NOT NULL,  -- JSON: one event as `strata impact --json` prints it
    submitted_at BIGINT NOT NULL
);

-- A layer's inputs without the whole stack it used: a stack walk reads
-- these for every layer, and a deep layer's stack inputs are hundreds of
-- rows. The index holds every column the walk reads (version 10).
CREATE INDEX compose_inputs_lean ON strata.compose_inputs (compose_id, position)
    INCLUDE (kind, name, ident, location) WHERE kind <> 'stack_compose';

-- Release composes (strata release compose): a release frozen into a
-- compose of its own. Apart from `composes`, so that no query over
-- module and artifact composes (last good, listings, pruning, impact)
-- can take a release for one; a release's respin also counts the
-- composes with its ID base, so IDs never collide.
CREATE TABLE strata.releases (
    id                TEXT   NOT NULL PRIMARY KEY,
    -- Order of begin in this registry: what 'newest' means.
    seq               BIGINT NOT NULL UNIQUE,
    id_base           TEXT   NOT NULL,
    respin            BIGINT NOT NULL,
    name              TEXT   NOT NULL,
    version           TEXT   NOT NULL,
    compose_type      TEXT   NOT NULL,
    compose_date      TEXT   NOT NULL,
    -- The release's scheduled date, YYYY-MM-DD.
    release_date      TEXT   NOT NULL,
    state             TEXT   NOT NULL
                      CHECK (state IN ('started', 'finished', 'failed')),
    definition_path   TEXT   NOT NULL,
    -- sha256 of the release document.
    definition_digest TEXT   NOT NULL,
    arches            TEXT   NOT NULL,  -- JSON array
    started_at        BIGINT NOT NULL,
    finished_at       BIGINT,
    output_path       TEXT,
    error             TEXT,              -- capped like compose errors
    -- Who runs it (version 8), as for composes; NULL for release
    -- composes begun before.
    owner_host          TEXT,
    owner_pid           BIGINT,
    owner_start_time    BIGINT,
    owner_boot_id       TEXT,
    owner_pid_namespace BIGINT,
    -- The release document's SCM reference (URL#commit), when it came
    -- from one.
    scm_ref           TEXT,
    UNIQUE (id_base, respin)
);

-- Every compose a release ships, in order: its modules, the modules
-- below them, its artifacts. No reference to `composes`: pruning a
-- compose keeps a release's history readable.
CREATE TABLE strata.release_inputs (
    release_id TEXT   NOT NULL REFERENCES strata.releases (id),
    position   BIGINT NOT NULL,
    kind       TEXT   NOT NULL CHECK (kind IN ('module', 'stack', 'artifact')),
    name       TEXT   NOT NULL,
    compose_id TEXT   NOT NULL,
    PRIMARY KEY (release_id, position)
);
CREATE INDEX release_inputs_by_compose ON strata.release_inputs (compose_id);

-- Counters that only go up (version 9). 'chain_events': the last number
-- handed to a queued event, so that none is handed out twice.
CREATE TABLE strata.counters (
    name  TEXT   NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO strata.counters (name, value) VALUES ('chain_events', 0);

-- What tells this registry from others (version 13): 'instance', random
-- hex digits drawn when it was made. A cache of what was read from a
-- registry holds only for the registry it names.
CREATE TABLE strata.registry_info (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO strata.registry_info (name, value)
    VALUES ('instance', md5(random()::text || clock_timestamp()::text));

INSERT INTO strata.schema_version (version) VALUES (13);
