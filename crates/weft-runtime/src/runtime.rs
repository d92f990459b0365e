//! The runtime: what every run shares (models, tools, the store, the observer, the clock,
//! the limit of tool calls at once, the shutdown signal), and its builder.

use crate::models::{ModelSource, Models};
use crate::observer::{NoObserver, RunObserver};
use crate::sink::MemorySink;
use crate::tools::NoTools;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use weft_core::{Clock, RunStore, SessionStore, SystemClock, ToolBox};

/// Executes runs. Cheap to share: everything inside is behind `Arc`.
pub struct Runtime {
    pub(crate) models: Arc<dyn ModelSource>,
    pub(crate) guards: Arc<dyn crate::guard_source::GuardSource>,
    pub(crate) tools: Arc<dyn ToolBox>,
    pub(crate) store: Arc<dyn RunStore>,
    pub(crate) observer: Arc<dyn RunObserver>,
    clock: Arc<dyn Clock>,
    /// Events between snapshots (0: none).
    pub(crate) snapshot_every: u64,
    /// Permits for tool calls running at once.
    pub(crate) tool_slots: Arc<tokio::sync::Semaphore>,
    /// Fires when the process is stopping: runs stop as a crash would stop them, cleanly.
    pub(crate) shutdown: CancellationToken,
    /// How long tool calls in flight may go on after `shutdown` fires.
    pub(crate) shutdown_grace: Duration,
    /// Where sessions are kept, when runs may speak in them.
    pub(crate) sessions: Option<Arc<dyn SessionStore>>,
    /// How long a run waits for a session another run writes.
    pub(crate) session_wait: Duration,
    /// The hashes of the workflow texts this runtime has kept in its store, so a workflow
    /// run many times is written once.
    pub(crate) kept_texts: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Session locks a queued run's request took, and when: the worker that drives the run
    /// next in this process holds them already (see `session_lock.rs`).
    pub(crate) taken_locks: crate::taken_locks::TakenLocks,
    /// When this runtime replays a recording: model replies and tool results come from it.
    pub(crate) replay: Option<Arc<crate::replay::Replay>>,
}

/// Events between two snapshots of a run, unless set otherwise.
pub const SNAPSHOT_EVERY: u64 = 500;

/// How long tool calls in flight may go on after a shutdown, unless set otherwise.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long a run waits for a session another run writes, unless set otherwise.
pub const SESSION_WAIT: Duration = Duration::from_secs(30);

/// Builds a [`Runtime`]; every part has a default (no models, no tools, events in memory).
#[derive(Default)]
pub struct RuntimeBuilder {
    models: Option<Arc<dyn ModelSource>>,
    guards: Option<Arc<dyn crate::guard_source::GuardSource>>,
    tools: Option<Arc<dyn ToolBox>>,
    store: Option<Arc<dyn RunStore>>,
    observer: Option<Arc<dyn RunObserver>>,
    clock: Option<Arc<dyn Clock>>,
    snapshot_every: Option<u64>,
    concurrent_tool_calls: Option<usize>,
    shutdown: Option<CancellationToken>,
    shutdown_grace: Option<Duration>,
    sessions: Option<Arc<dyn SessionStore>>,
    session_wait: Option<Duration>,
    replay: Option<Arc<crate::replay::Replay>>,
}

impl RuntimeBuilder {
    /// How long a run waits for its session while another run writes it (default
    /// [`SESSION_WAIT`]; zero fails at once).
    pub fn session_wait(mut self, wait: Duration) -> Self {
        self.session_wait = Some(wait);
        self
    }
    /// Where sessions are kept (usually the store that keeps the runs): runs may then
    /// speak in sessions ([`Runtime::start_in_session`]), and the memory tools work.
    pub fn sessions(mut self, sessions: Arc<dyn SessionStore>) -> Self {
        self.sessions = Some(sessions);
        self
    }
    /// Where models come from.
    pub fn models(mut self, models: Arc<dyn ModelSource>) -> Self {
        self.models = Some(models);
        self
    }
    /// The guards workflows' `guards:` sections name (default: none, so a workflow that
    /// names one fails at its first guarded text).
    pub fn guards(mut self, guards: Arc<dyn crate::guard_source::GuardSource>) -> Self {
        self.guards = Some(guards);
        self
    }
    /// The tools.
    pub fn tools(mut self, tools: Arc<dyn ToolBox>) -> Self {
        self.tools = Some(tools);
        self
    }
    /// Where run logs are kept.
    pub fn store(mut self, store: Arc<dyn RunStore>) -> Self {
        self.store = Some(store);
        self
    }
    /// Who watches.
    pub fn observer(mut self, observer: Arc<dyn RunObserver>) -> Self {
        self.observer = Some(observer);
        self
    }
    /// The clock for event timestamps.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }
    /// How many events a run logs between two snapshots of its state (default
    /// [`SNAPSHOT_EVERY`]; 0 takes none). A run is restored from its latest snapshot and the
    /// events after it, so this bounds the work of resuming a long run.
    pub fn snapshot_every(mut self, events: u64) -> Self {
        self.snapshot_every = Some(events);
        self
    }
    /// How many tool calls may run at once across all of this runtime's runs (default
    /// [`crate::DEFAULT_CONCURRENT_TOOL_CALLS`]); the others wait for a slot.
    pub fn concurrent_tool_calls(mut self, calls: usize) -> Self {
        self.concurrent_tool_calls = Some(calls.max(1));
        self
    }
    /// A signal that stops every run of this runtime the way a crash would, but cleanly
    /// (Ctrl-C, a daemon shutting down): model calls in flight are dropped, tool calls in
    /// flight get [`RuntimeBuilder::shutdown_grace`] to finish and have their results
    /// recorded, and each run is left where its log ends, resumable with
    /// [`Runtime::load`] and [`Runtime::continue_run`]. Unlike cancelling, nothing about the
    /// stop is recorded.
    pub fn shutdown(mut self, signal: CancellationToken) -> Self {
        self.shutdown = Some(signal);
        self
    }
    /// How long tool calls in flight may go on after the shutdown signal (default
    /// [`SHUTDOWN_GRACE`]); those still running then are dropped, as a crash would drop them.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = Some(grace);
        self
    }
    /// Replies and results from a recording instead of models and tools.
    pub(crate) fn replaying(mut self, replay: Arc<crate::replay::Replay>) -> Self {
        self.replay = Some(replay);
        self
    }
    /// The runtime.
    pub fn build(self) -> Runtime {
        Runtime {
            models: self.models.unwrap_or_else(|| Arc::new(Models::new())),
            guards: self
                .guards
                .unwrap_or_else(|| Arc::new(crate::guard_source::Guards::new())),
            tools: self.tools.unwrap_or_else(|| Arc::new(NoTools)),
            store: self.store.unwrap_or_else(|| Arc::new(MemorySink::new())),
            observer: self.observer.unwrap_or_else(|| Arc::new(NoObserver)),
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            snapshot_every: self.snapshot_every.unwrap_or(SNAPSHOT_EVERY),
            tool_slots: Arc::new(tokio::sync::Semaphore::new(
                self.concurrent_tool_calls
                    .unwrap_or(crate::DEFAULT_CONCURRENT_TOOL_CALLS),
            )),
            shutdown: self.shutdown.unwrap_or_default(),
            shutdown_grace: self.shutdown_grace.unwrap_or(SHUTDOWN_GRACE),
            sessions: self.sessions,
            session_wait: self.session_wait.unwrap_or(SESSION_WAIT),
            kept_texts: std::sync::Mutex::default(),
            taken_locks: crate::taken_locks::TakenLocks::default(),
            replay: self.replay,
        }
    }
}

impl Runtime {
    /// A builder.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// A workflow loader that checks every tool a workflow names against this runtime's
    /// tools (those given to [`RuntimeBuilder::tools`]), so an application gives its tools
    /// once.
    pub fn workflow_loader(&self) -> weft_workflow::Loader {
        weft_workflow::Loader::with_tools(self.tools.names())
    }

    /// Where sessions are kept, if this runtime has sessions.
    pub fn session_store(&self) -> Option<&Arc<dyn SessionStore>> {
        self.sessions.as_ref()
    }

    /// The milliseconds since the Unix epoch, by the runtime's clock.
    pub(crate) fn now_millis(&self) -> u64 {
        self.clock.now_millis()
    }
}
