//! Operator control of a run from another process: pause, resume, skip a step, approve or reject
//! an approval hook.
//!
//! A live run (its process holds the plan's lock) reads requests from its folder's `control/`
//! directory, where [`send`] drops each as one file (written aside, then renamed in, so a reader
//! never sees half of one); the run journals each as it takes it. A run that is not live gets the
//! request journaled at once (under the plan's lock), and a `--resume` applies it.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

pub use crate::run::{Command, ControlRequest};
use crate::{
    error::{Error, Result},
    journal::{Entry, Journal, RunStatus},
    lock::RunLock,
    run::StepId,
    run::{RunState, StepStatus},
    runs::{self, RunRead},
};

/// How a request reached its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The running process takes it (within a fraction of a second).
    Live,
    /// The run is not running: journaled in it now, applied when it is resumed.
    Journaled,
}

/// The folder a live run reads requests from.
pub fn control_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("control")
}

/// The operator's name as journaled: `$USER@hostname`.
pub fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(os_user)
        .unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        user
    } else {
        format!("{user}@{host}")
    }
}

/// The name of the OS user this process runs as (from the password database, through `id -un`),
/// for when the environment names none.
fn os_user() -> Option<String> {
    let out = std::process::Command::new("id").arg("-un").output().ok()?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !name.is_empty()).then_some(name)
}

/// Sends `command` to run `run_id` under `state_dir`, checked against the run first: the step
/// must be in it and not done, a safety step needs `force`, pause and resume need a live run.
pub fn send(state_dir: &Path, run_id: &str, by: &str, command: Command) -> Result<Delivery> {
    if !runs::is_run_id(run_id) {
        return Err(Error::config(format!("`{run_id}` is not a run id")));
    }
    let dir = state_dir.join("runs").join(run_id);
    let run = match runs::read(state_dir, &dir).read {
        RunRead::Run(r) => r,
        RunRead::NoJournal => {
            return Err(Error::config(format!(
                "no run `{run_id}` under {}",
                state_dir.display()
            )))
        }
        RunRead::Corrupt(e) => {
            return Err(Error::config(format!(
                "run `{run_id}` has a corrupt journal: {e}"
            )))
        }
    };
    check(&run.state, &command)?;
    let req = ControlRequest {
        by: by.to_string(),
        command,
    };
    // Live while its process holds the plan's lock or writes its journal (the lock file may have
    // been deleted under it).
    let live = RunLock::holder(state_dir, &run.state.plan).as_deref() == Some(run_id)
        || crate::journal::has_live_writer(&dir.join("journal.jsonl"));
    if live {
        drop_file(&control_dir(&dir), &req)?;
        return Ok(Delivery::Live);
    }
    if let Command::Pause { .. } | Command::Resume = req.command {
        // Only a run that can go on is told how; a finished or abandoned one cannot.
        let hint = if matches!(
            run.status,
            RunStatus::Failed | RunStatus::Interrupted | RunStatus::Refused
        ) {
            format!(
                "; continue it with `aegis-dr {} --resume {run_id}`",
                run.state.operation.as_str()
            )
        } else {
            String::new()
        };
        return Err(Error::config(format!(
            "run `{run_id}` is not running (it is {}): only a running run can be paused or resumed{hint}",
            run.status.as_str()
        )));
    }
    if !matches!(
        run.status,
        RunStatus::Failed | RunStatus::Interrupted | RunStatus::Refused
    ) {
        return Err(Error::config(format!(
            "run `{run_id}` is {}: there is nothing left to resume",
            run.status.as_str()
        )));
    }
    // A stopped run has nothing waiting: an answer without a step answers its approvals not done.
    let pending = |step: &Option<StepId>| -> Vec<Option<StepId>> {
        match step {
            Some(s) => vec![Some(s.clone())],
            None => run
                .state
                .steps
                .iter()
                .filter(|s| s.info.approval && !s.done())
                .map(|s| Some(s.info.id.clone()))
                .collect(),
        }
    };
    let requests: Vec<ControlRequest> = match &req.command {
        Command::Approve { step } => pending(step)
            .into_iter()
            .map(|step| ControlRequest {
                by: req.by.clone(),
                command: Command::Approve { step },
            })
            .collect(),
        Command::Reject { step, reason } => pending(step)
            .into_iter()
            .map(|step| ControlRequest {
                by: req.by.clone(),
                command: Command::Reject {
                    step,
                    reason: reason.clone(),
                },
            })
            .collect(),
        _ => vec![req.clone()],
    };
    if requests.is_empty() {
        return Err(Error::config(format!(
            "run `{run_id}` has no approval left to answer"
        )));
    }
    let _lock = RunLock::acquire(state_dir, &run.state.plan, run_id, "control")?;
    let (mut journal, _) = Journal::reopen(&dir.join("journal.jsonl"))?;
    for request in requests {
        journal.append(&Entry::Control {
            ts_ms: crate::clock::Clock::new().now_ms(),
            request,
        })?;
    }
    Ok(Delivery::Journaled)
}

fn check(run: &RunState, command: &Command) -> Result<()> {
    let find = |step: &StepId| {
        run.step(step).ok_or_else(|| {
            let ids: Vec<&str> = run.steps.iter().map(|s| s.info.id.as_str()).collect();
            Error::config(format!(
                "run `{}` has no step `{step}` (its steps: {})",
                run.run_id,
                ids.join(", ")
            ))
        })
    };
    match command {
        Command::Skip {
            step,
            reason,
            force,
        } => {
            let s = find(step)?;
            if reason.trim().is_empty() {
                return Err(Error::config("--reason: say why the step is skipped"));
            }
            if matches!(s.status, StepStatus::Succeeded | StepStatus::Skipped) {
                return Err(Error::config(format!(
                    "step `{step}` is already {}",
                    if s.status == StepStatus::Succeeded {
                        "done"
                    } else {
                        "skipped"
                    }
                )));
            }
            if s.info.safety && !force {
                return Err(Error::refused(format!(
                    "step `{step}` is a safety step ({}): skipping it needs --force, and the reports will flag it",
                    s.info.title
                )));
            }
        }
        Command::Approve { step: Some(step) }
        | Command::Reject {
            step: Some(step), ..
        } => {
            let s = find(step)?;
            if !s.info.approval {
                return Err(Error::config(format!(
                    "step `{step}` is not an approval hook"
                )));
            }
        }
        Command::Reject { reason, .. } if reason.trim().is_empty() => {
            return Err(Error::config("--reason: say why the run is rejected"));
        }
        _ => {}
    }
    if let Command::Approve { step: None } | Command::Reject { step: None, .. } = command {
        if !run.steps.iter().any(|s| s.info.approval) {
            return Err(Error::config(format!(
                "run `{}` has no approval hook",
                run.run_id
            )));
        }
    }
    Ok(())
}

/// Writes `req` into `dir` as one new file, renamed in once complete.
fn drop_file(dir: &Path, req: &ControlRequest) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    let name = format!(
        "{:020}-{:08x}",
        crate::clock::Clock::new().now_ms(),
        rand::random::<u32>()
    );
    let tmp = dir.join(format!(".{name}.tmp"));
    let body = serde_json::to_vec(req).map_err(|e| Error::config(e.to_string()))?;
    std::fs::write(&tmp, body).map_err(|e| Error::io(tmp.display(), e))?;
    let to = dir.join(format!("{name}.json"));
    std::fs::rename(&tmp, &to).map_err(|e| Error::io(to.display(), e))
}

/// Takes the requests waiting in `dir`, oldest first (each file is removed once read; a file
/// that is not a request is moved aside as `*.bad` and reported).
pub(crate) fn take(dir: &Path) -> Vec<std::result::Result<ControlRequest, String>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let read = std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()));
            match read {
                Ok(r) => {
                    let _ = std::fs::remove_file(&p);
                    Ok(r)
                }
                Err(e) => {
                    let _ = std::fs::rename(&p, p.with_extension("bad"));
                    Err(format!("{}: not a control request ({e})", p.display()))
                }
            }
        })
        .collect()
}

/// Watches a live run's control folder on a thread of its own (real time, so a run on a virtual
/// clock is not moved on by it) and hands each request to `deliver` until dropped.
pub(crate) struct Watcher {
    stop: Arc<AtomicBool>,
}

impl Watcher {
    pub(crate) fn start(
        dir: PathBuf,
        deliver: tokio::sync::mpsc::UnboundedSender<std::result::Result<ControlRequest, String>>,
    ) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                for r in take(&dir) {
                    if deliver.send(r).is_err() {
                        return;
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Watcher { stop }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
