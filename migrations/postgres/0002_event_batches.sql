-- Schema version 2: a run's log is stored one batch (one commit, usually one step) per row,
-- as the JSON array of its events, compressed with zstd when that pays (`encoding` 1; 0 is
-- plain JSON). A step then writes one row, and text a step records twice (a model's reply,
-- and the state it was written into) is stored about once. The database keeps every log
-- gapless: a batch is accepted only right after the run's last one.

CREATE TABLE event_batches (
    run_id         TEXT NOT NULL REFERENCES runs (id),
    first_sequence BIGINT NOT NULL,
    last_sequence  BIGINT NOT NULL,
    at_millis      BIGINT NOT NULL,
    encoding       BIGINT NOT NULL,
    events         BYTEA NOT NULL,
    PRIMARY KEY (run_id, first_sequence)
);

INSERT INTO event_batches (run_id, first_sequence, last_sequence, at_millis, encoding, events)
SELECT run_id, sequence, sequence, at_millis, 0, convert_to('[' || payload || ']', 'UTF8')
FROM run_events;

DROP TABLE run_events;

CREATE FUNCTION weft_event_batches_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.last_sequence < NEW.first_sequence OR NEW.first_sequence <> 1 + COALESCE(
        (SELECT last_sequence FROM event_batches WHERE run_id = NEW.run_id
         ORDER BY first_sequence DESC LIMIT 1), 0) THEN
        RAISE EXCEPTION 'weft: events % to % of run % are out of sequence',
            NEW.first_sequence, NEW.last_sequence, NEW.run_id
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER event_batches_follow BEFORE INSERT ON event_batches
FOR EACH ROW EXECUTE FUNCTION weft_event_batches_follow();

-- A snapshot is a run's folded state between two steps, encoded like a batch, so a run
-- is restored from its latest snapshot and the events after it.
DROP TABLE snapshots;
CREATE TABLE snapshots (
    run_id   TEXT NOT NULL REFERENCES runs (id),
    sequence BIGINT NOT NULL,
    encoding BIGINT NOT NULL,
    data     BYTEA NOT NULL,
    PRIMARY KEY (run_id, sequence)
);

UPDATE weft_meta SET value = '2' WHERE key = 'schema_version';
