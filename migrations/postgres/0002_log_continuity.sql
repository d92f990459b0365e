-- Schema version 2: the database itself keeps every run's log gapless. An event is
-- accepted only right after the last one stored for its run, so a writer with a stale
-- idea of the log's end fails instead of leaving a hole or overwriting.

CREATE FUNCTION weft_run_events_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.sequence <> 1 + COALESCE(
        (SELECT MAX(sequence) FROM run_events WHERE run_id = NEW.run_id), 0) THEN
        RAISE EXCEPTION 'weft: event % of run % is out of sequence', NEW.sequence, NEW.run_id
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER run_events_follow BEFORE INSERT ON run_events
FOR EACH ROW EXECUTE FUNCTION weft_run_events_follow();

UPDATE weft_meta SET value = '2' WHERE key = 'schema_version';
