//! Cloud SQL ([`CloudSql`]) through `google-cloud-sql-v1`, in the two shapes a GCP user has:
//!
//! - `mode = "replica"` (default): a primary and its cross-region DR replica. Planned promotion is
//!   `instances.switchover` (lossless: the roles swap and the old primary replicates from the new
//!   one); forced is `instances.promoteReplica`, behind the RPO gate (the old primary is left a
//!   standalone primary, to be re-created as a replica by hand).
//! - `mode = "ha"`: one regional (HA) instance, its primary zone at one site and standby zone at the
//!   other, named `instance:zone` (`primary = "aegis-db:us-central1-a"`, `dr =
//!   "aegis-db:us-central1-b"`); promotion is `instances.failover` with the current
//!   `settingsVersion`. It stays inside one region: it does not survive a region loss.
//!
//! Fencing writes `aegis-dr-fenced=true` to the instance's user labels (`false` when lifted) (default: aegis-dr honours it,
//! Cloud SQL does not) or also turns on the engine's read-only flag (`options.fence =
//! "read-only-flag"`: MySQL `read_only`, PostgreSQL `default_transaction_read_only`). Every change
//! is an operation polled to `DONE`, its errors surfaced. A replica's lag is Cloud Monitoring's
//! `cloudsql.googleapis.com/database/replication/replica_lag`, newest point of the last five minutes;
//! without one (metrics not collected, no permission, an HA standby, which has no such metric) it
//! stays unknown. Backup age is the newest successful backup run of the current primary.

use std::{
    collections::HashMap,
    time::{Duration, UNIX_EPOCH},
};

use aegis_dr_core::{
    clock::Clock,
    plan::DatabaseSpec,
    provider::{
        DatabaseFailover, DatabaseRef, DatabaseRole, DatabaseStatus, FenceRequest, PromoteMode,
        PromoteRequest, ReverseReplicationRequest, SyncReport,
    },
    retry::Poll,
    Error, ErrorKind, Result, RetryStatus, SiteRole,
};
use async_trait::async_trait;
use google_cloud_sql_v1::{
    client::{SqlBackupRunsService, SqlInstancesService, SqlOperationsService},
    model::{
        operation::SqlOperationStatus, DatabaseFlags, DatabaseInstance, FailoverContext,
        InstancesFailoverRequest, Settings, SqlBackupRunStatus, SqlInstanceType,
    },
};

use crate::{
    client::{is_stale_settings, on, op_failed, Call, Google},
    switchover,
};

/// Cloud Monitoring's replica-lag metric.
const REPLICA_LAG: &str = "cloudsql.googleapis.com/database/replication/replica_lag";
/// The newest lag point older than this is not a measurement of now.
const LAG_FRESHNESS: Duration = Duration::from_secs(300);

/// The label that marks a fenced instance.
pub const FENCED_LABEL: &str = "aegis-dr-fenced";

/// How a pair fails over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlMode {
    /// A primary and its cross-region DR replica.
    Replica,
    /// One regional instance, its zone at each site.
    Ha {
        /// The zone that serves when the primary site does.
        primary_zone: String,
        /// The standby zone.
        dr_zone: String,
    },
}

/// How writes to the old primary are stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceMode {
    /// The label only: aegis-dr treats the instance as fenced, Cloud SQL still takes writes.
    Label,
    /// The label and the engine's read-only database flag.
    ReadOnlyFlag,
}

/// One database pair of the plan on Cloud SQL.
#[derive(Debug, Clone)]
pub struct InstancePair {
    /// The pair's name in the plan.
    pub database: String,
    /// Project of both instances (a replica lives in its primary's project).
    pub project: String,
    /// Failover shape.
    pub mode: SqlMode,
    /// How the pair's primary is fenced: the label alone, or with the read-only flag.
    pub fence: FenceMode,
}

const OPTIONS: &[&str] = &["mode", "fence"];

/// The Cloud SQL instance id of a pair member (`aegis-db` of an HA pair's `aegis-db:us-central1-a`).
fn api_name(instance: &str) -> &str {
    instance.split_once(':').map_or(instance, |(i, _)| i)
}

fn is_instance_id(s: &str) -> bool {
    (1..=98).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl InstancePair {
    /// The pair of `spec`: `options.mode` (`replica`, `ha`), `options.fence` (`label`,
    /// `read-only-flag`), and for `ha` the two zones.
    pub fn from_spec(
        spec: &DatabaseSpec,
        primary_project: String,
        dr_project: String,
    ) -> Result<InstancePair> {
        let at = format!("databases.{}", spec.name);
        for k in spec.options.keys() {
            if !OPTIONS.contains(&k.as_str()) {
                return Err(Error::config(format!(
                    "{at}.options.{k}: not a Cloud SQL option (known: {})",
                    OPTIONS.join(", ")
                )));
            }
        }
        for s in [&spec.primary, &spec.dr] {
            if !is_instance_id(api_name(s)) {
                return Err(Error::config(format!(
                    "{at}: `{s}` is not a Cloud SQL instance id (lowercase letters, digits and '-', starting with a letter)"
                )));
            }
        }
        let opt = |k: &str| spec.options.get(k).cloned();
        let mode = match opt("mode").as_deref() {
            None | Some("replica") => {
                if spec.primary.contains(':') || spec.dr.contains(':') {
                    return Err(Error::config(format!(
                        "{at}: `instance:zone` names an HA instance's zone: set options.mode = \"ha\", or name two instances"
                    )));
                }
                SqlMode::Replica
            }
            Some("ha") => {
                let split = |s: &String| {
                    s.split_once(':')
                        .map(|(i, z)| (i.to_string(), z.to_string()))
                        .filter(|(_, z)| !z.is_empty())
                };
                match (split(&spec.primary), split(&spec.dr)) {
                    (Some((a, primary_zone)), Some((b, dr_zone))) if a == b => SqlMode::Ha { primary_zone, dr_zone },
                    _ => {
                        return Err(Error::config(format!(
                            "{at}: mode \"ha\" fails one regional instance over between its zones: name it `instance:zone` on both sides (`aegis-db:us-central1-a`, `aegis-db:us-central1-b`)"
                        )))
                    }
                }
            }
            Some(o) => {
                return Err(Error::config(format!(
                    "{at}.options.mode: `{o}` is not one of replica, ha"
                )))
            }
        };
        let fence = match opt("fence").as_deref() {
            None | Some("label") => FenceMode::Label,
            Some("read-only-flag") => FenceMode::ReadOnlyFlag,
            Some(o) => {
                return Err(Error::config(format!(
                    "{at}.options.fence: `{o}` is not one of label, read-only-flag"
                )))
            }
        };
        if primary_project != dr_project {
            return Err(Error::config(format!(
                "{at}: the primary is in project `{primary_project}` and the DR instance in `{dr_project}`; a Cloud SQL replica (or HA standby) lives in its primary's project"
            )));
        }
        Ok(InstancePair {
            database: spec.name.clone(),
            project: primary_project,
            mode,
            fence,
        })
    }

    fn zone(&self, site: SiteRole) -> Option<&str> {
        match (&self.mode, site) {
            (SqlMode::Ha { primary_zone, .. }, SiteRole::Primary) => Some(primary_zone),
            (SqlMode::Ha { dr_zone, .. }, SiteRole::Dr) => Some(dr_zone),
            _ => None,
        }
    }
}

/// Cloud SQL through the official client.
#[derive(Debug, Clone)]
pub struct CloudSql {
    google: Google,
    instances: SqlInstancesService,
    operations: SqlOperationsService,
    backups: SqlBackupRunsService,
    pairs: Vec<InstancePair>,
    timeout: Duration,
    /// The run's clock: backup ages are measured on it.
    clock: Clock,
}

fn what(db: &DatabaseRef) -> String {
    format!("Cloud SQL instance {}", api_name(&db.instance))
}

fn read_only_flag(i: &DatabaseInstance) -> Result<&'static str> {
    let v = i.database_version.name().unwrap_or_default();
    if v.starts_with("MYSQL") {
        Ok("read_only")
    } else if v.starts_with("POSTGRES") {
        Ok("default_transaction_read_only")
    } else {
        Err(Error::new(
            ErrorKind::Unsupported,
            format!("Cloud SQL instance {}: {v} has no read-only flag; fence it with options.fence = \"label\"", i.name),
        ))
    }
}

/// The instance a replica replicates from, by name: Cloud SQL answers `masterInstanceName` as
/// `project:instance` (Terraform's provider strips the project too); a bare name is taken as it is.
pub(crate) fn master_name(i: &DatabaseInstance) -> &str {
    let m = i.master_instance_name.as_str();
    m.rsplit_once(':').map_or(m, |(_, name)| name)
}

fn flag_on(i: &DatabaseInstance, flag: &str) -> bool {
    settings(i)
        .database_flags
        .iter()
        .any(|f| f.name == flag && f.value == "on")
}

pub(crate) fn settings(i: &DatabaseInstance) -> Settings {
    i.settings.clone().unwrap_or_default()
}

pub(crate) fn is_replica(i: &DatabaseInstance) -> bool {
    i.instance_type == SqlInstanceType::ReadReplicaInstance || !i.master_instance_name.is_empty()
}

impl CloudSql {
    pub(crate) fn new(
        google: Google,
        instances: SqlInstancesService,
        operations: SqlOperationsService,
        backups: SqlBackupRunsService,
        pairs: Vec<InstancePair>,
        timeout: Duration,
        clock: Clock,
    ) -> CloudSql {
        CloudSql {
            google,
            instances,
            operations,
            backups,
            pairs,
            timeout,
            clock,
        }
    }

    fn pair(&self, db: &DatabaseRef) -> Result<&InstancePair> {
        self.pairs
            .iter()
            .find(|p| p.database == db.database)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("database pair `{}` is not on GCP", db.database),
                )
            })
    }

    async fn get(&self, project: &str, db: &DatabaseRef) -> Result<DatabaseInstance> {
        self.instances
            .get()
            .set_project(project)
            .set_instance(api_name(&db.instance))
            .send()
            .await
            .map_err(on(&what(db), "cloudsql.instances.get"))
            .map_err(|e| e.or_resource(&db.instance))
    }

    /// Waits for a Cloud SQL operation to reach `DONE`, surfacing its errors.
    async fn wait_op(&self, project: &str, op: &str, about: &str) -> Result<()> {
        let label = format!("{about} (operation {op})");
        self.google
            .wait(&label, self.timeout, || async {
                let o = self
                    .operations
                    .get()
                    .set_project(project)
                    .set_operation(op)
                    .send()
                    .await
                    .map_err(on(&label, "cloudsql.instances.get"))?;
                Ok(match o.status {
                    SqlOperationStatus::Done => match o.error.filter(|e| !e.errors.is_empty()) {
                        Some(errs) => {
                            let all = errs
                                .errors
                                .iter()
                                .map(|e| format!("{}: {}", e.code, e.message));
                            Poll::Failed(op_failed(&label, &all.collect::<Vec<_>>().join("; ")))
                        }
                        None => Poll::Ready(()),
                    },
                    s => Poll::pending(s.name().unwrap_or("UNKNOWN")),
                })
            })
            .await
    }

    /// True when `i` carries this pair's fence.
    fn fenced(&self, p: &InstancePair, i: &DatabaseInstance) -> Result<bool> {
        let labelled = settings(i)
            .user_labels
            .get(FENCED_LABEL)
            .map(String::as_str)
            == Some("true");
        Ok(match p.fence {
            FenceMode::Label => labelled,
            FenceMode::ReadOnlyFlag => labelled && flag_on(i, read_only_flag(i)?),
        })
    }

    /// The role of the instance `db` names, from `i`.
    fn role(&self, p: &InstancePair, db: &DatabaseRef, i: &DatabaseInstance) -> DatabaseRole {
        match p.zone(db.site) {
            Some(z) if i.gce_zone == z => DatabaseRole::Primary,
            Some(_) => DatabaseRole::Replica,
            None if is_replica(i) => DatabaseRole::Replica,
            None => DatabaseRole::Primary,
        }
    }

    /// The replica's lag from Cloud Monitoring: the newest `replica_lag` point of the last five
    /// minutes; `None` (unknown) without one or when it cannot be read.
    async fn replica_lag(&self, project: &str, instance: &str) -> Option<Duration> {
        let fmt = &time::format_description::well_known::Rfc3339;
        let now = time::OffsetDateTime::now_utc();
        let start = now - LAG_FRESHNESS;
        let filter = format!(
            "metric.type = \"{REPLICA_LAG}\" AND resource.labels.database_id = \"{project}:{instance}\""
        );
        let what = format!("replica lag of Cloud SQL instance {instance}");
        let v = self
            .google
            .rest_get(
                &format!("https://monitoring.googleapis.com/v3/projects/{project}/timeSeries"),
                &[
                    ("filter", filter),
                    ("interval.startTime", start.format(fmt).ok()?),
                    ("interval.endTime", now.format(fmt).ok()?),
                ],
                Call {
                    what: &what,
                    permission: "monitoring.timeSeries.list",
                },
            )
            .await
            .ok()?;
        // Points come newest first; the newest of every series (one per database id) counts.
        let newest = v["timeSeries"]
            .as_array()?
            .iter()
            .filter_map(|ts| ts["points"].as_array()?.first())
            .filter_map(|p| {
                let end =
                    time::OffsetDateTime::parse(p["interval"]["endTime"].as_str()?, fmt).ok()?;
                let secs = p["value"]["doubleValue"].as_f64()?;
                Some((end, secs))
            })
            .max_by_key(|(end, _)| *end)?;
        let (end, secs) = newest;
        (now - end <= LAG_FRESHNESS && secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs))
    }

    /// Age of the newest successful backup run of `instance`; unknown when none or unreadable.
    async fn backup_age(&self, project: &str, instance: &str) -> Option<Duration> {
        let runs = self
            .backups
            .list()
            .set_project(project)
            .set_instance(instance)
            .send()
            .await
            .ok()?;
        let newest = runs
            .items
            .iter()
            .filter(|r| r.status == SqlBackupRunStatus::Successful)
            .filter_map(|r| r.end_time.as_ref())
            .filter_map(|t| u64::try_from(t.seconds()).ok())
            .max()?;
        let end = UNIX_EPOCH + Duration::from_secs(newest);
        Some(self.clock.now().duration_since(end).unwrap_or_default())
    }

    /// Sets or lifts the fence on `db` (observe first; a stale `settingsVersion` is read again).
    async fn set_fence(&self, p: &InstancePair, db: &DatabaseRef, fenced: bool) -> Result<()> {
        let project = &p.project;
        for _ in 0..3 {
            let i = self.get(project, db).await?;
            if self.fenced(p, &i)? == fenced
                && (fenced || !flag_on(&i, read_only_flag(&i).unwrap_or("-")))
            {
                return Ok(());
            }
            let s = settings(&i);
            // A PATCH cannot remove the last label or flag (an empty map or list is not sent):
            // lifting the fence writes `false` and `off` instead.
            let mut labels: HashMap<String, String> = s.user_labels.clone();
            labels.insert(FENCED_LABEL.into(), fenced.to_string());
            let mut patch = Settings::new().set_user_labels(labels);
            if let Some(v) = s.settings_version {
                patch = patch.set_settings_version(v);
            }
            if p.fence == FenceMode::ReadOnlyFlag {
                let flag = read_only_flag(&i)?;
                let mut flags: Vec<DatabaseFlags> = s
                    .database_flags
                    .iter()
                    .filter(|f| f.name != flag)
                    .cloned()
                    .collect();
                flags.push(DatabaseFlags::new().set_name(flag).set_value(if fenced {
                    "on"
                } else {
                    "off"
                }));
                patch = patch.set_database_flags(flags);
            }
            let sent = self
                .instances
                .patch()
                .set_project(project)
                .set_instance(api_name(&db.instance))
                .set_body(DatabaseInstance::new().set_settings(patch))
                .send()
                .await;
            match sent {
                Ok(op) => {
                    let about = format!(
                        "{} of {}",
                        if fenced { "fencing" } else { "unfencing" },
                        what(db)
                    );
                    return self.wait_op(project, &op.name, &about).await;
                }
                Err(e) if is_stale_settings(&e) => continue,
                Err(e) => {
                    return Err(
                        on(&what(db), "cloudsql.instances.update")(e).or_resource(&db.instance)
                    )
                }
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!("{}: its settings kept changing under aegis-dr (settingsVersion stale three times); run again", what(db)),
        )
        .with_resource(db.instance.clone()))
    }

    /// Starts the promotion call of `req` and returns its operation's name.
    async fn start_promotion(&self, p: &InstancePair, req: &PromoteRequest) -> Result<String> {
        let t = &req.target;
        let project = &p.project;
        let (permission, sent) = match (&p.mode, req.mode) {
            (SqlMode::Ha { .. }, _) => {
                let mut last = None;
                for _ in 0..3 {
                    let i = self.get(project, t).await?;
                    if self.role(p, t, &i) == DatabaseRole::Primary {
                        return Ok(String::new());
                    }
                    let version = settings(&i).settings_version.unwrap_or_default();
                    let r = self
                        .instances
                        .failover()
                        .set_project(project)
                        .set_instance(api_name(&t.instance))
                        .set_body(
                            InstancesFailoverRequest::new().set_failover_context(
                                FailoverContext::new()
                                    .set_settings_version(version)
                                    .set_kind("sql#failoverContext"),
                            ),
                        )
                        .send()
                        .await;
                    match r {
                        Err(e) if is_stale_settings(&e) => {
                            last = Some(on(&what(t), "cloudsql.instances.failover")(e))
                        }
                        other => {
                            return other.map(|o| o.name).map_err(|e| {
                                on(&what(t), "cloudsql.instances.failover")(e)
                                    .or_resource(&t.instance)
                            })
                        }
                    }
                }
                return Err(last.unwrap_or_else(|| {
                    Error::new(ErrorKind::Conflict, "settingsVersion kept changing")
                }));
            }
            // Cloud SQL gives a switchover `dbTimeout` (10 min unless told): as long as this wait.
            (SqlMode::Replica, PromoteMode::Planned) => (
                "cloudsql.instances.failover",
                self.instances
                    .switchover()
                    .set_project(project)
                    .set_instance(api_name(&t.instance))
                    .set_db_timeout(google_cloud_wkt::Duration::clamp(
                        i64::try_from(self.timeout.as_secs()).unwrap_or(i64::MAX),
                        0,
                    ))
                    .send()
                    .await,
            ),
            // `failover=true`: the old primary, when it comes back, is re-attached as the new
            // primary's replica instead of coming back writable beside it.
            (SqlMode::Replica, PromoteMode::Forced) => (
                "cloudsql.instances.promoteReplica",
                self.instances
                    .promote_replica()
                    .set_project(project)
                    .set_instance(api_name(&t.instance))
                    .set_failover(true)
                    .send()
                    .await,
            ),
        };
        sent.map(|o| o.name)
            .map_err(|e| on(&what(t), permission)(e).or_resource(&t.instance))
    }
}

#[async_trait]
impl DatabaseFailover for CloudSql {
    async fn status(&self, db: &DatabaseRef) -> Result<DatabaseStatus> {
        let p = self.pair(db)?;
        let project = &p.project;
        let i = self.get(project, db).await?;
        let role = self.role(p, db, &i);
        let blockers = match (&p.mode, role) {
            (SqlMode::Replica, DatabaseRole::Replica) => {
                switchover::blockers(&self.instances, &p.project, &i).await
            }
            _ => Vec::new(),
        };
        let runnable = i.state.name() == Some("RUNNABLE");
        let (replicating_from, lossless, backup_of) = match (&p.mode, role) {
            (SqlMode::Ha { .. }, DatabaseRole::Replica) => (
                Some(i.name.clone()),
                // The standby's disk is written synchronously: a failover loses nothing.
                runnable && settings(&i).availability_type.name() == Some("REGIONAL"),
                i.name.clone(),
            ),
            (SqlMode::Replica, DatabaseRole::Replica) => (
                Some(master_name(&i).to_string()),
                // A switchover to the DR replica waits for it to catch up: lossless.
                runnable && i.replication_cluster.as_ref().is_some_and(|c| c.dr_replica),
                master_name(&i).to_string(),
            ),
            _ => (None, false, i.name.clone()),
        };
        Ok(DatabaseStatus {
            role,
            // An HA standby takes no connections at all: its writes are blocked by Cloud SQL itself
            // (the label on the one instance belongs to whichever zone serves).
            fenced: matches!((&p.mode, role), (SqlMode::Ha { .. }, DatabaseRole::Replica))
                || self.fenced(p, &i)?,
            // Only Cloud Monitoring reports a replica's lag; an HA standby has none (its disk is
            // synchronous, see `lossless_planned_promotion`). Unknown is never zero.
            replication_lag_bytes: None,
            replication_lag_at_most: None,
            replication_lag: match (&p.mode, role) {
                (SqlMode::Replica, DatabaseRole::Replica) => {
                    self.replica_lag(project, &i.name).await
                }
                _ => None,
            },
            last_backup_age: self.backup_age(project, &backup_of).await,
            replicating_from,
            lossless_planned_promotion: lossless && blockers.is_empty(),
            planned_promotion_blockers: blockers,
        })
    }

    async fn fence(&self, req: &FenceRequest) -> Result<()> {
        let p = self.pair(&req.target)?;
        self.set_fence(p, &req.target, req.fenced).await
    }

    async fn promote(&self, req: &PromoteRequest) -> Result<()> {
        let p = self.pair(&req.target)?;
        let t = &req.target;
        let project = &p.project;
        // Observe first: a retried promotion whose operation already ended is done.
        let i = self.get(project, t).await?;
        if self.role(p, t, &i) != DatabaseRole::Primary {
            // Never two writable primaries: the old primary must be fenced, or (forced) unreachable.
            let old = &req.old_primary;
            let old_writable = async {
                let o = self.get(&p.project, old).await?;
                Ok::<_, Error>(
                    self.role(p, old, &o) == DatabaseRole::Primary && !self.fenced(p, &o)?,
                )
            };
            match old_writable.await {
                Ok(true) => {
                    return Err(Error::new(
                        ErrorKind::InvalidState,
                        format!(
                        "old primary {} still accepts writes: refusing to promote {} (split-brain)",
                        old.instance, t.instance
                    ),
                    )
                    .with_resource(old.instance.clone()))
                }
                Ok(false) => {}
                Err(e)
                    if req.mode == PromoteMode::Forced
                        && e.retry_status() != RetryStatus::Permanent => {}
                Err(e) => return Err(e),
            }
            if (&p.mode, req.mode) == (&SqlMode::Replica, PromoteMode::Planned) {
                let blockers = switchover::blockers(&self.instances, &p.project, &i).await;
                if !blockers.is_empty() {
                    return Err(Error::new(
                        ErrorKind::InvalidState,
                        format!(
                            "Cloud SQL refuses a switchover to {}: {}; a forced promotion (promoteReplica, behind the RPO gate) does not need them",
                            t.instance,
                            blockers.join("; ")
                        ),
                    )
                    .with_resource(t.instance.clone()));
                }
            }
            let op = self.start_promotion(p, req).await?;
            if !op.is_empty() {
                let verb = match (&p.mode, req.mode) {
                    (SqlMode::Ha { .. }, _) => "failover",
                    (_, PromoteMode::Planned) => "switchover",
                    (_, PromoteMode::Forced) => "promoteReplica",
                };
                self.wait_op(project, &op, &format!("{verb} of {}", what(t)))
                    .await?;
            }
            let after = self.get(project, t).await?;
            if self.role(p, t, &after) != DatabaseRole::Primary {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!(
                        "the promotion of {} ended, but it is still not the primary",
                        what(t)
                    ),
                )
                .with_resource(t.instance.clone()));
            }
        }
        // The new primary takes writes: a fence left on it (from an earlier failover, or the HA
        // instance's own before its failover) is lifted.
        self.set_fence(p, t, false).await
    }

    async fn reverse_replication(&self, req: &ReverseReplicationRequest) -> Result<SyncReport> {
        let p = self.pair(&req.target)?;
        let t = &req.target;
        let i = self.get(&p.project, t).await?;
        let summary = match &p.mode {
            SqlMode::Ha { .. } => format!(
                "{} is the standby of its own HA pair again; Cloud SQL rebuilds the standby by itself, nothing to start",
                what(t)
            ),
            SqlMode::Replica if is_replica(&i) && master_name(&i) == api_name(&req.source.instance) => format!(
                "{} replicates from {} (left so by the switchover, or re-attached by Cloud SQL after a forced promotion once it answered again); Cloud SQL reports no change count or lag here, the replica catches up by itself",
                t.instance, req.source.instance
            ),
            SqlMode::Replica => {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!(
                        "{} is not a replica of {}: Cloud SQL re-attaches it once it answers again (the forced promotion asked `failover=true`); if it stays standalone, re-create it as one by hand: \
                         `gcloud sql instances delete {t}` once its unreplicated writes are saved, then \
                         `gcloud sql instances create {t} --master-instance-name={s}` and \
                         `gcloud sql instances patch {s} --failover-dr-replica-name={t}`",
                        what(t),
                        req.source.instance,
                        t = t.instance,
                        s = req.source.instance
                    ),
                )
                .with_resource(t.instance.clone()))
            }
        };
        Ok(SyncReport {
            pending_changes: 0,
            estimated_catch_up: Duration::ZERO,
            dry_run: req.dry_run,
            summary: Some(summary),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aegis_dr_core::Plan;

    fn spec(primary: &str, dr: &str, options: &str) -> DatabaseSpec {
        let plan = Plan::parse(&format!(
            "[plan]\nname = \"p\"\n[sites.primary]\nprovider = \"gcp\"\nregion = \"us-central1\"\n\
             [sites.dr]\nprovider = \"gcp\"\nregion = \"us-east1\"\n\
             [[databases]]\nname = \"orders\"\nprimary = \"{primary}\"\ndr = \"{dr}\"\noptions = {{ {options} }}\n"
        ))
        .expect("plan");
        plan.databases[0].clone()
    }

    #[test]
    fn modes_and_their_names_are_checked() {
        let p = |s: &DatabaseSpec, a: &str, b: &str| InstancePair::from_spec(s, a.into(), b.into());
        let ha = p(
            &spec(
                "aegis-db:us-central1-a",
                "aegis-db:us-central1-b",
                "mode = \"ha\"",
            ),
            "x-proj",
            "x-proj",
        )
        .expect("ha");
        assert_eq!(
            ha.mode,
            SqlMode::Ha {
                primary_zone: "us-central1-a".into(),
                dr_zone: "us-central1-b".into()
            }
        );
        for (s, want) in [
            (
                spec("aegis-db", "aegis-db-failover", "mode = \"ha\""),
                "name it `instance:zone`",
            ),
            (
                spec(
                    "aegis-db:us-central1-a",
                    "other:us-central1-b",
                    "mode = \"ha\"",
                ),
                "name it `instance:zone`",
            ),
            (
                spec("aegis-db:us-central1-a", "aegis-db-failover", ""),
                "set options.mode = \"ha\"",
            ),
            (
                spec("Aegis_DB", "aegis-db-failover", ""),
                "`Aegis_DB` is not a Cloud SQL instance id",
            ),
            (
                spec("aegis-db", "aegis-db-failover", "fence = \"lock\""),
                "options.fence: `lock`",
            ),
            (
                spec("aegis-db", "aegis-db-failover", "tier = \"x\""),
                "options.tier: not a Cloud SQL option",
            ),
        ] {
            let e = p(&s, "x-proj", "x-proj").expect_err(want);
            assert!(e.to_string().contains(want), "{e}");
        }
        let e = p(
            &spec("aegis-db", "aegis-db-failover", ""),
            "proj-a",
            "proj-b",
        )
        .expect_err("two projects");
        assert!(
            e.to_string().contains("lives in its primary's project"),
            "{e}"
        );
    }
}
