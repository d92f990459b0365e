//! Questions: which ones a run has open (its `human` steps and the questions of its child
//! runs, in every running step and map branch), asking them, and taking answers.
//!
//! A question is asked (recorded with `Interrupted`, and the run is `interrupted`) once
//! nothing else can move: the other branches keep working until they finish or wait too.
//! Each time the run stops for answers, every open question is recorded, so the store's
//! status follows the log. An answer (`Resumed`) names its question's id; the branch it
//! unblocks runs, and the run stops again for the questions still open.

use super::activity::{
    ActivityState, ChildQuestion, ChildUpdate, GUARD_ANSWERS, GuardQuestion, Progress,
    check_guard_answer,
};
use super::command::{ChildAnswer, Command, Decision};
use super::effect::{EffectKey, Place};
use super::fold::unexpected;
use super::waiting::Question;
use super::{Phase, RunMachine, StepState};
use crate::error::RunError;
use crate::workflow::{NodeBody, OutputSchema, Workflow};
use serde_json::Value;
use weft_core::{Event, RunStatus};

impl RunMachine {
    /// The questions an interrupted run waits on, by step.
    pub fn questions(&self) -> Vec<Question> {
        if self.status != RunStatus::Interrupted {
            return Vec::new();
        }
        self.open_questions()
    }

    /// The question an interrupted run waits on (the first, when it has several).
    pub fn question(&self) -> Option<Question> {
        self.questions().into_iter().next()
    }

    /// Answers the question an interrupted run waits on (its only one).
    pub fn resume(&mut self, input: Value) -> Result<Decision, RunError> {
        self.answer(None, input)
    }

    /// Answers the open question `id` (`None`: the only open question).
    pub fn answer(&mut self, id: Option<&str>, input: Value) -> Result<Decision, RunError> {
        let question = self.check_answer_to(id, &input)?;
        let mut decision = Decision::default();
        self.record(
            Event::Resumed {
                step: question.step,
                input: input.clone(),
                id: Some(question.id.clone()),
            },
            &mut decision,
        )?;
        if let Some((branch, run)) = question.child {
            self.in_flight.insert(EffectKey::child(Place {
                run: self.run,
                step: question.step,
                branch,
            }));
            decision.commands.push(Command::ResumeChild(ChildAnswer {
                step: question.step,
                branch,
                run,
                input,
                question: question.child_id,
            }));
        }
        self.advance(&mut decision)?;
        Ok(decision)
    }

    /// Checks an answer to the only open question against its `input_schema`.
    pub fn check_answer(&self, input: &Value) -> Result<Question, RunError> {
        self.check_answer_to(None, input)
    }

    /// Checks an answer to the open question `id` (`None`: the only one) against the
    /// `human` node's `input_schema`, without taking it. A child's question is checked by
    /// the child.
    pub fn check_answer_to(&self, id: Option<&str>, input: &Value) -> Result<Question, RunError> {
        let question = self.find_question(id)?;
        if question.guard.is_some() {
            check_guard_answer(input).map_err(|message| RunError::InvalidAnswer { message })?;
        } else if question.child.is_none()
            && let Some(schema) = human_schema(&self.workflow, &question.node)
        {
            schema
                .check(input)
                .map_err(|violation| RunError::InvalidAnswer {
                    message: violation.to_string(),
                })?;
        }
        Ok(question)
    }

    /// The open question `id`, or the only one.
    fn find_question(&self, id: Option<&str>) -> Result<Question, RunError> {
        let mut open = self.questions();
        if open.is_empty() {
            return Err(RunError::NotInterrupted {
                status: self.status.as_str(),
            });
        }
        let ids = || open.iter().map(|question| question.id.clone()).collect();
        match id {
            Some(id) => match open.iter().position(|question| question.id == id) {
                Some(index) => Ok(open.swap_remove(index)),
                None => Err(RunError::UnknownQuestion {
                    id: id.to_owned(),
                    open: ids(),
                }),
            },
            None if open.len() == 1 => Ok(open.swap_remove(0)),
            None => Err(RunError::WhichQuestion { open: ids() }),
        }
    }

    /// Every open question, whatever the run's status.
    pub(super) fn open_questions(&self) -> Vec<Question> {
        let mut questions = Vec::new();
        for step in &self.steps {
            step_questions(&self.workflow, step, &mut questions);
        }
        questions
    }

    /// Records every open question: the run stops for answers.
    pub(super) fn ask(&mut self, decision: &mut Decision) -> Result<(), RunError> {
        for question in self.open_questions() {
            self.record(
                Event::Interrupted {
                    step: question.step,
                    node: question.node,
                    question: question.question,
                    input_schema: question.input_schema,
                    id: Some(question.id),
                },
                decision,
            )?;
        }
        Ok(())
    }

    /// Folds `Interrupted`.
    pub(super) fn fold_interrupted(&mut self) {
        self.status = RunStatus::Interrupted;
    }

    /// Folds `Resumed`: the answer goes to the waiting `human` step, or the waiting child
    /// runs again. Logs from before ids answer the run's only question.
    pub(super) fn fold_resumed(
        &mut self,
        event: &Event,
        step: u64,
        id: Option<&str>,
        input: &Value,
    ) -> Result<(), RunError> {
        if self.status != RunStatus::Interrupted {
            return Err(unexpected(event, "the run is not interrupted"));
        }
        let question = self
            .open_questions()
            .into_iter()
            .find(|question| question.step == step && id.is_none_or(|id| question.id == id))
            .ok_or_else(|| unexpected(event, "no such question is open"))?;
        self.status = RunStatus::Running;
        let Some(running) = self.running_mut(step) else {
            return Err(unexpected(event, "no step waits for input"));
        };
        let resumed = |activity: &mut ActivityState| {
            activity
                .on_child(ChildUpdate::Resumed)
                .map_err(|mismatch| unexpected(event, mismatch.to_string()))
        };
        let answered = |activity: &mut ActivityState| match question.guard {
            Some((_, check)) => activity
                .on_guard_answer(check, input)
                .map_err(|mismatch| unexpected(event, mismatch.to_string())),
            None => resumed(activity),
        };
        let branch = question
            .guard
            .map(|(branch, _)| branch)
            .or(question.child.map(|(branch, _)| branch));
        match (&mut running.phase, branch) {
            (Phase::Human { answer, .. }, None) if question.guard.is_none() => {
                *answer = Some(input.clone())
            }
            (Phase::Activity(activity), Some(None)) => answered(activity)?,
            (Phase::Map(map), Some(Some(branch))) => {
                let branch = map
                    .started_branch(usize::try_from(branch).unwrap_or(usize::MAX))
                    .ok_or_else(|| unexpected(event, "the map branch does not exist"))?;
                answered(branch)?;
            }
            _ => return Err(unexpected(event, "no step waits for input")),
        }
        Ok(())
    }
}

/// The open questions of one running step, added to `questions`.
fn step_questions(workflow: &Workflow, step: &StepState, questions: &mut Vec<Question>) {
    let question = |id: String, text: &str, schema: Option<Value>| Question {
        id,
        step: step.number,
        node: step.node.clone(),
        question: text.to_owned(),
        input_schema: schema,
        child: None,
        child_id: None,
        guard: None,
    };
    match &step.phase {
        Phase::Human {
            question: text,
            answer: None,
        } => questions.push(question(
            step.node.clone(),
            text,
            human_schema(workflow, &step.node).map(|schema| schema.schema.clone()),
        )),
        Phase::Activity(activity) => {
            child_questions(step, None, activity, questions);
            guard_questions(step, None, activity, questions);
        }
        Phase::Map(map) => {
            for (index, branch) in map.branches.iter().enumerate() {
                if let Some(branch) = branch {
                    child_questions(step, u32::try_from(index).ok(), branch, questions);
                    guard_questions(step, u32::try_from(index).ok(), branch, questions);
                }
            }
        }
        Phase::Human {
            answer: Some(_), ..
        }
        | Phase::Broken(_)
        | Phase::Parallel(_)
        | Phase::Router
        | Phase::End => {}
    }
}

/// The questions a waiting child run of `step` (map branch `branch`) asks.
fn child_questions(
    step: &StepState,
    branch: Option<u32>,
    activity: &ActivityState,
    questions: &mut Vec<Question>,
) {
    let Progress::Waiting(asked) = activity.progress() else {
        return;
    };
    let place = question_place(step, branch);
    for ChildQuestion {
        id,
        question,
        input_schema,
    } in asked
    {
        questions.push(Question {
            id: match id {
                Some(id) => format!("{place}/{id}"),
                None => place.clone(),
            },
            step: step.number,
            node: step.node.clone(),
            question: question.clone(),
            input_schema: input_schema.clone(),
            child: Some((branch, activity.child_run())),
            child_id: id.clone(),
            guard: None,
        });
    }
}

/// Where a question of `step` (map branch `branch`) comes from, as its id starts.
fn question_place(step: &StepState, branch: Option<u32>) -> String {
    match branch {
        Some(branch) => format!("{}[{branch}]", step.node),
        None => step.node.clone(),
    }
}

/// The questions the `ask` guards of `step` (map branch `branch`) put to a person.
fn guard_questions(
    step: &StepState,
    branch: Option<u32>,
    activity: &ActivityState,
    questions: &mut Vec<Question>,
) {
    for GuardQuestion { check, question } in activity.guard_questions() {
        let point = match check.point {
            weft_core::GuardPoint::ToolResults => format!("tool_results.{}", check.index),
            other => other.as_str().to_owned(),
        };
        questions.push(Question {
            id: format!("{}/{point}", question_place(step, branch)),
            step: step.number,
            node: step.node.clone(),
            question,
            input_schema: Some(serde_json::json!({
                "type": "string",
                "enum": GUARD_ANSWERS
            })),
            child: None,
            child_id: None,
            guard: Some((branch, check)),
        });
    }
}

/// The answer's schema of the `human` node `node`, compiled.
fn human_schema<'a>(workflow: &'a Workflow, node: &str) -> Option<&'a OutputSchema> {
    match workflow.nodes.get(node).map(|node| &node.body) {
        Some(NodeBody::Human(human)) => human.input_schema.as_ref(),
        Some(
            NodeBody::Activity(_)
            | NodeBody::Router
            | NodeBody::Map(_)
            | NodeBody::Parallel(_)
            | NodeBody::End(_),
        )
        | None => None,
    }
}
