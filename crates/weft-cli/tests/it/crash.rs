//! The crash test: `weft` processes are killed with SIGKILL at random instants while they run
//! a workflow with a parallel map of agents whose tool calls have a side effect (each appends
//! a line to a file), then a `parallel` node whose branches make a model call, ask two
//! questions at once and make a tool call after one of them, and a last tool call. Every
//! run is resumed (each open question answered by its id) until it finishes, and must end
//! in the same state as an uninterrupted run, with each finished call's line in the file
//! exactly once.
//!
//! `WEFT_CRASH_POINTS` sets how many kills to make (default 200); `WEFT_CRASH_SEED` replays
//! a sequence of kill instants (the seed is printed).

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use weft::core::{RunFilter, RunStore};
use weft::store::SqliteStore;
use weft::{Event, RunId, RunStatus};

const WORKFLOW: &str = r#"
name: crashy
state:
  items:
    type: array
    default: [alpha, beta, gamma, delta, epsilon, zeta, eta, theta, iota, kappa, lambda, mu]
  written: { type: array, reducer: append }
  summary: { type: string }
  approved: { type: boolean }
  signed: { type: boolean }
  noted: { type: string }
  closing: { type: string }
entry: fan_out
nodes:
  fan_out:
    kind: map
    over: state.items
    max_parallel: 3
    branch:
      kind: agent
      model: scripted:replies.yaml
      prompt: "Record item {{ item }}"
      tools: [append_line]
      max_turns: 3
    writes: { written: "{{ output }}" }
    next: review
  review:
    kind: parallel
    branches: [summarize, approve, sign]
    join: close
  summarize:
    kind: llm
    model: scripted:replies.yaml
    prompt: "Summarize {{ state.written | length }} lines"
    writes: { summary: "{{ reply }}" }
    next: close
  approve:
    kind: human
    ask: Approve the items?
    input_schema: { type: object, properties: { ok: { type: boolean } }, required: [ok] }
    writes: { approved: "{{ input.ok }}" }
    next: close
  sign:
    kind: human
    ask: Sign the items?
    input_schema: { type: object, properties: { ok: { type: boolean } }, required: [ok] }
    writes: { signed: "{{ input.ok }}" }
    next: note
  note:
    kind: tool
    tool: append_line
    arguments: { path: effects.log, line: "signed {{ state.written | length }}" }
    writes: { noted: "{{ output }}" }
    next: close
  close:
    kind: tool
    tool: append_line
    arguments: { path: effects.log, line: "closed after {{ state.summary }}" }
    writes: { closing: "{{ output }}" }
    next: end
output:
  written: "{{ state.written }}"
  summary: "{{ state.summary }}"
  approved: "{{ state.approved }}"
  signed: "{{ state.signed }}"
  noted: "{{ state.noted }}"
  closing: "{{ state.closing }}"
"#;

const REPLIES: &str = r#"
replies:
  - match: "^Record item (\\w+)$"
    tool_calls: [{ name: append_line, arguments: { path: effects.log, line: "item $1" } }]
    delay: 1ms
  - match: "^item (\\w+)$"
    text: "recorded $1"
    delay: 1ms
  - match: "Summarize (\\d+) lines"
    text: "$1 lines written"
    delay: 2ms
"#;

/// A small deterministic generator for kill instants (xorshift64*).
struct Instants(u64);

impl Instants {
    fn next_below(&mut self, limit: Duration) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let nanos = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX).max(1);
        Duration::from_nanos(value % nanos)
    }
}

struct Case {
    folder: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("crashy.yaml"), WORKFLOW).unwrap();
        std::fs::write(folder.path().join("replies.yaml"), REPLIES).unwrap();
        Self { folder }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.folder.path().join(name)
    }

    fn spawn(&self, arguments: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_weft"))
            .args(arguments)
            .arg("--db")
            .arg(self.path("weft.db"))
            // Snapshots often, so resumes also start from them.
            .args(["--snapshot-every", "9"])
            .current_dir(self.folder.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env_remove("WEFT_MODEL")
            .spawn()
            .expect("weft starts")
    }

    /// The command that moves the run on from where its log stands.
    fn next_command(&self, run: Option<(RunId, RunStatus)>) -> Vec<String> {
        match run {
            None => vec!["run".into(), "crashy.yaml".into()],
            Some((id, RunStatus::Interrupted)) => {
                // One answer per open question, each addressed by its id.
                let mut command = vec!["resume".into(), id.to_string()];
                for question in self.open_questions(id) {
                    command.extend(["--answer".into(), format!(r#"{question}={{"ok": true}}"#)]);
                }
                command
            }
            Some((id, RunStatus::Running)) => vec!["resume".into(), id.to_string()],
            Some((id, status)) => panic!("run {id} is {status:?}, which no kill should cause"),
        }
    }

    /// The ids of the run's open questions, as `weft runs show --json` lists them.
    fn open_questions(&self, run: RunId) -> Vec<String> {
        let shown = Command::new(env!("CARGO_BIN_EXE_weft"))
            .args(["runs", "show", &run.to_string(), "--json", "--db"])
            .arg(self.path("weft.db"))
            .current_dir(self.folder.path())
            .output()
            .expect("weft runs show");
        assert!(
            shown.status.success(),
            "{}",
            String::from_utf8_lossy(&shown.stderr)
        );
        let report: Value = serde_json::from_slice(&shown.stdout).unwrap();
        let questions: Vec<String> = report["questions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|question| question["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(!questions.is_empty(), "an interrupted run has a question");
        questions
    }

    async fn run(&self) -> Option<(RunId, RunStatus)> {
        if !self.path("weft.db").exists() {
            return None;
        }
        let store = SqliteStore::open(&self.path("weft.db")).await.unwrap();
        let runs = store
            .runs(RunFilter {
                top_level_only: true,
                ..RunFilter::default()
            })
            .await
            .unwrap();
        assert!(runs.len() <= 1, "one run per case: {runs:?}");
        runs.first().map(|run| (run.id, run.status))
    }

    /// How many events the case's run has logged (0 before it exists).
    async fn events(&self) -> u64 {
        match self.run().await {
            None => 0,
            Some((id, _)) => {
                let store = SqliteStore::open(&self.path("weft.db")).await.unwrap();
                store.run(id).await.unwrap().events
            }
        }
    }

    /// What the finished run left: its output, and the effect lines by key.
    async fn outcome(&self, run: RunId) -> (Value, BTreeMap<String, Vec<String>>, Vec<String>) {
        let store = SqliteStore::open(&self.path("weft.db")).await.unwrap();
        let events = store.events(run, 0).await.unwrap();
        let mut output = Value::Null;
        let mut finished_keys = Vec::new();
        let mut children = Vec::new();
        for record in &events {
            match &record.event {
                Event::RunFinished { output: value } => output = value.clone(),
                Event::ToolCallFinished {
                    step,
                    branch,
                    turn,
                    index,
                    ..
                } => finished_keys.push(weft::core::idempotency_key(
                    run, *step, *branch, *turn, *index,
                )),
                Event::ChildStarted { run: child, .. } => children.push(*child),
                _ => {}
            }
        }
        assert!(children.is_empty());
        let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let text = std::fs::read_to_string(self.path("effects.log")).unwrap_or_default();
        for line in text.lines() {
            let (key, line) = line.split_once('\t').expect("KEY<tab>LINE");
            lines
                .entry(key.to_owned())
                .or_default()
                .push(line.to_owned());
        }
        (output, lines, finished_keys)
    }
}

/// Runs the case to the end with no kills; returns its output and how long that took.
async fn uninterrupted() -> (Value, Duration) {
    let case = Case::new();
    let started = Instant::now();
    loop {
        let run = case.run().await;
        if let Some((id, RunStatus::Finished)) = run {
            let (output, lines, finished) = case.outcome(id).await;
            assert_eq!(
                lines.len(),
                14,
                "twelve items, the signed note and the closing line: {lines:?}"
            );
            assert_eq!(finished.len(), 14);
            return (output, started.elapsed());
        }
        let command = case.next_command(run);
        let arguments: Vec<&str> = command.iter().map(String::as_str).collect();
        let status = case.spawn(&arguments).wait().unwrap();
        assert!(
            matches!(status.code(), Some(0 | 3)),
            "an uninterrupted command ends finished or interrupted: {status}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn runs_killed_at_random_instants_end_as_if_never_killed() {
    let points: usize = std::env::var("WEFT_CRASH_POINTS")
        .ok()
        .and_then(|points| points.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("WEFT_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |since| since.as_nanos() as u64)
                | 1
        });
    println!("crash test: {points} kills, WEFT_CRASH_SEED={seed}");
    let mut instants = Instants(seed);
    let (expected, duration) = uninterrupted().await;
    assert_eq!(expected["written"].as_array().map(Vec::len), Some(12));
    assert_eq!(expected["approved"], json!(true));
    assert_eq!(expected["signed"], json!(true));
    // Kill instants span a whole command, start-up included, and a bit beyond.
    let window = duration.mul_f64(0.6).max(Duration::from_millis(5));

    let mut kills = 0;
    // How many events each killed run's log held right after the kill: where kills landed.
    let mut landed: BTreeMap<u64, usize> = BTreeMap::new();
    let mut cases = 0;
    let mut resumed_after_kill = 0;
    while kills < points {
        let case = Case::new();
        cases += 1;
        let mut killed_this_case = 0;
        let id = loop {
            let run = case.run().await;
            if let Some((id, RunStatus::Finished)) = run {
                break id;
            }
            if run.is_some() && killed_this_case > 0 {
                resumed_after_kill += 1;
            }
            let command = case.next_command(run);
            let arguments: Vec<&str> = command.iter().map(String::as_str).collect();
            let mut child = case.spawn(&arguments);
            // At most a few kills per case, so every case also gets to finish.
            if killed_this_case < 4 && kills < points {
                std::thread::sleep(instants.next_below(window));
                if child.try_wait().unwrap().is_none() {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    kills += 1;
                    killed_this_case += 1;
                    *landed.entry(case.events().await).or_default() += 1;
                }
            }
            let status = child.wait().unwrap();
            if status.code().is_some() {
                assert!(
                    matches!(status.code(), Some(0 | 3)),
                    "case {cases}: `weft {}` ended with {status}",
                    arguments.join(" ")
                );
            }
        };
        let (output, lines, finished) = case.outcome(id).await;
        assert_eq!(output, expected, "case {cases}: the final state differs");
        for (key, written) in &lines {
            assert_eq!(
                written.len(),
                1,
                "case {cases}: call {key} wrote its line {} times",
                written.len()
            );
        }
        let mut finished_sorted = finished.clone();
        finished_sorted.sort();
        finished_sorted.dedup();
        assert_eq!(
            finished_sorted.len(),
            finished.len(),
            "case {cases}: a call finished twice in the log"
        );
        assert_eq!(
            lines.keys().cloned().collect::<Vec<_>>(),
            finished_sorted,
            "case {cases}: the file's calls are not the log's finished calls"
        );
        drop(case.folder);
    }
    println!("{kills} kills over {cases} runs; {resumed_after_kill} resumes after a kill");
    println!("events in the log when killed (events: kills): {landed:?}");
    assert!(resumed_after_kill > 0);
    // The kills must land all over the run, not only before it starts or after it ends.
    let inside = landed
        .iter()
        .filter(|(events, _)| **events > 0)
        .map(|(_, kills)| kills)
        .sum::<usize>();
    assert!(
        landed.len() >= 10 && inside * 4 >= kills,
        "kills landed at too few places: {landed:?}"
    );
}
