//! Memory at each model call: the tokens counted with the model's own tokenizer (or the
//! vocabulary of its family, or an estimate), the context fitted to its window, and the
//! run's session read for it.

use crate::active::ActiveRun;
use crate::runtime::Runtime;
use std::sync::{Arc, LazyLock};
use weft_core::{
    ChatModel, ChatRequest, ContextReport, ErrorKind, Event, Message, MessageCounts, Role,
    SessionId, SessionView, StepError, StoreError, TokenCounter, ViewRequest,
};
use weft_memory::{Limits, Turn, assemble, whole_turn};
use weft_workflow::ModelCall;

/// The estimate, made once: it has no state, and a model call should not allocate for it.
static ESTIMATE: LazyLock<Arc<dyn TokenCounter>> =
    LazyLock::new(|| Arc::new(weft_memory::Estimate));

/// The view of a call outside any session, made once.
static NO_VIEW: LazyLock<SessionView> = LazyLock::new(SessionView::default);

/// The counter for a model: its own (an in-process model's tokenizer, or the vocabulary of
/// its family that the composition gave it), else an estimate, labelled as one.
pub fn counter_for(model: &dyn ChatModel) -> Arc<dyn TokenCounter> {
    model
        .token_counter()
        .unwrap_or_else(|| Arc::clone(&ESTIMATE))
}

/// What a call may spend with `model`.
pub(crate) fn limits_for(call: &ModelCall, request: &ChatRequest, window: u32) -> Limits {
    Limits {
        window,
        reply: call.memory.reply_for(request.sampling.max_tokens, window),
        margin: call.memory.margin_for(window),
    }
}

/// The text of the newest user message: what archival snippets are searched for.
fn newest_user_text(messages: &[Message]) -> Option<&str> {
    messages
        .iter()
        .rev()
        .find(|message| message.role == Role::User)
        .map(|message| message.content.as_str())
}

/// What a call of `call`'s node with `messages` reads of `session`: the newest messages
/// within `budget` tokens as `counter` counts them, and snippets for its newest user
/// message.
pub(crate) fn view_request<'a>(
    (call, messages): (&ModelCall, &'a [Message]),
    session: SessionId,
    counter: &'a dyn TokenCounter,
    budget: u32,
) -> ViewRequest<'a> {
    ViewRequest {
        session,
        counter,
        max_tokens: budget,
        query: newest_user_text(messages),
        snippets: call.memory.snippets,
    }
}

pub(crate) fn store_failure(error: StoreError) -> StepError {
    StepError::new(
        error.kind,
        format!("the session could not be read: {}", error.message),
    )
}

impl Runtime {
    /// Fits `call`'s request to `model`'s window where it lies: the run's session (for a
    /// node that remembers) read for it (unless the compaction check `read` it already),
    /// then assembled. Returns the report of what the request holds.
    /// The verdicts of the call's `retrieved` guard on the view's snippets are added to
    /// `guarded`, also when the call fails.
    pub(crate) async fn fit_context(
        &self,
        call: &mut ModelCall,
        workflow_dir: &std::path::Path,
        model: &dyn ChatModel,
        read: Option<SessionView>,
        guarded: &mut Vec<weft_core::Event>,
    ) -> Result<Box<ContextReport>, StepError> {
        let counter = counter_for(model);
        let limits = limits_for(call, &call.request, model.context_window());
        let budget = limits.budget(counter.accuracy());
        let mut view = match (call.session, &self.sessions, read) {
            (Some(_), _, Some(view)) => view,
            (Some(session), Some(store), None) => store
                .view(view_request(
                    (call, &call.request.messages),
                    session,
                    counter.as_ref(),
                    budget,
                ))
                .await
                .map_err(store_failure)?,
            (Some(_), None, None) => {
                return Err(StepError::new(
                    ErrorKind::Internal,
                    "the run speaks in a session, but this runtime keeps no sessions (RuntimeBuilder::sessions)",
                ));
            }
            (None, _, _) => SessionView::default(),
        };
        if !view.snippets.is_empty() {
            let (events, judged) = self.guard_snippets(call, workflow_dir, &mut view).await;
            guarded.extend(events);
            judged?;
        }
        fit_view(call, &view, limits, counter.as_ref())
    }

    /// [`Runtime::fit_context`] for a call outside any session, which reads nothing and
    /// waits for nothing: most calls of a run. Kept apart so that their effect's future
    /// does not carry the session read's state.
    pub(crate) fn fit_alone(
        call: &mut ModelCall,
        model: &dyn ChatModel,
    ) -> Result<Box<ContextReport>, StepError> {
        let counter = counter_for(model);
        let limits = limits_for(call, &call.request, model.context_window());
        fit_view(call, &NO_VIEW, limits, counter.as_ref())
    }
}

/// Fits `call`'s request, with what was read of its session (`view`), into `limits`.
fn fit_view(
    call: &mut ModelCall,
    view: &SessionView,
    limits: Limits,
    counter: &dyn TokenCounter,
) -> Result<Box<ContextReport>, StepError> {
    let turn = Turn {
        messages: &call.request.messages,
        tools: &call.request.tools,
    };
    // Most calls of a run without a session send their messages as they are. The report
    // is boxed here, as the call's event keeps it, so it moves no further.
    if let Some(report) = whole_turn(turn, view, limits, counter) {
        return Ok(report);
    }
    let context = assemble(turn, view, limits, call.memory.compact_at, counter)
        .map_err(|error| StepError::new(ErrorKind::LimitExceeded, error.to_string()))?;
    call.request.messages = context.messages;
    Ok(Box::new(context.report))
}

impl Runtime {
    /// Counts the messages of each `Remembered` event among `events` with the tokenizer of
    /// the model that answered its step (the step's `ModelReplied` among `events`: a step's
    /// reply and its end are committed together), so that the store keeps the counts with
    /// the messages rather than counting them at the next read.
    pub(crate) fn count_remembered(&self, run: &ActiveRun, events: &mut [Event]) {
        if !events
            .iter()
            .any(|event| matches!(event, Event::Remembered { counts: None, .. }))
        {
            return;
        }
        let answered: Vec<(u64, String)> = events
            .iter()
            .filter_map(|event| match event {
                Event::ModelReplied {
                    step,
                    branch: None,
                    answered_by: Some(by),
                    ..
                } => Some((*step, by.spec.clone())),
                _ => None,
            })
            .collect();
        let default_spec = self.models.default_spec();
        for event in events.iter_mut() {
            let Event::Remembered {
                step,
                messages,
                counts: counts @ None,
                ..
            } = event
            else {
                continue;
            };
            let Some((_, spec)) = answered.iter().rev().find(|(by_step, _)| by_step == step) else {
                continue;
            };
            // The default model by its own name: opening its spec again would make another.
            let name = (spec != "default" && default_spec.as_deref() != Some(spec.as_str()))
                .then_some(spec.as_str());
            let Ok(model) = self.models.resolve(name, &run.workflow_dir) else {
                continue;
            };
            let counter = counter_for(model.as_ref());
            *counts = Some(Box::new(MessageCounts {
                tokenizer: counter.key().to_owned(),
                tokens: messages
                    .iter()
                    .map(|message| counter.message(message))
                    .collect(),
            }));
        }
    }
}
