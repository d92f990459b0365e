-- weft's store, schema version 1: runs and their append-only event logs, the tool-call
-- journal, snapshots, and the sessions and messages that long-horizon memory keeps.

CREATE TABLE weft_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO weft_meta (key, value) VALUES ('application', 'weft'), ('schema_version', '1');

CREATE TABLE runs (
    id            TEXT PRIMARY KEY,
    workflow      TEXT NOT NULL,
    source        TEXT NOT NULL,
    status        TEXT NOT NULL,
    parent_run    TEXT REFERENCES runs (id),
    parent_step   BIGINT,
    parent_branch BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    last_sequence BIGINT NOT NULL,
    error         TEXT
);
CREATE INDEX runs_by_status ON runs (status);
CREATE INDEX runs_by_parent ON runs (parent_run);

CREATE TABLE run_events (
    run_id    TEXT NOT NULL REFERENCES runs (id),
    sequence  BIGINT NOT NULL,
    at_millis BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    payload   TEXT NOT NULL,
    PRIMARY KEY (run_id, sequence)
);

CREATE TABLE tool_calls (
    idempotency_key   TEXT PRIMARY KEY,
    run_id            TEXT NOT NULL REFERENCES runs (id),
    step              BIGINT NOT NULL,
    tool              TEXT NOT NULL,
    status            TEXT NOT NULL,
    started_sequence  BIGINT NOT NULL,
    finished_sequence BIGINT,
    outcome           TEXT
);
CREATE INDEX tool_calls_by_run ON tool_calls (run_id);

CREATE TABLE snapshots (
    run_id   TEXT NOT NULL REFERENCES runs (id),
    sequence BIGINT NOT NULL,
    state    TEXT NOT NULL,
    PRIMARY KEY (run_id, sequence)
);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    metadata   TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE messages (
    session_id   TEXT NOT NULL REFERENCES sessions (id),
    sequence     BIGINT NOT NULL,
    run_id       TEXT REFERENCES runs (id),
    role         TEXT NOT NULL,
    content      TEXT NOT NULL,
    tool_calls   TEXT,
    tool_call_id TEXT,
    token_count  BIGINT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (session_id, sequence)
);
