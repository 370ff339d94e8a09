//! The HTTP server, the shared state, authentication, fault injection and ARM's common shapes
//! (error bodies, asynchronous operations) shared by the simulated resource providers.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::time::Instant;

use aegis_dr_sim_http::{lock, router, Exchange, Fault, Faults, Request, RequestLog, Servers};
use axum::{
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Router,
};
use serde_json::{json, Value};

use crate::{
    aks::{self, PoolFault},
    network, sql,
    throttle::Throttling,
};

/// An agent pool as (count, autoscaler bounds, provisioningState).
pub type AgentPoolSummary = (u32, Option<(u32, u32)>, String);

/// The tenant every simulated subscription belongs to.
pub const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// Everything the simulator knows; tests read and change it through [`AzureSim::with`].
#[derive(Debug)]
pub struct SimState {
    /// The subscription served.
    pub subscription_id: String,
    /// The bearer token every ARM request must carry (also what the token endpoint issues).
    pub token: String,
    /// How long a planned failover-group failover runs (Azure: about a minute, even for an empty
    /// database).
    pub failover_time: Duration,
    /// How long a forced failover (`forceFailoverAllowDataLoss`) runs.
    pub forced_failover_time: Duration,
    /// How long a planned failover whose primary does not answer runs before it fails with
    /// `PlannedFailoverTimedOut`.
    pub planned_failover_timeout: Duration,
    /// How long a SQL server update (`PATCH`: tags, `publicNetworkAccess`) runs.
    pub server_update_time: Duration,
    /// The next failover request is refused with 409 `InvalidDatabaseStateForOperation` (a
    /// database of the group is being updated or restored).
    pub invalid_database_state_next: bool,
    /// How a throttled request is answered (`faults.throttle_next`, `throttle_next_post`).
    pub throttling: Throttling,
    /// The next POST requests (actions such as a failover) answered throttled.
    pub throttle_next_post: u32,
    /// How long a forced failover's new secondary seeds before `CATCH_UP`.
    pub seeding_time: Duration,
    /// How long an enabled Traffic Manager endpoint stays `CheckingEndpoint`.
    pub monitor_time: Duration,
    /// How long an AKS agent-pool update stays `Updating`.
    pub pool_update_time: Duration,
    /// How the next agent-pool operation ends, when not in success.
    pub next_pool_fault: Option<PoolFault>,
    /// The `Retry-After` seconds of 202 and 429 answers.
    pub retry_after_secs: u64,
    /// Next requests answered 429 `SubscriptionRequestsThrottled` (`throttle_next`), then 503
    /// `ServiceUnavailable` (`unavailable_next`).
    pub faults: Faults,
    /// Actions (`Microsoft.Sql/servers/failoverGroups/failover/action`) answered 403.
    pub denied: Vec<String>,
    /// SQL servers (by name) whose region is down: every request about them answers 503.
    pub down_servers: Vec<String>,
    /// Traffic Manager endpoint targets whose health probes fail (`Degraded` when enabled).
    pub unhealthy_targets: Vec<String>,
    /// Traffic Manager endpoint targets (Azure services) that are stopped (`Stopped` when enabled).
    pub stopped_targets: Vec<String>,
    /// Requests served, in order (`POST /subscriptions/.../failover`).
    pub requests: RequestLog,
    /// Every request with its answer, in order, for the spec checks.
    pub exchanges: Vec<Exchange>,
    pub(crate) sql: sql::Sql,
    pub(crate) network: network::Network,
    pub(crate) aks: aks::Aks,
    pub(crate) operations: BTreeMap<String, Operation>,
    pub(crate) next_id: u64,
}

/// base64url without padding, for the token's JWT segments.
fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The token the simulator issues and expects: shaped like Entra ID's (a JWT naming the tenant, as
/// the Azure CLI reads it), signed by nobody.
fn sim_token() -> String {
    let header = json!({ "alg": "RS256", "typ": "JWT" });
    let claims = json!({
        "aud": "https://management.core.windows.net/",
        "iss": format!("https://sts.windows.net/{TENANT_ID}/"),
        "tid": TENANT_ID,
        "oid": "0ae91500-0000-4000-8000-00000000c11e",
        "appid": "0ae91500-0000-4000-8000-00000000c11e",
        "iat": 1_700_000_000u64,
        "nbf": 1_700_000_000u64,
        "exp": 4_102_444_800u64,
    });
    format!(
        "{}.{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes()),
        base64url(b"aegis-dr-simulator")
    )
}

/// An asynchronous ARM operation.
#[derive(Debug)]
pub(crate) struct Operation {
    /// When it started.
    pub started: Instant,
    /// When it ends.
    pub done_at: Instant,
    /// Its error, when it fails: (code, message).
    pub error: Option<(String, String)>,
    /// What it does when it ends.
    pub effect: sql::OpEffect,
    /// Set once the effect is applied.
    pub applied: bool,
    /// The resource path whose representation the final `Location` poll returns.
    pub resource: String,
}

impl SimState {
    fn new() -> SimState {
        SimState {
            subscription_id: "00000000-0000-0000-0000-0000000ae915".into(),
            token: sim_token(),
            failover_time: Duration::from_millis(300),
            forced_failover_time: Duration::from_millis(300),
            planned_failover_timeout: Duration::from_millis(300),
            server_update_time: Duration::from_millis(100),
            invalid_database_state_next: false,
            throttling: Throttling::SubscriptionRequestsThrottled,
            throttle_next_post: 0,
            seeding_time: Duration::from_millis(300),
            monitor_time: Duration::from_millis(300),
            pool_update_time: Duration::from_millis(300),
            next_pool_fault: None,
            retry_after_secs: 0,
            faults: Faults::default(),
            denied: Vec::new(),
            down_servers: Vec::new(),
            unhealthy_targets: Vec::new(),
            stopped_targets: Vec::new(),
            requests: RequestLog::default(),
            exchanges: Vec::new(),
            sql: sql::Sql::default(),
            network: network::Network::default(),
            aks: aks::Aks::default(),
            operations: BTreeMap::new(),
            next_id: 1,
        }
    }

    /// A new operation id, shaped like Azure's (a GUID).
    pub(crate) fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("0ae91500-0000-4000-8000-{:012x}", self.next_id)
    }

    /// Adds a SQL logical server.
    pub fn add_sql_server(&mut self, rg: &str, name: &str, location: &str) {
        self.sql.add_server(rg, name, location);
    }

    /// Adds a failover group between two servers (the first primary) holding `databases`, each
    /// with a DISCRETE restore point taken `backup_age` ago.
    pub fn add_failover_group(
        &mut self,
        name: &str,
        primary: (&str, &str),
        secondary: (&str, &str),
        databases: &[&str],
        backup_age: Option<Duration>,
    ) {
        self.sql
            .add_group(name, primary, secondary, databases, backup_age);
    }

    /// The failover group's current primary server and replication state.
    pub fn failover_group(&self, name: &str) -> Option<(String, String)> {
        self.sql.group_summary(name)
    }

    /// Gives a SQL server an approved private endpoint connection (so that
    /// `publicNetworkAccess = Disabled` is accepted).
    pub fn add_private_endpoint(&mut self, server: &str) {
        self.sql.add_private_endpoint(server);
    }

    /// Sets a failover group's read-write policy: `Automatic` with its grace period in minutes,
    /// or `Manual`.
    pub fn set_failover_policy(&mut self, group: &str, policy: &str, grace_minutes: Option<u32>) {
        self.sql.set_policy(group, policy, grace_minutes);
    }

    /// Puts a failover group's replication link in `state` (`SEEDING`, `PENDING`, `SUSPENDED`).
    pub fn set_replication_state(&mut self, group: &str, state: &str) {
        self.sql.set_state(group, state);
    }

    /// Azure fails an `Automatic` group over by itself (its grace period over, the primary's
    /// region out): no request from anyone. `Err` says why not (a `Manual` group).
    pub fn service_fails_over(&mut self, group: &str) -> Result<(), String> {
        self.sql.automatic_failover(group)
    }

    /// Real-world durations, for tests in virtual time: a planned failover-group failover takes a
    /// minute (even of an empty database), a forced one 30 s, a planned one whose primary does not
    /// answer gives up after 10 min, a server update 30 s, seeding 5 min, Traffic Manager's first
    /// probe of an enabled endpoint 40 s (its 30 s interval, and the probe), an agent-pool scale 3.5 min.
    pub fn realistic_durations(&mut self) {
        self.failover_time = Duration::from_secs(60);
        self.forced_failover_time = Duration::from_secs(30);
        self.planned_failover_timeout = Duration::from_secs(600);
        self.server_update_time = Duration::from_secs(30);
        self.seeding_time = Duration::from_secs(300);
        self.monitor_time = Duration::from_secs(40);
        self.pool_update_time = Duration::from_secs(210);
        self.retry_after_secs = 10;
    }

    /// Tags of a SQL server.
    pub fn sql_server_tags(&self, name: &str) -> BTreeMap<String, String> {
        self.sql.tags(name)
    }

    /// Adds a Traffic Manager profile with external endpoints (name, target, enabled, priority).
    pub fn add_traffic_manager(
        &mut self,
        rg: &str,
        name: &str,
        routing: &str,
        ttl: u32,
        endpoints: &[(&str, &str, bool, u32)],
    ) {
        self.network.add_profile(rg, name, routing, ttl, endpoints);
    }

    /// Endpoints of a profile as (name, endpointStatus, endpointMonitorStatus).
    pub fn traffic_manager_endpoints(&self, name: &str) -> Vec<(String, String, String)> {
        let now = Instant::now();
        self.network.endpoints_summary(name, now, self)
    }

    /// Enables or disables a Traffic Manager profile (a disabled one's endpoints read `Inactive`).
    pub fn set_traffic_manager_enabled(&mut self, name: &str, enabled: bool) {
        self.network.set_profile_enabled(name, enabled);
    }

    /// Sets a Traffic Manager endpoint's `alwaysServe` (no probes: `Unmonitored` when enabled).
    pub fn set_endpoint_always_serve(&mut self, profile: &str, endpoint: &str, on: bool) {
        self.network.set_always_serve(profile, endpoint, on);
    }

    /// The TTL of a Traffic Manager profile.
    pub fn traffic_manager_ttl(&self, name: &str) -> Option<u32> {
        self.network.profile_ttl(name)
    }

    /// Adds an Azure DNS zone.
    pub fn add_dns_zone(&mut self, rg: &str, zone: &str) {
        self.network.add_zone(rg, zone);
    }

    /// Sets a record set of `zone` (`relative` name, `CNAME`/`A`/`AAAA`).
    pub fn set_record(&mut self, zone: &str, rtype: &str, relative: &str, ttl: u32, value: &str) {
        self.network
            .set_record(zone, rtype, relative, ttl, &[value]);
    }

    /// Sets a record set of `zone` holding several values (an `A` or `AAAA` address set).
    pub fn set_record_values(
        &mut self,
        zone: &str,
        rtype: &str,
        relative: &str,
        ttl: u32,
        values: &[&str],
    ) {
        self.network.set_record(zone, rtype, relative, ttl, values);
    }

    /// A record set as (TTL, values).
    pub fn record(&self, zone: &str, rtype: &str, relative: &str) -> Option<(u32, Vec<String>)> {
        self.network.record(zone, rtype, relative)
    }

    /// Adds an AKS cluster (what `managedClusters` lists; its pools are added one by one).
    pub fn add_aks_cluster(&mut self, rg: &str, name: &str, location: &str) {
        self.aks.add_cluster(rg, name, location);
    }

    /// Adds an AKS cluster's agent pool: count, and autoscaler bounds when enabled.
    pub fn add_agent_pool(
        &mut self,
        rg: &str,
        cluster: &str,
        pool: &str,
        count: u32,
        autoscale: Option<(u32, u32)>,
    ) {
        self.aks.add(rg, cluster, pool, count, autoscale);
    }

    /// An agent pool as (count, autoscaler bounds, provisioningState).
    pub fn agent_pool(&self, cluster: &str, pool: &str) -> Option<AgentPoolSummary> {
        self.aks.summary(cluster, pool, Instant::now())
    }

    /// Applies the operations whose time has come.
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
            let (effect, failed) = (op.effect.clone(), op.error.is_some());
            self.sql.apply(&effect, failed);
        }
    }
}

/// An ARM reply: status, JSON body (none for an empty 202) and extra headers.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(crate) fn ok(v: Value) -> Reply {
        Reply::with(StatusCode::OK, v)
    }

    pub(crate) fn with(status: StatusCode, v: Value) -> Reply {
        Reply {
            status,
            body: Some(v),
            headers: Vec::new(),
        }
    }

    /// ARM's error body: `{"error": {"code", "message"}}`.
    pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Reply {
        Reply::with(
            status,
            json!({ "error": { "code": code, "message": message.into() } }),
        )
    }

    pub(crate) fn not_found(kind: &str, name: &str) -> Reply {
        Reply::error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The Resource '{kind}/{name}' was not found."),
        )
    }

    pub(crate) fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let body = self.body.map(|b| b.to_string()).unwrap_or_default();
        let mut r = (self.status, body).into_response();
        let h = r.headers_mut();
        if let Ok(v) = "application/json; charset=utf-8".parse() {
            h.insert("content-type", v);
        }
        for (k, v) in self.headers {
            if let Ok(v) = v.parse() {
                h.insert(k, v);
            }
        }
        r
    }
}

/// An ISO-8601 UTC timestamp (`2026-11-24T20:36:55Z`), the way ARM writes dates.
pub(crate) fn iso8601(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The wall-clock time of `at`.
pub(crate) fn wall(at: Instant) -> SystemTime {
    let now = Instant::now();
    if at <= now {
        SystemTime::now() - (now - at)
    } else {
        SystemTime::now() + (at - now)
    }
}

/// A request as the resource providers see it.
pub(crate) struct Req<'a> {
    pub method: &'a Method,
    /// Path segments after `/subscriptions/{id}/resourceGroups/{rg}/providers/{namespace}/`.
    pub rest: Vec<&'a str>,
    pub rg: &'a str,
    pub body: &'a Value,
    pub headers: &'a HeaderMap,
    pub base: String,
    pub now: Instant,
}

/// A running simulator on 127.0.0.1.
pub struct AzureSim {
    addr: SocketAddr,
    tls_addr: SocketAddr,
    ca_pem: String,
    state: Arc<Mutex<SimState>>,
    servers: Servers,
}

/// The router of one listener: every request goes to [`handle`] under the state lock.
fn app(state: Arc<Mutex<SimState>>, scheme: &'static str, addr: SocketAddr) -> Router {
    router(4 << 20, move |r: Request| {
        let state = state.clone();
        async move {
            let base = r
                .headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .map(|h| format!("{scheme}://{h}"))
                .unwrap_or_else(|| format!("{scheme}://{addr}"));
            let mut s = lock(&state);
            let reply = handle(&mut s, &r.method, &r.uri, &r.headers, &r.body, base);
            let body = reply
                .body
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default();
            s.exchanges.push(Exchange::of(
                &r,
                reply.status.as_u16(),
                &reply.headers,
                body,
            ));
            reply.into_response()
        }
    })
}

impl AzureSim {
    /// Starts the simulator on two ephemeral loopback ports (HTTP and HTTPS with a fresh
    /// self-signed certificate), on the current tokio runtime.
    pub async fn start() -> std::io::Result<AzureSim> {
        let state = Arc::new(Mutex::new(SimState::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let tls_tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let tls_addr = tls_tcp.local_addr()?;
        let (ca_pem, acceptor) = crate::tls::self_signed()?;
        let servers = Servers::new();
        servers.serve(listener, app(state.clone(), "http", addr));
        servers.serve(
            crate::tls::TlsListener::new(tls_tcp, acceptor),
            app(state.clone(), "https", tls_addr),
        );
        Ok(AzureSim {
            addr,
            tls_addr,
            ca_pem,
            state,
            servers,
        })
    }

    /// The HTTPS Resource Manager endpoint, for clients that want TLS (the Azure CLI).
    pub fn tls_url(&self) -> String {
        format!("https://{}", self.tls_addr)
    }

    /// The HTTPS endpoint's self-signed certificate (PEM), to trust in such clients.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The Resource Manager endpoint (`AZURE_RESOURCE_MANAGER_ENDPOINT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The managed-identity token endpoint (`IDENTITY_ENDPOINT`, `MSI_ENDPOINT`).
    pub fn identity_endpoint(&self) -> String {
        format!("http://{}/msi/token", self.addr)
    }

    /// A healthy application endpoint per site (`{url}/primary`, `{url}/dr`) for plans under test;
    /// not part of ARM.
    pub fn health_url(&self) -> String {
        format!("http://{}/health", self.addr)
    }

    /// The secret the token endpoint wants (`IDENTITY_HEADER`, `MSI_SECRET`).
    pub const IDENTITY_SECRET: &'static str = "aegis-sim-identity-secret";

    /// Reads or changes the state directly.
    pub fn with<T>(&self, f: impl FnOnce(&mut SimState) -> T) -> T {
        let mut s = lock(&self.state);
        s.advance(Instant::now());
        f(&mut s)
    }

    /// Stops serving.
    pub fn stop(&mut self) {
        self.servers.stop();
    }
}

fn query_param<'a>(uri: &'a Uri, key: &str) -> Option<&'a str> {
    uri.query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The managed-identity token endpoint: the App Service protocol (`X-IDENTITY-HEADER`, 2019-08-01,
/// used by `azure_identity`) and its older form (`secret`, 2017-09-01, used by the Azure CLI).
fn token(s: &SimState, uri: &Uri, headers: &HeaderMap) -> Reply {
    let secret = headers
        .get("x-identity-header")
        .or_else(|| headers.get("secret"))
        .and_then(|v| v.to_str().ok());
    if secret != Some(AzureSim::IDENTITY_SECRET) {
        return Reply::error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "missing or wrong identity header",
        );
    }
    let Some(resource) = query_param(uri, "resource") else {
        return Reply::error(StatusCode::BAD_REQUEST, "BadRequest", "no resource given");
    };
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() + 3600)
        .unwrap_or(3600);
    Reply::ok(json!({
        "access_token": s.token,
        "expires_on": expires.to_string(),
        "expires_in": "3600",
        "resource": resource.replace("%3A", ":").replace("%2F", "/"),
        "token_type": "Bearer",
        "client_id": "0ae91500-0000-4000-8000-00000000c11e",
    }))
}

/// The RBAC action an ARM request needs: `Microsoft.Sql/servers/failoverGroups/failover/action` for
/// `POST .../servers/s/failoverGroups/g/failover`; `None` for a path naming no resource provider.
pub fn rbac_action(method: &str, path: &str) -> Option<String> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let at = segs
        .iter()
        .position(|s| s.eq_ignore_ascii_case("providers"))?;
    let ns = segs.get(at + 1)?;
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    Some(action_of(&method, ns, &segs[at + 2..]))
}

/// The RBAC action a request needs (`Microsoft.Sql/servers/failoverGroups/failover/action`).
fn action_of(method: &Method, ns: &str, rest: &[&str]) -> String {
    let mut parts = vec![ns.to_string()];
    let mut i = 0;
    while i < rest.len() {
        parts.push(rest[i].to_string());
        i += 2;
    }
    // An odd count ends in an action name (`.../failover`): the type path holds it already.
    let verb = match *method {
        Method::GET => "read",
        Method::DELETE => "delete",
        Method::POST => "action",
        _ => "write",
    };
    format!("{}/{verb}", parts.join("/"))
}

fn handle(
    s: &mut SimState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    base: String,
) -> Reply {
    let path = format!("/{}", uri.path().trim_matches('/'));
    s.requests.record(format!("{method} {path}"));
    if path.eq_ignore_ascii_case("/msi/token") {
        return token(s, uri, headers);
    }
    if path.eq_ignore_ascii_case("/metadata/endpoints") {
        // Azure Stack's cloud metadata, which `az cloud register --profile ...-hybrid` reads.
        return Reply::ok(json!({
            "galleryEndpoint": format!("{base}/"),
            "graphEndpoint": "https://graph.windows.net/",
            "portalEndpoint": format!("{base}/"),
            "authentication": {
                "loginEndpoint": format!("{base}/"),
                "audiences": ["https://management.core.windows.net/"],
            }
        }));
    }
    if path.starts_with("/health/") {
        // The sites' application health endpoints, for plans under test: not ARM.
        return Reply::ok(
            json!({ "in_flight": 0, "error_rate": 0.0, "healthy_for_seconds": 86400 }),
        );
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {}", s.token) {
        return Reply::error(
            StatusCode::UNAUTHORIZED,
            if auth.is_empty() {
                "AuthenticationFailed"
            } else {
                "InvalidAuthenticationToken"
            },
            "The access token is missing or invalid.",
        )
        .header(
            "www-authenticate",
            format!(
                "Bearer authorization_uri=\"https://login.windows.net/{TENANT_ID}\", error=\"invalid_token\""
            ),
        );
    }
    if query_param(uri, "api-version").is_none_or(str::is_empty) {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    if method == Method::POST && s.throttle_next_post > 0 {
        s.throttle_next_post -= 1;
        return s.throttling.reply(s.retry_after_secs);
    }
    match s.faults.take() {
        Some(Fault::Throttled) => return s.throttling.reply(s.retry_after_secs),
        Some(Fault::Unavailable) => {
            return Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The service is temporarily unavailable; retry the request.",
            )
        }
        None => {}
    }
    let now = Instant::now();
    s.advance(now);
    let input: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContent",
                    format!("The request content was invalid and could not be deserialized: {e}"),
                )
            }
        }
    };
    let segs: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let eq = |i: usize, v: &str| segs.get(i).is_some_and(|s| s.eq_ignore_ascii_case(v));
    if !eq(0, "subscriptions") {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no route {path}"),
        );
    }
    if segs.len() == 1 {
        return Reply::ok(json!({ "value": [{
            "id": format!("/subscriptions/{}", s.subscription_id),
            "subscriptionId": s.subscription_id,
            "tenantId": TENANT_ID,
            "displayName": "aegis-dr simulated subscription",
            "state": "Enabled",
            "subscriptionPolicies": { "locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off" },
            "authorizationSource": "RoleBased",
        }]}));
    }
    if segs.get(1) != Some(&s.subscription_id.as_str()) {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!("The subscription '{}' could not be found.", segs[1]),
        );
    }
    // Subscription-level operation status: .../providers/Microsoft.Sql/locations/{l}/{kind}/{id}
    if eq(2, "providers") && eq(4, "locations") && segs.len() == 8 {
        return sql::operation_status(s, &segs[6].to_ascii_lowercase(), segs[7], now);
    }
    if !(eq(2, "resourceGroups") && eq(4, "providers") && segs.len() >= 7) {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no route {path}"),
        );
    }
    let (rg, ns) = (segs[3], segs[5]);
    let rest = segs[6..].to_vec();
    let action = action_of(method, ns, &rest);
    if s.denied.iter().any(|d| d.eq_ignore_ascii_case(&action)) {
        return Reply::error(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            format!(
                "The client 'aegis-dr' with object id '0ae91500-0000-4000-8000-00000000c11e' does not have authorization to perform action '{action}' over scope '{path}' or the scope is invalid. If access was recently granted, please refresh your credentials."
            ),
        );
    }
    let req = Req {
        method,
        rest,
        rg,
        body: &input,
        headers,
        base,
        now,
    };
    match ns.to_ascii_lowercase().as_str() {
        "microsoft.sql" => sql::handle(s, &req),
        "microsoft.network" => network::handle(s, &req),
        "microsoft.containerservice" => aks::list(s, &req).unwrap_or_else(|| aks::handle(s, &req)),
        _ => Reply::error(
            StatusCode::NOT_FOUND,
            "NoRegisteredProviderFound",
            format!("No registered resource provider found for namespace '{ns}'."),
        ),
    }
}
