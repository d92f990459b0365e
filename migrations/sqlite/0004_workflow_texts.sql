-- Schema version 4: the exact texts of the workflows runs start with (the workflow file and
-- every sub-workflow file it reaches), each kept once under the SHA-256 of its text. A run's
-- `run_started` event names the hashes of its files, so it goes on with the text it started
-- with whatever happens to the files; runs from before keep reading the files.
CREATE TABLE workflow_texts (
    hash       TEXT PRIMARY KEY,
    text       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

UPDATE weft_meta SET value = '4' WHERE key = 'schema_version';
