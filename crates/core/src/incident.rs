//! Incident classes and their default recovery targets.

use std::{fmt, str::FromStr, time::Duration};

/// The kind of incident a failover answers; each has default RTO/RPO targets.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum IncidentClass {
    /// The primary region is lost: full failover (RTO 30 min, RPO 5 min).
    RegionOutage,
    /// The primary database is corrupt: database-only failover (15 min / 1 min).
    DatabaseCorruption,
    /// The primary is cut off: routing failover (10 min / 0).
    NetworkPartition,
    /// The primary cluster's compute failed: cluster failover (20 min / 2 min).
    ComputeFailure,
}

impl IncidentClass {
    /// All classes, in a stable order.
    pub const ALL: [IncidentClass; 4] = [
        IncidentClass::RegionOutage,
        IncidentClass::DatabaseCorruption,
        IncidentClass::NetworkPartition,
        IncidentClass::ComputeFailure,
    ];

    /// The kebab-case name used in the plan file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentClass::RegionOutage => "region-outage",
            IncidentClass::DatabaseCorruption => "database-corruption",
            IncidentClass::NetworkPartition => "network-partition",
            IncidentClass::ComputeFailure => "compute-failure",
        }
    }

    /// The runbook's default targets for this class.
    pub fn default_targets(self) -> Targets {
        let (rto, rpo) = match self {
            IncidentClass::RegionOutage => (30 * 60, 5 * 60),
            IncidentClass::DatabaseCorruption => (15 * 60, 60),
            IncidentClass::NetworkPartition => (10 * 60, 0),
            IncidentClass::ComputeFailure => (20 * 60, 2 * 60),
        };
        Targets {
            rto: Duration::from_secs(rto),
            rpo: Duration::from_secs(rpo),
        }
    }
}

impl fmt::Display for IncidentClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IncidentClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_named(s, &IncidentClass::ALL, |c| c.as_str(), "incident class")
    }
}

/// The value of `all` whose `name` is `s`, or an error listing the names (for enums written by
/// name in plans and flags).
pub(crate) fn parse_named<T: Copy>(
    s: &str,
    all: &[T],
    name: fn(T) -> &'static str,
    what: &str,
) -> Result<T, String> {
    all.iter().copied().find(|v| name(*v) == s).ok_or_else(|| {
        let names: Vec<_> = all.iter().map(|v| name(*v)).collect();
        format!(
            "unknown {what} `{s}` (expected one of: {})",
            names.join(", ")
        )
    })
}

/// Recovery targets: how long recovery may take and how much data may be lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Targets {
    /// Recovery time objective.
    #[serde(with = "crate::duration::serde_human")]
    pub rto: Duration,
    /// Recovery point objective.
    #[serde(with = "crate::duration::serde_human")]
    pub rpo: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runbook_targets() {
        let t = IncidentClass::NetworkPartition.default_targets();
        assert_eq!((t.rto.as_secs(), t.rpo.as_secs()), (600, 0));
        let t = IncidentClass::RegionOutage.default_targets();
        assert_eq!((t.rto.as_secs(), t.rpo.as_secs()), (1800, 300));
        assert!("region-outage".parse::<IncidentClass>().is_ok());
        assert!("meteor"
            .parse::<IncidentClass>()
            .unwrap_err()
            .contains("compute-failure"));
    }
}
