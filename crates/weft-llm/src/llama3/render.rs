//! Rendering a conversation in the Llama-3.1 prompt format.

use super::tokens::{
    BEGIN_OF_TEXT, END_HEADER, END_OF_MESSAGE, END_OF_TURN, PYTHON_TAG, SPECIAL_TOKENS,
    START_HEADER,
};
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use weft_core::{Message, Role, ToolCall, ToolSpec};

/// A tool Llama-3.1 was trained to call in its own syntax (`brave_search.call(query="...")`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinTool {
    /// Web search.
    BraveSearch,
    /// Computation and facts.
    WolframAlpha,
    /// Python code the model writes after `<|python_tag|>`; enabled by `Environment: ipython`
    /// alone, so it is never listed on the `Tools:` line.
    CodeInterpreter,
}

impl BuiltinTool {
    /// Every built-in tool.
    pub const ALL: [BuiltinTool; 3] = [
        BuiltinTool::BraveSearch,
        BuiltinTool::WolframAlpha,
        BuiltinTool::CodeInterpreter,
    ];

    /// The name the model uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::BraveSearch => "brave_search",
            Self::WolframAlpha => "wolfram_alpha",
            Self::CodeInterpreter => "code_interpreter",
        }
    }

    /// The built-in tool with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tool| tool.name() == name)
    }
}

/// Where the definitions of the caller's own tools go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ToolPlacement {
    /// At the start of the first user message, as Meta's reference template does.
    #[default]
    FirstUserMessage,
    /// In the system message.
    SystemMessage,
}

/// How a prompt is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Built-in tools the model may use; any makes the prompt declare `Environment: ipython`.
    pub builtin_tools: Vec<BuiltinTool>,
    /// Where the caller's tool definitions go.
    pub tool_placement: ToolPlacement,
    /// The `Today Date:` line (e.g. `26 Jul 2024`); no line when `None`.
    pub today: Option<String>,
    /// Ends the prompt with an open assistant header, for the model to write its turn.
    pub add_generation_prompt: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            builtin_tools: Vec::new(),
            tool_placement: ToolPlacement::default(),
            today: None,
            add_generation_prompt: true,
        }
    }
}

/// The training data's cut-off, which Meta's format states in every system message.
const KNOWLEDGE_CUTOFF: &str = "Cutting Knowledge Date: December 2023";

/// Renders `messages` (and the definitions of `tools`) as one Llama-3.1 prompt.
///
/// Special tokens inside message texts are defused (`<|eot_id|>` becomes `< |eot_id|>`), so
/// no message can open a header or end a turn of its own.
pub fn render(messages: &[Message], tools: &[ToolSpec], options: &RenderOptions) -> String {
    let mut prompt = String::with_capacity(
        256 + messages
            .iter()
            .map(|message| message.content.len() + 32)
            .sum::<usize>(),
    );
    prompt.push_str(BEGIN_OF_TEXT);
    let (system, rest) = match messages.split_first() {
        Some((first, rest)) if first.role == Role::System => (Some(first.content.as_str()), rest),
        _ => (None, messages),
    };
    let first_user = rest.iter().position(|message| message.role == Role::User);
    let tools_in_user = !tools.is_empty()
        && options.tool_placement == ToolPlacement::FirstUserMessage
        && first_user.is_some();

    header(&mut prompt, "system");
    system_lines(&mut prompt, !tools.is_empty(), options);
    if !tools.is_empty() && !tools_in_user {
        tool_definitions(&mut prompt, tools);
    }
    if let Some(system) = system {
        push_defused(&mut prompt, system.trim());
    }
    prompt.push_str(END_OF_TURN);

    for (index, message) in rest.iter().enumerate() {
        let definitions = tools_in_user && Some(index) == first_user;
        push_message(&mut prompt, message, definitions.then_some(tools));
    }
    if options.add_generation_prompt {
        header(&mut prompt, "assistant");
    }
    prompt
}

/// The lines Meta's format puts at the start of the system message: the environment when
/// tools exist, the built-in tools, the knowledge cut-off and today's date.
pub(super) fn system_lines(prompt: &mut String, tools: bool, options: &RenderOptions) {
    if !options.builtin_tools.is_empty() || tools {
        prompt.push_str("Environment: ipython\n");
    }
    let listed: Vec<&str> = options
        .builtin_tools
        .iter()
        .filter(|tool| **tool != BuiltinTool::CodeInterpreter)
        .map(|tool| tool.name())
        .collect();
    if !listed.is_empty() {
        let _ = write!(prompt, "Tools: {}\n\n", listed.join(", "));
    }
    prompt.push_str(KNOWLEDGE_CUTOFF);
    prompt.push('\n');
    if let Some(today) = &options.today {
        let _ = writeln!(prompt, "Today Date: {today}");
    }
    prompt.push('\n');
}

/// One message after the first system message as [`render`] writes it: its header, its
/// text (tool calls as the model writes them) and its end token; `tools` are defined at
/// the start of the text (the first user message's place for them).
pub(super) fn push_message(prompt: &mut String, message: &Message, tools: Option<&[ToolSpec]>) {
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => return assistant(prompt, message),
        Role::Tool => "ipython",
    };
    header(prompt, role);
    if let Some(tools) = tools {
        tool_definitions(prompt, tools);
    }
    push_defused(prompt, message.content.trim());
    prompt.push_str(END_OF_TURN);
}

/// The text a model writes for `call`: `brave_search.call(query="...")` after the python tag
/// for a built-in tool, `{"name": ..., "parameters": ...}` otherwise.
pub fn render_tool_call(call: &ToolCall) -> String {
    match BuiltinTool::from_name(&call.name) {
        Some(BuiltinTool::CodeInterpreter) => {
            let code = call
                .arguments
                .get("code")
                .and_then(Value::as_str)
                .unwrap_or_default();
            format!("{PYTHON_TAG}{code}")
        }
        Some(tool) => {
            let mut text = format!("{PYTHON_TAG}{}.call(", tool.name());
            if let Value::Object(arguments) = &call.arguments {
                for (position, (key, value)) in arguments.iter().enumerate() {
                    if position > 0 {
                        text.push_str(", ");
                    }
                    let _ = write!(text, "{key}={}", python_literal(value));
                }
            }
            text.push(')');
            text
        }
        None => {
            let arguments = if call.arguments.is_null() {
                Value::Object(serde_json::Map::new())
            } else {
                call.arguments.clone()
            };
            serde_json::json!({"name": call.name, "parameters": arguments}).to_string()
        }
    }
}

fn assistant(prompt: &mut String, message: &Message) {
    header(prompt, "assistant");
    if message.tool_calls.is_empty() {
        push_defused(prompt, message.content.trim());
        prompt.push_str(END_OF_TURN);
        return;
    }
    let builtin = message
        .tool_calls
        .iter()
        .any(|call| BuiltinTool::from_name(&call.name).is_some());
    let calls: Vec<String> = message.tool_calls.iter().map(render_tool_call).collect();
    if builtin {
        // One python tag opens the calls; the turn ends waiting for their results.
        let joined = calls
            .iter()
            .map(|call| call.strip_prefix(PYTHON_TAG).unwrap_or(call))
            .collect::<Vec<_>>()
            .join("; ");
        prompt.push_str(PYTHON_TAG);
        prompt.push_str(&joined);
        prompt.push_str(END_OF_MESSAGE);
    } else {
        prompt.push_str(&calls.join("; "));
        prompt.push_str(END_OF_TURN);
    }
}

pub(super) fn header(prompt: &mut String, role: &str) {
    prompt.push_str(START_HEADER);
    prompt.push_str(role);
    prompt.push_str(END_HEADER);
    prompt.push_str("\n\n");
}

pub(super) fn tool_definitions(prompt: &mut String, tools: &[ToolSpec]) {
    prompt.push_str(
        "You can call the functions below. To call one, answer with a JSON object only, \
         of the form {\"name\": function name, \"parameters\": an object of argument names \
         and values}. Write the values themselves, never variables.\n\n",
    );
    for tool in tools {
        let definition = serde_json::json!({
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            }
        });
        prompt.push_str(&pretty(&definition));
        prompt.push_str("\n\n");
    }
}

/// JSON indented by four spaces, as the model saw tool definitions in training.
fn pretty(value: &Value) -> String {
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    if value.serialize(&mut serializer).is_err() {
        return value.to_string();
    }
    String::from_utf8(bytes).unwrap_or_else(|_| value.to_string())
}

fn python_literal(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        // A JSON string's escapes are also a Python string's.
        other => other.to_string(),
    }
}

/// Appends `text`, breaking up any special token in it.
fn push_defused(prompt: &mut String, text: &str) {
    if !text.contains("<|") {
        prompt.push_str(text);
        return;
    }
    let mut rest = text;
    while let Some(start) = rest.find("<|") {
        prompt.push_str(&rest[..start]);
        let tail = &rest[start..];
        if SPECIAL_TOKENS.iter().any(|token| tail.starts_with(token)) {
            prompt.push_str("< |");
        } else {
            prompt.push_str("<|");
        }
        rest = &tail[2..];
    }
    prompt.push_str(rest);
}
