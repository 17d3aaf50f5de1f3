CREATE TABLE composes (
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
        report            TEXT, owner_host TEXT, owner_pid BIGINT, owner_start_time BIGINT, owner_boot_id TEXT, owner_pid_namespace BIGINT, chain_id TEXT, cause TEXT, record_kind TEXT NOT NULL DEFAULT 'module'
        CHECK (record_kind IN ('module', 'artifact')), artifact_kind TEXT
        CHECK (artifact_kind IN ('container', 'ostree', 'iso')), build_id TEXT, fingerprint TEXT,              -- JSON
        UNIQUE (id_base, respin)
    );
CREATE INDEX composes_by_stream ON composes (name, stream, state, seq);
CREATE TABLE compose_inputs (
        compose_id TEXT   NOT NULL REFERENCES composes (id),
        position   BIGINT NOT NULL,
        kind       TEXT   NOT NULL,
        name       TEXT   NOT NULL,
        ident      TEXT   NOT NULL,
        location   TEXT   NOT NULL,
        PRIMARY KEY (compose_id, position)
    );
CREATE INDEX compose_inputs_by_ident ON compose_inputs (kind, ident);
CREATE TABLE compose_repos (
        compose_id TEXT NOT NULL REFERENCES composes (id),
        arch       TEXT NOT NULL,
        path       TEXT NOT NULL,
        PRIMARY KEY (compose_id, arch)
    );
CREATE TABLE compose_package_lists (
        compose_id TEXT   NOT NULL REFERENCES composes (id),
        arch       TEXT   NOT NULL,
        count      BIGINT NOT NULL,
        -- zstd of the sorted NEVRAs joined by newlines.
        nevras     BLOB   NOT NULL,
        PRIMARY KEY (compose_id, arch)
    );
CREATE TABLE compose_modulemd (
        compose_id TEXT NOT NULL REFERENCES composes (id),
        arch       TEXT NOT NULL,
        -- zstd of the stream's modulemd document for the arch.
        document   BLOB NOT NULL,
        PRIMARY KEY (compose_id, arch)
    );
CREATE INDEX composes_by_chain ON composes (chain_id);
CREATE TABLE compose_tests (
        compose_id  TEXT   NOT NULL REFERENCES composes (id),
        name        TEXT   NOT NULL,
        state       TEXT   NOT NULL
                    CHECK (state IN ('pending', 'passed', 'failed')),
        finished_at BIGINT,
        output      TEXT,              -- capped like errors
        PRIMARY KEY (compose_id, name)
    );
CREATE TABLE chains (
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
CREATE TABLE chain_steps (
        chain_id    TEXT   NOT NULL REFERENCES chains (id),
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
CREATE TABLE stream_locks (
        name     TEXT   NOT NULL,
        stream   TEXT   NOT NULL,
        chain_id TEXT   NOT NULL REFERENCES chains (id),
        since    BIGINT NOT NULL,
        PRIMARY KEY (name, stream)
    );
CREATE INDEX composes_by_kind ON composes (record_kind, seq);
CREATE TABLE chain_events (
        seq          BIGINT NOT NULL PRIMARY KEY,
        event        TEXT   NOT NULL,  -- JSON: one event as `strata impact --json` prints it
        submitted_at BIGINT NOT NULL
    );
CREATE INDEX compose_inputs_lean ON compose_inputs (compose_id, position)
        WHERE kind <> 'stack_compose';
CREATE TABLE releases (
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
        UNIQUE (id_base, respin)
    );
CREATE TABLE release_inputs (
        release_id TEXT   NOT NULL REFERENCES releases (id),
        position   BIGINT NOT NULL,
        kind       TEXT   NOT NULL CHECK (kind IN ('module', 'stack', 'artifact')),
        name       TEXT   NOT NULL,
        compose_id TEXT   NOT NULL,
        PRIMARY KEY (release_id, position)
    );
CREATE INDEX release_inputs_by_compose ON release_inputs (compose_id);
