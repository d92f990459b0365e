//! The HTTP API, versioned under `/v1`: workflows, sessions, runs and their event streams,
//! plus `/healthz`, `/readyz` and `/metrics`. Every handler acts for the caller's tenant
//! (`auth.rs`), and every query names that tenant, so another tenant's id is a 404.

pub mod auth;
pub mod body;
pub mod error;
mod events;
mod health;
pub mod openapi;
mod runs;
mod session_events;
mod sessions;
mod shown;
mod upgrade;
mod wait;
mod workflows;

use crate::daemon::Daemon;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use std::sync::Arc;

/// The daemon's routes.
pub fn router(daemon: Arc<Daemon>) -> Router {
    let limit = daemon.options.body_limit;
    Router::new()
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/v1/openapi.json", get(openapi::document))
        .route("/v1/workflows", get(workflows::list))
        .route("/v1/runs", post(runs::start).get(runs::list))
        .route("/v1/runs/{id}", get(runs::get))
        .route("/v1/runs/{id}/cancel", post(runs::cancel))
        .route("/v1/runs/{id}/answer", post(runs::answer))
        .route("/v1/runs/{id}/retry", post(runs::retry))
        .route("/v1/runs/{id}/fork", post(runs::fork))
        .route("/v1/runs/{id}/upgrade", post(upgrade::upgrade))
        .route("/v1/runs/{id}/events", get(events::run_events))
        .route("/v1/sessions", post(sessions::create).get(sessions::list))
        .route(
            "/v1/sessions/{id}",
            get(sessions::get).delete(sessions::delete),
        )
        .route(
            "/v1/sessions/{id}/events",
            get(session_events::session_events),
        )
        .route(
            "/v1/sessions/{id}/messages",
            post(sessions::post_message).get(sessions::messages),
        )
        .fallback(health::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(daemon)
}
