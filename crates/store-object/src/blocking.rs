//! Blocking calls on a runtime of the store's own: a run reaches its store from async code and
//! from plain threads (the lease renewer), and waits for the answer either way.

use std::sync::mpsc;

use aegis_dr_core::error::{Error, ErrorKind, Result};

/// A one-thread runtime the store's requests run on.
pub(crate) struct Blocking {
    rt: Option<tokio::runtime::Runtime>,
}

impl Blocking {
    pub(crate) fn new() -> Result<Blocking> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("aegis-dr-store")
            .enable_all()
            .build()
            .map_err(|e| Error::new(ErrorKind::Io, format!("store runtime: {e}")))?;
        Ok(Blocking { rt: Some(rt) })
    }

    /// Runs `f` on the store's runtime and waits for it (from any thread, in a runtime or not).
    pub(crate) fn call<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        let rt = self
            .rt
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Io, "store runtime is shut down"))?;
        let (tx, rx) = mpsc::channel();
        rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| Error::new(ErrorKind::Io, "store request task died"))
    }
}

impl Drop for Blocking {
    fn drop(&mut self) {
        // Dropped from async code too: never block there.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
