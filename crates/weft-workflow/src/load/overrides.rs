//! Models that replace what workflow files name: a front end's `--model` replaces the
//! top-level `model:` of the workflow and of every sub-workflow it loads, and `--node-model
//! NODE=SPEC` replaces one node's. Nodes that name their own model keep it under `--model`.

use crate::error::{LoadError, NodeModelProblem, did_you_mean};
use crate::spec::{NodeSpec, WorkflowSpec};
use std::collections::BTreeMap;

/// Models that replace what the files name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelOverrides {
    /// Replaces the top-level `model:` of the workflow and of its sub-workflows.
    pub workflow: Option<String>,
    /// Replaces the `model:` of these nodes of the workflow loaded (not its sub-workflows'):
    /// `agent` and `llm` nodes, and `map` nodes whose branch is one.
    pub nodes: BTreeMap<String, String>,
}

impl ModelOverrides {
    /// Whether nothing is replaced.
    pub fn is_empty(&self) -> bool {
        self.workflow.is_none() && self.nodes.is_empty()
    }

    /// Applies the overrides to a file's spec; `top_level` for the file loaded, not its
    /// sub-workflows.
    pub(super) fn apply(&self, spec: &mut WorkflowSpec, top_level: bool) -> Result<(), LoadError> {
        if let Some(model) = &self.workflow {
            spec.model = Some(model.clone());
        }
        if !top_level {
            return Ok(());
        }
        for (name, model) in &self.nodes {
            let known: Vec<String> = spec.nodes.keys().cloned().collect();
            let Some(node) = spec.nodes.get_mut(name) else {
                return Err(LoadError::NodeModel {
                    node: name.clone(),
                    problem: NodeModelProblem::NoSuchNode {
                        suggestion: did_you_mean(name, known.iter().map(String::as_str)),
                    },
                });
            };
            let kind = node.kind_name();
            if !set_model(node, model) {
                return Err(LoadError::NodeModel {
                    node: name.clone(),
                    problem: NodeModelProblem::CallsNoModel { kind },
                });
            }
        }
        Ok(())
    }
}

/// Sets the model of a node that calls one; `false` for a node that does not.
fn set_model(node: &mut NodeSpec, model: &str) -> bool {
    match node {
        NodeSpec::Agent(agent) => agent.model = Some(model.to_owned()),
        NodeSpec::Llm(llm) => llm.model = Some(model.to_owned()),
        NodeSpec::Map(map) => {
            return map
                .branch
                .as_mut()
                .is_some_and(|branch| set_model(branch, model));
        }
        NodeSpec::Tool(_)
        | NodeSpec::Router(_)
        | NodeSpec::Workflow(_)
        | NodeSpec::Parallel(_)
        | NodeSpec::Human(_)
        | NodeSpec::End(_) => return false,
    }
    true
}
