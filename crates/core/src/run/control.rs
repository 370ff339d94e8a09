//! What an operator asks of a run (pause, resume, skip, approve, reject), as journaled and as
//! dropped into a live run's control folder.

use serde::{Deserialize, Serialize};

use super::StepId;

/// What an operator asks of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Start no new step until resumed (running steps finish; approvals keep waiting).
    Pause {
        /// The reason given with the request.
        reason: String,
    },
    /// Start steps again.
    Resume,
    /// Do not run `step` (stop it, if it is running); what waits for it goes on. A safety step
    /// needs `force`.
    Skip {
        /// The step id, as `aegis-dr status RUN_ID` shows it.
        step: StepId,
        /// The reason given with the request.
        reason: String,
        /// Allows skipping a safety step.
        #[serde(default)]
        force: bool,
    },
    /// Approve the approval hook `step` (or every one waiting, when `None`).
    Approve {
        /// The hook's step id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<StepId>,
    },
    /// Reject the approval hook `step` (or every one waiting): the hook fails.
    Reject {
        /// The hook's step id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<StepId>,
        /// The reason given with the request.
        reason: String,
    },
}

impl Command {
    /// A one-line description for people.
    pub fn describe(&self) -> String {
        match self {
            Command::Pause { reason } => format!("pause ({reason})"),
            Command::Resume => "resume".into(),
            Command::Skip {
                step,
                reason,
                force,
            } => format!(
                "skip {step}{} ({reason})",
                if *force { " --force" } else { "" }
            ),
            Command::Approve { step } => {
                format!(
                    "approve {}",
                    step.as_ref().map_or("waiting approvals", StepId::as_str)
                )
            }
            Command::Reject { step, reason } => format!(
                "reject {} ({reason})",
                step.as_ref().map_or("waiting approvals", StepId::as_str)
            ),
        }
    }
}

/// One request as delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlRequest {
    /// Who asked (`user@host`, or what `--by` said).
    pub by: String,
    /// What was asked.
    #[serde(flatten)]
    pub command: Command,
}
