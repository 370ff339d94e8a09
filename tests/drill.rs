//! The drill end to end, and the read-only commands around it.

use crate::common::*;

#[test]
fn drill_runs_failover_and_failback_and_prints_the_report() {
    let env = Env::default();
    let out = env.run(&["drill", "--yes", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["operation"], "drill");
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(doc["targets"]["rto_seconds"], 1800.0);
    assert_eq!(doc["targets"]["rpo_seconds"], 300.0);
    assert!(doc["achieved"]["rto_seconds"].as_f64().expect("rto") > 0.0);
    assert_eq!(doc["achieved"]["rpo_seconds"], 20.0);
    let run_id = doc["run_id"].as_str().expect("run id").to_string();
    let steps = doc["steps"].as_array().expect("steps");
    assert!(steps.len() > 20);
    assert!(steps.iter().all(|s| s["status"] == "succeeded"));
    let run_dir = env.state().join("runs").join(&run_id);
    assert!(run_dir.join("journal.jsonl").exists());
    let md = std::fs::read_to_string(run_dir.join("report.md")).expect("report.md");
    assert!(md.contains("failover.promote-dr-db") && md.contains("failback.verify-primary"));
    let rj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).expect("json"))
            .expect("parses");
    assert_eq!(rj["run_id"], run_id.as_str());

    // status and report read the same run.
    let out = env.run(&["status", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["runs"][0]["run_id"], run_id.as_str());
    let out = env.run(&["report"]);
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&run_id));
    let out = env.run(&["status", &run_id]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("succeeded"));
    let out = env.run(&["report", "no-such-run"]);
    assert_eq!(code(&out), 1, "an unknown run is not a usage error");
    assert!(stderr(&out).contains("no run `no-such-run`"));
}

#[test]
fn text_drill_prints_markdown_report() {
    let env = Env::default();
    let out = env.run(&["drill", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("# aegis-dr drill report"), "{text}");
    assert!(text.contains("| status | **succeeded** |"));
}

#[test]
fn plan_is_a_dry_run_with_an_estimate() {
    let env = Env::default();
    let out = env.run(&["plan", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["status"], "planned");
    assert!(doc["run_id"].is_null());
    assert_eq!(doc["within_rto"], true);
    assert!(doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .any(|s| s["id"] == "promote-dr-db"));
    let out = env.run(&[
        "failover",
        "--dry-run",
        "--output",
        "json",
        "--class",
        "network-partition",
    ]);
    assert_eq!(code(&out), 0);
    let doc = json(&out);
    assert_eq!(doc["targets"]["rpo_seconds"], 0.0);
    assert!(
        !doc["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .any(|s| s["id"] == "promote-dr-db"),
        "routing failover leaves the database"
    );
    assert!(
        !env.state().join("sim-world.json").exists(),
        "dry run writes no simulated world"
    );
    assert!(env.runs().is_empty(), "dry run records no run");
    let out = env.run(&["plan", "--operation", "failback"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("switch-dns-to-primary"));
}

#[test]
fn check_reports_each_check_and_fails_on_config_drift() {
    let env = Env::default();
    let out = env.run(&["check", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["status"], "pass");
    // The runbook's six, then recovery points, the plan, hooks, sinks and the estate.
    let names: Vec<&str> = doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "dr-nodes-ready",
            "replication-lag",
            "backup-age",
            "dns-ttl",
            "dr-config-matches",
            "dr-health",
            "recovery-points",
            "plan",
            "hooks",
            "sinks",
            "estate"
        ]
    );

    let env = Env::new(
        "config_drift = [\"production/api-config\"]\nbackup_age = \"7h\"",
        "",
    );
    let out = env.run(&["check"]);
    assert_eq!(code(&out), 1);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dr-config-matches    FAIL"), "{text}");
    assert!(text.contains("backup-age           FAIL"), "{text}");
    assert!(text.contains("keys differ: version"), "{text}");
    // A failing check refuses the failover (exit 3) unless --ignore-checks.
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("--ignore-checks"));
    let out = env.run(&["failover", "--yes", "--ignore-checks", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn failover_then_failback_with_transient_faults() {
    let env = Env::new("transient_fault_rate = 0.2\nseed = 11", "");
    let reference = Env::default();
    assert_eq!(code(&reference.run(&["failover", "--yes"])), 0);
    let out = env.run(&["failover", "--yes", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let retries: u64 = json(&out)["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["retries"].as_u64().unwrap_or(0))
        .sum();
    assert!(retries > 0, "faults were injected and retried");
    assert_eq!(
        env.world(),
        reference.world(),
        "same end state as without faults"
    );
    let out = env.run(&["failback", "--yes", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn the_multi_cloud_example_runs_on_the_simulated_estate_playing_both_clouds() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/multi-cloud.toml"
    ))
    .expect("examples/multi-cloud.toml");
    let env = Env::with_plan(&text);
    let o = env.run(&["drill", "--yes", "--output", "json"]);
    let r = json(&o);
    assert_eq!(code(&o), 0, "drill: {r:#}\n{}", stderr(&o));
    assert_eq!(r["status"], "succeeded");
    let calls = &r["provider_calls"];
    for p in ["aws", "azure"] {
        assert!(calls[p]["calls"].as_u64().unwrap_or(0) > 0, "{p}: {calls}");
    }
    // Nothing real is needed: the simulator plays both clouds.
    let o = env.run(&["permissions"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no provider permissions are needed"),
        "{}",
        stderr(&o)
    );
    // Without `plays`, the real Azure provider wants its settings (exit 2), before anything is built.
    let real = Env::with_plan(&text.replace("plays = [\"aws\", \"azure\"]", ""));
    let o = real.run(&["check"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no Azure subscription"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn plan_names_what_each_step_touches_and_a_closed_stdout_is_no_panic() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/multi-cloud.toml"
    ))
    .expect("examples/multi-cloud.toml");
    let env = Env::with_plan(&text);
    let o = env.run(&["plan", "--output", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let p = json(&o);
    let touches = |id: &str| step(&p, id)["touches"].as_array().expect("touches").clone();
    let dns = touches("switch-dns-to-dr");
    assert_eq!(dns[0]["provider"], "aws");
    assert_eq!(dns[0]["resource"], "api.aegis.io");
    assert!(dns[0]["operations"]
        .as_array()
        .expect("ops")
        .iter()
        .any(|o| o == "upsert_record"));
    let promote = touches("promote-dr-db");
    assert_eq!(promote[0]["provider"], "azure");
    assert_eq!(promote[0]["resource"], "orders-sql-neu");
    // `aegis-dr plan | head -1`: the reader goes away; the binary ends quietly. A thousand records
    // make the plan far larger than a pipe's buffer, so writing does meet the closed pipe.
    let records: String = (0..1000)
        .map(|i| {
            format!(
                "\n[[dns_records]]\nname = \"r{i}.aegis.io\"\nzone = \"aegis.io\"\n\
                 primary_target = \"a.aegis.io\"\ndr_target = \"b.aegis.io\"\nttl = 60\n"
            )
        })
        .collect();
    let env = Env::with_plan(&format!("{text}{records}"));
    let mut child = env
        .command(&["plan"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut first = [0u8; 8];
    std::io::Read::read_exact(child.stdout.as_mut().expect("stdout"), &mut first).expect("reads");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("ends");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
}
