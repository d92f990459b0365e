//! Every kind of workflow error is reported with its line and column, all at once.

use super::{errors, load};
use std::path::Path;
use weft_workflow::{LoadError, Loader};

const HEADER: &str = "name: t\nstate:\n  count: { type: integer, reducer: add }\n  notes: { type: array, reducer: append }\n  text: { type: string }\n";

fn with_nodes(entry: &str, nodes: &str) -> String {
    format!("{HEADER}entry: {entry}\nnodes:\n{nodes}")
}

#[test]
fn a_valid_workflow_loads() {
    let workflow = load(&with_nodes(
        "a",
        "  a:\n    kind: router\n    writes: { count: 1 }\n    next:\n      - when: state.count < 3\n        to: a\n      - to: end\n",
    ));
    assert_eq!(workflow.nodes.len(), 1);
    assert_eq!(workflow.entry, "a");
}

#[test]
fn unknown_nodes_and_a_missing_entry_suggest_the_right_name() {
    let found = errors(&with_nodes(
        "strat",
        "  start:\n    kind: router\n    next: finsh\n  finish:\n    kind: end\n",
    ));
    assert_eq!(
        found,
        vec![
            "6:8: entry node `strat` does not exist [did you mean `start`?]",
            "10:11: unknown node `finsh` [did you mean `finish`?]",
        ]
    );
}

#[test]
fn unreachable_nodes_are_errors() {
    let found = errors(&with_nodes(
        "a",
        "  a:\n    kind: router\n    next: end\n  orphan:\n    kind: router\n    next: a\n",
    ));
    assert_eq!(
        found,
        vec![
            "11:3: node `orphan` is never reached from entry `a` [point a `next` at it, or remove it]"
        ]
    );
}

#[test]
fn a_when_that_does_not_compile_is_located() {
    let found = errors(&with_nodes(
        "a",
        "  a:\n    kind: router\n    next:\n      - when: \"state.count >\"\n        to: a\n      - to: end\n",
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("11:15: `when` does not compile: syntax error"),
        "{found:?}"
    );
}

#[test]
fn edges_need_a_final_default() {
    let found = errors(&with_nodes(
        "a",
        "  a:\n    kind: router\n    next:\n      - to: end\n      - when: state.count > 1\n        to: a\n",
    ));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].contains("edge 0 of node `a` has no `when`"),
        "{found:?}"
    );
    assert!(found[1].contains("need a final default edge"), "{found:?}");
}

#[test]
fn writes_to_undeclared_fields_suggest_a_declared_one() {
    let found = errors(&with_nodes(
        "a",
        "  a:\n    kind: router\n    writes: { cuont: 1 }\n    next: end\n",
    ));
    assert_eq!(
        found,
        vec!["10:15: node `a` writes to undeclared state field `cuont` [did you mean `count`?]"]
    );
}

#[test]
fn reducers_must_fit_the_field_type() {
    let source = "name: t\nstate:\n  total: { type: string, reducer: add }\n  items: { type: integer, reducer: append }\nentry: a\nnodes:\n  a: { kind: router, next: end }\n";
    let found = errors(source);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("3:35: reducer `add` does not fit field `total` of type `string`"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("4:36: reducer `append` does not fit field `items` of type `integer`"),
        "{found:?}"
    );
}

#[test]
fn literal_writes_must_fit_the_field() {
    let found = errors(&with_nodes(
        "a",
        "  a:\n    kind: router\n    writes: { count: \"many\" }\n    next: end\n",
    ));
    assert_eq!(
        found,
        vec!["10:22: the value written to `count` does not fit it: `add` needs a number"]
    );
}

#[test]
fn unknown_fields_anywhere_are_all_reported_with_suggestions() {
    let source = "name: t\nentyr: a\nentry: a\nnodes:\n  a:\n    kind: llm\n    promt: hi\n    next: b\n  b:\n    kind: router\n    nxt: end\n";
    let found = errors(source);
    assert_eq!(found.len(), 5, "{found:?}");
    assert!(
        found[0].starts_with("2:1: unknown field `entyr`"),
        "{found:?}"
    );
    assert!(found[0].ends_with("[did you mean `entry`?]"), "{found:?}");
    // The unknown keys are dropped and checking goes on, so what they hid is reported too.
    assert!(
        found[1].starts_with("5:3: llm node `a` needs a `prompt`"),
        "{found:?}"
    );
    assert!(
        found[2].starts_with("7:5: unknown field `promt` in node `a`"),
        "{found:?}"
    );
    assert!(found[2].ends_with("[did you mean `prompt`?]"), "{found:?}");
    assert!(
        found[3].starts_with("9:3: node `b` has no `next`"),
        "{found:?}"
    );
    assert!(
        found[4].starts_with("11:5: unknown field `nxt` in node `b`"),
        "{found:?}"
    );
}

#[test]
fn unknown_node_kinds_suggest_a_kind() {
    let found = errors("name: t\nentry: a\nnodes:\n  a:\n    kind: rooter\n    next: end\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("5:11: unknown node kind `rooter`"),
        "{found:?}"
    );
    assert!(found[0].ends_with("[did you mean `router`?]"), "{found:?}");
}

#[test]
fn wrong_types_are_located() {
    let found = errors(
        "name: t\nentry: a\nnodes:\n  a:\n    kind: agent\n    prompt: hi\n    max_turns: lots\n    next: end\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("7:16: `nodes.a.max_turns`: invalid type: string \"lots\""),
        "{found:?}"
    );
}

#[test]
fn malformed_yaml_is_located() {
    let found = errors("name: t\nentry: a\nnodes:\n  a: [unclosed\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("4:6: invalid YAML"), "{found:?}");
    let found = errors("- just\n- a list\n");
    assert!(found[0].contains("must be a YAML mapping"), "{found:?}");
}

#[test]
fn templates_that_do_not_compile_are_located() {
    let found = errors(
        "name: t\nentry: a\nnodes:\n  a:\n    kind: llm\n    prompt: \"{{ unclosed\"\n    next: end\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("6:13: template does not compile"),
        "{found:?}"
    );
}

#[test]
fn bad_durations_and_limits_are_errors() {
    let found = errors(
        "name: t\nentry: a\nnodes:\n  a: { kind: router, next: end, limits: { timeout: soon, max_steps: 0 } }\nlimits: { timeout: \"5\" }\n",
    );
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        found
            .iter()
            .any(|error| error.contains("`soon` is not a duration")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|error| error.contains("`max_steps` must be at least 1")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|error| error.contains("`5` has no known unit")),
        "{found:?}"
    );
}

#[test]
fn nodes_without_next_and_reserved_names_are_errors() {
    let found = errors("name: t\nentry: a\nnodes:\n  a: { kind: router }\n");
    assert_eq!(
        found,
        vec![
            "4:3: node `a` has no `next` [add `next: end` to finish the run here, or `next: <node>`]"
        ]
    );
    let found = errors("name: t\nentry: end\nnodes:\n  end: { kind: router, next: end }\n");
    assert!(found[0].contains("reserved"), "{found:?}");
}

#[test]
fn map_branches_must_be_work_nodes() {
    let found = errors(
        "name: t\nentry: m\nnodes:\n  m:\n    kind: map\n    over: state.items\n    branch: { kind: human, ask: hi }\n    next: end\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("a map branch cannot be a `human` node"),
        "{found:?}"
    );
}

#[test]
fn invalid_schemas_are_errors() {
    let found = errors(
        "name: t\nentry: a\nnodes:\n  a:\n    kind: llm\n    prompt: hi\n    output_schema: { type: 12 }\n    next: end\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("7:20: not a valid JSON Schema"),
        "{found:?}"
    );
}

#[test]
fn unknown_tools_are_rejected_when_the_tool_set_is_known() {
    let source = "name: t\nentry: a\nnodes:\n  a:\n    kind: agent\n    prompt: hi\n    tools: [ad]\n    next: end\n";
    let error = Loader::with_tools(["add".to_owned(), "echo".to_owned()])
        .load_source(Path::new("test.yaml"), source)
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("test.yaml:7:13: error: unknown tool `ad`"),
        "{text}"
    );
    assert!(text.contains("did you mean `add`?"), "{text}");
}

#[test]
fn sub_workflow_cycles_and_missing_files_are_errors() {
    let folder = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(folder.path().join(name), text).unwrap();
    write(
        "a.yaml",
        "name: a\nentry: call\nnodes:\n  call: { kind: workflow, path: b.yaml, next: end }\n",
    );
    write(
        "b.yaml",
        "name: b\nentry: call\nnodes:\n  call: { kind: workflow, path: a.yaml, next: end }\n",
    );
    write(
        "c.yaml",
        "name: c\nentry: call\nnodes:\n  call: { kind: workflow, path: missing.yaml, next: end }\n",
    );
    let error = Loader::new()
        .load(&folder.path().join("a.yaml"))
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("sub-workflow cycle: a.yaml -> b.yaml -> a.yaml"),
        "{text}"
    );
    let error = Loader::new()
        .load(&folder.path().join("c.yaml"))
        .unwrap_err();
    let LoadError::Invalid { diagnostics } = error else {
        panic!("expected diagnostics")
    };
    assert_eq!((diagnostics[0].line, diagnostics[0].column), (4, 33));
    assert!(
        diagnostics[0].message.contains("cannot read sub-workflow"),
        "{}",
        diagnostics[0].message
    );
}

#[test]
fn errors_in_a_sub_workflow_name_its_own_file() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("parent.yaml"),
        "name: p\nentry: call\nnodes:\n  call: { kind: workflow, path: child.yaml, next: end }\n",
    )
    .unwrap();
    std::fs::write(
        folder.path().join("child.yaml"),
        "name: c\nentry: a\nnodes:\n  a: { kind: router, next: nowhere }\n",
    )
    .unwrap();
    let error = Loader::new()
        .load(&folder.path().join("parent.yaml"))
        .unwrap_err();
    let diagnostics = error.diagnostics();
    assert_eq!(diagnostics.len(), 2, "{error}");
    assert!(
        diagnostics
            .iter()
            .any(|diagnostic| diagnostic.file.ends_with("child.yaml")
                && diagnostic.message.contains("unknown node `nowhere`"))
    );
    assert!(
        diagnostics
            .iter()
            .any(|diagnostic| diagnostic.file.ends_with("parent.yaml")
                && diagnostic.message.contains("has 1 error(s)"))
    );
}

#[test]
fn the_example_workflows_are_valid() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../workflows");
    let mut count = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|extension| extension == "yaml")
        {
            Loader::with_tools(
                ["add", "echo", "memory_pin", "memory_search", "read_file"].map(str::to_owned),
            )
            .load(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            count += 1;
        }
    }
    assert!(
        count >= 4,
        "expected at least four example workflows, found {count}"
    );
}
