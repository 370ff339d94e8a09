//! `aegis-dr --provider gcp` end to end: the binary reaches the GCP simulator through
//! `AEGIS_DR_GCP_ENDPOINT` and gets its token through Application Default Credentials (an
//! `authorized_user` file whose token endpoint is the simulator); the cloud state is checked in the
//! simulator.

use std::process::{Command, Output, Stdio};

use aegis_dr_gcp_sim::{estate, GcpSim};

use crate::{
    clouds::{round_trip, Cloud},
    common::{code, json, stderr},
};

pub(crate) struct Gcp {
    pub rt: tokio::runtime::Runtime,
    pub sim: GcpSim,
    pub dir: tempfile::TempDir,
}

/// `examples/gcp.toml` for the simulator: verified without a DNS resolver (the sandbox resolves no
/// public names), with health endpoints `HEALTH_URL/primary|dr` and fast polls.
pub(crate) fn example() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/gcp.toml"
    ))
    .expect("examples/gcp.toml")
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

impl Gcp {
    pub(crate) fn new(plan: &str) -> Gcp {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let sim = rt.block_on(GcpSim::start()).expect("simulator");
        sim.with(estate::runbook);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("aegis.toml"),
            plan.replace("HEALTH_URL", &sim.health_url()),
        )
        .expect("plan");
        std::fs::write(dir.path().join("adc.json"), sim.adc_json()).expect("credentials");
        Gcp { rt, sim, dir }
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
            .env("AEGIS_DR_GCP_ENDPOINT", self.sim.url())
            .env(
                "GOOGLE_APPLICATION_CREDENTIALS",
                self.dir.path().join("adc.json"),
            )
            .env_remove("GCE_METADATA_HOST")
            .env_remove("GOOGLE_CLOUD_PROJECT")
            .output()
            .expect("binary runs")
    }

    pub(crate) fn ok(&self, args: &[&str]) -> serde_json::Value {
        let o = self.run(args);
        let r = json(&o);
        assert_eq!(code(&o), 0, "{args:?}: {r:#}\n{}", stderr(&o));
        r
    }
}

impl Cloud for Gcp {
    fn run(&self, args: &[&str]) -> Output {
        Gcp::run(self, args)
    }

    fn check_says(&self) -> Option<&'static str> {
        // The lag Cloud Monitoring reports.
        Some("orders: lag 2s")
    }

    fn assert_on_dr(&self, r: &serde_json::Value) {
        assert_eq!(
            r["achieved"]["rpo_seconds"].as_f64(),
            Some(0.0),
            "switchover is lossless: {r:#}"
        );
        self.sim.with(|s| {
            let dr = s.sql_instance(estate::DR_DB).expect("dr");
            assert_eq!(dr.master, None, "aegis-db-failover is the primary");
            let old = s.sql_instance(estate::PRIMARY_DB).expect("old");
            assert_eq!(
                old.master.as_deref(),
                Some(estate::DR_DB),
                "the old primary replicates from it"
            );
            assert_eq!(
                old.labels.get("aegis-dr-fenced").map(String::as_str),
                Some("true")
            );
            let (_, data) = s
                .record_set(estate::ZONE, estate::RECORD, "CNAME")
                .expect("record");
            assert_eq!(data, vec![estate::DR_TARGET.to_string()]);
            let (per_zone, _, bounds, busy) =
                s.node_pool(estate::DR_CLUSTER, estate::POOL).expect("pool");
            assert_eq!((per_zone, bounds, busy), (6, Some((3, 10)), false));
            let posts: Vec<&String> = s
                .requests
                .iter()
                .filter(|r| r.ends_with("/switchover"))
                .collect();
            assert_eq!(
                posts.len(),
                1,
                "one planned switchover, sent once: {posts:?}"
            );
            assert!(
                posts[0].contains(&format!("/instances/{}/", estate::DR_DB)),
                "{posts:?}"
            );
        });
    }

    fn assert_on_primary(&self, _: &serde_json::Value) {
        self.sim.with(|s| {
            let db = s.sql_instance(estate::PRIMARY_DB).expect("primary");
            assert_eq!(db.master, None);
            assert_eq!(
                db.labels.get("aegis-dr-fenced").map(String::as_str),
                Some("false"),
                "writable again"
            );
            let dr = s.sql_instance(estate::DR_DB).expect("dr");
            assert_eq!(dr.master.as_deref(), Some(estate::PRIMARY_DB));
            let (ttl, data) = s
                .record_set(estate::ZONE, estate::RECORD, "CNAME")
                .expect("record");
            assert_eq!((ttl, data), (60, vec![estate::PRIMARY_TARGET.to_string()]));
            assert_eq!(
                s.node_pool(estate::DR_CLUSTER, estate::POOL).map(|p| p.0),
                Some(1),
                "DR back at standby"
            );
        });
    }

    fn permissions(&self) -> (&'static [&'static str], &'static [&'static str]) {
        (
            &["permissions", "--provider", "gcp"],
            &[
                "includedPermissions",
                "cloudsql.instances.failover",
                "dns.changes.create",
                "container.clusters.update",
            ],
        )
    }
}

#[test]
fn failover_and_failback_on_gcp_through_the_cli() {
    round_trip(&Gcp::new(&example()));
}

#[test]
fn gke_behind_cloud_dns_in_a_plan_on_the_simulated_estate() {
    // The sites and the database are the simulated estate's; the record is in Cloud DNS and the DR
    // pool is GKE's.
    let plan = r#"[plan]
name = "mixed-gcp"

[sites.primary]
provider = "sim"
region = "us-central1"
cluster = "aegis-prod"

[sites.dr]
provider = "sim"
region = "us-east1"
cluster = "aegis-dr"

[providers.gcp]
project = "aegis-prod"

[sites.dr.gcp]
location = "us-east1-b"

[[databases]]
name = "orders"
primary = "orders-central"
dr = "orders-east"

[[dns_records]]
name = "api.aegis.io."
provider = "gcp"
zone = "aegis-zone"
type = "CNAME"
primary_target = "primary-lb.aegis.io"
dr_target = "dr-lb.aegis.io"
ttl = 60

[[node_pools]]
name = "primary-pool"
provider = "gcp"
site = "dr"
production = { min = 3, max = 10, desired = 6 }
standby = { min = 1, max = 10, desired = 1 }

[verification]
dns_resolver = "none"

[failback]
lowered_ttl = 60
"#;
    let g = Gcp::new(plan);
    let r = g.ok(&[
        "failover",
        "--class",
        "region-outage",
        "--yes",
        "--output",
        "json",
    ]);
    assert!(
        r["provider_calls"]["gcp"]["calls"].as_u64().unwrap_or(0) > 0,
        "{r:#}"
    );
    assert!(
        r["provider_calls"]["sim"]["calls"].as_u64().unwrap_or(0) > 0,
        "{r:#}"
    );
    g.sim.with(|s| {
        let (_, data) = s
            .record_set(estate::ZONE, estate::RECORD, "CNAME")
            .expect("record");
        assert_eq!(data, vec![estate::DR_TARGET.to_string()]);
        assert_eq!(
            s.node_pool(estate::DR_CLUSTER, estate::POOL).map(|p| p.0),
            Some(6)
        );
    });
}

#[test]
fn a_missing_permission_stops_the_failover_naming_it() {
    let g = Gcp::new(&example());
    g.sim.with(|s| s.denied.push("dns.changes.create".into()));
    let o = g.run(&[
        "failover",
        "--class",
        "region-outage",
        "--yes",
        "--output",
        "json",
    ]);
    assert_ne!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(all.contains("`dns.changes.create`"), "{all}");
}

#[test]
fn with_the_primary_region_down_the_replica_is_promoted_within_the_measured_rpo() {
    let g = Gcp::new(&example());
    g.sim
        .with(|s| s.down_instances.push(estate::PRIMARY_DB.into()));
    let args = [
        "failover",
        "--class",
        "region-outage",
        "--primary-unreachable",
        "--yes",
        "--output",
        "json",
    ];
    // The primary's backup runs cannot be read: the backup check fails, nothing is touched.
    let o = g.run(&args);
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
    assert!(
        g.sim
            .with(|s| s.sql_instance(estate::DR_DB))
            .and_then(|i| i.master)
            .is_some(),
        "nothing promoted"
    );
    // Past the checks: a forced promotion, whose loss Cloud Monitoring's lag bounds (2 s).
    let mut ignoring = args.to_vec();
    ignoring.push("--ignore-checks");
    let r = g.ok(&ignoring);
    assert_eq!(r["status"], "succeeded", "{r:#}");
    assert_eq!(r["achieved"]["rpo_seconds"].as_f64(), Some(2.0), "{r:#}");
    g.sim.with(|s| {
        assert_eq!(s.sql_instance(estate::DR_DB).and_then(|i| i.master), None);
        let promotes = s
            .requests
            .iter()
            .filter(|r| r.ends_with("/promoteReplica"))
            .count();
        assert_eq!(promotes, 1);
        assert_eq!(
            s.requests
                .iter()
                .filter(|r| r.ends_with("/switchover"))
                .count(),
            0
        );
    });
}

#[test]
fn an_ha_instance_fails_over_between_its_zones_and_back() {
    let plan = example()
        .replace(
            "primary = \"aegis-db\"                       # Cloud SQL primary",
            "primary = \"aegis-db:us-central1-a\"",
        )
        .replace(
            "dr = \"aegis-db-failover\"                   # its cross-region DR replica",
            "dr = \"aegis-db:us-central1-b\"",
        )
        .replace("mode = \"replica\"", "mode = \"ha\"");
    let g = Gcp::new(&plan);
    let r = g.ok(&[
        "failover",
        "--class",
        "region-outage",
        "--yes",
        "--output",
        "json",
    ]);
    assert_eq!(r["status"], "succeeded", "{r:#}");
    assert_eq!(r["achieved"]["rpo_seconds"].as_f64(), Some(0.0), "{r:#}");
    let db = g
        .sim
        .with(|s| s.sql_instance(estate::PRIMARY_DB))
        .expect("db");
    assert_eq!(db.zone, "us-central1-b", "{db:?}");
    assert_eq!(
        db.labels.get("aegis-dr-fenced").map(String::as_str),
        Some("false"),
        "the one instance takes writes"
    );
    g.ok(&["failback", "--yes", "--output", "json"]);
    let db = g
        .sim
        .with(|s| s.sql_instance(estate::PRIMARY_DB))
        .expect("db");
    assert_eq!(db.zone, "us-central1-a", "{db:?}");
    let failovers = g.sim.with(|s| {
        s.requests
            .iter()
            .filter(|r| r.ends_with("/failover"))
            .count()
    });
    assert_eq!(failovers, 2, "one failover there, one back");
}

/// `check` fails naming what Cloud SQL would refuse: a switchover to a DR replica that is not
/// Enterprise Plus.
#[test]
fn check_names_what_would_refuse_the_switchover() {
    let g = Gcp::new(&example());
    g.sim
        .with(|s| s.set_sql_edition(estate::DR_DB, "ENTERPRISE"));
    let o = g.run(&["check", "--output", "json"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_ne!(code(&o), 0, "{text}\n{}", stderr(&o));
    assert!(
        text.contains("a planned failover would be refused") && text.contains("ENTERPRISE_PLUS"),
        "{text}"
    );
}
