//! `session_append`: what appending one turn to a session costs in SQLite, and that it does
//! not grow with the session. A turn is one step's batch: `step_started`, a `remembered` of
//! a user message and the assistant's reply (about 100 tokens each), `step_finished`. Its
//! append also numbers the messages after the session's last, raises the session's count
//! and archives both texts for search (FTS5 trigrams), in the batch's transaction.
//!
//! - `without_session`: the same step without the `remembered`, in a run without a
//!   session: what the session's share adds;
//! - `small`: a session of 1,000 messages, in a database of its own;
//! - `large`: a session of 100,000 messages of about 100 tokens each (about 10 million
//!   tokens), in a database of its own, filled once through the store's own appends
//!   (1,000 messages per append);
//! - `small_beside_large`: a session of 1,000 messages in the large session's database:
//!   against `large`, the session's length alone; against `small`, the database's size;
//! - `view_small`, `view_large`, `view_small_beside_large`: what context assembly reads of
//!   those sessions (the newest messages within 100,000 tokens, their counts kept from the
//!   first read, and five snippets found for a two-word query).
//!
//! The sessions grow by one turn per iteration; their sizes are printed before and after.
//! Once filled, a database's archive index is merged (FTS5 `optimize`) and its write-ahead
//! log checkpointed: otherwise the appends measured first pay for merging the segments the
//! bulk fill left (about 1.8 ms a turn instead of 1.0 ms, whichever session comes first),
//! which turns of ordinary size never leave.
//!
//! Run: `cargo bench -p weft-store --bench session_append`.

// A benchmark is test code: a broken setup should stop it loudly.
#![allow(clippy::expect_used, clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::cell::Cell;
use std::time::Instant;
use tokio::runtime::Runtime;
use weft_core::{
    Accuracy, DEFAULT_TENANT, Event, EventRecord, EventSink, Message, NodeKind, RunId, SessionInfo,
    SessionRef, SessionSpec, SessionStore, TokenCounter, ToolSpec, ViewRequest,
};
use weft_store::SqliteStore;

/// The benchmark group.
type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Words of a message: about 100 tokens with a Llama-3 tokenizer.
const WORDS_PER_MESSAGE: usize = 75;
/// Messages per append while a session is filled.
const FILL_BATCH: u64 = 1_000;

/// English-like text from a fixed vocabulary, different for each `seed`.
fn text(seed: u64, words: usize) -> String {
    const VOCABULARY: [&str; 32] = [
        "order",
        "shipment",
        "customer",
        "invoice",
        "delivery",
        "account",
        "refund",
        "payment",
        "the",
        "a",
        "was",
        "is",
        "will",
        "be",
        "on",
        "for",
        "with",
        "and",
        "to",
        "of",
        "tomorrow",
        "yesterday",
        "warehouse",
        "Lisbon",
        "Berlin",
        "parcel",
        "address",
        "update",
        "confirmed",
        "delayed",
        "tracking",
        "number",
    ];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut text = String::new();
    for index in 0..words {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if index > 0 {
            text.push(' ');
        }
        text.push_str(VOCABULARY[(state % 32) as usize]);
    }
    text.push_str(&format!(" #{seed}"));
    text
}

/// Counts a message as its words plus 4: a stand-in for a tokenizer.
struct Words;

impl TokenCounter for Words {
    fn key(&self) -> &str {
        "words"
    }
    fn accuracy(&self) -> Accuracy {
        Accuracy::Estimate
    }
    fn text(&self, text: &str) -> u32 {
        text.split_whitespace().count() as u32
    }
    fn message(&self, message: &Message) -> u32 {
        self.text(&message.content) + 4
    }
    fn frame(&self, _: &[ToolSpec]) -> u32 {
        0
    }
}

fn record(sequence: u64, event: Event) -> EventRecord {
    EventRecord {
        sequence,
        at_millis: 1_700_000_000_000 + sequence,
        event,
    }
}

fn started(session: Option<&SessionInfo>) -> Event {
    Event::RunStarted {
        workflow: "chat".into(),
        source: "chat.yaml".into(),
        input: json!({}),
        parent: None,
        forked_from: None,
        setup: None,
        session: session.map(|session| {
            Box::new(SessionRef {
                id: session.id,
                name: session.name.clone(),
            })
        }),
    }
}

/// A database file.
struct Database {
    folder: tempfile::TempDir,
    store: SqliteStore,
}

/// A run writing its session (`None`: a run without one), and where its log ends.
struct Writer {
    session: Option<SessionInfo>,
    run: RunId,
    next_sequence: Cell<u64>,
}

async fn database() -> Database {
    let folder = tempfile::tempdir().expect("temporary folder");
    let store = SqliteStore::open(&folder.path().join("bench.db"))
        .await
        .expect("store opens");
    Database { folder, store }
}

/// A run in a new session `name` of `messages` messages, or in none.
async fn writer(store: &SqliteStore, name: Option<&str>, messages: u64) -> Writer {
    let session = match name {
        Some(name) => {
            let spec = SessionSpec {
                tenant: DEFAULT_TENANT.into(),
                name: name.into(),
                workflow: "chat".into(),
                source: "chat.yaml".into(),
            };
            Some(store.open_session(&spec).await.expect("session opens"))
        }
        None => None,
    };
    let run = RunId::new();
    store
        .append(run, &[record(1, started(session.as_ref()))])
        .await
        .expect("run starts");
    let mut sequence = 2;
    let mut written = 0;
    while written < messages {
        let count = FILL_BATCH.min(messages - written);
        let batch: Vec<Message> = (written..written + count)
            .map(|index| Message::user(text(index, WORDS_PER_MESSAGE)))
            .collect();
        let event = Event::Remembered {
            step: sequence,
            branch: None,
            messages: batch,
            counts: None,
        };
        store
            .append(run, &[record(sequence, event)])
            .await
            .expect("messages are remembered");
        sequence += 1;
        written += count;
    }
    Writer {
        session,
        run,
        next_sequence: Cell::new(sequence),
    }
}

/// One step's batch from `sequence`, as a turn of conversation records it.
fn turn(sequence: u64, with_session: bool) -> Vec<EventRecord> {
    let step = sequence;
    let mut events = vec![Event::StepStarted {
        step,
        node: "chat".into(),
        kind: NodeKind::Agent,
        within: None,
    }];
    if with_session {
        events.push(Event::Remembered {
            step,
            branch: None,
            messages: vec![
                Message::user(text(sequence, WORDS_PER_MESSAGE)),
                Message::assistant(text(sequence + 1, WORDS_PER_MESSAGE), Vec::new()),
            ],
            counts: None,
        });
    }
    events.push(Event::StepFinished {
        step,
        node: "chat".into(),
        next: Some("chat".into()),
    });
    events
        .into_iter()
        .enumerate()
        .map(|(offset, event)| record(sequence + offset as u64, event))
        .collect()
}

/// Merges the archive's index and checkpoints the log, as time would (see the top).
async fn settle(database: &Database) {
    use sqlx::Connection;
    let options =
        sqlx::sqlite::SqliteConnectOptions::new().filename(database.folder.path().join("bench.db"));
    let mut connection = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("a second connection");
    sqlx::query("INSERT INTO session_archive (session_archive) VALUES ('optimize')")
        .execute(&mut connection)
        .await
        .expect("the archive's index merges");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut connection)
        .await
        .expect("the log is checkpointed");
    connection.close().await.expect("the connection closes");
}

/// Prints the session's size and its database's, with `when` they were measured.
fn describe(name: &str, database: &Database, writer: &Writer, executor: &Runtime, when: &str) {
    let messages = writer.session.as_ref().map_or(0, |session| {
        executor
            .block_on(database.store.find_session(DEFAULT_TENANT, &session.name))
            .expect("session reads")
            .map_or(0, |info| info.messages)
    });
    let bytes: u64 = std::fs::read_dir(database.folder.path())
        .expect("database folder")
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .map(|metadata| metadata.len())
        .sum();
    let words = messages * WORDS_PER_MESSAGE as u64;
    println!(
        "session_append/{name}: a session of {messages} messages (about {words} words, {} tokens at ~1.33 per word), its database with its log {:.1} MiB, {when}",
        words * 4 / 3,
        bytes as f64 / (1024.0 * 1024.0),
    );
}

/// Appends one turn per iteration.
fn bench_append(
    group: &mut Group<'_>,
    name: &str,
    database: &Database,
    writer: &Writer,
    executor: &Runtime,
) {
    describe(name, database, writer, executor, "before");
    let with_session = writer.session.is_some();
    group.bench_function(name, |bencher| {
        bencher.to_async(executor).iter(|| {
            let sequence = writer.next_sequence.get();
            let records = turn(sequence, with_session);
            writer.next_sequence.set(sequence + records.len() as u64);
            let (store, run) = (&database.store, writer.run);
            async move {
                store.append(run, &records).await.expect("turn appended");
            }
        });
    });
    describe(name, database, writer, executor, "after");
}

/// Reads the session's view as context assembly would, once before measuring (which counts
/// the messages read and keeps their counts).
fn bench_view(
    group: &mut Group<'_>,
    name: &str,
    database: &Database,
    writer: &Writer,
    executor: &Runtime,
) {
    let session = writer.session.as_ref().expect("a session").id;
    let request = ViewRequest {
        session,
        counter: &Words,
        max_tokens: 100_000,
        query: Some("warehouse tracking"),
        snippets: 5,
    };
    let view = executor
        .block_on(database.store.view(request))
        .expect("view reads");
    println!(
        "session_append/view_{name}: {} messages read, {} left out, {} snippets",
        view.messages.len(),
        view.omitted,
        view.snippets.len()
    );
    group.bench_function(format!("view_{name}"), |bencher| {
        bencher.to_async(executor).iter(|| async {
            database.store.view(request).await.expect("view reads");
        });
    });
}

fn bench(criterion: &mut Criterion) {
    let executor = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = criterion.benchmark_group("session_append");

    let plain = executor.block_on(database());
    let without = executor.block_on(writer(&plain.store, None, 0));
    bench_append(&mut group, "without_session", &plain, &without, &executor);

    let own = executor.block_on(database());
    let small = executor.block_on(writer(&own.store, Some("small"), 1_000));
    executor.block_on(settle(&own));
    bench_append(&mut group, "small", &own, &small, &executor);

    let shared = executor.block_on(database());
    let began = Instant::now();
    let large = executor.block_on(writer(&shared.store, Some("large"), 100_000));
    println!(
        "session_append/large: filled in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let beside = executor.block_on(writer(&shared.store, Some("small_beside_large"), 1_000));
    executor.block_on(settle(&shared));
    println!(
        "session_append/large: filled and settled in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    bench_append(&mut group, "large", &shared, &large, &executor);
    bench_append(
        &mut group,
        "small_beside_large",
        &shared,
        &beside,
        &executor,
    );

    bench_view(&mut group, "small", &own, &small, &executor);
    bench_view(&mut group, "large", &shared, &large, &executor);
    bench_view(
        &mut group,
        "small_beside_large",
        &shared,
        &beside,
        &executor,
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
