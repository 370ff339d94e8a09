//! Cloud DNS (`dns/v1`): managed zones' record sets and changes. A change is applied atomically
//! when it is created (its deletions must match the current sets exactly) and reads `pending` until
//! the simulated propagation ends, then `done`.

use std::{collections::BTreeMap, time::SystemTime};
use tokio::time::Instant;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    reply::{rfc3339, Reply},
    server::{check, Req, SimState},
};

/// A record set's TTL and data.
type RecordSet = (u32, Vec<String>);

#[derive(Debug, Default)]
pub(crate) struct Zone {
    dns_name: String,
    /// By (name, type).
    sets: BTreeMap<(String, String), RecordSet>,
}

#[derive(Debug)]
struct Change {
    body: Value,
    started: SystemTime,
    done_at: Instant,
}

/// The Cloud DNS part of the state.
#[derive(Debug, Default)]
pub(crate) struct Dns {
    zones: BTreeMap<String, Zone>,
    changes: BTreeMap<(String, String), Change>,
    /// A record set (name, type, TTL, data) written just before the next change is checked.
    edit_before_next_change: Option<(String, String, u32, Vec<String>)>,
}

fn set_json(name: &str, rtype: &str, (ttl, data): &RecordSet) -> Value {
    json!({ "kind": "dns#resourceRecordSet", "name": name, "type": rtype, "ttl": ttl, "rrdatas": data })
}

fn change_json(id: &str, c: &Change, now: Instant) -> Value {
    let mut v = c.body.clone();
    v["kind"] = json!("dns#change");
    v["id"] = json!(id);
    v["startTime"] = json!(rfc3339(c.started));
    v["status"] = json!(if now >= c.done_at { "done" } else { "pending" });
    v
}

/// A record set of a change body: (name, type, (ttl, rrdatas)).
fn parse_set(v: &Value) -> Option<(String, String, RecordSet)> {
    let data = v["rrdatas"]
        .as_array()?
        .iter()
        .map(|d| d.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()?;
    let ttl = v["ttl"]
        .as_u64()
        .or_else(|| v["ttl"].as_str()?.parse().ok())?;
    Some((
        v["name"].as_str()?.to_string(),
        v["type"].as_str()?.to_string(),
        (u32::try_from(ttl).ok()?, data),
    ))
}

pub(crate) fn handle(s: &mut SimState, req: &Req) -> Reply {
    let rest: Vec<&str> = req.rest.iter().map(String::as_str).collect();
    let project = s.project.clone();
    if *req.method == Method::GET && rest.as_slice() == ["managedZones"] {
        if let Err(r) = check(s, "dns.managedZones.list", &format!("projects/{project}")) {
            return r;
        }
        let zones: Vec<Value> = s
            .dns
            .zones
            .iter()
            .enumerate()
            .map(|(n, (name, z))| json!({
                "kind": "dns#managedZone",
                "name": name,
                "dnsName": z.dns_name,
                "id": (4_000_000_000_000_000u64 + n as u64).to_string(),
                "description": "",
                "visibility": "public",
                "nameServers": ["ns-cloud-a1.googledomains.com.", "ns-cloud-a2.googledomains.com."],
            }))
            .collect();
        return Reply::ok(json!({ "kind": "dns#managedZonesListResponse", "managedZones": zones }));
    }
    let zone_name = match rest.as_slice() {
        ["managedZones", z, ..] => z.to_string(),
        _ => return Reply::not_found("resource"),
    };
    let resource = format!("projects/{project}/managedZones/{zone_name}");
    let perm = match (req.method.clone(), &rest[2..]) {
        (Method::GET, ["rrsets", _, _]) => "dns.resourceRecordSets.get",
        (Method::GET, ["rrsets"]) => "dns.resourceRecordSets.list",
        (Method::POST, ["changes"]) => "dns.changes.create",
        (Method::GET, ["changes", _]) => "dns.changes.get",
        _ => return Reply::not_found(&format!("method {} {}", req.method, rest.join("/"))),
    };
    if let Err(r) = check(s, perm, &resource) {
        return r;
    }
    if perm == "dns.changes.create" {
        if let Some((name, rtype, ttl, data)) = s.dns.edit_before_next_change.take() {
            // Someone else's change lands just before this one.
            if let Some(zone) = s.dns.zones.get_mut(&zone_name) {
                zone.sets.insert((name, rtype), (ttl, data));
            }
        }
    }
    let Some(zone) = s.dns.zones.get_mut(&zone_name) else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "notFound",
            format!("The 'parameters.managedZone' resource named '{zone_name}' does not exist."),
        );
    };
    match &rest[2..] {
        ["rrsets", name, rtype] => match zone.sets.get(&(name.to_string(), rtype.to_string())) {
            Some(set) => Reply::ok(set_json(name, rtype, set)),
            None => Reply::error(
                StatusCode::NOT_FOUND,
                "notFound",
                format!("The 'parameters.name' resource named '{name}' does not exist."),
            ),
        },
        ["rrsets"] => {
            let (name, rtype) = (req.param("name"), req.param("type"));
            let sets: Vec<Value> = zone
                .sets
                .iter()
                .filter(|((n, t), _)| name.is_none_or(|x| x == n) && rtype.is_none_or(|x| x == t))
                .map(|((n, t), set)| set_json(n, t, set))
                .collect();
            Reply::ok(json!({ "kind": "dns#resourceRecordSetsListResponse", "rrsets": sets }))
        }
        ["changes"] => {
            let mut sets = zone.sets.clone();
            let empty = Vec::new();
            let list = |k: &str| req.body[k].as_array().unwrap_or(&empty).clone();
            let (deletions, additions) = (list("deletions"), list("additions"));
            if deletions.is_empty() && additions.is_empty() {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "required",
                    "The 'entity.change' parameter is required but was missing.",
                );
            }
            for (n, d) in deletions.iter().enumerate() {
                let Some((name, rtype, set)) = parse_set(d) else {
                    return Reply::error(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        format!("Invalid value for 'entity.change.deletions[{n}]'"),
                    );
                };
                if sets.get(&(name.clone(), rtype.clone())) != Some(&set) {
                    return Reply::error(
                        StatusCode::PRECONDITION_FAILED,
                        "conditionNotMet",
                        format!("Precondition not met for 'entity.change.deletions[{n}]'"),
                    );
                }
                sets.remove(&(name, rtype));
            }
            for (n, a) in additions.iter().enumerate() {
                let Some((name, rtype, set)) = parse_set(a) else {
                    return Reply::error(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        format!("Invalid value for 'entity.change.additions[{n}]'"),
                    );
                };
                if !name.ends_with('.') || !name.ends_with(&zone.dns_name) {
                    return Reply::error(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        format!("Invalid value for 'entity.change.additions[{n}].name': '{name}'"),
                    );
                }
                if sets.contains_key(&(name.clone(), rtype.clone())) {
                    return Reply::error(
                        StatusCode::CONFLICT,
                        "alreadyExists",
                        format!("The resource 'entity.change.additions[{n}]' named '{name} ({rtype})' already exists"),
                    );
                }
                sets.insert((name, rtype), set);
            }
            zone.sets = sets;
            let id = s.new_id().to_string();
            let change = Change {
                body: json!({ "additions": additions, "deletions": deletions }),
                started: SystemTime::now(),
                done_at: req.now + s.change_time,
            };
            let v = change_json(&id, &change, req.now);
            s.dns.changes.insert((zone_name, id), change);
            Reply::ok(v)
        }
        ["changes", id] => match s.dns.changes.get(&(zone_name, id.to_string())) {
            Some(c) => Reply::ok(change_json(id, c, req.now)),
            None => Reply::error(
                StatusCode::NOT_FOUND,
                "notFound",
                format!("The 'parameters.changeId' resource named '{id}' does not exist."),
            ),
        },
        _ => Reply::not_found("resource"),
    }
}

impl SimState {
    /// Adds a managed zone serving `dns_name` (`aegis.io.`).
    pub fn add_managed_zone(&mut self, zone: &str, dns_name: &str) {
        self.dns.zones.insert(
            zone.to_string(),
            Zone {
                dns_name: dns_name.to_string(),
                sets: BTreeMap::new(),
            },
        );
    }

    /// Sets a record set of a managed zone.
    pub fn set_record_set(&mut self, zone: &str, name: &str, rtype: &str, ttl: u32, data: &[&str]) {
        if let Some(z) = self.dns.zones.get_mut(zone) {
            z.sets.insert(
                (name.to_string(), rtype.to_string()),
                (ttl, data.iter().map(|d| d.to_string()).collect()),
            );
        }
    }

    /// Writes this record set just before the next change arrives, as another operator's change
    /// landing between the client's read and its change.
    pub fn edit_before_next_change(&mut self, name: &str, rtype: &str, ttl: u32, data: &[&str]) {
        self.dns.edit_before_next_change = Some((
            name.to_string(),
            rtype.to_string(),
            ttl,
            data.iter().map(|d| d.to_string()).collect(),
        ));
    }

    /// A record set as (TTL, rrdatas).
    pub fn record_set(&self, zone: &str, name: &str, rtype: &str) -> Option<(u32, Vec<String>)> {
        self.dns
            .zones
            .get(zone)?
            .sets
            .get(&(name.to_string(), rtype.to_string()))
            .cloned()
    }
}
