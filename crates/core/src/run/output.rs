//! What a step records (journaled as `StepSucceeded.data`), typed: steps write [`Output`]s, the
//! executor, resume and the report read a [`StepOutputView`]. The JSON keys live here only.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{CheckResult, DataLoss};

/// One value a step records; its variant fixes its key and its type.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// The pre-failover check results, shown in the report.
    Checks(Vec<CheckResult>),
    /// The critical-path estimate the gate weighed, in ms.
    EstimateMs(u64),
    /// What the RPO gate read of each DR replica's lag.
    ReplicationLag(BTreeMap<String, LagSeen>),
    /// Age of the oldest newest recovery point, in ms.
    RecoveryPointAgeMs(u64),
    /// When the incident was declared (epoch ms): the start of the phase's RTO.
    DeclaredMs(u64),
    /// When service was verified restored (epoch ms): the end of the phase's RTO.
    ServiceRestoredMs(u64),
    /// The data this step's promotions may have lost.
    DataLoss(DataLoss),
    /// The recovery job's log lines.
    JobLog(Vec<String>),
    /// The log of the job that relaunched recovery instances from a chosen recovery point.
    RelaunchJobLog(Vec<String>),
    /// What reverse replication of each pair did (or, in a dry run, would do).
    Replication {
        /// True for the dry run.
        dry_run: bool,
        /// One entry per database pair.
        pairs: Vec<Value>,
    },
    /// The snapshots taken before a failback: (database, snapshot name).
    Snapshots(Vec<(String, String)>),
    /// The compute state of each failed-back source server (server, state).
    SourceInstances(Vec<(String, String)>),
    /// Workloads whose drain annotation this step set.
    Annotated(usize),
    /// A hook's evidence: what it ran or asked, and what came back.
    Hook(Value),
    /// Workloads this step scaled, and all it looked at.
    Scaled {
        /// How many workloads were scaled.
        changed: usize,
        /// Looked at.
        total: usize,
    },
}

/// What the RPO gate read of one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagSeen {
    /// Already the primary: nothing to promote.
    AlreadyPrimary,
    /// Measured, in ms.
    Ms(u64),
    /// Not reported by the provider.
    Unknown,
}

impl Output {
    /// The journal entries (key, value) of this output.
    pub fn entries(&self) -> Vec<(&'static str, Value)> {
        match self {
            Output::Checks(c) => vec![("checks", json!(c))],
            Output::EstimateMs(ms) => vec![("estimate_ms", json!(ms))],
            Output::ReplicationLag(lags) => vec![(
                "replication_lag_ms",
                Value::Object(
                    lags.iter()
                        .map(|(name, l)| {
                            let v = match l {
                                LagSeen::AlreadyPrimary => json!("already promoted"),
                                LagSeen::Ms(ms) => json!(ms),
                                LagSeen::Unknown => json!("unknown"),
                            };
                            (name.clone(), v)
                        })
                        .collect(),
                ),
            )],
            Output::RecoveryPointAgeMs(ms) => vec![("recovery_point_age_ms", json!(ms))],
            Output::DeclaredMs(ms) => vec![("declared_ms", json!(ms))],
            Output::ServiceRestoredMs(ms) => vec![("service_restored_ms", json!(ms))],
            Output::DataLoss(d) => vec![
                ("rpo_ms", json!(d.worst_ms)),
                ("rpo_unknown", json!(d.unknown)),
            ],
            Output::JobLog(lines) => vec![("job_log", json!(lines))],
            Output::RelaunchJobLog(lines) => vec![("relaunch_job_log", json!(lines))],
            Output::Replication { dry_run, pairs } => vec![(
                if *dry_run {
                    "sync_dry_run"
                } else {
                    "replication"
                },
                json!(pairs),
            )],
            Output::Snapshots(taken) => vec![(
                "snapshots",
                json!(taken
                    .iter()
                    .map(|(db, name)| json!({ "database": db, "snapshot": name }))
                    .collect::<Vec<_>>()),
            )],
            Output::SourceInstances(states) => vec![(
                "source_instances",
                json!(states
                    .iter()
                    .map(|(s, st)| json!({ "source_server": s, "state": st }))
                    .collect::<Vec<_>>()),
            )],
            Output::Annotated(n) => vec![("annotated", json!(n))],
            Output::Hook(evidence) => vec![("hook", evidence.clone())],
            Output::Scaled { changed, total } => {
                vec![("changed", json!(changed)), ("workloads", json!(total))]
            }
        }
    }
}

/// The values of a journaled step output that the executor, resume and the report read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct StepOutputView {
    /// [`Output::Checks`].
    #[serde(default)]
    pub checks: Option<Vec<CheckResult>>,
    /// [`Output::DeclaredMs`].
    #[serde(default)]
    pub declared_ms: Option<u64>,
    /// [`Output::ServiceRestoredMs`].
    #[serde(default)]
    pub service_restored_ms: Option<u64>,
    /// [`Output::RecoveryPointAgeMs`].
    #[serde(default)]
    pub recovery_point_age_ms: Option<u64>,
    /// [`Output::JobLog`].
    #[serde(default)]
    pub job_log: Option<Vec<String>>,
    #[serde(default)]
    rpo_ms: Option<u64>,
    #[serde(default)]
    rpo_unknown: Option<bool>,
}

impl StepOutputView {
    /// The typed view of `data` (values of the wrong type read as absent).
    pub fn of(data: &Value) -> StepOutputView {
        serde_json::from_value(data.clone()).unwrap_or_else(|_| {
            // One malformed value must not hide the others: read field by field.
            let field = |k: &str| data.get(k).cloned().unwrap_or(Value::Null);
            StepOutputView {
                checks: serde_json::from_value(field("checks")).ok().flatten(),
                declared_ms: field("declared_ms").as_u64(),
                service_restored_ms: field("service_restored_ms").as_u64(),
                recovery_point_age_ms: field("recovery_point_age_ms").as_u64(),
                job_log: serde_json::from_value(field("job_log")).ok().flatten(),
                rpo_ms: field("rpo_ms").as_u64(),
                rpo_unknown: field("rpo_unknown").as_bool(),
            }
        })
    }

    /// [`Output::DataLoss`], when the step recorded one.
    pub fn data_loss(&self) -> Option<DataLoss> {
        match (self.rpo_ms, self.rpo_unknown) {
            (None, None) => None,
            (worst_ms, unknown) => Some(DataLoss {
                worst_ms,
                unknown: unknown.unwrap_or(false),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journaled(outputs: &[Output]) -> Value {
        Value::Object(
            outputs
                .iter()
                .flat_map(Output::entries)
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    #[test]
    fn what_steps_write_the_view_reads_back() {
        let loss = DataLoss {
            worst_ms: Some(1500),
            unknown: true,
        };
        let data = journaled(&[
            Output::DeclaredMs(7),
            Output::ServiceRestoredMs(9),
            Output::RecoveryPointAgeMs(30_000),
            Output::JobLog(vec!["LAUNCH_END".into()]),
            Output::DataLoss(loss),
            Output::Checks(Vec::new()),
        ]);
        let v = StepOutputView::of(&data);
        assert_eq!(
            (
                v.declared_ms,
                v.service_restored_ms,
                v.recovery_point_age_ms
            ),
            (Some(7), Some(9), Some(30_000))
        );
        assert_eq!(v.job_log, Some(vec!["LAUNCH_END".to_string()]));
        assert_eq!(v.data_loss(), Some(loss));
        assert_eq!(v.checks, Some(Vec::new()));
        assert_eq!(StepOutputView::of(&json!({})).data_loss(), None);
        // A malformed value hides only itself.
        let v = StepOutputView::of(&json!({ "checks": 3, "declared_ms": 5 }));
        assert_eq!((v.checks, v.declared_ms), (None, Some(5)));
    }
}
