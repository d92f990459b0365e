-- Schema version 4: API keys (below), and the exact texts of the workflows runs start with (the workflow file and
-- every sub-workflow file it reaches), each kept once under the SHA-256 of its text. A run's
-- `run_started` event names the hashes of its files, so it goes on with the text it started
-- with whatever happens to the files; runs from before keep reading the files.
CREATE TABLE workflow_texts (
    hash       TEXT PRIMARY KEY,
    text       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- API keys of the daemon (`weft keys`): a key belongs to a tenant; only the SHA-256 of the
-- key is kept (the key is shown once, when it is made). A revoked key stays listed.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant, created_at);

UPDATE weft_meta SET value = '4' WHERE key = 'schema_version';
