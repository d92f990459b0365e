//! What every activity kind uses: what an activity has come to ([`Progress`]), the changes
//! of a child run ([`ChildUpdate`]), rendering a prompt, and the ids and idempotency keys
//! of tool calls.

use crate::expression::{ExpressionError, Expressions, Scope};
use crate::machine::effect::Place;
use crate::workflow::Prompt;
use serde_json::Value;
use weft_core::{ErrorKind, Message, RunId, StepError};

/// What an activity has come to.
pub(crate) enum Progress<'a> {
    /// Still working.
    Working,
    /// Waits for a person through a child run: the child's open questions.
    Waiting(&'a [ChildQuestion]),
    /// Done, with its output and, for model activities, the reply text.
    Done(&'a Value, Option<&'a str>),
    /// Failed.
    Failed(&'a StepError),
}

impl<'a> Progress<'a> {
    /// The progress of an activity whose only outcome is `result`: none yet, an output (with
    /// `reply`, the reply text, for model activities) or a failure.
    pub(super) fn of(
        result: &'a Option<Result<Value, StepError>>,
        reply: impl FnOnce(&'a Value) -> Option<&'a str>,
    ) -> Self {
        match result {
            None => Self::Working,
            Some(Ok(output)) => Self::Done(output, reply(output)),
            Some(Err(error)) => Self::Failed(error),
        }
    }
}

/// A question a child run waits on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChildQuestion {
    /// Its id in the child (`None` in logs from before ids).
    pub(crate) id: Option<String>,
    /// The question.
    pub(crate) question: String,
    /// The answer's schema.
    pub(crate) input_schema: Option<Value>,
}

/// A change in a child run.
pub(crate) enum ChildUpdate<'a> {
    /// It started, with this id.
    Started(RunId),
    /// It finished with this output.
    Finished(&'a Value),
    /// It waits for a person: one of its open questions.
    Interrupted(ChildQuestion),
    /// It took its answer and runs on.
    Resumed,
}

impl ChildUpdate<'_> {
    /// Whether the update answers the effect that started or resumed the child: it
    /// finished or stopped to wait, so nothing of it is in flight any more.
    pub(crate) fn settles_effect(&self) -> bool {
        match self {
            Self::Finished(_) | Self::Interrupted(..) => true,
            Self::Started(_) | Self::Resumed => false,
        }
    }
}

/// The step error of a template that failed to render; `what` names the field.
pub(super) fn render_error(what: &str, error: ExpressionError) -> StepError {
    StepError::new(
        ErrorKind::InvalidInput,
        format!("{what} failed to render: {}", error.message),
    )
}

/// The first messages of a model activity: the system prompt (if any) and the user prompt.
pub(super) fn render_prompt(
    expressions: &Expressions,
    prompt: &Prompt,
    scope: &Scope,
) -> Result<Vec<Message>, StepError> {
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

/// The id of a tool call that came without one (or of a `tool` node's call).
pub(super) fn call_id(place: Place, turn: u32, index: u32) -> String {
    match place.branch {
        Some(branch) => format!("call_{}_{branch}_{turn}_{index}", place.step),
        None => format!("call_{}_{turn}_{index}", place.step),
    }
}

/// The key a tool receives: the same on every attempt of the same call.
pub(super) fn idempotency_key(place: Place, turn: u32, index: u32) -> String {
    weft_core::idempotency_key(place.run, place.step, place.branch, turn, index)
}

/// The messages without the system prompts: what a session keeps of a step.
pub(crate) fn without_system(messages: &[weft_core::Message]) -> Vec<weft_core::Message> {
    messages
        .iter()
        .filter(|message| message.role != weft_core::Role::System)
        .cloned()
        .collect()
}

/// A tool's output as the model reads it: a string as it is, anything else as JSON.
pub(crate) fn text_of(output: &Value) -> String {
    match output {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
