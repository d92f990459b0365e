-- Schema version 2: a run's log is stored one batch (one commit, usually one step) per row,
-- as the JSON array of its events, compressed with zstd when that pays (`encoding` 1; 0 is
-- plain JSON). A step then writes one row, and text a step records twice (a model's reply,
-- and the state it was written into) is stored about once.
--
-- The database keeps every log gapless: a batch is accepted only right after the run's
-- last one. The log is the truth about its own end: a run row no longer keeps
-- `last_sequence` or `updated_at` (readers take them from the last batch), so an ordinary
-- step is a single INSERT that touches no other row.

-- A rowid table with a separate index, not WITHOUT ROWID: batches are large rows, and a
-- WITHOUT ROWID b-tree would carry them into its interior pages too, so that each commit
-- rewrote more pages.
CREATE TABLE event_batches (
    run_id         TEXT NOT NULL REFERENCES runs (id),
    first_sequence INTEGER NOT NULL,
    last_sequence  INTEGER NOT NULL,
    at_millis      INTEGER NOT NULL,
    encoding       INTEGER NOT NULL,
    events         BLOB NOT NULL,
    UNIQUE (run_id, first_sequence)
);

INSERT INTO event_batches (run_id, first_sequence, last_sequence, at_millis, encoding, events)
SELECT run_id, sequence, sequence, at_millis, 0, CAST('[' || payload || ']' AS BLOB)
FROM run_events;

DROP TABLE run_events;

CREATE TRIGGER event_batches_follow BEFORE INSERT ON event_batches
WHEN NEW.last_sequence < NEW.first_sequence
  OR NEW.first_sequence <> 1 + COALESCE(
    (SELECT last_sequence FROM event_batches WHERE run_id = NEW.run_id
     ORDER BY first_sequence DESC LIMIT 1), 0)
BEGIN
    SELECT RAISE(ABORT, 'weft: events out of sequence');
END;

ALTER TABLE runs DROP COLUMN last_sequence;
ALTER TABLE runs DROP COLUMN updated_at;

-- A snapshot is a run's folded state between two steps, encoded like a batch, so a run
-- is restored from its latest snapshot and the events after it.
DROP TABLE snapshots;
CREATE TABLE snapshots (
    run_id   TEXT NOT NULL REFERENCES runs (id),
    sequence INTEGER NOT NULL,
    encoding INTEGER NOT NULL,
    data     BLOB NOT NULL,
    PRIMARY KEY (run_id, sequence)
);

UPDATE weft_meta SET value = '2' WHERE key = 'schema_version';
