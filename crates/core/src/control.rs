//! Operator control of a run from another process: pause, resume, skip a step, approve or reject
//! an approval hook.
//!
//! A live run (its process holds the plan's lock) reads requests from its `control/` folder (in a
//! store: its `control/` prefix), where [`send`] drops each as one file (written aside, then
//! renamed in, so a reader never sees half of one; in a store, one object); the run journals each
//! as it takes it. A run that is not live gets the request journaled at once (under the plan's
//! lock), and a `--resume` applies it.

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
    store::{run_key, Objects, PutMode, State},
};

/// How a request reached its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The running process takes it (within a fraction of a second).
    Live,
    /// The run is not running: journaled in it now, applied when it is resumed.
    Journaled,
}

/// Where a live run reads requests from.
#[derive(Debug, Clone)]
pub(crate) enum Inbox {
    /// The run folder's `control/` folder.
    Folder(PathBuf),
    /// The run's `control/` prefix in a store.
    Objects(Arc<dyn Objects>, String),
}

impl Inbox {
    /// The inbox of run `run_id` in `state`.
    pub(crate) fn of(state: &State, run_id: &str) -> Inbox {
        match state {
            State::Folder(dir) => Inbox::Folder(dir.join("runs").join(run_id).join("control")),
            State::Objects(o, _) => Inbox::Objects(o.clone(), run_key(run_id, "control/")),
        }
    }

    fn drop_request(&self, req: &ControlRequest) -> Result<()> {
        match self {
            Inbox::Folder(dir) => drop_file(dir, req),
            Inbox::Objects(o, prefix) => {
                let body = serde_json::to_vec(req).map_err(|e| Error::config(e.to_string()))?;
                o.put(
                    &format!("{prefix}{}.json", request_name()),
                    body,
                    PutMode::Create,
                )
                .map(|_| ())
            }
        }
    }

    /// Takes the requests waiting, oldest first (each removed once read; one that is not a request
    /// is set aside as `*.bad` and reported).
    pub(crate) fn take(&self) -> Vec<std::result::Result<ControlRequest, String>> {
        match self {
            Inbox::Folder(dir) => take(dir),
            Inbox::Objects(o, prefix) => {
                let Ok(keys) = o.list(prefix) else {
                    return Vec::new();
                };
                keys.into_iter()
                    .filter(|k| k.ends_with(".json"))
                    .filter_map(|k| {
                        let obj = o.get(&k).ok()??;
                        Some(match serde_json::from_slice(&obj.bytes) {
                            Ok(r) => {
                                let _ = o.delete(&k);
                                Ok(r)
                            }
                            Err(e) => {
                                let bad = format!("{}.bad", k.trim_end_matches(".json"));
                                let _ = o.put(&bad, obj.bytes, PutMode::Overwrite);
                                let _ = o.delete(&k);
                                Err(format!("{k}: not a control request ({e})"))
                            }
                        })
                    })
                    .collect()
            }
        }
    }
}

/// A request's name: its time, then a random tail (two requests in one millisecond both arrive).
fn request_name() -> String {
    format!(
        "{:020}-{:08x}",
        crate::clock::Clock::new().now_ms(),
        rand::random::<u32>()
    )
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

/// Sends `command` to run `run_id` in `state`, checked against the run first: the step must be
/// in it and not done, a safety step needs `force`, pause and resume need a live run.
pub fn send(state: &State, run_id: &str, by: &str, command: Command) -> Result<Delivery> {
    if !runs::is_run_id(run_id) {
        return Err(Error::config(format!("`{run_id}` is not a run id")));
    }
    let run = match runs::read(state, run_id).read {
        RunRead::Run(r) => r,
        RunRead::NoJournal => return Err(Error::config(format!("no run `{run_id}` in {state}"))),
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
    if runs::is_live(state, &run.state.plan, run_id) {
        Inbox::of(state, run_id).drop_request(&req)?;
        return Ok(Delivery::Live);
    }
    if let Command::Pause { .. } | Command::Resume = req.command {
        // Only a run that can go on is told how; a finished or abandoned one cannot.
        let hint = if matches!(
            run.status,
            RunStatus::Failed | RunStatus::Interrupted | RunStatus::Refused
        ) {
            format!(
                "; continue it with `aegis-dr {} --resume {run_id} --yes`",
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
    let lock = RunLock::acquire(state, &run.state.plan, run_id, "control")?;
    let (mut journal, _) = Journal::reopen(state, run_id, &lock)?;
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
    let name = request_name();
    let tmp = dir.join(format!(".{name}.tmp"));
    let body = serde_json::to_vec(req).map_err(|e| Error::config(e.to_string()))?;
    std::fs::write(&tmp, body).map_err(|e| Error::io(tmp.display(), e))?;
    let to = dir.join(format!("{name}.json"));
    std::fs::rename(&tmp, &to).map_err(|e| Error::io(to.display(), e))
}

/// Takes the requests waiting in folder `dir` (see [`Inbox::take`]).
fn take(dir: &Path) -> Vec<std::result::Result<ControlRequest, String>> {
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

/// Watches a live run's inbox on a thread of its own (real time, so a run on a virtual
/// clock is not moved on by it) and hands each request to `deliver` until dropped.
pub(crate) struct Watcher {
    stop: Arc<AtomicBool>,
}

impl Watcher {
    pub(crate) fn start(
        inbox: Inbox,
        deliver: tokio::sync::mpsc::UnboundedSender<std::result::Result<ControlRequest, String>>,
    ) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        // A store is listed once a second (each listing is a billed request); a folder ten times.
        let every = match inbox {
            Inbox::Folder(_) => Duration::from_millis(100),
            Inbox::Objects(..) => Duration::from_secs(1),
        };
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                for r in inbox.take() {
                    if deliver.send(r).is_err() {
                        return;
                    }
                }
                std::thread::sleep(every);
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
