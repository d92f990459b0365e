//! The SQLite store: one file, one writer connection (`BEGIN IMMEDIATE`), a pool of readers.

use crate::batch::{Batch, ToolJournal};
use crate::error::{OpenError, store_error};
use crate::rows::{event_record, summary};
use futures::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;
use weft_core::{
    ErrorKind, EventRecord, EventSink, ParentLink, RunFilter, RunId, RunStatus, RunStore,
    RunSummary, StoreError,
};

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const READERS: u32 = 4;

/// A weft database in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`, after checking that an existing file is a
    /// weft database of a schema this weft knows; otherwise the file is not touched.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        inspect(path).await?;
        let database = |error: sqlx::Error| OpenError::Database {
            path: path.to_owned(),
            message: error.to_string(),
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // The writer is one long-lived connection to a local file: no health check (a round
        // trip to SQLite's worker thread) before each use.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(database)?;
        sqlx::migrate!("../../migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|error| OpenError::Database {
                path: path.to_owned(),
                message: format!("migrating the schema failed: {error}"),
            })?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await
            .map_err(database)?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            readers,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn append_batch(&self, run: RunId, batch: Batch) -> Result<(), StoreError> {
        let context = |what: &str| format!("{what} ({})", self.path.display());
        let run_text = run.to_string();
        let mut transaction = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|error| store_error(&context("starting a write"), error))?;
        if let Some(new_run) = &batch.new_run {
            let (parent_run, parent_step, parent_branch) = parent_columns(new_run.parent.as_ref());
            sqlx::query(
                "INSERT INTO runs (id, workflow, source, status, parent_run, parent_step, parent_branch, created_at, updated_at, last_sequence)
                 VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, 0)",
            )
            .bind(&run_text)
            .bind(&new_run.workflow)
            .bind(&new_run.source)
            .bind(parent_run)
            .bind(parent_step)
            .bind(parent_branch)
            .bind(batch.events.first().map_or(0, |event| event.at_millis))
            .bind(batch.last_at)
            .execute(&mut *transaction)
            .await
            .map_err(|error| store_error(&context("recording a new run"), error))?;
        }
        // The sequence check and the run row's update are one statement: it changes the row
        // only if the log ends right before this batch.
        let (status, error) = match &batch.status {
            Some((status, error)) => (Some(status.as_str()), error.clone()),
            None => (None, None),
        };
        let updated = sqlx::query(
            "UPDATE runs SET last_sequence = ?, updated_at = ?,
                 status = COALESCE(?, status),
                 error = CASE WHEN ? IS NULL THEN error ELSE ? END
             WHERE id = ? AND last_sequence = ?",
        )
        .bind(batch.last_sequence)
        .bind(batch.last_at)
        .bind(status)
        .bind(status)
        .bind(error)
        .bind(&run_text)
        .bind(batch.first_sequence - 1)
        .execute(&mut *transaction)
        .await
        .map_err(|error| store_error(&context("updating the run"), error))?;
        if updated.rows_affected() != 1 {
            let last: Option<i64> =
                sqlx::query_scalar("SELECT last_sequence FROM runs WHERE id = ?")
                    .bind(&run_text)
                    .fetch_optional(&mut *transaction)
                    .await
                    .map_err(|error| store_error(&context("reading the run"), error))?;
            return Err(match last {
                None => StoreError::new(
                    ErrorKind::NotFound,
                    format!("run {run} does not exist; its log must start with run_started"),
                ),
                Some(last) => StoreError::new(
                    ErrorKind::Conflict,
                    format!(
                        "run {run}: append at sequence {} but its log ends at {last}; another writer appended first",
                        batch.first_sequence
                    ),
                ),
            });
        }
        // One statement for all of the batch's events: each statement is a round trip to
        // SQLite's worker thread, so a step costs a handful of them, not one per event.
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO run_events (run_id, sequence, at_millis, kind, payload) ",
        );
        insert.push_values(&batch.events, |mut row, event| {
            row.push_bind(&run_text)
                .push_bind(event.sequence)
                .push_bind(event.at_millis)
                .push_bind(event.kind)
                .push_bind(&event.payload);
        });
        insert
            .build()
            .execute(&mut *transaction)
            .await
            .map_err(|error| store_error(&context("appending events"), error))?;
        for entry in &batch.journal {
            let query = match entry {
                ToolJournal::Started { key, step, tool, sequence } => sqlx::query(
                    "INSERT INTO tool_calls (idempotency_key, run_id, step, tool, status, started_sequence)
                     VALUES (?, ?, ?, ?, 'started', ?)",
                )
                .bind(key)
                .bind(&run_text)
                .bind(*step)
                .bind(tool)
                .bind(*sequence),
                ToolJournal::Finished { key, sequence, outcome } => sqlx::query(
                    "UPDATE tool_calls SET status = 'finished', finished_sequence = ?, outcome = ? WHERE idempotency_key = ?",
                )
                .bind(*sequence)
                .bind(outcome)
                .bind(key),
            };
            query
                .execute(&mut *transaction)
                .await
                .map_err(|error| store_error(&context("journaling a tool call"), error))?;
        }
        transaction
            .commit()
            .await
            .map_err(|error| store_error(&context("committing"), error))
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
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|error| OpenError::Database {
            path: path.to_owned(),
            message: error.to_string(),
        })?;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&pool)
            .await
            .map_err(|_| OpenError::NotSqlite {
                path: path.to_owned(),
            })?;
    let result = if tables.iter().any(|table| table == "weft_meta") {
        let version: Option<String> =
            sqlx::query_scalar("SELECT value FROM weft_meta WHERE key = 'schema_version'")
                .fetch_optional(&pool)
                .await
                .map_err(|error| OpenError::Database {
                    path: path.to_owned(),
                    message: error.to_string(),
                })?;
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

/// The columns a run summary is read from (a macro, so queries stay literal strings).
macro_rules! summary_columns {
    () => {
        "id, workflow, source, status, parent_run, parent_step, parent_branch, created_at, updated_at, last_sequence, error"
    };
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
            let rows = sqlx::query("SELECT sequence, at_millis, payload FROM run_events WHERE run_id = ? AND sequence > ? ORDER BY sequence")
                .bind(run.to_string())
                .bind(i64::try_from(after).unwrap_or(i64::MAX))
                .fetch_all(&self.readers)
                .await
                .map_err(|error| store_error("reading a run's events", error))?;
            rows.iter().map(|row| event_record(run, row)).collect()
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

    fn mark_failed<'a>(
        &'a self,
        run: RunId,
        error: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("UPDATE runs SET status = 'failed', error = ? WHERE id = ?")
                .bind(error)
                .bind(run.to_string())
                .execute(&self.writer)
                .await
                .map_err(|error| store_error("marking a run failed", error))?;
            Ok(())
        })
    }
}
