//! The SQLite dialect: one file, one owned writer connection, a pool of readers. A write is
//! one script, one round trip to SQLite's worker thread (each round trip costs thread
//! hand-offs, several times what SQLite itself spends on a step): one INSERT when that is
//! all a step writes, else the statements inside `BEGIN IMMEDIATE` and `COMMIT`; writes
//! that wait together commit together (`commits.rs`). The run row keeps no end of its log:
//! readers take it from the last batch, and the `event_batches_follow` trigger checks each
//! batch follows it, so an ordinary step writes one row.

use crate::batch::Batch;
use crate::commits::{Commits, Write, Writer};
use crate::dialect::{Dialect, Script, WriteError};
use crate::error::{OpenError, migration_error, open_error};
use crate::location::Location;
use crate::schema::{SELECT_SCHEMA_VERSION, check_version};
use crate::session::text::{SEARCH_CANDIDATES, Search, match_expression, weights};
use crate::store::Store;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const READERS: u32 = 4;

/// A weft database in one SQLite file.
pub type SqliteStore = Store<Sqlite>;

/// Settings of a SQLite store beyond its path.
#[derive(Debug, Clone, Default)]
pub struct SqliteSettings {
    /// The most bytes the database file may grow to (rounded down to whole pages); a write
    /// past it fails as on a full disk. `None`: as large as the disk allows.
    pub max_bytes: Option<u64>,
}

/// The sequence number of a run's last event, for a query over `runs`.
macro_rules! last_sequence {
    () => {
        "COALESCE((SELECT last_sequence FROM event_batches WHERE run_id = runs.id ORDER BY first_sequence DESC LIMIT 1), 0)"
    };
}

/// The columns a run summary is read from (a macro, so queries stay literal strings). The
/// log's last batch gives `last_sequence` and `updated_at`.
macro_rules! summary_columns {
    () => {
        concat!(
            "id, workflow, source, status, parent_run, parent_step, parent_branch, created_at, error, tenant, ",
            last_sequence!(),
            " AS last_sequence, COALESCE((SELECT at_millis FROM event_batches WHERE run_id = runs.id ORDER BY first_sequence DESC LIMIT 1), created_at) AS updated_at"
        )
    };
}

/// The SQLite dialect: the file and its one writer connection, whose writes commit alone
/// when it is idle and in groups when they wait.
#[derive(Debug, Clone)]
pub struct Sqlite {
    path: PathBuf,
    commits: Commits,
}

/// A write as one script: its statements joined by `;`. Several are one transaction.
pub struct SqliteScript {
    builder: QueryBuilder<sqlx::Sqlite>,
    statements: usize,
}

impl Script<sqlx::Sqlite> for SqliteScript {
    fn statement(&mut self) -> &mut QueryBuilder<sqlx::Sqlite> {
        if self.statements > 0 {
            self.builder.push(";");
        }
        self.statements += 1;
        &mut self.builder
    }
}

impl Dialect for Sqlite {
    type Database = sqlx::Sqlite;
    type Script = SqliteScript;

    const SELECT_RUN: &'static str =
        concat!("SELECT ", summary_columns!(), " FROM runs WHERE id = ?");
    const RUN_COLUMNS: &'static str = summary_columns!();
    const SKIP_LOCKED: &'static str = "";
    const SELECT_BATCHES: &'static str = "SELECT first_sequence, last_sequence, at_millis, encoding, events FROM event_batches WHERE run_id = ? AND last_sequence > ? ORDER BY first_sequence";
    const SELECT_SNAPSHOT: &'static str = "SELECT sequence, encoding, data FROM snapshots WHERE run_id = ? ORDER BY sequence DESC LIMIT 1";
    const SELECT_LOG_END: &'static str =
        concat!("SELECT ", last_sequence!(), " FROM runs WHERE id = ?");
    const NEW_RUN_COLUMNS: &'static str = "";
    const NEW_RUN_VALUES: &'static str = "";

    fn script(_statements: usize) -> SqliteScript {
        SqliteScript {
            builder: QueryBuilder::new(""),
            statements: 0,
        }
    }

    fn run_row_statements(batch: &Batch) -> usize {
        usize::from(batch.status.is_some())
    }

    /// The run row changes only with the run's status: where the log ends, and when, is
    /// read from the log itself.
    fn update_run_row(script: &mut SqliteScript, run: &str, batch: &Batch) {
        if let Some((status, error)) = &batch.status {
            script
                .statement()
                .push("UPDATE runs SET status = ")
                .push_bind(status.as_str())
                .push(", error = ")
                .push_bind(error.as_deref())
                .push(" WHERE id = ")
                .push_bind(run);
        }
    }

    /// FTS5 finds the candidates in the session's range of rowids (see the migration),
    /// newest first with notes before messages; the words are quoted strings, so nothing in
    /// them is syntax. `lower` folds ASCII letters only, and so do the words compared.
    fn search(statement: &mut QueryBuilder<sqlx::Sqlite>, search: &Search<'_>) {
        statement
            .push("WITH bounds AS (SELECT archive_number * 68719476736 AS low FROM sessions WHERE id = ")
            .push_bind(search.session)
            .push("), candidates AS MATERIALIZED (SELECT rowid AS archive_row, source, item, text, lower(text) AS folded FROM session_archive WHERE session_archive MATCH ")
            .push_bind(match_expression(search.words))
            .push(" AND rowid >= (SELECT low FROM bounds) AND rowid < (SELECT low FROM bounds) + 68719476736 AND NOT (source = 'message' AND item >= ")
            .push_bind(search.exclude_messages_from)
            .push(") ORDER BY rowid DESC LIMIT ")
            .push_bind(SEARCH_CANDIDATES)
            .push(") SELECT source, item, text FROM candidates ORDER BY 0");
        for (word, weight) in search.words.iter().zip(weights(search.words)) {
            statement
                .push(" + (instr(folded, ")
                .push_bind(word.to_ascii_lowercase())
                .push(") > 0) * ")
                .push_bind(weight);
        }
        statement
            .push(" DESC, archive_row DESC LIMIT ")
            .push_bind(search.limit);
    }

    async fn execute_returning(
        &self,
        statement: QueryBuilder<sqlx::Sqlite>,
    ) -> Result<Vec<(String, String)>, WriteError> {
        self.commits.returning(statement).await
    }

    async fn execute(&self, script: SqliteScript) -> Result<u64, WriteError> {
        let write = Write::new(script.builder, script.statements)?;
        self.commits.write(write).await
    }
}

impl Store<Sqlite> {
    /// Opens (or creates) the database at `path`, after checking that an existing file is a
    /// weft database of a schema this weft knows; otherwise the file is not touched.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        Self::open_with(path, SqliteSettings::default()).await
    }

    /// [`Store::open`] with settings.
    pub async fn open_with(path: &Path, settings: SqliteSettings) -> Result<Self, OpenError> {
        open(path, settings, true).await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.dialect.path
    }
}

/// Opens the database at `path`; a missing file is created only if `create` says so.
pub(crate) async fn open(
    path: &Path,
    settings: SqliteSettings,
    create: bool,
) -> Result<SqliteStore, OpenError> {
    let location = Location::File(path.to_owned());
    inspect(path, &location).await?;
    let database = |error: sqlx::Error| open_error(&location, error);
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    // The writer is one long-lived connection, owned rather than pooled (`commits.rs`),
    // with no health check or pool bookkeeping per step.
    let mut connection = SqliteConnection::connect_with(&options)
        .await
        .map_err(database)?;
    sqlx::migrate!("../../migrations/sqlite")
        .run(&mut connection)
        .await
        .map_err(|error| migration_error(&location, error))?;
    if let Some(max_bytes) = settings.max_bytes {
        limit_size(&mut connection, max_bytes)
            .await
            .map_err(database)?;
    }
    let readers = SqlitePoolOptions::new()
        .max_connections(READERS)
        .test_before_acquire(false)
        .connect_with(options.read_only(true))
        .await
        .map_err(database)?;
    let dialect = Sqlite {
        path: path.to_owned(),
        commits: Commits::new(Writer::new(connection))
            .map_err(|error| database(sqlx::Error::Io(error)))?,
    };
    Ok(Store::new(dialect, readers, location))
}

/// Caps the file at `max_bytes`, in whole pages.
async fn limit_size(connection: &mut SqliteConnection, max_bytes: u64) -> Result<(), sqlx::Error> {
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut *connection)
        .await?;
    let pages = max_bytes / u64::try_from(page_size.max(1)).unwrap_or(4096);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA max_page_count = {pages}"
    )))
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Checks an existing file before anything writes to it.
async fn inspect(path: &Path, location: &Location) -> Result<(), OpenError> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok(()); // A new database.
    };
    let mut header = [0u8; 16];
    let read = file.read(&mut header).unwrap_or(0);
    if read == 0 {
        return Ok(()); // An empty file becomes a database.
    }
    let not_sqlite = || OpenError::NotSqlite {
        path: path.to_owned(),
    };
    if read < 16 || &header != b"SQLite format 3\0" {
        return Err(not_sqlite());
    }
    // Read-write (though nothing is written): after a crash, the write-ahead log may need
    // recovering before anything can be read, which a read-only connection cannot do.
    let options = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|error| open_error(location, error))?;
    let tables: Result<Vec<String>, OpenError> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&pool)
            .await
            .map_err(|error| match &error {
                sqlx::Error::Database(database) if database.code().as_deref() == Some("26") => {
                    not_sqlite()
                }
                _ => open_error(location, error),
            });
    let result = match tables {
        Ok(tables) if tables.iter().any(|table| table == "weft_meta") => {
            match sqlx::query_scalar(SELECT_SCHEMA_VERSION)
                .fetch_optional(&pool)
                .await
            {
                Ok(version) => check_version(location, version),
                Err(error) => Err(open_error(location, error)),
            }
        }
        Ok(tables)
            if tables
                .iter()
                .all(|table| table.starts_with("sqlite_") || table == "_sqlx_migrations") =>
        {
            Ok(())
        }
        Ok(_) => Err(OpenError::NotWeft {
            path: path.to_owned(),
        }),
        Err(error) => Err(error),
    };
    pool.close().await;
    result
}
