//! The store suite against the PostgreSQL server on 127.0.0.1:5432 (database `test`, trust
//! auth); each test works in a schema of its own, so tests run in parallel.

use super::{
    an_append_at_the_wrong_sequence_is_a_conflict_and_writes_nothing,
    appends_are_read_back_and_derive_the_run_row, record, started,
};
use serde_json::json;
use std::str::FromStr;
use std::sync::Arc;
use weft_core::{ErrorKind, Event, EventSink, RunId, RunStatus, RunStore};
use weft_runtime::{CancellationToken, Runtime};
use weft_store::{OpenError, PostgresStore};

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh schema and a store whose connections use it.
struct Schema {
    name: String,
    admin: sqlx::PgPool,
}

impl Schema {
    async fn new() -> Self {
        let admin = sqlx::PgPool::connect(URL)
            .await
            .expect("PostgreSQL runs on 127.0.0.1:5432 (see README)");
        let name = format!("weft_test_{}", RunId::new().as_uuid().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .unwrap();
        Self { name, admin }
    }

    async fn store(&self) -> Result<PostgresStore, OpenError> {
        let options = sqlx::postgres::PgConnectOptions::from_str(URL)
            .unwrap()
            .options([("search_path", self.name.as_str())]);
        PostgresStore::connect_with(URL, options).await
    }

    async fn drop(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.name
        )))
        .execute(&self.admin)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn postgres_appends_are_read_back_and_derive_the_run_row() {
    let schema = Schema::new().await;
    appends_are_read_back_and_derive_the_run_row(&schema.store().await.unwrap()).await;
    schema.drop().await;
}

#[tokio::test]
async fn postgres_appends_at_the_wrong_sequence_conflict() {
    let schema = Schema::new().await;
    an_append_at_the_wrong_sequence_is_a_conflict_and_writes_nothing(
        &schema.store().await.unwrap(),
    )
    .await;
    schema.drop().await;
}

#[tokio::test]
async fn postgres_refuses_a_newer_schema_and_reports_corrupt_events() {
    let schema = Schema::new().await;
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
    let table = format!("{}.event_batches", schema.name);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET encoding = 0, events = convert_to('{{not json', 'UTF8') WHERE run_id = $1 AND first_sequence = 2"
    )))
    .bind(broken.to_string())
    .execute(&schema.admin)
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
        schema.name
    )))
    .execute(&schema.admin)
    .await
    .unwrap();
    let error = schema.store().await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("schema version 7, newer than the 2"),
        "{error}"
    );
    schema.drop().await;
}

#[tokio::test]
async fn two_writers_cannot_interleave_one_log() {
    let schema = Schema::new().await;
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
    schema.drop().await;
}

#[tokio::test]
async fn a_run_is_resumed_from_postgres_by_a_new_runtime() {
    let schema = Schema::new().await;
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
    schema.drop().await;
}

#[tokio::test]
async fn postgres_keeps_snapshots() {
    let schema = Schema::new().await;
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
        schema.name
    )))
    .fetch_one(&schema.admin)
    .await
    .unwrap();
    assert_eq!(count, 1);
    schema.drop().await;
}
