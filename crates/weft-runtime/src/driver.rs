//! The run loop: record what the machine decided, perform the effects it asked for, feed each
//! result back, and stop when the run finishes, fails, is cancelled, times out or waits for a
//! person.

use crate::effects::{EffectDone, EffectFuture};
use crate::error::RuntimeError;
use crate::models::{ModelSource, Models};
use crate::observer::{NoObserver, RunObserver};
use crate::sink::MemorySink;
use crate::tools::NoTools;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::future::FutureExt;
use futures::stream::FuturesUnordered;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weft_core::{
    Clock, ErrorKind, Event, EventRecord, RunId, RunStatus, RunStore, StepError, SystemClock,
    ToolBox,
};
use weft_workflow::{Command, Decision, Question, RunMachine, Workflow};

/// Executes runs. Cheap to share: everything inside is behind `Arc`.
pub struct Runtime {
    pub(crate) models: Arc<dyn ModelSource>,
    pub(crate) tools: Arc<dyn ToolBox>,
    pub(crate) store: Arc<dyn RunStore>,
    pub(crate) observer: Arc<dyn RunObserver>,
    clock: Arc<dyn Clock>,
    /// Events between snapshots (0: none).
    pub(crate) snapshot_every: u64,
    /// Permits for tool calls running at once.
    pub(crate) tool_slots: Arc<tokio::sync::Semaphore>,
}

/// Events between two snapshots of a run, unless set otherwise.
pub const SNAPSHOT_EVERY: u64 = 500;

/// Builds a [`Runtime`]; every part has a default (no models, no tools, events in memory).
#[derive(Default)]
pub struct RuntimeBuilder {
    models: Option<Arc<dyn ModelSource>>,
    tools: Option<Arc<dyn ToolBox>>,
    store: Option<Arc<dyn RunStore>>,
    observer: Option<Arc<dyn RunObserver>>,
    clock: Option<Arc<dyn Clock>>,
    snapshot_every: Option<u64>,
    concurrent_tool_calls: Option<usize>,
}

impl RuntimeBuilder {
    /// Where models come from.
    pub fn models(mut self, models: Arc<dyn ModelSource>) -> Self {
        self.models = Some(models);
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
    /// The runtime.
    pub fn build(self) -> Runtime {
        Runtime {
            models: self.models.unwrap_or_else(|| Arc::new(Models::new())),
            tools: self.tools.unwrap_or_else(|| Arc::new(NoTools)),
            store: self.store.unwrap_or_else(|| Arc::new(MemorySink::new())),
            observer: self.observer.unwrap_or_else(|| Arc::new(NoObserver)),
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            snapshot_every: self.snapshot_every.unwrap_or(SNAPSHOT_EVERY),
            tool_slots: Arc::new(tokio::sync::Semaphore::new(
                self.concurrent_tool_calls
                    .unwrap_or(crate::DEFAULT_CONCURRENT_TOOL_CALLS),
            )),
        }
    }
}

/// A run in memory: its machine, where its log ends, and children waiting for answers.
#[derive(Debug)]
pub struct ActiveRun {
    pub(crate) machine: RunMachine,
    /// The workflow file's folder, against which model specs resolve.
    workflow_dir: Arc<std::path::Path>,
    next_sequence: u64,
    /// The sequence number of the run's latest snapshot (or of the point it was asked for).
    pub(crate) snapshot_at: u64,
    step_started: Option<(u64, Instant)>,
    run_started: Instant,
    children: HashMap<(u64, Option<u32>), ActiveRun>,
}

impl ActiveRun {
    pub(crate) fn new(machine: RunMachine) -> Self {
        let workflow_dir: Arc<std::path::Path> = machine
            .workflow()
            .source
            .parent()
            .map(Arc::from)
            .unwrap_or_else(|| Arc::from(std::path::Path::new(".")));
        Self {
            machine,
            workflow_dir,
            next_sequence: 1,
            snapshot_at: 0,
            step_started: None,
            run_started: Instant::now(),
            children: HashMap::new(),
        }
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
    /// The question it waits on.
    pub fn question(&self) -> Option<Question> {
        self.machine.question()
    }
    /// How many events it has recorded.
    pub fn event_count(&self) -> u64 {
        self.next_sequence - 1
    }

    /// Checks an answer where it will be taken: here, or in the waiting child.
    fn check_answer(&self, input: &Value) -> Result<(), RuntimeError> {
        let question = self.machine.check_answer(input)?;
        if let Some((branch, _)) = question.child
            && let Some(child) = self.children.get(&(question.step, branch))
        {
            child.check_answer(input)?;
        }
        Ok(())
    }
}

impl Runtime {
    /// A builder.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Starts a run and drives it until it finishes, fails, is cancelled or waits for input.
    pub async fn start(
        &self,
        workflow: Arc<Workflow>,
        input: Value,
        cancel: &CancellationToken,
    ) -> Result<ActiveRun, RuntimeError> {
        let (machine, decision) = RunMachine::start(workflow, RunId::new(), input, None)?;
        let mut run = ActiveRun::new(machine);
        self.drive(&mut run, decision, cancel).await?;
        Ok(run)
    }

    /// Rebuilds a run from its log in the store.
    pub async fn load(
        &self,
        workflow: Arc<Workflow>,
        run: RunId,
    ) -> Result<ActiveRun, RuntimeError> {
        if let Some(restored) = self.restore_from_snapshot(&workflow, run).await? {
            return Ok(restored);
        }
        let records = self.store.events(run, 0).await?;
        let machine =
            RunMachine::restore(workflow, run, records.iter().map(|record| &record.event))?;
        Ok(ActiveRun::restored(
            machine,
            records.last().map_or(0, |record| record.sequence),
        ))
    }

    /// Forks `original` at step `step`: a new run whose log is the original's events before
    /// that step (renumbered, under the new id), so it runs that step again from the same
    /// state. Returns the new run, ready for [`Runtime::continue_run`].
    pub async fn fork(
        &self,
        workflow: Arc<Workflow>,
        original: RunId,
        step: u64,
    ) -> Result<ActiveRun, RuntimeError> {
        let records = self.store.events(original, 0).await?;
        let cut = records
            .iter()
            .position(|record| matches!(record.event, Event::StepStarted { step: started, .. } if started == step))
            .ok_or_else(|| {
                let last = records
                    .iter()
                    .filter_map(|record| match record.event {
                        Event::StepStarted { step, .. } => Some(step),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                RuntimeError::NoSuchStep { run: original, step, last }
            })?;
        let fork = RunId::new();
        // One append, one time: the fork's log starts now.
        let at_millis = self.clock.now_millis();
        let copied: Vec<EventRecord> = records[..cut]
            .iter()
            .enumerate()
            .map(|(index, record)| {
                let mut event = record.event.clone();
                if let Event::RunStarted { forked_from, .. } = &mut event {
                    *forked_from = Some(weft_core::ForkPoint {
                        run: original,
                        step,
                    });
                }
                EventRecord {
                    sequence: index as u64 + 1,
                    at_millis,
                    event,
                }
            })
            .collect();
        self.store.append(fork, &copied).await?;
        for record in &copied {
            self.observer.on_event(fork, record);
        }
        let machine =
            RunMachine::restore(workflow, fork, copied.iter().map(|record| &record.event))?;
        Ok(ActiveRun::restored(machine, copied.len() as u64))
    }

    /// Drives a loaded run on from where its log ends: the effects that were in flight when
    /// it stopped are done again, and finished ones are not. A tool call that started and
    /// did not finish runs again only if its tool is idempotent; otherwise the run stops
    /// with status `needs_attention` (see [`Runtime::retry`] and [`Runtime::fail`]).
    pub async fn continue_run(
        &self,
        run: &mut ActiveRun,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        if run.status() != RunStatus::Running {
            return Ok(());
        }
        let decision = run.machine.pending()?;
        match self.hold_unsettled(run, decision).await? {
            Some(decision) => self.drive(run, decision, cancel).await,
            None => Ok(()),
        }
    }

    /// Answers an interrupted run and drives it on. A bad answer is refused before anything
    /// is recorded, so the caller may ask again.
    pub async fn resume(
        &self,
        run: &mut ActiveRun,
        input: Value,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        self.attach_waiting_children(run).await?;
        run.check_answer(&input)?;
        let decision = run.machine.resume(input)?;
        self.drive(run, decision, cancel).await
    }

    /// After a restart, a run that waits through a sub-workflow has no child in memory: load
    /// the waiting child (and its own waiting child) from the store, so the answer is checked
    /// where it will be taken.
    fn attach_waiting_children<'a>(
        &'a self,
        run: &'a mut ActiveRun,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let Some(question) = run.machine.question() else {
                return Ok(());
            };
            let Some((branch, Some(child_id))) = question.child else {
                return Ok(());
            };
            let key = (question.step, branch);
            if run.children.contains_key(&key) {
                return Ok(());
            }
            let Some(workflow) = run.machine.child_workflow(question.step, branch) else {
                return Ok(());
            };
            let mut child = self.load(workflow, child_id).await?;
            self.attach_waiting_children(&mut child).await?;
            run.children.insert(key, child);
            Ok(())
        })
    }

    pub(crate) fn drive<'a>(
        &'a self,
        run: &'a mut ActiveRun,
        first: Decision,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let mut effects: FuturesUnordered<EffectFuture<'a>> = FuturesUnordered::new();
            // One cancellation waiter for the whole run, not one per loop turn.
            let cancelled = cancel.cancelled();
            tokio::pin!(cancelled);
            self.commit(run, None, first.events).await?;
            let started = self.dispatch(run, first.commands, &mut effects, cancel)?;
            self.commit(run, None, started).await?;
            while run.status() == RunStatus::Running {
                if effects.is_empty() {
                    return Err(RuntimeError::Stalled {
                        run: run.id(),
                        status: run.status().as_str(),
                    });
                }
                let step_deadline = self.step_deadline(run);
                let run_deadline = run
                    .machine
                    .workflow()
                    .limits
                    .timeout
                    .map(|timeout| run.run_started + timeout);
                let decision = tokio::select! {
                    biased;
                    () = &mut cancelled => run.machine.cancel("the run was cancelled")?,
                    Some(done) = effects.next() => {
                        // Every result that is ready now is taken before one commit: calls
                        // that finish together (a reply's tool calls, a map's branches)
                        // cost one append, not one each. Their commands start after it.
                        let mut events = Vec::new();
                        let mut commands = Vec::new();
                        let mut next = Some(done);
                        while let Some(done) = next {
                            let EffectDone { event, waiting_child } = done?;
                            if let Some((key, child)) = waiting_child {
                                run.children.insert(key, child);
                            }
                            let decision = run.machine.on_event(&event)?;
                            events.push(event);
                            events.extend(decision.events);
                            commands.extend(decision.commands);
                            if run.status() != RunStatus::Running {
                                break;
                            }
                            next = effects.next().now_or_never().flatten();
                        }
                        self.commit(run, None, events).await?;
                        Decision { events: Vec::new(), commands }
                    }
                    () = sleep_until(step_deadline.map(|(deadline, _)| deadline)) => {
                        let (_, timeout) = step_deadline.unwrap_or((Instant::now(), std::time::Duration::ZERO));
                        run.machine.fail_step(StepError::new(
                            ErrorKind::Timeout,
                            format!("the step ran longer than its timeout of {timeout:?} (limits.timeout)"),
                        ))?
                    }
                    () = sleep_until(run_deadline) => {
                        let timeout = run.machine.workflow().limits.timeout.unwrap_or_default();
                        run.machine.fail_run(StepError::new(
                            ErrorKind::Timeout,
                            format!("the run ran longer than its timeout of {timeout:?} (limits.timeout)"),
                        ))?
                    }
                };
                self.commit(run, None, decision.events).await?;
                let started = self.dispatch(run, decision.commands, &mut effects, cancel)?;
                self.commit(run, None, started).await?;
            }
            // Whatever is still in flight (siblings of a failed branch, a timed-out call) is
            // dropped here, which cancels it.
            Ok(())
        })
    }

    fn step_deadline(&self, run: &ActiveRun) -> Option<(Instant, std::time::Duration)> {
        let (number, _, limits) = run.machine.current_step()?;
        let timeout = limits.timeout?;
        let (started_step, started_at) = run.step_started?;
        (started_step == number).then_some((started_at + timeout, timeout))
    }

    /// Starts the commands' effects. Returns the events that starting child runs recorded
    /// (`ChildStarted`), which the caller commits before the effects are first polled.
    fn dispatch<'a>(
        &'a self,
        run: &mut ActiveRun,
        commands: Vec<Command>,
        effects: &mut FuturesUnordered<EffectFuture<'a>>,
        cancel: &CancellationToken,
    ) -> Result<Vec<Event>, RuntimeError> {
        let run_id = run.id();
        let mut started_children = Vec::new();
        for command in commands {
            match command {
                Command::CallModel(call) => {
                    effects.push(self.model_effect(run_id, run.workflow_dir.clone(), call))
                }
                Command::CallTool(call) => effects.push(self.tool_effect(run_id, call)),
                Command::StartChild(child) => {
                    let child_id = child.run.unwrap_or_default();
                    if child.run.is_none() {
                        let started = Event::ChildStarted {
                            step: child.step,
                            branch: child.branch,
                            run: child_id,
                            workflow: child.workflow.name.clone(),
                        };
                        let decision = run.machine.on_event(&started)?;
                        started_children.push(started);
                        started_children.extend(decision.events);
                    }
                    effects.push(self.child_effect(run_id, child_id, child, cancel.child_token()));
                }
                Command::ResumeChild(answer) => {
                    let child = run.children.remove(&(answer.step, answer.branch));
                    let workflow = run.machine.child_workflow(answer.step, answer.branch);
                    effects.push(self.resume_child_effect(
                        answer,
                        workflow,
                        child,
                        cancel.child_token(),
                    ));
                }
            }
        }
        Ok(started_children)
    }

    /// Numbers the events, appends them to the sink as one batch and tells the observer.
    /// `first` (an effect's result) goes before the events it caused.
    pub(crate) async fn commit(
        &self,
        run: &mut ActiveRun,
        first: Option<Event>,
        events: Vec<Event>,
    ) -> Result<(), RuntimeError> {
        let records = self.number(run, first, events);
        if records.is_empty() {
            return Ok(());
        }
        self.store.append(run.id(), &records).await?;
        for record in &records {
            self.observer.on_event(run.id(), record);
        }
        self.keep_snapshots(run, &records).await;
        Ok(())
    }

    fn number(
        &self,
        run: &mut ActiveRun,
        first: Option<Event>,
        events: Vec<Event>,
    ) -> Vec<EventRecord> {
        let mut records = Vec::with_capacity(events.len() + usize::from(first.is_some()));
        if records.capacity() == 0 {
            return records;
        }
        let at_millis = self.clock.now_millis();
        let mut step_started = None;
        for event in first.into_iter().chain(events) {
            if let Event::StepStarted { step, .. } = &event {
                step_started = Some(*step);
            }
            records.push(EventRecord {
                sequence: run.next_sequence,
                at_millis,
                event,
            });
            run.next_sequence += 1;
        }
        // A step's start time matters only for a step timeout: read the clock only then.
        if let Some(step) = step_started
            && let Some((current, _, limits)) = run.machine.current_step()
            && current == step
            && limits.timeout.is_some()
        {
            run.step_started = Some((step, Instant::now()));
        }
        records
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
