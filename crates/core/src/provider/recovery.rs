//! Recovery services (AWS Elastic Disaster Recovery and the like): recovery points, recovery and
//! drill launches, failback launches and their jobs.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A recovery point of a source server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryPoint {
    /// Snapshot identifier.
    pub id: String,
    /// Age at the time of the call.
    pub age: Duration,
}

/// Start a recovery (or drill) of source servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRecovery {
    /// Source server identifiers.
    pub source_servers: Vec<String>,
    /// A drill leaves the source untouched.
    pub is_drill: bool,
    /// The recovery point (snapshot id) to launch each source server from; a server not named
    /// launches from its newest.
    #[serde(default)]
    pub recovery_points: std::collections::BTreeMap<String, String>,
}

/// A recovery job id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobId(pub String);

/// Overall job status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Accepted by the service, not running yet.
    Pending,
    /// Running: launching recovery instances.
    Started,
    /// Finished (look at each participant's launch status).
    Completed,
}

/// Launch status of one participating server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LaunchStatus {
    /// Queued behind other launches.
    Pending,
    /// Being launched.
    InProgress,
    /// Launched: its recovery instance runs.
    Launched,
    /// The launch failed.
    Failed,
    /// Its recovery instance was terminated.
    Terminated,
}

impl LaunchStatus {
    /// True when the status will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            LaunchStatus::Launched | LaunchStatus::Failed | LaunchStatus::Terminated
        )
    }
}

/// A job and its participants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    /// Job id.
    pub id: JobId,
    /// Overall status.
    pub status: JobStatus,
    /// Per source server: its launch status.
    pub participants: Vec<(String, LaunchStatus)>,
    /// Log lines of the job, copied into the run report.
    pub log: Vec<String>,
}

/// Failback state of a recovery instance (after DRS `FailbackState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailbackState {
    /// Not yet replicating back: failback cannot start.
    FailbackNotStarted,
    /// Replicating back.
    FailbackInProgress,
    /// Ready for the failback launch.
    FailbackReadyForLaunch,
    /// Failback launched and completed.
    FailbackCompleted,
    /// Failback failed.
    FailbackError,
    /// Failback stopped (backout).
    FailbackNotReadyForLaunch,
    /// Launch state unknown.
    FailbackLaunchStateNotAvailable,
}

/// A recovered instance running at the DR site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryInstance {
    /// Instance id.
    pub id: String,
    /// Source server it recovers.
    pub source_server: String,
    /// Failback state.
    pub failback_state: FailbackState,
    /// True when it is a drill instance.
    pub is_drill: bool,
    /// Compute state (`running`, `stopped`, ...).
    pub compute_state: String,
}

/// Recovery-service capability.
#[async_trait]
pub trait RecoveryService: Send + Sync + std::fmt::Debug {
    /// Recovery points of a source server, newest first.
    async fn recovery_points(&self, source_server: &str) -> Result<Vec<RecoveryPoint>>;
    /// Starts a recovery or drill.
    async fn start_recovery(&self, req: &StartRecovery) -> Result<JobId>;
    /// Recovery instances of the given source servers.
    async fn recovery_instances(&self, source_servers: &[String]) -> Result<Vec<RecoveryInstance>>;
    /// Starts the failback launch of recovery instances.
    async fn start_failback(&self, instance_ids: &[String]) -> Result<JobId>;
    /// Stops a failback: the backout that returns to the DR state.
    async fn stop_failback(&self, instance_id: &str) -> Result<()>;
    /// Reverses replication so the recovered instance protects the source again.
    async fn reverse_replication(&self, instance_id: &str) -> Result<()>;
    /// Reads a job.
    async fn job(&self, id: &JobId) -> Result<JobState>;
    /// Jobs still running that involve any of `participants` (source servers or instance ids), so a
    /// retried or resumed launch adopts the job it started instead of launching twice.
    async fn active_jobs(&self, participants: &[String]) -> Result<Vec<JobState>>;
    /// Terminates drill instances of the given source servers. Idempotent.
    async fn terminate_drill_instances(&self, source_servers: &[String]) -> Result<()>;
    /// Terminates recovery instances by id: the ones a relaunch from a recovery point replaced.
    async fn terminate_recovery_instances(&self, instance_ids: &[String]) -> Result<()>;
    /// Compute state (`running`, `stopped`, ...) of each source server's own machine, to verify that a
    /// failback brought it back: (source server, state). Servers whose machine the provider cannot
    /// see (on-premises sources, say) are left out.
    async fn source_instance_states(
        &self,
        source_servers: &[String],
    ) -> Result<Vec<(String, String)>>;
}
