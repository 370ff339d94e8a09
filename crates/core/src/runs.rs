//! The runs under a state folder, read from their journals: a corrupt journal is listed and named
//! (it never hides the other runs), and a run whose process is gone is told apart from one running.

use std::path::{Path, PathBuf};

use crate::{
    incident::IncidentClass,
    journal::{Operation, RunStatus},
    lock::RunLock,
    report::Report,
};

/// What could be read of one run folder.
#[derive(Debug, Clone)]
pub enum RunRead {
    /// Its journal, folded into a report (the status says `interrupted` for a dead run).
    Report(Box<Report>),
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
    /// The report, when the journal could be read.
    pub fn report(&self) -> Option<&Report> {
        match &self.read {
            RunRead::Report(r) => Some(r),
            _ => None,
        }
    }
}

/// Every run folder under `state_dir`, oldest first (run ids start with their start time).
pub fn list(state_dir: &Path) -> Vec<RunRecord> {
    let Ok(rd) = std::fs::read_dir(state_dir.join("runs")) else {
        return Vec::new();
    };
    let mut out: Vec<RunRecord> = rd
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| read(state_dir, &e.path()))
        .collect();
    out.sort_by(|a, b| {
        let start = |r: &RunRecord| r.report().map(|r| r.started_at.clone());
        start(a)
            .cmp(&start(b))
            .then_with(|| a.run_id.cmp(&b.run_id))
    });
    out
}

/// Reads one run folder.
pub fn read(state_dir: &Path, dir: &Path) -> RunRecord {
    let run_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let read = if !dir.join("journal.jsonl").exists() {
        RunRead::NoJournal
    } else {
        match Report::for_run(dir) {
            Ok(mut r) => {
                if r.status == RunStatus::Running
                    && RunLock::holder(state_dir, &r.plan).as_deref() != Some(r.run_id.as_str())
                {
                    r.status = RunStatus::Interrupted;
                }
                RunRead::Report(Box::new(r))
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

/// The reports of `plan`'s runs, oldest first.
pub fn of_plan(state_dir: &Path, plan: &str) -> Vec<Report> {
    list(state_dir)
        .into_iter()
        .filter_map(|r| match r.read {
            RunRead::Report(r) if r.plan == plan => Some(*r),
            _ => None,
        })
        .collect()
}

/// Runs of `plan` whose process is gone before they finished (oldest first).
pub fn interrupted(state_dir: &Path, plan: &str) -> Vec<Report> {
    of_plan(state_dir, plan)
        .into_iter()
        .filter(|r| r.status == RunStatus::Interrupted)
        .collect()
}

/// The failover a failback of `plan` undoes: the last one that succeeded, unless a failback
/// succeeded after it.
pub fn failover_to_undo(state_dir: &Path, plan: &str) -> Option<Report> {
    let runs = of_plan(state_dir, plan);
    let last = runs.iter().rposition(|r| {
        r.status == RunStatus::Succeeded
            && (r.operation == Operation::Failover.as_str()
                || r.operation == Operation::Failback.as_str())
    })?;
    (runs[last].operation == Operation::Failover.as_str()).then(|| runs[last].clone())
}

/// The class a failback of `plan` runs under, and the failover it undoes (see
/// [`failover_to_undo`]); `None` when there is no failover to undo.
pub fn failback_class(state_dir: &Path, plan: &str) -> Option<(IncidentClass, String)> {
    let f = failover_to_undo(state_dir, plan)?;
    Some((f.class.parse().ok()?, f.run_id))
}

/// True when `id` can name a run folder: not empty, no path separator, not hidden.
pub fn is_run_id(id: &str) -> bool {
    !id.is_empty() && !id.contains(['/', '\\']) && !id.starts_with('.')
}

/// The first run of `plan` started after `run` that succeeded: the estate has moved on since.
pub fn superseded_by(state_dir: &Path, run: &Report) -> Option<Report> {
    of_plan(state_dir, &run.plan).into_iter().find(|r| {
        r.run_id != run.run_id && r.started_at > run.started_at && r.status == RunStatus::Succeeded
    })
}

/// Removes run folders of no journal older than `age` (runs killed before their first entry: nothing
/// ran). Younger ones may be a run being created right now.
pub fn remove_stale_without_journal(state_dir: &Path, age: std::time::Duration) {
    for r in list(state_dir) {
        if !matches!(r.read, RunRead::NoJournal) {
            continue;
        }
        let old = std::fs::metadata(&r.dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|e| e >= age);
        if old {
            let _ = std::fs::remove_dir_all(&r.dir);
        }
    }
}
