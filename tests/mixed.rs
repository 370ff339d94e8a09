//! One plan across clouds, end to end through the binary: the DNS record on Route 53 (LocalStack),
//! the primary's node pool an EKS node group (the DRS/EKS simulator, over moto's Auto Scaling), the
//! database pair and the DR pool on a second cloud (`azure`, played by the simulated estate), and
//! each site's workloads in its own Kubernetes cluster (the API-server simulator). Failover and
//! failback reach the same end states as a single-provider plan; the report counts the calls of
//! each provider; and a fault layer over the AWS clients does not stop the run.

use std::process::Output;

use aegis_dr::{provider::DatabaseRole, sim::SimWorld, SiteRole};
use aegis_dr_aws_sim::estate::{Endpoints, Estate, PRIMARY_REGION, PRODUCTION, STANDBY};
use aegis_dr_k8s_sim::K8sSim;
use serde_json::{json, Value};

use crate::common::{aws_command, code, json as parse_json, stderr, step};

struct Mixed {
    rt: tokio::runtime::Runtime,
    estate: Estate,
    primary: K8sSim,
    dr: K8sSim,
    dir: tempfile::TempDir,
}

impl Mixed {
    /// The estate, with `extra` appended to the plan.
    fn new(extra: &str) -> Mixed {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let (estate, primary, dr) = rt.block_on(async {
            (
                Estate::create(dir.path(), &Endpoints::from_env()).await,
                K8sSim::start("prod").await.expect("primary cluster"),
                K8sSim::start("dr").await.expect("dr cluster"),
            )
        });
        for (sim, replicas, file) in [
            (&primary, 6, "primary.kubeconfig"),
            (&dr, 2, "dr.kubeconfig"),
        ] {
            sim.write_kubeconfig(&dir.path().join(file))
                .expect("kubeconfig");
            sim.with(|c| {
                c.rollout_time = std::time::Duration::from_millis(30);
                c.deployment("production", "api", replicas, json!({ "app": "api" }));
                c.node("node-0", true);
            });
        }
        let e = &estate;
        let (pmin, pmax, pdes) = PRODUCTION;
        let (smin, smax, sdes) = STANDBY;
        let plan = format!(
            r#"[plan]
name = "mixed-{s}"

[sites.primary]
provider = "aws"
region = "{PRIMARY_REGION}"
cluster = "{pc}"
kubeconfig = "primary.kubeconfig"

[sites.dr]
provider = "azure"
region = "westeurope"
cluster = "aks-dr"
kubeconfig = "dr.kubeconfig"

[[databases]]
name = "orders"
provider = "azure"
primary = "orders-sql-weu"
dr = "orders-sql-neu"

[[dns_records]]
name = "{record}"
zone = "{zone}"
primary_target = "lb-use1.example.com"
dr_target = "aks-dr.westeurope.cloudapp.azure.com"
ttl = 5
health_check = "{hc}"

[[node_pools]]
name = "{png}"
site = "primary"
production = {{ min = {pmin}, max = {pmax}, desired = {pdes} }}
standby = {{ min = {smin}, max = {smax}, desired = {sdes} }}

[[node_pools]]
name = "agentpool"
site = "dr"
production = {{ min = 2, max = 6, desired = 3 }}
standby = {{ min = 1, max = 6, desired = 1 }}

[[workloads]]
name = "api"
namespace = "production"
deployments = ["api"]
production_replicas = 6
standby_replicas = 2

[[health_endpoints]]
name = "api-primary"
site = "primary"
url = "{health}/primary"

# Part of the plan is on real clients: the plan's estimates apply (no endpoint reports in-flight
# requests, so draining waits the drain estimate).
[estimates]
drain = "100ms"

[failback]
min_primary_stable = "0s"
lowered_ttl = 2

[execution]
retry_attempts = 8
retry_base_delay = "20ms"
poll_interval = "50ms"
max_poll_interval = "200ms"

# LocalStack's hosted zones are in no resolver: verification takes the providers' answers.
[verification]
dns_resolver = "none"

[sim]
plays = ["azure"]
latency = "1ms"
dns_propagation = "60ms"
node_boot = "120ms"
rollout = "80ms"
replication_lag = "150ms"
drain_time = "40ms"
{extra}
"#,
            s = e.suffix,
            pc = e.clusters.0,
            record = e.record,
            zone = e.zone,
            hc = e.health_check,
            png = e.nodegroups.0,
            health = e.health_url,
        );
        std::fs::write(dir.path().join("aegis.toml"), plan).expect("plan");
        Mixed {
            rt,
            estate,
            primary,
            dr,
            dir,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        aws_command(self.dir.path(), self.estate.child_env())
            .args(args)
            .output()
            .expect("binary runs")
    }

    /// Role and fence of each instance of the pair the simulated `azure` serves.
    fn databases(&self) -> Vec<(String, DatabaseRole, bool)> {
        let text = std::fs::read_to_string(self.dir.path().join("state/sim-world.json"))
            .expect("sim world");
        let w: SimWorld = serde_json::from_str(&text).expect("sim world parses");
        w.databases
            .iter()
            .map(|(id, d)| (id.clone(), d.role, d.fenced))
            .collect()
    }

    fn replicas(&self, site: SiteRole) -> i64 {
        let sim = match site {
            SiteRole::Primary => &self.primary,
            SiteRole::Dr => &self.dr,
        };
        sim.with(|c| c.get("deployments", "production", "api"))
            .expect("deployment")["spec"]["replicas"]
            .as_i64()
            .expect("replicas")
    }

    fn record(&self) -> String {
        self.rt.block_on(self.estate.record_now()).0
    }

    fn primary_pool_desired(&self) -> i32 {
        self.rt
            .block_on(self.estate.asg(PRIMARY_REGION, &self.estate.asgs.0))
            .2
    }
}

fn calls(report: &Value, provider: &str) -> u64 {
    report["provider_calls"][provider]["calls"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn a_plan_across_route53_a_second_cloud_and_two_clusters_fails_over_and_back() {
    let m = Mixed::new("");
    let o = m.run(&["check", "--output", "json"]);
    assert_eq!(
        code(&o),
        0,
        "check: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    let before = (
        m.record(),
        m.databases(),
        m.replicas(SiteRole::Primary),
        m.replicas(SiteRole::Dr),
    );
    let pool_before = m.primary_pool_desired();
    assert_eq!(
        before
            .1
            .iter()
            .filter(|d| d.1 == DatabaseRole::Primary)
            .count(),
        1
    );

    let o = m.run(&["permissions", "--output", "json"]);
    assert_eq!(code(&o), 0, "permissions: {}", stderr(&o));
    let p = parse_json(&o);
    let names: Vec<&str> = p["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .filter_map(|x| x["provider"].as_str())
        .collect();
    assert_eq!(
        names,
        ["aws", "kubernetes"],
        "azure is played by the simulator: {p:#}"
    );
    let aws_doc = p["providers"][0]["document"].to_string();
    assert!(
        aws_doc.contains("route53:ChangeResourceRecordSets")
            && aws_doc.contains("eks:UpdateNodegroupConfig"),
        "{aws_doc}"
    );
    assert!(
        !aws_doc.contains("rds:"),
        "the database is not on AWS: {aws_doc}"
    );
    let rbac = p["providers"][1]["document"]
        .as_str()
        .expect("RBAC is YAML text");
    for needle in [
        "kind: Role",
        "namespace: production",
        "deployments/scale",
        "kind: ClusterRole",
        "resources: [nodes]",
    ] {
        assert!(rbac.contains(needle), "{needle}: {rbac}");
    }
    // JSON and YAML are never run together on stdout: one file each, or one provider at a time.
    let o = m.run(&["permissions"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--out-dir"), "{}", stderr(&o));
    let out = m.dir.path().join("perms");
    let o = m.run(&["permissions", "--out-dir", out.to_str().expect("path")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let aws: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("aws.json")).expect("aws.json"))
            .expect("one JSON document");
    assert!(aws.to_string().contains("route53:ChangeResourceRecordSets"));
    let yaml = std::fs::read_to_string(out.join("kubernetes.yaml")).expect("kubernetes.yaml");
    assert!(
        yaml.contains("kind: Role") && !yaml.contains("\"Statement\""),
        "{yaml}"
    );

    let o = m.run(&["failover", "--yes", "--output", "json"]);
    let r = parse_json(&o);
    assert_eq!(code(&o), 0, "failover: {r:#}\n{}", stderr(&o));
    assert_eq!(m.record(), "aks-dr.westeurope.cloudapp.azure.com");
    let dbs = m.databases();
    let role = |id: &str| {
        dbs.iter()
            .find(|d| d.0 == id)
            .map(|d| (d.1, d.2))
            .expect("instance")
    };
    assert_eq!(
        role("orders-sql-neu"),
        (DatabaseRole::Primary, false),
        "DR promoted"
    );
    assert!(role("orders-sql-weu").1, "old primary fenced");
    assert_eq!(m.replicas(SiteRole::Dr), 6, "DR workloads at production");
    assert_eq!(
        m.primary_pool_desired(),
        pool_before,
        "the primary's EKS pool is left as it was"
    );
    for provider in ["aws", "azure", "kubernetes"] {
        assert!(
            calls(&r, provider) > 0,
            "{provider} calls counted: {}",
            r["provider_calls"]
        );
    }
    assert!(
        r.get("provider_calls").and_then(|c| c.get("sim")).is_none(),
        "no resource is on `sim`"
    );
    let md = std::fs::read_to_string(
        m.dir
            .path()
            .join("state/runs")
            .join(r["run_id"].as_str().expect("id"))
            .join("report.md"),
    )
    .expect("report.md");
    assert!(
        md.contains("## Calls by provider") && md.contains("| azure |"),
        "{md}"
    );

    let o = m.run(&["failback", "--yes", "--output", "json"]);
    let r = parse_json(&o);
    assert_eq!(code(&o), 0, "failback: {r:#}\n{}", stderr(&o));
    let after = (
        m.record(),
        m.databases(),
        m.replicas(SiteRole::Primary),
        m.replicas(SiteRole::Dr),
    );
    assert_eq!(after.0, before.0, "DNS back on the primary");
    assert_eq!((after.2, after.3), (before.2, before.3), "workloads back");
    let writer: Vec<_> = after
        .1
        .iter()
        .filter(|d| d.1 == DatabaseRole::Primary && !d.2)
        .collect();
    assert_eq!(writer.len(), 1, "one writable primary: {:?}", after.1);
    assert_eq!(
        writer[0].0, "orders-sql-weu",
        "the primary site's instance writes again"
    );
    assert_eq!(m.primary_pool_desired(), pool_before);
    assert_eq!(
        pool_before, PRODUCTION.2 as i32,
        "the primary's pool serves at production size"
    );
}

#[test]
fn a_fault_layer_over_the_aws_clients_does_not_stop_the_run() {
    let m =
        Mixed::new("\n[fault_injection]\nproviders = [\"aws\"]\ntransient_rate = 0.2\nseed = 11\n");
    let o = m.run(&["failover", "--yes", "--output", "json"]);
    let r = parse_json(&o);
    assert_eq!(code(&o), 0, "failover under faults: {r:#}\n{}", stderr(&o));
    assert_eq!(r["achieved"]["within_targets"], true, "{r:#}");
    let aws = &r["provider_calls"]["aws"];
    assert!(
        aws["transient_errors"].as_u64().unwrap_or(0) > 0,
        "faults were injected into AWS calls: {aws}"
    );
    assert_eq!(
        r["provider_calls"]["azure"]["transient_errors"], 0,
        "only AWS gets faults"
    );
    assert_eq!(m.record(), "aks-dr.westeurope.cloudapp.azure.com");
    assert_eq!(step(&r, "verify-dr")["status"], "succeeded");
}
