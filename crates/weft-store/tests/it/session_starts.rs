//! A run in a session is recorded only while it holds the session's lock, and a daemon's
//! request takes the lock in the append that records the run's start (one write): a busy
//! session records nothing, and a group commit that holds a refused start commits the
//! others. On SQLite and on PostgreSQL.

use super::postgres::schema;
use super::record;
use super::sessions::{Backend, now, spec, started_in};
use weft_core::{ErrorKind, Event, Lease, Lock, RunId, RunQueue, RunSetup, RunStatus, SessionInfo};
use weft_store::SqliteStore;

/// `started_in(session)`, served by a daemon of tenant `default`.
fn served_in(session: &SessionInfo) -> Event {
    let mut event = started_in(session);
    if let Event::RunStarted { setup, .. } = &mut event {
        *setup = Some(Box::new(RunSetup {
            served: true,
            ..RunSetup::default()
        }));
    }
    event
}

pub async fn a_run_starts_holding_its_session<S: Backend + RunQueue>(store: &S) {
    let session = store.open_session(&spec("held")).await.unwrap();
    let later = now() + 60_000;

    // Without the lock, the start of a run in the session is refused whole.
    let unlocked = RunId::new();
    let refused = store
        .append(unlocked, &[record(1, started_in(&session))])
        .await
        .unwrap_err();
    assert!(refused.message.contains("lock"), "{}", refused.message);
    assert_eq!(
        store.run(unlocked).await.unwrap_err().kind,
        ErrorKind::NotFound
    );

    // With it, in one write: the run is recorded, and holds the session.
    let first = RunId::new();
    let lease = Lease {
        daemon: "one".to_owned(),
        until_millis: later,
    };
    let started = store
        .start_locked(
            first,
            &[record(1, served_in(&session))],
            later,
            Some(&lease),
        )
        .await
        .unwrap();
    assert_eq!(started, Lock::Held);
    let summary = store.run(first).await.unwrap();
    assert_eq!(summary.status, RunStatus::Running, "taken under the lease");
    let info = store.session(&session.tenant, session.id).await.unwrap();
    assert_eq!(info.unwrap().locked_by, Some(first));
    assert_eq!(store.depth(10).await.unwrap().leased, 1);

    // Another run's start while it holds the session: busy, and nothing of it is kept.
    let second = RunId::new();
    let busy = store
        .start_locked(second, &[record(1, served_in(&session))], later, None)
        .await
        .unwrap();
    assert_eq!(busy, Lock::Busy { holder: first });
    assert_eq!(
        store.run(second).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert!(store.events(second, 0).await.unwrap().is_empty());

    // Once the first run stops, the session is free for the next.
    store
        .append(
            first,
            &[record(
                2,
                Event::RunFinished {
                    output: serde_json::json!("done"),
                },
            )],
        )
        .await
        .unwrap();
    let third = RunId::new();
    let started = store
        .start_locked(third, &[record(1, started_in(&session))], later, None)
        .await
        .unwrap();
    assert_eq!(started, Lock::Held);

    // Records that do not start a run in a session cannot take a lock.
    let plain = RunId::new();
    let error = store
        .start_locked(plain, &[record(1, super::started())], later, None)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput, "{}", error.message);
}

/// Many starts at once, one of them into a busy session: on SQLite they wait for the writer
/// together and commit in one group, which the refused one must not undo.
pub async fn a_busy_start_leaves_the_others(store: &dyn Backend) {
    let later = now() + 60_000;
    let busy = store.open_session(&spec("busy")).await.unwrap();
    let holder = RunId::new();
    assert_eq!(
        store.lock(busy.id, holder, later).await.unwrap(),
        Lock::Held
    );
    let mut sessions = vec![busy.clone()];
    for index in 0..15 {
        let name = format!("free-{index}");
        sessions.push(store.open_session(&spec(&name)).await.unwrap());
    }
    let runs: Vec<RunId> = sessions.iter().map(|_| RunId::new()).collect();
    let records: Vec<_> = sessions
        .iter()
        .map(|session| [record(1, started_in(session))])
        .collect();
    let starts = runs
        .iter()
        .zip(&records)
        .map(|(run, records)| store.start_locked(*run, records, later, None));
    let outcomes = futures::future::join_all(starts).await;
    assert_eq!(outcomes[0].as_ref().unwrap(), &Lock::Busy { holder });
    assert!(store.events(runs[0], 0).await.unwrap().is_empty());
    for (run, outcome) in runs.iter().zip(&outcomes).skip(1) {
        assert_eq!(outcome.as_ref().unwrap(), &Lock::Held);
        assert_eq!(store.events(*run, 0).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn sqlite_a_run_starts_holding_its_session() {
    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&folder.path().join("weft.db"))
        .await
        .unwrap();
    a_run_starts_holding_its_session(&store).await;
    a_busy_start_leaves_the_others(&store).await;
}

#[tokio::test]
async fn postgres_a_run_starts_holding_its_session() {
    let Some(schema) = schema("postgres_a_run_starts_holding_its_session").await else {
        return;
    };
    let store = schema.store().await.unwrap();
    a_run_starts_holding_its_session(&store).await;
    a_busy_start_leaves_the_others(&store).await;
    schema.remove().await.unwrap();
}
