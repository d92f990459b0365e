//! The `llm` activity: one model call, its reply the output, or, with an `output_schema`,
//! the JSON in the reply, checked against the schema.

use crate::expression::Scope;
use crate::machine::activity::gate::{Gate, Release, USER_MESSAGE as INPUT, redacted_json};
use crate::machine::activity::shared::{Progress, render_prompt, without_system};
use crate::machine::command::{Command, ModelCall};
use crate::machine::effect::{EffectKey, InFlight, Place};
use crate::memory::MemorySettings;
use crate::workflow::{LlmBody, OutputSchema, Workflow};
use serde_json::Value;
use std::sync::Arc;
use weft_core::{
    ChatRequest, ErrorKind, Event, GuardCheck, GuardPoint, GuardTurn, Message, ModelReply,
    SessionId, StepError,
};

/// Where an `llm` activity stands.
#[derive(Debug, Clone)]
pub(crate) struct LlmState {
    /// The request, until it is issued (an effect is issued once per machine); boxed, as
    /// the call will carry it.
    request: Option<Box<ChatRequest>>,
    model: Option<String>,
    result: Option<Result<Value, StepError>>,
    reply: Option<String>,
    /// The session the call reads and adds to.
    session: Option<SessionId>,
    memory: Arc<MemorySettings>,
    /// The prompt without its system message, for the session.
    prompt: Vec<Message>,
    /// The user message, which a guard reads with the reply.
    user_text: String,
    /// The output, while a guard judges the reply.
    held: Option<Result<Value, StepError>>,
    /// Whether the output must be JSON (a redacted reply cannot be).
    structured: bool,
    /// The texts of this activity that guards judge.
    pub(super) gate: Gate,
}

impl LlmState {
    /// Renders the prompt and prepares the request.
    pub(super) fn start(
        workflow: &Workflow,
        body: &LlmBody,
        scope: &Scope,
        session: Option<SessionId>,
    ) -> Result<Self, StepError> {
        let messages = render_prompt(&workflow.expressions, &body.prompt, scope)?;
        let mut gate = Gate::new(body.guards.clone());
        let user_text = gate.hold_user_message(&messages);
        let prompt = if session.is_some() {
            without_system(&messages)
        } else {
            Vec::new()
        };
        Ok(Self {
            session,
            memory: workflow.memory.clone(),
            prompt,
            request: Some(Box::new(ChatRequest {
                messages,
                tools: Vec::new(),
                sampling: body.sampling.clone(),
                output_schema: body
                    .output_schema
                    .as_ref()
                    .map(|schema| schema.schema.clone()),
                ..ChatRequest::default()
            })),
            model: body.model.clone().or_else(|| workflow.model.clone()),
            result: None,
            reply: None,
            user_text,
            held: None,
            structured: body.output_schema.is_some(),
            gate,
        })
    }

    /// What the activity has come to.
    pub(super) fn progress(&self) -> Progress<'_> {
        Progress::of(&self.result, |_| self.reply.as_deref())
    }

    /// The model call, once.
    pub(super) fn commands(
        &mut self,
        place: Place,
        in_flight: &mut InFlight,
        events: &mut Vec<Event>,
        commands: &mut Vec<Command>,
    ) {
        self.gate.commands(place, in_flight, events, commands);
        // Issued already (most polls of a step that waits for its reply).
        if self.request.is_none() {
            return;
        }
        if self.gate.guards(GuardPoint::Input) && self.gate.release(INPUT).is_none() {
            return;
        }
        let key = EffectKey::model(place, 0);
        if self.result.is_none()
            && let Some(request) = self.request.take()
            && in_flight.insert(key)
        {
            commands.push(Command::CallModel(ModelCall {
                step: place.step,
                branch: place.branch,
                turn: 0,
                model: self.model.clone(),
                tool_names: Vec::new(),
                request,
                session: self.session,
                memory: self.memory.clone(),
                hold_text: self.gate.guards(GuardPoint::Output),
                retrieved: self.gate.rule(GuardPoint::Retrieved),
            }));
        }
    }

    /// Takes the reply: the output is its text or, with a schema, the JSON in it.
    pub(super) fn on_reply(&mut self, reply: &ModelReply, output_schema: Option<&OutputSchema>) {
        self.reply = Some(reply.text.clone());
        let result = match output_schema {
            None => Ok(Value::String(reply.text.clone())),
            Some(schema) => structured_output(&reply.text, schema),
        };
        if self.gate.guards(GuardPoint::Output) {
            let conversation = vec![
                GuardTurn::user(self.user_text.clone()),
                GuardTurn::agent(reply.text.clone()),
            ];
            self.gate.hold(OUTPUT, "the answer".into(), conversation);
            self.held = Some(result);
        } else {
            self.result = Some(result);
        }
    }

    /// Applies a guard's ruling on the user message or the answer.
    pub(super) fn on_release(&mut self, check: GuardCheck, release: Release) {
        match (check.point, release) {
            (_, Release::Block(error)) => self.result = Some(Err(error)),
            (GuardPoint::Input, Release::Redact(marker)) => {
                for messages in [
                    self.request.as_mut().map(|request| &mut request.messages),
                    Some(&mut self.prompt),
                ]
                .into_iter()
                .flatten()
                {
                    if let Some(user) = messages.last_mut() {
                        user.content.clone_from(&marker);
                    }
                }
            }
            (GuardPoint::Output, Release::Pass) => self.result = self.held.take(),
            (GuardPoint::Output, Release::Redact(marker)) => {
                self.held = None;
                self.result = Some(if self.structured {
                    Err(redacted_json(&marker))
                } else {
                    Ok(Value::String(marker.clone()))
                });
                self.reply = Some(marker);
            }
            (
                GuardPoint::Input | GuardPoint::ToolResults | GuardPoint::Retrieved,
                Release::Pass,
            )
            | (GuardPoint::ToolResults | GuardPoint::Retrieved, Release::Redact(_)) => {}
        }
    }

    /// Fails the activity.
    pub(super) fn fail(&mut self, error: StepError) {
        self.result = Some(Err(error));
    }

    /// The prompt and the reply, for a call in a session.
    pub(super) fn transcript(&self) -> Option<Vec<Message>> {
        self.session?;
        let mut messages = self.prompt.clone();
        messages.push(Message::assistant(self.reply.clone()?, Vec::new()));
        Some(messages)
    }
}

/// The check of a model node's answer.
pub(super) const OUTPUT: GuardCheck = GuardCheck {
    point: GuardPoint::Output,
    turn: 0,
    index: 0,
};

/// Parses a structured reply: JSON (optionally in a ```json fence) matching the schema.
fn structured_output(text: &str, schema: &OutputSchema) -> Result<Value, StepError> {
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
