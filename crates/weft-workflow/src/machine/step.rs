//! The decisions of the run machine: which step starts next, what the current step needs,
//! and how a finished step writes the state and routes.

use super::activity::{ActivityState, Progress};
use super::command::Decision;
use super::effect::{InFlight, Place};
use super::map::{MapProgress, MapState};
use super::writes::{check_write, invalid_step, next_node, node_writes};
use super::{Next, Phase, RunMachine};
use crate::error::RunError;
use crate::expression::{Scope, StateView, to_template_value};
use crate::workflow::{MapBody, NodeBody, Workflow};
use serde_json::Value;
use weft_core::{ErrorKind, Event, RunStatus, StateDelta, StepError, Within};

/// What a running step came to, found while its phase is borrowed.
enum StepAction {
    /// It waits for effects, for its branches, or for a person.
    Wait,
    Fail(StepError),
    /// Done: writes are evaluated once per scope of `per_branch` (a map) or once in `route`,
    /// and routing in `route`.
    Complete {
        per_branch: Option<Vec<Scope>>,
        route: Scope,
    },
}

impl StepAction {
    fn complete_with(scope: Scope) -> Self {
        Self::Complete {
            per_branch: None,
            route: scope,
        }
    }
}

impl RunMachine {
    /// Decides until the run needs an effect's result, a person, or is over. When nothing
    /// can move and no effect is in flight, the run stops for its open questions.
    pub(super) fn advance(&mut self, decision: &mut Decision) -> Result<(), RunError> {
        while self.status == RunStatus::Running {
            if let Some((number, node, error)) = self.failed_step() {
                let error = StepError::new(
                    error.kind,
                    format!("node `{node}` (step {number}): {}", error.message),
                );
                self.record(
                    Event::RunFailed {
                        step: Some(number),
                        error,
                    },
                    decision,
                )?;
                continue;
            }
            if self.steps.is_empty() {
                if !self.start_next(decision)? {
                    return Ok(());
                }
                continue;
            }
            if self.start_branches(decision)? || self.poll_steps(decision)? {
                continue;
            }
            if self.in_flight.is_empty() {
                self.ask(decision)?;
            }
            return Ok(());
        }
        Ok(())
    }

    /// The first running step that failed: its number, node and error.
    fn failed_step(&self) -> Option<(u64, String, StepError)> {
        self.steps.iter().find_map(|step| {
            step.failed
                .clone()
                .map(|error| (step.number, step.node.clone(), error))
        })
    }

    /// Polls every running step, oldest first, until one moves: true when one did (the
    /// running steps may have changed).
    fn poll_steps(&mut self, decision: &mut Decision) -> Result<bool, RunError> {
        for position in 0..self.steps.len() {
            let action = self.poll_step(position, decision)?;
            if matches!(action, StepAction::Wait) {
                continue;
            }
            // The step's number and node, named by its events (read after the poll, which
            // keeps the steps where they are).
            let Some(step) = self.steps.get(position) else {
                break;
            };
            let (number, node) = (step.number, step.node.clone());
            match action {
                StepAction::Wait => {}
                StepAction::Fail(error) => {
                    self.record(
                        Event::StepFailed {
                            step: number,
                            node,
                            error,
                        },
                        decision,
                    )?;
                    return Ok(true);
                }
                StepAction::Complete { per_branch, route } => {
                    self.remember(position, number, decision)?;
                    self.complete(number, &node, per_branch.as_deref(), route, decision)?;
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Starts the next step of every branch that has one: true when one started.
    fn start_branches(&mut self, decision: &mut Decision) -> Result<bool, RunError> {
        let mut starts = Vec::new();
        for step in &self.steps {
            if let Phase::Parallel(parallel) = &step.phase {
                starts.extend(parallel.to_start().map(|(branch, node)| {
                    let within = Within {
                        step: step.number,
                        branch,
                    };
                    (node.to_owned(), within)
                }));
            }
        }
        let started = !starts.is_empty();
        for (node, within) in starts {
            if self.status != RunStatus::Running {
                break;
            }
            self.start_step(node, Some(within), decision)?;
        }
        Ok(started)
    }

    /// Starts the next step of the run's own line, or finishes the run. False when there
    /// is nothing to do.
    fn start_next(&mut self, decision: &mut Decision) -> Result<bool, RunError> {
        let target = match &self.next {
            Next::Nothing => return Ok(false),
            Next::Entry => self.workflow.entry.clone(),
            Next::Node(name) => name.clone(),
            Next::Finish(last) => {
                let last = last.clone();
                let event = match self.final_output(&last) {
                    Ok(output) => Event::RunFinished { output },
                    Err(error) => Event::RunFailed { step: None, error },
                };
                self.record(event, decision)?;
                return Ok(true);
            }
        };
        self.start_step(target, None, decision)?;
        Ok(true)
    }

    /// Starts a step at `target` (in the branch `within`, if any), unless a limit on
    /// steps stops the run first.
    fn start_step(
        &mut self,
        target: String,
        within: Option<Within>,
        decision: &mut Decision,
    ) -> Result<(), RunError> {
        let workflow = self.workflow.clone();
        if let Some(max_steps) = workflow.limits.max_steps
            && self.step >= max_steps
        {
            let error = StepError::new(
                ErrorKind::LimitExceeded,
                format!(
                    "the run reached its limit of {max_steps} steps (limits.max_steps) before finishing; the next node was `{target}`"
                ),
            );
            return self.record(Event::RunFailed { step: None, error }, decision);
        }
        let Some(node) = workflow.nodes.get(&target) else {
            return Err(RunError::UnexpectedEvent {
                event: "step_finished",
                reason: format!("no node `{target}`"),
            });
        };
        let visits = workflow
            .nodes
            .get_index_of(&target)
            .and_then(|index| self.visits.get(index))
            .copied()
            .unwrap_or(0);
        if let Some(max_steps) = node.limits.max_steps
            && visits >= max_steps
        {
            let error = StepError::new(
                ErrorKind::LimitExceeded,
                format!(
                    "node `{target}` already ran {visits} times, its limit (limits.max_steps); the loop through it did not end"
                ),
            );
            return self.record(Event::RunFailed { step: None, error }, decision);
        }
        let event = Event::StepStarted {
            step: self.step + 1,
            node: target,
            kind: node.kind(),
            within,
        };
        self.record(event, decision)
    }

    /// What the running step at `position` needs now: its phase is polled, and the
    /// effects its activity (or map branches) need are added to `decision`.
    fn poll_step(
        &mut self,
        position: usize,
        decision: &mut Decision,
    ) -> Result<StepAction, RunError> {
        let run = self.run;
        let Some(step) = self.steps.get_mut(position) else {
            return Ok(StepAction::Wait);
        };
        let place = Place {
            run,
            step: step.number,
            branch: None,
        };
        // An activity that is still working (most polls) needs no scope: its effects are
        // asked for, and it waits.
        if let Phase::Activity(activity) = &mut step.phase {
            activity.commands(
                place,
                &mut self.in_flight,
                &mut decision.events,
                &mut decision.commands,
            );
            if matches!(
                activity.progress(),
                Progress::Working | Progress::Waiting(_)
            ) {
                return Ok(StepAction::Wait);
            }
        }
        let workflow = self.workflow.clone();
        let mut scope = self.scope();
        let in_flight = &mut self.in_flight;
        let Some(step) = self.steps.get_mut(position) else {
            return Ok(StepAction::Wait);
        };
        Ok(match &mut step.phase {
            Phase::Broken(error) => StepAction::Fail(error.clone()),
            Phase::Router | Phase::End => StepAction::complete_with(scope),
            Phase::Parallel(parallel) if parallel.done() => StepAction::complete_with(scope),
            Phase::Parallel(_) => StepAction::Wait,
            Phase::Human { answer, .. } => match answer {
                Some(answer) => {
                    scope.set_json("input", answer).set_json("output", answer);
                    StepAction::complete_with(scope)
                }
                None => StepAction::Wait,
            },
            Phase::Activity(activity) => activity_action(activity, scope),
            Phase::Map(map) => {
                let Some(NodeBody::Map(body)) =
                    workflow.nodes.get(&step.node).map(|node| &node.body)
                else {
                    return Ok(StepAction::Fail(StepError::new(
                        ErrorKind::Internal,
                        "map step without a map node",
                    )));
                };
                let branches = MapStep {
                    workflow: &workflow,
                    body,
                    place,
                };
                branches.poll(map, in_flight, decision, scope)
            }
        })
    }

    /// Adds a finished model step's messages to the run's session (in the same append as
    /// the step's end, so the session never holds half a step).
    fn remember(
        &mut self,
        position: usize,
        number: u64,
        decision: &mut Decision,
    ) -> Result<(), RunError> {
        let Some(Phase::Activity(activity)) = self.steps.get(position).map(|step| &step.phase)
        else {
            return Ok(());
        };
        let Some(messages) = activity.transcript() else {
            return Ok(());
        };
        self.record(
            Event::Remembered {
                step: number,
                branch: None,
                messages,
                counts: None,
            },
            decision,
        )
    }

    /// Applies a finished step's writes through the fields' reducers, then routes.
    fn complete(
        &mut self,
        number: u64,
        node_name: &str,
        per_branch: Option<&[Scope]>,
        mut route: Scope,
        decision: &mut Decision,
    ) -> Result<(), RunError> {
        let workflow = self.workflow.clone();
        let Some(node) = workflow.nodes.get(node_name) else {
            return Err(RunError::UnexpectedEvent {
                event: "step_started",
                reason: format!("no node `{node_name}`"),
            });
        };
        let failed = |error: StepError| Event::StepFailed {
            step: number,
            node: node_name.to_owned(),
            error,
        };
        let write_scopes = per_branch.unwrap_or(std::slice::from_ref(&route));
        let delta = match node_writes(&workflow, node, write_scopes) {
            Ok(delta) => delta,
            Err(error) => return self.record(failed(error), decision),
        };
        if !delta.writes.is_empty() {
            if let Err(error) = self.check_delta(&delta) {
                return self.record(failed(error), decision);
            }
            // The route sees the state after the writes; its view of the state before them
            // goes now, so the writes need not copy what it holds.
            route.set("state", minijinja::Value::UNDEFINED);
            self.record(
                Event::StateChanged {
                    step: number,
                    delta,
                },
                decision,
            )?;
            let state = self.state_value();
            route.set("state", state);
        }
        let next = match next_node(&workflow, node, &route) {
            Ok(next) => next,
            Err(error) => return self.record(failed(error), decision),
        };
        self.record(
            Event::StepFinished {
                step: number,
                node: node_name.to_owned(),
                next,
            },
            decision,
        )
    }

    /// Checks that a delta fits the declared fields. Each write is checked on its own: the
    /// value of a replace, the item of an append, the number of an add, the object of a merge.
    fn check_delta(&self, delta: &StateDelta) -> Result<(), StepError> {
        for write in &delta.writes {
            let Some(field) = self.workflow.fields.get(&write.field) else {
                return Err(invalid_step(format!(
                    "state field `{}` is not declared",
                    write.field
                )));
            };
            check_write(field, write).map_err(|problem| {
                invalid_step(format!(
                    "the value written to `{}` does not fit its type {}: {problem}",
                    write.field,
                    field.field_type.as_str()
                ))
            })?;
        }
        Ok(())
    }

    /// The current state as a template value (cached until the state changes).
    pub(super) fn state_value(&mut self) -> minijinja::Value {
        self.state_value
            .get_or_insert_with(|| {
                minijinja::Value::from_object(StateView::new(
                    self.workflow.field_names.clone(),
                    self.field_values.clone(),
                ))
            })
            .clone()
    }

    /// The run's output after its last node.
    fn final_output(&mut self, last: &str) -> Result<Value, StepError> {
        let workflow = self.workflow.clone();
        let template = match workflow.nodes.get(last).map(|node| &node.body) {
            Some(NodeBody::End(end)) if end.output.is_some() => end.output.as_ref(),
            _ => workflow.output.as_ref(),
        };
        let Some(template) = template else {
            return Ok(Value::Object(self.state.clone()));
        };
        let scope = self.scope();
        workflow
            .expressions
            .render_value(template, &scope)
            .map_err(|error| {
                StepError::new(
                    ErrorKind::InvalidInput,
                    format!("the run's output failed to render: {}", error.message),
                )
            })
    }
}

/// What an activity step came to; a done one completes with its output (and reply) in
/// `scope`.
fn activity_action(activity: &ActivityState, mut scope: Scope) -> StepAction {
    match activity.progress() {
        Progress::Working => StepAction::Wait,
        Progress::Failed(error) => StepAction::Fail(error.clone()),
        Progress::Waiting(_) => StepAction::Wait,
        Progress::Done(output, reply) => {
            let output_value = to_template_value(output);
            // Without an output schema the output is the reply: one value serves both.
            if let Some(reply) = reply {
                let reply_value = if output.as_str() == Some(reply) {
                    output_value.clone()
                } else {
                    minijinja::Value::from(reply)
                };
                scope.set("reply", reply_value);
            }
            scope.set("output", output_value);
            StepAction::complete_with(scope)
        }
    }
}

/// A map step being polled: its workflow, its node's settings and where it runs.
struct MapStep<'a> {
    workflow: &'a Workflow,
    body: &'a MapBody,
    place: Place,
}

impl MapStep<'_> {
    /// Starts the branches that may start, collects the effects of every started branch,
    /// and says what the map came to.
    fn poll(
        &self,
        map: &mut MapState,
        in_flight: &mut InFlight,
        decision: &mut Decision,
        scope: Scope,
    ) -> StepAction {
        for index in map.branches_to_start(self.body.max_parallel) {
            if let Err(error) =
                map.start_branch(self.workflow, self.body, &scope, self.branch(index), index)
            {
                return StepAction::Fail(StepError::new(
                    error.kind,
                    format!("map branch {index}: {}", error.message),
                ));
            }
        }
        for (index, branch) in map.branches.iter_mut().enumerate() {
            if let Some(branch) = branch {
                branch.commands(
                    self.branch(index),
                    in_flight,
                    &mut decision.events,
                    &mut decision.commands,
                );
            }
        }
        match map.progress() {
            MapProgress::Working => StepAction::Wait,
            MapProgress::Failed(index, error) => StepAction::Fail(StepError::new(
                error.kind,
                format!("map branch {index}: {}", error.message),
            )),
            MapProgress::Waiting => StepAction::Wait,
            MapProgress::Done(outputs) => self.done(map, outputs, scope),
        }
    }

    /// Where branch `index` runs.
    fn branch(&self, index: usize) -> Place {
        Place {
            branch: u32::try_from(index).ok(),
            ..self.place
        }
    }

    /// Every branch is done: the writes run once per branch, each seeing its own `output`
    /// (and `reply`), `item`, `index` and every branch's `outputs`.
    fn done(
        &self,
        map: &MapState,
        outputs: Vec<(&Value, Option<&str>)>,
        mut scope: Scope,
    ) -> StepAction {
        let outputs_value = Value::Array(
            outputs
                .iter()
                .map(|(output, _)| (*output).clone())
                .collect(),
        );
        let outputs_template = to_template_value(&outputs_value);
        let writes = outputs
            .into_iter()
            .enumerate()
            .map(|(index, (output, reply))| {
                let mut branch_scope = map.branch_scope(&scope, self.body, index);
                branch_scope
                    .set_json("output", output)
                    .set("outputs", outputs_template.clone());
                if let Some(reply) = reply {
                    branch_scope.set("reply", minijinja::Value::from(reply));
                }
                branch_scope
            })
            .collect::<Vec<_>>();
        // Routing sees every output; an empty list runs no branch and no writes.
        scope
            .set("outputs", outputs_template.clone())
            .set("output", outputs_template);
        StepAction::Complete {
            per_branch: Some(writes),
            route: scope,
        }
    }
}
