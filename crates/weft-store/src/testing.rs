//! Tests against a PostgreSQL server, for every crate whose tests need one (cargo feature
//! `testing`). Each test works in a fresh schema of its own, so tests run in parallel.
//!
//! Where no server answers, the tests pass as skipped, and the first to skip writes one
//! line that names them, says why, and says how to point them at a server. The line goes
//! straight to the standard error: libtest captures what `eprintln!` prints and shows it
//! only for failing tests. `WEFT_REQUIRE_POSTGRES=1` makes a missing server fail them
//! instead, so that CI never skips them unnoticed.
//!
//! ```no_run
//! # async fn example() {
//! use weft_store::testing::PostgresTests;
//!
//! static POSTGRES: PostgresTests = PostgresTests::new("my-crate", &["runs_are_kept"]);
//!
//! // #[tokio::test]
//! async fn runs_are_kept() {
//!     let Some(schema) = POSTGRES.schema("runs_are_kept").await.unwrap() else {
//!         return; // No server: skipped, and said so once.
//!     };
//!     let store = schema.store().await.unwrap();
//!     // ...
//!     schema.remove().await.unwrap();
//! }
//! # }
//! ```

use crate::error::{OpenError, open_error};
use crate::location::Location;
use crate::postgres::PostgresStore;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The environment variable holding the URL of the server the tests use.
pub const POSTGRES_URL_VARIABLE: &str = "WEFT_TEST_POSTGRES_URL";
/// The environment variable that, set to `1`, fails the tests when no server answers.
pub const REQUIRE_POSTGRES_VARIABLE: &str = "WEFT_REQUIRE_POSTGRES";
/// The server the tests use when [`POSTGRES_URL_VARIABLE`] is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How long a test waits for the server before counting it missing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The URL of the server the tests use: [`POSTGRES_URL_VARIABLE`], else
/// [`DEFAULT_POSTGRES_URL`].
pub fn postgres_url() -> String {
    std::env::var(POSTGRES_URL_VARIABLE)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// Whether [`REQUIRE_POSTGRES_VARIABLE`] asks for a server (`1` or `true`).
pub fn postgres_required() -> bool {
    std::env::var(REQUIRE_POSTGRES_VARIABLE)
        .is_ok_and(|value| value == "1" || value.eq_ignore_ascii_case("true"))
}

/// The PostgreSQL tests of one test binary: the names it lists, and whether a server was
/// found missing (the tests after the first then skip without waiting for it again).
#[derive(Debug)]
pub struct PostgresTests {
    binary: &'static str,
    tests: &'static [&'static str],
    missing: Mutex<Option<Arc<sqlx::Error>>>,
    reported: AtomicBool,
}

impl PostgresTests {
    /// The tests named `tests` of the test binary `binary` (named so in the skip line, e.g.
    /// `weft-store tests/it`); a test not listed here fails when it asks for a schema, so
    /// the list stays complete.
    pub const fn new(binary: &'static str, tests: &'static [&'static str]) -> Self {
        Self {
            binary,
            tests,
            missing: Mutex::new(None),
            reported: AtomicBool::new(false),
        }
    }

    /// A fresh schema on the server for `test`; `None` when no server answers and the test
    /// is to pass as skipped (the first skip writes the line that says so), unless
    /// [`REQUIRE_POSTGRES_VARIABLE`] asks for a server.
    pub async fn schema(&self, test: &str) -> Result<Option<TestSchema>, TestServerError> {
        if !self.tests.contains(&test) {
            return Err(TestServerError::Unlisted {
                binary: self.binary,
                test: test.to_owned(),
            });
        }
        let url = postgres_url();
        let known = self
            .missing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let cause = match known {
            Some(cause) => cause,
            None => match connect(&url).await {
                Ok(admin) => return TestSchema::create(url, admin).await.map(Some),
                Err(error) => {
                    let cause = Arc::new(error);
                    *self.missing.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(cause.clone());
                    cause
                }
            },
        };
        let location = Location::server(&url);
        if postgres_required() {
            return Err(TestServerError::Required { location, cause });
        }
        self.report(&location, &cause);
        Ok(None)
    }

    /// Writes the one line of this binary that says its tests are skipped, and why.
    fn report(&self, location: &Location, cause: &sqlx::Error) {
        if self.reported.swap(true, Ordering::SeqCst) {
            return;
        }
        let line = format!(
            "note: {binary}: skipping {count} PostgreSQL tests ({names}): no PostgreSQL server at {location} ({cause}); set {POSTGRES_URL_VARIABLE} to a server's URL to run them, or {REQUIRE_POSTGRES_VARIABLE}=1 to fail without one\n",
            binary = self.binary,
            count = self.tests.len(),
            names = self.tests.join(", "),
        );
        // Straight to the standard error: `eprintln!` would be captured by libtest.
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

/// A connection pool on the server, for setting tests up, once one connection was made:
/// a pool would try a refused connection again and again until its timeout.
async fn connect(url: &str) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
        .await
        .map_err(|_| {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            ))
        })??;
    let _ = probe.close().await;
    Ok(PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_lazy_with(options))
}

/// Why a PostgreSQL test cannot run (and fails).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestServerError {
    /// The test is missing from its binary's [`PostgresTests`] list.
    #[error(
        "the test {test} is not among the PostgreSQL tests of {binary}; add it to the list given to PostgresTests::new"
    )]
    Unlisted {
        /// The binary.
        binary: &'static str,
        /// The test.
        test: String,
    },
    /// No server answers, and [`REQUIRE_POSTGRES_VARIABLE`] asks for one.
    #[error(
        "no PostgreSQL server at {location} ({cause}), and {REQUIRE_POSTGRES_VARIABLE}=1 requires one; set {POSTGRES_URL_VARIABLE} to a server's URL"
    )]
    Required {
        /// The server tried.
        location: Location,
        /// Why it did not answer.
        #[source]
        cause: Arc<sqlx::Error>,
    },
    /// The server answered but the test's schema could not be made.
    #[error("cannot make a test schema at {location}: {source}")]
    Schema {
        /// The server.
        location: Location,
        /// Its error.
        source: sqlx::Error,
    },
}

/// A schema of its own for one test, on the test server.
#[derive(Debug)]
pub struct TestSchema {
    url: String,
    name: String,
    admin: PgPool,
}

impl TestSchema {
    /// Makes a schema with a fresh name.
    async fn create(url: String, admin: PgPool) -> Result<Self, TestServerError> {
        let name = format!("weft_test_{}", weft_core::RunId::new().as_uuid().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .map_err(|source| TestServerError::Schema {
                location: Location::server(&url),
                source,
            })?;
        Ok(Self { url, name, admin })
    }

    /// The schema's name (tables in it are `NAME.runs` and so on).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A pool on the server outside the schema, for looking at or damaging its tables.
    pub fn admin(&self) -> &PgPool {
        &self.admin
    }

    /// A URL of the server whose connections work in the schema, for `weft_store::open`.
    pub fn url(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.url, self.name
        )
    }

    /// Connection options that work in the schema.
    pub fn connect_options(&self) -> Result<PgConnectOptions, sqlx::Error> {
        Ok(PgConnectOptions::from_str(&self.url)?.options([("search_path", self.name.as_str())]))
    }

    /// A store in the schema (each call a new one, as another process would open it).
    pub async fn store(&self) -> Result<PostgresStore, OpenError> {
        let options = self
            .connect_options()
            .map_err(|error| open_error(&Location::server(&self.url), error))?;
        PostgresStore::connect_with(&self.url, options).await
    }

    /// Drops the schema and everything in it.
    pub async fn remove(self) -> Result<(), sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.name
        )))
        .execute(&self.admin)
        .await?;
        self.admin.close().await;
        Ok(())
    }
}
