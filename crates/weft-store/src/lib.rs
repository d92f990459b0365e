//! weft-store: durable run logs behind the `RunStore` port of `weft-core`.
//!
//! - [`SqliteStore`] (cargo feature `sqlite`, on by default): the embedded default, one
//!   file (WAL, `synchronous=NORMAL`, foreign keys, one writer connection with `BEGIN
//!   IMMEDIATE`, a pool of readers, a busy timeout);
//! - [`PostgresStore`] (feature `postgres`): for several daemons on several machines
//!   sharing one database;
//! - [`open`]: either, from a `postgres://` URL or an SQLite file path;
//! - `testing` (feature `testing`): tests against a PostgreSQL server, skipped (and said
//!   so) where there is none.
//!
//! Both stores are one implementation (`store.rs`) over a `Dialect` (`dialect.rs`) that
//! holds what differs: SQL text, how an append checks where the log ends, and how a write
//! travels. A run's events are appended in one transaction per batch, checked against the
//! log's last sequence number; the run's row (status, error) and the tool-call journal are
//! derived from the same events in the same transaction, and so are the rows of the run's
//! session (its messages and summaries). `Store` implements `SessionStore` too: sessions,
//! their locks, pins, notes, token counts and archive search (FTS5 trigrams in SQLite,
//! `tsvector` and pg_trgm in PostgreSQL).

// A build with neither database compiles, and has nothing to open.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

mod batch;
#[cfg(feature = "sqlite")]
mod commits;
mod dialect;
pub mod error;
pub mod keys;
mod location;
mod open;
#[cfg(feature = "postgres")]
mod postgres;
mod queue;
mod rows;
mod schema;
mod session;
#[cfg(feature = "sqlite")]
mod sqlite;
mod statements;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::OpenError;
pub use location::Location;
pub use open::{OpenMode, open};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use schema::SCHEMA_VERSION;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteSettings, SqliteStore};
pub use store::Store;
