//! What a failover must never do, and what it must never claim (each test failed before its fix).

use serde_json::Value;

use crate::common::*;

fn step<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {doc}"))
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn an_unknown_replication_lag_is_never_read_as_zero() {
    // Replicas replicate but publish no lag (an RDS replica with no `ReplicaLag` datapoint).
    let env = Env::new("lag_reported = false", "");

    // The check says what it knows: replicating, lag unknown; and fails.
    let out = env.run(&["check", "--output", "json"]);
    let doc = json(&out);
    let lag = doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "replication-lag")
        .expect("replication-lag check")
        .clone();
    assert_eq!(lag["status"], "fail", "{lag}");
    let ev = lag["evidence"].as_str().expect("evidence");
    assert!(
        ev.contains("lag unknown") && !ev.contains("not replicating"),
        "{ev}"
    );

    // The RPO gate refuses an unmeasured lag, and nothing changes.
    let out = env.run(&["failover", "--yes", "--output", "json"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("replication lag is unknown"),
        "{}",
        stderr(&out)
    );
    let doc = json(&out);
    assert_eq!(doc["achieved"]["rpo_seconds"], Value::Null);

    // With consent the run proceeds, and the report says the RPO is unknown, not 0.
    let out = env.run(&[
        "failover",
        "--yes",
        "--accept-data-loss",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["achieved"]["rpo_seconds"], Value::Null, "{doc}");
    assert_eq!(doc["achieved"]["rpo_unknown"], true);
    assert_eq!(doc["achieved"]["within_targets"], Value::Null);
    let promote = step(&doc, "promote-dr-db");
    let summary = promote["summary"].as_str().expect("summary");
    assert!(summary.contains("data loss window unknown"), "{summary}");
    assert!(!summary.contains("window 0ms"), "{summary}");
    let run_id = doc["run_id"].as_str().expect("run id");
    let md = std::fs::read_to_string(env.state().join("runs").join(run_id).join("report.md"))
        .expect("report.md");
    assert!(md.contains("RPO | achieved **unknown**"), "{md}");
}

#[test]
fn a_measured_lag_still_gives_a_zero_rpo_for_a_planned_promotion() {
    let env = Env::default();
    let out = env.run(&["failover", "--yes", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let summary = step(&doc, "promote-dr-db")["summary"]
        .as_str()
        .expect("summary")
        .to_string();
    assert!(
        summary.contains("Planned, data loss window 0ms"),
        "{summary}"
    );
    assert_eq!(doc["achieved"]["rpo_unknown"], false);
}

#[test]
fn rto_figures_keep_enough_precision_that_a_miss_never_reads_as_met() {
    // An RTO of 1 s that the run misses by a fraction of a second.
    let env = Env::new(
        "node_boot = \"1200ms\"",
        "[targets.region-outage]\nrto = \"1s\"\nrpo = \"5m\"",
    );
    let out = env.run(&["failover", "--yes", "--force", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["achieved"]["within_targets"], false, "{doc}");
    let preflight = step(&doc, "preflight");
    let note = preflight["data"]["notes"].to_string();
    // "estimated 1.x s exceeds the RTO of 1s", never "1s exceeds 1s".
    assert!(note.contains("exceeds the RTO of 1s"), "{note}");
    assert!(!note.contains("duration 1s exceeds"), "{note}");
    let run_id = doc["run_id"].as_str().expect("run id");
    let md = std::fs::read_to_string(env.state().join("runs").join(run_id).join("report.md"))
        .expect("report.md");
    let rto_line = md
        .lines()
        .find(|l| l.starts_with("| RTO |"))
        .expect("RTO line");
    assert!(rto_line.contains("(**missed**)"), "{rto_line}");
    assert!(!rto_line.contains("achieved 1s "), "{rto_line}");
}
