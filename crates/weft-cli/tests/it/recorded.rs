//! Runs turned into scripts: `weft runs export --scripted` writes a run's model replies as a
//! scripted backend's file, and the workflow run on that file does what the run did.

use super::cli::weft_with_db as weft;
use serde_json::Value;
use std::process::Output;

fn events(output: &Output) -> Vec<Value> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

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
