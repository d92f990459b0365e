//! `weft sessions show NAME`: a session's facts, summaries and newest messages.

use super::find;
use crate::commands::arguments::DatabaseArgument;
use crate::commands::{exit, fail};
use std::process::ExitCode;
use weft_core::{Role, SessionMessage};

pub(super) async fn show(
    database: &DatabaseArgument,
    name: &str,
    newest: u32,
    json: bool,
) -> ExitCode {
    let (store, session) = match find(database, name).await {
        Ok(found) => found,
        Err(code) => return code,
    };
    let after = if newest == 0 {
        0
    } else {
        session.messages.saturating_sub(u64::from(newest))
    };
    let (pins, messages) = match (
        store.pins(session.id).await,
        store.messages(session.id, after, 0).await,
    ) {
        (Ok(pins), Ok(messages)) => (pins, messages),
        (Err(error), _) | (_, Err(error)) => return fail(exit::FAILED, error),
    };
    if json {
        let value = serde_json::json!({
            "session": session,
            "pins": pins,
            "messages": messages,
        });
        say!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    say!("session    {} ({})", session.name, session.id);
    say!("workflow   {} ({})", session.workflow, session.source);
    say!("messages   {}", session.messages);
    say!(
        "created    {}",
        weft_tools::builtin::rfc3339(session.created_at_millis)
    );
    say!(
        "updated    {}",
        weft_tools::builtin::rfc3339(session.updated_at_millis)
    );
    if let Some(run) = session.locked_by {
        say!("writing    run {run}");
    }
    if !pins.is_empty() {
        say!("pinned facts:");
        for pin in &pins {
            say!("  [{}] {}", pin.id, pin.text);
        }
    }
    if after > 0 {
        say!("... {after} earlier messages (--messages 0 shows all)");
    }
    for message in &messages {
        say!("{}", line(message));
    }
    ExitCode::SUCCESS
}

/// One message as a line for people.
fn line(stored: &SessionMessage) -> String {
    let message = &stored.message;
    let who = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut text = crate::render::preview(&message.content);
    for call in &message.tool_calls {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&format!("-> {}({})", call.name, call.arguments));
    }
    format!("  m{:<6} {who:<9} {text}", stored.sequence)
}
