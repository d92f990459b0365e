//! The session port: what the runtime and the memory tools ask of the store that keeps
//! sessions. The store implements it; the runtime cannot depend on the store, so it sees
//! sessions only through this trait.
//!
//! Writes that belong to a run (the messages a step adds, the summaries compaction makes)
//! are not here: they are events of the run's log ([`crate::Event::Remembered`],
//! [`crate::Event::Compacted`]), and the store derives the session's rows from them in the
//! same transaction as the batch, so a run and its session never disagree.

use crate::event::EventRecord;
use crate::ids::RunId;
use crate::session::{
    Pin, SessionId, SessionMessage, SessionRef, SessionView, Snippet, SnippetSource, Summary,
};
use crate::store::{Lease, StoreError};
use crate::tokens::TokenCounter;
use futures_core::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use crate::session::NewSummary;

/// What compaction reads of a session (see [`SessionStore::uncompacted`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Uncompacted {
    /// The live summaries, in order, with their counts for the asked tokenizer where kept.
    pub summaries: Vec<Summary>,
    /// The oldest messages no summary covers, until their tokens passed the asked limit;
    /// none when compaction was not due.
    pub oldest: Vec<SessionMessage>,
    /// The tokens of every message no summary covers.
    pub total: u32,
}

pub use crate::store::DEFAULT_TENANT;

/// A session as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Its id.
    pub id: SessionId,
    /// Its tenant.
    pub tenant: String,
    /// Its name, unique in its tenant.
    pub name: String,
    /// The workflow it was created with.
    pub workflow: String,
    /// That workflow's file.
    pub source: String,
    /// When it was created (ms since the Unix epoch).
    pub created_at_millis: u64,
    /// When a message was last added.
    pub updated_at_millis: u64,
    /// How many messages it holds.
    pub messages: u64,
    /// How many facts are pinned in it now.
    #[serde(default)]
    pub pins: u64,
    /// How many notes it keeps.
    #[serde(default)]
    pub notes: u64,
    /// How many summaries stand for its older messages now (merged ones left out).
    #[serde(default)]
    pub summaries: u64,
    /// The run writing it now, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_by: Option<RunId>,
}

/// Which of a tenant's sessions [`SessionStore::sessions`] lists, most recently used
/// first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// The tenant.
    pub tenant: String,
    /// Only sessions made for this workflow (its name).
    pub workflow: Option<String>,
    /// Only sessions after this one in the order: the last one of the page before.
    pub after: Option<SessionCursor>,
    /// At most this many (0: no limit).
    pub limit: u32,
}

/// A session's place in the order sessions are listed in (most recently used first): its
/// last use and its id. Written `UPDATED_AT_MILLIS:ID` where it travels as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCursor {
    /// When the session was last used.
    pub updated_at_millis: u64,
    /// The session.
    pub id: SessionId,
}

impl SessionCursor {
    /// The place of `session`.
    pub fn of(session: &SessionInfo) -> Self {
        Self {
            updated_at_millis: session.updated_at_millis,
            id: session.id,
        }
    }
}

impl std::fmt::Display for SessionCursor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}:{}", self.updated_at_millis, self.id)
    }
}

/// A cursor that is not `UPDATED_AT_MILLIS:ID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a session cursor (UPDATED_AT_MILLIS:SESSION_ID, as a page's `next` gives it)"
)]
pub struct ParseSessionCursorError(pub String);

impl std::str::FromStr for SessionCursor {
    type Err = ParseSessionCursorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseSessionCursorError(text.to_owned());
        let (millis, id) = text.split_once(':').ok_or_else(invalid)?;
        Ok(Self {
            updated_at_millis: millis.parse().map_err(|_| invalid())?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

impl SessionInfo {
    /// What a run in it records.
    pub fn reference(&self) -> SessionRef {
        SessionRef {
            id: self.id,
            name: self.name.clone(),
        }
    }
}

/// A session to open: found by tenant and name, or created with this workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// The tenant.
    pub tenant: String,
    /// The name.
    pub name: String,
    /// The workflow a new session records.
    pub workflow: String,
    /// Its file.
    pub source: String,
}

/// What a lock attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// The run holds the session until the given time, unless it renews the lock.
    Held,
    /// Another run holds it.
    Busy {
        /// That run.
        holder: RunId,
    },
}

/// What a context needs read from a session.
#[derive(Clone, Copy)]
pub struct ViewRequest<'a> {
    /// The session.
    pub session: SessionId,
    /// Counts for this tokenizer are read; messages without one are counted with it, and
    /// the counts kept.
    pub counter: &'a dyn TokenCounter,
    /// Newest messages are read until they pass this many tokens (older ones could not
    /// fit anyway; the view says how many it left out).
    pub max_tokens: u32,
    /// The current turn's text: archival snippets relevant to it are searched for.
    pub query: Option<&'a str>,
    /// How many snippets, at most.
    pub snippets: u32,
}

/// Where sessions are kept.
pub trait SessionStore: Send + Sync {
    /// The session named in `spec`, created if there is none.
    fn open_session<'a>(
        &'a self,
        spec: &'a SessionSpec,
    ) -> BoxFuture<'a, Result<SessionInfo, StoreError>>;
    /// The session with this name, if there is one.
    fn find_session<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionInfo>, StoreError>>;
    /// A tenant's sessions as `filter` chooses them, most recently used first.
    fn sessions<'a>(
        &'a self,
        filter: &'a SessionFilter,
    ) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>>;
    /// The session with this id, if it belongs to `tenant`.
    fn session<'a>(
        &'a self,
        tenant: &'a str,
        session: SessionId,
    ) -> BoxFuture<'a, Result<Option<SessionInfo>, StoreError>>;
    /// Deletes a session and everything in it; refused while a run holds it.
    fn delete_session(&self, session: SessionId) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Takes the session's lock for `run` until `until_millis`, if no other run holds it
    /// (a lock past its time is nobody's); taking it again renews it.
    fn lock(
        &self,
        session: SessionId,
        run: RunId,
        until_millis: u64,
    ) -> BoxFuture<'_, Result<Lock, StoreError>>;
    /// Records the first events of `run`, a run that speaks in the session its
    /// `RunStarted` names, and takes that session's lock for it until `until_millis`, in one
    /// transaction: [`Lock::Busy`], with nothing recorded, when another run holds the lock.
    /// With `lease`, the run is recorded taken as [`crate::EventSink::append_taken`] records
    /// it. One write where [`SessionStore::lock`] and an append are two.
    fn start_locked<'a>(
        &'a self,
        run: RunId,
        records: &'a [EventRecord],
        until_millis: u64,
        lease: Option<&'a Lease>,
    ) -> BoxFuture<'a, Result<Lock, StoreError>>;
    /// Gives the lock up, if `run` holds it.
    fn unlock(&self, session: SessionId, run: RunId) -> BoxFuture<'_, Result<(), StoreError>>;
    /// What a context needs: pins, live summaries, snippets and the newest messages after
    /// the summaries, every count for the request's tokenizer filled in.
    fn view<'a>(
        &'a self,
        request: ViewRequest<'a>,
    ) -> BoxFuture<'a, Result<SessionView, StoreError>>;
    /// What compaction reads, in one call: the live summaries, the tokens of the messages
    /// no summary covers, and the oldest of those until they pass `max_tokens`. The
    /// oldest are read only when compaction may be due: when those tokens and the live
    /// summaries' (their texts as `counter` counts them) pass `due_above` (0: always).
    fn uncompacted<'a>(
        &'a self,
        session: SessionId,
        counter: &'a dyn TokenCounter,
        max_tokens: u32,
        due_above: u64,
    ) -> BoxFuture<'a, Result<Uncompacted, StoreError>>;
    /// Messages after `after`, in order, at most `limit` (0: all).
    fn messages(
        &self,
        session: SessionId,
        after: u64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<SessionMessage>, StoreError>>;
    /// Full-text search over the session's messages, tool results and notes, best first.
    fn search<'a>(
        &'a self,
        session: SessionId,
        query: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Snippet>, StoreError>>;
    /// A message's or a note's whole text.
    fn read(
        &self,
        session: SessionId,
        source: SnippetSource,
        id: u64,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>>;
    /// The pinned facts, oldest first.
    fn pins(&self, session: SessionId) -> BoxFuture<'_, Result<Vec<Pin>, StoreError>>;
    /// Pins a fact; the same `key` twice pins it once (and answers the same id).
    fn pin<'a>(
        &'a self,
        session: SessionId,
        text: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;
    /// Unpins a fact; whether it was pinned.
    fn unpin(&self, session: SessionId, id: u64) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// Saves a note; the same `key` twice saves it once (and answers the same id).
    fn save_note<'a>(
        &'a self,
        session: SessionId,
        text: &'a str,
        tags: &'a [String],
        key: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;
}

/// A store of runs, of sessions and of API keys: what a weft database is.
pub trait Database:
    crate::store::RunStore + SessionStore + crate::keys::KeyStore + crate::queue::RunQueue
{
}

impl<
    T: crate::store::RunStore + SessionStore + crate::keys::KeyStore + crate::queue::RunQueue + ?Sized,
> Database for T
{
}
