//! Sessions in the store: the [`SessionStore`] port of `weft-core`, for every dialect.
//!
//! - `append.rs`: what a run's append writes to its session (messages, summaries), in the
//!   batch's transaction;
//! - `reads.rs` and `writes.rs`: the queries and writes, written once over the dialect;
//! - `view.rs`: the view and the uncompacted messages, read in pages and counted once per
//!   tokenizer;
//! - `text.rs`: archive search words, queries and snippets; `rows.rs`: rows read back.

pub(crate) mod append;
mod reads;
pub(crate) mod rows;
pub(crate) mod text;
mod view;
mod writes;

use crate::batch::Taking;
use crate::dialect::Dialect;
use crate::store::{Operations, Store};
use futures::future::BoxFuture;
use reads::{Page, SessionReads};
use rows::signed;
use weft_core::{
    EventRecord, Lease, Lock, Pin, RunId, SessionFilter, SessionId, SessionInfo, SessionMessage,
    SessionSpec, SessionStore, SessionView, Snippet, SnippetSource, StoreError, TokenCounter,
    Uncompacted, ViewRequest, started_session,
};
use writes::{Item, SessionWrites};

impl<D: Dialect> SessionStore for Store<D>
where
    Self: SessionReads + SessionWrites + Operations,
{
    fn open_session<'a>(
        &'a self,
        spec: &'a SessionSpec,
    ) -> BoxFuture<'a, Result<SessionInfo, StoreError>> {
        Box::pin(self.create_session(spec))
    }

    fn find_session<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionInfo>, StoreError>> {
        Box::pin(self.session_by_name(tenant, name))
    }

    fn sessions<'a>(
        &'a self,
        filter: &'a SessionFilter,
    ) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>> {
        Box::pin(self.list_sessions(filter))
    }

    fn session<'a>(
        &'a self,
        tenant: &'a str,
        session: SessionId,
    ) -> BoxFuture<'a, Result<Option<SessionInfo>, StoreError>> {
        Box::pin(self.session_of(Some(tenant), session))
    }

    fn delete_session(&self, session: SessionId) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.remove_session(session))
    }

    fn lock(
        &self,
        session: SessionId,
        run: RunId,
        until_millis: u64,
    ) -> BoxFuture<'_, Result<Lock, StoreError>> {
        Box::pin(self.take_lock(session, run, until_millis))
    }

    fn start_locked<'a>(
        &'a self,
        run: RunId,
        records: &'a [EventRecord],
        until_millis: u64,
        lease: Option<&'a Lease>,
    ) -> BoxFuture<'a, Result<Lock, StoreError>> {
        Box::pin(async move {
            let taking = Taking {
                lease,
                lock_until: Some(until_millis),
            };
            let Err(error) = self.append_records(run, records, taking).await else {
                return Ok(Lock::Held);
            };
            // Refused because another run holds the lock (the lock statement changed
            // nothing, and the trigger refused the run's row), or for the append's own
            // reasons.
            if let Some(session) = started_session(records)
                && let Some(info) = self.session_by_id(session.id).await?
                && let Some(holder) = info.locked_by.filter(|holder| *holder != run)
            {
                return Ok(Lock::Busy { holder });
            }
            Err(error)
        })
    }

    fn unlock(&self, session: SessionId, run: RunId) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.release_lock(session, run))
    }

    fn view<'a>(
        &'a self,
        request: ViewRequest<'a>,
    ) -> BoxFuture<'a, Result<SessionView, StoreError>> {
        Box::pin(view::view(self, request))
    }

    fn uncompacted<'a>(
        &'a self,
        session: SessionId,
        counter: &'a dyn TokenCounter,
        max_tokens: u32,
        due_above: u64,
    ) -> BoxFuture<'a, Result<Uncompacted, StoreError>> {
        Box::pin(view::uncompacted(
            self, session, counter, max_tokens, due_above,
        ))
    }

    fn messages(
        &self,
        session: SessionId,
        after: u64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<SessionMessage>, StoreError>> {
        let page = Page {
            tokenizer: None,
            after: signed(after),
            before: i64::MAX,
            newest_first: false,
            uncounted_only: false,
            limit: if limit == 0 {
                i64::MAX
            } else {
                i64::from(limit)
            },
        };
        Box::pin(self.message_page(session, page))
    }

    fn search<'a>(
        &'a self,
        session: SessionId,
        query: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Snippet>, StoreError>> {
        Box::pin(self.search_archive(session, query, limit, i64::MAX))
    }

    fn read(
        &self,
        session: SessionId,
        source: SnippetSource,
        id: u64,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        Box::pin(self.read_item(session, source, id))
    }

    fn pins(&self, session: SessionId) -> BoxFuture<'_, Result<Vec<Pin>, StoreError>> {
        Box::pin(self.read_pins(session))
    }

    fn pin<'a>(
        &'a self,
        session: SessionId,
        text: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let item = Item {
            table: "session_pins",
            text,
            tags: None,
            key,
        };
        Box::pin(self.add_item(session, item))
    }

    fn unpin(&self, session: SessionId, id: u64) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.remove_pin(session, id))
    }

    fn save_note<'a>(
        &'a self,
        session: SessionId,
        text: &'a str,
        tags: &'a [String],
        key: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            // A list of strings always serializes.
            let tags = serde_json::to_string(tags).unwrap_or_else(|_| "[]".to_owned());
            let item = Item {
                table: "session_notes",
                text,
                tags: Some(&tags),
                key,
            };
            self.add_item(session, item).await
        })
    }
}
