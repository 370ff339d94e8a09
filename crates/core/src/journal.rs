//! The run journal: every step transition appended and fsynced to `runs/<run-id>/journal.jsonl`
//! around its side effect, so a run killed at any point can be resumed.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
};

use crate::error::{Error, ErrorKind, Result};
pub use crate::run::{Entry, Operation, RunFlags, RunStatus, StepInfo};

/// An open journal, appended to with fsync.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    /// Set once the run's last entry is written and the writer lock released.
    closed: bool,
    /// Entries this process wrote to it.
    written: u64,
}

/// The environment variable of the crash test: the process exits at once with status 137 (as a
/// SIGKILL would: no destructor, no further entry) right after writing this many journal entries. Fault injection for tests, so a crash lands at a
/// chosen point of a run rather than wherever a timer fell; unset in normal use.
pub const CRASH_AFTER_ENTRIES: &str = "AEGIS_DR_CRASH_AFTER_ENTRIES";

/// The crash point, read once.
fn crash_point() -> Option<u64> {
    static POINT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *POINT.get_or_init(|| std::env::var(CRASH_AFTER_ENTRIES).ok()?.parse().ok())
}

impl Journal {
    /// The journal path of `run_id`.
    pub fn path_of(state_dir: &Path, run_id: &str) -> PathBuf {
        state_dir.join("runs").join(run_id).join("journal.jsonl")
    }

    /// Creates the journal of a new run with its first entry, atomically: after a crash the journal
    /// either does not exist or starts with `first`. Not fsynced here: the first group commit
    /// ([`Journal::sync_handle`]), which comes before any step acts, makes it durable.
    pub fn create(path: &Path, first: &Entry) -> Result<Journal> {
        if path.exists() {
            return Err(Error::new(ErrorKind::Io, "journal already exists")
                .with_resource(path.display().to_string()));
        }
        let mut line = serde_json::to_vec(first).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot serialise journal entry: {e}"),
            )
        })?;
        line.push(b'\n');
        crate::fsutil::write_replace(path, &line)?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path.display(), e))?;
        lock_writer(&file, path)?;
        let mut j = Journal {
            file,
            path: path.to_path_buf(),
            closed: false,
            written: 0,
        };
        j.wrote();
        Ok(j)
    }

    /// Opens an existing journal for appending, dropping a torn last line left by a crash. Refused
    /// while another process (or handle) writes it: one writer per journal, whatever happened to
    /// the plan's lock file.
    pub fn reopen(path: &Path) -> Result<(Journal, Vec<Entry>)> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path.display(), e))?;
        lock_writer(&file, path)?;
        let (entries, valid_len) = read_entries(path)?;
        file.set_len(valid_len)
            .map_err(|e| Error::io(path.display(), e))?;
        Ok((
            Journal {
                file,
                path: path.to_path_buf(),
                closed: false,
                written: 0,
            },
            entries,
        ))
    }

    /// Appends one entry and fsyncs it.
    pub fn append(&mut self, entry: &Entry) -> Result<()> {
        self.append_unsynced(entry)?;
        self.file
            .sync_data()
            .map_err(|e| Error::io(self.path.display(), e))
    }

    /// Appends one entry without fsync: it survives a killed process (the page cache keeps it) and is
    /// made durable against power loss by the next [`Journal::append`]. For progress whose loss only
    /// means an idempotent call is repeated on resume.
    pub fn append_unsynced(&mut self, entry: &Entry) -> Result<()> {
        if self.closed {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "the run has finished: its journal takes no more entries",
            )
            .with_resource(self.path.display().to_string()));
        }
        let mut line = serde_json::to_vec(entry).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot serialise journal entry: {e}"),
            )
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| Error::io(self.path.display(), e))?;
        self.wrote();
        Ok(())
    }

    /// A second handle on the journal file, to fsync (everything appended so far) without holding
    /// the journal, for example on a blocking thread while other entries are appended.
    pub fn sync_handle(&self) -> Result<File> {
        self.file
            .try_clone()
            .map_err(|e| Error::io(self.path.display(), e))
    }

    /// Counts one entry written; at the crash point (tests only), ends the process on the spot.
    fn wrote(&mut self) {
        self.written += 1;
        if crash_point() == Some(self.written) {
            std::process::exit(137);
        }
    }

    /// Ends the run's writing: releases the writer lock now (not when the last handle on the file
    /// goes, which a task still winding down may hold), so the moment a run returns nothing takes
    /// it for live. Later appends are refused.
    pub fn close(&mut self) -> Result<()> {
        self.closed = true;
        self.file
            .unlock()
            .map_err(|e| Error::io(self.path.display(), e))
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads a journal, ignoring a torn final line.
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    read_entries(path).map(|(e, _)| e)
}

fn read_entries(path: &Path) -> Result<(Vec<Entry>, u64)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
    let mut entries = Vec::new();
    let mut valid = 0usize;
    let mut start = 0usize;
    let lines: Vec<_> = bytes.split_inclusive(|b| *b == b'\n').collect();
    let n = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        let complete = line.ends_with(b"\n");
        match serde_json::from_slice::<Entry>(line) {
            Ok(e) if complete => {
                entries.push(e);
                valid = start + line.len();
            }
            _ if i + 1 == n => break, // torn tail from a crash mid-write
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("journal line {} is corrupt: {e}", i + 1),
                )
                .with_resource(path.display().to_string()))
            }
            Ok(_) => break,
        }
        start += line.len();
    }
    Ok((entries, valid as u64))
}

/// True when a live process holds the journal at `path` open for writing (its writer's lock).
pub fn has_live_writer(path: &Path) -> bool {
    let Ok(file) = OpenOptions::new().read(true).open(path) else {
        return false;
    };
    // Shared: two probes at once do not make each other's run look live.
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

/// Takes the journal's writer lock (an OS lock on the journal itself, released when the process
/// ends, even by kill -9), or refuses: a live run is writing it.
fn lock_writer(file: &File, path: &Path) -> Result<()> {
    // A probe ([`has_live_writer`]) holds a shared lock for an instant: try again briefly.
    let mut tries = 0;
    let locked = loop {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) if tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => break other,
        }
    };
    match locked {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::refused(
            "a live process is writing this run's journal: the run is running (another aegis-dr drives it)",
        )
        .with_resource(path.display().to_string())),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(path.display(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_dropped_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let j = Journal::create(
            &p,
            &Entry::StepStarted {
                ts_ms: 1,
                step: "a".into(),
            },
        )
        .unwrap();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"event":"step_succ"#).unwrap();
        let (mut j, entries) = Journal::reopen(&p).unwrap();
        assert_eq!(entries.len(), 1);
        j.append(&Entry::StepStarted {
            ts_ms: 2,
            step: "b".into(),
        })
        .unwrap();
        assert_eq!(read(&p).unwrap().len(), 2);
    }

    #[test]
    fn corrupt_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        std::fs::write(
            &p,
            "garbage\n{\"event\":\"step_started\",\"ts_ms\":1,\"step\":\"a\"}\n",
        )
        .unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("line 1"));
    }
}
