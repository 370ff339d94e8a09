//! Microsoft.Network: Traffic Manager profiles and endpoints, Azure DNS zones and record sets.

use std::{collections::BTreeMap, time::Duration};
use tokio::time::Instant;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::server::{Reply, Req, SimState};

#[derive(Debug, Default)]
pub(crate) struct Network {
    profiles: BTreeMap<String, Profile>,
    zones: BTreeMap<String, Zone>,
}

#[derive(Debug)]
struct Profile {
    rg: String,
    /// `profileStatus`: a disabled profile answers no query and its endpoints read `Inactive`.
    enabled: bool,
    routing: String,
    ttl: u32,
    endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone)]
struct Endpoint {
    name: String,
    target: String,
    enabled: bool,
    /// When it was last enabled (health probes start then).
    enabled_at: Instant,
    priority: u32,
    weight: u32,
    /// `alwaysServe`: no health probes, the endpoint is served whatever its health
    /// (`endpointMonitorStatus` `Unmonitored`).
    always_serve: bool,
}

#[derive(Debug)]
struct Zone {
    rg: String,
    /// (type, relative name) -> record set.
    records: BTreeMap<(String, String), RecordSet>,
}

#[derive(Debug, Clone)]
struct RecordSet {
    ttl: u32,
    values: Vec<String>,
    etag: u64,
}

impl Network {
    pub(crate) fn add_profile(
        &mut self,
        rg: &str,
        name: &str,
        routing: &str,
        ttl: u32,
        endpoints: &[(&str, &str, bool, u32)],
    ) {
        let long_ago = Instant::now() - Duration::from_secs(3600);
        self.profiles.insert(
            name.to_string(),
            Profile {
                rg: rg.to_string(),
                enabled: true,
                routing: routing.to_string(),
                ttl,
                endpoints: endpoints
                    .iter()
                    .map(|(n, t, e, p)| Endpoint {
                        name: n.to_string(),
                        target: t.to_string(),
                        enabled: *e,
                        enabled_at: long_ago,
                        priority: *p,
                        weight: 1,
                        always_serve: false,
                    })
                    .collect(),
            },
        );
    }

    /// Enables or disables a profile (`profileStatus`).
    pub(crate) fn set_profile_enabled(&mut self, name: &str, enabled: bool) {
        if let Some(p) = self.profiles.get_mut(name) {
            p.enabled = enabled;
        }
    }

    /// Sets an endpoint's `alwaysServe`.
    pub(crate) fn set_always_serve(&mut self, profile: &str, endpoint: &str, on: bool) {
        if let Some(e) = self
            .profiles
            .get_mut(profile)
            .and_then(|p| p.endpoints.iter_mut().find(|e| e.name == endpoint))
        {
            e.always_serve = on;
        }
    }

    pub(crate) fn profile_ttl(&self, name: &str) -> Option<u32> {
        self.profiles.get(name).map(|p| p.ttl)
    }

    pub(crate) fn endpoints_summary(
        &self,
        name: &str,
        now: Instant,
        s: &SimState,
    ) -> Vec<(String, String, String)> {
        self.profiles
            .get(name)
            .map(|p| {
                p.endpoints
                    .iter()
                    .map(|e| {
                        (
                            e.name.clone(),
                            status(e).into(),
                            monitor(p, e, now, s).into(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn add_zone(&mut self, rg: &str, zone: &str) {
        self.zones.insert(
            zone.to_string(),
            Zone {
                rg: rg.to_string(),
                records: BTreeMap::new(),
            },
        );
    }

    pub(crate) fn set_record(
        &mut self,
        zone: &str,
        rtype: &str,
        rel: &str,
        ttl: u32,
        values: &[&str],
    ) {
        if let Some(z) = self.zones.get_mut(zone) {
            z.records.insert(
                (rtype.to_ascii_uppercase(), rel.to_string()),
                RecordSet {
                    ttl,
                    values: values.iter().map(|v| v.to_string()).collect(),
                    etag: 1,
                },
            );
        }
    }

    pub(crate) fn record(&self, zone: &str, rtype: &str, rel: &str) -> Option<(u32, Vec<String>)> {
        let r = self
            .zones
            .get(zone)?
            .records
            .get(&(rtype.to_ascii_uppercase(), rel.to_string()))?;
        Some((r.ttl, r.values.clone()))
    }
}

fn status(e: &Endpoint) -> &'static str {
    if e.enabled {
        "Enabled"
    } else {
        "Disabled"
    }
}

/// `endpointMonitorStatus`: probes start when an endpoint is enabled; a disabled profile's
/// endpoints are `Inactive`, an always-served one is `Unmonitored`, one whose target (an Azure
/// service) is stopped is `Stopped`.
fn monitor(p: &Profile, e: &Endpoint, now: Instant, s: &SimState) -> &'static str {
    if !p.enabled {
        "Inactive"
    } else if !e.enabled {
        "Disabled"
    } else if e.always_serve {
        "Unmonitored"
    } else if s.stopped_targets.contains(&e.target) {
        "Stopped"
    } else if now < e.enabled_at + s.monitor_time {
        "CheckingEndpoint"
    } else if s.unhealthy_targets.contains(&e.target) {
        "Degraded"
    } else {
        "Online"
    }
}

fn endpoint_json(
    sub: &str,
    (profile, p): (&str, &Profile),
    e: &Endpoint,
    now: Instant,
    s: &SimState,
) -> Value {
    let rg = &p.rg;
    json!({
        "id": format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/trafficManagerProfiles/{profile}/externalEndpoints/{}", e.name),
        "name": e.name,
        "type": "Microsoft.Network/trafficManagerProfiles/externalEndpoints",
        "properties": {
            "target": e.target,
            "endpointStatus": status(e),
            "endpointMonitorStatus": monitor(p, e, now, s),
            "weight": e.weight,
            "priority": e.priority,
            "alwaysServe": if e.always_serve { "Enabled" } else { "Disabled" },
        }
    })
}

fn profile_json(sub: &str, name: &str, p: &Profile, now: Instant, s: &SimState) -> Value {
    let monitors: Vec<&str> = p.endpoints.iter().map(|e| monitor(p, e, now, s)).collect();
    let overall = if !p.enabled {
        "Inactive"
    } else if monitors.contains(&"Online") {
        "Online"
    } else if monitors.iter().all(|m| *m == "Disabled") {
        "Inactive"
    } else if monitors.contains(&"CheckingEndpoint") {
        "CheckingEndpoints"
    } else {
        "Degraded"
    };
    json!({
        "id": format!("/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.Network/trafficManagerProfiles/{name}", p.rg),
        "name": name,
        "type": "Microsoft.Network/trafficManagerProfiles",
        "location": "global",
        "tags": {},
        "properties": {
            "profileStatus": if p.enabled { "Enabled" } else { "Disabled" },
            "trafficRoutingMethod": p.routing,
            "dnsConfig": { "relativeName": name, "fqdn": format!("{name}.trafficmanager.net"), "ttl": p.ttl },
            "monitorConfig": { "profileMonitorStatus": overall, "protocol": "HTTPS", "port": 443, "path": "/healthz", "intervalInSeconds": 30, "timeoutInSeconds": 10, "toleratedNumberOfFailures": 3 },
            "endpoints": p.endpoints.iter().map(|e| endpoint_json(sub, (name, p), e, now, s)).collect::<Vec<_>>(),
            "trafficViewEnrollmentStatus": "Disabled",
        }
    })
}

/// `trafficManagerProfiles` and `dnsZones` (a group's lists), `trafficManagerProfiles/{p}[/externalEndpoints/{e}]`,
/// `dnsZones/{z}/recordsets` (the zone's list), `dnsZones/{z}/{type}/{name}`.
pub(crate) fn handle(s: &mut SimState, r: &Req) -> Reply {
    if r.rest.len() == 1 && *r.method == Method::GET {
        return list(s, r);
    }
    if r.rest.len() < 2 {
        return Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "lists are read with GET",
        );
    }
    match r.rest[0].to_ascii_lowercase().as_str() {
        "trafficmanagerprofiles" => traffic_manager(s, r),
        "dnszones" => dns(s, r),
        other => Reply::error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no such Microsoft.Network type {other}"),
        ),
    }
}

/// A resource group's Traffic Manager profiles or DNS zones.
fn list(s: &SimState, r: &Req) -> Reply {
    let sub = &s.subscription_id;
    let value: Vec<Value> = match r.rest[0].to_ascii_lowercase().as_str() {
        "trafficmanagerprofiles" => s
            .network
            .profiles
            .iter()
            .filter(|(_, p)| p.rg.eq_ignore_ascii_case(r.rg))
            .map(|(name, p)| profile_json(sub, name, p, r.now, s))
            .collect(),
        "dnszones" => s
            .network
            .zones
            .iter()
            .filter(|(_, z)| z.rg.eq_ignore_ascii_case(r.rg))
            .map(|(name, z)| json!({
                "id": format!("/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.Network/dnszones/{name}", z.rg),
                "name": name,
                "type": "Microsoft.Network/dnszones",
                "location": "global",
                "tags": {},
                "etag": "00000000-0000-0000-0000-000000000001",
                "properties": {
                    "maxNumberOfRecordSets": 10000,
                    "numberOfRecordSets": z.records.len() + 2,
                    "nameServers": ["ns1-01.azure-dns.com.", "ns2-01.azure-dns.net.", "ns3-01.azure-dns.org.", "ns4-01.azure-dns.info."],
                    "zoneType": "Public",
                }
            }))
            .collect(),
        other => {
            return Reply::error(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no such Microsoft.Network type {other}"),
            )
        }
    };
    Reply::ok(json!({ "value": value }))
}

fn traffic_manager(s: &mut SimState, r: &Req) -> Reply {
    let sub = s.subscription_id.clone();
    let name = r.rest[1];
    let Some(p) = s
        .network
        .profiles
        .get(name)
        .filter(|p| p.rg.eq_ignore_ascii_case(r.rg))
    else {
        return Reply::not_found("Microsoft.Network/trafficManagerProfiles", name);
    };
    if r.rest.len() == 2 {
        match *r.method {
            Method::GET => {}
            Method::PATCH => {
                if let Some(ttl) = r.body["properties"]["dnsConfig"]["ttl"].as_u64() {
                    if let Some(p) = s.network.profiles.get_mut(name) {
                        p.ttl = ttl as u32;
                    }
                }
            }
            _ => {
                return Reply::error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    "not here",
                )
            }
        }
        let p = &s.network.profiles[name];
        return Reply::ok(profile_json(&sub, name, p, r.now, s));
    }
    if r.rest.len() != 4 || !r.rest[2].eq_ignore_ascii_case("externalEndpoints") {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "only external endpoints are simulated",
        );
    }
    let ep = r.rest[3];
    let Some(i) = p
        .endpoints
        .iter()
        .position(|e| e.name.eq_ignore_ascii_case(ep))
    else {
        return Reply::not_found(
            "Microsoft.Network/trafficManagerProfiles/externalEndpoints",
            ep,
        );
    };
    match *r.method {
        Method::GET => {}
        Method::PATCH | Method::PUT => {
            let props = &r.body["properties"];
            let st = props["endpointStatus"].as_str();
            if let Some(v) = st.filter(|v| *v != "Enabled" && *v != "Disabled") {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("The value '{v}' is not valid for endpointStatus."),
                );
            }
            if let Some(v) = props["alwaysServe"]
                .as_str()
                .filter(|v| *v != "Enabled" && *v != "Disabled")
            {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("The value '{v}' is not valid for alwaysServe."),
                );
            }
            if *r.method == Method::PUT && props["target"].as_str().is_none_or(str::is_empty) {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "The 'target' property is required for external endpoints.",
                );
            }
            let now = r.now;
            let Some(e) = s
                .network
                .profiles
                .get_mut(name)
                .map(|p| &mut p.endpoints[i])
            else {
                return Reply::not_found("Microsoft.Network/trafficManagerProfiles", name);
            };
            if let Some(st) = st {
                let enable = st == "Enabled";
                if enable && !e.enabled {
                    e.enabled_at = now;
                }
                e.enabled = enable;
            }
            if let Some(t) = props["target"].as_str() {
                e.target = t.to_string();
            }
            if let Some(p) = props["priority"].as_u64() {
                e.priority = p as u32;
            }
            if let Some(w) = props["weight"].as_u64() {
                e.weight = w as u32;
            }
            if let Some(a) = props["alwaysServe"].as_str() {
                e.always_serve = a == "Enabled";
            }
        }
        _ => {
            return Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "not here",
            )
        }
    }
    let p = &s.network.profiles[name];
    Reply::ok(endpoint_json(&sub, (name, p), &p.endpoints[i], r.now, s))
}

fn record_json(sub: &str, rg: &str, zone: &str, rtype: &str, rel: &str, rs: &RecordSet) -> Value {
    let mut props = json!({
        "TTL": rs.ttl,
        "fqdn": if rel == "@" { format!("{zone}.") } else { format!("{rel}.{zone}.") },
        "provisioningState": "Succeeded",
    });
    match rtype {
        "CNAME" => props["CNAMERecord"] = json!({ "cname": rs.values.first() }),
        "A" => {
            props["ARecords"] = rs
                .values
                .iter()
                .map(|v| json!({ "ipv4Address": v }))
                .collect()
        }
        _ => {
            props["AAAARecords"] = rs
                .values
                .iter()
                .map(|v| json!({ "ipv6Address": v }))
                .collect()
        }
    }
    json!({
        "id": format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/dnszones/{zone}/{rtype}/{rel}"),
        "name": rel,
        "type": format!("Microsoft.Network/dnszones/{rtype}"),
        "etag": rs.etag.to_string(),
        "properties": props,
    })
}

/// The values of a record-set body, or why it is malformed.
fn values_of(rtype: &str, props: &Value) -> Result<Vec<String>, String> {
    let (list, key) = match rtype {
        "CNAME" => {
            return props["CNAMERecord"]["cname"]
                .as_str()
                .map(|c| vec![c.to_string()])
                .ok_or_else(|| "CNAMERecord.cname is required".to_string())
        }
        "A" => (&props["ARecords"], "ipv4Address"),
        _ => (&props["AAAARecords"], "ipv6Address"),
    };
    let v: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x[key].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if v.is_empty() {
        Err(format!("at least one {key} is required"))
    } else {
        Ok(v)
    }
}

fn dns(s: &mut SimState, r: &Req) -> Reply {
    let sub = s.subscription_id.clone();
    let zone = r.rest[1];
    let Some(z) = s
        .network
        .zones
        .get_mut(zone)
        .filter(|z| z.rg.eq_ignore_ascii_case(r.rg))
    else {
        return Reply::not_found("Microsoft.Network/dnszones", zone);
    };
    if r.rest.len() == 3 && r.rest[2].eq_ignore_ascii_case("recordsets") && *r.method == Method::GET
    {
        let rg = z.rg.clone();
        let value: Vec<Value> = z
            .records
            .iter()
            .map(|((rtype, rel), rs)| record_json(&sub, &rg, zone, rtype, rel, rs))
            .collect();
        return Reply::ok(json!({ "value": value }));
    }
    if r.rest.len() != 4 {
        return Reply::error(StatusCode::BAD_REQUEST, "BadRequest", "record sets only");
    }
    let rtype = r.rest[2].to_ascii_uppercase();
    if !["CNAME", "A", "AAAA"].contains(&rtype.as_str()) {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("record type {rtype} is not simulated"),
        );
    }
    let rel = r.rest[3].to_string();
    let key = (rtype.clone(), rel.clone());
    let rg = z.rg.clone();
    match *r.method {
        Method::GET => match z.records.get(&key) {
            Some(rs) => Reply::ok(record_json(&sub, &rg, zone, &rtype, &rel, rs)),
            None => Reply::not_found(&format!("Microsoft.Network/dnszones/{rtype}"), &rel),
        },
        Method::PUT | Method::PATCH => {
            let current = z.records.get(&key).cloned();
            if let Some(m) = r.headers.get("if-match").and_then(|v| v.to_str().ok()) {
                let ok = m == "*" && current.is_some()
                    || current
                        .as_ref()
                        .is_some_and(|c| c.etag.to_string() == m.trim_matches('"'));
                if !ok {
                    return Reply::error(
                        StatusCode::PRECONDITION_FAILED,
                        "PreconditionFailed",
                        "The condition specified using HTTP conditional header(s) is not met.",
                    );
                }
            }
            let props = &r.body["properties"];
            let ttl = props["TTL"].as_u64().map(|t| t as u32);
            let values = match (
                values_of(&rtype, props),
                &current,
                *r.method == Method::PATCH,
            ) {
                (Ok(v), _, _) => v,
                (Err(_), Some(c), true) => c.values.clone(),
                (Err(e), _, _) => return Reply::error(StatusCode::BAD_REQUEST, "BadRequest", e),
            };
            let next = RecordSet {
                ttl: ttl.or(current.as_ref().map(|c| c.ttl)).unwrap_or(3600),
                values,
                etag: current.as_ref().map(|c| c.etag + 1).unwrap_or(1),
            };
            let created = current.is_none();
            z.records.insert(key, next.clone());
            Reply::with(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                record_json(&sub, &rg, zone, &rtype, &rel, &next),
            )
        }
        _ => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "not here",
        ),
    }
}
