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
-- `archive_number` (the rowid, which VACUUM keeps) places the session's rows in the archive.
CREATE TABLE sessions (
    archive_number INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    tenant         TEXT NOT NULL DEFAULT 'default',
    name           TEXT NOT NULL,
    workflow       TEXT NOT NULL,
    source         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    last_message   INTEGER NOT NULL DEFAULT 0,
    locked_by      TEXT,
    lock_until     INTEGER,
    UNIQUE (tenant, name)
);
CREATE INDEX sessions_by_use ON sessions (tenant, updated_at);

-- A deleted session leaves its runs, without it.
ALTER TABLE runs ADD COLUMN session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL;
CREATE INDEX runs_by_session ON runs (session_id) WHERE session_id IS NOT NULL;

-- A run that stops running (interrupted, finished, failed, cancelled, needing attention)
-- gives its session's lock up in the transaction that records it. Runs without a session
-- pay nothing for it: the condition is checked on the row alone.
CREATE TRIGGER runs_release_session AFTER UPDATE OF status ON runs
WHEN NEW.session_id IS NOT NULL AND NEW.status <> 'running'
BEGIN
    UPDATE sessions SET locked_by = NULL, lock_until = NULL
    WHERE id = NEW.session_id AND locked_by = NEW.id;
END;

CREATE TABLE session_messages (
    session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    sequence     INTEGER NOT NULL,
    run_id       TEXT NOT NULL REFERENCES runs (id),
    step         INTEGER NOT NULL,
    role         TEXT NOT NULL,
    content      TEXT NOT NULL,
    tool_calls   TEXT,
    tool_call_id TEXT,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (session_id, sequence)
);

-- Each message is counted once per tokenizer (`TokenCounter::key`).
CREATE TABLE session_token_counts (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    tokenizer  TEXT NOT NULL,
    sequence   INTEGER NOT NULL,
    tokens     INTEGER NOT NULL,
    PRIMARY KEY (session_id, tokenizer, sequence)
) WITHOUT ROWID;

-- A summary stands for messages `first_sequence` to `last_sequence` until another one
-- merges it (`merged_into`); nothing is deleted by compaction.
CREATE TABLE session_summaries (
    session_id     TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    id             INTEGER NOT NULL,
    level          INTEGER NOT NULL,
    first_sequence INTEGER NOT NULL,
    last_sequence  INTEGER NOT NULL,
    text           TEXT NOT NULL,
    merged_into    INTEGER,
    model          TEXT,
    run_id         TEXT NOT NULL REFERENCES runs (id),
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (session_id, id)
);

CREATE TABLE session_summary_counts (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    summary_id INTEGER NOT NULL,
    tokenizer  TEXT NOT NULL,
    tokens     INTEGER NOT NULL,
    PRIMARY KEY (session_id, summary_id, tokenizer)
) WITHOUT ROWID;

-- Pins and notes are idempotent by key: a tool call run again pins or saves once.
CREATE TABLE session_pins (
    session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    id              INTEGER NOT NULL,
    text            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    unpinned_at     INTEGER,
    idempotency_key TEXT NOT NULL,
    PRIMARY KEY (session_id, id),
    UNIQUE (session_id, idempotency_key)
);

CREATE TABLE session_notes (
    session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    id              INTEGER NOT NULL,
    text            TEXT NOT NULL,
    tags            TEXT NOT NULL DEFAULT '[]',
    created_at      INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    PRIMARY KEY (session_id, id),
    UNIQUE (session_id, idempotency_key)
);

-- The archive: message texts (tool results included) and notes, searched by trigrams, which
-- find a word inside text without spaces (Thai) as well as between them. Each session owns
-- a range of rowids, from its `archive_number` times 2^36: its messages by sequence number,
-- then its notes from 2^35 by id. A search reads its session's range alone (FTS5 takes a
-- rowid range), newest first with notes before messages, and a deleted session's range is
-- deleted whole. The triggers keep it: nothing writes it directly.
CREATE VIRTUAL TABLE session_archive USING fts5 (
    text,
    source UNINDEXED,
    item UNINDEXED,
    tokenize = 'trigram'
);

CREATE TRIGGER session_messages_archived AFTER INSERT ON session_messages
WHEN NEW.content <> ''
BEGIN
    INSERT INTO session_archive (rowid, text, source, item)
    VALUES (
        (SELECT archive_number FROM sessions WHERE id = NEW.session_id) * 68719476736
            + NEW.sequence,
        NEW.content, 'message', NEW.sequence
    );
END;

CREATE TRIGGER session_notes_archived AFTER INSERT ON session_notes
BEGIN
    INSERT INTO session_archive (rowid, text, source, item)
    VALUES (
        (SELECT archive_number FROM sessions WHERE id = NEW.session_id) * 68719476736
            + 34359738368 + NEW.id,
        NEW.text, 'note', NEW.id
    );
END;

CREATE TRIGGER sessions_unarchived BEFORE DELETE ON sessions
BEGIN
    DELETE FROM session_archive
    WHERE rowid >= OLD.archive_number * 68719476736
      AND rowid < (OLD.archive_number + 1) * 68719476736;
END;

UPDATE weft_meta SET value = '3' WHERE key = 'schema_version';
