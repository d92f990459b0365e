//! Integration tests of the guards: Llama Guard's prompts against the model card, its
//! replies read whatever they say, its verdicts through a scripted model and a real HTTP
//! server, and the scripted guard.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod llama_guard;
mod llama_guard_server;
mod prompt_guard_http;
mod prompt_guard_local;
mod scripted;
