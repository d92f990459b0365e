//! The PostgreSQL dialect: several weft processes on several machines share one database.
//! The run row keeps where its log ends, and every append updates it only if it still ends
//! right before the batch: PostgreSQL locks the row, so of two writers one waits, then finds
//! nothing to update, and its append is a conflict. A write is its statements one by one in
//! a transaction.

use crate::batch::Batch;
use crate::dialect::{Dialect, Script, WriteError};
use crate::error::{OpenError, migration_error, open_error};
use crate::location::Location;
use crate::schema::{SELECT_SCHEMA_VERSION, check_version};
use crate::store::Store;
use sqlx::QueryBuilder;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;

const CONNECTIONS: u32 = 8;

/// A weft database in PostgreSQL.
pub type PostgresStore = Store<Postgres>;

/// The columns a run summary is read from (a macro, so queries stay literal strings).
macro_rules! summary_columns {
    () => {
        "id, workflow, source, status, parent_run, parent_step, parent_branch, created_at, updated_at, last_sequence, error"
    };
}

/// The PostgreSQL dialect: the pool that writes (and reads).
#[derive(Debug, Clone)]
pub struct Postgres {
    pool: PgPool,
}

/// A write as statements sent one by one; the marked ones must change exactly one row.
pub struct PostgresScript {
    statements: Vec<(QueryBuilder<sqlx::Postgres>, bool)>,
}

impl PostgresScript {
    /// Starts a statement that must change exactly one row, else the write is undone.
    fn checked_statement(&mut self) -> &mut QueryBuilder<sqlx::Postgres> {
        self.push(true)
    }

    fn push(&mut self, checked: bool) -> &mut QueryBuilder<sqlx::Postgres> {
        self.statements.push((QueryBuilder::new(""), checked));
        let last = self.statements.len() - 1;
        &mut self.statements[last].0
    }
}

impl Script<sqlx::Postgres> for PostgresScript {
    fn statement(&mut self) -> &mut QueryBuilder<sqlx::Postgres> {
        self.push(false)
    }
}

impl Dialect for Postgres {
    type Database = sqlx::Postgres;
    type Script = PostgresScript;

    const SELECT_RUN: &'static str =
        concat!("SELECT ", summary_columns!(), " FROM runs WHERE id = $1");
    const SELECT_RUNS: &'static str = concat!(
        "SELECT ",
        summary_columns!(),
        " FROM runs WHERE ($1::text IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
    );
    const SELECT_TOP_LEVEL_RUNS: &'static str = concat!(
        "SELECT ",
        summary_columns!(),
        " FROM runs WHERE ($1::text IS NULL OR status = $1) AND parent_run IS NULL ORDER BY id DESC LIMIT $2"
    );
    const SELECT_BATCHES: &'static str = "SELECT first_sequence, last_sequence, at_millis, encoding, events FROM event_batches WHERE run_id = $1 AND last_sequence > $2 ORDER BY first_sequence";
    const SELECT_SNAPSHOT: &'static str = "SELECT sequence, encoding, data FROM snapshots WHERE run_id = $1 ORDER BY sequence DESC LIMIT 1";
    const SELECT_LOG_END: &'static str = "SELECT last_sequence FROM runs WHERE id = $1";
    // The append's update of the run row sets both right after.
    const NEW_RUN_COLUMNS: &'static str = ", updated_at, last_sequence";
    const NEW_RUN_VALUES: &'static str = ", 0, 0";

    fn script(statements: usize) -> PostgresScript {
        PostgresScript {
            statements: Vec::with_capacity(statements),
        }
    }

    fn run_row_statements(_: &Batch) -> usize {
        1
    }

    /// The sequence check: the row moves to the batch's end only from right before it.
    fn update_run_row(script: &mut PostgresScript, run: &str, batch: &Batch) {
        let (status, error) = match &batch.status {
            Some((status, error)) => (Some(status.as_str()), error.as_deref()),
            None => (None, None),
        };
        script
            .checked_statement()
            .push("UPDATE runs SET last_sequence = ")
            .push_bind(batch.last_sequence)
            .push(", updated_at = ")
            .push_bind(batch.at_millis)
            .push(", status = COALESCE(")
            .push_bind(status)
            .push(", status), error = CASE WHEN ")
            .push_bind(status)
            .push("::text IS NULL THEN error ELSE ")
            .push_bind(error)
            .push(" END WHERE id = ")
            .push_bind(run)
            .push(" AND last_sequence = ")
            .push_bind(batch.first_sequence - 1);
    }

    async fn execute(&self, script: PostgresScript) -> Result<(), WriteError> {
        let mut statements = script.statements;
        if statements.len() == 1
            && let Some((mut statement, checked)) = statements.pop()
        {
            let result = statement
                .build()
                .execute(&self.pool)
                .await
                .map_err(WriteError::Database)?;
            return changed(result.rows_affected(), checked);
        }
        // Dropping the transaction unfinished rolls it back.
        let mut transaction = self.pool.begin().await.map_err(WriteError::Database)?;
        for (mut statement, checked) in statements {
            let result = statement
                .build()
                .execute(&mut *transaction)
                .await
                .map_err(WriteError::Database)?;
            changed(result.rows_affected(), checked)?;
        }
        transaction.commit().await.map_err(WriteError::Database)
    }
}

/// A checked statement must have changed exactly one row.
fn changed(rows: u64, checked: bool) -> Result<(), WriteError> {
    if checked && rows != 1 {
        return Err(WriteError::RunRowUnchanged);
    }
    Ok(())
}

impl Store<Postgres> {
    /// Connects to `url` (e.g. `postgres://postgres@127.0.0.1:5432/test`), refuses a database
    /// with a newer weft schema, and migrates an older or empty one.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|error| open_error(&Location::server(url), error))?;
        Self::connect_with(url, options).await
    }

    /// Connects with explicit options (tests use them to put each test in its own schema);
    /// `label` names the database in messages (a URL's password is left out).
    pub async fn connect_with(label: &str, options: PgConnectOptions) -> Result<Self, OpenError> {
        let location = Location::server(label);
        let database = |error: sqlx::Error| open_error(&location, error);
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(database)?;
        let has_meta: bool = sqlx::query_scalar("SELECT to_regclass('weft_meta') IS NOT NULL")
            .fetch_one(&pool)
            .await
            .map_err(database)?;
        if has_meta {
            let version: Option<String> = sqlx::query_scalar(SELECT_SCHEMA_VERSION)
                .fetch_optional(&pool)
                .await
                .map_err(database)?;
            check_version(&location, version)?;
        }
        sqlx::migrate!("../../migrations/postgres")
            .run(&pool)
            .await
            .map_err(|error| migration_error(&location, error))?;
        Ok(Store::new(Postgres { pool: pool.clone() }, pool, location))
    }
}
