//! Parallel branches and several open questions through the binary: the example workflow
//! asks two questions at once, each answered by its id in a process of its own, and a run
//! with three open questions (one from a sub-workflow run in a branch) ends the same
//! whichever order its answers come in, one process each.

use super::cli::weft_with_db as weft;
use super::examples::{first_run, last_event};
use std::path::Path;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_launch_example_asks_two_questions_at_once_and_takes_them_by_id() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    let started = weft(&["run", "--json", "workflows/launch.yaml"], &db);
    assert_eq!(started.status.code(), Some(3), "{}", stderr(&started));
    let run = first_run(&started);
    let shown = weft(&["runs", "show", &run], &db);
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(shown.contains("node `legal`, id `legal`"), "{shown}");
    assert!(
        shown.contains("node `marketing`, id `marketing`"),
        "{shown}"
    );
    assert!(shown.contains("--answer 'marketing=<json>'"), "{shown}");
    assert!(shown.contains(r#""required":["approve"]"#), "{shown}");

    let unaddressed = weft(&["resume", &run, "--answer", r#"{"approve": true}"#], &db);
    assert!(!unaddressed.status.success());
    assert!(
        stderr(&unaddressed).contains("the run waits on 2 questions (legal, marketing)"),
        "{}",
        stderr(&unaddressed)
    );
    let unknown = weft(
        &["resume", &run, "--answer", r#"press={"approve": true}"#],
        &db,
    );
    assert!(
        !unknown.status.success(),
        "an id that is no question's is a whole answer"
    );

    let first = weft(
        &[
            "resume",
            &run,
            "--json",
            "--answer",
            r#"marketing={"approve": true}"#,
        ],
        &db,
    );
    assert_eq!(first.status.code(), Some(3), "{}", stderr(&first));
    let last = weft(
        &[
            "resume",
            &run,
            "--json",
            "--answer",
            r#"legal={"approve": true}"#,
        ],
        &db,
    );
    let last = last_event(&last);
    assert_eq!(last["event"]["type"], "run_finished", "{last}");
    assert_eq!(last["event"]["output"]["price"], "49 EUR");
    assert_eq!(
        last["event"]["output"]["announced"],
        "Polished: Meet the desk lamp: light where you need it."
    );

    let graph = weft(&["graph", "workflows/launch.yaml"], &db);
    let graph = String::from_utf8_lossy(&graph.stdout).into_owned();
    assert!(graph.contains("n_prepare ==> n_write"), "{graph}");
    assert!(
        graph.contains("n_prepare ==>|\"state.ask_marketing\"| n_marketing"),
        "{graph}"
    );
    assert!(graph.contains("n_prepare -.->|join| n_decide"), "{graph}");
    assert!(graph.contains("joins prepare"), "{graph}");
}

const THREE: &str = r#"
name: three
model: scripted:replies.yaml
state:
  legal: { type: any }
  marketing: { type: any }
  price: { type: any }
  draft: { type: string }
entry: split
nodes:
  split: { kind: parallel, branches: [legal, marketing, price, write], join: done }
  legal: { kind: human, ask: Legal?, writes: { legal: "{{ input }}" }, next: done }
  marketing: { kind: human, ask: Marketing?, writes: { marketing: "{{ input }}" }, next: done }
  price: { kind: workflow, path: confirm.yaml, writes: { price: "{{ output.answer }}" }, next: done }
  write: { kind: llm, prompt: Draft it, writes: { draft: "{{ reply }}" }, next: done }
  done: { kind: router, next: end }
output:
  legal: "{{ state.legal }}"
  marketing: "{{ state.marketing }}"
  price: "{{ state.price }}"
  draft: "{{ state.draft }}"
"#;

const CONFIRM: &str = r#"
name: confirm
state:
  answer: { type: any }
entry: confirm
nodes:
  confirm:
    kind: human
    ask: Is 49 EUR right?
    input_schema: { type: object, required: [price] }
    writes: { answer: "{{ input }}" }
    next: end
"#;

fn answer(id: &str) -> String {
    match id {
        "price/confirm" => format!(r#"{id}={{"price": 49}}"#),
        other => format!(r#"{other}={{"from": "{other}"}}"#),
    }
}

#[test]
fn three_questions_answered_in_any_order_across_processes_end_as_if_answered_at_once() {
    let folder = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(folder.path().join(name), text).unwrap();
    write("three.yaml", THREE);
    write("confirm.yaml", CONFIRM);
    write("replies.yaml", "replies:\n  - text: A draft.\n");
    let workflow = folder.path().join("three.yaml").display().to_string();
    let ids = ["legal", "marketing", "price/confirm"];
    let db = folder.path().join("at-once.db");
    let mut arguments = vec!["run".to_owned(), "--json".to_owned(), workflow.clone()];
    for id in ids {
        arguments.extend(["--answer".to_owned(), answer(id)]);
    }
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    let at_once = last_event(&weft(&arguments, &db));
    assert_eq!(at_once["event"]["type"], "run_finished", "{at_once}");
    let expected = at_once["event"]["output"].clone();
    assert_eq!(expected["price"], serde_json::json!({"price": 49}));

    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for (index, order) in orders.into_iter().enumerate() {
        let db = folder.path().join(format!("order-{index}.db"));
        let started = weft(&["run", "--json", &workflow], &db);
        assert_eq!(started.status.code(), Some(3), "{}", stderr(&started));
        let run = first_run(&started);
        let open = open_ids(&run, &db);
        assert_eq!(open, ids, "all three are open at once");
        let mut last = None;
        for position in order {
            let output = weft(
                &["resume", &run, "--json", "--answer", &answer(ids[position])],
                &db,
            );
            last = Some(output);
        }
        let finished = last_event(&last.unwrap());
        assert_eq!(
            finished["event"]["type"], "run_finished",
            "order {order:?}: {finished}"
        );
        assert_eq!(finished["event"]["output"], expected, "order {order:?}");
    }
}

/// The ids of the open questions, as `runs show --json` lists them.
fn open_ids(run: &str, db: &Path) -> Vec<String> {
    let shown = weft(&["runs", "show", run, "--json"], db);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let report: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    report["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|question| question["id"].as_str().unwrap().to_owned())
        .collect()
}
