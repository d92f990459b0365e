//! The store, written once for every dialect: what an append writes (the run's row when it
//! starts, the batch's row, the tool-call journal, the run's session's messages and
//! summaries), why one failed, and every read of runs. What differs between SQLite and
//! PostgreSQL is asked of the [`Dialect`]; sessions are read and written in `session/`.

use crate::batch::{Batch, Taking};
use crate::dialect::{Dialect, Script, WriteError};
use crate::error::store_error;
use crate::location::Location;
use crate::rows::KeyFilter;
use crate::rows::{stored_batch, summary};
use crate::session::append as session;
use crate::statements::{insert_batch, insert_run, journal};
use futures::future::BoxFuture;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, QueryBuilder, Type};
use std::collections::BTreeMap;
use std::future::Future;
use weft_core::{
    ApiKey, ErrorKind, EventRecord, EventSink, Lease, RunFilter, RunId, RunStore, RunSummary,
    StoreError,
};

/// A weft database in one SQL dialect: run logs, snapshots and the tool-call journal.
/// `SqliteStore` and `PostgresStore` name its two kinds.
#[derive(Debug, Clone)]
pub struct Store<D: Dialect> {
    /// The dialect, with its connections.
    pub(crate) dialect: D,
    /// The connections that read.
    pub(crate) readers: sqlx::Pool<D::Database>,
    location: Location,
}

impl<D: Dialect> Store<D> {
    /// A store that writes through `dialect` and reads through `readers`.
    pub(crate) fn new(dialect: D, readers: sqlx::Pool<D::Database>, location: Location) -> Self {
        Self {
            dialect,
            readers,
            location,
        }
    }

    /// Where the database is.
    pub fn location(&self) -> &Location {
        &self.location
    }
}

/// The store's work, written once; the bounds of its implementation say what it asks of a
/// database driver (running queries, and encoding and decoding text, integers and bytes).
pub trait Operations {
    /// Appends records (see [`EventSink::append`]), with what a run's start takes: its
    /// lease (see [`EventSink::append_taken`]) and its session's lock.
    fn append_records(
        &self,
        run: RunId,
        records: &[EventRecord],
        taking: Taking<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Why an append of `batch` failed: a log that does not end right before it is a
    /// conflict, a run with no row was never started; anything else is the database's own
    /// error.
    fn explain(
        &self,
        run: RunId,
        batch: &Batch,
        error: WriteError,
    ) -> impl Future<Output = StoreError> + Send;
    /// See [`RunStore::run`].
    fn read_run(&self, run: RunId) -> impl Future<Output = Result<RunSummary, StoreError>> + Send;
    /// See [`RunStore::events`].
    fn read_events(
        &self,
        run: RunId,
        after: u64,
    ) -> impl Future<Output = Result<Vec<EventRecord>, StoreError>> + Send;
    /// See [`RunStore::runs`].
    fn list_runs(
        &self,
        filter: RunFilter,
    ) -> impl Future<Output = Result<Vec<RunSummary>, StoreError>> + Send;
    /// See [`RunStore::run_of`].
    fn read_run_of(
        &self,
        tenant: &str,
        run: RunId,
    ) -> impl Future<Output = Result<Option<RunSummary>, StoreError>> + Send;
    /// See [`RunStore::latest_snapshot`].
    fn read_snapshot(
        &self,
        run: RunId,
    ) -> impl Future<Output = Result<Option<(u64, serde_json::Value)>, StoreError>> + Send;
    /// See [`RunStore::save_snapshot`].
    fn write_snapshot(
        &self,
        run: RunId,
        sequence: u64,
        snapshot: &serde_json::Value,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// See [`RunStore::mark_failed`].
    fn write_failure(
        &self,
        run: RunId,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// See [`RunStore::save_workflow_texts`].
    fn write_texts(
        &self,
        texts: &[(String, String)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// See [`RunStore::workflow_texts`].
    fn read_texts(
        &self,
        hashes: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, String>, StoreError>> + Send;
    /// See [`weft_core::KeyStore::add_key`].
    fn write_key(
        &self,
        key: &ApiKey,
        hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Keys, newest first, of one tenant or all; or the one with a hash.
    fn read_keys(
        &self,
        filter: KeyFilter<'_>,
    ) -> impl Future<Output = Result<Vec<ApiKey>, StoreError>> + Send;
    /// See [`weft_core::KeyStore::revoke_key`].
    fn write_revocation(&self, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl<D, Database> Operations for Store<D>
where
    D: Dialect<Database = Database>,
    Database: sqlx::Database,
    Database::Arguments: IntoArguments<Database>,
    for<'c> &'c mut Database::Connection: Executor<'c, Database = Database>,
    for<'a> &'a str: Encode<'a, Database> + Type<Database>,
    for<'a> Option<&'a str>: Encode<'a, Database>,
    for<'a> i64: Encode<'a, Database> + Decode<'a, Database> + Type<Database>,
    for<'a> Option<i64>: Encode<'a, Database>,
    for<'a> Vec<u8>: Encode<'a, Database> + Decode<'a, Database> + Type<Database>,
    for<'a> String: Decode<'a, Database> + Type<Database>,
    &'static str: ColumnIndex<Database::Row>,
    usize: ColumnIndex<Database::Row>,
{
    /// The batch's statements, in the order every dialect writes them: the new run's row,
    /// the run row's share (the dialect's), the batch's row, the journal, the session's
    /// share. An ordinary step is the batch's row alone in SQLite.
    async fn append_records(
        &self,
        run: RunId,
        records: &[EventRecord],
        taking: Taking<'_>,
    ) -> Result<(), StoreError> {
        let mut batch = Batch::new(run, records)?;
        if let Some(lease) = taking.lease {
            batch.take(run, lease)?;
        }
        let lock = taking
            .lock_until
            .map(|until| batch.session_lock(run, until))
            .transpose()?;
        let run_text = run.to_string();
        let statements = usize::from(lock.is_some())
            + usize::from(batch.new_run.is_some())
            + D::run_row_statements(&batch)
            + 1
            + batch.journal.len()
            + session::statements(&batch);
        let mut script = D::script(statements);
        if let Some((session, until)) = &lock {
            let now = crate::session::rows::now_millis();
            session::lock(script.statement(), session, &run_text, *until, now);
        }
        if let Some(new_run) = &batch.new_run {
            insert_run::<D>(script.statement(), &run_text, new_run, batch.at_millis);
        }
        D::update_run_row(&mut script, &run_text, &batch);
        insert_batch(script.statement(), &run_text, &mut batch);
        for entry in &batch.journal {
            journal(script.statement(), &run_text, entry);
        }
        session::write(&mut script, &run_text, &batch);
        match self.dialect.execute(script).await {
            Ok(_) => Ok(()),
            Err(error) => Err(self.explain(run, &batch, error).await),
        }
    }

    async fn explain(&self, run: RunId, batch: &Batch, error: WriteError) -> StoreError {
        let log_end: Result<Option<i64>, _> = sqlx::query_scalar(D::SELECT_LOG_END)
            .bind(run.to_string().as_str())
            .fetch_optional(&self.readers)
            .await;
        match log_end {
            Ok(None) if batch.new_run.is_none() => {
                return StoreError::new(
                    ErrorKind::NotFound,
                    format!("run {run} does not exist; its log must start with run_started"),
                );
            }
            Ok(Some(last)) if last != batch.first_sequence - 1 => {
                return StoreError::new(
                    ErrorKind::Conflict,
                    format!(
                        "run {run}: append at sequence {} but its log ends at {last}; another writer appended first",
                        batch.first_sequence
                    ),
                );
            }
            _ => {}
        }
        if let Some(problem) = session_problem(&self.readers, run, batch).await {
            return problem;
        }
        match error {
            WriteError::Database(error) => store_error(
                &format!("appending to run {run} ({})", self.location),
                error,
            ),
            WriteError::RunRowUnchanged => StoreError::new(
                ErrorKind::Conflict,
                format!(
                    "run {run}: append at sequence {} while another writer appends to its log",
                    batch.first_sequence
                ),
            ),
        }
    }

    async fn read_run(&self, run: RunId) -> Result<RunSummary, StoreError> {
        let row = sqlx::query(D::SELECT_RUN)
            .bind(run.to_string().as_str())
            .fetch_optional(&self.readers)
            .await
            .map_err(|error| store_error("reading a run", error))?
            .ok_or_else(|| {
                StoreError::new(
                    ErrorKind::NotFound,
                    format!("no run {run} in {}", self.location),
                )
            })?;
        summary(&row)
    }

    async fn read_events(&self, run: RunId, after: u64) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(D::SELECT_BATCHES)
            .bind(run.to_string().as_str())
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .fetch_all(&self.readers)
            .await
            .map_err(|error| store_error("reading a run's events", error))?;
        let mut records = Vec::new();
        for row in &rows {
            crate::batch::decode(run, &stored_batch(row)?, after, &mut records)?;
        }
        Ok(records)
    }

    /// One query, its conditions those the filter sets.
    async fn list_runs(&self, filter: RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        let mut query = QueryBuilder::<Database>::new("SELECT ");
        query.push(D::RUN_COLUMNS).push(" FROM runs WHERE 1 = 1");
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        if filter.top_level_only {
            query.push(" AND parent_run IS NULL");
        }
        if let Some(tenant) = &filter.tenant {
            query.push(" AND tenant = ").push_bind(tenant.as_str());
        }
        if let Some(before) = filter.before {
            query
                .push(" AND id < ")
                .push_bind(before.to_string().as_str());
        }
        if let Some(since) = filter.since {
            query
                .push(" AND id >= ")
                .push_bind(since.to_string().as_str());
        }
        if let Some(session) = filter.session {
            query
                .push(" AND session_id = ")
                .push_bind(session.to_string().as_str());
        }
        query.push(" ORDER BY id DESC");
        if filter.limit > 0 {
            query.push(" LIMIT ").push_bind(i64::from(filter.limit));
        }
        let rows = query
            .build()
            .fetch_all(&self.readers)
            .await
            .map_err(|error| store_error("listing runs", error))?;
        rows.iter().map(summary).collect()
    }

    async fn read_run_of(
        &self,
        tenant: &str,
        run: RunId,
    ) -> Result<Option<RunSummary>, StoreError> {
        let mut query = QueryBuilder::<Database>::new("SELECT ");
        query
            .push(D::RUN_COLUMNS)
            .push(" FROM runs WHERE id = ")
            .push_bind(run.to_string().as_str())
            .push(" AND tenant = ")
            .push_bind(tenant);
        let row = query
            .build()
            .fetch_optional(&self.readers)
            .await
            .map_err(|error| store_error("reading a run", error))?;
        row.as_ref().map(summary).transpose()
    }

    async fn read_snapshot(
        &self,
        run: RunId,
    ) -> Result<Option<(u64, serde_json::Value)>, StoreError> {
        let row: Option<(i64, i64, Vec<u8>)> = sqlx::query_as(D::SELECT_SNAPSHOT)
            .bind(run.to_string().as_str())
            .fetch_optional(&self.readers)
            .await
            .map_err(|error| store_error("reading a snapshot", error))?;
        Ok(row.and_then(crate::batch::stored_snapshot))
    }

    /// The new snapshot replaces the run's older ones in one transaction; deleting first
    /// lets SQLite reuse their pages, so the file holds one.
    async fn write_snapshot(
        &self,
        run: RunId,
        sequence: u64,
        snapshot: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let (encoding, data) = crate::batch::encode_snapshot(snapshot)?;
        let run_text = run.to_string();
        let mut script = D::script(2);
        script
            .statement()
            .push("DELETE FROM snapshots WHERE run_id = ")
            .push_bind(run_text.as_str());
        script
            .statement()
            .push("INSERT INTO snapshots (run_id, sequence, encoding, data) VALUES (")
            .push_bind(run_text.as_str())
            .push(", ")
            .push_bind(i64::try_from(sequence).unwrap_or(i64::MAX))
            .push(", ")
            .push_bind(encoding)
            .push(", ")
            .push_bind(data)
            .push(")");
        self.dialect
            .execute(script)
            .await
            .map(|_| ())
            .map_err(|error| write_error("saving a snapshot", error))
    }

    async fn write_failure(&self, run: RunId, error: &str) -> Result<(), StoreError> {
        let mut script = D::script(1);
        script
            .statement()
            .push("UPDATE runs SET status = 'failed', error = ")
            .push_bind(error)
            .push(" WHERE id = ")
            .push_bind(run.to_string().as_str());
        self.dialect
            .execute(script)
            .await
            .map(|_| ())
            .map_err(|error| write_error("marking a run failed", error))
    }

    /// One statement, which leaves a text kept before as it is.
    async fn write_texts(&self, texts: &[(String, String)]) -> Result<(), StoreError> {
        if texts.is_empty() {
            return Ok(());
        }
        let now = crate::session::rows::now_millis();
        let mut script = D::script(1);
        let statement = script
            .statement()
            .push("INSERT INTO workflow_texts (hash, text, created_at) VALUES ");
        for (index, (hash, text)) in texts.iter().enumerate() {
            if index > 0 {
                statement.push(", ");
            }
            statement
                .push("(")
                .push_bind(hash.as_str())
                .push(", ")
                .push_bind(text.as_str())
                .push(", ")
                .push_bind(now)
                .push(")");
        }
        statement.push(" ON CONFLICT (hash) DO NOTHING");
        self.dialect
            .execute(script)
            .await
            .map(|_| ())
            .map_err(|error| write_error("keeping workflow texts", error))
    }

    /// One query for all of them.
    async fn read_texts(&self, hashes: &[String]) -> Result<BTreeMap<String, String>, StoreError> {
        if hashes.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut query =
            QueryBuilder::<Database>::new("SELECT hash, text FROM workflow_texts WHERE hash IN (");
        let mut listed = query.separated(", ");
        for hash in hashes {
            listed.push_bind(hash.as_str());
        }
        query.push(")");
        let rows: Vec<(String, String)> = query
            .build_query_as()
            .fetch_all(&self.readers)
            .await
            .map_err(|error| store_error("reading workflow texts", error))?;
        Ok(rows.into_iter().collect())
    }

    async fn write_key(&self, key: &ApiKey, hash: &str) -> Result<(), StoreError> {
        let mut script = D::script(1);
        script
            .statement()
            .push("INSERT INTO api_keys (id, tenant, hash, created_at) VALUES (")
            .push_bind(key.id.as_str())
            .push(", ")
            .push_bind(key.tenant.as_str())
            .push(", ")
            .push_bind(hash)
            .push(", ")
            .push_bind(i64::try_from(key.created_at_millis).unwrap_or(i64::MAX))
            .push(")");
        self.dialect
            .execute(script)
            .await
            .map(|_| ())
            .map_err(|error| write_error("keeping an API key", error))
    }

    async fn read_keys(&self, filter: KeyFilter<'_>) -> Result<Vec<ApiKey>, StoreError> {
        let mut query = QueryBuilder::<Database>::new(
            "SELECT id, tenant, created_at, revoked_at FROM api_keys",
        );
        match filter {
            KeyFilter::All => {}
            KeyFilter::Tenant(tenant) => {
                query.push(" WHERE tenant = ").push_bind(tenant);
            }
            KeyFilter::Hash(hash) => {
                query.push(" WHERE hash = ").push_bind(hash);
            }
        }
        query.push(" ORDER BY created_at DESC, id DESC");
        let rows: Vec<(String, String, i64, Option<i64>)> = query
            .build_query_as()
            .fetch_all(&self.readers)
            .await
            .map_err(|error| store_error("reading API keys", error))?;
        Ok(rows.into_iter().map(crate::rows::key_from_row).collect())
    }

    async fn write_revocation(&self, id: &str) -> Result<bool, StoreError> {
        let mut script = D::script(1);
        script
            .statement()
            .push("UPDATE api_keys SET revoked_at = ")
            .push_bind(crate::session::rows::now_millis())
            .push(" WHERE id = ")
            .push_bind(id)
            .push(" AND revoked_at IS NULL");
        self.dialect
            .execute(script)
            .await
            .map(|changed| changed > 0)
            .map_err(|error| write_error("revoking an API key", error))
    }
}

/// Why an append failed, when its session is the reason: a run without a session that
/// remembers or compacts, or a run in a session that does not exist. `None` otherwise, and
/// when that cannot be read.
async fn session_problem<Database>(
    readers: &sqlx::Pool<Database>,
    run: RunId,
    batch: &Batch,
) -> Option<StoreError>
where
    Database: sqlx::Database,
    Database::Arguments: IntoArguments<Database>,
    for<'c> &'c mut Database::Connection: Executor<'c, Database = Database>,
    for<'a> &'a str: Encode<'a, Database> + Type<Database>,
    for<'a> i64: Decode<'a, Database> + Type<Database>,
    for<'a> String: Decode<'a, Database> + Type<Database>,
    usize: ColumnIndex<Database::Row>,
{
    let session = match &batch.new_run {
        Some(new_run) => new_run.session.clone(),
        None => {
            let mut query = QueryBuilder::new("SELECT session_id FROM runs WHERE id = ");
            query.push_bind(run.to_string().as_str());
            query
                .build_query_scalar::<Option<String>>()
                .fetch_optional(readers)
                .await
                .ok()??
        }
    };
    let Some(session) = session else {
        return batch.touches_session().then(|| {
            StoreError::new(
                ErrorKind::InvalidInput,
                format!(
                    "run {run} has no session, so its remembered and compacted events have nowhere to go; start the run in a session"
                ),
            )
        });
    };
    let mut query = QueryBuilder::new("SELECT count(*) FROM sessions WHERE id = ");
    query.push_bind(session.as_str());
    let found: i64 = query.build_query_scalar().fetch_one(readers).await.ok()?;
    (found == 0).then(|| {
        StoreError::new(
            ErrorKind::NotFound,
            format!(
                "run {run} speaks in session {session}, which does not exist (it was deleted, or never opened); open the session first"
            ),
        )
    })
}

/// A failed write other than an append, as a store error.
pub(crate) fn write_error(context: &str, error: WriteError) -> StoreError {
    match error {
        WriteError::Database(error) => store_error(context, error),
        WriteError::RunRowUnchanged => {
            StoreError::new(ErrorKind::Conflict, format!("{context}: the run changed"))
        }
    }
}

impl<D: Dialect> EventSink for Store<D>
where
    Self: Operations,
{
    fn append<'a>(
        &'a self,
        run: RunId,
        records: &'a [EventRecord],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.append_records(run, records, Taking::default()))
    }

    fn append_taken<'a>(
        &'a self,
        run: RunId,
        records: &'a [EventRecord],
        lease: &'a Lease,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let taking = Taking {
            lease: Some(lease),
            lock_until: None,
        };
        Box::pin(self.append_records(run, records, taking))
    }
}

impl<D: Dialect> RunStore for Store<D>
where
    Self: Operations,
{
    fn run(&self, run: RunId) -> BoxFuture<'_, Result<RunSummary, StoreError>> {
        Box::pin(self.read_run(run))
    }

    fn events(
        &self,
        run: RunId,
        after: u64,
    ) -> BoxFuture<'_, Result<Vec<EventRecord>, StoreError>> {
        Box::pin(self.read_events(run, after))
    }

    fn runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Vec<RunSummary>, StoreError>> {
        Box::pin(self.list_runs(filter))
    }

    fn run_of<'a>(
        &'a self,
        tenant: &'a str,
        run: RunId,
    ) -> BoxFuture<'a, Result<Option<RunSummary>, StoreError>> {
        Box::pin(self.read_run_of(tenant, run))
    }

    fn mark_failed<'a>(
        &'a self,
        run: RunId,
        error: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.write_failure(run, error))
    }

    fn latest_snapshot(
        &self,
        run: RunId,
    ) -> BoxFuture<'_, Result<Option<(u64, serde_json::Value)>, StoreError>> {
        Box::pin(self.read_snapshot(run))
    }

    fn save_snapshot<'a>(
        &'a self,
        run: RunId,
        sequence: u64,
        snapshot: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.write_snapshot(run, sequence, snapshot))
    }

    fn save_workflow_texts<'a>(
        &'a self,
        texts: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.write_texts(texts))
    }

    fn workflow_texts<'a>(
        &'a self,
        hashes: &'a [String],
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, StoreError>> {
        Box::pin(self.read_texts(hashes))
    }
}
