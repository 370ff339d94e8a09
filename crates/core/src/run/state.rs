//! [`RunState`]: a run as its journal tells it. [`RunState::fold`] is the one place a journal is
//! interpreted; a resume, the report, the run list and operator controls read what it folds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    CheckResult, ControlRequest, DataLoss, Entry, Operation, Phase, ProviderCalls, RunFlags,
    RunStatus, StepId, StepInfo, StepOutputView,
};
use crate::{
    error::{Error, ErrorKind, ErrorSummary, Result},
    incident::{IncidentClass, Targets},
};

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Started, not finished.
    Running,
    /// It did what it does.
    Succeeded,
    /// Not attempted, on purpose (the reason is its summary).
    Skipped,
    /// It failed or was refused (its error is journaled).
    Failed,
}

/// One step as the journal tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    /// The step as the run's graph had it.
    pub info: StepInfo,
    /// Where it stands.
    pub status: StepStatus,
    /// Times started (more than 1 after a resume or a retry of the run).
    pub attempts: u32,
    /// Retried calls, over every attempt.
    pub retries: u32,
    /// First start (epoch ms).
    pub first_started_ms: Option<u64>,
    /// End of its last attempt (epoch ms).
    pub finished_ms: Option<u64>,
    /// One-line outcome (`skipped: <reason>` when skipped).
    pub summary: Option<String>,
    /// Every attempt's error, in order.
    pub errors: Vec<ErrorSummary>,
    /// What it recorded (on success, or before it failed).
    pub data: Value,
    /// The operator who skipped it.
    pub skipped_by: Option<String>,
    /// A safety step skipped with `--force`.
    pub forced_skip: bool,
    /// What it recorded to resume from (a job id, a change id), by key.
    pub checkpoints: BTreeMap<String, Value>,
}

impl StepState {
    /// True once it succeeded or was skipped: the steps after it may go.
    pub fn done(&self) -> bool {
        matches!(self.status, StepStatus::Succeeded | StepStatus::Skipped)
    }
}

/// A pause, from the request to the resume (`None`: still paused).
#[derive(Debug, Clone, PartialEq)]
pub struct Pause {
    /// When it was asked (epoch ms).
    pub from_ms: u64,
    /// When it ended (epoch ms).
    pub to_ms: Option<u64>,
    /// Who asked, and why.
    pub by: String,
}

/// A timestamped record of the run: an escalation, a notification, an operator request.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    /// Epoch ms.
    pub ts_ms: u64,
    /// What was recorded (a request, an escalation, ...).
    pub what: T,
}

/// An escalation raised.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationSeen {
    /// Its name (`rto-exceeded`, ...).
    pub reason: String,
    /// Its text.
    pub message: String,
}

/// A notification sent, or not.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationSeen {
    /// Template name.
    pub template: String,
    /// Sink description.
    pub sink: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// Epoch ms.
    pub ts_ms: u64,
    /// Final status.
    pub status: RunStatus,
    /// The error that ended it.
    pub error: Option<ErrorSummary>,
}

/// How the run was given up on.
#[derive(Debug, Clone, PartialEq)]
pub struct Abandoned {
    /// Epoch ms.
    pub ts_ms: u64,
    /// Why, as the operator wrote it.
    pub reason: String,
    /// The run that abandoned it.
    pub by: String,
}

/// A run as its journal tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    /// Run id.
    pub run_id: String,
    /// Failover, failback, drill or rollback.
    pub operation: Operation,
    /// Incident class.
    pub class: IncidentClass,
    /// Plan name.
    pub plan: String,
    /// Targets in force.
    pub targets: Targets,
    /// Flags in force (the latest resume's).
    pub flags: RunFlags,
    /// When it started (epoch ms).
    pub started_ms: u64,
    /// Its graph's estimate (ms).
    pub estimate_ms: u64,
    /// The run it undoes (a failback's failover, a rollback's stopped run).
    pub undoes: Option<String>,
    /// Who started it when not a person at the CLI.
    pub started_by: Option<String>,
    /// The recovery point in force (the latest resume's choice, else the start's).
    pub recovery_point: Option<String>,
    /// Its steps, in the graph's order.
    pub steps: Vec<StepState>,
    /// When each resume happened (epoch ms).
    pub resumes: Vec<u64>,
    /// Operator requests, as the run took them.
    pub controls: Vec<At<ControlRequest>>,
    /// Pauses, in order.
    pub pauses: Vec<Pause>,
    /// Escalations raised.
    pub escalations: Vec<At<EscalationSeen>>,
    /// Notifications sent.
    pub notifications: Vec<At<NotificationSeen>>,
    /// Calls made to each provider, over every process that worked on it.
    pub provider_calls: BTreeMap<String, ProviderCalls>,
    /// The latest pre-failover check results a step recorded.
    pub checks: Vec<CheckResult>,
    /// When each phase declared its incident (epoch ms).
    pub declared: BTreeMap<Phase, u64>,
    /// When each phase verified service restored (epoch ms).
    pub restored: BTreeMap<Phase, u64>,
    /// The data each phase lost, as its steps measured it.
    pub data_loss: BTreeMap<Phase, DataLoss>,
    /// Given up on.
    pub abandoned: Option<Abandoned>,
    /// Its end.
    pub finished: Option<Finished>,
    /// The last moment the journal speaks of (epoch ms).
    pub last_ms: u64,
}

impl RunState {
    /// Folds a journal. Its first entry must be the run's start.
    pub fn fold(entries: &[Entry]) -> Result<RunState> {
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
        let mut s = RunState {
            run_id: run_id.clone(),
            operation: *operation,
            class: *class,
            plan: plan.clone(),
            targets: *targets,
            flags: *flags,
            started_ms: *ts_ms,
            estimate_ms: *estimate_ms,
            undoes: undoes.clone(),
            started_by: started_by.clone(),
            recovery_point: recovery_point.clone(),
            steps: steps.iter().cloned().map(StepState::new).collect(),
            resumes: Vec::new(),
            controls: Vec::new(),
            pauses: Vec::new(),
            escalations: Vec::new(),
            notifications: Vec::new(),
            provider_calls: BTreeMap::new(),
            checks: Vec::new(),
            declared: BTreeMap::new(),
            restored: BTreeMap::new(),
            data_loss: BTreeMap::new(),
            abandoned: None,
            finished: None,
            last_ms: *ts_ms,
        };
        for e in &entries[1..] {
            s.apply(e);
        }
        Ok(s)
    }

    /// The ids of the steps that ever started.
    pub fn started(&self) -> impl Iterator<Item = &StepId> {
        self.steps
            .iter()
            .filter(|s| s.attempts > 0)
            .map(|s| &s.info.id)
    }

    /// The step `id`.
    pub fn step(&self, id: impl AsRef<str>) -> Option<&StepState> {
        self.steps.iter().find(|s| s.info.id == id.as_ref())
    }

    fn step_mut(&mut self, id: &StepId) -> Option<&mut StepState> {
        self.steps.iter_mut().find(|s| &s.info.id == id)
    }

    /// Its status: the journal's end, else running (a process that died leaves it so; the run
    /// list tells such a run interrupted).
    pub fn status(&self) -> RunStatus {
        match (&self.abandoned, &self.finished) {
            (Some(_), _) => RunStatus::Abandoned,
            (None, Some(f)) => f.status,
            (None, None) => RunStatus::Running,
        }
    }

    /// The data lost over every phase.
    pub fn total_data_loss(&self) -> DataLoss {
        let mut loss = DataLoss::default();
        for l in self.data_loss.values() {
            loss.merge(*l);
        }
        loss
    }

    /// The first restoration of service any phase verified (epoch ms).
    pub fn first_restored_ms(&self) -> Option<u64> {
        self.restored.values().min().copied()
    }

    fn apply(&mut self, e: &Entry) {
        match e {
            Entry::RunStarted { .. } => {}
            Entry::RunResumed {
                ts_ms,
                flags,
                recovery_point,
            } => {
                self.last_ms = *ts_ms;
                self.resumes.push(*ts_ms);
                if recovery_point.is_some() {
                    self.recovery_point.clone_from(recovery_point);
                }
                // Resuming a run ends a pause its earlier process was in.
                if let Some(p) = self.pauses.last_mut() {
                    p.to_ms.get_or_insert(*ts_ms);
                }
                self.flags = *flags;
            }
            Entry::StepStarted { ts_ms, step } => {
                self.last_ms = *ts_ms;
                if let Some(s) = self.step_mut(step) {
                    s.status = StepStatus::Running;
                    s.attempts += 1;
                    s.first_started_ms.get_or_insert(*ts_ms);
                }
            }
            Entry::StepCheckpoint {
                ts_ms,
                step,
                key,
                value,
            } => {
                self.last_ms = *ts_ms;
                if let Some(s) = self.step_mut(step) {
                    s.checkpoints.insert(key.clone(), value.clone());
                }
            }
            Entry::StepSucceeded {
                ts_ms,
                step,
                retries,
                summary,
                data,
            } => {
                self.last_ms = *ts_ms;
                self.record_outputs(step, data);
                if let Some(s) = self.step_mut(step) {
                    s.status = StepStatus::Succeeded;
                    s.finished_ms = Some(*ts_ms);
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
                self.last_ms = *ts_ms;
                if let Some(s) = self.step_mut(step) {
                    s.status = StepStatus::Skipped;
                    s.finished_ms = Some(*ts_ms);
                    s.skipped_by.clone_from(by);
                    s.forced_skip = *forced;
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
                self.last_ms = *ts_ms;
                if let Some(s) = self.step_mut(step) {
                    s.status = StepStatus::Failed;
                    s.finished_ms = Some(*ts_ms);
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
                self.last_ms = *ts_ms;
                self.escalations.push(At {
                    ts_ms: *ts_ms,
                    what: EscalationSeen {
                        reason: reason.clone(),
                        message: message.clone(),
                    },
                });
            }
            Entry::Notification {
                ts_ms,
                template,
                sink,
                error,
            } => self.notifications.push(At {
                ts_ms: *ts_ms,
                what: NotificationSeen {
                    template: template.clone(),
                    sink: sink.clone(),
                    error: error.clone(),
                },
            }),
            Entry::Control { ts_ms, request } => {
                self.last_ms = *ts_ms;
                self.control(*ts_ms, request);
            }
            Entry::RunAbandoned { ts_ms, reason, by } => {
                self.abandoned = Some(Abandoned {
                    ts_ms: *ts_ms,
                    reason: reason.clone(),
                    by: by.clone(),
                });
            }
            Entry::ProviderCalls { calls, .. } => {
                for (name, c) in calls {
                    self.provider_calls.entry(name.clone()).or_default().add(c);
                }
            }
            Entry::RunFinished {
                ts_ms,
                status,
                error,
            } => {
                self.last_ms = *ts_ms;
                self.finished = Some(Finished {
                    ts_ms: *ts_ms,
                    status: *status,
                    error: error.clone(),
                });
            }
        }
    }

    /// What a succeeded step's outputs say of the run: its phase's marks, data lost, checks.
    fn record_outputs(&mut self, step: &StepId, data: &Value) {
        let out = StepOutputView::of(data);
        let phase = step.phase();
        if let Some(v) = out.declared_ms {
            self.declared.insert(phase, v);
        }
        if let Some(v) = out.service_restored_ms {
            self.restored.insert(phase, v);
        }
        if let Some(d) = out.data_loss() {
            self.data_loss.entry(phase).or_default().merge(d);
        }
        if let Some(c) = out.checks {
            self.checks = c;
        }
    }

    fn control(&mut self, ts_ms: u64, request: &ControlRequest) {
        self.controls.push(At {
            ts_ms,
            what: request.clone(),
        });
        match &request.command {
            super::Command::Pause { reason }
                if self.pauses.last().is_none_or(|p| p.to_ms.is_some()) =>
            {
                self.pauses.push(Pause {
                    from_ms: ts_ms,
                    to_ms: None,
                    by: format!("{}: {reason}", request.by),
                });
            }
            super::Command::Resume => {
                if let Some(p) = self.pauses.last_mut() {
                    p.to_ms.get_or_insert(ts_ms);
                }
            }
            _ => {}
        }
    }
}

impl StepState {
    fn new(info: StepInfo) -> StepState {
        StepState {
            info,
            status: StepStatus::Pending,
            attempts: 0,
            retries: 0,
            first_started_ms: None,
            finished_ms: None,
            summary: None,
            errors: Vec::new(),
            data: Value::Null,
            skipped_by: None,
            forced_skip: false,
            checkpoints: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::run::Command;

    fn info(id: &str) -> StepInfo {
        StepInfo {
            id: id.into(),
            title: id.into(),
            deps: Vec::new(),
            estimate_ms: 10,
            safety: false,
            approval: false,
        }
    }

    #[test]
    fn one_fold_reads_steps_resumes_pauses_marks_and_the_end() {
        let class = IncidentClass::RegionOutage;
        let entries = vec![
            Entry::RunStarted {
                ts_ms: 1_000,
                run_id: "r1".into(),
                operation: Operation::Drill,
                class,
                plan: "p".into(),
                targets: class.default_targets(),
                flags: RunFlags::default(),
                steps: vec![info("failover.a"), info("failover.b"), info("failback.c")],
                estimate_ms: 30,
                undoes: None,
                started_by: None,
                recovery_point: Some("old".into()),
            },
            Entry::StepStarted {
                ts_ms: 1_100,
                step: "failover.a".into(),
            },
            Entry::StepCheckpoint {
                ts_ms: 1_150,
                step: "failover.a".into(),
                key: "job_id".into(),
                value: json!("j-1"),
            },
            Entry::Control {
                ts_ms: 1_200,
                request: ControlRequest {
                    by: "ana".into(),
                    command: Command::Pause {
                        reason: "look".into(),
                    },
                },
            },
            Entry::RunResumed {
                ts_ms: 2_000,
                flags: RunFlags {
                    accept_data_loss: true,
                    ..RunFlags::default()
                },
                recovery_point: Some("new".into()),
            },
            Entry::StepSucceeded {
                ts_ms: 2_500,
                step: "failover.a".into(),
                retries: 2,
                summary: "done".into(),
                data: json!({ "declared_ms": 1_100, "service_restored_ms": 2_400, "rpo_ms": 700 }),
            },
            Entry::StepSkipped {
                ts_ms: 2_600,
                step: "failover.b".into(),
                reason: "not needed".into(),
                by: Some("ana".into()),
                forced: false,
            },
        ];
        let s = RunState::fold(&entries).expect("folds");
        assert_eq!(s.status(), RunStatus::Running);
        assert_eq!(s.recovery_point.as_deref(), Some("new"));
        assert!(s.flags.accept_data_loss);
        assert_eq!(s.resumes, [2_000]);
        assert_eq!(s.pauses.len(), 1);
        assert_eq!(s.pauses[0].to_ms, Some(2_000), "a resume ends the pause");
        let a = s.step("failover.a").expect("a");
        assert_eq!(
            (a.status, a.attempts, a.retries),
            (StepStatus::Succeeded, 1, 2)
        );
        assert_eq!(a.checkpoints["job_id"], json!("j-1"));
        assert!(s.step("failover.b").expect("b").done());
        assert_eq!(s.step("failback.c").expect("c").status, StepStatus::Pending);
        assert_eq!(s.started().collect::<Vec<_>>(), ["failover.a"]);
        assert_eq!(s.declared[&Phase::DrillFailover], 1_100);
        assert_eq!(s.first_restored_ms(), Some(2_400));
        assert_eq!(s.total_data_loss().worst_ms, Some(700));

        let mut more = entries.clone();
        more.push(Entry::RunFinished {
            ts_ms: 3_000,
            status: RunStatus::Succeeded,
            error: None,
        });
        let s = RunState::fold(&more).expect("folds");
        assert_eq!(s.status(), RunStatus::Succeeded);
        assert_eq!(s.last_ms, 3_000);
        assert!(
            RunState::fold(&more[1..]).is_err(),
            "a journal starts with its run"
        );
    }
}
