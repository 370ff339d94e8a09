//! The run journal: every step transition written durably around its side effect (appended and
//! fsynced to `runs/<run-id>/journal.jsonl` in a folder, one object per entry in a store), so a run
//! killed at any point can be resumed.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

pub use crate::run::{Entry, Operation, RunFlags, RunStatus, StepInfo};
use crate::{
    error::{Error, ErrorKind, Result},
    lock::RunLock,
    store::{lease::LeaseWatch, run_key, Objects, PutMode, State},
};

/// An open journal: a file appended to with fsync, or one create-only object per entry in a store.
#[derive(Debug)]
pub struct Journal {
    sink: Sink,
    /// Every entry of the run: those read when it was reopened, then those written since.
    entries: Vec<Entry>,
    /// Set once the run's last entry is written and the writer lock released.
    closed: bool,
    /// Entries this process wrote to it.
    written: u64,
}

#[derive(Debug)]
enum Sink {
    /// `runs/<run-id>/journal.jsonl` in a folder, held by an OS lock.
    File { file: File, path: PathBuf },
    /// `runs/<run-id>/journal/<seq>.json` in a store: entry `next` is created only if absent, so a
    /// writer that lost the run (paused past its lease, then continued) fails on its next append
    /// instead of writing over the new holder's entries: the sequence number is the fencing token.
    Objects {
        objects: Arc<dyn Objects>,
        run_id: String,
        next: u64,
        /// The run lock's lease: no entry is written (so no step starts) once it is not held.
        lease: Option<LeaseWatch>,
    },
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

/// The key of the copy of run `run_id`'s whole journal that its writer leaves when it ends.
fn snapshot_key(run_id: &str) -> String {
    run_key(run_id, "journal-copy.json")
}

/// The key of entry `seq` of run `run_id` in a store.
fn entry_key(run_id: &str, seq: u64) -> String {
    run_key(run_id, &format!("journal/{seq:010}.json"))
}

fn encode(entry: &Entry) -> Result<Vec<u8>> {
    serde_json::to_vec(entry).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot serialise journal entry: {e}"),
        )
    })
}

impl Journal {
    /// The journal path of `run_id` in a state folder.
    pub fn path_of(state_dir: &Path, run_id: &str) -> PathBuf {
        state_dir.join("runs").join(run_id).join("journal.jsonl")
    }

    /// Where the journal of `run_id` is kept, as shown to users.
    pub fn location_of(state: &State, run_id: &str) -> String {
        match state {
            State::Folder(p) => Journal::path_of(p, run_id).display().to_string(),
            State::Objects(o, _) => format!(
                "{}/{}",
                o.url().trim_end_matches('/'),
                run_key(run_id, "journal/")
            ),
        }
    }

    /// Creates the journal of new run `run_id` in `state` with its first entry, under `lock` (the
    /// plan's run lock, held). In a folder, atomically: after a crash the journal either does not
    /// exist or starts with `first`; not fsynced here: the first group commit
    /// ([`Journal::syncer`]), which comes before any step acts, makes it durable.
    pub fn create(state: &State, run_id: &str, first: &Entry, lock: &RunLock) -> Result<Journal> {
        match state {
            State::Folder(dir) => Journal::create_file(&Journal::path_of(dir, run_id), first),
            State::Objects(objects, _) => {
                if !objects.list(&run_key(run_id, "journal/"))?.is_empty() {
                    return Err(Error::new(ErrorKind::Io, "journal already exists")
                        .with_resource(Journal::location_of(state, run_id)));
                }
                let mut j = Journal {
                    sink: Sink::Objects {
                        objects: objects.clone(),
                        run_id: run_id.to_string(),
                        next: 0,
                        lease: lock.watch(),
                    },
                    entries: Vec::new(),
                    closed: false,
                    written: 0,
                };
                j.append(first)?;
                Ok(j)
            }
        }
    }

    /// A journal file created with its first entry (see [`Journal::create`]).
    pub fn create_file(path: &Path, first: &Entry) -> Result<Journal> {
        if path.exists() {
            return Err(Error::new(ErrorKind::Io, "journal already exists")
                .with_resource(path.display().to_string()));
        }
        let mut line = encode(first)?;
        line.push(b'\n');
        crate::fsutil::write_replace(path, &line)?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path.display(), e))?;
        lock_writer(&file, path)?;
        let mut j = Journal {
            sink: Sink::File {
                file,
                path: path.to_path_buf(),
            },
            entries: vec![first.clone()],
            closed: false,
            written: 0,
        };
        j.wrote();
        Ok(j)
    }

    /// Opens the journal of run `run_id` for appending, with the entries it holds, under `lock`
    /// (the plan's run lock, held). In a folder a torn last line left by a crash is dropped, and
    /// the journal is refused while another process writes it.
    pub fn reopen(state: &State, run_id: &str, lock: &RunLock) -> Result<(Journal, Vec<Entry>)> {
        match state {
            State::Folder(dir) => Journal::reopen_file(&Journal::path_of(dir, run_id)),
            State::Objects(objects, _) => {
                if let Some(w) = lock.watch() {
                    w.check()?;
                }
                let entries = read_objects(objects.as_ref(), run_id)?;
                Ok((
                    Journal {
                        sink: Sink::Objects {
                            objects: objects.clone(),
                            run_id: run_id.to_string(),
                            next: entries.len() as u64,
                            lease: lock.watch(),
                        },
                        entries: entries.clone(),
                        closed: false,
                        written: 0,
                    },
                    entries,
                ))
            }
        }
    }

    /// Opens a journal file for appending (see [`Journal::reopen`]).
    pub fn reopen_file(path: &Path) -> Result<(Journal, Vec<Entry>)> {
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
                sink: Sink::File {
                    file,
                    path: path.to_path_buf(),
                },
                entries: entries.clone(),
                closed: false,
                written: 0,
            },
            entries,
        ))
    }

    /// Appends one entry durably (fsynced in a folder; a store's write is durable when answered).
    pub fn append(&mut self, entry: &Entry) -> Result<()> {
        self.append_unsynced(entry)?;
        if let Sink::File { file, path } = &self.sink {
            file.sync_data().map_err(|e| Error::io(path.display(), e))?;
        }
        Ok(())
    }

    /// Appends one entry without fsync: it survives a killed process (the page cache keeps it) and is
    /// made durable against power loss by the next [`Journal::append`]. For progress whose loss only
    /// means an idempotent call is repeated on resume. (In a store every entry is durable.)
    pub fn append_unsynced(&mut self, entry: &Entry) -> Result<()> {
        if self.closed {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "the run has finished: its journal takes no more entries",
            )
            .with_resource(self.location()));
        }
        let mut line = encode(entry)?;
        match &mut self.sink {
            Sink::File { file, path } => {
                line.push(b'\n');
                file.write_all(&line)
                    .map_err(|e| Error::io(path.display(), e))?;
            }
            Sink::Objects {
                objects,
                run_id,
                next,
                lease,
            } => {
                if let Some(w) = lease {
                    w.check()?;
                }
                put_entry(objects.as_ref(), run_id, *next, line)?;
                *next += 1;
            }
        }
        self.entries.push(entry.clone());
        self.wrote();
        Ok(())
    }

    /// A handle to fsync everything appended so far without holding the journal (for example on a
    /// blocking thread while other entries are appended), with its path; `None` in a store, whose
    /// entries are durable once written.
    pub fn syncer(&self) -> Result<Option<(File, PathBuf)>> {
        match &self.sink {
            Sink::File { file, path } => file
                .try_clone()
                .map(|f| Some((f, path.clone())))
                .map_err(|e| Error::io(path.display(), e)),
            Sink::Objects { .. } => Ok(None),
        }
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
        match &self.sink {
            Sink::File { file, path } => file.unlock().map_err(|e| Error::io(path.display(), e)),
            // In a store, a copy of the whole journal in one object, so a run list reads one
            // object per run rather than every entry. A cache: the entries stay the record (a
            // resume reads them), and a copy that could not be written costs only speed.
            Sink::Objects {
                objects, run_id, ..
            } => {
                if let Ok(bytes) = serde_json::to_vec(&self.entries) {
                    if let Err(e) = objects.put(&snapshot_key(run_id), bytes, PutMode::Overwrite) {
                        tracing::warn!(run = %run_id, error = %e, "journal copy not written");
                    }
                }
                Ok(())
            }
        }
    }

    /// Every entry of the run as this process knows it: those it read, then those it wrote.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Where the journal is kept, as shown to users.
    pub fn location(&self) -> String {
        match &self.sink {
            Sink::File { path, .. } => path.display().to_string(),
            Sink::Objects {
                objects, run_id, ..
            } => format!(
                "{}/{}",
                objects.url().trim_end_matches('/'),
                run_key(run_id, "journal/")
            ),
        }
    }
}

/// Writes entry `seq` of `run_id`, create-only. A conflict is this writer's own earlier attempt
/// (a write answered late and retried) when the object holds these very bytes; otherwise another
/// process has written the run since: this one lost it.
fn put_entry(objects: &dyn Objects, run_id: &str, seq: u64, bytes: Vec<u8>) -> Result<()> {
    let key = entry_key(run_id, seq);
    match objects.put(&key, bytes.clone(), PutMode::Create) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::Conflict => match objects.get(&key)? {
            Some(o) if o.bytes == bytes => Ok(()),
            _ => Err(crate::store::lost(format!(
                "another process has written entry {seq} of run {run_id}; this one writes nothing more"
            ))
            .with_resource(format!("{}/{key}", objects.url().trim_end_matches('/')))),
        },
        Err(e) => Err(e),
    }
}

/// The entries of run `run_id` in a store, in order; a missing entry (a gap in the sequence) or
/// one that cannot be read is an error naming it.
fn read_objects(objects: &dyn Objects, run_id: &str) -> Result<Vec<Entry>> {
    let keys = objects.list(&run_key(run_id, "journal/"))?;
    let got = objects.get_many(&keys)?;
    entries_of(objects, run_id, &keys, got, 0)
}

/// The entries of `run_id` from its journal's `keys` (listed, in order, from entry `start`) and the
/// objects `got` there.
fn entries_of(
    objects: &dyn Objects,
    run_id: &str,
    keys: &[String],
    got: Vec<Option<crate::store::Object>>,
    start: usize,
) -> Result<Vec<Entry>> {
    let mut entries = Vec::with_capacity(keys.len());
    for (i, (key, o)) in keys.iter().zip(got).enumerate() {
        let i = i + start;
        let at = || format!("{}/{key}", objects.url().trim_end_matches('/'));
        if *key != entry_key(run_id, i as u64) {
            return Err(Error::new(
                ErrorKind::Io,
                format!("journal entry {i} is missing (found {key} in its place)"),
            )
            .with_resource(at()));
        }
        let Some(o) = o else {
            return Err(Error::new(
                ErrorKind::Io,
                format!("journal entry {i} vanished while read"),
            )
            .with_resource(at()));
        };
        let e = serde_json::from_slice(&o.bytes).map_err(|e| {
            Error::new(ErrorKind::Io, format!("journal entry {i} is corrupt: {e}"))
                .with_resource(at())
        })?;
        entries.push(e);
    }
    Ok(entries)
}

/// Every run's entries in a store, by run id, read with one listing and requests many at once: a
/// finished run's copy of its journal (entries past the copy read one by one), else each entry
/// (a run whose journal cannot be read has its error).
pub(crate) fn read_all_objects(
    objects: &dyn Objects,
) -> Result<std::collections::BTreeMap<String, Result<Vec<Entry>>>> {
    let mut by_run: std::collections::BTreeMap<String, (Vec<String>, bool)> = Default::default();
    for key in objects.list("runs/")? {
        let Some((id, rest)) = key.strip_prefix("runs/").and_then(|k| k.split_once('/')) else {
            continue;
        };
        if !crate::store::is_run_id(id) {
            continue;
        }
        if rest.starts_with("journal/") {
            by_run
                .entry(id.to_string())
                .or_default()
                .0
                .push(key.clone());
        } else if key == snapshot_key(id) {
            by_run.entry(id.to_string()).or_default().1 = true;
        }
    }
    // The copies first: each says how many entries it holds.
    let with_copy: Vec<String> = by_run
        .iter()
        .filter(|(_, (keys, copy))| *copy && !keys.is_empty())
        .map(|(id, _)| id.clone())
        .collect();
    let copies = objects.get_many(
        &with_copy
            .iter()
            .map(|id| snapshot_key(id))
            .collect::<Vec<_>>(),
    )?;
    let mut copied: std::collections::BTreeMap<String, Vec<Entry>> = Default::default();
    for (id, copy) in with_copy.into_iter().zip(copies) {
        let entries: Option<Vec<Entry>> = copy.and_then(|o| serde_json::from_slice(&o.bytes).ok());
        // A copy is used only when it is no longer than the journal it copies.
        if let Some(e) = entries.filter(|e| e.len() <= by_run[&id].0.len()) {
            copied.insert(id, e);
        }
    }
    // Then every entry no copy holds, all at once.
    let tails: Vec<(String, usize)> = by_run
        .keys()
        .map(|id| (id.clone(), copied.get(id).map_or(0, Vec::len)))
        .collect();
    let wanted: Vec<String> = tails
        .iter()
        .flat_map(|(id, from)| by_run[id].0[*from..].iter().cloned())
        .collect();
    let mut got = objects.get_many(&wanted)?.into_iter();
    Ok(tails
        .into_iter()
        .map(|(id, from)| {
            let keys = &by_run[&id].0;
            let mine: Vec<_> = got.by_ref().take(keys.len() - from).collect();
            let mut entries = copied.remove(&id).unwrap_or_default();
            let read = entries_of(objects, &id, &keys[from..], mine, from).map(|tail| {
                entries.extend(tail);
                entries
            });
            // Entries before the copy's end are checked to be there (a gap is an error).
            let read = read.and_then(|e| {
                match keys
                    .iter()
                    .enumerate()
                    .find(|(i, k)| **k != entry_key(&id, *i as u64))
                {
                    Some((i, k)) => Err(Error::new(
                        ErrorKind::Io,
                        format!("journal entry {i} is missing (found {k} in its place)"),
                    )
                    .with_resource(format!("{}/{k}", objects.url().trim_end_matches('/')))),
                    None => Ok(e),
                }
            });
            (id, read)
        })
        .collect())
}

/// Writes the whole journal of run `run_id` into `state` (a migration's copy): refused where a
/// journal of it exists, except, in a store, for entries already there with the same content.
pub fn write_run(state: &State, run_id: &str, entries: &[Entry]) -> Result<()> {
    match state {
        State::Folder(dir) => {
            let path = Journal::path_of(dir, run_id);
            if path.exists() {
                return Err(Error::new(ErrorKind::Io, "journal already exists")
                    .with_resource(path.display().to_string()));
            }
            let mut bytes = Vec::new();
            for e in entries {
                bytes.extend(encode(e)?);
                bytes.push(b'\n');
            }
            crate::fsutil::write_atomic(&path, &bytes)
        }
        State::Objects(objects, _) => entries
            .iter()
            .enumerate()
            .try_for_each(|(i, e)| put_entry(objects.as_ref(), run_id, i as u64, encode(e)?)),
    }
}

/// The entries of run `run_id` in `state` (a torn last line of a journal file ignored).
pub fn read_run(state: &State, run_id: &str) -> Result<Vec<Entry>> {
    match state {
        State::Folder(dir) => read(&Journal::path_of(dir, run_id)),
        State::Objects(objects, _) => read_objects(objects.as_ref(), run_id),
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

    fn started(ts_ms: u64, step: &str) -> Entry {
        Entry::StepStarted {
            ts_ms,
            step: step.into(),
        }
    }

    #[test]
    fn in_a_store_a_writer_that_lost_the_run_fails_on_its_next_entry_and_nothing_interleaves() {
        use crate::store::{memory::MemoryObjects, LeaseTerms};
        let state = State::Objects(Arc::new(MemoryObjects::new()), LeaseTerms::DEFAULT);
        let lock_a = RunLock::acquire(&state, "p", "r1", "failover").unwrap();
        let mut a = Journal::create(&state, "r1", &started(1, "a"), &lock_a).unwrap();
        a.append(&started(2, "b")).unwrap();
        // B takes the run over (as after A's lease ran out: here under another lock key, A's being
        // renewed) and writes its next entry.
        let lock_b = RunLock::acquire(&state, "p2", "r1", "resume").unwrap();
        let (mut b, read) = Journal::reopen(&state, "r1", &lock_b).unwrap();
        assert_eq!(read.len(), 2);
        b.append(&started(3, "c")).unwrap();
        // A, continuing, cannot write over it: its entry 2 exists.
        let e = a.append(&started(4, "late")).unwrap_err();
        assert!(crate::store::is_lost(&e), "{e}");
        let all = read_run(&state, "r1").unwrap();
        assert_eq!(all.len(), 3);
        assert!(matches!(&all[2], Entry::StepStarted { step, .. } if step == "c"));
        // A write retried after its answer was lost finds its own entry and goes on.
        b.append(&started(5, "d")).unwrap();
        let State::Objects(o, _) = &state else {
            unreachable!()
        };
        put_entry(o.as_ref(), "r1", 3, encode(&started(5, "d")).unwrap()).unwrap();
        // B ends: a run list reads its copy of the journal, and an entry written after it.
        b.close().unwrap();
        assert!(o.get(&snapshot_key("r1")).unwrap().is_some());
        let (mut c, _) = Journal::reopen(&state, "r1", &lock_b).unwrap();
        c.append(&started(6, "e")).unwrap();
        let listed = read_all_objects(o.as_ref()).unwrap();
        let got = listed["r1"].as_ref().unwrap();
        assert_eq!(
            serde_json::to_value(got).unwrap(),
            serde_json::to_value(read_run(&state, "r1").unwrap()).unwrap()
        );
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn torn_tail_is_dropped_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let j = Journal::create_file(
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
        let (mut j, entries) = Journal::reopen_file(&p).unwrap();
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
