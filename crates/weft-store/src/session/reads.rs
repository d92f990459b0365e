//! Reading sessions, written once for every dialect: sessions by name, pins, the live
//! summaries, messages in pages with their token counts for one tokenizer, and the archive.
//! Counting what has no count yet is the caller's (`view.rs`); what is read here is as
//! stored.

use crate::dialect::Dialect;
use crate::error::store_error;
use crate::session::rows::{
    MESSAGE_COLUMNS, MessageRow, SESSION_COLUMNS, SessionRow, corrupt, no_session, now_millis,
    session_info, session_message, signed, tokens, unsigned,
};
use crate::session::text::{Search, excerpt, query_words};
use crate::store::Store;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, QueryBuilder, Type};
use std::future::Future;
use weft_core::{
    Pin, SessionFilter, SessionId, SessionInfo, SessionMessage, Snippet, SnippetSource, StoreError,
    Summary,
};

/// Which messages a page reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page<'a> {
    /// The tokenizer whose counts are read; `None`: none are.
    pub tokenizer: Option<&'a str>,
    /// Messages after this sequence number...
    pub after: i64,
    /// ...and before this one.
    pub before: i64,
    /// Newest first, else oldest first.
    pub newest_first: bool,
    /// Only messages without a count for the tokenizer.
    pub uncounted_only: bool,
    /// The most rows.
    pub limit: i64,
}

/// The store's session reads; the bounds of its implementation are those of
/// `store::Operations`.
pub(crate) trait SessionReads {
    /// The session with this id.
    fn session_by_id(
        &self,
        session: SessionId,
    ) -> impl Future<Output = Result<Option<SessionInfo>, StoreError>> + Send;
    /// The session with this id, if it belongs to `tenant` (any tenant's: `None`).
    fn session_of(
        &self,
        tenant: Option<&str>,
        session: SessionId,
    ) -> impl Future<Output = Result<Option<SessionInfo>, StoreError>> + Send;
    /// The session with this name in the tenant.
    fn session_by_name(
        &self,
        tenant: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<SessionInfo>, StoreError>> + Send;
    /// A tenant's sessions, most recently used first.
    fn list_sessions(
        &self,
        filter: &SessionFilter,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, StoreError>> + Send;
    /// The pins not unpinned, oldest first.
    fn read_pins(
        &self,
        session: SessionId,
    ) -> impl Future<Output = Result<Vec<Pin>, StoreError>> + Send;
    /// The summaries no other merged, in order, with their counts for `tokenizer`.
    fn live_summaries(
        &self,
        session: SessionId,
        tokenizer: &str,
    ) -> impl Future<Output = Result<Vec<Summary>, StoreError>> + Send;
    /// A page of messages (see [`Page`]).
    fn message_page(
        &self,
        session: SessionId,
        page: Page<'_>,
    ) -> impl Future<Output = Result<Vec<SessionMessage>, StoreError>> + Send;
    /// The sum of the stored counts for `tokenizer` of the messages after `after`.
    fn counted_tokens(
        &self,
        session: SessionId,
        tokenizer: &str,
        after: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Snippets of the archive that match `query`, best first, leaving out messages from
    /// `exclude_messages_from` on.
    fn search_archive(
        &self,
        session: SessionId,
        query: &str,
        limit: u32,
        exclude_messages_from: i64,
    ) -> impl Future<Output = Result<Vec<Snippet>, StoreError>> + Send;
    /// A message's content or a note's text.
    fn read_item(
        &self,
        session: SessionId,
        source: SnippetSource,
        id: u64,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}

impl<D, Database> SessionReads for Store<D>
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
    async fn session_by_id(&self, session: SessionId) -> Result<Option<SessionInfo>, StoreError> {
        self.session_of(None, session).await
    }

    async fn session_of(
        &self,
        tenant: Option<&str>,
        session: SessionId,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let mut query = QueryBuilder::new(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = "
        ));
        query.push_bind(session.to_string().as_str());
        if let Some(tenant) = tenant {
            query.push(" AND tenant = ").push_bind(tenant);
        }
        let row: Option<SessionRow> = query
            .build_query_as()
            .fetch_optional(&self.readers)
            .await
            .map_err(|error| store_error("reading a session", error))?;
        row.map(|row| session_info(row, now_millis())).transpose()
    }

    async fn session_by_name(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let mut query = QueryBuilder::new(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE tenant = "
        ));
        query.push_bind(tenant).push(" AND name = ").push_bind(name);
        let row: Option<SessionRow> = query
            .build_query_as()
            .fetch_optional(&self.readers)
            .await
            .map_err(|error| store_error("reading a session", error))?;
        row.map(|row| session_info(row, now_millis())).transpose()
    }

    async fn list_sessions(&self, filter: &SessionFilter) -> Result<Vec<SessionInfo>, StoreError> {
        let limit = if filter.limit == 0 {
            i64::MAX
        } else {
            i64::from(filter.limit)
        };
        let after_id = filter.after.map(|after| after.id.to_string());
        let mut query = QueryBuilder::new(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE tenant = "
        ));
        query.push_bind(filter.tenant.as_str());
        if let Some(workflow) = &filter.workflow {
            query.push(" AND workflow = ").push_bind(workflow.as_str());
        }
        if let (Some(after), Some(id)) = (filter.after, after_id.as_deref()) {
            // After it in the order: used before it, or at the same time with a lower id.
            let millis = signed(after.updated_at_millis);
            query
                .push(" AND (updated_at < ")
                .push_bind(millis)
                .push(" OR (updated_at = ")
                .push_bind(millis)
                .push(" AND id < ")
                .push_bind(id)
                .push("))");
        }
        query
            .push(" ORDER BY updated_at DESC, id DESC LIMIT ")
            .push_bind(limit);
        let rows: Vec<SessionRow> = query
            .build_query_as()
            .fetch_all(&self.readers)
            .await
            .map_err(|error| store_error("listing sessions", error))?;
        let now = now_millis();
        rows.into_iter().map(|row| session_info(row, now)).collect()
    }

    async fn read_pins(&self, session: SessionId) -> Result<Vec<Pin>, StoreError> {
        let mut query = QueryBuilder::new("SELECT id, text FROM session_pins WHERE session_id = ");
        query
            .push_bind(session.to_string().as_str())
            .push(" AND unpinned_at IS NULL ORDER BY id");
        let rows: Vec<(i64, String)> = query
            .build_query_as()
            .fetch_all(&self.readers)
            .await
            .map_err(|error| store_error("reading a session's pins", error))?;
        Ok(rows
            .into_iter()
            .map(|(id, text)| Pin {
                id: unsigned(id),
                text,
            })
            .collect())
    }

    async fn live_summaries(
        &self,
        session: SessionId,
        tokenizer: &str,
    ) -> Result<Vec<Summary>, StoreError> {
        let mut query = QueryBuilder::new(
            "SELECT s.id, s.level, s.first_sequence, s.last_sequence, s.text, c.tokens FROM session_summaries s LEFT JOIN session_summary_counts c ON c.session_id = s.session_id AND c.summary_id = s.id AND c.tokenizer = ",
        );
        query
            .push_bind(tokenizer)
            .push(" WHERE s.session_id = ")
            .push_bind(session.to_string().as_str())
            .push(" AND s.merged_into IS NULL ORDER BY s.first_sequence, s.id");
        let rows: Vec<(i64, i64, i64, i64, String, Option<i64>)> = query
            .build_query_as()
            .fetch_all(&self.readers)
            .await
            .map_err(|error| store_error("reading a session's summaries", error))?;
        Ok(rows
            .into_iter()
            .map(|(id, level, first, last, text, counted)| Summary {
                id: unsigned(id),
                level: u32::try_from(level).unwrap_or(0),
                first: unsigned(first),
                last: unsigned(last),
                text,
                tokens: counted.map(tokens),
            })
            .collect())
    }

    async fn message_page(
        &self,
        session: SessionId,
        page: Page<'_>,
    ) -> Result<Vec<SessionMessage>, StoreError> {
        let mut query = QueryBuilder::new(format!(
            "SELECT {MESSAGE_COLUMNS} FROM session_messages m LEFT JOIN session_token_counts c ON c.session_id = m.session_id AND c.sequence = m.sequence AND c.tokenizer = "
        ));
        query
            .push_bind(page.tokenizer)
            .push(" WHERE m.session_id = ")
            .push_bind(session.to_string().as_str())
            .push(" AND m.sequence > ")
            .push_bind(page.after)
            .push(" AND m.sequence < ")
            .push_bind(page.before);
        if page.uncounted_only {
            query.push(" AND c.tokens IS NULL");
        }
        query
            .push(if page.newest_first {
                " ORDER BY m.sequence DESC LIMIT "
            } else {
                " ORDER BY m.sequence LIMIT "
            })
            .push_bind(page.limit);
        let rows: Vec<MessageRow> = query
            .build_query_as()
            .fetch_all(&self.readers)
            .await
            .map_err(|error| store_error("reading a session's messages", error))?;
        rows.into_iter().map(session_message).collect()
    }

    async fn counted_tokens(
        &self,
        session: SessionId,
        tokenizer: &str,
        after: i64,
    ) -> Result<u64, StoreError> {
        let mut query = QueryBuilder::new(
            "SELECT CAST(COALESCE(SUM(tokens), 0) AS BIGINT) FROM session_token_counts WHERE session_id = ",
        );
        query
            .push_bind(session.to_string().as_str())
            .push(" AND tokenizer = ")
            .push_bind(tokenizer)
            .push(" AND sequence > ")
            .push_bind(after);
        let total: i64 = query
            .build_query_scalar()
            .fetch_one(&self.readers)
            .await
            .map_err(|error| store_error("reading a session's token counts", error))?;
        Ok(unsigned(total))
    }

    async fn search_archive(
        &self,
        session: SessionId,
        query: &str,
        limit: u32,
        exclude_messages_from: i64,
    ) -> Result<Vec<Snippet>, StoreError> {
        let words = query_words(query);
        if words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let session_text = session.to_string();
        if exclude_messages_from <= 1 {
            // Every message is in the context already: only notes could be found, and a
            // session without notes spares the full-text search.
            let mut notes = QueryBuilder::new(
                "SELECT COUNT(*) FROM (SELECT 1 FROM session_notes WHERE session_id = ",
            );
            notes
                .push_bind(session_text.as_str())
                .push(" LIMIT 1) AS any_note");
            let any: i64 = notes
                .build_query_scalar()
                .fetch_one(&self.readers)
                .await
                .map_err(|error| store_error("searching a session", error))?;
            if any == 0 {
                return Ok(Vec::new());
            }
        }
        let mut statement = QueryBuilder::new("");
        D::search(
            &mut statement,
            &Search {
                session: &session_text,
                words: &words,
                exclude_messages_from,
                limit: i64::from(limit),
            },
        );
        let rows: Vec<(String, i64, String)> = statement
            .build_query_as()
            .fetch_all(&self.readers)
            .await
            .map_err(|error| store_error("searching a session", error))?;
        rows.into_iter()
            .map(|(source, item, text)| {
                let source = match source.as_str() {
                    "message" => SnippetSource::Message,
                    "note" => SnippetSource::Note,
                    other => {
                        return Err(corrupt(&format!(
                            "session {session}: the archive holds an item of the unknown source `{other}`"
                        )));
                    }
                };
                Ok(Snippet {
                    source,
                    id: unsigned(item),
                    text: excerpt(&text, &words),
                })
            })
            .collect()
    }

    async fn read_item(
        &self,
        session: SessionId,
        source: SnippetSource,
        id: u64,
    ) -> Result<Option<String>, StoreError> {
        let mut query = QueryBuilder::new(match source {
            SnippetSource::Message => "SELECT content FROM session_messages WHERE session_id = ",
            SnippetSource::Note => "SELECT text FROM session_notes WHERE session_id = ",
        });
        query
            .push_bind(session.to_string().as_str())
            .push(match source {
                SnippetSource::Message => " AND sequence = ",
                SnippetSource::Note => " AND id = ",
            });
        query.push_bind(signed(id));
        let text: Option<String> = query
            .build_query_scalar()
            .fetch_optional(&self.readers)
            .await
            .map_err(|error| store_error("reading from a session's archive", error))?;
        if text.is_none() && self.session_by_id(session).await?.is_none() {
            return Err(no_session(session));
        }
        Ok(text)
    }
}
