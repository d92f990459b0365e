//! The fold: how each event changes a run. Replaying a log is applying its events in order.

use super::activity::{ActivityState, ChildUpdate, Progress};
use super::map::MapState;
use super::{Effect, EffectKey, Next, Phase, RunMachine, StepState, activity_of};
use crate::error::RunError;
use crate::expression::to_template_value;
use crate::workflow::{Activity, NodeBody};
use serde_json::Value;
use weft_core::{ErrorKind, Event, RunStatus, StepError};

pub(super) fn unexpected(event: &Event, reason: impl Into<String>) -> RunError {
    RunError::UnexpectedEvent {
        event: event.name(),
        reason: reason.into(),
    }
}

impl RunMachine {
    /// Folds one event into the run.
    pub(super) fn apply(&mut self, event: &Event) -> Result<(), RunError> {
        match event {
            Event::RunStarted { input, .. } => {
                if !matches!(self.next, Next::Nothing) || self.step > 0 {
                    return Err(unexpected(event, "the run has started already"));
                }
                for (name, field) in &self.workflow.fields {
                    self.state.insert(name.clone(), field.initial.clone());
                }
                if let Value::Object(entries) = input {
                    for (key, value) in entries {
                        self.state.insert(key.clone(), value.clone());
                    }
                }
                self.field_values = self
                    .workflow
                    .field_names
                    .iter()
                    .map(|name| {
                        self.state
                            .get(name)
                            .map(to_template_value)
                            .unwrap_or_default()
                    })
                    .collect();
                self.state_value = None;
                self.input = input.clone();
                self.input_value = to_template_value(input);
                self.status = RunStatus::Running;
                self.next = Next::Entry;
            }
            Event::StepStarted { step, node, .. } => {
                if self.current.is_some() {
                    return Err(unexpected(event, "a step is still running"));
                }
                let Some(index) = self.workflow.nodes.get_index_of(node) else {
                    return Err(unexpected(
                        event,
                        format!("the workflow has no node `{node}`"),
                    ));
                };
                self.step = *step;
                if let Some(visits) = self.visits.get_mut(index) {
                    *visits += 1;
                }
                self.next = Next::Nothing;
                let phase = self.enter(node);
                self.current = Some(StepState {
                    number: *step,
                    node: node.clone(),
                    phase,
                    failed: None,
                });
            }
            Event::ModelReplied {
                step,
                branch,
                turn,
                reply,
            } => {
                let output_schema = self.output_schema_of_current();
                let place = self.place(*branch);
                let activity = self.activity_mut(event, *step, *branch)?;
                activity
                    .on_model_reply(
                        place,
                        *turn,
                        reply,
                        output_schema.as_ref().map(|schema| schema.as_ref()),
                    )
                    .map_err(|reason| unexpected(event, reason))?;
                self.in_flight.remove(&EffectKey {
                    step: *step,
                    branch: *branch,
                    effect: Effect::Model(*turn),
                });
            }
            Event::ModelFailed {
                step,
                branch,
                turn,
                error,
            } => {
                self.activity_mut(event, *step, *branch)?
                    .fail(error.clone());
                self.in_flight.remove(&EffectKey {
                    step: *step,
                    branch: *branch,
                    effect: Effect::Model(*turn),
                });
            }
            Event::ToolCallStarted {
                step,
                branch,
                turn,
                index,
                ..
            } => {
                self.activity_mut(event, *step, *branch)?
                    .on_tool_started(*turn, *index);
            }
            Event::ToolCallFinished {
                step,
                branch,
                turn,
                index,
                outcome,
            } => {
                self.activity_mut(event, *step, *branch)?
                    .on_tool_finished(*turn, *index, outcome)
                    .map_err(|reason| unexpected(event, reason))?;
                self.in_flight.remove(&EffectKey {
                    step: *step,
                    branch: *branch,
                    effect: Effect::Tool(*turn, *index),
                });
            }
            Event::ChildStarted {
                step, branch, run, ..
            } => {
                self.activity_mut(event, *step, *branch)?
                    .on_child(ChildUpdate::Started(*run))
                    .map_err(|reason| unexpected(event, reason))?;
            }
            Event::ChildFinished {
                step,
                branch,
                output,
            } => {
                self.activity_mut(event, *step, *branch)?
                    .on_child(ChildUpdate::Finished(output))
                    .map_err(|reason| unexpected(event, reason))?;
                self.in_flight.remove(&EffectKey {
                    step: *step,
                    branch: *branch,
                    effect: Effect::Child,
                });
            }
            Event::ChildFailed {
                step,
                branch,
                error,
            } => {
                self.activity_mut(event, *step, *branch)?
                    .fail(error.clone());
                self.in_flight.remove(&EffectKey {
                    step: *step,
                    branch: *branch,
                    effect: Effect::Child,
                });
            }
            Event::ChildInterrupted {
                step,
                branch,
                question,
                input_schema,
            } => {
                self.activity_mut(event, *step, *branch)?
                    .on_child(ChildUpdate::Interrupted(question, input_schema.as_ref()))
                    .map_err(|reason| unexpected(event, reason))?;
                self.in_flight.remove(&EffectKey {
                    step: *step,
                    branch: *branch,
                    effect: Effect::Child,
                });
            }
            Event::StateChanged { delta, .. } => {
                delta
                    .apply_to(&mut self.state)
                    .map_err(|error| unexpected(event, error.to_string()))?;
                for write in &delta.writes {
                    if let Some(index) = self.workflow.fields.get_index_of(&write.field)
                        && let (Some(slot), Some(value)) = (
                            self.field_values.get_mut(index),
                            self.state.get(&write.field),
                        )
                    {
                        *slot = to_template_value(value);
                    }
                }
                self.state_value = None;
            }
            Event::StepFinished { node, next, .. } => {
                self.current = None;
                self.next = match next {
                    Some(target) => Next::Node(target.clone()),
                    None => Next::Finish(node.clone()),
                };
                self.on_boundary(node);
            }
            Event::StepFailed { error, .. } => {
                let step = self
                    .current
                    .as_mut()
                    .ok_or_else(|| unexpected(event, "no step is running"))?;
                step.failed = Some(error.clone());
            }
            Event::Interrupted { .. } => {
                if let Some(StepState {
                    phase: Phase::Human { interrupted, .. },
                    ..
                }) = &mut self.current
                {
                    *interrupted = true;
                }
                self.status = RunStatus::Interrupted;
            }
            Event::Resumed { input, .. } => {
                if self.status != RunStatus::Interrupted {
                    return Err(unexpected(event, "the run is not interrupted"));
                }
                self.status = RunStatus::Running;
                match self.current.as_mut().map(|step| &mut step.phase) {
                    Some(Phase::Human { answer, .. }) => *answer = Some(input.clone()),
                    Some(Phase::Activity(activity)) => {
                        activity
                            .on_child(ChildUpdate::Resumed)
                            .map_err(|reason| unexpected(event, reason))?;
                    }
                    Some(Phase::Map(map)) => {
                        for branch in map.branches.iter_mut().flatten() {
                            if matches!(branch.progress(), Progress::Waiting(..)) {
                                branch
                                    .on_child(ChildUpdate::Resumed)
                                    .map_err(|reason| unexpected(event, reason))?;
                                break;
                            }
                        }
                    }
                    _ => return Err(unexpected(event, "no step waits for input")),
                }
            }
            Event::AttentionNeeded { calls, child } => {
                self.on_attention_needed(calls, child.as_ref());
            }
            Event::Retried { calls } => self.on_retried(event, calls)?,
            Event::RunFinished { output } => {
                self.status = RunStatus::Finished;
                self.output = Some(output.clone());
                self.next = Next::Nothing;
            }
            Event::RunFailed { error, .. } => {
                self.status = RunStatus::Failed;
                self.attention = None;
                self.failure = Some(error.clone());
                self.next = Next::Nothing;
            }
            Event::RunCancelled { .. } => {
                self.status = RunStatus::Cancelled;
                self.next = Next::Nothing;
            }
        }
        Ok(())
    }

    fn output_schema_of_current(&self) -> Option<std::sync::Arc<crate::workflow::OutputSchema>> {
        let step = self.current.as_ref()?;
        match activity_of(&self.workflow, &step.node)? {
            Activity::Llm(llm) => llm.output_schema.as_ref().map(|schema| {
                std::sync::Arc::new(crate::workflow::OutputSchema {
                    schema: schema.schema.clone(),
                    validator: schema.validator.clone(),
                })
            }),
            _ => None,
        }
    }

    /// The activity an effect event is for; a map branch is started if replay meets it first.
    pub(super) fn activity_mut(
        &mut self,
        event: &Event,
        step: u64,
        branch: Option<u32>,
    ) -> Result<&mut ActivityState, RunError> {
        let current = self
            .current
            .as_ref()
            .ok_or_else(|| unexpected(event, "no step is running"))?;
        if current.number != step {
            return Err(unexpected(
                event,
                format!(
                    "it is for step {step}, but step {} is running",
                    current.number
                ),
            ));
        }
        let index = branch.map(|branch| usize::try_from(branch).unwrap_or(usize::MAX));
        // Replay can meet a branch's event before the branch was started in this machine;
        // only then is a scope needed to start it.
        let needs_start = matches!((&current.phase, index), (Phase::Map(map), Some(index))
            if map.branches.get(index).is_some_and(Option::is_none));
        let scope = needs_start.then(|| self.scope());
        let workflow = self.workflow.clone();
        let place = self.place(branch);
        let Some(current) = self.current.as_mut() else {
            return Err(unexpected(event, "no step is running"));
        };
        match (&mut current.phase, index) {
            (Phase::Activity(activity), None) => Ok(activity),
            (Phase::Map(map), Some(index)) => {
                let Some(NodeBody::Map(body)) =
                    workflow.nodes.get(&current.node).map(|node| &node.body)
                else {
                    return Err(unexpected(event, "the step is not a map"));
                };
                match scope {
                    Some(scope) => map
                        .start_branch(&workflow, body, &scope, place, index)
                        .map_err(|error| unexpected(event, error.message)),
                    None => map.started_branch(index).ok_or_else(|| {
                        unexpected(event, format!("map branch {index} does not exist"))
                    }),
                }
            }
            _ => Err(unexpected(event, "the running step has no such activity")),
        }
    }

    /// The phase a node starts in; template failures make a broken phase that fails the step.
    fn enter(&mut self, node_name: &str) -> Phase {
        let workflow = self.workflow.clone();
        let Some(node) = workflow.nodes.get(node_name) else {
            return Phase::Broken(StepError::new(
                ErrorKind::Internal,
                format!("no node `{node_name}`"),
            ));
        };
        let scope = self.scope();
        let place = self.place(None);
        match &node.body {
            NodeBody::Activity(activity) => {
                match ActivityState::start(&workflow, activity, &scope, place) {
                    Ok(state) => Phase::Activity(Box::new(state)),
                    Err(error) => Phase::Broken(error),
                }
            }
            NodeBody::Map(body) => match workflow.expressions.evaluate(&body.over, &scope) {
                Ok(Value::Array(items)) => Phase::Map(MapState::new(items)),
                Ok(other) => Phase::Broken(StepError::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "`over: {}` gave {}, not a list",
                        body.over.source,
                        weft_core::state::type_name(&other)
                    ),
                )),
                Err(error) => Phase::Broken(StepError::new(
                    ErrorKind::InvalidInput,
                    format!("`over` failed: {}", error.message),
                )),
            },
            NodeBody::Human(body) => match workflow.expressions.render(&body.ask, &scope) {
                Ok(question) => Phase::Human {
                    question,
                    interrupted: false,
                    answer: None,
                },
                Err(error) => Phase::Broken(StepError::new(
                    ErrorKind::InvalidInput,
                    format!("`ask` failed to render: {}", error.message),
                )),
            },
            NodeBody::Router => Phase::Router,
            NodeBody::End(_) => Phase::End,
        }
    }
}
