//! Writing sessions outside a run's appends, written once for every dialect: creating and
//! deleting them, their locks, pins, notes, and the token counts a view or a compaction
//! counted. Each write is one transaction through the dialect's writer.

use crate::dialect::{Dialect, Script};
use crate::error::store_error;
use crate::session::reads::SessionReads;
use crate::session::rows::{no_session, now_millis, signed, unsigned};
use crate::store::{Store, write_error};
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, QueryBuilder, Type};
use std::future::Future;
use weft_core::{ErrorKind, Lock, RunId, SessionId, SessionInfo, SessionSpec, StoreError};

/// Token counts written per statement (four values each).
const COUNTS_PER_STATEMENT: usize = 500;
/// How often a lock or a deletion is tried again when the lock changed in between.
const ATTEMPTS: usize = 3;

/// A pin or a note to add.
pub(crate) struct Item<'a> {
    /// `session_pins` or `session_notes`.
    pub table: &'static str,
    pub text: &'a str,
    /// The note's tags (JSON); `None` for a pin.
    pub tags: Option<&'a str>,
    pub key: &'a str,
}

/// The store's session writes; the bounds of its implementation are those of
/// `store::Operations`.
pub(crate) trait SessionWrites {
    /// The session named in `spec`, created if there is none.
    fn create_session(
        &self,
        spec: &SessionSpec,
    ) -> impl Future<Output = Result<SessionInfo, StoreError>> + Send;
    /// Deletes a session unless a run holds its lock.
    fn remove_session(
        &self,
        session: SessionId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Takes or renews the session's lock for `run`.
    fn take_lock(
        &self,
        session: SessionId,
        run: RunId,
        until_millis: u64,
    ) -> impl Future<Output = Result<Lock, StoreError>> + Send;
    /// Gives the lock up if `run` holds it.
    fn release_lock(
        &self,
        session: SessionId,
        run: RunId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Adds a pin or a note once per key; its id.
    fn add_item(
        &self,
        session: SessionId,
        item: Item<'_>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Unpins a pin; whether it was pinned.
    fn remove_pin(
        &self,
        session: SessionId,
        id: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Keeps counts of messages (`sequence, tokens`) for `tokenizer`; counts kept before
    /// stay.
    fn store_counts(
        &self,
        session: SessionId,
        tokenizer: &str,
        counts: &[(u64, u32)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<D, Database> SessionWrites for Store<D>
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
    async fn create_session(&self, spec: &SessionSpec) -> Result<SessionInfo, StoreError> {
        if spec.name.trim().is_empty() || spec.tenant.trim().is_empty() {
            return Err(StoreError::new(
                ErrorKind::InvalidInput,
                "a session needs a name and a tenant (the CLI's sessions are the tenant `default`'s)",
            ));
        }
        if let Some(found) = self.session_by_name(&spec.tenant, &spec.name).await? {
            return Ok(found);
        }
        let now = now_millis();
        let mut script = D::script(1);
        script
            .statement()
            .push("INSERT INTO sessions (id, tenant, name, workflow, source, created_at, updated_at) VALUES (")
            .push_bind(SessionId::new().to_string().as_str())
            .push(", ")
            .push_bind(spec.tenant.as_str())
            .push(", ")
            .push_bind(spec.name.as_str())
            .push(", ")
            .push_bind(spec.workflow.as_str())
            .push(", ")
            .push_bind(spec.source.as_str())
            .push(", ")
            .push_bind(now)
            .push(", ")
            .push_bind(now)
            // Another process may have created it meanwhile: then that one is the session.
            .push(") ON CONFLICT (tenant, name) DO NOTHING");
        self.dialect
            .execute(script)
            .await
            .map_err(|error| write_error("creating a session", error))?;
        self.session_by_name(&spec.tenant, &spec.name)
            .await?
            .ok_or_else(|| {
                StoreError::new(
                    ErrorKind::Internal,
                    format!(
                        "the session {} of tenant {} was created but cannot be read back",
                        spec.name, spec.tenant
                    ),
                )
            })
    }

    /// One statement: the session's rows go with it (`ON DELETE CASCADE`, and triggers for
    /// SQLite's archive), unless a run holds its lock.
    async fn remove_session(&self, session: SessionId) -> Result<(), StoreError> {
        for _ in 0..ATTEMPTS {
            let mut script = D::script(1);
            script
                .statement()
                .push("DELETE FROM sessions WHERE id = ")
                .push_bind(session.to_string().as_str())
                .push(" AND (locked_by IS NULL OR lock_until < ")
                .push_bind(now_millis())
                .push(")");
            let deleted = self
                .dialect
                .execute(script)
                .await
                .map_err(|error| write_error("deleting a session", error))?;
            if deleted > 0 {
                return Ok(());
            }
            let Some(info) = self.session_by_id(session).await? else {
                return Err(no_session(session));
            };
            if let Some(holder) = info.locked_by {
                return Err(StoreError::new(
                    ErrorKind::Conflict,
                    format!(
                        "session {} ({session}) is in use by run {holder}; wait for the run to stop (or cancel it), then delete the session",
                        info.name
                    ),
                ));
            }
        }
        Err(changing(session))
    }

    async fn take_lock(
        &self,
        session: SessionId,
        run: RunId,
        until_millis: u64,
    ) -> Result<Lock, StoreError> {
        let run_text = run.to_string();
        for _ in 0..ATTEMPTS {
            let mut script = D::script(1);
            crate::session::append::lock(
                script.statement(),
                &session.to_string(),
                &run_text,
                signed(until_millis),
                now_millis(),
            );
            let taken = self
                .dialect
                .execute(script)
                .await
                .map_err(|error| write_error("locking a session", error))?;
            if taken > 0 {
                return Ok(Lock::Held);
            }
            let Some(info) = self.session_by_id(session).await? else {
                return Err(no_session(session));
            };
            if let Some(holder) = info.locked_by {
                return Ok(Lock::Busy { holder });
            }
        }
        Err(changing(session))
    }

    async fn release_lock(&self, session: SessionId, run: RunId) -> Result<(), StoreError> {
        let mut script = D::script(1);
        script
            .statement()
            .push("UPDATE sessions SET locked_by = NULL, lock_until = NULL WHERE id = ")
            .push_bind(session.to_string().as_str())
            .push(" AND locked_by = ")
            .push_bind(run.to_string().as_str());
        self.dialect
            .execute(script)
            .await
            .map(|_| ())
            .map_err(|error| write_error("unlocking a session", error))
    }

    /// The next id of the session's items, unless the key was used: then nothing changes,
    /// and the first item's id is the answer.
    async fn add_item(&self, session: SessionId, item: Item<'_>) -> Result<u64, StoreError> {
        let session_text = session.to_string();
        let mut script = D::script(1);
        let statement = script.statement();
        statement.push(format_args!(
            "INSERT INTO {} (session_id, id, text, created_at, idempotency_key{}) SELECT ",
            item.table,
            if item.tags.is_some() { ", tags" } else { "" }
        ));
        statement
            .push_bind(session_text.as_str())
            .push(", COALESCE(MAX(id), 0) + 1, ")
            .push_bind(item.text)
            .push(", ")
            .push_bind(now_millis())
            .push(", ")
            .push_bind(item.key);
        if let Some(tags) = item.tags {
            statement.push(", ").push_bind(tags);
        }
        statement
            .push(format_args!(" FROM {} WHERE session_id = ", item.table))
            .push_bind(session_text.as_str())
            .push(" ON CONFLICT (session_id, idempotency_key) DO NOTHING");
        if let Err(error) = self.dialect.execute(script).await {
            if self.session_by_id(session).await?.is_none() {
                return Err(no_session(session));
            }
            return Err(write_error("saving to a session", error));
        }
        let mut query =
            QueryBuilder::new(format!("SELECT id FROM {} WHERE session_id = ", item.table));
        query
            .push_bind(session_text.as_str())
            .push(" AND idempotency_key = ")
            .push_bind(item.key);
        let id: i64 = query
            .build_query_scalar()
            .fetch_one(&self.readers)
            .await
            .map_err(|error| store_error("reading back what was saved to a session", error))?;
        Ok(unsigned(id))
    }

    async fn remove_pin(&self, session: SessionId, id: u64) -> Result<bool, StoreError> {
        let mut script = D::script(1);
        script
            .statement()
            .push("UPDATE session_pins SET unpinned_at = ")
            .push_bind(now_millis())
            .push(" WHERE session_id = ")
            .push_bind(session.to_string().as_str())
            .push(" AND id = ")
            .push_bind(signed(id))
            .push(" AND unpinned_at IS NULL");
        let changed = self
            .dialect
            .execute(script)
            .await
            .map_err(|error| write_error("unpinning a fact", error))?;
        Ok(changed > 0)
    }

    async fn store_counts(
        &self,
        session: SessionId,
        tokenizer: &str,
        counts: &[(u64, u32)],
    ) -> Result<(), StoreError> {
        let session_text = session.to_string();
        for chunk in counts.chunks(COUNTS_PER_STATEMENT * 8) {
            let mut script = D::script(chunk.len().div_ceil(COUNTS_PER_STATEMENT));
            for rows in chunk.chunks(COUNTS_PER_STATEMENT) {
                let statement = script.statement();
                statement.push(
                    "INSERT INTO session_token_counts (session_id, tokenizer, sequence, tokens) VALUES ",
                );
                for (index, (sequence, tokens)) in rows.iter().enumerate() {
                    statement
                        .push(if index == 0 { "(" } else { ", (" })
                        .push_bind(session_text.as_str())
                        .push(", ")
                        .push_bind(tokenizer)
                        .push(", ")
                        .push_bind(signed(*sequence))
                        .push(", ")
                        .push_bind(i64::from(*tokens))
                        .push(")");
                }
                statement.push(" ON CONFLICT DO NOTHING");
            }
            self.dialect
                .execute(script)
                .await
                .map_err(|error| write_error("keeping token counts", error))?;
        }
        Ok(())
    }
}

/// A lock that kept changing while it was tried.
fn changing(session: SessionId) -> StoreError {
    StoreError::new(
        ErrorKind::RetryableUpstream,
        format!("session {session}: its lock kept changing while it was tried; try again"),
    )
}
