//! Helpers for the tests that run the example workflows (or copies of them, edited) and
//! then work on their runs.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The repository's root, where the example workflows are.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The events a `--json` command printed, after checking that it succeeded.
pub(crate) fn events(output: &Output) -> Vec<Value> {
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

/// The run of the first event a `--json` command printed, however it ended.
pub(crate) fn first_run(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    first["run"].as_str().unwrap().to_owned()
}

/// The last event a `--json` command printed.
pub(crate) fn last_event(output: &Output) -> Value {
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

/// Copies `files` of the examples folder into `folder`, editing each with `edit` (given
/// the file's name and text); the path of the first.
pub(crate) fn copy_examples(
    folder: &Path,
    files: &[&str],
    edit: impl Fn(&str, &str) -> String,
) -> String {
    for file in files {
        let text = std::fs::read_to_string(root().join("workflows").join(file)).unwrap();
        let target = folder.join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, edit(file, &text)).unwrap();
    }
    folder.join(files[0]).display().to_string()
}

/// Rewrites `file` with `edit`, checking that the edit changes it.
pub(crate) fn edit_file(file: &Path, edit: impl Fn(&str) -> String) {
    let text = std::fs::read_to_string(file).unwrap();
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit changes {}", file.display());
    std::fs::write(file, edited).unwrap();
}
