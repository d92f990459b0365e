//! A validated, compiled workflow: what the run machine executes. Built only by the loader,
//! so holding a `Workflow` means every name resolves and every template compiled.

use crate::error::SchemaViolation;
use crate::expression::{Expression, Expressions, TextTemplate, ValueTemplate};
use crate::spec::{FieldType, Reducer, WorkflowSpec};
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use weft_core::NodeKind;
use weft_core::{Sampling, WriteOp};

/// The maps of a compiled workflow: looked up on every step, keyed by names the workflow's
/// author chose, so a fast non-cryptographic hash fits.
pub type NameMap<V> = IndexMap<String, V, rustc_hash::FxBuildHasher>;

/// The reserved target that finishes a run.
pub const END: &str = "end";

/// A compiled workflow.
#[derive(Debug)]
pub struct Workflow {
    /// Its name.
    pub name: String,
    /// The file it came from, as it was named.
    pub source: PathBuf,
    /// The file's absolute path: what a run records, so it can be resumed from anywhere.
    pub location: PathBuf,
    /// The default model for its model nodes.
    pub model: Option<String>,
    /// The state fields.
    pub fields: NameMap<Field>,
    /// The fields' names, in order (shared by every run's view of the state).
    pub field_names: Arc<[String]>,
    /// The first node.
    pub entry: String,
    /// The nodes.
    pub nodes: NameMap<Node>,
    /// The run's output when it ends without an `end` node's own output.
    pub output: Option<ValueTemplate>,
    /// Limits on a run.
    pub limits: Limits,
    /// The tools this file turns on or brings (see [`Workflow::all_tool_settings`] for a
    /// run's, sub-workflows included).
    pub tools: crate::tooling::ToolSettings,
    /// How its model calls use memory.
    pub memory: Arc<crate::memory::MemorySettings>,
    /// The workflow's own `guards:` (each node's are compiled into its activity).
    pub guards: Arc<crate::guards::NodeGuards>,
    /// The compiled templates.
    pub expressions: Expressions,
    /// The spec it was compiled from (for `weft graph` and tooling).
    pub spec: WorkflowSpec,
    /// The exact texts of this file and every sub-workflow file it reaches, named from
    /// this file's folder: kept by a top-level load (`None` in a sub-workflow), so a run
    /// can store what it runs.
    pub texts: Option<Arc<crate::texts::WorkflowTexts>>,
}

/// A state field.
pub struct Field {
    /// Its type.
    pub field_type: FieldType,
    /// Its reducer.
    pub reducer: Reducer,
    /// Its starting value.
    pub initial: Value,
    /// Checks a whole value of the field.
    pub validator: Arc<jsonschema::Validator>,
    /// Checks one item appended to a list field.
    pub item_validator: Option<Arc<jsonschema::Validator>>,
}

impl fmt::Debug for Field {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Field")
            .field("field_type", &self.field_type)
            .field("reducer", &self.reducer)
            .field("initial", &self.initial)
            .finish_non_exhaustive()
    }
}

impl Field {
    /// The state-delta operation of this field's reducer.
    pub fn write_op(&self) -> WriteOp {
        match self.reducer {
            Reducer::Replace => WriteOp::Replace,
            Reducer::Append => WriteOp::Append,
            Reducer::Merge => WriteOp::Merge,
            Reducer::Add => WriteOp::Add,
        }
    }
}

/// Limits on a run or a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most steps (workflow) or most executions (node).
    pub max_steps: Option<u64>,
    /// Wall-clock limit.
    pub timeout: Option<Duration>,
}

/// A compiled node.
#[derive(Debug)]
pub struct Node {
    /// Its name.
    pub name: String,
    /// What it does.
    pub body: NodeBody,
    /// Its state writes.
    pub writes: Vec<Write>,
    /// Where it goes next.
    pub next: Transition,
    /// Its limits.
    pub limits: Limits,
}

impl Node {
    /// The node's kind.
    pub fn kind(&self) -> NodeKind {
        match &self.body {
            NodeBody::Activity(activity) => activity.kind(),
            NodeBody::Router => NodeKind::Router,
            NodeBody::Map(_) => NodeKind::Map,
            NodeBody::Parallel(_) => NodeKind::Parallel,
            NodeBody::Human(_) => NodeKind::Human,
            NodeBody::End(_) => NodeKind::End,
        }
    }

    /// The kind's name.
    pub fn kind_name(&self) -> &'static str {
        self.kind().as_str()
    }
}

/// One state write.
#[derive(Debug)]
pub struct Write {
    /// The field.
    pub field: String,
    /// The value.
    pub value: ValueTemplate,
}

/// Where a node goes next.
#[derive(Debug)]
pub enum Transition {
    /// Finish the run.
    End,
    /// Always this node.
    To(String),
    /// The first edge whose condition holds; the last edge has none.
    Edges(Vec<Edge>),
}

/// A conditional edge.
#[derive(Debug)]
pub struct Edge {
    /// The condition; `None` on the default edge.
    pub when: Option<Expression>,
    /// The target node, or [`END`].
    pub to: String,
}

/// What a node does.
#[derive(Debug)]
pub enum NodeBody {
    /// Work with an output: a model call, a tool call, an agent loop or a child run.
    Activity(Activity),
    /// Only writes and routing.
    Router,
    /// An activity per list item.
    Map(MapBody),
    /// Branches of nodes at the same time, up to a join.
    Parallel(ParallelBody),
    /// Waits for a person.
    Human(HumanBody),
    /// Finishes the run.
    End(EndBody),
}

/// Work that produces an output; the body of a node or of a map branch.
#[derive(Debug)]
pub enum Activity {
    /// A model <-> tools loop.
    Agent(AgentBody),
    /// One model call.
    Llm(LlmBody),
    /// One tool call.
    Tool(ToolBody),
    /// A child run.
    Workflow(ChildBody),
}

impl Activity {
    /// The activity's node kind.
    pub fn kind(&self) -> NodeKind {
        match self {
            Self::Agent(_) => NodeKind::Agent,
            Self::Llm(_) => NodeKind::Llm,
            Self::Tool(_) => NodeKind::Tool,
            Self::Workflow(_) => NodeKind::Workflow,
        }
    }

    /// The kind's name.
    pub fn kind_name(&self) -> &'static str {
        self.kind().as_str()
    }
}

/// The messages a model node starts with.
#[derive(Debug)]
pub struct Prompt {
    /// The system prompt.
    pub system: Option<TextTemplate>,
    /// The user prompt.
    pub user: TextTemplate,
}

/// An agent's settings.
#[derive(Debug)]
pub struct AgentBody {
    /// Its prompt.
    pub prompt: Prompt,
    /// Tool names.
    pub tools: Vec<String>,
    /// Most model calls.
    pub max_turns: u32,
    /// Most failed tool calls.
    pub max_tool_errors: u32,
    /// Most tool calls of one reply at once, if the node says.
    pub max_parallel_tools: Option<u32>,
    /// Whether its first reply may, must or must not call a tool (`none`: every reply).
    pub tool_choice: weft_core::ToolChoice,
    /// How long each tool call may take, if the node says.
    pub tool_timeout: Option<std::time::Duration>,
    /// Model name or spec.
    pub model: Option<String>,
    /// Sampling.
    pub sampling: Sampling,
    /// Whether it sees and adds to the run's session (`memory: none` says no).
    pub remembers: bool,
    /// The node's guards.
    pub guards: Arc<crate::guards::NodeGuards>,
}

/// An llm node's settings.
#[derive(Debug)]
pub struct LlmBody {
    /// Its prompt.
    pub prompt: Prompt,
    /// Structured output.
    pub output_schema: Option<OutputSchema>,
    /// Model name or spec.
    pub model: Option<String>,
    /// Sampling.
    pub sampling: Sampling,
    /// Whether it sees and adds to the run's session (`memory: none` says no).
    pub remembers: bool,
    /// The node's guards.
    pub guards: Arc<crate::guards::NodeGuards>,
}

/// A JSON Schema with its compiled validator.
pub struct OutputSchema {
    /// The schema.
    pub schema: Value,
    /// Its validator.
    pub validator: Arc<jsonschema::Validator>,
}

impl fmt::Debug for OutputSchema {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("OutputSchema")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl OutputSchema {
    /// Checks `value`; the error names the JSON path of the first problem.
    pub fn check(&self, value: &Value) -> Result<(), SchemaViolation> {
        check_schema(&self.validator, value)
    }
}

/// Checks `value` against a compiled schema, naming the JSON path of each problem.
pub fn check_schema(
    validator: &jsonschema::Validator,
    value: &Value,
) -> Result<(), SchemaViolation> {
    if validator.is_valid(value) {
        return Ok(());
    }
    let problems: Vec<String> = validator
        .iter_errors(value)
        .map(|error| {
            let path = error.instance_path().to_string();
            let path = if path.is_empty() {
                "/".to_owned()
            } else {
                path
            };
            format!("at {path}: {error}")
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SchemaViolation { problems })
    }
}

/// A tool node's settings.
#[derive(Debug)]
pub struct ToolBody {
    /// The tool.
    pub tool: String,
    /// The arguments.
    pub arguments: ValueTemplate,
    /// How long the call may take, if the node says.
    pub tool_timeout: Option<std::time::Duration>,
    /// The node's guards (its result is guarded by `tool_results`).
    pub guards: Arc<crate::guards::NodeGuards>,
}

/// A sub-workflow node's settings.
#[derive(Debug)]
pub struct ChildBody {
    /// The path as written.
    pub path: String,
    /// The child workflow.
    pub workflow: Arc<Workflow>,
    /// The child's input.
    pub input: Option<ValueTemplate>,
}

/// A map node's settings.
#[derive(Debug)]
pub struct MapBody {
    /// The list to map over.
    pub over: Expression,
    /// The item's name in templates.
    pub item_name: String,
    /// Most branches at once.
    pub max_parallel: u32,
    /// What each branch does.
    pub branch: Activity,
}

/// A parallel node's settings. Its [`Node::next`] goes to the join.
#[derive(Debug)]
pub struct ParallelBody {
    /// The branches, in the order written.
    pub branches: Vec<Branch>,
    /// The node the branches end at ([`END`] when the run finishes after them).
    pub join: String,
}

/// One branch of a parallel node.
#[derive(Debug)]
pub struct Branch {
    /// Its first node.
    pub start: String,
    /// When it runs; `None`: always.
    pub when: Option<Expression>,
}

/// A human node's settings.
#[derive(Debug)]
pub struct HumanBody {
    /// The question.
    pub ask: TextTemplate,
    /// The answer's schema.
    pub input_schema: Option<OutputSchema>,
}

/// An end node's settings.
#[derive(Debug)]
pub struct EndBody {
    /// The output.
    pub output: Option<ValueTemplate>,
}

/// Sub-workflows by the path written in the parent, for lookups by tooling.
pub type Children = HashMap<String, Arc<Workflow>>;
