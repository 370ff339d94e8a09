//! Aurora global database pairs (`options.failover = "aurora-global"`): `primary` and `dr` are the
//! identifiers of two member clusters of the global database `options.global_cluster`, each in its
//! site's region. The writer is the member with `IsWriter`; the other is the replica, whose lag is the
//! CloudWatch metric `AuroraGlobalDBReplicationLag` (milliseconds) of its cluster.
//!
//! Planned promotion is `SwitchoverGlobalCluster`: Aurora waits until the secondary has every write,
//! then swaps the roles, so nothing is lost and the old primary becomes a secondary at once. Forced
//! promotion is `FailoverGlobalCluster --allow-data-loss`, for a primary region that does not answer:
//! writes the secondary had not received are lost (the orchestrator's RPO gate bounds them first).
//! Fencing switches a cluster to a read-only DB cluster parameter group (or only tags it), recorded
//! in the same tags as instances. Failback needs no re-creation: after either operation the old
//! primary stays a member, as a secondary, and the way home is another switchover.

use std::time::Duration;

use aegis_dr_core::{
    provider::{
        DatabaseRef, DatabaseRole, DatabaseStatus, FenceRequest, PromoteMode, PromoteRequest,
        ReverseReplicationRequest, SyncReport,
    },
    Error, ErrorKind, Result, SiteRole,
};
use aws_sdk_rds::types::{DbCluster, GlobalCluster, GlobalClusterMemberSynchronizationStatus};

use crate::{
    error::map_sdk_error,
    iam,
    rds::{secs_since, split_brain, tag_in, Fenceable, PairSettings, RdsDatabases, FENCED_TAG},
};

fn cluster_tag<'a>(c: &'a DbCluster, key: &str) -> Option<&'a str> {
    tag_in(c.tag_list(), key)
}

/// `arn:aws:rds:<region>:<account>:cluster:<id>` → the id.
fn cluster_id(arn: &str) -> String {
    arn.rsplit(":cluster:").next().unwrap_or(arn).to_string()
}

fn is_writer(g: &GlobalCluster, arn: &str) -> Option<bool> {
    g.global_cluster_members()
        .iter()
        .find(|m| m.db_cluster_arn() == Some(arn))
        .map(|m| m.is_writer().unwrap_or(false))
}

fn writer_arn(g: &GlobalCluster) -> Option<&str> {
    g.global_cluster_members()
        .iter()
        .find(|m| m.is_writer() == Some(true))
        .and_then(|m| m.db_cluster_arn())
}

/// A switchover or failover is running (or the global database is otherwise not available).
fn busy(g: &GlobalCluster) -> bool {
    g.status() != Some("available") || g.failover_state().is_some_and(|f| f.status().is_some())
}

fn not_member(global: &str, db: &DatabaseRef) -> Error {
    Error::new(
        ErrorKind::InvalidState,
        format!(
            "cluster `{}` is not a member of the Aurora global database `{global}`",
            db.instance
        ),
    )
    .with_resource(db.instance.clone())
}

impl RdsDatabases {
    async fn describe_cluster(&self, db: &DatabaseRef) -> Result<DbCluster> {
        let out = self
            .rds
            .get(db.site)
            .describe_db_clusters()
            .db_cluster_identifier(&db.instance)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::RDS_DESCRIBE_CLUSTERS, &db.instance, e))?;
        out.db_clusters().first().cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "DB cluster `{}` does not exist in {}",
                    db.instance,
                    self.rds.region(db.site)
                ),
            )
            .with_resource(db.instance.clone())
        })
    }

    /// The global database, read through the region of `site` (the API answers in every region).
    async fn describe_global(&self, site: SiteRole, global: &str) -> Result<GlobalCluster> {
        let out = self
            .rds
            .get(site)
            .describe_global_clusters()
            .global_cluster_identifier(global)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::RDS_DESCRIBE_GLOBAL, global, e))?;
        out.global_clusters()
            .iter()
            .find(|g| {
                g.global_cluster_identifier()
                    .is_some_and(|id| id.eq_ignore_ascii_case(global))
            })
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("Aurora global database `{global}` does not exist"),
                )
                .with_resource(global.to_string())
            })
    }

    /// Newest `AuroraGlobalDBReplicationLag` datapoint (milliseconds) of the last five minutes of a
    /// secondary.
    async fn global_lag(&self, db: &DatabaseRef) -> Result<Option<Duration>> {
        let millis = self
            .newest_metric(db, "AuroraGlobalDBReplicationLag", "DBClusterIdentifier")
            .await?;
        Ok(millis.map(|ms| Duration::from_secs_f64(ms / 1000.0)))
    }

    /// Age of the newest available snapshot of the cluster `id` in the region of `site`.
    async fn cluster_snapshot_age(&self, site: SiteRole, id: &str) -> Result<Option<Duration>> {
        let out = self
            .rds
            .get(site)
            .describe_db_cluster_snapshots()
            .db_cluster_identifier(id)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::RDS_DESCRIBE_CLUSTER_SNAPSHOTS, id, e))?;
        Ok(out
            .db_cluster_snapshots()
            .iter()
            .filter(|s| s.status() == Some("available"))
            .filter_map(|s| s.snapshot_create_time())
            .filter_map(|t| secs_since(&self.clock, t))
            .min())
    }

    pub(crate) async fn global_status(
        &self,
        global: &str,
        db: &DatabaseRef,
    ) -> Result<DatabaseStatus> {
        let c = self.describe_cluster(db).await?;
        let arn = c.db_cluster_arn().unwrap_or_default();
        let g = self.describe_global(db.site, global).await?;
        let writer = is_writer(&g, arn).ok_or_else(|| not_member(global, db))?;
        let role = if writer {
            DatabaseRole::Primary
        } else {
            DatabaseRole::Replica
        };
        let replication_lag = if role == DatabaseRole::Replica
            && !busy(&g)
            && c.status() == Some("available")
        {
            let member = g
                .global_cluster_members()
                .iter()
                .find(|m| m.db_cluster_arn() == Some(arn));
            if let Some(s) = member.and_then(|m| m.synchronization_status()) {
                if *s == GlobalClusterMemberSynchronizationStatus::PendingResync {
                    return Err(Error::new(
                        ErrorKind::InvalidState,
                        format!(
                            "secondary cluster `{}` of `{global}` is pending a resync: it is not replicating",
                            db.instance
                        ),
                    )
                    .with_resource(db.instance.clone()));
                }
            }
            self.global_lag(db).await?
        } else {
            // During a switchover or failover the lag is unknown, not zero.
            None
        };
        let writer_id = writer_arn(&g).map(cluster_id);
        Ok(DatabaseStatus {
            role,
            fenced: cluster_tag(&c, FENCED_TAG) == Some("true"),
            replication_lag,
            replication_lag_bytes: None,
            replication_lag_at_most: None,
            last_backup_age: self.cluster_snapshot_age(db.site, &db.instance).await?,
            replicating_from: if role == DatabaseRole::Replica {
                writer_id
            } else {
                None
            },
            lossless_planned_promotion: false,
            planned_promotion_blockers: Vec::new(),
        })
    }

    pub(crate) async fn set_cluster_parameter_group(
        &self,
        db: &DatabaseRef,
        group: &str,
    ) -> Result<()> {
        self.rds
            .get(db.site)
            .modify_db_cluster()
            .db_cluster_identifier(&db.instance)
            .db_cluster_parameter_group_name(group)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::RDS_MODIFY_CLUSTER, &db.instance, e))?;
        Ok(())
    }

    pub(crate) async fn cluster_fence(
        &self,
        pair: &PairSettings,
        req: &FenceRequest,
    ) -> Result<()> {
        let c = self.describe_cluster(&req.target).await?;
        let target = Fenceable {
            arn: c.db_cluster_arn().unwrap_or_default(),
            group: c.db_cluster_parameter_group(),
            tags: c.tag_list(),
            cluster: true,
        };
        self.apply_fence(pair, req, &target).await
    }

    pub(crate) async fn global_promote(
        &self,
        pair: &PairSettings,
        global: &str,
        req: &PromoteRequest,
    ) -> Result<()> {
        let t = self.describe_cluster(&req.target).await?;
        let target_arn = t.db_cluster_arn().unwrap_or_default().to_string();
        let g = self.describe_global(req.target.site, global).await?;
        let writer = is_writer(&g, &target_arn).ok_or_else(|| not_member(global, &req.target))?;
        let lift_fence = || async {
            if cluster_tag(&t, FENCED_TAG).is_some() {
                self.cluster_fence(
                    pair,
                    &FenceRequest {
                        target: req.target.clone(),
                        fenced: false,
                    },
                )
                .await?;
            }
            Ok::<_, Error>(())
        };
        if writer && !busy(&g) {
            return lift_fence().await;
        }
        if let Some(f) = g.failover_state().filter(|f| f.status().is_some()) {
            if f.to_db_cluster_arn() == Some(target_arn.as_str()) {
                // Our operation (whose answer was lost) is under way: observe it.
                return Ok(());
            }
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "Aurora global database `{global}` is {} toward {}: wait until it is available",
                    f.status().map(|s| s.as_str()).unwrap_or("changing"),
                    f.to_db_cluster_arn().map(cluster_id).unwrap_or_default()
                ),
            )
            .with_resource(global.to_string()));
        }
        // Never two writers: the writer must be fenced, or unreachable with a forced promotion.
        match self.describe_cluster(&req.old_primary).await {
            Ok(o)
                if writer_arn(&g) == o.db_cluster_arn()
                    && cluster_tag(&o, FENCED_TAG) != Some("true") =>
            {
                return Err(split_brain(req))
            }
            Ok(_) => {}
            Err(e)
                if req.mode == PromoteMode::Forced
                    && matches!(e.kind(), ErrorKind::Unreachable | ErrorKind::Timeout) => {}
            Err(e) => return Err(e),
        }
        // The target is a read-only secondary until the operation ends: lifting its old fence first
        // lets it take writes as soon as it is the writer.
        lift_fence().await?;
        let client = self.rds.get(req.target.site);
        match req.mode {
            PromoteMode::Planned => client
                .switchover_global_cluster()
                .global_cluster_identifier(global)
                .target_db_cluster_identifier(&target_arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| map_sdk_error(iam::RDS_SWITCHOVER_GLOBAL, &req.target.instance, e)),
            PromoteMode::Forced => client
                .failover_global_cluster()
                .global_cluster_identifier(global)
                .target_db_cluster_identifier(&target_arn)
                .allow_data_loss(true)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| map_sdk_error(iam::RDS_FAILOVER_GLOBAL, &req.target.instance, e)),
        }
    }

    pub(crate) async fn global_reverse(
        &self,
        global: &str,
        req: &ReverseReplicationRequest,
    ) -> Result<SyncReport> {
        let s = self.describe_cluster(&req.source).await?;
        let g = self.describe_global(req.source.site, global).await?;
        let source_arn = s.db_cluster_arn().unwrap_or_default();
        if is_writer(&g, source_arn) != Some(true) || busy(&g) {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "`{}` is not the writer of the Aurora global database `{global}` (yet): nothing to replicate from",
                    req.source.instance
                ),
            )
            .with_resource(req.source.instance.clone()));
        }
        let t = self.describe_cluster(&req.target).await?;
        if is_writer(&g, t.db_cluster_arn().unwrap_or_default()).is_none() {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "cluster `{}` is no longer a member of the Aurora global database `{global}`: add it back as a secondary \
                     (create-db-cluster --global-cluster-identifier {global} in its region); aegis-dr does not re-create Aurora clusters",
                    req.target.instance
                ),
            )
            .with_resource(req.target.instance.clone()));
        }
        Ok(SyncReport {
            pending_changes: 0,
            estimated_catch_up: Duration::ZERO,
            dry_run: req.dry_run,
            summary: Some(format!(
                "{} is a secondary of the Aurora global database {global}, replicating from {}: nothing to copy",
                req.target.instance, req.source.instance
            )),
        })
    }
}
