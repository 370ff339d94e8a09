//! [`KubernetesBackend`]: the registry's Kubernetes entry. It serves the workloads of every site
//! that names a cluster (`kubeconfig` and/or `context`), and prints the RBAC they need.

use std::{collections::BTreeSet, sync::Arc};

use aegis_dr_core::{
    discover::{DiscoverContext, Discovery},
    plan::WorkloadKind,
    provider::{Backend, BuildContext, Capabilities, Permissions, ProviderSet},
    Error, Plan, Result, SiteRole,
};

use crate::{KubeSite, KubernetesBuilder};

/// The registry's Kubernetes backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct KubernetesBackend;

fn kube_sites(plan: &Plan) -> Vec<SiteRole> {
    [SiteRole::Primary, SiteRole::Dr]
        .into_iter()
        .filter(|r| plan.site(*r).uses_kubernetes())
        .collect()
}

#[async_trait::async_trait]
impl Backend for KubernetesBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    fn validate(&self, ctx: &BuildContext) -> Result<()> {
        if kube_sites(&ctx.plan).is_empty() {
            return Err(Error::config(
                "sites: no site names a Kubernetes cluster (`kubeconfig` and/or `context`)",
            ));
        }
        Ok(())
    }

    async fn build(&self, ctx: &BuildContext) -> Result<ProviderSet> {
        self.validate(ctx)?;
        let mut b = KubernetesBuilder::new();
        for role in kube_sites(&ctx.plan) {
            let s = ctx.plan.site(role);
            b = b.with_site(
                role,
                KubeSite {
                    kubeconfig: s.kubeconfig.as_ref().map(Into::into),
                    context: s.context.clone(),
                },
            );
        }
        let mut set = ProviderSet::new(ctx.name.clone());
        set.workloads = Some(Arc::new(b.build().await?));
        Ok(set)
    }

    fn permissions(&self, ctx: &BuildContext) -> Result<Permissions> {
        self.validate(ctx)?;
        Ok(Permissions {
            format: "Kubernetes RBAC (YAML), for each cluster",
            document: rbac_for(&ctx.plan),
            notes: Vec::new(),
        })
    }

    async fn discover(&self, ctx: &DiscoverContext) -> Result<Discovery> {
        crate::discover::discover(ctx).await
    }
}

/// The Role (per namespace of the plan's workloads and compared ConfigMaps) and ClusterRole (nodes)
/// aegis-dr's identity needs in each cluster: list, patch and scale the workloads, read the
/// ConfigMaps, list nodes.
pub fn rbac_for(plan: &Plan) -> String {
    let mut namespaces: BTreeSet<&str> = plan
        .workloads
        .iter()
        .map(|w| w.namespace.as_str())
        .collect();
    let config_ns: BTreeSet<&str> = plan
        .checks
        .config_maps
        .iter()
        .filter_map(|c| c.split_once('/').map(|(ns, _)| ns))
        .collect();
    namespaces.extend(config_ns.iter().copied());
    let mut out = String::new();
    for ns in namespaces {
        let kinds: BTreeSet<&str> = plan
            .workloads
            .iter()
            .filter(|w| w.namespace == ns)
            .map(|w| match w.kind {
                WorkloadKind::Deployment => "deployments",
                WorkloadKind::StatefulSet => "statefulsets",
            })
            .collect();
        out.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: aegis-dr\n  namespace: {ns}\nrules:\n"
        ));
        if !kinds.is_empty() {
            let list = kinds.iter().copied().collect::<Vec<_>>().join(", ");
            let scale = kinds
                .iter()
                .map(|k| format!("{k}/scale"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push_str(&format!(
                "  - apiGroups: [\"apps\"]\n    resources: [{list}]\n    verbs: [get, list, patch]\n  - apiGroups: [\"apps\"]\n    resources: [{scale}]\n    verbs: [get, patch]\n"
            ));
        }
        let names: Vec<&str> = plan
            .checks
            .config_maps
            .iter()
            .filter_map(|c| c.split_once('/'))
            .filter(|(n, _)| *n == ns)
            .map(|(_, name)| name)
            .collect();
        if !names.is_empty() {
            out.push_str(&format!(
                "  - apiGroups: [\"\"]\n    resources: [configmaps]\n    resourceNames: [{}]\n    verbs: [get]\n",
                names.join(", ")
            ));
        }
    }
    out.push_str(
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: aegis-dr-nodes\nrules:\n  - apiGroups: [\"\"]\n    resources: [nodes]\n    verbs: [list]\n",
    );
    out
}
