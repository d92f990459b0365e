//! The store suite against a PostgreSQL server: `WEFT_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test` (database `test`, trust auth). Each test works
//! in a schema of its own, so tests run in parallel. Without a server they pass as skipped
//! and one line says so (`weft_store::testing`); `WEFT_REQUIRE_POSTGRES=1` fails them instead.

use super::{
    an_append_at_the_wrong_sequence_is_a_conflict_and_writes_nothing,
    appends_are_read_back_and_derive_the_run_row, record, started,
};
use serde_json::json;
use std::sync::Arc;
use weft_core::{ErrorKind, Event, EventSink, RunId, RunStatus, RunStore};
use weft_runtime::{CancellationToken, Runtime};
use weft_store::OpenMode;
use weft_store::testing::{PostgresTests, TestSchema};

/// Every PostgreSQL test of this binary.
pub static POSTGRES: PostgresTests = PostgresTests::new(
    "weft-store tests/it",
    &[
        "postgres_appends_are_read_back_and_derive_the_run_row",
        "postgres_appends_at_the_wrong_sequence_conflict",
        "postgres_refuses_a_newer_schema_and_reports_corrupt_events",
        "two_writers_cannot_interleave_one_log",
        "a_run_is_resumed_from_postgres_by_a_new_runtime",
        "postgres_keeps_snapshots",
        "a_postgres_url_opens_a_store",
        "postgres_appends_derive_the_session",
        "postgres_a_run_without_a_session_cannot_remember",
        "postgres_locks",
        "postgres_pins_and_notes_are_idempotent",
        "postgres_sessions_are_listed_by_use",
        "postgres_views_read_within_the_budget_and_count_once",
        "postgres_search_finds_words_in_eight_languages",
        "postgres_queries_are_text_not_syntax",
        "postgres_a_locked_session_is_not_deleted",
        "a_postgres_schema_2_database_is_migrated",
        "postgres_keeps_workflow_texts",
        "postgres_keeps_keys",
        "postgres_a_taken_run_waits_for_its_lease",
        "postgres_a_run_starts_holding_its_session",
    ],
);

/// A fresh schema for `test`; `None` when the PostgreSQL tests are skipped.
pub async fn schema(test: &str) -> Option<TestSchema> {
    POSTGRES
        .schema(test)
        .await
        .unwrap_or_else(|error| panic!("{error}"))
}

#[tokio::test]
async fn postgres_appends_are_read_back_and_derive_the_run_row() {
    let Some(schema) = schema("postgres_appends_are_read_back_and_derive_the_run_row").await else {
        return;
    };
    appends_are_read_back_and_derive_the_run_row(&schema.store().await.unwrap()).await;
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_appends_at_the_wrong_sequence_conflict() {
    let Some(schema) = schema("postgres_appends_at_the_wrong_sequence_conflict").await else {
        return;
    };
    an_append_at_the_wrong_sequence_is_a_conflict_and_writes_nothing(
        &schema.store().await.unwrap(),
    )
    .await;
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_refuses_a_newer_schema_and_reports_corrupt_events() {
    let Some(schema) = schema("postgres_refuses_a_newer_schema_and_reports_corrupt_events").await
    else {
        return;
    };
    let store = schema.store().await.unwrap();
    let (broken, healthy) = (RunId::new(), RunId::new());
    for run in [broken, healthy] {
        store.append(run, &[record(1, started())]).await.unwrap();
        store
            .append(
                run,
                &[record(2, Event::RunCancelled { reason: "x".into() })],
            )
            .await
            .unwrap();
    }
    let table = format!("{}.event_batches", schema.name());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET encoding = 0, events = convert_to('{{not json', 'UTF8') WHERE run_id = $1 AND first_sequence = 2"
    )))
    .bind(broken.to_string())
    .execute(schema.admin())
    .await
    .unwrap();
    let error = store.events(broken, 0).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Corrupt);
    assert!(
        error.message.contains("event 2 is corrupt"),
        "{}",
        error.message
    );
    assert_eq!(store.events(healthy, 0).await.unwrap().len(), 2);
    store.mark_failed(broken, &error.message).await.unwrap();
    assert_eq!(store.run(broken).await.unwrap().status, RunStatus::Failed);

    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {}.weft_meta SET value = '7' WHERE key = 'schema_version'",
        schema.name()
    )))
    .execute(schema.admin())
    .await
    .unwrap();
    let error = schema.store().await.unwrap_err();
    assert!(
        error.to_string().contains(&format!(
            "schema version 7, newer than the {}",
            weft_store::SCHEMA_VERSION
        )),
        "{error}"
    );
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn two_writers_cannot_interleave_one_log() {
    let Some(schema) = schema("two_writers_cannot_interleave_one_log").await else {
        return;
    };
    let (first, second) = (schema.store().await.unwrap(), schema.store().await.unwrap());
    let run = RunId::new();
    first.append(run, &[record(1, started())]).await.unwrap();
    let event = || Event::RunCancelled { reason: "x".into() };
    let (batch_a, batch_b) = ([record(2, event())], [record(2, event())]);
    let (a, b) = tokio::join!(first.append(run, &batch_a), second.append(run, &batch_b));
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one writer wins: {a:?} {b:?}"
    );
    let loser = a.err().or(b.err()).unwrap();
    assert_eq!(loser.kind, ErrorKind::Conflict, "{}", loser.message);
    assert_eq!(first.events(run, 0).await.unwrap().len(), 2);
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn a_run_is_resumed_from_postgres_by_a_new_runtime() {
    let Some(schema) = schema("a_run_is_resumed_from_postgres_by_a_new_runtime").await else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let workflow_path = folder.path().join("approval.yaml");
    std::fs::write(&workflow_path, super::APPROVAL).unwrap();
    let cancel = CancellationToken::new();
    let run_id = {
        let runtime = Runtime::builder()
            .store(Arc::new(schema.store().await.unwrap()))
            .tools(Arc::new(weft_tools::builtin::registry(
                &weft_tools::builtin::Workspace::new(std::path::Path::new(".")).unwrap(),
            )))
            .build();
        let workflow = weft_workflow::Loader::new().load(&workflow_path).unwrap();
        let run = runtime.start(workflow, json!({}), &cancel).await.unwrap();
        assert_eq!(run.status(), RunStatus::Interrupted);
        run.id()
    };
    let store = Arc::new(schema.store().await.unwrap());
    let runtime = Runtime::builder()
        .store(store.clone())
        .tools(Arc::new(weft_tools::builtin::registry(
            &weft_tools::builtin::Workspace::new(std::path::Path::new(".")).unwrap(),
        )))
        .build();
    let workflow = weft_workflow::Loader::new().load(&workflow_path).unwrap();
    let mut run = runtime.load(workflow, run_id).await.unwrap();
    runtime
        .resume(&mut run, json!({"ok": true}), &cancel)
        .await
        .unwrap();
    assert_eq!(store.run(run_id).await.unwrap().status, RunStatus::Finished);
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_keeps_snapshots() {
    let Some(schema) = schema("postgres_keeps_snapshots").await else {
        return;
    };
    let store = Arc::new(schema.store().await.unwrap());
    let run = super::snapshots::snapshots_are_taken_and_loaded(store.clone()).await;
    let (first, _) = store.latest_snapshot(run).await.unwrap().unwrap();
    // A later snapshot replaces the earlier one.
    store
        .save_snapshot(run, first + 1, &json!({"format": 0}))
        .await
        .unwrap();
    assert_eq!(
        store.latest_snapshot(run).await.unwrap(),
        Some((first + 1, json!({"format": 0})))
    );
    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {}.snapshots",
        schema.name()
    )))
    .fetch_one(schema.admin())
    .await
    .unwrap();
    assert_eq!(count, 1);
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn a_postgres_url_opens_a_store() {
    let Some(schema) = schema("a_postgres_url_opens_a_store").await else {
        return;
    };
    let store = weft_store::open(&schema.url(), OpenMode::MustExist)
        .await
        .unwrap();
    appends_are_read_back_and_derive_the_run_row(store.as_ref()).await;
    // A server needs no file: either mode opens it, with its runs.
    let store = weft_store::open(&schema.url(), OpenMode::CreateIfMissing)
        .await
        .unwrap();
    assert_eq!(store.runs(Default::default()).await.unwrap().len(), 1);
    let runs: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {}.runs",
        schema.name()
    )))
    .fetch_one(schema.admin())
    .await
    .unwrap();
    assert_eq!(
        runs, 1,
        "the URL's options put the store in the test's schema"
    );
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_keeps_workflow_texts() {
    let Some(schema) = schema("postgres_keeps_workflow_texts").await else {
        return;
    };
    let store = Arc::new(schema.store().await.unwrap());
    super::texts::texts_are_kept_and_named_by_the_run(store).await;
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_keeps_keys() {
    let Some(schema) = schema("postgres_keeps_keys").await else {
        return;
    };
    let store = schema.store().await.unwrap();
    super::keys::keys_are_kept_by_hash_and_revoked(&store).await;
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_a_taken_run_waits_for_its_lease() {
    let Some(schema) = schema("postgres_a_taken_run_waits_for_its_lease").await else {
        return;
    };
    super::queue::a_taken_run_waits_for_its_lease(&schema.store().await.unwrap()).await;
    schema.remove().await.unwrap();
}
