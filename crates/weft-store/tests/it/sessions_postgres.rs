//! The session suites against PostgreSQL (see `postgres.rs` for the server and how the tests
//! skip without one), with what only PostgreSQL can check: its tables after a deletion, and
//! a database of schema 2 migrated to 3.

use super::postgres::schema;
use super::sessions::{
    a_locked_session_is_not_deleted, a_run_without_a_session_cannot_remember,
    appends_derive_the_session, locks_are_held_renewed_expire_and_are_released,
    pins_and_notes_are_idempotent_by_key, sessions_are_listed_by_use,
};
use super::sessions_view::{
    queries_are_text_not_syntax, search_finds_words_in_eight_languages,
    views_read_within_the_budget_and_count_once,
};
use super::{record, started};
use std::path::Path;
use weft_core::{RunId, RunStatus, RunStore};

#[tokio::test]
async fn postgres_appends_derive_the_session() {
    let Some(schema) = schema("postgres_appends_derive_the_session").await else {
        return;
    };
    appends_derive_the_session(&schema.store().await.unwrap()).await;
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_a_run_without_a_session_cannot_remember() {
    let Some(schema) = schema("postgres_a_run_without_a_session_cannot_remember").await else {
        return;
    };
    a_run_without_a_session_cannot_remember(&schema.store().await.unwrap()).await;
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_locks() {
    let Some(schema) = schema("postgres_locks").await else {
        return;
    };
    locks_are_held_renewed_expire_and_are_released(&schema.store().await.unwrap()).await;
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_pins_and_notes_are_idempotent() {
    let Some(schema) = schema("postgres_pins_and_notes_are_idempotent").await else {
        return;
    };
    pins_and_notes_are_idempotent_by_key(&schema.store().await.unwrap()).await;
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_sessions_are_listed_by_use() {
    let Some(schema) = schema("postgres_sessions_are_listed_by_use").await else {
        return;
    };
    sessions_are_listed_by_use(&schema.store().await.unwrap()).await;
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_views_read_within_the_budget_and_count_once() {
    let Some(schema) = schema("postgres_views_read_within_the_budget_and_count_once").await else {
        return;
    };
    views_read_within_the_budget_and_count_once(&schema.store().await.unwrap()).await;
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_search_finds_words_in_eight_languages() {
    let Some(schema) = schema("postgres_search_finds_words_in_eight_languages").await else {
        return;
    };
    search_finds_words_in_eight_languages(&schema.store().await.unwrap()).await;
    let indexed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND indexname = 'session_archive_trigrams')",
    )
    .bind(schema.name())
    .fetch_one(schema.admin())
    .await
    .unwrap();
    assert!(indexed, "pg_trgm indexes the archive");
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_queries_are_text_not_syntax() {
    let Some(schema) = schema("postgres_queries_are_text_not_syntax").await else {
        return;
    };
    queries_are_text_not_syntax(&schema.store().await.unwrap()).await;
    schema.remove().await.unwrap();
}

#[tokio::test]
async fn postgres_a_locked_session_is_not_deleted() {
    let Some(schema) = schema("postgres_a_locked_session_is_not_deleted").await else {
        return;
    };
    a_locked_session_is_not_deleted(&schema.store().await.unwrap()).await;
    for table in [
        "sessions",
        "session_messages",
        "session_token_counts",
        "session_summaries",
        "session_pins",
        "session_notes",
        "session_archive",
    ] {
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}.{table}",
            schema.name()
        )))
        .fetch_one(schema.admin())
        .await
        .unwrap();
        assert_eq!(count, 0, "{table} keeps nothing of a deleted session");
    }
    schema.remove().await.unwrap();
}

/// A database of schema 2 is migrated to 3 when this weft connects; its runs still read.
#[tokio::test]
async fn a_postgres_schema_2_database_is_migrated() {
    let Some(schema) = schema("a_postgres_schema_2_database_is_migrated").await else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    for file in ["0001_runs.sql", "0002_event_batches.sql"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../migrations/postgres")
                .join(file),
            folder.path().join(file),
        )
        .unwrap();
    }
    let run = RunId::new();
    {
        let pool = sqlx::PgPool::connect_with(schema.connect_options().unwrap())
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(folder.path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO runs (id, workflow, source, status, created_at, updated_at, last_sequence) VALUES ($1, 'w', 'w.yaml', 'running', 1000, 1001, 1)")
            .bind(run.to_string())
            .execute(&pool)
            .await
            .unwrap();
        let events = serde_json::to_vec(&[started()]).unwrap();
        sqlx::query("INSERT INTO event_batches (run_id, first_sequence, last_sequence, at_millis, encoding, events) VALUES ($1, 1, 1, 1001, 0, $2)")
            .bind(run.to_string())
            .bind(events)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let store = schema.store().await.unwrap();
    assert_eq!(store.events(run, 0).await.unwrap(), [record(1, started())]);
    assert_eq!(store.run(run).await.unwrap().status, RunStatus::Running);
    appends_derive_the_session(&store).await;
    let version: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT value FROM {}.weft_meta WHERE key = 'schema_version'",
        schema.name()
    )))
    .fetch_one(schema.admin())
    .await
    .unwrap();
    assert_eq!(version, "6");
    schema.remove().await.unwrap();
}
