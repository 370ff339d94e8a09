//! Microsoft.Sql: logical servers, failover groups and their asynchronous failovers, restore points.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};
use tokio::time::Instant;

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
    /// Approved private endpoint connections: without one, `publicNetworkAccess = Disabled` is
    /// refused (`PECsNotExistingToDenyPublicNetworkAccess`).
    private_endpoints: u32,
    /// The running server update (`PATCH`), by operation id.
    busy: Option<String>,
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
    /// Suspended by a forced failover: seeding starts once the old primary answers again.
    resume_with_partner: bool,
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
    /// A server `PATCH`: its tags and `publicNetworkAccess` take effect.
    ServerUpdate {
        server: String,
        tags: Option<BTreeMap<String, String>>,
        public_network_access: Option<String>,
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
                private_endpoints: 0,
                busy: None,
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
            resume_with_partner: false,
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

    /// Gives `server` an approved private endpoint connection.
    pub(crate) fn add_private_endpoint(&mut self, server: &str) {
        if let Some(s) = self.servers.get_mut(server) {
            s.private_endpoints += 1;
        }
    }

    /// Sets a group's read-write failover policy (`Automatic` with its grace period, or `Manual`).
    pub(crate) fn set_policy(&mut self, name: &str, policy: &str, grace_minutes: Option<u32>) {
        if let Some(g) = self.groups.iter_mut().find(|g| g.name == name) {
            g.policy = policy.to_string();
            g.grace_minutes = grace_minutes;
        }
    }

    /// Puts a group's replication link in `state` (`SEEDING`, `PENDING`, `SUSPENDED`, `CATCH_UP`).
    pub(crate) fn set_state(&mut self, name: &str, state: &str) {
        if let Some(g) = self.groups.iter_mut().find(|g| g.name == name) {
            g.state = state.to_string();
            g.seeded_at = None;
            g.resume_with_partner = false;
        }
    }

    /// The service's own failover of a group whose policy is `Automatic` (after its grace period,
    /// the primary's region out): the partner becomes primary with possible data loss, no request
    /// from anyone. Refused (with why) for a `Manual` group.
    pub(crate) fn automatic_failover(&mut self, name: &str) -> Result<(), String> {
        let gi = self
            .groups
            .iter()
            .position(|g| g.name == name)
            .ok_or_else(|| format!("no failover group {name}"))?;
        let g = &self.groups[gi];
        if g.policy != "Automatic" {
            return Err(format!(
                "failover group {name} has failoverPolicy {}: Azure fails it over only when asked",
                g.policy
            ));
        }
        let to = 1 - g.primary;
        self.apply(
            &OpEffect::Failover {
                group: gi,
                to,
                forced: true,
            },
            false,
        );
        Ok(())
    }

    pub(crate) fn tags(&self, server: &str) -> BTreeMap<String, String> {
        self.servers
            .get(server)
            .map(|s| s.tags.clone())
            .unwrap_or_default()
    }

    pub(crate) fn apply(&mut self, e: &OpEffect, failed: bool) {
        let (group, to, forced) = match e {
            OpEffect::Failover { group, to, forced } => (*group, *to, *forced),
            OpEffect::ServerUpdate {
                server,
                tags,
                public_network_access,
            } => {
                if let Some(srv) = self.servers.get_mut(server) {
                    srv.busy = None;
                    if !failed {
                        if let Some(t) = tags {
                            srv.tags = t.clone();
                        }
                        if let Some(p) = public_network_access {
                            srv.public_network_access = p.clone();
                        }
                    }
                }
                return;
            }
        };
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        g.busy = None;
        if failed {
            return;
        }
        g.primary = to;
        if forced {
            // The new primary's link is suspended until the old primary answers; then the old
            // primary rejoins as a secondary and is re-seeded (see `settle`).
            g.state = "SUSPENDED".into();
            g.seeded_at = None;
            g.resume_with_partner = true;
        } else {
            g.state = "CATCH_UP".into();
        }
    }

    /// Moves replication links on: a `SUSPENDED` link (a forced failover's, its partner out)
    /// starts seeding once the partner answers again, and a seeded link catches up.
    fn settle(&mut self, now: Instant, down: &[String], seeding: Duration) {
        for g in &mut self.groups {
            let partner = &g.members[1 - g.primary];
            if g.resume_with_partner && !down.contains(partner) {
                g.resume_with_partner = false;
                g.state = "SEEDING".into();
                g.seeded_at = Some(now + seeding);
            }
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
                "privateEndpointConnections": (0..s.private_endpoints).map(|i| json!({
                    "id": format!("{}/privateEndpointConnections/{name}-pe-{i}", server_id(sub, &s.rg, name)),
                    "properties": {
                        "privateEndpoint": { "id": format!("/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.Network/privateEndpoints/{name}-pe-{i}", s.rg) },
                        "privateLinkServiceConnectionState": { "status": "Approved", "description": "Auto-approved", "actionsRequired": "None" },
                        "provisioningState": "Ready",
                    }
                })).collect::<Vec<_>>(),
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

/// `servers` (a group's list), `servers/{s}`, `servers/{s}/failoverGroups` (the server's list),
/// `servers/{s}/failoverGroups/{g}[/failover|/forceFailoverAllowDataLoss]`,
/// `servers/{s}/databases/{d}/restorePoints`.
pub(crate) fn handle(s: &mut SimState, r: &Req) -> Reply {
    s.sql.settle(r.now, &s.down_servers, s.seeding_time);
    let sub = s.subscription_id.clone();
    if let [l, _, kind, id] = r.rest.as_slice() {
        if l.eq_ignore_ascii_case("locations") {
            return operation_status(s, &kind.to_ascii_lowercase(), id, r.now);
        }
    }
    if r.rest.len() == 1 && *r.method == Method::GET && r.rest[0].eq_ignore_ascii_case("servers") {
        let value: Vec<Value> = s
            .sql
            .servers
            .iter()
            .filter(|(_, srv)| srv.rg.eq_ignore_ascii_case(r.rg))
            .filter_map(|(name, _)| s.sql.server_json(&sub, name))
            .collect();
        return Reply::ok(json!({ "value": value }));
    }
    if r.rest.len() < 2 || !r.rest[0].eq_ignore_ascii_case("servers") {
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
        // Its region out: the request times out behind ARM (504 `RequestTimeout`, as the
        // operations' error lists have it).
        return Reply::error(
            StatusCode::GATEWAY_TIMEOUT,
            "RequestTimeout",
            format!("Service request exceeded the allowed timeout: the server '{server}' did not answer."),
        );
    }
    let kind = r.rest.get(2).map(|k| k.to_ascii_lowercase());
    match (r.method, r.rest.len(), kind.as_deref()) {
        (&Method::GET, 2, _) => s
            .sql
            .server_json(&sub, server)
            .map(Reply::ok)
            .unwrap_or_else(|| Reply::not_found("Microsoft.Sql/servers", server)),
        (&Method::PATCH, 2, _) => server_update(s, r, &sub, server),
        (&Method::GET, 3, Some("failovergroups")) => {
            let value: Vec<Value> = s
                .sql
                .groups
                .iter()
                .enumerate()
                .filter_map(|(gi, g)| {
                    let member = g.members.iter().position(|m| m == server)?;
                    Some(s.sql.group_json(&sub, gi, member))
                })
                .collect();
            Reply::ok(json!({ "value": value }))
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

/// `PATCH servers/{s}` (Servers_Update): a long-running operation. Answered 202 with
/// `Azure-AsyncOperation` and `Location`; the tags and `publicNetworkAccess` take effect when the
/// operation ends, not before. `Disabled` is refused on a server without a private endpoint.
fn server_update(s: &mut SimState, r: &Req, sub: &str, server: &str) -> Reply {
    let Some(srv) = s.sql.servers.get(server) else {
        return Reply::not_found("Microsoft.Sql/servers", server);
    };
    let tags = match r.body.get("tags") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect::<BTreeMap<_, _>>(),
        ),
        Some(_) => {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: 'tags' must be an object.",
            )
        }
    };
    let pna = r.body["properties"]["publicNetworkAccess"]
        .as_str()
        .map(String::from);
    if let Some(p) = &pna {
        if p != "Enabled" && p != "Disabled" {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValue",
                format!("Invalid value '{p}' for parameter publicNetworkAccess."),
            );
        }
    }
    if srv.busy.is_some() {
        return Reply::error(
            StatusCode::CONFLICT,
            "ConflictingServerOperation",
            format!("An ongoing operation on server '{server}' is in progress; retry when it has completed."),
        );
    }
    // Accepted, and refused only when the operation runs (as recorded: a 202, then the
    // operation's status `Failed` with this code).
    let error = (pna.as_deref() == Some("Disabled") && srv.private_endpoints == 0).then(|| {
        (
            "PECsNotExistingToDenyPublicNetworkAccess".to_string(),
            "Unable to set Deny Public Network Access to Yes since there is no private endpoint enabled to access the server. Please set up private endpoints and retry the operation (https://docs.microsoft.com/azure/sql-database/sql-database-private-endpoint-overview#how-to-set-up-private-link-for-azure-sql-database).".to_string(),
        )
    });
    let location = srv.location.clone();
    let id = s.new_id();
    if let Some(srv) = s.sql.servers.get_mut(server) {
        srv.busy = Some(id.clone());
    }
    s.operations.insert(
        id.clone(),
        crate::server::Operation {
            started: r.now,
            done_at: r.now + s.server_update_time,
            error,
            effect: OpEffect::ServerUpdate {
                server: server.to_string(),
                tags,
                public_network_access: pna,
            },
            applied: false,
            resource: server_id(sub, r.rg, server),
        },
    );
    // A server's operation URLs name its resource group (a failover group's do not).
    let ops = format!(
        "{}/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.Sql/locations/{location}",
        r.base, r.rg
    );
    Reply {
        status: StatusCode::ACCEPTED,
        body: Some(
            json!({ "operation": "UpsertLogicalServer", "startTime": iso8601(wall(r.now)) }),
        ),
        headers: vec![
            (
                "azure-asyncoperation",
                format!("{ops}/serverAzureAsyncOperation/{id}?api-version={API}"),
            ),
            (
                "location",
                format!("{ops}/serverOperationResults/{id}?api-version={API}"),
            ),
        ],
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
            failover(s, r, sub, server, (gi, member), a != "failover")
        }
        _ => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{} is not supported on failover groups", r.method),
        ),
    }
}

/// `POST .../failoverGroups/{g}/failover` and `.../forceFailoverAllowDataLoss`, sent to the
/// secondary: refused at once where Azure refuses at once; else a 202 carrying the operation's
/// status body (and no `Retry-After`), the roles swapping when it ends. A planned failover whose
/// primary does not answer runs until it gives up with `PlannedFailoverTimedOut`.
fn failover(
    s: &mut SimState,
    r: &Req,
    sub: &str,
    server: &str,
    (gi, member): (usize, usize),
    forced: bool,
) -> Reply {
    let g = &s.sql.groups[gi];
    let name = g.name.clone();
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
            format!("The Failover Group '{name}' is busy with another operation and cannot perform 'failover' operation. Please try again later."),
        );
    }
    if std::mem::take(&mut s.invalid_database_state_next) {
        return Reply::error(
            StatusCode::CONFLICT,
            "InvalidDatabaseStateForOperation",
            format!("The operation cannot be performed because database '{}' is in an invalid state for it (an update or restore is in progress).", g.databases.first().map(String::as_str).unwrap_or("?")),
        );
    }
    if !forced && g.state != "CATCH_UP" {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "IncorrectReplicationLinkState",
            format!("The planned failover of failover group '{name}' cannot be performed because the replication link is in state '{}'; it must be 'CATCH_UP'.", g.state),
        );
    }
    let old_primary_down = s.down_servers.contains(&g.members[g.primary]);
    let error = (!forced && old_primary_down).then(|| {
        (
            "PlannedFailoverTimedOut".to_string(),
            format!("The planned failover of failover group '{name}' timed out: the primary server '{}' could not be synchronized with. Use forceFailoverAllowDataLoss to fail over with possible data loss.", g.members[g.primary]),
        )
    });
    let took = match (forced, error.is_some()) {
        (_, true) => s.planned_failover_timeout,
        (true, false) => s.forced_failover_time,
        (false, false) => s.failover_time,
    };
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
            started: r.now,
            done_at: r.now + took,
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
        body: Some(json!({
            "operation": "FailoverFailoverGroup",
            "startTime": iso8601(wall(r.now)),
        })),
        headers: vec![
            (
                "azure-asyncoperation",
                format!("{ops}/failoverGroupAzureAsyncOperation/{id}?api-version={API}"),
            ),
            (
                "location",
                format!("{ops}/failoverGroupOperationResults/{id}?api-version={API}"),
            ),
        ],
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
    let started = iso8601(wall(op.started));
    match kind {
        "failovergroupazureasyncoperation" | "serverazureasyncoperation" => {
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
        "failovergroupoperationresults" | "serveroperationresults" => {
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
            let sub = s.subscription_id.clone();
            let (Some(server), Some(group)) = (segs.get(7), segs.get(9)) else {
                let server = segs.get(7).copied().unwrap_or_default();
                return s
                    .sql
                    .server_json(&sub, server)
                    .map(Reply::ok)
                    .unwrap_or_else(|| Reply::not_found("Microsoft.Sql/servers", server));
            };
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
