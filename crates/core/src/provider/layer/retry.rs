//! [`RetryLayer`]: retries of retryable errors around each call.

use futures_util::future::BoxFuture;

use super::{Call, Layer};
use crate::{
    clock::Clock,
    error::Result,
    retry::{retry, RetryPolicy},
};

/// Retries each call's retryable errors under `policy` (jittered exponential backoff). For programs
/// calling providers directly; the orchestrator's steps retry under their own per-step policy and
/// journal, so a run does not wear this layer (retries would multiply).
#[derive(Debug, Clone)]
pub struct RetryLayer {
    policy: RetryPolicy,
    clock: Clock,
}

impl RetryLayer {
    /// Retries under `policy`, sleeping on `clock`.
    pub fn new(policy: RetryPolicy, clock: Clock) -> RetryLayer {
        RetryLayer { policy, clock }
    }
}

#[async_trait::async_trait]
impl Layer for RetryLayer {
    async fn around<'a, T: Send + 'a>(
        &'a self,
        call: Call<'a>,
        next: &'a (dyn Fn() -> BoxFuture<'a, Result<T>> + Send + Sync + 'a),
    ) -> Result<T> {
        retry(
            self.policy,
            &self.clock,
            call.operation.as_str(),
            |_| {},
            next,
        )
        .await
    }
}
