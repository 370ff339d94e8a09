//! [`FaultLayer`]: transient and scripted faults around any provider's calls, so a test proves a run
//! survives faults against real clients as well as against the simulated estate.

use std::sync::Mutex;

use futures_util::future::BoxFuture;
use rand::{rngs::SmallRng, Rng, SeedableRng};

use super::{Call, Layer};
use crate::{
    error::{Error, ErrorKind, Result},
    plan::SimFault,
    store::State,
};

/// Fails a share of calls with a transient error (half before the call reaches the provider, half
/// after it took effect with its answer lost, as a dropped connection does) and fires scripted
/// faults. How often each scripted fault fired is kept in a file when given, so a fault that
/// fired once does not fire again in a resumed run.
#[derive(Debug)]
pub struct FaultLayer {
    rate: f64,
    rng: Mutex<SmallRng>,
    faults: Vec<SimFault>,
    fired: Mutex<Vec<u32>>,
    /// Where the counts are kept: a state and the file's name in it.
    state: Option<(State, String)>,
}

impl FaultLayer {
    /// Transient faults on `rate` of the calls (0..=0.9), from a generator seeded with `seed`, and
    /// the scripted `faults` (those of kind `job-failure` are left to the provider).
    pub fn new(rate: f64, seed: u64, faults: Vec<SimFault>) -> FaultLayer {
        let faults: Vec<SimFault> = faults
            .into_iter()
            .filter(|f| f.error != "job-failure")
            .collect();
        FaultLayer {
            rate: rate.clamp(0.0, 0.9),
            rng: Mutex::new(SmallRng::seed_from_u64(seed)),
            fired: Mutex::new(vec![0; faults.len()]),
            faults,
            state: None,
        }
    }

    /// Keeps the firing counts in file `name` of `state` (read now if it exists, written when a
    /// fault fires).
    pub fn persisted(mut self, state: State, name: &str) -> Result<FaultLayer> {
        if let Some(bytes) = state.read_file(name)? {
            let counts: Vec<u32> = serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(ErrorKind::Io, format!("fault counts unreadable: {e}"))
                    .with_resource(format!("{state}/{name}"))
            })?;
            if let Ok(mut fired) = self.fired.lock() {
                for (slot, n) in fired.iter_mut().zip(counts) {
                    *slot = n;
                }
            }
        }
        self.state = Some((state, name.to_string()));
        Ok(self)
    }

    /// True when the layer injects nothing.
    pub fn is_inert(&self) -> bool {
        self.rate <= 0.0 && self.faults.is_empty()
    }

    /// The first scripted fault matching `call` that has firings left, counted.
    fn scripted(&self, call: Call<'_>) -> Result<Option<Error>> {
        let Ok(mut fired) = self.fired.lock() else {
            return Ok(None);
        };
        for (i, f) in self.faults.iter().enumerate() {
            if f.operation != call.operation
                || f.resource.as_deref().is_some_and(|r| r != call.resource)
                || (f.times != 0 && fired[i] >= f.times)
            {
                continue;
            }
            fired[i] += 1;
            if let Some((state, name)) = &self.state {
                let json = serde_json::to_vec(&*fired)
                    .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
                state.write_file(name, &json)?;
            }
            let msg = format!("injected fault in {}", call.operation);
            return Ok(Some(
                match f.error.as_str() {
                    "temporary" => Error::new(ErrorKind::Provider, msg).temporary(),
                    "throttled" => Error::new(ErrorKind::Throttled, msg),
                    "unreachable" => Error::new(ErrorKind::Unreachable, msg),
                    "integrity" => Error::new(ErrorKind::Integrity, msg),
                    _ => Error::new(ErrorKind::Provider, msg).permanent(),
                }
                .with_resource(call.resource.to_string()),
            ));
        }
        Ok(None)
    }

    /// Rolls a transient fault: `Some(true)` after the call, `Some(false)` before it.
    fn transient(&self) -> Option<bool> {
        if self.rate <= 0.0 {
            return None;
        }
        let mut rng = self.rng.lock().ok()?;
        (rng.gen::<f64>() < self.rate).then(|| rng.gen_bool(0.5))
    }
}

#[async_trait::async_trait]
impl Layer for FaultLayer {
    async fn around<'a, T: Send + 'a>(
        &'a self,
        call: Call<'a>,
        next: &'a (dyn Fn() -> BoxFuture<'a, Result<T>> + Send + Sync + 'a),
    ) -> Result<T> {
        if let Some(e) = self.scripted(call)? {
            return Err(e);
        }
        match self.transient() {
            None => next().await,
            Some(false) => Err(Error::new(
                ErrorKind::Throttled,
                format!("injected transient fault in {}", call.operation),
            )
            .with_resource(call.resource.to_string())),
            Some(true) => {
                next().await?;
                Err(Error::new(
                    ErrorKind::Throttled,
                    format!(
                        "injected transient fault in {} (answer lost after the call took effect)",
                        call.operation
                    ),
                )
                .with_resource(call.resource.to_string()))
            }
        }
    }
}
