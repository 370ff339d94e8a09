//! Which of several `watch` replicas acts: a leadership a replica takes or renews on every round and
//! loses at once when it cannot renew. A Kubernetes `Lease` (in the Kubernetes provider); without
//! Kubernetes, an OS lock on the state folder (one machine, or a shared folder with working locks),
//! or a lease in the state's object store (replicas anywhere that reach the bucket).

use std::{
    fs::{File, OpenOptions, TryLockError},
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;

use crate::{
    error::{Error, ErrorKind, Result},
    store::{lease::Lease, LeaseTerms, Objects, State},
};

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

/// Leadership through a lease in the state's object store (`locks/<plan>.controller.json`):
/// replicas in different clusters or regions, with nothing in common but the bucket, elect one.
/// Renewed on every round by compare-and-swap; lost when a renewal is refused or the lease runs out
/// before one succeeds.
pub struct StoreLeader {
    objects: Arc<dyn Objects>,
    key: String,
    terms: LeaseTerms,
    held: Mutex<Option<Lease>>,
    identity: String,
}

impl StoreLeader {
    /// The leadership of `plan`'s controller in `objects`, for a replica named `identity`.
    pub fn new(
        objects: Arc<dyn Objects>,
        terms: LeaseTerms,
        plan: &str,
        identity: &str,
    ) -> StoreLeader {
        StoreLeader {
            objects,
            key: format!("locks/{plan}.controller.json"),
            terms,
            held: Mutex::new(None),
            identity: identity.to_string(),
        }
    }
}

#[async_trait]
impl Leadership for StoreLeader {
    async fn acquire_or_renew(&self) -> Result<bool> {
        let objects = self.objects.clone();
        let (key, identity, terms) = (self.key.clone(), self.identity.clone(), self.terms);
        let mut held = self
            .held
            .lock()
            .map_err(|_| Error::config("leader lock poisoned"))?;
        if let Some(lease) = held.as_ref() {
            // Renewed now; past its lease without a renewal, or taken, it is lost.
            match lease.renew().and_then(|()| lease.watch().check()) {
                Ok(()) => return Ok(true),
                Err(e) => {
                    tracing::warn!(error = %e, "controller leadership lost");
                    *held = None;
                    return Err(e);
                }
            }
        }
        match Lease::acquire(objects, &key, &identity, "controller", terms) {
            Ok(lease) => {
                *held = Some(lease);
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::Refused => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn release(&self) {
        if let Ok(mut h) = self.held.lock() {
            // Dropping the lease releases it.
            h.take();
        }
    }

    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn renew_every(&self) -> Duration {
        self.terms.renew_every().min(Duration::from_secs(1))
    }
}

/// The leadership of `plan`'s controller in `state` for replica `identity`: the folder's OS lock,
/// or a lease in the store.
pub fn for_state(state: &State, plan: &str, identity: &str) -> Arc<dyn Leadership> {
    match state {
        State::Folder(dir) => Arc::new(StateDirLeader::new(dir, plan, identity)),
        State::Objects(objects, terms) => {
            Arc::new(StoreLeader::new(objects.clone(), *terms, plan, identity))
        }
    }
}
