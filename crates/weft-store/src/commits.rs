//! SQLite's writes, committed in groups. One connection writes the file; each write (an
//! append, a session lock, a key) is one script, and a script is acknowledged only
//! after the commit that holds it. Writes that arrive while the connection is busy wait
//! together, and whoever takes the connection next commits all of them in one transaction:
//! `BEGIN IMMEDIATE`, each script (one round trip each, its statements cached by text), then
//! one `COMMIT`. Under load most of a commit's cost (taking the write lock, writing the
//! changed pages to the WAL) is shared by the group; a lone write is one round trip, as
//! before.
//!
//! Each write keeps its SQL and arguments until it is answered, so a group in which anything
//! fails is rolled back whole and its writes are run again one by one, each in its own
//! transaction: every write hears its own outcome, and one run's conflict never fails
//! another's append.

use crate::dialect::WriteError;
use sqlx::sqlite::{SqliteArguments, SqliteConnection};
use sqlx::{AssertSqlSafe, Execute, QueryBuilder, SqlSafeStr, SqlStr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{OwnedMutexGuard, oneshot};

/// The most writes one commit takes; the rest wait for the next.
const GROUP_LIMIT: usize = 256;

/// The writer connection, and whether a write may have left a transaction open (an error
/// part-way, or a caller that stopped waiting).
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) connection: SqliteConnection,
    unsettled: bool,
}

impl Writer {
    pub(crate) fn new(connection: SqliteConnection) -> Self {
        Self {
            connection,
            unsettled: false,
        }
    }

    /// Rolls back whatever an unfinished write left open; "no transaction is active" is
    /// the usual answer and means there was nothing to undo.
    pub(crate) async fn settle(&mut self) {
        if self.unsettled {
            let _ = sqlx::query("ROLLBACK").execute(&mut self.connection).await;
            self.unsettled = false;
        }
    }

    /// Runs SQL with its arguments; the rows it changed.
    async fn run(&mut self, sql: SqlStr, arguments: SqliteArguments) -> Result<u64, sqlx::Error> {
        self.unsettled = true;
        let result = sqlx::query_with(sql, arguments)
            .execute(&mut self.connection)
            .await;
        match result {
            Ok(done) => {
                self.unsettled = false;
                Ok(done.rows_affected())
            }
            Err(error) => {
                self.settle().await;
                Err(error)
            }
        }
    }

    /// Runs a write in its own transaction.
    async fn alone(&mut self, write: &Write) -> Result<u64, WriteError> {
        let sql = if write.statements > 1 {
            AssertSqlSafe(format!("BEGIN IMMEDIATE;{};COMMIT", write.sql.as_str())).into_sql_str()
        } else {
            write.sql.clone()
        };
        self.run(sql, write.arguments.clone())
            .await
            .map_err(WriteError::Database)
    }

    /// Runs a group in one transaction: the rows each write changed, or `None` when
    /// anything failed (then nothing of the group is left).
    async fn together(&mut self, group: &[Waiting]) -> Option<Vec<u64>> {
        self.unsettled = true;
        let begun = sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut self.connection)
            .await;
        if begun.is_err() {
            self.settle().await;
            return None;
        }
        let mut rows = Vec::with_capacity(group.len());
        for waiting in group {
            let write = &waiting.write;
            let result = sqlx::query_with(write.sql.clone(), write.arguments.clone())
                .execute(&mut self.connection)
                .await;
            match result {
                Ok(done) => rows.push(done.rows_affected()),
                Err(_) => {
                    self.settle().await;
                    return None;
                }
            }
        }
        match sqlx::query("COMMIT").execute(&mut self.connection).await {
            Ok(_) => {
                self.unsettled = false;
                Some(rows)
            }
            Err(_) => {
                self.settle().await;
                None
            }
        }
    }
}

/// One write: its statements joined by `;` (no transaction around them) and their
/// arguments, kept so that it can run again.
pub(crate) struct Write {
    sql: SqlStr,
    arguments: SqliteArguments,
    statements: usize,
}

impl Write {
    /// The write a builder holds (`statements` statements).
    pub(crate) fn new(
        mut builder: QueryBuilder<sqlx::Sqlite>,
        statements: usize,
    ) -> Result<Self, WriteError> {
        let sql = builder.sql();
        let arguments = builder
            .build()
            .take_arguments()
            .map_err(|error| WriteError::Database(sqlx::Error::Encode(error)))?
            .unwrap_or_default();
        Ok(Self {
            sql,
            arguments,
            statements,
        })
    }
}

/// A write waiting for a commit, and where its outcome goes.
struct Waiting {
    write: Write,
    done: oneshot::Sender<Result<u64, WriteError>>,
}

/// The writer connection and the writes waiting for it.
#[derive(Debug, Clone)]
pub(crate) struct Commits {
    writer: Arc<tokio::sync::Mutex<Writer>>,
    waiting: Arc<Mutex<Vec<Waiting>>>,
}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Waiting")
    }
}

impl Commits {
    pub(crate) fn new(writer: Writer) -> Self {
        Self {
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            waiting: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The connection alone, for a statement whose rows are read back (a claim's
    /// `RETURNING`); it commits on its own, between groups.
    pub(crate) async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, Writer> {
        let mut writer = self.writer.lock().await;
        writer.settle().await;
        writer
    }

    /// Commits a write, with whatever others wait by the time the connection is free; the
    /// rows it changed, once its commit is durable.
    pub(crate) async fn write(&self, write: Write) -> Result<u64, WriteError> {
        let (done, mut outcome) = oneshot::channel();
        self.queue().push(Waiting { write, done });
        tokio::select! {
            biased;
            result = &mut outcome => return answered(result),
            writer = self.writer.clone().lock_owned() => {
                // Holding the connection, this write has either been answered by the group
                // before, or waits here still: then this caller commits the group.
                let group = {
                    let mut queue = self.queue();
                    let take = queue.len().min(GROUP_LIMIT);
                    queue.drain(..take).collect::<Vec<_>>()
                };
                if group.is_empty() {
                    drop(writer);
                } else {
                    // A thread of its own, so that a caller who stops waiting cannot leave
                    // the others of its group unanswered, and so that each round trip to
                    // SQLite's thread goes on at once rather than after every task the
                    // runtime has ready to run.
                    tokio::task::spawn_blocking(move || {
                        futures::executor::block_on(commit(writer, group));
                    });
                }
            }
        }
        answered(outcome.await)
    }

    fn queue(&self) -> MutexGuard<'_, Vec<Waiting>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A write's outcome as its sender gave it.
fn answered(
    outcome: Result<Result<u64, WriteError>, oneshot::error::RecvError>,
) -> Result<u64, WriteError> {
    outcome.unwrap_or_else(|_| Err(WriteError::Database(sqlx::Error::WorkerCrashed)))
}

/// Commits a group, then answers each of its writes.
async fn commit(mut writer: OwnedMutexGuard<Writer>, group: Vec<Waiting>) {
    writer.settle().await;
    if group.len() > 1
        && let Some(rows) = writer.together(&group).await
    {
        for (waiting, rows) in group.into_iter().zip(rows) {
            let _ = waiting.done.send(Ok(rows));
        }
        return;
    }
    for waiting in group {
        let result = writer.alone(&waiting.write).await;
        let _ = waiting.done.send(result);
    }
}
