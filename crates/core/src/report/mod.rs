//! Run reports: folded from the journal, written as `report.json` and `report.md` in the run folder.

use std::{collections::BTreeMap, path::Path};

mod html;
mod markdown;

pub use html::plan_html;

use serde::{Deserialize, Serialize};

use crate::{
    clock::rfc3339,
    error::{Error, ErrorKind, ErrorSummary, Result},
    fsutil::write_replace,
    journal::{Entry, RunFlags, RunStatus},
    run::CheckResult,
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
    /// Steps it waited for.
    #[serde(default)]
    pub deps: Vec<String>,
    /// Skipping it needs `--force`.
    #[serde(default)]
    pub safety: bool,
    /// An approval hook.
    #[serde(default)]
    pub approval: bool,
    /// Seconds from the run's start to the step's first start.
    #[serde(default)]
    pub start_offset_seconds: Option<f64>,
    /// Seconds from the run's start to the step's end.
    #[serde(default)]
    pub end_offset_seconds: Option<f64>,
    /// The operator who skipped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_by: Option<String>,
    /// A safety step skipped with `--force`: flagged in every report.
    #[serde(default)]
    pub forced_skip: bool,
}

impl StepReport {
    /// Its outcome in one line: the summary, else its last error.
    pub fn outcome(&self) -> String {
        self.summary
            .clone()
            .or_else(|| self.errors.last().map(|e| e.message.clone()))
            .unwrap_or_default()
    }

    /// The errors not shown as its outcome: every failed attempt's but the last one of a step that
    /// ended failed (after a resume, the error that stopped the run stays in the report).
    pub fn earlier_errors(&self) -> &[ErrorSummary] {
        match (&self.summary, self.errors.split_last()) {
            (None, Some((_, before))) => before,
            _ => &self.errors,
        }
    }
}

/// An operator's request, as the run took it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlReport {
    /// When.
    pub at: String,
    /// Seconds from the run's start.
    pub offset_seconds: f64,
    /// Who.
    pub by: String,
    /// What.
    pub request: String,
}

/// A time the run was paused by an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PauseReport {
    /// Seconds from the run's start to the pause.
    pub from_seconds: f64,
    /// Seconds from the run's start to the resume (`null`: never resumed in this run's journal).
    pub to_seconds: Option<f64>,
    /// Who paused, and why.
    pub by: String,
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
    /// Seconds from the run's start.
    #[serde(default)]
    pub offset_seconds: f64,
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
    pub provider_calls: BTreeMap<String, crate::run::ProviderCalls>,
    /// The operator's requests (pause, resume, skip, approve, reject).
    #[serde(default)]
    pub controls: Vec<ControlReport>,
    /// Times the run was paused.
    #[serde(default)]
    pub pauses: Vec<PauseReport>,
    /// Who started it when not a person at the CLI (`aegis-dr watch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// The recovery point asked for (`--recovery-point`); each server's newest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point: Option<String>,
    /// The chain of steps that decided the run's duration: from the last step to end, back
    /// through the dependency that ended last.
    #[serde(default)]
    pub critical_path: Vec<String>,
}

/// The steps that decided the run's duration: the step that ended last, then, repeatedly, the
/// dependency of the current one that ended last.
fn critical_path(steps: &[StepReport]) -> Vec<String> {
    let by_id: BTreeMap<&str, &StepReport> = steps.iter().map(|s| (s.id.as_str(), s)).collect();
    let end = |s: &StepReport| s.end_offset_seconds.unwrap_or(f64::NEG_INFINITY);
    let mut cur = steps
        .iter()
        .filter(|s| s.end_offset_seconds.is_some())
        .max_by(|a, b| end(a).total_cmp(&end(b)));
    let mut path = Vec::new();
    while let Some(s) = cur {
        path.push(s.id.clone());
        cur = s
            .deps
            .iter()
            .filter_map(|d| by_id.get(d.as_str()).copied())
            .filter(|d| d.end_offset_seconds.is_some())
            .max_by(|a, b| end(a).total_cmp(&end(b)));
    }
    path.reverse();
    path
}

/// A hook's evidence in one line (exit code and output's last line, answer, query, decision).
pub(crate) fn hook_evidence_line(data: &serde_json::Value) -> Option<String> {
    let h = data.get("hook")?;
    let last_line = |k: &str| {
        h[k].as_str()
            .and_then(|t| t.lines().rev().find(|l| !l.trim().is_empty()))
            .map(|l| l.trim().to_string())
    };
    Some(match h["type"].as_str()? {
        "command" if h["timed_out"] == true => "hook: timed out (killed)".to_string(),
        "command" => format!(
            "hook: exit {}{}{}",
            h["exit_code"],
            last_line("stdout")
                .map(|l| format!("; stdout: {l}"))
                .unwrap_or_default(),
            last_line("stderr")
                .map(|l| format!("; stderr: {l}"))
                .unwrap_or_default()
        ),
        "http" => match h["status"].as_u64() {
            Some(st) => format!(
                "hook: {} answered {st}",
                h["request"].as_str().unwrap_or("")
            ),
            None => format!("hook: {}", h["error"].as_str().unwrap_or("no answer")),
        },
        "prometheus" => format!(
            "hook: `{}` {} held {} for {}s (longest {}s, {} evaluations kept)",
            h["query"].as_str().unwrap_or(""),
            if h["held"] == true { "" } else { "NOT" },
            h["bound"].as_str().unwrap_or(""),
            h["window_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
            h["longest_held_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
            h["samples"].as_array().map(Vec::len).unwrap_or(0)
        )
        .replace("  ", " "),
        "approval" => format!(
            "hook: {}{}",
            h["outcome"].as_str().unwrap_or(""),
            h["by"]
                .as_str()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default()
        ),
        _ => return None,
    })
}

/// Seconds as people read them, to the millisecond (`1.525s`, `2m`), so a miss never reads as met.
pub(crate) fn seconds(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        return format!("{v}s");
    }
    crate::duration::format_duration(std::time::Duration::from_secs_f64(v.min(1e12)))
}

impl Report {
    /// The safety steps an operator skipped with `--force` (flagged in every report).
    pub fn forced_skips(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|s| s.forced_skip)
            .map(|s| s.id.as_str())
            .collect()
    }

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
            started_by,
            recovery_point,
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
            controls: Vec::new(),
            pauses: Vec::new(),
            critical_path: Vec::new(),
            started_by: started_by.clone(),
            recovery_point: recovery_point.clone(),
        };
        let offset = |ts: u64| ts.saturating_sub(started) as f64 / 1000.0;
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
                deps: s.deps.clone(),
                safety: s.safety,
                approval: s.approval,
                start_offset_seconds: None,
                end_offset_seconds: None,
                skipped_by: None,
                forced_skip: false,
            });
        }
        let mut first_start: BTreeMap<String, u64> = BTreeMap::new();
        let mut last_ts = started;
        let mut restored: Option<u64> = None;
        let mut loss = crate::run::DataLoss::default();
        for e in entries {
            match e {
                Entry::RunStarted { .. } => {}
                Entry::RunResumed {
                    ts_ms,
                    flags,
                    recovery_point,
                } => {
                    report.resumes += 1;
                    if recovery_point.is_some() {
                        report.recovery_point.clone_from(recovery_point);
                    }
                    // Resuming a run ends a pause its earlier process was in.
                    if let Some(p) = report.pauses.last_mut() {
                        p.to_seconds.get_or_insert(offset(*ts_ms));
                    }
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
                        s.start_offset_seconds.get_or_insert(offset(*ts_ms));
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
                    let out = crate::run::StepOutputView::of(data);
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
                        s.end_offset_seconds = Some(offset(*ts_ms));
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
                    by,
                    forced,
                } => {
                    last_ts = *ts_ms;
                    if let Some(s) = idx.get(step).map(|i| &mut report.steps[*i]) {
                        s.status = StepStatus::Skipped;
                        s.finished_at = Some(rfc3339(*ts_ms));
                        s.end_offset_seconds = Some(offset(*ts_ms));
                        s.skipped_by = by.clone();
                        s.forced_skip = *forced;
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
                    data,
                } => {
                    last_ts = *ts_ms;
                    if let Some(s) = idx.get(step).map(|i| &mut report.steps[*i]) {
                        s.status = StepStatus::Failed;
                        s.finished_at = Some(rfc3339(*ts_ms));
                        s.end_offset_seconds = Some(offset(*ts_ms));
                        if !data.is_null() {
                            s.data = data.clone();
                        }
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
                        offset_seconds: offset(*ts_ms),
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
                Entry::Control { ts_ms, request } => {
                    last_ts = *ts_ms;
                    report.controls.push(ControlReport {
                        at: rfc3339(*ts_ms),
                        offset_seconds: offset(*ts_ms),
                        by: request.by.clone(),
                        request: request.command.describe(),
                    });
                    match &request.command {
                        crate::run::Command::Pause { reason }
                            if report.pauses.last().is_none_or(|p| p.to_seconds.is_some()) =>
                        {
                            report.pauses.push(PauseReport {
                                from_seconds: offset(*ts_ms),
                                to_seconds: None,
                                by: format!("{}: {reason}", request.by),
                            });
                        }
                        crate::run::Command::Resume => {
                            if let Some(p) = report.pauses.last_mut() {
                                p.to_seconds.get_or_insert(offset(*ts_ms));
                            }
                        }
                        _ => {}
                    }
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
        report.critical_path = critical_path(&report.steps);
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

    /// Writes `report.json`, `report.md` and `report.html` into `run_dir`, each replaced atomically. Not fsynced:
    /// the journal they are folded from is, and `aegis-dr report` folds it again.
    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot serialise report: {e}")))?;
        write_replace(&run_dir.join("report.json"), &json)?;
        write_replace(&run_dir.join("report.md"), self.to_markdown().as_bytes())?;
        write_replace(&run_dir.join("report.html"), self.to_html().as_bytes())
    }
}
