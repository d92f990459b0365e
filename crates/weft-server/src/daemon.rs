//! The daemon: what the API handlers and the workers share (the database, the served
//! workflows, the live events, the counters), and its life from start to a clean stop.

use crate::catalog::Catalog;
use crate::hub::Hub;
use crate::limits::LimitedModels;
use crate::metrics::Metrics;
use crate::options::ServeOptions;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use weft::config::Settings;
use weft_core::{DaemonInfo, Database, EventRecord, RunId, SessionId, SessionInfo, StoreError};
use weft_runtime::{ModelSource, RunObserver, Runtime};

/// What a daemon is made of; the command line (or an application) assembles it.
pub struct DaemonParts {
    /// The store of runs, sessions and keys.
    pub database: Arc<dyn Database>,
    /// Whether this daemon must be the database's only one (SQLite).
    pub exclusive: bool,
    /// The folder runs work in (the file tools' folder, `tools/`, `weft.toml`).
    pub workspace: PathBuf,
    /// Its weft.toml.
    pub settings: Arc<Settings>,
    /// The models runs use.
    pub models: Arc<dyn ModelSource>,
    /// The daemon's settings.
    pub options: ServeOptions,
}

/// A run this daemon executes now.
pub(crate) struct Held {
    /// Stops it for this daemon (a lost lease): the log stays as a crash would leave it.
    pub halt: CancellationToken,
    /// Cancels it for good.
    pub cancel: CancellationToken,
}

/// The daemon's shared state.
pub struct Daemon {
    pub(crate) id: String,
    pub(crate) options: ServeOptions,
    pub(crate) database: Arc<dyn Database>,
    pub(crate) exclusive: bool,
    /// The served workflows.
    pub catalog: Catalog,
    pub(crate) hub: Arc<Hub>,
    /// What this daemon counted.
    pub metrics: Arc<Metrics>,
    /// Wakes the workers: a run was queued here, or a worker became free.
    pub(crate) wake: Notify,
    /// A permit per worker: a run is executed while it holds one.
    pub(crate) workers: Arc<Semaphore>,
    /// Runs handed over by this daemon's requests that wait for a worker.
    pub(crate) handed: AtomicUsize,
    /// Whether runs may wait in the store's queue for this daemon's claim loop (a request
    /// left one there, or the last claim took as many as it had workers for): a worker
    /// that becomes free then wakes the loop, else the loop's poll finds other daemons'.
    pub(crate) backlog: AtomicBool,
    pub(crate) held: Mutex<HashMap<RunId, Held>>,
    /// Sessions read lately, for what never changes in them (id, tenant, name, workflow and
    /// its file): a message needs no read of its session. A session deleted elsewhere is
    /// found when its lock is taken.
    pub(crate) sessions: Mutex<HashMap<SessionId, Arc<SessionInfo>>>,
    /// Fired when the daemon stops claiming runs and closes its streams.
    pub(crate) stopping: CancellationToken,
    /// Fired when the runs still running must stop (the runtimes' shutdown).
    pub(crate) shutdown: CancellationToken,
    pub(crate) started_at_millis: u64,
}

/// The runtime's observer: live streams and counters.
struct Observers {
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
}

impl RunObserver for Observers {
    fn on_event(&self, run: RunId, record: &EventRecord) {
        self.metrics.on_event(run, record);
        self.hub.on_event(run, record);
    }

    fn on_text_delta(&self, run: RunId, step: u64, branch: Option<u32>, text: &str) {
        self.hub.on_text_delta(run, step, branch, text);
    }

    fn on_restarted(&self, run: RunId, step: u64, branch: Option<u32>, reason: &str) {
        self.hub.on_restarted(run, step, branch, reason);
    }
}

impl Daemon {
    /// A daemon of `parts`, not yet registered or serving.
    pub fn new(parts: DaemonParts) -> Arc<Self> {
        let hub = Arc::new(Hub::default());
        let metrics = Arc::new(Metrics::default());
        let shutdown = CancellationToken::new();
        let observer: Arc<dyn RunObserver> = Arc::new(Observers {
            hub: hub.clone(),
            metrics: metrics.clone(),
        });
        let models: Arc<dyn ModelSource> =
            Arc::new(LimitedModels::new(parts.models, parts.options.model_calls));
        let database = parts.database.clone();
        let runtime_shutdown = shutdown.clone();
        let guards: Arc<dyn weft_runtime::GuardSource> =
            Arc::new(weft::guards::guards(parts.settings.clone()));
        let factory = Box::new(move |tools: Arc<weft_tools::Registry>| {
            Runtime::builder()
                .models(models.clone())
                .guards(guards.clone())
                .store(database.clone())
                .sessions(database.clone())
                .observer(observer.clone())
                .tools(tools)
                .shutdown(runtime_shutdown.clone())
                .build()
        });
        let catalog = Catalog::new(
            parts.options.workflows.clone(),
            parts.workspace,
            parts.settings,
            factory,
        );
        let started_at_millis = now_millis();
        let workers = parts.options.workers.max(1);
        Arc::new(Self {
            id: daemon_id(started_at_millis),
            options: parts.options,
            database: parts.database,
            exclusive: parts.exclusive,
            catalog,
            hub,
            metrics,
            wake: Notify::new(),
            workers: Arc::new(Semaphore::new(workers)),
            handed: AtomicUsize::new(0),
            backlog: AtomicBool::new(false),
            held: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            stopping: CancellationToken::new(),
            shutdown,
            started_at_millis,
        })
    }

    /// This daemon's id, as its leases name it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The record of this daemon in the store, alive for one lease from now.
    pub(crate) fn info(&self) -> DaemonInfo {
        DaemonInfo {
            id: self.id.clone(),
            host: host(),
            pid: std::process::id(),
            started_at_millis: self.started_at_millis,
            alive_until_millis: now_millis() + millis(self.options.lease),
        }
    }

    /// Registers the daemon in the store: on SQLite, refused while another one serves it.
    /// A daemon of this machine whose process is gone (killed) is unregistered first, and
    /// its leases with it, so a restart need not wait for them to run out.
    pub async fn register(&self) -> Result<(), StoreError> {
        let here = host();
        for daemon in self.database.daemons().await? {
            if daemon.host == here && daemon.id != self.id && !process_alive(daemon.pid) {
                tracing::info!(daemon = %daemon.id, pid = daemon.pid, "a daemon of this machine is gone; its runs are taken over");
                self.database.unregister_daemon(&daemon.id).await?;
            }
        }
        self.database
            .register_daemon(&self.info(), self.exclusive)
            .await
    }

    /// A request left a run in the store's queue: the claim loop takes it.
    pub(crate) fn queued_here(&self) {
        self.backlog.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// The runs this daemon executes now.
    pub fn held_runs(&self) -> Vec<RunId> {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .copied()
            .collect()
    }

    /// Whether this daemon executes the run now: its events reach this daemon's hub.
    pub(crate) fn holds(&self, run: RunId) -> bool {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&run)
    }

    /// Cancels a run this daemon executes; `false` when it executes no such run.
    pub(crate) fn cancel_held(&self, run: RunId) -> bool {
        match self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&run)
        {
            Some(held) => {
                held.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Stops claiming and closes the event streams; the runs still running go on.
    pub fn stop_claiming(&self) {
        self.stopping.cancel();
        self.wake.notify_waiters();
    }

    /// Whether the daemon is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// Stops: no more claims, the runs still running get `deadline` to end, then stop as a
    /// crash would leave them (cleanly: their logs are complete), and every lease goes.
    pub async fn stop(&self, deadline: Duration) {
        self.stop_claiming();
        let until = tokio::time::Instant::now() + deadline;
        while !self.held_runs().is_empty() && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.shutdown.cancel();
        let grace = until + weft_runtime::SHUTDOWN_GRACE;
        while !self.held_runs().is_empty() && tokio::time::Instant::now() < grace {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Err(error) = self.database.unregister_daemon(&self.id).await {
            tracing::warn!(%error, "could not give up this daemon's leases; they expire on their own");
        }
    }
}

/// Whether a process of this machine runs with this id (Linux: `/proc`; elsewhere it is
/// taken to, and a gone daemon's registration runs out on its own).
/// A new daemon's id: its machine, process and start, and a count of the daemons this
/// process made, since two made within one millisecond (a program that embeds several, a
/// test) would otherwise share an id, and a SQLite file's second daemon would pass for
/// its first.
fn daemon_id(started_at_millis: u64) -> String {
    static MADE: AtomicU64 = AtomicU64::new(0);
    let number = MADE.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}-{}-{started_at_millis}-{number}",
        host(),
        std::process::id()
    )
}

fn process_alive(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// The machine's name, for the daemons' table.
fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Now, in ms since the Unix epoch.
pub(crate) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

/// A duration in ms.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
