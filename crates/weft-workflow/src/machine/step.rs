//! The decisions of the run machine: which step starts next, what the current step needs,
//! and how a finished step writes the state and routes.

use super::activity::Progress;
use super::map::MapProgress;
use super::{Decision, Next, Phase, RunMachine};
use crate::error::RunError;
use crate::expression::{Scope, StateView, to_template_value};
use crate::spec::FieldType;
use crate::workflow::{END, NodeBody, Transition, check_schema};
use serde_json::Value;
use weft_core::{ErrorKind, Event, FieldWrite, RunStatus, StateDelta, StepError, WriteOp};

/// What the current step came to, found while its phase is borrowed.
enum StepAction {
    Wait,
    Fail(StepError),
    Interrupt(String, Option<Value>),
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
    /// Decides until the run needs an effect's result, a person, or is over.
    pub(super) fn advance(&mut self, decision: &mut Decision) -> Result<(), RunError> {
        while self.status == RunStatus::Running {
            if self.current.is_none() {
                if !self.start_next(decision)? {
                    return Ok(());
                }
                continue;
            }
            let (number, node) = match &self.current {
                Some(step) => (step.number, step.node.clone()),
                None => continue,
            };
            if let Some(error) = self.current.as_ref().and_then(|step| step.failed.clone()) {
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
            match self.poll_step(decision)? {
                StepAction::Wait => return Ok(()),
                StepAction::Fail(error) => self.record(
                    Event::StepFailed {
                        step: number,
                        node,
                        error,
                    },
                    decision,
                )?,
                StepAction::Interrupt(question, input_schema) => {
                    self.record(
                        Event::Interrupted {
                            step: number,
                            node,
                            question,
                            input_schema,
                        },
                        decision,
                    )?;
                }
                StepAction::Complete { per_branch, route } => {
                    self.complete(number, &node, per_branch.as_deref(), route, decision)?;
                }
            }
        }
        Ok(())
    }

    /// Starts the next step, or finishes the run. False when there is nothing to do.
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
            self.record(Event::RunFailed { step: None, error }, decision)?;
            return Ok(true);
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
            self.record(Event::RunFailed { step: None, error }, decision)?;
            return Ok(true);
        }
        let event = Event::StepStarted {
            step: self.step + 1,
            node: target,
            kind: node.kind_name().to_owned(),
        };
        self.record(event, decision)?;
        Ok(true)
    }

    fn poll_step(&mut self, decision: &mut Decision) -> Result<StepAction, RunError> {
        let workflow = self.workflow.clone();
        let mut scope = self.scope();
        let run = self.run;
        let in_flight = &mut self.in_flight;
        let Some(step) = self.current.as_mut() else {
            return Ok(StepAction::Wait);
        };
        let place = super::activity::Place {
            run,
            step: step.number,
            branch: None,
        };
        Ok(match &mut step.phase {
            Phase::Broken(error) => StepAction::Fail(error.clone()),
            Phase::Router | Phase::End => StepAction::complete_with(scope),
            Phase::Human {
                question,
                interrupted,
                answer,
            } => match answer {
                Some(answer) => {
                    scope.set_json("input", answer).set_json("output", answer);
                    StepAction::complete_with(scope)
                }
                None if !*interrupted => {
                    StepAction::Interrupt(question.clone(), human_schema(&workflow, &step.node))
                }
                None => StepAction::Wait,
            },
            Phase::Activity(activity) => {
                activity.commands(
                    place,
                    in_flight,
                    &mut decision.events,
                    &mut decision.commands,
                );
                match activity.progress() {
                    Progress::Working => StepAction::Wait,
                    Progress::Failed(error) => StepAction::Fail(error.clone()),
                    Progress::Waiting(question, schema) => {
                        StepAction::Interrupt(question.to_owned(), schema.cloned())
                    }
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
            Phase::Map(map) => {
                let Some(NodeBody::Map(body)) =
                    workflow.nodes.get(&step.node).map(|node| &node.body)
                else {
                    return Ok(StepAction::Fail(StepError::new(
                        ErrorKind::Internal,
                        "map step without a map node",
                    )));
                };
                for index in map.branches_to_start(body.max_parallel) {
                    let branch_place = super::activity::Place {
                        branch: u32::try_from(index).ok(),
                        ..place
                    };
                    if let Err(error) =
                        map.start_branch(&workflow, body, &scope, branch_place, index)
                    {
                        return Ok(StepAction::Fail(StepError::new(
                            error.kind,
                            format!("map branch {index}: {}", error.message),
                        )));
                    }
                }
                for (index, branch) in map.branches.iter_mut().enumerate() {
                    if let Some(branch) = branch {
                        let branch_place = super::activity::Place {
                            branch: u32::try_from(index).ok(),
                            ..place
                        };
                        branch.commands(
                            branch_place,
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
                    MapProgress::Waiting(_, question, schema) => {
                        StepAction::Interrupt(question.to_owned(), schema.cloned())
                    }
                    MapProgress::Done(outputs) => {
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
                                let mut branch_scope = map.branch_scope(&scope, body, index);
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
            }
        })
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
        let fail = |message: String| Event::StepFailed {
            step: number,
            node: node_name.to_owned(),
            error: StepError::new(ErrorKind::InvalidInput, message),
        };
        let mut delta = StateDelta::default();
        let write_scopes = per_branch.unwrap_or(std::slice::from_ref(&route));
        for scope in write_scopes {
            for write in &node.writes {
                let Some(field) = workflow.fields.get(&write.field) else {
                    return self.record(
                        fail(format!("state field `{}` is not declared", write.field)),
                        decision,
                    );
                };
                let value = match workflow.expressions.render_value(&write.value, scope) {
                    Ok(value) => value,
                    Err(error) => {
                        return self.record(
                            fail(format!("writes.{} failed: {}", write.field, error.message)),
                            decision,
                        );
                    }
                };
                delta.writes.push(FieldWrite {
                    field: write.field.clone(),
                    op: field.write_op(),
                    value,
                });
            }
        }
        if !delta.writes.is_empty() {
            if let Err(message) = self.check_delta(&delta) {
                return self.record(fail(message), decision);
            }
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
        let next = match &node.next {
            Transition::End => None,
            Transition::To(target) => Some(target.clone()),
            Transition::Edges(edges) => {
                let mut chosen = None;
                for edge in edges {
                    let holds = match &edge.when {
                        None => true,
                        Some(condition) => match workflow.expressions.holds(condition, &route) {
                            Ok(holds) => holds,
                            Err(error) => {
                                let message = format!(
                                    "`when: {}` failed: {}",
                                    condition.source, error.message
                                );
                                return self.record(fail(message), decision);
                            }
                        },
                    };
                    if holds {
                        chosen = Some(edge.to.clone());
                        break;
                    }
                }
                chosen
            }
        };
        let next = next.filter(|target| target != END || workflow.nodes.contains_key(END));
        let next = if matches!(node.body, NodeBody::End(_)) {
            None
        } else {
            next
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
    fn check_delta(&self, delta: &StateDelta) -> Result<(), String> {
        for write in &delta.writes {
            let Some(field) = self.workflow.fields.get(&write.field) else {
                return Err(format!("state field `{}` is not declared", write.field));
            };
            let result = match write.op {
                WriteOp::Replace => check_schema(&field.validator, &write.value),
                WriteOp::Append => field
                    .item_validator
                    .as_ref()
                    .map_or(Ok(()), |items| check_schema(items, &write.value)),
                WriteOp::Add => match (&write.value, field.field_type) {
                    (Value::Number(number), FieldType::Integer)
                        if !(number.is_i64() || number.is_u64()) =>
                    {
                        Err(format!("{number} is not an integer"))
                    }
                    (Value::Number(_), _) => Ok(()),
                    (other, _) => Err(format!(
                        "`add` needs a number, got {}",
                        weft_core::state::type_name(other)
                    )),
                },
                WriteOp::Merge => match &write.value {
                    Value::Object(_) => Ok(()),
                    other => Err(format!(
                        "`merge` needs an object, got {}",
                        weft_core::state::type_name(other)
                    )),
                },
            };
            result.map_err(|problem| {
                format!(
                    "the value written to `{}` does not fit its type {}: {problem}",
                    write.field,
                    field.field_type.as_str()
                )
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

fn human_schema(workflow: &crate::workflow::Workflow, node: &str) -> Option<Value> {
    match workflow.nodes.get(node).map(|node| &node.body) {
        Some(NodeBody::Human(human)) => human
            .input_schema
            .as_ref()
            .map(|schema| schema.schema.clone()),
        _ => None,
    }
}
