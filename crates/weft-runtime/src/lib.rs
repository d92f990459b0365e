//! weft-runtime: the tokio driver of the run machine.
//!
//! The machine in `weft-workflow` decides; this crate acts. It calls models and tools, runs
//! map branches concurrently and sub-workflows as child runs, stops at `human` nodes,
//! enforces step and run timeouts and cancellation, appends each step's events to an
//! [`EventSink`](weft_core::EventSink) and tells a [`RunObserver`] as things happen.

mod active;
mod attention;
mod compaction;
mod dispatch;
mod driver;
mod effects;
mod ending;
pub mod error;
pub mod guard_source;
mod guards;
mod lifecycle;
pub mod memory;
pub mod models;
pub mod observer;
mod queued;
pub mod replay;
mod replay_compare;
mod replaying;
pub mod report;
mod runtime;
mod session_lock;
pub mod sink;
mod snapshots;
mod taken_locks;
mod texts;
pub mod tools;
pub mod upgrade;

pub use active::ActiveRun;
pub use dispatch::{DEFAULT_CONCURRENT_TOOL_CALLS, DEFAULT_TOOL_TIMEOUT};
pub use ending::Ending;
pub use error::RuntimeError;
pub use guard_source::{GuardSource, Guards};
pub use memory::counter_for;
pub use models::{ModelSource, Models};
pub use observer::{NoObserver, RunObserver};
pub use queued::QueuedRun;
pub use replay::RecordedRun;
pub use replay_compare::{Divergence, DivergenceKind, ReplayReport};
pub use replaying::replay;
pub use report::{CallContext, GuardReport, ModelUsage, OpenQuestion, RunReport};
pub use runtime::{Runtime, RuntimeBuilder, SESSION_WAIT, SHUTDOWN_GRACE, SNAPSHOT_EVERY};
pub use session_lock::SESSION_LEASE;
pub use sink::MemorySink;
pub use texts::workflow_texts;
pub use tokio_util::sync::CancellationToken;
pub use tools::NoTools;
