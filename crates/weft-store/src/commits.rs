//! SQLite's writes, committed in groups. One connection writes the file; each write (an
//! append, a session lock, a key) is one script, acknowledged only after the commit that
//! holds it. A write that finds the connection idle runs at once on its caller's task: one
//! round trip to SQLite's thread, with no hand-off to a thread of ours (a lone run's step
//! costs what it did before group commit). Writes that find it busy wait in line, and a
//! thread of our own takes the connection and commits all that wait in one transaction:
//! `BEGIN IMMEDIATE`, each script (one round trip each, its statements cached by text), then
//! one `COMMIT`; it takes the next group at once and puts the connection back only when
//! none waits. Under load most of a commit's cost (taking the write lock, writing the
//! changed pages to the WAL) is shared by the group, and the thread keeps the connection.
//!
//! Each write keeps its SQL and arguments until it is answered, so a group in which anything
//! fails is rolled back whole and its writes are run again one by one, each in its own
//! transaction: every write hears its own outcome, and one run's conflict never fails
//! another's append.

use crate::dialect::WriteError;
use sqlx::sqlite::{SqliteArguments, SqliteConnection};
use sqlx::{AssertSqlSafe, Execute, QueryBuilder, SqlSafeStr, SqlStr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak, mpsc};
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

    /// Runs a write in its own transaction, keeping it to run again.
    async fn alone(&mut self, write: &Write) -> Result<u64, WriteError> {
        self.once(write.clone()).await
    }

    /// Runs a write in its own transaction, once (its SQL and arguments are not kept).
    async fn once(&mut self, write: Write) -> Result<u64, WriteError> {
        let sql = if write.statements > 1 {
            AssertSqlSafe(format!("BEGIN IMMEDIATE;{};COMMIT", write.sql.as_str())).into_sql_str()
        } else {
            write.sql
        };
        self.run(sql, write.arguments)
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
#[derive(Clone)]
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

/// Who may use the writer connection, and what waits for it.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Gives the connection to the writer thread, when jobs wait for it.
    handoff: mpsc::Sender<Writer>,
}

/// The connection when nobody uses it, and the jobs that wait. Whoever holds the
/// connection (a lone write, or the thread) looks here before putting it back, so a job
/// never waits while the connection is idle: `idle` is `Some` only while `waiting` is empty.
#[derive(Default)]
struct State {
    idle: Option<Writer>,
    waiting: Vec<Job>,
    /// The writer thread ended (it panicked): jobs are refused rather than left waiting.
    closed: bool,
}

impl std::fmt::Debug for State {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("State")
            .field("idle", &self.idle.is_some())
            .field("waiting", &self.waiting.len())
            .field("closed", &self.closed)
            .finish()
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; a poisoned lock still holds a whole state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts a job in line; if the connection was idle, the thread takes it up.
    fn enqueue(&self, job: Job) -> Result<(), sqlx::Error> {
        let mut state = self.state();
        if state.closed {
            return Err(sqlx::Error::WorkerCrashed);
        }
        state.waiting.push(job);
        match state.idle.take() {
            Some(writer) => self.hand_to_thread(&mut state, writer),
            None => Ok(()),
        }
    }

    /// Gives the connection to the thread; if the thread is gone, the waiting jobs hear so.
    fn hand_to_thread(&self, state: &mut State, writer: Writer) -> Result<(), sqlx::Error> {
        if self.handoff.send(writer).is_err() {
            // Dropping the jobs drops their senders: each waiter hears the worker is gone.
            state.waiting.clear();
            return Err(sqlx::Error::WorkerCrashed);
        }
        Ok(())
    }

    /// Takes back the connection from a lone write: the thread gets it if jobs wait.
    fn release(&self, writer: Writer) {
        let mut state = self.state();
        if state.waiting.is_empty() {
            state.idle = Some(writer);
        } else {
            let _ = self.hand_to_thread(&mut state, writer);
        }
    }
}

/// The connection, held by a lone write on its caller's task; it goes back when the write
/// ends or its caller stops waiting (then the next user rolls back whatever was left).
struct Lease<'a> {
    shared: &'a Shared,
    writer: Option<Writer>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            self.shared.release(writer);
        }
    }
}

/// The writer connection and its jobs. A write that finds the connection idle runs at once
/// on its caller's task (one round trip to SQLite's thread, no hand-off); writes that find
/// it busy wait in line, and the writer thread commits whatever waits as one group, takes
/// the next group at once, and puts the connection back when none waits. Under load the
/// thread keeps the connection, so neither its round trips nor the hand-over between
/// groups queue behind the tasks the runtime has ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Commits {
    shared: Arc<Shared>,
}

impl Commits {
    /// Starts the writer thread; it ends, closing the connection, when the last clone of
    /// this is dropped.
    pub(crate) fn new(writer: Writer) -> std::io::Result<Self> {
        let (handoff, handed) = mpsc::channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                idle: Some(writer),
                ..State::default()
            }),
            handoff,
        });
        // The runtime that opened the connection, for whatever sqlx spawns or times.
        let runtime = tokio::runtime::Handle::try_current().ok();
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("weft-sqlite-writer".to_owned())
            .spawn(move || {
                let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
                let _ended = Ended(weak.clone());
                serve(&weak, &handed);
            })?;
        Ok(Self { shared })
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
        self.shared.enqueue(job).map_err(WriteError::Database)?;
        outcome
            .await
            .unwrap_or(Err(sqlx::Error::WorkerCrashed))
            .map_err(WriteError::Database)
    }

    /// Commits a write, alone if the connection is idle, else with whatever others wait by
    /// the time the writer thread is free; the rows it changed, once its commit is durable.
    pub(crate) async fn write(&self, write: Write) -> Result<u64, WriteError> {
        let idle = self.shared.state().idle.take();
        let Some(writer) = idle else {
            let (done, outcome) = oneshot::channel();
            let job = Job::Write(Waiting { write, done });
            self.shared.enqueue(job).map_err(WriteError::Database)?;
            return answered(outcome.await);
        };
        let mut lease = Lease {
            shared: &self.shared,
            writer: Some(writer),
        };
        let Some(writer) = lease.writer.as_mut() else {
            return Err(WriteError::Database(sqlx::Error::WorkerCrashed));
        };
        writer.settle().await;
        writer.once(write).await
    }
}

/// Marks the writer thread gone when it ends while the store lives (a panic): the jobs
/// that wait, and those that come later, hear that the worker crashed instead of waiting
/// for ever.
struct Ended(Weak<Shared>);

impl Drop for Ended {
    fn drop(&mut self) {
        if let Some(shared) = self.0.upgrade() {
            let mut state = shared.state();
            state.closed = true;
            state.waiting.clear();
        }
    }
}

/// The writer thread: each time it is handed the connection, it commits the writes that
/// wait (up to [`GROUP_LIMIT`]) together, then runs the statements that read rows back one
/// by one, and goes on until nothing waits. It ends when the store is dropped.
fn serve(shared: &Weak<Shared>, handed: &mpsc::Receiver<Writer>) {
    while let Ok(mut writer) = handed.recv() {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        loop {
            let jobs = {
                let mut state = shared.state();
                if state.waiting.is_empty() {
                    state.idle = Some(writer);
                    break;
                }
                let limit = state.waiting.len().min(GROUP_LIMIT);
                state.waiting.drain(..limit).collect::<Vec<_>>()
            };
            futures::executor::block_on(run_jobs(&mut writer, jobs));
        }
    }
}

/// Commits a batch of jobs' writes as one group, then runs the statements that read rows.
async fn run_jobs(writer: &mut Writer, jobs: Vec<Job>) {
    let mut group = Vec::new();
    let mut returning = Vec::new();
    for job in jobs {
        match job {
            Job::Write(waiting) => group.push(waiting),
            Job::Returning(statement) => returning.push(statement),
        }
    }
    if !group.is_empty() {
        commit(writer, group).await;
    }
    for statement in returning {
        writer.settle().await;
        let rows = sqlx::query_as_with(statement.sql, statement.arguments)
            .fetch_all(&mut writer.connection)
            .await;
        let _ = statement.done.send(rows);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> (Job, oneshot::Receiver<Result<u64, WriteError>>) {
        let write = Write::new(QueryBuilder::new("SELECT 1"), 1).unwrap();
        let (done, outcome) = oneshot::channel();
        (Job::Write(Waiting { write, done }), outcome)
    }

    #[test]
    fn jobs_are_refused_once_the_writer_thread_has_ended() {
        let (handoff, _handed) = mpsc::channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            handoff,
        });
        // The thread holds the connection (nothing is idle), so the job waits in line.
        let (waiting, mut outcome) = job();
        shared.enqueue(waiting).unwrap();
        assert!(
            outcome
                .try_recv()
                .is_err_and(|error| error == oneshot::error::TryRecvError::Empty)
        );

        drop(Ended(Arc::downgrade(&shared)));
        assert!(
            outcome
                .try_recv()
                .is_err_and(|error| error == oneshot::error::TryRecvError::Closed)
        );
        let (later, _outcome) = job();
        assert!(matches!(
            shared.enqueue(later),
            Err(sqlx::Error::WorkerCrashed)
        ));
    }
}
