//! `NodeScaler` on EKS managed node groups (`UpdateNodegroupConfig`, waiting on the node group's
//! status and its update), or directly on an Auto Scaling group. Ready nodes are the group's
//! instances that are `InService` and `Healthy`.

use std::collections::BTreeMap;

use aegis_dr_core::{
    plan::PoolSize,
    provider::{NodeScaler, PoolRef, PoolState, ScalePool},
    Error, ErrorKind, Result, SiteRole,
};
use async_trait::async_trait;
use aws_sdk_eks::types::{NodegroupScalingConfig, NodegroupStatus};

use crate::{error::map_sdk_error, iam, Regional};

fn size_i32(v: u32, what: &str, pool: &str) -> Result<i32> {
    i32::try_from(v)
        .map_err(|_| Error::config(format!("node pool `{pool}`: {what} {v} is too large")))
}

fn size_u32(v: Option<i32>) -> u32 {
    v.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

/// EKS node groups and Auto Scaling groups behind the [`NodeScaler`] trait.
#[derive(Debug)]
pub struct EksNodes {
    eks: Regional<aws_sdk_eks::Client>,
    autoscaling: Regional<aws_sdk_autoscaling::Client>,
    /// (site, pool name) → Auto Scaling group scaled directly instead of an EKS node group.
    asg_pools: BTreeMap<(SiteRole, String), String>,
}

struct AsgState {
    size: PoolSize,
    nodes: u32,
    ready: u32,
}

impl EksNodes {
    pub(crate) fn new(
        eks: Regional<aws_sdk_eks::Client>,
        autoscaling: Regional<aws_sdk_autoscaling::Client>,
        asg_pools: BTreeMap<(SiteRole, String), String>,
    ) -> EksNodes {
        EksNodes {
            eks,
            autoscaling,
            asg_pools,
        }
    }

    async fn asg_state(&self, site: SiteRole, names: &[String], pool: &str) -> Result<AsgState> {
        let out = self
            .autoscaling
            .get(site)
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::ASG_DESCRIBE, pool, e))?;
        let groups = out.auto_scaling_groups();
        if let Some(missing) = names.iter().find(|n| {
            !groups
                .iter()
                .any(|g| g.auto_scaling_group_name() == Some(n.as_str()))
        }) {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("Auto Scaling group `{missing}` of node pool `{pool}` does not exist"),
            )
            .with_resource(pool.to_string()));
        }
        let mut st = AsgState {
            size: PoolSize {
                min: 0,
                max: 0,
                desired: 0,
            },
            nodes: 0,
            ready: 0,
        };
        for g in groups {
            st.size.min += size_u32(g.min_size());
            st.size.max += size_u32(g.max_size());
            st.size.desired += size_u32(g.desired_capacity());
            for i in g.instances() {
                let state = i.lifecycle_state().map(|s| s.as_str()).unwrap_or_default();
                if matches!(
                    state,
                    "Terminating" | "Terminated" | "Terminating:Wait" | "Terminating:Proceed"
                ) {
                    continue;
                }
                st.nodes += 1;
                if state == "InService" && i.health_status() == Some("Healthy") {
                    st.ready += 1;
                }
            }
        }
        Ok(st)
    }
}

#[async_trait]
impl NodeScaler for EksNodes {
    async fn get_pool(&self, pool: &PoolRef) -> Result<PoolState> {
        if let Some(asg) = self.asg_pools.get(&(pool.site, pool.name.clone())) {
            let st = self
                .asg_state(pool.site, std::slice::from_ref(asg), &pool.name)
                .await?;
            return Ok(PoolState {
                size: st.size,
                nodes: st.nodes,
                ready_nodes: st.ready,
                updating: st.nodes != st.size.desired,
                fixed_count: false,
            });
        }
        let out = self
            .eks
            .get(pool.site)
            .describe_nodegroup()
            .cluster_name(&pool.cluster)
            .nodegroup_name(&pool.name)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::EKS_DESCRIBE_NODEGROUP, &pool.name, e))?;
        let ng = out.nodegroup().ok_or_else(|| {
            Error::new(
                ErrorKind::Provider,
                "DescribeNodegroup returned no node group",
            )
            .with_resource(pool.name.clone())
        })?;
        let cfg = ng.scaling_config();
        let size = PoolSize {
            min: size_u32(cfg.and_then(|c| c.min_size())),
            max: size_u32(cfg.and_then(|c| c.max_size())),
            desired: size_u32(cfg.and_then(|c| c.desired_size())),
        };
        let status = ng.status().cloned();
        if matches!(
            status,
            Some(
                NodegroupStatus::CreateFailed
                    | NodegroupStatus::DeleteFailed
                    | NodegroupStatus::Degraded
            )
        ) {
            let issues: Vec<String> = ng
                .health()
                .map(|h| {
                    h.issues()
                        .iter()
                        .map(|i| {
                            format!(
                                "{}: {}",
                                i.code().map(|c| c.as_str()).unwrap_or("?"),
                                i.message().unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "node group `{}` of cluster `{}` is {}: {}",
                    pool.name,
                    pool.cluster,
                    status.as_ref().map(|s| s.as_str()).unwrap_or("?"),
                    issues.join("; ")
                ),
            )
            .with_resource(pool.name.clone()));
        }
        let asgs: Vec<String> = ng
            .resources()
            .map(|r| {
                r.auto_scaling_groups()
                    .iter()
                    .filter_map(|g| g.name().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let updating = status != Some(NodegroupStatus::Active);
        if asgs.is_empty() {
            // EKS names the group once the node group is active; until then nothing is Ready.
            return Ok(PoolState {
                size,
                nodes: 0,
                ready_nodes: 0,
                updating: true,
                fixed_count: false,
            });
        }
        let st = self.asg_state(pool.site, &asgs, &pool.name).await?;
        Ok(PoolState {
            size,
            nodes: st.nodes,
            ready_nodes: st.ready,
            updating: updating || st.nodes != size.desired,
            fixed_count: false,
        })
    }

    async fn scale_pool(&self, req: &ScalePool) -> Result<()> {
        let p = &req.pool;
        let (min, max, desired) = (
            size_i32(req.size.min, "min", &p.name)?,
            size_i32(req.size.max, "max", &p.name)?,
            size_i32(req.size.desired, "desired", &p.name)?,
        );
        if let Some(asg) = self.asg_pools.get(&(p.site, p.name.clone())) {
            self.autoscaling
                .get(p.site)
                .update_auto_scaling_group()
                .auto_scaling_group_name(asg)
                .min_size(min)
                .max_size(max)
                .desired_capacity(desired)
                .send()
                .await
                .map_err(|e| map_sdk_error(iam::ASG_UPDATE, &p.name, e))?;
            return Ok(());
        }
        let cur = self.get_pool(p).await?;
        if cur.size == req.size {
            return Ok(());
        }
        self.eks
            .get(p.site)
            .update_nodegroup_config()
            .cluster_name(&p.cluster)
            .nodegroup_name(&p.name)
            .scaling_config(
                NodegroupScalingConfig::builder()
                    .min_size(min)
                    .max_size(max)
                    .desired_size(desired)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::EKS_UPDATE_NODEGROUP, &p.name, e))?;
        Ok(())
    }
}
