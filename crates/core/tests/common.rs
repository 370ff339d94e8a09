//! Shared fixtures: a small estate with fast simulated timings, and helpers to run operations.

use std::{path::Path, sync::Arc, time::Duration};

use aegis_dr_core::{
    clock::Clock,
    journal::{Operation, RunFlags},
    orchestrator::{Orchestrator, RunOutcome, RunRequest},
    sim::{SimProvider, SimWorld},
    IncidentClass, Plan,
};
use serde_json::Value;

pub const PLAN: &str = r#"
[plan]
name = "test-estate"

[sites.primary]
provider = "sim"
region = "us-east-1"
cluster = "prod"

[sites.dr]
provider = "sim"
region = "us-west-2"
cluster = "dr"

[[databases]]
name = "orders"
primary = "orders-use1"
dr = "orders-usw2"

[[databases]]
name = "users"
primary = "users-use1"
dr = "users-usw2"

[[dns_records]]
name = "api.example.com"
zone = "example.com"
primary_target = "lb-use1.example.com"
dr_target = "lb-usw2.example.com"
ttl = 60
health_check = "hc-use1"

[[node_pools]]
name = "prod-pool"
site = "primary"
production = { min = 3, max = 10, desired = 6 }
standby = { min = 1, max = 10, desired = 1 }

[[node_pools]]
name = "dr-pool"
site = "dr"
production = { min = 3, max = 10, desired = 6 }
standby = { min = 1, max = 10, desired = 1 }

[[workloads]]
name = "api"
namespace = "prod"
deployments = ["api", "worker"]
production_replicas = 6
standby_replicas = 2

[[workloads]]
name = "web"
namespace = "web"
selector = "tier=web"
production_replicas = 4
standby_replicas = 1

[[recovery_servers]]
name = "billing"
source_server_id = "s-billing"

[[health_endpoints]]
name = "primary"
site = "primary"
url = "https://primary.example.com/healthz"

[[health_endpoints]]
name = "dr"
site = "dr"
url = "https://dr.example.com/healthz"

[checks]
config_maps = ["prod/api-config"]

[execution]
retry_base_delay = "20ms"
poll_interval = "100ms"
max_poll_interval = "2s"

[sim]
latency = "2ms"
dns_propagation = "30s"
node_boot = "3m"
rollout = "90s"
replication_lag = "3s"
backup_age = "1h"
recovery_point_age = "20s"
drain_time = "10s"
job_time = "2m"
"#;

pub fn plan() -> Plan {
    Plan::parse(PLAN).expect("test plan parses")
}

pub struct Estate {
    pub plan: Plan,
    pub sim: Arc<SimProvider>,
    pub clock: Clock,
    pub dir: tempfile::TempDir,
}

impl Estate {
    /// A persisted simulated estate in a temporary state folder.
    pub fn new(plan: Plan) -> Estate {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Clock::new();
        let sim = Arc::new(SimProvider::open(&plan, dir.path(), clock).expect("sim opens"));
        Estate {
            plan,
            sim,
            clock,
            dir,
        }
    }

    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn orchestrator(&self) -> Orchestrator {
        Orchestrator::new(
            self.plan.clone(),
            self.sim.providers().expect("providers"),
            self.dir.path(),
        )
        .with_clock(self.clock)
    }

    pub async fn run(
        &self,
        operation: Operation,
        class: IncidentClass,
        flags: RunFlags,
    ) -> RunOutcome {
        self.orchestrator()
            .run(RunRequest {
                operation,
                class,
                flags,
                resume: None,
                abandon: None,
            })
            .await
            .expect("run starts")
    }

    pub async fn resume(&self, operation: Operation, run_id: &str, flags: RunFlags) -> RunOutcome {
        self.orchestrator()
            .run(RunRequest {
                operation,
                class: IncidentClass::RegionOutage,
                flags,
                resume: Some(run_id.into()),
                abandon: None,
            })
            .await
            .expect("resume starts")
    }

    pub fn world(&self) -> SimWorld {
        self.sim.snapshot().expect("snapshot")
    }
}

/// The world without timestamps and generated ids: what must match between two runs.
pub fn canonical(w: &SimWorld) -> Value {
    w.canonical()
}

pub fn flags() -> RunFlags {
    RunFlags::default()
}

pub const MINUTE: Duration = Duration::from_secs(60);

/// The step `id` of `report`, or a panic naming it.
pub fn step<'a>(
    report: &'a aegis_dr_core::report::Report,
    id: &str,
) -> &'a aegis_dr_core::report::StepReport {
    report
        .steps
        .iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no step {id} in the report"))
}
