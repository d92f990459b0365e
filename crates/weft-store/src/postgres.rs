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
use crate::session::text::{SEARCH_CANDIDATES, Search, any_word_query, contains_patterns, weights};
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
        "id, workflow, source, status, parent_run, parent_step, parent_branch, created_at, updated_at, last_sequence, error, tenant"
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
    const RUN_COLUMNS: &'static str = summary_columns!();
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
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

    /// The candidates hold a word (`ILIKE`, which the trigram index serves and which finds
    /// a word inside text without spaces), newest first (notes before messages); they are
    /// ranked by the characters of the words they hold and the full-text rank.
    fn search(statement: &mut QueryBuilder<sqlx::Postgres>, search: &Search<'_>) {
        let patterns = contains_patterns(search.words);
        statement
            .push("SELECT source, item, text FROM (SELECT source, item, text, words FROM session_archive WHERE session_id = ")
            .push_bind(search.session)
            .push(" AND text ILIKE ANY (")
            .push_bind(patterns.clone())
            .push(") AND NOT (source = 'message' AND item >= ")
            .push_bind(search.exclude_messages_from)
            .push(") ORDER BY source DESC, item DESC LIMIT ")
            .push_bind(SEARCH_CANDIDATES)
            .push(") AS candidates ORDER BY (SELECT COALESCE(SUM(word.weight), 0) FROM unnest(")
            .push_bind(patterns)
            .push("::text[], ")
            .push_bind(weights(search.words))
            .push("::bigint[]) AS word (pattern, weight) WHERE text ILIKE word.pattern) + ts_rank(words, websearch_to_tsquery('simple', ")
            .push_bind(any_word_query(search.words))
            .push(")) DESC, source DESC, item DESC LIMIT ")
            .push_bind(search.limit);
    }

    async fn execute_returning(
        &self,
        mut statement: QueryBuilder<sqlx::Postgres>,
    ) -> Result<Vec<(String, String)>, WriteError> {
        statement
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(WriteError::Database)
    }

    async fn execute(&self, script: PostgresScript) -> Result<u64, WriteError> {
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
        let mut rows = 0;
        for (mut statement, checked) in statements {
            let result = statement
                .build()
                .execute(&mut *transaction)
                .await
                .map_err(WriteError::Database)?;
            rows += changed(result.rows_affected(), checked)?;
        }
        transaction.commit().await.map_err(WriteError::Database)?;
        Ok(rows)
    }
}

/// The rows a statement changed; a checked statement must have changed exactly one.
fn changed(rows: u64, checked: bool) -> Result<u64, WriteError> {
    if checked && rows != 1 {
        return Err(WriteError::RunRowUnchanged);
    }
    Ok(rows)
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
