//! Two simulated clusters seeded from a plan, kubeconfigs for them, and the provider set: the
//! simulated estate for databases, DNS, nodes and recovery, Kubernetes for workloads.

use std::{sync::Arc, time::Duration};

use aegis_dr_core::{
    clock::Clock,
    journal::{Operation, RunFlags},
    orchestrator::{Orchestrator, RunOutcome, RunRequest},
    plan::{SiteRole, KUBERNETES},
    provider::{ProviderSet, Providers, WorkloadScaler},
    IncidentClass, Plan,
};
use aegis_dr_k8s_sim::K8sSim;
use aegis_dr_provider_kubernetes::{KubeSite, KubernetesBuilder};
use aegis_dr_provider_sim::SimProvider;
use serde_json::{json, Value};

pub const PLAN: &str = r#"
[plan]
name = "k8s-estate"

[sites.primary]
provider = "sim"
region = "eu-west-1"
cluster = "prod"
kubeconfig = "primary.kubeconfig"

[sites.dr]
provider = "sim"
region = "eu-central-1"
cluster = "dr"
kubeconfig = "dr.kubeconfig"
context = "dr"

[[databases]]
name = "orders"
primary = "orders-euw1"
dr = "orders-euc1"

[[dns_records]]
name = "api.aegis.io"
zone = "aegis.io"
primary_target = "lb-euw1.aegis.io"
dr_target = "lb-euc1.aegis.io"
ttl = 60

[[workloads]]
name = "api"
namespace = "production"
deployments = ["api", "checkout"]
production_replicas = 6
standby_replicas = 2

[[workloads]]
name = "web"
namespace = "web"
selector = "tier=web"
production_replicas = 4
standby_replicas = 1

[[workloads]]
name = "cache"
namespace = "data"
kind = "StatefulSet"
deployments = ["redis"]
production_replicas = 3
standby_replicas = 1

[[health_endpoints]]
name = "dr"
site = "dr"
url = "https://dr.aegis.io/healthz"

[[health_endpoints]]
name = "primary"
site = "primary"
url = "https://primary.aegis.io/healthz"

[checks]
config_maps = ["production/api-config"]

[execution]
retry_base_delay = "5ms"
poll_interval = "20ms"
max_poll_interval = "100ms"

[sim]
latency = "0ms"
dns_propagation = "30ms"
node_boot = "30ms"
rollout = "30ms"
replication_lag = "50ms"
catch_up_speed = 100.0
drain_time = "20ms"
job_time = "30ms"
"#;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub plan: Plan,
    pub primary: K8sSim,
    pub dr: K8sSim,
}

fn seed(sim: &K8sSim, plan: &Plan, site: SiteRole) {
    sim.with(|c| {
        c.rollout_time = Duration::from_millis(40);
        for g in &plan.workloads {
            let replicas = match site {
                SiteRole::Primary => g.production_replicas,
                SiteRole::Dr => g.standby_replicas,
            } as i64;
            if g.kind == aegis_dr_core::plan::WorkloadKind::StatefulSet {
                c.ensure_namespace(&g.namespace);
                for n in &g.names {
                    c.put(json!({
                        "kind": "StatefulSet",
                        "metadata": { "name": n, "namespace": g.namespace, "labels": { "app": n } },
                        "spec": { "replicas": replicas, "serviceName": n, "selector": { "matchLabels": { "app": n } },
                                  "template": { "metadata": { "labels": { "app": n } }, "spec": { "containers": [ { "name": n, "image": "redis:7" } ] } } }
                    }));
                }
            } else if g.names.is_empty() {
                c.deployment(&g.namespace, &g.name, replicas, json!({ "tier": "web" }));
                // A workload the selector must leave alone.
                c.deployment(&g.namespace, "batch-job", 1, json!({ "tier": "batch" }));
            } else {
                for n in &g.names {
                    c.deployment(&g.namespace, n, replicas, json!({ "app": n }));
                }
            }
        }
        c.put(json!({ "kind": "ConfigMap", "metadata": { "name": "api-config", "namespace": "production" }, "data": { "LOG_LEVEL": "info" } }));
        for i in 0..3 {
            c.node(&format!("{site}-node-{i}"), true);
        }
    });
}

impl Env {
    pub async fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let primary = K8sSim::start("prod").await.expect("primary sim");
        let dr = K8sSim::start("dr").await.expect("dr sim");
        primary
            .write_kubeconfig(&dir.path().join("primary.kubeconfig"))
            .expect("kubeconfig");
        dr.write_kubeconfig(&dir.path().join("dr.kubeconfig"))
            .expect("kubeconfig");
        std::fs::write(dir.path().join("aegis.toml"), PLAN).expect("plan");
        let plan = Plan::load(&dir.path().join("aegis.toml")).expect("plan loads");
        seed(&primary, &plan, SiteRole::Primary);
        seed(&dr, &plan, SiteRole::Dr);
        Env {
            dir,
            plan,
            primary,
            dr,
        }
    }

    pub async fn workloads(&self) -> Arc<dyn WorkloadScaler> {
        // The program picks rustls's crypto provider (the facade does in aegis-dr).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let site = |r: SiteRole| {
            let s = self.plan.site(r);
            KubeSite {
                kubeconfig: s.kubeconfig.as_ref().map(Into::into),
                context: s.context.clone(),
            }
        };
        Arc::new(
            KubernetesBuilder::new()
                .with_site(SiteRole::Primary, site(SiteRole::Primary))
                .with_site(SiteRole::Dr, site(SiteRole::Dr))
                .with_timeout(Duration::from_secs(5))
                .build()
                .await
                .expect("clients build"),
        )
    }

    pub async fn providers(&self) -> Providers {
        let sim = Arc::new(
            SimProvider::open(&self.plan, self.dir.path().join("state"), Clock::new())
                .expect("sim"),
        );
        let mut p = sim.providers().expect("sim providers");
        let mut k8s = ProviderSet::new(KUBERNETES);
        k8s.workloads = Some(self.workloads().await);
        p.insert(k8s);
        p
    }

    pub async fn run(
        &self,
        operation: Operation,
        flags: RunFlags,
        resume: Option<String>,
    ) -> RunOutcome {
        Orchestrator::new(
            self.plan.clone(),
            self.providers().await,
            self.dir.path().join("state"),
        )
        .run(RunRequest {
            operation,
            class: IncidentClass::RegionOutage,
            flags,
            resume,
            abandon: None,
        })
        .await
        .expect("run starts")
    }

    /// A deployment as the DR or primary API serves it.
    pub fn deployment(&self, site: SiteRole, ns: &str, name: &str) -> Value {
        let sim = match site {
            SiteRole::Primary => &self.primary,
            SiteRole::Dr => &self.dr,
        };
        sim.with(|c| c.get("deployments", ns, name))
            .expect("deployment exists")
    }
}
