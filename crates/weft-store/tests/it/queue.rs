//! The run queue on a real SQLite file: only served runs are queued; a claim moves a run
//! from `queued` to `running` and holds it until its lease runs out; renewals report the
//! leases lost; a sub-workflow's run has its parent's tenant.

use crate::{record, started};
use weft_core::{
    DaemonInfo, ErrorKind, Event, EventSink, Lease, ParentLink, RunId, RunQueue, RunSetup,
    RunStatus, RunStore,
};
use weft_store::SqliteStore;

fn served(tenant: &str) -> Event {
    let Event::RunStarted {
        workflow,
        source,
        input,
        parent,
        forked_from,
        session,
        ..
    } = started()
    else {
        unreachable!()
    };
    Event::RunStarted {
        workflow,
        source,
        input,
        parent,
        forked_from,
        session,
        setup: Some(Box::new(RunSetup {
            tenant: Some(tenant.to_owned()),
            served: true,
            ..RunSetup::default()
        })),
    }
}

fn daemon(id: &str, alive_until: u64) -> DaemonInfo {
    DaemonInfo {
        id: id.to_owned(),
        host: "here".to_owned(),
        pid: 1,
        started_at_millis: 0,
        alive_until_millis: alive_until,
    }
}

#[tokio::test]
async fn served_runs_are_claimed_once_until_their_lease_runs_out() {
    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&folder.path().join("q.db"))
        .await
        .unwrap();
    let plain = RunId::new();
    store.append(plain, &[record(1, started())]).await.unwrap();
    let queued = RunId::new();
    store
        .append(queued, &[record(1, served("acme"))])
        .await
        .unwrap();
    let summary = store.run(queued).await.unwrap();
    assert_eq!(
        (summary.status, summary.tenant.as_str()),
        (RunStatus::Queued, "acme")
    );
    assert_eq!(store.run(plain).await.unwrap().tenant, "default");
    let depth = store.depth(10).await.unwrap();
    assert_eq!((depth.waiting, depth.leased), (1, 0));

    let claimed = store.claim("one", 10, 1_000, 8).await.unwrap();
    assert_eq!(claimed.len(), 1, "only the served run: {claimed:?}");
    assert_eq!(
        (claimed[0].id, claimed[0].tenant.as_str()),
        (queued, "acme")
    );
    assert_eq!(store.run(queued).await.unwrap().status, RunStatus::Running);
    assert!(store.claim("two", 20, 1_000, 8).await.unwrap().is_empty());
    assert!(
        store
            .renew("one", &[queued], 2_000)
            .await
            .unwrap()
            .is_empty()
    );
    // The lease runs out (the daemon died): another daemon takes the run; the first learns
    // that it lost it when it renews.
    let taken = store.claim("two", 2_001, 5_000, 8).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(
        store.renew("one", &[queued], 6_000).await.unwrap(),
        [queued]
    );
    let depth = store.depth(3_000).await.unwrap();
    assert_eq!((depth.waiting, depth.leased), (0, 1));
    // Released, it waits for the next worker at once; finished, it is no one's.
    store.release("two", queued).await.unwrap();
    assert_eq!(store.claim("one", 3_000, 9_000, 8).await.unwrap().len(), 1);
    store
        .append(
            queued,
            &[record(
                2,
                Event::RunFinished {
                    output: serde_json::json!(1),
                },
            )],
        )
        .await
        .unwrap();
    store.release("one", queued).await.unwrap();
    assert!(
        store
            .claim("one", 99_000, 100_000, 8)
            .await
            .unwrap()
            .is_empty()
    );

    // A sub-workflow's run belongs to its parent's tenant.
    let child = RunId::new();
    let Event::RunStarted {
        workflow,
        source,
        input,
        ..
    } = started()
    else {
        unreachable!()
    };
    let child_start = Event::RunStarted {
        workflow,
        source,
        input,
        parent: Some(ParentLink {
            run: queued,
            step: 1,
            branch: None,
        }),
        forked_from: None,
        setup: None,
        session: None,
    };
    store
        .append(child, &[record(1, child_start)])
        .await
        .unwrap();
    assert_eq!(store.run(child).await.unwrap().tenant, "acme");
}

#[tokio::test]
async fn one_daemon_owns_a_sqlite_file_while_it_lives() {
    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&folder.path().join("d.db"))
        .await
        .unwrap();
    let far = u64::MAX / 4;
    store
        .register_daemon(&daemon("first", far), true)
        .await
        .unwrap();
    store
        .register_daemon(&daemon("first", far), true)
        .await
        .unwrap();
    let refused = store
        .register_daemon(&daemon("second", far), true)
        .await
        .unwrap_err();
    assert!(
        refused
            .message
            .contains("another daemon serves this database"),
        "{refused}"
    );
    store.unregister_daemon("first").await.unwrap();
    store
        .register_daemon(&daemon("second", far), true)
        .await
        .unwrap();
    assert_eq!(store.daemons().await.unwrap().len(), 1);
    // A registration whose time has passed does not hold the file.
    store
        .register_daemon(&daemon("second", 1), false)
        .await
        .unwrap();
    store
        .register_daemon(&daemon("third", far), true)
        .await
        .unwrap();
}

/// A run recorded taken by the daemon that queued it (`EventSink::append_taken`) starts
/// `running` under that daemon's lease: no claim takes it until the lease runs out, and the
/// heartbeat renews it like a claimed run's. Only the records that start a served run can
/// be taken.
pub async fn a_taken_run_waits_for_its_lease<S>(store: &S)
where
    S: EventSink + RunStore + RunQueue,
{
    let lease = Lease {
        daemon: "one".to_owned(),
        until_millis: 1_000,
    };
    let run = RunId::new();
    store
        .append_taken(run, &[record(1, served("acme"))], &lease)
        .await
        .unwrap();
    let summary = store.run(run).await.unwrap();
    assert_eq!(
        (summary.status, summary.tenant.as_str()),
        (RunStatus::Running, "acme")
    );
    let depth = store.depth(10).await.unwrap();
    assert_eq!((depth.waiting, depth.leased), (0, 1));
    assert!(store.claim("two", 500, 5_000, 8).await.unwrap().is_empty());
    assert!(store.renew("one", &[run], 2_000).await.unwrap().is_empty());
    assert!(
        store
            .claim("two", 1_500, 5_000, 8)
            .await
            .unwrap()
            .is_empty()
    );
    // Its daemon died: once the lease ran out, another daemon claims it.
    let claimed = store.claim("two", 2_001, 5_000, 8).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, run);
    assert_eq!(store.renew("one", &[run], 6_000).await.unwrap(), [run]);

    // A run that is not served, or records that do not start a run, cannot be taken.
    let plain = RunId::new();
    let refused = store
        .append_taken(plain, &[record(1, started())], &lease)
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::InvalidInput, "{refused}");
    assert!(store.run(plain).await.is_err(), "nothing of it was stored");
    let later = store
        .append_taken(
            run,
            &[record(
                2,
                Event::RunFinished {
                    output: serde_json::json!(1),
                },
            )],
            &lease,
        )
        .await
        .unwrap_err();
    assert_eq!(later.kind, ErrorKind::InvalidInput, "{later}");
    assert_eq!(store.events(run, 0).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_taken_run_waits_for_its_lease_on_sqlite() {
    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&folder.path().join("q.db"))
        .await
        .unwrap();
    a_taken_run_waits_for_its_lease(&store).await;
}
