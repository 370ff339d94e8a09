//! Kubernetes workload scaling: drain annotation, scale with the original replicas recorded, restore.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    plan::{SiteRole, WorkloadKind},
};

/// Annotation that tells a workload to stop taking new writes (`"true"`).
pub const DRAIN_ANNOTATION: &str = "aegis.io/drain";
/// Annotation recording the replicas a workload had before aegis-dr scaled it.
pub const ORIGINAL_REPLICAS_ANNOTATION: &str = "aegis.io/original-replicas";
/// Annotation naming the run that recorded [`ORIGINAL_REPLICAS_ANNOTATION`].
pub const SCALED_BY_RUN_ANNOTATION: &str = "aegis.io/scaled-by-run";

/// Identifies one workload.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkloadId {
    /// The site whose cluster runs it.
    pub site: SiteRole,
    /// The cluster, as the plan names it.
    pub cluster: String,
    /// The namespace it lives in.
    pub namespace: String,
    /// Deployment or StatefulSet.
    pub kind: WorkloadKind,
    /// Its name in the namespace.
    pub name: String,
}

impl std::fmt::Display for WorkloadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}:{}/{:?}/{}",
            self.site, self.cluster, self.namespace, self.kind, self.name
        )
    }
}

pub use crate::plan::LabelSelector;

/// List workloads of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListWorkloads {
    /// The site whose cluster to list.
    pub site: SiteRole,
    /// The cluster, as the plan names it.
    pub cluster: String,
    /// The namespace to list.
    pub namespace: String,
    /// Deployments or StatefulSets.
    pub kind: WorkloadKind,
    /// Label selector.
    pub selector: Option<LabelSelector>,
}

impl ListWorkloads {
    /// The listing of workload group `g` of `plan` at `site` (its cluster, namespace, kind and
    /// selector; the plan's selectors are checked at load).
    pub fn for_group(
        plan: &crate::plan::Plan,
        site: SiteRole,
        g: &crate::plan::WorkloadSpec,
    ) -> ListWorkloads {
        ListWorkloads {
            site,
            cluster: plan.site(site).cluster.clone().unwrap_or_default(),
            namespace: g.namespace.clone(),
            kind: g.kind,
            selector: g
                .selector
                .as_deref()
                .and_then(|s| LabelSelector::parse(s).ok()),
        }
    }
}

/// A workload as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadState {
    /// Its name in the namespace.
    pub name: String,
    /// Desired replicas (spec).
    pub replicas: u32,
    /// Replicas available (status).
    pub available_replicas: u32,
    /// Its annotations (the recorded production replica count among them).
    pub annotations: BTreeMap<String, String>,
}

/// Set (`Some`) or remove (`None`) annotations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnotateWorkload {
    /// The workload.
    pub id: WorkloadId,
    /// Annotation changes.
    pub annotations: BTreeMap<String, Option<String>>,
}

/// Set the desired replicas, and optionally change annotations in the same request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleWorkload {
    /// The workload.
    pub id: WorkloadId,
    /// Desired replicas.
    pub replicas: u32,
    /// Annotation changes (`None` removes) applied together with the scale, atomically: one merge
    /// patch of the object on Kubernetes. Empty: a plain scale (the scale subresource there).
    #[serde(default)]
    pub annotations: BTreeMap<String, Option<String>>,
}

/// Read ConfigMaps, for "DR config matches primary".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigMapsRequest {
    /// The site whose cluster holds the namespace.
    pub site: SiteRole,
    /// The cluster, as the plan names it.
    pub cluster: String,
    /// `namespace/name` of each ConfigMap.
    pub names: Vec<String>,
}

/// Kubernetes workload scaling capability.
#[async_trait]
pub trait WorkloadScaler: Send + Sync + std::fmt::Debug {
    /// Lists workloads.
    async fn list(&self, req: &ListWorkloads) -> Result<Vec<WorkloadState>>;
    /// Changes annotations. Idempotent.
    async fn annotate(&self, req: &AnnotateWorkload) -> Result<()>;
    /// Scales. Idempotent.
    async fn scale(&self, req: &ScaleWorkload) -> Result<()>;
    /// Ready and total nodes of the site's cluster, where the provider sees nodes (`None` otherwise:
    /// node pools then speak for the site).
    async fn nodes_ready(&self, _site: SiteRole) -> Result<Option<(u32, u32)>> {
        Ok(None)
    }
    /// Reads ConfigMaps; a missing one maps to `None`.
    async fn config_maps(
        &self,
        req: &ConfigMapsRequest,
    ) -> Result<BTreeMap<String, Option<BTreeMap<String, String>>>>;
}

/// The workload scaler of a site that names no Kubernetes cluster: every call is a config error naming
/// the site, so a plan that lists workloads there fails loudly (a plan without workloads never calls it).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWorkloads;

fn no_cluster(site: SiteRole) -> Error {
    Error::config(format!(
        "sites.{site}: the plan has Kubernetes workloads there but the site names no cluster (set `kubeconfig` or `context`)"
    ))
}

#[async_trait]
impl WorkloadScaler for NoWorkloads {
    async fn list(&self, req: &ListWorkloads) -> Result<Vec<WorkloadState>> {
        Err(no_cluster(req.site))
    }

    async fn annotate(&self, req: &AnnotateWorkload) -> Result<()> {
        Err(no_cluster(req.id.site))
    }

    async fn scale(&self, req: &ScaleWorkload) -> Result<()> {
        Err(no_cluster(req.id.site))
    }

    async fn config_maps(
        &self,
        req: &ConfigMapsRequest,
    ) -> Result<BTreeMap<String, Option<BTreeMap<String, String>>>> {
        Err(no_cluster(req.site))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_parses_and_matches() {
        let s = LabelSelector::parse("app=api, tier!=batch").unwrap();
        let mut l = BTreeMap::new();
        l.insert("app".to_string(), "api".to_string());
        assert!(s.matches(&l));
        l.insert("tier".to_string(), "batch".to_string());
        assert!(!s.matches(&l));
        assert_eq!(s.to_query(), "app=api,tier!=batch");
        assert!(LabelSelector::parse("nonsense").is_err());
        assert!(LabelSelector::parse("a b=c").is_err());
    }
}
