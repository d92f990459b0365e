//! A long-lived store's write-ahead log stays bounded: written far past what one checkpoint
//! holds, the `-wal` file stays a fraction of what was written, the database file takes the
//! pages, and everything written reads back. (The writer checkpoints as SQLite does by
//! default, inside the commit that crosses a thousand pages; a daemon's store is written
//! for months, so turning that off without another checkpointer would grow the file
//! without end.)

use crate::{record, started};
use weft_core::{Event, EventSink, RunId, RunStore};
use weft_store::SqliteStore;

/// Bytes written in all (compressed), well past anything one checkpoint interval holds.
const WRITTEN: usize = 48 * 1024 * 1024;
/// Random bytes per event, as hex; zstd gets the hex back to about these bytes.
const RANDOM_BYTES: usize = 64 * 1024;

/// A node name of `RANDOM_BYTES` random bytes in hex (a xorshift sequence from `seed`).
fn noise(seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut text = String::with_capacity(RANDOM_BYTES * 2);
    while text.len() < RANDOM_BYTES * 2 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        text.push_str(&format!("{state:016x}"));
    }
    text
}

fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |metadata| metadata.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_stays_bounded_however_much_is_written() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("bounded.db");
    let wal = folder.path().join("bounded.db-wal");
    let store = SqliteStore::open(&path).await.unwrap();
    let run = RunId::new();
    store.append(run, &[record(1, started())]).await.unwrap();
    let appends = WRITTEN / RANDOM_BYTES;
    let mut largest = 0;
    for index in 0..appends {
        let step = u64::try_from(index).unwrap();
        let event = Event::StepFinished {
            step,
            node: noise(step),
            next: None,
        };
        store.append(run, &[record(step + 2, event)]).await.unwrap();
        largest = largest.max(size(&wal));
    }
    let written = u64::try_from(WRITTEN).unwrap();
    assert!(
        largest < written / 2,
        "the write-ahead log reached {largest} bytes of {written} written"
    );
    assert!(
        size(&path) > written / 2,
        "the database file holds {} bytes: checkpoints did not copy the log into it",
        size(&path)
    );
    let events = store.events(run, 0).await.unwrap();
    assert_eq!(events.len(), appends + 1);
    let last = u64::try_from(appends - 1).unwrap();
    assert_eq!(
        events.last().map(|record| &record.event),
        Some(&Event::StepFinished {
            step: last,
            node: noise(last),
            next: None,
        })
    );
}
