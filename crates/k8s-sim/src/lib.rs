//! A wire-level simulator of the Kubernetes API subset aegis-dr uses, for tests: no kube-apiserver
//! can be installed on the machines this project is built on, so the real `kube` client talks HTTP to
//! this server instead.
//!
//! Modelled: `apps/v1` Deployments and StatefulSets with the `scale` subresource; `coordination.k8s.io/v1`
//! Leases (leader election: a replace carrying an old `resourceVersion` is 409); `v1` Namespaces,
//! Nodes, ConfigMaps, Secrets, Services; `networking.k8s.io/v1` Ingresses. Get, list (with equality-
//! and set-based label selectors `k=v`, `k!=v`, `k`, `!k`), create, replace (PUT, with
//! `resourceVersion` preconditions answering 409 Conflict), patch (JSON merge patch; strategic merge
//! patch and server-side apply are treated as merge patches, which is exact for the maps and scalars
//! aegis-dr changes; JSON patch with add/replace/remove/test), delete. Every write bumps
//! `resourceVersion` (and `metadata.generation` on spec changes). A rollout makes replicas available
//! a configurable time after a scale-up. Tests can inject 409 conflicts and stop the server to make a
//! cluster unreachable. Discovery (`/version`, `/api`, `/apis`, each group version's resource list)
//! is served too, so a real `kubectl` can read the simulated clusters (the tests check it does).
#![forbid(unsafe_code)]

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aegis_dr_sim_http::{lock, percent_decode, router, Request, RequestLog, Servers};
use axum::{
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{json, Map, Value};

mod discovery;
use discovery::discovery;

/// One resource type the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Kind {
    prefix: &'static str,
    plural: &'static str,
    kind: &'static str,
    api_version: &'static str,
    namespaced: bool,
    workload: bool,
}

const KINDS: [Kind; 11] = [
    Kind {
        prefix: "/apis/apps/v1",
        plural: "deployments",
        kind: "Deployment",
        api_version: "apps/v1",
        namespaced: true,
        workload: true,
    },
    Kind {
        prefix: "/apis/apps/v1",
        plural: "statefulsets",
        kind: "StatefulSet",
        api_version: "apps/v1",
        namespaced: true,
        workload: true,
    },
    Kind {
        prefix: "/api/v1",
        plural: "configmaps",
        kind: "ConfigMap",
        api_version: "v1",
        namespaced: true,
        workload: false,
    },
    Kind {
        prefix: "/api/v1",
        plural: "secrets",
        kind: "Secret",
        api_version: "v1",
        namespaced: true,
        workload: false,
    },
    Kind {
        prefix: "/api/v1",
        plural: "services",
        kind: "Service",
        api_version: "v1",
        namespaced: true,
        workload: false,
    },
    Kind {
        prefix: "/apis/networking.k8s.io/v1",
        plural: "ingresses",
        kind: "Ingress",
        api_version: "networking.k8s.io/v1",
        namespaced: true,
        workload: false,
    },
    Kind {
        prefix: "/api/v1",
        plural: "namespaces",
        kind: "Namespace",
        api_version: "v1",
        namespaced: false,
        workload: false,
    },
    Kind {
        prefix: "/api/v1",
        plural: "nodes",
        kind: "Node",
        api_version: "v1",
        namespaced: false,
        workload: false,
    },
    Kind {
        prefix: "/api/v1",
        plural: "pods",
        kind: "Pod",
        api_version: "v1",
        namespaced: true,
        workload: false,
    },
    Kind {
        prefix: "/apis/coordination.k8s.io/v1",
        plural: "leases",
        kind: "Lease",
        api_version: "coordination.k8s.io/v1",
        namespaced: true,
        workload: false,
    },
    Kind {
        prefix: "/api/v1",
        plural: "persistentvolumeclaims",
        kind: "PersistentVolumeClaim",
        api_version: "v1",
        namespaced: true,
        workload: false,
    },
];

/// Rollout bookkeeping of one workload.
#[derive(Debug, Clone, Copy)]
struct Rollout {
    prev_available: i64,
    changed: Instant,
}

/// The cluster's state.
#[derive(Debug)]
pub struct Cluster {
    /// Objects by (plural, namespace, name); namespace is empty for cluster-scoped kinds.
    objects: BTreeMap<(String, String, String), Value>,
    rollouts: BTreeMap<(String, String, String), Rollout>,
    resource_version: u64,
    /// Time a scale-up takes to make its replicas available.
    pub rollout_time: Duration,
    /// Latency added to every request before it is served (network and API server time).
    pub latency: Duration,
    /// The next this many writes answer 409 Conflict, as if another writer won.
    pub conflicts_to_inject: u32,
    /// Writes answered 409 so far.
    pub conflicts_answered: u32,
    /// Requests served (method and path), oldest first.
    pub requests: RequestLog,
}

impl Cluster {
    fn next_rv(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// Creates or replaces an object from its manifest (tests' seeding path; no preconditions).
    pub fn put(&mut self, manifest: Value) -> Value {
        let kind = manifest["kind"].as_str().unwrap_or_default().to_string();
        let Some(k) = KINDS.iter().find(|k| k.kind == kind) else {
            return manifest;
        };
        let ns = if k.namespaced {
            manifest["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string()
        } else {
            String::new()
        };
        let name = manifest["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let key = (k.plural.to_string(), ns.clone(), name);
        let mut obj = manifest;
        obj["apiVersion"] = json!(k.api_version);
        if k.namespaced {
            obj["metadata"]["namespace"] = json!(ns);
        }
        let rv = self.next_rv();
        stamp_new(&mut obj, &rv);
        if k.workload {
            let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            self.rollouts.insert(
                key.clone(),
                Rollout {
                    prev_available: replicas,
                    changed: Instant::now() - Duration::from_secs(3600),
                },
            );
        }
        self.objects.insert(key, obj.clone());
        obj
    }

    /// Creates a Deployment with `replicas`, all available.
    pub fn deployment(&mut self, ns: &str, name: &str, replicas: i64, labels: Value) {
        self.ensure_namespace(ns);
        self.put(json!({
            "kind": "Deployment",
            "metadata": { "name": name, "namespace": ns, "labels": labels },
            "spec": {
                "replicas": replicas,
                "selector": { "matchLabels": { "app": name } },
                "template": { "metadata": { "labels": { "app": name } }, "spec": { "containers": [ { "name": name, "image": format!("registry.example/{name}:1") } ] } }
            }
        }));
    }

    /// Creates a Namespace if missing.
    pub fn ensure_namespace(&mut self, ns: &str) {
        let key = ("namespaces".to_string(), String::new(), ns.to_string());
        if !self.objects.contains_key(&key) {
            self.put(json!({ "kind": "Namespace", "metadata": { "name": ns } }));
        }
    }

    /// Creates a Node, Ready or not.
    pub fn node(&mut self, name: &str, ready: bool) {
        self.put(json!({
            "kind": "Node",
            "metadata": { "name": name },
            "status": { "conditions": [ { "type": "Ready", "status": if ready { "True" } else { "False" } } ] }
        }));
    }

    /// An object as the API would return it, with workload status computed at `now`.
    pub fn get(&self, plural: &str, ns: &str, name: &str) -> Option<Value> {
        let key = (plural.to_string(), ns.to_string(), name.to_string());
        self.objects.get(&key).map(|o| self.render(&key, o))
    }

    fn render(&self, key: &(String, String, String), obj: &Value) -> Value {
        let mut obj = obj.clone();
        if let Some(r) = self.rollouts.get(key) {
            let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let available =
                if replicas <= r.prev_available || r.changed.elapsed() >= self.rollout_time {
                    replicas
                } else {
                    r.prev_available
                };
            let generation = obj["metadata"]["generation"].clone();
            obj["status"] = json!({
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": available,
                "availableReplicas": available,
                "currentReplicas": replicas,
            });
        }
        obj
    }

    fn available(&self, key: &(String, String, String)) -> i64 {
        self.objects
            .get(key)
            .map(|o| {
                self.render(key, o)["status"]["availableReplicas"]
                    .as_i64()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }
}

fn stamp_new(obj: &mut Value, rv: &str) {
    let meta = obj["metadata"]
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut meta = meta;
    meta.insert("resourceVersion".into(), json!(rv));
    meta.entry("uid")
        .or_insert_with(|| json!(format!("uid-{rv}")));
    meta.entry("creationTimestamp")
        .or_insert_with(|| json!("2026-01-01T00:00:00Z"));
    meta.entry("generation").or_insert(json!(1));
    obj["metadata"] = Value::Object(meta);
}

/// A running simulated API server on 127.0.0.1.
pub struct K8sSim {
    name: String,
    addr: SocketAddr,
    cluster: Arc<Mutex<Cluster>>,
    servers: Servers,
}

impl K8sSim {
    /// Starts a simulator named `name` on an ephemeral loopback port, on the current tokio runtime.
    pub async fn start(name: &str) -> std::io::Result<K8sSim> {
        let cluster = Arc::new(Mutex::new(Cluster {
            objects: BTreeMap::new(),
            rollouts: BTreeMap::new(),
            resource_version: 1000,
            rollout_time: Duration::from_millis(50),
            latency: Duration::ZERO,
            conflicts_to_inject: 0,
            conflicts_answered: 0,
            requests: RequestLog::default(),
        }));
        let servers = Servers::new();
        let state = cluster.clone();
        let app = router(16 << 20, move |r: Request| {
            let state = state.clone();
            async move {
                let latency = lock(&state).latency;
                if !latency.is_zero() {
                    tokio::time::sleep(latency).await;
                }
                handle(&state, r.method, r.uri, r.headers, &r.body).into_response()
            }
        });
        let addr = servers.bind("127.0.0.1:0", app).await?;
        Ok(K8sSim {
            name: name.to_string(),
            addr,
            cluster,
            servers,
        })
    }

    /// The server URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the cluster directly.
    pub fn with<T>(&self, f: impl FnOnce(&mut Cluster) -> T) -> T {
        f(&mut lock(&self.cluster))
    }

    /// Writes a kubeconfig (JSON, which is valid YAML) whose context `name` points at this server.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        let name = &self.name;
        let cfg = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [ { "name": name, "cluster": { "server": self.url() } } ],
            "users": [ { "name": format!("{name}-admin"), "user": { "token": format!("token-{name}") } } ],
            "contexts": [ { "name": name, "context": { "cluster": name, "user": format!("{name}-admin") } } ],
            "current-context": name,
        });
        std::fs::write(
            path,
            serde_json::to_vec_pretty(&cfg).map_err(std::io::Error::other)?,
        )
    }

    /// Stops serving: the cluster becomes unreachable (connections are refused).
    pub fn stop(&mut self) {
        self.servers.stop();
    }
}

/// A reply built under the cluster lock and serialised after it is released.
struct Reply(StatusCode, Value);

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (
            self.0,
            [("content-type", "application/json")],
            self.1.to_string(),
        )
            .into_response()
    }
}

fn status(code: StatusCode, reason: &str, message: String) -> Reply {
    Reply(
        code,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code.as_u16(),
        }),
    )
}

fn ok(v: Value) -> Reply {
    Reply(StatusCode::OK, v)
}

struct Route {
    kind: Kind,
    ns: String,
    name: Option<String>,
    scale: bool,
}

fn route(path: &str) -> Option<Route> {
    for k in KINDS.iter() {
        let Some(rest) = path.strip_prefix(k.prefix) else {
            continue;
        };
        let parts: Vec<&str> = rest
            .trim_start_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        let (ns, tail) = if k.namespaced {
            match parts.as_slice() {
                ["namespaces", ns, rest @ ..] => (ns.to_string(), rest.to_vec()),
                _ => continue,
            }
        } else {
            (String::new(), parts)
        };
        match tail.as_slice() {
            [p] if *p == k.plural => {
                return Some(Route {
                    kind: *k,
                    ns,
                    name: None,
                    scale: false,
                })
            }
            [p, name] if *p == k.plural => {
                return Some(Route {
                    kind: *k,
                    ns,
                    name: Some(name.to_string()),
                    scale: false,
                })
            }
            [p, name, "scale"] if *p == k.plural && k.workload => {
                return Some(Route {
                    kind: *k,
                    ns,
                    name: Some(name.to_string()),
                    scale: true,
                })
            }
            _ => {}
        }
    }
    None
}

/// `k=v`, `k==v`, `k!=v`, `k`, `!k` requirements, comma-separated.
fn selector_matches(selector: &str, labels: &Map<String, Value>) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .all(|req| {
            if let Some((k, v)) = req.split_once("!=") {
                labels.get(k.trim()).and_then(Value::as_str) != Some(v.trim())
            } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
                labels.get(k.trim()).and_then(Value::as_str) == Some(v.trim())
            } else if let Some(k) = req.strip_prefix('!') {
                !labels.contains_key(k.trim())
            } else {
                labels.contains_key(req)
            }
        })
}

fn query_param(uri: &Uri, key: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(&v.replace('+', " ")))
    })
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Some(t) = target.as_object_mut() {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn pointer_parent<'a>(doc: &'a mut Value, path: &str) -> Option<(&'a mut Value, String)> {
    let (parent, last) = path.rsplit_once('/')?;
    let last = last.replace("~1", "/").replace("~0", "~");
    Some((doc.pointer_mut(parent)?, last))
}

/// RFC 6902 JSON patch (add, replace, remove, test).
fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    for op in ops.as_array().ok_or("JSON patch must be an array")? {
        let path = op["path"].as_str().ok_or("op without path")?;
        match op["op"].as_str() {
            Some("test") => {
                if doc.pointer(path) != Some(&op["value"]) {
                    return Err(format!("test failed at {path}"));
                }
            }
            Some("remove") => {
                let (parent, last) =
                    pointer_parent(doc, path).ok_or(format!("no parent for {path}"))?;
                parent
                    .as_object_mut()
                    .and_then(|m| m.remove(&last))
                    .ok_or(format!("nothing at {path}"))?;
            }
            Some("add") | Some("replace") => {
                let (parent, last) =
                    pointer_parent(doc, path).ok_or(format!("no parent for {path}"))?;
                match parent {
                    Value::Object(m) => {
                        m.insert(last, op["value"].clone());
                    }
                    Value::Array(a) => {
                        let i: usize = if last == "-" {
                            a.len()
                        } else {
                            last.parse().map_err(|_| format!("bad index {last}"))?
                        };
                        if i <= a.len() {
                            a.insert(i, op["value"].clone());
                        }
                    }
                    _ => return Err(format!("cannot add at {path}")),
                }
            }
            other => return Err(format!("unsupported JSON patch op {other:?}")),
        }
    }
    Ok(())
}

fn handle(
    state: &Mutex<Cluster>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: &[u8],
) -> Reply {
    let mut c = lock(state);
    c.requests.record(format!("{method} {}", uri.path()));
    if method == Method::GET {
        if let Some(d) = discovery(uri.path()) {
            return ok(d);
        }
    }
    let Some(r) = route(uri.path()) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "the server could not find the requested resource ({})",
                uri.path()
            ),
        );
    };
    let k = r.kind;
    let writes = !matches!(method, Method::GET);
    if writes && c.conflicts_to_inject > 0 {
        c.conflicts_to_inject -= 1;
        c.conflicts_answered += 1;
        return status(
            StatusCode::CONFLICT,
            "Conflict",
            format!("Operation cannot be fulfilled on {}.{} \"{}\": the object has been modified; please apply your changes to the latest version and try again", k.plural, k.api_version.split('/').next().unwrap_or(""), r.name.clone().unwrap_or_default()),
        );
    }
    // The error is the HTTP response itself.
    #[allow(clippy::result_large_err)]
    let parse_body = || {
        serde_json::from_slice::<Value>(body).map_err(|e| {
            status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("invalid body: {e}"),
            )
        })
    };
    match (method.clone(), r.name.clone()) {
        (Method::GET, None) => {
            let selector = query_param(&uri, "labelSelector").unwrap_or_default();
            let items: Vec<Value> = c
                .objects
                .iter()
                .filter(|((p, ns, _), _)| p == k.plural && (!k.namespaced || *ns == r.ns))
                .filter(|(_, o)| {
                    let labels = o["metadata"]["labels"]
                        .as_object()
                        .cloned()
                        .unwrap_or_default();
                    selector_matches(&selector, &labels)
                })
                .map(|(key, o)| c.render(key, o))
                .collect();
            ok(json!({
                "kind": format!("{}List", k.kind), "apiVersion": k.api_version,
                "metadata": { "resourceVersion": c.resource_version.to_string() },
                "items": items,
            }))
        }
        (Method::POST, None) => {
            let mut obj = match parse_body() {
                Ok(v) => v,
                Err(e) => return e,
            };
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if name.is_empty() {
                return status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid",
                    "metadata.name: Required value".into(),
                );
            }
            let key = (k.plural.to_string(), r.ns.clone(), name.clone());
            if c.objects.contains_key(&key) {
                return status(
                    StatusCode::CONFLICT,
                    "AlreadyExists",
                    format!("{} \"{name}\" already exists", k.plural),
                );
            }
            if k.namespaced
                && !c
                    .objects
                    .contains_key(&("namespaces".into(), String::new(), r.ns.clone()))
            {
                return status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("namespaces \"{}\" not found", r.ns),
                );
            }
            if obj["metadata"]
                .get("resourceVersion")
                .is_some_and(|v| !v.is_null())
            {
                return status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid",
                    "metadata.resourceVersion: must be empty on create".into(),
                );
            }
            obj["kind"] = json!(k.kind);
            if k.namespaced {
                obj["metadata"]["namespace"] = json!(r.ns);
            }
            Reply(StatusCode::CREATED, c.put(obj))
        }
        (_, Some(name)) => {
            let key = (k.plural.to_string(), r.ns.clone(), name.clone());
            let Some(current) = c.objects.get(&key).cloned() else {
                return status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!(
                        "{}.{} \"{name}\" not found",
                        k.plural,
                        k.api_version.split('/').next().unwrap_or("")
                    ),
                );
            };
            if r.scale {
                let scale_of = |c: &Cluster, o: &Value| {
                    json!({
                        "kind": "Scale", "apiVersion": "autoscaling/v1",
                        "metadata": { "name": name, "namespace": r.ns, "resourceVersion": o["metadata"]["resourceVersion"] },
                        "spec": { "replicas": o["spec"]["replicas"].as_i64().unwrap_or(1) },
                        "status": { "replicas": c.available(&key) },
                    })
                };
                if method == Method::GET {
                    return ok(scale_of(&c, &current));
                }
                let mut scale = scale_of(&c, &current);
                let patch = match parse_body() {
                    Ok(v) => v,
                    Err(e) => return e,
                };
                let ct = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                match method {
                    Method::PUT => {
                        let want = patch["metadata"]["resourceVersion"].as_str();
                        if want.is_some_and(|w| {
                            Some(w) != current["metadata"]["resourceVersion"].as_str()
                        }) {
                            return status(StatusCode::CONFLICT, "Conflict", format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified", k.plural));
                        }
                        scale = patch;
                    }
                    Method::PATCH if ct.starts_with("application/json-patch") => {
                        if let Err(e) = json_patch(&mut scale, &patch) {
                            return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e);
                        }
                    }
                    Method::PATCH => merge_patch(&mut scale, &patch),
                    _ => {
                        return status(
                            StatusCode::METHOD_NOT_ALLOWED,
                            "MethodNotAllowed",
                            format!("{method} on scale"),
                        )
                    }
                }
                let Some(replicas) = scale["spec"]["replicas"].as_i64().filter(|r| *r >= 0) else {
                    return status(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Invalid",
                        "spec.replicas: must be a non-negative integer".into(),
                    );
                };
                let mut obj = current.clone();
                let old = obj["spec"]["replicas"].as_i64().unwrap_or(1);
                if old != replicas {
                    let prev = c.available(&key);
                    obj["spec"]["replicas"] = json!(replicas);
                    let g = obj["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
                    obj["metadata"]["generation"] = json!(g);
                    c.rollouts.insert(
                        key.clone(),
                        Rollout {
                            prev_available: prev,
                            changed: Instant::now(),
                        },
                    );
                }
                obj["metadata"]["resourceVersion"] = json!(c.next_rv());
                c.objects.insert(key.clone(), obj.clone());
                return ok(scale_of(&c, &obj));
            }
            match method {
                Method::GET => ok(c.render(&key, &current)),
                Method::DELETE => {
                    c.objects.remove(&key);
                    c.rollouts.remove(&key);
                    ok(
                        json!({ "kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {} }),
                    )
                }
                Method::PUT | Method::PATCH => {
                    let body = match parse_body() {
                        Ok(v) => v,
                        Err(e) => return e,
                    };
                    let ct = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    let mut obj = current.clone();
                    if method == Method::PUT {
                        let want = body["metadata"]["resourceVersion"].as_str();
                        if want != current["metadata"]["resourceVersion"].as_str() {
                            return status(StatusCode::CONFLICT, "Conflict", format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", k.plural));
                        }
                        obj = body;
                        obj["metadata"]["uid"] = current["metadata"]["uid"].clone();
                        obj["metadata"]["creationTimestamp"] =
                            current["metadata"]["creationTimestamp"].clone();
                        obj["metadata"]["generation"] = current["metadata"]["generation"].clone();
                    } else if ct.starts_with("application/json-patch") {
                        if let Err(e) = json_patch(&mut obj, &body) {
                            return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e);
                        }
                    } else {
                        // A patch carrying metadata.resourceVersion is a precondition.
                        if let Some(want) = body["metadata"]["resourceVersion"].as_str() {
                            if Some(want) != current["metadata"]["resourceVersion"].as_str() {
                                return status(StatusCode::CONFLICT, "Conflict", format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified", k.plural));
                            }
                        }
                        merge_patch(&mut obj, &body);
                    }
                    obj["kind"] = json!(k.kind);
                    obj["apiVersion"] = json!(k.api_version);
                    obj["metadata"]["name"] = json!(name);
                    if k.namespaced {
                        obj["metadata"]["namespace"] = json!(r.ns);
                    }
                    obj.as_object_mut().map(|m| m.remove("status"));
                    if obj["spec"] != current["spec"] {
                        let g = current["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
                        obj["metadata"]["generation"] = json!(g);
                        if k.workload {
                            let (old, new) = (
                                current["spec"]["replicas"].as_i64().unwrap_or(1),
                                obj["spec"]["replicas"].as_i64().unwrap_or(1),
                            );
                            if old != new {
                                let prev = c.available(&key);
                                c.rollouts.insert(
                                    key.clone(),
                                    Rollout {
                                        prev_available: prev,
                                        changed: Instant::now(),
                                    },
                                );
                            }
                        }
                    }
                    if let Some(st) = current.get("status").filter(|_| !k.workload) {
                        obj["status"] = st.clone();
                    }
                    obj["metadata"]["resourceVersion"] = json!(c.next_rv());
                    c.objects.insert(key.clone(), obj.clone());
                    ok(c.render(&key, &obj))
                }
                _ => status(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    format!("{method} is not supported"),
                ),
            }
        }
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{method} on a collection"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_removes_nulls_and_merges_maps() {
        let mut t =
            json!({"metadata": {"annotations": {"a": "1", "b": "2"}}, "spec": {"replicas": 2}});
        merge_patch(
            &mut t,
            &json!({"metadata": {"annotations": {"a": null, "c": "3"}}, "spec": {"replicas": 6}}),
        );
        assert_eq!(
            t,
            json!({"metadata": {"annotations": {"b": "2", "c": "3"}}, "spec": {"replicas": 6}})
        );
    }

    #[test]
    fn selectors_and_routes() {
        let labels = json!({"app": "api", "tier": "web"});
        let l = labels.as_object().unwrap();
        assert!(selector_matches("app=api,tier!=batch", l));
        assert!(selector_matches("app,!missing", l));
        assert!(!selector_matches("app=web", l));
        let r = route("/apis/apps/v1/namespaces/prod/deployments/api/scale").unwrap();
        assert!(r.scale && r.ns == "prod" && r.name.as_deref() == Some("api"));
        assert!(route("/api/v1/nodes").is_some());
        assert!(route("/apis/batch/v1/jobs").is_none());
        assert_eq!(
            percent_decode("app%3Dapi%2Ctier%21%3Dweb"),
            "app=api,tier!=web"
        );
    }

    #[test]
    fn json_patch_ops() {
        let mut d = json!({"metadata": {"annotations": {"x/y": "1"}}});
        json_patch(&mut d, &json!([{"op": "add", "path": "/metadata/annotations/z", "value": "2"}, {"op": "remove", "path": "/metadata/annotations/x~1y"}])).unwrap();
        assert_eq!(d, json!({"metadata": {"annotations": {"z": "2"}}}));
        assert!(json_patch(
            &mut d,
            &json!([{"op": "test", "path": "/metadata/annotations/z", "value": "9"}])
        )
        .is_err());
    }
}
