//! The faults a plan may script (`[[sim.faults]]`, `[[fault_injection.faults]]`): which provider
//! operations they can name, which errors they raise, and the check of one as written.

use super::SimFault;
use crate::error::{Error, Result};

/// The operations a fault can name (`[[sim.faults]] operation = ...`): the provider calls, one name
/// per trait method, whichever provider serves them.
pub const OPERATIONS: &[&str] = &[
    "annotate_workload",
    "config_maps",
    "create_snapshot",
    "database_status",
    "describe_instances",
    "describe_jobs",
    "describe_recovery_instances",
    "describe_recovery_snapshots",
    "fence_database",
    "get_change",
    "get_health_check",
    "get_pool",
    "get_record",
    "list_workloads",
    "nodes_ready",
    "probe",
    "promote_database",
    "reverse_replication",
    "reverse_replication_database",
    "scale_pool",
    "scale_workload",
    "set_health_check",
    "snapshot_state",
    "start_failback",
    "start_recovery",
    "stop_failback",
    "terminate_recovery_instances",
    "upsert_record",
    "verify_integrity",
];

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

/// Checks a fault as written in the plan; `at` names it in the error.
pub fn check_fault(f: &SimFault, at: &str) -> Result<()> {
    if !OPERATIONS.contains(&f.operation.as_str()) {
        return Err(Error::config(format!(
            "{at}.operation: `{}` is not a provider operation (one of: {})",
            f.operation,
            OPERATIONS.join(", ")
        )));
    }
    if !ERRORS.contains(&f.error.as_str()) {
        return Err(Error::config(format!(
            "{at}.error: `{}` is not one of {}",
            f.error,
            ERRORS.join(", ")
        )));
    }
    Ok(())
}
