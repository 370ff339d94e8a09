//! Node-pool scaling.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{
    error::Result,
    plan::{PoolSize, SiteRole},
};

/// Identifies a node pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRef {
    /// Site of the pool.
    pub site: SiteRole,
    /// The cluster the pool belongs to, as the plan names it.
    pub cluster: String,
    /// Pool name.
    pub name: String,
}

/// A pool's size and readiness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolState {
    /// Configured sizes.
    pub size: PoolSize,
    /// Nodes that exist.
    pub nodes: u32,
    /// Nodes that are Ready.
    pub ready_nodes: u32,
    /// True while a size update is still being applied.
    pub updating: bool,
    /// True when the pool has one node count and no bounds (an AKS node pool without its cluster
    /// autoscaler): its `size` is that count three times, and only the desired size applies.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fixed_count: bool,
}

impl PoolState {
    /// True when the pool is configured at `size` (only `desired` for a fixed-count pool).
    pub fn has_size(&self, size: &PoolSize) -> bool {
        if self.fixed_count {
            self.size.desired == size.desired
        } else {
            self.size == *size
        }
    }
}

/// Set a pool's sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalePool {
    /// The pool.
    pub pool: PoolRef,
    /// New sizes.
    pub size: PoolSize,
}

/// Node scaling capability.
#[async_trait]
pub trait NodeScaler: Send + Sync + std::fmt::Debug {
    /// Reads a pool.
    async fn get_pool(&self, pool: &PoolRef) -> Result<PoolState>;
    /// Updates a pool's sizes. Idempotent.
    async fn scale_pool(&self, req: &ScalePool) -> Result<()>;
}
