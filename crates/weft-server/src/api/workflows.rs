//! `GET /v1/workflows`: the workflows the daemon serves, read from its folder as it is now.
//! The folder is the daemon's, so every tenant sees the same list.

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::daemon::Daemon;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::sync::Arc;

/// The served workflows, and the files of the folder that do not load.
#[utoipa::path(get, path = "/v1/workflows", tag = "workflows", responses((status = 200, description = "The served workflows and the files that do not load", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody)))]
pub async fn list(
    State(daemon): State<Arc<Daemon>>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let (workflows, problems) = daemon.catalog.list().await?;
    Ok(Json(json!({"workflows": workflows, "problems": problems})))
}
