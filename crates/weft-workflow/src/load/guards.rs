//! The `guards:` sections, checked and compiled: the workflow's, and each node's over it.

use super::compiler::Compiler;
use crate::guards::{GuardRule, NodeGuards};
use crate::spec::{GuardRuleSpec, GuardSlotSpec, GuardsSpec};
use std::sync::Arc;
use weft_core::{GuardAction, GuardPoint, GuardPolicy};

/// Which points a node kind has texts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GuardedKind {
    /// An `agent`: every point.
    Agent,
    /// An `llm`: input, output and retrieved snippets; it calls no tools.
    Llm,
    /// A `tool` node: its result.
    Tool,
}

impl GuardedKind {
    fn has(self, point: GuardPoint) -> bool {
        match self {
            Self::Agent => true,
            Self::Llm => point != GuardPoint::ToolResults,
            Self::Tool => point == GuardPoint::ToolResults,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Agent => "an agent",
            Self::Llm => "an llm node",
            Self::Tool => "a tool node",
        }
    }
}

fn slot(spec: &GuardsSpec, point: GuardPoint) -> Option<&GuardSlotSpec> {
    match point {
        GuardPoint::Input => spec.input.as_ref(),
        GuardPoint::Output => spec.output.as_ref(),
        GuardPoint::ToolResults => spec.tool_results.as_ref(),
        GuardPoint::Retrieved => spec.retrieved.as_ref(),
    }
}

/// The codes of Llama Guard 3's own categories.
const CATEGORY_COUNT: usize = 14;

impl Compiler<'_> {
    /// The workflow's `guards:` section.
    pub(super) fn workflow_guards(&mut self) -> NodeGuards {
        let mut guards = NodeGuards::default();
        let Some(spec) = self.spec.guards.clone() else {
            return guards;
        };
        for point in GuardPoint::ALL {
            if let Some(slot) = slot(&spec, point) {
                *guards.at_mut(point) = self.guard_slot(&["guards", point.as_str()], point, slot);
            }
        }
        guards
    }

    /// A node's guards: the workflow's points that fit its kind, each replaced by the
    /// node's own where it has one.
    pub(super) fn node_guards(
        &mut self,
        path: &[&str],
        spec: Option<&GuardsSpec>,
        kind: GuardedKind,
    ) -> Arc<NodeGuards> {
        let mut guards = NodeGuards::default();
        for point in GuardPoint::ALL {
            if kind.has(point) {
                *guards.at_mut(point) = self.guards.at(point).cloned();
            }
            let Some(slot) = spec.and_then(|spec| slot(spec, point)) else {
                continue;
            };
            let mut slot_path = path.to_vec();
            slot_path.extend(["guards", point.as_str()]);
            if !kind.has(point) {
                self.error_at_key(
                    &slot_path,
                    format!("{} has no {} to guard", kind.name(), point.as_str()),
                    Some(match kind {
                        GuardedKind::Tool => {
                            "a tool node's result is guarded by `tool_results`".into()
                        }
                        GuardedKind::Llm | GuardedKind::Agent => {
                            "an llm node calls no tools; guard its `input` or `output`".into()
                        }
                    }),
                );
                continue;
            }
            *guards.at_mut(point) = self.guard_slot(&slot_path, point, slot);
        }
        Arc::new(guards)
    }

    fn guard_slot(
        &mut self,
        path: &[&str],
        point: GuardPoint,
        slot: &GuardSlotSpec,
    ) -> Option<Arc<GuardRule>> {
        match slot {
            GuardSlotSpec::Off(_) => None,
            GuardSlotSpec::Rule(rule) => self.guard_rule(path, point, rule).map(Arc::new),
        }
    }

    fn guard_rule(
        &mut self,
        path: &[&str],
        point: GuardPoint,
        spec: &GuardRuleSpec,
    ) -> Option<GuardRule> {
        let at = |field: &str| {
            let mut at = path.to_vec();
            at.push(field);
            at.into_iter().map(str::to_owned).collect::<Vec<_>>()
        };
        let mut fine = true;
        if spec.guard.trim().is_empty() {
            self.error_at_value(
                &borrowed(&at("guard")),
                "`guard` is empty".into(),
                Some("name a guard from weft.toml's [guards] or a spec such as `llama-guard:MODEL` or `scripted:FILE`".into()),
            );
            fine = false;
        }
        if let Some(threshold) = spec.threshold
            && !(0.0..=1.0).contains(&threshold)
        {
            self.error_at_value(
                &borrowed(&at("threshold")),
                format!("`threshold` is a probability from 0 to 1; {threshold} is not"),
                None,
            );
            fine = false;
        }
        if point == GuardPoint::Retrieved && spec.action == GuardAction::Ask {
            self.error_at_value(
                &borrowed(&at("action")),
                "`ask` cannot guard retrieved snippets: they are read as the model call is made, and a person's answer cannot wait inside it".into(),
                Some("use block, redact or flag".into()),
            );
            fine = false;
        }
        fine &= self.guard_categories(&at, spec);
        fine.then(|| GuardRule {
            guard: spec.guard.trim().to_owned(),
            action: spec.action,
            threshold: spec.threshold,
            labels: spec.labels.clone(),
            policy: GuardPolicy {
                categories: spec.categories.clone(),
                custom: spec.custom_categories.clone(),
            },
        })
    }

    /// Checks a rule's category codes and custom categories.
    fn guard_categories(&mut self, at: &dyn Fn(&str) -> Vec<String>, spec: &GuardRuleSpec) -> bool {
        let mut fine = true;
        for (index, code) in spec.categories.iter().flatten().enumerate() {
            let number = code
                .strip_prefix('S')
                .and_then(|number| number.parse::<usize>().ok());
            if !number.is_some_and(|number| (1..=CATEGORY_COUNT).contains(&number)) {
                let mut path = at("categories");
                path.push(index.to_string());
                self.error_at_value(
                    &borrowed(&path),
                    format!("`{code}` is not one of Llama Guard 3's categories"),
                    Some("use S1 ... S14 (S1 violent crimes ... S14 code interpreter abuse); add your own with `custom_categories`".into()),
                );
                fine = false;
            }
        }
        for (index, category) in spec.custom_categories.iter().enumerate() {
            if category.name.trim().is_empty() || category.description.trim().is_empty() {
                let mut path = at("custom_categories");
                path.push(index.to_string());
                self.error_at_value(
                    &borrowed(&path),
                    "a custom category needs a `name` and a `description`".into(),
                    None,
                );
                fine = false;
            }
        }
        fine
    }
}

fn borrowed(path: &[String]) -> Vec<&str> {
    path.iter().map(String::as_str).collect()
}
