//! The fold: how each event changes a run. Replaying a log is applying its events in order.
//! `RunMachine::apply` hands each event to the fold of its family: the run's start and
//! end, a step's start and end, the results of effects (model calls, tool calls, child
//! runs), state changes, and interruptions.

use super::activity::{ActivityState, ChildQuestion, ChildUpdate, FindingKind};
use super::effect::{Effect, EffectKey};
use super::map::MapState;
use super::parallel::{Line, ParallelState};
use super::{Next, Phase, RunMachine, StepState, activity_of};
use crate::error::{ActivityMismatch, RunError};
use crate::expression::to_template_value;
use crate::workflow::{Activity, NodeBody, OutputSchema};
use serde_json::Value;
use std::sync::Arc;
use weft_core::{ErrorKind, Event, ModelReply, RunStatus, StateDelta, StepError, Within};

/// The error of an event that does not fit where the run stands.
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
            Event::RunStarted { input, session, .. } => {
                self.session = session.as_deref().cloned();
                self.fold_run_started(event, input)?;
            }
            Event::StepStarted {
                step, node, within, ..
            } => self.fold_step_started(event, *step, node, *within)?,
            Event::ModelReplied {
                step,
                branch,
                turn,
                reply,
                ..
            } => self.fold_model_replied(event, *step, *branch, *turn, reply)?,
            Event::ModelFailed {
                step,
                branch,
                turn,
                error,
            } => self.fold_effect_failed(event, *step, *branch, Effect::Model(*turn), error)?,
            Event::ToolCallStarted { .. } | Event::ToolCallFinished { .. } => {
                self.fold_tool(event)?
            }
            Event::ChildStarted {
                step, branch, run, ..
            } => self.fold_child(event, *step, *branch, ChildUpdate::Started(*run))?,
            Event::ChildFinished {
                step,
                branch,
                output,
            } => self.fold_child(event, *step, *branch, ChildUpdate::Finished(output))?,
            Event::ChildFailed {
                step,
                branch,
                error,
            } => self.fold_effect_failed(event, *step, *branch, Effect::Child, error)?,
            Event::ChildInterrupted {
                step,
                branch,
                question,
                input_schema,
                id,
            } => {
                let update = ChildUpdate::Interrupted(ChildQuestion {
                    id: id.clone(),
                    question: question.clone(),
                    input_schema: input_schema.clone(),
                });
                self.fold_child(event, *step, *branch, update)?;
            }
            Event::StateChanged { delta, .. } => self.fold_state_changed(event, delta)?,
            Event::StepFinished { step, node, next } => {
                self.fold_step_finished(event, *step, node, next.as_ref())?
            }
            Event::StepFailed { step, error, .. } => self.fold_step_failed(event, *step, error)?,
            Event::Interrupted { .. } => self.fold_interrupted(),
            Event::Resumed { step, input, id } => {
                self.fold_resumed(event, *step, id.as_deref(), input)?
            }
            Event::AttentionNeeded { calls, child } => {
                self.on_attention_needed(calls, child.as_ref())
            }
            Event::Retried { calls } => self.on_retried(event, calls)?,
            Event::RunFinished { output } => self.fold_run_finished(output),
            Event::RunFailed { error, .. } => self.fold_run_failed(error),
            Event::RunCancelled { .. } => self.fold_run_cancelled(),
            Event::GuardChecked(_)
            | Event::GuardBlocked(_)
            | Event::GuardRedacted(_)
            | Event::GuardFlagged(_) => self.fold_guard(event)?,
            // Facts the store keeps (the session's, the texts'); the state is unchanged.
            Event::Remembered { .. } | Event::Compacted { .. } | Event::WorkflowUpgraded { .. } => {
            }
        }
        Ok(())
    }

    /// Folds a tool call's start or result (other events are not this function's).
    fn fold_tool(&mut self, event: &Event) -> Result<(), RunError> {
        match event {
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
                let key = EffectKey::new(*step, *branch, Effect::Tool(*turn, *index));
                self.fold_effect_result(event, key, true, |activity| {
                    activity.on_tool_finished(*turn, *index, outcome)
                })?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Folds a guard's verdict (an effect's result), or a finding the machine recorded
    /// (its activity decided it already); other events are not this function's.
    fn fold_guard(&mut self, event: &Event) -> Result<(), RunError> {
        let (kind, found) = match event {
            Event::GuardChecked(checked) => {
                let place = self.place(checked.step, checked.branch);
                let key = EffectKey::guard(place, checked.check);
                return self.fold_effect_result(event, key, true, |activity| {
                    activity.on_guard_checked(place, checked.check, &checked.outcome)
                });
            }
            Event::GuardBlocked(found) => (FindingKind::Blocked, found),
            Event::GuardRedacted(found) => (FindingKind::Redacted, found),
            Event::GuardFlagged(found) => (FindingKind::Flagged, found),
            _ => return Ok(()),
        };
        self.activity_mut(event, found.step, found.branch)?
            .on_guard_recorded(kind, found.check)
            .map_err(|mismatch| unexpected(event, mismatch.to_string()))
    }

    // The run's start and end.

    /// The state starts from the fields' initial values and the input; the entry node is next.
    fn fold_run_started(&mut self, event: &Event, input: &Value) -> Result<(), RunError> {
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
            .collect::<Vec<_>>()
            .into();
        self.state_value = None;
        self.input = input.clone();
        self.input_value = to_template_value(input);
        self.status = RunStatus::Running;
        self.next = Next::Entry;
        Ok(())
    }

    fn fold_run_finished(&mut self, output: &Value) {
        self.status = RunStatus::Finished;
        self.output = Some(output.clone());
        self.next = Next::Nothing;
    }

    fn fold_run_failed(&mut self, error: &StepError) {
        self.status = RunStatus::Failed;
        self.attention = None;
        self.failure = Some(error.clone());
        self.next = Next::Nothing;
    }

    fn fold_run_cancelled(&mut self) {
        self.status = RunStatus::Cancelled;
        self.next = Next::Nothing;
    }

    // A step's start and end.

    /// The node's step starts, on the run's own line or in a branch of a parallel step:
    /// it is counted, and its phase entered.
    fn fold_step_started(
        &mut self,
        event: &Event,
        step: u64,
        node: &str,
        within: Option<Within>,
    ) -> Result<(), RunError> {
        let Some(index) = self.workflow.nodes.get_index_of(node) else {
            return Err(unexpected(
                event,
                format!("the workflow has no node `{node}`"),
            ));
        };
        match within {
            None if self.steps.iter().any(|running| running.within.is_none()) => {
                return Err(unexpected(event, "a step is still running"));
            }
            None => self.next = Next::Nothing,
            Some(within) => *self.line_mut(event, within)? = Line::Running(step),
        }
        self.step = step;
        let mut visit = 1;
        if let Some(visits) = self.visits.get_mut(index) {
            *visits += 1;
            visit = *visits;
        }
        let phase = self.enter(node, step, within);
        self.steps.push(StepState {
            number: step,
            node: node.to_owned(),
            phase,
            failed: None,
            within,
            visit,
        });
        Ok(())
    }

    /// The line of the branch `within` names.
    fn line_mut(&mut self, event: &Event, within: Within) -> Result<&mut Line, RunError> {
        match self.running_mut(within.step).map(|step| &mut step.phase) {
            Some(Phase::Parallel(parallel)) => parallel.line_mut(within.branch).ok_or_else(|| {
                unexpected(
                    event,
                    format!("step {} has no branch {}", within.step, within.branch),
                )
            }),
            _ => Err(unexpected(
                event,
                format!("step {} is not a running parallel step", within.step),
            )),
        }
    }

    /// The step is over. On the run's own line, the run goes to `next` or ends after
    /// `node`; in a branch, the branch goes on at `next`, or has arrived at the join.
    fn fold_step_finished(
        &mut self,
        event: &Event,
        step: u64,
        node: &str,
        next: Option<&String>,
    ) -> Result<(), RunError> {
        let Some(position) = self.steps.iter().position(|running| running.number == step) else {
            return Err(unexpected(event, format!("step {step} is not running")));
        };
        let finished = self.steps.remove(position);
        let Some(within) = finished.within else {
            self.next = match next {
                Some(target) => Next::Node(target.clone()),
                None => Next::Finish(node.to_owned()),
            };
            self.on_boundary(node);
            return Ok(());
        };
        let join = self.running(within.step).and_then(|parallel| {
            match self
                .workflow
                .nodes
                .get(&parallel.node)
                .map(|node| &node.body)
            {
                Some(NodeBody::Parallel(body)) => Some(body.join.clone()),
                _ => None,
            }
        });
        let line = match next {
            Some(target) if Some(target) != join.as_ref() => Line::Next(target.clone()),
            _ => Line::Arrived,
        };
        *self.line_mut(event, within)? = line;
        Ok(())
    }

    /// The step failed; the run fails with it when the machine next decides.
    fn fold_step_failed(
        &mut self,
        event: &Event,
        step: u64,
        error: &StepError,
    ) -> Result<(), RunError> {
        let step = self
            .running_mut(step)
            .ok_or_else(|| unexpected(event, format!("step {step} is not running")))?;
        step.failed = Some(error.clone());
        Ok(())
    }

    // The results of effects.

    /// A model's reply, for the activity of its step and branch.
    fn fold_model_replied(
        &mut self,
        event: &Event,
        step: u64,
        branch: Option<u32>,
        turn: u32,
        reply: &ModelReply,
    ) -> Result<(), RunError> {
        let output_schema = self.output_schema_of(step);
        let place = self.place(step, branch);
        let key = EffectKey::new(step, branch, Effect::Model(turn));
        self.fold_effect_result(event, key, true, |activity| {
            activity.on_model_reply(place, turn, reply, output_schema.as_deref())
        })
    }

    /// A child run's progress, for the activity of its step and branch.
    fn fold_child(
        &mut self,
        event: &Event,
        step: u64,
        branch: Option<u32>,
        update: ChildUpdate<'_>,
    ) -> Result<(), RunError> {
        let settles = update.settles_effect();
        let key = EffectKey::new(step, branch, Effect::Child);
        self.fold_effect_result(event, key, settles, |activity| activity.on_child(update))
    }

    /// A failed model call or child run fails its activity.
    fn fold_effect_failed(
        &mut self,
        event: &Event,
        step: u64,
        branch: Option<u32>,
        effect: Effect,
        error: &StepError,
    ) -> Result<(), RunError> {
        let key = EffectKey::new(step, branch, effect);
        self.fold_effect_result(event, key, true, |activity| {
            activity.fail(error.clone());
            Ok(())
        })
    }

    /// Hands an effect's result to its activity with `take`; when the result `settles` the
    /// effect, it is no longer in flight.
    fn fold_effect_result(
        &mut self,
        event: &Event,
        key: EffectKey,
        settles: bool,
        take: impl FnOnce(&mut ActivityState) -> Result<(), ActivityMismatch>,
    ) -> Result<(), RunError> {
        let activity = self.activity_mut(event, key.step, key.branch)?;
        take(activity).map_err(|mismatch| unexpected(event, mismatch.to_string()))?;
        if settles {
            self.in_flight.remove(&key);
        }
        Ok(())
    }

    // State changes and interruptions.

    /// Applies a delta, and refreshes the template values of the fields it wrote.
    fn fold_state_changed(&mut self, event: &Event, delta: &StateDelta) -> Result<(), RunError> {
        delta
            .apply_to(&mut self.state)
            .map_err(|error| unexpected(event, error.to_string()))?;
        // The cached view goes first: the values are then copied only if a scope still
        // holds a view of them.
        self.state_value = None;
        let field_values = Arc::make_mut(&mut self.field_values);
        for write in &delta.writes {
            if let Some(index) = self.workflow.fields.get_index_of(&write.field)
                && let (Some(slot), Some(value)) =
                    (field_values.get_mut(index), self.state.get(&write.field))
            {
                *slot = to_template_value(value);
            }
        }
        Ok(())
    }

    fn output_schema_of(&self, step: u64) -> Option<Arc<OutputSchema>> {
        let step = self.running(step)?;
        match activity_of(&self.workflow, &step.node)? {
            Activity::Llm(llm) => llm.output_schema.as_ref().map(|schema| {
                Arc::new(OutputSchema {
                    schema: schema.schema.clone(),
                    validator: schema.validator.clone(),
                })
            }),
            Activity::Agent(_) | Activity::Tool(_) | Activity::Workflow(_) => None,
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
            .running(step)
            .ok_or_else(|| unexpected(event, format!("step {step} is not running")))?;
        let index = branch.map(|branch| usize::try_from(branch).unwrap_or(usize::MAX));
        // Replay can meet a branch's event before the branch was started in this machine;
        // only then is a scope needed to start it.
        let needs_start = matches!((&current.phase, index), (Phase::Map(map), Some(index))
            if map.branches.get(index).is_some_and(Option::is_none));
        let scope = needs_start.then(|| self.scope());
        let workflow = self.workflow.clone();
        let place = self.place(step, branch);
        let Some(current) = self.running_mut(step) else {
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
            (Phase::Activity(_), Some(_))
            | (Phase::Map(_), None)
            | (
                Phase::Broken(_)
                | Phase::Parallel(_)
                | Phase::Human { .. }
                | Phase::Router
                | Phase::End,
                _,
            ) => Err(unexpected(event, "the running step has no such activity")),
        }
    }

    /// The phase a node starts in as step `step`; template failures make a broken phase
    /// that fails the step. Steps in parallel branches do not speak in the session (their
    /// messages would interleave).
    fn enter(&mut self, node_name: &str, step: u64, within: Option<Within>) -> Phase {
        let workflow = self.workflow.clone();
        let Some(node) = workflow.nodes.get(node_name) else {
            return Phase::Broken(StepError::new(
                ErrorKind::Internal,
                format!("no node `{node_name}`"),
            ));
        };
        let scope = self.scope();
        let place = self.place(step, None);
        let session = self.session_id().filter(|_| within.is_none());
        match &node.body {
            NodeBody::Activity(activity) => {
                match ActivityState::start(&workflow, activity, &scope, place, session) {
                    Ok(state) => Phase::Activity(state),
                    Err(error) => Phase::Broken(error),
                }
            }
            NodeBody::Parallel(body) => match ParallelState::enter(&workflow, body, &scope) {
                Ok(state) => Phase::Parallel(state),
                Err(error) => Phase::Broken(error),
            },
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
