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
        report            TEXT,              -- JSON
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
CREATE TABLE compose_packages (
        compose_id TEXT NOT NULL REFERENCES composes (id),
        arch       TEXT NOT NULL,
        nevra      TEXT NOT NULL,
        PRIMARY KEY (compose_id, arch, nevra)
    );
