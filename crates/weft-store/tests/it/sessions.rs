//! Sessions in the store, the same on every backend: the rows a run's appends derive
//! (messages, summaries) in the batch's transaction, locks and their release, pins and notes
//! idempotent by key, and deletion. The bodies here take any store; SQLite runs them on real
//! files in `sessions_sqlite.rs`, PostgreSQL in `sessions_postgres.rs`.

use super::record;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use weft_core::{
    Accuracy, DEFAULT_TENANT, ErrorKind, Event, EventRecord, Lock, Message, NewSummary, RunId,
    RunStatus, RunStore, SessionCursor, SessionFilter, SessionId, SessionInfo, SessionRef,
    SessionSpec, SessionStore, SnippetSource, TokenCounter, ToolCall, ToolSpec, ViewRequest,
};

/// A store of runs and sessions.
pub trait Backend: RunStore + SessionStore {}
impl<T: RunStore + SessionStore> Backend for T {}

/// Counts a message as its whitespace-separated words plus 4, and how often it counted.
pub struct Words {
    key: &'static str,
    pub calls: AtomicUsize,
}

impl Words {
    pub fn new(key: &'static str) -> Self {
        Self {
            key,
            calls: AtomicUsize::new(0),
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TokenCounter for Words {
    fn key(&self) -> &str {
        self.key
    }
    fn accuracy(&self) -> Accuracy {
        Accuracy::Estimate
    }
    fn text(&self, text: &str) -> u32 {
        text.split_whitespace().count() as u32
    }
    fn message(&self, message: &Message) -> u32 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.text(&message.content) + 4
    }
    fn frame(&self, _: &[ToolSpec]) -> u32 {
        0
    }
}

/// The spec of the default tenant's session `name`.
pub fn spec(name: &str) -> SessionSpec {
    SessionSpec {
        tenant: DEFAULT_TENANT.into(),
        name: name.into(),
        workflow: "chat".into(),
        source: "chat.yaml".into(),
    }
}

/// A run's first event, in `session`.
pub fn started_in(session: &SessionInfo) -> Event {
    Event::RunStarted {
        workflow: "chat".into(),
        source: "chat.yaml".into(),
        input: json!({}),
        parent: None,
        forked_from: None,
        setup: None,
        session: Some(Box::new(SessionRef {
            id: session.id,
            name: session.name.clone(),
        })),
    }
}

/// A record at `sequence`, stamped now.
pub fn record_now(sequence: u64, event: Event) -> EventRecord {
    EventRecord {
        sequence,
        at_millis: now(),
        event,
    }
}

/// A new run in `session`, its log one event long, holding the session's lock (a run is
/// recorded in a session only while it holds it). The run that held it before, if any, is
/// taken to have stopped: it gives the lock up.
pub async fn run_in(store: &dyn Backend, session: &SessionInfo) -> RunId {
    let holder = store
        .session(&session.tenant, session.id)
        .await
        .unwrap()
        .and_then(|info| info.locked_by);
    if let Some(holder) = holder {
        store.unlock(session.id, holder).await.unwrap();
    }
    let run = RunId::new();
    let locked = store
        .start_locked(run, &[record(1, started_in(session))], now() + 60_000, None)
        .await
        .unwrap();
    assert_eq!(locked, Lock::Held);
    run
}

/// A `Remembered` event of step 1.
pub fn remembered(messages: Vec<Message>) -> Event {
    Event::Remembered {
        step: 1,
        branch: None,
        messages,
        counts: None,
    }
}

/// A level-0 summary of messages `first..=last`.
pub fn summary(first: u64, last: u64, text: &str, merges: Vec<u64>) -> Event {
    Event::Compacted {
        summary: NewSummary {
            level: u32::from(!merges.is_empty()),
            first,
            last,
            text: text.into(),
            merges,
            by: Some("scripted".into()),
        },
    }
}

/// Remembered messages and compacted summaries are the session's rows, written with their
/// batch: an append refused for its sequence number writes none of them.
pub async fn appends_derive_the_session(store: &dyn Backend) {
    let session = store.open_session(&spec("support")).await.unwrap();
    assert_eq!(session.messages, 0);
    assert_eq!(
        store.open_session(&spec("support")).await.unwrap().id,
        session.id,
        "opening by name finds the same session"
    );
    let run = run_in(store, &session).await;
    let call = ToolCall::new("call-1", "lookup", json!({"order": 7}));
    let messages = vec![
        Message::user("Where is my order?"),
        Message::assistant("", vec![call.clone()]),
        Message::tool_result("call-1", "{\"status\": \"shipped\"}"),
        Message::assistant("It has shipped.", Vec::new()),
    ];
    store
        .append(run, &[record(2, remembered(messages.clone()))])
        .await
        .unwrap();
    let stored = store.messages(session.id, 0, 0).await.unwrap();
    let sequences: Vec<u64> = stored.iter().map(|message| message.sequence).collect();
    assert_eq!(sequences, [1, 2, 3, 4]);
    let read: Vec<Message> = stored.into_iter().map(|message| message.message).collect();
    assert_eq!(read, messages, "roles, tool calls and results read back");
    let found = store.find_session(DEFAULT_TENANT, "support").await.unwrap();
    let found = found.unwrap();
    assert_eq!((found.messages, found.updated_at_millis), (4, 1_002));
    assert_eq!(
        store.messages(session.id, 2, 1).await.unwrap()[0].sequence,
        3
    );

    let refused = store
        .append(
            run,
            &[record(
                9,
                remembered(vec![Message::user("lost in the conflict")]),
            )],
        )
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Conflict, "{}", refused.message);
    assert_eq!(store.messages(session.id, 0, 0).await.unwrap().len(), 4);
    assert!(
        store
            .search(session.id, "conflict", 5)
            .await
            .unwrap()
            .is_empty()
    );

    store
        .append(
            run,
            &[
                record(
                    3,
                    summary(1, 2, "The customer asked about order 7.", vec![]),
                ),
                record(4, summary(3, 4, "It had shipped.", vec![])),
            ],
        )
        .await
        .unwrap();
    store
        .append(
            run,
            &[record(5, summary(1, 4, "Order 7 shipped.", vec![1, 2]))],
        )
        .await
        .unwrap();
    let words = Words::new("words");
    let view = store
        .view(request(session.id, &words, 1_000))
        .await
        .unwrap();
    let live: Vec<(u64, u32, u64, u64)> = view
        .summaries
        .iter()
        .map(|summary| (summary.id, summary.level, summary.first, summary.last))
        .collect();
    assert_eq!(live, [(3, 1, 1, 4)], "merged summaries are not live");
    let info = store
        .session(DEFAULT_TENANT, session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.summaries, 1, "the session's row counts the live one");
    assert_eq!(view.summaries[0].tokens, None, "no summary count was given");
    assert!(view.messages.is_empty() && view.omitted == 0);

    // Another run in the session, with more messages than one statement inserts.
    let next = run_in(store, &session).await;
    let many = (1..=1_201)
        .map(|index| Message::user(format!("line {index}")))
        .collect();
    store
        .append(next, &[record(2, remembered(many))])
        .await
        .unwrap();
    let stored = store.messages(session.id, 4, 0).await.unwrap();
    let sequences: Vec<u64> = stored.iter().map(|message| message.sequence).collect();
    assert_eq!(sequences, (5..=1_205).collect::<Vec<_>>());
    assert_eq!(stored[1_200].message.content, "line 1201");
}

/// A view request without a query.
pub fn request<'a>(session: SessionId, counter: &'a Words, max_tokens: u32) -> ViewRequest<'a> {
    ViewRequest {
        session,
        counter,
        max_tokens,
        query: None,
        snippets: 0,
    }
}

/// A run without a session has nowhere to remember; a run in a session that does not exist
/// cannot start.
pub async fn a_run_without_a_session_cannot_remember(store: &dyn Backend) {
    let run = RunId::new();
    store
        .append(run, &[record(1, super::started())])
        .await
        .unwrap();
    for event in [
        remembered(vec![Message::user("hello")]),
        summary(1, 1, "hello", vec![]),
    ] {
        let error = store.append(run, &[record(2, event)]).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidInput, "{}", error.message);
        assert!(
            error.message.contains("has no session"),
            "{}",
            error.message
        );
    }
    assert_eq!(store.events(run, 0).await.unwrap().len(), 1);

    let mut ghost = store.open_session(&spec("ghost")).await.unwrap();
    ghost.id = SessionId::new();
    let error = store
        .append(RunId::new(), &[record(1, started_in(&ghost))])
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound, "{}", error.message);
    assert!(
        error.message.contains("does not exist"),
        "{}",
        error.message
    );
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// One run at a time holds a session: it renews its lock, a lock past its time is
/// nobody's, and a run that stops running (finished, interrupted) gives it up.
pub async fn locks_are_held_renewed_expire_and_are_released(store: &dyn Backend) {
    let session = store.open_session(&spec("locked")).await.unwrap();
    let (first, second) = (RunId::new(), RunId::new());
    let later = now() + 60_000;
    assert_eq!(
        store.lock(session.id, first, later).await.unwrap(),
        Lock::Held
    );
    assert_eq!(
        store.lock(session.id, second, later).await.unwrap(),
        Lock::Busy { holder: first }
    );
    assert_eq!(
        store.lock(session.id, first, later + 1).await.unwrap(),
        Lock::Held
    );
    let info = store.find_session(DEFAULT_TENANT, "locked").await.unwrap();
    assert_eq!(info.unwrap().locked_by, Some(first));
    store.unlock(session.id, second).await.unwrap();
    assert_eq!(
        store.lock(session.id, second, later).await.unwrap(),
        Lock::Busy { holder: first },
        "only the holder unlocks"
    );
    // Renewed into the past: the lock has expired, and is nobody's.
    assert_eq!(
        store.lock(session.id, first, now() - 1).await.unwrap(),
        Lock::Held
    );
    let info = store.find_session(DEFAULT_TENANT, "locked").await.unwrap();
    assert_eq!(info.unwrap().locked_by, None);
    assert_eq!(
        store.lock(session.id, second, later).await.unwrap(),
        Lock::Held
    );
    store.unlock(session.id, second).await.unwrap();

    for end in [
        Event::RunFinished { output: json!({}) },
        Event::Interrupted {
            step: 1,
            node: "ask".into(),
            question: "ok?".into(),
            input_schema: None,
            id: None,
        },
    ] {
        let run = run_in(store, &session).await;
        assert_eq!(
            store.lock(session.id, run, later).await.unwrap(),
            Lock::Held
        );
        store
            .append(
                run,
                &[record(
                    2,
                    Event::StepStarted {
                        step: 1,
                        node: "a".into(),
                        kind: weft_core::NodeKind::Llm,
                        within: None,
                    },
                )],
            )
            .await
            .unwrap();
        let info = store.find_session(DEFAULT_TENANT, "locked").await.unwrap();
        assert_eq!(info.unwrap().locked_by, Some(run), "a running run keeps it");
        store.append(run, &[record(3, end)]).await.unwrap();
        assert_ne!(store.run(run).await.unwrap().status, RunStatus::Running);
        let info = store.find_session(DEFAULT_TENANT, "locked").await.unwrap();
        assert_eq!(info.unwrap().locked_by, None, "a stopped run gives it up");
    }
    let missing = store
        .lock(SessionId::new(), first, later)
        .await
        .unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound);
}

/// Pins and notes are saved once per key, and a pin is unpinned once.
pub async fn pins_and_notes_are_idempotent_by_key(store: &dyn Backend) {
    let session = store.open_session(&spec("facts")).await.unwrap();
    let first = store
        .pin(session.id, "The user is Ada.", "run/1/0/0")
        .await
        .unwrap();
    let again = store
        .pin(session.id, "The user is Ada.", "run/1/0/0")
        .await
        .unwrap();
    let second = store
        .pin(session.id, "Ada prefers tea.", "run/1/0/1")
        .await
        .unwrap();
    assert_eq!((first, again, second), (1, 1, 2));
    let texts: Vec<String> = store
        .pins(session.id)
        .await
        .unwrap()
        .into_iter()
        .map(|pin| pin.text)
        .collect();
    assert_eq!(texts, ["The user is Ada.", "Ada prefers tea."]);
    assert!(store.unpin(session.id, 1).await.unwrap());
    assert!(!store.unpin(session.id, 1).await.unwrap());
    assert!(!store.unpin(session.id, 99).await.unwrap());
    let pins = store.pins(session.id).await.unwrap();
    assert_eq!(pins.iter().map(|pin| pin.id).collect::<Vec<_>>(), [2]);

    let tags = vec!["travel".to_owned()];
    let note = store
        .save_note(
            session.id,
            "Ada flies to Lisbon on May 3.",
            &tags,
            "run/2/0/0",
        )
        .await
        .unwrap();
    let same = store
        .save_note(
            session.id,
            "Ada flies to Lisbon on May 3.",
            &tags,
            "run/2/0/0",
        )
        .await
        .unwrap();
    assert_eq!((note, same), (1, 1));
    assert_eq!(
        store
            .read(session.id, SnippetSource::Note, 1)
            .await
            .unwrap()
            .as_deref(),
        Some("Ada flies to Lisbon on May 3.")
    );
    assert_eq!(
        store
            .read(session.id, SnippetSource::Note, 2)
            .await
            .unwrap(),
        None
    );
    let found = store.search(session.id, "Lisbon", 5).await.unwrap();
    assert_eq!(found.len(), 1, "the note is archived once");
    assert_eq!((found[0].source, found[0].id), (SnippetSource::Note, 1));
    assert_eq!(found[0].reference(), "n1");

    let error = store.pin(SessionId::new(), "x", "k").await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound, "{}", error.message);
}

/// A tenant's sessions, `limit` at a time (0: all).
fn tenant(tenant: &str, limit: u32) -> SessionFilter {
    SessionFilter {
        tenant: tenant.into(),
        limit,
        ..SessionFilter::default()
    }
}

/// Pages of `limit` sessions of `filter`, each after the last of the one before, until a
/// page comes back short: the names in order.
async fn paged(store: &dyn Backend, mut filter: SessionFilter) -> Vec<String> {
    let mut names = Vec::new();
    loop {
        let page = store.sessions(&filter).await.unwrap();
        names.extend(page.iter().map(|info| info.name.clone()));
        match page.last() {
            Some(last) if page.len() == filter.limit as usize => {
                filter.after = Some(SessionCursor::of(last));
            }
            _ => return names,
        }
    }
}

/// Sessions by name and tenant, the most recently used first, in pages, by workflow.
pub async fn sessions_are_listed_by_use(store: &dyn Backend) {
    let older = store.open_session(&spec("older")).await.unwrap();
    let newer = store.open_session(&spec("newer")).await.unwrap();
    let other = SessionSpec {
        tenant: "acme".into(),
        ..spec("older")
    };
    let elsewhere = store.open_session(&other).await.unwrap();
    assert_ne!(elsewhere.id, older.id, "names are unique in a tenant only");
    let run = run_in(store, &older).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .append(
            run,
            &[record_now(2, remembered(vec![Message::user("bump")]))],
        )
        .await
        .unwrap();
    let listed: Vec<String> = store
        .sessions(&tenant(DEFAULT_TENANT, 0))
        .await
        .unwrap()
        .into_iter()
        .map(|info| info.name)
        .collect();
    assert_eq!(listed, ["older", "newer"]);
    assert_eq!(
        store
            .sessions(&tenant(DEFAULT_TENANT, 1))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.sessions(&tenant("acme", 0)).await.unwrap()[0].id,
        elsewhere.id
    );
    assert!(store.find_session("acme", "newer").await.unwrap().is_none());

    // Seven more, several made in the same millisecond: pages of two miss none and repeat
    // none, whatever ties the order has to break by id.
    for index in 0..7 {
        let workflow = if index % 2 == 0 { "chat" } else { "triage" };
        store
            .open_session(&SessionSpec {
                workflow: workflow.into(),
                ..spec(&format!("more-{index}"))
            })
            .await
            .unwrap();
    }
    let all: Vec<String> = store
        .sessions(&tenant(DEFAULT_TENANT, 0))
        .await
        .unwrap()
        .into_iter()
        .map(|info| info.name)
        .collect();
    assert_eq!(all.len(), 9, "{all:?}");
    assert_eq!(paged(store, tenant(DEFAULT_TENANT, 2)).await, all);
    let triage = SessionFilter {
        workflow: Some("triage".into()),
        ..tenant(DEFAULT_TENANT, 2)
    };
    let mut names = paged(store, triage).await;
    names.sort();
    assert_eq!(names, ["more-1", "more-3", "more-5"]);
    let first = SessionCursor::of(&store.sessions(&tenant(DEFAULT_TENANT, 1)).await.unwrap()[0]);
    assert_eq!(first.to_string().parse::<SessionCursor>().unwrap(), first);
    assert!("12:nonsense".parse::<SessionCursor>().is_err());
    assert!(
        format!("soon:{}", first.id)
            .parse::<SessionCursor>()
            .is_err()
    );
    assert_eq!(newer.workflow, "chat");
    let error = store.open_session(&spec(" ")).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);
}

/// A session held by a run is not deleted; once free, it goes with everything in it, and
/// its runs stay.
pub async fn a_locked_session_is_not_deleted(store: &dyn Backend) -> SessionId {
    let session = store.open_session(&spec("doomed")).await.unwrap();
    let run = run_in(store, &session).await;
    let messages = vec![
        Message::user("secret plans"),
        Message::assistant("noted", vec![]),
    ];
    store
        .append(run, &[record(2, remembered(messages))])
        .await
        .unwrap();
    let words = Words::new("words");
    store.uncompacted(session.id, &words, 100, 0).await.unwrap();
    store
        .append(run, &[record(3, summary(1, 2, "plans", vec![]))])
        .await
        .unwrap();
    store.pin(session.id, "pinned plans", "k1").await.unwrap();
    store
        .save_note(session.id, "noted plans", &[], "k2")
        .await
        .unwrap();
    assert_eq!(
        store.lock(session.id, run, now() + 60_000).await.unwrap(),
        Lock::Held
    );
    let error = store.delete_session(session.id).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Conflict, "{}", error.message);
    assert!(
        error.message.contains(&run.to_string()),
        "{}",
        error.message
    );
    assert_eq!(
        store.search(session.id, "plans", 10).await.unwrap().len(),
        2
    );

    store.unlock(session.id, run).await.unwrap();
    store.delete_session(session.id).await.unwrap();
    assert!(
        store
            .find_session(DEFAULT_TENANT, "doomed")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .search(session.id, "plans", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.delete_session(session.id).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        store
            .view(request(session.id, &words, 10))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        store.events(run, 0).await.unwrap().len(),
        3,
        "its runs stay"
    );
    let error = store
        .append(run, &[record(4, remembered(vec![Message::user("again")]))])
        .await
        .unwrap_err();
    assert!(
        error.message.contains("has no session"),
        "{}",
        error.message
    );
    session.id
}
