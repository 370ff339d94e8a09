//! Microsoft.ContainerService: AKS agent pools (`managedClusters/{c}/agentPools/{p}`).

use std::{collections::BTreeMap, time::Instant};

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::server::{Reply, Req, SimState};

#[derive(Debug, Default)]
pub(crate) struct Aks {
    /// (cluster, pool) -> pool.
    pools: BTreeMap<(String, String), Pool>,
}

#[derive(Debug)]
struct Pool {
    rg: String,
    count: u32,
    autoscale: Option<(u32, u32)>,
    /// The running update ends then.
    busy_until: Option<Instant>,
}

impl Pool {
    fn state(&self, now: Instant) -> &'static str {
        if self.busy_until.is_some_and(|t| t > now) {
            "Updating"
        } else {
            "Succeeded"
        }
    }
}

impl Aks {
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
                busy_until: None,
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
            if p.state(r.now) != "Succeeded" {
                return Reply::error(
                    StatusCode::CONFLICT,
                    "AnotherOperationInProgress",
                    format!("Another operation (Updating) is in progress on agent pool {name}; please retry when it has completed."),
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
                (true, _) => {
                    return Reply::error(
                        StatusCode::BAD_REQUEST,
                        "InvalidParameter",
                        "Autoscaling requires minCount <= count <= maxCount.",
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
            let changed = p.count != count || p.autoscale != autoscale;
            p.count = count;
            p.autoscale = autoscale;
            if changed {
                p.busy_until = Some(r.now + update_time);
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
