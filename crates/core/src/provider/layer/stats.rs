//! [`StatsLayer`]: calls and errors counted per provider, errors named after their provider, and
//! each call traced (`tracing` at debug level: provider, operation, resource, milliseconds).

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex,
};

use futures_util::future::BoxFuture;

use super::{Call, Layer};
use crate::error::Result;

pub use crate::run::ProviderCalls;

/// The log target of every provider call, as users filter it (`RUST_LOG=aegis_dr_core::layer=debug`):
/// stable whichever module the layers live in.
pub const CALLS_TARGET: &str = "aegis_dr_core::layer";

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    transient_errors: AtomicU64,
    errors: AtomicU64,
}

/// The counters of every provider of a run, by name.
#[derive(Debug, Default)]
pub struct CallStats {
    providers: Mutex<Vec<(String, Arc<Counters>)>>,
}

impl CallStats {
    /// The layer counting the calls of `provider` (one per name; asking twice shares the counters).
    pub fn layer(&self, provider: &str) -> StatsLayer {
        let counters = match self.providers.lock() {
            Ok(mut all) => match all.iter().find(|(n, _)| n == provider) {
                Some((_, c)) => c.clone(),
                None => {
                    let c = Arc::new(Counters::default());
                    all.push((provider.to_string(), c.clone()));
                    c
                }
            },
            Err(_) => Arc::new(Counters::default()),
        };
        StatsLayer { counters }
    }

    /// The counts so far, by provider name.
    pub fn snapshot(&self) -> std::collections::BTreeMap<String, ProviderCalls> {
        let Ok(all) = self.providers.lock() else {
            return Default::default();
        };
        all.iter()
            .map(|(name, c)| {
                (
                    name.clone(),
                    ProviderCalls {
                        calls: c.calls.load(Ordering::Relaxed),
                        transient_errors: c.transient_errors.load(Ordering::Relaxed),
                        errors: c.errors.load(Ordering::Relaxed),
                    },
                )
            })
            .collect()
    }
}

/// Counts and traces one provider's calls and names it in their errors.
#[derive(Debug, Clone)]
pub struct StatsLayer {
    counters: Arc<Counters>,
}

#[async_trait::async_trait]
impl Layer for StatsLayer {
    async fn around<'a, T: Send + 'a>(
        &'a self,
        call: Call<'a>,
        next: &'a (dyn Fn() -> BoxFuture<'a, Result<T>> + Send + Sync + 'a),
    ) -> Result<T> {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let out = next().await;
        let ms = started.elapsed().as_millis() as u64;
        match &out {
            Ok(_) => tracing::debug!(
                target: CALLS_TARGET,
                provider = call.provider,
                operation = call.operation.as_str(),
                resource = call.resource,
                ms,
                "provider call"
            ),
            Err(e) => tracing::debug!(
                target: CALLS_TARGET,
                provider = call.provider,
                operation = call.operation.as_str(),
                resource = call.resource,
                ms,
                error = %e,
                "provider call failed"
            ),
        }
        out.map_err(|e| {
            let counter = if e.is_retryable() {
                &self.counters.transient_errors
            } else {
                &self.counters.errors
            };
            counter.fetch_add(1, Ordering::Relaxed);
            e.or_provider(call.provider)
        })
    }
}
