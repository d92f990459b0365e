//! The workers: a claim loop takes served runs from the store's queue while a worker is
//! free, each claimed run is loaded from its log and driven on under a lease, and a
//! heartbeat renews the leases (and this daemon's record). A lease this daemon no longer
//! holds halts its run at once; the store's sequence check already keeps it from writing.

use crate::daemon::{Daemon, Held, millis, now_millis};
use std::path::Path;
use std::sync::{Arc, PoisonError};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use weft_core::{ClaimedRun, ErrorKind, Event, RunId, RunStatus};
use weft_runtime::RuntimeError;

/// Starts the claim loop and the heartbeat; they end when the daemon stops claiming.
pub fn start(daemon: &Arc<Daemon>) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(claim_loop(daemon.clone())),
        tokio::spawn(heartbeat(daemon.clone())),
    ]
}

async fn claim_loop(daemon: Arc<Daemon>) {
    let workers = Arc::new(Semaphore::new(daemon.options.workers.max(1)));
    loop {
        if daemon.is_stopping() {
            return;
        }
        let free = workers.available_permits();
        let mut claimed = Vec::new();
        if free > 0 {
            let now = now_millis();
            let until = now + millis(daemon.options.lease);
            match daemon
                .database
                .claim(
                    &daemon.id,
                    now,
                    until,
                    u32::try_from(free).unwrap_or(u32::MAX),
                )
                .await
            {
                Ok(runs) => claimed = runs,
                Err(error) => tracing::warn!(%error, "claiming queued runs failed"),
            }
        }
        daemon.metrics.claimed(claimed.len() as u64);
        let full = !claimed.is_empty() && claimed.len() == free;
        for run in claimed {
            let Ok(permit) = workers.clone().try_acquire_owned() else {
                break;
            };
            let daemon = daemon.clone();
            tokio::spawn(async move {
                execute(&daemon, run).await;
                drop(permit);
                daemon.wake.notify_one();
            });
        }
        if full {
            // More may wait: ask again once a worker is free.
            continue;
        }
        tokio::select! {
            () = daemon.wake.notified() => {}
            () = tokio::time::sleep(daemon.options.poll) => {}
            () = daemon.stopping.cancelled() => return,
        }
    }
}

async fn heartbeat(daemon: Arc<Daemon>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(daemon.options.heartbeat) => {}
            () = daemon.stopping.cancelled() => return,
        }
        if let Err(error) = daemon.database.register_daemon(&daemon.info(), false).await {
            tracing::warn!(%error, "renewing this daemon's record failed");
        }
        let held = daemon.held_runs();
        let until = now_millis() + millis(daemon.options.lease);
        match daemon.database.renew(&daemon.id, &held, until).await {
            Ok(lost) => {
                daemon.metrics.lease_lost(lost.len() as u64);
                let runs = daemon.held.lock().unwrap_or_else(PoisonError::into_inner);
                for run in lost {
                    tracing::warn!(%run, "lost the lease on a run; another daemon took it over");
                    if let Some(held) = runs.get(&run) {
                        held.halt.cancel();
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "renewing leases failed"),
        }
    }
}

/// Executes one claimed run under its lease, then gives the lease up (unless it was lost,
/// or the run could not be read: then the lease runs out, and the next try waits for it).
async fn execute(daemon: &Arc<Daemon>, claimed: ClaimedRun) {
    let run = claimed.id;
    let held = Held {
        halt: CancellationToken::new(),
        cancel: CancellationToken::new(),
    };
    let (halt, cancel) = (held.halt.clone(), held.cancel.clone());
    daemon
        .held
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(run, held);
    let span = tracing::info_span!(
        "run",
        run = %run,
        tenant = %claimed.tenant,
        session = tracing::field::Empty
    );
    let outcome = drive(daemon, run, halt.clone(), &cancel)
        .instrument(span)
        .await;
    daemon
        .held
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&run);
    let release = match outcome {
        // A run that no longer runs needs no release: only waiting runs are claimed.
        Ok(status) => matches!(status, RunStatus::Queued | RunStatus::Running),
        Err(Failure::Retry(error)) => {
            tracing::warn!(%run, %error, "the run stopped; it is tried again once its lease runs out");
            false
        }
        Err(Failure::Broken(error)) => {
            tracing::error!(%run, %error, "the run cannot go on; it is marked failed");
            if let Err(error) = daemon.database.mark_failed(run, &error).await {
                tracing::warn!(%run, %error, "marking the run failed did not work");
            }
            true
        }
    };
    if release
        && !halt.is_cancelled()
        && let Err(error) = daemon.database.release(&daemon.id, run).await
    {
        tracing::warn!(%run, %error, "giving up the lease failed; it runs out on its own");
    }
}

/// Why a run could not be driven on.
enum Failure {
    /// For now (the store, a conflict with another writer): try again later.
    Retry(String),
    /// For good (its workflow cannot be loaded, its log cannot be read).
    Broken(String),
}

async fn drive(
    daemon: &Arc<Daemon>,
    run: RunId,
    halt: CancellationToken,
    cancel: &CancellationToken,
) -> Result<RunStatus, Failure> {
    let store = daemon.database.as_ref();
    let first = store
        .events(run, 0)
        .await
        .map_err(|error| Failure::Retry(error.to_string()))?;
    let Some(Event::RunStarted {
        source,
        setup,
        session,
        ..
    }) = first.first().map(|record| &record.event)
    else {
        return Err(Failure::Broken(format!(
            "run {run} is queued but its log does not start with run_started"
        )));
    };
    if let Some(session) = session {
        tracing::Span::current().record("session", tracing::field::display(session.id));
    }
    let loaded = daemon
        .catalog
        .for_run(store, Path::new(source), setup.as_deref())
        .await
        .map_err(|error| Failure::Broken(error.message))?;
    let runtime = &loaded.runtime;
    let mut active = runtime
        .load_from(loaded.workflow.clone(), run, &first)
        .await
        .map_err(failure)?;
    active.halt_on(halt);
    tracing::debug!(status = active.status().as_str(), "driving the run");
    match active.status() {
        RunStatus::Running | RunStatus::Queued => {
            runtime
                .continue_run(&mut active, cancel)
                .await
                .map_err(failure)?;
        }
        RunStatus::Interrupted
        | RunStatus::Finished
        | RunStatus::Failed
        | RunStatus::Cancelled
        | RunStatus::NeedsAttention => {}
    }
    tracing::debug!(
        status = active.status().as_str(),
        stopped = active.stopped(),
        "the run stopped"
    );
    Ok(active.status())
}

fn failure(error: RuntimeError) -> Failure {
    match error {
        RuntimeError::Store(error)
            if matches!(
                error.kind,
                ErrorKind::Conflict
                    | ErrorKind::Timeout
                    | ErrorKind::RetryableUpstream
                    | ErrorKind::Upstream
            ) =>
        {
            Failure::Retry(error.to_string())
        }
        RuntimeError::SessionBusy { .. } | RuntimeError::SessionLost { .. } => {
            Failure::Retry(error.to_string())
        }
        other => Failure::Broken(other.to_string()),
    }
}
