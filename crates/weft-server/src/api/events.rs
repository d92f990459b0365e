//! `GET /v1/runs/{id}/events`: a run's events as Server-Sent Events. Each stored event goes
//! out with its sequence number as its `id`, so a client that reconnects with
//! `Last-Event-ID` (or `?after=N`) gets exactly what it missed; model text goes out live as
//! it is generated, without an id (it is not stored: the `model_replied` event holds it).
//! The stream reads the store for what the live feed did not carry (a run another daemon
//! executes, a slow client) and ends after the run's last event.

use crate::api::auth::Caller;
use crate::api::error::{ApiError, Code};
use crate::api::runs::run_id;
use crate::api::shown::summary;
use crate::daemon::Daemon;
use crate::hub::Live;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use weft_core::{Event, EventRecord, RunId, RunStatus};

/// How often a stream reads the store when nothing live arrives.
const POLL: Duration = Duration::from_millis(500);
/// What a stream sends.
pub(crate) type EventItem = Result<SseEvent, Infallible>;

/// How many items a stream buffers for a client.
const BUFFER: usize = 64;

/// `?after=N`: events after sequence number N (as `Last-Event-ID`).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct After {
    after: Option<u64>,
}

/// The run's events, stored then live.
#[utoipa::path(get, path = "/v1/runs/{id}/events", tag = "runs", params(("id" = String, Path, description = "The run"), ("Last-Event-ID" = Option<u64>, Header, description = "The sequence number of the last event received"), After), responses((status = 200, description = "Server-Sent Events: stored events with their sequence number as id, live model text without one", content_type = "text/event-stream"), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 404, description = "No such thing for this tenant", body = super::error::ErrorBody)))]
pub async fn run_events(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<After>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let run = run_id(&id)?;
    summary(&daemon, &caller, run).await?;
    let after = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::new(
                    Code::BadRequest,
                    "Last-Event-ID must be an event's sequence number",
                )
            })?,
        None => query.after.unwrap_or(0),
    };
    let (sender, mut receiver) = mpsc::channel(BUFFER);
    let live = daemon.hub.subscribe(run);
    tokio::spawn(feed(daemon, run, after, live, sender));
    let stream = futures::stream::poll_fn(move |context| receiver.poll_recv(context));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Sends the run's events after `after` into `sender` until the run is over, the client
/// goes, or the daemon stops.
async fn feed(
    daemon: Arc<Daemon>,
    run: RunId,
    mut last: u64,
    mut live: broadcast::Receiver<Live>,
    sender: mpsc::Sender<Result<SseEvent, Infallible>>,
) {
    let mut read_store = true;
    loop {
        if read_store {
            let Ok(records) = daemon.database.events(run, last).await else {
                return;
            };
            // A run that is over and has nothing after `last`: the stream has ended.
            if records.is_empty()
                && daemon.database.run(run).await.is_ok_and(|summary| {
                    matches!(
                        summary.status,
                        RunStatus::Finished | RunStatus::Failed | RunStatus::Cancelled
                    )
                })
            {
                return;
            }
            for record in records {
                last = record.sequence;
                let over = is_last(&record.event);
                if sender.send(Ok(stored(&record))).await.is_err() || over {
                    return;
                }
            }
            read_store = false;
        }
        tokio::select! {
            received = live.recv() => match received {
                Ok(Live::Recorded(record)) if record.sequence == last + 1 => {
                    last = record.sequence;
                    let over = is_last(&record.event);
                    if sender.send(Ok(stored(&record))).await.is_err() || over {
                        return;
                    }
                }
                Ok(Live::Recorded(record)) if record.sequence <= last => {}
                Ok(Live::Recorded(_)) | Err(broadcast::error::RecvError::Lagged(_)) => read_store = true,
                Ok(Live::Text { step, branch, text }) => {
                    let event = SseEvent::default()
                        .event("text")
                        .json_data(json!({"step": step, "branch": branch, "text": text}));
                    if let Ok(event) = event && sender.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                Ok(Live::Restarted { step, reason }) => {
                    let event = SseEvent::default()
                        .event("text_withdrawn")
                        .json_data(json!({"step": step, "reason": reason}));
                    if let Ok(event) = event && sender.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => {
                    live = daemon.hub.subscribe(run);
                    read_store = true;
                }
            },
            () = tokio::time::sleep(POLL) => read_store = true,
            () = sender.closed() => return,
            () = daemon.stopping.cancelled() => return,
        }
    }
}

/// A stored event as an SSE event: its kind, its sequence number as id, the record as data.
fn stored(record: &EventRecord) -> SseEvent {
    stored_with_id(record, record.sequence.to_string())
}

/// A stored event as an SSE event with the given id.
pub(crate) fn stored_with_id(record: &EventRecord, id: String) -> SseEvent {
    // An event always serializes; an empty object stands in if it ever did not.
    let data = serde_json::to_string(record).unwrap_or_else(|_| "{}".to_owned());
    SseEvent::default()
        .id(id)
        .event(record.event.name())
        .data(data)
}

/// Whether nothing follows this event in the run's log (a top-level run's end).
fn is_last(event: &Event) -> bool {
    matches!(
        event,
        Event::RunFinished { .. } | Event::RunFailed { .. } | Event::RunCancelled { .. }
    )
}
