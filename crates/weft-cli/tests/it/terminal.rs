//! What a person at a terminal sees and does: Ctrl-C stops a run as a crash would, but
//! cleanly, and a second one quits at once; model text streams as it comes, and text a
//! server withdrew is marked so. Terminals are real pseudo-terminals (`script`).

use super::command_line::{Folder, command_in, stderr, stdout};
use serde_json::json;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Starts `weft` in `folder`, its standard error read line by line into the channel.
fn spawn(folder: &Folder, arguments: &[&str]) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = command_in(&folder.path(""), arguments)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let error_output = child.stderr.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(error_output).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    (child, receiver)
}

/// Waits until `ready` exists (at most 20 s).
fn wait_for(ready: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            ready.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interrupt(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the child to end (at most `limit`); its exit code and every stderr line.
fn finish(
    mut child: Child,
    lines: &std::sync::mpsc::Receiver<String>,
    limit: Duration,
) -> (Option<i32>, String) {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("weft did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(100));
    let text: Vec<String> = lines.try_iter().collect();
    (status.code(), text.join("\n"))
}

/// A tool with an effect that takes `seconds`: it says it started, then appends a line.
fn slow_tool(folder: &Folder, seconds: u32) {
    folder
        .write(
            "tools/slow.yaml",
            "name: slow\ndescription: Takes a while.\ncommand: [sh, tools/slow.sh]\nparameters: { type: object }\n",
        )
        .write(
            "tools/slow.sh",
            &format!("touch started\nsleep {seconds}\necho call >> calls.txt\necho '\"done\"'\n"),
        )
        .write(
            "flow.yaml",
            "name: slow
model: scripted:replies.yaml
state: { said: { type: string } }
entry: work
nodes:
  work: { kind: tool, tool: slow, arguments: {}, next: talk }
  talk: { kind: llm, prompt: 'say', writes: { said: '{{ reply }}' }, next: end }
output: { said: '{{ state.said }}' }
",
        )
        .write("replies.yaml", "replies:\n  - match: say\n    text: after the tool\n");
}

#[test]
fn ctrl_c_lets_a_tool_call_finish_and_the_run_goes_on_with_the_printed_command() {
    let folder = Folder::new();
    slow_tool(&folder, 1);
    let (child, lines) = spawn(&folder, &["run", "flow.yaml"]);
    wait_for(&folder.path("started"));
    interrupt(&child);
    let (code, text) = finish(child, &lines, Duration::from_secs(20));
    assert_eq!(code, Some(130), "{text}");
    assert!(text.contains("stopping: model calls are dropped"), "{text}");
    let hint = text
        .lines()
        .find_map(|line| line.split_once("can go on from where it stopped with: weft "))
        .map(|(_, rest)| rest.to_owned())
        .unwrap_or_else(|| panic!("no hint in: {text}"));
    assert_eq!(
        std::fs::read_to_string(folder.path("calls.txt")).unwrap(),
        "call\n",
        "the call finished in the grace period"
    );
    let arguments: Vec<&str> = hint.split_whitespace().collect();
    let resumed = folder.weft(&arguments);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let output: serde_json::Value = serde_json::from_str(&stdout(&resumed)).unwrap();
    assert_eq!(output["said"], json!("after the tool"));
    assert_eq!(
        std::fs::read_to_string(folder.path("calls.txt")).unwrap(),
        "call\n",
        "the finished call was recorded, so it did not run again"
    );
}

#[test]
fn a_second_ctrl_c_quits_at_once() {
    let folder = Folder::new();
    slow_tool(&folder, 30);
    let (child, lines) = spawn(&folder, &["run", "flow.yaml"]);
    wait_for(&folder.path("started"));
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(300));
    let second = Instant::now();
    interrupt(&child);
    let (code, text) = finish(child, &lines, Duration::from_secs(20));
    assert_eq!(code, Some(130), "{text}");
    assert!(
        second.elapsed() < Duration::from_secs(3),
        "it did not wait for the grace period: {:?}",
        second.elapsed()
    );
    // The tool may have had its effect: as after a crash, a person decides.
    let run = folder.weft(&["runs", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&stdout(&run)).unwrap();
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let resumed = folder.weft(&["resume", &id]);
    assert_eq!(resumed.status.code(), Some(4), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("tool `slow`"),
        "{}",
        stderr(&resumed)
    );
}

#[test]
fn ctrl_c_drops_a_model_call_at_once() {
    let folder = Folder::new();
    folder
        .write(
            "flow.yaml",
            "name: talk\nmodel: scripted:slow.yaml\nstate: { said: { type: string } }\nentry: talk\nnodes:\n  talk: { kind: llm, prompt: 'say', writes: { said: '{{ reply }}' }, next: end }\noutput: { said: '{{ state.said }}' }\n",
        )
        .write("slow.yaml", "replies:\n  - text: too late\n    delay: 60s\n")
        .write("fast.yaml", "replies:\n  - text: in time\n");
    let (child, lines) = spawn(&folder, &["run", "flow.yaml"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the step starts");
        if line.contains("step 1: talk (llm)") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let interrupted = Instant::now();
    interrupt(&child);
    let (code, text) = finish(child, &lines, Duration::from_secs(20));
    assert_eq!(code, Some(130), "{text}");
    assert!(
        interrupted.elapsed() < weft_runtime::SHUTDOWN_GRACE,
        "a model call does not wait for the grace period: {:?}",
        interrupted.elapsed()
    );
    let listed: serde_json::Value =
        serde_json::from_str(&stdout(&folder.weft(&["runs", "list", "--json"]))).unwrap();
    assert_eq!(listed[0]["status"], json!("running"));
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let resumed = folder.weft(&["resume", &id, "--model", "scripted:fast.yaml"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(stdout(&resumed).contains("in time"), "{}", stdout(&resumed));
}

/// Runs `weft` on a pseudo-terminal; what the terminal showed.
fn on_a_terminal(folder: &Folder, arguments: &str) -> String {
    let binary = env!("CARGO_BIN_EXE_weft");
    let shown = std::process::Command::new("script")
        .args(["-qec", &format!("{binary} {arguments}"), "/dev/null"])
        .current_dir(folder.path(""))
        .env_remove("WEFT_DB")
        .env_remove("WEFT_MODEL")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    String::from_utf8_lossy(&shown.stdout).replace('\r', "")
}

#[test]
fn model_text_streams_on_a_terminal() {
    let folder = Folder::new();
    folder
        .write(
            "flow.yaml",
            "name: talk\nmodel: scripted:replies.yaml\nstate: { said: { type: string } }\nentry: talk\nnodes:\n  talk: { kind: llm, prompt: 'say', writes: { said: '{{ reply }}' }, next: end }\n",
        )
        .write(
            "replies.yaml",
            "replies:\n  - text: \"first line\\nsecond line\\n\"\n",
        );
    let shown = on_a_terminal(&folder, "run flow.yaml");
    assert!(
        shown.contains("model: first line\nsecond line\n"),
        "the text as it streamed, lines and all: {shown}"
    );
    assert!(
        !shown.contains("model: first line second line"),
        "not again as an event line: {shown}"
    );
    // Off a terminal, the event line says it instead.
    let plain = folder.weft(&["run", "flow.yaml"]);
    assert!(
        stderr(&plain).contains("model: first line second line"),
        "{}",
        stderr(&plain)
    );
}

/// An OpenAI-compatible server whose first answer breaks off after some text; the second
/// is whole.
fn breaking_server() -> String {
    use axum::body::{Body, Bytes};
    use axum::routing::post;
    let tries = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let part = |text: &str| {
        format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\n"
        )
    };
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let first = tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
            let parts: Vec<Result<Bytes, std::io::Error>> = if first {
                vec![
                    Ok(Bytes::from(part("Half a thou"))),
                    Err(std::io::Error::other("connection dropped")),
                ]
            } else {
                vec![
                    Ok(Bytes::from(part("A whole reply"))),
                    Ok(Bytes::from(
                        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
                    )),
                ]
            };
            async move {
                let stream = futures::stream::unfold(parts.into_iter(), |mut parts| async move {
                    let next = parts.next()?;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((next, parts))
                });
                axum::response::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(stream))
                    .unwrap()
            }
        }),
    );
    super::models::serve(app)
}

#[test]
fn withdrawn_text_is_marked_on_a_terminal() {
    let folder = Folder::new();
    folder.write(
        "flow.yaml",
        "name: talk\nstate: { said: { type: string } }\nentry: talk\nnodes:\n  talk: { kind: llm, prompt: 'say', writes: { said: '{{ reply }}' }, next: end }\n",
    );
    let url = breaking_server();
    let shown = on_a_terminal(&folder, &format!("run flow.yaml --model openai:{url}#m"));
    let withdrawn = shown
        .find("Half a thou")
        .unwrap_or_else(|| panic!("{shown}"));
    let marker = shown
        .find("[withdrawn: the text above is void")
        .unwrap_or_else(|| panic!("{shown}"));
    let whole = shown
        .find("A whole reply")
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(withdrawn < marker && marker < whole, "{shown}");
}
