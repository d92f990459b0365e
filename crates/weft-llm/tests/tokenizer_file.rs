//! Counting with a `tokenizer.json`: the fixtures' byte-level tokenizer (one token a byte,
//! the Llama-3.1 special tokens after them), so every count can be checked by hand.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use weft_core::{Accuracy, Message, TokenCounter};
use weft_fixtures::languages::SENTENCES;
use weft_llm::llama3::{RenderOptions, render};
use weft_llm::tokens::HuggingFaceTokenizer;

#[test]
fn a_tokenizer_file_counts_exactly_and_names_its_content() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("tokenizer.json");
    let json = weft_fixtures::tokenizer::tokenizer_json(512, 300);
    std::fs::write(&path, json.to_string()).unwrap();
    let counter = HuggingFaceTokenizer::open(&path).unwrap();
    assert!(
        counter.key().starts_with("tokenizer.json:"),
        "{}",
        counter.key()
    );
    assert_eq!(counter.accuracy(), Accuracy::Exact);
    assert_eq!(counter.text("Hello"), 5, "one token a byte");
    // <|start_header_id|> u s e r <|end_header_id|> \n \n H i <|eot_id|>
    assert_eq!(counter.message(&Message::user("Hi")), 11);
    // The whole prompt, encoded by the tokenizers crate itself, is the sum of the parts.
    let tokenizer = tokenizers::Tokenizer::from_file(&path).unwrap();
    for (language, text) in SENTENCES {
        let messages = vec![Message::system("Be brief."), Message::user(text)];
        let prompt = render(&messages, &[], &RenderOptions::default());
        let whole = tokenizer.encode_fast(prompt, false).unwrap().len() as u32;
        let parts = counter.frame(&[]) + messages.iter().map(|m| counter.message(m)).sum::<u32>();
        assert_eq!(parts, whole, "{language}");
    }
    // Another file is another key: counts made with one are never read for the other.
    std::fs::write(
        &path,
        weft_fixtures::tokenizer::tokenizer_json(600, 300).to_string(),
    )
    .unwrap();
    let other = HuggingFaceTokenizer::open(&path).unwrap();
    assert_ne!(other.key(), counter.key());
    let error = HuggingFaceTokenizer::open(&folder.path().join("missing.json"))
        .err()
        .expect("a missing file is an error");
    assert!(error.to_string().contains("missing.json"), "{error}");
}
