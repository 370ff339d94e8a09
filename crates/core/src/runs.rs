//! The runs in a state (a folder or a store), read from their journals: a corrupt journal is listed
//! and named (it never hides the other runs), and a run whose process is gone is told apart from
//! one running.

use std::path::PathBuf;

use crate::{
    error::{Error, Result},
    incident::IncidentClass,
    journal::{Operation, RunStatus},
    lock::RunLock,
    report::Report,
    run::RunState,
    store::{run_key, State},
};

/// A run whose journal could be read: its folded state, and its status as seen now.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The journal, folded.
    pub state: RunState,
    /// The journal's status, or `interrupted` when it says running and no process drives it.
    pub status: RunStatus,
}

impl Listed {
    /// Its report, with the status as seen now.
    pub fn report(&self) -> Report {
        let mut r = Report::of(&self.state);
        r.status = self.status;
        r
    }
}

/// What could be read of one run folder.
#[derive(Debug, Clone)]
pub enum RunRead {
    /// Its journal, folded (the status says `interrupted` for a dead run).
    Run(Box<Listed>),
    /// Its journal cannot be read; the message says where and why.
    Corrupt(String),
    /// The folder has no journal: the run was killed before its first entry, so nothing ran.
    NoJournal,
}

/// One run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The run id (its folder's name).
    pub run_id: String,
    /// Where it is kept, as shown to users: its folder, or its URL in a store.
    pub location: String,
    /// What was read.
    pub read: RunRead,
}

impl RunRecord {
    /// The run, when the journal could be read.
    pub fn run(&self) -> Option<&Listed> {
        match &self.read {
            RunRead::Run(r) => Some(r),
            _ => None,
        }
    }
}

/// Every run in `state`, oldest first (run ids start with their start time); a state that cannot
/// be read lists nothing (see [`try_list`] for the error).
pub fn list(state: &State) -> Vec<RunRecord> {
    try_list(state).unwrap_or_default()
}

/// Every run in `state`, oldest first; no `runs` folder is no runs, one that cannot be read (or a
/// store that cannot be listed) is an error naming it.
pub fn try_list(state: &State) -> Result<Vec<RunRecord>> {
    let mut out: Vec<RunRecord> = match state {
        State::Folder(dir) => run_ids(dir)?.iter().map(|id| read(state, id)).collect(),
        // One listing and many reads at once, not a listing and a read per entry of every run.
        State::Objects(objects, _) => crate::journal::read_all_objects(objects.as_ref())?
            .into_iter()
            .map(|(id, entries)| record(state, &id, entries))
            .collect(),
    };
    out.sort_by(|a, b| {
        let start = |r: &RunRecord| r.run().map(|r| r.state.started_ms);
        start(a)
            .cmp(&start(b))
            .then_with(|| a.run_id.cmp(&b.run_id))
    });
    Ok(out)
}

/// The ids of the runs kept in the state folder `dir`.
fn run_ids(dir: &std::path::Path) -> Result<Vec<String>> {
    let runs = dir.join("runs");
    let rd = match std::fs::read_dir(&runs) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(runs.display(), e)),
    };
    let mut ids = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io(runs.display(), e))?;
        let name = e.file_name().to_string_lossy().to_string();
        if e.path().is_dir() && is_run_id(&name) {
            ids.push(name);
        }
    }
    Ok(ids)
}

/// True when run `run_id` of `plan` is driven by a live process now: it holds the plan's lock or
/// (in a folder) writes the journal (the lock file may have been deleted under it; the journal's
/// own lock cannot be). A store whose lease cannot be read counts the run as live: unknown is not
/// "gone".
pub fn is_live(state: &State, plan: &str, run_id: &str) -> bool {
    match state {
        State::Folder(dir) => {
            RunLock::holder(state, plan).as_deref() == Some(run_id)
                || crate::journal::has_live_writer(&crate::journal::Journal::path_of(dir, run_id))
        }
        State::Objects(..) => match RunLock::holder_checked(state, plan) {
            Ok(h) => h.as_deref() == Some(run_id),
            Err(_) => true,
        },
    }
}

/// True when anything of run `run_id` is kept in `state` (a folder without a journal counts).
pub fn exists(state: &State, run_id: &str) -> bool {
    match state {
        State::Folder(dir) => dir.join("runs").join(run_id).is_dir(),
        State::Objects(objects, _) => objects
            .list(&run_key(run_id, ""))
            .map_or(true, |k| !k.is_empty()),
    }
}

/// Reads run `run_id`.
pub fn read(state: &State, run_id: &str) -> RunRecord {
    if let State::Folder(dir) = state {
        if let Err(r) = read_folder(&dir.join("runs").join(run_id)) {
            return RunRecord {
                run_id: run_id.to_string(),
                location: state.run_location(run_id),
                read: r,
            };
        }
    }
    record(state, run_id, crate::journal::read_run(state, run_id))
}

/// The record of run `run_id` whose journal read as `entries`.
fn record(state: &State, run_id: &str, entries: Result<Vec<crate::journal::Entry>>) -> RunRecord {
    // In a store a run with no entry has no journal; in a folder the file exists (checked
    // before), so an empty one is unreadable.
    let folded = entries.and_then(|e| {
        if e.is_empty() && state.is_shared() {
            Ok(None)
        } else {
            RunState::fold(&e).map(Some)
        }
    });
    let read = match folded {
        Ok(Some(state_now)) => {
            let mut status = state_now.status();
            if status == RunStatus::Running && !is_live(state, &state_now.plan, run_id) {
                status = RunStatus::Interrupted;
            }
            RunRead::Run(Box::new(Listed {
                state: state_now,
                status,
            }))
        }
        Ok(None) => RunRead::NoJournal,
        Err(e) => RunRead::Corrupt(e.to_string()),
    };
    RunRecord {
        run_id: run_id.to_string(),
        location: state.run_location(run_id),
        read,
    }
}

/// Checks a run folder before its journal is read: `Err` with what to report instead (no journal,
/// or an unreadable folder or journal).
fn read_folder(dir: &std::path::Path) -> std::result::Result<(), RunRead> {
    let journal = dir.join("journal.jsonl");
    // "No journal" only when the folder can be read and holds none: an unreadable folder is an error.
    if let Err(e) = std::fs::read_dir(dir) {
        return Err(RunRead::Corrupt(format!(
            "cannot read {}: {e}",
            dir.display()
        )));
    }
    match std::fs::metadata(&journal) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(RunRead::Corrupt(format!(
            "cannot read {}: not a file",
            journal.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(RunRead::NoJournal),
        Err(e) => Err(RunRead::Corrupt(format!(
            "cannot read {}: {e}",
            journal.display()
        ))),
    }
}

/// The runs of `plan`, oldest first.
pub fn of_plan(state: &State, plan: &str) -> Vec<Listed> {
    list(state)
        .into_iter()
        .filter_map(|r| match r.read {
            RunRead::Run(r) if r.state.plan == plan => Some(*r),
            _ => None,
        })
        .collect()
}

/// Runs of `plan` whose process is gone before they finished (oldest first).
pub fn interrupted(state: &State, plan: &str) -> Vec<Listed> {
    of_plan(state, plan)
        .into_iter()
        .filter(|r| r.status == RunStatus::Interrupted)
        .collect()
}

/// The failover a failback of `plan` undoes: the last one that succeeded, unless a failback
/// succeeded after it.
pub fn failover_to_undo(state: &State, plan: &str) -> Option<Listed> {
    failover_to_undo_in(&list(state), plan).cloned()
}

/// [`failover_to_undo`] among runs already listed.
pub fn failover_to_undo_in<'a>(all: &'a [RunRecord], plan: &str) -> Option<&'a Listed> {
    let last = all.iter().rev().filter_map(RunRecord::run).find(|r| {
        r.state.plan == plan
            && r.status == RunStatus::Succeeded
            && matches!(r.state.operation, Operation::Failover | Operation::Failback)
    })?;
    (last.state.operation == Operation::Failover).then_some(last)
}

/// The class a failback of `plan` runs under, and the failover it undoes (see
/// [`failover_to_undo`]); `None` when there is no failover to undo.
pub fn failback_class(state: &State, plan: &str) -> Option<(IncidentClass, String)> {
    failback_class_in(&list(state), plan)
}

/// [`failback_class`] among runs already listed.
pub fn failback_class_in(all: &[RunRecord], plan: &str) -> Option<(IncidentClass, String)> {
    let f = failover_to_undo_in(all, plan)?;
    Some((f.state.class, f.state.run_id.clone()))
}

pub use crate::store::is_run_id;

/// The first run of `plan` started after `run` that succeeded: the estate has moved on since.
pub fn superseded_by(state: &State, run: &RunState) -> Option<Listed> {
    of_plan(state, &run.plan).into_iter().find(|r| {
        r.state.run_id != run.run_id
            && r.state.started_ms > run.started_ms
            && r.status == RunStatus::Succeeded
    })
}

/// Removes run folders of no journal (runs killed before their first entry: nothing ran), except
/// one whose run holds a plan's lock: that run is being created right now (a run takes its lock
/// before it makes its folder).
pub fn remove_without_journal(state: &State, all: &mut Vec<RunRecord>) {
    let live = RunLock::holders(state);
    all.retain(|r| {
        let gone = matches!(r.read, RunRead::NoJournal) && !live.contains(&r.run_id);
        !(gone && remove_run(state, &r.run_id).is_ok())
    });
}

/// Removes everything kept of run `run_id` (a run with no journal: nothing ran).
pub(crate) fn remove_run(state: &State, run_id: &str) -> Result<()> {
    match state {
        State::Folder(dir) => {
            let d = dir.join("runs").join(run_id);
            std::fs::remove_dir_all(&d).map_err(|e| Error::io(d.display(), e))
        }
        State::Objects(objects, _) => objects
            .list(&run_key(run_id, ""))?
            .iter()
            .try_for_each(|k| objects.delete(k)),
    }
}

/// Runs of `plan` that block a new run: live ones (seen by their journal's writer lock when the
/// plan's lock file was lost), interrupted ones until resumed or abandoned, and run folders whose
/// journal cannot be read (their plan is unknown, so they may be this plan's).
pub fn blocking(all: &[RunRecord], plan: &str) -> Vec<RunRecord> {
    all.iter()
        .filter(|r| match &r.read {
            RunRead::Run(r) => {
                r.state.plan == plan
                    && matches!(r.status, RunStatus::Interrupted | RunStatus::Running)
            }
            RunRead::Corrupt(_) => true,
            RunRead::NoJournal => false,
        })
        .cloned()
        .collect()
}

/// Gives up on a run whose journal cannot be read: it moves, whole, to `abandoned/<run-id>` in the
/// state (nothing is deleted), with the reason beside it; where it went.
pub fn abandon_unreadable(
    state: &State,
    run_id: &str,
    reason: &str,
    by: &str,
    ts_ms: u64,
) -> Result<String> {
    let note = serde_json::json!({
        "run_id": run_id,
        "reason": reason,
        "by": by,
        "abandoned_at": crate::clock::rfc3339(ts_ms),
    })
    .to_string();
    match state {
        State::Folder(state_dir) => {
            let from = state_dir.join("runs").join(run_id);
            let to_dir = state_dir.join("abandoned");
            std::fs::create_dir_all(&to_dir).map_err(|e| Error::io(to_dir.display(), e))?;
            let to: PathBuf = to_dir.join(run_id);
            std::fs::rename(&from, &to).map_err(|e| Error::io(from.display(), e))?;
            crate::fsutil::write_atomic(&to.join("abandoned.json"), note.as_bytes())?;
            Ok(to.display().to_string())
        }
        State::Objects(objects, _) => {
            // Copied first, then removed: a crash between leaves both, never neither.
            let keys = objects.list(&run_key(run_id, ""))?;
            let to = format!("abandoned/{run_id}/");
            for k in &keys {
                if let Some(o) = objects.get(k)? {
                    let rest = k.strip_prefix(&run_key(run_id, "")).unwrap_or(k);
                    objects.put(
                        &format!("{to}{rest}"),
                        o.bytes,
                        crate::store::PutMode::Overwrite,
                    )?;
                }
            }
            objects.put(
                &format!("{to}abandoned.json"),
                note.into_bytes(),
                crate::store::PutMode::Overwrite,
            )?;
            keys.iter().try_for_each(|k| objects.delete(k))?;
            Ok(format!("{}/{to}", objects.url().trim_end_matches('/')))
        }
    }
}
