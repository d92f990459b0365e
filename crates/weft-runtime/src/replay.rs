//! Record and replay: a finished run is run again with every model reply and tool result
//! taken from its log instead of calling anything, once on the workflow text it ran on and
//! once on another (a changed file), and the two are compared step by step: the first
//! place where the changed workflow routes elsewhere, asks a model something else, calls a
//! tool otherwise or ends differently is reported (see `replay_compare.rs`).
//!
//! Replies and results are keyed by the run they belong to (a sub-workflow's by the step
//! and branch that started it), the step, the map branch and the turn, so branches that
//! run at once replay the same whatever order they call in. A step is known by its node
//! and how many times that node had started (`StepKey`), not by its number: the steps of
//! parallel branches are numbered in the order they start, which depends on which branch
//! finished first in the original and need not be the replay's. A key the original log lacks
//! fails that call, which the comparison then names. Replays run in memory, outside any
//! session: the prompts compared are the nodes' own messages, before a session's history
//! is added.

use crate::error::RuntimeError;
use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use weft_core::{ErrorKind, Event, EventRecord, RunId, RunStore, StepError, ToolOutcome};
use weft_workflow::{ModelCall, ToolCallCommand};

/// A model call's place in its run: step, map branch, turn.
pub(crate) type CallKey = (u64, Option<u32>, u32);
/// A step, whatever its number: its node, and how many times that node had started.
pub(crate) type StepKey = (String, u64);
/// A recorded model call's place: step, map branch, turn.
type ReplyKey = (StepKey, Option<u32>, u32);
/// A recorded tool call's: step, map branch, turn, index in the turn.
type ToolKey = (StepKey, Option<u32>, u32, u32);
/// A recorded verdict's place: step, map branch, the text judged.
type VerdictKey = (StepKey, Option<u32>, weft_core::GuardCheck);
/// Where a run sits below the replayed one: the (step, branch) of each sub-workflow start
/// on the way down; empty for the replayed run itself.
pub type Place = Vec<(u64, Option<u32>)>;

/// A run's log and its sub-workflow runs' logs, by the step and branch that started each.
#[derive(Debug, Clone, Default)]
pub struct RecordedRun {
    /// The run's log.
    pub log: Vec<EventRecord>,
    /// Its sub-workflow runs.
    pub children: HashMap<(u64, Option<u32>), RecordedRun>,
}

impl RecordedRun {
    /// Reads `run`'s log and those of its sub-workflow runs.
    pub fn read(
        store: &dyn RunStore,
        run: RunId,
    ) -> BoxFuture<'_, Result<RecordedRun, RuntimeError>> {
        Box::pin(async move {
            let log = store.events(run, 0).await?;
            Self::with_log(store, log).await
        })
    }

    /// A run whose `log` was read already, with its sub-workflow runs' logs read from `store`.
    pub fn with_log(
        store: &dyn RunStore,
        log: Vec<EventRecord>,
    ) -> BoxFuture<'_, Result<RecordedRun, RuntimeError>> {
        Box::pin(async move {
            let mut children = HashMap::new();
            for record in &log {
                if let Event::ChildStarted {
                    step, branch, run, ..
                } = &record.event
                {
                    children.insert((*step, *branch), Self::read(store, *run).await?);
                }
            }
            Ok(RecordedRun { log, children })
        })
    }

    /// The run's input, from its first event.
    pub(crate) fn input(&self) -> Value {
        match self.log.first().map(|record| &record.event) {
            Some(Event::RunStarted { input, .. }) => input.clone(),
            _ => Value::Null,
        }
    }

    /// The answers the run was given, in order, with the ids of the questions they
    /// answered (logs from before ids lack them).
    pub(crate) fn answers(&self) -> VecDeque<(Option<String>, Value)> {
        self.log
            .iter()
            .filter_map(|record| match &record.event {
                Event::Resumed { input, id, .. } => Some((id.clone(), input.clone())),
                _ => None,
            })
            .collect()
    }
}

/// One run's recorded replies and results, handed out once each.
#[derive(Debug, Default)]
struct Playback {
    replies: Mutex<HashMap<ReplyKey, VecDeque<Event>>>,
    results: Mutex<HashMap<ToolKey, VecDeque<ToolOutcome>>>,
    verdicts: Mutex<HashMap<VerdictKey, VecDeque<weft_core::GuardOutcome>>>,
    children: HashMap<(StepKey, Option<u32>), Arc<Playback>>,
}

impl Playback {
    fn of(recorded: &RecordedRun) -> Self {
        let steps = step_keys(&recorded.log);
        let key = |step: &u64| steps.get(step).cloned().unwrap_or_default();
        let mut replies: HashMap<ReplyKey, VecDeque<Event>> = HashMap::new();
        let mut results: HashMap<ToolKey, VecDeque<ToolOutcome>> = HashMap::new();
        let mut verdicts: HashMap<VerdictKey, VecDeque<weft_core::GuardOutcome>> = HashMap::new();
        for record in &recorded.log {
            match &record.event {
                Event::ModelReplied {
                    step, branch, turn, ..
                }
                | Event::ModelFailed {
                    step, branch, turn, ..
                } => replies
                    .entry((key(step), *branch, *turn))
                    .or_default()
                    .push_back(record.event.clone()),
                Event::ToolCallFinished {
                    step,
                    branch,
                    turn,
                    index,
                    outcome,
                } => results
                    .entry((key(step), *branch, *turn, *index))
                    .or_default()
                    .push_back(outcome.clone()),
                Event::GuardChecked(checked) => verdicts
                    .entry((key(&checked.step), checked.branch, checked.check))
                    .or_default()
                    .push_back(checked.outcome.clone()),
                _ => {}
            }
        }
        Self {
            replies: Mutex::new(replies),
            results: Mutex::new(results),
            verdicts: Mutex::new(verdicts),
            children: recorded
                .children
                .iter()
                .map(|((step, branch), child)| ((key(step), *branch), Arc::new(Self::of(child))))
                .collect(),
        }
    }
}

/// Each step of a log by its number: its node, and how many times that node had started.
fn step_keys(log: &[EventRecord]) -> HashMap<u64, StepKey> {
    let mut starts: HashMap<&str, u64> = HashMap::new();
    let mut keys = HashMap::new();
    for record in log {
        if let Event::StepStarted { step, node, .. } = &record.event {
            let visit = starts.entry(node.as_str()).or_default();
            *visit += 1;
            keys.insert(*step, (node.clone(), *visit));
        }
    }
    keys
}

/// The runtime's side of a replay: where each replayed run's recording is, and what each
/// model call was asked.
#[derive(Debug)]
pub(crate) struct Replay {
    top: Arc<Playback>,
    runs: Mutex<HashMap<RunId, (Place, Arc<Playback>)>>,
    requests: Mutex<HashMap<(Place, CallKey), VecDeque<Value>>>,
}

impl Replay {
    pub(crate) fn new(recorded: &RecordedRun) -> Self {
        Self {
            top: Arc::new(Playback::of(recorded)),
            runs: Mutex::default(),
            requests: Mutex::default(),
        }
    }

    /// A run's place and recording; a run that is no sub-workflow's is the replayed run.
    fn run(&self, run: RunId) -> (Place, Arc<Playback>) {
        let runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        runs.get(&run)
            .cloned()
            .unwrap_or_else(|| (Place::new(), self.top.clone()))
    }

    /// A sub-workflow run started at `step` (known as `key`)/`branch` of `parent`: its
    /// recording is the one the original run started there (none: every call it makes is
    /// new).
    pub(crate) fn adopt(
        &self,
        parent: RunId,
        (step, key): (u64, StepKey),
        branch: Option<u32>,
        child: RunId,
    ) {
        let (mut place, playback) = self.run(parent);
        let recording = playback
            .children
            .get(&(key, branch))
            .cloned()
            .unwrap_or_default();
        place.push((step, branch));
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(child, (place, recording));
    }

    /// A model call of the step known as `step` answered from the recording, and what it
    /// asked kept for comparison.
    pub(crate) fn model(&self, run: RunId, step: StepKey, call: ModelCall) -> Event {
        let (place, playback) = self.run(run);
        let key = (call.step, call.branch, call.turn);
        let asked = serde_json::json!({
            "messages": call.request.messages,
            "tools": call.tool_names,
            "output_schema": call.request.output_schema,
            "tool_choice": call.request.tool_choice,
            "model": call.model,
        });
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((place, key))
            .or_default()
            .push_back(asked);
        let recorded = playback
            .replies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&(step, call.branch, call.turn))
            .and_then(VecDeque::pop_front)
            .map(|event| renumbered(event, call.step));
        recorded.unwrap_or_else(|| Event::ModelFailed {
            step: call.step,
            branch: call.branch,
            turn: call.turn,
            error: StepError::new(
                ErrorKind::InvalidInput,
                "replay: the original run made no model call here",
            ),
        })
    }

    /// A tool call of the step known as `step` answered from the recording.
    pub(crate) fn tool(&self, run: RunId, step: StepKey, command: &ToolCallCommand) -> Event {
        let (_, playback) = self.run(run);
        let key = (step, command.branch, command.turn, command.index);
        let outcome = playback
            .results
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&key)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| ToolOutcome::Error {
                error: StepError::new(
                    ErrorKind::InvalidInput,
                    "replay: the original run has no result for this call",
                ),
            });
        Event::ToolCallFinished {
            step: command.step,
            branch: command.branch,
            turn: command.turn,
            index: command.index,
            outcome,
        }
    }

    /// A guard's verdict on a text of the step known as `step`, from the recording.
    pub(crate) fn guard(&self, run: RunId, step: StepKey, call: weft_workflow::GuardCall) -> Event {
        let (_, playback) = self.run(run);
        let outcome = playback
            .verdicts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&(step, call.branch, call.check))
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| weft_core::GuardOutcome::Error {
                error: StepError::new(
                    ErrorKind::InvalidInput,
                    "replay: the original run has no verdict for this text",
                ),
            });
        Event::GuardChecked(Box::new(weft_core::GuardChecked {
            step: call.step,
            branch: call.branch,
            check: call.check,
            guard: call.guard,
            outcome,
        }))
    }

    /// What the model calls asked, by place and key, in the order asked.
    pub(crate) fn take_requests(&self) -> HashMap<(Place, CallKey), VecDeque<Value>> {
        std::mem::take(&mut *self.requests.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A recorded reply, for the step numbered `step` in the replay.
fn renumbered(mut event: Event, step: u64) -> Event {
    if let Event::ModelReplied { step: number, .. } | Event::ModelFailed { step: number, .. } =
        &mut event
    {
        *number = step;
    }
    event
}
