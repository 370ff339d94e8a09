//! GKE (`container/v1`) node pools with `setSize` / `setAutoscaling` as operations, and the Compute
//! (`compute/v1`) managed instance groups that hold a pool's nodes, one per zone: GKE's API has no
//! node count of its own; a pool's size is its groups' `targetSize`.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};
use tokio::time::Instant;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    reply::{enum_name, int64, rfc3339, Reply},
    server::{check, Req, SimState},
};

/// A pool as a test reads it: (nodes per zone, zones, autoscaling bounds, an operation running).
pub type PoolSummary = (u32, usize, Option<(u32, u32)>, bool);

/// One node pool.
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    zones: Vec<String>,
    /// Nodes per zone (every zone's group's `targetSize`).
    per_zone: u32,
    /// Nodes per zone that exist and run (lags `per_zone` while an operation runs).
    running: u32,
    /// Total autoscaling bounds, when the autoscaler is on.
    autoscaling: Option<(u32, u32)>,
    /// The operation running on it.
    busy: Option<String>,
    /// Why its last resize did not bring every node up (a stockout): `RUNNING_WITH_ERROR`.
    error: Option<String>,
}

#[derive(Debug, Clone)]
enum Effect {
    Size(u32),
    Autoscaling(Option<(u32, u32)>),
    /// A cluster-level operation (an upgrade): it holds the cluster, changes no pool.
    Cluster,
}

#[derive(Debug)]
struct Operation {
    /// (location, cluster, pool); the pool is empty for a cluster-level operation.
    pool: (String, String, String),
    kind: &'static str,
    started: SystemTime,
    done_at: Instant,
    effect: Effect,
    applied: bool,
    /// It ends `DONE` with this error (a stockout), the nodes it could not create missing.
    error: Option<String>,
}

/// The GKE part of the state: pools by (location, cluster, pool).
#[derive(Debug)]
pub(crate) struct Gke {
    pools: BTreeMap<(String, String, String), Pool>,
    operations: BTreeMap<String, Operation>,
    /// Operations one cluster may run at once (GKE's concurrent-operations quota); one more is
    /// answered 429.
    pub(crate) concurrent_operations: usize,
    /// Zones out of capacity for new VMs (`GCE_STOCKOUT`): a resize growing a pool there ends in
    /// error, its nodes not created.
    pub(crate) stockout_zones: Vec<String>,
}

impl Default for Gke {
    fn default() -> Gke {
        Gke {
            pools: BTreeMap::new(),
            operations: BTreeMap::new(),
            concurrent_operations: 5,
            stockout_zones: Vec::new(),
        }
    }
}

fn group_name(cluster: &str, pool: &str, zone: &str) -> String {
    format!(
        "gke-{cluster}-{pool}-{}-grp",
        zone.rsplit('-').next().unwrap_or(zone)
    )
}

impl Gke {
    pub(crate) fn advance(&mut self, now: Instant) {
        for op in self.operations.values_mut() {
            if op.applied || op.done_at > now {
                continue;
            }
            op.applied = true;
            if let Some(p) = self.pools.get_mut(&op.pool) {
                p.busy = None;
                match (&op.effect, &op.error) {
                    // Out of capacity: the group keeps its target, the nodes it could not create
                    // stay missing (GKE and Compute retry by themselves, later).
                    (Effect::Size(_), Some(e)) => p.error = Some(e.clone()),
                    (Effect::Size(n), None) => {
                        p.running = *n;
                        p.error = None;
                    }
                    (Effect::Autoscaling(a), _) => p.autoscaling = *a,
                    (Effect::Cluster, _) => {}
                }
            }
        }
    }

    fn pool_json(
        &self,
        key: &(String, String, String),
        p: &Pool,
        project: &str,
        base: &str,
    ) -> Value {
        let (location, cluster, name) = key;
        let mut autoscaling = json!({});
        if let Some((min, max)) = p.autoscaling {
            autoscaling = json!({ "enabled": true, "totalMinNodeCount": min, "totalMaxNodeCount": max, "locationPolicy": "BALANCED" });
        }
        json!({
            "name": name,
            "config": { "machineType": "e2-standard-4", "diskSizeGb": 100 },
            "initialNodeCount": 3,
            "locations": p.zones,
            "instanceGroupUrls": p.zones.iter().map(|z| format!(
                "{base}/compute/v1/projects/{project}/zones/{z}/instanceGroupManagers/{}",
                group_name(cluster, name, z)
            )).collect::<Vec<_>>(),
            "status": if p.busy.is_some() { "RECONCILING" } else if p.error.is_some() { "RUNNING_WITH_ERROR" } else { "RUNNING" },
            "statusMessage": p.error.as_ref().map(|e| format!("{location}: {e}")).unwrap_or_default(),
            "conditions": p.error.iter().map(|e| json!({ "code": "GCE_STOCKOUT", "message": e, "canonicalCode": "RESOURCE_EXHAUSTED" })).collect::<Vec<_>>(),
            "autoscaling": autoscaling,
            "management": { "autoUpgrade": true, "autoRepair": true },
            "version": "1.30.5-gke.1014001",
            "selfLink": format!("{base}/v1/projects/{project}/locations/{location}/clusters/{cluster}/nodePools/{name}"),
            "etag": format!("{}-{}", p.per_zone, p.autoscaling.map(|a| a.1).unwrap_or(0)),
        })
    }

    fn operation_json(
        &self,
        id: &str,
        op: &Operation,
        now: Instant,
        project: &str,
        base: &str,
    ) -> Value {
        let (location, cluster, pool) = &op.pool;
        let done = now >= op.done_at;
        let mut v = json!({
            "name": id,
            "zone": location,
            "location": location,
            "operationType": op.kind,
            "status": if done { "DONE" } else { "RUNNING" },
            "selfLink": format!("{base}/v1/projects/{project}/locations/{location}/operations/{id}"),
            "targetLink": format!("{base}/v1/projects/{project}/locations/{location}/clusters/{cluster}/nodePools/{pool}"),
            "startTime": rfc3339(op.started),
        });
        if done {
            v["endTime"] = json!(rfc3339(SystemTime::now()));
            if let Some(e) = &op.error {
                // google.rpc.Status: RESOURCE_EXHAUSTED.
                v["error"] = json!({ "code": 8, "message": e });
                v["statusMessage"] = json!(e);
            }
        }
        v
    }

    /// The operation holding `cluster` at cluster level (an upgrade), if one runs.
    fn cluster_operation(&self, cluster: &str, now: Instant) -> Option<&str> {
        self.operations
            .iter()
            .find(|(_, o)| {
                matches!(o.effect, Effect::Cluster) && o.pool.1 == cluster && o.done_at > now
            })
            .map(|(id, _)| id.as_str())
    }

    /// Operations running on `cluster` now.
    fn running_on(&self, cluster: &str, now: Instant) -> usize {
        self.operations
            .values()
            .filter(|o| o.pool.1 == cluster && o.done_at > now)
            .count()
    }
}

/// `clusters.list` (`locations/-` for every location) and `nodePools.list`; none for any other
/// path. Clusters are those holding a pool.
fn list(s: &SimState, rest: &[&str], project: &str, base: &str) -> Option<Reply> {
    let parent = format!("projects/{project}/locations/{}", rest.get(1)?);
    match rest {
        ["locations", location, "clusters"] => {
            if let Err(r) = check(s, "container.clusters.list", &parent) {
                return Some(r);
            }
            let mut seen = std::collections::BTreeSet::new();
            let clusters: Vec<Value> = s
                .gke
                .pools
                .keys()
                .filter(|(l, _, _)| *location == "-" || l == location)
                .filter(|(l, c, _)| seen.insert((l.clone(), c.clone())))
                .map(|(l, c, _)| {
                    let pools: Vec<Value> = s
                        .gke
                        .pools
                        .iter()
                        .filter(|((pl, pc, _), _)| pl == l && pc == c)
                        .map(|(k, p)| s.gke.pool_json(k, p, project, base))
                        .collect();
                    json!({
                        "name": c,
                        "location": l,
                        "status": "RUNNING",
                        "currentMasterVersion": "1.30.5-gke.1014001",
                        "nodePools": pools,
                        "selfLink": format!("{base}/v1/projects/{project}/locations/{l}/clusters/{c}"),
                    })
                })
                .collect();
            Some(Reply::ok(json!({ "clusters": clusters })))
        }
        ["locations", location, "clusters", cluster, "nodePools"] => {
            let resource = format!("{parent}/clusters/{cluster}");
            if let Err(r) = check(s, "container.clusters.get", &resource) {
                return Some(r);
            }
            let pools: Vec<Value> = s
                .gke
                .pools
                .iter()
                .filter(|((l, c, _), _)| l == location && c == cluster)
                .map(|(k, p)| s.gke.pool_json(k, p, project, base))
                .collect();
            if pools.is_empty() {
                return Some(Reply::error(
                    StatusCode::NOT_FOUND,
                    "notFound",
                    format!("Not found: {resource}."),
                ));
            }
            Some(Reply::ok(json!({ "nodePools": pools })))
        }
        _ => None,
    }
}

pub(crate) fn handle(s: &mut SimState, req: &Req) -> Reply {
    let rest: Vec<&str> = req.rest.iter().map(String::as_str).collect();
    let project = s.project.clone();
    if let ["locations", location, "operations", id] = rest.as_slice() {
        if let Err(r) = check(
            s,
            "container.operations.get",
            &format!("projects/{project}/locations/{location}"),
        ) {
            return r;
        }
        return match s.gke.operations.get(*id) {
            Some(op) => Reply::ok(s.gke.operation_json(id, op, req.now, &project, req.base)),
            None => Reply::not_found(&format!("operation {id}")),
        };
    }
    if req.method == Method::GET {
        if let Some(reply) = list(s, &rest, &project, req.base) {
            return reply;
        }
    }
    let ["locations", location, "clusters", cluster, "nodePools", last] = rest.as_slice() else {
        return Reply::not_found("resource");
    };
    let (pool, verb) = match last.split_once(':') {
        Some((p, v)) => (p, Some(v)),
        None => (*last, None),
    };
    let resource = format!("projects/{project}/locations/{location}/clusters/{cluster}");
    let perm = match (req.method.clone(), verb) {
        (Method::GET, None) => "container.clusters.get",
        (Method::POST, Some("setSize" | "setAutoscaling")) => "container.clusters.update",
        _ => return Reply::not_found(&format!("method {} {}", req.method, rest.join("/"))),
    };
    if let Err(r) = check(s, perm, &resource) {
        return r;
    }
    let key = (location.to_string(), cluster.to_string(), pool.to_string());
    let Some(p) = s.gke.pools.get(&key).cloned() else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "notFound",
            format!("Not found: projects/{project}/locations/{location}/clusters/{cluster}/nodePools/{pool}."),
        );
    };
    if verb.is_none() {
        return Reply::ok(s.gke.pool_json(&key, &p, &project, req.base));
    }
    // GKE runs one cluster-level operation, or one per pool, at a time (its own upgrades
    // included), and at most its quota of operations per cluster.
    if let Some(op) = s.gke.cluster_operation(cluster, req.now) {
        return Reply::error_as(
            StatusCode::BAD_REQUEST,
            "FAILED_PRECONDITION",
            "failedPrecondition",
            format!("Operation {op} is currently upgrading cluster {cluster}. Please wait and try again once it is done."),
        );
    }
    if let Some(op) = &p.busy {
        return Reply::error_as(
            StatusCode::BAD_REQUEST,
            "FAILED_PRECONDITION",
            "failedPrecondition",
            format!("Cluster is running incompatible operation {op}."),
        );
    }
    if s.gke.running_on(cluster, req.now) >= s.gke.concurrent_operations {
        return Reply::error(
            StatusCode::TOO_MANY_REQUESTS,
            "rateLimitExceeded",
            format!("Too many operations: cluster \"{cluster}\" hits the concurrent operations quota {}, please try again later.", s.gke.concurrent_operations),
        );
    }
    let (kind, effect) = if verb == Some("setSize") {
        let Some(n) = int64(&req.body["nodeCount"]).and_then(|n| u32::try_from(n).ok()) else {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "Invalid value for field 'nodeCount'.",
            );
        };
        ("SET_NODE_POOL_SIZE", Effect::Size(n))
    } else {
        let a = &req.body["autoscaling"];
        let enabled = a["enabled"].as_bool().unwrap_or(false);
        if !a["locationPolicy"].is_null()
            && enum_name("locationPolicy", &a["locationPolicy"]).is_none()
        {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!(
                    "Invalid value for field 'autoscaling.locationPolicy': {}",
                    a["locationPolicy"]
                ),
            );
        }
        let bounds = if enabled {
            let min = int64(&a["totalMinNodeCount"]).unwrap_or(0);
            let max = int64(&a["totalMaxNodeCount"]).unwrap_or(0);
            if max < 1 || min > max || min < 0 {
                return Reply::error(StatusCode::BAD_REQUEST, "invalid", format!(
                    "Invalid autoscaling bounds: total_min_node_count {min}, total_max_node_count {max}."
                ));
            }
            Some((min as u32, max as u32))
        } else {
            None
        };
        ("SET_NODE_POOL_MANAGEMENT", Effect::Autoscaling(bounds))
    };
    let id = format!(
        "operation-{}-aegis{:04}",
        1_700_000_000u64 + s.next_id,
        s.new_id()
    );
    let out_of_capacity = match effect {
        Effect::Size(n) if n > p.running => p
            .zones
            .iter()
            .find(|z| s.gke.stockout_zones.contains(z))
            .cloned(),
        _ => None,
    };
    let error = out_of_capacity.map(|zone| {
        let n = match effect {
            Effect::Size(n) => n,
            _ => 0,
        };
        format!(
            "Google Compute Engine: Not all instances running in IGM after 61.5s. Expected {n}, running {}, transitioning {}. Current errors: [GCE_STOCKOUT]: Instance '{}-x7k2' creation failed: The zone 'projects/{project}/zones/{zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.",
            p.running,
            n.saturating_sub(p.running),
            group_name(cluster, pool, &zone).trim_end_matches("-grp")
        )
    });
    let op = Operation {
        pool: key.clone(),
        kind,
        started: SystemTime::now(),
        done_at: req.now
            + match effect {
                Effect::Autoscaling(_) => s.autoscaling_time,
                _ => s.pool_time,
            },
        effect: effect.clone(),
        applied: false,
        error,
    };
    let v = s.gke.operation_json(&id, &op, req.now, &project, req.base);
    if let Some(p) = s.gke.pools.get_mut(&key) {
        p.busy = Some(id.clone());
        if let Effect::Size(n) = effect {
            p.per_zone = n;
        }
    }
    s.gke.operations.insert(id, op);
    Reply::ok(v)
}

/// `compute/v1` `instanceGroupManagers.get`: a pool's group in one zone.
pub(crate) fn compute(s: &mut SimState, req: &Req) -> Reply {
    let rest: Vec<&str> = req.rest.iter().map(String::as_str).collect();
    let project = s.project.clone();
    let ["zones", zone, "instanceGroupManagers", name] = rest.as_slice() else {
        return Reply::not_found("resource");
    };
    if req.method != Method::GET {
        return Reply::not_found("method");
    }
    if let Err(r) = check(
        s,
        "compute.instanceGroupManagers.get",
        &format!("projects/{project}/zones/{zone}/instanceGroupManagers/{name}"),
    ) {
        return r;
    }
    let found = s.gke.pools.iter().find(|((_, c, p), pool)| {
        pool.zones.iter().any(|z| z == zone) && group_name(c, p, zone) == *name
    });
    let Some((_, p)) = found else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "notFound",
            format!("The resource 'projects/{project}/zones/{zone}/instanceGroupManagers/{name}' was not found"),
        );
    };
    // While an operation runs, or after a stockout, the group holds fewer VMs than its target.
    let short = p.busy.is_some() || p.error.is_some();
    let (target, running) = (
        p.per_zone,
        if short {
            p.running.min(p.per_zone)
        } else {
            p.per_zone
        },
    );
    let creating = target.saturating_sub(running);
    let deleting = if p.busy.is_some() {
        p.running.saturating_sub(target)
    } else {
        0
    };
    let base = req.base;
    Reply::ok(json!({
        "kind": "compute#instanceGroupManager",
        "name": name,
        "zone": format!("{base}/compute/v1/projects/{project}/zones/{zone}"),
        "baseInstanceName": name.trim_end_matches("-grp"),
        "targetSize": target,
        "currentActions": {
            "none": running.min(target), "creating": creating, "deleting": deleting,
            "recreating": 0, "refreshing": 0, "restarting": 0, "abandoning": 0, "verifying": 0,
        },
        "status": { "isStable": !short },
        "instanceGroup": format!("{base}/compute/v1/projects/{project}/zones/{zone}/instanceGroups/{name}"),
        "selfLink": format!("{base}/compute/v1/projects/{project}/zones/{zone}/instanceGroupManagers/{name}"),
    }))
}

impl SimState {
    /// Adds a node pool of `cluster` at `location` over `zones`, with `per_zone` nodes in each and
    /// total autoscaling bounds when given.
    pub fn add_node_pool(
        &mut self,
        location: &str,
        cluster: &str,
        pool: &str,
        zones: &[&str],
        per_zone: u32,
        autoscaling: Option<(u32, u32)>,
    ) {
        self.gke.pools.insert(
            (location.into(), cluster.into(), pool.into()),
            Pool {
                zones: zones.iter().map(|z| z.to_string()).collect(),
                per_zone,
                running: per_zone,
                autoscaling,
                busy: None,
                error: None,
            },
        );
    }

    /// GKE upgrades `cluster`'s control plane (its own automatic operation) for `time`: every
    /// node-pool operation meanwhile is refused with 400 `FAILED_PRECONDITION`. Returns the
    /// operation's name.
    pub fn start_cluster_upgrade(
        &mut self,
        location: &str,
        cluster: &str,
        time: Duration,
    ) -> String {
        let id = format!(
            "operation-{}-aegis{:04}",
            1_700_000_000u64 + self.next_id,
            self.new_id()
        );
        self.gke.operations.insert(
            id.clone(),
            Operation {
                pool: (location.into(), cluster.into(), String::new()),
                kind: "UPGRADE_MASTER",
                started: SystemTime::now(),
                done_at: Instant::now() + time,
                effect: Effect::Cluster,
                applied: false,
                error: None,
            },
        );
        id
    }

    /// Sets how many operations one GKE cluster may run at once (default 5, as GKE's quota).
    pub fn set_concurrent_operations_quota(&mut self, n: usize) {
        self.gke.concurrent_operations = n;
    }

    /// Marks a zone out of capacity (`GCE_STOCKOUT`) or back.
    pub fn set_stockout(&mut self, zone: &str, out: bool) {
        self.gke.stockout_zones.retain(|z| z != zone);
        if out {
            self.gke.stockout_zones.push(zone.to_string());
        }
    }

    /// A pool as (nodes per zone, zones, autoscaling bounds, an operation running).
    pub fn node_pool(&self, cluster: &str, pool: &str) -> Option<PoolSummary> {
        self.gke
            .pools
            .iter()
            .find(|((_, c, p), _)| c == cluster && p == pool)
            .map(|(_, p)| (p.per_zone, p.zones.len(), p.autoscaling, p.busy.is_some()))
    }
}
