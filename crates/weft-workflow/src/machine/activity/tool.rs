//! The `tool` activity: one tool call with rendered arguments; its output is the output.

use crate::expression::{Expressions, Scope};
use crate::machine::activity::gate::{Gate, Release};
use crate::machine::activity::shared::{Progress, call_id, idempotency_key, render_error};
use crate::machine::command::{Command, ToolCallCommand};
use crate::machine::effect::{EffectKey, InFlight, Place};
use crate::workflow::ToolBody;
use serde_json::Value;
use weft_core::{Event, GuardCheck, GuardPoint, GuardTurn, StepError, ToolCall, ToolOutcome};

/// The check of a `tool` node's result.
const RESULT: GuardCheck = GuardCheck {
    point: GuardPoint::ToolResults,
    turn: 0,
    index: 0,
};

/// Where a `tool` activity stands.
#[derive(Debug, Clone)]
pub(crate) struct ToolState {
    call: ToolCall,
    timeout: Option<std::time::Duration>,
    /// Whether the call's start is recorded (it is recorded once, before it first runs).
    started: bool,
    result: Option<Result<Value, StepError>>,
    /// The output, while a guard judges it.
    held: Option<Value>,
    /// The texts of this activity that guards judge.
    pub(super) gate: Gate,
}

impl ToolState {
    /// Renders the arguments into the call.
    pub(super) fn start(
        expressions: &Expressions,
        body: &ToolBody,
        scope: &Scope,
        place: Place,
    ) -> Result<Self, StepError> {
        let arguments = expressions
            .render_value(&body.arguments, scope)
            .map_err(|error| render_error("`arguments`", error))?;
        Ok(Self {
            call: ToolCall::new(call_id(place, 0, 0), body.tool.clone(), arguments),
            timeout: body.tool_timeout,
            started: false,
            result: None,
            held: None,
            gate: Gate::new(body.guards.clone()),
        })
    }

    /// What the activity has come to.
    pub(super) fn progress(&self) -> Progress<'_> {
        Progress::of(&self.result, |_| None)
    }

    /// The call, unless it runs or ran; recorded as started the first time.
    pub(super) fn commands(
        &mut self,
        place: Place,
        in_flight: &mut InFlight,
        events: &mut Vec<Event>,
        commands: &mut Vec<Command>,
    ) {
        self.gate.commands(place, in_flight, events, commands);
        let key = EffectKey::tool(place, 0, 0);
        if self.result.is_some() || self.held.is_some() || !in_flight.insert(key) {
            return;
        }
        if !self.started {
            self.started = true;
            events.push(Event::ToolCallStarted {
                step: place.step,
                branch: place.branch,
                turn: 0,
                index: 0,
                call: self.call.clone(),
            });
        }
        commands.push(Command::CallTool(ToolCallCommand {
            step: place.step,
            branch: place.branch,
            turn: 0,
            index: 0,
            call: self.call.clone(),
            idempotency_key: idempotency_key(place, 0, 0),
            timeout: self.timeout,
        }));
    }

    /// Records that the call started (or, with `false`, counts it as not started).
    pub(super) fn set_started(&mut self, started: bool) {
        self.started = started;
    }

    /// Takes the call's outcome: its output (held while a guard judges it), or a failure
    /// naming the tool.
    pub(super) fn on_finished(&mut self, outcome: &ToolOutcome) {
        self.result = Some(match outcome {
            ToolOutcome::Ok { output } => {
                if self.gate.guards(GuardPoint::ToolResults) {
                    let about = format!("the result of `{}`", self.call.name);
                    let text = vec![GuardTurn::user(super::shared::text_of(output))];
                    self.gate.hold(RESULT, about, text);
                    self.held = Some(output.clone());
                    return;
                }
                Ok(output.clone())
            }
            ToolOutcome::Error { error } => Err(StepError::new(
                error.kind,
                format!("tool `{}` failed: {}", self.call.name, error.message),
            )),
        });
    }

    /// Fails the activity.
    pub(super) fn fail(&mut self, error: StepError) {
        self.result = Some(Err(error));
    }

    /// Applies a guard's ruling on the result.
    pub(super) fn on_release(&mut self, release: Release) {
        let Some(output) = self.held.take() else {
            return;
        };
        self.result = Some(match release {
            Release::Pass => Ok(output),
            Release::Redact(marker) => Ok(Value::String(marker)),
            Release::Block(error) => Err(error),
        });
    }
}
