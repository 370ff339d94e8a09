//! Run reports: folded from the journal, written as `report.json` and `report.md` in the run folder.

use std::collections::BTreeMap;

mod html;
mod markdown;

pub use html::plan_html;

use serde::{Deserialize, Serialize};

use crate::{
    clock::rfc3339,
    error::{Error, ErrorKind, ErrorSummary, Result},
    journal::{Entry, RunFlags, RunStatus},
    run::{CheckResult, RunState},
    store::State,
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

use crate::run::StepId;
pub use crate::run::StepStatus;

/// One step in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The step's id (`fence-primary-db`, `failover.declare` in a drill).
    pub id: StepId,
    /// The step's title, as the plan output shows it.
    pub title: String,
    /// How the step ended (or stands, in a run still going).
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
    /// What the step did, in one line.
    pub summary: Option<String>,
    /// Errors, in order.
    pub errors: Vec<ErrorSummary>,
    /// Structured output.
    pub data: serde_json::Value,
    /// Estimated seconds.
    pub estimate_seconds: f64,
    /// Steps it waited for.
    #[serde(default)]
    pub deps: Vec<StepId>,
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
    /// When the request was journaled (RFC 3339).
    pub at: String,
    /// Seconds from the run's start.
    pub offset_seconds: f64,
    /// Who asked (`--by`, else the OS user).
    pub by: String,
    /// What was asked, as one line: `pause (reason)`, `skip STEP (reason)`, `approve STEP`, ...
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
    /// When it was raised (RFC 3339).
    pub at: String,
    /// Why: `rto-exceeded`, `data-integrity`, `dr-environment-unhealthy`, `both-sites-down`,
    /// `run-stopped`.
    pub reason: String,
    /// The message sent to the escalation's route.
    pub message: String,
    /// Seconds from the run's start.
    #[serde(default)]
    pub offset_seconds: f64,
}

/// A notification in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationReport {
    /// When it was sent (RFC 3339).
    pub at: String,
    /// Which message it was (run started, step failed, ...).
    pub template: String,
    /// The sink it went to, as the plan names it.
    pub sink: String,
    /// Error, if sending failed.
    pub error: Option<String>,
}

/// The report of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Run id.
    pub run_id: String,
    /// `failover`, `failback`, `drill` or `rollback`.
    pub operation: String,
    /// Incident class.
    pub class: String,
    /// Plan name.
    pub plan: String,
    /// How the run ended, or where it stands.
    pub status: RunStatus,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End (RFC 3339), when finished.
    pub finished_at: Option<String>,
    /// Seconds from start to end (or to the last journaled event).
    pub duration_seconds: f64,
    /// The class's RTO and RPO, in seconds.
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
    pub critical_path: Vec<StepId>,
}

/// The steps that decided the run's duration: the step that ended last, then, repeatedly, the
/// dependency of the current one that ended last.
fn critical_path(steps: &[StepReport]) -> Vec<StepId> {
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
    /// Whether a step of a drill's failback phase started (a skipped or pending one changed
    /// nothing): the drill then goes back as a failback does, not by `rollback`.
    pub fn drill_failback_started(&self) -> bool {
        self.steps.iter().any(|s| {
            s.id.phase() == crate::run::Phase::DrillFailback
                && !matches!(
                    s.status,
                    crate::run::StepStatus::Pending | crate::run::StepStatus::Skipped
                )
        })
    }

    /// The ways forward and back from this run, had it stopped.
    pub fn ways_out(&self) -> Option<crate::run::WaysOut> {
        let op = self.operation.parse().ok()?;
        Some(crate::run::ways_out(
            op,
            &self.run_id,
            &self.class,
            self.drill_failback_started(),
        ))
    }

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
        Ok(Report::of(&RunState::fold(entries)?))
    }

    /// The report of a folded run: a view of it, nothing interpreted here.
    pub fn of(run: &RunState) -> Report {
        let started = run.started_ms;
        let offset = |ts: u64| ts.saturating_sub(started) as f64 / 1000.0;
        let secs = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1000.0;
        let steps: Vec<StepReport> = run
            .steps
            .iter()
            .map(|s| StepReport {
                id: s.info.id.clone(),
                title: s.info.title.clone(),
                status: s.status,
                started_at: s.first_started_ms.map(rfc3339),
                finished_at: s
                    .finished_ms
                    .filter(|_| s.status != StepStatus::Running)
                    .map(rfc3339),
                // From the first start to the end, for a step that is done.
                duration_seconds: match (s.done(), s.first_started_ms, s.finished_ms) {
                    (true, Some(from), Some(to)) => Some(secs(from, to)),
                    _ => None,
                },
                attempts: s.attempts,
                retries: s.retries,
                summary: s.summary.clone(),
                errors: s.errors.clone(),
                data: s.data.clone(),
                estimate_seconds: s.info.estimate_ms as f64 / 1000.0,
                deps: s.info.deps.clone(),
                safety: s.info.safety,
                approval: s.info.approval,
                start_offset_seconds: s.first_started_ms.map(offset),
                end_offset_seconds: s
                    .finished_ms
                    .filter(|_| s.status != StepStatus::Running)
                    .map(offset),
                skipped_by: s.skipped_by.clone(),
                forced_skip: s.forced_skip,
            })
            .collect();
        let loss = run.total_data_loss();
        let mut achieved = AchievedSeconds {
            rto_seconds: None,
            rpo_seconds: None,
            rpo_unknown: loss.unknown,
            within_targets: None,
        };
        if let Some(r) = run.first_restored_ms() {
            achieved.rto_seconds = Some(secs(started, r));
            // Restored without moving data (routing or compute only): nothing was lost.
            achieved.rpo_seconds = loss.rpo_seconds();
        } else if !loss.unknown {
            achieved.rpo_seconds = loss.worst_ms.map(|ms| ms as f64 / 1000.0);
        }
        let targets = TargetSeconds {
            rto_seconds: run.targets.rto.as_secs_f64(),
            rpo_seconds: run.targets.rpo.as_secs_f64(),
        };
        if let (Some(rto), Some(rpo)) = (achieved.rto_seconds, achieved.rpo_seconds) {
            achieved.within_targets =
                Some(rto <= targets.rto_seconds && rpo <= targets.rpo_seconds);
        }
        let finished_at = match (&run.abandoned, &run.finished) {
            (Some(a), _) => Some(rfc3339(a.ts_ms)),
            (None, Some(f)) => Some(rfc3339(f.ts_ms)),
            (None, None) => None,
        };
        Report {
            run_id: run.run_id.clone(),
            operation: run.operation.as_str().into(),
            class: run.class.as_str().into(),
            plan: run.plan.clone(),
            status: run.status(),
            started_at: rfc3339(started),
            finished_at,
            duration_seconds: secs(started, run.last_ms),
            targets,
            achieved,
            estimate_seconds: run.estimate_ms as f64 / 1000.0,
            flags: run.flags,
            resumes: run.resumes.len() as u32,
            critical_path: critical_path(&steps),
            steps,
            checks: run.checks.clone(),
            escalations: run
                .escalations
                .iter()
                .map(|e| EscalationReport {
                    at: rfc3339(e.ts_ms),
                    reason: e.what.reason.clone(),
                    message: e.what.message.clone(),
                    offset_seconds: offset(e.ts_ms),
                })
                .collect(),
            notifications: run
                .notifications
                .iter()
                .map(|n| NotificationReport {
                    at: rfc3339(n.ts_ms),
                    template: n.what.template.clone(),
                    sink: n.what.sink.clone(),
                    error: n.what.error.clone(),
                })
                .collect(),
            error: run.finished.as_ref().and_then(|f| f.error.clone()),
            undoes: run.undoes.clone(),
            abandoned: run
                .abandoned
                .as_ref()
                .map(|a| format!("abandoned by run {}: {}", a.by, a.reason)),
            provider_calls: run.provider_calls.clone(),
            controls: run
                .controls
                .iter()
                .map(|c| ControlReport {
                    at: rfc3339(c.ts_ms),
                    offset_seconds: offset(c.ts_ms),
                    by: c.what.by.clone(),
                    request: c.what.command.describe(),
                })
                .collect(),
            pauses: run
                .pauses
                .iter()
                .map(|p| PauseReport {
                    from_seconds: offset(p.from_ms),
                    to_seconds: p.to_ms.map(offset),
                    by: p.by.clone(),
                })
                .collect(),
            started_by: run.started_by.clone(),
            recovery_point: run.recovery_point.clone(),
        }
    }

    /// The report of run `run_id` in `state`, folded from its journal.
    pub fn for_run(state: &State, run_id: &str) -> Result<Report> {
        Report::from_journal(&crate::journal::read_run(state, run_id)?)
    }

    /// Writes `report.json`, `report.md` and `report.html` beside the run's journal, each replaced
    /// atomically. Not fsynced in a folder: a report is folded again from the journal.
    pub fn write_to(&self, state: &State) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot serialise report: {e}")))?;
        state.write_report(&self.run_id, "report.json", &json)?;
        state.write_report(&self.run_id, "report.md", self.to_markdown().as_bytes())?;
        state.write_report(&self.run_id, "report.html", self.to_html().as_bytes())
    }
}
