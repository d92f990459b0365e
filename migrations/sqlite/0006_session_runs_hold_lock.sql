-- Schema version 6: a run that speaks in a session is recorded only while it holds the
-- session's lock. A daemon's request takes the lock in the transaction that records the
-- run's start (an UPDATE of the session before the run's INSERT, one write where there
-- were two); when another run holds the lock that UPDATE changes nothing, and this trigger
-- makes the whole append fail, so nothing of it is kept. Runs without a session pay
-- nothing: the condition is checked on the new row first.
CREATE TRIGGER runs_hold_session BEFORE INSERT ON runs
WHEN NEW.session_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM sessions WHERE id = NEW.session_id AND locked_by = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'weft: a run starts in a session only while it holds the session''s lock');
END;

UPDATE weft_meta SET value = '6' WHERE key = 'schema_version';
