//! The operator's requests in force in a run (see [`crate::control`]): a pause, steps to skip,
//! answers to approval hooks. Filled from the journal on resume and by the live run's watcher.

use std::collections::{HashMap, HashSet};

use crate::{
    control::{Command, ControlRequest},
    run::StepId,
};

/// An operator's order to skip a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SkipOrder {
    /// Who asked (`--by`, else the OS user).
    pub by: String,
    /// The reason given with the request.
    pub reason: String,
    /// Given with `--force`.
    pub force: bool,
}

/// An operator's answer to an approval hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Approved (else rejected).
    pub approved: bool,
    /// Who asked (`--by`, else the OS user).
    pub by: String,
    /// Why (a rejection's reason).
    pub reason: Option<String>,
}

/// What the operator asked so far.
#[derive(Debug, Default)]
pub(crate) struct Controls {
    /// Paused, with who and why.
    pub paused: Option<String>,
    /// Steps to skip.
    pub skips: HashMap<StepId, SkipOrder>,
    /// Answers to approval hooks, by step id.
    pub decisions: HashMap<StepId, Decision>,
    /// Approval hooks waiting for an answer now.
    pub waiting: HashSet<StepId>,
}

/// What applying a request did, for the journal and the display.
#[derive(Debug)]
pub(crate) struct Applied {
    /// The request as journaled (an approval without a step names the hooks it answered).
    pub journaled: Vec<ControlRequest>,
    /// One line for people.
    pub message: String,
}

impl Controls {
    /// Applies `req`.
    pub fn apply(&mut self, req: ControlRequest) -> Applied {
        let by = req.by.clone();
        let one = |message: String| Applied {
            journaled: vec![req.clone()],
            message,
        };
        match &req.command {
            Command::Pause { reason } => {
                self.paused = Some(format!("{by}: {reason}"));
                one(format!(
                    "paused by {by} ({reason}): no new step starts until `aegis-dr resume`"
                ))
            }
            Command::Resume => {
                self.paused = None;
                one(format!("resumed by {by}"))
            }
            Command::Skip {
                step,
                reason,
                force,
            } => {
                self.skips.insert(
                    step.clone(),
                    SkipOrder {
                        by: by.clone(),
                        reason: reason.clone(),
                        force: *force,
                    },
                );
                one(format!("{step}: skipped by {by} ({reason})"))
            }
            Command::Approve { step } | Command::Reject { step, .. } => {
                let (approved, reason) = match &req.command {
                    Command::Reject { reason, .. } => (false, Some(reason.clone())),
                    _ => (true, None),
                };
                let targets: Vec<StepId> = match step {
                    Some(s) => vec![s.clone()],
                    None => {
                        let mut w: Vec<StepId> = self.waiting.iter().cloned().collect();
                        w.sort();
                        w
                    }
                };
                let verb = if approved { "approved" } else { "rejected" };
                if targets.is_empty() {
                    return one(format!(
                        "{verb} by {by}, but no approval was waiting: nothing answered"
                    ));
                }
                for t in &targets {
                    self.decisions.insert(
                        t.clone(),
                        Decision {
                            approved,
                            by: by.clone(),
                            reason: reason.clone(),
                        },
                    );
                }
                Applied {
                    journaled: targets
                        .iter()
                        .map(|t| ControlRequest {
                            by: by.clone(),
                            command: if approved {
                                Command::Approve {
                                    step: Some(t.clone()),
                                }
                            } else {
                                Command::Reject {
                                    step: Some(t.clone()),
                                    reason: reason.clone().unwrap_or_default(),
                                }
                            },
                        })
                        .collect(),
                    message: format!(
                        "{}: {verb} by {by}",
                        targets
                            .iter()
                            .map(StepId::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            }
        }
    }
}
