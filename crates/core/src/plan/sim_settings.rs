//! The simulated estate's settings (`[sim]`), faults injected around real providers' calls
//! (`[fault_injection]`), and the durations behind a plan's RTO estimate (`[estimates]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{faults, ProviderName};
use crate::duration::serde_human;

/// Settings of the simulated provider (`[sim]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SimSettings {
    /// Round-trip time of every simulated call (a duration, `"5ms"`). Default: `2ms`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub latency: Duration,
    /// Share of calls failing with a transient error, from 0 to 0.9 (half of them after the change
    /// took effect, as a lost answer). Default: `0`.
    pub transient_fault_rate: f64,
    /// Seed of the fault generator. Default: `1`.
    pub seed: u64,
    /// Time a DNS change takes to become INSYNC (a duration). Default: `300ms`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub dns_propagation: Duration,
    /// Time a new node takes to become Ready (a duration). Default: `400ms`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub node_boot: Duration,
    /// Time a scaled workload takes to make its replicas available (a duration). Default: `300ms`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub rollout: Duration,
    /// Replication lag of every replica at the start (a duration). Default: `2s`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub replication_lag: Duration,
    /// How fast a replica catches up once its source is fenced, in seconds of lag per second,
    /// greater than 0. Default: `10`.
    pub catch_up_speed: f64,
    /// Whether replicas report their lag (`false`: like an RDS replica with no CloudWatch
    /// `ReplicaLag` datapoint in the window, the lag is unknown). Default: `true`.
    pub lag_reported: bool,
    /// Age of the newest backup at the start (a duration). Default: `1h`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub backup_age: Duration,
    /// Age of the newest recovery point of each recovery server (a duration). Default: `30s`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub recovery_point_age: Duration,
    /// Time in-flight requests take to drain after the drain annotation (a duration). Default:
    /// `200ms`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub drain_time: Duration,
    /// Time a recovery or failback job takes (a duration); a snapshot is usable after it too.
    /// Default: `300ms`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub job_time: Duration,
    /// How long the primary has been healthy at the start (a duration). Default: `3h`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub primary_stable_for: Duration,
    /// Whether the primary site answers at all. Default: `true`.
    pub primary_reachable: bool,
    /// Error rate reported by the health endpoints, from 0 to 1. Default: `0.001`.
    pub error_rate: f64,
    /// Scripted faults of the simulated calls (`[[sim.faults]]`). Default: none.
    pub faults: Vec<SimFault>,
    /// ConfigMaps (`namespace/name`) whose DR copy differs from the primary's. Default: none.
    pub config_drift: Vec<String>,
    /// Provider names the simulated estate plays besides `sim` (`["aws", "azure"]`), so a plan
    /// mixing clouds runs with no cloud at all. One world serves them all; calls are counted and
    /// reported per name. Default: none.
    pub plays: Vec<ProviderName>,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            latency: Duration::from_millis(2),
            transient_fault_rate: 0.0,
            seed: 1,
            dns_propagation: Duration::from_millis(300),
            node_boot: Duration::from_millis(400),
            rollout: Duration::from_millis(300),
            replication_lag: Duration::from_secs(2),
            catch_up_speed: 10.0,
            lag_reported: true,
            backup_age: Duration::from_secs(3600),
            recovery_point_age: Duration::from_secs(30),
            drain_time: Duration::from_millis(200),
            job_time: Duration::from_millis(300),
            primary_stable_for: Duration::from_secs(3 * 3600),
            primary_reachable: true,
            error_rate: 0.001,
            faults: Vec::new(),
            config_drift: Vec::new(),
            plays: Vec::new(),
        }
    }
}

/// Faults injected around the calls of real providers (`[fault_injection]`), to rehearse a run
/// against errors with real clients: the same layer that carries the `[sim]` faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FaultInjection {
    /// Providers whose calls get faults. Default: every provider the plan uses but the simulated
    /// estate (which has its own faults in `[sim]`).
    pub providers: Vec<ProviderName>,
    /// Share of calls failing with a transient error, from 0 to 0.9. Default: `0`.
    pub transient_rate: f64,
    /// Seed of the fault generator. Default: `1`.
    pub seed: u64,
    /// Scripted faults (`[[fault_injection.faults]]`), written like `[[sim.faults]]`, but
    /// `job-failure` is refused. Default: none.
    pub faults: Vec<SimFault>,
}

impl Default for FaultInjection {
    fn default() -> Self {
        FaultInjection {
            providers: Vec::new(),
            transient_rate: 0.0,
            seed: 1,
            faults: Vec::new(),
        }
    }
}

/// A scripted fault of a provider's calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimFault {
    /// The provider call it fails (`promote_database`, `fence_database`, `upsert_record`,
    /// `scale_pool`, `scale_workload`, `annotate_workload`, `start_recovery`, `start_failback`,
    /// `verify_integrity`, `config_maps`, ...). Required.
    pub operation: faults::ProviderOp,
    /// Resource whose calls it fails. Default: none (every resource).
    #[serde(default)]
    pub resource: Option<String>,
    /// Error raised: `temporary`, `throttled`, `permanent`, `unreachable`, `integrity`, or
    /// `job-failure` (`[sim]` only: the call succeeds and the job it started fails). Required.
    pub error: String,
    /// How many matching calls fail; `0` means every one. Default: `1`.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

/// Duration estimates used for the RTO estimate of a plan (`[estimates]`); when the simulated
/// estate serves the whole plan, its own timings stand for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Estimates {
    /// One API call (a duration). Default: `300ms`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub api_call: Duration,
    /// A DNS change propagating to INSYNC (a duration). Default: `1m`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub dns_propagation: Duration,
    /// Nodes becoming Ready after a scale-up (a duration). Default: `4m`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub node_boot: Duration,
    /// A workload rollout (a duration). Default: `2m`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub rollout: Duration,
    /// A database fence taking effect (an Azure SQL server update, a Cloud SQL patch: each a
    /// long-running operation of its own). Default: `2m`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub fence: Duration,
    /// A database promotion (a Cloud SQL switchover or an RDS replica promotion takes minutes).
    /// Default: `5m`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub promotion: Duration,
    /// Draining in-flight requests (a duration). Default: `1m`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub drain: Duration,
    /// A recovery or failback job (a duration). Default: `10m`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub recovery_job: Duration,
    /// A database snapshot becoming usable (a duration). Default: `5m`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub snapshot: Duration,
}

impl Default for Estimates {
    fn default() -> Self {
        Estimates {
            api_call: Duration::from_millis(300),
            dns_propagation: Duration::from_secs(60),
            node_boot: Duration::from_secs(4 * 60),
            rollout: Duration::from_secs(2 * 60),
            fence: Duration::from_secs(2 * 60),
            // A Cloud SQL switchover or an RDS replica promotion takes minutes.
            promotion: Duration::from_secs(5 * 60),
            drain: Duration::from_secs(60),
            recovery_job: Duration::from_secs(10 * 60),
            snapshot: Duration::from_secs(5 * 60),
        }
    }
}
