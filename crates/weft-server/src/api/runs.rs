//! `/v1/runs`: start a run of a served workflow, list and read runs, cancel, answer, retry
//! and fork them. A handler records what the machine decides and answers once that is
//! committed; a worker (of this daemon or another) performs the steps.

use crate::api::auth::Caller;
use crate::api::body::Body;
use crate::api::error::{ApiError, Code};
use crate::api::shown::{summary, view};
use crate::catalog::Loaded;
use crate::daemon::Daemon;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use weft_core::{
    ErrorKind, Event, EventRecord, RunFilter, RunId, RunSetup, RunStatus, RunSummary, SessionRef,
    status_after,
};
use weft_runtime::{ActiveRun, Ending, QueuedRun};

/// `POST /v1/runs`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// The served workflow's file (`approval.yaml` or `approval`).
    pub workflow: String,
    /// The run's input: values for state fields.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub input: Map<String, Value>,
}

/// `?wait=true`: answer when the run stops (finished, failed, waiting), not when queued.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    #[serde(default)]
    pub(crate) wait: bool,
}

/// `GET /v1/runs` filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<u32>,
    /// The page after this run (newest first).
    before: Option<String>,
    session: Option<String>,
    /// Sub-workflows' runs too.
    #[serde(default)]
    all: bool,
}

/// Starts a run of a served workflow.
#[utoipa::path(post, path = "/v1/runs", tag = "runs", params(WaitQuery), request_body = StartRun, responses((status = 202, description = "Queued: the run as it stands", body = Object), (status = 200, description = "With ?wait=true: the run once it stopped", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 404, description = "No such thing for this tenant", body = super::error::ErrorBody), (status = 422, description = "The input does not fit the workflow", body = super::error::ErrorBody)))]
pub async fn start(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Query(wait): Query<WaitQuery>,
    Body(request): Body<StartRun>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let loaded = daemon.catalog.find(&request.workflow).await?;
    let queued = queue(
        &daemon,
        &caller,
        &loaded,
        Value::Object(request.input),
        None,
    )
    .await?;
    answer_queued(&daemon, &caller, queued, wait.wait).await
}

/// Records a served run's start and hands it to a worker; its summary as recorded.
pub(crate) async fn queue(
    daemon: &Arc<Daemon>,
    caller: &Caller,
    loaded: &Loaded,
    input: Value,
    session: Option<SessionRef>,
) -> Result<RunSummary, ApiError> {
    if daemon.is_stopping() {
        return Err(ApiError::new(
            Code::Unavailable,
            "the daemon is stopping; try another",
        ));
    }
    let setup = RunSetup {
        workspace: Some(daemon.catalog.workspace().display().to_string()),
        tenant: Some(caller.tenant.clone()),
        served: true,
        ..RunSetup::default()
    };
    let runtime = &loaded.runtime;
    let workflow = loaded.workflow.clone();
    let lease = crate::workers::reserve(daemon);
    let queued = match &lease {
        Some(lease) => {
            runtime
                .queue_start_taken(workflow, input, setup, session, lease)
                .await
        }
        None => runtime.queue_start(workflow, input, setup, session).await,
    };
    let queued = match queued {
        Ok(queued) => queued,
        Err(error) => {
            if lease.is_some() {
                crate::workers::give_back(daemon);
            }
            return Err(error.into());
        }
    };
    let summary = queued_summary(&queued, &caller.tenant, lease.is_some());
    if lease.is_some() {
        crate::workers::hand_over(daemon, loaded.clone(), queued, caller.tenant.clone());
    } else {
        daemon.queued_here();
    }
    Ok(summary)
}

/// The summary of a run whose start was just recorded, from the log recorded: what the
/// store derives from it, without reading it back (`taken`: recorded under this daemon's
/// lease).
fn queued_summary(queued: &QueuedRun, tenant: &str, taken: bool) -> RunSummary {
    let (workflow, source) = match queued.log.first().map(|record| &record.event) {
        Some(Event::RunStarted {
            workflow, source, ..
        }) => (workflow.clone(), source.clone()),
        _ => (String::new(), String::new()),
    };
    let at = |record: Option<&EventRecord>| record.map_or(0, |record| record.at_millis);
    // As the store has it: the last status the events set, and a served run that is still
    // running waits for a worker unless this daemon took it.
    let (status, error) = queued
        .log
        .iter()
        .rev()
        .find_map(|record| status_after(&record.event))
        .unwrap_or((RunStatus::Running, None));
    let status = match status {
        RunStatus::Running if !taken => RunStatus::Queued,
        other => other,
    };
    RunSummary {
        id: queued.id,
        workflow,
        source,
        status,
        parent: None,
        created_at_millis: at(queued.log.first()),
        updated_at_millis: at(queued.log.last()),
        events: queued.log.len() as u64,
        error,
        tenant: tenant.to_owned(),
    }
}

/// 202 with a run just queued as recorded, or (waiting) 200 once it stopped.
pub(crate) async fn answer_queued(
    daemon: &Daemon,
    caller: &Caller,
    queued: RunSummary,
    wait: bool,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if wait {
        return answer_with_run(daemon, caller, queued.id, true).await;
    }
    accepted(&queued)
}

/// 202 with a run's summary: what a client needs to follow it (the events, or GET
/// ?wait=true).
fn accepted(summary: &RunSummary) -> Result<(StatusCode, Json<Value>), ApiError> {
    let summary = serde_json::to_value(summary).map_err(|error| {
        ApiError::new(Code::Internal, format!("a run cannot be shown: {error}"))
    })?;
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// 202 with the run as it stands, or (waiting) 200 once it stopped.
pub(crate) async fn answer_with_run(
    daemon: &Daemon,
    caller: &Caller,
    run: RunId,
    wait: bool,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !wait {
        return accepted(&summary(daemon, caller, run).await?);
    }
    let view = super::wait::wait_for(daemon, caller, run).await?;
    Ok((StatusCode::OK, Json(view)))
}

/// A run id from a path.
pub(crate) fn run_id(text: &str) -> Result<RunId, ApiError> {
    RunId::from_str(text).map_err(|_| ApiError::not_found("run", text))
}

/// Reads a run.
#[utoipa::path(get, path = "/v1/runs/{id}", tag = "runs", params(("id" = String, Path, description = "The run"), WaitQuery), responses((status = 200, description = "Status, input, output, open question, usage (with ?wait=true: once it no longer runs)", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 404, description = "No such thing for this tenant", body = super::error::ErrorBody)))]
pub async fn get(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(wait): Query<WaitQuery>,
) -> Result<Json<Value>, ApiError> {
    let run = run_id(&id)?;
    if wait.wait {
        return Ok(Json(super::wait::wait_for(&daemon, &caller, run).await?));
    }
    let summary = summary(&daemon, &caller, run).await?;
    Ok(Json(view(&daemon, summary).await?))
}

/// Lists the caller's runs, newest first.
#[utoipa::path(get, path = "/v1/runs", tag = "runs", params(ListQuery), responses((status = 200, description = "Runs, newest first, and the cursor of the next page", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody)))]
pub async fn list(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(RunStatus::from_str)
        .transpose()
        .map_err(|error| ApiError::new(Code::BadRequest, error.to_string()))?;
    let before = query.before.as_deref().map(run_id).transpose()?;
    let session = query
        .session
        .as_deref()
        .map(|text| {
            weft_core::SessionId::from_str(text).map_err(|_| ApiError::not_found("session", text))
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(50).clamp(1, 1000);
    let runs = daemon
        .database
        .runs(RunFilter {
            status,
            top_level_only: !query.all,
            limit,
            tenant: Some(caller.tenant.clone()),
            before,
            since: None,
            session,
        })
        .await?;
    let next = (runs.len() == limit as usize)
        .then(|| runs.last().map(|run| run.id))
        .flatten();
    Ok(Json(json!({"runs": runs, "next_before": next})))
}

/// `POST /v1/runs/{id}/cancel`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRun {
    #[serde(default)]
    reason: Option<String>,
}

/// Cancels a run for good (and the sub-workflow runs it waits through).
#[utoipa::path(post, path = "/v1/runs/{id}/cancel", tag = "runs", params(("id" = String, Path, description = "The run")), request_body = CancelRun, responses((status = 200, description = "The run, cancelled", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 404, description = "No such thing for this tenant", body = super::error::ErrorBody)))]
pub async fn cancel(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(request): Body<CancelRun>,
) -> Result<Json<Value>, ApiError> {
    let run = run_id(&id)?;
    summary(&daemon, &caller, run).await?;
    let reason = request
        .reason
        .unwrap_or_else(|| "cancelled through the API".to_owned());
    daemon.cancel_held(run);
    let runtime = daemon.catalog.plain_runtime();
    for _ in 0..5 {
        match runtime
            .end_run(run, &Ending::Cancelled(reason.clone()))
            .await
        {
            Ok(_) => break,
            // A worker appended first, or cancelled it itself: read where it stands.
            Err(weft_runtime::RuntimeError::Store(error)) if error.kind == ErrorKind::Conflict => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(weft_runtime::RuntimeError::AlreadyOver { .. }) => break,
            Err(error) => return Err(error.into()),
        }
    }
    let summary = summary(&daemon, &caller, run).await?;
    Ok(Json(view(&daemon, summary).await?))
}

/// `POST /v1/runs/{id}/answer`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRun {
    /// The answer, checked against the question's input schema.
    #[schema(value_type = Object)]
    pub answer: Value,
    /// The open question's id (the run's `questions` list them); needed when the run
    /// waits on several.
    #[serde(default)]
    pub question: Option<String>,
}

/// Answers the run's open question; a worker goes on with the run.
#[utoipa::path(post, path = "/v1/runs/{id}/answer", tag = "runs", params(("id" = String, Path, description = "The run"), WaitQuery), request_body = AnswerRun, responses((status = 202, description = "Recorded; a worker goes on", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 404, description = "No such thing for this tenant", body = super::error::ErrorBody), (status = 409, description = "The run waits on no question", body = super::error::ErrorBody), (status = 422, description = "The answer does not fit the question", body = super::error::ErrorBody)))]
pub async fn answer(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(wait): Query<WaitQuery>,
    Body(request): Body<AnswerRun>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let run = run_id(&id)?;
    let (loaded, mut active) = load(&daemon, &caller, run).await?;
    // The machine refuses a run that waits on no question, an id that is no open
    // question's and an answer that names none of several (see `ApiError::from`).
    loaded
        .runtime
        .queue_answer(&mut active, request.question.as_deref(), request.answer)
        .await?;
    daemon.queued_here();
    answer_with_run(&daemon, &caller, run, wait.wait).await
}

/// Retries the unsettled tool calls of a run that needs attention; a worker goes on.
#[utoipa::path(post, path = "/v1/runs/{id}/retry", tag = "runs", params(("id" = String, Path, description = "The run")), responses((status = 202, description = "Recorded; a worker runs the calls again", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 404, description = "No such thing for this tenant", body = super::error::ErrorBody), (status = 409, description = "The run does not need attention", body = super::error::ErrorBody)))]
pub async fn retry(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let run = run_id(&id)?;
    let (loaded, mut active) = load(&daemon, &caller, run).await?;
    if active.status() != RunStatus::NeedsAttention {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "run {run} is {}; only a run that needs attention is retried",
                active.status().as_str()
            ),
        ));
    }
    loaded.runtime.queue_retry(&mut active).await?;
    daemon.queued_here();
    answer_with_run(&daemon, &caller, run, false).await
}

/// `POST /v1/runs/{id}/fork`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkRun {
    /// The step to run again.
    pub step: u64,
}

/// Forks a run at a step: a new run with the log before that step, queued for a worker.
#[utoipa::path(post, path = "/v1/runs/{id}/fork", tag = "runs", params(("id" = String, Path, description = "The run")), request_body = ForkRun, responses((status = 201, description = "The new run, queued", body = Object), (status = 400, description = "The body cannot be read", body = super::error::ErrorBody), (status = 401, description = "No valid key", body = super::error::ErrorBody), (status = 404, description = "No such thing for this tenant", body = super::error::ErrorBody)))]
pub async fn fork(
    State(daemon): State<Arc<Daemon>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(request): Body<ForkRun>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let run = run_id(&id)?;
    let (loaded, _) = load(&daemon, &caller, run).await?;
    let forked = loaded
        .runtime
        .fork(loaded.workflow.clone(), run, request.step)
        .await
        .map_err(|error| match error {
            weft_runtime::RuntimeError::NoSuchStep { .. } => {
                ApiError::new(Code::Invalid, error.to_string())
            }
            other => other.into(),
        })?;
    daemon.queued_here();
    let (_, Json(view)) = answer_with_run(&daemon, &caller, forked.id(), false).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A run of the caller's tenant, loaded from its log with the workflow it runs on (the
/// texts it started with, or those it was last moved onto).
pub(crate) async fn load(
    daemon: &Daemon,
    caller: &Caller,
    run: RunId,
) -> Result<(Loaded, ActiveRun), ApiError> {
    let (loaded, active, _) = load_logged(daemon, caller, run).await?;
    Ok((loaded, active))
}

/// [`load`], and the log it was loaded from.
pub(crate) async fn load_logged(
    daemon: &Daemon,
    caller: &Caller,
    run: RunId,
) -> Result<(Loaded, ActiveRun, Vec<EventRecord>), ApiError> {
    let summary = summary(daemon, caller, run).await?;
    if summary.parent.is_some() {
        return Err(ApiError::new(
            Code::Conflict,
            format!("run {run} is a sub-workflow's run; act on its parent run instead"),
        ));
    }
    let records = daemon.database.events(run, 0).await?;
    let Some(Event::RunStarted { source, .. }) = records.first().map(|record| &record.event) else {
        return Err(ApiError::new(
            Code::Internal,
            format!("run {run} has no start in its log"),
        ));
    };
    let loaded = daemon
        .catalog
        .for_run(
            daemon.database.as_ref(),
            std::path::Path::new(source),
            weft_core::current_setup(&records).as_ref(),
        )
        .await?;
    let active = loaded
        .runtime
        .load_from(loaded.workflow.clone(), run, &records)
        .await?;
    Ok((loaded, active, records))
}
