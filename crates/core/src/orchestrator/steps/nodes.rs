//! Node-pool scaling, waited until the nodes are Ready.

use crate::{
    error::Result,
    orchestrator::step_ctx::StepCtx,
    plan::{graph::Level, SiteRole},
    provider::{PoolRef, ScalePool},
};

pub(super) async fn scale_nodes(ctx: &StepCtx, site: SiteRole, level: Level) -> Result<String> {
    let pools: Vec<_> = ctx
        .plan()
        .node_pools
        .iter()
        .filter(|p| p.site == site)
        .collect();
    let results = ctx
        .fan_out(pools, |p| {
            let scaler = ctx.providers().nodes(&p.provider).cloned();
            let size = match level {
                Level::Production => p.production,
                Level::Standby => p.standby,
            };
            let pool = PoolRef {
                site,
                cluster: p.cluster.clone(),
                name: p.name.clone(),
            };
            async move {
                let scaler = scaler?;
                let cur = ctx
                    .call("read node pool", || scaler.get_pool(&pool))
                    .await?;
                let changed = !cur.has_size(&size);
                if changed {
                    let req = ScalePool {
                        pool: pool.clone(),
                        size,
                    };
                    ctx.call("scale node pool", || scaler.scale_pool(&req))
                        .await?;
                }
                let s = ctx
                    .wait(&format!("nodes of pool {} Ready", pool.name), || async {
                        let s = scaler.get_pool(&pool).await?;
                        Ok((s.has_size(&size)
                            && !s.updating
                            && s.ready_nodes >= size.desired
                            && s.nodes == size.desired)
                            .then_some(s))
                    })
                    .await?;
                Ok((pool.name.clone(), changed, s.ready_nodes))
            }
        })
        .await?;
    let changed = results.iter().filter(|r| r.1).count();
    let detail: Vec<_> = results
        .iter()
        .map(|(n, _, r)| format!("{n}: {r} Ready"))
        .collect();
    Ok(format!(
        "{changed} of {} pools resized to {level:?}; {}",
        results.len(),
        detail.join(", ")
    ))
}
