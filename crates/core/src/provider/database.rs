//! Database failover: replication role and lag, backups, fencing, promotion, reverse replication.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{error::Result, plan::SiteRole};

/// Identifies one database instance of a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseRef {
    /// The pair's name in the plan.
    pub database: String,
    /// Provider identifier of the instance.
    pub instance: String,
    /// Site of the instance.
    pub site: SiteRole,
}

/// The replication role of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseRole {
    /// Accepts writes (unless fenced).
    Primary,
    /// Replicates from another instance.
    Replica,
    /// Neither: detached after a forced promotion elsewhere, waiting to be re-protected.
    Standalone,
}

/// What the provider reports about an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseStatus {
    /// Replication role.
    pub role: DatabaseRole,
    /// True when writes are blocked (fenced or read-only).
    pub fenced: bool,
    /// Replication lag behind the source, for replicas.
    pub replication_lag: Option<Duration>,
    /// The same lag in bytes of log the replica has not yet applied, where the engine measures it
    /// (PostgreSQL's LSN difference); `None` when not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_lag_bytes: Option<u64>,
    /// When the lag is not measured: the most the replica can be missing, as a time, where the
    /// engine can bound it (PostgreSQL: the age of the last transaction it replayed). A forced
    /// promotion with `--accept-data-loss` reports it as its window instead of "unknown"; no gate
    /// passes on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_lag_at_most: Option<Duration>,
    /// Age of the newest completed backup or snapshot.
    pub last_backup_age: Option<Duration>,
    /// Instance the replica replicates from.
    pub replicating_from: Option<String>,
    /// True when the provider's planned promotion itself synchronises every committed write before
    /// it switches roles, and replication is healthy enough for it now (an Azure SQL failover group
    /// in `CATCH_UP`): a planned promotion then loses nothing although no lag is measured. A forced
    /// promotion still needs a measured lag (or `--accept-data-loss`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lossless_planned_promotion: bool,
    /// Why the provider's planned promotion would be refused now, each in the service's terms
    /// (an Azure failover group's link still `SEEDING`, a Cloud SQL switchover's unmet
    /// precondition, a fence the service would refuse); empty when nothing is known to stop it.
    /// `check` reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planned_promotion_blockers: Vec<String>,
}

/// Stop (or allow again) writes on an instance, the fence against split-brain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceRequest {
    /// Instance to fence.
    pub target: DatabaseRef,
    /// True to fence, false to lift the fence.
    pub fenced: bool,
}

/// How to promote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromoteMode {
    /// Wait for the replica to catch up with the fenced source: no data loss.
    Planned,
    /// Promote now, losing whatever the replica had not received.
    Forced,
}

/// Promote a replica to primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoteRequest {
    /// Replica to promote.
    pub target: DatabaseRef,
    /// The instance it replicates from (the old primary).
    pub old_primary: DatabaseRef,
    /// Planned or forced.
    pub mode: PromoteMode,
}

/// Make `target` replicate from `source` (failback re-protection), or just measure with `dry_run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverseReplicationRequest {
    /// The current primary whose data flows out.
    pub source: DatabaseRef,
    /// The instance that becomes its replica.
    pub target: DatabaseRef,
    /// Only report what would be synchronised.
    pub dry_run: bool,
    /// The operator consented to losing data (`--accept-data-loss`): a re-protection that
    /// discards writes only `target` holds (a rewind after a forced failover) may go ahead.
    #[serde(default)]
    pub accept_data_loss: bool,
}

/// What a reverse replication moves (or would move).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Changes written on the source that the target lacks.
    pub pending_changes: u64,
    /// Estimated time to catch up.
    pub estimated_catch_up: Duration,
    /// True when nothing was changed (dry run).
    pub dry_run: bool,
    /// What the provider will do, in its own words, where a change count does not describe it (an
    /// RDS replica is re-created from a snapshot of the source, not caught up change by change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// A snapshot of one instance (or Aurora cluster), named by the caller so that asking again adopts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRequest {
    /// The instance.
    pub db: DatabaseRef,
    /// The snapshot's name (letters, digits and `-`, starting with a letter).
    pub name: String,
}

/// Where a snapshot stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotState {
    /// Being taken.
    Creating,
    /// Usable for a restore.
    Available,
    /// The provider gave up on it, saying why.
    Failed(String),
}

/// Database failover capability.
#[async_trait]
pub trait DatabaseFailover: Send + Sync + std::fmt::Debug {
    /// Role, fence state, lag and backup age of an instance.
    async fn status(&self, db: &DatabaseRef) -> Result<DatabaseStatus>;
    /// Fences or unfences an instance. Idempotent.
    async fn fence(&self, req: &FenceRequest) -> Result<()>;
    /// Promotes a replica. Promoting an instance that already is primary is an error the caller avoids
    /// by observing first.
    async fn promote(&self, req: &PromoteRequest) -> Result<()>;
    /// Re-establishes replication toward `target` (or reports what it would move).
    async fn reverse_replication(&self, req: &ReverseReplicationRequest) -> Result<SyncReport>;
    /// Starts the snapshot `req.name` of `req.db`; an existing snapshot of that name is adopted.
    /// Providers without snapshots keep this default (and say so in their capabilities).
    async fn create_snapshot(&self, req: &SnapshotRequest) -> Result<()> {
        Err(crate::Error::new(
            crate::ErrorKind::Unsupported,
            format!(
                "no snapshots of `{}` through this provider",
                req.db.instance
            ),
        ))
    }
    /// Where the snapshot `req.name` stands.
    async fn snapshot_state(&self, req: &SnapshotRequest) -> Result<SnapshotState> {
        Err(crate::Error::new(
            crate::ErrorKind::Unsupported,
            format!(
                "no snapshots of `{}` through this provider",
                req.db.instance
            ),
        ))
    }
}
