//! The orchestrator: builds the step graph of an operation, gates it, runs independent steps
//! concurrently with every transition journaled, and resumes a run killed at any point.

mod begin;
mod context;
mod controls;
mod fanout;
mod step_ctx;
pub use crate::plan::graph;
pub mod rollback;
mod steps;
pub mod stop;
mod touches;

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
};

use tokio::task::JoinSet;

pub use graph::{
    build, estimate, preview, step_cost, Estimate, Graph, PlanPreview, Step, StepCost, StepKind,
};
pub use touches::{touches, Touch};

use crate::run::StepId;
use crate::store::State;
use crate::{
    clock::{rfc3339, Clock},
    control::ControlRequest,
    error::{Error, ErrorKind, Result},
    incident::{IncidentClass, Targets},
    journal::{Entry, Journal, Operation, RunFlags, RunStatus},
    lock::RunLock,
    notify::Notifier,
    plan::Plan,
    provider::Providers,
    report::Report,
};
use context::{Effects, RunCtx, RunFixed};
use step_ctx::StepCtx;

/// Receives progress as steps run (the CLI draws it on a terminal).
pub trait Progress: Send + Sync {
    /// A step started.
    fn step_started(&self, _step: &Step) {}
    /// A step ended; `Ok(summary)` or the error.
    fn step_finished(&self, _step: &Step, _outcome: std::result::Result<&str, &Error>) {}
    /// A running step waits for `what` until `deadline_ms` (epoch ms) at the latest.
    fn step_waiting(&self, _step: &Step, _what: &str, _deadline_ms: u64) {}
    /// A free-form message (notes, escalations).
    fn message(&self, _text: &str) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Default)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Failover, failback or drill.
    pub operation: Operation,
    /// Incident class (failback and drill use it for their targets).
    pub class: IncidentClass,
    /// Gate overrides.
    pub flags: RunFlags,
    /// Resume this run instead of starting a new one.
    pub resume: Option<String>,
    /// Give up on this interrupted run first (a new run is refused while one is interrupted).
    pub abandon: Option<Abandon>,
}

/// An interrupted run to give up on, and why (journaled in that run).
#[derive(Debug, Clone)]
pub struct Abandon {
    /// Its run id.
    pub run_id: String,
    /// Why, in the operator's words.
    pub reason: String,
}

/// How a run ended. Runs that started always produce a report, also when they fail or are refused.
#[derive(Debug)]
pub struct RunOutcome {
    /// The report (also written to the run folder).
    pub report: Report,
    /// The error that ended the run, if any.
    pub error: Option<Error>,
    /// Where the run is kept, as shown to users: its folder, or its URL in a store.
    pub run_location: String,
    /// The run folder, when the state is a folder.
    pub run_dir: Option<PathBuf>,
    /// Where the estate serves and whether the run had changed anything, after a run that stopped
    /// before its end.
    pub stopped: Option<stop::Stopped>,
    /// False when the report files could not be written (a warning was shown; the journal is whole).
    pub report_written: bool,
    /// The rollback the plan's `on_failure = "rollback"` ran after this run stopped.
    pub rollback: Option<Box<RunOutcome>>,
}

/// What identifies a run and fixes its gates.
struct RunHeader {
    run_id: String,
    operation: Operation,
    class: IncidentClass,
    targets: Targets,
    flags: RunFlags,
    started_ms: u64,
    recovery_point: Option<String>,
}

/// Runs operations of one plan against one provider set.
pub struct Orchestrator {
    plan: Arc<Plan>,
    providers: Providers,
    state: State,
    clock: Clock,
    notifier: Notifier,
    progress: Arc<dyn Progress>,
    started_by: Option<String>,
    interrupt: Option<tokio::sync::watch::Receiver<Option<String>>>,
    recovery_point: Option<String>,
}

impl Orchestrator {
    /// An orchestrator keeping runs in `state` (a folder, or a store).
    pub fn new(plan: Plan, providers: Providers, state: impl Into<State>) -> Orchestrator {
        Orchestrator {
            plan: Arc::new(plan),
            providers,
            state: state.into(),
            clock: Clock::new(),
            notifier: Notifier::none(),
            progress: Arc::new(NoProgress),
            started_by: None,
            interrupt: None,
            recovery_point: None,
        }
    }

    /// Launches recovery servers from `point` (an RFC 3339 time: each server's newest point taken
    /// at or before it; or a snapshot id) instead of their newest; journaled with the run, so a
    /// resume keeps it.
    pub fn with_recovery_point(mut self, point: Option<String>) -> Self {
        self.recovery_point = point;
        self
    }

    /// Stops runs when `interrupt` carries a reason (the CLI's SIGINT and SIGTERM): no further step
    /// starts, running ones get [`stop::INTERRUPT_GRACE`] to finish, and the run ends interrupted,
    /// journaled and resumable.
    pub fn with_interrupt(
        mut self,
        interrupt: tokio::sync::watch::Receiver<Option<String>>,
    ) -> Self {
        self.interrupt = Some(interrupt);
        self
    }

    /// Journals the runs it starts as started by `who` (the controller: `aegis-dr watch`).
    pub fn with_started_by(mut self, who: impl Into<String>) -> Self {
        self.started_by = Some(who.into());
        self
    }

    /// Uses `clock` (a virtual one in tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sends notifications through `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The graph and estimate of `op` for `class`, without side effects.
    pub fn preview(&self, op: Operation, class: IncidentClass) -> PlanPreview {
        preview(
            &self.plan,
            &self.providers.estimates_for(&self.plan),
            op,
            class,
        )
    }

    /// Runs (or resumes) an operation to its end.
    pub async fn run(&self, req: RunRequest) -> Result<RunOutcome> {
        let (ctx, done, lock) = match &req.resume {
            Some(id) => self.resume(id, &req)?,
            None => self.start(&req).await?,
        };
        let mut outcome = self.drive(ctx, done, lock, req.resume.is_some()).await?;
        // The plan's `on_failure = "rollback"`: undo at once what a stopped failover changed.
        if outcome
            .stopped
            .as_ref()
            .is_some_and(|s| s.changed && s.rolls_back)
        {
            match self.rollback(&outcome.report.run_id).await {
                Ok(rb) => outcome.rollback = Some(Box::new(rb)),
                Err(e) => {
                    tracing::error!(run = %outcome.report.run_id, error = %e, "rollback did not start");
                    self.progress.message(&format!(
                        "the plan's on_failure = rollback could not start: {e}"
                    ));
                }
            }
        }
        Ok(outcome)
    }

    /// Runs a started (or resumed) run to its end, holding its lock: the steps, the RTO watchdog,
    /// the operator's requests, the stop's announcement, the journal's last entries and the report.
    async fn drive(
        &self,
        ctx: RunCtx,
        done: HashSet<StepId>,
        _lock: RunLock,
        resumed: bool,
    ) -> Result<RunOutcome> {
        let ctx = Arc::new(ctx);
        tracing::info!(
            run = %ctx.fixed.run_id,
            operation = ctx.fixed.operation.as_str(),
            class = %ctx.fixed.class,
            resumed,
            "run started"
        );
        let calls_before = self.providers.calls();

        // Escalate when the RTO passes while the run is still going. Stopped with the run, also
        // when the run's future is dropped (the controller aborts it): it holds the run's journal.
        let watchdog = AbortOnDrop({
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let now = ctx.fixed.clock.now_ms();
                let deadline = ctx.rto_deadline_ms();
                if deadline > now {
                    ctx.fixed
                        .clock
                        .sleep(std::time::Duration::from_millis(deadline - now))
                        .await;
                }
                ctx.escalate_rto().await;
            })
        });
        let (deliver, control) = tokio::sync::mpsc::unbounded_channel();
        let watcher = crate::control::Watcher::start(
            crate::control::Inbox::of(&self.state, &ctx.fixed.run_id),
            deliver,
        );
        let error = execute(
            ctx.clone(),
            &ctx.fixed.graph,
            done,
            control,
            self.interrupt.clone(),
        )
        .await;
        drop(watcher);
        drop(watchdog);
        ctx.flush_notifications().await;

        let status = match &error {
            None => RunStatus::Succeeded,
            Some(e) if e.kind() == ErrorKind::Refused => RunStatus::Refused,
            Some(e) if e.kind() == ErrorKind::Interrupted => RunStatus::Interrupted,
            Some(_) => RunStatus::Failed,
        };
        // A process that lost its run to another stops here: it writes and announces nothing more
        // (the new holder drives the run and speaks for it).
        let error = match error {
            Some(e) if crate::store::is_lost(&e) => {
                tracing::error!(run = %ctx.fixed.run_id, error = %e, "run lost to another process");
                return Err(e);
            }
            other => other,
        };
        let stopped = match &error {
            Some(e) => Some(stop::after_stop(&ctx, &self.state, status, e).await),
            None => None,
        };
        self.finish(ctx, error, status, stopped, calls_before).await
    }

    /// Ends a run: its provider calls and its end journaled, its report folded and written. A
    /// journal that cannot take the end (its store went away) leaves the run interrupted, with what
    /// serves read and announced; a process that lost the run to another returns that at once.
    async fn finish(
        &self,
        ctx: Arc<RunCtx>,
        error: Option<Error>,
        status: RunStatus,
        mut stopped: Option<stop::Stopped>,
        calls_before: std::collections::BTreeMap<String, crate::run::ProviderCalls>,
    ) -> Result<RunOutcome> {
        let mut calls = self.providers.calls();
        for (name, c) in calls.iter_mut() {
            if let Some(b) = calls_before.get(name) {
                c.calls -= b.calls;
                c.transient_errors -= b.transient_errors;
                c.errors -= b.errors;
            }
        }
        calls.retain(|_, c| c.calls > 0);
        match &error {
            None => {
                tracing::info!(run = %ctx.fixed.run_id, status = status.as_str(), "run finished")
            }
            Some(e) => {
                tracing::error!(run = %ctx.fixed.run_id, status = status.as_str(), error = %e, "run finished")
            }
        }
        let ended = ctx
            .journal(Entry::ProviderCalls {
                ts_ms: ctx.fixed.clock.now_ms(),
                calls,
            })
            .and_then(|()| {
                ctx.journal(Entry::RunFinished {
                    ts_ms: ctx.fixed.clock.now_ms(),
                    status,
                    error: error.as_ref().map(Error::summary),
                })
            })
            .and_then(|()| ctx.close_journal());
        // The report is folded from what this process knows was journaled.
        let mut report = Report::from_journal(&ctx.journal_entries()?)?;
        let error = match ended {
            Ok(()) => error,
            Err(e) if crate::store::is_lost(&e) => return Err(e),
            // The journal could not take the run's end (its store went away): on record the run
            // is unfinished, so it is interrupted, and a resume ends it.
            Err(e) => {
                tracing::error!(run = %ctx.fixed.run_id, error = %e, "run end not journaled");
                report.status = RunStatus::Interrupted;
                let e = error.unwrap_or(e);
                if stopped.is_none() {
                    stopped = Some(stop::after_stop(&ctx, &self.state, report.status, &e).await);
                }
                Some(e)
            }
        };
        // The run's outcome is its journal's: a report that cannot be written is a warning.
        let written = report.write_to(&self.state);
        if let Err(e) = &written {
            tracing::warn!(run = %ctx.fixed.run_id, error = %e, "report not written");
            self.progress.message(&format!(
                "warning: the report could not be written ({e}); the run's journal holds every step: `aegis-dr report {}` prints it from the journal (`--output html` for the page)",
                ctx.fixed.run_id
            ));
        }
        Ok(RunOutcome {
            run_location: self.state.run_location(&ctx.fixed.run_id),
            run_dir: self
                .state
                .folder()
                .map(|d| d.join("runs").join(&ctx.fixed.run_id)),
            report,
            error,
            stopped,
            report_written: written.is_ok(),
            rollback: None,
        })
    }

    fn new_run_id(&self, op: Operation) -> String {
        let ts: String = rfc3339(self.clock.now_ms())
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(15)
            .collect();
        let suffix: u16 = rand::random();
        format!("{ts}Z-{}-{suffix:04x}", op.as_str())
    }

    fn ctx(
        &self,
        h: RunHeader,
        preview: PlanPreview,
        journal: Journal,
        resumed: context::Resumed,
    ) -> RunCtx {
        let RunHeader {
            run_id,
            operation: op,
            class,
            targets,
            flags,
            started_ms,
            recovery_point,
        } = h;
        RunCtx::new(
            RunFixed {
                plan: self.plan.clone(),
                providers: self.providers.clone(),
                clock: self.clock,
                run_id,
                operation: op,
                class,
                targets,
                flags,
                started_ms,
                recovery_point,
                graph: preview.graph,
                estimate: preview.estimate,
                previously_started: resumed.previously_started,
            },
            resumed.live,
            Effects::new(journal, self.notifier.clone(), self.progress.clone()),
        )
    }
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the graph: every step whose dependencies are done starts at once; after the first failure no
/// new step starts, running ones finish, and the first error is returned. The operator's requests
/// arrive on `control`: while paused no step starts; a step ordered skipped is journaled skipped
/// instead of starting (or is stopped, when running) and counts as done.
///
/// Journal durability: a step's end is appended by its task, and the steps it makes ready are
/// appended as started; one fsync then covers both, before those steps run. So every transition is
/// on disk before any side effect that depends on it, with one fsync per transition instead of two.
async fn execute(
    ctx: Arc<RunCtx>,
    graph: &Graph,
    mut done: HashSet<StepId>,
    mut control: tokio::sync::mpsc::UnboundedReceiver<std::result::Result<ControlRequest, String>>,
    mut interrupt: Option<tokio::sync::watch::Receiver<Option<String>>>,
) -> Option<Error> {
    // After an interruption: why, and when running steps are stopped.
    let mut interrupted: Option<String> = None;
    let mut grace = Box::pin(std::future::pending::<()>())
        as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
    let mut started: HashSet<StepId> = done.clone();
    // Each step is its own task, so independent steps use every worker thread.
    let mut running: JoinSet<Result<()>> = JoinSet::new();
    let mut tasks: HashMap<tokio::task::Id, Step> = HashMap::new();
    let mut handles: HashMap<StepId, tokio::task::AbortHandle> = HashMap::new();
    let mut first_error: Option<Error> = None;
    let mut control_open = true;
    loop {
        let mut ready: Vec<&Step> = Vec::new();
        if first_error.is_none() && !ctx.paused() {
            loop {
                let now: Vec<&Step> = graph
                    .steps
                    .iter()
                    .filter(|s| !started.contains(&s.id) && s.deps.iter().all(|d| done.contains(d)))
                    .collect();
                // Steps the operator skipped count as done at once, which may make more ready.
                let (skipped, run): (Vec<&Step>, Vec<&Step>) = now
                    .into_iter()
                    .partition(|s| ctx.skip_order(&s.id).is_some());
                ready = run;
                if skipped.is_empty() {
                    break;
                }
                for s in skipped {
                    started.insert(s.id.clone());
                    match journal_operator_skip(&ctx, s) {
                        Ok(()) => {
                            done.insert(s.id.clone());
                        }
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
        }
        let entries: Vec<Entry> = ready
            .iter()
            .map(|s| Entry::StepStarted {
                ts_ms: ctx.fixed.clock.now_ms(),
                step: s.id.clone(),
            })
            .collect();
        // Durable before a step that changes the estate starts: the ends appended since the last
        // commit, and these starts. Steps that only observe start at once (a crash before the next
        // commit runs them again, which changes nothing).
        let committed = if ready.iter().all(|s| s.kind.observes_only()) {
            ctx.journal_unsynced(&entries)
        } else {
            ctx.journal_sync(&entries).await
        };
        if let Err(e) = committed {
            first_error.get_or_insert(e);
        } else {
            for step in ready {
                started.insert(step.id.clone());
                ctx.effects.progress.step_started(step);
                let task_ctx = ctx.clone();
                let task_step = step.clone();
                let h = running.spawn(async move { run_step(task_ctx, task_step).await });
                tasks.insert(h.id(), step.clone());
                handles.insert(step.id.clone(), h);
            }
        }
        if running.is_empty() {
            // Nothing runs: the run is over, unless it is paused with steps left to start.
            let waiting = first_error.is_none() && ctx.paused() && done.len() < graph.steps.len();
            if !waiting || !control_open {
                break;
            }
        }
        tokio::select! {
            joined = running.join_next_with_id(), if !running.is_empty() => {
                let (id, res) = match joined {
                    Some(Ok((id, res))) => (id, Ok(res)),
                    Some(Err(join)) => (join.id(), Err(join)),
                    None => continue,
                };
                let Some(step) = tasks.remove(&id) else { continue };
                handles.remove(&step.id);
                match res {
                    Ok(Ok(())) => {
                        done.insert(step.id.clone());
                    }
                    Ok(Err(e)) => {
                        first_error.get_or_insert(e);
                    }
                    // Stopped by the interruption's bound: journaled failed, run again on resume.
                    Err(join) if join.is_cancelled() && interrupted.is_some() && ctx.skip_order(&step.id).is_none() => {
                        let e = Error::new(
                            ErrorKind::Interrupted,
                            format!(
                                "stopped after {}s by the interruption ({}) before it finished",
                                stop::INTERRUPT_GRACE.as_secs(),
                                interrupted.as_deref().unwrap_or_default()
                            ),
                        )
                        .with_resource(step.id.as_str());
                        let _ = ctx.journal_unsynced(&[Entry::StepFailed {
                            ts_ms: ctx.fixed.clock.now_ms(),
                            step: step.id.clone(),
                            retries: 0,
                            error: e.summary(),
                            data: serde_json::Value::Null,
                        }]);
                        ctx.effects.progress.step_finished(&step, Err(&e));
                    }
                    // Stopped on the operator's order: journaled skipped, counts as done.
                    Err(join) if join.is_cancelled() => match journal_operator_skip(&ctx, &step) {
                        Ok(()) => {
                            done.insert(step.id.clone());
                        }
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    },
                    Err(join) => {
                        first_error.get_or_insert(Error::new(
                            ErrorKind::Provider,
                            format!("step `{}`: its task died: {join}", step.id),
                        ));
                    }
                }
            }
            reason = stop::interrupted(&mut interrupt), if interrupted.is_none() => {
                ctx.effects.progress.message(&format!(
                    "{reason}: no further step starts; {} running step(s) get {}s to finish",
                    handles.len(),
                    stop::INTERRUPT_GRACE.as_secs()
                ));
                tracing::warn!(run = %ctx.fixed.run_id, reason = %reason, "run interrupted");
                first_error.get_or_insert(Error::new(
                    ErrorKind::Interrupted,
                    format!("{reason}: the run stopped starting steps"),
                ));
                interrupted = Some(reason);
                let clock = ctx.fixed.clock;
                grace = Box::pin(async move { clock.sleep(stop::INTERRUPT_GRACE).await });
            }
            () = &mut grace, if !running.is_empty() => {
                for h in handles.values() {
                    h.abort();
                }
                grace = Box::pin(std::future::pending());
            }
            req = control.recv(), if control_open => match req {
                None => control_open = false,
                Some(Err(bad)) => ctx.effects.progress.message(&bad),
                Some(Ok(req)) => {
                    let skip = match &req.command {
                        crate::control::Command::Skip { step, .. } => Some(step.clone()),
                        _ => None,
                    };
                    if let Some(step) = skip.as_ref().filter(|s| done.contains(*s)) {
                        ctx.effects.progress.message(&format!(
                            "{step}: already done; the skip by {} changes nothing",
                            req.by
                        ));
                        continue;
                    }
                    if let Err(e) = ctx.apply_control(req) {
                        first_error.get_or_insert(e);
                    }
                    if let Some(h) = skip.and_then(|s| handles.get(&s)) {
                        h.abort();
                    }
                }
            },
        }
    }
    if first_error.is_none() && done.len() < graph.steps.len() {
        first_error = Some(Error::new(
            ErrorKind::InvalidState,
            "the step graph has unreachable steps",
        ));
    }
    first_error
}

/// Journals `step` skipped on the operator's order (it counts as done for the steps after it).
fn journal_operator_skip(ctx: &RunCtx, step: &Step) -> Result<()> {
    let order = ctx.skip_order(&step.id).unwrap_or(controls::SkipOrder {
        by: "unknown".into(),
        reason: String::new(),
        force: false,
    });
    let forced = order.force && step.kind.is_safety(&ctx.fixed.plan);
    // A stopped approval no longer waits for an answer.
    ctx.live().controls.waiting.remove(&step.id);
    tracing::warn!(run = %ctx.fixed.run_id, step = %step.id, by = %order.by, reason = %order.reason, forced, "step skipped by the operator");
    ctx.journal(Entry::StepSkipped {
        ts_ms: ctx.fixed.clock.now_ms(),
        step: step.id.clone(),
        reason: format!("skipped by {}: {}", order.by, order.reason),
        by: Some(order.by.clone()),
        forced,
    })?;
    let summary = format!("skipped by {}: {}", order.by, order.reason);
    ctx.effects.progress.step_finished(step, Ok(&summary));
    Ok(())
}

/// Runs one step whose start is journaled; appends its end (made durable by the executor's next
/// commit, before any step that depends on it starts).
async fn run_step(ctx: Arc<RunCtx>, step: Step) -> Result<()> {
    let span = tracing::info_span!("step", run = %ctx.fixed.run_id, step = %step.id);
    let sctx = Arc::new(StepCtx::new(ctx.clone(), step.clone()));
    let started = std::time::Instant::now();
    let res = {
        use tracing::Instrument;
        async {
            tracing::info!(title = %step.title, "step started");
            steps::execute(&sctx).await
        }
        .instrument(span.clone())
        .await
    };
    let _entered = span.enter();
    let ms = started.elapsed().as_millis() as u64;
    match &res {
        Ok(summary) if sctx.skipped().is_some() => {
            tracing::warn!(reason = %sctx.skipped().unwrap_or_default(), summary = %summary, "step skipped")
        }
        Ok(summary) => {
            tracing::info!(ms, retries = sctx.retries(), summary = %summary, "step succeeded")
        }
        Err(e) => tracing::error!(ms, retries = sctx.retries(), error = %e, "step failed"),
    }
    match res {
        Ok(summary) if sctx.skipped().is_some() => {
            ctx.journal_unsynced(&[Entry::StepSkipped {
                ts_ms: ctx.fixed.clock.now_ms(),
                step: step.id.clone(),
                reason: sctx.skipped().unwrap_or_default(),
                by: None,
                forced: false,
            }])?;
            ctx.effects.progress.step_finished(&step, Ok(&summary));
            Ok(())
        }
        Ok(summary) => {
            ctx.journal_unsynced(&[Entry::StepSucceeded {
                ts_ms: ctx.fixed.clock.now_ms(),
                step: step.id.clone(),
                retries: sctx.retries(),
                summary: summary.clone(),
                data: sctx.output(),
            }])?;
            ctx.effects.progress.step_finished(&step, Ok(&summary));
            if matches!(
                step.kind,
                StepKind::PromoteDatabases { .. } | StepKind::SwitchDns { .. }
            ) {
                steps::progress_update(&sctx, &summary);
            }
            Ok(())
        }
        Err(e) => {
            let e = e.or_resource(step.id.as_str());
            ctx.journal_unsynced(&[Entry::StepFailed {
                ts_ms: ctx.fixed.clock.now_ms(),
                step: step.id.clone(),
                retries: sctx.retries(),
                error: e.summary(),
                data: match sctx.output() {
                    serde_json::Value::Object(m) if m.is_empty() => serde_json::Value::Null,
                    d => d,
                },
            }])?;
            ctx.effects.progress.step_finished(&step, Err(&e));
            Err(e)
        }
    }
}
