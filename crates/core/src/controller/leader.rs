//! Which of several `watch` replicas acts: a leadership a replica takes or renews on every round and
//! loses at once when it cannot renew. A Kubernetes `Lease` (in the Kubernetes provider) or, without
//! Kubernetes, an OS lock on the state folder (one machine, or a shared folder with working locks).

use std::{
    fs::{File, OpenOptions, TryLockError},
    io::Write,
    path::PathBuf,
    sync::Mutex,
    time::Duration,
};

use async_trait::async_trait;

use crate::error::{Error, Result};

/// A leadership one replica holds at a time.
#[async_trait]
pub trait Leadership: Send + Sync {
    /// Takes it if free, renews it if held; `Ok(true)` while this replica leads. An error means
    /// this replica must not act (it is not the leader as far as it can tell).
    async fn acquire_or_renew(&self) -> Result<bool>;
    /// Gives it up (on shutdown), so another replica takes over without waiting for it to expire.
    async fn release(&self);
    /// This replica's identity (as holders are named).
    fn identity(&self) -> String;
    /// How often to renew.
    fn renew_every(&self) -> Duration;
}

/// Leadership through an exclusive OS lock on `<state-dir>/locks/<plan>.controller.lock`: held
/// while the process lives, freed when it dies (even by kill -9).
pub struct StateDirLeader {
    path: PathBuf,
    held: Mutex<Option<File>>,
    identity: String,
}

impl StateDirLeader {
    /// The leadership of `plan`'s controller in `state_dir`, for a replica named `identity`.
    pub fn new(state_dir: &std::path::Path, plan: &str, identity: &str) -> StateDirLeader {
        StateDirLeader {
            path: state_dir
                .join("locks")
                .join(format!("{plan}.controller.lock")),
            held: Mutex::new(None),
            identity: identity.to_string(),
        }
    }
}

#[async_trait]
impl Leadership for StateDirLeader {
    async fn acquire_or_renew(&self) -> Result<bool> {
        let mut held = self
            .held
            .lock()
            .map_err(|_| Error::config("leader lock poisoned"))?;
        if held.is_some() {
            return Ok(true);
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| Error::io(self.path.display(), e))?;
        match file.try_lock() {
            Ok(()) => {
                let _ = file.set_len(0);
                let _ = file.write_all(self.identity.as_bytes());
                *held = Some(file);
                Ok(true)
            }
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(e)) => Err(Error::io(self.path.display(), e)),
        }
    }

    async fn release(&self) {
        if let Ok(mut h) = self.held.lock() {
            if let Some(f) = h.take() {
                let _ = f.set_len(0);
                let _ = f.unlock();
            }
        }
    }

    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn renew_every(&self) -> Duration {
        Duration::from_secs(1)
    }
}
