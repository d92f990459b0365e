//! One unit of work with an output: an `llm` call, an `agent` loop, a `tool` call or a child
//! run. A node runs one; a map node runs one per item. Each activity is a small state
//! machine: it says which effects it needs and takes their results.
//!
//! One file per kind (`llm.rs`, `agent.rs`, `tool.rs`, `child.rs`), what they share in
//! `shared.rs`, the texts their guards hold back in `gate.rs`; this file holds
//! [`ActivityState`], which hands each call to its kind.

mod agent;
mod child;
mod gate;
mod llm;
mod shared;
mod tool;

pub(crate) use gate::{
    ANSWERS as GUARD_ANSWERS, FindingKind, GuardQuestion, check_answer as check_guard_answer,
};
pub(crate) use shared::{ChildQuestion, ChildUpdate, Progress};

use crate::error::ActivityMismatch;
use crate::expression::Scope;
use crate::machine::command::Command;
use crate::machine::effect::{InFlight, Place};
use crate::workflow::{Activity, OutputSchema, Workflow};
use agent::AgentState;
use child::ChildState;
use gate::Gate;
use llm::LlmState;
use serde_json::Value;
use tool::ToolState;
use weft_core::{
    Event, GuardCheck, GuardOutcome, Message, ModelReply, RunId, SessionId, StepError, ToolOutcome,
};

/// Where one activity stands.
#[derive(Debug, Clone)]
pub(crate) enum ActivityState {
    Llm(LlmState),
    Agent(AgentState),
    Tool(ToolState),
    Child(ChildState),
}

impl ActivityState {
    /// Renders the activity's templates against `scope` and prepares its first effect.
    /// Boxed at once: the states are large, and a step keeps its activity boxed.
    pub(crate) fn start(
        workflow: &Workflow,
        activity: &Activity,
        scope: &Scope,
        place: Place,
        session: Option<SessionId>,
    ) -> Result<Box<Self>, StepError> {
        let expressions = &workflow.expressions;
        Ok(Box::new(match activity {
            Activity::Llm(body) => {
                let session = session.filter(|_| body.remembers);
                Self::Llm(LlmState::start(workflow, body, scope, session)?)
            }
            Activity::Agent(body) => {
                let session = session.filter(|_| body.remembers);
                Self::Agent(AgentState::start(workflow, body, scope, session)?)
            }
            Activity::Tool(body) => Self::Tool(ToolState::start(expressions, body, scope, place)?),
            Activity::Workflow(body) => Self::Child(ChildState::start(expressions, body, scope)?),
        }))
    }

    /// What the activity has come to.
    pub(crate) fn progress(&self) -> Progress<'_> {
        match self {
            Self::Llm(state) => state.progress(),
            Self::Agent(state) => state.progress(),
            Self::Tool(state) => state.progress(),
            Self::Child(state) => state.progress(),
        }
    }

    /// The effects this activity needs that are not yet running; `in_flight` is updated.
    /// Tool calls not yet recorded as started also give their `ToolCallStarted` event.
    pub(crate) fn commands(
        &mut self,
        place: Place,
        in_flight: &mut InFlight,
        events: &mut Vec<Event>,
        commands: &mut Vec<Command>,
    ) {
        match self {
            Self::Llm(state) => state.commands(place, in_flight, events, commands),
            Self::Agent(state) => state.commands(place, in_flight, events, commands),
            Self::Tool(state) => state.commands(place, in_flight, events, commands),
            Self::Child(state) => state.commands(place, in_flight, commands),
        }
    }

    /// Takes a model's reply.
    pub(crate) fn on_model_reply(
        &mut self,
        place: Place,
        turn: u32,
        reply: &ModelReply,
        output_schema: Option<&OutputSchema>,
    ) -> Result<(), ActivityMismatch> {
        match self {
            Self::Llm(state) => {
                state.on_reply(reply, output_schema);
                Ok(())
            }
            Self::Agent(state) => state.on_reply(place, turn, reply),
            Self::Tool(_) | Self::Child(_) => Err(ActivityMismatch::CallsNoModel),
        }
    }

    /// Takes a tool call's start.
    pub(crate) fn on_tool_started(&mut self, turn: u32, index: u32) {
        self.set_started(turn, index, true);
    }

    /// Counts a started call as not started, so it is recorded again before it runs.
    pub(crate) fn forget_start(&mut self, turn: u32, index: u32) {
        self.set_started(turn, index, false);
    }

    fn set_started(&mut self, turn: u32, index: u32, started: bool) {
        match self {
            Self::Agent(state) => state.set_started(turn, index, started),
            Self::Tool(state) => state.set_started(started),
            Self::Llm(_) | Self::Child(_) => {}
        }
    }

    /// Takes a tool call's outcome.
    pub(crate) fn on_tool_finished(
        &mut self,
        turn: u32,
        index: u32,
        outcome: &ToolOutcome,
    ) -> Result<(), ActivityMismatch> {
        match self {
            Self::Tool(state) => {
                state.on_finished(outcome);
                Ok(())
            }
            Self::Agent(state) => state.on_tool_finished(turn, index, outcome),
            Self::Llm(_) | Self::Child(_) => Err(ActivityMismatch::CallsNoTools),
        }
    }

    /// Fails the activity (a model or child failure).
    pub(crate) fn fail(&mut self, error: StepError) {
        match self {
            Self::Llm(state) => state.fail(error),
            Self::Tool(state) => state.fail(error),
            Self::Child(state) => state.fail(error),
            Self::Agent(state) => state.fail(error),
        }
    }

    /// Takes a child run's id, output or question.
    pub(crate) fn on_child(&mut self, update: ChildUpdate<'_>) -> Result<(), ActivityMismatch> {
        match self {
            Self::Child(state) => {
                state.on_update(update);
                Ok(())
            }
            Self::Llm(_) | Self::Agent(_) | Self::Tool(_) => Err(ActivityMismatch::StartsNoChild),
        }
    }

    /// The messages a finished model activity adds to the run's session: its prompt
    /// (without the system prompt), what the model said and the tools it called, with
    /// their results. `None` for an activity that does not speak in a session.
    pub(crate) fn transcript(&self) -> Option<Vec<Message>> {
        match self {
            Self::Llm(state) => state.transcript(),
            Self::Agent(state) => state.transcript(),
            Self::Tool(_) | Self::Child(_) => None,
        }
    }

    /// The activity's guards; a child run's texts are guarded in the child.
    fn gate_mut(&mut self) -> Result<&mut Gate, ActivityMismatch> {
        match self {
            Self::Llm(state) => Ok(&mut state.gate),
            Self::Agent(state) => Ok(&mut state.gate),
            Self::Tool(state) => Ok(&mut state.gate),
            Self::Child(_) => Err(ActivityMismatch::NothingGuarded("a sub-workflow")),
        }
    }

    /// Hands a guard's ruling on the text at `check` to the activity.
    fn on_release(&mut self, check: GuardCheck, release: gate::Release) {
        match self {
            Self::Llm(state) => state.on_release(check, release),
            Self::Agent(state) => state.on_release(check, release),
            Self::Tool(state) => state.on_release(release),
            Self::Child(_) => {}
        }
    }

    /// Takes a guard's verdict on the text at `check`.
    pub(crate) fn on_guard_checked(
        &mut self,
        place: Place,
        check: GuardCheck,
        outcome: &GuardOutcome,
    ) -> Result<(), ActivityMismatch> {
        if let Some(release) = self.gate_mut()?.on_checked(place, check, outcome)? {
            self.on_release(check, release);
        }
        Ok(())
    }

    /// Takes a person's answer to a guard's question about the text at `check`.
    pub(crate) fn on_guard_answer(
        &mut self,
        check: GuardCheck,
        input: &Value,
    ) -> Result<(), ActivityMismatch> {
        let release = self.gate_mut()?.on_answer(check, input)?;
        self.on_release(check, release);
        Ok(())
    }

    /// Folds a recorded finding (`GuardBlocked`, `GuardRedacted`, `GuardFlagged`).
    pub(crate) fn on_guard_recorded(
        &mut self,
        kind: FindingKind,
        check: GuardCheck,
    ) -> Result<(), ActivityMismatch> {
        self.gate_mut()?.on_recorded(kind, check);
        Ok(())
    }

    /// The questions of the activity's `ask` guards.
    pub(crate) fn guard_questions(&self) -> Vec<GuardQuestion> {
        let gate = match self {
            Self::Llm(state) => &state.gate,
            Self::Agent(state) => &state.gate,
            Self::Tool(state) => &state.gate,
            Self::Child(_) => return Vec::new(),
        };
        gate.questions().collect()
    }

    /// The child run, for a child activity that started one.
    pub(crate) fn child_run(&self) -> Option<RunId> {
        match self {
            Self::Child(state) => state.run(),
            Self::Llm(_) | Self::Agent(_) | Self::Tool(_) => None,
        }
    }
}
