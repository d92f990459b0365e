//! `weft serve` as operators run it: a daemon process killed with SIGKILL in the middle of a
//! run, restarted on the same database, finishes the run with no finished tool call done
//! twice; SIGTERM stops it cleanly (exit 0); `--check` reports broken workflows; JSON logs
//! carry each step's span with its run, session and node.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MAPPER: &str = r#"name: mapper
state:
  items: { type: array, default: [alpha, beta, gamma, delta, epsilon, zeta] }
  written: { type: array, reducer: append }
entry: fan_out
nodes:
  fan_out:
    kind: map
    over: state.items
    max_parallel: 2
    branch:
      kind: agent
      model: scripted:replies.yaml
      prompt: "Record item {{ item }}"
      tools: [append_line]
      max_turns: 3
    writes: { written: "{{ output }}" }
    next: end
output: "{{ state.written }}"
"#;

const REPLIES: &str = r#"replies:
  - match: "^Record item (\\w+)$"
    tool_calls: [{ name: append_line, arguments: { path: effects.log, line: "item $1" } }]
    delay: 150ms
  - match: "^item (\\w+)$"
    text: "recorded $1"
    delay: 150ms
"#;

/// A daemon process, the address it serves and the lines it logged after it started.
struct Daemon {
    child: Child,
    base: String,
    logs: Arc<Mutex<Vec<String>>>,
}

fn start(folder: &Path) -> Daemon {
    start_with(folder, &[], &[])
}

fn start_with(folder: &Path, arguments: &[&str], environment: &[(&str, &str)]) -> Daemon {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--no-auth", "--listen", "127.0.0.1:0", "--db"])
        .arg(folder.join("weft.db"))
        .arg("--workflows")
        .arg(folder.join("workflows"))
        .arg("--workspace")
        .arg(folder)
        .args(arguments)
        .envs(environment.iter().copied())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("weft serve ended before it served")
            .unwrap();
        if let Some(rest) = line.strip_prefix("serving ") {
            let address = rest
                .split(" on ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            break address.to_owned();
        }
    };
    // Keep reading its logs, so it never blocks on a full pipe.
    let logs = Arc::new(Mutex::new(Vec::new()));
    let kept = logs.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    Daemon { child, base, logs }
}

async fn get(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    let response = client.post(url).json(&body).send().await.unwrap();
    response.json().await.unwrap()
}

fn effect_lines(folder: &Path) -> Vec<String> {
    std::fs::read_to_string(folder.join("effects.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_restarts_and_finishes_its_run_once() {
    let folder = tempfile::tempdir().unwrap();
    let workflows = folder.path().join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::write(workflows.join("mapper.yaml"), MAPPER).unwrap();
    std::fs::write(workflows.join("replies.yaml"), REPLIES).unwrap();
    let client = reqwest::Client::new();
    let mut first = start(folder.path());
    let started = post(
        &client,
        format!("{}/v1/runs", first.base),
        json!({"workflow": "mapper"}),
    )
    .await;
    let run = started["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while effect_lines(folder.path()).len() < 2 {
        assert!(Instant::now() < deadline, "no tool call finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let cut = effect_lines(folder.path()).len();
    assert!(cut < 6, "the run finished before the kill");

    let mut second = start(folder.path());
    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        let view = get(&client, format!("{}/v1/runs/{run}", second.base)).await;
        if view["status"] == "finished" {
            break view;
        }
        assert!(Instant::now() < deadline, "the run did not finish: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(view["output"].as_array().unwrap().len(), 6, "{view}");
    let lines = effect_lines(folder.path());
    assert_eq!(lines.len(), 6, "each call's line once: {lines:?}");
    // The log: every tool call finished once.
    let events = client
        .get(format!("{}/v1/runs/{run}/events", second.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let finished = events.matches("event: tool_call_finished").count();
    assert_eq!(finished, 6, "{events}");

    // SIGTERM: a clean stop, exit 0.
    let status = Command::new("kill")
        .args(["-TERM", &second.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = second.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn check_reports_a_broken_workflow_with_its_place() {
    let folder = tempfile::tempdir().unwrap();
    let workflows = folder.path().join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::write(workflows.join("mapper.yaml"), MAPPER).unwrap();
    std::fs::write(workflows.join("replies.yaml"), REPLIES).unwrap();
    std::fs::write(
        workflows.join("broken.yaml"),
        "name: broken\nentry: start\nnodes:\n  start:\n    kind: llm\n    promt: hi\n    next: end\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--check", "--db"])
        .arg(folder.path().join("weft.db"))
        .arg("--workflows")
        .arg(&workflows)
        .arg("--workspace")
        .arg(folder.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stdout.contains("ok mapper.yaml (mapper)"), "{stdout}");
    assert!(stderr.contains("broken.yaml:6:5"), "{stderr}");
    assert!(stderr.contains("promt"), "{stderr}");
    assert!(
        !stdout.contains("replies"),
        "scripted replies are not workflows: {stdout}"
    );
}

const CHAT: &str = r#"name: chat
state:
  message: { type: string }
  reply: { type: string }
entry: answer
nodes:
  answer:
    kind: llm
    model: scripted:chat-replies.yaml
    prompt: "{{ state.message }}"
    writes: { reply: "{{ reply }}" }
    next: end
output: "{{ state.reply }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_each_steps_span_with_its_run_session_and_node() {
    let folder = tempfile::tempdir().unwrap();
    let workflows = folder.path().join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::write(workflows.join("chat.yaml"), CHAT).unwrap();
    std::fs::write(
        workflows.join("chat-replies.yaml"),
        "replies:\n  - match: \"(.+)\"\n    text: \"you said: $1\"\n",
    )
    .unwrap();
    let mut daemon = start_with(
        folder.path(),
        &["--log-format", "json"],
        &[("WEFT_LOG", "info,weft_runtime=debug")],
    );
    let client = reqwest::Client::new();
    let session = post(
        &client,
        format!("{}/v1/sessions", daemon.base),
        json!({"name": "ana", "workflow": "chat"}),
    )
    .await;
    let session = session["id"].as_str().unwrap().to_owned();
    let reply = post(
        &client,
        format!("{}/v1/sessions/{session}/messages?wait=true", daemon.base),
        json!({"text": "hello"}),
    )
    .await;
    assert_eq!(reply["output"], "you said: hello", "{reply}");
    let run = reply["id"].as_str().unwrap().to_owned();

    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let found = daemon
            .logs
            .lock()
            .unwrap()
            .iter()
            .find(|line| line.contains("calling the model"))
            .cloned();
        if let Some(line) = found {
            break line;
        }
        assert!(Instant::now() < deadline, "no model call was logged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let logged: Value = serde_json::from_str(&line).expect(&line);
    assert_eq!(logged["level"], "DEBUG", "{logged}");
    assert_eq!(
        logged["fields"]["model"], "scripted:chat-replies.yaml",
        "{logged}"
    );
    let spans = logged["spans"].as_array().expect(&line);
    let named = |name: &str| {
        spans
            .iter()
            .find(|span| span["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}` span in {logged}"))
    };
    assert_eq!(named("run")["run"], run.as_str(), "{logged}");
    let step = named("step");
    assert_eq!(step["run"], run.as_str(), "{logged}");
    assert_eq!(step["session"], session.as_str(), "{logged}");
    assert_eq!(step["step"], 1, "{logged}");
    assert_eq!(step["node"], "answer", "{logged}");
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
}
