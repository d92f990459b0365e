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
        let _ = writeln!(text, "    {}{}", node_id(name), shape(workflow, name, node));
        if let NodeBody::Parallel(body) = &node.body {
            branch_edges(&mut text, name, body);
            uses_end |= body.join == END && !workflow.nodes.contains_key(END);
            let _ = writeln!(
                text,
                "    {} -.->|join| {}",
                node_id(name),
                target_id(workflow, &body.join)
            );
            continue;
        }
        uses_end |= next_edges(&mut text, workflow, name, node);
    }
    if uses_end {
        text.push_str("    __end__([end])\n");
    }
    text
}

/// A node's label in its kind's shape; a join says which parallel nodes it joins.
fn shape(workflow: &Workflow, name: &str, node: &crate::workflow::Node) -> String {
    let mut label = match &node.body {
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
        NodeBody::Parallel(body) => {
            format!("{name}<br/>parallel: {} branches", body.branches.len())
        }
        NodeBody::Human(_) => format!("{name}<br/>human"),
        NodeBody::End(_) => format!("{name}<br/>end"),
    };
    for (fork, other) in &workflow.nodes {
        if let NodeBody::Parallel(body) = &other.body
            && body.join == name
        {
            let _ = write!(label, "<br/>joins {fork}");
        }
    }
    let label = escape(&label);
    match &node.body {
        NodeBody::Router => format!("{{\"{label}\"}}"),
        NodeBody::Human(_) => format!("[/\"{label}\"/]"),
        NodeBody::Map(_) => format!("[[\"{label}\"]]"),
        NodeBody::Parallel(_) => format!("{{{{\"{label}\"}}}}"),
        NodeBody::End(_) => format!("([\"{label}\"])"),
        NodeBody::Activity(_) => format!("[\"{label}\"]"),
    }
}

/// A node's `next` edges; true when one goes to the end of the run.
fn next_edges(
    text: &mut String,
    workflow: &Workflow,
    name: &str,
    node: &crate::workflow::Node,
) -> bool {
    let mut uses_end = false;
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
    uses_end
}

/// A parallel node's branches, drawn as thick edges (labelled with their conditions).
fn branch_edges(text: &mut String, name: &str, body: &crate::workflow::ParallelBody) {
    for branch in &body.branches {
        match &branch.when {
            Some(condition) => {
                let _ = writeln!(
                    text,
                    "    {} ==>|\"{}\"| {}",
                    node_id(name),
                    escape(&condition.source),
                    node_id(&branch.start)
                );
            }
            None => {
                let _ = writeln!(text, "    {} ==> {}", node_id(name), node_id(&branch.start));
            }
        }
    }
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
