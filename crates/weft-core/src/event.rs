//! The events of a run's log. A run's state is the fold of its events; nothing about a run
//! is known that its log does not say.

use crate::error::StepError;
use crate::guard::{GuardChecked, GuardFinding};
use crate::ids::RunId;
use crate::message::Message;
use crate::message::ToolCall;
use crate::model::ModelReply;
use crate::session::{ContextReport, NewSummary, SessionRef};
use crate::state::StateDelta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a child run (a sub-workflow) hangs in its parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParentLink {
    /// The parent run.
    pub run: RunId,
    /// The parent's step that started the child.
    pub step: u64,
    /// The map branch, when the child runs inside a map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<u32>,
}

/// The branch of a `parallel` step that a step runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Within {
    /// The `parallel` step.
    pub step: u64,
    /// The branch, counted from 0 in the order the node lists them.
    pub branch: u32,
}

/// Where a forked run branched off: it holds the original's events before that step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForkPoint {
    /// The original run.
    pub run: RunId,
    /// The step the fork runs again.
    pub step: u64,
}

/// The result of a tool call as recorded in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ToolOutcome {
    /// The tool returned this output.
    Ok {
        /// The tool's output.
        output: Value,
    },
    /// The tool failed.
    Error {
        /// Why.
        error: StepError,
    },
}

/// A tool call that started and never finished (the process stopped while it ran), whose
/// tool is not idempotent: running it again might do its effect twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsettledCall {
    /// The run that made the call: this run, or a sub-workflow run below it.
    pub run: RunId,
    /// The step.
    pub step: u64,
    /// The map branch, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<u32>,
    /// The model call that asked for it (0 for a `tool` node).
    pub turn: u32,
    /// Its place among that reply's calls.
    pub index: u32,
    /// The tool.
    pub tool: String,
    /// The key the tool was called with.
    pub idempotency_key: String,
}

impl UnsettledCall {
    /// One line naming the call, for people.
    pub fn describe(&self) -> String {
        format!(
            "tool `{}` (call {}) started and did not finish; it is not idempotent, so it was not run again",
            self.tool, self.idempotency_key
        )
    }
}

/// The sub-workflow run through which a run waits on attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildPlace {
    /// The parent's step.
    pub step: u64,
    /// The map branch, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<u32>,
    /// The child run.
    pub run: RunId,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for a daemon's worker to take it (a run a daemon started that no worker has
    /// claimed yet). Its log says it runs; no process does yet.
    Queued,
    /// Steps are still being executed.
    Running,
    /// Waiting for a person's input (a `human` node).
    Interrupted,
    /// Finished with an output.
    Finished,
    /// Failed with an error.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
    /// Stopped after a restart: a tool call that is not idempotent started and did not
    /// finish, and a person must say whether to run it again (`weft resume --retry`) or fail
    /// the run (`weft runs fail`).
    NeedsAttention,
}

/// A run status that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown run status `{0}`; expected queued, running, interrupted, finished, failed, cancelled or needs_attention"
)]
pub struct UnknownStatus(pub String);

impl std::str::FromStr for RunStatus {
    type Err = UnknownStatus;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "queued" => Ok(Self::Queued),
            "running" => Ok(Self::Running),
            "interrupted" => Ok(Self::Interrupted),
            "finished" => Ok(Self::Finished),
            "failed" => Ok(Self::Failed),
            "cancelled" => Ok(Self::Cancelled),
            "needs_attention" => Ok(Self::NeedsAttention),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

impl RunStatus {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Interrupted => "interrupted",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::NeedsAttention => "needs_attention",
        }
    }
}

/// Whether a run's setup names no workflow files (a log from before runs kept them).
fn no_files(files: &std::sync::Arc<std::collections::BTreeMap<String, String>>) -> bool {
    files.is_empty()
}

/// What a front end set a run up with, so that resuming it elsewhere (another folder,
/// another process) behaves as the first process did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSetup {
    /// The folder the run works in: the file tools' workspace, its `tools/` manifests and
    /// its `weft.toml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// The settings file it read, when it read one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<String>,
    /// The model that replaced the workflow's own (`--model`), its relative paths made
    /// absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Models that replaced nodes' own (`--node-model NODE=SPEC`), by node.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub node_models: std::collections::BTreeMap<String, String>,
    /// The workflow's files as the run started: the SHA-256 of each file's text, by its
    /// path from the workflow's folder. The store keeps the texts under these hashes, so the
    /// run goes on with them whatever happens to the files. Empty in logs from before.
    /// Shared: every run started from one workflow records the same files.
    #[serde(default, skip_serializing_if = "no_files")]
    pub workflow_files: std::sync::Arc<std::collections::BTreeMap<String, String>>,
    /// The tenant the run belongs to (a daemon's caller); none: the default tenant, or its
    /// parent's for a sub-workflow's run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Whether a daemon's workers run it: the store queues it for them, and any daemon on
    /// the database may take it up when the one running it stops.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub served: bool,
}

/// The kind of a workflow node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A model <-> tools loop.
    Agent,
    /// One model call.
    Llm,
    /// One tool call.
    Tool,
    /// Writes and routing only.
    Router,
    /// A branch per item of a list.
    Map,
    /// A sub-workflow, as a child run.
    Workflow,
    /// A question to a person.
    Human,
    /// The end.
    End,
    /// Branches of nodes that run at the same time, and wait for one another at a join.
    Parallel,
}

impl NodeKind {
    /// The name workflow files use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Llm => "llm",
            Self::Tool => "tool",
            Self::Router => "router",
            Self::Map => "map",
            Self::Workflow => "workflow",
            Self::Human => "human",
            Self::End => "end",
            Self::Parallel => "parallel",
        }
    }
}

impl std::fmt::Display for NodeKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The model that answered a call: how the run reached it, and what it calls itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnsweredBy {
    /// The model spec or weft.toml name the call was made with (`scripted:replies.yaml`,
    /// `openai:http://...#meta-llama/Llama-3.1-8B-Instruct`, `llama`).
    pub spec: String,
    /// The model's own name, as its backend gives it, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// One fact in a run's log. Rare, large fields are boxed: every event of a run moves
/// through the machine, the driver and the store, so the enum's size is paid per event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The run began with this input.
    RunStarted {
        /// The workflow's name.
        workflow: String,
        /// The workflow file, so the run can be resumed from its log alone.
        #[serde(default)]
        source: String,
        /// The run's input.
        input: Value,
        /// The parent, for a sub-workflow's run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<ParentLink>,
        /// The run and step this run was forked from (`weft runs fork`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forked_from: Option<Box<ForkPoint>>,
        /// What the front end set the run up with (logs from before it lack it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        setup: Option<Box<RunSetup>>,
        /// The session the run speaks in, when it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<Box<SessionRef>>,
    },
    /// A node began to execute.
    StepStarted {
        /// The step number, from 1.
        step: u64,
        /// The node's name.
        node: String,
        /// The node's kind.
        kind: NodeKind,
        /// The branch of a `parallel` step this step runs in; `None` for a step of the run's
        /// own line of steps.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        within: Option<Within>,
    },
    /// A model finished a reply.
    ModelReplied {
        /// The step.
        step: u64,
        /// The map branch, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<u32>,
        /// Which model call of this step (an agent makes several), from 0.
        turn: u32,
        /// The reply.
        reply: ModelReply,
        /// The model that answered (logs from before it lack it: unknown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answered_by: Option<AnsweredBy>,
        /// What the call was given, and how full the window was (logs from before
        /// memory lack it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<Box<ContextReport>>,
    },
    /// A model call failed.
    ModelFailed {
        /// The step.
        step: u64,
        /// The map branch, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<u32>,
        /// Which model call of this step.
        turn: u32,
        /// Why.
        error: StepError,
    },
    /// A tool call is about to run.
    ToolCallStarted {
        /// The step.
        step: u64,
        /// The map branch, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<u32>,
        /// The model call that asked for it.
        turn: u32,
        /// Its position among that reply's calls.
        index: u32,
        /// The call.
        call: ToolCall,
    },
    /// A tool call ended.
    ToolCallFinished {
        /// The step.
        step: u64,
        /// The map branch, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<u32>,
        /// The model call that asked for it.
        turn: u32,
        /// Its position among that reply's calls.
        index: u32,
        /// What came of it.
        outcome: ToolOutcome,
    },
    /// A sub-workflow's run began.
    ChildStarted {
        /// The step.
        step: u64,
        /// The map branch, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<u32>,
        /// The child run.
        run: RunId,
        /// The child's workflow name.
        workflow: String,
    },
    /// A sub-workflow's run finished.
    ChildFinished {
        /// The step.
        step: u64,
        /// The map branch, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<u32>,
        /// The child's output.
        output: Value,
    },
    /// A sub-workflow's run failed.
    ChildFailed {
        /// The step.
        step: u64,
        /// The map branch, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<u32>,
        /// Why.
        error: StepError,
    },
    /// A sub-workflow's run stopped at a `human` node.
    ChildInterrupted {
        /// The step.
        step: u64,
        /// The map branch, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<u32>,
        /// What the child asks.
        question: String,
        /// The schema the answer must match.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input_schema: Option<Value>,
        /// The question's id in the child run (logs from before ids lack it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// The state changed by this delta.
    StateChanged {
        /// The step.
        step: u64,
        /// What changed.
        delta: StateDelta,
    },
    /// A step ended and chose where to go.
    StepFinished {
        /// The step.
        step: u64,
        /// The node.
        node: String,
        /// The next node, or none when the run ends.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// A step failed.
    StepFailed {
        /// The step.
        step: u64,
        /// The node.
        node: String,
        /// Why.
        error: StepError,
    },
    /// The run waits for a person.
    Interrupted {
        /// The step.
        step: u64,
        /// The `human` node (or the sub-workflow node whose child waits).
        node: String,
        /// The question.
        question: String,
        /// The schema the answer must match.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input_schema: Option<Value>,
        /// The question's id: the `human` node's name, or for a sub-workflow's question the
        /// node's name, its map branch in brackets, a slash and the child's id
        /// (`reviews[1]/approve`). Logs from before ids lack it: the node's name stands in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// The run stopped: tool calls that are not idempotent started and did not finish (in
    /// this run, or in the sub-workflow run `child`).
    AttentionNeeded {
        /// The calls.
        calls: Vec<UnsettledCall>,
        /// The child run they belong to, when they are not this run's own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        child: Option<ChildPlace>,
    },
    /// A person chose to run the unsettled calls again; the run goes on.
    Retried {
        /// The calls that will run again.
        calls: Vec<UnsettledCall>,
    },
    /// A waiting run was moved onto its workflow file as it is now (`weft resume
    /// --upgrade`): from here on it is loaded from these texts, not those it started with.
    WorkflowUpgraded {
        /// The workflow's files (its own first, then sub-workflows) by the path written,
        /// each with the hash of the text it now runs on.
        files: std::collections::BTreeMap<String, String>,
    },
    /// A person answered.
    Resumed {
        /// The step that was waiting.
        step: u64,
        /// The answer.
        input: Value,
        /// The id of the question it answers (logs from before ids lack it: they answer
        /// the run's only question).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// The run finished.
    RunFinished {
        /// Its output.
        output: Value,
    },
    /// The run failed.
    RunFailed {
        /// The step that failed, if one did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<u64>,
        /// Why.
        error: StepError,
    },
    /// The run was cancelled.
    RunCancelled {
        /// Why.
        reason: String,
    },
    /// A step's messages join the run's session: its prompt, what the model said and the
    /// tools it called, with their results. The store adds them to the session in the
    /// same transaction.
    Remembered {
        /// The step.
        step: u64,
        /// The map branch, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<u32>,
        /// The messages, in order.
        messages: Vec<Message>,
        /// Their tokens, counted by the runtime with the model that answered the step, so
        /// the store keeps the counts with the messages (logs from before them lack it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        counts: Option<Box<MessageCounts>>,
    },
    /// Compaction summarized a span of the run's session; the store keeps the summary in
    /// the same transaction.
    Compacted {
        /// The summary.
        summary: NewSummary,
    },
    /// A guard judged a text of a step (the result of a guard effect).
    GuardChecked(Box<GuardChecked>),
    /// A verdict blocked a text: the step fails.
    GuardBlocked(Box<GuardFinding>),
    /// A verdict redacted a text: a marker stands in for it.
    GuardRedacted(Box<GuardFinding>),
    /// A verdict flagged a text; the run goes on with it.
    GuardFlagged(Box<GuardFinding>),
}

impl Event {
    /// The event's type name, as in its JSON form.
    pub fn name(&self) -> &'static str {
        match self {
            Self::RunStarted { .. } => "run_started",
            Self::StepStarted { .. } => "step_started",
            Self::ModelReplied { .. } => "model_replied",
            Self::ModelFailed { .. } => "model_failed",
            Self::ToolCallStarted { .. } => "tool_call_started",
            Self::ToolCallFinished { .. } => "tool_call_finished",
            Self::ChildStarted { .. } => "child_started",
            Self::ChildFinished { .. } => "child_finished",
            Self::ChildFailed { .. } => "child_failed",
            Self::ChildInterrupted { .. } => "child_interrupted",
            Self::StateChanged { .. } => "state_changed",
            Self::StepFinished { .. } => "step_finished",
            Self::StepFailed { .. } => "step_failed",
            Self::Interrupted { .. } => "interrupted",
            Self::AttentionNeeded { .. } => "attention_needed",
            Self::Retried { .. } => "retried",
            Self::Resumed { .. } => "resumed",
            Self::RunFinished { .. } => "run_finished",
            Self::RunFailed { .. } => "run_failed",
            Self::RunCancelled { .. } => "run_cancelled",
            Self::Remembered { .. } => "remembered",
            Self::Compacted { .. } => "compacted",
            Self::WorkflowUpgraded { .. } => "workflow_upgraded",
            Self::GuardChecked(_) => "guard_checked",
            Self::GuardBlocked(_) => "guard_blocked",
            Self::GuardRedacted(_) => "guard_redacted",
            Self::GuardFlagged(_) => "guard_flagged",
        }
    }
}

/// The tokens of a `Remembered` event's messages, for one tokenizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounts {
    /// The tokenizer they were counted with ([`crate::TokenCounter::key`]).
    pub tokenizer: String,
    /// One count a message, in the messages' order.
    pub tokens: Vec<u32>,
}

/// An event with its place in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Its sequence number in the run's log, from 1.
    pub sequence: u64,
    /// When it was recorded, in milliseconds since the Unix epoch.
    pub at_millis: u64,
    /// The event.
    pub event: Event,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event moves through the machine, the driver and the store: a large field in
    /// one variant costs every event of every run. Box rare, large fields instead of
    /// raising this.
    #[test]
    fn an_event_stays_small() {
        assert!(
            std::mem::size_of::<Event>() <= 176,
            "Event is {} bytes",
            std::mem::size_of::<Event>()
        );
    }
}
