//! `weft sessions export NAME`: the session's messages as JSON lines in the OpenAI chat
//! format, tool calls included (`arguments` as a JSON string, as that format has it).

use super::find;
use crate::commands::arguments::DatabaseArgument;
use crate::commands::{exit, fail};
use serde_json::{Value, json};
use std::io::Write;
use std::process::ExitCode;
use weft_core::{Message, Role};

/// Messages read from the store at a time.
const PAGE: u32 = 1000;

pub(super) async fn export(
    database: &DatabaseArgument,
    name: &str,
    output: Option<&std::path::Path>,
) -> ExitCode {
    let (store, session) = match find(database, name).await {
        Ok(found) => found,
        Err(code) => return code,
    };
    let mut writer: Box<dyn Write> = match output {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Box::new(std::io::BufWriter::new(file)),
            Err(error) => {
                return fail(
                    exit::INVALID,
                    format!("cannot write {}: {error}", path.display()),
                );
            }
        },
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut after = 0;
    let mut written = 0u64;
    loop {
        let page = match store.messages(session.id, after, PAGE).await {
            Ok(page) => page,
            Err(error) => return fail(exit::FAILED, error),
        };
        let Some(last) = page.last() else { break };
        after = last.sequence;
        for stored in &page {
            if let Err(error) = writeln!(writer, "{}", openai_message(&stored.message)) {
                return fail(exit::FAILED, format!("cannot write the export: {error}"));
            }
            written += 1;
        }
    }
    if let Err(error) = writer.flush() {
        return fail(exit::FAILED, format!("cannot write the export: {error}"));
    }
    if let Some(path) = output {
        eprintln!(
            "wrote {written} messages of session `{name}` to {}",
            path.display()
        );
    }
    ExitCode::SUCCESS
}

/// One message in the OpenAI chat format.
pub fn openai_message(message: &Message) -> Value {
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut value = json!({"role": role, "content": message.content});
    if !message.tool_calls.is_empty() {
        value["tool_calls"] = message
            .tool_calls
            .iter()
            .map(|call| {
                json!({
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments.to_string()},
                })
            })
            .collect();
    }
    if let Some(id) = &message.tool_call_id {
        value["tool_call_id"] = json!(id);
    }
    value
}
