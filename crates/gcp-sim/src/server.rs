//! The HTTP server, the shared state, authentication, fault injection and routing to the simulated
//! APIs.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::time::Instant;

pub(crate) use aegis_dr_sim_http::percent_decode;
use aegis_dr_sim_http::{lock, router, Exchange, Fault, Faults, Request, RequestLog, Servers};
use axum::{
    http::{HeaderMap, Method, StatusCode, Uri},
    response::IntoResponse,
};
use serde_json::{json, Value};

use crate::{gke, monitoring, reply::Reply, sql, zones};

/// Everything the simulator knows; tests read and change it through [`GcpSim::with`].
#[derive(Debug)]
pub struct SimState {
    /// The project served.
    pub project: String,
    /// The access token every API request must carry (what the token endpoints issue).
    pub token: String,
    /// How long a Cloud SQL operation stays `PENDING`, then `RUNNING`.
    pub op_time: Duration,
    /// How long a DR-replica switchover runs (Cloud SQL: minutes).
    pub switchover_time: Duration,
    /// How long a `promoteReplica` runs.
    pub promote_time: Duration,
    /// How long an HA `failover` runs.
    pub failover_time: Duration,
    /// How long a Cloud DNS change stays `pending`.
    pub change_time: Duration,
    /// How long a node-pool resize runs (the pool `RECONCILING`, its groups unstable).
    pub pool_time: Duration,
    /// How long a node-pool autoscaling change runs.
    pub autoscaling_time: Duration,
    /// Next API requests answered 429 `RESOURCE_EXHAUSTED` (`throttle_next`), then 503
    /// `UNAVAILABLE` (`unavailable_next`).
    pub faults: Faults,
    /// IAM permissions (`cloudsql.instances.failover`) answered 403.
    pub denied: Vec<String>,
    /// The next Cloud SQL operation ends `DONE` with this error (code, message) and changes nothing.
    pub fail_next_operation: Option<(String, String)>,
    /// Cloud SQL instances whose region is down: every request about them answers 503.
    pub down_instances: Vec<String>,
    /// The `replica_lag` every read replica reports to Cloud Monitoring while its primary takes
    /// writes (0 once the primary is fenced); `None`: no metric at all.
    pub replica_lag: Option<Duration>,
    /// Replies written with enums as integers (requests that asked `$alt=json;enum-encoding=int`).
    pub int_enum_replies: u32,
    /// API requests served, in order (`POST /v1/projects/p/instances/i/switchover`).
    pub requests: RequestLog,
    /// Every request with its answer, in order, for the spec checks.
    pub exchanges: Vec<Exchange>,
    pub(crate) sql: sql::Sql,
    pub(crate) dns: zones::Dns,
    pub(crate) gke: gke::Gke,
    pub(crate) next_id: u64,
}

impl SimState {
    fn new() -> SimState {
        SimState {
            project: "aegis-prod".into(),
            token: "ya29.aegis-dr-simulator".into(),
            op_time: Duration::from_millis(300),
            switchover_time: Duration::from_millis(300),
            promote_time: Duration::from_millis(300),
            failover_time: Duration::from_millis(300),
            change_time: Duration::from_millis(200),
            pool_time: Duration::from_millis(300),
            autoscaling_time: Duration::from_millis(300),
            faults: Faults::default(),
            denied: Vec::new(),
            fail_next_operation: None,
            down_instances: Vec::new(),
            replica_lag: None,
            int_enum_replies: 0,
            requests: RequestLog::default(),
            exchanges: Vec::new(),
            sql: sql::Sql::default(),
            dns: zones::Dns::default(),
            gke: gke::Gke::default(),
            next_id: 0,
        }
    }

    /// A fresh id (operations, changes).
    pub(crate) fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Real-world durations, for tests in virtual time: a Cloud SQL update 30 s, a DR-replica
    /// switchover 4 min, a replica promotion 2 min, an HA failover 1 min, a Cloud DNS change 30 s,
    /// a node-pool resize 3 min (its autoscaling bounds 30 s).
    pub fn realistic_durations(&mut self) {
        self.op_time = Duration::from_secs(30);
        self.switchover_time = Duration::from_secs(240);
        self.promote_time = Duration::from_secs(120);
        self.failover_time = Duration::from_secs(60);
        self.change_time = Duration::from_secs(30);
        self.pool_time = Duration::from_secs(180);
        self.autoscaling_time = Duration::from_secs(30);
    }

    /// Applies the operations whose time has come.
    pub(crate) fn advance(&mut self, now: Instant) {
        self.sql.reattach(&self.down_instances);
        self.sql.advance(now);
        self.gke.advance(now);
    }
}

/// A request as the simulated APIs see it.
pub(crate) struct Req<'a> {
    pub method: &'a Method,
    /// Path segments after the API's `projects/{project}/`.
    pub rest: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: &'a Value,
    /// `http://127.0.0.1:port`, for self links.
    pub base: &'a str,
    pub now: Instant,
}

impl Req<'_> {
    /// A query parameter.
    pub(crate) fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A running simulator on 127.0.0.1.
pub struct GcpSim {
    addr: SocketAddr,
    state: Arc<Mutex<SimState>>,
    servers: Servers,
}

impl GcpSim {
    /// The refresh token of the `authorized_user` credential [`GcpSim::adc_json`] writes.
    pub const REFRESH_TOKEN: &'static str = "1//aegis-dr-simulated-refresh-token";

    /// Starts the simulator on an ephemeral loopback port, on the current tokio runtime.
    pub async fn start() -> std::io::Result<GcpSim> {
        let state = Arc::new(Mutex::new(SimState::new()));
        let servers = Servers::new();
        // The handler needs the bound address (the URLs it writes): bind first, then serve.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = state.clone();
        let app = router(4 << 20, move |r: Request| {
            let state = shared.clone();
            async move {
                let mut s = lock(&state);
                let reply = handle(&mut s, &r.method, &r.uri, &r.headers, &r.body, addr);
                s.exchanges.push(Exchange::of(
                    &r,
                    reply.status.as_u16(),
                    &reply.headers,
                    reply.body.to_string(),
                ));
                reply.into_response()
            }
        });
        servers.serve(listener, app);
        Ok(GcpSim {
            addr,
            state,
            servers,
        })
    }

    /// The endpoint of every simulated API (`http://127.0.0.1:port`): Cloud SQL Admin, GKE, Cloud
    /// DNS (under `/dns/v1`) and Compute (under `/compute/v1`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The metadata server's host (`GCE_METADATA_HOST`).
    pub fn metadata_host(&self) -> String {
        self.addr.to_string()
    }

    /// An `authorized_user` credential file (what `gcloud auth application-default login` writes)
    /// whose `token_uri` is this simulator: point `GOOGLE_APPLICATION_CREDENTIALS` at it.
    pub fn adc_json(&self) -> String {
        json!({
            "type": "authorized_user",
            "client_id": "aegis-dr-sim.apps.googleusercontent.com",
            "client_secret": "aegis-dr-sim-secret",
            "refresh_token": GcpSim::REFRESH_TOKEN,
            "token_uri": format!("{}/token", self.url()),
            "quota_project_id": "aegis-prod",
        })
        .to_string()
    }

    /// A healthy application endpoint per site (`{url}/primary`, `{url}/dr`) for plans under test;
    /// not a Google API.
    pub fn health_url(&self) -> String {
        format!("{}/health", self.url())
    }

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

fn query_of(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            // Form encoding: `+` is a space (a literal `+` comes as `%2B`).
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// The OAuth token endpoint (`refresh_token` grant) and the metadata server's token: one token.
fn token_reply(s: &SimState) -> Reply {
    Reply::ok(json!({
        "access_token": s.token,
        "expires_in": 3599,
        "token_type": "Bearer",
        "scope": "https://www.googleapis.com/auth/cloud-platform",
    }))
}

/// The `refresh_token` grant, as a form (RFC 6749) or as JSON (Google's Rust client sends JSON;
/// Google's endpoint takes both).
fn oauth_token(s: &SimState, body: &[u8]) -> Reply {
    let form: Vec<(String, String)> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => m
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
            .collect(),
        _ => String::from_utf8_lossy(body)
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (percent_decode(k), percent_decode(&v.replace('+', " "))))
            .collect(),
    };
    let get = |k: &str| form.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
    if get("grant_type") != Some("refresh_token")
        || get("refresh_token") != Some(GcpSim::REFRESH_TOKEN)
    {
        return Reply {
            status: StatusCode::BAD_REQUEST,
            body: json!({ "error": "invalid_grant", "error_description": "Bad Request" }),
            headers: Vec::new(),
        };
    }
    token_reply(s)
}

fn metadata(s: &SimState, path: &str, headers: &HeaderMap) -> Reply {
    if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
        return Reply::error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Missing required header: Metadata-Flavor",
        );
    }
    let reply = match path {
        "/computeMetadata/v1/instance/service-accounts/default/token" => token_reply(s),
        "/computeMetadata/v1/project/project-id" => Reply::ok(json!(s.project)),
        "/computeMetadata/v1/instance/service-accounts/default/email" => {
            Reply::ok(json!("aegis-dr@aegis-prod.iam.gserviceaccount.com"))
        }
        _ => Reply::not_found("metadata entry"),
    };
    reply.header("metadata-flavor", "Google".into())
}

fn handle(
    s: &mut SimState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    addr: SocketAddr,
) -> Reply {
    let path = uri.path().to_string();
    if path == "/token" && method == Method::POST {
        return oauth_token(s, body);
    }
    if path.starts_with("/computeMetadata/") {
        return metadata(s, &path, headers);
    }
    if path == "/" {
        // The metadata server's ping.
        return Reply::ok(json!("ok")).header("metadata-flavor", "Google".into());
    }
    if path.starts_with("/health/") {
        return Reply::ok(
            json!({ "in_flight": 0, "error_rate": 0.0, "healthy_for_seconds": 86400 }),
        );
    }
    s.requests.record(format!("{method} {path}"));
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {}", s.token) {
        return Reply::error(
            StatusCode::UNAUTHORIZED,
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        )
        .header("www-authenticate", "Bearer realm=\"https://accounts.google.com/\"".into());
    }
    let query = query_of(uri);
    let as_int = query
        .iter()
        .any(|(k, v)| k == "$alt" && v.contains("enum-encoding=int"));
    match s.faults.take() {
        Some(Fault::Throttled) => return Reply::error(
            StatusCode::TOO_MANY_REQUESTS,
            "rateLimitExceeded",
            "Quota exceeded for quota metric 'Mutate requests' and limit 'Mutate requests per minute per project'.",
        ),
        Some(Fault::Unavailable) => return Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "backendError",
            "The service is currently unavailable.",
        ),
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
                    "parseError",
                    format!("Invalid JSON payload received. {e}"),
                )
            }
        }
    };
    let segs: Vec<String> = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(percent_decode)
        .collect();
    let seg = |i: usize| segs.get(i).map(String::as_str).unwrap_or_default();
    // API prefix, then `projects/{project}/...`.
    let (api, at) = match (seg(0), seg(1)) {
        ("dns", "v1") => ("dns", 2),
        ("compute", "v1") => ("compute", 2),
        ("v3", _) => ("v3", 1),
        ("v1", _) => ("v1", 1),
        _ => return Reply::not_found(&format!("route {path}")),
    };
    if seg(at) != "projects" {
        return Reply::not_found(&format!("route {path}"));
    }
    if seg(at + 1) != s.project {
        return Reply::denied(
            "resourcemanager.projects.get",
            &format!("projects/{}", seg(at + 1)),
        );
    }
    let base = format!("http://{addr}");
    let req = Req {
        method,
        rest: segs[at + 2..].to_vec(),
        query,
        body: &input,
        base: &base,
        now,
    };
    let reply = match (api, req.rest.first().map(String::as_str)) {
        ("dns", _) => zones::handle(s, &req),
        ("compute", _) => gke::compute(s, &req),
        ("v3", _) => monitoring::handle(s, &req),
        ("v1", Some("locations")) => gke::handle(s, &req),
        ("v1", Some("instances" | "operations")) => sql::handle(s, &req),
        _ => Reply::not_found(&format!("route {path}")),
    };
    if as_int {
        s.int_enum_replies += 1;
    }
    reply.encode_enums(as_int)
}

/// 403 for `permission` when the test denied it.
pub(crate) fn check(s: &SimState, permission: &str, resource: &str) -> Result<(), Reply> {
    if s.denied.iter().any(|d| d == permission) {
        Err(Reply::denied(permission, resource))
    } else {
        Ok(())
    }
}
