-- Schema version 2: the database itself keeps every run's log gapless. An event is accepted
-- only right after the last one stored for its run, so a writer with a stale idea of the
-- log's end fails instead of leaving a hole. The log is the truth about its own end: a run
-- row's `last_sequence` and `updated_at` are no longer kept (readers take them from the
-- log's last event), so an ordinary step is one INSERT that touches no other row.

CREATE TRIGGER run_events_follow BEFORE INSERT ON run_events
WHEN NEW.sequence <> 1 + COALESCE(
    (SELECT MAX(sequence) FROM run_events WHERE run_id = NEW.run_id), 0)
BEGIN
    SELECT RAISE(ABORT, 'weft: event out of sequence');
END;

UPDATE weft_meta SET value = '2' WHERE key = 'schema_version';

ALTER TABLE runs DROP COLUMN last_sequence;
ALTER TABLE runs DROP COLUMN updated_at;
