//! Runs turned into scripts: `weft runs export --scripted` writes a run's model replies as a
//! scripted backend's file, and the workflow run on that file does what the run did.

use super::cli::weft_with_db as weft;
use super::examples::{copy_examples, edit_file, events};
use serde_json::Value;
use std::process::Output;

/// The events of one run, by type and the fields that say what happened (no ids or times).
fn what_happened(events: &[Value], run: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|event| event["run"] == run)
        .map(|event| {
            let mut event = event["event"].clone();
            if let Some(fields) = event.as_object_mut() {
                for varying in ["run", "at_millis", "answered_by", "duration_ms", "setup"] {
                    fields.remove(varying);
                }
            }
            event
        })
        .collect()
}

#[test]
fn an_exported_run_runs_again_from_its_script() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    let first = events(&weft(&["run", "--json", "workflows/research.yaml"], &db));
    let run = first[0]["run"].as_str().unwrap().to_owned();
    let script = folder.path().join("research-replies.yaml");
    let script_text = script.display().to_string();
    let exported = weft(&["runs", "export", &run, "--scripted", &script_text], &db);
    let said = String::from_utf8_lossy(&exported.stderr).into_owned();
    assert!(exported.status.success(), "{said}");
    // The parent's replies and the sub-workflow's, which `--model` reaches too.
    let replies = first
        .iter()
        .filter(|event| event["event"]["type"] == "model_replied")
        .count();
    assert!(
        replies >= 3,
        "the agent answers after its tool calls, then the polish"
    );
    assert!(
        said.contains(&format!("wrote {replies} model replies of run {run}")),
        "{said}"
    );
    let text = std::fs::read_to_string(&script).unwrap();
    assert_eq!(text.matches("\n  - text:").count(), replies, "{text}");

    let model = format!("scripted:{script_text}");
    let again = events(&weft(
        &[
            "run",
            "--json",
            "workflows/research.yaml",
            "--model",
            &model,
        ],
        &db,
    ));
    let second = again[0]["run"].as_str().unwrap().to_owned();
    assert_ne!(run, second);
    // The scripted model names the file it read in no event: the runs differ only in ids.
    let (before, after) = (what_happened(&first, &run), what_happened(&again, &second));
    // Child run ids differ; everything else is the same.
    let without_children = |events: Vec<Value>| -> Vec<Value> {
        events
            .into_iter()
            .filter(|event| !event["type"].as_str().unwrap().starts_with("child_"))
            .collect()
    };
    assert_eq!(without_children(before), without_children(after));
}

#[test]
fn an_export_does_not_replace_a_file_unless_told_to() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    let first = events(&weft(&["run", "--json", "workflows/counter.yaml"], &db));
    let run = first[0]["run"].as_str().unwrap().to_owned();
    let script = folder.path().join("kept.yaml");
    std::fs::write(&script, "hand-written\n").unwrap();
    let path = script.display().to_string();
    let refused = weft(&["runs", "export", &run, "--scripted", &path], &db);
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("pass --force to replace it"), "{said}");
    assert_eq!(std::fs::read_to_string(&script).unwrap(), "hand-written\n");

    let replaced = weft(
        &["runs", "export", &run, "--scripted", &path, "--force"],
        &db,
    );
    assert!(replaced.status.success());
    assert!(
        std::fs::read_to_string(&script)
            .unwrap()
            .contains("replies:")
    );

    let unknown = weft(
        &[
            "runs",
            "export",
            "0190d6c4-0000-7000-8000-000000000000",
            "--scripted",
            &path,
            "--force",
        ],
        &db,
    );
    assert_eq!(unknown.status.code(), Some(2));
}

/// `workflows/research.yaml` and what it needs, copied into `folder` with `edit` applied to
/// the workflow's text; the copy's path.
fn edited_research(folder: &std::path::Path, edit: impl Fn(&str) -> String) -> String {
    let file = copy_examples(
        folder,
        &[
            "research.yaml",
            "lib/polish.yaml",
            "replies/polish.yaml",
            "replies/research.yaml",
        ],
        |_, text| text.to_owned(),
    );
    edit_file(std::path::Path::new(&file), edit);
    file
}

#[test]
fn a_replay_on_the_same_text_does_not_diverge() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    let first = events(&weft(&["run", "--json", "workflows/research.yaml"], &db));
    let run = first[0]["run"].as_str().unwrap().to_owned();
    let replayed = weft(&["runs", "replay", &run], &db);
    let said = String::from_utf8_lossy(&replayed.stdout).into_owned();
    assert!(
        replayed.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    // Two steps of the run and one of its sub-workflow; four model calls (the agent's
    // three turns and the polish); two tool calls.
    assert!(
        said.contains("3 steps, 4 model calls, 2 tool calls"),
        "{said}"
    );
    assert!(said.contains("no divergence"), "{said}");
    // Nothing was added to the database: replays run in memory.
    let listed = weft(&["runs", "list", "--json", "--all"], &db);
    let runs: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs}");
}

#[test]
fn a_replay_finds_a_changed_prompt_and_a_changed_route() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    let first = events(&weft(&["run", "--json", "workflows/research.yaml"], &db));
    let run = first[0]["run"].as_str().unwrap().to_owned();

    let prompt = edited_research(&folder.path().join("prompt"), |text| {
        text.replace("Use the tools for arithmetic.", "Use the tools for sums.")
    });
    let replayed = weft(
        &["runs", "replay", &run, "--workflow", &prompt, "--json"],
        &db,
    );
    assert_eq!(
        replayed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let report: Value = serde_json::from_slice(&replayed.stdout).unwrap();
    let divergence = &report["divergence"];
    assert_eq!(divergence["kind"], "prompt", "{report}");
    assert_eq!(divergence["step"], 1);
    assert_eq!(divergence["node"], "investigate");
    let detail = divergence["detail"].as_str().unwrap();
    assert!(detail.contains("message 0 (system)"), "{detail}");
    assert!(detail.contains("Use the tools for sums."), "{detail}");

    // A node between the agent and the polish.
    let route = edited_research(&folder.path().join("route"), |text| {
        text.replacen("    next: polish\n", "    next: check\n", 1).replace(
            "  polish:\n",
            "  check:\n    kind: tool\n    tool: echo\n    arguments: { text: \"{{ state.notes | last }}\" }\n    next: polish\n  polish:\n",
        )
    });
    let replayed = weft(&["runs", "replay", &run, "--workflow", &route], &db);
    assert_eq!(replayed.status.code(), Some(1));
    let said = String::from_utf8_lossy(&replayed.stdout);
    assert!(
        said.contains("diverges at step 2 (node `polish`): another route: node `check` runs instead of `polish`"),
        "{said}"
    );
}

/// The id of the run a `weft run --json` printed, after checking that it finished.
fn finished_run(output: &Output) -> String {
    let printed = events(output);
    let last = printed.last().unwrap();
    assert_eq!(last["event"]["type"], "run_finished", "{last}");
    printed[0]["run"].as_str().unwrap().to_owned()
}

#[test]
fn map_branches_and_answered_questions_replay_without_divergence() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    // Map branches call the model at once, in any order: keyed by branch, they replay.
    let mapped = finished_run(&weft(&["run", "--json", "workflows/summarize.yaml"], &db));
    // Two questions, answered: the replay answers them as the run was answered.
    let answered = finished_run(&weft(
        &[
            "run",
            "--json",
            "workflows/approval.yaml",
            "--answer",
            r#"{"approve": false, "note": "warmer"}"#,
            "--answer",
            r#"{"approve": true}"#,
        ],
        &db,
    ));
    for (run, counts) in [
        (mapped, "2 steps, 5 model calls, 1 tool calls"),
        (answered, "6 steps, 2 model calls, 0 tool calls"),
    ] {
        let replayed = weft(&["runs", "replay", &run], &db);
        let said = String::from_utf8_lossy(&replayed.stdout).into_owned();
        assert!(replayed.status.success(), "{said}");
        assert!(said.contains(counts), "{said}");
        assert!(said.contains("no divergence"), "{said}");
    }
}

#[test]
fn a_replay_finds_a_changed_tool_call() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    let run = finished_run(&weft(&["run", "--json", "workflows/summarize.yaml"], &db));
    let path = copy_examples(
        folder.path(),
        &["summarize.yaml", "replies/summarize.yaml"],
        |_, text| text.to_owned(),
    );
    edit_file(std::path::Path::new(&path), |text| {
        text.replace("summaries of {{", "summaries, {{")
    });
    let replayed = weft(
        &["runs", "replay", &run, "--workflow", &path, "--json"],
        &db,
    );
    assert_eq!(replayed.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&replayed.stdout).unwrap();
    let divergence = &report["divergence"];
    assert_eq!(divergence["kind"], "tool_call", "{report}");
    assert_eq!(divergence["step"], 2);
    assert_eq!(divergence["node"], "format");
    assert_eq!(divergence["expected"]["name"], "echo");
    let found = divergence["found"]["arguments"]["text"].as_str().unwrap();
    assert!(found.starts_with("5 summaries, 257 characters:"), "{found}");
}

const CHAINS: &str = r#"
name: chains
model: scripted:replies.yaml
state:
  slow: { type: string }
  fast: { type: string }
  echoed: { type: any }
  legal: { type: any }
  brand: { type: any }
entry: split
nodes:
  split: { kind: parallel, branches: [slow, fast, legal, brand], join: done }
  slow: { kind: llm, prompt: Slow start, writes: { slow: "{{ reply }}" }, next: after_slow }
  after_slow:
    kind: tool
    tool: echo
    arguments: { text: "{{ state.slow }}" }
    writes: { echoed: "{{ output }}" }
    next: done
  fast: { kind: llm, prompt: Fast start, writes: { fast: "{{ reply }}" }, next: after_fast }
  after_fast: { kind: llm, prompt: "After {{ state.fast }}", writes: { fast: "{{ reply }}" }, next: done }
  legal: { kind: human, ask: Legal?, writes: { legal: "{{ input }}" }, next: done }
  brand: { kind: human, ask: Brand?, writes: { brand: "{{ input }}" }, next: done }
  done: { kind: router, next: end }
"#;

const CHAIN_REPLIES: &str = r#"
replies:
  - match: "^Slow start$"
    text: slow reply
    delay: 300ms
  - match: "^Fast start$"
    text: fast reply
  - match: "^After (.*)$"
    text: "after $1"
"#;

/// Branch steps are numbered as they start, so the original (the fast branch's second step
/// started before the slow branch's) and the replay (both replies at once) number them
/// differently: the replay still gives each step its own reply and result, and answers the
/// two questions by their ids.
#[test]
fn parallel_chains_that_finished_out_of_order_replay_as_they_ran() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("chains.yaml"), CHAINS).unwrap();
    std::fs::write(folder.path().join("replies.yaml"), CHAIN_REPLIES).unwrap();
    let workflow = folder.path().join("chains.yaml").display().to_string();
    let db = folder.path().join("runs.db");
    let run = finished_run(&weft(
        &[
            "run",
            "--json",
            &workflow,
            "--answer",
            r#"brand={"ok": 2}"#,
            "--answer",
            r#"legal={"ok": 1}"#,
        ],
        &db,
    ));
    let shown = weft(&["runs", "events", &run, "--json"], &db);
    let starts: Vec<String> = String::from_utf8_lossy(&shown.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record["event"]["type"] == "step_started")
        .map(|record| record["event"]["node"].as_str().unwrap().to_owned())
        .collect();
    let position = |node: &str| starts.iter().position(|start| start == node).unwrap();
    assert!(
        position("after_fast") < position("after_slow"),
        "the fast branch went on first: {starts:?}"
    );
    let replayed = weft(&["runs", "replay", &run, "--json"], &db);
    let report: Value = serde_json::from_slice(&replayed.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&replayed.stderr)));
    assert!(replayed.status.success(), "{report}");
    assert_eq!(report["steps"], starts.len(), "{report}");
    assert_eq!(report["tool_calls"], 1, "{report}");
    assert!(report["divergence"].is_null(), "{report}");
}
