//! Output to a reader that goes away: `weft runs events ID | head` ends quietly with status
//! 141 (what a shell reports for a process SIGPIPE ended), never with a panic.

use super::examples::root;
use std::process::{Command, Stdio};

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("weft.db");
    let ran = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args([
            "run",
            "--json",
            "workflows/counter.yaml",
            "--input",
            r#"{"limit": 40}"#,
        ])
        .current_dir(root())
        .stdin(Stdio::null())
        .env_remove("WEFT_MODEL")
        .env("WEFT_DB", &db)
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let first = String::from_utf8_lossy(&ran.stdout)
        .lines()
        .next()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .unwrap();
    let run = first["run"].as_str().unwrap().to_owned();

    // The reader's end is closed before the command has started: its first line fails.
    let mut events = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["runs", "events", &run])
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("WEFT_DB", &db)
        .spawn()
        .unwrap();
    drop(events.stdout.take());
    let ended = events.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&ended.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(ended.status.code(), Some(141), "{stderr}");
    assert!(stderr.is_empty(), "nothing to say about it: {stderr}");
}
