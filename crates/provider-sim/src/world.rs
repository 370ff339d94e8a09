//! The simulated estate's state: what a cloud would hold, with time-dependent behaviour computed from
//! timestamps, persisted as readable JSON so a killed and resumed run sees the world it left.

use std::{collections::BTreeMap, path::Path, time::Duration};

use serde::{Deserialize, Serialize};

use aegis_dr_core::{
    error::{Error, ErrorKind, Result},
    plan::{Plan, PoolSize, SiteRole, WorkloadKind},
    provider::DatabaseRole,
};

/// One database instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimDatabase {
    /// Pair it belongs to.
    pub pair: String,
    /// The site the instance runs at.
    pub site: SiteRole,
    /// Primary or replica.
    pub role: DatabaseRole,
    /// Writes blocked.
    pub fenced: bool,
    /// When the fence was set.
    pub fenced_ms: Option<u64>,
    /// Source instance for replicas.
    pub replicating_from: Option<String>,
    /// Lag while the source takes writes.
    pub lag_ms: u64,
    /// When it last became primary.
    pub promoted_ms: Option<u64>,
    /// Newest backup time.
    pub last_backup_ms: u64,
}

/// One DNS record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimRecord {
    /// Target (one host, or an address set).
    pub target: aegis_dr_core::plan::RecordTargets,
    /// TTL seconds.
    pub ttl: u32,
}

/// One node pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimPool {
    /// Configured size.
    pub size: PoolSize,
    /// Nodes before the last change.
    pub prev_nodes: u32,
    /// When the size last changed.
    pub changed_ms: u64,
}

/// One workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimWorkload {
    /// Desired replicas.
    pub replicas: u32,
    /// Available replicas before the last change.
    pub prev_available: u32,
    /// When replicas last changed.
    pub changed_ms: u64,
    /// The workload's labels (selectors match them).
    pub labels: BTreeMap<String, String>,
    /// Its annotations (the recorded production replica count among them).
    pub annotations: BTreeMap<String, String>,
}

/// A site's traffic state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimSite {
    /// Whether the site answers.
    pub reachable: bool,
    /// When the drain annotation was first applied.
    pub drain_started_ms: Option<u64>,
    /// Since when the site has been healthy.
    pub healthy_since_ms: u64,
}

/// A recovery source server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimSourceServer {
    /// The pool's name in its cluster.
    pub name: String,
    /// `running` or `stopped` (lost in the outage / replaced by its recovery instance).
    pub state: String,
}

/// A recovery instance at the DR site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimRecoveryInstance {
    /// Source server it recovers.
    pub source_server: String,
    /// Drill instance.
    pub is_drill: bool,
    /// When it launched.
    pub launched_ms: u64,
    /// Failback state as stored (time may advance IN_PROGRESS to READY_FOR_LAUNCH).
    pub failback_state: aegis_dr_core::provider::FailbackState,
    /// When the failback state last changed.
    pub failback_changed_ms: u64,
}

/// A recovery job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimJob {
    /// `LAUNCH` or `FAILBACK`.
    pub kind: String,
    /// When the recovery point was taken (epoch milliseconds).
    pub created_ms: u64,
    /// Participants: source servers (LAUNCH) or instance ids (FAILBACK).
    pub participants: Vec<String>,
    /// True when the job is scripted to fail.
    pub fails: bool,
    /// Drill launch.
    pub is_drill: bool,
    /// True once its effects were applied to instances.
    pub applied: bool,
}

/// The whole simulated estate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimWorld {
    /// Format version.
    pub version: u32,
    /// Database instances by id.
    pub databases: BTreeMap<String, SimDatabase>,
    /// Records by `zone/name/type`.
    pub records: BTreeMap<String, SimRecord>,
    /// DNS changes: id to submission time.
    pub changes: BTreeMap<String, u64>,
    /// DNS health checks: id to disabled.
    pub health_checks: BTreeMap<String, bool>,
    /// Node pools by `site/cluster/name`.
    pub pools: BTreeMap<String, SimPool>,
    /// Workloads by `site/cluster/namespace/kind/name`.
    pub workloads: BTreeMap<String, SimWorkload>,
    /// ConfigMaps by `site/namespace/name`.
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// Each site's simulated resources.
    pub sites: BTreeMap<SiteRole, SimSite>,
    /// Recovery source servers by id.
    pub source_servers: BTreeMap<String, SimSourceServer>,
    /// Recovery instances by id.
    pub recovery_instances: BTreeMap<String, SimRecoveryInstance>,
    /// Recovery jobs by id.
    pub jobs: BTreeMap<String, SimJob>,
    /// How often each scripted fault (by index) has fired.
    pub fault_fired: BTreeMap<usize, u32>,
    /// Database snapshots by name: (instance, epoch ms taken).
    #[serde(default)]
    pub snapshots: BTreeMap<String, (String, u64)>,
    /// Sequence for generated ids.
    pub next_id: u64,
}

/// Key of a workload.
pub fn workload_key(
    site: SiteRole,
    cluster: &str,
    ns: &str,
    kind: WorkloadKind,
    name: &str,
) -> String {
    // Built by hand: this runs on every simulated workload call.
    let kind = match kind {
        WorkloadKind::Deployment => "Deployment",
        WorkloadKind::StatefulSet => "StatefulSet",
    };
    let site = site.as_str();
    let mut key =
        String::with_capacity(site.len() + cluster.len() + ns.len() + kind.len() + name.len() + 4);
    for (i, part) in [site, cluster, ns, kind, name].into_iter().enumerate() {
        if i > 0 {
            key.push('/');
        }
        key.push_str(part);
    }
    key
}

/// Key of a pool.
pub fn pool_key(site: SiteRole, cluster: &str, name: &str) -> String {
    format!("{site}/{cluster}/{name}")
}

/// Key of a record.
pub fn record_key(zone: &str, name: &str, rtype: &str) -> String {
    format!("{zone}/{name}/{rtype}")
}

impl SimWorld {
    /// The initial estate described by `plan`: the primary serves, the DR site stands by.
    pub fn from_plan(plan: &Plan, now_ms: u64) -> SimWorld {
        let s = &plan.sim;
        let mut w = SimWorld {
            version: 1,
            databases: BTreeMap::new(),
            records: BTreeMap::new(),
            changes: BTreeMap::new(),
            health_checks: BTreeMap::new(),
            pools: BTreeMap::new(),
            workloads: BTreeMap::new(),
            config_maps: BTreeMap::new(),
            sites: BTreeMap::new(),
            source_servers: BTreeMap::new(),
            recovery_instances: BTreeMap::new(),
            jobs: BTreeMap::new(),
            fault_fired: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            next_id: 1,
        };
        let backup = now_ms.saturating_sub(s.backup_age.as_millis() as u64);
        for d in &plan.databases {
            w.databases.insert(
                d.primary.clone(),
                SimDatabase {
                    pair: d.name.clone(),
                    site: SiteRole::Primary,
                    role: DatabaseRole::Primary,
                    fenced: false,
                    fenced_ms: None,
                    replicating_from: None,
                    lag_ms: 0,
                    promoted_ms: None,
                    last_backup_ms: backup,
                },
            );
            w.databases.insert(
                d.dr.clone(),
                SimDatabase {
                    pair: d.name.clone(),
                    site: SiteRole::Dr,
                    role: DatabaseRole::Replica,
                    fenced: true,
                    fenced_ms: None,
                    replicating_from: Some(d.primary.clone()),
                    lag_ms: s.replication_lag.as_millis() as u64,
                    promoted_ms: None,
                    last_backup_ms: backup,
                },
            );
        }
        for r in &plan.dns_records {
            w.records.insert(
                record_key(&r.zone, &r.name, &r.record_type),
                SimRecord {
                    target: r.primary_target.clone(),
                    ttl: r.ttl,
                },
            );
            if let Some(hc) = &r.health_check {
                w.health_checks.insert(hc.clone(), false);
            }
        }
        for p in &plan.node_pools {
            let size = match p.site {
                SiteRole::Primary => p.production,
                SiteRole::Dr => p.standby,
            };
            w.pools.insert(
                pool_key(p.site, &p.cluster, &p.name),
                SimPool {
                    size,
                    prev_nodes: size.desired,
                    changed_ms: 0,
                },
            );
        }
        for g in &plan.workloads {
            let names: Vec<String> = if g.names.is_empty() {
                vec![g.name.clone()]
            } else {
                g.names.clone()
            };
            let mut labels = BTreeMap::new();
            labels.insert("aegis.io/group".to_string(), g.name.clone());
            if let Some(sel) = &g.selector {
                if let Ok(sel) = aegis_dr_core::provider::LabelSelector::parse(sel) {
                    labels.extend(sel.equals.iter().cloned());
                }
            }
            for site in [SiteRole::Primary, SiteRole::Dr] {
                let cluster = plan.site(site).cluster.clone().unwrap_or_default();
                let replicas = match site {
                    SiteRole::Primary => g.production_replicas,
                    SiteRole::Dr => g.standby_replicas,
                };
                for n in &names {
                    w.workloads.insert(
                        workload_key(site, &cluster, &g.namespace, g.kind, n),
                        SimWorkload {
                            replicas,
                            prev_available: replicas,
                            changed_ms: 0,
                            labels: labels.clone(),
                            annotations: BTreeMap::new(),
                        },
                    );
                }
            }
        }
        for cm in &plan.checks.config_maps {
            let mut data = BTreeMap::new();
            data.insert("version".to_string(), "1".to_string());
            w.config_maps.insert(format!("primary/{cm}"), data.clone());
            if plan.sim.config_drift.contains(cm) {
                data.insert("version".to_string(), "0-drifted".to_string());
            }
            w.config_maps.insert(format!("dr/{cm}"), data);
        }
        let stable = now_ms.saturating_sub(s.primary_stable_for.as_millis() as u64);
        w.sites.insert(
            SiteRole::Primary,
            SimSite {
                reachable: s.primary_reachable,
                drain_started_ms: None,
                healthy_since_ms: stable,
            },
        );
        w.sites.insert(
            SiteRole::Dr,
            SimSite {
                reachable: true,
                drain_started_ms: None,
                healthy_since_ms: stable,
            },
        );
        for r in &plan.recovery_servers {
            w.source_servers.insert(
                r.source_server_id.clone(),
                SimSourceServer {
                    name: r.name.clone(),
                    state: "running".into(),
                },
            );
        }
        w
    }

    /// Loads a persisted world.
    pub fn load(path: &Path) -> Result<SimWorld> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
        serde_json::from_str(&text).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("simulated world is not valid JSON: {e}"),
            )
            .with_resource(path.display().to_string())
        })
    }

    /// The world read from its JSON.
    pub fn from_json(bytes: &[u8]) -> Result<SimWorld> {
        serde_json::from_slice(bytes).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("simulated world is not valid JSON: {e}"),
            )
        })
    }

    /// The world as JSON.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot serialise simulated world: {e}"),
            )
        })
    }

    /// Writes the world atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot serialise simulated world: {e}"),
            )
        })?;
        aegis_dr_core::write_atomic(path, &text)
    }

    /// A new id with `prefix`.
    pub fn new_id(&mut self, prefix: &str) -> String {
        let id = format!("{prefix}{:08x}", self.next_id);
        self.next_id += 1;
        id
    }

    /// Replication lag of replica `id` at `now`.
    pub fn lag(&self, id: &str, now: u64, catch_up_speed: f64) -> Option<Duration> {
        let db = self.databases.get(id)?;
        if db.role != DatabaseRole::Replica {
            return None;
        }
        let src = db
            .replicating_from
            .as_ref()
            .and_then(|s| self.databases.get(s));
        let lag = match src {
            Some(src) if src.fenced => {
                let since = src.fenced_ms.unwrap_or(now);
                let caught_up = (now.saturating_sub(since) as f64 * catch_up_speed) as u64;
                db.lag_ms.saturating_sub(caught_up)
            }
            _ => db.lag_ms,
        };
        Some(Duration::from_millis(lag))
    }

    /// The world without timestamps, generated ids and run ids: what two runs that did the same thing
    /// must agree on (used to compare a crashed-and-resumed run with an uninterrupted one).
    pub fn canonical(&self) -> serde_json::Value {
        use serde_json::Value;
        fn strip(v: &mut Value) {
            match v {
                Value::Object(m) => {
                    if m.contains_key(aegis_dr_core::provider::SCALED_BY_RUN_ANNOTATION) {
                        m.insert(
                            aegis_dr_core::provider::SCALED_BY_RUN_ANNOTATION.into(),
                            Value::String("<run>".into()),
                        );
                    }
                    m.retain(|k, _| {
                        !k.ends_with("_ms")
                            && k != "next_id"
                            && k != "prev_available"
                            && k != "prev_nodes"
                    });
                    m.values_mut().for_each(strip);
                }
                Value::Array(a) => a.iter_mut().for_each(strip),
                _ => {}
            }
        }
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.remove("changes");
            m.remove("jobs");
            m.remove("fault_fired");
            // Snapshots are history, not the estate's state.
            m.remove("snapshots");
            if let Some(Value::Object(inst)) = m.remove("recovery_instances") {
                let mut list: Vec<Value> = inst.into_values().collect();
                list.iter_mut().for_each(strip);
                list.sort_by_key(|x| x.to_string());
                m.insert("recovery_instances".into(), Value::Array(list));
            }
        }
        strip(&mut v);
        v
    }

    /// Checks the invariants; the first violation is returned.
    pub fn check_invariants(&self) -> Result<()> {
        let mut writable: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (id, db) in &self.databases {
            let site_reachable = self
                .sites
                .get(&db.site)
                .map(|s| s.reachable)
                .unwrap_or(true);
            if db.role != DatabaseRole::Replica && !db.fenced && site_reachable {
                writable.entry(&db.pair).or_default().push(id);
            }
        }
        for (pair, ids) in writable {
            if ids.len() > 1 {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!(
                        "split-brain refused: {} would all accept writes",
                        ids.join(" and ")
                    ),
                )
                .with_resource(pair.to_string()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_keys_keep_their_persisted_format() {
        // sim-world.json files written by earlier versions use exactly this shape.
        assert_eq!(
            workload_key(SiteRole::Dr, "dr", "prod", WorkloadKind::StatefulSet, "db"),
            format!(
                "{}/dr/prod/{:?}/db",
                SiteRole::Dr,
                WorkloadKind::StatefulSet
            )
        );
        assert_eq!(
            workload_key(
                SiteRole::Primary,
                "c",
                "ns",
                WorkloadKind::Deployment,
                "api"
            ),
            "primary/c/ns/Deployment/api"
        );
    }
}
