//! The `workflow` activity: a child run of a sub-workflow with a rendered input; its
//! output is the child's output, and its questions are the parent's.

use crate::expression::{Expressions, Scope};
use crate::machine::activity::shared::{ChildQuestion, ChildUpdate, Progress, render_error};
use crate::machine::command::{ChildRun, Command};
use crate::machine::effect::{EffectKey, InFlight, Place};
use crate::workflow::{ChildBody, Workflow};
use serde_json::Value;
use std::sync::Arc;
use weft_core::{RunId, StepError};

/// Where a child-run activity stands.
#[derive(Debug, Clone)]
pub(crate) struct ChildState {
    workflow: Arc<Workflow>,
    input: Value,
    run: Option<RunId>,
    /// The questions the child waits on, as it said when it last stopped.
    waiting: Vec<ChildQuestion>,
    result: Option<Result<Value, StepError>>,
}

impl ChildState {
    /// Renders the child's input (an empty object when the node gives none).
    pub(super) fn start(
        expressions: &Expressions,
        body: &ChildBody,
        scope: &Scope,
    ) -> Result<Self, StepError> {
        let input = match &body.input {
            Some(template) => expressions
                .render_value(template, scope)
                .map_err(|error| render_error("`input`", error))?,
            None => Value::Object(serde_json::Map::new()),
        };
        Ok(Self {
            workflow: body.workflow.clone(),
            input,
            run: None,
            waiting: Vec::new(),
            result: None,
        })
    }

    /// What the activity has come to.
    pub(super) fn progress(&self) -> Progress<'_> {
        match (&self.result, &self.waiting) {
            (Some(Ok(output)), _) => Progress::Done(output, None),
            (Some(Err(error)), _) => Progress::Failed(error),
            (None, waiting) if !waiting.is_empty() => Progress::Waiting(waiting),
            (None, _) => Progress::Working,
        }
    }

    /// Starts (or continues) the child, unless it runs, waits or is over.
    pub(super) fn commands(
        &mut self,
        place: Place,
        in_flight: &mut InFlight,
        commands: &mut Vec<Command>,
    ) {
        let key = EffectKey::child(place);
        if self.result.is_none() && self.waiting.is_empty() && in_flight.insert(key) {
            commands.push(Command::StartChild(ChildRun {
                step: place.step,
                branch: place.branch,
                run: self.run,
                workflow: self.workflow.clone(),
                input: self.input.clone(),
            }));
        }
    }

    /// Takes the child's id, output or question.
    pub(super) fn on_update(&mut self, update: ChildUpdate<'_>) {
        match update {
            ChildUpdate::Started(run) => self.run = Some(run),
            ChildUpdate::Finished(output) => {
                self.waiting.clear();
                self.result = Some(Ok(output.clone()));
            }
            // A child that stops says each of its open questions, one event each.
            ChildUpdate::Interrupted(question) => {
                self.waiting.retain(|open| open.id != question.id);
                self.waiting.push(question);
            }
            // It runs again, and says what it still asks when it stops.
            ChildUpdate::Resumed => self.waiting.clear(),
        }
    }

    /// The child run, once it started.
    pub(super) fn run(&self) -> Option<RunId> {
        self.run
    }

    /// Fails the activity.
    pub(super) fn fail(&mut self, error: StepError) {
        self.result = Some(Err(error));
    }
}
