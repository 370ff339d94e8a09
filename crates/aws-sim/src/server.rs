//! The HTTP server, the shared state and the fault injection common to both simulated services.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use aegis_dr_sim_http::{lock, router, Fault, Faults, Request, RequestLog, Servers};
use axum::{
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{json, Value};

use crate::{drs, eks};

/// Everything the simulator knows; tests read and change it through [`AwsSim::with`].
#[derive(Debug)]
pub struct SimState {
    /// How long a DRS job runs before its participants reach a final launch status.
    pub job_time: Duration,
    /// How long a recovery instance replicates back before it is ready for the failback launch.
    pub failback_replication_time: Duration,
    /// How long an EKS node-group update stays `InProgress`.
    pub nodegroup_update_time: Duration,
    /// Next requests (any operation) answered with 429 `ThrottlingException` (`throttle_next`),
    /// then 503 `ServiceUnavailableException` (`unavailable_next`).
    pub faults: Faults,
    /// Operations (by name, e.g. `StartFailbackLaunch`) answered with 403 `AccessDeniedException`.
    pub denied: Vec<String>,
    /// Next DRS failback jobs whose launches fail.
    pub fail_next_failback_jobs: u32,
    /// Next DRS recovery jobs whose launches fail.
    pub fail_next_recovery_jobs: u32,
    /// EC2 endpoint (LocalStack) where a completed failback starts the source server's instance.
    pub ec2_endpoint: Option<String>,
    /// Auto Scaling endpoint (moto) the node groups write their sizes to.
    pub autoscaling_endpoint: Option<String>,
    /// Region of the source servers' EC2 instances (DRS itself runs in the recovery region).
    pub source_region: String,
    /// Operations served, in order (`drs:DescribeJobs`, `eks:UpdateNodegroupConfig`, ...).
    pub requests: RequestLog,
    pub(crate) drs: drs::Drs,
    pub(crate) eks: eks::Eks,
    pub(crate) next_id: u64,
}

impl SimState {
    fn new() -> SimState {
        SimState {
            job_time: Duration::from_millis(200),
            failback_replication_time: Duration::from_millis(200),
            nodegroup_update_time: Duration::from_millis(200),
            faults: Faults::default(),
            denied: Vec::new(),
            fail_next_failback_jobs: 0,
            fail_next_recovery_jobs: 0,
            ec2_endpoint: None,
            autoscaling_endpoint: None,
            source_region: "us-east-1".into(),
            requests: RequestLog::default(),
            drs: drs::Drs::default(),
            eks: eks::Eks::default(),
            next_id: 1,
        }
    }

    /// A new identifier with `prefix` and 17 hex digits, the shape of AWS ids.
    pub(crate) fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:017x}", 0xae915_u64 * 1_000_003 + self.next_id)
    }

    /// Adds a DRS source server protecting the EC2 instance `aws_instance_id` (if any), with one
    /// recovery snapshot taken `snapshot_age` ago.
    pub fn add_source_server(
        &mut self,
        id: &str,
        aws_instance_id: Option<&str>,
        snapshot_age: Duration,
    ) {
        let snap = self.new_id("pit-");
        self.drs
            .add_source_server(id, aws_instance_id, snap, snapshot_age);
    }

    /// Sets the hostname the source server `id`'s agent reports.
    pub fn set_source_hostname(&mut self, id: &str, hostname: &str) {
        self.drs.set_hostname(id, hostname);
    }

    /// Adds an EKS managed node group in `region`, optionally backed by the Auto Scaling group `asg`.
    pub fn add_nodegroup(
        &mut self,
        region: &str,
        cluster: &str,
        name: &str,
        sizes: (u32, u32, u32),
        asg: Option<&str>,
    ) {
        self.eks.add(region, cluster, name, sizes, asg);
    }

    /// The scaling config (min, max, desired) of a node group.
    pub fn nodegroup(&self, region: &str, cluster: &str, name: &str) -> Option<(u32, u32, u32)> {
        self.eks.sizes(region, cluster, name)
    }

    /// Recovery instances as (id, source server, failback state, is drill).
    pub fn recovery_instances(&self) -> Vec<(String, String, String, bool)> {
        self.drs.instances()
    }

    /// Jobs as (id, initiated by, status).
    pub fn jobs(&self) -> Vec<(String, String, String)> {
        self.drs.jobs_summary()
    }

    /// True when the source server replicates toward DR again (re-protected after a failback).
    pub fn source_server_protected(&self, id: &str) -> Option<bool> {
        self.drs.protected(id)
    }
}

/// A side effect on another service, performed after the state lock is released.
#[derive(Debug)]
pub(crate) enum Effect {
    /// `ec2:StartInstances` of these instances, in `region`.
    StartInstances { region: String, ids: Vec<String> },
    /// `autoscaling:UpdateAutoScalingGroup` in `region`.
    UpdateAsg {
        region: String,
        name: String,
        min: u32,
        max: u32,
        desired: u32,
    },
}

/// A restJson1 reply.
pub(crate) struct Reply(pub StatusCode, pub Option<&'static str>, pub Value);

impl Reply {
    pub(crate) fn ok(v: Value) -> Reply {
        Reply(StatusCode::OK, None, v)
    }

    pub(crate) fn error(code: StatusCode, error_type: &'static str, message: String) -> Reply {
        Reply(code, Some(error_type), json!({ "message": message }))
    }

    pub(crate) fn not_found(message: String) -> Reply {
        Reply::error(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    pub(crate) fn conflict(message: String) -> Reply {
        Reply::error(StatusCode::CONFLICT, "ConflictException", message)
    }

    pub(crate) fn invalid(message: String) -> Reply {
        Reply::error(StatusCode::BAD_REQUEST, "ValidationException", message)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut r = (
            self.0,
            [("content-type", "application/json")],
            self.2.to_string(),
        )
            .into_response();
        if let Some(t) = self.1 {
            if let Ok(v) = t.parse() {
                r.headers_mut().insert("x-amzn-errortype", v);
            }
        }
        r
    }
}

/// An ISO-8601 timestamp, the way DRS writes its `...DateTime` strings.
pub(crate) fn iso8601(t: SystemTime) -> String {
    aws_smithy_types::DateTime::from(t)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// Seconds since the epoch, the way EKS writes timestamps.
pub(crate) fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Which service and region a request is for, from its SigV4 credential scope
/// (`Credential=<key>/<date>/<region>/<service>/aws4_request`).
fn scope_of(headers: &HeaderMap) -> (&'static str, String) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let scope: Vec<&str> = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split([',', ' ']).next())
        .map(|c| c.split('/').collect())
        .unwrap_or_default();
    let region = scope.get(2).copied().unwrap_or("us-east-1").to_string();
    let service = if scope.get(3) == Some(&"eks") {
        "eks"
    } else {
        "drs"
    };
    (service, region)
}

/// A running simulator of DRS and EKS on 127.0.0.1, serving both on one port (requests are told
/// apart by the service in their SigV4 scope and by path).
pub struct AwsSim {
    addr: SocketAddr,
    state: Arc<Mutex<SimState>>,
    servers: Servers,
}

impl AwsSim {
    /// Starts the simulator on an ephemeral loopback port, on the current tokio runtime.
    pub async fn start() -> std::io::Result<AwsSim> {
        AwsSim::start_on("127.0.0.1:0").await
    }

    /// Starts the simulator on `addr` (`host:port`).
    pub async fn start_on(addr: &str) -> std::io::Result<AwsSim> {
        let state = Arc::new(Mutex::new(SimState::new()));
        let servers = Servers::new();
        let shared = state.clone();
        let http = reqwest::Client::new();
        let app = router(4 << 20, move |r: Request| {
            let state = shared.clone();
            let http = http.clone();
            async move {
                let (reply, effects, endpoints) = {
                    let mut s = lock(&state);
                    let (reply, effects) = handle(&mut s, &r.method, &r.uri, &r.headers, &r.body);
                    let endpoints = (s.ec2_endpoint.clone(), s.autoscaling_endpoint.clone());
                    (reply, effects, endpoints)
                };
                for e in effects {
                    apply_effect(&http, &endpoints, e).await;
                }
                reply.into_response()
            }
        });
        let addr = servers.bind(addr, app).await?;
        Ok(AwsSim {
            addr,
            state,
            servers,
        })
    }

    /// The endpoint URL, for `AWS_ENDPOINT_URL_DRS` and `AWS_ENDPOINT_URL_EKS`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Reads or changes the state directly.
    pub fn with<T>(&self, f: impl FnOnce(&mut SimState) -> T) -> T {
        let mut s = lock(&self.state);
        f(&mut s)
    }

    /// Stops serving.
    pub fn stop(&mut self) {
        self.servers.stop();
    }
}

fn handle(
    s: &mut SimState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (Reply, Vec<Effect>) {
    let (service, region) = scope_of(headers);
    let path = uri.path().to_string();
    let op = match service {
        "eks" => eks::operation(method, &path),
        _ => path.trim_start_matches('/').to_string(),
    };
    s.requests.record(format!("{service}:{op}"));
    match s.faults.take() {
        Some(Fault::Throttled) => {
            return (
                Reply::error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "ThrottlingException",
                    "Rate exceeded".into(),
                ),
                Vec::new(),
            )
        }
        Some(Fault::Unavailable) => {
            return (
                Reply::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailableException",
                    "Service is unavailable. Try again later.".into(),
                ),
                Vec::new(),
            )
        }
        None => {}
    }
    if s.denied.contains(&op) {
        return (
            Reply::error(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                format!(
                    "User: arn:aws:iam::123456789012:user/aegis is not authorized to perform: {service}:{op}"
                ),
            ),
            Vec::new(),
        );
    }
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return (
                    Reply::error(
                        StatusCode::BAD_REQUEST,
                        "SerializationException",
                        format!("request body is not JSON: {e}"),
                    ),
                    Vec::new(),
                )
            }
        }
    };
    let now = Instant::now();
    match service {
        "eks" => eks::handle(
            s,
            now,
            &region,
            method,
            &path,
            uri.query().unwrap_or_default(),
            &input,
        ),
        _ => drs::handle(s, now, &op, &input),
    }
}

async fn apply_effect(
    http: &reqwest::Client,
    (ec2, asg): &(Option<String>, Option<String>),
    effect: Effect,
) {
    // Query-protocol calls; the emulators do not check signatures.
    let (endpoint, service, region, form): (&Option<String>, &str, String, Vec<(String, String)>) =
        match effect {
            Effect::StartInstances { region, ids } => {
                let mut form = vec![
                    ("Action".to_string(), "StartInstances".to_string()),
                    ("Version".to_string(), "2016-11-15".to_string()),
                ];
                for (i, id) in ids.into_iter().enumerate() {
                    form.push((format!("InstanceId.{}", i + 1), id));
                }
                (ec2, "ec2", region, form)
            }
            Effect::UpdateAsg {
                region,
                name,
                min,
                max,
                desired,
            } => (
                asg,
                "autoscaling",
                region,
                vec![
                    ("Action".into(), "UpdateAutoScalingGroup".into()),
                    ("Version".into(), "2011-01-01".into()),
                    ("AutoScalingGroupName".into(), name),
                    ("MinSize".into(), min.to_string()),
                    ("MaxSize".into(), max.to_string()),
                    ("DesiredCapacity".into(), desired.to_string()),
                ],
            ),
        };
    let Some(endpoint) = endpoint else {
        return;
    };
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let _ = http
        .post(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=test/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(body)
        .send()
        .await;
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A string field of a JSON input.
pub(crate) fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A list of strings of a JSON input.
pub(crate) fn str_list(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Keeps the map type in one place for the services.
pub(crate) type Map<K, V> = BTreeMap<K, V>;
