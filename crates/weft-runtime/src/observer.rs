//! Watching a run as it happens: every recorded event, plus model text as it streams (which
//! is not recorded; the whole reply is, in `ModelReplied`).

use weft_core::{EventRecord, RunId};

/// Receives a run's progress. Calls must be quick; they happen on the driver's task.
pub trait RunObserver: Send + Sync {
    /// An event was recorded.
    fn on_event(&self, run: RunId, record: &EventRecord) {
        let _ = (run, record);
    }
    /// A model call started.
    fn on_model_call(&self, run: RunId, step: u64, branch: Option<u32>) {
        let _ = (run, step, branch);
    }
    /// A model call started whose answer a guard judges before it is used: its text is
    /// not streamed to the observer (`on_text_delta`), and is shown, if at all, once the
    /// guard's verdict is recorded.
    fn on_held_call(&self, run: RunId, step: u64, branch: Option<u32>) {
        let _ = (run, step, branch);
    }
    /// A model streamed more text.
    fn on_text_delta(&self, run: RunId, step: u64, branch: Option<u32>, text: &str) {
        let _ = (run, step, branch, text);
    }
    /// A backend lost a reply part-way and asks again: the text streamed for this call so
    /// far is void (the recorded `ModelReplied` will hold only the new reply).
    fn on_restarted(&self, run: RunId, step: u64, branch: Option<u32>, reason: &str) {
        let _ = (run, step, branch, reason);
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl RunObserver for NoObserver {}
