//! [`TimeoutLayer`]: a deadline on every call.

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{Call, Layer};
use crate::error::{Error, ErrorKind, Result};

/// Gives up on a call that has not answered within its deadline, with a retryable `unreachable`
/// error (the steps are reconcilers: a retry observes whether the call took effect).
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    timeout: Duration,
}

impl TimeoutLayer {
    /// Calls get `timeout` each.
    pub fn new(timeout: Duration) -> TimeoutLayer {
        TimeoutLayer { timeout }
    }
}

#[async_trait::async_trait]
impl Layer for TimeoutLayer {
    async fn around<'a, T: Send + 'a>(
        &'a self,
        call: Call<'a>,
        next: &'a (dyn Fn() -> BoxFuture<'a, Result<T>> + Send + Sync + 'a),
    ) -> Result<T> {
        match tokio::time::timeout(self.timeout, next()).await {
            Ok(out) => out,
            Err(_) => Err(Error::new(
                ErrorKind::Unreachable,
                format!(
                    "{}: no answer within {}",
                    call.operation,
                    crate::duration::format_duration(self.timeout)
                ),
            )
            .with_resource(call.resource.to_string())),
        }
    }
}
