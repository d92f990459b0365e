//! A run in memory: its machine, where its log ends, its timers, and the child runs that wait
//! for answers.

use crate::error::RuntimeError;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;
use weft_core::{RunId, RunStatus, StepError};
use weft_workflow::{Question, RunMachine};

/// A run in memory: its machine, where its log ends, and children waiting for answers.
#[derive(Debug)]
pub struct ActiveRun {
    pub(crate) machine: RunMachine,
    /// The workflow file's folder, against which model specs resolve.
    pub(crate) workflow_dir: Arc<std::path::Path>,
    pub(crate) next_sequence: u64,
    /// The sequence number of the run's latest snapshot (or of the point it was asked for).
    pub(crate) snapshot_at: u64,
    /// When each running step with a timeout started (several in parallel branches).
    pub(crate) step_started: Vec<(u64, Instant)>,
    /// Whether any node of the workflow has a step timeout (most have none, and then
    /// no step's start is timed).
    pub(crate) timed_steps: bool,
    pub(crate) run_started: Instant,
    pub(crate) children: HashMap<(u64, Option<u32>), ActiveRun>,
    /// Whether a shutdown stopped the run: its log is complete, but this copy in memory
    /// is not to be driven further (load the run again to go on).
    pub(crate) stopped: bool,
    /// A signal that stops this run alone as the runtime's shutdown stops all of them (a
    /// daemon that lost its lease on the run).
    pub(crate) halt: Option<tokio_util::sync::CancellationToken>,
    /// The tracing span of the step whose effects are in flight, with its number.
    pub(crate) step_span: Option<(u64, tracing::Span)>,
}

impl ActiveRun {
    pub(crate) fn new(machine: RunMachine) -> Self {
        let workflow_dir: Arc<std::path::Path> = machine
            .workflow()
            .source
            .parent()
            .map(Arc::from)
            .unwrap_or_else(|| Arc::from(std::path::Path::new(".")));
        let timed_steps = machine
            .workflow()
            .nodes
            .values()
            .any(|node| node.limits.timeout.is_some());
        Self {
            machine,
            workflow_dir,
            next_sequence: 1,
            snapshot_at: 0,
            step_started: Vec::new(),
            timed_steps,
            run_started: Instant::now(),
            children: HashMap::new(),
            stopped: false,
            halt: None,
            step_span: None,
        }
    }

    /// The span of step `step`: its effects run in it, so whatever they log carries the
    /// run, its session, the step and its node. One span per step, shared by its branches.
    pub(crate) fn step_span(&mut self, step: u64) -> tracing::Span {
        if let Some((current, span)) = &self.step_span
            && *current == step
        {
            return span.clone();
        }
        // Without a subscriber (a library user who set none, the benchmarks) a span is
        // nothing; tracing's `log` bridge would still format its fields for `log`.
        let span = if tracing::dispatcher::has_been_set() {
            let node = self
                .machine
                .running_steps()
                .find(|(number, _, _)| *number == step)
                .map(|(_, node, _)| node);
            tracing::info_span!(
                "step",
                run = %self.machine.run_id(),
                session = self.machine.session().map(|session| tracing::field::display(session.id)),
                step,
                node,
            )
        } else {
            tracing::Span::none()
        };
        self.step_span = Some((step, span.clone()));
        span
    }

    /// A run rebuilt from its log, which ends at `last_sequence`.
    pub(crate) fn restored(machine: RunMachine, last_sequence: u64) -> Self {
        let mut run = Self::new(machine);
        run.next_sequence = last_sequence + 1;
        run.snapshot_at = last_sequence;
        run
    }

    /// The run's id.
    pub fn id(&self) -> RunId {
        self.machine.run_id()
    }
    /// Where it stands.
    pub fn status(&self) -> RunStatus {
        self.machine.status()
    }
    /// Its output, once finished.
    pub fn output(&self) -> Option<&Value> {
        self.machine.output()
    }
    /// Why it failed.
    pub fn failure(&self) -> Option<&StepError> {
        self.machine.failure()
    }
    /// Its state.
    pub fn state(&self) -> &Map<String, Value> {
        self.machine.state()
    }
    /// The unfinished tool calls it waits on, when it needs attention.
    pub fn attention(&self) -> Option<&weft_workflow::Attention> {
        self.machine.attention()
    }
    /// The question it waits on (the first, when it has several).
    pub fn question(&self) -> Option<Question> {
        self.machine.question()
    }
    /// The questions it waits on, by step.
    pub fn questions(&self) -> Vec<Question> {
        self.machine.questions()
    }
    /// How many events it has recorded.
    pub fn event_count(&self) -> u64 {
        self.next_sequence - 1
    }
    /// Whether the runtime's shutdown stopped it while it was running: its log ends where
    /// a crash would have left it, and it goes on with [`Runtime::load`] and
    /// [`Runtime::continue_run`] (`weft resume`).
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Stops the run, as the runtime's shutdown would, when `signal` fires: model calls are
    /// dropped, tool calls get the grace period, and the log stays resumable (see
    /// [`ActiveRun::stopped`]). A daemon that loses its lease on a run uses it.
    pub fn halt_on(&mut self, signal: tokio_util::sync::CancellationToken) {
        self.halt = Some(signal);
    }

    /// Checks an answer to the open question `id` (`None`: the only one) where it will be
    /// taken: here, or in the waiting child.
    pub(crate) fn check_answer_to(
        &self,
        id: Option<&str>,
        input: &Value,
    ) -> Result<(), RuntimeError> {
        let question = self.machine.check_answer_to(id, input)?;
        if let Some((branch, _)) = question.child
            && let Some(child) = self.children.get(&(question.step, branch))
        {
            child.check_answer_to(question.child_id.as_deref(), input)?;
        }
        Ok(())
    }
}
