//! `?wait=true`: answering when a run stops rather than when it is queued. The wait reads
//! the run's summary, then waits for news of it from this daemon's workers (the hub), or
//! reads it again now and then: a run another daemon executes, or one still waiting in the
//! store's queue, sends this one no news (a run this daemon executes needs no such read).
//! News is followed by reading the log's new events, which the answer shows anyway: when
//! they end the run, the answer needs no other read.

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::shown::{summary, view_of};
use crate::daemon::Daemon;
use serde_json::Value;
use std::time::Duration;
use weft_core::{EventRecord, RunId, RunStatus, RunSummary, status_after};

/// How soon a wait first reads a run again without news of it, and how rarely at most.
/// A daemon that owns its SQLite file hears of every change its own workers and requests
/// make; only a command line beside it (`weft runs cancel`) changes runs silently, so it
/// reads at the slowest pace from the start.
const WAIT_POLL_FIRST: Duration = Duration::from_millis(100);
const WAIT_POLL_LAST: Duration = Duration::from_secs(1);

/// Waits until the run no longer runs (or the daemon's wait limit passes); the run as the
/// API shows it then.
pub(crate) async fn wait_for(
    daemon: &Daemon,
    caller: &Caller,
    run: RunId,
) -> Result<Value, ApiError> {
    let mut status = daemon.hub.watch_status(run);
    let deadline = tokio::time::Instant::now() + daemon.options.wait_limit;
    let mut poll_every = if daemon.exclusive {
        WAIT_POLL_LAST
    } else {
        WAIT_POLL_FIRST
    };
    let mut current = summary(daemon, caller, run).await?;
    // The log as read so far: only after news, and only while it may be all the answer
    // needs.
    let mut records: Vec<EventRecord> = Vec::new();
    loop {
        if !running(current.status) {
            break;
        }
        // Read the run again when its status may have changed (an event of this daemon set
        // it: a change since the read above is not missed), or now and then, less often the
        // longer it takes.
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    // The hub keeps a watched run's count while a watch is held, so this
                    // should not happen; were it gone, watch again rather than spin.
                    status = daemon.hub.watch_status(run);
                }
                let after = records.last().map_or(0, |record| record.sequence);
                records.extend(daemon.database.events(run, after).await?);
                if let Some(stopped) = stopped(&current, &records) {
                    return view_of(daemon, stopped, &records).await;
                }
            }
            () = tokio::time::sleep(poll_every) => {
                poll_every = (poll_every * 2).min(WAIT_POLL_LAST);
                if daemon.holds(run) {
                    // Its worker's events will bring the news.
                    continue;
                }
            }
            () = tokio::time::sleep_until(deadline) => break,
        }
        current = summary(daemon, caller, run).await?;
    }
    // Read after the summary, the log holds at least what it says.
    let after = records.last().map_or(0, |record| record.sequence);
    if after < current.events {
        records.extend(daemon.database.events(run, after).await?);
    }
    view_of(daemon, current, &records).await
}

/// Whether a run with this status is still to run or running.
fn running(status: RunStatus) -> bool {
    matches!(status, RunStatus::Queued | RunStatus::Running)
}

/// The summary of a run whose log (read whole, after `read`) ends it: `read` with the status
/// the log's last status event set and where the log ends. `None` while the log leaves it
/// running.
fn stopped(read: &RunSummary, records: &[EventRecord]) -> Option<RunSummary> {
    let (status, error) = records
        .iter()
        .rev()
        .find_map(|record| status_after(&record.event))?;
    if running(status) {
        return None;
    }
    let last = records.last()?;
    Some(RunSummary {
        status,
        error,
        updated_at_millis: last.at_millis,
        events: last.sequence,
        ..read.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use weft_core::Event;

    fn record(sequence: u64, event: Event) -> EventRecord {
        EventRecord {
            sequence,
            at_millis: 1_000 + sequence,
            event,
        }
    }

    fn read() -> RunSummary {
        RunSummary {
            id: RunId::new(),
            workflow: "chat".to_owned(),
            source: "chat.yaml".to_owned(),
            status: RunStatus::Running,
            parent: None,
            created_at_millis: 1_000,
            updated_at_millis: 1_001,
            events: 1,
            error: None,
            tenant: "default".to_owned(),
        }
    }

    #[test]
    fn a_log_that_ends_the_run_gives_its_summary() {
        let read = read();
        let records = vec![
            record(
                2,
                Event::Resumed {
                    step: 1,
                    input: json!("yes"),
                    id: None,
                },
            ),
            record(
                3,
                Event::RunCancelled {
                    reason: "no longer wanted".to_owned(),
                },
            ),
        ];
        let stopped = stopped(&read, &records).expect("the run stopped");
        assert_eq!(stopped.status, RunStatus::Cancelled);
        assert_eq!(stopped.error.as_deref(), Some("no longer wanted"));
        assert_eq!((stopped.events, stopped.updated_at_millis), (3, 1_003));
        assert_eq!(stopped.id, read.id);
    }

    #[test]
    fn a_log_that_leaves_it_running_gives_nothing() {
        let read = read();
        assert!(stopped(&read, &[]).is_none());
        let records = vec![
            record(
                2,
                Event::RunFinished {
                    output: json!("done"),
                },
            ),
            record(
                3,
                Event::Resumed {
                    step: 1,
                    input: json!("again"),
                    id: None,
                },
            ),
        ];
        assert!(stopped(&read, &records).is_none());
    }
}
