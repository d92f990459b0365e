//! What an append writes to the run's session, in the batch's transaction: the messages of
//! its `Remembered` events (with their token counts, when the event carries them) and the
//! summaries of its `Compacted` events. The session is the
//! run's own (`runs.session_id`), looked up by the statements themselves; a run without one
//! leaves its `session_id` NULL, which the tables refuse, so such an append fails whole.
//! A run's session lock is released by a trigger when its status leaves `running`.

use crate::batch::{Batch, RememberedMessage};
use crate::dialect::Script;
use crate::session::rows::{role_name, tool_calls_text};
use sqlx::{Encode, QueryBuilder, Type};
use weft_core::NewSummary;

/// The session of the run bound next, as a scalar subquery.
const RUN_SESSION: &str = "(SELECT session_id FROM runs WHERE id = ";
/// Messages inserted per statement: six values each, well within every database's limit
/// of values per statement.
const MESSAGES_PER_STATEMENT: usize = 500;

/// How many statements [`write`] writes for `batch`.
pub(crate) fn statements(batch: &Batch) -> usize {
    let messages = if batch.remembered.is_empty() {
        0
    } else {
        1 + batch
            .remembered
            .chunks(MESSAGES_PER_STATEMENT)
            .map(|chunk| 1 + usize::from(chunk.iter().any(|message| message.counted.is_some())))
            .sum::<usize>()
    };
    let summaries: usize = batch
        .compacted
        .iter()
        .map(|summary| 1 + usize::from(!summary.merges.is_empty()))
        .sum();
    messages + summaries
}

/// The statement that takes or renews `session`'s lock for `run` until `until` (ms): it
/// changes the session's row unless another run holds a lock that lasts past `now`. In the
/// append that records a run's start it comes before the run's `INSERT`, which a trigger
/// refuses unless the run then holds the lock (schema 6).
pub(crate) fn lock<Database>(
    statement: &mut QueryBuilder<Database>,
    session: &str,
    run: &str,
    until: i64,
    now: i64,
) where
    Database: sqlx::Database,
    for<'a> &'a str: Encode<'a, Database> + Type<Database>,
    for<'a> i64: Encode<'a, Database> + Type<Database>,
{
    statement
        .push("UPDATE sessions SET locked_by = ")
        .push_bind(run)
        .push(", lock_until = ")
        .push_bind(until)
        .push(" WHERE id = ")
        .push_bind(session)
        .push(" AND (locked_by IS NULL OR locked_by = ")
        .push_bind(run)
        .push(" OR lock_until < ")
        .push_bind(now)
        .push(")");
}

/// Writes the session's share of an append of `batch` to `run`.
pub(crate) fn write<Database, S>(script: &mut S, run: &str, batch: &Batch)
where
    Database: sqlx::Database,
    S: Script<Database>,
    for<'a> &'a str: Encode<'a, Database> + Type<Database>,
    for<'a> Option<&'a str>: Encode<'a, Database>,
    for<'a> i64: Encode<'a, Database> + Type<Database>,
{
    if !batch.remembered.is_empty() {
        let count = i64::try_from(batch.remembered.len()).unwrap_or(i64::MAX);
        // The session's row first: in PostgreSQL this locks it, so a second writer waits
        // and then numbers its messages after these.
        script
            .statement()
            .push("UPDATE sessions SET last_message = last_message + ")
            .push_bind(count)
            .push(", updated_at = ")
            .push_bind(batch.at_millis)
            .push(" WHERE id = ")
            .push(RUN_SESSION)
            .push_bind(run)
            .push(")");
        for (chunk, messages) in batch.remembered.chunks(MESSAGES_PER_STATEMENT).enumerate() {
            let first = chunk * MESSAGES_PER_STATEMENT;
            insert_messages(
                script.statement(),
                run,
                count,
                (first, messages),
                batch.at_millis,
            );
            if messages.iter().any(|message| message.counted.is_some()) {
                insert_counts(script.statement(), run, count, (first, messages));
            }
        }
    }
    for summary in &batch.compacted {
        insert_summary(script.statement(), run, summary, batch.at_millis);
        if !summary.merges.is_empty() {
            merge_summaries(script.statement(), run, &summary.merges);
        }
    }
}

/// Messages of the append from its `first` (from 0), numbered after the session's last
/// message before the append (whose count the first statement already raised by `count`).
fn insert_messages<Database>(
    statement: &mut QueryBuilder<Database>,
    run: &str,
    count: i64,
    (first, messages): (usize, &[RememberedMessage]),
    at_millis: i64,
) where
    Database: sqlx::Database,
    for<'a> &'a str: Encode<'a, Database> + Type<Database>,
    for<'a> Option<&'a str>: Encode<'a, Database>,
    for<'a> i64: Encode<'a, Database> + Type<Database>,
{
    statement
        .push("INSERT INTO session_messages (session_id, sequence, run_id, step, role, content, tool_calls, tool_call_id, created_at) SELECT runs.session_id, sessions.last_message - ")
        .push_bind(count)
        .push(" + item.column1, runs.id, item.column2, item.column3, item.column4, item.column5, item.column6, ")
        .push_bind(at_millis)
        .push(" FROM (VALUES ");
    for (index, remembered) in messages.iter().enumerate() {
        if index > 0 {
            statement.push(", ");
        }
        push_message(statement, first + index, remembered);
    }
    statement
        .push(") AS item LEFT JOIN runs ON runs.id = ")
        .push_bind(run)
        .push(" LEFT JOIN sessions ON sessions.id = runs.session_id");
}

/// The token counts the messages of the append came with, numbered as
/// [`insert_messages`] numbers the messages.
fn insert_counts<Database>(
    statement: &mut QueryBuilder<Database>,
    run: &str,
    count: i64,
    (first, messages): (usize, &[RememberedMessage]),
) where
    Database: sqlx::Database,
    for<'a> &'a str: Encode<'a, Database> + Type<Database>,
    for<'a> i64: Encode<'a, Database> + Type<Database>,
{
    statement
        .push("INSERT INTO session_token_counts (session_id, tokenizer, sequence, tokens) SELECT runs.session_id, item.column2, sessions.last_message - ")
        .push_bind(count)
        .push(" + item.column1, item.column3 FROM (VALUES ");
    let counted = messages.iter().enumerate().filter_map(|(index, message)| {
        let (tokenizer, tokens) = message.counted.as_ref()?;
        Some((first + index, tokenizer.as_str(), *tokens))
    });
    for (written, (offset, tokenizer, tokens)) in counted.enumerate() {
        if written > 0 {
            statement.push(", ");
        }
        statement
            .push("(")
            .push_bind(i64::try_from(offset + 1).unwrap_or(i64::MAX))
            .push(", ")
            .push_bind(tokenizer)
            .push(", ")
            .push_bind(i64::from(tokens))
            .push(")");
    }
    statement
        .push(") AS item LEFT JOIN runs ON runs.id = ")
        .push_bind(run)
        .push(" LEFT JOIN sessions ON sessions.id = runs.session_id ON CONFLICT DO NOTHING");
}

/// One message's row of the `VALUES` list: its place in the append (from 1), step, role,
/// content, tool calls and tool call id.
fn push_message<Database>(
    statement: &mut QueryBuilder<Database>,
    offset: usize,
    remembered: &RememberedMessage,
) where
    Database: sqlx::Database,
    for<'a> &'a str: Encode<'a, Database> + Type<Database>,
    for<'a> Option<&'a str>: Encode<'a, Database>,
    for<'a> i64: Encode<'a, Database> + Type<Database>,
{
    let message = &remembered.message;
    statement
        .push("(")
        .push_bind(i64::try_from(offset + 1).unwrap_or(i64::MAX))
        .push(", ")
        .push_bind(remembered.step)
        .push(", ")
        .push_bind(role_name(message.role))
        .push(", ")
        .push_bind(message.content.as_str())
        .push(", ")
        .push_bind(tool_calls_text(&message.tool_calls).as_deref())
        .push(", ")
        .push_bind(message.tool_call_id.as_deref())
        .push(")");
}

/// A summary, with the session's next summary id.
fn insert_summary<Database>(
    statement: &mut QueryBuilder<Database>,
    run: &str,
    summary: &NewSummary,
    at_millis: i64,
) where
    Database: sqlx::Database,
    for<'a> &'a str: Encode<'a, Database> + Type<Database>,
    for<'a> Option<&'a str>: Encode<'a, Database>,
    for<'a> i64: Encode<'a, Database> + Type<Database>,
{
    statement
        .push("INSERT INTO session_summaries (session_id, id, level, first_sequence, last_sequence, text, model, run_id, created_at) SELECT runs.session_id, COALESCE((SELECT MAX(id) FROM session_summaries WHERE session_id = runs.session_id), 0) + 1, ")
        .push_bind(i64::from(summary.level))
        .push(", ")
        .push_bind(i64::try_from(summary.first).unwrap_or(i64::MAX))
        .push(", ")
        .push_bind(i64::try_from(summary.last).unwrap_or(i64::MAX))
        .push(", ")
        .push_bind(summary.text.as_str())
        .push(", ")
        .push_bind(summary.by.as_deref())
        .push(", runs.id, ")
        .push_bind(at_millis)
        .push(" FROM runs WHERE runs.id = ")
        .push_bind(run);
}

/// Marks the summaries a new one merges as merged into it (the session's newest).
fn merge_summaries<Database>(statement: &mut QueryBuilder<Database>, run: &str, merges: &[u64])
where
    Database: sqlx::Database,
    for<'a> &'a str: Encode<'a, Database> + Type<Database>,
    for<'a> i64: Encode<'a, Database> + Type<Database>,
{
    statement
        .push("UPDATE session_summaries SET merged_into = (SELECT MAX(id) FROM session_summaries WHERE session_id = ")
        .push(RUN_SESSION)
        .push_bind(run)
        .push(")) WHERE session_id = ")
        .push(RUN_SESSION)
        .push_bind(run)
        .push(") AND id IN (");
    for (index, merged) in merges.iter().enumerate() {
        if index > 0 {
            statement.push(", ");
        }
        statement.push_bind(i64::try_from(*merged).unwrap_or(i64::MAX));
    }
    statement.push(")");
}
