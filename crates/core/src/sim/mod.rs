//! The simulated estate (`provider = "sim"`): every provider trait over one [`SimWorld`], with
//! per-call latency, transient faults and scripted faults. It checks the world's invariants on every
//! change and refuses a change that would break one (for example two writable primaries).

mod latency;
mod provider;
mod world;

pub use provider::SimProvider;
pub use world::{SimDatabase, SimPool, SimRecord, SimWorkload, SimWorld};

/// The operations of the simulated provider, as scripted faults name them (`[[sim.faults]]
/// operation = ...`).
pub const OPERATIONS: &[&str] = &[
    "annotate_workload",
    "config_maps",
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
    "probe",
    "promote_database",
    "reverse_replication",
    "reverse_replication_database",
    "scale_pool",
    "scale_workload",
    "set_health_check",
    "start_failback",
    "start_recovery",
    "stop_failback",
    "terminate_recovery_instances",
    "upsert_record",
    "verify_integrity",
];
