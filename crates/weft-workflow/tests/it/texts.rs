//! The texts a load keeps: every file a workflow reaches, named from its folder, and a
//! load from those texts that ignores what the files say now.

use std::path::Path;
use weft_workflow::{LoadError, Loader, content_hash};

const PARENT: &str = "name: parent\nentry: call\nnodes:\n  call: { kind: workflow, path: sub/child.yaml, next: end }\n";
const CHILD: &str =
    "name: child\nentry: say\nnodes:\n  say: { kind: llm, prompt: \"first text\", next: end }\n";
const CHILD_EDITED: &str =
    "name: child\nentry: say\nnodes:\n  say: { kind: llm, prompt: \"edited text\", next: end }\n";

#[test]
fn a_load_keeps_every_text_it_read_and_a_stored_load_ignores_the_files() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir(folder.path().join("sub")).unwrap();
    std::fs::write(folder.path().join("parent.yaml"), PARENT).unwrap();
    std::fs::write(folder.path().join("sub/child.yaml"), CHILD).unwrap();
    let parent = folder.path().join("parent.yaml");

    let workflow = Loader::new().load(&parent).unwrap();
    let texts = workflow
        .texts
        .clone()
        .expect("a top-level load keeps its texts");
    let names: Vec<&str> = texts.iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["parent.yaml", "sub/child.yaml"]);
    assert_eq!(texts.get("sub/child.yaml"), Some(CHILD));
    assert_eq!(texts.hashes()["parent.yaml"], content_hash(PARENT));

    // The child changes on disk; a load from the kept texts runs the old one, also when
    // reached by another spelling of the same path.
    std::fs::write(folder.path().join("sub/child.yaml"), CHILD_EDITED).unwrap();
    let relative_spelling = folder.path().join("sub/../parent.yaml");
    for path in [parent.as_path(), relative_spelling.as_path()] {
        let stored = Loader::new().load_stored(path, &texts).unwrap();
        let kept = stored.texts.clone().unwrap();
        assert_eq!(
            kept.get("sub/child.yaml"),
            Some(CHILD),
            "{}",
            path.display()
        );
    }
    let fresh = Loader::new().load(&parent).unwrap();
    assert_eq!(
        fresh.texts.as_ref().unwrap().get("sub/child.yaml"),
        Some(CHILD_EDITED)
    );
}

#[test]
fn a_stored_load_without_a_text_says_which() {
    let mut texts = weft_workflow::WorkflowTexts::new();
    texts.insert("parent.yaml", PARENT);
    let error = Loader::new()
        .load_stored(Path::new("/nowhere/parent.yaml"), &texts)
        .unwrap_err();
    let LoadError::Invalid { diagnostics } = &error else {
        panic!("expected a located error, got {error}");
    };
    let text = error.to_string();
    assert!(
        diagnostics[0].message.contains("have no `sub/child.yaml`"),
        "{text}"
    );
    let gone = Loader::new()
        .load_stored(Path::new("/nowhere/other.yaml"), &texts)
        .unwrap_err();
    assert!(
        matches!(&gone, LoadError::NotStored { name, .. } if name == "other.yaml"),
        "{gone}"
    );
}

#[test]
fn a_workflow_loaded_from_text_keeps_that_text() {
    let workflow = Loader::new()
        .load_source(Path::new("dir/inline.yaml"), CHILD)
        .unwrap();
    let texts = workflow.texts.clone().unwrap();
    assert_eq!(texts.get("inline.yaml"), Some(CHILD));
}
