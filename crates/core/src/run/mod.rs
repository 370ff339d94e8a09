//! The run model: what a run is (its operation, flags, status and steps), what operators ask of it,
//! what its providers were asked, and what its steps record. It sits at the bottom of core: the
//! journal stores it, the orchestrator writes it, and the report, run list and controls read it.

use serde::{Deserialize, Serialize};

mod calls;
mod check;
mod checkpoint;
mod control;
mod entry;
mod loss;
mod output;
mod state;
mod step_id;
mod ways_out;

pub use calls::ProviderCalls;
pub use check::{CheckResult, CheckStatus};
pub use checkpoint::Checkpoint;
pub use control::{Command, ControlRequest};
pub use entry::Entry;
pub use loss::DataLoss;
pub use output::{LagSeen, Output, StepOutputView};
pub use state::{
    Abandoned, At, EscalationSeen, Finished, NotificationSeen, Pause, RunState, StepState,
    StepStatus,
};
pub use step_id::{Phase, StepId};
pub use ways_out::{ways_out, WaysOut};

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Move service to the DR site.
    Failover,
    /// Move service back to the primary site.
    Failback,
    /// Failover, verify, failback.
    Drill,
    /// Undo what a stopped failover changed, in reverse (`aegis-dr rollback RUN_ID`).
    Rollback,
}

impl Operation {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Failover => "failover",
            Operation::Failback => "failback",
            Operation::Drill => "drill",
            Operation::Rollback => "rollback",
        }
    }
}

impl std::str::FromStr for Operation {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        [
            Operation::Failover,
            Operation::Failback,
            Operation::Drill,
            Operation::Rollback,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
        .ok_or_else(|| format!("`{s}` is not an operation (failover, failback, drill, rollback)"))
    }
}

/// Flags that change what gates allow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFlags {
    /// Promote even when the measured lag exceeds the RPO.
    pub accept_data_loss: bool,
    /// Run even when the estimate exceeds the RTO (and fail back before the primary is stable).
    pub force: bool,
    /// The primary site is known unreachable: fail over without draining or fencing it.
    pub primary_unreachable: bool,
    /// Proceed although pre-failover checks fail.
    pub ignore_checks: bool,
}

impl RunFlags {
    /// Flags set in either.
    pub fn union(self, o: RunFlags) -> RunFlags {
        RunFlags {
            accept_data_loss: self.accept_data_loss || o.accept_data_loss,
            force: self.force || o.force,
            primary_unreachable: self.primary_unreachable || o.primary_unreachable,
            ignore_checks: self.ignore_checks || o.ignore_checks,
        }
    }
}

/// A step as recorded at the start of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    /// Step id.
    pub id: StepId,
    /// The step's title, as the plan output shows it.
    pub title: String,
    /// Steps it waits for.
    pub deps: Vec<StepId>,
    /// Estimated duration in milliseconds.
    pub estimate_ms: u64,
    /// Skipping it needs `--force` (gates, fencing, verification, safety hooks).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub safety: bool,
    /// An approval hook (`aegis-dr approve|reject` answer it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approval: bool,
}

/// Final state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and not finished (or killed).
    Running,
    /// Finished successfully.
    Succeeded,
    /// A step failed.
    Failed,
    /// A safety gate refused.
    Refused,
    /// It stopped before it finished, its process gone: resume it or abandon it. Journaled when a
    /// signal stopped it; a killed run's is seen by the run list.
    Interrupted,
    /// Given up on purpose (`--abandon`), with the reason journaled.
    Abandoned,
}

impl RunStatus {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Refused => "refused",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Abandoned => "abandoned",
        }
    }
}
