//! Runs a daemon serves. Whoever takes a request (the HTTP API) records what the machine
//! decides, and nothing else; the worker that claims the run from the store's queue loads
//! it and performs the effects ([`Runtime::continue_run`]). The log after such a record
//! is the log a crash right after that append would have left, which loading a run
//! already goes on from, so a request is acknowledged only once it is durable and any
//! daemon on the database can carry it out.

use crate::active::ActiveRun;
use crate::error::RuntimeError;
use crate::runtime::Runtime;
use crate::session_lock::Holding;
use serde_json::Value;
use std::sync::Arc;
use weft_core::{Event, EventRecord, Lease, RunId, RunSetup, SessionRef};
use weft_workflow::{RunMachine, Workflow};

/// A run whose start was recorded for a daemon's workers.
#[derive(Debug, Clone)]
pub struct QueuedRun {
    /// The run.
    pub id: RunId,
    /// Its log as recorded: the whole log, as it has just started.
    pub log: Vec<EventRecord>,
}

impl Runtime {
    /// Records the start of a run that a daemon's workers will execute: its input is
    /// checked, its workflow texts kept, and the first decision appended. `setup.served`
    /// should be set, so that the store queues it. A run in a session takes the session's
    /// lock now; another run's lock is [`RuntimeError::SessionBusy`] at once. Returns the
    /// run with its log as recorded, from which a worker of this process may load it
    /// ([`Runtime::load_from`]) rather than read it back.
    pub async fn queue_start(
        &self,
        workflow: Arc<Workflow>,
        input: Value,
        setup: RunSetup,
        session: Option<SessionRef>,
    ) -> Result<QueuedRun, RuntimeError> {
        self.queue_start_with(workflow, input, setup, session, None)
            .await
    }

    /// [`Runtime::queue_start`] for a daemon that executes the run itself: the run is
    /// recorded taken under `lease` ([`weft_core::EventSink::append_taken`]), so that no
    /// claim takes it and the daemon's worker need not take it.
    pub async fn queue_start_taken(
        &self,
        workflow: Arc<Workflow>,
        input: Value,
        setup: RunSetup,
        session: Option<SessionRef>,
        lease: &Lease,
    ) -> Result<QueuedRun, RuntimeError> {
        self.queue_start_with(workflow, input, setup, session, Some(lease))
            .await
    }

    async fn queue_start_with(
        &self,
        workflow: Arc<Workflow>,
        input: Value,
        setup: RunSetup,
        session: Option<SessionRef>,
        lease: Option<&Lease>,
    ) -> Result<QueuedRun, RuntimeError> {
        let setup = self.keep_texts(&workflow, Some(setup)).await?;
        let (machine, decision) =
            RunMachine::start_in_session(workflow, RunId::new(), input, None, setup, session)?;
        let mut run = ActiveRun::new(machine);
        // A run in a session takes the session's lock in this append.
        let start = Holding { lease, wait: false };
        let log = self
            .commit_start(&mut run, not_started(decision.events), start)
            .await?;
        Ok(QueuedRun { id: run.id(), log })
    }

    /// Records an answer to a run that waits for one (loaded with [`Runtime::load`]),
    /// leaving the steps it leads to for a worker. A bad answer is refused before anything
    /// is recorded.
    /// `question` names the open question it answers (`None`: the only one).
    pub async fn queue_answer(
        &self,
        run: &mut ActiveRun,
        question: Option<&str>,
        input: Value,
    ) -> Result<(), RuntimeError> {
        self.attach_waiting_children(run).await?;
        run.check_answer_to(question, &input)?;
        if let Some(session) = run.machine.session() {
            self.lock_session_now(run.id(), session).await?;
        }
        let decision = run.machine.answer(question, input)?;
        self.commit(run, not_started(decision.events)).await?;
        Ok(())
    }
}

/// A decision's events without the `ToolCallStarted` of the calls it asks for: the worker
/// that runs a queued run starts them, and records them then. Recorded here, they would
/// read as calls a crash interrupted, and a call that is not idempotent would stop the run
/// for a person before it ever ran.
fn not_started(mut events: Vec<Event>) -> Vec<Event> {
    events.retain(|event| !matches!(event, Event::ToolCallStarted { .. }));
    events
}
