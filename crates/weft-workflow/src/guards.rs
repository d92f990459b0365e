//! A workflow's guards, compiled: for each point where a node's texts are read, the rule
//! that judges them ([`GuardRule`]), and what a verdict comes to under it ([`Ruling`]).

use std::sync::Arc;
use weft_core::{GuardAction, GuardFinding, GuardPoint, GuardPolicy, Verdict};

/// One point's rule: the guard, its action and how a verdict trips it.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardRule {
    /// The guard, as the workflow names it (a weft.toml name or a spec).
    pub guard: String,
    /// What a verdict past the threshold does.
    pub action: GuardAction,
    /// The threshold; `None`: the guard's own.
    pub threshold: Option<f64>,
    /// The harmful labels that count; empty: all.
    pub labels: Vec<String>,
    /// The policy a policy guard is given.
    pub policy: GuardPolicy,
}

/// What a verdict comes to under a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Ruling {
    /// Nothing passed the threshold: the text goes on.
    Pass,
    /// This label passed it: the rule's action follows.
    Tripped {
        /// The label.
        label: String,
        /// Its probability.
        score: f64,
        /// The categories a policy guard named that count.
        categories: Vec<String>,
    },
}

impl GuardRule {
    /// What `verdict` comes to: the worst harmful label among those that count trips the
    /// rule when it reaches the threshold; a policy guard's verdict that names only
    /// categories left out of the policy does not.
    pub fn rule(&self, verdict: &Verdict) -> Ruling {
        let Some(worst) = verdict.worst(&self.labels) else {
            return Ruling::Pass;
        };
        let threshold = self.threshold.unwrap_or(verdict.threshold);
        if worst.score < threshold {
            return Ruling::Pass;
        }
        let categories: Vec<String> = match &self.policy.categories {
            Some(allowed) if !verdict.categories.is_empty() => verdict
                .categories
                .iter()
                .filter(|code| {
                    allowed
                        .iter()
                        .any(|allowed| allowed.eq_ignore_ascii_case(code))
                        || self.is_custom(code)
                })
                .cloned()
                .collect(),
            _ => verdict.categories.clone(),
        };
        if categories.is_empty() && !verdict.categories.is_empty() {
            return Ruling::Pass;
        }
        Ruling::Tripped {
            label: worst.label.clone(),
            score: worst.score,
            categories,
        }
    }

    /// Whether `code` is one of the custom categories (numbered after the guard's own
    /// fourteen: `S15` on).
    fn is_custom(&self, code: &str) -> bool {
        let number = code
            .strip_prefix(['S', 's'])
            .and_then(|number| number.parse::<usize>().ok());
        number.is_some_and(|number| number > 14 && number <= 14 + self.policy.custom.len())
    }
}

/// The guards of one node: a rule per point, or none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeGuards {
    /// The user message of a model node.
    pub input: Option<Arc<GuardRule>>,
    /// What a model node answers.
    pub output: Option<Arc<GuardRule>>,
    /// What a tool returns.
    pub tool_results: Option<Arc<GuardRule>>,
    /// Retrieved snippets.
    pub retrieved: Option<Arc<GuardRule>>,
}

impl NodeGuards {
    /// The rule at `point`.
    pub fn at(&self, point: GuardPoint) -> Option<&Arc<GuardRule>> {
        match point {
            GuardPoint::Input => self.input.as_ref(),
            GuardPoint::Output => self.output.as_ref(),
            GuardPoint::ToolResults => self.tool_results.as_ref(),
            GuardPoint::Retrieved => self.retrieved.as_ref(),
        }
    }

    /// The rule at `point`, to set.
    pub fn at_mut(&mut self, point: GuardPoint) -> &mut Option<Arc<GuardRule>> {
        match point {
            GuardPoint::Input => &mut self.input,
            GuardPoint::Output => &mut self.output,
            GuardPoint::ToolResults => &mut self.tool_results,
            GuardPoint::Retrieved => &mut self.retrieved,
        }
    }

    /// Whether no point has a rule.
    pub fn is_empty(&self) -> bool {
        GuardPoint::ALL
            .iter()
            .all(|point| self.at(*point).is_none())
    }
}

/// The finding a tripped ruling records for the text `check` of step `place` (step, map
/// branch); `None` for a pass.
pub fn finding(
    place: (u64, Option<u32>),
    check: weft_core::GuardCheck,
    guard: &str,
    ruling: Ruling,
) -> Option<GuardFinding> {
    match ruling {
        Ruling::Pass => None,
        Ruling::Tripped {
            label,
            score,
            categories,
        } => Some(GuardFinding {
            step: place.0,
            branch: place.1,
            check,
            guard: guard.to_owned(),
            label,
            score,
            categories,
            by_person: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_core::LabelScore;

    fn rule(threshold: Option<f64>, categories: Option<Vec<&str>>) -> GuardRule {
        GuardRule {
            guard: "llama".into(),
            action: GuardAction::Block,
            threshold,
            labels: Vec::new(),
            policy: GuardPolicy {
                categories: categories.map(|codes| codes.into_iter().map(str::to_owned).collect()),
                custom: vec![weft_core::CustomCategory {
                    name: "Competitors".into(),
                    description: "Naming other vendors".into(),
                }],
            },
        }
    }

    fn unsafe_verdict(score: f64, categories: &[&str]) -> Verdict {
        Verdict {
            scores: vec![
                LabelScore {
                    label: "safe".into(),
                    score: 1.0 - score,
                    harmful: false,
                },
                LabelScore {
                    label: "unsafe".into(),
                    score,
                    harmful: true,
                },
            ],
            categories: categories.iter().map(|code| (*code).to_owned()).collect(),
            threshold: 0.5,
        }
    }

    #[test]
    fn the_rule_threshold_replaces_the_guard_default() {
        let verdict = unsafe_verdict(0.7, &["S1"]);
        assert!(matches!(
            rule(None, None).rule(&verdict),
            Ruling::Tripped { .. }
        ));
        assert_eq!(rule(Some(0.8), None).rule(&verdict), Ruling::Pass);
    }

    #[test]
    fn categories_outside_the_allow_list_do_not_trip_it() {
        let verdict = unsafe_verdict(0.99, &["S2", "S15"]);
        let ruling = rule(None, Some(vec!["S1"])).rule(&verdict);
        assert_eq!(
            ruling,
            Ruling::Tripped {
                label: "unsafe".into(),
                score: 0.99,
                categories: vec!["S15".into()]
            }
        );
        let only_others = unsafe_verdict(0.99, &["S2"]);
        assert_eq!(
            rule(None, Some(vec!["S1"])).rule(&only_others),
            Ruling::Pass
        );
    }
}
