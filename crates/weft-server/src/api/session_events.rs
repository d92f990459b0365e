//! `GET /v1/sessions/{id}/events`: the events of every run of a session, in order, as
//! Server-Sent Events. A session's runs hold its lock one at a time and run ids grow with
//! time, so `RUN:SEQUENCE` orders all of them: the stream resumes after the `Last-Event-ID`
//! it is given (the rest of that run, then every later run). Live model text of the run
//! that runs now goes out without an id. The stream stays open for the session's next runs.

use crate::api::auth::Caller;
use crate::api::error::{ApiError, Code};
use crate::api::events::{EventItem, stored_with_id};
use crate::api::sessions::session;
use crate::daemon::Daemon;
use crate::hub::Live;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use weft_core::{RunFilter, RunId, RunStatus, SessionId};

/// How often the stream looks for new events and runs when nothing live arrives.
const POLL: Duration = Duration::from_millis(250);

/// Where a session's stream stands: the last run and sequence number sent.
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    run: Option<RunId>,
    sequence: u64,
}

impl FromStr for Cursor {
    type Err = ApiError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ApiError::new(
                Code::BadRequest,
                "Last-Event-ID of a session's stream must be RUN:SEQUENCE, as its events' ids are",
            )
        };
        let (run, sequence) = text.trim().split_once(':').ok_or_else(bad)?;
        Ok(Self {
            run: Some(RunId::from_str(run).map_err(|_| bad())?),
            sequence: sequence.parse().map_err(|_| bad())?,
        })
    }
}

/// The session's events, stored then live.
#[utoipa::path(get, path = "/v1/sessions/{id}/events", tag = "sessions", params(("id" = String, Path, description = "The session"), ("Last-Event-ID" = Option<String>, Header, description = "RUN:SEQUENCE of the last event received")), responses((status = 200, description = "Server-Sent Events of every run of the session, in order; ids are RUN:SEQUENCE", content_type = "text/event-stream"), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 404, description = "No such session for this tenant", body = super::error::ErrorBody)))]
pub async fn session_events(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = EventItem>>, ApiError> {
    let session = session(&daemon, &caller, &id).await?;
    let cursor = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .map_err(|_| ApiError::new(Code::BadRequest, "Last-Event-ID is not text"))?
            .parse()?,
        None => Cursor::default(),
    };
    let (sender, mut receiver) = mpsc::channel(64);
    tokio::spawn(feed(daemon, caller.tenant, session.id, cursor, sender));
    let stream = futures::stream::poll_fn(move |context| receiver.poll_recv(context));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

async fn feed(
    daemon: Arc<Daemon>,
    tenant: String,
    session: SessionId,
    mut cursor: Cursor,
    sender: mpsc::Sender<EventItem>,
) {
    let mut live: Option<(RunId, broadcast::Receiver<Live>)> = None;
    loop {
        let Ok(newest) = send_stored(&daemon, &tenant, session, &mut cursor, &sender).await else {
            return;
        };
        if let Some((run, running)) = newest
            && running
            && live.as_ref().is_none_or(|(watched, _)| *watched != run)
        {
            live = Some((run, daemon.hub.subscribe(run)));
        }
        let text = async {
            match live.as_mut() {
                Some((_, receiver)) => receiver.recv().await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = text => {
                if let Some(Live::Text { step, branch, text }) = received {
                    let event = SseEvent::default()
                        .event("text")
                        .json_data(serde_json::json!({"run": cursor.run, "step": step, "branch": branch, "text": text}));
                    if let Ok(event) = event
                        && sender.send(Ok(event)).await.is_err()
                    {
                        return;
                    }
                }
            }
            () = tokio::time::sleep(POLL) => {}
            () = sender.closed() => return,
            () = daemon.stopping.cancelled() => return,
        }
    }
}

/// Sends what the store holds after the cursor; the newest run and whether it still runs.
async fn send_stored(
    daemon: &Daemon,
    tenant: &str,
    session: SessionId,
    cursor: &mut Cursor,
    sender: &mpsc::Sender<EventItem>,
) -> Result<Option<(RunId, bool)>, ()> {
    let mut runs = daemon
        .database
        .runs(RunFilter {
            top_level_only: true,
            tenant: Some(tenant.to_owned()),
            session: Some(session),
            // The run the stream stands in and the newer ones: a long session's older
            // runs are not read again.
            since: cursor.run,
            ..RunFilter::default()
        })
        .await
        .map_err(|_| ())?;
    runs.reverse();
    let newest = runs.last().map(|run| {
        (
            run.id,
            matches!(run.status, RunStatus::Queued | RunStatus::Running),
        )
    });
    for run in runs {
        if cursor.run.is_some_and(|last| run.id < last) {
            continue;
        }
        let after = if cursor.run == Some(run.id) {
            cursor.sequence
        } else {
            0
        };
        let records = daemon
            .database
            .events(run.id, after)
            .await
            .map_err(|_| ())?;
        for record in records {
            let event = stored_with_id(&record, format!("{}:{}", run.id, record.sequence));
            *cursor = Cursor {
                run: Some(run.id),
                sequence: record.sequence,
            };
            sender.send(Ok(event)).await.map_err(|_| ())?;
        }
    }
    Ok(newest)
}
