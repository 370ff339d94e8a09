//! AKS node pools ([`AksNodes`]): an agent pool's `count`, and its cluster-autoscaler bounds when the
//! autoscaler is on. Agent pools take only whole PUTs, so a scale reads the pool, changes the sizes
//! and sends it back, as `az aks nodepool scale` does.
//!
//! ARM reports no per-node readiness: a pool's nodes are counted Ready once AKS has finished the
//! operation (`provisioningState: Succeeded`, power state `Running`), which it reaches only after
//! the new nodes registered; until then none are.

use std::collections::BTreeMap;

use aegis_dr_core::{
    plan::PoolSize,
    provider::{NodeScaler, PoolRef, PoolState, ScalePool},
    Error, ErrorKind, Result, SiteRole,
};
use async_trait::async_trait;
use serde_json::Value;

use crate::{arm::Arm, settings::ResourceGroup};

/// Microsoft.ContainerService API version.
pub const API: &str = "2024-02-01";

/// AKS agent pools through ARM.
#[derive(Debug, Clone)]
pub struct AksNodes {
    arm: Arm,
    groups: BTreeMap<SiteRole, ResourceGroup>,
}

impl AksNodes {
    pub(crate) fn new(arm: Arm, groups: BTreeMap<SiteRole, ResourceGroup>) -> AksNodes {
        AksNodes { arm, groups }
    }

    fn pool_id(&self, p: &PoolRef) -> Result<String> {
        let rg = self.groups.get(&p.site).ok_or_else(|| {
            Error::config(format!(
                "node pool {}: no Azure resource group for the {} site",
                p.name, p.site
            ))
        })?;
        Ok(rg.resource(&format!(
            "Microsoft.ContainerService/managedClusters/{}/agentPools/{}",
            p.cluster, p.name
        )))
    }

    async fn read(&self, p: &PoolRef) -> Result<(String, Value)> {
        let id = self.pool_id(p)?;
        let v = self
            .arm
            .get(&id, API)
            .await
            .map_err(|e| e.or_resource(&format!("agent pool {} of {}", p.name, p.cluster)))?;
        Ok((id, v))
    }
}

pub(crate) fn count(v: &Value, key: &str) -> Option<u32> {
    v["properties"][key].as_u64().map(|n| n as u32)
}

#[async_trait]
impl NodeScaler for AksNodes {
    async fn get_pool(&self, p: &PoolRef) -> Result<PoolState> {
        let (_, v) = self.read(p).await?;
        let props = &v["properties"];
        let n = count(&v, "count").ok_or_else(|| {
            Error::new(
                ErrorKind::Provider,
                format!("agent pool {} of {} reports no count", p.name, p.cluster),
            )
        })?;
        let state = props["provisioningState"].as_str().unwrap_or("?");
        if matches!(state, "Failed" | "Canceled") {
            // Its `count` is what was asked for, not what runs: no node count is known.
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "agent pool {} of cluster {} is {state}: its last operation did not finish, so its count {n} is what was asked for, not what runs; scaling it again reconciles it",
                    p.name, p.cluster
                ),
            )
            .with_resource(p.name.clone()));
        }
        let size = size_of(&v, n);
        let settled = state == "Succeeded" && props["powerState"]["code"] != "Stopped";
        Ok(PoolState {
            size,
            nodes: n,
            ready_nodes: if settled { n } else { 0 },
            updating: !settled,
            fixed_count: !props["enableAutoScaling"].as_bool().unwrap_or(false),
        })
    }

    async fn scale_pool(&self, req: &ScalePool) -> Result<()> {
        let (id, mut v) = self.read(&req.pool).await?;
        let autoscaled = v["properties"]["enableAutoScaling"]
            .as_bool()
            .unwrap_or(false);
        let state = v["properties"]["provisioningState"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        // Observe first: a pool already at these sizes (or scaling to them) is left alone, unless
        // its last operation failed or was canceled (its count is then only what was asked for: sending it again
        // reconciles it, as `az aks nodepool update` does).
        let at = count(&v, "count") == Some(req.size.desired)
            && (!autoscaled
                || (count(&v, "minCount") == Some(req.size.min)
                    && count(&v, "maxCount") == Some(req.size.max)));
        let ended = matches!(state.as_str(), "Succeeded" | "Failed" | "Canceled");
        if at && (state == "Succeeded" || !ended) {
            // At these sizes, or on its way there (the running operation is this scale).
            return Ok(());
        }
        if !ended {
            // AKS would refuse it (409 OperationNotAllowed): one operation at a time.
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "agent pool {} of {} is {state}: another operation runs on it; try again when it ends",
                    req.pool.name, req.pool.cluster
                ),
            )
            .temporary()
            .with_resource(req.pool.name.clone()));
        }
        let props = &mut v["properties"];
        props["count"] = req.size.desired.into();
        if autoscaled {
            props["minCount"] = req.size.min.into();
            props["maxCount"] = req.size.max.into();
        }
        // Read-only fields are not sent back.
        if let Some(o) = props.as_object_mut() {
            for k in [
                "provisioningState",
                "powerState",
                "nodeImageVersion",
                "currentOrchestratorVersion",
            ] {
                o.remove(k);
            }
        }
        let body = serde_json::json!({ "properties": v["properties"].take() });
        self.arm
            .put(&id, API, &body, None)
            .await
            .map(|_| ())
            .map_err(|e| {
                e.or_resource(&format!(
                    "agent pool {} of {}",
                    req.pool.name, req.pool.cluster
                ))
            })
    }
}

/// A pool's sizes from its ARM answer and `count`: the autoscaler's bounds when it is on, else
/// `count` for all three.
pub(crate) fn size_of(v: &Value, n: u32) -> PoolSize {
    if v["properties"]["enableAutoScaling"]
        .as_bool()
        .unwrap_or(false)
    {
        PoolSize {
            min: count(v, "minCount").unwrap_or(n),
            max: count(v, "maxCount").unwrap_or(n),
            desired: n,
        }
    } else {
        PoolSize {
            min: n,
            max: n,
            desired: n,
        }
    }
}
