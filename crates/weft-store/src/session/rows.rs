//! Session rows as they are stored and read back, the same on every backend: the columns a
//! session is read from, a message's role and tool calls as text, and the clock that locks
//! are checked against.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};
use weft_core::{
    ErrorKind, Message, Role, RunId, SessionId, SessionInfo, SessionMessage, StoreError, ToolCall,
};

/// The columns [`SessionRow`] is read from, in `sessions`: with its live pins, its notes and
/// its live summaries counted, so that reading a session for a model call skips what it has
/// none of.
pub(crate) const SESSION_COLUMNS: &str = "id, tenant, name, workflow, source, created_at, updated_at, last_message, locked_by, lock_until, \
    (SELECT COUNT(*) FROM session_pins WHERE session_pins.session_id = sessions.id AND session_pins.unpinned_at IS NULL), \
    (SELECT COUNT(*) FROM session_notes WHERE session_notes.session_id = sessions.id), \
    (SELECT COUNT(*) FROM session_summaries WHERE session_summaries.session_id = sessions.id AND session_summaries.merged_into IS NULL)";

/// A `sessions` row: [`SESSION_COLUMNS`].
pub(crate) type SessionRow = (
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    i64,
    i64,
    i64,
);

/// The columns [`MessageRow`] is read from, in `session_messages` as `m` and
/// `session_token_counts` as `c` (joined for one tokenizer).
pub(crate) const MESSAGE_COLUMNS: &str =
    "m.sequence, m.role, m.content, m.tool_calls, m.tool_call_id, c.tokens";

/// A message row: its sequence number, role, content, tool calls (JSON), tool call id, and
/// its tokens when counted for the tokenizer asked about.
pub(crate) type MessageRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// Now, in milliseconds since the Unix epoch: what lock times are compared with.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// A number read back as the unsigned number it was stored from.
pub(crate) fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// An unsigned number as stored.
pub(crate) fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A token count as stored, read back.
pub(crate) fn tokens(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// A session row read back; a lock past its time is reported as no lock.
pub(crate) fn session_info(row: SessionRow, now: i64) -> Result<SessionInfo, StoreError> {
    let (
        id,
        tenant,
        name,
        workflow,
        source,
        created_at,
        updated_at,
        last_message,
        locked_by,
        lock_until,
        pins,
        notes,
        summaries,
    ) = row;
    let locked_by = match (locked_by, lock_until) {
        (Some(holder), Some(until)) if until >= now => {
            Some(RunId::from_str(&holder).map_err(|_| {
                corrupt(&format!("session {id} is locked by `{holder}`, no run id"))
            })?)
        }
        _ => None,
    };
    Ok(SessionInfo {
        id: SessionId::from_str(&id)
            .map_err(|_| corrupt(&format!("a session row has the bad id `{id}`")))?,
        tenant,
        name,
        workflow,
        source,
        created_at_millis: unsigned(created_at),
        updated_at_millis: unsigned(updated_at),
        messages: unsigned(last_message),
        pins: unsigned(pins),
        notes: unsigned(notes),
        summaries: unsigned(summaries),
        locked_by,
    })
}

/// A message row read back.
pub(crate) fn session_message(row: MessageRow) -> Result<SessionMessage, StoreError> {
    let (sequence, role, content, tool_calls, tool_call_id, counted) = row;
    let role = parse_role(&role).ok_or_else(|| {
        corrupt(&format!(
            "session message {sequence} has the unknown role `{role}`"
        ))
    })?;
    let tool_calls: Vec<ToolCall> = match tool_calls {
        Some(text) => serde_json::from_str(&text).map_err(|error| {
            corrupt(&format!(
                "session message {sequence} has tool calls that cannot be read: {error}"
            ))
        })?,
        None => Vec::new(),
    };
    Ok(SessionMessage {
        sequence: unsigned(sequence),
        message: Message {
            role,
            content,
            tool_calls,
            tool_call_id,
        },
        tokens: counted.map(tokens),
    })
}

/// A role as stored: its snake_case name, as in events.
pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

fn parse_role(name: &str) -> Option<Role> {
    [Role::System, Role::User, Role::Assistant, Role::Tool]
        .into_iter()
        .find(|role| role_name(*role) == name)
}

/// Tool calls as stored: the JSON array, or NULL for none.
pub(crate) fn tool_calls_text(tool_calls: &[ToolCall]) -> Option<String> {
    if tool_calls.is_empty() {
        return None;
    }
    // A `ToolCall` is strings and JSON values: it always serializes.
    serde_json::to_string(tool_calls).ok()
}

/// A stored row that cannot be read.
pub(crate) fn corrupt(message: &str) -> StoreError {
    StoreError::new(ErrorKind::Corrupt, message)
}

/// The error of a session that does not exist.
pub(crate) fn no_session(session: SessionId) -> StoreError {
    StoreError::new(
        ErrorKind::NotFound,
        format!("no session {session}; open it by name first"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_stored_by_their_event_names() {
        for role in [Role::System, Role::User, Role::Assistant, Role::Tool] {
            let json = serde_json::to_value(role).unwrap();
            assert_eq!(json, role_name(role));
            assert_eq!(parse_role(role_name(role)), Some(role));
        }
    }
}
