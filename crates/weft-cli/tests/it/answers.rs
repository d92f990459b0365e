//! `--answer QID=ANSWER`: an answer addressed to the open question with that id (the node
//! that asks); text whose prefix is no open question's id stays a whole answer.

use super::cli::weft_with_db as weft;
use super::examples::last_event;

#[test]
fn answers_addressed_by_question_id_answer_that_question() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    let output = weft(
        &[
            "run",
            "--json",
            "workflows/approval.yaml",
            "--answer",
            r#"review={"approve": false, "note": "warmer"}"#,
            "--answer",
            r#"review=@-not-a-file-but-never-read"#,
        ],
        &db,
    );
    // The second answer names the question but its file cannot be read: the run stops
    // there, waiting, and says why.
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        said.contains("error: the answer for `review`: cannot read"),
        "{said}"
    );
    let run = last_event(&output)["run"].as_str().unwrap().to_owned();

    let shown = weft(&["runs", "show", &run], &db);
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(shown.contains("node `review`, id `review`"), "{shown}");

    let approved = weft(
        &[
            "resume",
            &run,
            "--json",
            "--answer",
            r#"review={"approve": true}"#,
        ],
        &db,
    );
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let last = last_event(&approved);
    assert_eq!(last["event"]["type"], "run_finished", "{last}");
    assert_eq!(last["event"]["output"]["revisions"], 1);
}

#[test]
fn a_prefix_that_is_no_question_keeps_the_text_whole() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("runs.db");
    let output = weft(
        &[
            "run",
            "--json",
            "workflows/approval.yaml",
            "--answer",
            r#"elsewhere={"approve": true}"#,
        ],
        &db,
    );
    // The whole text is the answer, a string, which the question's schema refuses.
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        said.contains(r#""elsewhere={\"approve\": true}" is not of type "object""#),
        "{said}"
    );
    let resumed = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains("\"resumed\""))
        .count();
    assert_eq!(resumed, 0, "nothing was answered");
}
