//! Cloud SQL Admin (`sqladmin/v1`): instances, HA `failover`, DR-replica `switchover`,
//! `promoteReplica`, `patch` (labels, flags), backup runs and operations.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};
use tokio::time::Instant;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    reply::{int64, rfc3339, Reply},
    server::{check, Req, SimState},
};

/// One Cloud SQL instance.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub region: String,
    pub zone: String,
    /// The HA standby's zone (a `REGIONAL` instance).
    pub secondary_zone: Option<String>,
    pub database_version: String,
    /// `settings.edition`: `ENTERPRISE` or `ENTERPRISE_PLUS` (switchover needs the latter on both).
    pub edition: String,
    /// `settings.backupConfiguration.pointInTimeRecoveryEnabled` (a PostgreSQL primary's
    /// switchover needs it).
    pub pitr: bool,
    /// Promoted away from with `promoteReplica?failover=true` while out: when it answers again it
    /// becomes a replica of this instance.
    pub reattach_to: Option<String>,
    /// The primary it replicates from (a read replica).
    pub master: Option<String>,
    pub replicas: Vec<String>,
    /// True for the primary's designated DR replica (`replicationCluster.drReplica`).
    pub dr_replica: bool,
    /// On a primary: its DR replica (`replicationCluster.failoverDrReplicaName`).
    pub failover_dr_replica: Option<String>,
    pub settings_version: i64,
    pub labels: BTreeMap<String, String>,
    pub flags: BTreeMap<String, String>,
    /// End times of successful backup runs.
    pub backups: Vec<SystemTime>,
    /// The operation running on it.
    pub busy: Option<String>,
}

/// What an operation does when it ends.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    Failover,
    Switchover {
        old_primary: String,
    },
    /// `failover`: the old primary is re-attached as this one's replica when it returns.
    Promote {
        failover: bool,
    },
    Patch {
        labels: Option<BTreeMap<String, String>>,
        flags: Option<BTreeMap<String, String>>,
    },
}

#[derive(Debug)]
pub(crate) struct Operation {
    /// Its error when it fails: (code, message); a failed operation changes nothing.
    error: Option<(String, String)>,
    instance: String,
    kind: &'static str,
    inserted: SystemTime,
    started: Instant,
    done_at: Instant,
    effect: Effect,
    applied: bool,
}

/// The Cloud SQL part of the state.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub instances: BTreeMap<String, Instance>,
    operations: BTreeMap<String, Operation>,
}

impl Sql {
    /// Re-attaches an old primary promoted away from with `failover=true` once it answers again:
    /// it becomes the promoted instance's (DR) replica and stops taking writes.
    pub(crate) fn reattach(&mut self, down: &[String]) {
        let back: Vec<(String, String)> = self
            .instances
            .iter()
            .filter(|(n, _)| !down.contains(n))
            .filter_map(|(n, i)| Some((n.clone(), i.reattach_to.clone()?)))
            .collect();
        for (old, new) in back {
            if let Some(o) = self.instances.get_mut(&old) {
                o.reattach_to = None;
                o.master = Some(new.clone());
                o.replicas.clear();
                o.dr_replica = true;
                o.failover_dr_replica = None;
            }
            if let Some(n) = self.instances.get_mut(&new) {
                n.replicas.push(old.clone());
                n.failover_dr_replica = Some(old);
            }
        }
    }

    /// Ends the operations whose time has come.
    pub(crate) fn advance(&mut self, now: Instant) {
        let due: Vec<String> = self
            .operations
            .iter()
            .filter(|(_, o)| !o.applied && o.done_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for id in due {
            let Some(op) = self.operations.get_mut(&id) else {
                continue;
            };
            op.applied = true;
            let (name, effect, failed) =
                (op.instance.clone(), op.effect.clone(), op.error.is_some());
            if let Some(i) = self.instances.get_mut(&name) {
                i.busy = None;
            }
            if !failed {
                self.apply(&name, effect);
            }
        }
    }

    fn apply(&mut self, name: &str, effect: Effect) {
        match effect {
            Effect::Failover => {
                if let Some(i) = self.instances.get_mut(name) {
                    if let Some(z) = i.secondary_zone.take() {
                        i.secondary_zone = Some(std::mem::replace(&mut i.zone, z));
                    }
                }
            }
            Effect::Switchover { old_primary } => {
                let others: Vec<String> = self
                    .instances
                    .get(&old_primary)
                    .map(|o| o.replicas.iter().filter(|r| *r != name).cloned().collect())
                    .unwrap_or_default();
                // The backup configuration (point-in-time recovery) moves with the primary role.
                let pitr = self.instances.get(&old_primary).is_some_and(|o| o.pitr);
                if let Some(old) = self.instances.get_mut(&old_primary) {
                    old.pitr = false;
                    old.master = Some(name.to_string());
                    old.replicas.clear();
                    old.dr_replica = true;
                    old.failover_dr_replica = None;
                }
                if let Some(new) = self.instances.get_mut(name) {
                    new.pitr = pitr;
                    new.master = None;
                    new.dr_replica = false;
                    new.failover_dr_replica = Some(old_primary.clone());
                    new.replicas = std::iter::once(old_primary.clone())
                        .chain(others.iter().cloned())
                        .collect();
                }
                for r in others {
                    if let Some(i) = self.instances.get_mut(&r) {
                        i.master = Some(name.to_string());
                    }
                }
            }
            Effect::Promote { failover } => {
                let master = self.instances.get(name).and_then(|i| i.master.clone());
                if let Some(m) = master.and_then(|m| self.instances.get_mut(&m)) {
                    m.replicas.retain(|r| r != name);
                    if m.failover_dr_replica.as_deref() == Some(name) {
                        m.failover_dr_replica = None;
                    }
                    if failover {
                        m.reattach_to = Some(name.to_string());
                    }
                }
                if let Some(i) = self.instances.get_mut(name) {
                    i.master = None;
                    i.dr_replica = false;
                }
            }
            Effect::Patch { labels, flags } => {
                if let Some(i) = self.instances.get_mut(name) {
                    if let Some(l) = labels {
                        i.labels = l;
                    }
                    if let Some(f) = flags {
                        i.flags = f;
                    }
                    i.settings_version += 1;
                }
            }
        }
    }

    fn instance_json(&self, s: &SimState, name: &str, i: &Instance, base: &str) -> Value {
        let project = &s.project;
        let mut settings = json!({
            "kind": "sql#settings",
            "tier": "db-custom-4-16384",
            "availabilityType": if i.secondary_zone.is_some() { "REGIONAL" } else { "ZONAL" },
            "settingsVersion": i.settings_version.to_string(),
            "activationPolicy": "ALWAYS",
            "edition": i.edition,
            "backupConfiguration": { "kind": "sql#backupConfiguration", "enabled": i.master.is_none(), "pointInTimeRecoveryEnabled": i.pitr },
            "userLabels": i.labels,
            "databaseFlags": i.flags.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect::<Vec<_>>(),
        });
        if i.labels.is_empty() {
            settings["userLabels"] = json!({});
        }
        let mut v = json!({
            "kind": "sql#instance",
            "name": name,
            "project": project,
            "region": i.region,
            "gceZone": i.zone,
            "databaseVersion": i.database_version,
            "state": "RUNNABLE",
            "backendType": "SECOND_GEN",
            "instanceType": if i.master.is_some() { "READ_REPLICA_INSTANCE" } else { "CLOUD_SQL_INSTANCE" },
            "connectionName": format!("{project}:{}:{name}", i.region),
            "selfLink": format!("{base}/v1/projects/{project}/instances/{name}"),
            "settings": settings,
            "replicaNames": i.replicas,
            "replicationCluster": { "drReplica": i.dr_replica },
        });
        if let Some(z) = &i.secondary_zone {
            v["secondaryGceZone"] = json!(z);
        }
        if let Some(m) = &i.master {
            // `project:instance`, as Cloud SQL answers it (Terraform's provider strips the project).
            v["masterInstanceName"] = json!(format!("{project}:{m}"));
            v["replicaConfiguration"] =
                json!({ "kind": "sql#replicaConfiguration", "failoverTarget": false });
        }
        if let Some(d) = &i.failover_dr_replica {
            v["replicationCluster"]["failoverDrReplicaName"] = json!(d);
        }
        v
    }

    fn operation_json(
        &self,
        s: &SimState,
        id: &str,
        op: &Operation,
        now: Instant,
        base: &str,
    ) -> Value {
        let project = &s.project;
        let status = if now >= op.done_at {
            "DONE"
        } else if now >= op.started + (op.done_at - op.started) / 3 {
            "RUNNING"
        } else {
            "PENDING"
        };
        let mut v = json!({
            "kind": "sql#operation",
            "name": id,
            "status": status,
            "operationType": op.kind,
            "user": "aegis-dr@aegis-prod.iam.gserviceaccount.com",
            "insertTime": rfc3339(op.inserted),
            "targetId": op.instance,
            "targetProject": project,
            "targetLink": format!("{base}/v1/projects/{project}/instances/{}", op.instance),
            "selfLink": format!("{base}/v1/projects/{project}/operations/{id}"),
        });
        if status == "DONE" {
            v["endTime"] = json!(rfc3339(SystemTime::now()));
            if let Some((code, message)) = &op.error {
                v["error"] = json!({ "kind": "sql#operationErrors", "errors": [
                    { "kind": "sql#operationError", "code": code, "message": message }
                ]});
            }
        }
        v
    }
}

fn busy(_name: &str) -> Reply {
    Reply::legacy_error(
        StatusCode::CONFLICT,
        "operationInProgress",
        "Operation failed because another operation was already in progress. Try your request after the current operation is complete.",
    )
}

fn invalid(message: impl Into<String>) -> Reply {
    Reply::legacy_error(StatusCode::BAD_REQUEST, "invalidOperation", message)
}

/// Starts an operation of the default duration (`op_time`) on `name`.
fn start(s: &mut SimState, req: &Req, name: &str, kind: &'static str, effect: Effect) -> Reply {
    let took = s.op_time;
    start_for(s, req, name, (kind, took), effect)
}

/// Starts an operation of `kind` taking `took` on `name`: the instance is busy until it ends.
fn start_for(
    s: &mut SimState,
    req: &Req,
    name: &str,
    (kind, took): (&'static str, Duration),
    effect: Effect,
) -> Reply {
    let id = format!("{:08x}-0000-4000-8000-aegis00000000", s.new_id());
    let op = Operation {
        error: s.fail_next_operation.take(),
        instance: name.to_string(),
        kind,
        inserted: SystemTime::now(),
        started: req.now,
        done_at: req.now + took,
        effect,
        applied: false,
    };
    if let Some(i) = s.sql.instances.get_mut(name) {
        i.busy = Some(id.clone());
    }
    let v = s.sql.operation_json(s, &id, &op, req.now, req.base);
    s.sql.operations.insert(id, op);
    Reply::ok(v)
}

/// A `databaseFlags` list as a map.
fn flags_of(v: &Value) -> Option<BTreeMap<String, String>> {
    Some(
        v.as_array()?
            .iter()
            .filter_map(|f| {
                Some((
                    f["name"].as_str()?.to_string(),
                    f["value"].as_str().unwrap_or("").to_string(),
                ))
            })
            .collect(),
    )
}

fn labels_of(v: &Value) -> Option<BTreeMap<String, String>> {
    Some(
        v.as_object()?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
    )
}

pub(crate) fn handle(s: &mut SimState, req: &Req) -> Reply {
    let rest: Vec<&str> = req.rest.iter().map(String::as_str).collect();
    let project = s.project.clone();
    if let ["operations", id] = rest.as_slice() {
        if let Err(r) = check(s, "cloudsql.instances.get", &format!("projects/{project}")) {
            return r;
        }
        return match s.sql.operations.get(*id) {
            Some(op) => Reply::ok(s.sql.operation_json(s, id, op, req.now, req.base)),
            None => Reply::not_found(&format!("operation {id}")),
        };
    }
    if *req.method == Method::GET && rest.as_slice() == ["instances"] {
        if let Err(r) = check(s, "cloudsql.instances.list", &format!("projects/{project}")) {
            return r;
        }
        let items: Vec<Value> = s
            .sql
            .instances
            .iter()
            .map(|(name, i)| s.sql.instance_json(s, name, i, req.base))
            .collect();
        return Reply::ok(json!({ "kind": "sql#instancesList", "items": items }));
    }
    let (name, action) = match rest.as_slice() {
        ["instances", name] => (*name, None),
        ["instances", name, action] => (*name, Some(*action)),
        _ => return Reply::not_found("resource"),
    };
    let resource = format!("projects/{project}/instances/{name}");
    if s.down_instances.iter().any(|d| d == name) {
        return Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "backendError",
            format!("Instance {name}'s region is unavailable."),
        );
    }
    let Some(inst) = s.sql.instances.get(name).cloned() else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "instanceDoesNotExist",
            "The Cloud SQL instance does not exist.",
        );
    };
    let perm = match (req.method.clone(), action) {
        (Method::GET, None) => "cloudsql.instances.get",
        (Method::PATCH, None) => "cloudsql.instances.update",
        (Method::GET, Some("backupRuns")) => "cloudsql.backupRuns.list",
        (Method::POST, Some("failover" | "switchover")) => "cloudsql.instances.failover",
        (Method::POST, Some("promoteReplica")) => "cloudsql.instances.promoteReplica",
        _ => return Reply::not_found(&format!("method {} {}", req.method, rest.join("/"))),
    };
    if let Err(r) = check(s, perm, &resource) {
        return r;
    }
    match (req.method.clone(), action) {
        (Method::GET, None) => Reply::ok(s.sql.instance_json(s, name, &inst, req.base)),
        (Method::GET, Some(_)) => {
            let items: Vec<Value> = inst
                .backups
                .iter()
                .enumerate()
                .map(|(n, t)| {
                    json!({
                        "kind": "sql#backupRun",
                        "id": (1_700_000_000_000u64 + n as u64).to_string(),
                        "status": "SUCCESSFUL",
                        "type": "AUTOMATED",
                        "instance": name,
                        "windowStartTime": rfc3339(*t - Duration::from_secs(600)),
                        "startTime": rfc3339(*t - Duration::from_secs(300)),
                        "endTime": rfc3339(*t),
                        "backupKind": "SNAPSHOT",
                    })
                })
                .rev()
                .collect();
            Reply::ok(json!({ "kind": "sql#backupRunsList", "items": items }))
        }
        _ if inst.busy.is_some() => busy(name),
        (Method::PATCH, None) => {
            let settings = &req.body["settings"];
            if let Some(v) = settings.get("settingsVersion").and_then(int64) {
                if v != inst.settings_version {
                    return stale(name);
                }
            }
            let effect = Effect::Patch {
                labels: settings.get("userLabels").and_then(labels_of),
                flags: settings.get("databaseFlags").and_then(flags_of),
            };
            start(s, req, name, "UPDATE", effect)
        }
        (_, Some("failover")) => {
            if inst.secondary_zone.is_none() {
                return invalid(format!(
                    "The requested operation is not valid for an instance that is not configured for high availability: {name}."
                ));
            }
            let given = req.body["failoverContext"]["settingsVersion"].clone();
            if int64(&given) != Some(inst.settings_version) {
                return stale(name);
            }
            let took = s.failover_time;
            start_for(s, req, name, ("FAILOVER", took), Effect::Failover)
        }
        (_, Some("switchover")) => {
            let Some(old) = inst.master.clone() else {
                return invalid(format!(
                    "Instance {name} is not a replica: only a DR replica can be switched over to."
                ));
            };
            if !inst.dr_replica {
                return invalid(format!(
                    "Instance {name} is not the DR replica of {old}: set it with `replicationCluster.failoverDrReplicaName` first."
                ));
            }
            if s.down_instances.contains(&old) {
                return Reply::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "backendError",
                    format!("The primary instance {old} is unavailable: a switchover needs it; promote the replica instead."),
                );
            }
            if s.sql.instances.get(&old).is_some_and(|o| o.busy.is_some()) {
                return busy(&old);
            }
            if let Some(why) = switchover_refusal(s, &inst, &old) {
                return invalid(why);
            }
            // The switchover runs up to its dbTimeout (10 min unless given), then fails.
            let limit = req
                .param("dbTimeout")
                .and_then(duration_param)
                .unwrap_or(Duration::from_secs(600));
            let took = s.switchover_time;
            if took > limit {
                s.fail_next_operation = Some((
                    "SWITCHOVER_TIMEOUT".into(),
                    format!(
                        "The switchover did not complete within its dbTimeout of {}s.",
                        limit.as_secs()
                    ),
                ));
            }
            start_for(
                s,
                req,
                name,
                ("SWITCHOVER", took.min(limit)),
                Effect::Switchover { old_primary: old },
            )
        }
        (_, Some(_)) => {
            if inst.master.is_none() {
                return invalid(format!("Instance {name} is not a read replica."));
            }
            let failover = req.param("failover") == Some("true");
            let took = s.promote_time;
            start_for(
                s,
                req,
                name,
                ("PROMOTE_REPLICA", took),
                Effect::Promote { failover },
            )
        }
        _ => Reply::not_found("method"),
    }
}

/// A stale `settingsVersion` (a patch's, as recorded; a failover's, by the same check).
fn stale(_name: &str) -> Reply {
    Reply::legacy_error(
        StatusCode::PRECONDITION_FAILED,
        "staleData",
        "Condition does not match.",
    )
}

/// Why `replica` cannot be switched over to from `primary` now, in Cloud SQL's terms (the advanced
/// disaster recovery requirements); the refusal's wording is the simulator's own (Google documents
/// none).
fn switchover_refusal(s: &SimState, replica: &Instance, old: &str) -> Option<String> {
    let primary = s.sql.instances.get(old)?;
    let mut why = Vec::new();
    for (n, i) in [(old, primary), ("the DR replica", replica)] {
        if i.edition != "ENTERPRISE_PLUS" {
            why.push(format!("{n} is edition {}, not ENTERPRISE_PLUS", i.edition));
        }
    }
    if primary.database_version.starts_with("POSTGRES") && !primary.pitr {
        why.push(format!(
            "point-in-time recovery is off on the primary {old}"
        ));
    }
    if primary.database_version != replica.database_version {
        why.push(format!(
            "the versions differ ({} and {})",
            primary.database_version, replica.database_version
        ));
    }
    if primary.master.is_some() {
        why.push(format!(
            "{old} is itself a replica (a cascading replica cannot be switched over to)"
        ));
    }
    for f in SWITCHOVER_EQUAL_FLAGS {
        if primary.flags.get(*f) != replica.flags.get(*f) {
            why.push(format!("flag {f} differs from the primary's"));
        }
    }
    (!why.is_empty()).then(|| {
        format!(
            "The instance does not meet the requirements for switchover: {}.",
            why.join("; ")
        )
    })
}

/// PostgreSQL flags a DR replica must hold at exactly the primary's value for a switchover.
pub const SWITCHOVER_EQUAL_FLAGS: &[&str] = &[
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_parallel_workers",
    "max_locks_per_transaction",
    "max_parallel_maintenance_workers",
    "max_parallel_workers_per_gather",
];

/// A `google.protobuf.Duration` in its JSON form (`600s`, `1.5s`).
fn duration_param(v: &str) -> Option<Duration> {
    Duration::try_from_secs_f64(v.strip_suffix('s')?.parse().ok()?).ok()
}

impl SimState {
    /// Adds a Cloud SQL primary: region, zone, HA standby zone (`REGIONAL`) when given, one
    /// successful backup `backup_age` ago when given.
    pub fn add_sql_primary(
        &mut self,
        name: &str,
        region: &str,
        zone: &str,
        standby_zone: Option<&str>,
        backup_age: Option<Duration>,
    ) {
        self.sql.instances.insert(
            name.to_string(),
            Instance {
                region: region.into(),
                zone: zone.into(),
                secondary_zone: standby_zone.map(str::to_string),
                database_version: "POSTGRES_15".into(),
                edition: "ENTERPRISE_PLUS".into(),
                pitr: true,
                reattach_to: None,
                master: None,
                replicas: Vec::new(),
                dr_replica: false,
                failover_dr_replica: None,
                settings_version: 1,
                labels: BTreeMap::new(),
                flags: BTreeMap::new(),
                backups: backup_age
                    .map(|a| SystemTime::now() - a)
                    .into_iter()
                    .collect(),
                busy: None,
            },
        );
    }

    /// Adds a cross-region read replica of `master`; `dr` makes it the master's DR replica.
    pub fn add_sql_replica(
        &mut self,
        name: &str,
        master: &str,
        region: &str,
        zone: &str,
        dr: bool,
    ) {
        if let Some(m) = self.sql.instances.get_mut(master) {
            m.replicas.push(name.into());
            if dr {
                m.failover_dr_replica = Some(name.into());
            }
        }
        self.sql.instances.insert(
            name.to_string(),
            Instance {
                region: region.into(),
                zone: zone.into(),
                secondary_zone: None,
                database_version: "POSTGRES_15".into(),
                edition: "ENTERPRISE_PLUS".into(),
                pitr: false,
                reattach_to: None,
                master: Some(master.into()),
                replicas: Vec::new(),
                dr_replica: dr,
                failover_dr_replica: None,
                settings_version: 1,
                labels: BTreeMap::new(),
                flags: BTreeMap::new(),
                backups: Vec::new(),
                busy: None,
            },
        );
    }

    /// An instance as (master it replicates from, zone, labels, flags, settingsVersion).
    pub fn sql_instance(&self, name: &str) -> Option<SqlInstanceSummary> {
        self.sql.instances.get(name).map(|i| SqlInstanceSummary {
            master: i.master.clone(),
            zone: i.zone.clone(),
            labels: i.labels.clone(),
            flags: i.flags.clone(),
            settings_version: i.settings_version,
        })
    }

    /// Sets an instance's edition (`ENTERPRISE`, `ENTERPRISE_PLUS`).
    pub fn set_sql_edition(&mut self, name: &str, edition: &str) {
        if let Some(i) = self.sql.instances.get_mut(name) {
            i.edition = edition.into();
        }
    }

    /// Turns point-in-time recovery on or off.
    pub fn set_point_in_time_recovery(&mut self, name: &str, on: bool) {
        if let Some(i) = self.sql.instances.get_mut(name) {
            i.pitr = on;
        }
    }

    /// Sets an instance's database version (`POSTGRES_15`, `POSTGRES_16`).
    pub fn set_database_version(&mut self, name: &str, version: &str) {
        if let Some(i) = self.sql.instances.get_mut(name) {
            i.database_version = version.into();
        }
    }

    /// Sets a database flag (as another operator would): its `settingsVersion` moves on.
    pub fn set_sql_flag(&mut self, name: &str, flag: &str, value: &str) {
        if let Some(i) = self.sql.instances.get_mut(name) {
            i.flags.insert(flag.into(), value.into());
            i.settings_version += 1;
        }
    }

    /// Changes an instance's settings behind the client's back (another operator's edit): its
    /// `settingsVersion` moves on.
    pub fn bump_settings_version(&mut self, name: &str) {
        if let Some(i) = self.sql.instances.get_mut(name) {
            i.settings_version += 1;
        }
    }
}

/// What a test reads of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlInstanceSummary {
    /// The primary it replicates from; `None` for a primary.
    pub master: Option<String>,
    /// Zone serving it.
    pub zone: String,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// Database flags.
    pub flags: BTreeMap<String, String>,
    /// `settings.settingsVersion`.
    pub settings_version: i64,
}
