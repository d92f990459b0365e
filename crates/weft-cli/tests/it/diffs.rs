//! `weft workflows diff RUN FILE`: what a changed workflow would change for a run that
//! started on the old text, and whether the run could move onto it.

use super::cli::weft_with_db as weft;
use super::examples::{copy_examples, edit_file, first_run, last_event};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A run of approval.yaml that waits at `review`.
fn waiting_approval(db: &Path) -> String {
    let output = weft(&["run", "--json", "workflows/approval.yaml"], db);
    assert_eq!(output.status.code(), Some(3), "it waits for an answer");
    first_run(&output)
}

#[test]
fn edits_the_waiting_run_has_not_reached_let_it_move() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    let run = waiting_approval(&db);
    let file = copy_examples(
        folder.path(),
        &["approval.yaml", "replies/approval.yaml"],
        |_, text| {
            // The replies file has neither text: only the workflow changes.
            text.replace("Write a short announcement", "Write a brief announcement")
                .replace("      revisions: \"{{ state.revisions }}\"\n", "      revisions: \"{{ state.revisions }}\"\n      topic: \"{{ state.topic }}\"\n")
        },
    );
    let output = weft(&["workflows", "diff", &run, &file], &db);
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("node `write`: changed: prompt (the run went through it)"),
        "{said}"
    );
    assert!(
        said.contains("node `publish`: changed: output (not reached yet)"),
        "{said}"
    );
    assert!(
        said.contains(&format!("run {run} could move onto")),
        "{said}"
    );
}

#[test]
fn a_waiting_node_of_another_kind_keeps_the_run_where_it_is() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    let run = waiting_approval(&db);
    let file = copy_examples(
        folder.path(),
        &["approval.yaml", "replies/approval.yaml"],
        |name, text| {
            if name != "approval.yaml" {
                return text.to_owned();
            }
            let start = text.find("  review:\n").unwrap();
            let end = text.find("  revise:\n").unwrap();
            let review = "  review:\n    kind: llm\n    prompt: \"Publish this draft? {{ state.draft }}\"\n    writes: { approved: \"{{ reply == 'yes' }}\" }\n    next:\n      - when: \"state.approved\"\n        to: publish\n      - to: revise\n";
            format!("{}{review}{}", &text[..start], &text[end..])
        },
    );
    let output = weft(&["workflows", "diff", &run, &file], &db);
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("! node `review`: kind human -> llm (the run waits here)"),
        "{said}"
    );
    assert!(said.contains("cannot move onto"), "{said}");
    assert!(said.ends_with("`review`\n"), "{said}");
}

#[test]
fn sub_workflow_runs_are_compared_with_their_new_files() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    let output = weft(&["run", "--json", "workflows/research.yaml"], &db);
    assert!(output.status.success());
    let run = first_run(&output);
    let file = copy_examples(
        folder.path(),
        &[
            "research.yaml",
            "lib/polish.yaml",
            "replies/research.yaml",
            "replies/polish.yaml",
        ],
        |name, text| {
            if name == "lib/polish.yaml" {
                text.replace(
                    "writes: { text: \"{{ output.text }}\" }",
                    "writes: { text: \"{{ output.text }}!\" }",
                )
            } else {
                text.to_owned()
            }
        },
    );
    let output = weft(&["workflows", "diff", &run, &file, "--json"], &db);
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["movable"], false, "{report}");
    let workflows = report["workflows"].as_array().unwrap();
    assert_eq!(workflows.len(), 2, "{report}");
    assert_eq!(workflows[0]["workflow"], "research");
    assert_eq!(workflows[0]["changes"], serde_json::json!([]));
    assert_eq!(workflows[1]["workflow"], "polish");
    assert_eq!(workflows[1]["place"], serde_json::json!([[2, null]]));
    let change = &workflows[1]["changes"][0];
    assert_eq!(change["node"], "rewrite");
    assert_eq!(change["change"], "reshaped");
    assert_eq!(change["touch"], "visited");
    assert_eq!(change["fields"], serde_json::json!(["writes"]));
}

/// Runs the copy of approval.yaml in `folder` until it waits at `review`; the run's id.
fn waiting_copy(folder: &Path, db: &Path) -> (String, PathBuf) {
    let file = copy_examples(
        folder,
        &["approval.yaml", "replies/approval.yaml"],
        |_, text| text.to_owned(),
    );
    let output = weft(&["run", "--json", &file], db);
    assert_eq!(output.status.code(), Some(3), "it waits for an answer");
    (first_run(&output), PathBuf::from(file))
}

#[test]
fn an_upgraded_run_goes_on_with_the_new_text_from_then_on() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    let (run, file) = waiting_copy(folder.path(), &db);
    // Nodes the run has not reached: a new node after `revise` that retitles the topic,
    // and a field in the end node's output.
    edit_file(&file, |text| {
        text.replace(
            "    writes: { revisions: 1 }\n    next: write\n",
            "    writes: { revisions: 1 }\n    next: retitle\n  retitle:\n    kind: router\n    writes: { topic: \"the relaunch\" }\n    next: write\n",
        )
        .replace(
            "      revisions: \"{{ state.revisions }}\"\n",
            "      revisions: \"{{ state.revisions }}\"\n      topic: \"{{ state.topic }}\"\n",
        )
    });

    // With --upgrade the first answer already runs on the new file: "revise" goes through
    // the new node, back to the question...
    let revised = weft(
        &[
            "resume",
            &run,
            "--json",
            "--upgrade",
            "--answer",
            r#"{"approve": false}"#,
        ],
        &db,
    );
    assert_eq!(
        revised.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&revised.stderr)
    );
    assert!(String::from_utf8_lossy(&revised.stderr).contains("moves onto"));
    let events = weft(&["runs", "events", &run, "--json"], &db);
    let upgraded = String::from_utf8_lossy(&events.stdout)
        .lines()
        .filter(|line| line.contains("\"workflow_upgraded\""))
        .count();
    assert_eq!(upgraded, 1, "the move is recorded once");

    // ...and a later resume without the flag goes on with it too.
    let approved = weft(
        &["resume", &run, "--json", "--answer", r#"{"approve": true}"#],
        &db,
    );
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let last = last_event(&approved);
    assert_eq!(last["event"]["type"], "run_finished", "{last}");
    assert_eq!(last["event"]["output"]["topic"], "the relaunch", "{last}");
    assert_eq!(
        last["event"]["output"]["published"], "Draft 1: we are proud to announce the relaunch.",
        "{last}"
    );
    assert_eq!(last["event"]["output"]["revisions"], 1, "{last}");
}

#[test]
fn an_upgrade_that_changes_the_waiting_node_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    let (run, file) = waiting_copy(folder.path(), &db);
    // The question's answer is written elsewhere: the waiting node's writes changed.
    edit_file(&file, |text| {
        text.replace(
            "writes: { approved: \"{{ input.approve }}\" }",
            "writes: { approved: \"{{ input.approve }}\", topic: \"{{ input.note }}\" }",
        )
    });
    let refused = weft(
        &[
            "resume",
            &run,
            "--upgrade",
            "--answer",
            r#"{"approve": true}"#,
        ],
        &db,
    );
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("cannot move onto"), "{said}");
    assert!(said.contains("(`review`)"), "{said}");
    assert!(
        said.contains(&format!("weft workflows diff {run}")),
        "{said}"
    );
    // Nothing was recorded: the run still waits, on its own text.
    let shown = weft(&["runs", "show", &run, "--json"], &db);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["status"], "interrupted", "{shown}");
    let resumed = weft(
        &["resume", &run, "--json", "--answer", r#"{"approve": true}"#],
        &db,
    );
    assert!(resumed.status.success());
    assert!(
        last_event(&resumed)["event"]["output"]
            .get("topic")
            .is_none()
    );
}
