//! Rollback: undo what a stopped failover changed, in reverse, as a run of its own (journaled and
//! resumable like any). Its steps are the failback's that undo the kinds of step the stopped run
//! started, in the failback's order; the rest of the failback (its stability gate, hooks, what the
//! failover never touched) is left out.

use std::collections::HashSet;

use super::{
    graph::{self, StepKind},
    Orchestrator, PlanPreview, RunHeader, RunOutcome,
};
use crate::{
    error::{Error, Result},
    incident::IncidentClass,
    journal::{Entry, Journal, Operation, RunStatus},
    lock::RunLock,
    report::StepStatus,
    runs::RunRead,
};

/// What a rollback needs of the run it undoes.
struct Undone {
    class: IncidentClass,
    drill: bool,
    started: Vec<StepKind>,
    status: RunStatus,
}

impl Orchestrator {
    /// Rolls back the stopped failover (or drill stopped in its failover phase) `run_id`: a new run
    /// of operation [`Operation::Rollback`] that undoes, in reverse, what that run's steps changed.
    /// An interrupted run is given up on first (journaled in it as abandoned by the rollback).
    pub async fn rollback(&self, run_id: &str) -> Result<RunOutcome> {
        let (ctx, lock) = self.start_rollback(run_id)?;
        self.drive(ctx, Default::default(), lock, false).await
    }

    fn start_rollback(&self, run_id: &str) -> Result<(super::RunCtx, RunLock)> {
        let rb_id = self.new_run_id(Operation::Rollback);
        let lock = RunLock::acquire(&self.state, &self.plan.name, &rb_id, "rollback")?;
        // Read under the lock: no run of the plan changes it meanwhile.
        let undone = self.undone(run_id)?;
        let mut runs = crate::runs::try_list(&self.state)?;
        crate::runs::remove_without_journal(&self.state, &mut runs);
        // Another run blocks it (the interrupted run it undoes does not: it is given up on below,
        // once nothing can refuse the rollback any more).
        if let Some(rec) = crate::runs::blocking(&runs, &self.plan.name)
            .into_iter()
            .rfind(|r| r.run_id != run_id)
        {
            return Err(Error::refused(format!(
                "run {} blocks a rollback: it is {}; resume or abandon it first",
                rec.run_id,
                match &rec.read {
                    RunRead::Run(r) => r.status.as_str().to_string(),
                    RunRead::Corrupt(e) => format!("unreadable ({e})"),
                    RunRead::NoJournal => "without a journal".to_string(),
                }
            )));
        }
        let preview = self.rollback_preview(undone.class, undone.drill, &undone.started);
        if undone.status == RunStatus::Interrupted {
            let (mut j, _) = Journal::reopen(&self.state, run_id, &lock)?;
            j.append(&Entry::RunAbandoned {
                ts_ms: self.clock.now_ms(),
                reason: format!("rolled back by run {rb_id}"),
                by: rb_id.clone(),
            })?;
        }
        let started = self.clock.now_ms();
        let journal = Journal::create(
            &self.state,
            &rb_id,
            &Entry::RunStarted {
                ts_ms: started,
                run_id: rb_id.clone(),
                operation: Operation::Rollback,
                class: undone.class,
                plan: self.plan.name.clone(),
                targets: preview.targets,
                flags: Default::default(),
                steps: preview.graph.infos(&self.plan, &preview.estimate),
                estimate_ms: preview.estimate.total.as_millis() as u64,
                undoes: Some(run_id.to_string()),
                started_by: self.started_by.clone(),
                recovery_point: None,
            },
            &lock,
        )?;
        let header = RunHeader {
            run_id: rb_id,
            operation: Operation::Rollback,
            class: undone.class,
            targets: preview.targets,
            flags: Default::default(),
            started_ms: started,
            recovery_point: None,
        };
        Ok((self.ctx(header, preview, journal, Default::default()), lock))
    }

    /// The graph and estimate of the rollback of a run whose steps of kinds `started` started.
    fn rollback_preview(
        &self,
        class: IncidentClass,
        drill: bool,
        started: &[StepKind],
    ) -> PlanPreview {
        let graph = graph::rollback(&self.plan, class, drill, started);
        let estimates = self.providers.estimates_for(&self.plan);
        let estimate = super::estimate(
            &self.plan,
            &estimates,
            &graph,
            self.plan.execution.max_concurrency,
        );
        PlanPreview {
            operation: Operation::Rollback,
            class,
            targets: self.plan.targets(class),
            graph,
            estimate,
        }
    }

    /// The preview a resumed rollback runs: the same graph its start built from the run it undoes.
    pub(super) fn resumed_rollback_preview(
        &self,
        undoes: Option<&str>,
        class: IncidentClass,
    ) -> Result<PlanPreview> {
        let id =
            undoes.ok_or_else(|| Error::config("--resume: the rollback names no run it undoes"))?;
        let undone = self.undone_steps(id)?;
        Ok(self.rollback_preview(class, undone.drill, &undone.started))
    }

    /// The run `run_id` as a rollback may undo it: a failover, or a drill stopped in its failover
    /// phase, of this plan, that did not succeed.
    fn undone(&self, run_id: &str) -> Result<Undone> {
        // A completed or superseded run is refused by `undone_steps`.
        let u = self.undone_steps(run_id)?;
        match u.status {
            RunStatus::Running => Err(Error::refused(format!(
                "run `{run_id}` is running: stop it first (SIGINT or SIGTERM), then roll it back"
            ))),
            _ => Ok(u),
        }
    }

    fn undone_steps(&self, run_id: &str) -> Result<Undone> {
        if !crate::runs::is_run_id(run_id) {
            return Err(Error::config(format!(
                "rollback: `{run_id}` is not a run id"
            )));
        }
        let r = match crate::runs::read(&self.state, run_id).read {
            RunRead::Run(r) => r,
            RunRead::NoJournal if crate::runs::exists(&self.state, run_id) => {
                return Err(Error::config(format!(
                    "rollback: run `{run_id}` has no journal: it was killed before its first step, so nothing ran"
                )))
            }
            RunRead::NoJournal => {
                return Err(Error::config(format!(
                    "rollback: no run `{run_id}` in {}",
                    self.state
                )))
            }
            RunRead::Corrupt(e) => {
                return Err(Error::config(format!(
                    "rollback: run `{run_id}` cannot be read ({e}): what it changed is unknown; look at `aegis-dr estate`"
                )))
            }
        };
        if r.state.plan != self.plan.name {
            return Err(Error::config(format!(
                "rollback: run `{run_id}` belongs to plan `{}`",
                r.state.plan
            )));
        }
        let (op, class) = (r.state.operation, r.state.class);
        let drill = match op {
            Operation::Failover => false,
            Operation::Drill => true,
            Operation::Failback => {
                return Err(Error::refused(format!(
                    "rollback: run `{run_id}` is a failback; the way back from a failback is a failover (`aegis-dr failover --class {} --yes`), or resume it",
                    class.as_str()
                )))
            }
            Operation::Rollback => {
                return Err(Error::refused(format!(
                    "rollback: run `{run_id}` is a rollback itself: resume it (`aegis-dr rollback --resume {run_id} --yes`)"
                )))
            }
        };
        // The estate moved on since (the run was resumed to its end, or a later run succeeded,
        // a rollback of it among them): undoing it now would undo what serves.
        if r.status == RunStatus::Succeeded {
            return Err(Error::refused(format!(
                "rollback: run `{run_id}` completed: undo a completed failover with `aegis-dr failback`"
            )));
        }
        if let Some(later) = crate::runs::superseded_by(&self.state, &r.state) {
            return Err(Error::refused(format!(
                "rollback: run `{run_id}` cannot be rolled back: run {} ({}) started after it and succeeded, so the estate has moved on (`aegis-dr estate` shows where it serves)",
                later.state.run_id,
                later.state.operation.as_str()
            )));
        }
        // Steps that started (a failed one may have acted); skipped ones changed nothing.
        let ran: HashSet<&crate::run::StepId> = r
            .state
            .steps
            .iter()
            .filter(|s| !matches!(s.status, StepStatus::Pending | StepStatus::Skipped))
            .map(|s| &s.info.id)
            .collect();
        if drill
            && ran
                .iter()
                .any(|id| id.phase() == crate::run::Phase::DrillFailback)
        {
            return Err(Error::refused(format!(
                "rollback: drill `{run_id}` stopped in its failback phase: the way back is to finish it (`aegis-dr drill --resume {run_id} --yes`)"
            )));
        }
        let graph = graph::build(&self.plan, op, class);
        let then: Vec<&str> = r.state.steps.iter().map(|s| s.info.id.as_str()).collect();
        let now: Vec<&str> = graph.steps.iter().map(|s| s.id.as_str()).collect();
        if then != now {
            return Err(Error::config(format!(
                "rollback: the plan changed since run `{run_id}` started: roll it back with the plan it ran with"
            )));
        }
        Ok(Undone {
            class,
            drill,
            started: graph
                .steps
                .into_iter()
                .filter(|s| ran.contains(&s.id))
                .map(|s| s.kind)
                .collect(),
            status: r.status,
        })
    }
}
