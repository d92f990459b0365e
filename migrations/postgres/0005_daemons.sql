-- Schema version 5: what daemons need of runs. A run belongs to a tenant (runs from before,
-- and the command line's, to `default`). A run a daemon serves has `queued_at` (when it was
-- first queued), and the worker that executes it holds a lease on it: `lease_owner` (a
-- daemon's id) until `lease_until` (ms since the Unix epoch), renewed by heartbeats. A
-- served run whose status is `queued` or `running` and whose lease is missing or expired
-- waits for a worker. `daemons` lists the daemons on the database; on SQLite one alone may
-- serve the file.
ALTER TABLE runs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE runs ADD COLUMN queued_at BIGINT;
ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_until BIGINT;
CREATE INDEX runs_by_tenant ON runs (tenant, id);
CREATE INDEX runs_queue ON runs (queued_at) WHERE queued_at IS NOT NULL AND status IN ('queued', 'running');

-- A queued run holds its session's lock as a running one does.
DROP TRIGGER runs_release_session ON runs;
CREATE TRIGGER runs_release_session AFTER UPDATE OF status ON runs
FOR EACH ROW WHEN (NEW.session_id IS NOT NULL AND NEW.status NOT IN ('running', 'queued'))
EXECUTE FUNCTION weft_release_session();

CREATE TABLE daemons (
    id          TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    pid         BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    alive_until BIGINT NOT NULL
);

UPDATE weft_meta SET value = '5' WHERE key = 'schema_version';
