//! The run queue ([`RunQueue`]) for every dialect: daemons, and the leases their workers
//! hold on served runs. A served run waits for a worker while its status is `queued` or
//! `running` and no lease on it is live; a claim takes the oldest such runs in one
//! statement (PostgreSQL skips the rows another daemon's claim has locked), and the first
//! claim of a run moves it from `queued` to `running`.

use crate::dialect::{Dialect, Script};
use crate::error::store_error;
use crate::store::{Store, write_error};
use futures::future::BoxFuture;
use sqlx::{Decode, Encode, Executor, IntoArguments, QueryBuilder, Type};
use std::str::FromStr;
use weft_core::{ClaimedRun, DaemonInfo, ErrorKind, QueueDepth, RunId, RunQueue, StoreError};

/// The condition of a served run that waits for a worker: binds nothing; `?` is now.
const WAITING: &str = "queued_at IS NOT NULL AND status IN ('queued', 'running')";

/// Milliseconds as the database keeps them.
fn millis(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl<D, Database> RunQueue for Store<D>
where
    D: Dialect<Database = Database>,
    Database: sqlx::Database,
    Database::Arguments: IntoArguments<Database>,
    for<'c> &'c mut Database::Connection: Executor<'c, Database = Database>,
    for<'a> &'a str: Encode<'a, Database> + Type<Database>,
    for<'a> i64: Encode<'a, Database> + Decode<'a, Database> + Type<Database>,
    for<'a> String: Decode<'a, Database> + Type<Database>,
    for<'r> (String, String): sqlx::FromRow<'r, Database::Row>,
    for<'r> (String, String, i64, i64, i64): sqlx::FromRow<'r, Database::Row>,
    for<'r> (i64, i64): sqlx::FromRow<'r, Database::Row>,
    for<'r> (String, i64): sqlx::FromRow<'r, Database::Row>,
{
    fn register_daemon<'a>(
        &'a self,
        daemon: &'a DaemonInfo,
        exclusive: bool,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let now = millis(now_millis());
            let mut script = D::script(2);
            script
                .statement()
                .push("DELETE FROM daemons WHERE alive_until < ")
                .push_bind(now)
                .push(" AND id <> ")
                .push_bind(daemon.id.as_str());
            let statement = script
                .statement()
                .push("INSERT INTO daemons (id, host, pid, started_at, alive_until) SELECT ")
                .push_bind(daemon.id.as_str())
                .push(", ")
                .push_bind(daemon.host.as_str())
                .push(", ")
                .push_bind(i64::from(daemon.pid))
                .push(", ")
                .push_bind(millis(daemon.started_at_millis))
                .push(", ")
                .push_bind(millis(daemon.alive_until_millis));
            if exclusive {
                statement
                    .push(" WHERE NOT EXISTS (SELECT 1 FROM daemons WHERE id <> ")
                    .push_bind(daemon.id.as_str())
                    .push(")");
            } else {
                statement.push(" WHERE 1 = 1");
            }
            statement.push(" ON CONFLICT (id) DO UPDATE SET alive_until = excluded.alive_until");
            self.dialect
                .execute(script)
                .await
                .map_err(|error| write_error("registering a daemon", error))?;
            let daemons = self.read_daemons().await?;
            if daemons.iter().any(|known| known.id == daemon.id) {
                return Ok(());
            }
            let other = daemons
                .iter()
                .map(|other| {
                    format!(
                        "process {} on {} (alive until {} ms since the epoch)",
                        other.pid, other.host, other.alive_until_millis
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            Err(StoreError::new(
                ErrorKind::Conflict,
                format!(
                    "another daemon serves this database: {other}; a SQLite file has one daemon (stop that one, or serve PostgreSQL to run several)"
                ),
            ))
        })
    }

    fn daemons(&self) -> BoxFuture<'_, Result<Vec<DaemonInfo>, StoreError>> {
        Box::pin(self.read_daemons())
    }

    fn unregister_daemon<'a>(&'a self, daemon: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut script = D::script(2);
            script
                .statement()
                .push("UPDATE runs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ")
                .push_bind(daemon);
            script
                .statement()
                .push("DELETE FROM daemons WHERE id = ")
                .push_bind(daemon);
            self.dialect
                .execute(script)
                .await
                .map(|_| ())
                .map_err(|error| write_error("unregistering a daemon", error))
        })
    }

    fn claim<'a>(
        &'a self,
        daemon: &'a str,
        now: u64,
        until: u64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<ClaimedRun>, StoreError>> {
        Box::pin(async move {
            let mut statement = QueryBuilder::<Database>::new("UPDATE runs SET lease_owner = ");
            statement
                .push_bind(daemon)
                .push(", lease_until = ")
                .push_bind(millis(until))
                .push(", status = CASE WHEN status = 'queued' THEN 'running' ELSE status END WHERE id IN (SELECT id FROM runs WHERE ")
                .push(WAITING)
                .push(" AND (lease_until IS NULL OR lease_until < ")
                .push_bind(millis(now))
                .push(") ORDER BY queued_at LIMIT ")
                .push_bind(i64::from(limit))
                .push(D::SKIP_LOCKED)
                .push(") RETURNING id, tenant");
            let rows = self
                .dialect
                .execute_returning(statement)
                .await
                .map_err(|error| write_error("claiming queued runs", error))?;
            rows.into_iter()
                .map(|(id, tenant)| {
                    Ok(ClaimedRun {
                        id: run_id(&id)?,
                        tenant,
                    })
                })
                .collect()
        })
    }

    fn renew<'a>(
        &'a self,
        daemon: &'a str,
        runs: &'a [RunId],
        until: u64,
    ) -> BoxFuture<'a, Result<Vec<RunId>, StoreError>> {
        Box::pin(async move {
            if runs.is_empty() {
                return Ok(Vec::new());
            }
            let mut statement = QueryBuilder::<Database>::new("UPDATE runs SET lease_until = ");
            statement
                .push_bind(millis(until))
                .push(" WHERE lease_owner = ")
                .push_bind(daemon)
                .push(" AND id IN (");
            let mut listed = statement.separated(", ");
            for run in runs {
                listed.push_bind(run.to_string().as_str());
            }
            statement.push(") RETURNING id, tenant");
            let held = self
                .dialect
                .execute_returning(statement)
                .await
                .map_err(|error| write_error("renewing leases", error))?;
            let held: Vec<&str> = held.iter().map(|(id, _)| id.as_str()).collect();
            Ok(runs
                .iter()
                .filter(|run| !held.contains(&run.to_string().as_str()))
                .copied()
                .collect())
        })
    }

    fn release<'a>(&'a self, daemon: &'a str, run: RunId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut script = D::script(1);
            script
                .statement()
                .push("UPDATE runs SET lease_owner = NULL, lease_until = NULL WHERE id = ")
                .push_bind(run.to_string().as_str())
                .push(" AND lease_owner = ")
                .push_bind(daemon);
            self.dialect
                .execute(script)
                .await
                .map(|_| ())
                .map_err(|error| write_error("releasing a lease", error))
        })
    }

    fn runs_by_status(&self) -> BoxFuture<'_, Result<Vec<(String, u64)>, StoreError>> {
        Box::pin(self.count_by_status())
    }

    fn depth(&self, now: u64) -> BoxFuture<'_, Result<QueueDepth, StoreError>> {
        Box::pin(async move {
            let mut query = QueryBuilder::<Database>::new(
                "SELECT count(*) FILTER (WHERE lease_until IS NULL OR lease_until < ",
            );
            query
                .push_bind(millis(now))
                .push("), count(*) FILTER (WHERE lease_until >= ")
                .push_bind(millis(now))
                .push(") FROM runs WHERE ")
                .push(WAITING);
            let (waiting, leased): (i64, i64) = query
                .build_query_as()
                .fetch_one(&self.readers)
                .await
                .map_err(|error| store_error("reading the queue", error))?;
            Ok(QueueDepth {
                waiting: u64::try_from(waiting).unwrap_or(0),
                leased: u64::try_from(leased).unwrap_or(0),
            })
        })
    }
}

impl<D, Database> Store<D>
where
    D: Dialect<Database = Database>,
    Database: sqlx::Database,
    Database::Arguments: IntoArguments<Database>,
    for<'c> &'c mut Database::Connection: Executor<'c, Database = Database>,
    for<'r> (String, i64): sqlx::FromRow<'r, Database::Row>,
{
    async fn count_by_status(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, count(*) FROM runs GROUP BY status ORDER BY status")
                .fetch_all(&self.readers)
                .await
                .map_err(|error| store_error("counting runs", error))?;
        Ok(rows
            .into_iter()
            .map(|(status, count)| (status, u64::try_from(count).unwrap_or(0)))
            .collect())
    }
}

impl<D, Database> Store<D>
where
    D: Dialect<Database = Database>,
    Database: sqlx::Database,
    Database::Arguments: IntoArguments<Database>,
    for<'c> &'c mut Database::Connection: Executor<'c, Database = Database>,
    for<'r> (String, String, i64, i64, i64): sqlx::FromRow<'r, Database::Row>,
{
    /// The daemons registered on the database, live or not.
    async fn read_daemons(&self) -> Result<Vec<DaemonInfo>, StoreError> {
        let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT id, host, pid, started_at, alive_until FROM daemons ORDER BY started_at",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(|error| store_error("reading daemons", error))?;
        Ok(rows
            .into_iter()
            .map(|(id, host, pid, started, alive)| DaemonInfo {
                id,
                host,
                pid: u32::try_from(pid).unwrap_or(0),
                started_at_millis: u64::try_from(started).unwrap_or(0),
                alive_until_millis: u64::try_from(alive).unwrap_or(0),
            })
            .collect())
    }
}

fn run_id(text: &str) -> Result<RunId, StoreError> {
    RunId::from_str(text).map_err(|_| {
        StoreError::new(
            ErrorKind::Corrupt,
            format!("a run row has a bad id `{text}`"),
        )
    })
}

fn now_millis() -> u64 {
    u64::try_from(crate::session::rows::now_millis()).unwrap_or(0)
}
