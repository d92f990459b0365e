//! What a person (or a script, or an HTTP client) wants to know about a stored run, read from
//! its log alone: where it stands, its output, the question it waits on, the tool calls that
//! need a decision, why it failed, when, how many tokens each model used, how full each
//! model call's context window was and what filled it, and its sub-workflow runs. No
//! workflow file is read.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use weft_core::{
    AnsweredBy, ContextReport, Event, EventRecord, RunId, RunSetup, RunStore, RunSummary,
    StoreError, UnsettledCall, Usage,
};

/// A stored run, described.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// The run as the store lists it (status, workflow, times, events, error).
    #[serde(flatten)]
    pub summary: RunSummary,
    /// Its input.
    pub input: Value,
    /// What the front end set it up with, when it recorded that.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup: Option<RunSetup>,
    /// Its output, once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The questions it waits on, while interrupted, by step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub questions: Vec<OpenQuestion>,
    /// The tool calls a person must decide about, while it needs attention.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unsettled_calls: Vec<UnsettledCall>,
    /// Steps started.
    pub steps: u64,
    /// Model calls and tokens, by the model that answered.
    pub models: Vec<ModelUsage>,
    /// What each model call was given, in order (calls from before memory recorded none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<CallContext>,
    /// Summaries the run's session compaction wrote.
    pub compactions: u32,
    /// Texts guards judged.
    pub guard_checks: u32,
    /// What guards found, in order: each text blocked, redacted or flagged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub guard_findings: Vec<GuardReport>,
    /// The sub-workflow runs it started, in order.
    pub children: Vec<RunSummary>,
}

/// A question a run waits on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenQuestion {
    /// Its id: what an answer names (`weft resume ID --answer QID=...`).
    pub id: String,
    /// The step that asks.
    pub step: u64,
    /// The node (a `human` node, or the sub-workflow node whose run asks).
    pub node: String,
    /// The question.
    pub question: String,
    /// The schema an answer must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
}

/// What a guard found in a run, and what followed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardReport {
    /// The node the step ran.
    pub node: String,
    /// What followed: `blocked`, `redacted` or `flagged`.
    pub action: &'static str,
    /// The finding.
    #[serde(flatten)]
    pub finding: weft_core::GuardFinding,
}

/// What one model did in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelUsage {
    /// The spec (or weft.toml name) it was reached by; `unknown` for logs older than
    /// this field.
    pub spec: String,
    /// The model that answered, as the backend names it, when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Replies.
    pub calls: u64,
    /// Prompt tokens, over the replies that reported usage.
    pub prompt_tokens: u64,
    /// Completion tokens, likewise.
    pub completion_tokens: u64,
}

/// One model call's context: where it was made and what it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallContext {
    /// The step.
    pub step: u64,
    /// The node the step ran.
    pub node: String,
    /// The map branch, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<u32>,
    /// Which call of the step, from 0.
    pub turn: u32,
    /// What it was given, with the token counts.
    pub context: ContextReport,
}

impl RunReport {
    /// Reads the run `run` and its sub-workflow runs from `store`.
    pub async fn read(store: &dyn RunStore, run: RunId) -> Result<Self, StoreError> {
        let summary = store.run(run).await?;
        let records = store.events(run, 0).await?;
        let mut children = Vec::new();
        for record in &records {
            if let Event::ChildStarted { run: child, .. } = &record.event {
                children.push(store.run(*child).await?);
            }
        }
        Ok(Self::from_log(summary, &records, children))
    }

    /// The report of a run from its summary, its log and its children's summaries.
    pub fn from_log(
        summary: RunSummary,
        records: &[EventRecord],
        children: Vec<RunSummary>,
    ) -> Self {
        let mut report = Self {
            summary,
            input: Value::Null,
            // Where it started, or the texts it was last moved onto.
            setup: weft_core::current_setup(records),
            output: None,
            questions: Vec::new(),
            unsettled_calls: Vec::new(),
            steps: 0,
            models: Vec::new(),
            contexts: Vec::new(),
            compactions: 0,
            guard_checks: 0,
            guard_findings: Vec::new(),
            children,
        };
        let mut tally = Tally::default();
        for record in records {
            report.fold(&record.event, &mut tally);
        }
        report.models = tally.usage.into_values().collect();
        report
    }

    /// Takes one event into the report.
    fn fold(&mut self, event: &Event, tally: &mut Tally) {
        match event {
            Event::RunStarted { input, .. } => self.input = input.clone(),
            Event::StepStarted { step, node, .. } => {
                self.steps += 1;
                tally.nodes.insert(*step, node.clone());
            }
            Event::ModelReplied {
                step,
                branch,
                turn,
                reply,
                answered_by,
                context,
            } => {
                if let Some(context) = context {
                    self.contexts.push(CallContext {
                        step: *step,
                        node: tally.nodes.get(step).cloned().unwrap_or_default(),
                        branch: *branch,
                        turn: *turn,
                        context: context.as_ref().clone(),
                    });
                }
                tally.count(answered_by.as_ref(), reply.usage);
            }
            Event::Interrupted {
                step,
                node,
                question,
                input_schema,
                id,
            } => {
                let id = id.clone().unwrap_or_else(|| node.clone());
                // Each stop records every open question again: keep one of each.
                self.questions.retain(|open| open.id != id);
                self.questions.push(OpenQuestion {
                    id,
                    step: *step,
                    node: node.clone(),
                    question: question.clone(),
                    input_schema: input_schema.clone(),
                });
            }
            Event::Resumed { step, id, .. } => self.questions.retain(|open| match id {
                Some(id) => open.id != *id,
                None => open.step != *step,
            }),
            Event::AttentionNeeded { calls, .. } => self.unsettled_calls = calls.clone(),
            Event::Retried { .. } => self.unsettled_calls.clear(),
            Event::RunFinished { output } => self.output = Some(output.clone()),
            Event::RunFailed { .. } | Event::RunCancelled { .. } => {
                self.questions.clear();
                self.unsettled_calls.clear();
            }
            Event::ModelFailed { .. }
            | Event::ToolCallStarted { .. }
            | Event::ToolCallFinished { .. }
            | Event::ChildStarted { .. }
            | Event::ChildFinished { .. }
            | Event::ChildFailed { .. }
            | Event::ChildInterrupted { .. }
            | Event::StateChanged { .. }
            | Event::StepFinished { .. }
            | Event::StepFailed { .. }
            | Event::Remembered { .. }
            | Event::WorkflowUpgraded { .. } => {}
            Event::Compacted { .. } => self.compactions += 1,
            Event::GuardChecked(_) => self.guard_checks += 1,
            Event::GuardBlocked(found) => self.found("blocked", found, tally),
            Event::GuardRedacted(found) => self.found("redacted", found, tally),
            Event::GuardFlagged(found) => self.found("flagged", found, tally),
        }
    }

    fn found(&mut self, action: &'static str, found: &weft_core::GuardFinding, tally: &Tally) {
        self.guard_findings.push(GuardReport {
            node: tally.nodes.get(&found.step).cloned().unwrap_or_default(),
            action,
            finding: found.clone(),
        });
    }
}

/// What folding a log keeps beside the report: usage by model, and each step's node.
#[derive(Default)]
struct Tally {
    usage: BTreeMap<(String, Option<String>), ModelUsage>,
    nodes: BTreeMap<u64, String>,
}

impl Tally {
    /// Counts one reply for the model that gave it.
    fn count(&mut self, answered_by: Option<&AnsweredBy>, reply_usage: Option<Usage>) {
        let spec = answered_by.map_or_else(|| "unknown".to_owned(), |by| by.spec.clone());
        let model = answered_by.and_then(|by| by.model.clone());
        let entry = self
            .usage
            .entry((spec.clone(), model.clone()))
            .or_insert_with(|| ModelUsage {
                spec,
                model,
                calls: 0,
                prompt_tokens: 0,
                completion_tokens: 0,
            });
        entry.calls += 1;
        if let Some(Usage {
            prompt_tokens,
            completion_tokens,
        }) = reply_usage
        {
            entry.prompt_tokens += u64::from(prompt_tokens);
            entry.completion_tokens += u64::from(completion_tokens);
        }
    }
}
