//! The Mermaid flowchart of a workflow, for `weft graph`.

use crate::workflow::{Activity, END, NodeBody, Transition, Workflow};
use std::fmt::Write;

/// Renders `workflow` as a Mermaid `flowchart TD`.
pub fn mermaid(workflow: &Workflow) -> String {
    let mut text = String::from("flowchart TD\n");
    let _ = writeln!(
        text,
        "    __start__([start]) --> {}",
        node_id(&workflow.entry)
    );
    let mut uses_end = false;
    for (name, node) in &workflow.nodes {
        let label = match &node.body {
            NodeBody::Activity(Activity::Workflow(child)) => {
                format!("{name}<br/>workflow: {}", child.path)
            }
            NodeBody::Activity(activity) => format!("{name}<br/>{}", activity.kind_name()),
            NodeBody::Map(map) => format!(
                "{name}<br/>map: {} x{}",
                map.branch.kind_name(),
                map.max_parallel
            ),
            NodeBody::Router => format!("{name}<br/>router"),
            NodeBody::Human(_) => format!("{name}<br/>human"),
            NodeBody::End(_) => format!("{name}<br/>end"),
        };
        let label = escape(&label);
        let shape = match &node.body {
            NodeBody::Router => format!("{{\"{label}\"}}"),
            NodeBody::Human(_) => format!("[/\"{label}\"/]"),
            NodeBody::Map(_) => format!("[[\"{label}\"]]"),
            NodeBody::End(_) => format!("([\"{label}\"])"),
            NodeBody::Activity(_) => format!("[\"{label}\"]"),
        };
        let _ = writeln!(text, "    {}{shape}", node_id(name));
        match &node.next {
            Transition::End => {
                if !matches!(node.body, NodeBody::End(_)) {
                    uses_end = true;
                    let _ = writeln!(text, "    {} --> __end__", node_id(name));
                }
            }
            Transition::To(target) => {
                uses_end |= target == END && !workflow.nodes.contains_key(END);
                let _ = writeln!(
                    text,
                    "    {} --> {}",
                    node_id(name),
                    target_id(workflow, target)
                );
            }
            Transition::Edges(edges) => {
                for edge in edges {
                    uses_end |= edge.to == END && !workflow.nodes.contains_key(END);
                    let target = target_id(workflow, &edge.to);
                    match &edge.when {
                        Some(condition) => {
                            let _ = writeln!(
                                text,
                                "    {} -->|\"{}\"| {target}",
                                node_id(name),
                                escape(&condition.source)
                            );
                        }
                        None => {
                            let _ = writeln!(text, "    {} -->|otherwise| {target}", node_id(name));
                        }
                    }
                }
            }
        }
    }
    if uses_end {
        text.push_str("    __end__([end])\n");
    }
    text
}

fn target_id(workflow: &Workflow, target: &str) -> String {
    if target == END && !workflow.nodes.contains_key(END) {
        "__end__".to_owned()
    } else {
        node_id(target)
    }
}

/// Mermaid ids may not contain spaces or punctuation; node names may.
fn node_id(name: &str) -> String {
    let mut id = String::from("n_");
    for character in name.chars() {
        if character.is_ascii_alphanumeric() || character == '_' {
            id.push(character);
        } else {
            let _ = write!(id, "_{:x}_", u32::from(character));
        }
    }
    id
}

fn escape(text: &str) -> String {
    text.replace('"', "#quot;")
}
