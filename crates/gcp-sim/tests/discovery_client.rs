//! The simulator checked by a client no one here wrote: Google's Python discovery client
//! (`google-api-python-client`, with the `sqladmin`, `dns`, `container`, `compute` and `monitoring` discovery
//! documents it ships) runs the runbook's calls against it (`discovery_client.py`). The client lives
//! in the venv `scripts/test-tools.sh install` makes (`.ci/.venv-google`, or
//! `AEGIS_DR_GOOGLE_PYTHON`); without it this test fails (it never skips).

use std::process::Command;

use aegis_dr_gcp_sim::{estate, GcpSim};

fn python() -> String {
    std::env::var("AEGIS_DR_GOOGLE_PYTHON").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../.ci/.venv-google/bin/python"
        )
        .to_string()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn googles_python_client_agrees_with_the_simulator() {
    let sim = GcpSim::start().await.expect("simulator");
    sim.with(|s| {
        estate::runbook(s);
        s.op_time = std::time::Duration::from_millis(200);
        s.denied.push("cloudsql.instances.promoteReplica".into());
    });
    let token = sim.with(|s| s.token.clone());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/discovery_client.py");
    let url = sim.url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .arg(url)
            .arg(token)
            .output()
    })
    .await
    .expect("joins")
    .unwrap_or_else(|e| {
        panic!(
            "{} cannot run ({e}): run scripts/test-tools.sh install (it makes .ci/.venv-google)",
            python()
        )
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "discovery client: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("summary JSON");
    assert_eq!(summary["ha_zone"], "us-central1-b");
    assert_eq!(summary["pool_size"], 6);
    assert_eq!(summary["replica_lag"], 2.0);
    sim.with(|s| {
        assert_eq!(
            s.sql_instance(estate::PRIMARY_DB)
                .and_then(|i| i.master)
                .as_deref(),
            Some(estate::DR_DB)
        );
        let (ttl, data) = s
            .record_set(estate::ZONE, estate::RECORD, "CNAME")
            .expect("record");
        assert_eq!((ttl, data), (60, vec![estate::DR_TARGET.to_string()]));
        assert_eq!(
            s.node_pool(estate::DR_CLUSTER, estate::POOL).map(|p| p.0),
            Some(6)
        );
        assert_eq!(
            s.requests
                .iter()
                .filter(|r| r.ends_with("/switchover"))
                .count(),
            1
        );
        // The Python client asks for enum names (`alt=json`), never integers.
        assert_eq!(s.int_enum_replies, 0);
    });
}
