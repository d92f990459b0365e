//! Snapshots of long runs: every so many events the driver asks the machine for its state
//! at the next step boundary and stores it, and loading a run starts from its latest
//! snapshot, reading only the events after it.

use crate::active::ActiveRun;
use crate::error::RuntimeError;
use crate::runtime::Runtime;
use std::sync::Arc;
use weft_core::{Event, EventRecord, RunId};
use weft_workflow::{RunMachine, Snapshot, Workflow};

impl Runtime {
    /// After a commit: stores a snapshot the machine took during it, and asks for the next
    /// one when enough events have passed. A snapshot that cannot be stored is skipped: the
    /// log holds everything, and the next append reports a store that stopped working.
    pub(crate) async fn keep_snapshots(&self, run: &mut ActiveRun, records: &[EventRecord]) {
        if self.snapshot_every == 0 {
            return;
        }
        if let Some(snapshot) = run.machine.take_snapshot() {
            // Boxed: a snapshot is rare, and its store write would otherwise make every
            // commit's future larger.
            Box::pin(self.save_snapshot(run, records, snapshot)).await;
        }
        let last = records.last().map_or(0, |record| record.sequence);
        if last >= run.snapshot_at + self.snapshot_every {
            run.machine.capture_next_boundary();
            // Asked for: not asked again until this many events have passed once more.
            run.snapshot_at = last;
        }
    }

    /// Stores `snapshot`, which the machine took at the first step boundary it folded:
    /// this batch's first `StepFinished`.
    async fn save_snapshot(
        &self,
        run: &mut ActiveRun,
        records: &[EventRecord],
        snapshot: Snapshot,
    ) {
        let boundary = records
            .iter()
            .find(|record| matches!(record.event, Event::StepFinished { .. }));
        if let (Some(boundary), Ok(value)) = (boundary, serde_json::to_value(&snapshot))
            && self
                .store
                .save_snapshot(run.id(), boundary.sequence, &value)
                .await
                .is_ok()
        {
            run.snapshot_at = boundary.sequence;
        }
    }

    /// The run rebuilt from its latest snapshot and the events after it; `None` when there
    /// is no snapshot or it does not fit (then the whole log is replayed).
    pub(crate) async fn restore_from_snapshot(
        &self,
        workflow: &Arc<Workflow>,
        run: RunId,
    ) -> Result<Option<ActiveRun>, RuntimeError> {
        let Some((sequence, value)) = self.store.latest_snapshot(run).await? else {
            return Ok(None);
        };
        let Ok(snapshot) = serde_json::from_value::<Snapshot>(value) else {
            return Ok(None);
        };
        let records = self.store.events(run, sequence).await?;
        let restored = RunMachine::restore_from_snapshot(
            workflow.clone(),
            run,
            snapshot,
            records.iter().map(|record| &record.event),
        );
        Ok(match restored {
            Ok(Some(machine)) => Some(ActiveRun::restored(
                machine,
                records.last().map_or(sequence, |record| record.sequence),
            )),
            Ok(None) | Err(_) => None,
        })
    }
}
