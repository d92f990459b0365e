//! What one append writes, derived from its records: one row holding the batch's events,
//! the run row's changes and the tool-call journal. Shared by every backend, so they all
//! store the same facts.
//!
//! A batch is stored as the JSON array of its events, compressed with zstd once it is long
//! enough to gain from it. One row per batch (a step, usually) and one compressed stream
//! keep the log small: a step that records a model's reply and then writes that reply into
//! the state stores the text about once, not twice, and the rows' keys are not repeated
//! per event.

use weft_core::{
    ErrorKind, Event, EventRecord, Lease, Message, MessageCounts, NewSummary, ParentLink, RunId,
    RunStatus, StoreError, ToolOutcome, idempotency_key, status_after,
};

/// A run's first facts, from its `RunStarted` event.
pub struct NewRun {
    pub workflow: String,
    pub source: String,
    pub parent: Option<ParentLink>,
    /// The session the run speaks in, as text.
    pub session: Option<String>,
    /// Its tenant, when the front end named one.
    pub tenant: Option<String>,
    /// Whether a daemon's workers run it (it is queued for them).
    pub served: bool,
    /// The daemon that took it as it was queued, and until when (ms).
    pub lease: Option<(String, i64)>,
}

/// A message a step added to the run's session (`Remembered`).
pub struct RememberedMessage {
    pub step: i64,
    pub message: Message,
    /// Its tokens and the tokenizer that counted them, when the event carried counts.
    pub counted: Option<(String, u32)>,
}

/// How a batch's events are stored.
pub(crate) mod encoding {
    /// The JSON array, as UTF-8 bytes.
    pub const JSON: i64 = 0;
    /// The JSON array, compressed with zstd.
    pub const ZSTD_JSON: i64 = 1;
}

/// Batches shorter than this are stored as they are: compression would gain little.
const COMPRESS_FROM: usize = 512;
/// zstd's level: fast, and most of the gain on text.
const ZSTD_LEVEL: i32 = 3;

/// A journal entry.
pub enum ToolJournal {
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

/// What the append that records a run's start takes with the run, in its transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Taking<'a> {
    /// The lease of the daemon that executes the run (see `EventSink::append_taken`).
    pub lease: Option<&'a Lease>,
    /// The lock of the run's session, until this time (ms since the Unix epoch).
    pub lock_until: Option<u64>,
}

/// Everything one append writes.
pub struct Batch {
    pub new_run: Option<NewRun>,
    pub status: Option<(RunStatus, Option<String>)>,
    pub journal: Vec<ToolJournal>,
    /// Messages added to the run's session, in order.
    pub remembered: Vec<RememberedMessage>,
    /// Summaries compaction made of the run's session, in order.
    pub compacted: Vec<NewSummary>,
    pub first_sequence: i64,
    pub last_sequence: i64,
    /// The batch's time (its last record's): an append is one commit.
    pub at_millis: i64,
    /// One of [`encoding`].
    pub encoding: i64,
    /// The events, encoded.
    pub events: Vec<u8>,
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
    /// The batch starts a served run that `lease` holds already: it is written taken and
    /// `running`, so no claim takes it.
    pub fn take(&mut self, run: RunId, lease: &Lease) -> Result<(), StoreError> {
        let Some(new_run) = self.new_run.as_mut().filter(|new_run| new_run.served) else {
            return Err(StoreError::new(
                ErrorKind::InvalidInput,
                format!("run {run}: only the records that start a served run can be taken"),
            ));
        };
        new_run.lease = Some((
            lease.daemon.clone(),
            number(lease.until_millis, "lease time")?,
        ));
        if let Some((status @ RunStatus::Queued, _)) = &mut self.status {
            *status = RunStatus::Running;
        }
        Ok(())
    }

    /// The session whose lock the batch takes for its run, and until when: the batch
    /// must start a run that speaks in a session.
    pub fn session_lock(&self, run: RunId, until: u64) -> Result<(String, i64), StoreError> {
        let Some(session) = self
            .new_run
            .as_ref()
            .and_then(|new_run| new_run.session.clone())
        else {
            return Err(StoreError::new(
                ErrorKind::InvalidInput,
                format!(
                    "run {run}: only the records that start a run in a session can take its lock"
                ),
            ));
        };
        Ok((session, number(until, "lock time")?))
    }

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
            journal: Vec::new(),
            remembered: Vec::new(),
            compacted: Vec::new(),
            first_sequence: number(first.sequence, "sequence")?,
            last_sequence: number(last.sequence, "sequence")?,
            at_millis: number(last.at_millis, "timestamp")?,
            encoding: encoding::JSON,
            events: Vec::new(),
        };
        for (offset, record) in records.iter().enumerate() {
            if record.sequence != first.sequence + offset as u64 {
                return Err(StoreError::new(
                    ErrorKind::InvalidInput,
                    format!("run {run}: the records of one append must be numbered consecutively"),
                ));
            }
            batch.derive(run, record)?;
        }
        // A served run that starts still running waits for a daemon's worker.
        if batch.new_run.as_ref().is_some_and(|new_run| new_run.served)
            && let Some((status @ RunStatus::Running, _)) = &mut batch.status
        {
            *status = RunStatus::Queued;
        }
        let json = serde_json::to_vec(
            &records
                .iter()
                .map(|record| &record.event)
                .collect::<Vec<_>>(),
        )
        .map_err(|error| {
            StoreError::new(
                ErrorKind::Internal,
                format!(
                    "run {run}: cannot encode events {}..{}: {error}",
                    first.sequence, last.sequence
                ),
            )
        })?;
        (batch.encoding, batch.events) = compress(json);
        Ok(batch)
    }

    /// Whether the batch writes to the run's session.
    pub(crate) fn touches_session(&self) -> bool {
        !self.remembered.is_empty() || !self.compacted.is_empty()
    }

    /// A step's messages joining the session. Counts that do not match the messages one to
    /// one are not kept: the session counts those messages when it is next read.
    fn remember(&mut self, step: i64, messages: &[Message], counts: Option<&MessageCounts>) {
        let counts = counts.filter(|counts| counts.tokens.len() == messages.len());
        self.remembered
            .extend(
                messages
                    .iter()
                    .enumerate()
                    .map(|(index, message)| RememberedMessage {
                        step,
                        message: message.clone(),
                        counted: counts.and_then(|counts| {
                            let tokens = counts.tokens.get(index)?;
                            Some((counts.tokenizer.clone(), *tokens))
                        }),
                    }),
            );
    }

    /// What one record changes: the run's first facts, the journal, the session, the run's
    /// status.
    fn derive(&mut self, run: RunId, record: &EventRecord) -> Result<(), StoreError> {
        let sequence = number(record.sequence, "sequence")?;
        match &record.event {
            Event::RunStarted { .. } => self.new_run = new_run(&record.event),
            Event::ToolCallStarted {
                step,
                branch,
                turn,
                index,
                call,
            } => {
                self.journal.push(ToolJournal::Started {
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
                self.journal.push(ToolJournal::Finished {
                    key: idempotency_key(run, *step, *branch, *turn, *index),
                    sequence,
                    outcome: outcome_text(outcome),
                });
            }
            Event::Remembered {
                step,
                messages,
                counts,
                ..
            } => self.remember(number(*step, "step")?, messages, counts.as_deref()),
            Event::Compacted { summary } => self.compacted.push(summary.clone()),
            Event::StepStarted { .. }
            | Event::GuardChecked(_)
            | Event::GuardBlocked(_)
            | Event::GuardRedacted(_)
            | Event::GuardFlagged(_)
            | Event::ModelReplied { .. }
            | Event::ModelFailed { .. }
            | Event::ChildStarted { .. }
            | Event::ChildFinished { .. }
            | Event::ChildFailed { .. }
            | Event::ChildInterrupted { .. }
            | Event::StateChanged { .. }
            | Event::StepFinished { .. }
            | Event::StepFailed { .. }
            | Event::Interrupted { .. }
            | Event::AttentionNeeded { .. }
            | Event::Retried { .. }
            | Event::Resumed { .. }
            | Event::RunFinished { .. }
            | Event::RunFailed { .. }
            | Event::RunCancelled { .. }
            | Event::WorkflowUpgraded { .. } => {}
        }
        if let Some(change) = status_after(&record.event) {
            self.status = Some(change);
        }
        Ok(())
    }
}

/// A tool call's outcome as the journal keeps it.
fn outcome_text(outcome: &ToolOutcome) -> String {
    let outcome = match outcome {
        ToolOutcome::Ok { output } => serde_json::json!({"status": "ok", "output": output}),
        ToolOutcome::Error { error } => serde_json::json!({"status": "error", "error": error}),
    };
    outcome.to_string()
}

/// A snapshot, encoded like a batch.
pub(crate) fn encode_snapshot(snapshot: &serde_json::Value) -> Result<(i64, Vec<u8>), StoreError> {
    let json = serde_json::to_vec(snapshot).map_err(|error| {
        StoreError::new(
            ErrorKind::Internal,
            format!("cannot encode a snapshot: {error}"),
        )
    })?;
    Ok(compress(json))
}

/// A stored snapshot (`sequence, encoding, data`) read back; `None` when it cannot be (the
/// log is replayed instead).
pub(crate) fn stored_snapshot(
    (sequence, encoding, data): (i64, i64, Vec<u8>),
) -> Option<(u64, serde_json::Value)> {
    Some((
        u64::try_from(sequence).ok()?,
        decode_snapshot(encoding, &data)?,
    ))
}

fn decode_snapshot(encoding: i64, data: &[u8]) -> Option<serde_json::Value> {
    let decompressed;
    let json = match encoding {
        encoding::JSON => data,
        encoding::ZSTD_JSON => {
            decompressed = decompress(data).ok()?;
            &decompressed
        }
        _ => return None,
    };
    serde_json::from_slice(json).ok()
}

/// The JSON as it is, or compressed when that saves space.
fn compress(json: Vec<u8>) -> (i64, Vec<u8>) {
    if json.len() < COMPRESS_FROM {
        return (encoding::JSON, json);
    }
    // A compression context is costly to set up (hundreds of KiB): keep one per thread.
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    let compressed = COMPRESSOR.with(|cell| {
        let mut cell = cell.try_borrow_mut().ok()?;
        if cell.is_none() {
            *cell = zstd::bulk::Compressor::new(ZSTD_LEVEL).ok();
        }
        cell.as_mut()?.compress(&json).ok()
    });
    match compressed {
        Some(compressed) if compressed.len() < json.len() => (encoding::ZSTD_JSON, compressed),
        _ => (encoding::JSON, json),
    }
}

/// Decompresses a stored frame. Its header gives its size (the compressor writes it), so
/// the buffer is that size, and one decompression context per thread serves every read:
/// a context is costly to set up, and a buffer of the limit's size is a gigabyte mapped
/// and unmapped per read. A frame without its size is read as a stream, up to the limit.
fn decompress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let size = zstd::zstd_safe::get_frame_content_size(data)
        .ok()
        .flatten()
        .and_then(|size| usize::try_from(size).ok());
    let Some(size) = size.filter(|size| *size <= MAX_BATCH_BYTES) else {
        let mut decompressed = Vec::new();
        let decoder = zstd::stream::read::Decoder::new(data)?;
        std::io::Read::read_to_end(
            &mut std::io::Read::take(decoder, MAX_BATCH_BYTES as u64),
            &mut decompressed,
        )?;
        return Ok(decompressed);
    };
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell
            .try_borrow_mut()
            .map_err(|_| std::io::Error::other("the decompressor is in use"))?;
        let decompressor = match cell.as_mut() {
            Some(decompressor) => decompressor,
            None => cell.insert(zstd::bulk::Decompressor::new()?),
        };
        decompressor.decompress(data, size)
    })
}

/// A stored batch, as read back.
pub(crate) struct StoredBatch {
    pub first_sequence: i64,
    pub last_sequence: i64,
    pub at_millis: i64,
    pub encoding: i64,
    pub events: Vec<u8>,
}

/// Reads a stored batch back into records, keeping those after `after`. What cannot be read
/// names its run and sequence number: the event, or the batch when its bytes are damaged.
pub(crate) fn decode(
    run: RunId,
    batch: &StoredBatch,
    after: u64,
    records: &mut Vec<EventRecord>,
) -> Result<(), StoreError> {
    let (first, last) = (batch.first_sequence, batch.last_sequence);
    let damaged = |reason: String| {
        StoreError::new(
            ErrorKind::Corrupt,
            format!(
                "run {run}: event {first} is corrupt and cannot be read ({reason}; it holds events {first} to {last})"
            ),
        )
    };
    let count =
        usize::try_from(last - first + 1).map_err(|_| damaged("a bad sequence range".into()))?;
    let decompressed;
    let json: &[u8] = match batch.encoding {
        encoding::JSON => &batch.events,
        encoding::ZSTD_JSON => {
            decompressed =
                decompress(&batch.events).map_err(|error| damaged(format!("zstd: {error}")))?;
            &decompressed
        }
        other => return Err(damaged(format!("unknown encoding {other}"))),
    };
    let events: Vec<Event> = match serde_json::from_slice(json) {
        Ok(events) => events,
        Err(error) => return Err(locate(run, first, json, error)),
    };
    if events.len() != count {
        return Err(damaged(format!(
            "{} events instead of {count}",
            events.len()
        )));
    }
    let at_millis = u64::try_from(batch.at_millis).unwrap_or_default();
    for (offset, event) in events.into_iter().enumerate() {
        let sequence = u64::try_from(first).unwrap_or_default() + offset as u64;
        if sequence > after {
            records.push(EventRecord {
                sequence,
                at_millis,
                event,
            });
        }
    }
    Ok(())
}

/// The largest batch a reader will decompress (a guard against a damaged length).
const MAX_BATCH_BYTES: usize = 1 << 30;

/// Names the event of a batch that does not parse.
fn locate(run: RunId, first: i64, json: &[u8], error: serde_json::Error) -> StoreError {
    let sequence = serde_json::from_slice::<Vec<serde_json::Value>>(json)
        .ok()
        .and_then(|values| {
            values
                .into_iter()
                .position(|value| serde_json::from_value::<Event>(value).is_err())
        })
        .map_or(first, |offset| first + offset as i64);
    StoreError::new(
        ErrorKind::Corrupt,
        format!("run {run}: event {sequence} is corrupt and cannot be read ({error})"),
    )
}

/// The run a `RunStarted` begins (`None` for any other event).
fn new_run(event: &Event) -> Option<NewRun> {
    let Event::RunStarted {
        workflow,
        source,
        parent,
        session,
        setup,
        ..
    } = event
    else {
        return None;
    };
    Some(NewRun {
        workflow: workflow.clone(),
        source: source.clone(),
        parent: parent.clone(),
        session: session.as_ref().map(|session| session.id.to_string()),
        tenant: setup.as_ref().and_then(|setup| setup.tenant.clone()),
        served: setup.as_ref().is_some_and(|setup| setup.served),
        lease: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{compress, decompress, encoding};

    #[test]
    fn frames_with_and_without_their_size_read_back() {
        let json = serde_json::to_vec(&vec!["a fairly repetitive event"; 200]).unwrap();
        let (kind, compressed) = compress(json.clone());
        assert_eq!(kind, encoding::ZSTD_JSON);
        assert!(
            zstd::zstd_safe::get_frame_content_size(&compressed)
                .unwrap()
                .is_some()
        );
        assert_eq!(decompress(&compressed).unwrap(), json);
        // Twice on one thread: the kept context serves again.
        assert_eq!(decompress(&compressed).unwrap(), json);
        // A streamed frame does not say its size: it is read as a stream.
        let streamed = zstd::stream::encode_all(json.as_slice(), 3).unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&streamed).unwrap(),
            None
        );
        assert_eq!(decompress(&streamed).unwrap(), json);
        assert!(decompress(b"not zstd at all").is_err());
    }
}
