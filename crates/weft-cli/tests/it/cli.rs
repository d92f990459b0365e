//! End-to-end tests of the `weft` binary: every example workflow runs offline with its
//! scripted model, and bad input gives errors a person can act on.

use super::examples::root;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A fresh database file for one command, so tests neither share runs nor write into the
/// repository.
fn fresh_db() -> PathBuf {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static FOLDER: OnceLock<tempfile::TempDir> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let folder = FOLDER.get_or_init(|| tempfile::tempdir().unwrap());
    folder
        .path()
        .join(format!("{}.db", NEXT.fetch_add(1, Ordering::Relaxed)))
}

fn weft(arguments: &[&str]) -> Output {
    weft_with_db(arguments, &fresh_db())
}

pub(crate) fn weft_with_db(arguments: &[&str], db: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(arguments)
        .current_dir(root())
        .stdin(Stdio::null())
        .env_remove("WEFT_MODEL")
        .env("WEFT_DB", db)
        .output()
        .expect("weft runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a workflow with `--json` and returns its events.
fn run_json(arguments: &[&str]) -> (Output, Vec<Value>) {
    let mut all = vec!["run", "--json"];
    all.extend_from_slice(arguments);
    let output = weft(&all);
    let events = stdout(&output)
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap_or_else(|error| panic!("{error}: {line}"))
        })
        .collect();
    (output, events)
}

fn final_output(events: &[Value]) -> Value {
    let last = events.last().expect("at least one event");
    assert_eq!(last["event"]["type"], "run_finished", "{last}");
    last["event"]["output"].clone()
}

#[test]
fn the_counter_example_loops_then_announces() {
    let (output, events) = run_json(&["workflows/counter.yaml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        final_output(&events),
        json!({"count": 3, "announcement": "We counted to 3!"})
    );
    let steps = events
        .iter()
        .filter(|event| event["event"]["type"] == "step_started")
        .count();
    assert_eq!(steps, 5, "three ticks, the announcement and the end node");
}

#[test]
fn the_counter_takes_its_limit_from_the_input() {
    let (output, events) = run_json(&["workflows/counter.yaml", "--input", r#"{"limit": 6}"#]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(final_output(&events)["count"], json!(6));
}

#[test]
fn the_summarize_example_maps_and_reduces() {
    let (output, events) = run_json(&["workflows/summarize.yaml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let result = final_output(&events);
    assert_eq!(
        result["summaries"],
        json!([
            "1. About Rust.",
            "2. About SQLite.",
            "3. About PostgreSQL.",
            "4. About Llama.",
            "5. About YAML."
        ])
    );
    assert!(
        result["digest"]
            .as_str()
            .unwrap()
            .starts_with("5 summaries of 257 characters:"),
        "{result}"
    );
    let branches: Vec<i64> = events
        .iter()
        .filter(|event| event["event"]["type"] == "model_replied")
        .map(|event| event["event"]["branch"].as_i64().unwrap())
        .collect();
    assert_eq!(branches.len(), 5, "one model call per document");
}

#[test]
fn the_research_example_uses_tools_and_a_sub_workflow() {
    let (output, events) = run_json(&["workflows/research.yaml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        final_output(&events)["answer"],
        json!("Polished: 2 + 3 is 5, and 5 + 10 is 15. The answer is 15.")
    );
    let tool_results: Vec<Value> = events
        .iter()
        .filter(|event| event["event"]["type"] == "tool_call_finished")
        .map(|event| event["event"]["outcome"]["output"].clone())
        .collect();
    assert_eq!(tool_results, [json!(5), json!(15)]);
    let runs: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|event| event["run"].as_str().unwrap())
        .collect();
    assert_eq!(
        runs.len(),
        2,
        "the sub-workflow is a child run with its own events"
    );
}

#[test]
fn the_approval_example_is_resumed_with_answers() {
    let (output, events) = run_json(&[
        "workflows/approval.yaml",
        "--answer",
        r#"{"approve": false, "note": "warmer"}"#,
        "--answer",
        r#"{"approve": true}"#,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        final_output(&events),
        json!({"published": "Draft 1: we are proud to announce the launch.", "revisions": 1})
    );
    let interrupts = events
        .iter()
        .filter(|event| event["event"]["type"] == "interrupted")
        .count();
    assert_eq!(interrupts, 2);
}

#[test]
fn an_unanswered_human_node_exits_with_the_question() {
    let output = weft(&["run", "workflows/approval.yaml"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("the run is waiting at node `review`: Publish this draft? Draft 0"),
        "{text}"
    );
    assert!(text.contains("answer it with: weft resume "), "{text}");
}

#[test]
fn an_answer_from_standard_input_resumes_the_run() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["run", "workflows/approval.yaml"])
        .env("WEFT_DB", fresh_db())
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"approve\": true}\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let result: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(result["revisions"], json!(0));
}

#[test]
fn a_wrong_answer_is_refused_with_the_json_path() {
    let output = weft(&[
        "run",
        "workflows/approval.yaml",
        "--answer",
        r#"{"approve": "yes"}"#,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("does not match the node's input_schema: at /approve"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn validate_reports_every_error_with_its_location() {
    let folder = tempfile::tempdir().unwrap();
    let bad = folder.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\nstate:\n  count: { type: integer }\nentry: strat\nnodes:\n  start:\n    kind: router\n    writes: { cuont: 1 }\n    nxt: end\n",
    )
    .unwrap();
    let output = weft(&["validate", "workflows/counter.yaml", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("workflows/counter.yaml: ok (workflow `counter`, 3 nodes)"));
    let text = stderr(&output).replace(bad.to_str().unwrap(), "bad.yaml");
    insta::assert_snapshot!("validate_errors", text);
}

#[test]
fn validate_accepts_every_example() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("workflows"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .map(|path| path.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    files.sort();
    let mut arguments = vec!["validate"];
    arguments.extend(files.iter().map(String::as_str));
    let output = weft(&arguments);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), files.len());
}

#[test]
fn graph_prints_a_mermaid_flowchart() {
    let output = weft(&["graph", "workflows/approval.yaml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    insta::assert_snapshot!("graph_approval", stdout(&output));
}

#[test]
fn the_schema_describes_every_example() {
    let output = weft(&["schema"]);
    assert!(output.status.success());
    let schema: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for name in ["counter", "summarize", "research", "approval"] {
        let text =
            std::fs::read_to_string(root().join("workflows").join(format!("{name}.yaml"))).unwrap();
        let document = weft::workflow::load::yaml_to_json(&text).unwrap();
        let problems: Vec<String> = validator
            .iter_errors(&document)
            .map(|error| error.to_string())
            .collect();
        assert!(problems.is_empty(), "{name}: {problems:?}");
    }
    let typo: Value =
        json!({"name": "x", "entry": "a", "nodes": {"a": {"kind": "router", "nxt": "end"}}});
    assert!(
        !validator.is_valid(&typo),
        "the schema rejects unknown fields, so editors flag them"
    );
}

#[test]
fn bad_input_and_bad_specs_are_clear_errors() {
    let output = weft(&["run", "workflows/counter.yaml", "--input", "{limit: 3}"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--input:1:2: the input is not valid JSON"),
        "{}",
        stderr(&output)
    );

    let output = weft(&["run", "workflows/counter.yaml", "--input", r#"{"limt": 3}"#]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("did you mean `limit`?"),
        "{}",
        stderr(&output)
    );

    let output = weft(&["run", "workflows/counter.yaml", "--model", "gpt-9"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown model `gpt-9`")
            && stderr(&output).contains("accepted forms: `openai:URL[#model]`"),
        "{}",
        stderr(&output)
    );

    let output = weft(&["run", "does/not/exist.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot read workflow file does/not/exist.yaml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_model_spec_flag_overrides_nothing_named_but_fills_the_default() {
    let folder = tempfile::tempdir().unwrap();
    let replies = folder.path().join("replies.yaml");
    std::fs::write(&replies, "replies:\n  - text: from the flag\n").unwrap();
    let workflow = folder.path().join("w.yaml");
    std::fs::write(&workflow, "name: w\nstate: { said: { type: string } }\nentry: a\nnodes:\n  a: { kind: llm, prompt: hi, writes: { said: '{{ reply }}' }, next: end }\n").unwrap();
    let spec = format!("scripted:{}", replies.display());
    let (output, events) = run_json(&[workflow.to_str().unwrap(), "--model", &spec]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(final_output(&events)["said"], json!("from the flag"));
    assert!(Path::new(&replies).exists());
}

#[test]
fn the_event_log_of_a_run_is_stable() {
    let (output, events) = run_json(&["workflows/counter.yaml", "--input", r#"{"limit": 2}"#]);
    assert!(output.status.success(), "{}", stderr(&output));
    // Run ids, timestamps, the checkout's folder and the workflow text's hash change; the
    // sequence and the events do not. The hash is the file's own.
    let checkout = root().canonicalize().unwrap().display().to_string();
    let text = std::fs::read_to_string(root().join("workflows/counter.yaml")).unwrap();
    let hash = weft_workflow::content_hash(&text);
    let log: Vec<String> = events
        .iter()
        .map(|record| {
            format!("{:>2} {}", record["sequence"], record["event"])
                .replace(&checkout, "<checkout>")
                .replace(&hash, "<sha256 of counter.yaml>")
        })
        .collect();
    insta::assert_snapshot!("counter_event_log", log.join("\n"));
}

#[test]
fn an_interrupted_run_is_resumed_by_a_later_command() {
    let db = fresh_db();
    let output = weft_with_db(&["run", "--json", "workflows/approval.yaml"], &db);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let first: Value = serde_json::from_str(stdout(&output).lines().next().unwrap()).unwrap();
    let run = first["run"].as_str().unwrap().to_owned();
    assert!(
        stderr(&output).contains(&format!("weft resume {run} --answer")),
        "{}",
        stderr(&output)
    );

    let listed = weft_with_db(&["runs", "list"], &db);
    assert!(
        stdout(&listed).contains(&format!("{run}  interrupted")),
        "{}",
        stdout(&listed)
    );
    let again = weft_with_db(&["run", "workflows/counter.yaml"], &db);
    assert!(
        stderr(&again).contains(&format!("weft resume {run}")),
        "weft run points at the unfinished run: {}",
        stderr(&again)
    );

    let wrong = weft_with_db(&["resume", &run, "--answer", r#"{"approve": "yes"}"#], &db);
    assert_eq!(wrong.status.code(), Some(2), "{}", stderr(&wrong));
    assert!(stderr(&wrong).contains("at /approve"), "{}", stderr(&wrong));

    let resumed = weft_with_db(&["resume", &run, "--answer", r#"{"approve": true}"#], &db);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let result: Value = serde_json::from_str(&stdout(&resumed)).unwrap();
    assert_eq!(
        result["published"],
        json!("Draft 0: we are proud to announce the launch.")
    );

    let events = weft_with_db(&["runs", "events", &run, "--json"], &db);
    let kinds: Vec<String> = stdout(&events)
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["event"]["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("run_started"));
    assert_eq!(kinds.last().map(String::as_str), Some("run_finished"));
    assert_eq!(kinds.iter().filter(|kind| *kind == "resumed").count(), 1);

    let finished = weft_with_db(&["resume", &run], &db);
    assert_eq!(finished.status.code(), Some(2));
    assert!(
        stderr(&finished).contains("is already finished"),
        "{}",
        stderr(&finished)
    );
}

#[test]
fn a_database_that_is_not_weft_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let not_db = folder.path().join("notes.db");
    std::fs::write(&not_db, "plain text").unwrap();
    let output = weft_with_db(&["run", "workflows/counter.yaml"], &not_db);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("is not a weft database"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&not_db).unwrap(), "plain text");
}

#[test]
fn a_run_is_forked_at_a_step_and_runs_on_from_there() {
    let db = fresh_db();
    let output = weft_with_db(
        &[
            "run",
            "--json",
            "workflows/counter.yaml",
            "--input",
            r#"{"limit": 3}"#,
        ],
        &db,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let events: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let original = events[0]["run"].as_str().unwrap().to_owned();

    // Step 3 is the last tick; the fork keeps steps 1 and 2 and runs from step 3 again.
    let forked = weft_with_db(&["runs", "fork", &original, "--at", "3", "--json"], &db);
    assert!(forked.status.success(), "{}", stderr(&forked));
    let fork_events: Vec<Value> = stdout(&forked)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let first = &fork_events[0];
    assert_eq!(first["event"]["type"], "run_started");
    assert_eq!(
        first["event"]["forked_from"],
        json!({"run": original, "step": 3})
    );
    let steps: Vec<i64> = fork_events
        .iter()
        .filter(|event| event["event"]["type"] == "step_started")
        .map(|event| event["event"]["step"].as_i64().unwrap())
        .collect();
    assert_eq!(
        steps,
        [1, 2, 3, 4, 5],
        "the copied steps, then step 3 again and what follows"
    );
    assert_eq!(
        final_output(&fork_events),
        final_output(&events),
        "same state, same ending"
    );
    assert_ne!(first["run"], events[0]["run"], "a new run");

    let listed = weft_with_db(&["runs", "list"], &db);
    assert_eq!(
        stdout(&listed).lines().count(),
        3,
        "a header and two runs: {}",
        stdout(&listed)
    );

    let beyond = weft_with_db(&["runs", "fork", &original, "--at", "9"], &db);
    assert_eq!(beyond.status.code(), Some(2));
    assert!(
        stderr(&beyond).contains("has no step 9 (its last step is 5)"),
        "{}",
        stderr(&beyond)
    );
}

#[test]
fn an_unfinished_run_can_be_failed_by_hand_and_only_an_attention_run_retried() {
    let db = fresh_db();
    let output = weft_with_db(&["run", "--json", "workflows/approval.yaml"], &db);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let first: Value = serde_json::from_str(stdout(&output).lines().next().unwrap()).unwrap();
    let run = first["run"].as_str().unwrap().to_owned();

    let retry = weft_with_db(&["resume", &run, "--retry"], &db);
    assert_eq!(retry.status.code(), Some(2), "{}", stderr(&retry));
    assert!(
        stderr(&retry).contains("--retry is for a run that needs attention"),
        "{}",
        stderr(&retry)
    );

    let failed = weft_with_db(
        &["runs", "fail", &run, "--reason", "nobody will approve it"],
        &db,
    );
    assert!(failed.status.success(), "{}", stderr(&failed));
    let shown = weft_with_db(&["runs", "show", &run, "--json"], &db);
    let summary: Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(summary["status"], json!("failed"));
    assert_eq!(summary["error"], json!("nobody will approve it"));

    let again = weft_with_db(&["runs", "fail", &run], &db);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already failed"),
        "{}",
        stderr(&again)
    );
}

/// A database the process may not write (here: a user without write permission to it)
/// gives a clear error, and the runs in it are untouched.
#[test]
fn a_database_that_cannot_be_written_gives_a_clear_error_and_loses_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let folder = tempfile::tempdir().unwrap();
    let workflow = folder.path().join("ask.yaml");
    std::fs::write(
        &workflow,
        "name: ask\nstate:\n  sum: { type: integer }\n  ok: { type: boolean }\nentry: add\nnodes:\n  add: { kind: tool, tool: add, arguments: { a: 1, b: 2 }, writes: { sum: '{{ output }}' }, next: ask }\n  ask: { kind: human, ask: OK?, writes: { ok: '{{ input }}' }, next: end }\n",
    )
    .unwrap();
    let db = folder.path().join("weft.db");
    let first = weft_with_db(&["run", "--json", workflow.to_str().unwrap()], &db);
    assert_eq!(first.status.code(), Some(3), "{}", stderr(&first));
    let run = serde_json::from_str::<Value>(stdout(&first).lines().next().unwrap()).unwrap()["run"]
        .as_str()
        .unwrap()
        .to_owned();
    let events_before = stdout(&weft_with_db(&["runs", "events", &run, "--json"], &db));

    // Another user, who may read the folder and the file but not write them.
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0");
    let binary = folder.path().join("weft");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_weft"), &binary).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_weft"), &binary).unwrap();
    }
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let mut command = if is_root {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        command.arg(&binary);
        command
    } else {
        Command::new(&binary)
    };
    let denied = command
        .args(["resume", &run, "--answer", "true", "--db"])
        .arg(&db)
        .current_dir(folder.path())
        .stdin(Stdio::null())
        .env_remove("WEFT_MODEL")
        .output()
        .unwrap();
    let message = stderr(&denied);
    assert!(!denied.status.success(), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    // SQLite answers "read-only" (code 8) or "unable to open" (code 14), depending on the
    // state of the -wal and -shm files it finds (seen once under load); both say what to do.
    assert!(
        message.contains(&db.display().to_string())
            && (message.contains("read-only: fix its permissions")
                || message.contains("cannot be opened for writing: check that its folder exists, fix its permissions")),
        "the error names the file and what to fix: {message}"
    );

    // Writable again: the run is as it was, and goes on.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let events_after = stdout(&weft_with_db(&["runs", "events", &run, "--json"], &db));
    assert_eq!(events_before, events_after);
    let resumed = weft_with_db(&["resume", &run, "--answer", "true"], &db);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
}

/// A run left by a crash with an unfinished call to a tool that is not idempotent (written
/// here as such a run's log ends): `weft resume` leaves it waiting, `--retry` runs the call.
#[test]
fn a_run_that_needs_attention_is_held_until_retried() {
    use weft::core::{EventRecord, EventSink, ToolCall, UnsettledCall, idempotency_key};
    let folder = tempfile::tempdir().unwrap();
    let workflow = folder.path().join("charge.yaml");
    std::fs::write(
        &workflow,
        "name: charge\nstate:\n  receipt: { type: string }\nentry: pay\nnodes:\n  pay: { kind: tool, tool: echo, arguments: { text: paid }, writes: { receipt: '{{ output }}' }, next: end }\n",
    )
    .unwrap();
    let db = folder.path().join("weft.db");
    let run = weft::RunId::new();
    let call = ToolCall::new("call_1", "echo", json!({"text": "paid"}));
    let events = vec![
        weft::Event::RunStarted {
            workflow: "charge".into(),
            source: workflow.display().to_string(),
            input: json!({}),
            parent: None,
            forked_from: None,
            setup: None,
            session: None,
        },
        weft::Event::StepStarted {
            step: 1,
            node: "pay".into(),
            kind: weft_core::NodeKind::Tool,
            within: None,
        },
        weft::Event::ToolCallStarted {
            step: 1,
            branch: None,
            turn: 0,
            index: 0,
            call,
        },
        weft::Event::AttentionNeeded {
            calls: vec![UnsettledCall {
                run,
                step: 1,
                branch: None,
                turn: 0,
                index: 0,
                tool: "echo".into(),
                idempotency_key: idempotency_key(run, 1, None, 0, 0),
            }],
            child: None,
        },
    ];
    let records: Vec<EventRecord> = events
        .into_iter()
        .enumerate()
        .map(|(index, event)| EventRecord {
            sequence: index as u64 + 1,
            at_millis: 1_000,
            event,
        })
        .collect();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store = weft::store::SqliteStore::open(&db).await.unwrap();
            store.append(run, &records).await.unwrap();
        });
    let run = run.to_string();

    let held = weft_with_db(&["resume", &run], &db);
    assert_eq!(held.status.code(), Some(4), "{}", stderr(&held));
    assert!(
        stderr(&held).contains("tool `echo`")
            && stderr(&held).contains(&format!("weft resume {run} --retry")),
        "{}",
        stderr(&held)
    );
    let listed = weft_with_db(&["run", workflow.to_str().unwrap()], &db);
    assert!(
        stderr(&listed).contains(&format!("weft resume {run} --retry")),
        "weft run points at the run that needs attention: {}",
        stderr(&listed)
    );

    let retried = weft_with_db(&["resume", &run, "--retry"], &db);
    assert!(retried.status.success(), "{}", stderr(&retried));
    let output: Value = serde_json::from_str(&stdout(&retried)).unwrap();
    assert_eq!(output["receipt"], json!("paid"));
}

#[test]
fn tools_list_shows_every_tool_with_its_schema() {
    let listed = weft(&["tools", "list", "--json"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let tools: Value = serde_json::from_str(&stdout(&listed)).unwrap();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect();
    let builtin = weft::tools::builtin::NAMES.len();
    assert_eq!(names[..builtin], weft::tools::builtin::NAMES);
    assert_eq!(
        names[builtin..],
        ["word_count"],
        "the repository's tools/ manifests"
    );
    let add = &tools[1];
    assert_eq!(add["idempotent"], json!(true));
    assert_eq!(add["parameters"]["required"], json!(["a", "b"]));
    assert_eq!(add["parameters"]["additionalProperties"], json!(false));

    let text = weft(&["tools", "list"]);
    assert!(text.status.success(), "{}", stderr(&text));
    assert!(
        stdout(&text).contains("append_line (idempotent)\n  Appends a line"),
        "{}",
        stdout(&text)
    );
}

#[test]
fn a_tool_node_calls_the_calculator() {
    let folder = tempfile::tempdir().unwrap();
    let workflow = folder.path().join("sum.yaml");
    std::fs::write(
        &workflow,
        "name: sum\nstate:\n  total: { type: string }\nentry: add\nnodes:\n  add: { kind: tool, tool: calculator, arguments: { expression: '(0.1 + 0.2) * 3' }, writes: { total: '{{ output }}' }, next: end }\n",
    )
    .unwrap();
    let output = weft(&["run", workflow.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let result: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(result["total"], json!("0.9"));
}

#[test]
fn a_command_tool_from_the_tools_folder_runs_in_a_workflow() {
    let folder = tempfile::tempdir().unwrap();
    let workflow = folder.path().join("count.yaml");
    std::fs::write(
        &workflow,
        "name: count\nstate:\n  counted: { type: object }\nentry: count\nnodes:\n  count: { kind: tool, tool: word_count, arguments: { text: 'the quick brown fox' }, writes: { counted: '{{ output }}' }, next: end }\n",
    )
    .unwrap();
    let output = weft(&["run", workflow.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let result: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(result["counted"], json!({"words": 4, "longest": "quick"}));
}
