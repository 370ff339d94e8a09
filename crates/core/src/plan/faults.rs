//! The faults a plan may script (`[[sim.faults]]`, `[[fault_injection.faults]]`): which provider
//! operations they can name, which errors they raise, and the check of one as written.

use serde::{Deserialize, Serialize};

use super::SimFault;
use crate::error::{Error, Result};

/// Declares [`ProviderOp`]: each variant with the name plans, logs and permissions use.
macro_rules! provider_ops {
    ($($variant:ident => $name:literal,)*) => {
        /// A provider call, one per capability trait method whichever provider serves it: what a
        /// fault names (`[[sim.faults]] operation = ...`), what a layer sees of a call, and what a
        /// step touches.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub enum ProviderOp {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl ProviderOp {
            /// Every operation, by name.
            pub const ALL: &'static [ProviderOp] = &[$(ProviderOp::$variant,)*];

            /// Its name (`promote_database`, `upsert_record`, ...).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ProviderOp::$variant => $name,)*
                }
            }
        }
    };
}

provider_ops! {
    AnnotateWorkload => "annotate_workload",
    ConfigMaps => "config_maps",
    CreateSnapshot => "create_snapshot",
    DatabaseStatus => "database_status",
    DescribeInstances => "describe_instances",
    DescribeJobs => "describe_jobs",
    DescribeRecoveryInstances => "describe_recovery_instances",
    DescribeRecoverySnapshots => "describe_recovery_snapshots",
    FenceDatabase => "fence_database",
    GetChange => "get_change",
    GetHealthCheck => "get_health_check",
    GetPool => "get_pool",
    GetRecord => "get_record",
    ListWorkloads => "list_workloads",
    NodesReady => "nodes_ready",
    Probe => "probe",
    PromoteDatabase => "promote_database",
    ReverseReplication => "reverse_replication",
    ReverseReplicationDatabase => "reverse_replication_database",
    ScalePool => "scale_pool",
    ScaleWorkload => "scale_workload",
    SetHealthCheck => "set_health_check",
    SnapshotState => "snapshot_state",
    StartFailback => "start_failback",
    StartRecovery => "start_recovery",
    StopFailback => "stop_failback",
    TerminateRecoveryInstances => "terminate_recovery_instances",
    UpsertRecord => "upsert_record",
    VerifyIntegrity => "verify_integrity",
}

impl ProviderOp {
    /// True for the calls on a database pair (the simulated estate checks its invariants after
    /// each).
    pub fn on_databases(self) -> bool {
        matches!(
            self,
            ProviderOp::DatabaseStatus
                | ProviderOp::FenceDatabase
                | ProviderOp::PromoteDatabase
                | ProviderOp::ReverseReplicationDatabase
        )
    }
}

impl std::fmt::Display for ProviderOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProviderOp {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        ProviderOp::ALL
            .iter()
            .copied()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = ProviderOp::ALL.iter().map(|o| o.as_str()).collect();
                format!(
                    "`{s}` is not a provider operation (one of: {})",
                    all.join(", ")
                )
            })
    }
}

impl schemars::JsonSchema for ProviderOp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ProviderOp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = ProviderOp::ALL.iter().map(|o| o.as_str()).collect();
        schemars::json_schema!({
            "description": "A provider call a fault fails.",
            "type": "string",
            "enum": names
        })
    }
}

impl TryFrom<String> for ProviderOp {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<ProviderOp> for String {
    fn from(o: ProviderOp) -> String {
        o.as_str().to_string()
    }
}

/// The errors a scripted fault can raise. `job-failure` is not a call's error: the simulated estate
/// lets the call succeed and fails the job it started.
const ERRORS: &[&str] = &[
    "temporary",
    "throttled",
    "permanent",
    "unreachable",
    "integrity",
    "job-failure",
];

/// Checks a fault as written in the plan (its operation is typed, so checked as it is read); `at`
/// names it in the error.
pub fn check_fault(f: &SimFault, at: &str) -> Result<()> {
    if !ERRORS.contains(&f.error.as_str()) {
        return Err(Error::config(format!(
            "{at}.error: `{}` is not one of {}",
            f.error,
            ERRORS.join(", ")
        )));
    }
    Ok(())
}
