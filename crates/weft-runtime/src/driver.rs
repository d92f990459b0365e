//! The run loop: record what the machine decided, perform the effects it asked for, feed each
//! result back, and stop when the run finishes, fails, is cancelled, times out, waits for a
//! person, or the runtime shuts down.

use crate::active::ActiveRun;
use crate::compaction::session_call;
use crate::effects::{EffectDone, EffectFuture};
use crate::error::RuntimeError;
use crate::runtime::Runtime;
use crate::session_lock::{Holding, SessionLease};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::future::{Either, FutureExt};
use futures::stream::FuturesUnordered;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::{
    CancellationToken, WaitForCancellationFuture, WaitForCancellationFutureOwned,
};
use tracing::Instrument;
use tracing::instrument::Instrumented;
use weft_core::{ErrorKind, Event, EventRecord, RunStatus, StepError};
use weft_workflow::{Command, Decision};

/// The effects of one run in flight, each in its step's span.
type Effects<'a> = FuturesUnordered<Instrumented<EffectFuture<'a>>>;

/// What the compaction check read of the session for a model call (see `read_for`).
type SessionRead = Result<Option<weft_core::SessionView>, RuntimeError>;

/// The signals a run waits on besides its effects, pinned for the whole run.
struct Waits<'w, 'f> {
    cancelled: Pin<&'w mut WaitForCancellationFuture<'f>>,
    shutdown: Pin<&'w mut WaitForCancellationFuture<'f>>,
    halted: Pin<&'w mut Halted>,
}

/// The run's own halt signal, or a wait that never ends for a run without one.
type Halted = Either<WaitForCancellationFutureOwned, std::future::Pending<()>>;

impl Runtime {
    pub(crate) fn drive<'a>(
        &'a self,
        run: &'a mut ActiveRun,
        first: Decision,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            // A run in a session holds its lock while it runs; the store gives it up when
            // the run's status leaves `running`, and so does this when the run stops
            // without that (a shutdown, an error).
            let mut lease = self.take_session(run).await?;
            let result = self.drive_held(run, first, cancel, &mut lease).await;
            if let Some(lease) = lease
                && run.status() == RunStatus::Running
            {
                lease.give_up().await;
            }
            result
        })
    }

    async fn drive_held(
        &self,
        run: &mut ActiveRun,
        first: Decision,
        cancel: &CancellationToken,
        lease: &mut Option<SessionLease>,
    ) -> Result<(), RuntimeError> {
        {
            let mut effects: Effects<'_> = FuturesUnordered::new();
            // One waiter each for the whole run, not one per loop turn.
            let cancelled = cancel.cancelled();
            tokio::pin!(cancelled);
            let shutdown = self.shutdown.cancelled();
            tokio::pin!(shutdown);
            let halted = halted(run.halt.clone());
            tokio::pin!(halted);
            self.commit(run, first.events).await?;
            let read = self.read_for(run, &first.commands).await?;
            let started = self.dispatch(run, first.commands, read, &mut effects, cancel)?;
            if !started.is_empty() {
                self.commit(run, started).await?;
            }
            while run.status() == RunStatus::Running {
                if effects.is_empty() {
                    // A model call that saw the shutdown before this loop did returned
                    // with nothing to record: the run stops as the shutdown says.
                    if self.stopping(run) {
                        return self.stop(run, effects).await;
                    }
                    return Err(RuntimeError::Stalled {
                        run: run.id(),
                        status: run.status().as_str(),
                    });
                }
                let decision = match self.ready_result(run, cancel, lease, &mut effects) {
                    Some(done) => self.take_results(run, done, &mut effects).await?,
                    None => {
                        let waits = Waits {
                            cancelled: cancelled.as_mut(),
                            shutdown: shutdown.as_mut(),
                            halted: halted.as_mut(),
                        };
                        match self.wait(run, waits, lease, &mut effects).await? {
                            Some(decision) => decision,
                            None => return self.stop(run, effects).await,
                        }
                    }
                };
                if !decision.events.is_empty() {
                    self.commit(run, decision.events).await?;
                }
                let read = self.read_for(run, &decision.commands).await?;
                let started = self.dispatch(run, decision.commands, read, &mut effects, cancel)?;
                if !started.is_empty() {
                    self.commit(run, started).await?;
                }
            }
            // Whatever is still in flight (siblings of a failed branch, a timed-out call) is
            // dropped here, which cancels it.
            Ok(())
        }
    }

    /// A result that is ready now, taken without the full wait: no signal of the run has
    /// fired and no lease renewal is due, so the biased wait would take it first too. Most
    /// results of a fast model are ready the first time the run looks.
    fn ready_result(
        &self,
        run: &ActiveRun,
        cancel: &CancellationToken,
        lease: &Option<SessionLease>,
        effects: &mut Effects<'_>,
    ) -> Option<Result<EffectDone, RuntimeError>> {
        if lease.is_some() || cancel.is_cancelled() || self.stopping(run) {
            return None;
        }
        effects.next().now_or_never().flatten()
    }

    /// Waits for what comes first, in this order: the run's cancellation, a shutdown or
    /// the run's halt (`None`: the run stops), the session lease's renewal, an effect's
    /// result, a step's timeout, the run's timeout. Returns what the machine decided.
    async fn wait(
        &self,
        run: &mut ActiveRun,
        waits: Waits<'_, '_>,
        lease: &mut Option<SessionLease>,
        effects: &mut Effects<'_>,
    ) -> Result<Option<Decision>, RuntimeError> {
        let Waits {
            cancelled,
            shutdown,
            halted,
        } = waits;
        let step_deadline = self.step_deadline(run);
        let run_deadline = run
            .machine
            .workflow()
            .limits
            .timeout
            .map(|timeout| run.run_started + timeout);
        let decision = tokio::select! {
            biased;
            () = cancelled => run.machine.cancel("the run was cancelled")?,
            () = shutdown => return Ok(None),
            () = halted => return Ok(None),
            () = sleep_until(lease.as_ref().map(|lease| lease.renew_at)) => {
                if let Some(lease) = lease.as_mut() {
                    self.renew_session(lease).await?;
                }
                Decision::default()
            }
            Some(done) = effects.next() => self.take_results(run, done, effects).await?,
            () = sleep_until(step_deadline.map(|(deadline, _, _)| deadline)) => {
                let (_, timeout, step) = step_deadline.unwrap_or((Instant::now(), Duration::ZERO, 0));
                run.machine.fail_step_at(Some(step), StepError::new(
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
        Ok(Some(decision))
    }

    /// The session view the compaction check read for the model call among `commands`
    /// that reads one: `None` at once for the commands of most turns, which read none.
    fn read_for<'a>(
        &'a self,
        run: &'a mut ActiveRun,
        commands: &'a [Command],
    ) -> Either<BoxFuture<'a, SessionRead>, std::future::Ready<SessionRead>> {
        if commands
            .iter()
            .all(|command| session_call(command).is_none())
        {
            return Either::Right(std::future::ready(Ok(None)));
        }
        Either::Left(Box::pin(self.compact_before(run, commands)))
    }

    /// Feeds `done` and every other result that is ready now to the machine and commits
    /// them with what the machine decided, in one append: calls that finish together (a
    /// reply's tool calls, a map's branches) cost one append, not one each. The commands
    /// come back to start after it.
    async fn take_results(
        &self,
        run: &mut ActiveRun,
        done: Result<EffectDone, RuntimeError>,
        effects: &mut Effects<'_>,
    ) -> Result<Decision, RuntimeError> {
        let mut events = Vec::new();
        let mut commands = Vec::new();
        let mut next = Some(done);
        while let Some(done) = next {
            let EffectDone {
                event,
                more,
                waiting_child,
            } = done?;
            if let Some(event) = event {
                if let Some(waiting) = waiting_child {
                    let (key, child) = *waiting;
                    run.children.insert(key, child);
                }
                // A child's other questions come with its first; most results are alone.
                let decision = if more.is_empty() {
                    let decision = run.machine.on_event(&event)?;
                    events.reserve(1 + decision.events.len());
                    events.push(event);
                    decision
                } else {
                    let taken: Vec<Event> = std::iter::once(event).chain(more).collect();
                    let decision = run.machine.on_events(&taken)?;
                    events.extend(taken);
                    decision
                };
                events.extend(decision.events);
                if commands.is_empty() {
                    commands = decision.commands;
                } else {
                    commands.extend(decision.commands);
                }
                if run.status() != RunStatus::Running {
                    break;
                }
            }
            next = effects.next().now_or_never().flatten();
        }
        self.commit(run, events).await?;
        Ok(Decision {
            events: Vec::new(),
            commands,
        })
    }

    /// The runtime is shutting down: model calls stop at once (their effects see the same
    /// signal), tool calls and child runs get the grace period, and each result that comes
    /// in is recorded alone, without deciding what follows: the log ends as a crash at
    /// that instant would have left it, so the run goes on from it when it is loaded again.
    async fn stop(
        &self,
        run: &mut ActiveRun,
        mut effects: Effects<'_>,
    ) -> Result<(), RuntimeError> {
        run.stopped = true;
        let deadline = Instant::now() + self.shutdown_grace;
        loop {
            let done = tokio::select! {
                done = effects.next() => done,
                () = tokio::time::sleep_until(deadline) => None,
            };
            let Some(done) = done else {
                return Ok(());
            };
            let done = done?;
            if let Some(event) = done.event {
                let taken = std::iter::once(event).chain(done.more).collect();
                let records = self.number(run, taken);
                self.store.append(run.id(), &records).await?;
                for record in &records {
                    self.observer.on_event(run.id(), record);
                }
            }
        }
    }

    /// Whether the run is to stop as a shutdown stops it: the runtime's, or its own halt.
    fn stopping(&self, run: &ActiveRun) -> bool {
        self.shutdown.is_cancelled()
            || run
                .halt
                .as_ref()
                .is_some_and(CancellationToken::is_cancelled)
    }

    /// The earliest deadline of a running step with a timeout: when, the timeout, and
    /// the step. Steps that ended are forgotten here.
    fn step_deadline(&self, run: &mut ActiveRun) -> Option<(Instant, Duration, u64)> {
        if run.step_started.is_empty() {
            return None;
        }
        let machine = &run.machine;
        let mut earliest: Option<(Instant, Duration, u64)> = None;
        run.step_started.retain(|(step, started_at)| {
            let Some((_, _, limits)) = machine
                .running_steps()
                .find(|(number, _, _)| number == step)
            else {
                return false;
            };
            if let Some(timeout) = limits.timeout {
                let deadline = *started_at + timeout;
                if earliest.is_none_or(|(soonest, _, _)| deadline < soonest) {
                    earliest = Some((deadline, timeout, *step));
                }
            }
            true
        });
        earliest
    }

    /// Starts the commands' effects. Returns the events that starting child runs recorded
    /// (`ChildStarted`), which the caller commits before the effects are first polled.
    /// `read` is the session view the compaction check read for the session's model call.
    fn dispatch<'a>(
        &'a self,
        run: &mut ActiveRun,
        commands: Vec<Command>,
        mut read: Option<weft_core::SessionView>,
        effects: &mut Effects<'a>,
        cancel: &CancellationToken,
    ) -> Result<Vec<Event>, RuntimeError> {
        let run_id = run.id();
        let mut started_children = Vec::new();
        for command in commands {
            let view = if session_call(&command).is_some() {
                read.take()
            } else {
                None
            };
            match command {
                Command::CallModel(call) => {
                    let span = run.step_span(call.step);
                    let effect = match &self.replay {
                        Some(replay) => {
                            let step = step_key(run, call.step);
                            ready(EffectDone::event(replay.model(run_id, step, call)))
                        }
                        None => self.model_effect(run_id, run.workflow_dir.clone(), call, view),
                    };
                    effects.push(effect.instrument(span));
                }
                Command::CallTool(call) => {
                    let span = run.step_span(call.step);
                    let effect = match &self.replay {
                        Some(replay) => {
                            let step = step_key(run, call.step);
                            ready(EffectDone::event(replay.tool(run_id, step, &call)))
                        }
                        None => self.tool_effect(run_id, self.session_access(run), call),
                    };
                    effects.push(effect.instrument(span));
                }
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
                    if let Some(replay) = &self.replay {
                        let step = (child.step, step_key(run, child.step));
                        replay.adopt(run_id, step, child.branch, child_id);
                    }
                    let span = run.step_span(child.step);
                    effects.push(
                        self.child_effect(run_id, child_id, child, cancel.child_token())
                            .instrument(span),
                    );
                }
                Command::CheckGuard(call) => effects.push(self.guard_command(run, call)),
                Command::ResumeChild(answer) => {
                    let child = run.children.remove(&(answer.step, answer.branch));
                    let workflow = run.machine.child_workflow(answer.step, answer.branch);
                    let span = run.step_span(answer.step);
                    effects.push(
                        self.resume_child_effect(answer, workflow, child, cancel.child_token())
                            .instrument(span),
                    );
                }
            }
        }
        Ok(started_children)
    }

    /// A guard call's effect: the guard, or its verdict from the recording.
    fn guard_command<'a>(
        &'a self,
        run: &mut ActiveRun,
        call: weft_workflow::GuardCall,
    ) -> Instrumented<EffectFuture<'a>> {
        let span = run.step_span(call.step);
        let effect = match &self.replay {
            Some(replay) => {
                let step = step_key(run, call.step);
                ready(EffectDone::event(replay.guard(run.id(), step, call)))
            }
            None => self.guard_effect(run.workflow_dir.clone(), call),
        };
        effect.instrument(span)
    }

    /// Numbers the events, appends them to the sink as one batch and tells the observer.
    /// Callers with nothing to record skip the call: most turns of the run loop have
    /// nothing, and even an empty commit builds its future.
    pub(crate) async fn commit(
        &self,
        run: &mut ActiveRun,
        events: Vec<Event>,
    ) -> Result<(), RuntimeError> {
        let records = self.number(run, events);
        if records.is_empty() {
            return Ok(());
        }
        self.store.append(run.id(), &records).await?;
        self.appended(run, &records).await;
        Ok(())
    }

    /// [`Runtime::commit`] for the events that start a queued run: taken under the
    /// daemon's lease when one is given ([`weft_core::EventSink::append_taken`]), and, for
    /// a run in a session, with the session's lock in the same write. Returns the records
    /// appended.
    pub(crate) async fn commit_start(
        &self,
        run: &mut ActiveRun,
        events: Vec<Event>,
        start: Holding<'_>,
    ) -> Result<Vec<EventRecord>, RuntimeError> {
        let records = self.number(run, events);
        if records.is_empty() {
            return Ok(records);
        }
        match (start.lease, run.machine.session()) {
            (_, Some(session)) => {
                self.start_holding(run.id(), session, &records, start)
                    .await?;
            }
            (Some(lease), None) => self.store.append_taken(run.id(), &records, lease).await?,
            (None, None) => self.store.append(run.id(), &records).await?,
        }
        self.appended(run, &records).await;
        Ok(records)
    }

    /// After an append: the observer hears of each record, and a snapshot is kept when
    /// one is due.
    async fn appended(&self, run: &mut ActiveRun, records: &[EventRecord]) {
        for record in records {
            self.observer.on_event(run.id(), record);
        }
        self.keep_snapshots(run, records).await;
    }

    /// The records of `events`: counted where they are remembered, numbered, stamped.
    pub(crate) fn number(&self, run: &mut ActiveRun, mut events: Vec<Event>) -> Vec<EventRecord> {
        if events.is_empty() {
            return Vec::new();
        }
        self.count_remembered(run, &mut events);
        let at_millis = self.now_millis();
        let mut records = Vec::with_capacity(events.len());
        for event in events {
            records.push(EventRecord {
                sequence: run.next_sequence,
                at_millis,
                event,
            });
            run.next_sequence += 1;
        }
        // A step's start time matters only for a step timeout: look for one, and read the
        // clock, only in a workflow that has one.
        if run.timed_steps {
            let now = Instant::now();
            let workflow = run.machine.workflow();
            for record in &records {
                if let Event::StepStarted { step, node, .. } = &record.event
                    && workflow
                        .nodes
                        .get(node)
                        .is_some_and(|node| node.limits.timeout.is_some())
                {
                    run.step_started.push((*step, now));
                }
            }
        }
        records
    }
}

/// Fires when the run's own halt signal does; never without one.
fn halted(halt: Option<CancellationToken>) -> Halted {
    match halt {
        Some(halt) => Either::Left(halt.cancelled_owned()),
        None => Either::Right(std::future::pending()),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// An effect whose result is already known (a replay's).
fn ready<'a>(done: EffectDone) -> EffectFuture<'a> {
    Box::pin(std::future::ready(Ok(done)))
}

/// What step `step` of `run` is, whatever its number (see `Runtime.replay`).
fn step_key(run: &ActiveRun, step: u64) -> crate::replay::StepKey {
    run.machine
        .step_identity(step)
        .map(|(node, visit)| (node.to_owned(), visit))
        .unwrap_or_default()
}
