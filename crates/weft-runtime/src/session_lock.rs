//! A run that speaks in a session holds the session's lock while it runs: two runs never
//! write one session at once. The lock is a lease: renewed while the run goes on, given
//! up when it stops (the store gives it up itself when the run's status leaves `running`),
//! and free for others once it expires after a crash.

use crate::active::ActiveRun;
use crate::error::RuntimeError;
use crate::runtime::Runtime;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use weft_core::{
    EventRecord, Lease, Lock, RunId, SessionAccess, SessionId, SessionRef, SessionStore, StoreError,
};

/// How long a lock lasts without renewal: a crashed run's session is free after this.
pub const SESSION_LEASE: Duration = Duration::from_secs(60);
/// How often a running run renews its lock.
pub(crate) const RENEW_EVERY: Duration = Duration::from_secs(20);
/// How often a waiting run asks again.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// How [`Runtime::start_holding`] records a run's start.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Holding<'a> {
    /// The lease of the daemon that executes the run, which it is recorded taken under.
    pub lease: Option<&'a Lease>,
    /// Whether to wait, up to the runtime's session wait, while another run holds the lock.
    pub wait: bool,
}

/// A session lock a run holds.
pub(crate) struct SessionLease {
    store: Arc<dyn SessionStore>,
    session: SessionId,
    name: String,
    run: RunId,
    /// When to renew it next.
    pub renew_at: Instant,
}

impl Runtime {
    /// Takes the lock of the run's session, if it has one, waiting up to the runtime's
    /// session wait for another run to give it up.
    pub(crate) async fn take_session(
        &self,
        run: &ActiveRun,
    ) -> Result<Option<SessionLease>, RuntimeError> {
        let Some(session) = run.machine.session() else {
            return Ok(None);
        };
        let store = self.sessions_for(session)?.clone();
        // A lock the run's request took already is renewed on its own schedule.
        let renew_at = match self.taken_locks.take(run.id(), RENEW_EVERY) {
            Some(at) => at + RENEW_EVERY,
            None => {
                self.until_held(session, true, |until| {
                    store.lock(session.id, run.id(), until)
                })
                .await?;
                Instant::now() + RENEW_EVERY
            }
        };
        Ok(Some(SessionLease {
            store,
            session: session.id,
            name: session.name.clone(),
            run: run.id(),
            renew_at,
        }))
    }

    /// Records `records`, which start `run` in `session`, and takes the session's lock for
    /// it in the same write ([`SessionStore::start_locked`]). A busy session is an error at
    /// once, or, with `wait`, after the runtime's session wait; nothing is recorded then.
    pub(crate) async fn start_holding(
        &self,
        run: RunId,
        session: &SessionRef,
        records: &[EventRecord],
        start: Holding<'_>,
    ) -> Result<(), RuntimeError> {
        let store = self.sessions_for(session)?;
        self.until_held(session, start.wait, |until| {
            store.start_locked(run, records, until, start.lease)
        })
        .await?;
        self.taken_locks.taken(run, RENEW_EVERY);
        Ok(())
    }

    /// Takes the session's lock for `run` without waiting: a busy session is an error.
    pub(crate) async fn lock_session_now(
        &self,
        run: RunId,
        session: &SessionRef,
    ) -> Result<(), RuntimeError> {
        let store = self.sessions_for(session)?;
        self.until_held(session, false, |until| store.lock(session.id, run, until))
            .await?;
        self.taken_locks.taken(run, RENEW_EVERY);
        Ok(())
    }

    /// Where the session's lock is kept: a runtime without sessions cannot run in one.
    fn sessions_for(&self, session: &SessionRef) -> Result<&Arc<dyn SessionStore>, RuntimeError> {
        self.session_store()
            .ok_or_else(|| RuntimeError::NoSessions {
                session: session.name.clone(),
            })
    }

    /// Asks `attempt` (given when the lock is to run out) until the session's lock is held:
    /// a busy session is an error at once, or, with `wait`, once the runtime's session wait
    /// has passed.
    async fn until_held<'a, Attempt>(
        &self,
        session: &SessionRef,
        wait: bool,
        mut attempt: Attempt,
    ) -> Result<(), RuntimeError>
    where
        Attempt: FnMut(u64) -> BoxFuture<'a, Result<Lock, StoreError>>,
    {
        let started = Instant::now();
        loop {
            let until = self.now_millis() + SESSION_LEASE.as_millis() as u64;
            match attempt(until).await? {
                Lock::Held => return Ok(()),
                Lock::Busy { holder } => {
                    if !wait || started.elapsed() >= self.session_wait {
                        return Err(RuntimeError::SessionBusy {
                            session: session.name.clone(),
                            holder,
                            waited_seconds: started.elapsed().as_secs(),
                        });
                    }
                    tokio::time::sleep(POLL_EVERY).await;
                }
            }
        }
    }

    /// The run's session as its tool calls reach it (the memory tools work on it).
    pub(crate) fn session_access(&self, run: &ActiveRun) -> Option<SessionAccess> {
        let session = run.machine.session()?;
        Some(SessionAccess {
            id: session.id,
            name: session.name.clone(),
            store: self.sessions.clone()?,
        })
    }

    /// Renews the lock; a run that lost it must stop.
    pub(crate) async fn renew_session(&self, lease: &mut SessionLease) -> Result<(), RuntimeError> {
        let until = self.now_millis() + SESSION_LEASE.as_millis() as u64;
        match lease.store.lock(lease.session, lease.run, until).await? {
            Lock::Held => {
                lease.renew_at = Instant::now() + RENEW_EVERY;
                Ok(())
            }
            Lock::Busy { holder } => Err(RuntimeError::SessionLost {
                run: lease.run,
                session: lease.name.clone(),
                holder,
            }),
        }
    }
}

impl SessionLease {
    /// Gives the lock up now (a run that stopped without a final event: shut down, or
    /// failed to store its events), so the next run need not wait for it to expire. If
    /// this fails, the lock expires on its own.
    pub(crate) async fn give_up(self) {
        let _ = self.store.unlock(self.session, self.run).await;
    }
}
