//! weft-runtime: the tokio driver of the run machine.
//!
//! The machine in `weft-workflow` decides; this crate acts. It calls models and tools, runs
//! map branches concurrently and sub-workflows as child runs, stops at `human` nodes,
//! enforces step and run timeouts and cancellation, appends each step's events to an
//! [`EventSink`](weft_core::EventSink) and tells a [`RunObserver`] as things happen.

mod attention;
mod dispatch;
mod driver;
mod effects;
pub mod error;
pub mod models;
pub mod observer;
pub mod sink;
mod snapshots;
pub mod tools;

pub use dispatch::{DEFAULT_CONCURRENT_TOOL_CALLS, DEFAULT_TOOL_TIMEOUT};
pub use driver::{ActiveRun, Runtime, RuntimeBuilder, SNAPSHOT_EVERY};
pub use error::RuntimeError;
pub use models::{ModelSource, Models};
pub use observer::{NoObserver, RunObserver};
pub use sink::MemorySink;
pub use tokio_util::sync::CancellationToken;
pub use tools::NoTools;
