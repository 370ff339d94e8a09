//! One run at a time per plan: an exclusive OS file lock that dies with its process (even on kill -9).

use std::{
    fs::{File, OpenOptions, TryLockError},
    io::{Read, Seek, Write},
    path::Path,
};

use crate::error::{Error, Result};

/// Holds the plan's run lock until dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

impl RunLock {
    /// Takes the lock of `plan` in `state_dir`, or refuses naming the run that holds it.
    pub fn acquire(state_dir: &Path, plan: &str, run_id: &str, operation: &str) -> Result<RunLock> {
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
        Ok(RunLock { file })
    }

    /// The run ids holding any plan's lock under `state_dir` now.
    pub fn holders(state_dir: &Path) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(state_dir.join("locks")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let plan = name.strip_suffix(".lock")?.to_string();
                RunLock::holder(state_dir, &plan)
            })
            .collect()
    }

    /// The run id holding the lock of `plan` now, if a live process holds it. Probes by taking
    /// the lock for an instant (a run starting at that instant waits for it).
    pub fn holder(state_dir: &Path, plan: &str) -> Option<String> {
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
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}
