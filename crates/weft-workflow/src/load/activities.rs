//! Compiling the work inside nodes (and map branches): `agent`, `llm`, `tool`, `workflow`
//! and the `map` node around a branch.

use super::compiler::{ChildError, Compiler};
use super::guards::GuardedKind;
use crate::error::{LoadError, did_you_mean};
use crate::expression::ValueTemplate;
use crate::spec::{AgentSpec, LlmSpec, NodeMemorySpec, NodeSpec, SubWorkflowSpec, ToolNodeSpec};
use crate::workflow::{Activity, AgentBody, ChildBody, LlmBody, MapBody, Prompt, ToolBody};
use serde_json::json;
use weft_core::ToolChoice;
use weft_core::duration::parse_duration;

const DEFAULT_MAX_TURNS: u32 = 8;
/// Failed tool calls an agent step tolerates unless its node says otherwise.
const DEFAULT_MAX_TOOL_ERRORS: u32 = 3;
const DEFAULT_MAX_PARALLEL: u32 = 4;

impl Compiler<'_> {
    /// Checks a tool name; `pattern` allows an entry like `github.*`, which must match at
    /// least one tool.
    pub(super) fn check_tool(&mut self, path: &[&str], tool: &str, pattern: bool) {
        if !pattern && tool.ends_with('*') {
            self.error_at_value(
                path,
                format!("`{tool}` is a pattern, but a tool node calls one tool"),
                Some("name the tool; patterns like `github.*` belong in an agent's `tools`".into()),
            );
            return;
        }
        let Some(known) = self.context.known_tools() else {
            return;
        };
        if tool.ends_with('*') {
            if !known.iter().any(|name| weft_core::tool_matches(tool, name)) {
                self.error_at_value(
                    path,
                    format!("no tool matches `{tool}`"),
                    Some(format!(
                        "known tools: {}",
                        known.iter().cloned().collect::<Vec<_>>().join(", ")
                    )),
                );
            }
            return;
        }
        // A known name that is a pattern (`notes.*`: an MCP server not started, when
        // validating offline) accepts every tool it matches.
        if known.contains(tool)
            || known
                .iter()
                .any(|name| name.ends_with('*') && weft_core::tool_matches(name, tool))
        {
            return;
        }
        let help = off_by_default(tool)
            .or_else(|| {
                did_you_mean(tool, known.iter().map(String::as_str))
                    .map(|name| format!("did you mean `{name}`?"))
            })
            .or_else(|| {
                let (server, _) = tool.split_once('.')?;
                Some(format!(
                    "no MCP server `{server}` offers it: declare the server under `mcp:` (in the workflow or weft.toml), or see `weft tools list`"
                ))
            })
            .or_else(|| {
                Some(format!(
                    "known tools: {}",
                    known.iter().cloned().collect::<Vec<_>>().join(", ")
                ))
            });
        self.error_at_value(path, format!("unknown tool `{tool}`"), help);
    }

    /// The system and user prompts of an `agent` or `llm` node.
    fn prompt(
        &mut self,
        path: &[&str],
        kind: &str,
        system: Option<&str>,
        user: &str,
    ) -> Option<Prompt> {
        let base = path.join(".");
        if user.trim().is_empty() {
            self.error_at_key(
                path,
                format!("{} needs a `prompt`", describe_node(path, kind)),
                Some("add `prompt: <what to ask the model>`".into()),
            );
        }
        let system = match system {
            Some(system) => {
                Some(self.text(&with(path, "system"), &format!("{base}.system"), system)?)
            }
            None => None,
        };
        let user = self.text(&with(path, "prompt"), &format!("{base}.prompt"), user)?;
        Some(Prompt { system, user })
    }

    pub(super) fn agent(&mut self, path: &[&str], spec: &AgentSpec) -> Option<Activity> {
        let prompt = self.prompt(path, "agent", spec.system.as_deref(), &spec.prompt);
        for (index, tool) in spec.tools.iter().enumerate() {
            let index = index.to_string();
            let mut tool_path = with(path, "tools");
            tool_path.push(&index);
            self.check_tool(&tool_path, tool, true);
        }
        if spec.max_parallel_tools == Some(0) {
            self.error_at_value(
                &with(path, "max_parallel_tools"),
                "`max_parallel_tools` must be at least 1".into(),
                None,
            );
        }
        if spec.max_turns == Some(0) {
            self.error_at_value(
                &with(path, "max_turns"),
                "`max_turns` must be at least 1".into(),
                None,
            );
        }
        let tool_choice = self.tool_choice(path, spec);
        Some(Activity::Agent(AgentBody {
            tool_choice: tool_choice?,
            prompt: prompt?,
            tools: spec.tools.clone(),
            max_turns: spec.max_turns.unwrap_or(DEFAULT_MAX_TURNS).max(1),
            max_tool_errors: spec.max_tool_errors.unwrap_or(DEFAULT_MAX_TOOL_ERRORS),
            max_parallel_tools: spec.max_parallel_tools,
            tool_timeout: self.tool_timeout(path, spec.tool_timeout.as_deref()),
            model: spec.model.clone(),
            sampling: spec.sampling.clone().unwrap_or_default(),
            remembers: spec.memory != Some(NodeMemorySpec::None),
            guards: self.node_guards(path, spec.guards.as_ref(), GuardedKind::Agent),
        }))
    }

    /// An agent's `tool_choice`: a named tool must be one the agent offers, and a choice
    /// that needs a call needs tools.
    fn tool_choice(&mut self, path: &[&str], spec: &AgentSpec) -> Option<ToolChoice> {
        let Some(text) = spec.tool_choice.as_deref() else {
            return Some(ToolChoice::Auto);
        };
        let choice = match text {
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            "none" => ToolChoice::None,
            name => ToolChoice::Tool(name.to_owned()),
        };
        let offered = |name: &str| {
            spec.tools.iter().any(|tool| {
                tool == name || (tool.ends_with('*') && weft_core::tool_matches(tool, name))
            })
        };
        let problem = match &choice {
            ToolChoice::Required if spec.tools.is_empty() => {
                Some("`tool_choice: required` needs `tools` to call".to_owned())
            }
            ToolChoice::Tool(name) if !offered(name) => Some(format!(
                "`tool_choice` names `{name}`, which is not among the agent's `tools`"
            )),
            ToolChoice::Auto | ToolChoice::Required | ToolChoice::None | ToolChoice::Tool(_) => {
                None
            }
        };
        match problem {
            Some(message) => {
                self.error_at_value(
                    &with(path, "tool_choice"),
                    message,
                    Some("use auto, required, none or one of the agent's tools".into()),
                );
                None
            }
            None => Some(choice),
        }
    }

    pub(super) fn llm(&mut self, path: &[&str], spec: &LlmSpec) -> Option<Activity> {
        let prompt = self.prompt(path, "llm", spec.system.as_deref(), &spec.prompt);
        let output_schema = spec
            .output_schema
            .as_ref()
            .and_then(|schema| self.output_schema(&with(path, "output_schema"), schema));
        Some(Activity::Llm(LlmBody {
            prompt: prompt?,
            output_schema,
            model: spec.model.clone(),
            sampling: spec.sampling.clone().unwrap_or_default(),
            remembers: spec.memory != Some(NodeMemorySpec::None),
            guards: self.node_guards(path, spec.guards.as_ref(), GuardedKind::Llm),
        }))
    }

    pub(super) fn tool(&mut self, path: &[&str], spec: &ToolNodeSpec) -> Activity {
        if spec.tool.is_empty() {
            self.error_at_key(path, "a tool node needs `tool: <name>`".into(), None);
        } else {
            self.check_tool(&with(path, "tool"), &spec.tool, false);
        }
        let arguments = spec
            .arguments
            .as_ref()
            .and_then(|arguments| {
                self.value_template(
                    &with(path, "arguments"),
                    &format!("{}.arguments", path.join(".")),
                    arguments,
                )
            })
            .unwrap_or(ValueTemplate::Literal(json!({})));
        Activity::Tool(ToolBody {
            tool: spec.tool.clone(),
            arguments,
            tool_timeout: self.tool_timeout(path, spec.tool_timeout.as_deref()),
            guards: self.node_guards(path, spec.guards.as_ref(), GuardedKind::Tool),
        })
    }

    /// A node's `tool_timeout`, reported where it does not parse.
    fn tool_timeout(&mut self, path: &[&str], text: Option<&str>) -> Option<std::time::Duration> {
        match parse_duration(text?) {
            Ok(duration) => Some(duration),
            Err(error) => {
                self.error_at_value(&with(path, "tool_timeout"), error.to_string(), None);
                None
            }
        }
    }

    pub(super) fn child(&mut self, path: &[&str], spec: &SubWorkflowSpec) -> Option<Activity> {
        if spec.path.is_empty() {
            self.error_at_key(path, "a workflow node needs `path: <file>`".into(), None);
            return None;
        }
        let input = spec.input.as_ref().and_then(|input| {
            self.value_template(
                &with(path, "input"),
                &format!("{}.input", path.join(".")),
                input,
            )
        });
        let path_path = with(path, "path");
        match self.context.load_child(&self.file.path, &spec.path) {
            Ok(workflow) => Some(Activity::Workflow(ChildBody {
                path: spec.path.clone(),
                workflow,
                input,
            })),
            Err(ChildError::Cycle(chain)) => {
                self.error_at_value(
                    &path_path,
                    format!("sub-workflow cycle: {chain}"),
                    Some("a workflow cannot run itself, directly or through others".into()),
                );
                None
            }
            Err(ChildError::Load(LoadError::Io {
                path: child_path,
                source,
            })) => {
                self.error_at_value(
                    &path_path,
                    format!(
                        "cannot read sub-workflow {}: {source}",
                        child_path.display()
                    ),
                    Some("paths are relative to this file's folder".into()),
                );
                None
            }
            Err(ChildError::Load(LoadError::Invalid { diagnostics })) => {
                let count = diagnostics.len();
                self.diagnostics.extend(diagnostics);
                self.error_at_value(
                    &path_path,
                    format!(
                        "sub-workflow `{}` has {count} error(s), listed with its file name",
                        spec.path
                    ),
                    None,
                );
                None
            }
            // A run's kept texts without this file; or a node model, which a
            // sub-workflow's load cannot refuse (node models are replaced in the file
            // loaded only), said here all the same, where it would belong.
            Err(ChildError::Load(
                error @ (LoadError::NodeModel { .. } | LoadError::NotStored { .. }),
            )) => {
                self.error_at_value(&path_path, error.to_string(), None);
                None
            }
        }
    }

    pub(super) fn map(&mut self, name: &str, spec: &crate::spec::MapSpec) -> Option<MapBody> {
        let path = ["nodes", name];
        if spec.over.trim().is_empty() {
            self.error_at_key(
                &path,
                format!("map node `{name}` needs `over: <expression giving a list>`"),
                None,
            );
            return None;
        }
        let over = match self
            .expressions
            .expression(format!("nodes.{name}.over"), strip_braces(&spec.over))
        {
            Ok(expression) => Some(expression),
            Err(error) => {
                self.error_at_value(
                    &with(&path, "over"),
                    format!("`over` does not compile: {}", error.message),
                    None,
                );
                None
            }
        };
        if spec.max_parallel == Some(0) {
            self.error_at_value(
                &with(&path, "max_parallel"),
                "`max_parallel` must be at least 1".into(),
                None,
            );
        }
        let Some(branch) = &spec.branch else {
            self.error_at_key(
                &path,
                format!(
                    "map node `{name}` needs a `branch` (an agent, llm, tool or workflow node)"
                ),
                None,
            );
            return None;
        };
        let branch_path = ["nodes", name, "branch"];
        let (branch_writes, branch_limits) = (branch.writes(), branch.limits());
        if branch.next().is_some() || !branch_writes.is_empty() || branch_limits.is_some() {
            self.error_at_value(
                &branch_path,
                "a map branch takes no `next`, `writes` or `limits`".into(),
                Some("put them on the map node; its `writes` run once per branch".into()),
            );
        }
        let activity = match branch.as_ref() {
            NodeSpec::Agent(agent) => self.agent(&branch_path, agent),
            NodeSpec::Llm(llm) => self.llm(&branch_path, llm),
            NodeSpec::Tool(tool) => Some(self.tool(&branch_path, tool)),
            NodeSpec::Workflow(child) => self.child(&branch_path, child),
            other => {
                self.error_at_value(
                    &with(&branch_path, "kind"),
                    format!("a map branch cannot be a `{}` node", other.kind_name()),
                    Some("use an agent, llm, tool or workflow node".into()),
                );
                None
            }
        }?;
        Some(MapBody {
            over: over?,
            item_name: spec.item_name.clone().unwrap_or_else(|| "item".to_owned()),
            max_parallel: spec.max_parallel.unwrap_or(DEFAULT_MAX_PARALLEL).max(1),
            branch: activity,
        })
    }
}

/// `node `x`` or `the branch of map `x``, for messages.
pub(super) fn describe_node(path: &[&str], kind: &str) -> String {
    match path {
        ["nodes", name, "branch", ..] => format!("the {kind} branch of map node `{name}`"),
        ["nodes", name, ..] => format!("{kind} node `{name}`"),
        _ => format!("this {kind} node"),
    }
}

fn with<'p>(path: &[&'p str], last: &'p str) -> Vec<&'p str> {
    let mut extended = path.to_vec();
    extended.push(last);
    extended
}

/// `over` may be written bare (`state.items`) or wrapped (`{{ state.items }}`).
fn strip_braces(text: &str) -> &str {
    let trimmed = text.trim();
    trimmed
        .strip_prefix("{{")
        .and_then(|inner| inner.strip_suffix("}}"))
        .map(str::trim)
        .unwrap_or(trimmed)
}

/// How to turn on a tool that exists only when a workflow asks for it.
fn off_by_default(tool: &str) -> Option<String> {
    match tool {
        "shell" => Some(
            "`shell` is off unless the workflow turns it on: add `shell: { allow: [<program>, ...] }` at the top level".into(),
        ),
        "http_get" => Some(
            "`http_get` is off unless the workflow turns it on: add `http_get: { allow_hosts: [<host>, ...] }` at the top level".into(),
        ),
        _ => None,
    }
}
