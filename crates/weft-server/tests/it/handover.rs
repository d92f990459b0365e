//! Runs a request queues are handed to the daemon's own workers: taken and driven on from
//! the log the request wrote, not claimed from the store's queue. Those past what the
//! workers can take wait in the queue, and a worker that becomes free claims them. The
//! claim loop polls once an hour here, so a run left in the queue finishes only if a
//! request or a freed worker wakes the loop.

use crate::harness::{ECHO, Server};
use serde_json::json;
use std::time::Duration;

const SLOW_REPLIES: &str =
    "replies:\n  - match: \"(.+)\"\n    text: \"you said: $1\"\n    delay: 40ms\n";

/// A daemon with `workers` workers whose claim loop only polls once an hour.
async fn daemon(workers: usize) -> Server {
    Server::sqlite_with(|served, settings| {
        // The echo workflow, with a model that takes 40 ms to answer.
        let slow_chat = ECHO
            .replace("name: echo", "name: slow_chat")
            .replace("replies.yaml", "slow_replies.yaml");
        std::fs::write(served.join("slow_chat.yaml"), slow_chat).unwrap();
        std::fs::write(served.join("slow_replies.yaml"), SLOW_REPLIES).unwrap();
        settings.workers = workers;
        settings.poll = Duration::from_secs(3600);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_run_by_the_daemon_that_took_it_without_a_claim() {
    let server = daemon(4).await;
    let client = server.client("acme").await;
    let session = client
        .post("/v1/sessions", json!({"name": "ana", "workflow": "echo"}))
        .await;
    let session = session.body["id"].as_str().unwrap().to_owned();
    for turn in ["hello", "again"] {
        let reply = client
            .post(
                &format!("/v1/sessions/{session}/messages?wait=true"),
                json!({"text": turn}),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["status"], "finished", "{:?}", reply.body);
        assert_eq!(reply.body["output"], format!("you said: {turn}"));
    }
    assert_eq!(server.daemon.metrics.handovers(), 2);
    assert_eq!(server.daemon.metrics.claims(), 0);
    let history = client
        .get(&format!("/v1/sessions/{session}/messages"))
        .await;
    assert_eq!(history.body["messages"].as_array().unwrap().len(), 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_past_what_the_workers_take_wait_in_the_queue_and_are_claimed() {
    // One worker takes one run and 64 more wait for it (a daemon that owns its SQLite
    // file); 96 runs posted at once, each 40 ms long, leave some in the queue.
    let server = daemon(1).await;
    let client = server.client("acme").await;
    let mut posted = Vec::new();
    for index in 0..96 {
        let client = client.clone();
        posted.push(tokio::spawn(async move {
            client
                .post(
                    "/v1/runs",
                    json!({"workflow": "slow_chat", "input": {"message": format!("run {index}")}}),
                )
                .await
        }));
    }
    let mut runs = Vec::new();
    let mut taken_here = 0;
    for post in posted {
        let answer = post.await.unwrap();
        assert_eq!(answer.status, 202, "{:?}", answer.body);
        // The run as its request recorded it: taken by this daemon (`running`, no claim
        // can take it), or queued for any daemon's claim.
        match answer.body["status"].as_str() {
            Some("running") => taken_here += 1,
            Some("queued") => {}
            _ => panic!("{:?}", answer.body),
        }
        assert_eq!(answer.body["workflow"], "slow_chat");
        assert_eq!(answer.body["tenant"], "acme");
        assert!(
            answer.body["events"].as_u64().unwrap() >= 2,
            "{:?}",
            answer.body
        );
        runs.push(answer.body["id"].as_str().unwrap().to_owned());
    }
    for run in &runs {
        let view = client.get(&format!("/v1/runs/{run}?wait=true")).await;
        assert_eq!(view.body["status"], "finished", "{:?}", view.body);
    }
    let (handed, claimed) = (
        server.daemon.metrics.handovers(),
        server.daemon.metrics.claims(),
    );
    assert_eq!(handed + claimed, 96, "handed {handed}, claimed {claimed}");
    assert_eq!(
        handed, taken_here,
        "a run is handed over exactly when recorded taken"
    );
    assert!(handed >= 1, "handed {handed}");
    assert!(claimed >= 1, "claimed {claimed}");
    server.stop().await;
}
