//! The context one step runs in: its retries, waits, fan-out, checkpoints and notes, over the run's
//! shared context.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

pub(crate) use super::fanout::ItemWork;
use super::{
    context::RunCtx,
    fanout::{bounded, first_error, spread, task_count, Pace, PACE_CHUNK},
};
use crate::{
    duration::format_duration,
    error::{Error, ErrorKind, Result},
    journal::{Entry, RunFlags},
    orchestrator::graph::Step,
    orchestrator::graph::StepKind,
    plan::{Plan, SiteRole},
    provider::Providers,
    retry::{await_condition, retry, RetryPolicy, WaitPolicy},
    run::{Checkpoint, DataLoss, Output},
};

/// The context one step runs in.
pub(crate) struct StepCtx {
    pub run: Arc<RunCtx>,
    pub step: Step,
    retries: AtomicU32,
    data: Mutex<serde_json::Map<String, serde_json::Value>>,
    notes: Mutex<Vec<String>>,
    skipped: Mutex<Option<String>>,
}

impl StepCtx {
    pub fn new(run: Arc<RunCtx>, step: Step) -> StepCtx {
        StepCtx {
            run,
            step,
            retries: AtomicU32::new(0),
            data: Mutex::new(serde_json::Map::new()),
            notes: Mutex::new(Vec::new()),
            skipped: Mutex::new(None),
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.run.fixed.plan
    }

    pub fn providers(&self) -> &Providers {
        &self.run.fixed.providers
    }

    pub fn flags(&self) -> RunFlags {
        self.run.fixed.flags
    }

    fn policy(&self) -> RetryPolicy {
        let e = &self.run.fixed.plan.execution;
        // A step that needs a primary declared unreachable asks once: no retry delays the failover.
        let primary_down = self.run.fixed.flags.primary_unreachable
            && matches!(
                self.step.kind,
                StepKind::Drain {
                    site: SiteRole::Primary
                } | StepKind::FenceDatabases {
                    site: SiteRole::Primary
                }
            );
        RetryPolicy {
            attempts: if primary_down { 1 } else { e.retry_attempts },
            base_delay: e.retry_base_delay,
            max_delay: Duration::from_secs(10),
        }
    }

    fn on_retry(&self) -> impl FnMut(&Error) + '_ {
        |e| {
            self.retries.fetch_add(1, Ordering::Relaxed);
            tracing::info!(error = %e, "retrying after a transient error");
        }
    }

    /// Retried calls so far.
    pub fn retries(&self) -> u32 {
        self.retries.load(Ordering::Relaxed)
    }

    /// One provider call, retried while the error is retryable.
    pub async fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        retry(
            self.policy(),
            &self.run.fixed.clock,
            what,
            self.on_retry(),
            f,
        )
        .await
    }

    /// The duration estimates in force (the providers' where they have them, else the plan's).
    pub fn estimates(&self) -> crate::plan::Estimates {
        self.providers().estimates_for(self.plan())
    }

    /// The plan's polling intervals, ending at `deadline_ms`.
    fn wait_policy(&self, deadline_ms: u64) -> WaitPolicy {
        let e = &self.run.fixed.plan.execution;
        WaitPolicy {
            initial: e.poll_interval,
            max: e.max_poll_interval,
            deadline_ms,
        }
    }

    /// Polls until `poll` yields `Some` for at most `budget` (never past the RTO deadline);
    /// `Ok(None)` when the budget runs out.
    pub async fn wait_at_most<T, F, Fut>(
        &self,
        what: &str,
        budget: Duration,
        poll: F,
    ) -> Result<Option<T>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let now = self.run.fixed.clock.now_ms();
        let until = now
            .saturating_add(budget.as_millis() as u64)
            .min(self.run.rto_deadline_ms().max(now));
        self.run
            .effects
            .progress
            .step_waiting(&self.step, what, until);
        match await_condition(
            self.policy(),
            self.wait_policy(until),
            &self.run.fixed.clock,
            what,
            self.on_retry(),
            poll,
        )
        .await
        {
            Ok(v) => Ok(Some(v)),
            Err(err) if err.kind() == ErrorKind::Timeout => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Until when a [`StepCtx::wait`] starting now waits: the RTO deadline, or past it the hard one.
    pub fn wait_deadline_ms(&self) -> u64 {
        let rto = self.run.rto_deadline_ms();
        if self.run.fixed.clock.now_ms() < rto {
            rto
        } else {
            self.run.hard_deadline_ms()
        }
    }

    /// Polls until `poll` yields `Some`; escalates when the RTO passes and gives up at the hard deadline.
    pub async fn wait<T, F, Fut>(&self, what: &str, poll: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let rto_deadline = self.run.rto_deadline_ms();
        let hard = self.run.hard_deadline_ms();
        let now = self.run.fixed.clock.now_ms();
        // Within the RTO budget the wait ends at the RTO deadline; past it (after escalating) at the hard one.
        let first = self.wait_policy(rto_deadline.max(now));
        let mut poll = poll;
        self.run.effects.progress.step_waiting(
            &self.step,
            what,
            if now < rto_deadline {
                rto_deadline
            } else {
                hard
            },
        );
        if now < rto_deadline {
            match await_condition(
                self.policy(),
                first,
                &self.run.fixed.clock,
                what,
                self.on_retry(),
                &mut poll,
            )
            .await
            {
                Err(err) if err.kind() == ErrorKind::Timeout => {}
                other => return other,
            }
        }
        self.run.escalate_rto().await;
        self.run
            .effects
            .progress
            .step_waiting(&self.step, what, hard);
        let second = self.wait_policy(hard);
        await_condition(
            self.policy(),
            second,
            &self.run.fixed.clock,
            what,
            self.on_retry(),
            poll,
        )
        .await
        .map_err(|err| {
            if err.kind() == ErrorKind::Timeout && hard <= rto_deadline {
                err.context(format!(
                    "stopped at the RTO of {} (execution.overrun_factor = 0) ({} step)",
                    format_duration(self.run.fixed.targets.rto),
                    self.step.id
                ))
            } else if err.kind() == ErrorKind::Timeout {
                err.context(format!(
                    "gave up {} after the RTO of {} ({} step)",
                    format_duration(Duration::from_millis(hard.saturating_sub(rto_deadline))),
                    format_duration(self.run.fixed.targets.rto),
                    self.step.id
                ))
            } else {
                err
            }
        })
    }

    /// Runs `f` over `items` with at most `execution.max_concurrency` in flight; every item runs to
    /// completion, then the first error (with the count of failures) is returned.
    pub async fn fan_out<I, T, F, Fut>(&self, items: Vec<I>, f: F) -> Result<Vec<T>>
    where
        F: Fn(I) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let n = self.run.fixed.plan.execution.max_concurrency.max(1);
        first_error(bounded(items, n, Pace::Eager, f).await)
    }

    /// [`fan_out`](Self::fan_out) for large fan-outs whose items own what they need. On the
    /// estimated critical path the items are split over one task per runtime worker thread (when
    /// there are enough of them for their `work`), so the per-item work (building requests, reading
    /// answers) uses every core; a step with slack keeps its fan-out in one task that yields to the
    /// runtime every few items, leaving the cores to the steps the run's duration depends on. The
    /// concurrency bound holds across all tasks; as with `fan_out`, results come in no particular
    /// order.
    pub async fn fan_out_tasks<I, T, F, Fut>(
        self: &Arc<Self>,
        items: Vec<I>,
        work: ItemWork,
        f: F,
    ) -> Result<Vec<T>>
    where
        I: Send + 'static,
        T: Send + 'static,
        F: Fn(Arc<StepCtx>, I) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let n = self.run.fixed.plan.execution.max_concurrency.max(1);
        let (workers, pace) = if self.on_critical_path() {
            let workers = tokio::runtime::Handle::try_current()
                .map(|h| h.metrics().num_workers())
                .unwrap_or(1);
            (workers, Pace::Eager)
        } else {
            let chunk = match work {
                ItemWork::Light => PACE_CHUNK,
                ItemWork::Heavy => 1,
            };
            (1, Pace::Yielding(chunk))
        };
        let ctx = self.clone();
        let tasks = task_count(items.len(), n, workers, work.min_per_task());
        let results = spread(items, n, tasks, pace, move |i| f(ctx.clone(), i))
            .await
            .map_err(|e| e.context(format!("step `{}`", self.step.id)))?;
        first_error(results)
    }

    /// Journals (fsynced) progress needed to resume this step (a job id, a measured RPO).
    pub fn checkpoint(&self, key: &Checkpoint, value: serde_json::Value) -> Result<()> {
        self.checkpoint_with(key, value, true)
    }

    /// Journals progress whose loss on power failure only repeats an idempotent call on resume
    /// (a DNS change id): written, not fsynced.
    pub fn checkpoint_light(&self, key: &Checkpoint, value: serde_json::Value) -> Result<()> {
        self.checkpoint_with(key, value, false)
    }

    fn checkpoint_with(
        &self,
        key: &Checkpoint,
        value: serde_json::Value,
        durable: bool,
    ) -> Result<()> {
        let key = key.key();
        let entry = Entry::StepCheckpoint {
            ts_ms: self.run.fixed.clock.now_ms(),
            step: self.step.id.clone(),
            key: key.clone(),
            value: value.clone(),
        };
        if durable {
            self.run.journal(entry)?;
        } else {
            self.run.journal_unsynced(&[entry])?;
        }
        self.run
            .live()
            .checkpoints
            .insert((self.step.id.clone(), key), value);
        Ok(())
    }

    /// A checkpoint this step journaled earlier (in this process or before a crash).
    pub fn checkpointed(&self, key: &Checkpoint) -> Option<serde_json::Value> {
        self.run
            .live()
            .checkpoints
            .get(&(self.step.id.clone(), key.key()))
            .cloned()
    }

    /// True when this step had started in an earlier process of the run.
    pub fn resumed(&self) -> bool {
        self.run.fixed.previously_started.contains(&self.step.id)
    }

    /// Adds to the step's output (journaled with its success).
    pub fn record(&self, out: Output) {
        if let Ok(mut d) = self.data.lock() {
            for (k, v) in out.entries() {
                d.insert(k.into(), v);
            }
        }
    }

    /// Records the data this step lost: in its output (journaled; read back on resume and by the
    /// report) and in its phase's total (for the resolution notice).
    pub fn record_data_loss(&self, loss: DataLoss) {
        self.record(Output::DataLoss(loss));
        self.run.add_data_loss(&self.step.id, loss);
    }

    /// Marks the step skipped (nothing attempted) for `reason`; returns its summary.
    pub fn skip(&self, reason: impl Into<String>) -> String {
        let reason = reason.into();
        if let Ok(mut s) = self.skipped.lock() {
            *s = Some(reason.clone());
        }
        format!("skipped: {reason}")
    }

    /// Why the step was skipped, if it was.
    pub fn skipped(&self) -> Option<String> {
        self.skipped.lock().ok().and_then(|s| s.clone())
    }

    /// Adds a note to the step's output.
    pub fn note(&self, msg: impl Into<String>) {
        let msg = msg.into();
        self.run
            .effects
            .progress
            .message(&format!("{}: {msg}", self.step.id));
        if let Ok(mut n) = self.notes.lock() {
            n.push(msg);
        }
    }

    /// True when the run's estimate puts this step on its critical path (the chain of steps whose
    /// durations add up to the run's).
    pub fn on_critical_path(&self) -> bool {
        self.run
            .fixed
            .estimate
            .critical_path
            .contains(&self.step.id)
    }

    /// The step's structured output, with its notes.
    pub fn output(&self) -> serde_json::Value {
        let mut d = self.data.lock().map(|d| d.clone()).unwrap_or_default();
        let notes = self.notes.lock().map(|n| n.clone()).unwrap_or_default();
        if !notes.is_empty() {
            d.insert("notes".into(), serde_json::json!(notes));
        }
        serde_json::Value::Object(d)
    }
}
