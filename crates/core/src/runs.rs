//! The runs under a state folder, read from their journals: a corrupt journal is listed and named
//! (it never hides the other runs), and a run whose process is gone is told apart from one running.

use std::path::{Path, PathBuf};

use crate::{
    error::{Error, Result},
    incident::IncidentClass,
    journal::{Operation, RunStatus},
    lock::RunLock,
    report::Report,
    run::RunState,
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

/// One run folder.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The folder's name, the run id.
    pub run_id: String,
    /// The run folder.
    pub dir: PathBuf,
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

/// Every run folder under `state_dir`, oldest first (run ids start with their start time); a
/// `runs` folder that cannot be read lists nothing (see [`try_list`] for the error).
pub fn list(state_dir: &Path) -> Vec<RunRecord> {
    try_list(state_dir).unwrap_or_default()
}

/// Every run folder under `state_dir`, oldest first; no `runs` folder is no runs, one that cannot
/// be read is an error naming it.
pub fn try_list(state_dir: &Path) -> Result<Vec<RunRecord>> {
    let runs = state_dir.join("runs");
    let rd = match std::fs::read_dir(&runs) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(runs.display(), e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io(runs.display(), e))?;
        if e.path().is_dir() && is_run_id(&e.file_name().to_string_lossy()) {
            out.push(read(state_dir, &e.path()));
        }
    }
    out.sort_by(|a, b| {
        let start = |r: &RunRecord| r.run().map(|r| r.state.started_ms);
        start(a)
            .cmp(&start(b))
            .then_with(|| a.run_id.cmp(&b.run_id))
    });
    Ok(out)
}

/// Reads one run folder.
pub fn read(state_dir: &Path, dir: &Path) -> RunRecord {
    let run_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let journal = dir.join("journal.jsonl");
    // "No journal" only when the folder can be read and holds none: an unreadable folder is an error.
    let read = if let Err(e) = std::fs::read_dir(dir) {
        RunRead::Corrupt(format!("cannot read {}: {e}", dir.display()))
    } else if let Err(e) = std::fs::metadata(&journal).and_then(|m| {
        if m.is_file() {
            Ok(())
        } else {
            Err(std::io::Error::other("not a file"))
        }
    }) {
        if e.kind() == std::io::ErrorKind::NotFound {
            RunRead::NoJournal
        } else {
            RunRead::Corrupt(format!("cannot read {}: {e}", journal.display()))
        }
    } else {
        match crate::journal::read(&journal).and_then(|e| RunState::fold(&e)) {
            Ok(state) => {
                // Live while its process holds the plan's lock or writes its journal (the lock
                // file may have been deleted under it; the journal's own lock cannot be).
                let mut status = state.status();
                if status == RunStatus::Running
                    && RunLock::holder(state_dir, &state.plan).as_deref()
                        != Some(state.run_id.as_str())
                    && !crate::journal::has_live_writer(&journal)
                {
                    status = RunStatus::Interrupted;
                }
                RunRead::Run(Box::new(Listed { state, status }))
            }
            Err(e) => RunRead::Corrupt(e.to_string()),
        }
    };
    RunRecord {
        run_id,
        dir: dir.to_path_buf(),
        read,
    }
}

/// The runs of `plan`, oldest first.
pub fn of_plan(state_dir: &Path, plan: &str) -> Vec<Listed> {
    list(state_dir)
        .into_iter()
        .filter_map(|r| match r.read {
            RunRead::Run(r) if r.state.plan == plan => Some(*r),
            _ => None,
        })
        .collect()
}

/// Runs of `plan` whose process is gone before they finished (oldest first).
pub fn interrupted(state_dir: &Path, plan: &str) -> Vec<Listed> {
    of_plan(state_dir, plan)
        .into_iter()
        .filter(|r| r.status == RunStatus::Interrupted)
        .collect()
}

/// The failover a failback of `plan` undoes: the last one that succeeded, unless a failback
/// succeeded after it.
pub fn failover_to_undo(state_dir: &Path, plan: &str) -> Option<Listed> {
    failover_to_undo_in(&list(state_dir), plan).cloned()
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
pub fn failback_class(state_dir: &Path, plan: &str) -> Option<(IncidentClass, String)> {
    failback_class_in(&list(state_dir), plan)
}

/// [`failback_class`] among runs already listed.
pub fn failback_class_in(all: &[RunRecord], plan: &str) -> Option<(IncidentClass, String)> {
    let f = failover_to_undo_in(all, plan)?;
    Some((f.state.class, f.state.run_id.clone()))
}

/// True when `id` can name a run folder: not empty, no path separator, not hidden.
pub fn is_run_id(id: &str) -> bool {
    !id.is_empty() && !id.contains(['/', '\\']) && !id.starts_with('.')
}

/// The first run of `plan` started after `run` that succeeded: the estate has moved on since.
pub fn superseded_by(state_dir: &Path, run: &RunState) -> Option<Listed> {
    of_plan(state_dir, &run.plan).into_iter().find(|r| {
        r.state.run_id != run.run_id
            && r.state.started_ms > run.started_ms
            && r.status == RunStatus::Succeeded
    })
}

/// Removes run folders of no journal (runs killed before their first entry: nothing ran), except
/// one whose run holds a plan's lock: that run is being created right now (a run takes its lock
/// before it makes its folder).
pub fn remove_without_journal(state_dir: &Path, all: &mut Vec<RunRecord>) {
    let live = RunLock::holders(state_dir);
    all.retain(|r| {
        let gone = matches!(r.read, RunRead::NoJournal) && !live.contains(&r.run_id);
        !(gone && std::fs::remove_dir_all(&r.dir).is_ok())
    });
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

/// Gives up on a run whose journal cannot be read: its folder moves, whole, to
/// `abandoned/<run-id>` under the state folder (nothing is deleted), with the reason beside it.
pub fn abandon_unreadable(
    state_dir: &Path,
    run_id: &str,
    reason: &str,
    by: &str,
    ts_ms: u64,
) -> Result<PathBuf> {
    let from = state_dir.join("runs").join(run_id);
    let to_dir = state_dir.join("abandoned");
    std::fs::create_dir_all(&to_dir).map_err(|e| Error::io(to_dir.display(), e))?;
    let to = to_dir.join(run_id);
    std::fs::rename(&from, &to).map_err(|e| Error::io(from.display(), e))?;
    let note = serde_json::json!({
        "run_id": run_id,
        "reason": reason,
        "by": by,
        "abandoned_at": crate::clock::rfc3339(ts_ms),
    });
    crate::fsutil::write_atomic(&to.join("abandoned.json"), note.to_string().as_bytes())?;
    Ok(to)
}
