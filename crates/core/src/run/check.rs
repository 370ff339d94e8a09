//! The outcome of one pre-failover check, as a step records it and the report shows it.

use serde::{Deserialize, Serialize};

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The check holds.
    Pass,
    /// Worth a look, does not block.
    Warn,
    /// Blocks a failover.
    Fail,
}

impl CheckStatus {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Check id.
    pub name: String,
    /// What it verifies.
    pub description: String,
    /// Pass, warn or fail.
    pub status: CheckStatus,
    /// What was seen.
    pub evidence: String,
}
