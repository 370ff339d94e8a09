//! The DR controller behind `aegis-dr watch`: evaluates the plan's triggers against Prometheus on an
//! interval, runs the pre-failover checks periodically, acts on a trigger that fired for its `for`
//! (notify, failover after approval, failover) within its guards, watches for failback readiness
//! after a failover, and acts only while it holds the leadership.

pub mod leader;
mod rules;

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use serde::Serialize;

pub use leader::{Leadership, StateDirLeader, StoreLeader};
pub use rules::{Rule, RuleState, Transition};

use crate::{
    checks::{run_checks, CheckResult, CheckStatus},
    clock::Clock,
    discover::DriftSource,
    error::{Error, Result},
    journal::{Operation, RunFlags, RunStatus},
    lock::RunLock,
    notify::{Escalation, Message, Notifier, Template},
    orchestrator::{Orchestrator, Progress, RunOutcome, RunRequest},
    plan::{HookAction, HookAnchor, HookPhase, HookSpec, Plan, TriggerAction},
    provider::Providers,
    store::State,
};

/// How the runs the controller starts are journaled (`started_by`).
pub const STARTED_BY: &str = "aegis-dr watch";

/// The approval hook an `approve` trigger's failover waits on (before `declare`).
pub const TRIGGER_APPROVAL: &str = "trigger-approval";

/// What the controller knows now, for `/metrics`, `/healthz` and `triggers test`.
#[derive(Debug, Clone, Serialize)]
pub struct ControllerStatus {
    /// This replica's identity.
    pub identity: String,
    /// It holds the leadership.
    pub leader: bool,
    /// Every trigger and where it stands.
    pub rules: Vec<Rule>,
    /// Evaluation rounds done.
    pub evaluations: u64,
    /// When the last round ended (epoch ms).
    pub last_evaluation_ms: Option<u64>,
    /// The last pre-failover check results.
    pub checks: Vec<CheckResult>,
    /// When they were taken (epoch ms).
    pub checks_ms: Option<u64>,
    /// The run this replica is driving.
    pub active_run: Option<String>,
    /// What it did last (one line).
    pub last_action: Option<String>,
    /// A completed failover whose primary is ready to fail back to (notified once).
    pub failback_ready: bool,
    /// The plan's drift from the estate at the last read (`[discovery]` plans): none when it was
    /// never read or could not be (unknown, not "no drift").
    pub plan_drift: Option<Vec<String>>,
    /// Why the last drift read failed.
    pub drift_error: Option<String>,
    /// The differences already escalated (provider, kind, table, subject), kept through failed
    /// reads so a difference is escalated once while it lasts.
    pub drift_escalated: Vec<String>,
}

/// The DR controller of one plan.
pub struct Controller {
    plan: Arc<Plan>,
    state: State,
    providers: Providers,
    clock: Clock,
    notifier: Notifier,
    progress: Option<Arc<dyn Progress>>,
    leader: Arc<dyn Leadership>,
    status: Arc<RwLock<ControllerStatus>>,
    http: reqwest::Client,
    drift: Option<Arc<dyn DriftSource>>,
}

type RunTask = (String, tokio::task::JoinHandle<Result<RunOutcome>>);

impl Controller {
    /// A controller of `plan` keeping runs in `state`, acting while `leader` is held.
    pub fn new(
        plan: Plan,
        providers: Providers,
        state: impl Into<State>,
        leader: Arc<dyn Leadership>,
    ) -> Result<Controller> {
        let rules = plan
            .triggers_in_force()
            .into_iter()
            .map(Rule::new)
            .collect();
        let status = ControllerStatus {
            identity: leader.identity(),
            leader: false,
            rules,
            evaluations: 0,
            last_evaluation_ms: None,
            checks: Vec::new(),
            checks_ms: None,
            active_run: None,
            last_action: None,
            failback_ready: false,
            plan_drift: None,
            drift_error: None,
            drift_escalated: Vec::new(),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10).min(plan.watch.interval.max(Duration::from_secs(1))))
            .build()
            .map_err(|e| Error::config(format!("HTTP client: {e}")))?;
        Ok(Controller {
            plan: Arc::new(plan),
            state: state.into(),
            providers,
            clock: Clock::new(),
            notifier: Notifier::none(),
            progress: None,
            leader,
            status: Arc::new(RwLock::new(status)),
            http,
            drift: None,
        })
    }

    /// Sends the controller's messages (and its runs') through `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// Reports its runs' progress to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Reads the plan's drift from `source` with its periodic checks, escalating each new
    /// difference once.
    pub fn with_drift(mut self, source: Arc<dyn DriftSource>) -> Self {
        self.drift = Some(source);
        self
    }

    /// Uses `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The status, shared (the metrics server reads it).
    pub fn status(&self) -> Arc<RwLock<ControllerStatus>> {
        self.status.clone()
    }

    fn set(&self, f: impl FnOnce(&mut ControllerStatus)) {
        if let Ok(mut s) = self.status.write() {
            f(&mut s);
        }
    }

    /// Evaluates every trigger once (no action): what `aegis-dr triggers test` prints.
    pub async fn evaluate_once(&self) -> Vec<(Rule, Transition)> {
        let mut rules: Vec<Rule> = self
            .status
            .read()
            .map(|s| s.rules.clone())
            .unwrap_or_default();
        let mut out = Vec::new();
        for r in &mut rules {
            let t = self.evaluate(r).await;
            out.push((r.clone(), t));
        }
        self.set(|s| s.rules = rules);
        out
    }

    async fn evaluate(&self, rule: &mut Rule) -> Transition {
        let result = match &self.plan.watch.prometheus {
            Some(url) => crate::promql::instant(&self.http, url, &rule.spec.query).await,
            None => Err(Error::config(
                "watch.prometheus: no Prometheus URL in the plan's [watch] table",
            )),
        };
        rule.observe(
            self.clock.now_ms(),
            result,
            self.plan.watch.unknown_escalate_after.as_millis() as u64,
        )
    }

    /// Runs until `shutdown` resolves: evaluates, checks, acts while leading. On shutdown the
    /// leadership is released; a run in progress is left to the journal (the next leader, or this
    /// one restarted, resumes it).
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        let w = &self.plan.watch;
        let mut next_eval = self.clock.now_ms();
        let mut next_check = self.clock.now_ms();
        let mut task: Option<RunTask> = None;
        let mut was_leader = false;
        loop {
            let leading = match self.leader.acquire_or_renew().await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew the leadership: not acting");
                    false
                }
            };
            if leading != was_leader {
                tracing::info!(identity = %self.leader.identity(), leader = leading, "leadership changed");
                self.set(|s| s.leader = leading);
            }
            if !leading {
                // Losing the leadership stops acting at once: the run stays in the journal.
                if let Some((id, t)) = task.take() {
                    t.abort();
                    tracing::warn!(run = %id, "leadership lost: the run is left to the next leader");
                    self.set(|s| s.active_run = None);
                }
            } else if !was_leader {
                task = self.resume_interrupted();
            }
            was_leader = leading;
            if let Some((id, t)) = task.as_mut() {
                if t.is_finished() {
                    let id = id.clone();
                    let res = task.take().map(|(_, t)| t);
                    let line = match res {
                        Some(t) => match t.await {
                            Ok(Ok(o)) => format!("run {id} ended {}", o.report.status.as_str()),
                            Ok(Err(e)) => format!("run {id} did not start: {e}"),
                            Err(e) => format!("run {id} task ended: {e}"),
                        },
                        None => String::new(),
                    };
                    tracing::info!("{line}");
                    self.set(|s| {
                        s.active_run = None;
                        s.last_action = Some(line);
                    });
                }
            }
            let now = self.clock.now_ms();
            if now >= next_eval {
                next_eval = now + w.interval.as_millis() as u64;
                let mut rules: Vec<Rule> = self
                    .status
                    .read()
                    .map(|s| s.rules.clone())
                    .unwrap_or_default();
                for r in &mut rules {
                    let t = self.evaluate(r).await;
                    if leading && t != Transition::None {
                        if let Some(started) = self.act(r, &t, task.is_some()).await {
                            task = Some(started);
                        }
                    }
                }
                let at = self.clock.now_ms();
                self.set(|s| {
                    s.rules = rules;
                    s.evaluations += 1;
                    s.last_evaluation_ms = Some(at);
                });
            }
            if leading && now >= next_check && task.is_none() {
                next_check = now + w.check_interval.as_millis() as u64;
                self.check_readiness().await;
            }
            let wait = next_eval
                .saturating_sub(self.clock.now_ms())
                .min(self.leader.renew_every().as_millis() as u64)
                .max(10);
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.clock.sleep(Duration::from_millis(wait)) => {}
            }
        }
        if let Some((id, t)) = task.take() {
            t.abort();
            tracing::warn!(run = %id, "shutting down: the run is left to the journal and resumed by the next leader");
        }
        self.leader.release().await;
        Ok(())
    }

    /// A message from the controller itself (no run).
    async fn notify(&self, template: Template, escalation: Option<Escalation>, text: String) {
        let msg = Message {
            template,
            run_id: "controller".into(),
            plan: self.plan.name.clone(),
            operation: "watch".into(),
            class: String::new(),
            text: text.clone(),
            fields: serde_json::json!({ "escalation": escalation.map(|e| e.as_str()) }),
        };
        let names = escalation
            .and_then(|e| self.plan.escalations.get(&e))
            .map(|r| r.notify.clone())
            .unwrap_or_default();
        for (sink, err) in self.notifier.send_to(&msg, &names).await {
            if let Some(err) = err {
                tracing::warn!(sink = %sink, error = %err, "notification failed");
            }
        }
        tracing::warn!("{text}");
    }

    /// Why a trigger must not start a run now, if it must not.
    fn guard(&self, has_task: bool) -> Option<String> {
        if has_task {
            return Some("a run this controller started is still going".into());
        }
        if let Some(id) = RunLock::holder(&self.state, &self.plan.name) {
            return Some(format!("run {id} is active"));
        }
        let runs = crate::runs::of_plan(&self.state, &self.plan.name);
        if let Some(r) = runs.iter().find(|r| r.status == RunStatus::Interrupted) {
            return Some(format!(
                "run {} was interrupted: resume or abandon it first",
                r.state.run_id
            ));
        }
        let min = self.plan.watch.min_delay.as_millis() as u64;
        let now = self.clock.now_ms();
        if let Some(last) = runs.iter().map(|r| r.state.started_ms).max() {
            if now.saturating_sub(last) < min {
                return Some(format!(
                    "the last run started {} ago, within watch.min_delay ({})",
                    crate::duration::format_duration(Duration::from_millis(
                        now.saturating_sub(last)
                    )),
                    crate::duration::format_duration(self.plan.watch.min_delay)
                ));
            }
        }
        None
    }

    async fn act(&self, rule: &Rule, t: &Transition, has_task: bool) -> Option<RunTask> {
        let spec = &rule.spec;
        if *t == Transition::UnknownTooLong {
            self.notify(
                Template::Escalation,
                Some(Escalation::DrEnvironmentUnhealthy),
                format!(
                    "aegis-dr watch: trigger `{}` could not be evaluated for {} ({}); it is treated as not firing",
                    spec.name,
                    crate::duration::format_duration(self.plan.watch.unknown_escalate_after),
                    rule.detail
                ),
            )
            .await;
            self.set(|s| s.last_action = Some(format!("escalated: `{}` unknown", spec.name)));
            return None;
        }
        let what = format!(
            "trigger `{}` fired for {} ({}: {})",
            spec.name,
            crate::duration::format_duration(spec.hold),
            spec.class,
            rule.detail
        );
        if spec.action == TriggerAction::Notify {
            self.notify(
                Template::Escalation,
                None,
                format!("aegis-dr watch: {what}"),
            )
            .await;
            self.set(|s| s.last_action = Some(format!("notified: {what}")));
            return None;
        }
        if let Some(why) = self.guard(has_task) {
            tracing::warn!(trigger = %spec.name, "not acting: {why}");
            self.set(|s| s.last_action = Some(format!("{what}; not acting: {why}")));
            return None;
        }
        // No automatic failover to a DR site that fails its own checks.
        let (checks, _) = self.take_checks().await;
        let dr_bad: Vec<String> = checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail && c.name.starts_with("dr-"))
            .map(|c| format!("{}: {}", c.name, c.evidence))
            .collect();
        if !dr_bad.is_empty() {
            self.notify(
                Template::Escalation,
                Some(Escalation::DrEnvironmentUnhealthy),
                format!(
                    "aegis-dr watch: {what}, but the DR site fails its checks ({}): no automatic failover",
                    dr_bad.join("; ")
                ),
            )
            .await;
            self.set(|s| s.last_action = Some(format!("{what}; DR unhealthy: escalated")));
            return None;
        }
        let approval = spec.action == TriggerAction::Approve;
        let plan = self.plan_for_run(approval, &what);
        let req = RunRequest {
            operation: Operation::Failover,
            class: spec.class,
            flags: RunFlags::default(),
            resume: None,
            abandon: None,
        };
        Some(self.spawn_run(plan, req, format!("{what}: failover")))
    }

    /// The plan a triggered failover runs: with an approval before `declare` when a person decides.
    fn plan_for_run(&self, approval: bool, what: &str) -> Plan {
        let mut plan = (*self.plan).clone();
        if approval {
            plan.hooks.push(HookSpec {
                name: TRIGGER_APPROVAL.into(),
                phases: vec![HookPhase::Failover],
                classes: Vec::new(),
                anchor: HookAnchor::Before("declare".into()),
                timeout: self.plan.watch.approve_timeout,
                estimate: Duration::ZERO,
                safety: true,
                escalate: None,
                action: HookAction::Approval {
                    message: format!("{what}: fail over?"),
                    default: self.plan.watch.approve_default,
                },
            });
        }
        plan
    }

    fn spawn_run(&self, plan: Plan, req: RunRequest, why: String) -> RunTask {
        let mut o = Orchestrator::new(plan, self.providers.clone(), self.state.clone())
            .with_clock(self.clock)
            .with_notifier(self.notifier.clone())
            .with_started_by(STARTED_BY);
        if let Some(p) = &self.progress {
            o = o.with_progress(p.clone());
        }
        let label = req.resume.clone().unwrap_or_else(|| "new".into());
        tracing::warn!(class = %req.class, "{why}");
        self.set(|s| {
            s.last_action = Some(why.clone());
            s.active_run = Some(label.clone());
        });
        (label, tokio::spawn(async move { o.run(req).await }))
    }

    /// On becoming leader: resume the plan's interrupted run that a controller started (a previous
    /// leader, or this replica before a restart). A person's interrupted run is left to them (and
    /// blocks new runs until they resume or abandon it).
    fn resume_interrupted(&self) -> Option<RunTask> {
        let r = crate::runs::interrupted(&self.state, &self.plan.name)
            .into_iter()
            .rev()
            .find(|r| r.state.started_by.as_deref() == Some(STARTED_BY))?;
        let r = r.state;
        // A rollback is a person's decision: the controller resumes only what it runs itself.
        let operation = match r.operation {
            op @ (Operation::Failover | Operation::Failback | Operation::Drill) => op,
            Operation::Rollback => return None,
        };
        let approval = r
            .steps
            .iter()
            .any(|s| s.info.id == format!("hook.{TRIGGER_APPROVAL}"));
        let plan = self.plan_for_run(approval, "resumed");
        let req = RunRequest {
            operation,
            class: r.class,
            flags: RunFlags::default(),
            resume: Some(r.run_id.clone()),
            abandon: None,
        };
        Some(self.spawn_run(plan, req, format!("resuming interrupted run {}", r.run_id)))
    }

    /// Runs the pre-failover checks and keeps their results in the status; returns them with the
    /// names of the checks that failed before.
    async fn take_checks(&self) -> (Vec<CheckResult>, Vec<String>) {
        let checks = run_checks(&self.plan, &self.providers, &self.clock).await;
        let at = self.clock.now_ms();
        let mut was_failing = Vec::new();
        self.set(|s| {
            was_failing = s
                .checks
                .iter()
                .filter(|c| c.status == CheckStatus::Fail)
                .map(|c| c.name.clone())
                .collect();
            s.checks = checks.clone();
            s.checks_ms = Some(at);
        });
        (checks, was_failing)
    }

    /// The periodic checks (readiness drift is reported when it appears, not when it is needed),
    /// and after a completed failover, whether the primary is ready to fail back to.
    async fn check_readiness(&self) {
        let (checks, was_failing) = self.take_checks().await;
        let new_failures: Vec<String> = checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail && !was_failing.contains(&c.name))
            .map(|c| format!("{}: {}", c.name, c.evidence))
            .collect();
        if !new_failures.is_empty() {
            self.notify(
                Template::Escalation,
                Some(Escalation::DrEnvironmentUnhealthy),
                format!(
                    "aegis-dr watch: readiness drift: {}",
                    new_failures.join("; ")
                ),
            )
            .await;
        }
        self.check_drift().await;
        self.check_failback_ready().await;
    }

    /// Reads the plan's drift and escalates what is new since the last read; a failed read is
    /// escalated once per distinct error (the drift is then unknown, not none).
    async fn check_drift(&self) {
        let Some(source) = &self.drift else {
            return;
        };
        let (escalated, before_error) = self
            .status
            .read()
            .map(|s| (s.drift_escalated.clone(), s.drift_error.clone()))
            .unwrap_or_default();
        // A slow estate must not hold the controller's loop (and its lease) for long.
        let limit = self.plan.execution.call_timeout;
        let read = tokio::select! {
            r = source.drift() => r,
            _ = self.clock.sleep(limit) => Err(Error::new(
                crate::error::ErrorKind::Timeout,
                format!("reading the estate took longer than {}", crate::duration::format_duration(limit)),
            )),
        };
        match read {
            Ok(list) => {
                let key = |d: &crate::discover::Drift| {
                    format!(
                        "{} {} {} {}",
                        d.provider,
                        d.kind.as_str(),
                        d.table.key(),
                        d.subject
                    )
                };
                let new: Vec<String> = list
                    .iter()
                    .filter(|d| !escalated.contains(&key(d)))
                    .map(ToString::to_string)
                    .collect();
                if !new.is_empty() {
                    self.notify(
                        Template::Escalation,
                        Some(Escalation::DrEnvironmentUnhealthy),
                        format!(
                            "aegis-dr watch: plan drift: the plan and the estate differ ({} new; `aegis-dr drift` lists all): {}",
                            new.len(),
                            new.join("; ")
                        ),
                    )
                    .await;
                }
                self.set(|s| {
                    s.plan_drift = Some(list.iter().map(ToString::to_string).collect());
                    s.drift_escalated = list.iter().map(key).collect();
                    s.drift_error = None;
                });
            }
            Err(e) => {
                let msg = e.to_string();
                if before_error.as_deref() != Some(msg.as_str()) {
                    self.notify(
                        Template::Escalation,
                        Some(Escalation::DrEnvironmentUnhealthy),
                        format!("aegis-dr watch: the plan's drift could not be read, so it is unknown: {msg}"),
                    )
                    .await;
                }
                self.set(|s| {
                    s.plan_drift = None;
                    s.drift_error = Some(msg);
                });
            }
        }
    }

    async fn check_failback_ready(&self) {
        let Some(failover) = crate::runs::failover_to_undo(&self.state, &self.plan.name) else {
            self.set(|s| s.failback_ready = false);
            return;
        };
        let already = self
            .status
            .read()
            .map(|s| s.failback_ready)
            .unwrap_or(false);
        let min = self.plan.failback.min_primary_stable;
        let mut stable_for: Option<Duration> = None;
        let mut healthy = true;
        for h in self
            .plan
            .health_endpoints
            .iter()
            .filter(|h| h.site == crate::SiteRole::Primary)
        {
            let probe = match self.providers.health(&h.provider) {
                Ok(p) => p,
                Err(_) => return,
            };
            match probe.probe(&crate::provider::ProbeRequest::of(h)).await {
                Ok(r) if r.problems(h).is_empty() => {
                    let s = r.healthy_for.unwrap_or_default();
                    stable_for = Some(stable_for.map_or(s, |x| x.min(s)));
                }
                _ => healthy = false,
            }
        }
        let ready = healthy && stable_for.is_some_and(|s| s >= min);
        if ready && !already {
            self.notify(
                Template::Progress,
                None,
                format!(
                    "aegis-dr watch: the primary has been healthy for {} (at least {}): ready to fail back the failover {} (`aegis-dr failback`)",
                    crate::duration::format_duration(stable_for.unwrap_or_default()),
                    crate::duration::format_duration(min),
                    failover.state.run_id
                ),
            )
            .await;
        }
        self.set(|s| s.failback_ready = ready);
    }
}

/// The default identity of a replica: the pod name (`HOSTNAME`) and the process id.
pub fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "aegis-dr".into());
    format!("{host}-{}", std::process::id())
}
