//! Compaction plans, summarizer prompts and the extractive fallback.

use crate::context::llama3;
use weft_core::{Message, Pin, SessionMessage, Summary, TokenCounter, ToolCall};
use weft_fixtures::languages::SENTENCES;
use weft_memory::compaction::{self, MAX_LIVE_SUMMARIES, Span};

fn stored(messages: Vec<Message>, counter: &dyn TokenCounter) -> Vec<SessionMessage> {
    messages
        .into_iter()
        .enumerate()
        .map(|(index, message)| SessionMessage {
            sequence: index as u64 + 1,
            tokens: Some(counter.message(&message)),
            message,
        })
        .collect()
}

#[test]
fn the_span_is_the_oldest_whole_units_until_enough_is_left() {
    let counter = llama3();
    let mut messages = vec![
        Message::user("one two three"),
        Message::assistant("", vec![ToolCall::new("c", "f", serde_json::json!({}))]),
    ];
    messages.push(Message::tool_result("c", "result ".repeat(20)));
    for turn in 0..10 {
        messages.push(Message::user(format!("question {turn}")));
    }
    let messages = stored(messages, counter.as_ref());
    let total: u32 = messages.iter().map(|m| m.tokens.unwrap_or(0)).sum();
    // Keep less than the last ten: the span must take the call with its result.
    let keep = total - messages[0].tokens.unwrap_or(0) - 2;
    let span = compaction::span(&messages, total, keep, u32::MAX).expect("a span");
    assert_eq!(
        span,
        Span { first: 1, last: 3 },
        "the call and its result go together"
    );
    assert_eq!(compaction::span(&messages, total, total, u32::MAX), None);
    // The summarizer's window limits the span, but it always takes one unit.
    let span = compaction::span(&messages, total, 0, 1).expect("one unit");
    assert_eq!(span, Span { first: 1, last: 1 });
}

#[test]
fn summaries_are_merged_when_they_pile_up() {
    let summary = |id: u64| Summary {
        id,
        level: 0,
        first: id * 10,
        last: id * 10 + 9,
        text: "s".into(),
        tokens: Some(10),
    };
    let few: Vec<Summary> = (1..=MAX_LIVE_SUMMARIES as u64).map(summary).collect();
    assert_eq!(compaction::merge(&few, 1000), None);
    let many: Vec<Summary> = (1..=MAX_LIVE_SUMMARIES as u64 + 1).map(summary).collect();
    assert_eq!(
        compaction::merge(&many, 1000),
        Some((1..=MAX_LIVE_SUMMARIES as u64).collect())
    );
    // Or when they pass their share of the budget.
    assert_eq!(compaction::merge(&few[..2], 15), Some(vec![1]));
}

#[test]
fn the_summarizer_is_told_to_keep_the_language() {
    let prompt = compaction::summarizer_prompt(&[Message::user(SENTENCES[7].1)], 120);
    assert!(prompt[0].content.contains("language"));
    assert!(prompt[1].content.contains("at most 120 words"));
    assert!(prompt[1].content.contains(SENTENCES[7].1));
}

#[test]
fn the_extractive_summary_keeps_first_and_last_lines_and_pins_in_every_language() {
    let counter = llama3();
    let pins = vec![Pin {
        id: 1,
        text: "Account 8812".into(),
    }];
    for (language, sentence) in SENTENCES {
        let messages = vec![
            Message::user(format!("{sentence}\nmiddle line\nlast line {language}")),
            Message::assistant(sentence, Vec::new()),
        ];
        let text = compaction::extractive(&messages, &pins, 400, counter.as_ref());
        assert!(text.contains("Pinned: Account 8812"), "{language}: {text}");
        assert!(text.contains(sentence), "{language}: {text}");
        assert!(
            text.contains(&format!("last line {language}")),
            "{language}"
        );
        assert!(!text.contains("middle line"), "{language}");
    }
}

#[test]
fn the_extractive_summary_fits_its_target() {
    let counter = llama3();
    let messages: Vec<Message> = (0..300)
        .map(|turn| Message::user(format!("{turn} {}", SENTENCES[turn % 8].1)))
        .collect();
    for target in [40, 200, 1000] {
        let text = compaction::extractive(&messages, &[], target, counter.as_ref());
        assert!(
            counter.text(&text) <= target,
            "{target}: {}",
            counter.text(&text)
        );
        assert!(!text.is_empty());
    }
    // The newest lines are the ones kept when not all fit.
    let text = compaction::extractive(&messages, &[], 40, counter.as_ref());
    assert!(text.contains("299 "), "{text}");
    assert!(!text.contains("\n0 "), "{text}");
}

#[test]
fn a_written_summary_is_held_to_its_target_in_every_language() {
    let counter = llama3();
    for (language, sentence) in SENTENCES {
        let long = [sentence; 40].join(" ");
        let held = compaction::held_to(long.clone(), 50, counter.as_ref());
        assert!(counter.text(&held) <= 50, "{language}");
        assert!(long.starts_with(&held) && !held.is_empty(), "{language}");
        let short = compaction::held_to(sentence.to_owned(), 50, counter.as_ref());
        assert_eq!(short, sentence, "{language}");
    }
}
