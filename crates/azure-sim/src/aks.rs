//! Microsoft.ContainerService: AKS agent pools (`managedClusters/{c}/agentPools/{p}`).

use std::collections::BTreeMap;
use tokio::time::Instant;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::server::{Reply, Req, SimState};

#[derive(Debug, Default)]
pub(crate) struct Aks {
    /// (cluster, pool) -> pool.
    pools: BTreeMap<(String, String), Pool>,
    /// Cluster -> (resource group, location): what `managedClusters` lists.
    clusters: BTreeMap<String, (String, String)>,
}

#[derive(Debug)]
struct Pool {
    rg: String,
    /// The count asked for last: what `count` reads, also while (and after) a scale fails.
    count: u32,
    autoscale: Option<(u32, u32)>,
    /// The last operation: `Scaling` (count changed) or `Updating`, when it ends, how.
    op: Option<PoolOp>,
}

#[derive(Debug, Clone)]
struct PoolOp {
    running: &'static str,
    until: Instant,
    /// `Succeeded`, `Failed` or `Canceled` once it ends.
    outcome: &'static str,
}

impl Pool {
    /// `provisioningState`: the running operation's, then how the last one ended.
    fn state(&self, now: Instant) -> &'static str {
        match &self.op {
            Some(op) if op.until > now => op.running,
            Some(op) => op.outcome,
            None => "Succeeded",
        }
    }
}

/// How the next agent-pool update goes wrong. A refused one changes nothing; a failed or canceled
/// one leaves `count` at the value asked for while fewer nodes run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolFault {
    /// Refused at once: 400 `ErrCode_InsufficientVCPUQuota` (the regional vCPU quota preflight).
    QuotaRefused,
    /// `provisioningState: Failed`; the operation's error (code, message).
    Failed(String, String),
    /// `provisioningState: Canceled` (another operation replaced it).
    Canceled,
}

impl Aks {
    pub(crate) fn add_cluster(&mut self, rg: &str, name: &str, location: &str) {
        self.clusters
            .insert(name.to_string(), (rg.to_string(), location.to_string()));
    }

    pub(crate) fn add(
        &mut self,
        rg: &str,
        cluster: &str,
        pool: &str,
        count: u32,
        auto: Option<(u32, u32)>,
    ) {
        self.pools.insert(
            (cluster.to_string(), pool.to_string()),
            Pool {
                rg: rg.to_string(),
                count,
                autoscale: auto,
                op: None,
            },
        );
    }

    pub(crate) fn summary(
        &self,
        cluster: &str,
        pool: &str,
        now: Instant,
    ) -> Option<crate::server::AgentPoolSummary> {
        let p = self.pools.get(&(cluster.to_string(), pool.to_string()))?;
        Some((p.count, p.autoscale, p.state(now).to_string()))
    }
}

fn pool_json(sub: &str, cluster: &str, name: &str, p: &Pool, now: Instant) -> Value {
    json!({
        "id": format!("/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.ContainerService/managedClusters/{cluster}/agentPools/{name}", p.rg),
        "name": name,
        "type": "Microsoft.ContainerService/managedClusters/agentPools",
        "properties": {
            "count": p.count,
            "vmSize": "Standard_D4s_v5",
            "osType": "Linux",
            "mode": "User",
            "type": "VirtualMachineScaleSets",
            "enableAutoScaling": p.autoscale.is_some(),
            "minCount": p.autoscale.map(|a| a.0),
            "maxCount": p.autoscale.map(|a| a.1),
            "provisioningState": p.state(now),
            "powerState": { "code": "Running" },
            "orchestratorVersion": "1.30.6",
        }
    })
}

/// `GET managedClusters` (a group's clusters) and `GET managedClusters/{c}/agentPools` (a
/// cluster's pools); none for any other request.
pub(crate) fn list(s: &SimState, r: &Req) -> Option<Reply> {
    if *r.method != Method::GET || !r.rest[0].eq_ignore_ascii_case("managedClusters") {
        return None;
    }
    let sub = s.subscription_id.as_str();
    let value: Vec<Value> = match r.rest.as_slice() {
        [_] => s
            .aks
            .clusters
            .iter()
            .filter(|(_, (rg, _))| rg.eq_ignore_ascii_case(r.rg))
            .map(|(name, (rg, location))| {
                let pools: Vec<Value> = s
                    .aks
                    .pools
                    .iter()
                    .filter(|((c, _), _)| c == name)
                    .map(|((_, p), pool)| json!({ "name": p, "count": pool.count, "vmSize": "Standard_D4s_v5", "mode": "User", "enableAutoScaling": pool.autoscale.is_some() }))
                    .collect();
                json!({
                    "id": format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}"),
                    "name": name,
                    "type": "Microsoft.ContainerService/ManagedClusters",
                    "location": location,
                    "tags": {},
                    "properties": {
                        "provisioningState": "Succeeded",
                        "powerState": { "code": "Running" },
                        "kubernetesVersion": "1.30.6",
                        "dnsPrefix": name,
                        "fqdn": format!("{name}-dns.hcp.{location}.azmk8s.io"),
                        "agentPoolProfiles": pools,
                        // A managed-identity cluster's (what every recorded answer carries).
                        "servicePrincipalProfile": { "clientId": "msi" },
                    }
                })
            })
            .collect(),
        [_, cluster, pools] if pools.eq_ignore_ascii_case("agentPools") => s
            .aks
            .pools
            .iter()
            .filter(|((c, _), p)| c == cluster && p.rg.eq_ignore_ascii_case(r.rg))
            .map(|((c, name), p)| pool_json(sub, c, name, p, r.now))
            .collect(),
        _ => return None,
    };
    Some(Reply::ok(json!({ "value": value })))
}

/// `managedClusters/{c}/agentPools/{p}`: GET, and PUT (the whole pool, as `az aks nodepool scale`
/// sends it).
pub(crate) fn handle(s: &mut SimState, r: &Req) -> Reply {
    let sub = s.subscription_id.clone();
    if r.rest.len() != 4
        || !r.rest[0].eq_ignore_ascii_case("managedClusters")
        || !r.rest[2].eq_ignore_ascii_case("agentPools")
    {
        return Reply::error(StatusCode::NOT_FOUND, "NotFound", "agent pools only");
    }
    let (cluster, name) = (r.rest[1], r.rest[3]);
    let update_time = s.pool_update_time;
    let retry = s.retry_after_secs;
    let fault = if *r.method == Method::PUT {
        s.next_pool_fault.take()
    } else {
        None
    };
    let Some(p) = s
        .aks
        .pools
        .get_mut(&(cluster.to_string(), name.to_string()))
        .filter(|p| p.rg.eq_ignore_ascii_case(r.rg))
    else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Could not find agent pool {name} in cluster {cluster}."),
        );
    };
    match *r.method {
        Method::GET => Reply::ok(pool_json(&sub, cluster, name, p, r.now)),
        Method::PUT => {
            let state = p.state(r.now);
            if !matches!(state, "Succeeded" | "Failed" | "Canceled") {
                s.next_pool_fault = fault;
                return Reply::error(
                    StatusCode::CONFLICT,
                    "OperationNotAllowed",
                    format!("Operation is not allowed: Another operation ({state}) is in progress, please wait for it to finish before starting a new operation. See https://aka.ms/aks-pending-operation for more details"),
                );
            }
            let props = &r.body["properties"];
            let Some(count) = props["count"].as_u64().map(|c| c as u32) else {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameter",
                    "The value of parameter agentPoolProfile.count is invalid.",
                );
            };
            let auto = props["enableAutoScaling"].as_bool().unwrap_or(false);
            let bounds = (props["minCount"].as_u64(), props["maxCount"].as_u64());
            let autoscale = match (auto, bounds) {
                (true, (Some(min), Some(max)))
                    if min <= max && (min..=max).contains(&u64::from(count)) =>
                {
                    Some((min as u32, max as u32))
                }
                (true, (min, max)) => {
                    return Reply::error(
                        StatusCode::BAD_REQUEST,
                        "InvalidParameter",
                        format!(
                            "agentPoolProfile.count was {count}. It must be greater or equal to minCount:{} and less than or equal to maxCount:{}.",
                            min.map_or("null".into(), |m| m.to_string()),
                            max.map_or("null".into(), |m| m.to_string())
                        ),
                    )
                }
                (false, (None, None)) => None,
                (false, _) => {
                    return Reply::error(
                        StatusCode::BAD_REQUEST,
                        "InvalidParameter",
                        "minCount and maxCount must be null when enableAutoScaling is false.",
                    )
                }
            };
            if fault == Some(PoolFault::QuotaRefused) && count > p.count {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "ErrCode_InsufficientVCPUQuota",
                    format!("Insufficient regional vcpu quota left for location westus. left regional vcpu quota 0, requested quota {}", (count - p.count) * 4),
                );
            }
            // A failed or canceled pool is reconciled by sending it again, changed or not.
            let changed = p.count != count || p.autoscale != autoscale || state != "Succeeded";
            let running = if p.count != count {
                "Scaling"
            } else {
                "Updating"
            };
            p.count = count;
            p.autoscale = autoscale;
            if changed {
                p.op = Some(PoolOp {
                    running,
                    until: r.now + update_time,
                    outcome: match &fault {
                        Some(PoolFault::Failed(..)) => "Failed",
                        Some(PoolFault::Canceled) => "Canceled",
                        Some(PoolFault::QuotaRefused) | None => "Succeeded",
                    },
                });
            } else {
                s.next_pool_fault = fault;
            }
            // AKS answers the PUT at once with the pool `Updating`; its progress is read on the pool.
            Reply::ok(pool_json(&sub, cluster, name, p, r.now))
                .header("retry-after", retry.to_string())
        }
        _ => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "not here",
        ),
    }
}
