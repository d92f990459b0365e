//! `/v1/sessions`: long-lived conversations of the caller's tenant. A session is made for a
//! served workflow; posting a message starts a run of that workflow in the session (one at a
//! time: while a run holds the session, another message is a 409 naming it).

use crate::api::auth::Caller;
use crate::api::body::Body;
use crate::api::error::{ApiError, Code};
use crate::api::runs::{WaitQuery, answer_queued, queue};
use crate::daemon::Daemon;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::str::FromStr;
use std::sync::{Arc, PoisonError};
use weft_core::{SessionCursor, SessionFilter, SessionId, SessionInfo, SessionSpec};

/// `POST /v1/sessions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// Its name, unique in the tenant.
    pub name: String,
    /// The served workflow its messages run.
    pub workflow: String,
}

/// Creates a session.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = CreateSession, responses((status = 201, description = "The session", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 409, description = "The name is taken", body = super::error::ErrorBody)))]
pub async fn create(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Body(request): Body<CreateSession>,
) -> Result<(StatusCode, Json<SessionInfo>), ApiError> {
    if request.name.trim().is_empty() || request.name.len() > 200 {
        return Err(ApiError::new(
            Code::Invalid,
            "a session's name must have 1 to 200 characters",
        ));
    }
    let loaded = daemon.catalog.find(&request.workflow).await?;
    if let Some(existing) = daemon
        .database
        .find_session(&caller.tenant, &request.name)
        .await?
    {
        return Err(ApiError::new(
            Code::Conflict,
            format!("a session named `{}` exists already", request.name),
        )
        .with_details(json!({"session": existing.id})));
    }
    let session = daemon
        .database
        .open_session(&SessionSpec {
            tenant: caller.tenant.clone(),
            name: request.name,
            workflow: loaded.workflow.name.clone(),
            source: loaded.workflow.location.display().to_string(),
        })
        .await?;
    // Its first message need not read it again.
    remember(&daemon, session.clone());
    Ok((StatusCode::CREATED, Json(session)))
}

/// `GET /v1/sessions` paging.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<u32>,
    /// Only sessions made for this workflow (its name).
    workflow: Option<String>,
    /// The page after this place: the `next_after` of the page before.
    after: Option<String>,
}

/// The caller's sessions, most recently used first.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", params(ListQuery), responses((status = 200, description = "Sessions, most recently used first, and the cursor of the next page", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody)))]
pub async fn list(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let after = query
        .after
        .as_deref()
        .map(SessionCursor::from_str)
        .transpose()
        .map_err(|error| ApiError::new(Code::BadRequest, error.to_string()))?;
    let filter = SessionFilter {
        tenant: caller.tenant.clone(),
        workflow: query.workflow,
        after,
        limit: query.limit.unwrap_or(50).clamp(1, 1000),
    };
    let sessions = daemon.database.sessions(&filter).await?;
    let next = (sessions.len() == filter.limit as usize)
        .then(|| {
            sessions
                .last()
                .map(|last| SessionCursor::of(last).to_string())
        })
        .flatten();
    Ok(Json(json!({"sessions": sessions, "next_after": next})))
}

/// A session of the caller's tenant.
pub(crate) async fn session(
    daemon: &Daemon,
    caller: &Caller,
    id: &str,
) -> Result<SessionInfo, ApiError> {
    let not_found = || ApiError::not_found("session", id);
    let id = SessionId::from_str(id).map_err(|_| not_found())?;
    daemon
        .database
        .session(&caller.tenant, id)
        .await?
        .ok_or_else(not_found)
}

/// How many sessions a daemon remembers between messages; past that it forgets them all.
const KNOWN_SESSIONS: usize = 65_536;

/// A session of the caller's tenant as a message needs it: only what never changes in it
/// (id, tenant, name, workflow and its file) may be read from the answer. Remembered from an
/// earlier read when there was one; a session deleted since is found when the run that the
/// message starts takes its lock.
async fn session_for_message(
    daemon: &Daemon,
    caller: &Caller,
    id: &str,
) -> Result<Arc<SessionInfo>, ApiError> {
    let remembered = SessionId::from_str(id).ok().and_then(|id| {
        let known = daemon
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        known.get(&id).cloned()
    });
    if let Some(known) = remembered
        && known.tenant == caller.tenant
    {
        return Ok(known);
    }
    let read = session(daemon, caller, id).await?;
    Ok(remember(daemon, read))
}

/// Keeps a session for the messages to come ([`session_for_message`]).
fn remember(daemon: &Daemon, session: SessionInfo) -> Arc<SessionInfo> {
    let session = Arc::new(session);
    let mut known = daemon
        .sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if known.len() >= KNOWN_SESSIONS {
        known.clear();
    }
    known.insert(session.id, session.clone());
    session
}

/// Reads a session.
#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "The session")), responses((status = 200, description = "The session", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 404, description = "No such thing for this tenant", body = super::error::ErrorBody)))]
pub async fn get(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SessionInfo>, ApiError> {
    Ok(Json(session(&daemon, &caller, &id).await?))
}

/// Deletes a session and everything in it (its runs stay, without it).
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "The session")), responses((status = 204, description = "Deleted, with everything in it"), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 404, description = "No such thing for this tenant", body = super::error::ErrorBody)))]
pub async fn delete(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let session = session(&daemon, &caller, &id).await?;
    daemon
        .sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&session.id);
    daemon.database.delete_session(session.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/sessions/{id}/messages`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// The message: the run's `message` field.
    #[serde(default)]
    pub text: Option<String>,
    /// Other input fields of the run.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub input: Map<String, Value>,
}

/// Starts a run of the session's workflow in the session, with the message as its input.
#[utoipa::path(post, path = "/v1/sessions/{id}/messages", tag = "sessions", params(("id" = String, Path, description = "The session"), WaitQuery), request_body = PostMessage, responses((status = 202, description = "A run of the session's workflow, queued", body = Object), (status = 200, description = "With ?wait=true: the run once it stopped", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 404, description = "No such thing for this tenant", body = super::error::ErrorBody), (status = 409, description = "Another run holds the session", body = super::error::ErrorBody)))]
pub async fn post_message(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(wait): Query<WaitQuery>,
    Body(request): Body<PostMessage>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let session = session_for_message(&daemon, &caller, &id).await?;
    let loaded = daemon
        .catalog
        .load_file(std::path::Path::new(&session.source))
        .await?;
    let mut input = request.input;
    if let Some(text) = request.text {
        if !loaded.workflow.fields.contains_key("message") {
            return Err(ApiError::new(
                Code::Invalid,
                format!(
                    "workflow `{}` has no state field `message` to put the text in; send its fields as `input`",
                    loaded.workflow.name
                ),
            ));
        }
        input.insert("message".to_owned(), Value::String(text));
    }
    let queued = queue(
        &daemon,
        &caller,
        &loaded,
        Value::Object(input),
        Some(session.reference()),
    )
    .await?;
    answer_queued(&daemon, &caller, queued, wait.wait).await
}

/// `GET /v1/sessions/{id}/messages` paging.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MessagesQuery {
    /// Messages after this sequence number.
    #[serde(default)]
    after: u64,
    limit: Option<u32>,
}

/// The session's messages, oldest first.
#[utoipa::path(get, path = "/v1/sessions/{id}/messages", tag = "sessions", params(("id" = String, Path, description = "The session"), MessagesQuery), responses((status = 200, description = "Messages, oldest first", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 404, description = "No such thing for this tenant", body = super::error::ErrorBody)))]
pub async fn messages(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<MessagesQuery>,
) -> Result<Json<Value>, ApiError> {
    let session = session(&daemon, &caller, &id).await?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let messages = daemon
        .database
        .messages(session.id, query.after, limit)
        .await?;
    Ok(Json(json!({"messages": messages})))
}
