//! Layers: behaviour wrapped around any provider's calls (after opendal's layers). A [`Layer`] sees
//! each call (provider, operation, resource) and decides how to run it; [`Layered`] applies one to
//! every capability of a [`ProviderSet`](crate::provider::ProviderSet) with
//! [`ProviderSet::layer`](crate::provider::ProviderSet::layer).
//!
//! - [`FaultLayer`]: transient and scripted faults (the simulated estate's `[sim]` faults, and
//!   `[fault_injection]` over real clients).
//! - [`TimeoutLayer`]: a deadline per call.
//! - [`RetryLayer`]: retries of retryable errors, for callers without the orchestrator (whose steps
//!   retry under their own policy and journal, so a run does not use it).
//! - [`StatsLayer`]: calls and errors counted per provider, and errors named after their provider;
//!   every set in [`Providers`](crate::provider::Providers) wears one.

mod fault;
mod retry;
mod stats;
mod timeout;
mod wrap;

pub use crate::plan::faults::{check_fault, ProviderOp};
pub use fault::FaultLayer;
pub use retry::RetryLayer;
pub use stats::{CallStats, ProviderCalls, StatsLayer};
pub use timeout::TimeoutLayer;
pub use wrap::Layered;

use futures_util::future::BoxFuture;

use crate::error::Result;

/// One call as a layer sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// Name of the provider serving it (`aws`, `sim`, ...).
    pub provider: &'a str,
    /// The operation (`promote_database`, `upsert_record`, ...).
    pub operation: ProviderOp,
    /// The resource it concerns (instance, record, pool, namespace, ...).
    pub resource: &'a str,
    /// True when the call changes something.
    pub mutates: bool,
}

/// Behaviour around a provider's calls. `next` starts the inner call (again, for a retry).
#[async_trait::async_trait]
pub trait Layer: Send + Sync + std::fmt::Debug + 'static {
    /// Runs one call through this layer.
    async fn around<'a, T: Send + 'a>(
        &'a self,
        call: Call<'a>,
        next: &'a (dyn Fn() -> BoxFuture<'a, Result<T>> + Send + Sync + 'a),
    ) -> Result<T>;
}
