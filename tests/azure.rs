//! `aegis-dr --provider azure` end to end: the binary reaches the ARM simulator through
//! `AZURE_RESOURCE_MANAGER_ENDPOINT` and gets its token from the simulator's managed-identity
//! endpoint through `azure_identity`'s own credential; the cloud state is checked in the simulator.

use std::process::{Command, Output, Stdio};

use aegis_dr_azure_sim::{estate, AzureSim};

use crate::{
    clouds::{fail_over, round_trip, Cloud},
    common::{code, json, stderr},
};

pub(crate) struct Azure {
    rt: tokio::runtime::Runtime,
    pub sim: AzureSim,
    pub dir: tempfile::TempDir,
}

/// `examples/azure.toml` for the simulator: verified without a DNS resolver (the sandbox resolves
/// no public names), with health endpoints `HEALTH_URL/primary|dr` and fast polls.
pub(crate) fn example() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/azure.toml"
    ))
    .expect("examples/azure.toml")
    .replace("min_primary_stable = \"2h\"", "min_primary_stable = \"0s\"")
        + r#"
[verification]
dns_resolver = "none"

[[health_endpoints]]
name = "api-primary"
site = "primary"
url = "HEALTH_URL/primary"

[[health_endpoints]]
name = "api-dr"
site = "dr"
url = "HEALTH_URL/dr"

[execution]
poll_interval = "50ms"
max_poll_interval = "200ms"
"#
}

impl Azure {
    /// The runbook's Azure estate in a fresh simulator, and `plan` beside it.
    pub(crate) fn new(plan: &str) -> Azure {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let sim = rt.block_on(AzureSim::start()).expect("simulator");
        sim.with(estate::runbook);
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = plan.replace("HEALTH_URL", &sim.health_url());
        std::fs::write(dir.path().join("aegis.toml"), plan).expect("plan");
        Azure { rt, sim, dir }
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        let _enter = self.rt.enter();
        Command::new(env!("CARGO_BIN_EXE_aegis-dr"))
            .arg("--config")
            .arg(self.dir.path().join("aegis.toml"))
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .args(args)
            .stdin(Stdio::null())
            .env("AZURE_RESOURCE_MANAGER_ENDPOINT", self.sim.url())
            .env("IDENTITY_ENDPOINT", self.sim.identity_endpoint())
            .env("IDENTITY_HEADER", AzureSim::IDENTITY_SECRET)
            .env_remove("AZURE_CLIENT_SECRET")
            .env_remove("AZURE_FEDERATED_TOKEN_FILE")
            .env_remove("MSI_ENDPOINT")
            .output()
            .expect("binary runs")
    }
}

impl Cloud for Azure {
    fn run(&self, args: &[&str]) -> Output {
        Azure::run(self, args)
    }

    fn check_says(&self) -> Option<&'static str> {
        Some("lag not reported by the provider")
    }

    fn assert_on_dr(&self, r: &serde_json::Value) {
        assert_eq!(
            r["achieved"]["rpo_seconds"].as_f64(),
            Some(0.0),
            "planned failover: {r:#}"
        );
        self.sim.with(|s| {
            let (primary, _) = s.failover_group(estate::FAILOVER_GROUP).expect("group");
            assert_eq!(primary, estate::DR_SQL);
            assert_eq!(
                s.sql_server_tags(estate::PRIMARY_SQL)
                    .get("aegis-dr-fenced")
                    .map(String::as_str),
                Some("true")
            );
            let eps = s.traffic_manager_endpoints(estate::PROFILE);
            assert_eq!(
                eps[0],
                (
                    "primary-endpoint".into(),
                    "Disabled".into(),
                    "Disabled".into()
                )
            );
            assert_eq!(
                eps[1],
                ("dr-endpoint".into(), "Enabled".into(), "Online".into())
            );
            assert_eq!(
                s.agent_pool(estate::DR_AKS, estate::POOL)
                    .map(|p| (p.0, p.1)),
                Some((6, Some((3, 10))))
            );
            let posts: Vec<&String> = s
                .requests
                .iter()
                .filter(|r| r.starts_with("POST "))
                .collect();
            assert_eq!(posts.len(), 1, "one planned failover, sent once: {posts:?}");
            assert!(
                posts[0].ends_with(&format!(
                    "/servers/{}/failoverGroups/{}/failover",
                    estate::DR_SQL,
                    estate::FAILOVER_GROUP
                )),
                "sent to the secondary: {posts:?}"
            );
        });
    }

    fn assert_on_primary(&self, _: &serde_json::Value) {
        self.sim.with(|s| {
            let (primary, state) = s.failover_group(estate::FAILOVER_GROUP).expect("group");
            assert_eq!(
                (primary.as_str(), state.as_str()),
                (estate::PRIMARY_SQL, "CATCH_UP")
            );
            assert!(
                !s.sql_server_tags(estate::PRIMARY_SQL)
                    .contains_key("aegis-dr-fenced"),
                "primary writable again"
            );
            let eps = s.traffic_manager_endpoints(estate::PROFILE);
            assert_eq!(
                (eps[0].1.as_str(), eps[1].1.as_str()),
                ("Enabled", "Disabled")
            );
            assert_eq!(
                s.agent_pool(estate::DR_AKS, estate::POOL).map(|p| p.0),
                Some(1),
                "DR back at standby"
            );
            assert_eq!(s.traffic_manager_ttl(estate::PROFILE), Some(60));
        });
    }

    fn permissions(&self) -> (&'static [&'static str], &'static [&'static str]) {
        (
            &["permissions", "--provider", "azure"],
            &[
                "Microsoft.Sql/servers/failoverGroups/failover/action",
                "Microsoft.Network/trafficManagerProfiles/externalEndpoints/write",
                "Microsoft.ContainerService/managedClusters/agentPools/write",
            ],
        )
    }
}

#[test]
fn failover_and_failback_on_azure_through_the_cli() {
    round_trip(&Azure::new(&example()));
}

#[test]
fn a_forced_failover_needs_consent_when_the_primary_region_is_down() {
    let a = Azure::new(&example());
    a.sim
        .with(|s| s.down_servers.push(estate::PRIMARY_SQL.into()));
    let args = [
        "failover",
        "--class",
        "region-outage",
        "--primary-unreachable",
        "--yes",
        "--output",
        "json",
    ];
    // The primary's restore points cannot be read: the backup check fails, nothing is touched.
    let o = a.run(&args);
    assert_eq!(
        code(&o),
        3,
        "refused: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("orders: no backup age reported"),
        "{}",
        stderr(&o)
    );
    let group = || {
        a.sim
            .with(|s| s.failover_group(estate::FAILOVER_GROUP))
            .map(|g| g.0)
    };
    assert_eq!(
        group(),
        Some(estate::PRIMARY_SQL.into()),
        "nothing failed over"
    );
    // Past the checks, the promotion must be forced, and its loss cannot be bounded: refused.
    let mut ignoring = args.to_vec();
    ignoring.push("--ignore-checks");
    let o = a.run(&ignoring);
    let r = json(&o);
    assert_eq!(code(&o), 3, "refused: {r:#}\n{}", stderr(&o));
    assert!(
        stderr(&o).contains("replication lag of aegis-sql-westus is unknown"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        group(),
        Some(estate::PRIMARY_SQL.into()),
        "nothing failed over"
    );
    // With consent, the run resumes and forces the failover.
    let run_id = r["run_id"].as_str().expect("run id").to_string();
    let o = a.run(&[
        "failover",
        "--resume",
        &run_id,
        "--accept-data-loss",
        "--yes",
        "--output",
        "json",
    ]);
    let r = json(&o);
    assert_eq!(code(&o), 0, "forced: {r:#}\n{}", stderr(&o));
    assert_eq!(r["achieved"]["rpo_unknown"], true, "{r:#}");
    a.sim.with(|s| {
        assert_eq!(
            s.failover_group(estate::FAILOVER_GROUP).map(|g| g.0),
            Some(estate::DR_SQL.into())
        );
        assert!(
            s.requests
                .iter()
                .any(|r| r.ends_with("/forceFailoverAllowDataLoss")),
            "forced failover sent"
        );
    });
}

#[test]
fn aks_behind_azure_dns_in_a_plan_on_the_simulated_estate() {
    // The sites are the simulated estate's; the record is in Azure DNS and the pools are AKS's.
    let plan = r#"[plan]
name = "mixed-azure"

[sites.primary]
provider = "sim"
region = "eastus"
cluster = "aegis-prod-aks"

[sites.dr]
provider = "sim"
region = "westus"
cluster = "aegis-dr-aks"

[providers.azure]
subscription_id = "00000000-0000-0000-0000-0000000ae915"
resource_group = "aegis-global"

[sites.primary.azure]
resource_group = "aegis-prod-eastus"

[sites.dr.azure]
resource_group = "aegis-dr-westus"

[[databases]]
name = "orders"
primary = "orders-eastus"
dr = "orders-westus"

[[dns_records]]
name = "app.aegis.io"
provider = "azure"
zone = "aegis.io"
type = "CNAME"
primary_target = "app-eastus.aegis.io"
dr_target = "app-westus.aegis.io"
ttl = 60

[[node_pools]]
name = "agentpool"
provider = "azure"
site = "dr"
production = { min = 3, max = 10, desired = 6 }
standby = { min = 1, max = 10, desired = 1 }

[verification]
dns_resolver = "none"

[failback]
lowered_ttl = 60
"#;
    let a = Azure::new(plan);
    a.sim
        .with(|s| s.set_record(estate::ZONE, "CNAME", "app", 60, "app-eastus.aegis.io"));
    let r = fail_over(&a);
    assert!(
        r["provider_calls"]["azure"]["calls"].as_u64().unwrap_or(0) > 0,
        "{r:#}"
    );
    a.sim.with(|s| {
        let (ttl, values) = s.record(estate::ZONE, "CNAME", "app").expect("record");
        assert_eq!(values, vec!["app-westus.aegis.io".to_string()]);
        assert!(ttl <= 60, "{ttl}");
        assert_eq!(
            s.agent_pool(estate::DR_AKS, estate::POOL).map(|p| p.0),
            Some(6)
        );
    });
}

/// `check` fails naming what Azure would refuse: a planned failover while the replication link is
/// still seeding.
#[test]
fn check_names_what_would_refuse_the_planned_failover() {
    let a = Azure::new(&example());
    a.sim
        .with(|s| s.set_replication_state(estate::FAILOVER_GROUP, "SEEDING"));
    let o = a.run(&["check", "--output", "json"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_ne!(code(&o), 0, "{text}\n{}", stderr(&o));
    assert!(
        text.contains("a planned failover would be refused") && text.contains("SEEDING"),
        "{text}"
    );
}
