//! Live events: what this daemon's runs record and stream, handed to the event streams
//! that watch them, and changes of status to those who wait for a run to stop. The hub is
//! the runtime's observer; a run nobody watches costs a map lookup or two per event.
//! Streams read the store for what they missed (and for runs another daemon executes), so
//! the hub may drop what a slow stream does not take in time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{broadcast, watch};
use weft_core::{EventRecord, RunId};
use weft_runtime::RunObserver;

/// How many live items a slow stream may fall behind before it reads the store instead.
const BACKLOG: usize = 256;

/// Something that happened in a run, live.
#[derive(Debug, Clone)]
pub enum Live {
    /// An event was recorded (with its sequence number).
    Recorded(Arc<EventRecord>),
    /// A model streamed text (not recorded: the whole reply is, in `ModelReplied`).
    Text {
        /// The step.
        step: u64,
        /// The map branch, if any.
        branch: Option<u32>,
        /// The text.
        text: String,
    },
    /// The text streamed so far for this call is void: the backend asks again.
    Restarted {
        /// The step.
        step: u64,
        /// The reason.
        reason: String,
    },
}

/// The channels of the runs someone watches.
#[derive(Debug, Default)]
pub struct Hub {
    channels: Mutex<Channels>,
}

/// The channels, and how many there were after the last sweep of those nobody watches.
#[derive(Debug, Default)]
struct Channels {
    by_run: HashMap<RunId, broadcast::Sender<Live>>,
    /// For those who wait for a run to stop: a count of the events that set its status. A
    /// watch holds one value, where a stream's channel holds a backlog (kilobytes a run).
    statuses: HashMap<RunId, watch::Sender<u64>>,
    swept: usize,
}

impl Channels {
    /// Sweeps the channels of runs whose watchers left, once the maps have doubled since
    /// the last sweep: amortized, not on every call.
    fn sweep(&mut self) {
        if self.by_run.len() + self.statuses.len() >= (self.swept * 2).max(64) {
            self.by_run.retain(|_, sender| sender.receiver_count() > 0);
            self.statuses
                .retain(|_, sender| sender.receiver_count() > 0);
            self.swept = self.by_run.len() + self.statuses.len();
        }
    }
}

impl Hub {
    /// Watches a run: what it records and streams from now on.
    pub fn subscribe(&self, run: RunId) -> broadcast::Receiver<Live> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        channels.sweep();
        channels
            .by_run
            .entry(run)
            .or_insert_with(|| broadcast::channel(BACKLOG).0)
            .subscribe()
    }

    /// Watches a run's status: the value changes with each event that sets it from now on.
    pub fn watch_status(&self, run: RunId) -> watch::Receiver<u64> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        channels.sweep();
        channels
            .statuses
            .entry(run)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Tells those who wait for `run` that its status changed.
    pub(crate) fn status_changed(&self, run: RunId) {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(sender) = channels.statuses.get(&run) else {
            return;
        };
        if sender.receiver_count() == 0 {
            channels.statuses.remove(&run);
            return;
        }
        sender.send_modify(|changes| *changes += 1);
    }

    fn publish(&self, run: RunId, live: impl FnOnce() -> Live) {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(sender) = channels.by_run.get(&run) else {
            return;
        };
        if sender.receiver_count() == 0 {
            // Everyone who watched has left.
            channels.by_run.remove(&run);
            return;
        }
        // A receiver that left since is not an error: the stream closed.
        let _ = sender.send(live());
    }
}

impl RunObserver for Hub {
    fn on_event(&self, run: RunId, record: &EventRecord) {
        if weft_core::status_after(&record.event).is_some() {
            self.status_changed(run);
        }
        self.publish(run, || Live::Recorded(Arc::new(record.clone())));
    }

    fn on_text_delta(&self, run: RunId, step: u64, branch: Option<u32>, text: &str) {
        self.publish(run, || Live::Text {
            step,
            branch,
            text: text.to_owned(),
        });
    }

    fn on_restarted(&self, run: RunId, step: u64, _branch: Option<u32>, reason: &str) {
        self.publish(run, || Live::Restarted {
            step,
            reason: reason.to_owned(),
        });
    }
}
