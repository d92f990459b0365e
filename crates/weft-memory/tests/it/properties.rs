//! Random histories: the context never passes its budget, never sends a tool result
//! without its call, and always holds the newest user message; without a session, the
//! shortcut that sends a step's messages as they are reports what assembly would.

use crate::context::{llama3, recount};
use proptest::prelude::*;
use std::collections::HashSet;
use weft_core::{Message, Pin, Role, SessionMessage, SessionView, ToolCall};
use weft_fixtures::languages::SENTENCES;
use weft_memory::{Limits, Turn, assemble, whole_turn};

#[derive(Debug, Clone)]
enum Item {
    User(usize, usize),
    Reply(usize, usize),
    /// A tool call with this many results, each this long.
    Tools(usize, usize),
}

fn text(language: usize, repeat: usize) -> String {
    SENTENCES[language % SENTENCES.len()]
        .1
        .repeat(repeat.max(1))
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        (0..8usize, 1..4usize).prop_map(|(l, r)| Item::User(l, r)),
        (0..8usize, 1..6usize).prop_map(|(l, r)| Item::Reply(l, r)),
        (1..3usize, 1..300usize).prop_map(|(n, r)| Item::Tools(n, r)),
    ]
}

fn messages(items: &[Item]) -> Vec<Message> {
    let mut messages = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match item {
            Item::User(language, repeat) => messages.push(Message::user(text(*language, *repeat))),
            Item::Reply(language, repeat) => {
                messages.push(Message::assistant(text(*language, *repeat), Vec::new()))
            }
            Item::Tools(count, repeat) => {
                let calls: Vec<ToolCall> = (0..*count)
                    .map(|call| {
                        ToolCall::new(
                            format!("c{index}-{call}"),
                            "fetch",
                            serde_json::json!({"page": call}),
                        )
                    })
                    .collect();
                messages.push(Message::assistant("", calls.clone()));
                for (position, call) in calls.iter().enumerate() {
                    messages.push(Message::tool_result(
                        call.id.clone(),
                        text(index + position, *repeat),
                    ));
                }
            }
        }
    }
    messages
}

fn no_orphans(messages: &[Message]) -> bool {
    let mut called = HashSet::new();
    for message in messages {
        for call in &message.tool_calls {
            called.insert(call.id.clone());
        }
        if message.role == Role::Tool
            && !message
                .tool_call_id
                .as_ref()
                .is_some_and(|id| called.contains(id))
        {
            return false;
        }
    }
    true
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_context_fits_and_keeps_calls_with_results(
        history in prop::collection::vec(item(), 0..60),
        current in prop::collection::vec(item(), 0..4),
        pins in 0..40usize,
        window in 400u32..6000,
        prompt_language in 0..8usize,
    ) {
        let counter = llama3();
        let view = SessionView {
            pins: (0..pins as u64).map(|id| Pin { id, text: text(id as usize, 1) }).collect(),
            messages: messages(&history)
                .into_iter()
                .enumerate()
                .map(|(index, message)| SessionMessage { sequence: index as u64 + 1, message, tokens: None })
                .collect(),
            ..SessionView::default()
        };
        let newest = Message::user(text(prompt_language, 1));
        let mut turn_messages = vec![Message::system("You are helpful."), newest.clone()];
        turn_messages.extend(messages(&current).into_iter().filter(|m| m.role != Role::User));
        let limits = Limits { window, reply: 64, margin: 16 };
        let turn = Turn { messages: &turn_messages, tools: &[] };
        match assemble(turn, &view, limits, 80, counter.as_ref()) {
            Ok(context) => {
                let sent = recount(&context.messages, counter.as_ref());
                prop_assert!(sent <= context.report.budget, "{} > {}", sent, context.report.budget);
                prop_assert_eq!(sent, context.report.used);
                prop_assert!(no_orphans(&context.messages));
                prop_assert!(context.messages.contains(&newest));
            }
            Err(error) => {
                // Only a prompt that cannot fit by itself fails.
                let alone = recount(&[Message::system("You are helpful."), newest], counter.as_ref());
                prop_assert!(alone > limits.window - 80, "{error}");
            }
        }
    }

    #[test]
    fn a_whole_turn_is_reported_as_assembly_would(
        current in prop::collection::vec(item(), 0..8),
        window in 300u32..4000,
        prompt_language in 0..8usize,
        with_system in any::<bool>(),
    ) {
        let counter = llama3();
        let view = SessionView::default();
        let mut turn_messages = Vec::new();
        if with_system {
            turn_messages.push(Message::system("You are helpful."));
        }
        turn_messages.push(Message::user(text(prompt_language, 1)));
        turn_messages.extend(messages(&current).into_iter().filter(|m| m.role != Role::User));
        let limits = Limits { window, reply: 64, margin: 16 };
        let turn = Turn { messages: &turn_messages, tools: &[] };
        let whole = whole_turn(turn, &view, limits, counter.as_ref());
        match (whole, assemble(turn, &view, limits, 80, counter.as_ref())) {
            (Some(report), Ok(context)) => {
                prop_assert_eq!(&*report, &context.report);
                prop_assert_eq!(&context.messages, &turn_messages);
            }
            (None, Ok(context)) => {
                // Assembly had to leave something out or cut it.
                prop_assert!(
                    context.report.current_left_out > 0 || !context.report.cut.is_empty(),
                    "{:?}", context.report
                );
            }
            (None, Err(_)) => {}
            (Some(report), Err(error)) => {
                prop_assert!(false, "the shortcut took a turn assembly refused: {report:?}, {error}");
            }
        }
    }
}
