//! [`KubernetesWorkloads`]: the core workload scaler on `kube`.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use aegis_dr_core::{
    plan::{SiteRole, WorkloadKind},
    provider::{
        AnnotateWorkload, ConfigMapsRequest, ListWorkloads, ScaleWorkload, WorkloadId,
        WorkloadScaler, WorkloadState,
    },
    Error, Result,
};
use async_trait::async_trait;
use k8s_openapi::{
    api::{
        apps::v1::{Deployment, StatefulSet},
        core::v1::{ConfigMap, Node},
    },
    NamespaceResourceScope,
};
use kube::{
    api::{Api, ListParams, Patch, PatchParams},
    Client, Resource,
};
use serde_json::json;

use crate::error::from_kube;

/// Where to find one site's cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeSite {
    /// Kubeconfig file; `None` uses `KUBECONFIG` or `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// Context in that file; `None` uses its current context.
    pub context: Option<String>,
}

/// Builds [`KubernetesWorkloads`]; validates the kubeconfigs in [`KubernetesBuilder::build`].
#[derive(Debug, Clone, Default)]
pub struct KubernetesBuilder {
    sites: BTreeMap<SiteRole, KubeSite>,
    timeout: Option<Duration>,
}

impl KubernetesBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `site` for the workloads of `role`.
    pub fn with_site(mut self, role: SiteRole, site: KubeSite) -> Self {
        self.sites.insert(role, site);
        self
    }

    /// Read and connect timeout of API calls (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Reads each site's kubeconfig and builds its client. Errors name the site, file and context.
    pub async fn build(self) -> Result<KubernetesWorkloads> {
        let mut clients = BTreeMap::new();
        let timeout = self.timeout.unwrap_or(Duration::from_secs(30));
        for (role, site) in self.sites {
            let field = format!("sites.{role}.kubeconfig");
            let client = crate::client_with_timeout(
                site.kubeconfig.as_deref(),
                site.context.as_deref(),
                &field,
                timeout,
            )
            .await?;
            clients.insert(role, client);
        }
        Ok(KubernetesWorkloads { clients })
    }
}

/// Deployments and StatefulSets of each site's cluster, through `kube`.
#[derive(Clone)]
pub struct KubernetesWorkloads {
    clients: BTreeMap<SiteRole, Client>,
}

impl std::fmt::Debug for KubernetesWorkloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesWorkloads")
            .field("sites", &self.clients.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Reads the fields aegis-dr needs from a workload object.
pub(crate) trait Workload:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    const PLURAL: &'static str;
    fn replicas(&self) -> u32;
    fn available(&self) -> u32;
}

impl Workload for Deployment {
    const PLURAL: &'static str = "deployments";
    fn replicas(&self) -> u32 {
        self.spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1)
            .max(0) as u32
    }
    fn available(&self) -> u32 {
        self.status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0)
            .max(0) as u32
    }
}

impl Workload for StatefulSet {
    const PLURAL: &'static str = "statefulsets";
    fn replicas(&self) -> u32 {
        self.spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1)
            .max(0) as u32
    }
    fn available(&self) -> u32 {
        self.status
            .as_ref()
            .map(|s| {
                s.available_replicas
                    .unwrap_or(s.ready_replicas.unwrap_or(0))
            })
            .unwrap_or(0)
            .max(0) as u32
    }
}

impl KubernetesWorkloads {
    fn client(&self, site: SiteRole) -> Result<Client> {
        self.clients.get(&site).cloned().ok_or_else(|| {
            Error::config(format!(
                "sites.{site}: no Kubernetes cluster configured (set kubeconfig or context)"
            ))
        })
    }

    async fn list_kind<K: Workload>(&self, req: &ListWorkloads) -> Result<Vec<WorkloadState>> {
        let api: Api<K> = Api::namespaced(self.client(req.site)?, &req.namespace);
        let what = format!(
            "{} in namespace {} ({} site)",
            K::PLURAL,
            req.namespace,
            req.site
        );
        let mut lp = ListParams::default().limit(500);
        if let Some(sel) = req
            .selector
            .as_ref()
            .map(|s| s.to_query())
            .filter(|q| !q.is_empty())
        {
            lp = lp.labels(&sel);
        }
        Ok(list_all(&api, lp, &what)
            .await?
            .iter()
            .map(|w| WorkloadState {
                name: w.meta().name.clone().unwrap_or_default(),
                replicas: w.replicas(),
                available_replicas: w.available(),
                annotations: w.meta().annotations.clone().unwrap_or_default(),
            })
            .collect())
    }

    /// A JSON merge patch of the workload object `id`.
    async fn patch_object<K: Workload>(
        &self,
        id: &WorkloadId,
        patch: &serde_json::Value,
    ) -> Result<()> {
        let api: Api<K> = Api::namespaced(self.client(id.site)?, &id.namespace);
        api.patch(&id.name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(|e| {
                from_kube(
                    e,
                    "patch",
                    &format!("{}/{}/{}", K::PLURAL, id.namespace, id.name),
                )
            })?;
        Ok(())
    }

    async fn annotate_kind<K: Workload>(&self, req: &AnnotateWorkload) -> Result<()> {
        let patch = json!({ "metadata": { "annotations": req.annotations } });
        self.patch_object::<K>(&req.id, &patch).await
    }

    async fn scale_kind<K: Workload>(&self, req: &ScaleWorkload) -> Result<()> {
        if !req.annotations.is_empty() {
            // Replicas and annotations in one merge patch of the object: both or neither.
            let patch = json!({
                "metadata": { "annotations": req.annotations },
                "spec": { "replicas": req.replicas },
            });
            return self.patch_object::<K>(&req.id, &patch).await;
        }
        let api: Api<K> = Api::namespaced(self.client(req.id.site)?, &req.id.namespace);
        let patch = json!({ "spec": { "replicas": req.replicas } });
        api.patch_scale(&req.id.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                from_kube(
                    e,
                    "patch",
                    &format!("{}/{}/{}/scale", K::PLURAL, req.id.namespace, req.id.name),
                )
            })?;
        Ok(())
    }
}

#[async_trait]
impl WorkloadScaler for KubernetesWorkloads {
    async fn list(&self, req: &ListWorkloads) -> Result<Vec<WorkloadState>> {
        match req.kind {
            WorkloadKind::Deployment => self.list_kind::<Deployment>(req).await,
            WorkloadKind::StatefulSet => self.list_kind::<StatefulSet>(req).await,
        }
    }

    async fn annotate(&self, req: &AnnotateWorkload) -> Result<()> {
        match req.id.kind {
            WorkloadKind::Deployment => self.annotate_kind::<Deployment>(req).await,
            WorkloadKind::StatefulSet => self.annotate_kind::<StatefulSet>(req).await,
        }
    }

    async fn scale(&self, req: &ScaleWorkload) -> Result<()> {
        match req.id.kind {
            WorkloadKind::Deployment => self.scale_kind::<Deployment>(req).await,
            WorkloadKind::StatefulSet => self.scale_kind::<StatefulSet>(req).await,
        }
    }

    async fn nodes_ready(&self, site: SiteRole) -> Result<Option<(u32, u32)>> {
        let api: Api<Node> = Api::all(self.client(site)?);
        let nodes = api
            .list(&ListParams::default())
            .await
            .map_err(|e| from_kube(e, "list", &format!("nodes ({site} site)")))?
            .items;
        let ready = nodes
            .iter()
            .filter(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        Ok(Some((ready as u32, nodes.len() as u32)))
    }

    async fn config_maps(
        &self,
        req: &ConfigMapsRequest,
    ) -> Result<BTreeMap<String, Option<BTreeMap<String, String>>>> {
        let client = self.client(req.site)?;
        let mut out = BTreeMap::new();
        for full in &req.names {
            let (ns, name) = full.split_once('/').unwrap_or(("default", full.as_str()));
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
            let cm = api.get_opt(name).await.map_err(|e| {
                from_kube(
                    e,
                    "get",
                    &format!("configmaps/{ns}/{name} ({} site)", req.site),
                )
            })?;
            out.insert(full.clone(), cm.map(|c| c.data.unwrap_or_default()));
        }
        Ok(out)
    }
}

/// Every object `api` lists with `lp`, page after page (`limit` and `continue`); a token that
/// repeats is an error (the list would never end).
pub(crate) async fn list_all<K>(api: &Api<K>, mut lp: ListParams, what: &str) -> Result<Vec<K>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut out = Vec::new();
    let mut used: Option<String> = None;
    loop {
        let page = api
            .list(&lp)
            .await
            .map_err(|e| from_kube(e, "list", what))?;
        out.extend(page.items);
        match aegis_dr_core::discover::names::next_token(
            page.metadata.continue_.as_deref(),
            &used,
            what,
        )? {
            Some(token) => {
                lp = lp.continue_token(&token);
                used = Some(token);
            }
            None => return Ok(out),
        }
    }
}
