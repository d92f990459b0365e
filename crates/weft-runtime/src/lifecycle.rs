//! A run's life as the API sees it: starting one, loading one from its log, forking one at a
//! step, driving a loaded run on, and answering a run that waits for a person.

use crate::active::ActiveRun;
use crate::error::RuntimeError;
use crate::runtime::Runtime;
use crate::session_lock::Holding;
use futures::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use weft_core::{
    DEFAULT_TENANT, Event, EventRecord, RunId, RunSetup, RunStatus, SessionInfo, SessionRef,
    SessionSpec,
};
use weft_workflow::{RunMachine, Workflow};

impl Runtime {
    /// Starts a run and drives it until it finishes, fails, is cancelled or waits for input.
    pub async fn start(
        &self,
        workflow: Arc<Workflow>,
        input: Value,
        cancel: &CancellationToken,
    ) -> Result<ActiveRun, RuntimeError> {
        self.start_with_setup(workflow, input, None, cancel).await
    }

    /// [`Runtime::start`], recording what the front end set the run up with (its folder,
    /// the models that replaced the workflow's), so that resuming it elsewhere behaves the
    /// same.
    pub async fn start_with_setup(
        &self,
        workflow: Arc<Workflow>,
        input: Value,
        setup: Option<RunSetup>,
        cancel: &CancellationToken,
    ) -> Result<ActiveRun, RuntimeError> {
        let setup = self.keep_texts(&workflow, setup).await?;
        let (machine, decision) =
            RunMachine::start_with_setup(workflow, RunId::new(), input, None, setup)?;
        let mut run = ActiveRun::new(machine);
        self.drive(&mut run, decision, cancel).await?;
        Ok(run)
    }

    /// [`Runtime::start_with_setup`] for a run that speaks in `session` (see
    /// [`Runtime::open_session`]): its `agent` and `llm` nodes see the session's history
    /// and add to it. The run holds the session while it runs: if another run holds it,
    /// this one waits up to the runtime's session wait, then fails with
    /// [`RuntimeError::SessionBusy`] before anything is recorded.
    pub async fn start_in_session(
        &self,
        workflow: Arc<Workflow>,
        input: Value,
        setup: Option<RunSetup>,
        session: SessionRef,
        cancel: &CancellationToken,
    ) -> Result<ActiveRun, RuntimeError> {
        let setup = self.keep_texts(&workflow, setup).await?;
        let (machine, decision) = RunMachine::start_in_session(
            workflow,
            RunId::new(),
            input,
            None,
            setup,
            Some(session),
        )?;
        let mut run = ActiveRun::new(machine);
        self.drive(&mut run, decision, cancel).await?;
        Ok(run)
    }

    /// The session called `name` (of the default tenant), created for `workflow` if there
    /// is none. A session made for another workflow opens too (its `workflow` says which);
    /// a front end that runs `workflow` in it should say so.
    pub async fn open_session(
        &self,
        name: &str,
        workflow: &Workflow,
    ) -> Result<SessionInfo, RuntimeError> {
        let Some(store) = &self.sessions else {
            return Err(RuntimeError::NoSessions {
                session: name.to_owned(),
            });
        };
        Ok(store
            .open_session(&SessionSpec {
                tenant: DEFAULT_TENANT.to_owned(),
                name: name.to_owned(),
                workflow: workflow.name.clone(),
                source: workflow.location.display().to_string(),
            })
            .await?)
    }

    /// Rebuilds a run from its log in the store.
    pub async fn load(
        &self,
        workflow: Arc<Workflow>,
        run: RunId,
    ) -> Result<ActiveRun, RuntimeError> {
        if let Some(restored) = self.restore_from_snapshot(&workflow, run).await? {
            return Ok(restored);
        }
        let records = self.store.events(run, 0).await?;
        let machine =
            RunMachine::restore(workflow, run, records.iter().map(|record| &record.event))?;
        Ok(ActiveRun::restored(
            machine,
            records.last().map_or(0, |record| record.sequence),
        ))
    }

    /// Rebuilds a run from its log as the caller read it already (`records`, from its first
    /// event). A log long enough to have a snapshot is loaded from the store's snapshot
    /// instead.
    pub async fn load_from(
        &self,
        workflow: Arc<Workflow>,
        run: RunId,
        records: &[EventRecord],
    ) -> Result<ActiveRun, RuntimeError> {
        if records.len() as u64 > self.snapshot_every && self.snapshot_every > 0 {
            return self.load(workflow, run).await;
        }
        let machine =
            RunMachine::restore(workflow, run, records.iter().map(|record| &record.event))?;
        Ok(ActiveRun::restored(
            machine,
            records.last().map_or(0, |record| record.sequence),
        ))
    }

    /// Forks `original` at step `step`: a new run whose log is the original's events before
    /// that step (renumbered, under the new id), so it runs that step again from the same
    /// state. Returns the new run, ready for [`Runtime::continue_run`].
    pub async fn fork(
        &self,
        workflow: Arc<Workflow>,
        original: RunId,
        step: u64,
    ) -> Result<ActiveRun, RuntimeError> {
        let records = self.store.events(original, 0).await?;
        let cut = records
            .iter()
            .position(|record| matches!(record.event, Event::StepStarted { step: started, .. } if started == step))
            .ok_or_else(|| {
                let last = records
                    .iter()
                    .filter_map(|record| match record.event {
                        Event::StepStarted { step, .. } => Some(step),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                RuntimeError::NoSuchStep { run: original, step, last }
            })?;
        let fork = RunId::new();
        // One append, one time: the fork's log starts now.
        let at_millis = self.now_millis();
        let copied: Vec<EventRecord> = records[..cut]
            .iter()
            .enumerate()
            .map(|(index, record)| {
                let mut event = record.event.clone();
                if let Event::RunStarted { forked_from, .. } = &mut event {
                    *forked_from = Some(Box::new(weft_core::ForkPoint {
                        run: original,
                        step,
                    }));
                }
                EventRecord {
                    sequence: index as u64 + 1,
                    at_millis,
                    event,
                }
            })
            .collect();
        // A fork in a session takes the session's lock as its log starts (waiting for it
        // as a new run would): a run in a session is recorded only while it holds it.
        match weft_core::started_session(&copied) {
            Some(session) => {
                let start = Holding {
                    lease: None,
                    wait: true,
                };
                self.start_holding(fork, session, &copied, start).await?;
            }
            None => self.store.append(fork, &copied).await?,
        }
        for record in &copied {
            self.observer.on_event(fork, record);
        }
        let machine =
            RunMachine::restore(workflow, fork, copied.iter().map(|record| &record.event))?;
        Ok(ActiveRun::restored(machine, copied.len() as u64))
    }

    /// Drives a loaded run on from where its log ends: the effects that were in flight when
    /// it stopped are done again, and finished ones are not. A tool call that started and
    /// did not finish runs again only if its tool is idempotent; otherwise the run stops
    /// with status `needs_attention` (see [`Runtime::retry`] and [`Runtime::fail`]).
    pub async fn continue_run(
        &self,
        run: &mut ActiveRun,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        if run.status() != RunStatus::Running {
            return Ok(());
        }
        let decision = run.machine.pending()?;
        match self.hold_unsettled(run, decision).await? {
            Some(decision) => self.drive(run, decision, cancel).await,
            None => Ok(()),
        }
    }

    /// Records that `run`, loaded on another version of its workflow than the texts it ran
    /// on so far (see `weft workflows diff` for when that is sound), goes on with that
    /// version: its texts are kept in the store and a `WorkflowUpgraded` event names them,
    /// so every later load uses them. A workflow built without a loader has no texts to
    /// keep; then nothing is recorded.
    pub async fn record_upgrade(&self, run: &mut ActiveRun) -> Result<(), RuntimeError> {
        let workflow = run.machine.workflow().clone();
        let Some(setup) = self.keep_texts(&workflow, None).await? else {
            return Ok(());
        };
        let files = std::sync::Arc::unwrap_or_clone(setup.workflow_files);
        self.commit(run, vec![Event::WorkflowUpgraded { files }])
            .await?;
        Ok(())
    }

    /// Answers an interrupted run's only question and drives it on. A bad answer is
    /// refused before anything is recorded, so the caller may ask again.
    pub async fn resume(
        &self,
        run: &mut ActiveRun,
        input: Value,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        self.answer(run, None, input, cancel).await
    }

    /// Answers the open question `question` (`None`: the only one) and drives the run on
    /// until it ends or stops again (for the questions still open, or new ones). A bad
    /// answer, or an id that is no open question's, is refused before anything is recorded.
    pub async fn answer(
        &self,
        run: &mut ActiveRun,
        question: Option<&str>,
        input: Value,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        self.attach_waiting_children(run).await?;
        run.check_answer_to(question, &input)?;
        let decision = run.machine.answer(question, input)?;
        self.drive(run, decision, cancel).await
    }

    /// After a restart, a run that waits through a sub-workflow has no child in memory: load
    /// the waiting child (and its own waiting child) from the store, so the answer is checked
    /// where it will be taken.
    pub(crate) fn attach_waiting_children<'a>(
        &'a self,
        run: &'a mut ActiveRun,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            for question in run.machine.questions() {
                let Some((branch, Some(child_id))) = question.child else {
                    continue;
                };
                let key = (question.step, branch);
                if run.children.contains_key(&key) {
                    continue;
                }
                let Some(workflow) = run.machine.child_workflow(question.step, branch) else {
                    continue;
                };
                let mut child = self.load(workflow, child_id).await?;
                self.attach_waiting_children(&mut child).await?;
                run.children.insert(key, child);
            }
            Ok(())
        })
    }
}
