//! How a run begins: a new run takes the plan's lock, refuses while another run blocks it (or
//! while there is nothing to do) and journals its start; a resumed run is checked against its journal
//! and folds it back into its context; an interrupted run can be abandoned.

use crate::run::StepId;
use std::collections::HashSet;

use super::context::{self, Mark, RunCtx};
use super::{controls, stop, Abandon, Orchestrator, RunHeader, RunRequest};
use crate::{
    error::{Error, Result},
    journal::{Entry, Journal, Operation, RunStatus},
    lock::RunLock,
    run::RunState,
};

impl Orchestrator {
    /// Journals in `a.run_id` that it was given up on by `by`; it must be an interrupted run of
    /// this plan.
    fn abandon(&self, a: &Abandon, by: &str, lock: &RunLock) -> Result<()> {
        if !crate::runs::is_run_id(&a.run_id) || !crate::runs::exists(&self.state, &a.run_id) {
            return Err(Error::config(format!(
                "--abandon: no run `{}` in {}",
                a.run_id, self.state
            )));
        }
        if a.reason.trim().is_empty() {
            return Err(Error::config("--reason: say why the run is abandoned"));
        }
        match crate::runs::read(&self.state, &a.run_id).read {
            crate::runs::RunRead::Run(r) if r.state.plan != self.plan.name => {
                Err(Error::config(format!(
                    "--abandon: run `{}` belongs to plan `{}`",
                    a.run_id, r.state.plan
                )))
            }
            crate::runs::RunRead::Run(r) if r.status != RunStatus::Interrupted => {
                Err(Error::config(format!(
                    "--abandon: run `{}` is {}, not interrupted: only an interrupted run can be abandoned",
                    a.run_id,
                    r.status.as_str()
                )))
            }
            crate::runs::RunRead::Run(_) => {
                let (mut j, _) = Journal::reopen(&self.state, &a.run_id, lock)?;
                j.append(&Entry::RunAbandoned {
                    ts_ms: self.clock.now_ms(),
                    reason: a.reason.clone(),
                    by: by.to_string(),
                })
            }
            crate::runs::RunRead::NoJournal => crate::runs::remove_run(&self.state, &a.run_id),
            // Its journal cannot take the entry: the folder is kept, whole, under `abandoned/`.
            crate::runs::RunRead::Corrupt(_) => crate::runs::abandon_unreadable(
                &self.state,
                &a.run_id,
                &a.reason,
                by,
                self.clock.now_ms(),
            )
            .map(|to| {
                self.progress.message(&format!(
                    "run {} (unreadable) abandoned: it is kept at {to}",
                    a.run_id
                ))
            }),
        }
    }

    pub(super) async fn start(
        &self,
        req: &RunRequest,
    ) -> Result<(RunCtx, HashSet<StepId>, RunLock)> {
        if req.operation == Operation::Rollback {
            return Err(Error::config(
                "rollback: name the stopped run it undoes (`aegis-dr rollback RUN_ID`)",
            ));
        }
        let run_id = self.new_run_id(req.operation);
        let lock = RunLock::acquire(
            &self.state,
            &self.plan.name,
            &run_id,
            req.operation.as_str(),
        )?;
        if let Some(a) = &req.abandon {
            self.abandon(a, &run_id, &lock)?;
        }
        // Every run on record, read (folded) once for all the questions below. Folders of runs
        // killed before their first journal entry (nothing ran) go.
        let mut runs = crate::runs::try_list(&self.state)?;
        crate::runs::remove_without_journal(&self.state, &mut runs);
        // Holding the lock, every unfinished run of the plan is an interrupted one; a run whose
        // journal cannot be read may be one too.
        if let Some(rec) = crate::runs::blocking(&runs, &self.plan.name).pop() {
            return Err(Error::refused(match &rec.read {
                crate::runs::RunRead::Run(r) if r.status == RunStatus::Running => format!(
                    "run {} ({}, started {}) is running in another process (its journal is locked by its writer, though the plan's lock file was not): wait for it, or stop that process",
                    r.state.run_id,
                    r.state.operation.as_str(),
                    crate::clock::rfc3339(r.state.started_ms)
                ),
                crate::runs::RunRead::Run(r) => {
                    let running: Vec<&str> = r
                        .state
                        .steps
                        .iter()
                        .filter(|s| s.status == crate::run::StepStatus::Running)
                        .map(|s| s.info.id.as_str())
                        .collect();
                    let at = match running.len() {
                        0 => String::new(),
                        1 => format!(" during step {}", running[0]),
                        _ => format!(" during steps {}", running.join(", ")),
                    };
                    format!(
                        "run {} ({}, started {}) was interrupted{at} and never finished: resume it with `aegis-dr {} --resume {} --yes`, or give up on it with `--abandon {} --reason \"...\"`",
                        r.state.run_id,
                        r.state.operation.as_str(),
                        crate::clock::rfc3339(r.state.started_ms),
                        r.state.operation.as_str(),
                        r.state.run_id,
                        r.state.run_id
                    )
                }
                crate::runs::RunRead::Corrupt(e) => format!(
                    "run {} cannot be read ({e}): it may be an unfinished run of this plan; look at it, then give up on it with `--abandon {} --reason \"...\"` (its folder is kept under abandoned/)",
                    rec.run_id, rec.run_id
                ),
                crate::runs::RunRead::NoJournal => format!("run {} has no journal", rec.run_id),
            }));
        }
        stop::refuse_nothing_to_do(
            &self.plan,
            &self.providers,
            &self.clock,
            &runs,
            req.operation,
        )
        .await?;
        // A failback undoes the last completed failover, under that failover's class.
        let (class, undoes) = match req.operation {
            Operation::Failback => match crate::runs::failback_class_in(&runs, &self.plan.name) {
                Some((class, failover)) => (class, Some(failover)),
                None => (req.class, None),
            },
            _ => (req.class, None),
        };
        let preview = self.preview(req.operation, class);
        let started = self.clock.now_ms();
        let journal = Journal::create(
            &self.state,
            &run_id,
            &Entry::RunStarted {
                ts_ms: started,
                run_id: run_id.clone(),
                operation: req.operation,
                class,
                plan: self.plan.name.clone(),
                targets: preview.targets,
                flags: req.flags,
                steps: preview.graph.infos(&self.plan, &preview.estimate),
                estimate_ms: preview.estimate.total.as_millis() as u64,
                undoes,
                started_by: self.started_by.clone(),
                recovery_point: self.recovery_point.clone(),
            },
            &lock,
        )?;
        let header = RunHeader {
            run_id,
            operation: req.operation,
            class,
            targets: preview.targets,
            flags: req.flags,
            started_ms: started,
            recovery_point: self.recovery_point.clone(),
        };
        let ctx = self.ctx(header, preview, journal, Default::default());
        Ok((ctx, HashSet::new(), lock))
    }

    pub(super) fn resume(
        &self,
        run_id: &str,
        req: &RunRequest,
    ) -> Result<(RunCtx, HashSet<StepId>, RunLock)> {
        if !crate::runs::is_run_id(run_id) {
            return Err(Error::config(format!(
                "--resume: `{run_id}` is not a run id"
            )));
        }
        if !matches!(
            crate::runs::read(&self.state, run_id).read,
            crate::runs::RunRead::Run(_) | crate::runs::RunRead::Corrupt(_)
        ) {
            return Err(Error::config(if crate::runs::exists(&self.state, run_id) {
                format!(
                    "--resume: run `{run_id}` has no journal: it was killed before its first step, so nothing ran; start a new run (its folder is removed by the next one)"
                )
            } else {
                format!("--resume: no run `{run_id}` in {}", self.state)
            }));
        }
        let lock = RunLock::acquire(&self.state, &self.plan.name, run_id, "resume")?;
        let (mut journal, entries) = Journal::reopen(&self.state, run_id, &lock)?;
        let run = RunState::fold(&entries)?;
        if let Some(a) = &run.abandoned {
            return Err(Error::refused(format!(
                "run `{run_id}` cannot be resumed: it was abandoned by run {}: {}",
                a.by, a.reason
            )));
        }
        if let Some(later) = crate::runs::superseded_by(&self.state, &run) {
            return Err(Error::refused(format!(
                "run `{run_id}` cannot be resumed: {}",
                moved_on(&later)
            )));
        }
        if run.plan != self.plan.name {
            return Err(Error::config(format!(
                "--resume: run `{run_id}` belongs to plan `{}`, not `{}`",
                run.plan, self.plan.name
            )));
        }
        if run.operation != req.operation {
            return Err(Error::config(format!(
                "--resume: run `{run_id}` is a {}, not a {}",
                run.operation.as_str(),
                req.operation.as_str()
            )));
        }
        let preview = match run.operation {
            Operation::Rollback => {
                self.resumed_rollback_preview(run.undoes.as_deref(), run.class)?
            }
            _ => self.preview(run.operation, run.class),
        };
        let now_ids: Vec<_> = preview.graph.steps.iter().map(|s| s.id.as_str()).collect();
        let then_ids: Vec<_> = run.steps.iter().map(|s| s.info.id.as_str()).collect();
        if now_ids != then_ids {
            return Err(Error::config(format!(
                "--resume: the plan changed since run `{run_id}` started (its steps were {}; now {}): resume with the plan it started with",
                then_ids.join(","),
                now_ids.join(",")
            )));
        }
        let flags = run.flags.union(req.flags);
        // A recovery point given on this resume replaces the run's (journaled, so a later resume
        // and the report keep it).
        let recovery_point = self.recovery_point.clone().or(run.recovery_point.clone());
        journal.append(&Entry::RunResumed {
            ts_ms: self.clock.now_ms(),
            flags,
            recovery_point: self.recovery_point.clone(),
        })?;
        let header = RunHeader {
            run_id: run_id.to_string(),
            operation: run.operation,
            class: run.class,
            targets: run.targets,
            flags,
            started_ms: run.started_ms,
            recovery_point,
        };
        let done: HashSet<StepId> = run
            .steps
            .iter()
            .filter(|s| s.done())
            .map(|s| s.info.id.clone())
            .collect();
        let checkpoints = run
            .steps
            .iter()
            .flat_map(|s| {
                s.checkpoints
                    .iter()
                    .map(|(k, v)| ((s.info.id.clone(), k.clone()), v.clone()))
            })
            .collect();
        let marks = run
            .declared
            .iter()
            .map(|(p, v)| ((Mark::Declared, *p), *v))
            .chain(run.restored.iter().map(|(p, v)| ((Mark::Restored, *p), *v)))
            .collect();
        // The operator's skips and answers stand; a pause does not: resuming is going on.
        let mut controls = controls::Controls::default();
        for r in &run.controls {
            controls.apply(r.what.clone());
        }
        controls.paused = None;
        let resumed = context::Resumed {
            live: context::LiveState {
                checkpoints,
                marks,
                data_loss: run.data_loss.clone().into_iter().collect(),
                controls,
                rto_escalated: false,
            },
            previously_started: run.started().cloned().collect(),
        };
        let ctx = self.ctx(header, preview, journal, resumed);
        Ok((ctx, done, lock))
    }
}

/// Why a run cannot be resumed or rolled back: `later` started after it and succeeded.
pub(super) fn moved_on(later: &crate::runs::Listed) -> String {
    let at = later
        .state
        .finished
        .as_ref()
        .map_or(later.state.started_ms, |f| f.ts_ms);
    format!(
        "run {} ({}, {}) started after it and succeeded, so the estate has moved on; start a new run instead",
        later.state.run_id,
        later.state.operation.as_str(),
        crate::clock::rfc3339(at)
    )
}
