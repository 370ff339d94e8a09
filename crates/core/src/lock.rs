//! One run at a time per plan. In a folder: an exclusive OS file lock that dies with its process
//! (even on kill -9). In a store: a lease (`locks/<plan>.json`) renewed while the run runs, which
//! another process takes over once it expires.

use std::{
    fs::{File, OpenOptions, TryLockError},
    io::{Read, Seek, Write},
    path::Path,
};

use crate::{
    error::{Error, Result},
    store::{
        lease::{self, Lease, LeaseWatch},
        State,
    },
};

/// Holds the plan's run lock until dropped.
#[derive(Debug)]
pub struct RunLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    File(File),
    Lease(Lease),
}

/// The key of `plan`'s run lock in a store.
fn lease_key(plan: &str) -> String {
    format!("locks/{plan}.json")
}

impl RunLock {
    /// Takes the lock of `plan` in `state`, or refuses naming the run that holds it. In a store
    /// the lease is then renewed on a thread of its own while the lock is held.
    pub fn acquire(state: &State, plan: &str, run_id: &str, operation: &str) -> Result<RunLock> {
        match state {
            State::Folder(dir) => RunLock::acquire_file(dir, plan, run_id, operation),
            State::Objects(objects, terms) => {
                let lease =
                    Lease::acquire(objects.clone(), &lease_key(plan), run_id, operation, *terms)
                        .map_err(|e| {
                            if e.kind() == crate::ErrorKind::Refused {
                                Error::refused(format!(
                                    "another run holds the lock of plan `{plan}`: {}",
                                    e.message()
                                ))
                            } else {
                                e
                            }
                        })?;
                lease.keep_renewed();
                Ok(RunLock {
                    held: Held::Lease(lease),
                })
            }
        }
    }

    /// The lease to check before acting, when the lock is one.
    pub fn watch(&self) -> Option<LeaseWatch> {
        match &self.held {
            Held::File(_) => None,
            Held::Lease(l) => Some(l.watch()),
        }
    }

    fn acquire_file(
        state_dir: &Path,
        plan: &str,
        run_id: &str,
        operation: &str,
    ) -> Result<RunLock> {
        let dir = state_dir.join("locks");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display(), e))?;
        let path = dir.join(format!("{plan}.lock"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(path.display(), e))?;
        // A `status` probing the lock holds it for an instant: try again briefly before refusing.
        let mut tries = 0;
        let locked = loop {
            match file.try_lock() {
                Err(TryLockError::WouldBlock)
                    if tries < 20 && holder_text(&mut file).is_empty() =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                other => break other,
            }
        };
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = holder_text(&mut file);
                return Err(Error::refused(format!(
                    "another run holds the lock of plan `{plan}`: {}",
                    if holder.is_empty() {
                        "unknown holder"
                    } else {
                        holder.as_str()
                    }
                ))
                .with_resource(path.display().to_string()));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(path.display(), e)),
        }
        let info = format!("run {run_id} ({operation}, pid {})", std::process::id());
        file.set_len(0).map_err(|e| Error::io(path.display(), e))?;
        file.rewind().map_err(|e| Error::io(path.display(), e))?;
        // Not fsynced: the text only names the holder in a refusal; the lock is the OS file lock,
        // which dies with the process and does not outlive a reboot.
        file.write_all(info.as_bytes())
            .map_err(|e| Error::io(path.display(), e))?;
        Ok(RunLock {
            held: Held::File(file),
        })
    }

    /// The run ids holding any plan's lock in `state` now.
    pub fn holders(state: &State) -> Vec<String> {
        let state_dir = match state {
            State::Folder(dir) => dir,
            State::Objects(objects, _) => {
                let keys = objects.list("locks/").unwrap_or_default();
                return keys
                    .iter()
                    .filter(|k| k.ends_with(".json") && !k.ends_with(".controller.json"))
                    .filter_map(|k| lease::holder(objects.as_ref(), k).ok().flatten())
                    .map(|r| r.holder)
                    .collect();
            }
        };
        let Ok(rd) = std::fs::read_dir(state_dir.join("locks")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let plan = name.strip_suffix(".lock")?.to_string();
                RunLock::holder_file(state_dir, &plan)
            })
            .collect()
    }

    /// The run id holding the lock of `plan` now, if a live process holds it. In a folder, probes
    /// by taking the lock for an instant (a run starting at that instant waits for it); in a store,
    /// reads the lease (one that cannot be read is reported as held by nobody).
    pub fn holder(state: &State, plan: &str) -> Option<String> {
        RunLock::holder_checked(state, plan).ok().flatten()
    }

    /// [`RunLock::holder`], with the error of a store's lease that cannot be read.
    pub fn holder_checked(state: &State, plan: &str) -> Result<Option<String>> {
        let state_dir = match state {
            State::Folder(dir) => dir,
            State::Objects(objects, _) => {
                return Ok(lease::holder(objects.as_ref(), &lease_key(plan))?.map(|r| r.holder))
            }
        };
        Ok(RunLock::holder_file(state_dir, plan))
    }

    fn holder_file(state_dir: &Path, plan: &str) -> Option<String> {
        let path = state_dir.join("locks").join(format!("{plan}.lock"));
        let mut file = OpenOptions::new().read(true).write(true).open(path).ok()?;
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                None
            }
            Err(TryLockError::WouldBlock) => {
                let text = holder_text(&mut file);
                // "run <id> (<operation>, pid <n>)"
                text.strip_prefix("run ")
                    .and_then(|t| t.split_whitespace().next())
                    .map(String::from)
            }
            Err(TryLockError::Error(_)) => None,
        }
    }
}

fn holder_text(file: &mut File) -> String {
    let mut holder = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut holder);
    holder.trim().to_string()
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // A lease is released by its own drop.
        if let Held::File(file) = &self.held {
            let _ = file.set_len(0);
            let _ = file.unlock();
        }
    }
}
