//! What a stopped run waits on: a person's answer to a question ([`Question`], the run is
//! `interrupted`), or a person's decision about tool calls that may or may not have run
//! ([`Attention`], the run `needs_attention`).

use serde_json::Value;
use weft_core::{ChildPlace, RunId, UnsettledCall};

/// A question the run waits on.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// Its id, stable while it is open: the `human` node's name; for a sub-workflow's
    /// question, the node's name, its map branch in brackets, `/` and the child's id
    /// (`reviews[1]/approve`); for a guard's question, the node's name (and map branch), `/`
    /// and the guarded point (`research/output`, `research/tool_results.0`).
    pub id: String,
    /// The step.
    pub step: u64,
    /// The node.
    pub node: String,
    /// The question.
    pub question: String,
    /// The answer's schema.
    pub input_schema: Option<Value>,
    /// The child run that asks, when the question comes from a sub-workflow: its map
    /// branch and run.
    pub child: Option<(Option<u32>, Option<RunId>)>,
    /// The question's id in that child run.
    pub child_id: Option<String>,
    /// The text a guard's `ask` rule holds, when a guard asks: its map branch and check.
    pub guard: Option<(Option<u32>, weft_core::GuardCheck)>,
}

/// What a run waits on while it needs attention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attention {
    /// The calls.
    pub calls: Vec<UnsettledCall>,
    /// The sub-workflow run they belong to, when they are not this run's own.
    pub child: Option<ChildPlace>,
}
