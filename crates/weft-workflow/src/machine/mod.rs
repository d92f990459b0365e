//! The sans-IO run machine. Given a workflow, it folds a run's events into the run's state
//! and decides what comes next: more events to record (a step starts, the state changes, the
//! run finishes) and effects for a driver to perform (call a model, call a tool, start a
//! child run). It never awaits and never touches the clock, so it is tested without tokio,
//! and replaying a log through it rebuilds a run exactly.
//!
//! The machine's files, each leaning only on those before it: `effect.rs` (effects in
//! flight), `command.rs` and `waiting.rs` (what it hands the driver), `activity/` (one
//! file per activity kind), `map.rs` (fan-out over a list), `parallel.rs` (branches of
//! nodes), `snapshot.rs` (the snapshot format); this file (the machine and its API), then
//! the parts of the machine itself: `fold.rs` applies events, `step.rs` decides (with
//! `writes.rs`, a finished step's writes and route),
//! `questions.rs` asks and takes answers, `attention.rs` handles unsettled tool calls and
//! `restore.rs` rebuilds a machine from a log or a snapshot.
//!
//! Several steps run at once inside `parallel` steps: the machine keeps every running
//! step, each on a line (the run's own, or a branch of a parallel step).

mod activity;
mod attention;
mod command;
mod effect;
mod fold;
mod map;
mod parallel;
mod questions;
mod restore;
mod snapshot;
mod step;
mod waiting;
mod writes;

pub use command::{
    ChildAnswer, ChildRun, Command, Decision, GuardCall, ModelCall, ToolCallCommand,
};
pub use snapshot::Snapshot;
pub use waiting::{Attention, Question};

use crate::error::{RunError, did_you_mean};
use crate::expression::Scope;
use crate::workflow::{Activity, Limits, NodeBody, Workflow, check_schema};
use effect::{InFlight, Place};
use map::MapState;
use parallel::ParallelState;
use serde_json::{Map, Value};
use std::sync::Arc;
use weft_core::{Event, RunId, RunStatus, StepError, Within};

/// Where the run goes when no step is running.
#[derive(Debug, Clone)]
enum Next {
    /// Not started.
    Nothing,
    /// The entry node.
    Entry,
    /// This node.
    Node(String),
    /// The run ends after this node.
    Finish(String),
}

#[derive(Debug)]
struct StepState {
    number: u64,
    node: String,
    phase: Phase,
    failed: Option<StepError>,
    /// The parallel step and branch it runs in; `None` on the run's own line.
    within: Option<Within>,
    /// How many times its node had started, this start included.
    visit: u64,
}

#[derive(Debug)]
enum Phase {
    Broken(StepError),
    Activity(Box<activity::ActivityState>),
    Map(MapState),
    Parallel(ParallelState),
    Human {
        question: String,
        answer: Option<Value>,
    },
    Router,
    End,
}

/// The run machine.
#[derive(Debug)]
pub struct RunMachine {
    workflow: Arc<Workflow>,
    run: RunId,
    input: Value,
    state: Map<String, Value>,
    /// The state as templates see it, one value per field, and the view built from them
    /// (rebuilt only after the state changes).
    field_values: Arc<Vec<minijinja::Value>>,
    state_value: Option<minijinja::Value>,
    input_value: minijinja::Value,
    status: RunStatus,
    /// The number of the latest step started.
    step: u64,
    /// The running steps, oldest first: at most one on the run's own line, and those of
    /// the branches of running parallel steps.
    steps: Vec<StepState>,
    /// Where the run's own line goes when no step of it runs.
    next: Next,
    /// How often each node ran, by node index.
    visits: Vec<u64>,
    in_flight: InFlight,
    output: Option<Value>,
    failure: Option<StepError>,
    attention: Option<Attention>,
    capture: snapshot::Capture,
    /// The session the run speaks in, from its `RunStarted`.
    session: Option<weft_core::SessionRef>,
}

impl RunMachine {
    fn empty(workflow: Arc<Workflow>, run: RunId) -> Self {
        Self {
            visits: vec![0; workflow.nodes.len()],
            workflow,
            run,
            input: Value::Null,
            state: Map::new(),
            field_values: Arc::default(),
            state_value: None,
            input_value: minijinja::Value::from(()),
            status: RunStatus::Running,
            step: 0,
            steps: Vec::new(),
            next: Next::Nothing,
            in_flight: InFlight::default(),
            output: None,
            failure: None,
            session: None,
            attention: None,
            capture: snapshot::Capture::Idle,
        }
    }

    /// Starts a run: checks the input against the state fields, then decides the first step.
    pub fn start(
        workflow: Arc<Workflow>,
        run: RunId,
        input: Value,
        parent: Option<weft_core::ParentLink>,
    ) -> Result<(Self, Decision), RunError> {
        Self::start_with_setup(workflow, run, input, parent, None)
    }

    /// [`RunMachine::start`], recording what the front end set the run up with.
    pub fn start_with_setup(
        workflow: Arc<Workflow>,
        run: RunId,
        input: Value,
        parent: Option<weft_core::ParentLink>,
        setup: Option<weft_core::RunSetup>,
    ) -> Result<(Self, Decision), RunError> {
        Self::start_in_session(workflow, run, input, parent, setup, None)
    }

    /// Starts a run that speaks in `session`: its `agent` and `llm` nodes (outside map
    /// branches, and unless they say `memory: none`) see the session's history, and each
    /// step of theirs adds its messages to it (a `Remembered` event).
    pub fn start_in_session(
        workflow: Arc<Workflow>,
        run: RunId,
        input: Value,
        parent: Option<weft_core::ParentLink>,
        setup: Option<weft_core::RunSetup>,
        session: Option<weft_core::SessionRef>,
    ) -> Result<(Self, Decision), RunError> {
        check_input(&workflow, &input)?;
        let mut machine = Self::empty(workflow.clone(), run);
        let mut decision = Decision::default();
        machine.record(
            Event::RunStarted {
                workflow: workflow.name.clone(),
                source: workflow.location.display().to_string(),
                input,
                parent,
                forked_from: None,
                setup: setup.map(Box::new),
                session: session.map(Box::new),
            },
            &mut decision,
        )?;
        machine.advance(&mut decision)?;
        Ok((machine, decision))
    }

    /// What a restored run must do next (the effects that were in flight, or the next step).
    pub fn pending(&mut self) -> Result<Decision, RunError> {
        let mut decision = Decision::default();
        self.advance(&mut decision)?;
        Ok(decision)
    }

    /// Takes the result of an effect (or any event from outside) and decides what follows.
    pub fn on_event(&mut self, event: &Event) -> Result<Decision, RunError> {
        self.on_events(std::slice::from_ref(event))
    }

    /// Takes results that belong together (each question of a child run that stopped)
    /// and decides once, after all of them.
    pub fn on_events(&mut self, events: &[Event]) -> Result<Decision, RunError> {
        for event in events {
            self.apply(event)?;
        }
        let mut decision = Decision::default();
        self.advance(&mut decision)?;
        Ok(decision)
    }

    /// Fails the newest running step (a timeout seen by the driver) and with it the run.
    pub fn fail_step(&mut self, error: StepError) -> Result<Decision, RunError> {
        let newest = self.steps.last().map(|step| step.number);
        self.fail_step_at(newest, error)
    }

    /// Fails running step `number` (its timeout, seen by the driver) and with it the run;
    /// with no such step, the run fails.
    pub fn fail_step_at(
        &mut self,
        number: Option<u64>,
        error: StepError,
    ) -> Result<Decision, RunError> {
        let mut decision = Decision::default();
        let running = number.and_then(|number| self.running(number));
        if let Some(step) = running {
            let event = Event::StepFailed {
                step: step.number,
                node: step.node.clone(),
                error,
            };
            self.record(event, &mut decision)?;
            self.advance(&mut decision)?;
        } else if self.status == RunStatus::Running {
            self.record(Event::RunFailed { step: None, error }, &mut decision)?;
        }
        Ok(decision)
    }

    /// Fails the run (its own timeout, or a person's decision).
    pub fn fail_run(&mut self, error: StepError) -> Result<Decision, RunError> {
        let mut decision = Decision::default();
        if matches!(
            self.status,
            RunStatus::Running | RunStatus::Interrupted | RunStatus::NeedsAttention
        ) {
            let step = self.steps.last().map(|step| step.number);
            self.record(Event::RunFailed { step, error }, &mut decision)?;
        }
        Ok(decision)
    }

    /// Cancels the run.
    pub fn cancel(&mut self, reason: impl Into<String>) -> Result<Decision, RunError> {
        let mut decision = Decision::default();
        if matches!(
            self.status,
            RunStatus::Running | RunStatus::Interrupted | RunStatus::NeedsAttention
        ) {
            self.record(
                Event::RunCancelled {
                    reason: reason.into(),
                },
                &mut decision,
            )?;
        }
        Ok(decision)
    }

    /// The run's id.
    pub fn run_id(&self) -> RunId {
        self.run
    }

    /// The session the run speaks in, if it has one.
    pub fn session(&self) -> Option<&weft_core::SessionRef> {
        self.session.as_ref()
    }

    /// The workflow.
    pub fn workflow(&self) -> &Arc<Workflow> {
        &self.workflow
    }

    /// Where the run stands.
    pub fn status(&self) -> RunStatus {
        self.status
    }

    /// The current state.
    pub fn state(&self) -> &Map<String, Value> {
        &self.state
    }

    /// The output of a finished run.
    pub fn output(&self) -> Option<&Value> {
        self.output.as_ref()
    }

    /// Why the run failed.
    pub fn failure(&self) -> Option<&StepError> {
        self.failure.as_ref()
    }

    /// The number of the current or last step.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Every running step's number, node and limits, oldest first.
    pub fn running_steps(&self) -> impl Iterator<Item = (u64, &str, Limits)> {
        self.steps.iter().map(|step| {
            let limits = self
                .workflow
                .nodes
                .get(&step.node)
                .map(|node| node.limits)
                .unwrap_or_default();
            (step.number, step.node.as_str(), limits)
        })
    }

    /// What running step `number` is, whatever number it got: its node and how many
    /// times that node had started, this start included. Steps of branches that run at
    /// once are numbered in the order they start, which depends on which branch finished
    /// its previous step first; this does not.
    pub fn step_identity(&self, number: u64) -> Option<(&str, u64)> {
        self.running(number)
            .map(|step| (step.node.as_str(), step.visit))
    }

    /// The running step `number`.
    fn running(&self, number: u64) -> Option<&StepState> {
        self.steps.iter().find(|step| step.number == number)
    }

    /// The running step `number`, to change.
    fn running_mut(&mut self, number: u64) -> Option<&mut StepState> {
        self.steps.iter_mut().find(|step| step.number == number)
    }

    /// The workflow of the sub-workflow that step `step` (map branch `branch`) runs, while
    /// that step runs.
    pub fn child_workflow(&self, step: u64, branch: Option<u32>) -> Option<Arc<Workflow>> {
        let current = self.running(step)?;
        let activity = match (&self.workflow.nodes.get(&current.node)?.body, branch) {
            (NodeBody::Activity(activity), None) => activity,
            (NodeBody::Map(map), Some(_)) => &map.branch,
            (NodeBody::Activity(_), Some(_))
            | (NodeBody::Map(_), None)
            | (
                NodeBody::Router | NodeBody::Parallel(_) | NodeBody::Human(_) | NodeBody::End(_),
                _,
            ) => return None,
        };
        match activity {
            Activity::Workflow(child) => Some(child.workflow.clone()),
            Activity::Agent(_) | Activity::Llm(_) | Activity::Tool(_) => None,
        }
    }

    fn record(&mut self, event: Event, decision: &mut Decision) -> Result<(), RunError> {
        self.apply(&event)?;
        decision.events.push(event);
        Ok(())
    }

    /// The template scope over the current state and the run's input.
    fn scope(&mut self) -> Scope {
        let mut scope = Scope::new(self.state_value());
        scope.set("input", self.input_value.clone());
        scope
    }

    /// The run's session id, if it has a session.
    fn session_id(&self) -> Option<weft_core::SessionId> {
        self.session.as_ref().map(|session| session.id)
    }

    fn place(&self, step: u64, branch: Option<u32>) -> Place {
        Place {
            run: self.run,
            step,
            branch,
        }
    }
}

/// Checks a run's input: an object whose keys are state fields with values that fit them.
fn check_input(workflow: &Workflow, input: &Value) -> Result<(), RunError> {
    let entries = match input {
        Value::Null => return Ok(()),
        Value::Object(entries) => entries,
        other => {
            return Err(RunError::InvalidInput {
                message: format!(
                    "the input must be a JSON object of state fields, not {}",
                    weft_core::state::type_name(other)
                ),
            });
        }
    };
    for (key, value) in entries {
        let Some(field) = workflow.fields.get(key) else {
            let suggestion = did_you_mean(key, workflow.fields.keys().map(String::as_str))
                .map(|name| format!(" (did you mean `{name}`?)"))
                .unwrap_or_default();
            let known: Vec<&str> = workflow.fields.keys().map(String::as_str).collect();
            return Err(RunError::InvalidInput {
                message: format!(
                    "`{key}` is not a state field of workflow `{}`{suggestion}; its fields are: {}",
                    workflow.name,
                    known.join(", ")
                ),
            });
        };
        check_schema(&field.validator, value).map_err(|problem| RunError::InvalidInput {
            message: format!("field `{key}` ({}): {problem}", field.field_type.as_str()),
        })?;
    }
    Ok(())
}

/// The activity that runs in `node` (for a map, its branch's).
fn activity_of<'a>(workflow: &'a Workflow, node: &str) -> Option<&'a Activity> {
    match &workflow.nodes.get(node)?.body {
        NodeBody::Activity(activity) => Some(activity),
        NodeBody::Map(map) => Some(&map.branch),
        NodeBody::Router | NodeBody::Parallel(_) | NodeBody::Human(_) | NodeBody::End(_) => None,
    }
}
