//! Messages to sessions the daemon has seen before: it remembers what never changes in a
//! session, and still finds one deleted behind its back; a busy session records nothing,
//! and a run in a session is forked into it.

use crate::harness::{Client, Server};
use serde_json::json;
use std::str::FromStr;
use weft_core::{Lock, RunFilter, RunId, SessionId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_deleted_behind_the_daemon_answers_a_message_with_404() {
    let server = Server::sqlite().await;
    let client = server.client("acme").await;
    let session = new_session(&client).await;
    let path = format!("/v1/sessions/{session}/messages?wait=true");
    let first = client.post(&path, json!({"text": "hello"})).await;
    assert_eq!(first.body["output"], "you said: hello", "{:?}", first.body);

    // Deleted in the store, as another daemon or a command line would: the daemon that
    // remembers the session learns it when the message's run takes the session's lock.
    let id = SessionId::from_str(&session).unwrap();
    server.database.delete_session(id).await.unwrap();
    let runs_before = server
        .database
        .runs(RunFilter::default())
        .await
        .unwrap()
        .len();
    let second = client.post(&path, json!({"text": "again"})).await;
    assert_eq!(second.status, 404, "{:?}", second.body);
    assert_eq!(second.body["error"]["code"], "not_found");
    assert!(
        second.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&session),
        "{:?}",
        second.body
    );
    let runs_after = server
        .database
        .runs(RunFilter::default())
        .await
        .unwrap()
        .len();
    assert_eq!(runs_after, runs_before, "a refused message starts no run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_never_reaches_a_remembered_session() {
    let server = Server::sqlite().await;
    let owner = server.client("acme").await;
    let stranger = server.client("globex").await;
    let session = new_session(&owner).await;
    let path = format!("/v1/sessions/{session}/messages?wait=true");
    let first = owner.post(&path, json!({"text": "hello"})).await;
    assert_eq!(first.body["output"], "you said: hello", "{:?}", first.body);
    let refused = stranger.post(&path, json!({"text": "let me in"})).await;
    assert_eq!(refused.status, 404, "{:?}", refused.body);
    let again = owner.post(&path, json!({"text": "again"})).await;
    assert_eq!(again.body["output"], "you said: again", "{:?}", again.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_session_refuses_a_message_and_records_nothing() {
    let server = Server::sqlite().await;
    let client = server.client("acme").await;
    let session = new_session(&client).await;
    // Another run holds the session, as a command line's run in it would.
    let id = SessionId::from_str(&session).unwrap();
    let holder = RunId::new();
    let until = now_millis() + 60_000;
    let locked = server.database.lock(id, holder, until).await.unwrap();
    assert_eq!(locked, Lock::Held);
    let path = format!("/v1/sessions/{session}/messages");
    let busy = client.post(&path, json!({"text": "hello"})).await;
    assert_eq!(busy.status, 409, "{:?}", busy.body);
    assert!(
        busy.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&holder.to_string()),
        "{:?}",
        busy.body
    );
    let runs = server.database.runs(RunFilter::default()).await.unwrap();
    assert!(runs.is_empty(), "a refused message starts no run: {runs:?}");

    server.database.unlock(id, holder).await.unwrap();
    let answered = client
        .post(&format!("{path}?wait=true"), json!({"text": "hello"}))
        .await;
    assert_eq!(
        answered.body["output"], "you said: hello",
        "{:?}",
        answered.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_a_session_is_forked_into_it() {
    let server = Server::sqlite().await;
    let client = server.client("acme").await;
    let session = new_session(&client).await;
    let path = format!("/v1/sessions/{session}/messages");
    let first = client
        .post(&format!("{path}?wait=true"), json!({"text": "hello"}))
        .await;
    assert_eq!(first.body["status"], "finished", "{:?}", first.body);
    let run = first.body["id"].as_str().unwrap().to_owned();
    let fork = client.fork(&run, 1).await;
    let done = client.get(&format!("/v1/runs/{fork}?wait=true")).await;
    assert_eq!(done.body["status"], "finished", "{:?}", done.body);
    assert_eq!(done.body["output"], "you said: hello");
    // The fork spoke in the session: its step's messages follow the first run's.
    let messages = client.get(&path).await;
    let texts: Vec<&str> = messages.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["message"]["content"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        texts,
        ["hello", "you said: hello", "hello", "you said: hello"],
        "{:?}",
        messages.body
    );
}

/// A new session of the `echo` workflow: its id.
async fn new_session(client: &Client) -> String {
    let created = client
        .post("/v1/sessions", json!({"name": "ana", "workflow": "echo"}))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

fn now_millis() -> u64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from(elapsed.as_millis()).unwrap()
}
