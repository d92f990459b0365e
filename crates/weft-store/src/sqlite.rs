//! The SQLite store: one file, one writer connection (`BEGIN IMMEDIATE`), a pool of readers.

use crate::batch::{Batch, ToolJournal};
use crate::error::{OpenError, open_error, store_error};
use crate::rows::{stored_batch, summary};
use futures::future::BoxFuture;
use sqlx::Connection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use weft_core::{
    ErrorKind, EventRecord, EventSink, ParentLink, RunFilter, RunId, RunStatus, RunStore,
    RunSummary, StoreError,
};

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const READERS: u32 = 4;

/// The sequence number of a run's last event, for a query over `runs`.
macro_rules! last_sequence {
    () => {
        "COALESCE((SELECT last_sequence FROM event_batches WHERE run_id = runs.id ORDER BY first_sequence DESC LIMIT 1), 0)"
    };
}

/// The columns a run summary is read from (a macro, so queries stay literal strings). The
/// log's last event gives `last_sequence` and `updated_at`.
macro_rules! summary_columns {
    () => {
        concat!(
            "id, workflow, source, status, parent_run, parent_step, parent_branch, created_at, error, ",
            last_sequence!(),
            " AS last_sequence, COALESCE((SELECT at_millis FROM event_batches WHERE run_id = runs.id ORDER BY first_sequence DESC LIMIT 1), created_at) AS updated_at"
        )
    };
}

/// A weft database in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<tokio::sync::Mutex<Writer>>,
    readers: SqlitePool,
}

/// Settings of a SQLite store beyond its path.
#[derive(Debug, Clone, Default)]
pub struct SqliteSettings {
    /// The most bytes the database file may grow to (rounded down to whole pages); a write
    /// past it fails as on a full disk. `None`: as large as the disk allows.
    pub max_bytes: Option<u64>,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`, after checking that an existing file is a
    /// weft database of a schema this weft knows; otherwise the file is not touched.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        Self::open_with(path, SqliteSettings::default()).await
    }

    /// [`SqliteStore::open`] with settings.
    pub async fn open_with(path: &Path, settings: SqliteSettings) -> Result<Self, OpenError> {
        inspect(path).await?;
        let database = |error: sqlx::Error| open_error(path, &error);
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // The writer is one long-lived connection, owned rather than pooled: appends are
        // serialized by its lock, with no health check or pool bookkeeping per step.
        let mut connection = SqliteConnection::connect_with(&options)
            .await
            .map_err(database)?;
        sqlx::migrate!("../../migrations/sqlite")
            .run(&mut connection)
            .await
            .map_err(|error| match error {
                sqlx::migrate::MigrateError::Execute(error) => open_error(path, &error),
                other => OpenError::Database {
                    path: path.to_owned(),
                    message: format!("migrating the schema failed: {other}"),
                },
            })?;
        if let Some(max_bytes) = settings.max_bytes {
            let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(&mut connection)
                .await
                .map_err(database)?;
            let pages = max_bytes / u64::try_from(page_size.max(1)).unwrap_or(4096);
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "PRAGMA max_page_count = {pages}"
            )))
            .execute(&mut connection)
            .await
            .map_err(database)?;
        }
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await
            .map_err(database)?;
        Ok(Self {
            path: path.to_owned(),
            writer: Arc::new(tokio::sync::Mutex::new(Writer {
                connection,
                unsettled: false,
            })),
            readers,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one batch in a single round trip to SQLite's worker thread (each round trip
    /// costs thread hand-offs, several times what SQLite itself spends on a step): one
    /// INSERT of the batch's row when that is all it holds, else one script of `BEGIN
    /// IMMEDIATE`, the statements and `COMMIT`. The `event_batches_follow` trigger checks
    /// the log's continuity inside it.
    async fn append_batch(&self, run: RunId, batch: Batch) -> Result<(), StoreError> {
        let run_text = run.to_string();
        // Most steps only add events: one INSERT, atomic on its own, with no transaction
        // statements around it (each statement's result is one more hand-off to this thread).
        let single = batch.new_run.is_none() && batch.status.is_none() && batch.journal.is_empty();
        let mut script =
            sqlx::QueryBuilder::<sqlx::Sqlite>::new(if single { "" } else { "BEGIN IMMEDIATE;" });
        if let Some(new_run) = &batch.new_run {
            let (parent_run, parent_step, parent_branch) = parent_columns(new_run.parent.as_ref());
            script
                .push(
                    "INSERT INTO runs (id, workflow, source, status, parent_run, parent_step, parent_branch, created_at) VALUES (",
                )
                .push_bind(&run_text)
                .push(",")
                .push_bind(&new_run.workflow)
                .push(",")
                .push_bind(&new_run.source)
                .push(",'running',")
                .push_bind(parent_run)
                .push(",")
                .push_bind(parent_step)
                .push(",")
                .push_bind(parent_branch)
                .push(",")
                .push_bind(batch.at_millis)
                .push(");");
        }
        script
            .push("INSERT INTO event_batches (run_id, first_sequence, last_sequence, at_millis, encoding, events) VALUES (")
            .push_bind(&run_text)
            .push(",")
            .push_bind(batch.first_sequence)
            .push(",")
            .push_bind(batch.last_sequence)
            .push(",")
            .push_bind(batch.at_millis)
            .push(",")
            .push_bind(batch.encoding)
            .push(",")
            .push_bind(&batch.events)
            .push(if single { ")" } else { ");" });
        // The run row changes only with the run's status: where the log ends, and when, is
        // read from the log itself.
        if let Some((status, error)) = &batch.status {
            script
                .push("UPDATE runs SET status = ")
                .push_bind(status.as_str())
                .push(", error = ")
                .push_bind(error.as_deref())
                .push(" WHERE id = ")
                .push_bind(&run_text)
                .push(";");
        }
        for entry in &batch.journal {
            match entry {
                ToolJournal::Started {
                    key,
                    step,
                    tool,
                    sequence,
                } => script
                    .push("INSERT INTO tool_calls (idempotency_key, run_id, step, tool, status, started_sequence) VALUES (")
                    .push_bind(key)
                    .push(",")
                    .push_bind(&run_text)
                    .push(",")
                    .push_bind(*step)
                    .push(",")
                    .push_bind(tool)
                    .push(",'started',")
                    .push_bind(*sequence)
                    // A call run again after a person's `--retry` starts anew.
                    .push(
                        ") ON CONFLICT (idempotency_key) DO UPDATE SET status = 'started', started_sequence = excluded.started_sequence, finished_sequence = NULL, outcome = NULL;",
                    ),
                ToolJournal::Finished {
                    key,
                    sequence,
                    outcome,
                } => script
                    .push("UPDATE tool_calls SET status = 'finished', finished_sequence = ")
                    .push_bind(*sequence)
                    .push(", outcome = ")
                    .push_bind(outcome)
                    .push(" WHERE idempotency_key = ")
                    .push_bind(key)
                    .push(";"),
            };
        }
        if !single {
            script.push("COMMIT;");
        }

        let mut writer = self.writer.lock().await;
        writer.settle().await;
        writer.unsettled = true;
        let result = script.build().execute(&mut writer.connection).await;
        match result {
            Ok(_) => {
                writer.unsettled = false;
                Ok(())
            }
            Err(error) => {
                writer.settle().await;
                Err(self
                    .explain(&mut writer.connection, run, &batch, error)
                    .await)
            }
        }
    }

    /// Why an append failed: a log that does not end right before the batch is a conflict,
    /// a run with no row was never started; anything else is the database's own error.
    async fn explain(
        &self,
        connection: &mut SqliteConnection,
        run: RunId,
        batch: &Batch,
        error: sqlx::Error,
    ) -> StoreError {
        let last: Result<Option<i64>, _> = sqlx::query_scalar(concat!(
            "SELECT ",
            last_sequence!(),
            " FROM runs WHERE id = ?"
        ))
        .bind(run.to_string())
        .fetch_optional(&mut *connection)
        .await;
        match last {
            Ok(None) if batch.new_run.is_none() => StoreError::new(
                ErrorKind::NotFound,
                format!("run {run} does not exist; its log must start with run_started"),
            ),
            Ok(Some(last)) if last != batch.first_sequence - 1 => StoreError::new(
                ErrorKind::Conflict,
                format!(
                    "run {run}: append at sequence {} but its log ends at {last}; another writer appended first",
                    batch.first_sequence
                ),
            ),
            _ => store_error(
                &format!("appending to run {run} ({})", self.path.display()),
                error,
            ),
        }
    }
}

/// The writer connection, and whether a script may have left a transaction open (an error
/// part-way, or a caller that stopped waiting).
#[derive(Debug)]
struct Writer {
    connection: SqliteConnection,
    unsettled: bool,
}

impl Writer {
    /// Rolls back whatever an unfinished script left open; "no transaction is active" is
    /// the usual answer and means there was nothing to undo.
    async fn settle(&mut self) {
        if self.unsettled {
            let _ = sqlx::query("ROLLBACK").execute(&mut self.connection).await;
            self.unsettled = false;
        }
    }
}

/// Checks an existing file before anything writes to it.
async fn inspect(path: &Path) -> Result<(), OpenError> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok(()); // A new database.
    };
    let mut header = [0u8; 16];
    let read = file.read(&mut header).unwrap_or(0);
    if read == 0 {
        return Ok(()); // An empty file becomes a database.
    }
    if read < 16 || &header != b"SQLite format 3\0" {
        return Err(OpenError::NotSqlite {
            path: path.to_owned(),
        });
    }
    // Read-write (though nothing is written): after a crash, the write-ahead log may need
    // recovering before anything can be read, which a read-only connection cannot do.
    let options = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|error| open_error(path, &error))?;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&pool)
            .await
            .map_err(|error| match &error {
                sqlx::Error::Database(database) if database.code().as_deref() == Some("26") => {
                    OpenError::NotSqlite {
                        path: path.to_owned(),
                    }
                }
                _ => open_error(path, &error),
            })?;
    let result = if tables.iter().any(|table| table == "weft_meta") {
        let version: Option<String> =
            sqlx::query_scalar("SELECT value FROM weft_meta WHERE key = 'schema_version'")
                .fetch_optional(&pool)
                .await
                .map_err(|error| open_error(path, &error))?;
        let found = version
            .and_then(|version| version.parse::<i64>().ok())
            .unwrap_or(0);
        if found > crate::SCHEMA_VERSION {
            Err(OpenError::NewerSchema {
                path: path.to_owned(),
                found,
                supported: crate::SCHEMA_VERSION,
            })
        } else {
            Ok(())
        }
    } else if tables
        .iter()
        .all(|table| table.starts_with("sqlite_") || table == "_sqlx_migrations")
    {
        Ok(())
    } else {
        Err(OpenError::NotWeft {
            path: path.to_owned(),
        })
    };
    pool.close().await;
    result
}

fn parent_columns(parent: Option<&ParentLink>) -> (Option<String>, Option<i64>, Option<i64>) {
    match parent {
        Some(parent) => (
            Some(parent.run.to_string()),
            i64::try_from(parent.step).ok(),
            parent.branch.map(i64::from),
        ),
        None => (None, None, None),
    }
}

impl EventSink for SqliteStore {
    fn append<'a>(
        &'a self,
        run: RunId,
        records: &'a [EventRecord],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let batch = Batch::new(run, records)?;
            self.append_batch(run, batch).await
        })
    }
}

impl RunStore for SqliteStore {
    fn run(&self, run: RunId) -> BoxFuture<'_, Result<RunSummary, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(concat!(
                "SELECT ",
                summary_columns!(),
                " FROM runs WHERE id = ?"
            ))
            .bind(run.to_string())
            .fetch_optional(&self.readers)
            .await
            .map_err(|error| store_error("reading a run", error))?
            .ok_or_else(|| {
                StoreError::new(
                    ErrorKind::NotFound,
                    format!("no run {run} in {}", self.path.display()),
                )
            })?;
            summary(&row)
        })
    }

    fn events(
        &self,
        run: RunId,
        after: u64,
    ) -> BoxFuture<'_, Result<Vec<EventRecord>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT first_sequence, last_sequence, at_millis, encoding, events FROM event_batches WHERE run_id = ? AND last_sequence > ? ORDER BY first_sequence")
                .bind(run.to_string())
                .bind(i64::try_from(after).unwrap_or(i64::MAX))
                .fetch_all(&self.readers)
                .await
                .map_err(|error| store_error("reading a run's events", error))?;
            let mut records = Vec::new();
            for row in &rows {
                crate::batch::decode(run, &stored_batch(row)?, after, &mut records)?;
            }
            Ok(records)
        })
    }

    fn runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Vec<RunSummary>, StoreError>> {
        Box::pin(async move {
            let sql = if filter.top_level_only {
                concat!(
                    "SELECT ",
                    summary_columns!(),
                    " FROM runs WHERE (? IS NULL OR status = ?) AND parent_run IS NULL ORDER BY id DESC LIMIT ?"
                )
            } else {
                concat!(
                    "SELECT ",
                    summary_columns!(),
                    " FROM runs WHERE (? IS NULL OR status = ?) ORDER BY id DESC LIMIT ?"
                )
            };
            let status = filter.status.map(RunStatus::as_str);
            let limit = if filter.limit == 0 {
                -1
            } else {
                i64::from(filter.limit)
            };
            let rows = sqlx::query(sql)
                .bind(status)
                .bind(status)
                .bind(limit)
                .fetch_all(&self.readers)
                .await
                .map_err(|error| store_error("listing runs", error))?;
            rows.iter().map(summary).collect()
        })
    }

    fn latest_snapshot(
        &self,
        run: RunId,
    ) -> BoxFuture<'_, Result<Option<(u64, serde_json::Value)>, StoreError>> {
        Box::pin(async move {
            let row: Option<(i64, i64, Vec<u8>)> = sqlx::query_as(
                "SELECT sequence, encoding, data FROM snapshots WHERE run_id = ? ORDER BY sequence DESC LIMIT 1",
            )
            .bind(run.to_string())
            .fetch_optional(&self.readers)
            .await
            .map_err(|error| store_error("reading a snapshot", error))?;
            Ok(row.and_then(crate::batch::stored_snapshot))
        })
    }

    fn save_snapshot<'a>(
        &'a self,
        run: RunId,
        sequence: u64,
        snapshot: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let (encoding, data) = crate::batch::encode_snapshot(snapshot)?;
            let sequence = i64::try_from(sequence).unwrap_or(i64::MAX);
            let mut writer = self.writer.lock().await;
            writer.settle().await;
            // The new snapshot replaces the older ones in one transaction and one round
            // trip; deleting first lets it reuse their pages, so the file holds one.
            writer.unsettled = true;
            sqlx::query(
                "BEGIN IMMEDIATE;
                 DELETE FROM snapshots WHERE run_id = ?1;
                 INSERT INTO snapshots (run_id, sequence, encoding, data) VALUES (?1, ?2, ?3, ?4);
                 COMMIT",
            )
            .bind(run.to_string())
            .bind(sequence)
            .bind(encoding)
            .bind(data)
            .execute(&mut writer.connection)
            .await
            .map_err(|error| store_error("saving a snapshot", error))?;
            writer.unsettled = false;
            Ok(())
        })
    }

    fn mark_failed<'a>(
        &'a self,
        run: RunId,
        error: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut writer = self.writer.lock().await;
            writer.settle().await;
            sqlx::query("UPDATE runs SET status = 'failed', error = ? WHERE id = ?")
                .bind(error)
                .bind(run.to_string())
                .execute(&mut writer.connection)
                .await
                .map_err(|error| store_error("marking a run failed", error))?;
            Ok(())
        })
    }
}
