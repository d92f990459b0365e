//! The SQLite store on real files: appends, sequence checks, status derivation, the tool-call
//! journal, refusing foreign or newer files without touching them, corrupt events, and a
//! run resumed from its log by a fresh runtime.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use weft_core::{
    ErrorKind, Event, EventRecord, RunFilter, RunId, RunStatus, RunStore, ToolCall, ToolOutcome,
};
#[cfg(feature = "sqlite")]
use {
    std::path::Path,
    std::sync::Arc,
    weft_core::EventSink,
    weft_runtime::{CancellationToken, Runtime},
    weft_store::{OpenError, SqliteStore},
};

/// A record at `sequence`.
pub fn record(sequence: u64, event: Event) -> EventRecord {
    EventRecord {
        sequence,
        at_millis: 1_000 + sequence,
        event,
    }
}

/// A run's first event.
pub fn started() -> Event {
    Event::RunStarted {
        workflow: "w".into(),
        source: "w.yaml".into(),
        input: json!({}),
        parent: None,
        forked_from: None,
        setup: None,
        session: None,
    }
}

/// An SQLite database made by the first of this weft's migrations only (`files`, of
/// `migrations/sqlite`), as an older weft left it: its path and a pool on it.
#[cfg(feature = "sqlite")]
pub async fn older_sqlite(folder: &Path, files: &[&str]) -> (std::path::PathBuf, sqlx::SqlitePool) {
    let migrations = folder.join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    for file in files {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../migrations/sqlite")
                .join(file),
            migrations.join(file),
        )
        .unwrap();
    }
    let path = folder.join("old.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate::Migrator::new(migrations.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    (path, pool)
}

#[cfg(feature = "sqlite")]
mod attention;
#[cfg(feature = "sqlite")]
mod checkpoints;
#[cfg(feature = "sqlite")]
mod full;
#[cfg(feature = "sqlite")]
mod group_commit;
pub mod keys;
#[cfg(feature = "sqlite")]
mod listing;
mod open;
mod postgres;
#[cfg(feature = "sqlite")]
pub mod queue;
mod session_starts;
mod sessions;
mod sessions_postgres;
#[cfg(feature = "sqlite")]
mod sessions_sqlite;
mod sessions_view;
pub mod snapshots;
pub mod texts;

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_appends_are_read_back_and_derive_the_run_row() {
    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&folder.path().join("weft.db"))
        .await
        .unwrap();
    appends_are_read_back_and_derive_the_run_row(&store).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_appends_at_the_wrong_sequence_conflict() {
    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&folder.path().join("weft.db"))
        .await
        .unwrap();
    an_append_at_the_wrong_sequence_is_a_conflict_and_writes_nothing(&store).await;
}

/// The same facts from every backend.
pub async fn appends_are_read_back_and_derive_the_run_row(store: &dyn RunStore) {
    let run = RunId::new();
    let call = ToolCall::new("c", "add", json!({"a": 1, "b": 2}));
    store
        .append(
            run,
            &[
                record(1, started()),
                record(
                    2,
                    Event::StepStarted {
                        step: 1,
                        node: "a".into(),
                        kind: weft_core::NodeKind::Tool,
                        within: None,
                    },
                ),
                record(
                    3,
                    Event::ToolCallStarted {
                        step: 1,
                        branch: None,
                        turn: 0,
                        index: 0,
                        call,
                    },
                ),
            ],
        )
        .await
        .unwrap();
    let summary = store.run(run).await.unwrap();
    assert_eq!(
        (summary.status, summary.events, summary.workflow.as_str()),
        (RunStatus::Running, 3, "w")
    );
    store
        .append(
            run,
            &[
                record(
                    4,
                    Event::ToolCallFinished {
                        step: 1,
                        branch: None,
                        turn: 0,
                        index: 0,
                        outcome: ToolOutcome::Ok { output: json!(3) },
                    },
                ),
                record(
                    5,
                    Event::Interrupted {
                        step: 1,
                        node: "a".into(),
                        question: "ok?".into(),
                        input_schema: None,
                        id: None,
                    },
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(store.run(run).await.unwrap().status, RunStatus::Interrupted);
    let events = store.events(run, 0).await.unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[3].event.name(), "tool_call_finished");
    assert_eq!(
        store.events(run, 3).await.unwrap().len(),
        2,
        "reads after a sequence number"
    );
    let listed = store
        .runs(RunFilter {
            status: Some(RunStatus::Interrupted),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|summary| summary.id).collect::<Vec<_>>(),
        [run]
    );
    assert!(
        store
            .runs(RunFilter {
                status: Some(RunStatus::Finished),
                ..RunFilter::default()
            })
            .await
            .unwrap()
            .is_empty()
    );
}

/// Appends are checked against the end of the log, on every backend.
pub async fn an_append_at_the_wrong_sequence_is_a_conflict_and_writes_nothing(
    store: &dyn RunStore,
) {
    let run = RunId::new();
    store.append(run, &[record(1, started())]).await.unwrap();
    let error = store
        .append(
            run,
            &[record(3, Event::RunCancelled { reason: "x".into() })],
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(
        error.message.contains("its log ends at 1"),
        "{}",
        error.message
    );
    assert_eq!(store.events(run, 0).await.unwrap().len(), 1);
    let error = store
        .append(
            RunId::new(),
            &[record(1, Event::RunCancelled { reason: "x".into() })],
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn foreign_and_newer_files_are_refused_untouched() {
    let folder = tempfile::tempdir().unwrap();
    let text = folder.path().join("notes.txt");
    std::fs::write(&text, "this is not a database at all, just some text").unwrap();
    let before = std::fs::read(&text).unwrap();
    assert!(matches!(
        SqliteStore::open(&text).await,
        Err(OpenError::NotSqlite { .. })
    ));
    assert_eq!(std::fs::read(&text).unwrap(), before);

    let other = folder.path().join("other.db");
    let newer = folder.path().join("newer.db");
    {
        let store = SqliteStore::open(&newer).await.unwrap();
        drop(store);
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&other)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::query("CREATE TABLE invoices (id INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let pool = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new().filename(&newer),
        )
        .await
        .unwrap();
        sqlx::query("UPDATE weft_meta SET value = '99' WHERE key = 'schema_version'")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let other_before = std::fs::read(&other).unwrap();
    let error = SqliteStore::open(&other).await.unwrap_err();
    assert!(matches!(error, OpenError::NotWeft { .. }), "{error}");
    assert!(error.to_string().contains("not a weft one"), "{error}");
    assert_eq!(std::fs::read(&other).unwrap(), other_before);
    let newer_before = std::fs::read(&newer).unwrap();
    let error = SqliteStore::open(&newer).await.unwrap_err();
    assert!(
        error.to_string().contains(&format!(
            "schema version 99, newer than the {}",
            weft_store::SCHEMA_VERSION
        )),
        "{error}"
    );
    assert_eq!(std::fs::read(&newer).unwrap(), newer_before);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_corrupt_event_names_its_sequence_and_leaves_other_runs_readable() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("weft.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let (broken, mangled, damaged, healthy) =
        (RunId::new(), RunId::new(), RunId::new(), RunId::new());
    for run in [broken, mangled, damaged, healthy] {
        store.append(run, &[record(1, started())]).await.unwrap();
        let long = "a reason long enough that the batch is compressed. ".repeat(20);
        store
            .append(
                run,
                &[
                    record(
                        2,
                        Event::RunCancelled {
                            reason: long.clone(),
                        },
                    ),
                    record(3, Event::RunCancelled { reason: long }),
                ],
            )
            .await
            .unwrap();
    }
    let pool =
        sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
            .await
            .unwrap();
    let compressed: i64 = sqlx::query_scalar(
        "SELECT encoding FROM event_batches WHERE run_id = ? AND first_sequence = 2",
    )
    .bind(healthy.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(compressed, 1, "a long batch is stored compressed");
    // Not JSON at all; JSON whose second event is no event; zstd bytes that are damaged.
    for (run, encoding, bytes) in [
        (broken, 0, b"{not json".to_vec()),
        (
            mangled,
            0,
            br#"[{"type": "run_cancelled", "reason": "x"}, {"type": "no_such_event"}]"#.to_vec(),
        ),
        (damaged, 1, b"\x28\xb5\x2f\xfd garbage".to_vec()),
    ] {
        sqlx::query("UPDATE event_batches SET encoding = ?, events = ? WHERE run_id = ? AND first_sequence = 2")
            .bind(encoding)
            .bind(bytes)
            .bind(run.to_string())
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    for (run, sequence) in [(broken, 2), (mangled, 3), (damaged, 2)] {
        let error = store.events(run, 0).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Corrupt);
        assert!(
            error
                .message
                .contains(&format!("run {run}: event {sequence} is corrupt")),
            "{}",
            error.message
        );
        store.mark_failed(run, &error.message).await.unwrap();
        assert_eq!(store.run(run).await.unwrap().status, RunStatus::Failed);
    }
    assert_eq!(store.events(healthy, 0).await.unwrap().len(), 3);
    assert_eq!(store.events(healthy, 2).await.unwrap().len(), 1);
}

/// A workflow that calls a tool, then waits for a person.
pub const APPROVAL: &str = "
name: approval
state:
  ok: { type: boolean }
  count: { type: integer, reducer: add }
entry: count
nodes:
  count: { kind: tool, tool: add, arguments: { a: 20, b: 22 }, writes: { count: '{{ output }}' }, next: ask }
  ask:
    kind: human
    ask: Ship it?
    input_schema: { type: object, properties: { ok: { type: boolean } }, required: [ok] }
    writes: { ok: '{{ input.ok }}' }
    next: end
";

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn an_interrupted_run_is_resumed_from_its_log_by_a_new_runtime() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("weft.db");
    let workflow_path = folder.path().join("approval.yaml");
    std::fs::write(&workflow_path, APPROVAL).unwrap();
    let cancel = CancellationToken::new();
    let run_id = {
        let store = Arc::new(SqliteStore::open(&path).await.unwrap());
        let runtime = Runtime::builder()
            .store(store)
            .tools(Arc::new(weft_tools::builtin::registry(
                &weft_tools::builtin::Workspace::new(std::path::Path::new(".")).unwrap(),
            )))
            .build();
        let workflow = weft_workflow::Loader::new().load(&workflow_path).unwrap();
        let run = runtime.start(workflow, json!({}), &cancel).await.unwrap();
        assert_eq!(run.status(), RunStatus::Interrupted);
        run.id()
    };
    // A new process: a new store handle and runtime, the workflow read again.
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let summary = store.run(run_id).await.unwrap();
    assert_eq!(summary.status, RunStatus::Interrupted);
    assert_eq!(Path::new(&summary.source), workflow_path);
    let runtime = Runtime::builder()
        .store(store.clone())
        .tools(Arc::new(weft_tools::builtin::registry(
            &weft_tools::builtin::Workspace::new(std::path::Path::new(".")).unwrap(),
        )))
        .build();
    let workflow = weft_workflow::Loader::new()
        .load(Path::new(&summary.source))
        .unwrap();
    let mut run = runtime.load(workflow, run_id).await.unwrap();
    assert_eq!(
        run.state()["count"],
        json!(42),
        "the finished tool call is replayed, not re-run"
    );
    runtime
        .resume(&mut run, json!({"ok": true}), &cancel)
        .await
        .unwrap();
    assert_eq!(run.status(), RunStatus::Finished);
    let summary = store.run(run_id).await.unwrap();
    assert_eq!(summary.status, RunStatus::Finished);
    let events = store.events(run_id, 0).await.unwrap();
    let sequences: Vec<u64> = events.iter().map(|record| record.sequence).collect();
    assert_eq!(sequences, (1..=events.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        events
            .iter()
            .filter(|record| record.event.name() == "tool_call_started")
            .count(),
        1
    );
}

/// A database of schema 1 (one row per event) keeps its runs when this weft opens it.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_schema_1_database_is_migrated_with_its_events() {
    let folder = tempfile::tempdir().unwrap();
    let (path, pool) = older_sqlite(folder.path(), &["0001_runs.sql"]).await;
    let run = RunId::new();
    {
        sqlx::query("INSERT INTO runs (id, workflow, source, status, created_at, updated_at, last_sequence) VALUES (?, 'w', 'w.yaml', 'cancelled', 1000, 1002, 2)")
            .bind(run.to_string())
            .execute(&pool)
            .await
            .unwrap();
        for (sequence, event) in [
            (1, started()),
            (
                2,
                Event::RunCancelled {
                    reason: "old".into(),
                },
            ),
        ] {
            sqlx::query("INSERT INTO run_events (run_id, sequence, at_millis, kind, payload) VALUES (?, ?, ?, ?, ?)")
                .bind(run.to_string())
                .bind(sequence)
                .bind(1000 + sequence)
                .bind(event.name())
                .bind(serde_json::to_string(&event).unwrap())
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let events = store.events(run, 0).await.unwrap();
    assert_eq!(
        events,
        [
            record(1, started()),
            record(
                2,
                Event::RunCancelled {
                    reason: "old".into()
                }
            )
        ]
    );
    let summary = store.run(run).await.unwrap();
    assert_eq!((summary.events, summary.updated_at_millis), (2, 1002));
    store
        .append(
            run,
            &[record(
                3,
                Event::RunCancelled {
                    reason: "new".into(),
                },
            )],
        )
        .await
        .unwrap();
    assert_eq!(store.events(run, 2).await.unwrap().len(), 1);
}

/// What a killed process leaves: a write-ahead log with committed events and no shared
/// memory index. Opening the database recovers the log instead of refusing the file.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_database_left_by_a_killed_process_opens_with_its_events() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("weft.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let run = RunId::new();
    store.append(run, &[record(1, started())]).await.unwrap();
    store
        .append(
            run,
            &[record(2, Event::RunCancelled { reason: "x".into() })],
        )
        .await
        .unwrap();
    let wal = folder.path().join("weft.db-wal");
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "events wait in the log"
    );
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(&path, copy.path().join("weft.db")).unwrap();
    std::fs::copy(&wal, copy.path().join("weft.db-wal")).unwrap();
    // The shared-memory index as a process killed while writing it leaves it: its two
    // header copies disagree, so the next reader must rebuild it from the log.
    let mut index = std::fs::read(folder.path().join("weft.db-shm")).unwrap();
    index[8] ^= 0xff;
    std::fs::write(copy.path().join("weft.db-shm"), index).unwrap();
    drop(store);

    let reopened = SqliteStore::open(&copy.path().join("weft.db"))
        .await
        .unwrap();
    assert_eq!(reopened.events(run, 0).await.unwrap().len(), 2);
}
