-- Schema version 6: a run that speaks in a session is recorded only while it holds the
-- session's lock. A daemon's request takes the lock in the transaction that records the
-- run's start (an UPDATE of the session before the run's INSERT, one write where there
-- were two); when another run holds the lock that UPDATE changes nothing, and this trigger
-- makes the whole append fail, so nothing of it is kept. Runs without a session pay
-- nothing: the condition is checked on the new row first.
CREATE FUNCTION weft_runs_hold_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM sessions WHERE id = NEW.session_id AND locked_by = NEW.id) THEN
        RAISE EXCEPTION 'weft: run % starts in session % without holding its lock',
            NEW.id, NEW.session_id
            USING ERRCODE = 'lock_not_available';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER runs_hold_session BEFORE INSERT ON runs
FOR EACH ROW WHEN (NEW.session_id IS NOT NULL) EXECUTE FUNCTION weft_runs_hold_session();

UPDATE weft_meta SET value = '6' WHERE key = 'schema_version';
