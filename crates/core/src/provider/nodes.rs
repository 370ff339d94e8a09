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
    /// Cluster.
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
