//! The workflow file format, as typed structs. These structs are what `serde` reads and
//! what `schemars` turns into the JSON Schema that `weft schema` prints, so the file format
//! and its schema cannot drift apart.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A workflow file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "weft workflow")]
pub struct WorkflowSpec {
    /// The workflow's name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The model its `agent` and `llm` nodes use unless they name another: a model name
    /// from weft.toml or a model spec such as `scripted:replies.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The typed state the nodes read and write.
    #[serde(default)]
    pub state: IndexMap<String, FieldSpec>,
    /// The node the run starts at.
    pub entry: String,
    /// The nodes, by name.
    pub nodes: IndexMap<String, NodeSpec>,
    /// The run's output: a template value over `state`. Without it the output is the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Limits on the whole run.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Turns on the `shell` tool for runs of this workflow, allowed to run only the listed
    /// programs. Without it there is no `shell` tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<ShellSpec>,
    /// Turns on the `http_get` tool for runs of this workflow, allowed to fetch only from
    /// the listed hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetSpec>,
    /// MCP servers whose tools this workflow uses, by name; a server `files` offers its
    /// tool `read` as `files.read`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub mcp: IndexMap<String, McpServerSpec>,
    /// How `agent` and `llm` nodes use the memory of the run's session (a run started with
    /// `--session NAME`), and how every model call's context is fitted to its window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemorySpec>,
    /// Guards over the workflow's texts: its model nodes' input and output, tool results
    /// and retrieved snippets. An `llm`, `agent` or `tool` node's own `guards:` replace
    /// these point by point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guards: Option<GuardsSpec>,
}

/// The `shell` tool's settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellSpec {
    /// The programs it may run (`git`, `wc`, or a path); nothing else.
    pub allow: Vec<String>,
}

/// The `http_get` tool's settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpGetSpec {
    /// Hosts it may fetch from: `example.com`, `127.0.0.1`, or `*.example.com` for every
    /// subdomain.
    pub allow_hosts: Vec<String>,
    /// The most bytes of a response body it reads (default 1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// How long a fetch may take, such as `10s` (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// An MCP server: a program weft starts and talks to over its standard input and output
/// (`command`), or a streamable HTTP endpoint (`url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpServerSpec {
    /// The program and its arguments, for a server run as a child process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Environment variables for that program.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// The endpoint of a server reached over streamable HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How long one tool call may take, such as `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// A state field.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The field's type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// For a list: the JSON Schema of its items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Value>,
    /// How writes combine with the current value (default `replace`).
    #[serde(default)]
    pub reducer: Reducer,
    /// The starting value (default: the empty value of the type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// What the field holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The type of a state field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// true or false.
    Boolean,
    /// A list.
    Array,
    /// A mapping.
    Object,
    /// Any JSON value.
    Any,
}

impl FieldType {
    /// The name as written in workflow files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Array => "array",
            Self::Object => "object",
            Self::Any => "any",
        }
    }
}

/// How writes to a field combine with its value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reducer {
    /// The write replaces the value.
    #[default]
    Replace,
    /// The write is added as one more item of a list.
    Append,
    /// The write's keys are merged into an object.
    Merge,
    /// The write is added to a number.
    Add,
}

impl Reducer {
    /// The name as written in workflow files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replace => "replace",
            Self::Append => "append",
            Self::Merge => "merge",
            Self::Add => "add",
        }
    }
}

/// Limits on a run or a node.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// For a workflow: the most steps a run may take. For a node: the most times it may run
    /// in one run (this bounds loops).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u64>,
    /// Wall-clock limit, such as `30s`, `15m`, `2h` or `500ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// The `memory:` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemorySpec {
    /// Tokens kept free in each call's window besides the reply, for what counting cannot
    /// see (default: 1% of the window, at least 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<u32>,
    /// The tokens kept for a reply when a node's `sampling.max_tokens` does not say
    /// (default 1024, at most a quarter of the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_tokens: Option<u32>,
    /// When what a session would send passes this share of the budget, in percent, its
    /// oldest messages are summarized (default 80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact_at: Option<u32>,
    /// The model that writes summaries (a weft.toml name or a spec; default: the node's).
    /// `none`: summaries are extractive (the first and last lines of each message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summarizer: Option<String>,
    /// How many archival snippets relevant to the current turn each call is given
    /// (default 3; 0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippets: Option<u32>,
}

/// Whether a node reads and adds to the run's session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeMemorySpec {
    /// It sees the session's history and what it says is added to it (the default).
    #[default]
    Session,
    /// It sees only its own prompt, and adds nothing to the session.
    None,
}

/// Where a node goes next: a node name, or conditional edges tried in order with a final
/// default (`- to: node` without `when`). `end` finishes the run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum NextSpec {
    /// Always this node.
    Node(String),
    /// The first edge whose `when` holds.
    Edges(Vec<EdgeSpec>),
}

/// One conditional edge.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeSpec {
    /// A condition over `state`, `output`, `reply` and `input`; absent on the default edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The node to go to.
    pub to: String,
}

/// A node. Every kind takes `description`, `writes` (state field -> template value, applied
/// through the field's reducer), `next` and `limits`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeSpec {
    /// A model <-> tools loop that runs until the model stops calling tools.
    Agent(AgentSpec),
    /// One model call, optionally constrained to JSON matching `output_schema`.
    Llm(LlmSpec),
    /// One direct tool call with templated arguments.
    Tool(ToolNodeSpec),
    /// No work: writes and a choice of where to go.
    Router(RouterSpec),
    /// Runs `branch` once per item of a list, up to `max_parallel` at a time.
    Map(MapSpec),
    /// Runs another workflow file as a child run.
    Workflow(SubWorkflowSpec),
    /// Runs several branches of nodes at the same time; the run goes on at `join` once
    /// every branch has reached it.
    Parallel(ParallelSpec),
    /// Stops the run until a person answers `ask`.
    Human(HumanSpec),
    /// Finishes the run.
    End(EndSpec),
}

/// Applies `$body` to the fields-struct of whichever kind `$node` is.
macro_rules! each_kind {
    ($node:expr, $inner:ident => $body:expr) => {
        match $node {
            NodeSpec::Agent($inner) => $body,
            NodeSpec::Llm($inner) => $body,
            NodeSpec::Tool($inner) => $body,
            NodeSpec::Router($inner) => $body,
            NodeSpec::Map($inner) => $body,
            NodeSpec::Workflow($inner) => $body,
            NodeSpec::Parallel($inner) => $body,
            NodeSpec::Human($inner) => $body,
            NodeSpec::End($inner) => $body,
        }
    };
}

impl NodeSpec {
    /// Where the node goes next.
    pub fn next(&self) -> Option<&NextSpec> {
        each_kind!(self, node => node.next.as_ref())
    }

    /// The node's state writes.
    pub fn writes(&self) -> &IndexMap<String, Value> {
        each_kind!(self, node => &node.writes)
    }

    /// The node's limits.
    pub fn limits(&self) -> Option<&LimitsSpec> {
        each_kind!(self, node => node.limits.as_ref())
    }

    /// The kind's name as written in workflow files.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Agent(_) => "agent",
            Self::Llm(_) => "llm",
            Self::Tool(_) => "tool",
            Self::Router(_) => "router",
            Self::Map(_) => "map",
            Self::Workflow(_) => "workflow",
            Self::Parallel(_) => "parallel",
            Self::Human(_) => "human",
            Self::End(_) => "end",
        }
    }
}

/// The fields every node kind shares; repeated in each kind so that the schema stays exact.
macro_rules! common_fields {
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// What the node does.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            /// State writes: field -> template value, applied through the field's reducer.
            #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
            pub writes: IndexMap<String, Value>,
            /// Where to go next.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub next: Option<NextSpec>,
            /// Limits on this node.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub limits: Option<LimitsSpec>,
            $($body)*
        }
    };
}

common_fields! {
    /// An `agent` node.
    pub struct AgentSpec {
        /// The system prompt (a template).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub system: Option<String>,
        /// The user prompt (a template).
        #[serde(default)]
        pub prompt: String,
        /// The tools the model may call.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub tools: Vec<String>,
        /// The most model calls in one step (default 8).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_turns: Option<u32>,
        /// The most tool calls that may fail in one step (bad arguments, an unknown tool,
        /// a tool's own error) before the step fails (default 3). Each failure goes back
        /// to the model, which may try again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_tool_errors: Option<u32>,
        /// Whether the model may call its tools: `auto` (the default: it decides),
        /// `required` (its first reply must call one), `none` (it is offered none and may
        /// call none), or a tool's name (its first reply must call that tool). After the
        /// first reply the model decides, so the agent can answer once its tools ran.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tool_choice: Option<String>,
        /// The most tool calls of one reply that run at once (default: all of them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_parallel_tools: Option<u32>,
        /// How long each tool call may take, e.g. `30s` (default: the tool's own timeout,
        /// else 60 s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tool_timeout: Option<String>,
        /// The model, if not the workflow's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub model: Option<String>,
        /// Sampling settings.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub sampling: Option<weft_core::Sampling>,
        /// `none`: the node neither sees nor adds to the run's session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub memory: Option<NodeMemorySpec>,
        /// Guards over this node's texts, replacing the workflow's point by point
        /// (`none` turns one off).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub guards: Option<GuardsSpec>,
    }
}

common_fields! {
    /// An `llm` node.
    pub struct LlmSpec {
        /// The system prompt (a template).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub system: Option<String>,
        /// The user prompt (a template).
        #[serde(default)]
        pub prompt: String,
        /// When set, the reply must be JSON matching this JSON Schema; it is then `output`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub output_schema: Option<Value>,
        /// The model, if not the workflow's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub model: Option<String>,
        /// Sampling settings.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub sampling: Option<weft_core::Sampling>,
        /// `none`: the node neither sees nor adds to the run's session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub memory: Option<NodeMemorySpec>,
        /// Guards over this node's texts, replacing the workflow's point by point
        /// (`none` turns one off).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub guards: Option<GuardsSpec>,
    }
}

common_fields! {
    /// A `tool` node.
    pub struct ToolNodeSpec {
        /// The tool's name.
        #[serde(default)]
        pub tool: String,
        /// The arguments: a template value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub arguments: Option<Value>,
        /// How long each tool call may take, e.g. `30s` (default: the tool's own timeout,
        /// else 60 s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tool_timeout: Option<String>,
        /// Guards over this node's texts, replacing the workflow's point by point
        /// (`none` turns one off).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub guards: Option<GuardsSpec>,
    }
}

common_fields! {
    /// A `router` node.
    pub struct RouterSpec {}
}

common_fields! {
    /// A `map` node: `writes` are applied once per branch, in list order, with `output`,
    /// `item` and `index` of that branch, so a field's reducer does the fan-in.
    pub struct MapSpec {
        /// An expression giving the list to map over, such as `state.documents`.
        #[serde(default)]
        pub over: String,
        /// The name each item has in the branch's templates (default `item`).
        #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
        pub item_name: Option<String>,
        /// The most branches running at once (default 4).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_parallel: Option<u32>,
        /// What runs for each item: an `agent`, `llm`, `tool` or `workflow` node without
        /// `next` or `writes`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub branch: Option<Box<NodeSpec>>,
    }
}

common_fields! {
    /// A `parallel` node: each branch is a chain of nodes that starts at its first node and
    /// ends where it goes to `join`; the branches run at the same time, write the state
    /// through its reducers, and the run goes on at `join` when all of them got there. It
    /// takes no `next` (its `join` is where it goes) and no `writes` (its branches write).
    pub struct ParallelSpec {
        /// The first node of each branch: a name, or `{to, when}` for a branch that runs
        /// only when its condition holds as the node starts.
        #[serde(default)]
        pub branches: Vec<BranchSpec>,
        /// The node every branch ends at, which runs once when all have reached it
        /// (`end`: the run finishes then).
        #[serde(default)]
        pub join: String,
    }
}

/// A branch of a `parallel` node: its first node, with an optional condition.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum BranchSpec {
    /// Always runs.
    Node(String),
    /// Runs when `when` holds.
    Conditional(EdgeSpec),
}

impl BranchSpec {
    /// The branch's first node.
    pub fn start(&self) -> &str {
        match self {
            Self::Node(name) => name,
            Self::Conditional(edge) => &edge.to,
        }
    }
}

common_fields! {
    /// A `workflow` node.
    pub struct SubWorkflowSpec {
        /// The workflow file, relative to this file.
        #[serde(default)]
        pub path: String,
        /// The child's input: a template value (an object of its state fields).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub input: Option<Value>,
    }
}

common_fields! {
    /// A `human` node: the run stops until someone answers; the answer is `input` (and
    /// `output`) in this node's `writes` and `next`.
    pub struct HumanSpec {
        /// The question (a template).
        #[serde(default)]
        pub ask: String,
        /// The JSON Schema the answer must match.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub input_schema: Option<Value>,
    }
}

common_fields! {
    /// An `end` node.
    pub struct EndSpec {
        /// The run's output (a template value); without it, the workflow's `output`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub output: Option<Value>,
    }
}

/// The JSON Schema of workflow files.
pub fn workflow_json_schema() -> Value {
    let schema = schemars::schema_for!(WorkflowSpec);
    schema.to_value()
}

/// The `guards:` section: for each point where a run's texts are read, the guard that
/// judges them and what its verdict does.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardsSpec {
    /// The user message of each `llm` and `agent` node (which carries the run's input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<GuardSlotSpec>,
    /// What an `llm` or `agent` node answers, before it is written or shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<GuardSlotSpec>,
    /// What a tool or MCP server returns, before a model sees it or it is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_results: Option<GuardSlotSpec>,
    /// The archival snippets a session's memory gives a model call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrieved: Option<GuardSlotSpec>,
}

/// One point of a `guards:` section: a rule, or `none`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum GuardSlotSpec {
    /// A guard and what its verdict does. (Listed first: the unknown-field check picks
    /// the first variant whose type fits, and `none`'s schema has no type.)
    Rule(GuardRuleSpec),
    /// `none`: no guard here (a node turning off its workflow's).
    Off(GuardOff),
}

/// The word that turns a guard point off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuardOff {
    /// No guard.
    None,
}

/// A guard rule.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardRuleSpec {
    /// The guard: a weft.toml name (`[guards.NAME]`) or a spec (`llama-guard:MODEL`,
    /// `prompt-guard:DIR`, `prompt-guard:http://HOST/predict`, `scripted:FILE`).
    pub guard: String,
    /// What a verdict past the threshold does: block, redact, flag or ask.
    pub action: weft_core::GuardAction,
    /// The probability from which a harmful label trips the rule (default: the guard's
    /// own, 0.5 for Llama Guard, 0.9 for Prompt Guard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The harmful labels that count (default: all of the guard's: `unsafe`, or
    /// `INJECTION` and `JAILBREAK`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// For Llama Guard: the codes of its categories that count (`S1` ... `S14`; default:
    /// all); the others are left out of its policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// For Llama Guard: categories added to its policy, numbered after its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_categories: Vec<weft_core::CustomCategory>,
}
