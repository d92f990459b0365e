//! Reading rows back, shared by the backends: `runs` rows, and `api_keys` rows (with which
//! keys a read asks for).

use crate::batch::StoredBatch;
use crate::error::store_error;
use sqlx::Row;
use std::str::FromStr;
use weft_core::{ApiKey, ErrorKind, ParentLink, RunId, RunStatus, RunSummary, StoreError};

/// Reads a run summary from a `runs` row, on any backend.
pub(crate) fn summary<'r, R>(row: &'r R) -> Result<RunSummary, StoreError>
where
    R: Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let corrupt =
        |what: &str| StoreError::new(ErrorKind::Corrupt, format!("a run row has a bad {what}"));
    let column = |error: sqlx::Error| {
        StoreError::new(
            ErrorKind::Corrupt,
            format!("a run row cannot be read: {error}"),
        )
    };
    let id: String = row.try_get("id").map_err(column)?;
    let status: String = row.try_get("status").map_err(column)?;
    let parent_run: Option<String> = row.try_get("parent_run").map_err(column)?;
    let parent = match parent_run {
        Some(parent_run) => Some(ParentLink {
            run: RunId::from_str(&parent_run).map_err(|_| corrupt("parent id"))?,
            step: row
                .try_get::<Option<i64>, _>("parent_step")
                .map_err(column)?
                .and_then(|step| u64::try_from(step).ok())
                .unwrap_or(0),
            branch: row
                .try_get::<Option<i64>, _>("parent_branch")
                .map_err(column)?
                .and_then(|branch| u32::try_from(branch).ok()),
        }),
        None => None,
    };
    Ok(RunSummary {
        id: RunId::from_str(&id).map_err(|_| corrupt("id"))?,
        workflow: row.try_get("workflow").map_err(column)?,
        source: row.try_get("source").map_err(column)?,
        status: RunStatus::from_str(&status).map_err(|_| corrupt("status"))?,
        parent,
        created_at_millis: u64::try_from(row.try_get::<i64, _>("created_at").map_err(column)?)
            .unwrap_or(0),
        updated_at_millis: u64::try_from(row.try_get::<i64, _>("updated_at").map_err(column)?)
            .unwrap_or(0),
        events: u64::try_from(row.try_get::<i64, _>("last_sequence").map_err(column)?).unwrap_or(0),
        error: row.try_get("error").map_err(column)?,
        tenant: row.try_get("tenant").map_err(column)?,
    })
}

/// Reads an `event_batches` row (`first_sequence, last_sequence, at_millis, encoding,
/// events`), on any backend.
pub(crate) fn stored_batch<'r, R>(row: &'r R) -> Result<StoredBatch, StoreError>
where
    R: Row,
    &'static str: sqlx::ColumnIndex<R>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let read = |error| store_error("reading events", error);
    Ok(StoredBatch {
        first_sequence: row.try_get("first_sequence").map_err(read)?,
        last_sequence: row.try_get("last_sequence").map_err(read)?,
        at_millis: row.try_get("at_millis").map_err(read)?,
        encoding: row.try_get("encoding").map_err(read)?,
        events: row.try_get("events").map_err(read)?,
    })
}

/// Which keys to read.
#[derive(Debug, Clone, Copy)]
pub enum KeyFilter<'a> {
    /// Every key.
    All,
    /// The keys of one tenant.
    Tenant(&'a str),
    /// The key with this hash.
    Hash(&'a str),
}

/// A key's row: id, tenant, created at, revoked at.
pub(crate) fn key_from_row(
    (id, tenant, created, revoked): (String, String, i64, Option<i64>),
) -> ApiKey {
    ApiKey {
        id,
        tenant,
        created_at_millis: u64::try_from(created).unwrap_or(0),
        revoked_at_millis: revoked.map(|revoked| u64::try_from(revoked).unwrap_or(0)),
    }
}
