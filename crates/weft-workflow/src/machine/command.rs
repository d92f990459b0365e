//! What the machine hands its driver: a [`Decision`] of events to record and [`Command`]s,
//! the effects to perform (call a model, call a tool, start or resume a child run).

use crate::workflow::Workflow;
use serde_json::Value;
use std::sync::Arc;
use weft_core::{ChatRequest, Event, RunId, ToolCall};

/// What the machine decided after an event: events to record (already applied to the
/// machine) and effects to perform.
#[derive(Debug, Default)]
pub struct Decision {
    /// Events to append to the run's log, in order.
    pub events: Vec<Event>,
    /// Effects to perform; each one's result comes back as an event.
    pub commands: Vec<Command>,
}

/// An effect for the driver.
#[derive(Debug, Clone)]
pub enum Command {
    /// Call a model; answer with `ModelReplied` or `ModelFailed`.
    CallModel(ModelCall),
    /// Call a tool; answer with `ToolCallFinished`.
    CallTool(ToolCallCommand),
    /// Start (or, with `run` set, continue) a child run; answer with `ChildStarted`, then
    /// `ChildFinished`, `ChildFailed` or `ChildInterrupted`.
    StartChild(ChildRun),
    /// Give a waiting child run its answer; then answer as for `StartChild`.
    ResumeChild(ChildAnswer),
    /// Ask a guard to judge a text; answer with `GuardChecked`.
    CheckGuard(GuardCall),
}

/// A text for a guard to judge.
#[derive(Debug, Clone)]
pub struct GuardCall {
    /// The step.
    pub step: u64,
    /// The map branch.
    pub branch: Option<u32>,
    /// Which text of the step.
    pub check: weft_core::GuardCheck,
    /// The guard, as the workflow names it.
    pub guard: String,
    /// What it judges.
    pub request: weft_core::GuardRequest,
}

/// A model call to make.
#[derive(Debug, Clone)]
pub struct ModelCall {
    /// The step.
    pub step: u64,
    /// The map branch.
    pub branch: Option<u32>,
    /// Which call of the step.
    pub turn: u32,
    /// The model name or spec; `None` for the default model.
    pub model: Option<String>,
    /// The tools to offer; the driver fills in their specs.
    pub tool_names: Vec<String>,
    /// The request, without tool specs. Boxed: a call moves from the machine's activity
    /// through its decision to the driver's effect, and a request is large.
    pub request: Box<ChatRequest>,
    /// The session whose history the call sees (the run's, for a node that remembers).
    pub session: Option<weft_core::SessionId>,
    /// The workflow's memory settings: how the context is fitted to the window.
    pub memory: Arc<crate::memory::MemorySettings>,
    /// A guard judges the answer before it is used: its text is not shown as it streams.
    pub hold_text: bool,
    /// The node's `retrieved` rule: the driver has each archival snippet the call is given
    /// judged, and applies the rule (`GuardRule::rule`) to the verdict.
    pub retrieved: Option<Arc<crate::guards::GuardRule>>,
}

/// A tool call to make.
#[derive(Debug, Clone)]
pub struct ToolCallCommand {
    /// The step.
    pub step: u64,
    /// The map branch.
    pub branch: Option<u32>,
    /// The model call that asked for it.
    pub turn: u32,
    /// Its position among that reply's calls.
    pub index: u32,
    /// The call.
    pub call: ToolCall,
    /// The same on every attempt of this call.
    pub idempotency_key: String,
    /// How long it may take, when its node says.
    pub timeout: Option<std::time::Duration>,
}

/// A child run to start or continue.
#[derive(Debug, Clone)]
pub struct ChildRun {
    /// The step.
    pub step: u64,
    /// The map branch.
    pub branch: Option<u32>,
    /// The child run, when it exists already (after a resume from the log).
    pub run: Option<RunId>,
    /// The child's workflow.
    pub workflow: Arc<Workflow>,
    /// The child's input.
    pub input: Value,
}

/// An answer for a waiting child run.
#[derive(Debug, Clone)]
pub struct ChildAnswer {
    /// The step.
    pub step: u64,
    /// The map branch.
    pub branch: Option<u32>,
    /// The child run.
    pub run: Option<RunId>,
    /// The answer.
    pub input: Value,
    /// The id of the child's question it answers (`None`: the child's only one).
    pub question: Option<String>,
}
