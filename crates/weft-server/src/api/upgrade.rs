//! `POST /v1/runs/{id}/upgrade`: the daemon's `weft resume --upgrade`. A run that waits for
//! an answer moves onto its workflow file as the served folder has it now, when the change
//! leaves the nodes it went through and the one it waits at as they were; otherwise 409,
//! naming the nodes that changed.

use super::auth::Caller;
use super::error::{ApiError, Code};
use super::runs::{load_logged, run_id};
use crate::daemon::Daemon;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use std::sync::Arc;
use weft_core::RunStatus;
use weft_runtime::RecordedRun;
use weft_runtime::upgrade::{Verdict, changes_for, verdict};

/// Moves a waiting run onto its workflow file as it is now.
#[utoipa::path(post, path = "/v1/runs/{id}/upgrade", tag = "runs", params(("id" = String, Path, description = "The run")), responses((status = 200, description = "Whether the run moved (`upgraded`), and the nodes that differ", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 404, description = "No such thing for this tenant", body = super::error::ErrorBody), (status = 409, description = "The run does not wait, or the change touches what it did or waits at", body = super::error::ErrorBody)))]
pub async fn upgrade(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let run = run_id(&id)?;
    let (loaded, active, log) = load_logged(&daemon, &caller, run).await?;
    if active.status() != RunStatus::Interrupted {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "run {run} is {}; only a run that waits for an answer is moved",
                active.status().as_str()
            ),
        ));
    }
    let source = loaded.workflow.location.clone();
    let current = daemon.catalog.load_file(&source).await?;
    let recorded = RecordedRun::with_log(daemon.database.as_ref(), log).await?;
    let sections = changes_for(&loaded.workflow, &current.workflow, &recorded);
    let changes = serde_json::to_value(&sections).unwrap_or(Value::Null);
    match verdict(&sections) {
        Verdict::Blocked(nodes) => {
            return Err(ApiError::new(
                Code::Conflict,
                format!(
                    "run {run} cannot move onto {}: the change touches nodes it went through or waits at ({nodes})",
                    source.display()
                ),
            )
            .with_details(json!({"workflows": changes})));
        }
        Verdict::Unchanged => {
            return Ok(Json(
                json!({"run": run, "upgraded": false, "workflows": changes}),
            ));
        }
        Verdict::Movable => {}
    }
    let mut moved = current
        .runtime
        .load_from(current.workflow.clone(), run, &recorded.log)
        .await?;
    current.runtime.record_upgrade(&mut moved).await?;
    Ok(Json(
        json!({"run": run, "upgraded": true, "workflows": changes}),
    ))
}
