//! What changed between two versions of a workflow, for a run of the first: each node that
//! was added, removed, reshaped (its kind, writes or edges) or edited otherwise (a prompt,
//! a model, a tool list), and whether the run has been through it or waits at it. A run
//! can move onto the new version when no node it visited or waits at was removed or
//! reshaped: what it did still means the same, and what it does next is the new file's.

use crate::workflow::Workflow;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;

/// The parts of a node that decide what a run did there: its kind, its state writes, its
/// edges (a parallel node's branches and join among them). A change to one of them in a node the run went through makes its log mean
/// something else.
const SHAPE: [&str; 5] = ["kind", "writes", "next", "branches", "join"];

/// How a node changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only the new version has it.
    Added,
    /// Only the old version has it.
    Removed,
    /// Its kind, writes or edges changed.
    Reshaped,
    /// Something else changed (a prompt, a model, its tools, its limits).
    Edited,
}

/// Where a run stands with a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Touch {
    /// The run has not been there.
    Ahead,
    /// The run went through it.
    Visited,
    /// The run waits there.
    Waiting,
}

/// One node that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeChange {
    /// The node.
    pub node: String,
    /// How it changed.
    pub change: Change,
    /// Where the run stands with it.
    pub touch: Touch,
    /// The node's fields that differ (`kind`, `prompt`, ...).
    pub fields: Vec<String>,
    /// The kind before and after, when it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<(String, String)>,
}

impl NodeChange {
    /// Whether this change keeps the run from moving onto the new version.
    pub fn blocks(&self) -> bool {
        self.touch != Touch::Ahead && matches!(self.change, Change::Removed | Change::Reshaped)
    }
}

/// The nodes of `old` and `new` that differ, in `old`'s order then the added ones, with
/// where a run that `visited` those nodes (and waits at `waiting`) stands with each.
pub fn node_changes(
    old: &Workflow,
    new: &Workflow,
    visited: &BTreeSet<String>,
    waiting: &BTreeSet<String>,
) -> Vec<NodeChange> {
    let touch = |node: &str| {
        if waiting.contains(node) {
            Touch::Waiting
        } else if visited.contains(node) {
            Touch::Visited
        } else {
            Touch::Ahead
        }
    };
    let mut changes = Vec::new();
    for (name, before) in &old.spec.nodes {
        let before = spec_value(before);
        let Some(after) = new.spec.nodes.get(name) else {
            changes.push(NodeChange {
                node: name.clone(),
                change: Change::Removed,
                touch: touch(name),
                fields: Vec::new(),
                kinds: None,
            });
            continue;
        };
        let after = spec_value(after);
        let fields = differing_fields(&before, &after);
        if fields.is_empty() {
            continue;
        }
        let reshaped = fields.iter().any(|field| SHAPE.contains(&field.as_str()));
        let kinds = fields
            .iter()
            .any(|field| field == "kind")
            .then(|| (kind_of(&before).to_owned(), kind_of(&after).to_owned()));
        changes.push(NodeChange {
            node: name.clone(),
            change: if reshaped {
                Change::Reshaped
            } else {
                Change::Edited
            },
            touch: touch(name),
            fields,
            kinds,
        });
    }
    for name in new.spec.nodes.keys() {
        if !old.spec.nodes.contains_key(name) {
            changes.push(NodeChange {
                node: name.clone(),
                change: Change::Added,
                touch: touch(name),
                fields: Vec::new(),
                kinds: None,
            });
        }
    }
    changes
}

/// The workflow's own fields (not its nodes) that differ: `output`, `state`, `model`,
/// `limits`... None of them is what a run did at a node, so none keeps a run from moving;
/// they are named so that a move is not mistaken for nothing.
pub fn workflow_changes(old: &Workflow, new: &Workflow) -> Vec<String> {
    let mut before = spec_value(&old.spec);
    let mut after = spec_value(&new.spec);
    for spec in [&mut before, &mut after] {
        if let Some(fields) = spec.as_object_mut() {
            fields.remove("nodes");
        }
    }
    differing_fields(&before, &after)
}

fn spec_value(node: &impl Serialize) -> Value {
    serde_json::to_value(node).unwrap_or(Value::Null)
}

fn kind_of(node: &Value) -> &str {
    node["kind"].as_str().unwrap_or("?")
}

/// The top-level fields of two node specs that differ, in name order.
fn differing_fields(before: &Value, after: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Change, Touch, node_changes};
    use crate::Loader;
    use std::collections::BTreeSet;
    use std::path::Path;

    const OLD: &str = r#"
name: review
state:
  draft: { type: string }
  approved: { type: boolean }
entry: write
nodes:
  write:
    kind: llm
    model: scripted:replies.yaml
    prompt: "Write about {{ state.draft }}"
    writes: { draft: "{{ reply }}" }
    next: approve
  approve:
    kind: human
    ask: "Publish it?"
    input_schema: { type: boolean }
    writes: { approved: "{{ input }}" }
    next: publish
  publish:
    kind: tool
    tool: echo
    arguments: { text: "{{ state.draft }}" }
    next: end
"#;

    fn load(text: &str) -> std::sync::Arc<crate::Workflow> {
        let loader = Loader::with_tools(vec!["echo".to_owned()]);
        loader
            .load_source(Path::new("review.yaml"), text)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    fn waiting_at(node: &str) -> BTreeSet<String> {
        BTreeSet::from([node.to_owned()])
    }

    fn visited() -> BTreeSet<String> {
        BTreeSet::from(["write".to_owned(), "approve".to_owned()])
    }

    /// `OLD` with a node `check` between `from` and the node it went to.
    fn with_check_after(from: &str, to: &str) -> String {
        let edge = format!("    next: {to}\n");
        let position = OLD.find(&format!("  {from}:\n")).unwrap();
        let at = position + OLD[position..].find(&edge).unwrap();
        let mut text = OLD.to_owned();
        text.replace_range(at..at + edge.len(), "    next: check\n");
        text.push_str(&format!(
            "  check:\n    kind: tool\n    tool: echo\n    arguments: {{ text: checked }}\n    next: {to}\n"
        ));
        text
    }

    fn summary(changes: &[super::NodeChange]) -> Vec<(&str, Change, Touch, bool)> {
        changes
            .iter()
            .map(|change| {
                (
                    change.node.as_str(),
                    change.change,
                    change.touch,
                    change.blocks(),
                )
            })
            .collect()
    }

    #[test]
    fn a_node_after_the_waiting_one_does_not_block() {
        let new = with_check_after("publish", "end");
        let changes = node_changes(&load(OLD), &load(&new), &visited(), &waiting_at("approve"));
        assert_eq!(
            summary(&changes),
            [
                ("publish", Change::Reshaped, Touch::Ahead, false),
                ("check", Change::Added, Touch::Ahead, false)
            ]
        );
    }

    #[test]
    fn the_edges_of_the_waiting_node_are_part_of_what_it_does() {
        let new = with_check_after("approve", "publish");
        let changes = node_changes(&load(OLD), &load(&new), &visited(), &waiting_at("approve"));
        assert_eq!(
            summary(&changes),
            [
                ("approve", Change::Reshaped, Touch::Waiting, true),
                ("check", Change::Added, Touch::Ahead, false)
            ]
        );
        assert_eq!(changes[0].fields, ["next"]);
    }

    #[test]
    fn prompts_may_change_but_kinds_may_not() {
        let edited = OLD.replace("Write about", "Write briefly about");
        let changes = node_changes(
            &load(OLD),
            &load(&edited),
            &visited(),
            &waiting_at("approve"),
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].change, Change::Edited);
        assert_eq!(changes[0].fields, ["prompt"]);
        assert!(!changes[0].blocks());

        let rekinded = OLD.replace(
            "    kind: human\n    ask: \"Publish it?\"\n    input_schema: { type: boolean }\n",
            "    kind: llm\n    model: scripted:replies.yaml\n    prompt: \"Publish it?\"\n",
        );
        let rekinded = rekinded.replace("{{ input }}", "{{ reply == 'yes' }}");
        let changes = node_changes(
            &load(OLD),
            &load(&rekinded),
            &visited(),
            &waiting_at("approve"),
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].change, Change::Reshaped);
        assert_eq!(
            changes[0].kinds,
            Some(("human".to_owned(), "llm".to_owned()))
        );
        assert!(changes[0].blocks());
    }

    #[test]
    fn the_workflows_own_fields_are_named() {
        let edited = OLD.replace(
            "entry: write",
            "output: \"{{ state.draft }}\"\nentry: write",
        );
        assert!(
            node_changes(
                &load(OLD),
                &load(&edited),
                &visited(),
                &waiting_at("approve")
            )
            .is_empty()
        );
        assert_eq!(
            super::workflow_changes(&load(OLD), &load(&edited)),
            ["output"]
        );
        assert!(super::workflow_changes(&load(OLD), &load(OLD)).is_empty());
    }

    #[test]
    fn nodes_ahead_may_change_at_will() {
        let edited = OLD.replace(
            "    arguments: { text: \"{{ state.draft }}\" }\n",
            "    arguments: { text: done }\n",
        );
        let changes = node_changes(
            &load(OLD),
            &load(&edited),
            &visited(),
            &waiting_at("approve"),
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].change, changes[0].touch),
            (Change::Edited, Touch::Ahead)
        );
        assert!(!changes[0].blocks());
    }
}
