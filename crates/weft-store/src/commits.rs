//! SQLite's writes, committed in groups. One connection writes the file, owned by a thread
//! of its own; each write (an append, a session lock, a key) is one script, and a script is
//! acknowledged only after the commit that holds it. Writes that arrive while the thread
//! commits wait together, and the thread commits all of them next, in one transaction:
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
use std::sync::mpsc;
use tokio::sync::oneshot;

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
        builder: QueryBuilder<sqlx::Sqlite>,
        statements: usize,
    ) -> Result<Self, WriteError> {
        let (sql, arguments) = taken_apart(builder)?;
        Ok(Self {
            sql,
            arguments,
            statements,
        })
    }
}

/// A statement's SQL and its arguments, kept apart so that it can run on the writer
/// thread (and run again).
fn taken_apart(
    mut builder: QueryBuilder<sqlx::Sqlite>,
) -> Result<(SqlStr, SqliteArguments), WriteError> {
    let sql = builder.sql();
    let arguments = builder
        .build()
        .take_arguments()
        .map_err(|error| WriteError::Database(sqlx::Error::Encode(error)))?
        .unwrap_or_default();
    Ok((sql, arguments))
}

/// A write waiting for a commit, and where its outcome goes.
struct Waiting {
    write: Write,
    done: oneshot::Sender<Result<u64, WriteError>>,
}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Waiting")
    }
}

/// A statement whose rows are read back (a claim's `RETURNING`): it commits on its own,
/// between groups.
struct Returning {
    sql: SqlStr,
    arguments: SqliteArguments,
    done: oneshot::Sender<Result<Vec<(String, String)>, sqlx::Error>>,
}

/// What the writer thread is asked to do.
enum Job {
    Write(Waiting),
    Returning(Returning),
}

/// The writer thread's mailbox. The thread owns the writer connection: it takes every job
/// that waits, commits the writes among them as one group, answers each, and goes on to
/// the next group at once. A job reaches the thread in one hand-off, and the thread runs
/// each round trip to SQLite's own thread itself, so neither waits behind the tasks the
/// runtime has ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Commits {
    jobs: mpsc::Sender<Job>,
}

impl Commits {
    /// Starts the writer thread; it ends, closing the connection, when the last clone of
    /// this is dropped.
    pub(crate) fn new(writer: Writer) -> std::io::Result<Self> {
        let (jobs, mailbox) = mpsc::channel();
        // The runtime that opened the connection, for whatever sqlx spawns or times.
        let runtime = tokio::runtime::Handle::try_current().ok();
        std::thread::Builder::new()
            .name("weft-sqlite-writer".to_owned())
            .spawn(move || {
                let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
                serve(writer, &mailbox);
            })?;
        Ok(Self { jobs })
    }

    /// Runs a statement whose rows are read back, alone; the rows (two text columns each).
    pub(crate) async fn returning(
        &self,
        builder: QueryBuilder<sqlx::Sqlite>,
    ) -> Result<Vec<(String, String)>, WriteError> {
        let (sql, arguments) = taken_apart(builder)?;
        let (done, outcome) = oneshot::channel();
        let job = Job::Returning(Returning {
            sql,
            arguments,
            done,
        });
        if self.jobs.send(job).is_err() {
            return Err(WriteError::Database(sqlx::Error::WorkerCrashed));
        }
        outcome
            .await
            .unwrap_or(Err(sqlx::Error::WorkerCrashed))
            .map_err(WriteError::Database)
    }

    /// Commits a write, with whatever others wait by the time the writer is free; the rows
    /// it changed, once its commit is durable.
    pub(crate) async fn write(&self, write: Write) -> Result<u64, WriteError> {
        let (done, outcome) = oneshot::channel();
        if self.jobs.send(Job::Write(Waiting { write, done })).is_err() {
            return Err(WriteError::Database(sqlx::Error::WorkerCrashed));
        }
        answered(outcome.await)
    }
}

/// The writer thread: each time jobs wait, the writes among them (up to [`GROUP_LIMIT`])
/// commit together, then the statements that read rows back run one by one.
fn serve(mut writer: Writer, mailbox: &mpsc::Receiver<Job>) {
    while let Ok(first) = mailbox.recv() {
        let mut group = Vec::new();
        let mut returning = Vec::new();
        let mut job = Some(first);
        while let Some(next) = job.take() {
            match next {
                Job::Write(waiting) => group.push(waiting),
                Job::Returning(statement) => returning.push(statement),
            }
            if group.len() < GROUP_LIMIT {
                job = mailbox.try_recv().ok();
            }
        }
        futures::executor::block_on(async {
            if !group.is_empty() {
                commit(&mut writer, group).await;
            }
            for statement in returning {
                writer.settle().await;
                let rows = sqlx::query_as_with(statement.sql, statement.arguments)
                    .fetch_all(&mut writer.connection)
                    .await;
                let _ = statement.done.send(rows);
            }
        });
    }
}

/// A write's outcome as its sender gave it.
fn answered(
    outcome: Result<Result<u64, WriteError>, oneshot::error::RecvError>,
) -> Result<u64, WriteError> {
    outcome.unwrap_or_else(|_| Err(WriteError::Database(sqlx::Error::WorkerCrashed)))
}

/// Commits a group, then answers each of its writes.
async fn commit(writer: &mut Writer, group: Vec<Waiting>) {
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
