//! Context assembly, case by case.

use weft_core::{
    Message, Pin, Role, SessionMessage, SessionView, Snippet, SnippetSource, Summary, TokenCounter,
    ToolCall,
};
use weft_memory::{AssemblyError, Limits, Turn, assemble};

pub fn llama3() -> std::sync::Arc<dyn TokenCounter> {
    weft_llm::tokens::llama3().expect("the embedded vocabulary loads")
}

fn limits(window: u32) -> Limits {
    Limits {
        window,
        reply: 64,
        margin: 16,
    }
}

fn history(count: u64, text: &str) -> Vec<SessionMessage> {
    (1..=count)
        .map(|sequence| SessionMessage {
            sequence,
            message: if sequence % 2 == 1 {
                Message::user(format!("{text} (turn {sequence})"))
            } else {
                Message::assistant(format!("Noted: {text} ({sequence})"), Vec::new())
            },
            tokens: None,
        })
        .collect()
}

fn prompt() -> Vec<Message> {
    vec![
        Message::system("You are a support agent."),
        Message::user("Where is my parcel?"),
    ]
}

/// The prompt's tokens counted again from scratch: what the model would be sent.
pub fn recount(messages: &[Message], counter: &dyn TokenCounter) -> u32 {
    let empty_system = match messages.first() {
        Some(first) if first.role == Role::System => 0,
        _ => counter.message(&Message::system("")),
    };
    counter.frame(&[]) + empty_system + messages.iter().map(|m| counter.message(m)).sum::<u32>()
}

#[test]
fn everything_fits_in_a_large_window() {
    let counter = llama3();
    let view = SessionView {
        messages: history(10, "I ordered a lamp"),
        ..SessionView::default()
    };
    let turn_messages = prompt();
    let turn = Turn {
        messages: &turn_messages,
        tools: &[],
    };
    let context = assemble(turn, &view, limits(8192), 80, counter.as_ref()).expect("fits");
    assert_eq!(context.messages.len(), 12);
    assert_eq!(context.report.history, Some((1, 10)));
    assert_eq!(context.report.history_left_out, 0);
    assert_eq!(
        context.counted.len(),
        10,
        "every message was counted once, to be stored"
    );
    assert_eq!(
        context.report.used,
        recount(&context.messages, counter.as_ref())
    );
    assert!(!context.report.compaction_due);
    // The order: system, history, then the newest user message.
    assert_eq!(context.messages[0].role, Role::System);
    assert_eq!(context.messages[11].content, "Where is my parcel?");
}

#[test]
fn a_small_window_keeps_the_newest_messages_and_the_prompt() {
    let counter = llama3();
    let view = SessionView {
        messages: history(200, "I ordered a lamp and a chair"),
        ..SessionView::default()
    };
    let turn_messages = prompt();
    let turn = Turn {
        messages: &turn_messages,
        tools: &[],
    };
    let context = assemble(turn, &view, limits(512), 80, counter.as_ref()).expect("fits");
    let (first, last) = context.report.history.expect("some history");
    assert_eq!(last, 200, "the newest message is in");
    assert!(first > 150, "the oldest are left out: {first}");
    assert_eq!(context.report.history_left_out, first - 1);
    assert!(context.report.used <= context.report.budget);
    assert_eq!(
        context.report.used,
        recount(&context.messages, counter.as_ref())
    );
    assert!(
        context.report.compaction_due,
        "the session passed 80% of the budget"
    );
    assert_eq!(
        context.messages.last().map(|m| m.content.as_str()),
        Some("Where is my parcel?")
    );
}

#[test]
fn a_prompt_too_large_fails_naming_the_sizes() {
    let counter = llama3();
    let turn_messages = vec![
        Message::system("You are a support agent."),
        Message::user("lamp ".repeat(600)),
    ];
    let turn = Turn {
        messages: &turn_messages,
        tools: &[],
    };
    let error = assemble(
        turn,
        &SessionView::default(),
        limits(512),
        80,
        counter.as_ref(),
    )
    .expect_err("too large");
    let AssemblyError::TooLarge {
        prompt,
        budget,
        window,
        ..
    } = &error;
    assert!(*prompt > 600 && *budget == 512 - 64 - 16 && *window == 512);
    let text = error.to_string();
    assert!(
        text.contains("512-token window") && text.contains(&format!("{prompt} tokens")),
        "{text}"
    );
}

#[test]
fn a_tool_call_is_never_separated_from_its_result() {
    let counter = llama3();
    let big = "row;".repeat(400);
    let mut messages = history(4, "I ordered a lamp");
    messages.push(SessionMessage {
        sequence: 5,
        message: Message::assistant(
            "",
            vec![ToolCall::new("c1", "lookup", serde_json::json!({}))],
        ),
        tokens: None,
    });
    messages.push(SessionMessage {
        sequence: 6,
        message: Message::tool_result("c1", big),
        tokens: None,
    });
    messages.push(SessionMessage {
        sequence: 7,
        message: Message::assistant("Done.", Vec::new()),
        tokens: None,
    });
    let view = SessionView {
        messages,
        ..SessionView::default()
    };
    let turn_messages = prompt();
    let turn = Turn {
        messages: &turn_messages,
        tools: &[],
    };
    let context = assemble(turn, &view, limits(400), 80, counter.as_ref()).expect("fits");
    // The result was cut, with its call kept and a note on how to read the rest.
    let result = context
        .messages
        .iter()
        .find(|message| message.role == Role::Tool)
        .expect("the result is in, cut");
    assert!(
        result.content.contains("memory_read(id=\"m6\""),
        "{}",
        result.content
    );
    let call = context
        .messages
        .iter()
        .position(|m| !m.tool_calls.is_empty())
        .expect("call");
    assert_eq!(context.messages[call + 1].role, Role::Tool);
    assert_eq!(context.report.cut.len(), 1);
    assert_eq!(context.report.cut[0].sequence, Some(6));
    assert!(context.report.used <= context.report.budget);
    assert_eq!(
        context.report.used,
        recount(&context.messages, counter.as_ref())
    );
}

#[test]
fn a_view_that_begins_with_a_result_drops_it() {
    let counter = llama3();
    let view = SessionView {
        messages: vec![
            SessionMessage {
                sequence: 9,
                message: Message::tool_result("c0", "orphan"),
                tokens: None,
            },
            SessionMessage {
                sequence: 10,
                message: Message::user("hello"),
                tokens: None,
            },
        ],
        ..SessionView::default()
    };
    let turn_messages = prompt();
    let turn = Turn {
        messages: &turn_messages,
        tools: &[],
    };
    let context = assemble(turn, &view, limits(4096), 80, counter.as_ref()).expect("fits");
    assert!(context.messages.iter().all(|m| m.role != Role::Tool));
    assert_eq!(context.report.history, Some((10, 10)));
}

#[test]
fn pins_summaries_and_snippets_come_first_and_are_reported() {
    let counter = llama3();
    let view = SessionView {
        pins: vec![Pin {
            id: 1,
            text: "The customer is Ana Souza, account 8812.".into(),
        }],
        summaries: vec![Summary {
            id: 3,
            level: 0,
            first: 1,
            last: 40,
            text: "Ana ordered a lamp; it was delayed.".into(),
            tokens: None,
        }],
        snippets: vec![Snippet {
            source: SnippetSource::Note,
            id: 2,
            text: "Ana prefers e-mail.".into(),
        }],
        messages: history(4, "hello"),
        omitted: 0,
    };
    let turn_messages = prompt();
    let turn = Turn {
        messages: &turn_messages,
        tools: &[],
    };
    let context = assemble(turn, &view, limits(4096), 80, counter.as_ref()).expect("fits");
    assert!(context.messages[1].content.contains("Ana Souza"));
    assert!(context.messages[2].content.contains("messages 1 to 40"));
    assert!(
        context.messages[3]
            .content
            .contains("[n2] Ana prefers e-mail.")
    );
    assert_eq!(context.report.pins.count, 1);
    assert_eq!(context.report.summaries, vec![3]);
    assert_eq!(context.report.snippets, vec!["n2".to_owned()]);
    assert_eq!(
        context.report.used,
        recount(&context.messages, counter.as_ref())
    );
}

#[test]
fn pins_that_alone_overflow_lose_the_oldest() {
    let counter = llama3();
    let pins = (1..=200)
        .map(|id| Pin {
            id,
            text: format!("Fact number {id} about the customer's many orders."),
        })
        .collect();
    let view = SessionView {
        pins,
        ..SessionView::default()
    };
    let turn_messages = prompt();
    let turn = Turn {
        messages: &turn_messages,
        tools: &[],
    };
    let context = assemble(turn, &view, limits(1024), 80, counter.as_ref()).expect("fits");
    assert!(!context.report.pins_left_out.is_empty());
    assert_eq!(context.report.pins_left_out[0], 1, "the oldest goes first");
    assert!(
        context.messages[1].content.contains("[200]"),
        "the newest stays"
    );
    assert!(context.report.used <= context.report.budget);
}

#[test]
fn the_current_steps_turns_come_before_older_history() {
    let counter = llama3();
    let view = SessionView {
        messages: history(100, "older chatter"),
        ..SessionView::default()
    };
    let mut turn_messages = prompt();
    turn_messages.push(Message::assistant(
        "",
        vec![ToolCall::new(
            "t1",
            "lookup",
            serde_json::json!({"order": 1}),
        )],
    ));
    turn_messages.push(Message::tool_result("t1", "shipped on Monday"));
    let turn = Turn {
        messages: &turn_messages,
        tools: &[],
    };
    let context = assemble(turn, &view, limits(300), 80, counter.as_ref()).expect("fits");
    let last_two: Vec<Role> = context
        .messages
        .iter()
        .rev()
        .take(3)
        .map(|m| m.role)
        .collect();
    assert_eq!(last_two, vec![Role::Tool, Role::Assistant, Role::User]);
    assert_eq!(context.report.current.count, 3);
    assert_eq!(context.report.current_left_out, 0);
}
