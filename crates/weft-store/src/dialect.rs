//! What differs between the databases a store runs on, and nothing else: the SQL text whose
//! placeholders or columns differ, how an append keeps the run's row and checks where the
//! log ends, and how a write's statements travel to the database. Everything else (every
//! read, and what an append writes) is written once, in `store.rs`, over this trait.
//!
//! - SQLite (`sqlite.rs`): the run row changes only with the run's status; where a log ends
//!   is read from its last batch, and a trigger refuses a batch that does not follow it.
//!   A write is one script (`BEGIN IMMEDIATE`, the statements, `COMMIT`; a lone statement
//!   bare) sent over the one writer connection: one round trip to SQLite's thread.
//! - PostgreSQL (`postgres.rs`): every append updates the run row only if it still ends
//!   right before the batch; PostgreSQL locks the row, so of two writers one waits and then
//!   finds nothing to update. A write is its statements one by one in a transaction.
//!
//! Archive search differs too: SQLite asks an FTS5 table with a trigram tokenizer, PostgreSQL
//! a `tsvector` (to rank) and `ILIKE` served by a pg_trgm index (to match).

use crate::batch::Batch;
use crate::session::text::Search;
use sqlx::QueryBuilder;
use std::future::Future;

/// The statements of one write, gathered in the form a dialect sends them.
pub trait Script<Database: sqlx::Database> {
    /// Starts the next statement; it is written into the builder this returns.
    fn statement(&mut self) -> &mut QueryBuilder<Database>;
}

/// Why a write did not commit (nothing of it did).
#[derive(Debug)]
pub enum WriteError {
    /// The database refused a statement, or could not be reached.
    Database(sqlx::Error),
    /// A statement that had to change the run's row changed none: the run does not exist,
    /// or its log no longer ends right before the batch (PostgreSQL's sequence check).
    RunRowUnchanged,
}

/// One SQL dialect. Implemented by `Sqlite` and `Postgres`; its constants are complete
/// statements in the dialect's own placeholders.
pub trait Dialect: Send + Sync + Sized + 'static {
    /// The sqlx driver.
    type Database: sqlx::Database;
    /// A write's statements as this dialect gathers them.
    type Script: Script<Self::Database> + Send;

    /// A run's summary columns (see `rows::summary`) by id: binds the run.
    const SELECT_RUN: &'static str;
    /// The columns of a run's summary, for `SELECT ... FROM runs`.
    const RUN_COLUMNS: &'static str;
    /// What to add to a query that claims rows so that two daemons skip each other's.
    const SKIP_LOCKED: &'static str;
    /// A run's batches that hold events after a sequence number, in order (see
    /// `rows::stored_batch`): binds the run and the sequence number.
    const SELECT_BATCHES: &'static str;
    /// A run's latest snapshot (`sequence, encoding, data`): binds the run.
    const SELECT_SNAPSHOT: &'static str;
    /// The sequence number a run's log ends at (0 when empty); no row for an unknown run:
    /// binds the run.
    const SELECT_LOG_END: &'static str;
    /// The columns a new run's row sets beyond those of every dialect, each after a comma.
    const NEW_RUN_COLUMNS: &'static str;
    /// Their values, each after a comma.
    const NEW_RUN_VALUES: &'static str;

    /// A script for `statements` statements; more than one are one transaction.
    fn script(statements: usize) -> Self::Script;

    /// How many statements [`Dialect::update_run_row`] writes for `batch`.
    fn run_row_statements(batch: &Batch) -> usize;

    /// Writes the run row's share of an append of `batch` to `run`, before the batch's row:
    /// its status and, where the dialect keeps it there, the end of its log.
    fn update_run_row(script: &mut Self::Script, run: &str, batch: &Batch);

    /// Writes the query that searches a session's archive: rows of `source, item, text`,
    /// the best first.
    fn search(statement: &mut QueryBuilder<Self::Database>, search: &Search<'_>);

    /// Runs one statement that changes rows and names each it changed
    /// (`RETURNING id, tenant`), committed on its own.
    fn execute_returning(
        &self,
        statement: QueryBuilder<Self::Database>,
    ) -> impl Future<Output = Result<Vec<(String, String)>, WriteError>> + Send;

    /// Sends a script and commits it, or leaves nothing of it; the rows its statements
    /// changed (triggers' changes not counted).
    fn execute(&self, script: Self::Script)
    -> impl Future<Output = Result<u64, WriteError>> + Send;
}
