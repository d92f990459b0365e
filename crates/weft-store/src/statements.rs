//! The statements of an append, written once for every dialect: the row of a run that
//! starts, the batch's row, and the tool-call journal.

use crate::batch::{Batch, NewRun, ToolJournal};
use crate::dialect::Dialect;
use sqlx::{Encode, QueryBuilder, Type};

/// The row of a run that starts with this batch.
pub(crate) fn insert_run<D: Dialect>(
    statement: &mut QueryBuilder<D::Database>,
    run: &str,
    new_run: &NewRun,
    at_millis: i64,
) where
    for<'a> &'a str: Encode<'a, D::Database> + Type<D::Database>,
    for<'a> Option<&'a str>: Encode<'a, D::Database>,
    for<'a> i64: Encode<'a, D::Database> + Type<D::Database>,
    for<'a> Option<i64>: Encode<'a, D::Database>,
{
    let parent = new_run.parent.as_ref();
    statement
        .push("INSERT INTO runs (id, workflow, source, status, parent_run, parent_step, parent_branch, created_at, session_id, tenant, queued_at")
        .push(if new_run.lease.is_some() {
            ", lease_owner, lease_until"
        } else {
            ""
        })
        .push(D::NEW_RUN_COLUMNS)
        .push(") VALUES (")
        .push_bind(run)
        .push(", ")
        .push_bind(new_run.workflow.as_str())
        .push(", ")
        .push_bind(new_run.source.as_str())
        .push(", 'running', ")
        .push_bind(parent.map(|parent| parent.run.to_string()).as_deref())
        .push(", ")
        .push_bind(parent.and_then(|parent| i64::try_from(parent.step).ok()))
        .push(", ")
        .push_bind(parent.and_then(|parent| parent.branch.map(i64::from)))
        .push(", ")
        .push_bind(at_millis)
        .push(", ")
        .push_bind(new_run.session.as_deref())
        // A sub-workflow's run belongs to its parent's tenant.
        .push(", COALESCE(")
        .push_bind(new_run.tenant.as_deref())
        .push(", (SELECT tenant FROM runs WHERE id = ")
        .push_bind(parent.map(|parent| parent.run.to_string()).as_deref())
        .push("), 'default'), ")
        .push_bind(new_run.served.then_some(at_millis));
    if let Some((daemon, until)) = &new_run.lease {
        statement
            .push(", ")
            .push_bind(daemon.as_str())
            .push(", ")
            .push_bind(*until);
    }
    statement.push(D::NEW_RUN_VALUES).push(")");
}

/// The batch's row; its events move into the statement rather than being copied.
pub(crate) fn insert_batch<Database>(
    statement: &mut QueryBuilder<Database>,
    run: &str,
    batch: &mut Batch,
) where
    Database: sqlx::Database,
    for<'a> &'a str: Encode<'a, Database> + Type<Database>,
    for<'a> i64: Encode<'a, Database> + Type<Database>,
    for<'a> Vec<u8>: Encode<'a, Database> + Type<Database>,
{
    statement
        .push("INSERT INTO event_batches (run_id, first_sequence, last_sequence, at_millis, encoding, events) VALUES (")
        .push_bind(run)
        .push(", ")
        .push_bind(batch.first_sequence)
        .push(", ")
        .push_bind(batch.last_sequence)
        .push(", ")
        .push_bind(batch.at_millis)
        .push(", ")
        .push_bind(batch.encoding)
        .push(", ")
        .push_bind(std::mem::take(&mut batch.events))
        .push(")");
}

/// A tool call's journal entry. A call run again after a person's retry starts anew.
pub(crate) fn journal<Database>(
    statement: &mut QueryBuilder<Database>,
    run: &str,
    entry: &ToolJournal,
) where
    Database: sqlx::Database,
    for<'a> &'a str: Encode<'a, Database> + Type<Database>,
    for<'a> i64: Encode<'a, Database> + Type<Database>,
{
    match entry {
        ToolJournal::Started {
            key,
            step,
            tool,
            sequence,
        } => statement
            .push("INSERT INTO tool_calls (idempotency_key, run_id, step, tool, status, started_sequence) VALUES (")
            .push_bind(key.as_str())
            .push(", ")
            .push_bind(run)
            .push(", ")
            .push_bind(*step)
            .push(", ")
            .push_bind(tool.as_str())
            .push(", 'started', ")
            .push_bind(*sequence)
            .push(
                ") ON CONFLICT (idempotency_key) DO UPDATE SET status = 'started', started_sequence = excluded.started_sequence, finished_sequence = NULL, outcome = NULL",
            ),
        ToolJournal::Finished {
            key,
            sequence,
            outcome,
        } => statement
            .push("UPDATE tool_calls SET status = 'finished', finished_sequence = ")
            .push_bind(*sequence)
            .push(", outcome = ")
            .push_bind(outcome.as_str())
            .push(" WHERE idempotency_key = ")
            .push_bind(key.as_str()),
    };
}
