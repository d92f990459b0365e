//! The bytes a long session stores: a chat of N turns (a person's message answered at a
//! `human` node, then the model's reply, both appended to the state's transcript), run on a
//! fresh SQLite database with the default snapshot interval. The session stays open,
//! waiting for its next message, as a live chat does; its database's growth is compared
//! with the raw transcript (the messages' bytes).

use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use weft::runtime::{CancellationToken, Models, Runtime};
use weft::store::SqliteStore;
use weft::workflow::Loader;

const SESSION: &str = r#"
name: session
state:
  transcript: { type: array, reducer: append }
entry: listen
nodes:
  listen:
    kind: human
    ask: "You:"
    writes: { transcript: "user: {{ input }}" }
    next: answer
  answer:
    kind: llm
    prompt: "{{ state.transcript | last }}"
    writes: { transcript: "assistant: {{ reply }}" }
    next: listen
"#;

/// Words to build messages from: a vocabulary large enough that text from it compresses
/// about as well as English does.
fn vocabulary() -> Vec<String> {
    let syllables = [
        "ka", "lo", "mi", "ter", "van", "dus", "pre", "sol", "ni", "gra", "bel", "tor", "quin",
        "ra", "vis", "mon", "e", "al", "ost", "un", "ce", "pho", "dri", "lux",
    ];
    let mut words = Vec::new();
    for first in syllables {
        for second in syllables {
            words.push(format!("{first}{second}"));
            if words.len() % 3 == 0 {
                words.push(format!("{first}{second}s"));
            }
        }
    }
    words
}

/// `count` words chosen by a seeded xorshift, with some punctuation.
fn text(words: &[String], seed: &mut u64, count: usize) -> String {
    let mut out = String::new();
    for index in 0..count {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let word = &words[(*seed % words.len() as u64) as usize];
        if index > 0 {
            if seed.is_multiple_of(11) {
                out.push(',');
            }
            out.push(' ');
        }
        out.push_str(word);
        if index % 14 == 13 {
            out.push('.');
        }
    }
    out
}

/// What a session of `turns` turns stored.
pub struct SessionBytes {
    pub turns: usize,
    /// The messages' bytes: what a transcript holds.
    pub transcript: u64,
    /// How much the database file grew.
    pub stored: u64,
    /// Of which the event log's bytes.
    pub log: u64,
    /// And the latest snapshot's.
    pub snapshot: u64,
}

/// The file's size, and the bytes of its event batches and snapshots.
async fn file_bytes(path: &Path) -> (u64, u64, u64) {
    // Fold the write-ahead log into the file first, so its size is the data's.
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("the database opens");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .expect("checkpoint");
    let (log, snapshots): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COALESCE(SUM(length(events)), 0) FROM event_batches),
                (SELECT COALESCE(SUM(length(data)), 0) FROM snapshots)",
    )
    .fetch_one(&pool)
    .await
    .expect("sizes");
    pool.close().await;
    let file = std::fs::metadata(path).expect("the database exists").len();
    (file, log.unsigned_abs(), snapshots.unsigned_abs())
}

/// Runs a session of `turns` turns (user messages of ~40 words, replies of ~160) on a fresh
/// database and measures it.
pub async fn measure(turns: usize) -> SessionBytes {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("session.db");
    let store = SqliteStore::open(&path).await.expect("store opens");
    let (empty, _, _) = file_bytes(&path).await;

    let words = vocabulary();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let messages: Vec<String> = (0..turns).map(|_| text(&words, &mut seed, 40)).collect();
    let replies: Vec<String> = (0..turns).map(|_| text(&words, &mut seed, 160)).collect();
    let transcript: usize = messages.iter().chain(&replies).map(String::len).sum();
    let script = serde_json::to_string(&json!({
        "replies": replies.iter().map(|reply| json!({"text": reply})).collect::<Vec<Value>>()
    }))
    .expect("script");
    let model = weft::llm::ScriptedModel::from_yaml(Path::new("replies.yaml"), &script)
        .expect("valid script");
    let runtime = Runtime::builder()
        .store(Arc::new(store))
        .models(Arc::new(Models::new().with_default(Arc::new(model))))
        .build();
    let workflow = Loader::new()
        .load_source(Path::new("session.yaml"), SESSION)
        .expect("valid workflow");
    let cancel = CancellationToken::new();
    let mut run = runtime
        .start(workflow, json!({}), &cancel)
        .await
        .expect("the session starts");
    for message in &messages {
        runtime
            .resume(&mut run, Value::String(message.clone()), &cancel)
            .await
            .expect("the session goes on");
    }
    assert_eq!(run.status(), weft::RunStatus::Interrupted);
    assert_eq!(
        run.state()["transcript"].as_array().map(Vec::len),
        Some(2 * turns)
    );
    drop(runtime);
    let (file, log, snapshot) = file_bytes(&path).await;
    SessionBytes {
        turns,
        transcript: transcript as u64,
        stored: file.saturating_sub(empty),
        log,
        snapshot,
    }
}
