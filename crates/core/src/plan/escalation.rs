//! Escalations: why a run pages someone, who the runbook says to contact, and where a plan routes
//! each (`[escalations.<name>]`).

use serde::{Deserialize, Serialize};

/// Why a run escalates: each has the runbook's contact and may be routed to its own sinks
/// (`[escalations.<name>]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Escalation {
    /// The run passed its RTO.
    RtoExceeded,
    /// A data integrity check failed.
    DataIntegrity,
    /// Pre-failover checks or verification found the DR site unhealthy.
    DrEnvironmentUnhealthy,
    /// The health of both sites fails at once.
    BothSitesDown,
    /// A run stopped before its end (a failed step, a refusal, a rejection or an interruption):
    /// the message says what serves now and how to go forward or back.
    RunStopped,
}

impl Escalation {
    /// Every escalation.
    pub const ALL: [Escalation; 5] = [
        Escalation::RtoExceeded,
        Escalation::DataIntegrity,
        Escalation::DrEnvironmentUnhealthy,
        Escalation::BothSitesDown,
        Escalation::RunStopped,
    ];

    /// Its name in plans and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Escalation::RtoExceeded => "rto-exceeded",
            Escalation::DataIntegrity => "data-integrity",
            Escalation::DrEnvironmentUnhealthy => "dr-environment-unhealthy",
            Escalation::BothSitesDown => "both-sites-down",
            Escalation::RunStopped => "run-stopped",
        }
    }

    /// Who the runbook says to contact.
    pub fn default_contact(self) -> &'static str {
        match self {
            Escalation::RtoExceeded => "the incident commander",
            Escalation::DataIntegrity => "the database team (stop the operation)",
            Escalation::DrEnvironmentUnhealthy => "the platform team",
            Escalation::BothSitesDown => "the executive team: invoke the business-continuity plan",
            Escalation::RunStopped => "the incident commander",
        }
    }
}

impl std::str::FromStr for Escalation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        crate::incident::parse_named(s, &Escalation::ALL, |e| e.as_str(), "escalation")
    }
}

/// Who an escalation pages (`[escalations.<reason>]`): named sinks, and the contact its message
/// names. Without a route an escalation goes to every sink.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationRoute {
    /// Names of the `[[notifications]]` sinks (their `name`) to send it to; each must exist.
    /// Default: none (every sink).
    #[serde(default)]
    pub notify: Vec<String>,
    /// Who to contact, named in the message. Default: the runbook's contact for the escalation.
    #[serde(default)]
    pub contact: Option<String>,
}
