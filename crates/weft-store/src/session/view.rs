//! What context assembly and compaction read of a session: the view (pins, live summaries,
//! snippets and the newest messages within a budget) and the oldest uncompacted messages.
//! Messages are read in pages, so a long session costs what the budget holds, not its
//! length; a message without a count for the tokenizer is counted here, and its count kept
//! (best effort: a view that could not keep them is still right, and counts again later).

use crate::session::reads::{Page, SessionReads};
use crate::session::rows::{no_session, signed};
use crate::session::writes::SessionWrites;
use weft_core::{
    SessionId, SessionMessage, SessionView, StoreError, TokenCounter, Uncompacted, ViewRequest,
};

/// The first page of messages read; each next one is twice as long, up to [`LAST_PAGE`].
const FIRST_PAGE: i64 = 32;
const LAST_PAGE: i64 = 1_024;

/// Messages read from one end of the uncompacted ones until their tokens pass a budget.
struct Reading {
    messages: Vec<SessionMessage>,
    /// Their tokens.
    total: u64,
    /// Counts made now: `sequence, tokens`.
    counted: Vec<(u64, u32)>,
}

/// See [`weft_core::SessionStore::view`].
pub(crate) async fn view<S>(store: &S, request: ViewRequest<'_>) -> Result<SessionView, StoreError>
where
    S: SessionReads + SessionWrites + Sync,
{
    let session = request.session;
    let info = store
        .session_by_id(session)
        .await?
        .ok_or_else(|| no_session(session))?;
    let pins = if info.pins > 0 {
        store.read_pins(session).await?
    } else {
        Vec::new()
    };
    let summaries = if info.summaries > 0 {
        store.live_summaries(session, request.counter.key()).await?
    } else {
        Vec::new()
    };
    let covered = summaries
        .iter()
        .map(|summary| summary.last)
        .max()
        .unwrap_or(0);
    let reading = read(
        store,
        session,
        request.counter,
        request.max_tokens,
        (covered, info.messages),
        true,
    )
    .await?;
    keep_counts(store, session, request.counter.key(), &reading.counted).await;
    let mut messages = reading.messages;
    messages.reverse();
    let first_read = messages.first().map(|message| message.sequence);
    let omitted = first_read.map_or(0, |first| first.saturating_sub(covered + 1));
    // Messages before the first one read (summarized, or left out) and notes could be
    // found; a session with neither has nothing to search.
    let findable = info.notes > 0 || first_read.map_or(info.messages > 0, |first| first > 1);
    let snippets = match request.query {
        Some(query) if request.snippets > 0 && findable => {
            let exclude_from = first_read.map_or(i64::MAX, signed);
            store
                .search_archive(session, query, request.snippets, exclude_from)
                .await?
        }
        _ => Vec::new(),
    };
    Ok(SessionView {
        pins,
        summaries,
        snippets,
        messages,
        omitted,
    })
}

/// See [`weft_core::SessionStore::uncompacted`]: the live summaries, the tokens of every
/// message no summary covers, and, when compaction may be due, the oldest of those
/// messages until they pass `max_tokens`.
pub(crate) async fn uncompacted<S>(
    store: &S,
    session: SessionId,
    counter: &dyn TokenCounter,
    max_tokens: u32,
    due_above: u64,
) -> Result<Uncompacted, StoreError>
where
    S: SessionReads + SessionWrites + Sync,
{
    let info = store
        .session_by_id(session)
        .await?
        .ok_or_else(|| no_session(session))?;
    let summaries = store.live_summaries(session, counter.key()).await?;
    let covered = summaries
        .iter()
        .map(|summary| summary.last)
        .max()
        .unwrap_or(0);
    // Every count of the messages no summary covers: those kept, and those of the
    // messages that have none yet, made now and kept.
    let mut total = store
        .counted_tokens(session, counter.key(), signed(covered))
        .await?;
    let mut counted = Vec::new();
    let mut after = covered;
    loop {
        let page = Page {
            tokenizer: Some(counter.key()),
            after: signed(after),
            before: signed(info.messages.saturating_add(1)),
            newest_first: false,
            uncounted_only: true,
            limit: LAST_PAGE,
        };
        let uncounted = store.message_page(session, page).await?;
        let Some(last) = uncounted.last() else {
            break;
        };
        after = last.sequence;
        for message in &uncounted {
            let tokens = counter.message(&message.message);
            total += u64::from(tokens);
            counted.push((message.sequence, tokens));
        }
        if uncounted.len() < usize::try_from(LAST_PAGE).unwrap_or(usize::MAX) {
            // A short page is the last one.
            break;
        }
    }
    keep_counts(store, session, counter.key(), &counted).await;
    let summary_tokens: u64 = summaries
        .iter()
        .map(|summary| u64::from(counter.text(&summary.text)))
        .sum();
    let oldest = if total + summary_tokens > due_above {
        let reading = read(
            store,
            session,
            counter,
            max_tokens,
            (covered, info.messages),
            false,
        )
        .await?;
        // Counts are made here only when keeping them above failed.
        keep_counts(store, session, counter.key(), &reading.counted).await;
        reading.messages
    } else {
        Vec::new()
    };
    Ok(Uncompacted {
        summaries,
        oldest,
        total: u32::try_from(total).unwrap_or(u32::MAX),
    })
}

/// Messages between `bounds` (after the first, up to the second), newest first or oldest
/// first, until their tokens pass `max_tokens` (the one that passes it included), each with
/// its count.
async fn read<S>(
    store: &S,
    session: SessionId,
    counter: &dyn TokenCounter,
    max_tokens: u32,
    (after, last): (u64, u64),
    newest_first: bool,
) -> Result<Reading, StoreError>
where
    S: SessionReads + Sync,
{
    let mut reading = Reading {
        messages: Vec::new(),
        total: 0,
        counted: Vec::new(),
    };
    let (mut low, mut high) = (after, last.saturating_add(1));
    let mut limit = FIRST_PAGE;
    while low + 1 < high && reading.total <= u64::from(max_tokens) {
        let page = Page {
            tokenizer: Some(counter.key()),
            after: signed(low),
            before: signed(high),
            newest_first,
            uncounted_only: false,
            limit,
        };
        let messages = store.message_page(session, page).await?;
        if messages.is_empty() {
            break;
        }
        for mut message in messages {
            if newest_first {
                high = message.sequence;
            } else {
                low = message.sequence;
            }
            let tokens = match message.tokens {
                Some(tokens) => tokens,
                None => {
                    let tokens = counter.message(&message.message);
                    reading.counted.push((message.sequence, tokens));
                    message.tokens = Some(tokens);
                    tokens
                }
            };
            reading.total += u64::from(tokens);
            reading.messages.push(message);
            if reading.total > u64::from(max_tokens) {
                break;
            }
        }
        limit = (limit * 2).min(LAST_PAGE);
    }
    Ok(reading)
}

/// Keeps counts made while reading, best effort: a count that could not be kept is made
/// again on the next read, and the read itself is right either way.
async fn keep_counts<S>(store: &S, session: SessionId, tokenizer: &str, counted: &[(u64, u32)])
where
    S: SessionWrites + Sync,
{
    if counted.is_empty() {
        return;
    }
    let _ = store.store_counts(session, tokenizer, counted).await;
}
