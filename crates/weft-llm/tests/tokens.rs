//! Counting: the embedded Llama-3 vocabulary gives Meta's token ids, and a prompt's count
//! is the sum of its parts' counts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use weft_core::{Accuracy, Message, TokenCounter, ToolCall, ToolSpec};
use weft_fixtures::languages::SENTENCES;
use weft_llm::llama3::{RenderOptions, render};
use weft_llm::tokens::LLAMA3_KEY;
use weft_memory::Estimate;

fn llama3() -> std::sync::Arc<dyn TokenCounter> {
    weft_llm::tokens::llama3().expect("the embedded vocabulary loads")
}

#[test]
fn the_vocabulary_is_meta_llama3() {
    let vocabulary = tiktoken::get_encoding("llama3").expect("llama3");
    // Token ids of Meta's Llama-3 tokenizer for this text, as its model card's examples give.
    assert_eq!(vocabulary.encode("Hello, world!"), vec![9906, 11, 1917, 0]);
    assert_eq!(
        vocabulary.encode_with_special_tokens(
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>"
        ),
        vec![128000, 128006, 882, 128007]
    );
    assert_eq!(
        vocabulary.encode_with_special_tokens("<|eot_id|>"),
        vec![128009]
    );
}

#[test]
fn the_counter_is_exact_and_keyed() {
    let counter = llama3();
    assert_eq!(counter.key(), LLAMA3_KEY);
    assert_eq!(counter.accuracy(), Accuracy::Exact);
    assert_eq!(counter.text("Hello, world!"), 4);
    // <|start_header_id|> user <|end_header_id|> \n\n Hello , world ! <|eot_id|>
    assert_eq!(counter.message(&Message::user("Hello, world!")), 9);
}

fn tools() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "lookup_order".into(),
        description: "Finds an order by its number.".into(),
        parameters: serde_json::json!({
            "type": "object",
            "properties": {"order": {"type": "integer"}},
            "required": ["order"]
        }),
    }]
}

fn conversation(text: &str) -> Vec<Message> {
    vec![
        Message::system(format!("You answer customers. {text}")),
        Message::user(text),
        Message::assistant(
            "",
            vec![ToolCall::new(
                "c1",
                "lookup_order",
                serde_json::json!({"order": 4471}),
            )],
        ),
        Message::tool_result("c1", format!("{{\"status\": \"{text}\"}}")),
        Message::assistant(format!("{text}\n\n{text}"), Vec::new()),
        Message::user(format!("  {text}  \n")),
    ]
}

fn parts_sum(counter: &dyn TokenCounter, messages: &[Message], tools: &[ToolSpec]) -> u32 {
    let empty_system = match messages.first() {
        Some(first) if first.role == weft_core::Role::System => 0,
        _ => counter.message(&Message::system("")),
    };
    counter.frame(tools)
        + empty_system
        + messages
            .iter()
            .map(|message| counter.message(message))
            .sum::<u32>()
}

#[test]
fn a_prompt_counts_as_the_sum_of_its_parts_in_every_language() {
    let counter = llama3();
    let vocabulary = tiktoken::get_encoding("llama3").expect("llama3");
    for (language, text) in SENTENCES {
        for tools in [Vec::new(), tools()] {
            let mut messages = conversation(text);
            for start in [0, 1] {
                messages = messages.split_off(start);
                let prompt = render(&messages, &tools, &RenderOptions::default());
                let whole = vocabulary.count_with_special_tokens(&prompt) as u32;
                assert_eq!(
                    parts_sum(counter.as_ref(), &messages, &tools),
                    whole,
                    "{language}, {} tools, system message: {}",
                    tools.len(),
                    start == 0
                );
            }
        }
    }
}

#[test]
fn an_estimate_is_labelled_and_counts_more_than_the_tokens() {
    let exact = llama3();
    let estimate = Estimate;
    assert_eq!(estimate.accuracy(), Accuracy::Estimate);
    for (language, text) in SENTENCES {
        let message = Message::user(text);
        assert!(
            estimate.message(&message) >= exact.message(&message),
            "{language}: estimate {} < exact {}",
            estimate.message(&message),
            exact.message(&message)
        );
        assert!(
            estimate.frame(&tools()) >= exact.frame(&tools()),
            "{language}"
        );
    }
}

#[test]
fn llama3_names_are_recognized() {
    for name in [
        "meta-llama/Llama-3.1-8B-Instruct",
        "meta-llama/Meta-Llama-3-70B-Instruct",
        "llama3.1:8b",
        "Llama-3.2-1B",
        "llama-3.3-70b-versatile",
        "meta-llama/Llama-Guard-3-8B",
        "/models/llama3",
    ] {
        assert!(weft_llm::tokens::is_llama3_name(name), "{name}");
    }
    for name in [
        "gpt-4o",
        "llama-30b",
        "Llama-2-7b-chat",
        "mistral-7b",
        "qwen2.5",
    ] {
        assert!(!weft_llm::tokens::is_llama3_name(name), "{name}");
    }
}
