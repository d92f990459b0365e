//! What one append writes, derived from its records: the event rows, the run row's changes
//! and the tool-call journal. Shared by every backend, so they all store the same facts.

use weft_core::{
    ErrorKind, Event, EventRecord, ParentLink, RunId, RunStatus, StoreError, ToolOutcome,
    idempotency_key, status_after,
};

/// A run's first facts, from its `RunStarted` event.
pub(crate) struct NewRun {
    pub workflow: String,
    pub source: String,
    pub parent: Option<ParentLink>,
}

/// One event row.
pub(crate) struct EventRow {
    pub sequence: i64,
    pub at_millis: i64,
    pub kind: &'static str,
    pub payload: String,
}

/// A journal entry.
pub(crate) enum ToolJournal {
    Started {
        key: String,
        step: i64,
        tool: String,
        sequence: i64,
    },
    Finished {
        key: String,
        sequence: i64,
        outcome: String,
    },
}

/// Everything one append writes.
pub(crate) struct Batch {
    pub new_run: Option<NewRun>,
    pub status: Option<(RunStatus, Option<String>)>,
    pub events: Vec<EventRow>,
    pub journal: Vec<ToolJournal>,
    pub first_sequence: i64,
    pub last_sequence: i64,
    pub last_at: i64,
}

fn number(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        StoreError::new(
            ErrorKind::InvalidInput,
            format!("{what} {value} is too large to store"),
        )
    })
}

impl Batch {
    /// Derives the batch; records must be numbered consecutively.
    pub(crate) fn new(run: RunId, records: &[EventRecord]) -> Result<Self, StoreError> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Err(StoreError::new(
                ErrorKind::InvalidInput,
                "an append needs at least one event",
            ));
        };
        let mut batch = Self {
            new_run: None,
            status: None,
            events: Vec::with_capacity(records.len()),
            journal: Vec::new(),
            first_sequence: number(first.sequence, "sequence")?,
            last_sequence: number(last.sequence, "sequence")?,
            last_at: number(last.at_millis, "timestamp")?,
        };
        for (offset, record) in records.iter().enumerate() {
            if record.sequence != first.sequence + offset as u64 {
                return Err(StoreError::new(
                    ErrorKind::InvalidInput,
                    format!("run {run}: the records of one append must be numbered consecutively"),
                ));
            }
            let sequence = number(record.sequence, "sequence")?;
            let payload = serde_json::to_string(&record.event).map_err(|error| {
                StoreError::new(
                    ErrorKind::Internal,
                    format!("cannot encode event {sequence}: {error}"),
                )
            })?;
            match &record.event {
                Event::RunStarted {
                    workflow,
                    source,
                    parent,
                    ..
                } => {
                    batch.new_run = Some(NewRun {
                        workflow: workflow.clone(),
                        source: source.clone(),
                        parent: parent.clone(),
                    });
                }
                Event::ToolCallStarted {
                    step,
                    branch,
                    turn,
                    index,
                    call,
                } => {
                    batch.journal.push(ToolJournal::Started {
                        key: idempotency_key(run, *step, *branch, *turn, *index),
                        step: number(*step, "step")?,
                        tool: call.name.clone(),
                        sequence,
                    });
                }
                Event::ToolCallFinished {
                    step,
                    branch,
                    turn,
                    index,
                    outcome,
                } => {
                    let outcome = match outcome {
                        ToolOutcome::Ok { output } => {
                            serde_json::json!({"status": "ok", "output": output})
                        }
                        ToolOutcome::Error { error } => {
                            serde_json::json!({"status": "error", "error": error})
                        }
                    };
                    batch.journal.push(ToolJournal::Finished {
                        key: idempotency_key(run, *step, *branch, *turn, *index),
                        sequence,
                        outcome: outcome.to_string(),
                    });
                }
                _ => {}
            }
            if let Some(change) = status_after(&record.event) {
                batch.status = Some(change);
            }
            batch.events.push(EventRow {
                sequence,
                at_millis: number(record.at_millis, "timestamp")?,
                kind: record.event.name(),
                payload,
            });
        }
        Ok(batch)
    }
}

/// Reads a stored event back; a payload that does not parse names its run and sequence.
pub(crate) fn decode(
    run: RunId,
    sequence: i64,
    at_millis: i64,
    payload: &str,
) -> Result<EventRecord, StoreError> {
    let event: Event = serde_json::from_str(payload).map_err(|error| {
        StoreError::new(
            ErrorKind::Corrupt,
            format!("run {run}: event {sequence} is corrupt and cannot be read ({error})"),
        )
    })?;
    Ok(EventRecord {
        sequence: u64::try_from(sequence).unwrap_or_default(),
        at_millis: u64::try_from(at_millis).unwrap_or_default(),
        event,
    })
}
