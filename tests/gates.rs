//! Safety gates through the CLI: exit 3 for refusals, and their overrides.

use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn rpo_gate_refuses_with_exit_3_and_accept_data_loss_overrides() {
    let env = Env::new("replication_lag = \"6m\"\ncatch_up_speed = 1000.0", "");
    let before = env.world_or_none();
    let out = env.run(&["failover", "--yes", "--output", "json"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["status"], "refused");
    assert!(
        stderr(&out).contains("replication lag 6m exceeds the RPO of 5m"),
        "{}",
        stderr(&out)
    );
    if let Some(before) = before {
        assert_eq!(env.world(), before);
    }
    let out = env.run(&[
        "failover",
        "--yes",
        "--accept-data-loss",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["flags"]["accept_data_loss"], true);
}

#[test]
fn a_class_with_a_tighter_rpo_refuses_smaller_lag() {
    // 90 s of lag is within a region outage's 5 min but beyond database corruption's 1 min; a network
    // partition moves no data, so lag does not gate it.
    let env = Env::new("replication_lag = \"90s\"", "");
    let out = env.run(&["failover", "--yes", "--class", "database-corruption"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("RPO of 1m"), "{}", stderr(&out));
    let out = env.run(&[
        "failover",
        "--yes",
        "--class",
        "network-partition",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["achieved"]["rpo_seconds"], 0.0);
}

#[test]
fn destructive_commands_need_confirmation_off_a_terminal() {
    let env = Env::default();
    let out = env.run(&["failover"]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert!(env.runs().is_empty());
}

#[test]
fn a_second_concurrent_run_is_refused_naming_the_holder() {
    let env = Env::new("", "");
    // Make the first run slow: nodes take 3 s to boot.
    let slow = std::fs::read_to_string(env.path().join("aegis.toml"))
        .expect("plan")
        .replace("node_boot = \"120ms\"", "node_boot = \"3s\"");
    std::fs::write(env.path().join("aegis.toml"), slow).expect("write");
    let mut first = env.command(&["failover", "--yes"]).spawn().expect("spawn");
    let lock = env.state().join("locks").join("e2e.lock");
    let t0 = Instant::now();
    while std::fs::read_to_string(&lock)
        .map(|s| s.is_empty())
        .unwrap_or(true)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let holder = std::fs::read_to_string(&lock).expect("lock");
    let out = env.run(&["failover", "--yes"]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("holds the lock"), "{err}");
    let run_id = holder.split_whitespace().nth(1).expect("run id in lock");
    assert!(err.contains(run_id), "names the holder {run_id}: {err}");
    // Once the holder is gone (killed), the lock is free: the run resumes.
    let out = env.run(&["failover", "--yes", "--resume", run_id, "--output", "json"]);
    assert!(matches!(code(&out), 0 | 1), "{}", stderr(&out));
}

#[test]
fn an_unreachable_primary_needs_the_flag() {
    let env = Env::new("primary_reachable = false", "");
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("--primary-unreachable"));
    let run_id = env.runs().pop().expect("run recorded");
    let out = env.run(&[
        "failover",
        "--yes",
        "--primary-unreachable",
        "--resume",
        &run_id,
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert!(doc["achieved"]["rpo_seconds"].as_f64().expect("rpo") >= 0.15);
    assert_eq!(doc["run_id"], run_id.as_str());
}

impl Env {
    fn world_or_none(&self) -> Option<serde_json::Value> {
        self.state()
            .join("sim-world.json")
            .exists()
            .then(|| self.world())
    }
}
