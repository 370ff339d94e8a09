//! `aegis-dr --provider aws` end to end: the binary reaches LocalStack, moto and the DRS/EKS
//! simulator through `AWS_ENDPOINT_URL_<SERVICE>`; the cloud state is checked through the SDK.

use std::process::{Command, Output};

use aegis_dr_aws_sim::estate::{
    Endpoints, Estate, ADDRESS_SET_DR, ADDRESS_SET_PRIMARY, DR_REGION, PRIMARY_REGION,
};

use crate::{
    clouds::{round_trip, Cloud},
    common::{aws_command, code, json, stderr},
};

/// A runtime, an estate in the emulators and the folder of its files (no plan written).
pub(crate) fn estate() -> (tokio::runtime::Runtime, Estate, tempfile::TempDir) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let estate = rt.block_on(Estate::create(dir.path(), &Endpoints::from_env()));
    (rt, estate, dir)
}

struct Aws {
    rt: tokio::runtime::Runtime,
    estate: Estate,
    dir: tempfile::TempDir,
}

impl Aws {
    /// An estate whose plan names the `sim` provider, so every command must pass `--provider aws`.
    fn new() -> Aws {
        let (rt, estate, dir) = estate();
        let plan = estate
            .plan_toml("")
            .replace("provider = \"aws\"", "provider = \"sim\"");
        std::fs::write(dir.path().join("aegis.toml"), plan).expect("plan");
        Aws { rt, estate, dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        aws_command(self.dir.path(), self.estate.child_env())
            .args(["--provider", "aws"])
            .args(args)
            .output()
            .expect("binary runs")
    }
}

impl Cloud for Aws {
    fn run(&self, args: &[&str]) -> Output {
        Aws::run(self, args)
    }

    fn check_says(&self) -> Option<&'static str> {
        None
    }

    fn assert_on_dr(&self, _: &serde_json::Value) {
        let e = &self.estate;
        self.rt.block_on(async {
            assert_eq!(e.record_now().await.0, "lb-usw2.example.com");
            assert_eq!(
                e.address_set_now().await,
                ADDRESS_SET_DR,
                "the A set moved whole"
            );
            assert!(
                e.health_check_disabled().await,
                "primary health check disabled"
            );
            let dr = e
                .db_instance(DR_REGION, &e.db_dr)
                .await
                .expect("DR instance");
            assert!(
                dr.read_replica_source_db_instance_identifier().is_none(),
                "DR promoted"
            );
            let (_, _, desired, ready) = e.asg(DR_REGION, &e.asgs.1).await;
            assert_eq!((desired, ready), (3, 3));
            // The source server's instance went down with its region: the failback starts it.
            e.stop_source_instance().await;
        });
    }

    fn assert_on_primary(&self, r: &serde_json::Value) {
        let e = &self.estate;
        self.rt.block_on(async {
            assert_eq!(e.record_now().await.0, "lb-use1.example.com");
            assert_eq!(e.address_set_now().await, ADDRESS_SET_PRIMARY);
            assert!(
                !e.health_check_disabled().await,
                "primary health check enabled again"
            );
            let p = e
                .db_instance(PRIMARY_REGION, &e.db_primary)
                .await
                .expect("primary");
            assert!(p.read_replica_source_db_instance_identifier().is_none());
            let d = e
                .db_instance(DR_REGION, &e.db_dr)
                .await
                .expect("DR replica");
            assert!(
                d.read_replica_source_db_instance_identifier().is_some(),
                "DR re-protected"
            );
            assert_eq!(e.source_instance_state().await, "running");
            let (_, _, desired, _) = e.asg(DR_REGION, &e.asgs.1).await;
            assert_eq!(desired, 1);
        });
        assert!(
            r.to_string().contains("LAUNCH_END"),
            "the DRS job log is in the report: {r:#}"
        );
    }

    fn permissions(&self) -> (&'static [&'static str], &'static [&'static str]) {
        (
            &["iam-policy"],
            &[
                "rds:PromoteReadReplica",
                "route53:ChangeResourceRecordSets",
                "drs:StartFailbackLaunch",
            ],
        )
    }
}

#[test]
fn failover_and_failback_on_aws_through_the_cli() {
    round_trip(&Aws::new());
}

#[test]
fn check_fails_when_the_replica_lags_beyond_the_threshold() {
    let a = Aws::new();
    let e = &a.estate;
    a.rt.block_on(e.set_replica_lag(DR_REGION, &e.db_dr, 300.0));
    let o = a.run(&["check", "--output", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("replication") && text.contains("5m"),
        "{text}"
    );
}

#[test]
fn iam_policy_needs_the_aws_provider() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("aegis.toml"),
        crate::common::PLAN
            .replace("{EXTRA}", "")
            .replace("{SIM}", ""),
    )
    .expect("plan");
    let o = Command::new(env!("CARGO_BIN_EXE_aegis-dr"))
        .arg("--config")
        .arg(dir.path().join("aegis.toml"))
        .arg("iam-policy")
        .output()
        .expect("runs");
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--provider aws"), "{}", stderr(&o));
}

#[test]
fn a_failover_launches_drs_recovery_from_a_chosen_recovery_point() {
    let a = Aws::new();
    // `check` lists each server's recovery points, newest first, with their ages.
    let o = a.run(&["check", "--output", "json"]);
    let doc = json(&o);
    let evidence = doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "recovery-points")
        .and_then(|c| c["evidence"].as_str())
        .expect("recovery-points check")
        .to_string();
    let older = evidence
        .split([' ', ','])
        .find(|w| w.ends_with("-h2"))
        .unwrap_or_else(|| panic!("no point two hours older: {evidence}"))
        .to_string();
    assert!(evidence.contains("2h"), "{evidence}");

    // Two hours is beyond the RPO: refused unless the data loss is accepted.
    let o = a.run(&["failover", "--yes", "--recovery-point", &older]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains(&older), "{}", stderr(&o));
    let o = a.run(&[
        "failover",
        "--yes",
        "--accept-data-loss",
        "--recovery-point",
        &older,
        "--output",
        "json",
    ]);
    let r = json(&o);
    assert_eq!(code(&o), 0, "failover: {r:#}\n{}", stderr(&o));
    assert_eq!(r["recovery_point"], older.as_str());
    let step = r["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == "recover-servers")
        .expect("recover-servers");
    let summary = step["summary"].as_str().expect("summary");
    assert!(
        summary.contains("from the chosen recovery point(s)") && summary.contains(&older),
        "{summary}"
    );
    // DRS was asked for that snapshot: its job log says it used a previous snapshot.
    assert!(
        step.to_string().contains("USING_PREVIOUS_SNAPSHOT"),
        "{step:#}"
    );
}
