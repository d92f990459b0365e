//! Compaction before a model call: when what the run's session would send passes its
//! threshold, its oldest span is summarized (by the summarizer model, else extractively)
//! and the summary recorded as a `Compacted` event, which the store keeps with the
//! session in the same transaction. Each summary is committed before the next is made, so
//! a crash loses at most the one being written, and none is recorded twice.

use crate::active::ActiveRun;
use crate::error::RuntimeError;
use crate::memory::{counter_for, limits_for, view_request};
use crate::runtime::Runtime;
use futures::StreamExt;
use std::sync::Arc;
use weft_core::{
    ChatModel, ChatRequest, Event, NewSummary, ReplyBuilder, Sampling, SessionId, SessionMessage,
    SessionStore, SessionView, Summary, TokenCounter, Uncompacted,
};
use weft_memory::compaction;
use weft_memory::context::SUMMARY_SHARE;
use weft_workflow::{Command, ModelCall, Summarizer};

/// The most summaries one call makes before it goes on (a session imported whole is
/// compacted over several calls).
const MOST_ROUNDS: usize = 8;

/// The model call of a decision that reads the run's session, if there is one: the first
/// call with a session outside any branch (branches do not speak in the session).
pub(crate) fn session_call(command: &Command) -> Option<&ModelCall> {
    match command {
        Command::CallModel(call) if call.session.is_some() && call.branch.is_none() => Some(call),
        Command::CallModel(_)
        | Command::CallTool(_)
        | Command::StartChild(_)
        | Command::ResumeChild(_)
        | Command::CheckGuard(_) => None,
    }
}

/// One compaction's setting: the session, how it is counted, who summarizes.
struct Compactor {
    store: Arc<dyn SessionStore>,
    session: SessionId,
    counter: Arc<dyn TokenCounter>,
    budget: u32,
    compact_at: u32,
    summarizer: Option<(String, Arc<dyn ChatModel>)>,
}

impl Runtime {
    /// Compacts the session of the first model call among `commands` that reads one, if it
    /// is due; each summary is committed as it is made. The check reads the view that call
    /// would read: when compaction is not due (most calls) that view is returned for the
    /// call ([`session_call`]), so the session is read once per model call.
    pub(crate) async fn compact_before(
        &self,
        run: &mut ActiveRun,
        commands: &[Command],
    ) -> Result<Option<SessionView>, RuntimeError> {
        let Some(call) = commands.iter().find_map(session_call) else {
            return Ok(None);
        };
        let Some(compactor) = self.compactor(run, call) else {
            return Ok(None);
        };
        let view = compactor.view(call).await?;
        if !compactor.due(&view) {
            return Ok(Some(view));
        }
        for _ in 0..MOST_ROUNDS {
            let Some(summary) = compactor.next_summary().await? else {
                break;
            };
            let event = Event::Compacted { summary };
            let decision = run.machine.on_event(&event)?;
            let mut events = vec![event];
            events.extend(decision.events);
            self.commit(run, events).await?;
        }
        Ok(None)
    }

    fn compactor(&self, run: &ActiveRun, call: &ModelCall) -> Option<Compactor> {
        let store = self.sessions.clone()?;
        let session = call.session?;
        let model = self
            .models
            .resolve(call.model.as_deref(), &run.workflow_dir)
            .ok()?;
        let spec = call
            .model
            .clone()
            .or_else(|| self.models.default_spec())
            .unwrap_or_default();
        let counter = counter_for(model.as_ref());
        let limits = limits_for(call, &call.request, model.context_window());
        let summarizer = match &call.memory.summarizer {
            Summarizer::Extractive => None,
            Summarizer::NodeModel => Some((spec, model)),
            Summarizer::Model(name) => self
                .models
                .resolve(Some(name), &run.workflow_dir)
                .ok()
                .map(|model| (name.clone(), model)),
        };
        Some(Compactor {
            store,
            session,
            budget: limits.budget(counter.accuracy()),
            counter,
            compact_at: call.memory.compact_at,
            summarizer,
        })
    }
}

impl Compactor {
    /// The next summary to record, if the session is due for one: of its oldest messages,
    /// or, when summaries pile up, of its oldest summaries.
    async fn next_summary(&self) -> Result<Option<NewSummary>, RuntimeError> {
        let span_limit = self.span_limit();
        let threshold = self.threshold();
        // Below the threshold the store leaves the oldest messages unread: the check
        // below then returns before it would need them.
        let Uncompacted {
            mut summaries,
            oldest,
            total,
        } = self
            .store
            .uncompacted(self.session, self.counter.as_ref(), span_limit, threshold)
            .await?;
        let (merged, summary_tokens) = self.weigh(&mut summaries);
        if let Some(merged) = merged {
            return Ok(Some(self.merge(&summaries, &merged).await));
        }
        if u64::from(total) + summary_tokens <= threshold {
            return Ok(None);
        }
        // After compaction the summaries (this one included) and what they do not cover
        // should take half the threshold, so the next compaction is half a threshold of
        // new messages away rather than the next turn.
        let keep = u32::try_from(threshold / 2)
            .unwrap_or(u32::MAX)
            .saturating_sub(u32::try_from(summary_tokens).unwrap_or(u32::MAX))
            .saturating_sub(self.target());
        let Some(span) = compaction::span(&oldest, total, keep, span_limit) else {
            return Ok(None);
        };
        let messages: Vec<SessionMessage> = oldest
            .into_iter()
            .filter(|message| (span.first..=span.last).contains(&message.sequence))
            .collect();
        Ok(Some(self.summarize(span.first, span.last, messages).await))
    }

    /// Counts each summary's tokens into it. Returns the summaries a merge would take, when
    /// they pile up, and the tokens of all of them.
    fn weigh(&self, summaries: &mut [Summary]) -> (Option<Vec<u64>>, u64) {
        for summary in summaries.iter_mut() {
            summary.tokens = Some(self.counter.text(&summary.text));
        }
        let share = self.budget / 100 * SUMMARY_SHARE;
        let tokens = summaries
            .iter()
            .filter_map(|summary| summary.tokens)
            .map(u64::from)
            .sum();
        (compaction::merge(summaries, share), tokens)
    }

    /// The tokens past which the session is compacted.
    fn threshold(&self) -> u64 {
        u64::from(self.budget) * u64::from(self.compact_at) / 100
    }

    /// The view `call` reads of the session, read with the call's own budget and query.
    async fn view(&self, call: &ModelCall) -> Result<SessionView, RuntimeError> {
        let view = self
            .store
            .view(view_request(
                (call, &call.request.messages),
                self.session,
                self.counter.as_ref(),
                self.budget,
            ))
            .await?;
        Ok(view)
    }

    /// Whether the session is due for compaction, judged from the view its call reads
    /// (the same judgement [`Compactor::next_summary`] makes from the uncompacted
    /// messages). The view reads the newest messages until they pass the budget, which is
    /// at least the threshold: a view that left messages out is past it, and one that did
    /// not holds every message no summary covers.
    fn due(&self, view: &SessionView) -> bool {
        if view.omitted > 0 {
            return true;
        }
        let (merged, summary_tokens) = self.weigh(&mut view.summaries.clone());
        if merged.is_some() {
            return true;
        }
        let message_tokens: u64 = view
            .messages
            .iter()
            .map(|message| {
                u64::from(
                    message
                        .tokens
                        .unwrap_or_else(|| self.counter.message(&message.message)),
                )
            })
            .sum();
        message_tokens + summary_tokens > self.threshold()
    }

    /// The most tokens of messages one summary covers: what the summarizer can read.
    fn span_limit(&self) -> u32 {
        let window = self
            .summarizer
            .as_ref()
            .map_or(self.budget, |(_, model)| model.context_window());
        (self.budget / 2)
            .min(window.saturating_sub(self.target() + 512) / 4 * 3)
            .max(64)
    }

    /// The tokens a summary should take.
    fn target(&self) -> u32 {
        (self.budget / 10).max(64)
    }

    async fn summarize(&self, first: u64, last: u64, messages: Vec<SessionMessage>) -> NewSummary {
        let messages: Vec<_> = messages.into_iter().map(|stored| stored.message).collect();
        let words = self.target() * 3 / 4;
        let written = self
            .ask(compaction::summarizer_prompt(&messages, words))
            .await;
        let (text, by) = match written {
            Some((text, by)) => (text, Some(by)),
            None => (
                compaction::extractive(&messages, &[], self.target(), self.counter.as_ref()),
                None,
            ),
        };
        NewSummary {
            level: 0,
            first,
            last,
            text,
            merges: Vec::new(),
            by,
        }
    }

    async fn merge(&self, summaries: &[Summary], merged: &[u64]) -> NewSummary {
        let chosen: Vec<Summary> = summaries
            .iter()
            .filter(|summary| merged.contains(&summary.id))
            .cloned()
            .collect();
        let words = self.target() * 3 / 4;
        let (text, by) = match self.ask(compaction::merger_prompt(&chosen, words)).await {
            Some((text, by)) => (text, Some(by)),
            None => (
                compaction::extractive_merge(&chosen, self.target(), self.counter.as_ref()),
                None,
            ),
        };
        NewSummary {
            level: chosen
                .iter()
                .map(|summary| summary.level)
                .max()
                .unwrap_or(0)
                + 1,
            first: chosen.first().map_or(0, |summary| summary.first),
            last: chosen.last().map_or(0, |summary| summary.last),
            text,
            merges: merged.to_vec(),
            by,
        }
    }

    /// Asks the summarizer; `None` without one, or when it fails or says nothing (the
    /// extractive fallback then writes the summary: compaction never stops a run).
    async fn ask(&self, messages: Vec<weft_core::Message>) -> Option<(String, String)> {
        let (spec, model) = self.summarizer.as_ref()?;
        let request = ChatRequest {
            messages,
            sampling: Sampling {
                max_tokens: Some(self.target()),
                temperature: Some(0.0),
                ..Sampling::default()
            },
            ..ChatRequest::default()
        };
        let mut stream = model.chat(request);
        let mut reply = ReplyBuilder::new();
        while let Some(event) = stream.next().await {
            reply.push(event.ok()?);
        }
        let text = reply.finish().text.trim().to_owned();
        let text = compaction::held_to(text, self.target(), self.counter.as_ref());
        (!text.is_empty()).then(|| (text, spec.clone()))
    }
}
