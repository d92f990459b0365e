//! One unit of work with an output: an `llm` call, an `agent` loop, a `tool` call or a child
//! run. A node runs one; a map node runs one per item. Each activity is a small state
//! machine: it says which effects it needs and takes their results.

use super::{Command, EffectKey, ModelCall, ToolCallCommand};
use crate::expression::Scope;
use crate::workflow::{Activity, Workflow};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use weft_core::{
    ChatRequest, ErrorKind, Message, ModelReply, RunId, StepError, ToolCall, ToolOutcome,
};

/// Where one activity stands.
#[derive(Debug, Clone)]
pub(crate) enum ActivityState {
    Llm(LlmState),
    Agent(AgentState),
    Tool(ToolState),
    Child(ChildState),
}

#[derive(Debug, Clone)]
pub(crate) struct LlmState {
    /// The request, until it is issued (an effect is issued once per machine).
    request: Option<ChatRequest>,
    model: Option<String>,
    result: Option<Result<Value, StepError>>,
    reply: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct AgentState {
    messages: Vec<Message>,
    request: ChatRequest,
    tool_names: Vec<String>,
    model: Option<String>,
    max_turns: u32,
    turn: u32,
    max_tool_errors: u32,
    /// Failed tool calls so far in this step.
    tool_errors: u32,
    tool_timeout: Option<std::time::Duration>,
    max_parallel_tools: usize,
    /// Tool calls of the current turn with their outcomes, in call order.
    calls: Vec<(ToolCall, Option<ToolOutcome>)>,
    started: HashSet<u32>,
    /// `(in-flight generation, turn)` once every call of that turn was issued: until the
    /// in-flight set is cleared, there is nothing more to start for the turn.
    all_issued: Option<(u64, u32)>,
    waiting_for_model: bool,
    /// The final reply, as a JSON string.
    result: Option<Result<Value, StepError>>,
}

#[derive(Debug, Clone)]
pub(crate) struct ToolState {
    call: ToolCall,
    timeout: Option<std::time::Duration>,
    started: bool,
    result: Option<Result<Value, StepError>>,
}

#[derive(Debug, Clone)]
pub(crate) struct ChildState {
    workflow: Arc<Workflow>,
    input: Value,
    run: Option<RunId>,
    /// The question the child waits on, if it is interrupted.
    pub(crate) waiting: Option<(String, Option<Value>)>,
    result: Option<Result<Value, StepError>>,
}

/// What an activity has come to.
pub(crate) enum Progress<'a> {
    /// Still working.
    Working,
    /// Waits for a person through a child run.
    Waiting(&'a str, Option<&'a Value>),
    /// Done, with its output and, for model activities, the reply text.
    Done(&'a Value, Option<&'a str>),
    /// Failed.
    Failed(&'a StepError),
}

/// Where an activity runs: its step and map branch, and the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pub run: RunId,
    pub step: u64,
    pub branch: Option<u32>,
}

impl ActivityState {
    /// Renders the activity's templates against `scope` and prepares its first effect.
    pub(crate) fn start(
        workflow: &Workflow,
        activity: &Activity,
        scope: &Scope,
        place: Place,
    ) -> Result<Self, StepError> {
        let expressions = &workflow.expressions;
        let render_error = |what: &str, error: crate::expression::ExpressionError| {
            StepError::new(
                ErrorKind::InvalidInput,
                format!("{what} failed to render: {}", error.message),
            )
        };
        match activity {
            Activity::Llm(body) => {
                let messages = render_prompt(expressions, &body.prompt, scope)?;
                Ok(Self::Llm(LlmState {
                    request: Some(ChatRequest {
                        messages,
                        tools: Vec::new(),
                        sampling: body.sampling.clone(),
                        output_schema: body
                            .output_schema
                            .as_ref()
                            .map(|schema| schema.schema.clone()),
                        ..ChatRequest::default()
                    }),
                    model: body.model.clone().or_else(|| workflow.model.clone()),
                    result: None,
                    reply: None,
                }))
            }
            Activity::Agent(body) => {
                let messages = render_prompt(expressions, &body.prompt, scope)?;
                Ok(Self::Agent(AgentState {
                    messages,
                    request: ChatRequest {
                        messages: Vec::new(),
                        tools: Vec::new(),
                        sampling: body.sampling.clone(),
                        ..ChatRequest::default()
                    },
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
                    calls: Vec::new(),
                    started: HashSet::new(),
                    all_issued: None,
                    waiting_for_model: true,
                    result: None,
                }))
            }
            Activity::Tool(body) => {
                let arguments = expressions
                    .render_value(&body.arguments, scope)
                    .map_err(|error| render_error("`arguments`", error))?;
                Ok(Self::Tool(ToolState {
                    call: ToolCall::new(call_id(place, 0, 0), body.tool.clone(), arguments),
                    timeout: body.tool_timeout,
                    started: false,
                    result: None,
                }))
            }
            Activity::Workflow(body) => {
                let input = match &body.input {
                    Some(template) => expressions
                        .render_value(template, scope)
                        .map_err(|error| render_error("`input`", error))?,
                    None => Value::Object(serde_json::Map::new()),
                };
                Ok(Self::Child(ChildState {
                    workflow: body.workflow.clone(),
                    input,
                    run: None,
                    waiting: None,
                    result: None,
                }))
            }
        }
    }

    /// What the activity has come to.
    pub(crate) fn progress(&self) -> Progress<'_> {
        match self {
            Self::Llm(state) => match &state.result {
                None => Progress::Working,
                Some(Ok(output)) => Progress::Done(output, state.reply.as_deref()),
                Some(Err(error)) => Progress::Failed(error),
            },
            Self::Agent(state) => match &state.result {
                None => Progress::Working,
                Some(Ok(output)) => Progress::Done(output, output.as_str()),
                Some(Err(error)) => Progress::Failed(error),
            },
            Self::Tool(state) => match &state.result {
                None => Progress::Working,
                Some(Ok(output)) => Progress::Done(output, None),
                Some(Err(error)) => Progress::Failed(error),
            },
            Self::Child(state) => match (&state.result, &state.waiting) {
                (Some(Ok(output)), _) => Progress::Done(output, None),
                (Some(Err(error)), _) => Progress::Failed(error),
                (None, Some((question, schema))) => Progress::Waiting(question, schema.as_ref()),
                (None, None) => Progress::Working,
            },
        }
    }

    /// The effects this activity needs that are not yet running; `in_flight` is updated.
    /// Tool calls not yet recorded as started also give their `ToolCallStarted` event.
    pub(crate) fn commands(
        &mut self,
        place: Place,
        in_flight: &mut super::InFlight,
        events: &mut Vec<weft_core::Event>,
        commands: &mut Vec<Command>,
    ) {
        match self {
            Self::Llm(state) => {
                let key = EffectKey::model(place, 0);
                if state.result.is_none()
                    && let Some(request) = state.request.take()
                    && in_flight.insert(key)
                {
                    commands.push(Command::CallModel(ModelCall {
                        step: place.step,
                        branch: place.branch,
                        turn: 0,
                        model: state.model.clone(),
                        tool_names: Vec::new(),
                        request,
                    }));
                }
            }
            Self::Agent(state) => {
                if state.result.is_some() {
                    return;
                }
                if state.waiting_for_model {
                    let key = EffectKey::model(place, state.turn);
                    if in_flight.insert(key) {
                        let mut request = state.request.clone();
                        request.messages = state.messages.clone();
                        commands.push(Command::CallModel(ModelCall {
                            step: place.step,
                            branch: place.branch,
                            turn: state.turn,
                            model: state.model.clone(),
                            tool_names: state.tool_names.clone(),
                            request,
                        }));
                    }
                    return;
                }
                // At most `max_parallel_tools` of this reply's calls run at once; the next
                // one starts when one finishes. This runs after every result: once all of
                // the turn's calls are out, it returns at once.
                let issued = (in_flight.generation(), state.turn);
                if state.all_issued == Some(issued) {
                    return;
                }
                let mut unfinished = 0usize;
                let mut waiting = Vec::new();
                for (index, (_, outcome)) in state.calls.iter().enumerate() {
                    if outcome.is_some() {
                        continue;
                    }
                    unfinished += 1;
                    let index = u32::try_from(index).unwrap_or(u32::MAX);
                    if !in_flight.contains(&EffectKey::tool(place, state.turn, index)) {
                        waiting.push(index);
                    }
                }
                let running = unfinished - waiting.len();
                if unfinished <= state.max_parallel_tools {
                    state.all_issued = Some(issued);
                }
                let free = state.max_parallel_tools.saturating_sub(running);
                events.reserve(free.min(waiting.len()));
                commands.reserve(free.min(waiting.len()));
                for index in waiting.into_iter().take(free) {
                    let Some((call, _)) = usize::try_from(index)
                        .ok()
                        .and_then(|slot| state.calls.get(slot))
                    else {
                        break;
                    };
                    let key = EffectKey::tool(place, state.turn, index);
                    in_flight.insert(key);
                    if state.started.insert(index) {
                        events.push(weft_core::Event::ToolCallStarted {
                            step: place.step,
                            branch: place.branch,
                            turn: state.turn,
                            index,
                            call: call.clone(),
                        });
                    }
                    commands.push(Command::CallTool(ToolCallCommand {
                        step: place.step,
                        branch: place.branch,
                        turn: state.turn,
                        index,
                        call: call.clone(),
                        idempotency_key: idempotency_key(place, state.turn, index),
                        timeout: state.tool_timeout,
                    }));
                }
            }
            Self::Tool(state) => {
                let key = EffectKey::tool(place, 0, 0);
                if state.result.is_some() || !in_flight.insert(key) {
                    return;
                }
                if !state.started {
                    state.started = true;
                    events.push(weft_core::Event::ToolCallStarted {
                        step: place.step,
                        branch: place.branch,
                        turn: 0,
                        index: 0,
                        call: state.call.clone(),
                    });
                }
                commands.push(Command::CallTool(ToolCallCommand {
                    step: place.step,
                    branch: place.branch,
                    turn: 0,
                    index: 0,
                    call: state.call.clone(),
                    idempotency_key: idempotency_key(place, 0, 0),
                    timeout: state.timeout,
                }));
            }
            Self::Child(state) => {
                let key = EffectKey::child(place);
                if state.result.is_none() && state.waiting.is_none() && in_flight.insert(key) {
                    commands.push(Command::StartChild(super::ChildRun {
                        step: place.step,
                        branch: place.branch,
                        run: state.run,
                        workflow: state.workflow.clone(),
                        input: state.input.clone(),
                    }));
                }
            }
        }
    }

    /// Takes a model's reply.
    pub(crate) fn on_model_reply(
        &mut self,
        place: Place,
        turn: u32,
        reply: &ModelReply,
        output_schema: Option<&crate::workflow::OutputSchema>,
    ) -> Result<(), String> {
        match self {
            Self::Llm(state) => {
                state.reply = Some(reply.text.clone());
                state.result = Some(match output_schema {
                    None => Ok(Value::String(reply.text.clone())),
                    Some(schema) => structured_output(&reply.text, schema),
                });
                Ok(())
            }
            Self::Agent(state) => {
                if turn != state.turn || !state.waiting_for_model {
                    return Err(format!(
                        "a reply for turn {turn} while the agent is at turn {}",
                        state.turn
                    ));
                }
                let mut calls = reply.tool_calls.clone();
                for (index, call) in calls.iter_mut().enumerate() {
                    if call.id.is_empty() {
                        call.id = call_id(place, turn, u32::try_from(index).unwrap_or(u32::MAX));
                    }
                }
                state
                    .messages
                    .push(Message::assistant(reply.text.clone(), calls.clone()));
                state.waiting_for_model = false;
                if calls.is_empty() {
                    state.result = Some(Ok(Value::String(reply.text.clone())));
                } else {
                    state.calls = calls.into_iter().map(|call| (call, None)).collect();
                    state.started.clear();
                }
                Ok(())
            }
            Self::Tool(_) | Self::Child(_) => {
                Err("a model reply for an activity that calls no model".into())
            }
        }
    }

    /// Takes a tool call's start.
    pub(crate) fn on_tool_started(&mut self, turn: u32, index: u32) {
        match self {
            Self::Agent(state) if state.turn == turn => {
                state.started.insert(index);
            }
            Self::Tool(state) => state.started = true,
            _ => {}
        }
    }

    /// Counts a started call as not started, so it is recorded again before it runs.
    pub(crate) fn forget_start(&mut self, turn: u32, index: u32) {
        match self {
            Self::Agent(state) if state.turn == turn => {
                state.started.remove(&index);
            }
            Self::Tool(state) => state.started = false,
            _ => {}
        }
    }

    /// Takes a tool call's outcome.
    pub(crate) fn on_tool_finished(
        &mut self,
        turn: u32,
        index: u32,
        outcome: &ToolOutcome,
    ) -> Result<(), String> {
        match self {
            Self::Tool(state) => {
                state.result = Some(match outcome {
                    ToolOutcome::Ok { output } => Ok(output.clone()),
                    ToolOutcome::Error { error } => Err(StepError::new(
                        error.kind,
                        format!("tool `{}` failed: {}", state.call.name, error.message),
                    )),
                });
                Ok(())
            }
            Self::Agent(state) => {
                if turn != state.turn {
                    return Err(format!(
                        "a tool result for turn {turn} while the agent is at turn {}",
                        state.turn
                    ));
                }
                let slot = usize::try_from(index)
                    .ok()
                    .and_then(|index| state.calls.get_mut(index))
                    .ok_or_else(|| format!("no tool call {index} in turn {turn}"))?;
                slot.1 = Some(outcome.clone());
                if state.calls.iter().all(|(_, outcome)| outcome.is_some()) {
                    // Results go back to the model in call order, whatever order they came in.
                    for (call, outcome) in &state.calls {
                        let content = match outcome {
                            Some(ToolOutcome::Ok { output }) => match output {
                                Value::String(text) => text.clone(),
                                other => other.to_string(),
                            },
                            Some(ToolOutcome::Error { error }) => {
                                serde_json::json!({"error": {"kind": error.kind, "message": error.message}}).to_string()
                            }
                            None => String::new(),
                        };
                        state
                            .messages
                            .push(Message::tool_result(call.id.clone(), content));
                    }
                    let failed: Vec<String> = state
                        .calls
                        .iter()
                        .filter_map(|(call, outcome)| match outcome {
                            Some(ToolOutcome::Error { error }) => {
                                Some(format!("`{}`: {}", call.name, error.message))
                            }
                            _ => None,
                        })
                        .collect();
                    state.tool_errors = state
                        .tool_errors
                        .saturating_add(u32::try_from(failed.len()).unwrap_or(u32::MAX));
                    state.calls.clear();
                    state.turn += 1;
                    if state.tool_errors > state.max_tool_errors {
                        state.result = Some(Err(StepError::new(
                            ErrorKind::LimitExceeded,
                            format!(
                                "{} tool calls failed, more than the {} allowed (max_tool_errors); the last: {}",
                                state.tool_errors,
                                state.max_tool_errors,
                                failed.last().map_or("", String::as_str)
                            ),
                        )));
                    } else if state.turn >= state.max_turns {
                        state.result = Some(Err(StepError::new(
                            ErrorKind::LimitExceeded,
                            format!(
                                "the agent used all {} of its turns (max_turns) and still calls tools",
                                state.max_turns
                            ),
                        )));
                    } else {
                        state.waiting_for_model = true;
                    }
                }
                Ok(())
            }
            Self::Llm(_) | Self::Child(_) => {
                Err("a tool result for an activity that calls no tools".into())
            }
        }
    }

    /// Fails the activity (a model or child failure).
    pub(crate) fn fail(&mut self, error: StepError) {
        let slot = Some(Err(error));
        match self {
            Self::Llm(state) => state.result = slot,
            Self::Tool(state) => state.result = slot,
            Self::Child(state) => state.result = slot,
            Self::Agent(state) => state.result = slot,
        }
    }

    /// Takes a child run's id, output or question.
    pub(crate) fn on_child(&mut self, event: ChildUpdate<'_>) -> Result<(), String> {
        let Self::Child(state) = self else {
            return Err("a child-run event for an activity that starts no child".into());
        };
        match event {
            ChildUpdate::Started(run) => state.run = Some(run),
            ChildUpdate::Finished(output) => {
                state.waiting = None;
                state.result = Some(Ok(output.clone()));
            }
            ChildUpdate::Interrupted(question, schema) => {
                state.waiting = Some((question.to_owned(), schema.cloned()));
            }
            ChildUpdate::Resumed => state.waiting = None,
        }
        Ok(())
    }

    /// The child run, for a child activity that started one.
    pub(crate) fn child_run(&self) -> Option<RunId> {
        match self {
            Self::Child(state) => state.run,
            _ => None,
        }
    }
}

/// A change in a child run.
pub(crate) enum ChildUpdate<'a> {
    Started(RunId),
    Finished(&'a Value),
    Interrupted(&'a str, Option<&'a Value>),
    Resumed,
}

/// The first messages of a model activity: the system prompt (if any) and the user prompt.
fn render_prompt(
    expressions: &crate::expression::Expressions,
    prompt: &crate::workflow::Prompt,
    scope: &Scope,
) -> Result<Vec<Message>, StepError> {
    let render_error = |what: &str, error: crate::expression::ExpressionError| {
        StepError::new(
            ErrorKind::InvalidInput,
            format!("{what} failed to render: {}", error.message),
        )
    };
    let mut messages = Vec::with_capacity(2);
    if let Some(system) = &prompt.system {
        let text = expressions
            .render(system, scope)
            .map_err(|error| render_error("`system`", error))?;
        messages.push(Message::system(text));
    }
    let text = expressions
        .render(&prompt.user, scope)
        .map_err(|error| render_error("`prompt`", error))?;
    messages.push(Message::user(text));
    Ok(messages)
}

fn call_id(place: Place, turn: u32, index: u32) -> String {
    match place.branch {
        Some(branch) => format!("call_{}_{branch}_{turn}_{index}", place.step),
        None => format!("call_{}_{turn}_{index}", place.step),
    }
}

/// The key a tool receives: the same on every attempt of the same call.
fn idempotency_key(place: Place, turn: u32, index: u32) -> String {
    weft_core::idempotency_key(place.run, place.step, place.branch, turn, index)
}

/// Parses a structured reply: JSON (optionally in a ```json fence) matching the schema.
fn structured_output(
    text: &str,
    schema: &crate::workflow::OutputSchema,
) -> Result<Value, StepError> {
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|inner| inner.strip_suffix("```"))
        .unwrap_or(trimmed);
    let preview: String = trimmed.chars().take(120).collect();
    let value: Value = serde_json::from_str(unfenced.trim()).map_err(|error| {
        StepError::new(
            ErrorKind::InvalidInput,
            format!("the model's reply is not JSON, but the node has an output_schema ({error}); the reply began: {preview:?}"),
        )
    })?;
    schema.check(&value).map_err(|problem| {
        StepError::new(
            ErrorKind::InvalidInput,
            format!("the model's reply does not match output_schema: {problem}; the reply began: {preview:?}"),
        )
    })?;
    Ok(value)
}
