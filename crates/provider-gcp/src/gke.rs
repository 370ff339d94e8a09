//! GKE node pools ([`GkeNodes`]) through `google-cloud-container-v1`: `setSize` (the node count of
//! every zone of the pool, like `gcloud container clusters resize --num-nodes`) and
//! `setAutoscaling` (total bounds), each an operation polled until `DONE`.
//!
//! GKE's API reports no node count: a pool's nodes are its managed instance groups' (one per zone),
//! read from Compute (`instanceGroupManagers.get`: `targetSize`, and `currentActions.none` for the
//! VMs running with nothing pending). Those VMs count as ready nodes; whether the kubelet on them is
//! `Ready` is the Kubernetes API's to say, not read here.

use std::{collections::BTreeMap, time::Duration};

use aegis_dr_core::{
    plan::PoolSize,
    provider::{NodeScaler, PoolRef, PoolState, ScalePool},
    retry::Poll,
    Error, ErrorKind, Result, SiteRole,
};
use async_trait::async_trait;
use google_cloud_container_v1::{
    client::ClusterManager,
    model::{
        node_pool::Status as PoolStatus, operation::Status as OpStatus, NodePool,
        NodePoolAutoscaling, Operation,
    },
};
use google_cloud_gax::error::Error as GaxError;

use crate::client::{cluster_busy, on, op_failed, Call, Google};

/// Where a site's clusters are: (project, location).
pub type ClusterHome = (String, String);

/// GKE node pools through the official client.
#[derive(Debug, Clone)]
pub struct GkeNodes {
    clusters: ClusterManager,
    google: Google,
    homes: BTreeMap<SiteRole, ClusterHome>,
    timeout: Duration,
}

/// What a pool and its groups say.
struct Observed {
    pool: NodePool,
    zones: u32,
    target: u32,
    running: u32,
    stable: bool,
}

fn pool_label(p: &PoolRef) -> String {
    format!("node pool {} of GKE cluster {}", p.name, p.cluster)
}

impl GkeNodes {
    pub(crate) fn new(
        clusters: ClusterManager,
        google: Google,
        homes: BTreeMap<SiteRole, ClusterHome>,
        timeout: Duration,
    ) -> GkeNodes {
        GkeNodes {
            clusters,
            google,
            homes,
            timeout,
        }
    }

    fn home(&self, p: &PoolRef) -> Result<&ClusterHome> {
        self.homes.get(&p.site).ok_or_else(|| {
            Error::config(format!(
                "{}: no GCP project for the {} site",
                pool_label(p),
                p.site
            ))
        })
    }

    fn name(&self, p: &PoolRef) -> Result<String> {
        let (project, location) = self.home(p)?;
        Ok(format!(
            "projects/{project}/locations/{location}/clusters/{}/nodePools/{}",
            p.cluster, p.name
        ))
    }

    async fn observe(&self, p: &PoolRef) -> Result<Observed> {
        let what = pool_label(p);
        let pool = self
            .clusters
            .get_node_pool()
            .set_name(self.name(p)?)
            .send()
            .await
            .map_err(|e| on(&what, "container.clusters.get")(e).or_resource(&p.name))?;
        if pool.instance_group_urls.is_empty() {
            return Err(Error::new(
                ErrorKind::Provider,
                format!("{what}: GKE lists no instance groups for it, so its size cannot be read"),
            ));
        }
        let (mut target, mut running, mut stable) = (0u32, 0u32, true);
        for url in &pool.instance_group_urls {
            let group = url.rsplit('/').next().unwrap_or(url);
            let about = format!("instance group {group} of {what}");
            let g = self
                .google
                .rest_get(
                    url,
                    &[],
                    Call {
                        what: &about,
                        permission: "compute.instanceGroupManagers.get",
                    },
                )
                .await?;
            let count = |v: &serde_json::Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
            let t = count(&g["targetSize"]).ok_or_else(|| {
                Error::new(
                    ErrorKind::Provider,
                    format!("{about}: no targetSize in Compute's answer"),
                )
            })?;
            target += t;
            running += count(&g["currentActions"]["none"]).unwrap_or(0);
            stable &= g["status"]["isStable"].as_bool().unwrap_or(false);
        }
        let zones = u32::try_from(pool.instance_group_urls.len()).unwrap_or(1);
        Ok(Observed {
            pool,
            zones,
            target,
            running,
            stable,
        })
    }

    /// Waits for a GKE operation to reach `DONE`, surfacing its error.
    async fn wait_op(&self, p: &PoolRef, op: &str, about: &str) -> Result<()> {
        let (project, location) = self.home(p)?;
        let name = format!("projects/{project}/locations/{location}/operations/{op}");
        let label = format!("{about} (operation {op})");
        self.google
            .wait(&label, self.timeout, || async {
                let o = self
                    .clusters
                    .get_operation()
                    .set_name(&name)
                    .send()
                    .await
                    .map_err(on(&label, "container.operations.get"))?;
                Ok(match o.status {
                    OpStatus::Done => match o.error.filter(|e| !e.message.is_empty()) {
                        Some(e) => Poll::Failed(op_failed(&label, &e.message)),
                        None => Poll::Ready(()),
                    },
                    OpStatus::Aborting => {
                        Poll::Failed(op_failed(&label, "the operation is aborting"))
                    }
                    s => Poll::pending(s.name().unwrap_or("UNKNOWN")),
                })
            })
            .await
    }

    /// Sends a pool operation, waiting out what GKE refuses only for now (another operation
    /// holding the cluster, its upgrades included; the cluster's concurrent-operations quota)
    /// until the step's deadline; anything else is the error it is.
    async fn send_when_free<F, Fut>(
        &self,
        p: &PoolRef,
        about: &str,
        mut send: F,
    ) -> Result<Operation>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<Operation, GaxError>>,
    {
        let label = format!("{about} (waiting for the cluster to be free)");
        self.google
            .wait(&label, self.timeout, || {
                let sent = send();
                async move {
                    match sent.await {
                        Ok(op) => Ok(Poll::Ready(op)),
                        Err(e) => match cluster_busy(&e) {
                            Some(why) => Ok(Poll::pending(why)),
                            None => {
                                Err(on(about, "container.clusters.update")(e).or_resource(&p.name))
                            }
                        },
                    }
                }
            })
            .await
    }
}

/// What a pool's conditions say is wrong with it (a stockout's names its zone).
fn pool_trouble(pool: &NodePool) -> String {
    let why: Vec<&str> = pool.conditions.iter().map(|c| c.message.as_str()).collect();
    if why.is_empty() {
        "GKE gives no reason".into()
    } else {
        why.join("; ")
    }
}

fn autoscaled(pool: &NodePool) -> Option<&NodePoolAutoscaling> {
    pool.autoscaling.as_ref().filter(|a| a.enabled)
}

/// Total autoscaling bounds: the total ones when set, else the per-zone ones times the zones.
fn bounds(a: &NodePoolAutoscaling, zones: u32) -> (u32, u32) {
    let n = |v: i32| u32::try_from(v).unwrap_or(0);
    if a.total_max_node_count > 0 {
        (n(a.total_min_node_count), n(a.total_max_node_count))
    } else {
        (n(a.min_node_count) * zones, n(a.max_node_count) * zones)
    }
}

#[async_trait]
impl NodeScaler for GkeNodes {
    async fn get_pool(&self, p: &PoolRef) -> Result<PoolState> {
        let o = self.observe(p).await?;
        if matches!(
            o.pool.status,
            PoolStatus::Error | PoolStatus::RunningWithError
        ) {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "{} is {}: {}",
                    pool_label(p),
                    o.pool.status.name().unwrap_or("?"),
                    pool_trouble(&o.pool)
                ),
            )
            .with_resource(p.name.clone()));
        }
        let size = match autoscaled(&o.pool) {
            Some(a) => {
                let (min, max) = bounds(a, o.zones);
                PoolSize {
                    min,
                    max,
                    desired: o.target,
                }
            }
            None => PoolSize {
                min: o.target,
                max: o.target,
                desired: o.target,
            },
        };
        let settled = o.pool.status == PoolStatus::Running && o.stable;
        Ok(PoolState {
            size,
            nodes: o.running,
            ready_nodes: o.running,
            updating: !settled,
            fixed_count: autoscaled(&o.pool).is_none(),
        })
    }

    async fn scale_pool(&self, req: &ScalePool) -> Result<()> {
        let p = &req.pool;
        let what = pool_label(p);
        let o = self.observe(p).await?;
        match o.pool.status {
            PoolStatus::Running => {}
            PoolStatus::RunningWithError | PoolStatus::Error => {
                // GKE keeps retrying what it could not do (a zone out of capacity): asking again
                // changes nothing, so say what holds it.
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!(
                        "{what} is {}: {}",
                        o.pool.status.name().unwrap_or("?"),
                        pool_trouble(&o.pool)
                    ),
                )
                .with_resource(p.name.clone()));
            }
            _ => {
                // GKE refuses a second operation while one runs: say so, and let the caller retry.
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "{what} is {}: an operation is running on it",
                        o.pool.status.name().unwrap_or("?")
                    ),
                )
                .with_resource(p.name.clone()));
            }
        }
        let name = self.name(p)?;
        if let Some(a) = autoscaled(&o.pool) {
            if bounds(a, o.zones) != (req.size.min, req.size.max) {
                let to = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
                let autoscaling = NodePoolAutoscaling::new()
                    .set_enabled(true)
                    .set_total_min_node_count(to(req.size.min))
                    .set_total_max_node_count(to(req.size.max))
                    .set_location_policy(a.location_policy.clone());
                let op = self
                    .send_when_free(p, &format!("autoscaling of {what}"), || {
                        self.clusters
                            .set_node_pool_autoscaling()
                            .set_name(&name)
                            .set_autoscaling(autoscaling.clone())
                            .send()
                    })
                    .await?;
                self.wait_op(p, &op.name, &format!("autoscaling of {what}"))
                    .await?;
            }
        }
        if o.target != req.size.desired {
            if !req.size.desired.is_multiple_of(o.zones) {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!(
                        "{what}: {} nodes cannot be spread evenly over its {} zones (GKE sizes every zone alike); use a multiple of {}",
                        req.size.desired, o.zones, o.zones
                    ),
                )
                .with_resource(p.name.clone()));
            }
            let per_zone = i32::try_from(req.size.desired / o.zones).unwrap_or(i32::MAX);
            let op = self
                .send_when_free(p, &format!("resize of {what}"), || {
                    self.clusters
                        .set_node_pool_size()
                        .set_name(&name)
                        .set_node_count(per_zone)
                        .send()
                })
                .await?;
            self.wait_op(p, &op.name, &format!("resize of {what}"))
                .await?;
        }
        Ok(())
    }
}
