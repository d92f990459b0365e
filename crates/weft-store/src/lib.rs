//! weft-store: durable run logs behind the `RunStore` port of `weft-core`.
//!
//! - [`SqliteStore`]: the embedded default, one file (WAL, `synchronous=NORMAL`, foreign
//!   keys, one writer connection with `BEGIN IMMEDIATE`, a pool of readers, a busy timeout);
//! - [`PostgresStore`]: for several daemons on several machines sharing one database.
//!
//! A run's events are appended in one transaction per batch, checked against the log's last
//! sequence number; the run's row (status, error, counts) and the tool-call journal are
//! derived from the same events in the same transaction.

mod batch;
pub mod error;
mod postgres;
mod rows;
mod sqlite;

pub use error::OpenError;
pub use postgres::PostgresStore;
pub use sqlite::{SqliteSettings, SqliteStore};

/// The schema version this weft writes and reads (`weft_meta.schema_version`).
pub const SCHEMA_VERSION: i64 = 2;
