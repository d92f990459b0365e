-- Schema version 3: sessions, the long-lived conversations that long-horizon memory keeps.
-- A session owns a transcript (its messages, numbered from 1), the token counts of those
-- messages per tokenizer, summaries of spans of it, pinned facts and notes, and an archive
-- that finds words in messages and notes. A run may speak in one session (`runs.session_id`,
-- from its `run_started` event); the rows a run adds (`remembered` and `compacted` events)
-- are written in the same transaction as the batch that records them.
--
-- The `sessions` and `messages` tables of schema 1 were never written: they are replaced.

DROP TABLE messages;
DROP TABLE sessions;

-- `last_message` is the number of messages, so the next one is `last_message + 1`; a run
-- holds the session (`locked_by`) until `lock_until` (ms since the Unix epoch), unless it
-- renews the lock. The lock is released when the run stops running (the trigger below).
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL DEFAULT 'default',
    name         TEXT NOT NULL,
    workflow     TEXT NOT NULL,
    source       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    last_message BIGINT NOT NULL DEFAULT 0,
    locked_by    TEXT,
    lock_until   BIGINT,
    UNIQUE (tenant, name)
);
CREATE INDEX sessions_by_use ON sessions (tenant, updated_at);

-- A deleted session leaves its runs, without it.
ALTER TABLE runs ADD COLUMN session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL;
CREATE INDEX runs_by_session ON runs (session_id) WHERE session_id IS NOT NULL;

-- A run that stops running (interrupted, finished, failed, cancelled, needing attention)
-- gives its session's lock up in the transaction that records it. Every append updates the
-- run row; runs without a session pay only the trigger's condition.
CREATE FUNCTION weft_release_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sessions SET locked_by = NULL, lock_until = NULL
    WHERE id = NEW.session_id AND locked_by = NEW.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER runs_release_session AFTER UPDATE OF status ON runs
FOR EACH ROW WHEN (NEW.session_id IS NOT NULL AND NEW.status <> 'running')
EXECUTE FUNCTION weft_release_session();

CREATE TABLE session_messages (
    session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    sequence     BIGINT NOT NULL,
    run_id       TEXT NOT NULL REFERENCES runs (id),
    step         BIGINT NOT NULL,
    role         TEXT NOT NULL,
    content      TEXT NOT NULL,
    tool_calls   TEXT,
    tool_call_id TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (session_id, sequence)
);

-- Each message is counted once per tokenizer (`TokenCounter::key`).
CREATE TABLE session_token_counts (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    tokenizer  TEXT NOT NULL,
    sequence   BIGINT NOT NULL,
    tokens     BIGINT NOT NULL,
    PRIMARY KEY (session_id, tokenizer, sequence)
);

-- A summary stands for messages `first_sequence` to `last_sequence` until another one
-- merges it (`merged_into`); nothing is deleted by compaction.
CREATE TABLE session_summaries (
    session_id     TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    id             BIGINT NOT NULL,
    level          BIGINT NOT NULL,
    first_sequence BIGINT NOT NULL,
    last_sequence  BIGINT NOT NULL,
    text           TEXT NOT NULL,
    merged_into    BIGINT,
    model          TEXT,
    run_id         TEXT NOT NULL REFERENCES runs (id),
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (session_id, id)
);

CREATE TABLE session_summary_counts (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    summary_id BIGINT NOT NULL,
    tokenizer  TEXT NOT NULL,
    tokens     BIGINT NOT NULL,
    PRIMARY KEY (session_id, summary_id, tokenizer)
);

-- Pins and notes are idempotent by key: a tool call run again pins or saves once.
CREATE TABLE session_pins (
    session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    id              BIGINT NOT NULL,
    text            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    unpinned_at     BIGINT,
    idempotency_key TEXT NOT NULL,
    PRIMARY KEY (session_id, id),
    UNIQUE (session_id, idempotency_key)
);

CREATE TABLE session_notes (
    session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    id              BIGINT NOT NULL,
    text            TEXT NOT NULL,
    tags            TEXT NOT NULL DEFAULT '[]',
    created_at      BIGINT NOT NULL,
    idempotency_key TEXT NOT NULL,
    PRIMARY KEY (session_id, id),
    UNIQUE (session_id, idempotency_key)
);

-- The archive: message texts (tool results included) and notes. `words` finds whole words
-- and ranks them; a word inside text without spaces (Thai) is no word of its own there, so
-- queries also match each query word with ILIKE, which the trigram index below serves.
-- The triggers keep it: nothing writes it directly.
CREATE TABLE session_archive (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    source     TEXT NOT NULL,
    item       BIGINT NOT NULL,
    text       TEXT NOT NULL,
    words      tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    PRIMARY KEY (session_id, source, item)
);
CREATE INDEX session_archive_words ON session_archive USING gin (words);

-- pg_trgm is a trusted extension (any database owner may create it); it goes to `public`
-- unless it is already installed elsewhere. Without it, search still works, unindexed.
DO $$
DECLARE
    trigram_schema name;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'weft: pg_trgm could not be installed (%): archive search works without its index', SQLERRM;
    END;
    SELECT extnamespace::regnamespace::name INTO trigram_schema
    FROM pg_extension WHERE extname = 'pg_trgm';
    IF trigram_schema IS NOT NULL THEN
        EXECUTE format(
            'CREATE INDEX session_archive_trigrams ON session_archive USING gin (text %I.gin_trgm_ops)',
            trigram_schema
        );
    END IF;
END;
$$;

CREATE FUNCTION weft_archive_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_archive (session_id, source, item, text)
    VALUES (NEW.session_id, 'message', NEW.sequence, NEW.content);
    RETURN NULL;
END;
$$;

CREATE TRIGGER session_messages_archived AFTER INSERT ON session_messages
FOR EACH ROW WHEN (NEW.content <> '') EXECUTE FUNCTION weft_archive_message();

CREATE FUNCTION weft_archive_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_archive (session_id, source, item, text)
    VALUES (NEW.session_id, 'note', NEW.id, NEW.text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER session_notes_archived AFTER INSERT ON session_notes
FOR EACH ROW EXECUTE FUNCTION weft_archive_note();

UPDATE weft_meta SET value = '3' WHERE key = 'schema_version';
