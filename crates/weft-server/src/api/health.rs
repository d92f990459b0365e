//! `/healthz` (the process answers), `/readyz` (the store answers and the daemon is not
//! stopping), `/metrics` (Prometheus text), and the answer for a path that is not served.

use crate::api::error::{ApiError, Code};
use crate::daemon::{Daemon, now_millis};
use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, description = "The process answers", body = Object)))]
pub async fn alive() -> Json<Value> {
    Json(json!({"status": "alive"}))
}

/// Ready: the store answers and the workers claim runs.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()), responses((status = 200, description = "The store answers and the daemon is not stopping", body = Object), (status = 503, description = "Not ready", body = super::error::ErrorBody)))]
pub async fn ready(State(daemon): State<Arc<Daemon>>) -> Result<Json<Value>, ApiError> {
    if daemon.is_stopping() {
        return Err(ApiError::new(Code::Unavailable, "the daemon is stopping"));
    }
    let depth = daemon.database.depth(now_millis()).await.map_err(|error| {
        ApiError::new(
            Code::Unavailable,
            format!("the store does not answer: {error}"),
        )
    })?;
    Ok(Json(json!({
        "status": "ready",
        "daemon": daemon.id(),
        "running_here": daemon.held_runs().len(),
        "queue": depth,
    })))
}

/// The counters, in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health", security(()), responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
pub async fn metrics(State(daemon): State<Arc<Daemon>>) -> Result<impl IntoResponse, ApiError> {
    let depth = daemon.database.depth(now_millis()).await?;
    let runs: BTreeMap<String, u64> = daemon
        .database
        .runs_by_status()
        .await?
        .into_iter()
        .collect();
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        daemon.metrics.render(&runs, depth),
    ))
}

/// A path the API does not have.
pub async fn not_found() -> ApiError {
    ApiError::new(
        Code::NotFound,
        "no such path; the API is under /v1 (GET /v1/workflows, /v1/sessions, /v1/runs)",
    )
}
