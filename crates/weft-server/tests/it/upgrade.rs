//! `POST /v1/runs/{id}/upgrade` over HTTP: a run waiting at `review` in the served `ask`
//! workflow is moved onto the file as edited, or refused when the edit touches the node it
//! waits at.

use crate::harness::{ASK, Server};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_run_moves_onto_its_edited_file_over_http() {
    let server = Server::sqlite().await;
    let client = server.client("acme").await;
    let started = client
        .post(
            "/v1/runs?wait=true",
            json!({"workflow": "ask", "input": {"topic": "lamps"}}),
        )
        .await;
    assert_eq!(started.body["status"], "interrupted", "{:?}", started.body);
    let run = started.body["id"].as_str().unwrap().to_owned();
    let file = server.folder.path().join("workflows/ask.yaml");

    // The waiting node's writes change: refused, and nothing is recorded.
    let touching = ASK.replace(
        "writes: { approved: \"{{ input.approve }}\" }",
        "writes: { approved: \"{{ input.approve }}\", topic: \"again\" }",
    );
    assert_ne!(touching, ASK);
    std::fs::write(&file, &touching).unwrap();
    let refused = client
        .post(&format!("/v1/runs/{run}/upgrade"), json!({}))
        .await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("(`review`)"), "{message}");
    let change = &refused.body["error"]["details"]["workflows"][0]["changes"][0];
    assert_eq!(change["node"], "review");
    assert_eq!(change["touch"], "waiting");

    // An output field only: moved, and the answer runs on the new text.
    let ahead = ASK.replace(
        "output: { draft: \"{{ state.draft }}\", approved: \"{{ state.approved }}\" }",
        "output: { draft: \"{{ state.draft }}\", approved: \"{{ state.approved }}\", topic: \"{{ state.topic }}\" }",
    );
    assert_ne!(ahead, ASK);
    std::fs::write(&file, &ahead).unwrap();
    let moved = client
        .post(&format!("/v1/runs/{run}/upgrade"), json!({}))
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.body["upgraded"], true, "{:?}", moved.body);
    let again = client
        .post(&format!("/v1/runs/{run}/upgrade"), json!({}))
        .await;
    assert_eq!(
        again.body["upgraded"], false,
        "already on it: {:?}",
        again.body
    );
    let answered = client
        .post(
            &format!("/v1/runs/{run}/answer?wait=true"),
            json!({"answer": {"approve": true}}),
        )
        .await;
    assert_eq!(answered.status, 200, "{:?}", answered.body);
    assert_eq!(answered.body["status"], "finished");
    assert_eq!(
        answered.body["output"]["topic"], "lamps",
        "{:?}",
        answered.body
    );
    let finished = client
        .post(&format!("/v1/runs/{run}/upgrade"), json!({}))
        .await;
    assert_eq!(finished.status, 409, "a finished run waits for nothing");
    server.stop().await;
}
