//! One line of a run's journal: what happened, when. [`super::RunState::fold`] is the one place
//! that reads them back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ControlRequest, Operation, ProviderCalls, RunFlags, RunStatus, StepId, StepInfo};
use crate::{
    error::ErrorSummary,
    incident::{IncidentClass, Targets},
};

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    /// The run began.
    RunStarted {
        /// Epoch ms.
        ts_ms: u64,
        /// Run id.
        run_id: String,
        /// Failover, failback, drill or rollback.
        operation: Operation,
        /// Incident class.
        class: IncidentClass,
        /// Plan name.
        plan: String,
        /// Targets in force.
        targets: Targets,
        /// Flags given.
        flags: RunFlags,
        /// Steps of the graph.
        steps: Vec<StepInfo>,
        /// Estimated duration (critical path) in ms.
        estimate_ms: u64,
        /// A failback: the failover run it undoes (its class is the failback's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        undoes: Option<String>,
        /// Who started it when not a person at the CLI (`aegis-dr watch`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_by: Option<String>,
        /// The recovery point its recovery launches use (`--recovery-point TIME|ID`); the newest
        /// when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recovery_point: Option<String>,
    },
    /// The run was resumed by another process.
    RunResumed {
        /// Epoch ms.
        ts_ms: u64,
        /// Flags in force from now on.
        flags: RunFlags,
        /// The recovery point chosen on this resume (a failback that relaunches the DR
        /// instances from it); the run's earlier choice otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recovery_point: Option<String>,
    },
    /// A step began (or began again after a resume).
    StepStarted {
        /// Epoch ms.
        ts_ms: u64,
        /// Step id.
        step: StepId,
    },
    /// A step recorded progress needed to resume it (a job id, a change id).
    StepCheckpoint {
        /// Epoch ms.
        ts_ms: u64,
        /// Step id.
        step: StepId,
        /// The checkpoint's key within the step.
        key: String,
        /// The checkpoint's value (a job id, the measured RPO, ...).
        value: serde_json::Value,
    },
    /// A step finished.
    StepSucceeded {
        /// Epoch ms.
        ts_ms: u64,
        /// Step id.
        step: StepId,
        /// Retried calls.
        retries: u32,
        /// One-line outcome.
        summary: String,
        /// Structured outcome (achieved RPO, job logs, ...).
        data: serde_json::Value,
    },
    /// A step was skipped: what it does was not attempted (for example draining a primary the user
    /// declared unreachable). Counts as done for the steps after it.
    StepSkipped {
        /// Epoch ms.
        ts_ms: u64,
        /// Step id.
        step: StepId,
        /// Why, in the words shown to people.
        reason: String,
        /// The operator who skipped it (`None`: the step skipped itself).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// A safety step skipped with `--force`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        forced: bool,
    },
    /// A step failed.
    StepFailed {
        /// Epoch ms.
        ts_ms: u64,
        /// Step id.
        step: StepId,
        /// Retried calls.
        retries: u32,
        /// The error.
        error: ErrorSummary,
        /// What the step recorded before it failed (a hook's captured output).
        #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
        data: serde_json::Value,
    },
    /// An escalation was raised.
    Escalation {
        /// Epoch ms.
        ts_ms: u64,
        /// The escalation (`rto-exceeded`, `data-integrity`, `dr-environment-unhealthy`, `both-sites-down`, `run-stopped`).
        reason: String,
        /// The message the escalation sent.
        message: String,
    },
    /// A notification was sent (or failed to be).
    Notification {
        /// Epoch ms.
        ts_ms: u64,
        /// Template name.
        template: String,
        /// Sink description.
        sink: String,
        /// Error, if sending failed.
        error: Option<String>,
    },
    /// An operator's request (`aegis-dr pause|resume|skip|approve|reject`), as the run took it.
    Control {
        /// Epoch ms.
        ts_ms: u64,
        /// The request.
        request: ControlRequest,
    },
    /// An interrupted run was given up on (`--abandon`): it can no longer be resumed.
    RunAbandoned {
        /// Epoch ms.
        ts_ms: u64,
        /// Why, as the operator wrote it.
        reason: String,
        /// The run that abandoned it.
        by: String,
    },
    /// The calls this process made to each provider during the run (journaled when the run ends,
    /// once per process that worked on it).
    ProviderCalls {
        /// Epoch ms.
        ts_ms: u64,
        /// Calls and errors by provider name.
        calls: BTreeMap<String, ProviderCalls>,
    },
    /// The run ended.
    RunFinished {
        /// Epoch ms.
        ts_ms: u64,
        /// Final status.
        status: RunStatus,
        /// The error that ended it.
        error: Option<ErrorSummary>,
    },
}
