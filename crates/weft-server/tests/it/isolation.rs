//! Tenants: every endpoint, called with another tenant's ids, answers 404 (never 403), and
//! changes nothing; lists hold the caller's own alone.

use crate::harness::Server;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_ids_are_not_found_on_every_endpoint() {
    let server = Server::sqlite().await;
    let owner = server.client("acme").await;
    let other = server.client("globex").await;
    let session = owner
        .post("/v1/sessions", json!({"name": "ana", "workflow": "echo"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let talked = owner
        .post(
            &format!("/v1/sessions/{session}/messages?wait=true"),
            json!({"text": "hi"}),
        )
        .await;
    assert_eq!(talked.status, 200, "{:?}", talked.body);
    let waiting = owner
        .post("/v1/runs?wait=true", json!({"workflow": "ask"}))
        .await;
    assert_eq!(waiting.body["status"], "interrupted", "{:?}", waiting.body);
    let run = waiting.body["id"].as_str().unwrap().to_owned();

    let gets = [
        format!("/v1/runs/{run}"),
        format!("/v1/runs/{run}/events"),
        format!("/v1/sessions/{session}"),
        format!("/v1/sessions/{session}/messages"),
    ];
    for path in &gets {
        let answer = other.get(path).await;
        assert_eq!(answer.status, 404, "GET {path}: {:?}", answer.body);
        assert_eq!(answer.body["error"]["code"], "not_found");
    }
    let posts = [
        (format!("/v1/runs/{run}/cancel"), json!({})),
        (
            format!("/v1/runs/{run}/answer"),
            json!({"answer": {"approve": true}}),
        ),
        (format!("/v1/runs/{run}/retry"), json!({})),
        (format!("/v1/runs/{run}/fork"), json!({"step": 1})),
        (format!("/v1/runs/{run}/upgrade"), json!({})),
        (
            format!("/v1/sessions/{session}/messages"),
            json!({"text": "hi"}),
        ),
    ];
    for (path, body) in &posts {
        let answer = other.post(path, body.clone()).await;
        assert_eq!(answer.status, 404, "POST {path}: {:?}", answer.body);
    }
    let deleted = other.delete(&format!("/v1/sessions/{session}")).await;
    assert_eq!(deleted.status, 404, "{:?}", deleted.body);
    assert_eq!(other.get("/v1/runs").await.body["runs"], json!([]));
    assert_eq!(other.get("/v1/sessions").await.body["sessions"], json!([]));
    let listed = other.get(&format!("/v1/runs?session={session}")).await;
    assert_eq!(listed.body["runs"], json!([]), "{:?}", listed.body);

    // Nothing of the owner's changed: the run still waits, the session is there.
    let still = owner.get(&format!("/v1/runs/{run}")).await;
    assert_eq!(still.body["status"], "interrupted");
    assert_eq!(
        owner.get(&format!("/v1/sessions/{session}")).await.status,
        200
    );
    assert_eq!(
        owner.get("/v1/runs").await.body["runs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    server.stop().await;
}
