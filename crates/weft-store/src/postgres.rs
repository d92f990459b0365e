//! The PostgreSQL store: several weft processes on several machines share one database. An
//! append's sequence check is a conditional update of the run's row, which PostgreSQL locks,
//! so two writers can never interleave one run's log.

use crate::batch::{Batch, ToolJournal};
use crate::error::{OpenError, store_error};
use crate::rows::{stored_batch, summary};
use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::path::PathBuf;
use std::str::FromStr;
use weft_core::{
    ErrorKind, EventRecord, EventSink, ParentLink, RunFilter, RunId, RunStatus, RunStore,
    RunSummary, StoreError,
};

const CONNECTIONS: u32 = 8;

/// A weft database in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

macro_rules! summary_columns {
    () => {
        "id, workflow, source, status, parent_run, parent_step, parent_branch, created_at, updated_at, last_sequence, error"
    };
}

impl PostgresStore {
    /// Connects to `url` (e.g. `postgres://postgres@127.0.0.1:5432/test`), refuses a database
    /// with a newer weft schema, and migrates an older or empty one.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        let options = PgConnectOptions::from_str(url).map_err(|error| database(url, error))?;
        Self::connect_with(url, options).await
    }

    /// Connects with explicit options (tests use them to put each test in its own schema).
    pub async fn connect_with(label: &str, options: PgConnectOptions) -> Result<Self, OpenError> {
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|error| database(label, error))?;
        let has_meta: bool = sqlx::query_scalar("SELECT to_regclass('weft_meta') IS NOT NULL")
            .fetch_one(&pool)
            .await
            .map_err(|error| database(label, error))?;
        if has_meta {
            let version: Option<String> =
                sqlx::query_scalar("SELECT value FROM weft_meta WHERE key = 'schema_version'")
                    .fetch_optional(&pool)
                    .await
                    .map_err(|error| database(label, error))?;
            let found = version
                .and_then(|version| version.parse::<i64>().ok())
                .unwrap_or(0);
            if found > crate::SCHEMA_VERSION {
                return Err(OpenError::NewerSchema {
                    path: PathBuf::from(label),
                    found,
                    supported: crate::SCHEMA_VERSION,
                });
            }
        }
        sqlx::migrate!("../../migrations/postgres")
            .run(&pool)
            .await
            .map_err(|error| OpenError::Database {
                path: PathBuf::from(label),
                message: format!("migrating the schema failed: {error}"),
            })?;
        Ok(Self { pool })
    }

    async fn append_batch(&self, run: RunId, batch: Batch) -> Result<(), StoreError> {
        let run_text = run.to_string();
        let mut transaction = self
            .pool
            .begin()
            .await
            .map_err(|error| store_error("starting a write", error))?;
        if let Some(new_run) = &batch.new_run {
            let (parent_run, parent_step, parent_branch) = parent_columns(new_run.parent.as_ref());
            sqlx::query(
                "INSERT INTO runs (id, workflow, source, status, parent_run, parent_step, parent_branch, created_at, updated_at, last_sequence)
                 VALUES ($1, $2, $3, 'running', $4, $5, $6, $7, $8, 0)",
            )
            .bind(&run_text)
            .bind(&new_run.workflow)
            .bind(&new_run.source)
            .bind(parent_run)
            .bind(parent_step)
            .bind(parent_branch)
            .bind(batch.at_millis)
            .bind(batch.at_millis)
            .execute(&mut *transaction)
            .await
            .map_err(|error| store_error("recording a new run", error))?;
        }
        let (status, error) = match &batch.status {
            Some((status, error)) => (Some(status.as_str()), error.clone()),
            None => (None, None),
        };
        let updated = sqlx::query(
            "UPDATE runs SET last_sequence = $1, updated_at = $2,
                 status = COALESCE($3, status),
                 error = CASE WHEN $3::text IS NULL THEN error ELSE $4 END
             WHERE id = $5 AND last_sequence = $6",
        )
        .bind(batch.last_sequence)
        .bind(batch.at_millis)
        .bind(status)
        .bind(error)
        .bind(&run_text)
        .bind(batch.first_sequence - 1)
        .execute(&mut *transaction)
        .await
        .map_err(|error| store_error("updating the run", error))?;
        if updated.rows_affected() != 1 {
            let last: Option<i64> =
                sqlx::query_scalar("SELECT last_sequence FROM runs WHERE id = $1")
                    .bind(&run_text)
                    .fetch_optional(&mut *transaction)
                    .await
                    .map_err(|error| store_error("reading the run", error))?;
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
        sqlx::query(
            "INSERT INTO event_batches (run_id, first_sequence, last_sequence, at_millis, encoding, events)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&run_text)
        .bind(batch.first_sequence)
        .bind(batch.last_sequence)
        .bind(batch.at_millis)
        .bind(batch.encoding)
        .bind(&batch.events)
        .execute(&mut *transaction)
        .await
        .map_err(|error| store_error("appending events", error))?;
        for entry in &batch.journal {
            let query = match entry {
                ToolJournal::Started { key, step, tool, sequence } => sqlx::query(
                    "INSERT INTO tool_calls (idempotency_key, run_id, step, tool, status, started_sequence)
                     VALUES ($1, $2, $3, $4, 'started', $5)
                     ON CONFLICT (idempotency_key) DO UPDATE SET status = 'started',
                         started_sequence = EXCLUDED.started_sequence, finished_sequence = NULL, outcome = NULL",
                )
                .bind(key)
                .bind(&run_text)
                .bind(*step)
                .bind(tool)
                .bind(*sequence),
                ToolJournal::Finished { key, sequence, outcome } => sqlx::query(
                    "UPDATE tool_calls SET status = 'finished', finished_sequence = $1, outcome = $2 WHERE idempotency_key = $3",
                )
                .bind(*sequence)
                .bind(outcome)
                .bind(key),
            };
            query
                .execute(&mut *transaction)
                .await
                .map_err(|error| store_error("journaling a tool call", error))?;
        }
        transaction
            .commit()
            .await
            .map_err(|error| store_error("committing", error))
    }
}

fn database(label: &str, error: sqlx::Error) -> OpenError {
    OpenError::Database {
        path: PathBuf::from(label),
        message: error.to_string(),
    }
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

impl EventSink for PostgresStore {
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

impl RunStore for PostgresStore {
    fn run(&self, run: RunId) -> BoxFuture<'_, Result<RunSummary, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(concat!(
                "SELECT ",
                summary_columns!(),
                " FROM runs WHERE id = $1"
            ))
            .bind(run.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|error| store_error("reading a run", error))?
            .ok_or_else(|| StoreError::new(ErrorKind::NotFound, format!("no run {run}")))?;
            summary(&row)
        })
    }

    fn events(
        &self,
        run: RunId,
        after: u64,
    ) -> BoxFuture<'_, Result<Vec<EventRecord>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT first_sequence, last_sequence, at_millis, encoding, events FROM event_batches WHERE run_id = $1 AND last_sequence > $2 ORDER BY first_sequence")
                .bind(run.to_string())
                .bind(i64::try_from(after).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
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
                    " FROM runs WHERE ($1::text IS NULL OR status = $1) AND parent_run IS NULL ORDER BY id DESC LIMIT $2"
                )
            } else {
                concat!(
                    "SELECT ",
                    summary_columns!(),
                    " FROM runs WHERE ($1::text IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
                )
            };
            let limit = if filter.limit == 0 {
                i64::MAX
            } else {
                i64::from(filter.limit)
            };
            let rows = sqlx::query(sql)
                .bind(filter.status.map(RunStatus::as_str))
                .bind(limit)
                .fetch_all(&self.pool)
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
                "SELECT sequence, encoding, data FROM snapshots WHERE run_id = $1 ORDER BY sequence DESC LIMIT 1",
            )
            .bind(run.to_string())
            .fetch_optional(&self.pool)
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
            let mut transaction = self
                .pool
                .begin()
                .await
                .map_err(|error| store_error("saving a snapshot", error))?;
            sqlx::query(
                "INSERT INTO snapshots (run_id, sequence, encoding, data) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (run_id, sequence) DO UPDATE SET encoding = EXCLUDED.encoding, data = EXCLUDED.data",
            )
            .bind(run.to_string())
            .bind(sequence)
            .bind(encoding)
            .bind(data)
            .execute(&mut *transaction)
            .await
            .map_err(|error| store_error("saving a snapshot", error))?;
            sqlx::query("DELETE FROM snapshots WHERE run_id = $1 AND sequence < $2")
                .bind(run.to_string())
                .bind(sequence)
                .execute(&mut *transaction)
                .await
                .map_err(|error| store_error("saving a snapshot", error))?;
            transaction
                .commit()
                .await
                .map_err(|error| store_error("saving a snapshot", error))
        })
    }

    fn mark_failed<'a>(
        &'a self,
        run: RunId,
        error: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("UPDATE runs SET status = 'failed', error = $1 WHERE id = $2")
                .bind(error)
                .bind(run.to_string())
                .execute(&self.pool)
                .await
                .map_err(|error| store_error("marking a run failed", error))?;
            Ok(())
        })
    }
}
