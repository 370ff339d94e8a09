//! Microsoft.Sql: logical servers, failover groups and their asynchronous failovers, restore points.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant, SystemTime},
};

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::server::{iso8601, wall, Reply, Req, SimState};

const API: &str = "2021-11-01";

#[derive(Debug, Default)]
pub(crate) struct Sql {
    servers: BTreeMap<String, Server>,
    groups: Vec<Group>,
}

#[derive(Debug)]
struct Server {
    rg: String,
    location: String,
    tags: BTreeMap<String, String>,
    public_network_access: String,
}

#[derive(Debug)]
struct Group {
    name: String,
    /// The two member servers.
    members: [String; 2],
    /// Index of the primary in `members`.
    primary: usize,
    /// `CATCH_UP`, `SEEDING`, `PENDING` or `SUSPENDED`.
    state: String,
    /// When a `SEEDING` secondary reaches `CATCH_UP`.
    seeded_at: Option<Instant>,
    databases: Vec<String>,
    /// Wall-clock creation time of each database's newest DISCRETE restore point.
    restore_points: Option<SystemTime>,
    policy: String,
    grace_minutes: Option<u32>,
    /// The running failover operation.
    busy: Option<String>,
}

/// What an operation does when it ends.
#[derive(Debug, Clone)]
pub(crate) enum OpEffect {
    /// The group's primary becomes `members[to]`.
    Failover {
        group: usize,
        to: usize,
        forced: bool,
    },
}

impl Sql {
    pub(crate) fn add_server(&mut self, rg: &str, name: &str, location: &str) {
        self.servers.insert(
            name.to_string(),
            Server {
                rg: rg.to_string(),
                location: location.to_string(),
                tags: BTreeMap::new(),
                public_network_access: "Enabled".into(),
            },
        );
    }

    pub(crate) fn add_group(
        &mut self,
        name: &str,
        primary: (&str, &str),
        secondary: (&str, &str),
        databases: &[&str],
        backup_age: Option<Duration>,
    ) {
        for (rg, server) in [primary, secondary] {
            if !self.servers.contains_key(server) {
                self.add_server(rg, server, "eastus");
            }
        }
        self.groups.push(Group {
            name: name.to_string(),
            members: [primary.1.to_string(), secondary.1.to_string()],
            primary: 0,
            state: "CATCH_UP".into(),
            seeded_at: None,
            databases: databases.iter().map(|d| d.to_string()).collect(),
            restore_points: backup_age.map(|a| SystemTime::now() - a),
            policy: "Manual".into(),
            grace_minutes: None,
            busy: None,
        });
    }

    /// The group `name` (case-insensitive, as ARM names are) as `server` sees it: (group index,
    /// the server's index among its members).
    fn find(&self, name: &str, server: &str) -> Option<(usize, usize)> {
        self.groups.iter().enumerate().find_map(|(i, g)| {
            (g.name.eq_ignore_ascii_case(name))
                .then(|| g.members.iter().position(|m| m == server).map(|m| (i, m)))
                .flatten()
        })
    }

    pub(crate) fn group_summary(&self, name: &str) -> Option<(String, String)> {
        let g = self.groups.iter().find(|g| g.name == name)?;
        Some((g.members[g.primary].clone(), g.state.clone()))
    }

    pub(crate) fn tags(&self, server: &str) -> BTreeMap<String, String> {
        self.servers
            .get(server)
            .map(|s| s.tags.clone())
            .unwrap_or_default()
    }

    pub(crate) fn apply(&mut self, e: &OpEffect, failed: bool, at: Instant, seeding: Duration) {
        let OpEffect::Failover { group, to, forced } = *e;
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        g.busy = None;
        if failed {
            return;
        }
        g.primary = to;
        if forced {
            // The old primary rejoins as a secondary and is re-seeded.
            g.state = "SEEDING".into();
            g.seeded_at = Some(at + seeding);
        } else {
            g.state = "CATCH_UP".into();
        }
    }

    fn settle(&mut self, now: Instant) {
        for g in &mut self.groups {
            if g.seeded_at.is_some_and(|t| t <= now) {
                g.seeded_at = None;
                g.state = "CATCH_UP".into();
            }
        }
    }

    fn server_json(&self, sub: &str, name: &str) -> Option<Value> {
        let s = self.servers.get(name)?;
        Some(json!({
            "id": server_id(sub, &s.rg, name),
            "name": name,
            "type": "Microsoft.Sql/servers",
            "location": s.location,
            "kind": "v12.0",
            "tags": s.tags,
            "properties": {
                "version": "12.0",
                "state": "Ready",
                "fullyQualifiedDomainName": format!("{name}.database.windows.net"),
                "publicNetworkAccess": s.public_network_access,
                "administratorLogin": "aegisadmin",
            }
        }))
    }

    fn group_json(&self, sub: &str, gi: usize, member: usize) -> Value {
        let g = &self.groups[gi];
        let me = &g.members[member];
        let partner = &g.members[1 - member];
        let role = |i: usize| {
            if i == g.primary {
                "Primary"
            } else {
                "Secondary"
            }
        };
        let srv = |n: &String| self.servers.get(n);
        let rg = srv(me).map(|s| s.rg.clone()).unwrap_or_default();
        let mut rw = json!({ "failoverPolicy": g.policy });
        if let Some(m) = g.grace_minutes {
            rw["failoverWithDataLossGracePeriodMinutes"] = json!(m);
        }
        json!({
            "id": format!("{}/failoverGroups/{}", server_id(sub, &rg, me), g.name),
            "name": g.name,
            "type": "Microsoft.Sql/servers/failoverGroups",
            "location": srv(me).map(|s| s.location.clone()),
            "tags": {},
            "properties": {
                "readWriteEndpoint": rw,
                "readOnlyEndpoint": { "failoverPolicy": "Disabled" },
                "replicationRole": role(member),
                "replicationState": g.state,
                "partnerServers": [{
                    "id": server_id(sub, &srv(partner).map(|s| s.rg.clone()).unwrap_or_default(), partner),
                    "location": srv(partner).map(|s| s.location.clone()),
                    "replicationRole": role(1 - member),
                }],
                "databases": g.databases.iter().map(|d| format!("{}/databases/{d}", server_id(sub, &rg, me))).collect::<Vec<_>>(),
            }
        })
    }
}

fn server_id(sub: &str, rg: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Sql/servers/{name}")
}

/// `servers/{s}`, `servers/{s}/failoverGroups/{g}[/failover|/forceFailoverAllowDataLoss]`,
/// `servers/{s}/databases/{d}/restorePoints`.
pub(crate) fn handle(s: &mut SimState, r: &Req) -> Reply {
    s.sql.settle(r.now);
    let sub = s.subscription_id.clone();
    if !r.rest[0].eq_ignore_ascii_case("servers") {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "no such Microsoft.Sql type",
        );
    }
    let server = r.rest[1];
    let Some(srv) = s.sql.servers.get(server) else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The Resource 'Microsoft.Sql/servers/{server}' under resource group '{}' was not found.", r.rg),
        );
    };
    if !srv.rg.eq_ignore_ascii_case(r.rg) {
        return Reply::not_found("Microsoft.Sql/servers", server);
    }
    if s.down_servers.iter().any(|d| d == server) {
        return Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("The server '{server}' is not reachable: its region is unavailable."),
        );
    }
    let kind = r.rest.get(2).map(|k| k.to_ascii_lowercase());
    match (r.method, r.rest.len(), kind.as_deref()) {
        (&Method::GET, 2, _) => s
            .sql
            .server_json(&sub, server)
            .map(Reply::ok)
            .unwrap_or_else(|| Reply::not_found("Microsoft.Sql/servers", server)),
        (&Method::PATCH, 2, _) => {
            let Some(srv) = s.sql.servers.get_mut(server) else {
                return Reply::not_found("Microsoft.Sql/servers", server);
            };
            if let Some(tags) = r.body.get("tags").and_then(Value::as_object) {
                srv.tags = tags
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
            }
            if let Some(p) = r.body["properties"]["publicNetworkAccess"].as_str() {
                if p != "Enabled" && p != "Disabled" {
                    return Reply::error(
                        StatusCode::BAD_REQUEST,
                        "InvalidParameterValue",
                        format!("Invalid value '{p}' for parameter publicNetworkAccess."),
                    );
                }
                srv.public_network_access = p.to_string();
            }
            s.sql
                .server_json(&sub, server)
                .map(Reply::ok)
                .unwrap_or_else(|| Reply::not_found("Microsoft.Sql/servers", server))
        }
        (_, 4.., Some("failovergroups")) => group(s, r, &sub, server),
        (&Method::GET, 5, Some("databases")) if r.rest[4].eq_ignore_ascii_case("restorePoints") => {
            restore_points(s, &sub, server, r.rest[3])
        }
        _ => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{} is not supported here", r.method),
        ),
    }
}

fn group(s: &mut SimState, r: &Req, sub: &str, server: &str) -> Reply {
    let name = r.rest[3];
    let Some((gi, member)) = s.sql.find(name, server) else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The requested resource of type 'Microsoft.Sql/servers/failoverGroups' with name '{name}' was not found."),
        );
    };
    let action = r.rest.get(4).map(|a| a.to_ascii_lowercase());
    match (r.method, action.as_deref()) {
        (&Method::GET, None) => Reply::ok(s.sql.group_json(sub, gi, member)),
        (&Method::PATCH, None) => {
            let g = &mut s.sql.groups[gi];
            let rw = &r.body["properties"]["readWriteEndpoint"];
            if let Some(p) = rw["failoverPolicy"].as_str() {
                g.policy = p.to_string();
            }
            if let Some(m) = rw["failoverWithDataLossGracePeriodMinutes"].as_u64() {
                g.grace_minutes = Some(m as u32);
            }
            Reply::ok(s.sql.group_json(sub, gi, member))
        }
        (&Method::POST, Some(a @ ("failover" | "forcefailoverallowdataloss"))) => {
            let forced = a != "failover";
            let g = &s.sql.groups[gi];
            if g.primary == member {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "FailoverGroupFailoverRequestOnPrimary",
                    format!("Cannot failover failover group '{name}' because server '{server}' is already the primary for that group. Failover should be initiated on a secondary server."),
                );
            }
            if g.busy.is_some() {
                return Reply::error(
                    StatusCode::CONFLICT,
                    "FailoverGroupBusy",
                    format!(
                        "There is an operation already in progress on failover group '{name}'."
                    ),
                );
            }
            let old_primary_down = s.down_servers.contains(&g.members[g.primary]);
            let error = (!forced && old_primary_down).then(|| {
                (
                    "FailoverGroupPartnerUnavailable".to_string(),
                    format!("The planned failover of '{name}' cannot synchronise with the primary server '{}', which is unreachable; a forced failover (forceFailoverAllowDataLoss) is required.", g.members[g.primary]),
                )
            });
            let location = s
                .sql
                .servers
                .get(server)
                .map(|x| x.location.clone())
                .unwrap_or_default();
            let id = s.new_id();
            let resource = format!("{}/failoverGroups/{name}", server_id(sub, r.rg, server));
            s.sql.groups[gi].busy = Some(id.clone());
            s.operations.insert(
                id.clone(),
                crate::server::Operation {
                    done_at: r.now + s.failover_time,
                    error,
                    effect: OpEffect::Failover {
                        group: gi,
                        to: member,
                        forced,
                    },
                    applied: false,
                    resource,
                },
            );
            let ops = format!(
                "{}/subscriptions/{sub}/providers/Microsoft.Sql/locations/{location}",
                r.base
            );
            Reply {
                status: StatusCode::ACCEPTED,
                body: None,
                headers: vec![
                    (
                        "azure-asyncoperation",
                        format!("{ops}/failoverGroupAzureAsyncOperation/{id}?api-version={API}"),
                    ),
                    (
                        "location",
                        format!("{ops}/failoverGroupOperationResults/{id}?api-version={API}"),
                    ),
                    ("retry-after", s.retry_after_secs.to_string()),
                ],
            }
        }
        _ => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{} is not supported on failover groups", r.method),
        ),
    }
}

fn restore_points(s: &SimState, sub: &str, server: &str, db: &str) -> Reply {
    let Some(g) = s
        .sql
        .groups
        .iter()
        .find(|g| g.members.iter().any(|m| m == server) && g.databases.iter().any(|d| d == db))
    else {
        return Reply::not_found("Microsoft.Sql/servers/databases", db);
    };
    let rg = s
        .sql
        .servers
        .get(server)
        .map(|x| x.rg.clone())
        .unwrap_or_default();
    let base = format!(
        "{}/databases/{db}/restorePoints",
        server_id(sub, &rg, server)
    );
    let mut value = vec![json!({
        "id": format!("{base}/ContinuousBackup"),
        "name": "ContinuousBackup",
        "type": "Microsoft.Sql/servers/databases/restorePoints",
        "properties": {
            "restorePointType": "CONTINUOUS",
            "earliestRestoreDate": iso8601(SystemTime::now() - Duration::from_secs(7 * 86_400)),
        }
    })];
    // Backups are taken of the primary's databases; the secondary has none of its own.
    if g.members[g.primary] == server {
        if let Some(t) = g.restore_points {
            value.push(json!({
                "id": format!("{base}/aegis-nightly"),
                "name": "aegis-nightly",
                "type": "Microsoft.Sql/servers/databases/restorePoints",
                "properties": {
                    "restorePointType": "DISCRETE",
                    "restorePointCreationDate": iso8601(t),
                    "restorePointLabel": "aegis-nightly",
                }
            }));
        }
    }
    Reply::ok(json!({ "value": value }))
}

/// `failoverGroupAzureAsyncOperation/{id}` (the status body) and `failoverGroupOperationResults/{id}`
/// (202 until done, then the resource).
pub(crate) fn operation_status(s: &mut SimState, kind: &str, id: &str, now: Instant) -> Reply {
    let Some(op) = s.operations.get(id) else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The operation '{id}' was not found."),
        );
    };
    let running = op.done_at > now;
    let started = iso8601(wall(op.done_at - s.failover_time));
    match kind {
        "failovergroupazureasyncoperation" => {
            let mut v = json!({
                "name": id,
                "status": if running { "InProgress" } else if op.error.is_some() { "Failed" } else { "Succeeded" },
                "startTime": started,
            });
            if let (false, Some((code, message))) = (running, &op.error) {
                v["error"] = json!({ "code": code, "message": message });
            }
            let mut reply = Reply::ok(v);
            if running {
                reply = reply.header("retry-after", s.retry_after_secs.to_string());
            }
            reply
        }
        "failovergroupoperationresults" => {
            if running {
                return Reply {
                    status: StatusCode::ACCEPTED,
                    body: None,
                    headers: vec![("retry-after", s.retry_after_secs.to_string())],
                };
            }
            if let Some((code, message)) = &op.error {
                return Reply::error(StatusCode::BAD_REQUEST, code, message.clone());
            }
            let resource = op.resource.clone();
            let segs: Vec<&str> = resource.split('/').filter(|p| !p.is_empty()).collect();
            let (server, group) = (segs[7], segs[9]);
            let sub = s.subscription_id.clone();
            match s.sql.find(group, server) {
                Some((gi, m)) => Reply::ok(s.sql.group_json(&sub, gi, m)),
                None => Reply::not_found("Microsoft.Sql/servers/failoverGroups", group),
            }
        }
        _ => Reply::error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no operation kind {kind}"),
        ),
    }
}
