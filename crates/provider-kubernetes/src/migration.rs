//! Namespace migration between two clusters, DR-Syncer style: stage (copy resources, workloads held
//! at 0 replicas with their original counts recorded), cutover (destination up to the recorded counts,
//! source down) and failback (optionally migrate PVC data back, destination down, source back up to
//! its recorded counts, annotations cleared).
//!
//! Unlike DR-Syncer, a cutover records the source's *current* replica counts every time (it never
//! reuses a stale annotation), and a failback clears the annotation it restored from.

use std::{path::PathBuf, time::Duration};

use aegis_dr_core::{
    clock::Clock,
    provider::ORIGINAL_REPLICAS_ANNOTATION,
    retry::{poll_until, retry, Poll, RetryPolicy, WaitPolicy},
    Error, ErrorKind, Result,
};

/// Retries for conflicts and transient API errors.
fn policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 6,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(2),
    }
}
use k8s_openapi::{
    api::{
        apps::v1::{Deployment, StatefulSet},
        core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service},
        networking::v1::Ingress,
    },
    NamespaceResourceScope,
};
use kube::{
    api::{Api, ListParams, Patch, PatchParams, PostParams},
    Client, Resource,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

use crate::error::from_kube;

/// One cluster and namespace.
#[derive(Clone)]
pub struct Endpoint {
    /// Client of the cluster.
    pub client: Client,
    /// The namespace moved (the same on both clusters).
    pub namespace: String,
    /// Kubeconfig file (handed to `pv-migrate`).
    pub kubeconfig: Option<PathBuf>,
    /// Context (handed to `pv-migrate`).
    pub context: Option<String>,
}

/// What a migration does.
pub struct Migration {
    /// Where resources come from (the production cluster).
    pub source: Endpoint,
    /// Where they go (the DR cluster).
    pub dest: Endpoint,
    /// Report only; change nothing.
    pub dry_run: bool,
    /// How long to wait for rollouts.
    pub timeout: Duration,
    /// The clock its waits and retries sleep on (virtual time in tests).
    pub clock: Clock,
}

/// One thing a migration did (or would do).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Action {
    /// `Deployment`, `ConfigMap`, ...
    pub kind: String,
    /// Object name.
    pub name: String,
    /// Which cluster: `source` or `dest`.
    pub side: String,
    /// `create`, `update`, `unchanged`, `scale`, `annotate`, `migrate-pvc`, `skip`.
    pub action: String,
    /// Replicas before and after, for scaling.
    pub replicas: Option<(u32, u32)>,
    /// Why, where it is not obvious.
    pub note: Option<String>,
}

fn act(kind: &str, name: &str, side: &str, action: &str) -> Action {
    Action {
        kind: kind.into(),
        name: name.into(),
        side: side.into(),
        action: action.into(),
        replicas: None,
        note: None,
    }
}

trait Copyable:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Serialize
    + DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}
impl<T> Copyable for T where
    T: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// Fields the destination cluster assigns itself, removed before copying.
fn sanitize(v: &mut Value, kind: &str, namespace: &str) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "managedFields",
            "selfLink",
            "ownerReferences",
            "deletionTimestamp",
        ] {
            m.remove(f);
        }
        m.insert("namespace".into(), json!(namespace));
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("deployment.kubernetes.io/revision");
        }
    }
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    if kind == "Service" {
        if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
            for f in ["clusterIP", "clusterIPs", "healthCheckNodePort"] {
                spec.remove(f);
            }
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    if let Some(p) = p.as_object_mut() {
                        p.remove("nodePort");
                    }
                }
            }
        }
    }
}

fn replicas_of(v: &Value) -> u32 {
    v["spec"]["replicas"].as_u64().unwrap_or(1) as u32
}

fn annotation(v: &Value, key: &str) -> Option<String> {
    v["metadata"]["annotations"][key].as_str().map(String::from)
}

impl Migration {
    fn endpoint(&self, side: Side) -> &Endpoint {
        match side {
            Side::Source => &self.source,
            Side::Dest => &self.dest,
        }
    }

    async fn ensure_namespace(&self) -> Result<Option<Action>> {
        let api: Api<Namespace> = Api::all(self.dest.client.clone());
        let ns = &self.dest.namespace;
        if api
            .get_opt(ns)
            .await
            .map_err(|e| from_kube(e, "get", &format!("namespace {ns} (dest)")))?
            .is_some()
        {
            return Ok(None);
        }
        if !self.dry_run {
            let obj: Namespace = serde_json::from_value(json!({ "metadata": { "name": ns } }))
                .map_err(|e| Error::new(ErrorKind::Provider, e.to_string()))?;
            api.create(&PostParams::default(), &obj)
                .await
                .map_err(|e| from_kube(e, "create", &format!("namespace {ns} (dest)")))?;
        }
        Ok(Some(act("Namespace", ns, "dest", "create")))
    }

    /// Copies every object of kind `K`; workloads are held at 0 replicas with their source count recorded.
    async fn copy_kind<K: Copyable>(
        &self,
        kind: &str,
        workload: bool,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let src: Api<K> = Api::namespaced(self.source.client.clone(), &self.source.namespace);
        let dst: Api<K> = Api::namespaced(self.dest.client.clone(), &self.dest.namespace);
        let what = format!("{kind} objects in {} (source)", self.source.namespace);
        let items = src
            .list(&ListParams::default())
            .await
            .map_err(|e| from_kube(e, "list", &what))?
            .items;
        for obj in items {
            let mut v = serde_json::to_value(&obj)
                .map_err(|e| Error::new(ErrorKind::Provider, e.to_string()))?;
            let name = v["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if kind == "Secret" && v["type"] == "kubernetes.io/service-account-token" {
                out.push(Action {
                    note: Some("service-account tokens are minted by each cluster".into()),
                    ..act(kind, &name, "dest", "skip")
                });
                continue;
            }
            if kind == "ConfigMap" && name == "kube-root-ca.crt" {
                continue;
            }
            sanitize(&mut v, kind, &self.dest.namespace);
            // A 409 (another writer, or a create racing one) re-reads and tries again.
            let action = retry(
                policy(),
                &self.clock,
                &format!("copy {kind} {name}"),
                |_| {},
                || self.upsert_one(&dst, kind, workload, &name, v.clone()),
            )
            .await?;
            out.push(action);
        }
        Ok(())
    }

    /// Creates or replaces one sanitized object at the destination; reads the current one first.
    async fn upsert_one<K: Copyable>(
        &self,
        dst: &Api<K>,
        kind: &str,
        workload: bool,
        name: &str,
        mut v: Value,
    ) -> Result<Action> {
        let name = name.to_string();
        let existing = dst.get_opt(&name).await.map_err(|e| {
            from_kube(
                e,
                "get",
                &format!("{kind} {}/{name} (dest)", self.dest.namespace),
            )
        })?;
        let existing_v = existing
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| Error::new(ErrorKind::Provider, e.to_string()))?;
        let mut note = None;
        if workload {
            let original = replicas_of(&v);
            v["metadata"]["annotations"][ORIGINAL_REPLICAS_ANNOTATION] =
                json!(original.to_string());
            // Hold at 0, unless the destination already serves (after a cutover): never scale it down here.
            let serving = existing_v.as_ref().map(replicas_of).unwrap_or(0);
            v["spec"]["replicas"] = json!(serving);
            if serving > 0 {
                note = Some(format!(
                    "destination already serves {serving} replicas: left as they are"
                ));
            }
        }
        let action = match &existing_v {
            None => {
                if !self.dry_run {
                    let obj: K = serde_json::from_value(v)
                        .map_err(|e| Error::new(ErrorKind::Provider, e.to_string()))?;
                    dst.create(&PostParams::default(), &obj)
                        .await
                        .map_err(|e| {
                            from_kube(
                                e,
                                "create",
                                &format!("{kind} {}/{name} (dest)", self.dest.namespace),
                            )
                        })?;
                }
                "create"
            }
            Some(cur) => {
                let mut cur_s = cur.clone();
                sanitize(&mut cur_s, kind, &self.dest.namespace);
                if cur_s == v {
                    "unchanged"
                } else {
                    if !self.dry_run {
                        v["metadata"]["resourceVersion"] =
                            cur["metadata"]["resourceVersion"].clone();
                        let obj: K = serde_json::from_value(v)
                            .map_err(|e| Error::new(ErrorKind::Provider, e.to_string()))?;
                        dst.replace(&name, &PostParams::default(), &obj)
                            .await
                            .map_err(|e| {
                                from_kube(
                                    e,
                                    "replace",
                                    &format!("{kind} {}/{name} (dest)", self.dest.namespace),
                                )
                            })?;
                    }
                    "update"
                }
            }
        };
        Ok(Action {
            note,
            ..act(kind, &name, "dest", action)
        })
    }

    /// Stage: copy Deployments, StatefulSets, ConfigMaps, Secrets, Services and Ingresses to the
    /// destination namespace, workloads held at 0 replicas with their original counts recorded.
    /// Re-running it updates what changed.
    pub async fn stage(&self) -> Result<Vec<Action>> {
        let mut out = Vec::new();
        out.extend(
            retry(
                policy(),
                &self.clock,
                "create namespace",
                |_| {},
                || self.ensure_namespace(),
            )
            .await?,
        );
        self.copy_kind::<ConfigMap>("ConfigMap", false, &mut out)
            .await?;
        self.copy_kind::<Secret>("Secret", false, &mut out).await?;
        self.copy_kind::<Service>("Service", false, &mut out)
            .await?;
        self.copy_kind::<Ingress>("Ingress", false, &mut out)
            .await?;
        self.copy_kind::<Deployment>("Deployment", true, &mut out)
            .await?;
        self.copy_kind::<StatefulSet>("StatefulSet", true, &mut out)
            .await?;
        Ok(out)
    }

    async fn workloads<K: Copyable>(&self, ep: &Endpoint, kind: &str) -> Result<Vec<Value>> {
        let api: Api<K> = Api::namespaced(ep.client.clone(), &ep.namespace);
        let items = api
            .list(&ListParams::default())
            .await
            .map_err(|e| from_kube(e, "list", &format!("{kind} objects in {}", ep.namespace)))?
            .items;
        items
            .iter()
            .map(|i| {
                serde_json::to_value(i).map_err(|e| Error::new(ErrorKind::Provider, e.to_string()))
            })
            .collect()
    }

    async fn scale<K: Copyable>(
        &self,
        side: Side,
        kind: &str,
        name: &str,
        from: u32,
        to: u32,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        if from == to {
            return Ok(());
        }
        let ep = self.endpoint(side);
        let side = side.as_str();
        if !self.dry_run {
            let patch = json!({ "spec": { "replicas": to } });
            self.merge_patch::<K>(ep, side, kind, name, &patch, true)
                .await?;
        }
        out.push(Action {
            replicas: Some((from, to)),
            ..act(kind, name, side, "scale")
        });
        Ok(())
    }

    /// A JSON merge patch of the object (or, with `scale`, its scale subresource), retried on
    /// conflicts and transient errors.
    async fn merge_patch<K: Copyable>(
        &self,
        ep: &Endpoint,
        side: &str,
        kind: &str,
        name: &str,
        patch: &Value,
        scale: bool,
    ) -> Result<()> {
        let api: Api<K> = Api::namespaced(ep.client.clone(), &ep.namespace);
        let what = format!(
            "{kind} {}/{name}{} ({side})",
            ep.namespace,
            if scale { "/scale" } else { "" }
        );
        let pp = PatchParams::default();
        retry(
            policy(),
            &self.clock,
            &what,
            |_| {},
            || async {
                let res = if scale {
                    api.patch_scale(name, &pp, &Patch::Merge(patch))
                        .await
                        .map(|_| ())
                } else {
                    api.patch(name, &pp, &Patch::Merge(patch)).await.map(|_| ())
                };
                res.map_err(|e| from_kube(e, "patch", &what))
            },
        )
        .await
    }

    async fn annotate<K: Copyable>(
        &self,
        side: Side,
        kind: &str,
        name: &str,
        value: Option<String>,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let ep = self.endpoint(side);
        let side = side.as_str();
        if !self.dry_run {
            let patch =
                json!({ "metadata": { "annotations": { ORIGINAL_REPLICAS_ANNOTATION: value } } });
            self.merge_patch::<K>(ep, side, kind, name, &patch, false)
                .await?;
        }
        let note = Some(match &value {
            Some(v) => format!("{ORIGINAL_REPLICAS_ANNOTATION}={v}"),
            None => format!("{ORIGINAL_REPLICAS_ANNOTATION} cleared"),
        });
        out.push(Action {
            note,
            ..act(kind, name, side, "annotate")
        });
        Ok(())
    }

    async fn wait_available<K: Copyable>(
        &self,
        side: Side,
        kind: &str,
        name: &str,
        want: u32,
    ) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        let ep = self.endpoint(side);
        let api: Api<K> = Api::namespaced(ep.client.clone(), &ep.namespace);
        let what = format!("{kind} {}/{name} rollout", ep.namespace);
        let wait = WaitPolicy {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(5),
            deadline_ms: self
                .clock
                .now_ms()
                .saturating_add(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX)),
        };
        poll_until(&self.clock, wait, &what, || async {
            let obj = api
                .get(name)
                .await
                .map_err(|e| from_kube(e, "get", &format!("{kind} {}/{name}", ep.namespace)))?;
            let v = serde_json::to_value(&obj)
                .map_err(|e| Error::new(ErrorKind::Provider, e.to_string()))?;
            let available = v["status"]["availableReplicas"]
                .as_u64()
                .or_else(|| v["status"]["readyReplicas"].as_u64())
                .unwrap_or(0) as u32;
            Ok(if available >= want {
                Poll::Ready(())
            } else {
                Poll::pending(format!("{available}/{want} available"))
            })
        })
        .await
        .map_err(|e| e.or_resource(&format!("{}/{name}", ep.namespace)))
    }

    /// The workloads of kind `K` at `ep`, by name.
    async fn workloads_by_name<K: Copyable>(
        &self,
        ep: &Endpoint,
        kind: &str,
    ) -> Result<std::collections::BTreeMap<String, Value>> {
        Ok(self
            .workloads::<K>(ep, kind)
            .await?
            .into_iter()
            .map(|v| {
                (
                    v["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    v,
                )
            })
            .collect())
    }

    async fn cutover_kind<K: Copyable>(&self, kind: &str, out: &mut Vec<Action>) -> Result<()> {
        let dest = self.workloads_by_name::<K>(&self.dest, kind).await?;
        for (name, s) in self.workloads_by_name::<K>(&self.source, kind).await? {
            let Some(d) = dest.get(&name) else {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "{kind} {name} is not staged in {} (run `aegis-dr k8s stage` first)",
                        self.dest.namespace
                    ),
                )
                .with_resource(format!("{}/{name}", self.dest.namespace)));
            };
            let current = replicas_of(&s);
            // The fresh count: what the source runs now; a re-run after the source reached 0 uses what
            // this cutover recorded on the source, never the stage-time record alone.
            let original = if current > 0 {
                current
            } else {
                annotation(&s, ORIGINAL_REPLICAS_ANNOTATION)
                    .or_else(|| annotation(d, ORIGINAL_REPLICAS_ANNOTATION))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            if annotation(&s, ORIGINAL_REPLICAS_ANNOTATION) != Some(original.to_string()) {
                self.annotate::<K>(Side::Source, kind, &name, Some(original.to_string()), out)
                    .await?;
            }
            self.scale::<K>(Side::Dest, kind, &name, replicas_of(d), original, out)
                .await?;
            self.wait_available::<K>(Side::Dest, kind, &name, original)
                .await?;
            self.scale::<K>(Side::Source, kind, &name, current, 0, out)
                .await?;
        }
        Ok(())
    }

    /// Cutover: destination up to the source's current counts (recorded on the source), then the
    /// source down to 0.
    pub async fn cutover(&self) -> Result<Vec<Action>> {
        let mut out = Vec::new();
        self.cutover_kind::<Deployment>("Deployment", &mut out)
            .await?;
        self.cutover_kind::<StatefulSet>("StatefulSet", &mut out)
            .await?;
        Ok(out)
    }

    async fn failback_kind<K: Copyable>(&self, kind: &str, out: &mut Vec<Action>) -> Result<()> {
        let dest = self.workloads_by_name::<K>(&self.dest, kind).await?;
        for (name, s) in self.workloads_by_name::<K>(&self.source, kind).await? {
            let recorded =
                annotation(&s, ORIGINAL_REPLICAS_ANNOTATION).and_then(|v| v.parse::<u32>().ok());
            let Some(original) = recorded else {
                out.push(Action {
                    note: Some("no recorded replica count: left as it is".into()),
                    ..act(kind, &name, "source", "skip")
                });
                continue;
            };
            if let Some(d) = dest.get(&name) {
                self.scale::<K>(Side::Dest, kind, &name, replicas_of(d), 0, out)
                    .await?;
                if annotation(d, ORIGINAL_REPLICAS_ANNOTATION).is_some() {
                    self.annotate::<K>(Side::Dest, kind, &name, None, out)
                        .await?;
                }
            }
            self.scale::<K>(Side::Source, kind, &name, replicas_of(&s), original, out)
                .await?;
            self.wait_available::<K>(Side::Source, kind, &name, original)
                .await?;
            self.annotate::<K>(Side::Source, kind, &name, None, out)
                .await?;
        }
        Ok(())
    }

    /// Failback: optionally migrate PVC data back (with `pv-migrate`), destination down to 0, source
    /// back to its recorded counts, annotations cleared.
    pub async fn failback(&self, migrate_pvc: Option<&PvMigrate>) -> Result<Vec<Action>> {
        let mut out = Vec::new();
        if let Some(pv) = migrate_pvc {
            let program = pv.program()?;
            let api: Api<PersistentVolumeClaim> =
                Api::namespaced(self.dest.client.clone(), &self.dest.namespace);
            let pvcs = api
                .list(&ListParams::default())
                .await
                .map_err(|e| {
                    from_kube(
                        e,
                        "list",
                        &format!("persistentvolumeclaims in {} (dest)", self.dest.namespace),
                    )
                })?
                .items;
            for pvc in pvcs {
                let name = pvc.metadata.name.clone().unwrap_or_default();
                let args = pv.args(&self.dest, &self.source, &name);
                if !self.dry_run {
                    let status = tokio::process::Command::new(&program)
                        .args(&args)
                        .status()
                        .await
                        .map_err(|e| {
                            Error::new(
                                ErrorKind::Provider,
                                format!("cannot run {}: {e}", program.display()),
                            )
                        })?;
                    if !status.success() {
                        return Err(Error::new(
                            ErrorKind::Provider,
                            format!(
                                "pv-migrate failed for PVC {name} ({status}); nothing was scaled"
                            ),
                        )
                        .with_resource(name));
                    }
                }
                out.push(Action {
                    note: Some(format!("pv-migrate {}", args.join(" "))),
                    ..act("PersistentVolumeClaim", &name, "dest", "migrate-pvc")
                });
            }
        }
        self.failback_kind::<Deployment>("Deployment", &mut out)
            .await?;
        self.failback_kind::<StatefulSet>("StatefulSet", &mut out)
            .await?;
        Ok(out)
    }
}

/// Which cluster of a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Source,
    Dest,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Dest => "dest",
        }
    }
}

/// How to call `pv-migrate` for PVC data.
#[derive(Debug, Clone, Default)]
pub struct PvMigrate {
    /// Extra flags, passed through.
    pub flags: Vec<String>,
}

impl PvMigrate {
    /// The `pv-migrate` executable on `PATH`, or an error saying it is not installed.
    pub fn program(&self) -> Result<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|d| d.join("pv-migrate"))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Unsupported,
                    "--reverse-migrate-pvc-data needs the `pv-migrate` tool, which is not installed (not found on PATH); \
                     install it, or fail back without migrating PVC data",
                )
            })
    }

    fn args(&self, from: &Endpoint, to: &Endpoint, pvc: &str) -> Vec<String> {
        let mut a = vec!["migrate".to_string()];
        if let Some(k) = &from.kubeconfig {
            a.extend(["--source-kubeconfig".into(), k.display().to_string()]);
        }
        if let Some(c) = &from.context {
            a.extend(["--source-context".into(), c.clone()]);
        }
        a.extend(["--source-namespace".into(), from.namespace.clone()]);
        if let Some(k) = &to.kubeconfig {
            a.extend(["--dest-kubeconfig".into(), k.display().to_string()]);
        }
        if let Some(c) = &to.context {
            a.extend(["--dest-context".into(), c.clone()]);
        }
        a.extend(["--dest-namespace".into(), to.namespace.clone()]);
        a.extend(self.flags.iter().cloned());
        a.extend([pvc.to_string(), pvc.to_string()]);
        a
    }
}
