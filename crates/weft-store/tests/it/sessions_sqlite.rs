//! The session suites of `sessions.rs` and `sessions_view.rs` on SQLite files, with what
//! only SQLite can check: its tables after a deletion, and a database of schema 2 migrated
//! to 3.

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
use weft_core::{Event, EventSink, RunId, RunStatus, RunStore};
use weft_store::SqliteStore;

/// A store in a new file (kept while the folder lives).
async fn store() -> (tempfile::TempDir, SqliteStore) {
    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&folder.path().join("weft.db"))
        .await
        .unwrap();
    (folder, store)
}

#[tokio::test]
async fn sqlite_appends_derive_the_session() {
    let (_folder, store) = store().await;
    appends_derive_the_session(&store).await;
}

#[tokio::test]
async fn sqlite_a_run_without_a_session_cannot_remember() {
    let (_folder, store) = store().await;
    a_run_without_a_session_cannot_remember(&store).await;
}

#[tokio::test]
async fn sqlite_locks() {
    let (_folder, store) = store().await;
    locks_are_held_renewed_expire_and_are_released(&store).await;
}

#[tokio::test]
async fn sqlite_pins_and_notes_are_idempotent() {
    let (_folder, store) = store().await;
    pins_and_notes_are_idempotent_by_key(&store).await;
}

#[tokio::test]
async fn sqlite_sessions_are_listed_by_use() {
    let (_folder, store) = store().await;
    sessions_are_listed_by_use(&store).await;
}

#[tokio::test]
async fn sqlite_a_locked_session_is_not_deleted() {
    let (folder, store) = store().await;
    a_locked_session_is_not_deleted(&store).await;
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(folder.path().join("weft.db")),
    )
    .await
    .unwrap();
    for table in [
        "sessions",
        "session_messages",
        "session_token_counts",
        "session_summaries",
        "session_pins",
        "session_notes",
        "session_archive",
    ] {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(count, 0, "{table} keeps nothing of a deleted session");
    }
    let linked: i64 = sqlx::query_scalar("SELECT count(*) FROM runs WHERE session_id IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(linked, 0);
    pool.close().await;
}

#[tokio::test]
async fn sqlite_views_read_within_the_budget_and_count_once() {
    let (_folder, store) = store().await;
    views_read_within_the_budget_and_count_once(&store).await;
}

#[tokio::test]
async fn sqlite_search_finds_words_in_eight_languages() {
    let (_folder, store) = store().await;
    search_finds_words_in_eight_languages(&store).await;
}

#[tokio::test]
async fn sqlite_queries_are_text_not_syntax() {
    let (_folder, store) = store().await;
    queries_are_text_not_syntax(&store).await;
}

/// A database of schema 2 (written before sessions) is migrated to the newest schema when this weft
/// opens it: its runs still read, and its sessions work.
#[tokio::test]
async fn a_schema_2_database_is_migrated_with_its_runs() {
    let folder = tempfile::tempdir().unwrap();
    let (path, pool) =
        super::older_sqlite(folder.path(), &["0001_runs.sql", "0002_event_batches.sql"]).await;
    let run = RunId::new();
    {
        sqlx::query("INSERT INTO runs (id, workflow, source, status, created_at) VALUES (?, 'w', 'w.yaml', 'running', 1000)")
            .bind(run.to_string())
            .execute(&pool)
            .await
            .unwrap();
        let events = serde_json::to_vec(&[started()]).unwrap();
        sqlx::query("INSERT INTO event_batches (run_id, first_sequence, last_sequence, at_millis, encoding, events) VALUES (?, 1, 1, 1001, 0, ?)")
            .bind(run.to_string())
            .bind(events)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.events(run, 0).await.unwrap(), [record(1, started())]);
    assert_eq!(store.run(run).await.unwrap().status, RunStatus::Running);
    store
        .append(
            run,
            &[record(
                2,
                Event::RunCancelled {
                    reason: "old".into(),
                },
            )],
        )
        .await
        .unwrap();
    appends_derive_the_session(&store).await;
    drop(store);
    let pool =
        sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
            .await
            .unwrap();
    let version: String =
        sqlx::query_scalar("SELECT value FROM weft_meta WHERE key = 'schema_version'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(version, weft_store::SCHEMA_VERSION.to_string());
    assert_eq!(version, "6");
    pool.close().await;
}
