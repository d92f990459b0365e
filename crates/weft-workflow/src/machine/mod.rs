//! The sans-IO run machine. Given a workflow, it folds a run's events into the run's state
//! and decides what comes next: more events to record (a step starts, the state changes, the
//! run finishes) and effects for a driver to perform (call a model, call a tool, start a
//! child run). It never awaits and never touches the clock, so it is tested without tokio,
//! and replaying a log through it rebuilds a run exactly.

mod activity;
mod attention;
mod fold;
mod map;
mod snapshot;
mod step;

use crate::error::{RunError, did_you_mean};
use crate::expression::Scope;
use crate::workflow::{Activity, Limits, NodeBody, Workflow, check_schema};
use activity::{ActivityState, Place};
pub use attention::Attention;
use map::MapState;
use serde_json::{Map, Value};
pub use snapshot::Snapshot;
use std::sync::Arc;
use weft_core::{ChatRequest, Event, RunId, RunStatus, StepError, ToolCall};

/// What the machine decided after an event: events to record (already applied to the
/// machine) and effects to perform.
#[derive(Debug, Default)]
pub struct Decision {
    /// Events to append to the run's log, in order.
    pub events: Vec<Event>,
    /// Effects to perform; each one's result comes back as an event.
    pub commands: Vec<Command>,
}

/// An effect for the driver.
#[derive(Debug, Clone)]
pub enum Command {
    /// Call a model; answer with `ModelReplied` or `ModelFailed`.
    CallModel(ModelCall),
    /// Call a tool; answer with `ToolCallFinished`.
    CallTool(ToolCallCommand),
    /// Start (or, with `run` set, continue) a child run; answer with `ChildStarted`, then
    /// `ChildFinished`, `ChildFailed` or `ChildInterrupted`.
    StartChild(ChildRun),
    /// Give a waiting child run its answer; then answer as for `StartChild`.
    ResumeChild(ChildAnswer),
}

/// A model call to make.
#[derive(Debug, Clone)]
pub struct ModelCall {
    /// The step.
    pub step: u64,
    /// The map branch.
    pub branch: Option<u32>,
    /// Which call of the step.
    pub turn: u32,
    /// The model name or spec; `None` for the default model.
    pub model: Option<String>,
    /// The tools to offer; the driver fills in their specs.
    pub tool_names: Vec<String>,
    /// The request, without tool specs.
    pub request: ChatRequest,
}

/// A tool call to make.
#[derive(Debug, Clone)]
pub struct ToolCallCommand {
    /// The step.
    pub step: u64,
    /// The map branch.
    pub branch: Option<u32>,
    /// The model call that asked for it.
    pub turn: u32,
    /// Its position among that reply's calls.
    pub index: u32,
    /// The call.
    pub call: ToolCall,
    /// The same on every attempt of this call.
    pub idempotency_key: String,
    /// How long it may take, when its node says.
    pub timeout: Option<std::time::Duration>,
}

/// A child run to start or continue.
#[derive(Debug, Clone)]
pub struct ChildRun {
    /// The step.
    pub step: u64,
    /// The map branch.
    pub branch: Option<u32>,
    /// The child run, when it exists already (after a resume from the log).
    pub run: Option<RunId>,
    /// The child's workflow.
    pub workflow: Arc<Workflow>,
    /// The child's input.
    pub input: Value,
}

/// An answer for a waiting child run.
#[derive(Debug, Clone)]
pub struct ChildAnswer {
    /// The step.
    pub step: u64,
    /// The map branch.
    pub branch: Option<u32>,
    /// The child run.
    pub run: Option<RunId>,
    /// The answer.
    pub input: Value,
}

/// A question the run waits on.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The step.
    pub step: u64,
    /// The node.
    pub node: String,
    /// The question.
    pub question: String,
    /// The answer's schema.
    pub input_schema: Option<Value>,
    /// The child run that asks, when the question comes from a sub-workflow.
    pub child: Option<(Option<u32>, Option<RunId>)>,
}

/// Identifies one effect, so that each is issued once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct EffectKey {
    step: u64,
    branch: Option<u32>,
    effect: Effect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Effect {
    Model(u32),
    Tool(u32, u32),
    Child,
}

impl EffectKey {
    pub(crate) fn model(place: Place, turn: u32) -> Self {
        Self {
            step: place.step,
            branch: place.branch,
            effect: Effect::Model(turn),
        }
    }
    pub(crate) fn tool(place: Place, turn: u32, index: u32) -> Self {
        Self {
            step: place.step,
            branch: place.branch,
            effect: Effect::Tool(turn, index),
        }
    }
    pub(crate) fn child(place: Place) -> Self {
        Self {
            step: place.step,
            branch: place.branch,
            effect: Effect::Child,
        }
    }
}

/// The effects issued and not yet answered: one per tool call or map branch of the
/// current step. Usually a handful, sometimes hundreds.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    /// While few are in flight: a list, cheaper than hashing.
    few: Vec<EffectKey>,
    /// Past [`InFlight::FEW`] (a reply with many tool calls, a wide map): a hash set, so
    /// each check stays constant time.
    many: rustc_hash::FxHashSet<EffectKey>,
    /// Counts the times the set was cleared, so what was learnt about it can expire.
    generation: u64,
}

impl InFlight {
    const FEW: usize = 16;

    /// Changes whenever the set is cleared.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Adds `key`; false if it was there already.
    pub(crate) fn insert(&mut self, key: EffectKey) -> bool {
        if !self.many.is_empty() {
            return self.many.insert(key);
        }
        if self.few.contains(&key) {
            return false;
        }
        if self.few.len() < Self::FEW {
            self.few.push(key);
        } else {
            self.many.extend(self.few.drain(..));
            self.many.insert(key);
        }
        true
    }

    /// Whether `key` is in flight.
    pub(crate) fn contains(&self, key: &EffectKey) -> bool {
        if self.many.is_empty() {
            self.few.contains(key)
        } else {
            self.many.contains(key)
        }
    }

    /// Removes `key`.
    pub(crate) fn remove(&mut self, key: &EffectKey) {
        if self.many.is_empty() {
            self.few.retain(|entry| entry != key);
        } else {
            self.many.remove(key);
        }
    }

    /// Forgets everything: the driver stopped, so nothing it started is in flight.
    pub(crate) fn clear(&mut self) {
        self.few.clear();
        self.many.clear();
        self.generation += 1;
    }
}

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
}

#[derive(Debug)]
enum Phase {
    Broken(StepError),
    Activity(Box<ActivityState>),
    Map(MapState),
    Human {
        question: String,
        interrupted: bool,
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
    field_values: Vec<minijinja::Value>,
    state_value: Option<minijinja::Value>,
    input_value: minijinja::Value,
    status: RunStatus,
    step: u64,
    current: Option<StepState>,
    next: Next,
    /// How often each node ran, by node index.
    visits: Vec<u64>,
    in_flight: InFlight,
    output: Option<Value>,
    failure: Option<StepError>,
    attention: Option<Attention>,
    capture: snapshot::Capture,
}

impl RunMachine {
    fn empty(workflow: Arc<Workflow>, run: RunId) -> Self {
        Self {
            visits: vec![0; workflow.nodes.len()],
            workflow,
            run,
            input: Value::Null,
            state: Map::new(),
            field_values: Vec::new(),
            state_value: None,
            input_value: minijinja::Value::from(()),
            status: RunStatus::Running,
            step: 0,
            current: None,
            next: Next::Nothing,
            in_flight: InFlight::default(),
            output: None,
            failure: None,
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
            },
            &mut decision,
        )?;
        machine.advance(&mut decision)?;
        Ok((machine, decision))
    }

    /// Rebuilds a run from its log. Call [`RunMachine::pending`] for the effects to redo.
    pub fn restore<'a>(
        workflow: Arc<Workflow>,
        run: RunId,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<Self, RunError> {
        let mut machine = Self::empty(workflow, run);
        for event in events {
            machine.apply(event)?;
        }
        Ok(machine)
    }

    /// What a restored run must do next (the effects that were in flight, or the next step).
    pub fn pending(&mut self) -> Result<Decision, RunError> {
        let mut decision = Decision::default();
        self.advance(&mut decision)?;
        Ok(decision)
    }

    /// Takes the result of an effect (or any event from outside) and decides what follows.
    pub fn on_event(&mut self, event: &Event) -> Result<Decision, RunError> {
        self.apply(event)?;
        let mut decision = Decision::default();
        self.advance(&mut decision)?;
        Ok(decision)
    }

    /// Answers the question an interrupted run waits on.
    pub fn resume(&mut self, input: Value) -> Result<Decision, RunError> {
        let question = self.check_answer(&input)?;
        let mut decision = Decision::default();
        self.record(
            Event::Resumed {
                step: question.step,
                input: input.clone(),
            },
            &mut decision,
        )?;
        if let Some((branch, run)) = question.child {
            self.in_flight.insert(EffectKey {
                step: question.step,
                branch,
                effect: Effect::Child,
            });
            decision.commands.push(Command::ResumeChild(ChildAnswer {
                step: question.step,
                branch,
                run,
                input,
            }));
        }
        self.advance(&mut decision)?;
        Ok(decision)
    }

    /// Checks an answer against the waiting `human` node's `input_schema`, without taking
    /// it. A question from a child run is checked by the child.
    pub fn check_answer(&self, input: &Value) -> Result<Question, RunError> {
        let question = self.question().ok_or(RunError::NotInterrupted {
            status: self.status.as_str(),
        })?;
        if question.child.is_none()
            && let Some(NodeBody::Human(human)) = self
                .workflow
                .nodes
                .get(&question.node)
                .map(|node| &node.body)
            && let Some(schema) = &human.input_schema
        {
            schema
                .check(input)
                .map_err(|message| RunError::InvalidAnswer { message })?;
        }
        Ok(question)
    }

    /// Fails the current step (a timeout seen by the driver) and with it the run.
    pub fn fail_step(&mut self, error: StepError) -> Result<Decision, RunError> {
        let mut decision = Decision::default();
        if let Some(step) = &self.current {
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
            let step = self.current.as_ref().map(|step| step.number);
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

    /// The current step's number, node and limits, while one runs.
    pub fn current_step(&self) -> Option<(u64, &str, Limits)> {
        let step = self.current.as_ref()?;
        let limits = self
            .workflow
            .nodes
            .get(&step.node)
            .map(|node| node.limits)
            .unwrap_or_default();
        Some((step.number, &step.node, limits))
    }

    /// The workflow of the sub-workflow that step `step` (map branch `branch`) runs, while
    /// that step is the current one.
    pub fn child_workflow(&self, step: u64, branch: Option<u32>) -> Option<Arc<Workflow>> {
        let current = self
            .current
            .as_ref()
            .filter(|current| current.number == step)?;
        let activity = match (&self.workflow.nodes.get(&current.node)?.body, branch) {
            (NodeBody::Activity(activity), None) => activity,
            (NodeBody::Map(map), Some(_)) => &map.branch,
            _ => return None,
        };
        match activity {
            Activity::Workflow(child) => Some(child.workflow.clone()),
            Activity::Agent(_) | Activity::Llm(_) | Activity::Tool(_) => None,
        }
    }

    /// The question an interrupted run waits on.
    pub fn question(&self) -> Option<Question> {
        if self.status != RunStatus::Interrupted {
            return None;
        }
        let step = self.current.as_ref()?;
        let node = self.workflow.nodes.get(&step.node)?;
        let (question, input_schema, child) = match &step.phase {
            Phase::Human { question, .. } => {
                let schema = match &node.body {
                    NodeBody::Human(human) => human
                        .input_schema
                        .as_ref()
                        .map(|schema| schema.schema.clone()),
                    _ => None,
                };
                (question.clone(), schema, None)
            }
            Phase::Activity(activity) => match activity.progress() {
                activity::Progress::Waiting(question, schema) => (
                    question.to_owned(),
                    schema.cloned(),
                    Some((None, activity.child_run())),
                ),
                _ => return None,
            },
            Phase::Map(map) => match map.progress() {
                map::MapProgress::Waiting(branch, question, schema) => {
                    let run = map
                        .branches
                        .get(usize::try_from(branch).unwrap_or(usize::MAX))
                        .and_then(|branch| branch.as_ref())
                        .and_then(ActivityState::child_run);
                    (
                        question.to_owned(),
                        schema.cloned(),
                        Some((Some(branch), run)),
                    )
                }
                _ => return None,
            },
            _ => return None,
        };
        Some(Question {
            step: step.number,
            node: step.node.clone(),
            question,
            input_schema,
            child,
        })
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

    fn place(&self, branch: Option<u32>) -> Place {
        Place {
            run: self.run,
            step: self.step,
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
        NodeBody::Router | NodeBody::Human(_) | NodeBody::End(_) => None,
    }
}
