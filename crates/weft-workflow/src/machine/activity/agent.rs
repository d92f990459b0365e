//! The `agent` activity: a model <-> tools loop. Each turn the model is called with the
//! conversation so far; a reply with tool calls runs them (at most `max_parallel_tools` at
//! once) and sends their results back in call order; a reply without any is the output.

use crate::error::ActivityMismatch;
use crate::expression::Scope;
use crate::machine::activity::gate::{Gate, Release, USER_MESSAGE as INPUT};
use crate::machine::activity::shared::{
    Progress, call_id, idempotency_key, render_prompt, without_system,
};
use crate::machine::command::{Command, ModelCall, ToolCallCommand};
use crate::machine::effect::{EffectKey, InFlight, Place};
use crate::memory::MemorySettings;
use crate::workflow::{AgentBody, Workflow};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use weft_core::{
    ChatRequest, ErrorKind, Event, GuardCheck, GuardPoint, GuardTurn, Message, ModelReply,
    SessionId, StepError, ToolCall, ToolChoice, ToolOutcome,
};

/// Where an `agent` activity stands.
#[derive(Debug, Clone)]
pub(crate) struct AgentState {
    messages: Vec<Message>,
    /// The request each turn's call starts from (its settings; boxed, as each call's is).
    request: Box<ChatRequest>,
    tool_names: Vec<String>,
    model: Option<String>,
    max_turns: u32,
    turn: u32,
    max_tool_errors: u32,
    /// Failed tool calls so far in this step.
    tool_errors: u32,
    tool_timeout: Option<std::time::Duration>,
    max_parallel_tools: usize,
    /// The node's `tool_choice`: it holds for the first reply (`none`: for every one).
    tool_choice: ToolChoice,
    /// Tool calls of the current turn with their outcomes, in call order.
    calls: Vec<(ToolCall, Option<ToolOutcome>)>,
    started: HashSet<u32>,
    /// `(in-flight generation, turn)` once every call of that turn was issued: until the
    /// in-flight set is cleared, there is nothing more to start for the turn.
    all_issued: Option<(u64, u32)>,
    waiting_for_model: bool,
    /// The final reply, as a JSON string.
    result: Option<Result<Value, StepError>>,
    /// The session the calls read and add to.
    session: Option<SessionId>,
    memory: Arc<MemorySettings>,
    /// The user message, which a guard reads with the final answer.
    user_text: String,
    /// The final answer, while a guard judges it.
    held: Option<String>,
    /// The texts of this activity that guards judge.
    pub(super) gate: Gate,
}

impl AgentState {
    /// Renders the prompt; the first turn waits for the model.
    pub(super) fn start(
        workflow: &Workflow,
        body: &AgentBody,
        scope: &Scope,
        session: Option<SessionId>,
    ) -> Result<Self, StepError> {
        let messages = render_prompt(&workflow.expressions, &body.prompt, scope)?;
        let mut gate = Gate::new(body.guards.clone());
        let user_text = gate.hold_user_message(&messages);
        Ok(Self {
            user_text,
            held: None,
            gate,
            session,
            memory: workflow.memory.clone(),
            messages,
            request: Box::new(ChatRequest {
                messages: Vec::new(),
                tools: Vec::new(),
                sampling: body.sampling.clone(),
                ..ChatRequest::default()
            }),
            tool_names: body.tools.clone(),
            model: body.model.clone().or_else(|| workflow.model.clone()),
            max_turns: body.max_turns,
            turn: 0,
            max_tool_errors: body.max_tool_errors,
            tool_errors: 0,
            tool_timeout: body.tool_timeout,
            max_parallel_tools: body.max_parallel_tools.map_or(usize::MAX, |limit| {
                usize::try_from(limit).unwrap_or(usize::MAX)
            }),
            tool_choice: body.tool_choice.clone(),
            calls: Vec::new(),
            started: HashSet::new(),
            all_issued: None,
            waiting_for_model: true,
            result: None,
        })
    }

    /// What the activity has come to.
    pub(super) fn progress(&self) -> Progress<'_> {
        Progress::of(&self.result, Value::as_str)
    }

    /// The model call of this turn, or the turn's tool calls that may start now.
    pub(super) fn commands(
        &mut self,
        place: Place,
        in_flight: &mut InFlight,
        events: &mut Vec<Event>,
        commands: &mut Vec<Command>,
    ) {
        self.gate.commands(place, in_flight, events, commands);
        if self.result.is_some() || self.held.is_some() {
            return;
        }
        if self.gate.guards(GuardPoint::Input) && self.gate.release(INPUT).is_none() {
            return;
        }
        if self.waiting_for_model {
            self.call_model(place, in_flight, commands);
        } else {
            self.start_tool_calls(place, in_flight, events, commands);
        }
    }

    /// The model call of this turn, with the conversation so far, unless it runs.
    fn call_model(&self, place: Place, in_flight: &mut InFlight, commands: &mut Vec<Command>) {
        let key = EffectKey::model(place, self.turn);
        if in_flight.insert(key) {
            let mut request = self.request.clone();
            request.messages = self.messages.clone();
            request.tool_choice = self.choice_now();
            let tool_names = if request.tool_choice == ToolChoice::None {
                Vec::new()
            } else {
                self.tool_names.clone()
            };
            commands.push(Command::CallModel(ModelCall {
                step: place.step,
                branch: place.branch,
                turn: self.turn,
                model: self.model.clone(),
                tool_names,
                request,
                session: self.session,
                memory: self.memory.clone(),
                hold_text: self.gate.guards(GuardPoint::Output),
                retrieved: self.gate.rule(GuardPoint::Retrieved),
            }));
        }
    }

    /// Starts the turn's unfinished tool calls that are not running, as far as
    /// `max_parallel_tools` allows; each is recorded as started the first time.
    fn start_tool_calls(
        &mut self,
        place: Place,
        in_flight: &mut InFlight,
        events: &mut Vec<Event>,
        commands: &mut Vec<Command>,
    ) {
        // At most `max_parallel_tools` of this reply's calls run at once; the next one
        // starts when one finishes. This runs after every result: once all of the turn's
        // calls are out, it returns at once.
        let issued = (in_flight.generation(), self.turn);
        if self.all_issued == Some(issued) {
            return;
        }
        let mut unfinished = 0usize;
        let mut waiting = Vec::new();
        for (index, (_, outcome)) in self.calls.iter().enumerate() {
            if outcome.is_some() {
                continue;
            }
            unfinished += 1;
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            if !in_flight.contains(&EffectKey::tool(place, self.turn, index)) {
                waiting.push(index);
            }
        }
        let running = unfinished - waiting.len();
        if unfinished <= self.max_parallel_tools {
            self.all_issued = Some(issued);
        }
        let free = self.max_parallel_tools.saturating_sub(running);
        events.reserve(free.min(waiting.len()));
        commands.reserve(free.min(waiting.len()));
        for index in waiting.into_iter().take(free) {
            let Some((call, _)) = usize::try_from(index)
                .ok()
                .and_then(|slot| self.calls.get(slot))
            else {
                break;
            };
            let key = EffectKey::tool(place, self.turn, index);
            in_flight.insert(key);
            if self.started.insert(index) {
                events.push(Event::ToolCallStarted {
                    step: place.step,
                    branch: place.branch,
                    turn: self.turn,
                    index,
                    call: call.clone(),
                });
            }
            commands.push(Command::CallTool(ToolCallCommand {
                step: place.step,
                branch: place.branch,
                turn: self.turn,
                index,
                call: call.clone(),
                idempotency_key: idempotency_key(place, self.turn, index),
                timeout: self.tool_timeout,
            }));
        }
    }

    /// Takes the model's reply for `turn`: its tool calls (given ids where they have none)
    /// to run, or, without any, the output.
    pub(super) fn on_reply(
        &mut self,
        place: Place,
        turn: u32,
        reply: &ModelReply,
    ) -> Result<(), ActivityMismatch> {
        if turn != self.turn || !self.waiting_for_model {
            return Err(ActivityMismatch::ReplyForOtherTurn {
                turn,
                current: self.turn,
            });
        }
        let mut calls = reply.tool_calls.clone();
        for (index, call) in calls.iter_mut().enumerate() {
            if call.id.is_empty() {
                call.id = call_id(place, turn, u32::try_from(index).unwrap_or(u32::MAX));
            }
        }
        self.messages
            .push(Message::assistant(reply.text.clone(), calls.clone()));
        self.waiting_for_model = false;
        if let Some(problem) = self.unfit_reply(&calls) {
            self.result = Some(Err(StepError::new(ErrorKind::InvalidInput, problem)));
        } else if calls.is_empty() {
            if self.gate.guards(GuardPoint::Output) {
                let conversation = vec![
                    GuardTurn::user(self.user_text.clone()),
                    GuardTurn::agent(reply.text.clone()),
                ];
                self.gate
                    .hold(self.output_check(), "the answer".into(), conversation);
                self.held = Some(reply.text.clone());
            } else {
                self.result = Some(Ok(Value::String(reply.text.clone())));
            }
        } else {
            self.calls = calls.into_iter().map(|call| (call, None)).collect();
            self.started.clear();
        }
        Ok(())
    }

    /// The tool choice of this turn's call: the node's for the first, `none` throughout,
    /// else the model decides.
    fn choice_now(&self) -> ToolChoice {
        match &self.tool_choice {
            ToolChoice::None => ToolChoice::None,
            choice if self.turn == 0 => choice.clone(),
            _ => ToolChoice::Auto,
        }
    }

    /// Why a reply's calls break this turn's tool choice, if they do: every backend's reply
    /// is held to it, whether or not the backend could constrain its model.
    fn unfit_reply(&self, calls: &[ToolCall]) -> Option<String> {
        match self.choice_now() {
            ToolChoice::None if !calls.is_empty() => Some(format!(
                "the model called `{}` although the node's tool_choice is none",
                calls.first().map(|call| call.name.as_str()).unwrap_or_default()
            )),
            ToolChoice::Required if calls.is_empty() => Some(
                "the model answered without calling a tool although the node's tool_choice is required"
                    .to_owned(),
            ),
            ToolChoice::Tool(name) if !calls.iter().any(|call| call.name == name) => Some(
                format!("the model did not call `{name}`, which the node's tool_choice names"),
            ),
            ToolChoice::Auto | ToolChoice::Required | ToolChoice::None | ToolChoice::Tool(_) => {
                None
            }
        }
    }

    /// Records that call `index` of `turn` started (or, with `false`, counts it as not
    /// started); calls of other turns are over already.
    pub(super) fn set_started(&mut self, turn: u32, index: u32, started: bool) {
        if self.turn != turn {
            return;
        }
        if started {
            self.started.insert(index);
        } else {
            self.started.remove(&index);
        }
    }

    /// Takes the outcome of call `index` of `turn`; the last outcome of a turn ends it.
    pub(super) fn on_tool_finished(
        &mut self,
        turn: u32,
        index: u32,
        outcome: &ToolOutcome,
    ) -> Result<(), ActivityMismatch> {
        if turn != self.turn {
            return Err(ActivityMismatch::ToolResultForOtherTurn {
                turn,
                current: self.turn,
            });
        }
        let slot = usize::try_from(index)
            .ok()
            .and_then(|index| self.calls.get_mut(index))
            .ok_or(ActivityMismatch::NoSuchToolCall { turn, index })?;
        slot.1 = Some(outcome.clone());
        // Most agents guard no tool results: nothing is copied for them.
        if let ToolOutcome::Ok { output } = outcome
            && self.gate.guards(GuardPoint::ToolResults)
            && let Some(call) = slot_call(&self.calls, index)
        {
            let check = GuardCheck {
                point: GuardPoint::ToolResults,
                turn,
                index,
            };
            let about = format!("the result of `{call}`");
            let text = vec![GuardTurn::user(super::shared::text_of(output))];
            self.gate.hold(check, about, text);
        }
        self.finish_turn_when_settled();
        Ok(())
    }

    /// Ends the turn once every call has its outcome and no guard holds one back.
    fn finish_turn_when_settled(&mut self) {
        let turn = self.turn;
        let settled = self.calls.iter().enumerate().all(|(index, (_, outcome))| {
            let check = GuardCheck {
                point: GuardPoint::ToolResults,
                turn,
                index: u32::try_from(index).unwrap_or(u32::MAX),
            };
            outcome.is_some()
                && (!self.gate.guards(GuardPoint::ToolResults)
                    || matches!(outcome, Some(ToolOutcome::Error { .. }))
                    || self.gate.release(check).is_some())
        });
        if settled && !self.calls.is_empty() && self.result.is_none() {
            self.finish_turn();
        }
    }

    /// The check of the answer of this turn.
    fn output_check(&self) -> GuardCheck {
        GuardCheck {
            point: GuardPoint::Output,
            turn: self.turn,
            index: 0,
        }
    }

    /// Applies a guard's ruling on the user message, a tool result or the answer.
    pub(super) fn on_release(&mut self, check: GuardCheck, release: Release) {
        match (check.point, release) {
            (_, Release::Block(error)) => {
                self.held = None;
                self.result = Some(Err(error));
            }
            (GuardPoint::Input, Release::Redact(marker)) => {
                if let Some(user) = self
                    .messages
                    .iter_mut()
                    .find(|message| message.role == weft_core::Role::User)
                {
                    user.content = marker;
                }
            }
            (GuardPoint::Output, Release::Pass) => {
                self.result = self.held.take().map(|text| Ok(Value::String(text)));
            }
            (GuardPoint::Output, Release::Redact(marker)) => {
                self.held = None;
                if let Some(answer) = self.messages.last_mut() {
                    answer.content.clone_from(&marker);
                }
                self.result = Some(Ok(Value::String(marker)));
            }
            (GuardPoint::ToolResults, release) => {
                if let Release::Redact(marker) = release
                    && check.turn == self.turn
                    && let Some(slot) = usize::try_from(check.index)
                        .ok()
                        .and_then(|index| self.calls.get_mut(index))
                {
                    slot.1 = Some(ToolOutcome::Ok {
                        output: Value::String(marker),
                    });
                }
                self.finish_turn_when_settled();
            }
            (GuardPoint::Input | GuardPoint::Retrieved, Release::Pass)
            | (GuardPoint::Retrieved, Release::Redact(_)) => {}
        }
    }

    /// Sends the turn's results to the model in call order, whatever order they came in,
    /// then either fails (too many failed calls, or no turns left) or waits for the model.
    fn finish_turn(&mut self) {
        for (call, outcome) in &self.calls {
            let content = match outcome {
                Some(ToolOutcome::Ok { output }) => match output {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                },
                Some(ToolOutcome::Error { error }) => {
                    serde_json::json!({"error": {"kind": error.kind, "message": error.message}})
                        .to_string()
                }
                None => String::new(),
            };
            self.messages
                .push(Message::tool_result(call.id.clone(), content));
        }
        let failed: Vec<String> = self
            .calls
            .iter()
            .filter_map(|(call, outcome)| match outcome {
                Some(ToolOutcome::Error { error }) => {
                    Some(format!("`{}`: {}", call.name, error.message))
                }
                Some(ToolOutcome::Ok { .. }) | None => None,
            })
            .collect();
        self.tool_errors = self
            .tool_errors
            .saturating_add(u32::try_from(failed.len()).unwrap_or(u32::MAX));
        self.calls.clear();
        self.turn += 1;
        if self.tool_errors > self.max_tool_errors {
            self.result = Some(Err(StepError::new(
                ErrorKind::LimitExceeded,
                format!(
                    "{} tool calls failed, more than the {} allowed (max_tool_errors); the last: {}",
                    self.tool_errors,
                    self.max_tool_errors,
                    failed.last().map_or("", String::as_str)
                ),
            )));
        } else if self.turn >= self.max_turns {
            self.result = Some(Err(StepError::new(
                ErrorKind::LimitExceeded,
                format!(
                    "the agent used all {} of its turns (max_turns) and still calls tools",
                    self.max_turns
                ),
            )));
        } else {
            self.waiting_for_model = true;
        }
    }

    /// Fails the activity.
    pub(super) fn fail(&mut self, error: StepError) {
        self.result = Some(Err(error));
    }

    /// The conversation of the step without its system prompt, for a call in a session.
    /// A redacted text is kept as its marker.
    pub(super) fn transcript(&self) -> Option<Vec<Message>> {
        self.session?;
        Some(without_system(&self.messages))
    }
}

/// The name of the tool of call `index` of a turn.
fn slot_call(calls: &[(ToolCall, Option<ToolOutcome>)], index: u32) -> Option<String> {
    usize::try_from(index)
        .ok()
        .and_then(|index| calls.get(index))
        .map(|(call, _)| call.name.clone())
}
