//! Writes model replies as a scripted backend's file (see [`crate::scripted`]): what
//! `weft runs export --scripted` makes of a run's recorded replies, so that a real run
//! becomes an offline demo or a test.
//!
//! Every reply is written without `match`, so the scripted model gives them out in the
//! order written and expands nothing in them: a `$1` in a real reply stays `$1`. Strings
//! are YAML double-quoted scalars with JSON's escapes, plus escapes for the characters a
//! YAML reader would take as line breaks or a byte order mark (U+0085, U+2028, U+2029,
//! U+FEFF) and for the other control characters, so any text reads back exactly.

use serde_json::Value;
use std::fmt::Write;
use weft_core::ModelReply;

/// One recorded model call, as the scripted model is to repeat it.
#[derive(Debug, Clone, Copy)]
pub enum RecordedReply<'a> {
    /// The model replied.
    Replied(&'a ModelReply),
    /// The call failed with this message (written as `fail:`).
    Failed(&'a str),
}

/// The script file for `replies`, given out in order; `comment` (one line per line of it)
/// heads the file.
pub fn write_script(comment: &str, replies: &[RecordedReply<'_>]) -> String {
    let mut text = String::new();
    for line in comment.lines() {
        let _ = writeln!(text, "# {line}");
    }
    if replies.is_empty() {
        text.push_str("replies: []\n");
        return text;
    }
    text.push_str("replies:\n");
    for reply in replies {
        match reply {
            RecordedReply::Failed(message) => {
                let _ = writeln!(text, "  - fail: {}", quoted(message));
            }
            RecordedReply::Replied(reply) => write_reply(&mut text, reply),
        }
    }
    text
}

fn write_reply(text: &mut String, reply: &ModelReply) {
    let _ = writeln!(text, "  - text: {}", quoted(&reply.text));
    if reply.tool_calls.is_empty() {
        return;
    }
    text.push_str("    tool_calls:\n");
    for call in &reply.tool_calls {
        let _ = write!(
            text,
            "      - {{ id: {}, name: {}, ",
            quoted(&call.id),
            quoted(&call.name)
        );
        match &call.unparsed_arguments {
            Some(unparsed) => {
                let _ = write!(text, "arguments_text: {}", quoted(unparsed));
            }
            None => {
                text.push_str("arguments: ");
                write_value(text, &call.arguments);
            }
        }
        text.push_str(" }\n");
    }
}

/// A JSON value in YAML's flow style (which JSON is), strings quoted as [`quoted`] does.
fn write_value(text: &mut String, value: &Value) {
    match value {
        Value::String(string) => text.push_str(&quoted(string)),
        Value::Array(items) => {
            text.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    text.push_str(", ");
                }
                write_value(text, item);
            }
            text.push(']');
        }
        Value::Object(fields) => {
            text.push('{');
            for (index, (name, item)) in fields.iter().enumerate() {
                if index > 0 {
                    text.push_str(", ");
                }
                text.push_str(&quoted(name));
                text.push_str(": ");
                write_value(text, item);
            }
            text.push('}');
        }
        // Numbers, booleans and null as JSON writes them: YAML 1.2 reads them the same.
        other => text.push_str(&other.to_string()),
    }
}

/// `value` as a YAML double-quoted scalar.
fn quoted(value: &str) -> String {
    let mut text = String::with_capacity(value.len() + 2);
    text.push('"');
    for character in value.chars() {
        match character {
            '"' => text.push_str("\\\""),
            '\\' => text.push_str("\\\\"),
            '\n' => text.push_str("\\n"),
            '\t' => text.push_str("\\t"),
            '\r' => text.push_str("\\r"),
            character
                if character.is_control()
                    || matches!(character, '\u{2028}' | '\u{2029}' | '\u{feff}') =>
            {
                let _ = write!(text, "\\u{:04x}", u32::from(character));
            }
            character => text.push(character),
        }
    }
    text.push('"');
    text
}

#[cfg(test)]
mod tests {
    use super::{RecordedReply, quoted, write_script};
    use crate::ScriptedModel;
    use futures::StreamExt;
    use serde_json::json;
    use std::path::Path;
    use weft_core::{ChatModel, ChatRequest, Message, ModelReply, ReplyBuilder, ToolCall};

    /// What the scripted model replies to its next call.
    async fn next_reply(model: &ScriptedModel) -> Result<ModelReply, String> {
        let request = ChatRequest {
            messages: vec![Message::user("anything")],
            ..ChatRequest::default()
        };
        let mut stream = model.chat(request);
        let mut reply = ReplyBuilder::new();
        while let Some(event) = stream.next().await {
            reply.push(event.map_err(|error| error.message)?);
        }
        Ok(reply.finish())
    }

    #[tokio::test]
    async fn replies_read_back_as_written() {
        let first = ModelReply {
            text: "costs $1 and \"$2\": 50% of C:\\temp\nsecond line\u{2028}\u{85}\u{feff}\u{7}"
                .to_owned(),
            ..ModelReply::default()
        };
        let second = ModelReply {
            text: String::new(),
            tool_calls: vec![
                ToolCall::new(
                    "call-1",
                    "add",
                    json!({"a": 1, "b": [true, null, 2.5], "note": "no", "c": {"d": "$1 #x"}}),
                ),
                ToolCall::from_text("call-2", "add", "{\"a\": 1,"),
            ],
            ..ModelReply::default()
        };
        let third = ModelReply {
            text: "yes".to_owned(),
            ..ModelReply::default()
        };
        let script = write_script(
            "exported from a run\nsecond line",
            &[
                RecordedReply::Replied(&first),
                RecordedReply::Failed("upstream: 503 \"busy\""),
                RecordedReply::Replied(&second),
                RecordedReply::Replied(&third),
            ],
        );
        assert!(script.starts_with("# exported from a run\n# second line\nreplies:\n"));
        let model = ScriptedModel::from_yaml(Path::new("export.yaml"), &script)
            .unwrap_or_else(|error| panic!("{error}\n{script}"));
        assert_eq!(next_reply(&model).await.unwrap().text, first.text);
        let failed = next_reply(&model).await.unwrap_err();
        assert!(failed.contains("upstream: 503 \"busy\""), "{failed}");
        let calls = next_reply(&model).await.unwrap().tool_calls;
        assert_eq!(calls, second.tool_calls);
        assert_eq!(next_reply(&model).await.unwrap().text, "yes");
    }

    #[test]
    fn no_replies_is_an_empty_list() {
        let script = write_script("", &[]);
        assert_eq!(script, "replies: []\n");
        assert!(ScriptedModel::from_yaml(Path::new("empty.yaml"), &script).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn any_text_reads_back(text in "\\PC*|[\\x00-\\x1f\\u{85}\\u{2028}\\u{2029}\\u{feff}$\"\\\\ #:-]*") {
            let reply = ModelReply { text: text.clone(), ..ModelReply::default() };
            let script = write_script("", &[RecordedReply::Replied(&reply)]);
            let model = ScriptedModel::from_yaml(Path::new("any.yaml"), &script)
                .map_err(|error| proptest::test_runner::TestCaseError::fail(format!("{error}: {}", quoted(&text))))?;
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let read = runtime.block_on(next_reply(&model)).unwrap();
            proptest::prop_assert_eq!(read.text, text);
        }
    }
}
