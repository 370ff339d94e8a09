//! `DatabaseFailover` on RDS, in three modes chosen per pair by `options.failover`:
//!
//! * `replica-promotion` (default, this file): cross-region read replicas promoted on failover and
//!   re-created toward the original region on failback; replica lag from CloudWatch `ReplicaLag`;
//!   backups from snapshots. Fencing sets the instance's DB parameter group to the plan's
//!   `fence_parameter_group` (a group with writes disabled: `read_only = 1` for MySQL/MariaDB,
//!   `default_transaction_read_only = on` for PostgreSQL) and records the fence in the tags
//!   `aegis-dr:fenced` and `aegis-dr:unfenced-parameter-group`, so every step can observe it.
//! * `multi-az` ([`crate::multi_az`]): one Multi-AZ instance, `RebootDBInstance --force-failover`.
//! * `aurora-global` (`aurora_global.rs`): an Aurora global database, `SwitchoverGlobalCluster` or
//!   `FailoverGlobalCluster --allow-data-loss`.

use std::time::{Duration, SystemTime};

use aegis_dr_core::{
    clock::Clock,
    plan::DatabaseSpec,
    provider::{
        DatabaseFailover, DatabaseRef, DatabaseRole, DatabaseStatus, FenceRequest, PromoteMode,
        PromoteRequest, ReverseReplicationRequest, SnapshotRequest, SnapshotState, SyncReport,
    },
    Error, ErrorKind, Result, SiteRole,
};
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use aws_sdk_rds::types::{DbInstance, Tag};

use crate::{error::map_sdk_error, iam, Regional};

/// Tag that marks a fenced instance.
pub const FENCED_TAG: &str = "aegis-dr:fenced";
/// Tag that keeps the parameter group a fenced instance had before.
pub const UNFENCED_GROUP_TAG: &str = "aegis-dr:unfenced-parameter-group";
/// Tag on a superseded instance kept after re-protection, naming the instance it was.
pub const SUPERSEDED_TAG: &str = "aegis-dr:superseded";
/// Tag on a replica aegis-dr created, naming its source; removed when it is promoted.
pub const REPLICA_OF_TAG: &str = "aegis-dr:replica-of";

/// How a database pair fails over (`options.failover`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverMode {
    /// Cross-region read replica promoted; failback re-creates the replica toward the original region.
    ReplicaPromotion,
    /// One Multi-AZ instance: `RebootDBInstance --force-failover` moves the writer to the standby AZ
    /// and back. `primary` and `dr` name it as `<instance>@<availability zone>`.
    MultiAz,
    /// Aurora global database: `SwitchoverGlobalCluster` (planned, no data loss) or
    /// `FailoverGlobalCluster --allow-data-loss` (forced) between the clusters `primary` and `dr`.
    AuroraGlobal,
}

impl FailoverMode {
    /// The mode a database spec asks for in `options.failover` (default `replica-promotion`).
    pub fn of(d: &DatabaseSpec) -> Result<FailoverMode> {
        match d.options.get("failover").map(String::as_str) {
            None | Some("replica-promotion") => Ok(FailoverMode::ReplicaPromotion),
            Some("multi-az") => Ok(FailoverMode::MultiAz),
            Some("aurora-global") => Ok(FailoverMode::AuroraGlobal),
            Some(other) => Err(Error::config(format!(
                "databases.{}.options.failover: unknown mode `{other}` (replica-promotion, multi-az, aurora-global)",
                d.name
            ))),
        }
    }
}

/// How an instance or cluster is fenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fence {
    /// Switch to this DB (cluster) parameter group (writes disabled).
    ParameterGroup(String),
    /// Only tag the instance: the application must honour the tag (no database-level block).
    TagOnly,
}

/// What a pair is made of, per failover mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PairKind {
    /// Two instances, one a cross-region read replica of the other.
    ReplicaPromotion,
    /// One Multi-AZ instance in the primary site's region; each site is one of its two zones.
    MultiAz {
        instance: String,
        primary_az: String,
        dr_az: String,
    },
    /// Two clusters of one Aurora global database.
    AuroraGlobal { global_cluster: String },
}

/// Per-pair settings validated by the builder.
#[derive(Debug, Clone)]
pub(crate) struct PairSettings {
    pub name: String,
    pub fence: Fence,
    pub kind: PairKind,
}

/// Splits a Multi-AZ reference `<instance>@<availability zone>`.
pub(crate) fn split_multi_az(reference: &str) -> Option<(&str, &str)> {
    let (instance, az) = reference.split_once('@')?;
    (!instance.is_empty() && !az.is_empty()).then_some((instance, az))
}

/// The refusal to promote `req.target` while `req.old_primary` still takes writes.
pub(crate) fn split_brain(req: &PromoteRequest) -> Error {
    Error::new(
        ErrorKind::InvalidState,
        format!(
            "old primary `{}` still accepts writes: refusing to promote `{}` (split-brain)",
            req.old_primary.instance, req.target.instance
        ),
    )
    .with_resource(req.old_primary.instance.clone())
}

/// Parses the Multi-AZ reference in the field `field` of `d`.
fn multi_az_ref<'a>(
    d: &DatabaseSpec,
    field: &str,
    value: &'a str,
    primary_region: &str,
) -> Result<(&'a str, &'a str)> {
    split_multi_az(value).ok_or_else(|| {
        Error::config(format!(
            "databases.{}.{field}: `{value}` must be `<instance>@<availability zone>` for a Multi-AZ pair (like orders@{primary_region}a)",
            d.name
        ))
    })
}

impl PairSettings {
    /// Validates a database spec's options for the AWS provider; `primary_region` is the region of
    /// the primary site (where a Multi-AZ instance lives).
    pub(crate) fn from_spec(d: &DatabaseSpec, primary_region: &str) -> Result<PairSettings> {
        let mode = FailoverMode::of(d)?;
        let known: &[&str] = match mode {
            FailoverMode::ReplicaPromotion => &["failover", "fence", "fence_parameter_group"],
            FailoverMode::MultiAz => &["failover"],
            FailoverMode::AuroraGlobal => &[
                "failover",
                "global_cluster",
                "fence",
                "fence_parameter_group",
            ],
        };
        if let Some(k) = d.options.keys().find(|k| !known.contains(&k.as_str())) {
            let why = if mode == FailoverMode::MultiAz && k.starts_with("fence") {
                " (a Multi-AZ failover cannot leave two writers: RDS drops the old primary's connections and makes it the standby, so aegis-dr fences it with a tag only)"
            } else {
                ""
            };
            return Err(Error::config(format!(
                "databases.{}.options.{k}: unknown option for the AWS provider with failover = {:?} (known: {}){why}",
                d.name,
                d.options.get("failover").map(String::as_str).unwrap_or("replica-promotion"),
                known.join(", ")
            )));
        }
        let kind = match mode {
            FailoverMode::ReplicaPromotion => PairKind::ReplicaPromotion,
            FailoverMode::MultiAz => {
                let (instance, primary_az) = multi_az_ref(d, "primary", &d.primary, primary_region)?;
                let (dr_instance, dr_az) = multi_az_ref(d, "dr", &d.dr, primary_region)?;
                if instance != dr_instance {
                    return Err(Error::config(format!(
                        "databases.{}.dr: a Multi-AZ pair is one instance in two zones: `{dr_instance}` differs from `{instance}`",
                        d.name
                    )));
                }
                for (field, az) in [("primary", primary_az), ("dr", dr_az)] {
                    let zone_suffix = az.strip_prefix(primary_region).unwrap_or("");
                    if zone_suffix.is_empty() || !zone_suffix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                        return Err(Error::config(format!(
                            "databases.{}.{field}: `{az}` is not an availability zone of the primary site's region {primary_region} (a Multi-AZ instance lives in one region)",
                            d.name
                        )));
                    }
                }
                PairKind::MultiAz {
                    instance: instance.to_string(),
                    primary_az: primary_az.to_string(),
                    dr_az: dr_az.to_string(),
                }
            }
            FailoverMode::AuroraGlobal => match d.options.get("global_cluster") {
                Some(g) if !g.is_empty() => PairKind::AuroraGlobal {
                    global_cluster: g.clone(),
                },
                _ => {
                    return Err(Error::config(format!(
                        "databases.{}.options.global_cluster: missing: name the Aurora global database (global cluster identifier) whose member clusters `primary` and `dr` are",
                        d.name
                    )))
                }
            },
        };
        let fence = if mode == FailoverMode::MultiAz {
            Fence::TagOnly
        } else {
            let group_kind = if mode == FailoverMode::AuroraGlobal {
                "DB cluster parameter group"
            } else {
                "DB parameter group"
            };
            match (
                d.options.get("fence").map(String::as_str),
                d.options.get("fence_parameter_group"),
            ) {
                (None | Some("parameter-group"), Some(g)) if !g.is_empty() => {
                    Fence::ParameterGroup(g.clone())
                }
                (None | Some("parameter-group"), _) => {
                    return Err(Error::config(format!(
                        "databases.{}.options.fence_parameter_group: missing: name a {group_kind} with writes disabled \
                         (read_only = 1 / default_transaction_read_only = on), or set fence = \"tag-only\" if the application honours the `{FENCED_TAG}` tag",
                        d.name
                    )))
                }
                (Some("tag-only"), _) => Fence::TagOnly,
                (Some(other), _) => {
                    return Err(Error::config(format!(
                        "databases.{}.options.fence: unknown value `{other}` (parameter-group, tag-only)",
                        d.name
                    )))
                }
            }
        };
        Ok(PairSettings {
            name: d.name.clone(),
            fence,
            kind,
        })
    }
}

/// RDS (with CloudWatch for replica lag) behind the [`DatabaseFailover`] trait.
#[derive(Debug)]
pub struct RdsDatabases {
    pub(crate) rds: Regional<aws_sdk_rds::Client>,
    pub(crate) cloudwatch: Regional<aws_sdk_cloudwatch::Client>,
    pairs: Vec<PairSettings>,
    /// The run's clock: ages of backups and metric windows are measured on it.
    pub(crate) clock: Clock,
}

pub(crate) fn tag<'a>(i: &'a DbInstance, key: &str) -> Option<&'a str> {
    tag_in(i.tag_list(), key)
}

/// The value of the tag `key` in `tags`.
pub(crate) fn tag_in<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// What fencing reads of an instance or a cluster.
pub(crate) struct Fenceable<'a> {
    /// Its ARN (for tags).
    pub arn: &'a str,
    /// Its current (DB or DB cluster) parameter group.
    pub group: Option<&'a str>,
    /// Its tags.
    pub tags: &'a [Tag],
    /// True for a cluster (DB cluster parameter group), false for an instance.
    pub cluster: bool,
}

/// `arn:aws:rds:<region>:<account>:db:<id>` or a plain id → the id.
pub(crate) fn id_of(source: &str) -> String {
    source.rsplit(":db:").next().unwrap_or(source).to_string()
}

/// How long ago `t` was, by `clock`.
pub(crate) fn secs_since(clock: &Clock, t: &aws_smithy_types::DateTime) -> Option<Duration> {
    let then = SystemTime::try_from(*t).ok()?;
    Some(clock.now().duration_since(then).unwrap_or_default())
}

impl RdsDatabases {
    pub(crate) fn new(
        rds: Regional<aws_sdk_rds::Client>,
        cloudwatch: Regional<aws_sdk_cloudwatch::Client>,
        pairs: Vec<PairSettings>,
        clock: Clock,
    ) -> RdsDatabases {
        RdsDatabases {
            rds,
            cloudwatch,
            pairs,
            clock,
        }
    }

    pub(crate) fn pair(&self, db: &DatabaseRef) -> Result<&PairSettings> {
        self.pairs
            .iter()
            .find(|p| p.name == db.database)
            .ok_or_else(|| {
                Error::config(format!("database `{}` is not in the plan", db.database))
                    .with_resource(db.instance.clone())
            })
    }

    async fn describe(&self, db: &DatabaseRef) -> Result<DbInstance> {
        self.describe_instance(db.site, &db.instance, &db.instance)
            .await
    }

    /// The DB instance `id` in the region of `site`; errors name `resource` (the plan's reference).
    pub(crate) async fn describe_instance(
        &self,
        site: SiteRole,
        id: &str,
        resource: &str,
    ) -> Result<DbInstance> {
        let out = self
            .rds
            .get(site)
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::RDS_DESCRIBE_INSTANCES, resource, e))?;
        out.db_instances().first().cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "DB instance `{id}` does not exist in {}",
                    self.rds.region(site)
                ),
            )
            .with_resource(resource.to_string())
        })
    }

    /// Newest `ReplicaLag` datapoint of the last five minutes, `None` when CloudWatch has none.
    async fn replica_lag(&self, db: &DatabaseRef) -> Result<Option<Duration>> {
        let seconds = self
            .newest_metric(db, "ReplicaLag", "DBInstanceIdentifier")
            .await?;
        Ok(seconds.map(Duration::from_secs_f64))
    }

    /// The maximum of the newest datapoint of the last five minutes of the `AWS/RDS` metric `metric`
    /// with the dimension `dimension` = `db.instance`, in the region of `db.site`.
    pub(crate) async fn newest_metric(
        &self,
        db: &DatabaseRef,
        metric: &str,
        dimension: &str,
    ) -> Result<Option<f64>> {
        let end = self.clock.now();
        let start = end - Duration::from_secs(300);
        let out = self
            .cloudwatch
            .get(db.site)
            .get_metric_statistics()
            .namespace("AWS/RDS")
            .metric_name(metric)
            .dimensions(
                Dimension::builder()
                    .name(dimension)
                    .value(&db.instance)
                    .build(),
            )
            .start_time(start.into())
            .end_time((end + Duration::from_secs(60)).into())
            .period(60)
            .statistics(Statistic::Maximum)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::CLOUDWATCH_GET_STATS, &db.instance, e))?;
        let newest = out
            .datapoints()
            .iter()
            .filter(|d| d.timestamp().is_some())
            .max_by_key(|d| d.timestamp().map(|t| t.as_nanos()));
        Ok(newest
            .and_then(|d| d.maximum())
            .filter(|v| *v >= 0.0 && v.is_finite()))
    }

    /// Age of the newest available snapshot of `instance` in the region of `site`.
    pub(crate) async fn snapshot_age(
        &self,
        site: SiteRole,
        instance: &str,
    ) -> Result<Option<Duration>> {
        let out = self
            .rds
            .get(site)
            .describe_db_snapshots()
            .db_instance_identifier(instance)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::RDS_DESCRIBE_SNAPSHOTS, instance, e))?;
        Ok(out
            .db_snapshots()
            .iter()
            .filter(|s| s.status() == Some("available"))
            .filter_map(|s| s.snapshot_create_time())
            .filter_map(|t| secs_since(&self.clock, t))
            .min())
    }

    /// Newest backup of the data an instance holds: its own snapshots, or for a read replica without
    /// any (RDS takes none of most replicas) those of its source, when the source region answers.
    async fn last_backup_age(&self, db: &DatabaseRef, i: &DbInstance) -> Result<Option<Duration>> {
        if let Some(age) = self.snapshot_age(db.site, &db.instance).await? {
            return Ok(Some(age));
        }
        let Some(source) = i.read_replica_source_db_instance_identifier() else {
            return Ok(None);
        };
        // arn:aws:rds:<region>:<account>:db:<id>, or a plain id in the replica's own region.
        let region = source.split(':').nth(3).unwrap_or(self.rds.region(db.site));
        let site = [SiteRole::Primary, SiteRole::Dr]
            .into_iter()
            .find(|s| self.rds.region(*s) == region);
        match site {
            Some(site) => match self.snapshot_age(site, &id_of(source)).await {
                Ok(age) => Ok(age),
                // The source region being down must not hide that the replica itself is fine.
                Err(e) if matches!(e.kind(), ErrorKind::Unreachable | ErrorKind::Timeout) => {
                    Ok(None)
                }
                Err(e) => Err(e),
            },
            None => Ok(None),
        }
    }

    /// Adds (or overwrites) tags on the RDS resource `arn` (an instance or cluster named `name`).
    pub(crate) async fn tag_resource(
        &self,
        site: SiteRole,
        name: &str,
        arn: &str,
        tags: &[(&str, &str)],
    ) -> Result<()> {
        let mut req = self.rds.get(site).add_tags_to_resource().resource_name(arn);
        for (k, v) in tags {
            req = req.tags(Tag::builder().key(*k).value(*v).build());
        }
        req.send()
            .await
            .map_err(|e| map_sdk_error(iam::RDS_ADD_TAGS, name, e))?;
        Ok(())
    }

    /// Removes tags from the RDS resource `arn` (an instance or cluster named `name`).
    pub(crate) async fn untag_resource(
        &self,
        site: SiteRole,
        name: &str,
        arn: &str,
        keys: &[&str],
    ) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut r = self
            .rds
            .get(site)
            .remove_tags_from_resource()
            .resource_name(arn);
        for k in keys {
            r = r.tag_keys(*k);
        }
        r.send()
            .await
            .map_err(|e| map_sdk_error(iam::RDS_REMOVE_TAGS, name, e))?;
        Ok(())
    }

    async fn set_parameter_group(&self, db: &DatabaseRef, group: &str) -> Result<()> {
        self.rds
            .get(db.site)
            .modify_db_instance()
            .db_instance_identifier(&db.instance)
            .db_parameter_group_name(group)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::RDS_MODIFY_INSTANCE, &db.instance, e))?;
        Ok(())
    }

    fn role_of(i: &DbInstance) -> DatabaseRole {
        if i.read_replica_source_db_instance_identifier().is_some() {
            DatabaseRole::Replica
        } else {
            DatabaseRole::Primary
        }
    }
}

/// Cross-region read replica pairs.
impl RdsDatabases {
    async fn replica_status(&self, db: &DatabaseRef) -> Result<DatabaseStatus> {
        let i = self.describe(db).await?;
        let role = Self::role_of(&i);
        let replication_lag =
            if role == DatabaseRole::Replica && i.db_instance_status() == Some("available") {
                let broken = i.status_infos().iter().find(|s| {
                    s.status_type() == Some("read replication")
                        && !matches!(s.status(), Some("replicating") | None)
                });
                if let Some(b) = broken {
                    return Err(Error::new(
                        ErrorKind::InvalidState,
                        format!(
                            "read replication of `{}` is {}: {}",
                            db.instance,
                            b.status().unwrap_or("unknown"),
                            b.message().unwrap_or("no message")
                        ),
                    )
                    .with_resource(db.instance.clone()));
                }
                self.replica_lag(db).await?
            } else {
                // A replica still being created or modified has no lag yet: unknown, not zero.
                None
            };
        Ok(DatabaseStatus {
            role,
            fenced: tag(&i, FENCED_TAG) == Some("true"),
            replication_lag,
            replication_lag_bytes: None,
            replication_lag_at_most: None,
            last_backup_age: self.last_backup_age(db, &i).await?,
            replicating_from: i.read_replica_source_db_instance_identifier().map(id_of),
            lossless_planned_promotion: false,
            planned_promotion_blockers: Vec::new(),
        })
    }

    async fn instance_fence(&self, pair: &PairSettings, req: &FenceRequest) -> Result<()> {
        let i = self.describe(&req.target).await?;
        let target = Fenceable {
            arn: i.db_instance_arn().unwrap_or_default(),
            group: i
                .db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_name()),
            tags: i.tag_list(),
            cluster: false,
        };
        self.apply_fence(pair, req, &target).await
    }

    /// Fences (or unfences) an instance or a cluster: switches its parameter group where the pair
    /// fences with one (remembering the group to restore in a tag), and sets or clears the tags.
    pub(crate) async fn apply_fence(
        &self,
        pair: &PairSettings,
        req: &FenceRequest,
        t: &Fenceable<'_>,
    ) -> Result<()> {
        let db = &req.target;
        let set_group = |group: &str| {
            let group = group.to_string();
            async move {
                if t.cluster {
                    self.set_cluster_parameter_group(db, &group).await
                } else {
                    self.set_parameter_group(db, &group).await
                }
            }
        };
        if req.fenced {
            if let Fence::ParameterGroup(group) = &pair.fence {
                // Remember the group to restore once, before switching away from it.
                if tag_in(t.tags, UNFENCED_GROUP_TAG).is_none() {
                    if let Some(cur) = t.group.filter(|c| c != group) {
                        self.tag_resource(
                            db.site,
                            &db.instance,
                            t.arn,
                            &[(UNFENCED_GROUP_TAG, cur)],
                        )
                        .await?;
                    }
                }
                if t.group != Some(group.as_str()) {
                    set_group(group).await?;
                }
            }
            if tag_in(t.tags, FENCED_TAG) != Some("true") {
                self.tag_resource(db.site, &db.instance, t.arn, &[(FENCED_TAG, "true")])
                    .await?;
            }
            return Ok(());
        }
        if let (Fence::ParameterGroup(group), Some(orig)) =
            (&pair.fence, tag_in(t.tags, UNFENCED_GROUP_TAG))
        {
            if t.group == Some(group.as_str()) {
                set_group(orig).await?;
            }
        }
        let keys: Vec<&str> = [FENCED_TAG, UNFENCED_GROUP_TAG]
            .into_iter()
            .filter(|k| tag_in(t.tags, k).is_some())
            .collect();
        self.untag_resource(db.site, &db.instance, t.arn, &keys)
            .await
    }

    async fn replica_promote(&self, pair: &PairSettings, req: &PromoteRequest) -> Result<()> {
        // Never two writable primaries: the old primary must be fenced, or unreachable and forced.
        // Role and fence come from the instance alone: no lag or backup lookups on this path.
        match self.describe(&req.old_primary).await {
            Ok(o)
                if Self::role_of(&o) == DatabaseRole::Primary
                    && tag(&o, FENCED_TAG) != Some("true") =>
            {
                return Err(split_brain(req))
            }
            Ok(_) => {}
            Err(e)
                if req.mode == PromoteMode::Forced
                    && matches!(e.kind(), ErrorKind::Unreachable | ErrorKind::Timeout) => {}
            Err(e) => return Err(e),
        }
        let i = self.describe(&req.target).await?;
        if Self::role_of(&i) == DatabaseRole::Replica {
            self.rds
                .get(req.target.site)
                .promote_read_replica()
                .db_instance_identifier(&req.target.instance)
                .send()
                .await
                .map_err(|e| map_sdk_error(iam::RDS_PROMOTE_REPLICA, &req.target.instance, e))?;
        }
        // A promoted instance replicates from nothing: its replica-of tag would name the wrong
        // instance from now on.
        if tag(&i, REPLICA_OF_TAG).is_some() {
            let arn = i.db_instance_arn().unwrap_or_default().to_string();
            self.untag_resource(
                req.target.site,
                &req.target.instance,
                &arn,
                &[REPLICA_OF_TAG],
            )
            .await?;
        }
        // A promoted instance takes writes: lift a fence it may carry from an earlier cycle.
        if tag(&i, FENCED_TAG).is_some() {
            self.instance_fence(
                pair,
                &FenceRequest {
                    target: req.target.clone(),
                    fenced: false,
                },
            )
            .await?;
        }
        Ok(())
    }

    async fn replica_reverse(&self, req: &ReverseReplicationRequest) -> Result<SyncReport> {
        let source = self.describe(&req.source).await?;
        if Self::role_of(&source) != DatabaseRole::Primary {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "`{}` is not a primary: nothing to replicate from",
                    req.source.instance
                ),
            )
            .with_resource(req.source.instance.clone()));
        }
        let source_arn = source.db_instance_arn().unwrap_or_default().to_string();
        let target = match self.describe(&req.target).await {
            Ok(t) => Some(t),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let already = target.as_ref().is_some_and(|t| {
            t.read_replica_source_db_instance_identifier()
                .map(id_of)
                .as_deref()
                == Some(req.source.instance.as_str())
        });
        let keep_as = format!(
            "{}-aegis-{}",
            req.target.instance,
            self.clock.now_ms() / 1000
        );
        if req.dry_run {
            let summary = if already {
                format!(
                    "{} already replicates from {}",
                    req.target.instance, req.source.instance
                )
            } else {
                let size = source.allocated_storage().unwrap_or_default();
                format!(
                    "{} would be re-created as a read replica of {} ({} GiB copied from a snapshot of the source){}",
                    req.target.instance,
                    req.source.instance,
                    size,
                    if target.is_some() {
                        format!("; the current {} is kept, renamed {}-aegis-<unix time>, for any writes only it has", req.target.instance, req.target.instance)
                    } else {
                        String::new()
                    }
                )
            };
            return Ok(SyncReport {
                pending_changes: 0,
                estimated_catch_up: Duration::ZERO,
                dry_run: true,
                summary: Some(summary),
            });
        }
        if already {
            return Ok(SyncReport {
                pending_changes: 0,
                estimated_catch_up: Duration::ZERO,
                dry_run: false,
                summary: None,
            });
        }
        if let Some(t) = &target {
            // Keep the superseded instance (it may hold writes the new primary never received):
            // tag it with what it was, then rename it out of the way.
            let arn = t.db_instance_arn().unwrap_or_default().to_string();
            self.tag_resource(
                req.target.site,
                &req.target.instance,
                &arn,
                &[(SUPERSEDED_TAG, &req.target.instance)],
            )
            .await?;
            self.rds
                .get(req.target.site)
                .modify_db_instance()
                .db_instance_identifier(&req.target.instance)
                .new_db_instance_identifier(&keep_as)
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| map_sdk_error(iam::RDS_MODIFY_INSTANCE, &req.target.instance, e))?;
        }
        let mut create = self
            .rds
            .get(req.target.site)
            .create_db_instance_read_replica()
            .db_instance_identifier(&req.target.instance)
            .source_db_instance_identifier(&source_arn)
            .tags(
                Tag::builder()
                    .key(REPLICA_OF_TAG)
                    .value(&req.source.instance)
                    .build(),
            );
        if let Some(class) = target
            .as_ref()
            .and_then(|t| t.db_instance_class())
            .or(source.db_instance_class())
        {
            create = create.db_instance_class(class);
        }
        create
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::RDS_CREATE_REPLICA, &req.target.instance, e))?;
        Ok(SyncReport {
            pending_changes: 0,
            estimated_catch_up: Duration::ZERO,
            dry_run: false,
            summary: Some(match target {
                Some(_) => format!(
                    "{} re-created as a replica of {}; the superseded instance is kept as {keep_as}",
                    req.target.instance, req.source.instance
                ),
                None => format!("{} created as a replica of {}", req.target.instance, req.source.instance),
            }),
        })
    }
}

#[async_trait]
impl DatabaseFailover for RdsDatabases {
    async fn status(&self, db: &DatabaseRef) -> Result<DatabaseStatus> {
        match &self.pair(db)?.kind {
            PairKind::ReplicaPromotion => self.replica_status(db).await,
            PairKind::MultiAz { .. } => self.multi_az_status(self.pair(db)?, db).await,
            PairKind::AuroraGlobal { global_cluster } => {
                self.global_status(global_cluster, db).await
            }
        }
    }

    async fn fence(&self, req: &FenceRequest) -> Result<()> {
        let pair = self.pair(&req.target)?;
        match &pair.kind {
            PairKind::ReplicaPromotion => self.instance_fence(pair, req).await,
            PairKind::MultiAz { .. } => self.multi_az_fence(pair, req).await,
            PairKind::AuroraGlobal { .. } => self.cluster_fence(pair, req).await,
        }
    }

    async fn promote(&self, req: &PromoteRequest) -> Result<()> {
        let pair = self.pair(&req.target)?;
        match &pair.kind {
            PairKind::ReplicaPromotion => self.replica_promote(pair, req).await,
            PairKind::MultiAz { .. } => self.multi_az_promote(pair, req).await,
            PairKind::AuroraGlobal { global_cluster } => {
                self.global_promote(pair, global_cluster, req).await
            }
        }
    }

    async fn reverse_replication(&self, req: &ReverseReplicationRequest) -> Result<SyncReport> {
        let pair = self.pair(&req.target)?;
        match &pair.kind {
            PairKind::ReplicaPromotion => self.replica_reverse(req).await,
            PairKind::MultiAz { .. } => self.multi_az_reverse(pair, req).await,
            PairKind::AuroraGlobal { global_cluster } => {
                self.global_reverse(global_cluster, req).await
            }
        }
    }

    async fn create_snapshot(&self, req: &SnapshotRequest) -> Result<()> {
        self.take_snapshot(req).await
    }

    async fn snapshot_state(&self, req: &SnapshotRequest) -> Result<SnapshotState> {
        self.snapshot_status(req).await
    }
}
