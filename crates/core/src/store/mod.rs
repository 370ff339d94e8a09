//! Where runs keep their state: a local folder (the default: journals, locks and reports on this
//! machine's disk) or an object store (`s3://`, `gs://`, `az://`), so that a run started on one
//! machine can be inspected, controlled and resumed from any other that can read the bucket.
//!
//! Object storage is reached through the [`Objects`] trait: a few calls with the conditional
//! writes a single writer needs (create only if absent, replace only if unchanged). The backend for
//! the clouds lives in its own crate; [`memory::MemoryObjects`] serves tests.
//!
//! Layout under a store's prefix (the local folder keeps its own, unchanged):
//! - `runs/<run-id>/journal/<seq>.json`: one create-only object per journal entry;
//! - `runs/<run-id>/control/<ts>-<rand>.json`: operator requests to a live run;
//! - `runs/<run-id>/report.{json,md,html}`;
//! - `locks/<plan>.json`: the run lock, a lease; `locks/<plan>.controller.json`: the controller's;
//! - anything else a run keeps (the simulated world, fault-injection counts) by name at the top.

pub mod lease;
pub mod memory;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use crate::error::{Error, ErrorKind, Result};

/// One version of an object, as the store names it (an ETag, or a generation for GCS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The entity tag, when the store gives one.
    pub e_tag: Option<String>,
    /// The store's version or generation, when it gives one.
    pub version: Option<String>,
}

/// An object read with its version.
#[derive(Debug, Clone)]
pub struct Object {
    /// Its content.
    pub bytes: Vec<u8>,
    /// Its version, for a conditional replace.
    pub version: Version,
}

/// How a write treats an object already there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    /// Replace whatever is there.
    Overwrite,
    /// Create only: fails with [`ErrorKind::Conflict`] when the object exists.
    Create,
    /// Replace only this version: fails with [`ErrorKind::Conflict`] when it changed.
    Update(Version),
}

/// An object store as a run uses it: blocking calls (each a request or two), safe from async code
/// and from plain threads. Errors use the crate's kinds: [`ErrorKind::Conflict`] for a failed
/// condition, [`ErrorKind::Unreachable`] when the store cannot be reached, [`ErrorKind::PermissionDenied`].
pub trait Objects: Send + Sync + fmt::Debug {
    /// The store's URL (`s3://bucket/prefix`), as shown to users.
    fn url(&self) -> String;
    /// The object at `key`, or `None` when there is none.
    fn get(&self, key: &str) -> Result<Option<Object>>;
    /// Writes `bytes` at `key` under `mode`; the new version.
    fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Version>;
    /// Every key under `prefix` (a folder-like prefix ending in `/`), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// The objects at `keys`, in order (`None` where there is none). Stores answer many at once
    /// (a run list reads every entry of every journal); the default reads them one by one.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Object>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }
    /// Deletes `key`; deleting what is not there succeeds.
    fn delete(&self, key: &str) -> Result<()>;
}

/// Where a plan's runs keep their state.
#[derive(Clone)]
pub enum State {
    /// A folder on this machine (`.aegis` beside the plan by default).
    Folder(PathBuf),
    /// An object store, with the lease its locks are held for.
    Objects(Arc<dyn Objects>, LeaseTerms),
}

/// How long a lease in an object store lasts without renewal, and how often it is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTerms {
    /// A holder that has not renewed for this long has lost it; another may take it.
    pub ttl: Duration,
}

impl LeaseTerms {
    /// The default: 30 s, renewed every 10 s.
    pub const DEFAULT: LeaseTerms = LeaseTerms {
        ttl: Duration::from_secs(30),
    };

    /// How often the holder renews: a third of the lease, so two renewals may fail before it ends.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 3
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "State({self})")
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Folder(p) => write!(f, "{}", p.display()),
            State::Objects(o, _) => write!(f, "{}", o.url()),
        }
    }
}

impl From<PathBuf> for State {
    fn from(p: PathBuf) -> State {
        State::Folder(p)
    }
}

impl From<&Path> for State {
    fn from(p: &Path) -> State {
        State::Folder(p.to_path_buf())
    }
}

impl From<&PathBuf> for State {
    fn from(p: &PathBuf) -> State {
        State::Folder(p.clone())
    }
}

impl State {
    /// The folder, for a local state.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            State::Folder(p) => Some(p),
            State::Objects(..) => None,
        }
    }

    /// True for a store other machines can reach (not a local folder).
    pub fn is_shared(&self) -> bool {
        matches!(self, State::Objects(..))
    }

    /// Where run `run_id` is kept, as shown to users: its folder or its URL.
    pub fn run_location(&self, run_id: &str) -> String {
        match self {
            State::Folder(p) => p.join("runs").join(run_id).display().to_string(),
            State::Objects(o, _) => format!("{}/runs/{run_id}", o.url().trim_end_matches('/')),
        }
    }

    /// Where the report `file` of run `run_id` is kept, as shown to users.
    pub fn report_location(&self, run_id: &str, file: &str) -> String {
        format!("{}/{file}", self.run_location(run_id))
    }

    /// Reads the state file `name` (a name at the top of the state, such as `sim-world.json`).
    pub fn read_file(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self {
            State::Folder(p) => {
                let path = p.join(name);
                match std::fs::read(&path) {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io(path.display(), e)),
                }
            }
            State::Objects(o, _) => Ok(o.get(name)?.map(|o| o.bytes)),
        }
    }

    /// Writes the state file `name`, replacing it atomically (and durably).
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        match self {
            State::Folder(p) => crate::fsutil::write_atomic(&p.join(name), bytes),
            State::Objects(o, _) => o.put(name, bytes.to_vec(), PutMode::Overwrite).map(|_| ()),
        }
    }

    /// Reads the report file `file` of run `run_id`, if written.
    pub fn read_report(&self, run_id: &str, file: &str) -> Result<Option<Vec<u8>>> {
        match self {
            State::Folder(p) => {
                let path = p.join("runs").join(run_id).join(file);
                match std::fs::read(&path) {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io(path.display(), e)),
                }
            }
            State::Objects(o, _) => Ok(o.get(&run_key(run_id, file))?.map(|o| o.bytes)),
        }
    }

    /// Writes the report file `file` of run `run_id` (not fsynced in a folder: a report is folded
    /// again from the journal).
    pub fn write_report(&self, run_id: &str, file: &str, bytes: &[u8]) -> Result<()> {
        match self {
            State::Folder(p) => {
                crate::fsutil::write_replace(&p.join("runs").join(run_id).join(file), bytes)
            }
            State::Objects(o, _) => o
                .put(&run_key(run_id, file), bytes.to_vec(), PutMode::Overwrite)
                .map(|_| ()),
        }
    }
}

/// True when `id` can name a run (a folder, a key prefix): not empty, no path separator, not hidden.
pub fn is_run_id(id: &str) -> bool {
    !id.is_empty() && !id.contains(['/', '\\']) && !id.starts_with('.')
}

/// The key of `rest` under run `run_id`'s prefix.
pub(crate) fn run_key(run_id: &str, rest: &str) -> String {
    format!("runs/{run_id}/{rest}")
}

/// The error of a process that lost its run to another (its lease was taken over, or another
/// process wrote the run's next entry): it must write and do nothing more.
pub fn lost(msg: impl Into<String>) -> Error {
    Error::refused(format!("lost the run: {}", msg.into()))
}

/// True for the error of [`lost`].
pub fn is_lost(e: &Error) -> bool {
    e.kind() == ErrorKind::Refused && e.message().starts_with("lost the run: ")
}

/// The error of a condition that did not hold.
pub fn conflict(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Conflict, msg)
}
