//! Run reports: folded from the journal, written as `report.json` and `report.md` in the run folder.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use serde::{Deserialize, Serialize};

use crate::{
    checks::CheckResult,
    clock::rfc3339,
    error::{Error, ErrorKind, ErrorSummary, Result},
    fsutil::write_replace,
    journal::{Entry, RunFlags, RunStatus},
};

/// Targets in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSeconds {
    /// RTO.
    pub rto_seconds: f64,
    /// RPO.
    pub rpo_seconds: f64,
}

/// Achieved values in seconds (`null` when not reached).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AchievedSeconds {
    /// Time from the start to verified service.
    pub rto_seconds: Option<f64>,
    /// Largest data-loss window measured at promotion or recovery (`null` when not reached or
    /// not measured: see `rpo_unknown`).
    pub rpo_seconds: Option<f64>,
    /// True when a promotion's data-loss window could not be measured: the RPO is unknown, not 0.
    #[serde(default)]
    pub rpo_unknown: bool,
    /// True when both are within their targets (`null` when either is not known).
    pub within_targets: Option<bool>,
}

/// Status of a step in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Started, not finished.
    Running,
    /// Done.
    Succeeded,
    /// Not attempted, on purpose (the reason is its summary).
    Skipped,
    /// Failed.
    Failed,
}

/// One step in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: StepStatus,
    /// First start (RFC 3339).
    pub started_at: Option<String>,
    /// End (RFC 3339).
    pub finished_at: Option<String>,
    /// Seconds from first start to end.
    pub duration_seconds: Option<f64>,
    /// Times started (more than 1 after a resume or retry of the run).
    pub attempts: u32,
    /// Retried calls.
    pub retries: u32,
    /// Outcome.
    pub summary: Option<String>,
    /// Errors, in order.
    pub errors: Vec<ErrorSummary>,
    /// Structured output.
    pub data: serde_json::Value,
    /// Estimated seconds.
    pub estimate_seconds: f64,
}

/// An escalation in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationReport {
    /// When.
    pub at: String,
    /// Why.
    pub reason: String,
    /// Text.
    pub message: String,
}

/// A notification in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationReport {
    /// When.
    pub at: String,
    /// Template.
    pub template: String,
    /// Sink.
    pub sink: String,
    /// Error, if sending failed.
    pub error: Option<String>,
}

/// The report of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Run id.
    pub run_id: String,
    /// Operation.
    pub operation: String,
    /// Incident class.
    pub class: String,
    /// Plan name.
    pub plan: String,
    /// Status.
    pub status: RunStatus,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End (RFC 3339), when finished.
    pub finished_at: Option<String>,
    /// Seconds from start to end (or to the last journaled event).
    pub duration_seconds: f64,
    /// Targets.
    pub targets: TargetSeconds,
    /// Achieved values.
    pub achieved: AchievedSeconds,
    /// Estimated seconds (critical path).
    pub estimate_seconds: f64,
    /// Flags in force.
    pub flags: RunFlags,
    /// Times the run was resumed.
    pub resumes: u32,
    /// Steps in graph order.
    pub steps: Vec<StepReport>,
    /// Pre-failover check results.
    pub checks: Vec<CheckResult>,
    /// Escalations raised.
    pub escalations: Vec<EscalationReport>,
    /// Notifications sent.
    pub notifications: Vec<NotificationReport>,
    /// The error that ended the run.
    pub error: Option<ErrorSummary>,
    /// The failover this failback undid (`run_id`), from which it took its incident class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undoes: Option<String>,
    /// Why the run was abandoned, and by which run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandoned: Option<String>,
    /// Calls and errors by provider, over every process that worked on the run and ended it
    /// (a process killed mid-run journals none).
    #[serde(default)]
    pub provider_calls: BTreeMap<String, crate::layer::ProviderCalls>,
}

/// Seconds as people read them, to the millisecond (`1.525s`, `2m`), so a miss never reads as met.
fn seconds(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        return format!("{v}s");
    }
    crate::duration::format_duration(std::time::Duration::from_secs_f64(v.min(1e12)))
}

impl Report {
    /// Folds a journal into a report.
    pub fn from_journal(entries: &[Entry]) -> Result<Report> {
        let Some(Entry::RunStarted {
            ts_ms,
            run_id,
            operation,
            class,
            plan,
            targets,
            flags,
            steps,
            estimate_ms,
            undoes,
        }) = entries.first()
        else {
            return Err(Error::new(
                ErrorKind::Io,
                "journal does not start with run_started",
            ));
        };
        let started = *ts_ms;
        let mut report = Report {
            run_id: run_id.clone(),
            operation: operation.as_str().into(),
            class: class.as_str().into(),
            plan: plan.clone(),
            status: RunStatus::Running,
            started_at: rfc3339(started),
            finished_at: None,
            duration_seconds: 0.0,
            targets: TargetSeconds {
                rto_seconds: targets.rto.as_secs_f64(),
                rpo_seconds: targets.rpo.as_secs_f64(),
            },
            achieved: AchievedSeconds {
                rto_seconds: None,
                rpo_seconds: None,
                rpo_unknown: false,
                within_targets: None,
            },
            estimate_seconds: *estimate_ms as f64 / 1000.0,
            flags: *flags,
            resumes: 0,
            steps: Vec::new(),
            checks: Vec::new(),
            escalations: Vec::new(),
            notifications: Vec::new(),
            error: None,
            undoes: undoes.clone(),
            abandoned: None,
            provider_calls: BTreeMap::new(),
        };
        let mut idx = BTreeMap::new();
        for (i, s) in steps.iter().enumerate() {
            idx.insert(s.id.clone(), i);
            report.steps.push(StepReport {
                id: s.id.clone(),
                title: s.title.clone(),
                status: StepStatus::Pending,
                started_at: None,
                finished_at: None,
                duration_seconds: None,
                attempts: 0,
                retries: 0,
                summary: None,
                errors: Vec::new(),
                data: serde_json::Value::Null,
                estimate_seconds: s.estimate_ms as f64 / 1000.0,
            });
        }
        let mut first_start: BTreeMap<String, u64> = BTreeMap::new();
        let mut last_ts = started;
        let mut restored: Option<u64> = None;
        let mut loss = crate::orchestrator::DataLoss::default();
        for e in entries {
            match e {
                Entry::RunStarted { .. } => {}
                Entry::RunResumed { ts_ms, flags } => {
                    report.resumes += 1;
                    report.flags = *flags;
                    last_ts = *ts_ms;
                }
                Entry::StepStarted { ts_ms, step } => {
                    last_ts = *ts_ms;
                    if let Some(s) = idx.get(step).map(|i| &mut report.steps[*i]) {
                        s.status = StepStatus::Running;
                        s.attempts += 1;
                        first_start.entry(step.clone()).or_insert(*ts_ms);
                        s.started_at.get_or_insert_with(|| rfc3339(*ts_ms));
                    }
                }
                Entry::StepCheckpoint { ts_ms, .. } => last_ts = *ts_ms,
                Entry::StepSucceeded {
                    ts_ms,
                    step,
                    retries,
                    summary,
                    data,
                } => {
                    last_ts = *ts_ms;
                    let out = crate::orchestrator::StepOutputView::of(data);
                    if let Some(r) = out.service_restored_ms {
                        restored.get_or_insert(r);
                    }
                    if let Some(d) = out.data_loss() {
                        loss.merge(d);
                    }
                    if let Some(c) = out.checks {
                        report.checks = c;
                    }
                    if let Some(s) = idx.get(step).map(|i| &mut report.steps[*i]) {
                        s.status = StepStatus::Succeeded;
                        s.finished_at = Some(rfc3339(*ts_ms));
                        s.duration_seconds = first_start
                            .get(step)
                            .map(|f| ts_ms.saturating_sub(*f) as f64 / 1000.0);
                        s.retries += retries;
                        s.summary = Some(summary.clone());
                        s.data = data.clone();
                    }
                }
                Entry::StepSkipped {
                    ts_ms,
                    step,
                    reason,
                } => {
                    last_ts = *ts_ms;
                    if let Some(s) = idx.get(step).map(|i| &mut report.steps[*i]) {
                        s.status = StepStatus::Skipped;
                        s.finished_at = Some(rfc3339(*ts_ms));
                        s.duration_seconds = first_start
                            .get(step)
                            .map(|f| ts_ms.saturating_sub(*f) as f64 / 1000.0);
                        s.summary = Some(format!("skipped: {reason}"));
                    }
                }
                Entry::StepFailed {
                    ts_ms,
                    step,
                    retries,
                    error,
                } => {
                    last_ts = *ts_ms;
                    if let Some(s) = idx.get(step).map(|i| &mut report.steps[*i]) {
                        s.status = StepStatus::Failed;
                        s.finished_at = Some(rfc3339(*ts_ms));
                        s.retries += retries;
                        s.errors.push(error.clone());
                    }
                }
                Entry::Escalation {
                    ts_ms,
                    reason,
                    message,
                } => {
                    last_ts = *ts_ms;
                    report.escalations.push(EscalationReport {
                        at: rfc3339(*ts_ms),
                        reason: reason.clone(),
                        message: message.clone(),
                    });
                }
                Entry::Notification {
                    ts_ms,
                    template,
                    sink,
                    error,
                } => {
                    report.notifications.push(NotificationReport {
                        at: rfc3339(*ts_ms),
                        template: template.clone(),
                        sink: sink.clone(),
                        error: error.clone(),
                    });
                }
                Entry::RunAbandoned { ts_ms, reason, by } => {
                    report.status = RunStatus::Abandoned;
                    report.finished_at = Some(rfc3339(*ts_ms));
                    report.abandoned = Some(format!("abandoned by run {by}: {reason}"));
                }
                Entry::ProviderCalls { calls, .. } => {
                    for (name, c) in calls {
                        report
                            .provider_calls
                            .entry(name.clone())
                            .or_default()
                            .add(c);
                    }
                }
                Entry::RunFinished {
                    ts_ms,
                    status,
                    error,
                } => {
                    last_ts = *ts_ms;
                    report.status = *status;
                    report.finished_at = Some(rfc3339(*ts_ms));
                    report.error = error.clone();
                }
            }
        }
        // A step still "running" in a finished run was interrupted by the failure of another.
        report.duration_seconds = last_ts.saturating_sub(started) as f64 / 1000.0;
        report.achieved.rpo_unknown = loss.unknown;
        if let Some(r) = restored {
            report.achieved.rto_seconds = Some(r.saturating_sub(started) as f64 / 1000.0);
            // Restored without moving data (routing or compute only): nothing was lost.
            report.achieved.rpo_seconds = loss.rpo_seconds();
        } else if !loss.unknown {
            report.achieved.rpo_seconds = loss.worst_ms.map(|ms| ms as f64 / 1000.0);
        }
        if let (Some(rto), Some(rpo)) = (report.achieved.rto_seconds, report.achieved.rpo_seconds) {
            report.achieved.within_targets =
                Some(rto <= report.targets.rto_seconds && rpo <= report.targets.rpo_seconds);
        }
        Ok(report)
    }

    /// Reads the report of a run from its journal.
    pub fn for_run(run_dir: &Path) -> Result<Report> {
        Report::from_journal(&crate::journal::read(&run_dir.join("journal.jsonl"))?)
    }

    /// Writes `report.json` and `report.md` into `run_dir`, each replaced atomically. Not fsynced:
    /// the journal they are folded from is, and `aegis-dr report` folds it again.
    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot serialise report: {e}")))?;
        write_replace(&run_dir.join("report.json"), &json)?;
        write_replace(&run_dir.join("report.md"), self.to_markdown().as_bytes())
    }

    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let secs = |v: Option<f64>| v.map(seconds).unwrap_or_else(|| "n/a".into());
        let _ = writeln!(s, "# aegis-dr {} report: {}\n", self.operation, self.run_id);
        let _ = writeln!(s, "| | |\n|---|---|");
        let _ = writeln!(s, "| plan | {} |", self.plan);
        let _ = writeln!(s, "| incident class | {} |", self.class);
        let _ = writeln!(s, "| status | **{}** |", self.status.as_str());
        let _ = writeln!(s, "| started | {} |", self.started_at);
        let _ = writeln!(
            s,
            "| finished | {} |",
            self.finished_at.as_deref().unwrap_or("(not finished)")
        );
        let _ = writeln!(
            s,
            "| duration | {} (estimate {}) |",
            seconds(self.duration_seconds),
            seconds(self.estimate_seconds)
        );
        let verdict = |achieved: Option<f64>, target: f64| match achieved {
            Some(a) if a <= target => " (met)",
            Some(_) => " (**missed**)",
            None => "",
        };
        let _ = writeln!(
            s,
            "| RTO | achieved {} / target {}{} |",
            secs(self.achieved.rto_seconds),
            seconds(self.targets.rto_seconds),
            verdict(self.achieved.rto_seconds, self.targets.rto_seconds)
        );
        let rpo = if self.achieved.rpo_unknown {
            "**unknown** (a replication lag could not be measured)".to_string()
        } else {
            secs(self.achieved.rpo_seconds)
        };
        let _ = writeln!(
            s,
            "| RPO | achieved {rpo} / target {}{} |",
            seconds(self.targets.rpo_seconds),
            verdict(self.achieved.rpo_seconds, self.targets.rpo_seconds)
        );
        if self.resumes > 0 {
            let _ = writeln!(s, "| resumed | {} time(s) |", self.resumes);
        }
        if let Some(u) = &self.undoes {
            let _ = writeln!(s, "| undoes | failover {u} (its incident class) |");
        }
        if let Some(a) = &self.abandoned {
            let _ = writeln!(s, "\n**Abandoned:** {a}");
        }
        if let Some(e) = &self.error {
            let _ = writeln!(s, "\n**Error:** {}", e.message);
        }
        let _ = writeln!(
            s,
            "\n## Steps\n\n| step | status | duration | retries | outcome |\n|---|---|---|---|---|"
        );
        for st in &self.steps {
            let outcome = st
                .summary
                .clone()
                .or_else(|| st.errors.last().map(|e| e.message.clone()))
                .unwrap_or_default()
                .replace('|', "\\|");
            let _ = writeln!(
                s,
                "| {} | {:?} | {} | {} | {} |",
                st.id,
                st.status,
                secs(st.duration_seconds),
                st.retries,
                outcome
            );
            let log = crate::orchestrator::StepOutputView::of(&st.data).job_log;
            for line in log.iter().flatten() {
                let _ = writeln!(s, "|  | | | | job: {} |", line.replace('|', "\\|"));
            }
        }
        if !self.provider_calls.is_empty() {
            let _ = writeln!(
                s,
                "\n## Calls by provider\n\n| provider | calls | transient errors | other errors |\n|---|---|---|---|"
            );
            for (name, c) in &self.provider_calls {
                let _ = writeln!(
                    s,
                    "| {name} | {} | {} | {} |",
                    c.calls, c.transient_errors, c.errors
                );
            }
        }
        if !self.checks.is_empty() {
            let _ = writeln!(
                s,
                "\n## Checks\n\n| check | status | evidence |\n|---|---|---|"
            );
            for c in &self.checks {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    c.name,
                    c.status.as_str(),
                    c.evidence.replace('|', "\\|")
                );
            }
        }
        if !self.escalations.is_empty() {
            let _ = writeln!(s, "\n## Escalations\n");
            for e in &self.escalations {
                let _ = writeln!(s, "- {} **{}**: {}", e.at, e.reason, e.message);
            }
        }
        if !self.notifications.is_empty() {
            let _ = writeln!(s, "\n## Notifications\n");
            for n in &self.notifications {
                let _ = writeln!(
                    s,
                    "- {} {} -> {}{}",
                    n.at,
                    n.template,
                    n.sink,
                    n.error
                        .as_ref()
                        .map(|e| format!(" (failed: {e})"))
                        .unwrap_or_default()
                );
            }
        }
        s
    }
}
