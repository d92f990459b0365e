//! The effects the machine asks for, as futures: a model call streamed into a reply, a tool
//! call, a child run. Each ends in the event that records its result.

use crate::active::ActiveRun;
use crate::error::RuntimeError;
use crate::runtime::Runtime;
use futures::StreamExt;
use futures::future::BoxFuture;
use std::future::Future;
use std::task::Poll;
use tokio_util::sync::CancellationToken;
use weft_core::{
    AnsweredBy, ChildPlace, ErrorKind, Event, ModelError, ParentLink, ReplyBuilder, RunId,
    RunStatus, SessionAccess, StepError, ToolContext, ToolOutcome,
};
use weft_workflow::{ChildAnswer, ChildRun, ModelCall, RunMachine, ToolCallCommand};

/// A child run that stopped at a `human` node, by its place in the parent, kept until it
/// is answered.
pub(crate) type WaitingChild = ((u64, Option<u32>), ActiveRun);

/// What a finished effect gives back.
pub(crate) struct EffectDone {
    /// The event that records the result; `None` when the runtime shut down before there
    /// was a result, so there is nothing to record.
    pub event: Option<Event>,
    /// Results that go with `event`: the other questions of a child run that stopped.
    pub more: Vec<Event>,
    /// A child run that stopped at a `human` node, boxed: a run in memory is large, and
    /// every effect's result moves several times on its way to the machine.
    pub waiting_child: Option<Box<WaitingChild>>,
}

impl EffectDone {
    pub(crate) fn event(event: Event) -> Self {
        Self {
            event: Some(event),
            more: Vec::new(),
            waiting_child: None,
        }
    }

    /// Nothing to record: the runtime shut down first.
    pub(crate) fn stopped() -> Self {
        Self {
            event: None,
            more: Vec::new(),
            waiting_child: None,
        }
    }
}

/// What a model call's stream came to: the whole reply, the model's error, or that the
/// runtime shut down while it waited.
enum Streamed {
    Reply(weft_core::ModelReply),
    Failed(ModelError),
    ShutDown,
}

pub(crate) type EffectFuture<'a> = BoxFuture<'a, Result<EffectDone, RuntimeError>>;

impl Runtime {
    pub(crate) fn model_effect<'a>(
        &'a self,
        run: RunId,
        workflow_dir: std::sync::Arc<std::path::Path>,
        mut call: ModelCall,
        read: Option<weft_core::SessionView>,
    ) -> EffectFuture<'a> {
        Box::pin(async move {
            let (step, branch, turn) = (call.step, call.branch, call.turn);
            let failed = |error: StepError| {
                EffectDone::event(Event::ModelFailed {
                    step,
                    branch,
                    turn,
                    error,
                })
            };
            let model = match self.models.resolve(call.model.as_deref(), &workflow_dir) {
                Ok(model) => model,
                Err(error) => return Ok(failed(model_error(error))),
            };
            let answered_by = self.answered_by(&mut call, model.as_ref());
            if let Err(error) = self.offer_tools(&call.tool_names, &mut call.request) {
                return Ok(failed(error));
            }
            let mut guarded = Vec::new();
            // The request is fitted where it lies, and moved once, into the model's call.
            let fitted = if call.session.is_none() {
                Self::fit_alone(&mut call, model.as_ref())
            } else {
                // Boxed: the session's read would otherwise make every call's future
                // larger, and each move of it dearer.
                Box::pin(self.fit_context(
                    &mut call,
                    &workflow_dir,
                    model.as_ref(),
                    read,
                    &mut guarded,
                ))
                .await
            };
            let context = match fitted {
                Ok(context) => context,
                Err(error) => return Ok(after(guarded, failed(error))),
            };
            tracing::debug!(model = %answered_by.spec, turn = call.turn, branch = call.branch, "calling the model");
            // The request moves once, into the model's call.
            let stream = model.chat(std::mem::take(&mut *call.request));
            let reply = match self.stream_reply(run, &call, stream).await {
                Streamed::Reply(reply) => reply,
                Streamed::Failed(error) => {
                    return Ok(after(guarded, failed(model_error(error))));
                }
                Streamed::ShutDown => return Ok(EffectDone::stopped()),
            };
            let replied = EffectDone::event(Event::ModelReplied {
                step,
                branch,
                turn,
                reply,
                answered_by: Some(answered_by),
                context: Some(context),
            });
            Ok(after(guarded, replied))
        })
    }

    /// Who answers `call`: its spec (taken from the call, which needs it no more) or the
    /// default model's, and the model's own name.
    fn answered_by(&self, call: &mut ModelCall, model: &dyn weft_core::ChatModel) -> AnsweredBy {
        AnsweredBy {
            spec: call
                .model
                .take()
                .filter(|name| name != "default")
                .or_else(|| self.models.default_spec())
                .unwrap_or_else(|| "default".to_owned()),
            model: model.model_name(),
        }
    }

    /// Streams a call's reply, telling the observer as it comes unless the answer is
    /// held for its guard: the reply or the model's error, or `ShutDown` when the runtime
    /// shut down first (the reply is asked for again after a restart). Every piece that is
    /// ready is taken in one poll.
    fn stream_reply<'a>(
        &'a self,
        run: RunId,
        call: &'a ModelCall,
        mut stream: weft_core::ChatStream,
    ) -> impl Future<Output = Streamed> + 'a {
        self.observer.on_model_call(run, call.step, call.branch);
        if call.hold_text {
            self.observer.on_held_call(run, call.step, call.branch);
        }
        let mut reply = ReplyBuilder::new();
        // One waiter for the whole call, made when the model first makes the call wait: a
        // reply that is ready needs none.
        let mut shutdown = None;
        std::future::poll_fn(move |context| {
            // The stream goes first: the waiter is polled (a lock each time) only while the
            // model makes the call wait, which is where a shutdown must cut in; a reply
            // that is already whole is recorded.
            while let Poll::Ready(item) = stream.poll_next_unpin(context) {
                match item {
                    Some(Ok(event)) => {
                        if !call.hold_text {
                            self.observe_stream(run, call.step, call.branch, &event);
                        }
                        reply.push(event);
                    }
                    Some(Err(error)) => return Poll::Ready(Streamed::Failed(error)),
                    None => {
                        return Poll::Ready(Streamed::Reply(std::mem::take(&mut reply).finish()));
                    }
                }
            }
            shutdown
                .get_or_insert_with(|| Box::pin(self.shutdown.cancelled()))
                .as_mut()
                .poll(context)
                .map(|()| Streamed::ShutDown)
        })
    }

    /// Adds to `request` the specs of the tools a node's `tools` entries name (a name, or a
    /// pattern such as `github.*`); an entry that names none fails the call.
    fn offer_tools(
        &self,
        entries: &[String],
        request: &mut weft_core::ChatRequest,
    ) -> Result<(), StepError> {
        if entries.is_empty() {
            return Ok(());
        }
        let known = self.tools.names();
        for entry in entries {
            let matching: Vec<&String> = known
                .iter()
                .filter(|name| weft_core::tool_matches(entry, name))
                .collect();
            if matching.is_empty() {
                let what = if entry.ends_with('*') {
                    format!("no tool matches `{entry}`")
                } else {
                    format!("unknown tool `{entry}`")
                };
                return Err(StepError::new(
                    ErrorKind::NotFound,
                    format!("{what}; known tools: {}", known.join(", ")),
                ));
            }
            for name in matching {
                if request.tools.iter().all(|spec| &spec.name != name)
                    && let Some(spec) = self.tools.spec(name)
                {
                    request.tools.push(spec);
                }
            }
        }
        Ok(())
    }

    /// Tells the observer about streamed text, and about text a backend withdrew.
    fn observe_stream(
        &self,
        run: RunId,
        step: u64,
        branch: Option<u32>,
        event: &weft_core::ChatEvent,
    ) {
        match event {
            weft_core::ChatEvent::TextDelta(text) => {
                self.observer.on_text_delta(run, step, branch, text);
            }
            weft_core::ChatEvent::Restarted { reason } => {
                self.observer.on_restarted(run, step, branch, reason);
            }
            weft_core::ChatEvent::ToolCall(_)
            | weft_core::ChatEvent::Usage(_)
            | weft_core::ChatEvent::Logprobs(_)
            | weft_core::ChatEvent::Finished(_) => {}
        }
    }

    pub(crate) fn tool_effect<'a>(
        &'a self,
        run: RunId,
        session: Option<SessionAccess>,
        command: ToolCallCommand,
    ) -> EffectFuture<'a> {
        Box::pin(async move {
            let context = ToolContext {
                run,
                idempotency_key: command.idempotency_key.clone(),
                session,
            };
            tracing::debug!(tool = %command.call.name, turn = command.turn, branch = command.branch, "calling a tool");
            let outcome = match self
                .dispatch_tool(command.call, context, command.timeout)
                .await
            {
                Ok(output) => ToolOutcome::Ok { output },
                Err(error) => {
                    tracing::debug!(kind = ?error.kind, message = %error.message, "the tool call failed");
                    ToolOutcome::Error {
                        error: StepError::new(error.kind, error.message),
                    }
                }
            };
            Ok(EffectDone::event(Event::ToolCallFinished {
                step: command.step,
                branch: command.branch,
                turn: command.turn,
                index: command.index,
                outcome,
            }))
        })
    }

    pub(crate) fn child_effect<'a>(
        &'a self,
        parent: RunId,
        child_id: RunId,
        child: ChildRun,
        cancel: CancellationToken,
    ) -> EffectFuture<'a> {
        Box::pin(async move {
            let failed = |error: StepError| {
                EffectDone::event(Event::ChildFailed {
                    step: child.step,
                    branch: child.branch,
                    error,
                })
            };
            // A child that has a log already (the parent is being resumed) goes on from it.
            if child.run.is_some() {
                let existing = self.store.events(child_id, 0).await?;
                if !existing.is_empty() {
                    let mut active = self.load(child.workflow.clone(), child_id).await?;
                    self.continue_run(&mut active, &cancel).await?;
                    return Ok(child_outcome(child.step, child.branch, active));
                }
            }
            let link = ParentLink {
                run: parent,
                step: child.step,
                branch: child.branch,
            };
            let (machine, decision) = match RunMachine::start(
                child.workflow.clone(),
                child_id,
                child.input.clone(),
                Some(link),
            ) {
                Ok(started) => started,
                Err(error) => {
                    return Ok(failed(StepError::new(
                        ErrorKind::InvalidInput,
                        format!("sub-workflow `{}`: {error}", child.workflow.name),
                    )));
                }
            };
            let mut active = ActiveRun::new(machine);
            self.drive(&mut active, decision, &cancel).await?;
            Ok(child_outcome(child.step, child.branch, active))
        })
    }

    pub(crate) fn resume_child_effect<'a>(
        &'a self,
        answer: ChildAnswer,
        workflow: Option<std::sync::Arc<weft_workflow::Workflow>>,
        child: Option<ActiveRun>,
        cancel: CancellationToken,
    ) -> EffectFuture<'a> {
        Box::pin(async move {
            let mut active = match (child, answer.run, workflow) {
                (Some(active), _, _) => active,
                // After a restart the waiting child is rebuilt from its own log.
                (None, Some(run), Some(workflow)) => self.load(workflow, run).await?,
                _ => {
                    return Ok(EffectDone::event(Event::ChildFailed {
                        step: answer.step,
                        branch: answer.branch,
                        error: StepError::new(
                            ErrorKind::NotFound,
                            "the waiting sub-workflow run cannot be found",
                        ),
                    }));
                }
            };
            let decision = active
                .machine
                .answer(answer.question.as_deref(), answer.input)?;
            self.drive(&mut active, decision, &cancel).await?;
            Ok(child_outcome(answer.step, answer.branch, active))
        })
    }
}

fn child_outcome(step: u64, branch: Option<u32>, active: ActiveRun) -> EffectDone {
    if active.stopped {
        // The child stopped with the runtime; its log says where, for the next load.
        return EffectDone::stopped();
    }
    let workflow = active.machine.workflow().name.clone();
    match active.status() {
        RunStatus::Finished => EffectDone::event(Event::ChildFinished {
            step,
            branch,
            output: active.output().cloned().unwrap_or_default(),
        }),
        RunStatus::Interrupted => {
            let mut asked =
                active
                    .machine
                    .questions()
                    .into_iter()
                    .map(|question| Event::ChildInterrupted {
                        step,
                        branch,
                        question: question.question,
                        input_schema: question.input_schema,
                        id: Some(question.id),
                    });
            EffectDone {
                event: asked.next(),
                more: asked.collect(),
                waiting_child: Some(Box::new(((step, branch), active))),
            }
        }
        RunStatus::NeedsAttention => EffectDone::event(Event::AttentionNeeded {
            calls: active
                .machine
                .attention()
                .map(|attention| attention.calls.clone())
                .unwrap_or_default(),
            child: Some(ChildPlace {
                step,
                branch,
                run: active.id(),
            }),
        }),
        RunStatus::Failed | RunStatus::Cancelled | RunStatus::Running | RunStatus::Queued => {
            let error = active.failure().cloned().unwrap_or_else(|| {
                StepError::new(
                    ErrorKind::Cancelled,
                    format!("the run is {}", active.status().as_str()),
                )
            });
            EffectDone::event(Event::ChildFailed {
                step,
                branch,
                error: StepError::new(
                    error.kind,
                    format!("sub-workflow `{workflow}` failed: {}", error.message),
                ),
            })
        }
    }
}

/// `done`'s event after `first` (a call's snippet verdicts before its reply): the machine
/// takes them together. Most calls have no verdicts: `done` as it is.
#[inline]
fn after(first: Vec<Event>, done: EffectDone) -> EffectDone {
    if first.is_empty() {
        return done;
    }
    let mut events = first.into_iter().chain(done.event).chain(done.more);
    EffectDone {
        event: events.next(),
        more: events.collect(),
        waiting_child: done.waiting_child,
    }
}

fn model_error(error: ModelError) -> StepError {
    StepError::new(error.kind, error.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_effect_result_stays_small() {
        let size = std::mem::size_of::<Result<EffectDone, RuntimeError>>();
        println!("an effect's result takes {size} bytes");
        assert!(size <= 256, "an effect's result takes {size} bytes");
    }
}
