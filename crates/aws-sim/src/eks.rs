//! EKS managed node groups: scaling config, updates and their status.

use std::time::{Instant, SystemTime};

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::server::{epoch_seconds, Effect, Map, Reply, SimState};

#[derive(Debug)]
struct Nodegroup {
    min: u32,
    max: u32,
    desired: u32,
    asg: Option<String>,
    created_at: SystemTime,
}

#[derive(Debug)]
struct Update {
    key: (String, String, String),
    created: Instant,
    created_at: SystemTime,
    params: (u32, u32, u32),
}

/// The EKS part of the simulator state: node groups keyed by (region, cluster, name).
#[derive(Debug, Default)]
pub(crate) struct Eks {
    groups: Map<(String, String, String), Nodegroup>,
    updates: Map<String, Update>,
}

impl Eks {
    pub(crate) fn add(
        &mut self,
        region: &str,
        cluster: &str,
        name: &str,
        (min, max, desired): (u32, u32, u32),
        asg: Option<&str>,
    ) {
        self.groups.insert(
            (region.into(), cluster.into(), name.into()),
            Nodegroup {
                min,
                max,
                desired,
                asg: asg.map(String::from),
                created_at: SystemTime::now(),
            },
        );
    }

    pub(crate) fn sizes(&self, region: &str, cluster: &str, name: &str) -> Option<(u32, u32, u32)> {
        let key = (region.to_string(), cluster.to_string(), name.to_string());
        self.groups.get(&key).map(|g| (g.min, g.max, g.desired))
    }
}

/// The operation name of an EKS request, for the request log and access-denial injection.
pub(crate) fn operation(method: &Method, path: &str) -> String {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["clusters"]) => "ListClusters",
        ("GET", ["clusters", _, "node-groups"]) => "ListNodegroups",
        ("GET", ["clusters", _, "node-groups", _]) => "DescribeNodegroup",
        ("POST", ["clusters", _, "node-groups", _, "update-config"]) => "UpdateNodegroupConfig",
        ("GET", ["clusters", _, "updates", _]) => "DescribeUpdate",
        ("GET", ["clusters", _, "updates"]) => "ListUpdates",
        _ => "Unknown",
    }
    .to_string()
}

fn update_status(s: &SimState, u: &Update, now: Instant) -> &'static str {
    if now >= u.created + s.nodegroup_update_time {
        "Successful"
    } else {
        "InProgress"
    }
}

fn update_json(s: &SimState, id: &str, u: &Update, now: Instant) -> Value {
    let (min, max, desired) = u.params;
    json!({
        "id": id,
        "status": update_status(s, u, now),
        "type": "ConfigUpdate",
        "params": [
            { "type": "MinSize", "value": min.to_string() },
            { "type": "MaxSize", "value": max.to_string() },
            { "type": "DesiredSize", "value": desired.to_string() },
        ],
        "createdAt": epoch_seconds(u.created_at),
        "errors": [],
    })
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn not_found(what: String) -> Reply {
    Reply::error(StatusCode::NOT_FOUND, "ResourceNotFoundException", what)
}

/// Serves one EKS request.
pub(crate) fn handle(
    s: &mut SimState,
    now: Instant,
    region: &str,
    method: &Method,
    path: &str,
    query: &str,
    input: &Value,
) -> (Reply, Vec<Effect>) {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut effects = Vec::new();
    let in_region = |s: &SimState| -> Vec<(String, String)> {
        s.eks
            .groups
            .keys()
            .filter(|(r, _, _)| r == region)
            .map(|(_, c, n)| (c.clone(), n.clone()))
            .collect()
    };
    let reply = match (method.as_str(), parts.as_slice()) {
        // The simulator knows a cluster by its node groups: every cluster has one at least.
        ("GET", ["clusters"]) => {
            let mut clusters: Vec<String> = in_region(s).into_iter().map(|(c, _)| c).collect();
            clusters.dedup();
            Reply::ok(json!({ "clusters": clusters }))
        }
        ("GET", ["clusters", cluster, "node-groups"]) => {
            let groups: Vec<String> = in_region(s)
                .into_iter()
                .filter(|(c, _)| c == cluster)
                .map(|(_, n)| n)
                .collect();
            if groups.is_empty() {
                not_found(format!("No cluster found for name: {cluster}."))
            } else {
                Reply::ok(json!({ "nodegroups": groups }))
            }
        }
        ("GET", ["clusters", cluster, "node-groups", name]) => {
            let key = (region.to_string(), cluster.to_string(), name.to_string());
            match s.eks.groups.get(&key) {
                None => not_found(format!("No node group found for name: {name}.")),
                Some(g) => {
                    let updating = s
                        .eks
                        .updates
                        .values()
                        .any(|u| u.key == key && update_status(s, u, now) == "InProgress");
                    let mut v = json!({
                        "nodegroupName": name,
                        "nodegroupArn": format!("arn:aws:eks:{region}:123456789012:nodegroup/{cluster}/{name}/0"),
                        "clusterName": cluster,
                        "status": if updating { "UPDATING" } else { "ACTIVE" },
                        "capacityType": "ON_DEMAND",
                        "scalingConfig": { "minSize": g.min, "maxSize": g.max, "desiredSize": g.desired },
                        "createdAt": epoch_seconds(g.created_at),
                        "modifiedAt": epoch_seconds(SystemTime::now()),
                        "health": { "issues": [] },
                        "resources": { "autoScalingGroups": [] },
                    });
                    if let Some(a) = &g.asg {
                        v["resources"]["autoScalingGroups"] = json!([{ "name": a }]);
                    }
                    Reply::ok(json!({ "nodegroup": v }))
                }
            }
        }
        ("POST", ["clusters", cluster, "node-groups", name, "update-config"]) => {
            let key = (region.to_string(), cluster.to_string(), name.to_string());
            let cfg = input.get("scalingConfig").cloned().unwrap_or(json!({}));
            let field = |k: &str| cfg.get(k).and_then(Value::as_u64).map(|v| v as u32);
            let busy = s
                .eks
                .updates
                .values()
                .any(|u| u.key == key && update_status(s, u, now) == "InProgress");
            match s.eks.groups.get(&key) {
                None => not_found(format!("No node group found for name: {name}.")),
                Some(_) if busy => Reply::error(
                    StatusCode::CONFLICT,
                    "ResourceInUseException",
                    format!("Nodegroup {name} is currently being updated"),
                ),
                Some(g) => {
                    let min = field("minSize").unwrap_or(g.min);
                    let max = field("maxSize").unwrap_or(g.max);
                    let desired = field("desiredSize").unwrap_or(g.desired);
                    if min > desired || desired > max || max == 0 {
                        Reply::error(
                            StatusCode::BAD_REQUEST,
                            "InvalidParameterException",
                            format!("Minimum capacity {min} can't be greater than desired size {desired}, and desired size can't be greater than maximum capacity {max}"),
                        )
                    } else {
                        let asg = g.asg.clone();
                        if let Some(g) = s.eks.groups.get_mut(&key) {
                            (g.min, g.max, g.desired) = (min, max, desired);
                        }
                        if let Some(name) = asg {
                            effects.push(Effect::UpdateAsg {
                                region: region.to_string(),
                                name,
                                min,
                                max,
                                desired,
                            });
                        }
                        let id = s.new_id("upd-");
                        let u = Update {
                            key,
                            created: now,
                            created_at: SystemTime::now(),
                            params: (min, max, desired),
                        };
                        let v = update_json(s, &id, &u, now);
                        s.eks.updates.insert(id, u);
                        Reply::ok(json!({ "update": v }))
                    }
                }
            }
        }
        ("GET", ["clusters", _cluster, "updates", id]) => match s.eks.updates.get(*id) {
            Some(u) if query_param(query, "nodegroupName") == Some(u.key.2.as_str()) => {
                Reply::ok(json!({ "update": update_json(s, id, u, now) }))
            }
            _ => not_found(format!("No update found for ID: {id}.")),
        },
        ("GET", ["clusters", cluster, "updates"]) => {
            let ng = query_param(query, "nodegroupName").unwrap_or_default();
            let ids: Vec<&String> = s
                .eks
                .updates
                .iter()
                .filter(|(_, u)| u.key.0 == region && u.key.1 == *cluster && u.key.2 == ng)
                .map(|(id, _)| id)
                .collect();
            Reply::ok(json!({ "updateIds": ids }))
        }
        _ => not_found(format!("the EKS simulator does not serve {method} {path}")),
    };
    (reply, effects)
}
