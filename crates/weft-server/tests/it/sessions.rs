//! Messages to sessions the daemon has seen before: it remembers what never changes in a
//! session, and still finds one deleted behind its back.

use crate::harness::Server;
use serde_json::json;
use std::str::FromStr;
use weft_core::{RunFilter, SessionId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_deleted_behind_the_daemon_answers_a_message_with_404() {
    let server = Server::sqlite().await;
    let client = server.client("acme").await;
    let created = client
        .post("/v1/sessions", json!({"name": "ana", "workflow": "echo"}))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let session = created.body["id"].as_str().unwrap().to_owned();
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
    let created = owner
        .post("/v1/sessions", json!({"name": "ana", "workflow": "echo"}))
        .await;
    let session = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/sessions/{session}/messages?wait=true");
    let first = owner.post(&path, json!({"text": "hello"})).await;
    assert_eq!(first.body["output"], "you said: hello", "{:?}", first.body);
    let refused = stranger.post(&path, json!({"text": "let me in"})).await;
    assert_eq!(refused.status, 404, "{:?}", refused.body);
    let again = owner.post(&path, json!({"text": "again"})).await;
    assert_eq!(again.body["output"], "you said: again", "{:?}", again.body);
}
