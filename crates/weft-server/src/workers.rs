//! The workers: a claim loop takes served runs from the store's queue while a worker is
//! free, each claimed run is loaded from its log and driven on under a lease, and a
//! heartbeat renews the leases (and this daemon's record). A lease this daemon no longer
//! holds halts its run at once; the store's sequence check already keeps it from writing.

use crate::catalog::Loaded;
use crate::daemon::{Daemon, Held, millis, now_millis};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use weft_core::{ClaimedRun, ErrorKind, Event, EventRecord, Lease, RunId, RunStatus};
use weft_runtime::{QueuedRun, RuntimeError};

/// Starts the claim loop and the heartbeat; they end when the daemon stops claiming.
pub fn start(daemon: &Arc<Daemon>) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(claim_loop(daemon.clone())),
        tokio::spawn(heartbeat(daemon.clone())),
    ]
}

async fn claim_loop(daemon: Arc<Daemon>) {
    loop {
        if daemon.is_stopping() {
            return;
        }
        // The workers first, then as many runs: a run handed over by a request takes a
        // worker too, and a claimed run must find one.
        let mut permits = Vec::new();
        while let Ok(permit) = daemon.workers.clone().try_acquire_owned() {
            permits.push(permit);
        }
        let free = permits.len();
        let mut claimed = Vec::new();
        if free > 0 {
            // Whatever is queued from now on sets it again.
            daemon.backlog.store(false, Ordering::Release);
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
        for (run, permit) in claimed.into_iter().zip(permits) {
            let daemon = daemon.clone();
            tokio::spawn(async move {
                execute(&daemon, run, Start::Claimed(permit)).await;
            });
        }
        if full {
            // More may wait: ask again once a worker is free.
            daemon.backlog.store(true, Ordering::Release);
            continue;
        }
        tokio::select! {
            () = daemon.wake.notified() => {}
            () = tokio::time::sleep(daemon.options.poll) => {}
            () = daemon.stopping.cancelled() => return,
        }
    }
}

/// How many runs, per worker, may wait in this daemon for a worker after their requests
/// handed them over; past that a run waits in the store's queue, where any daemon claims it.
/// Daemons that share a database keep few, so that an idle daemon finds work in the queue.
const HANDED_PER_WORKER: usize = 4;
/// The same for a daemon that owns its database (SQLite): no other daemon could take a run
/// from the queue, and a handed run costs no claim and no read of its log. A restart on
/// the same machine gives up a killed daemon's leases at once (`Daemon::register`). The
/// queue is for overload: each claim from it waits for the writer on its own, so runs that
/// go there wait longer than handed ones (with 16, 1,000 sessions on 48 workers sent a
/// sixth of their runs there, and those turns took about a second).
const HANDED_PER_WORKER_ALONE: usize = 64;

/// A worker's place for a run a request of this daemon is about to queue, and the lease
/// the run is to be recorded under ([`weft_runtime::Runtime::queue_start_taken`]), so that
/// no claim takes it and the worker need not. `None` when this daemon stops, when runs
/// wait in the store's queue for it (they go first: handed runs would take every worker
/// that becomes free before the claim loop could), or when it has enough runs waiting for
/// workers already: the run is then left to the claim loops. A place reserved must be
/// used ([`hand_over`]) or given back ([`give_back`]).
pub(crate) fn reserve(daemon: &Daemon) -> Option<Lease> {
    let per_worker = if daemon.exclusive {
        HANDED_PER_WORKER_ALONE
    } else {
        HANDED_PER_WORKER
    };
    let limit = daemon.options.workers.max(1) * per_worker;
    if daemon.is_stopping() || daemon.backlog.load(Ordering::Acquire) {
        return None;
    }
    if daemon.handed.fetch_add(1, Ordering::AcqRel) >= limit {
        daemon.handed.fetch_sub(1, Ordering::AcqRel);
        return None;
    }
    Some(Lease {
        daemon: daemon.id.clone(),
        until_millis: now_millis() + millis(daemon.options.lease),
    })
}

/// Gives back a place [`reserve`] kept for a run that was not queued after all.
pub(crate) fn give_back(daemon: &Daemon) {
    daemon.handed.fetch_sub(1, Ordering::AcqRel);
}

/// Hands a run this daemon's request has just queued, taken under the lease [`reserve`]
/// gave, to one of its workers, which drives it on from the log the request wrote: the
/// run is neither claimed nor read back.
pub(crate) fn hand_over(daemon: &Arc<Daemon>, loaded: Loaded, queued: QueuedRun, tenant: String) {
    daemon.metrics.handed();
    let daemon = daemon.clone();
    tokio::spawn(async move {
        let run = ClaimedRun {
            id: queued.id,
            tenant,
        };
        let start = Start::Handed {
            loaded,
            log: queued.log,
        };
        execute(&daemon, run, start).await;
    });
}

/// How a worker came to execute a run.
enum Start {
    /// The claim loop claimed it, with a worker's permit.
    Claimed(OwnedSemaphorePermit),
    /// A request of this daemon queued it and handed it over: its workflow and its log.
    Handed {
        loaded: Loaded,
        log: Vec<EventRecord>,
    },
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
async fn execute(daemon: &Arc<Daemon>, claimed: ClaimedRun, start: Start) {
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
    let (permit, handed) = match start {
        Start::Claimed(permit) => (permit, None),
        Start::Handed { loaded, log } => {
            // The heartbeat renews its lease while it waits for a worker.
            let permit = daemon.workers.clone().acquire_owned().await;
            daemon.handed.fetch_sub(1, Ordering::AcqRel);
            let Ok(permit) = permit else {
                // The permits are never closed; were they, the lease runs out.
                daemon
                    .held
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&run);
                return;
            };
            (permit, Some((loaded, log)))
        }
    };
    let outcome = drive(daemon, run, handed, halt.clone(), &cancel)
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
            match daemon.database.mark_failed(run, &error).await {
                // No event says so: those who wait for the run hear it here.
                Ok(()) => daemon.hub.status_changed(run),
                Err(error) => tracing::warn!(%run, %error, "marking the run failed did not work"),
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
    drop(permit);
    if daemon.backlog.load(Ordering::Acquire) {
        daemon.wake.notify_one();
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
    handed: Option<(Loaded, Vec<EventRecord>)>,
    halt: CancellationToken,
    cancel: &CancellationToken,
) -> Result<RunStatus, Failure> {
    let (loaded, log) = match handed {
        Some(handed) => handed,
        None => read(daemon, run).await?,
    };
    if let Some(session) = weft_core::started_session(&log) {
        tracing::Span::current().record("session", tracing::field::display(session.id));
    }
    let runtime = &loaded.runtime;
    let mut active = runtime
        .load_from(loaded.workflow.clone(), run, &log)
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

/// A claimed run's log and the workflow it runs on.
async fn read(daemon: &Arc<Daemon>, run: RunId) -> Result<(Loaded, Vec<EventRecord>), Failure> {
    let store = daemon.database.as_ref();
    let log = store
        .events(run, 0)
        .await
        .map_err(|error| Failure::Retry(error.to_string()))?;
    let Some(Event::RunStarted { source, .. }) = log.first().map(|record| &record.event) else {
        return Err(Failure::Broken(format!(
            "run {run} is queued but its log does not start with run_started"
        )));
    };
    let loaded = daemon
        .catalog
        .for_run(
            store,
            Path::new(source),
            weft_core::current_setup(&log).as_ref(),
        )
        .await
        .map_err(|error| Failure::Broken(error.message))?;
    Ok((loaded, log))
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
