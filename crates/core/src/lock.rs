//! One run at a time per plan: an exclusive OS file lock that dies with its process (even on kill -9).

use std::{
    fs::{File, OpenOptions, TryLockError},
    io::{Read, Seek, Write},
    path::{Path, PathBuf},
};

use crate::error::{Error, Result};

/// Holds the plan's run lock until dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
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
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(Error::refused(format!(
                    "another run holds the lock of plan `{plan}`: {}",
                    if holder.is_empty() {
                        "unknown holder"
                    } else {
                        holder
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
        Ok(RunLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}
