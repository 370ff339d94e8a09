//! `aegis-dr rollback`: a stopped failover's changes undone in reverse, as a run of its own, and
//! the plan's `on_failure = "rollback"`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

const DNS_FAULT: &str =
    "[[sim.faults]]\noperation = \"upsert_record\"\nerror = \"permanent\"\ntimes = 1";

fn step_ids(doc: &Value) -> Vec<String> {
    doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect()
}

/// Each pool's desired size and each workload group's replicas, as `estate` reads them.
fn sizes(env: &Env) -> Vec<String> {
    let doc = json(&env.run(&["estate", "--output", "json"]));
    let mut out = Vec::new();
    for p in doc["estate"]["pools"].as_array().expect("pools") {
        out.push(format!("{} {}", p["name"], p["desired"]));
    }
    for w in doc["estate"]["workloads"].as_array().expect("workloads") {
        out.push(format!("{} {} {}", w["name"], w["site"], w["replicas"]));
    }
    out
}

fn whole_on_primary(env: &Env) {
    let out = env.run(&["estate"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("the estate is whole: the primary site serves"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_failover_stopped_at_dns_is_rolled_back_and_cannot_be_resumed_after() {
    let env = Env::new("", DNS_FAULT);
    let before = sizes(&env);
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let id = env.runs().pop().expect("run");

    let out = env.run(&["rollback", &id, "--yes", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["operation"], "rollback");
    assert_eq!(doc["undoes"], id.as_str(), "{doc}");
    let steps = step_ids(&doc);
    // What the failover did, undone in the failback's order; no stability gate.
    for s in [
        "promote-primary-db",
        "undrain-primary",
        "switch-dns-to-primary",
        "scale-dr-workloads",
        "scale-dr-nodes",
        "verify-primary",
    ] {
        assert!(steps.iter().any(|x| x == s), "{s} missing: {steps:?}");
    }
    assert!(!steps.iter().any(|x| x == "stable-gate"), "{steps:?}");
    let pos = |s: &str| steps.iter().position(|x| x == s).expect("step");
    assert!(pos("promote-primary-db") < pos("verify-primary"));
    whole_on_primary(&env);
    // The pools and workloads are back at their standby sizes, as before the failover.
    assert_eq!(
        sizes(&env),
        before,
        "the rollback restores what the failover changed"
    );

    let out = env.run(&["failover", "--yes", "--resume", &id]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("moved on"), "{}", stderr(&out));
}

#[test]
fn a_rollback_undoes_only_what_ran() {
    // Fencing fails: nothing was promoted and DNS never moved, so the rollback lifts the fence
    // and the drain, and touches neither replication nor DNS.
    let env = Env::new(
        "",
        "[[sim.faults]]\noperation = \"fence_database\"\nerror = \"permanent\"\ntimes = 1",
    );
    assert_eq!(code(&env.run(&["failover", "--yes"])), 1);
    let id = env.runs().pop().expect("run");
    let out = env.run(&["rollback", &id, "--yes", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let steps = step_ids(&json(&out));
    assert!(
        steps.iter().any(|s| s == "promote-primary-db")
            && steps.iter().any(|s| s == "undrain-primary"),
        "{steps:?}"
    );
    for s in [
        "switch-dns-to-primary",
        "lower-ttl",
        "drain-dr",
        "resync-primary-db",
    ] {
        assert!(!steps.iter().any(|x| x == s), "{s} ran: {steps:?}");
    }
    whole_on_primary(&env);
}

#[test]
fn on_failure_rollback_rolls_back_at_once_and_tells_the_sinks() {
    let env = Env::new(
        "",
        &format!(
            "{DNS_FAULT}\n\n[targets.region-outage]\non_failure = \"rollback\"\n\n[[notifications]]\nkind = \"file\"\npath = \"messages.jsonl\""
        ),
    );
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 1, "the failover failed: {}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the plan's on_failure = rollback ran rollback") && err.contains("succeeded"),
        "{err}"
    );
    whole_on_primary(&env);
    let runs = env.runs();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs[1].contains("-rollback-"), "{runs:?}");
    let messages = std::fs::read_to_string(env.path().join("messages.jsonl")).expect("sink");
    assert!(
        messages.contains("Rolling back now to the primary site"),
        "{messages}"
    );
    let out = env.run(&["plan"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn what_a_rollback_cannot_undo_is_refused() {
    let env = Env::default();
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = env.runs().pop().expect("run");
    let out = env.run(&["rollback", &id, "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("undo a completed failover with `aegis-dr failback`"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["rollback", "no-such-run", "--yes"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = env.run(&["rollback", &id]);
    assert_eq!(
        code(&out),
        3,
        "needs --yes off a terminal: {}",
        stderr(&out)
    );

    // A failback that fails (its backup) is not a rollback's to undo.
    let env = Env::new(
        "",
        "[[sim.faults]]\noperation = \"create_snapshot\"\nerror = \"permanent\"\ntimes = 1",
    );
    assert_eq!(code(&env.run(&["failover", "--yes"])), 0);
    let failover = env.runs().pop().expect("run");
    let out = env.run(&["failback", "--yes"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let failback = env
        .runs()
        .into_iter()
        .find(|r| r.contains("-failback-"))
        .expect("failback run");
    let out = env.run(&["rollback", &failback, "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("is a failback"), "{}", stderr(&out));
    assert_ne!(failover, failback);
}

#[test]
fn a_killed_rollback_resumes_to_its_end() {
    let env = Env::new("node_boot = \"3s\"", DNS_FAULT);
    assert_eq!(code(&env.run(&["failover", "--yes"])), 1);
    let id = env.runs().pop().expect("run");
    let mut child = env
        .command(&["rollback", &id, "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let t0 = Instant::now();
    let rb = loop {
        let started = env.journaled_runs().into_iter().find(|r| {
            r.contains("-rollback-")
                && std::fs::read_to_string(env.state().join("runs").join(r).join("journal.jsonl"))
                    .unwrap_or_default()
                    .contains("\"step\":\"scale-dr-nodes\"")
        });
        if let Some(r) = started {
            break r;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "never started");
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = child.kill();
    let _ = child.wait();
    let out = env.run(&["rollback", "--resume", &rb, "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    whole_on_primary(&env);
}

#[test]
fn a_recovery_point_in_time_is_chosen_and_named_in_the_report() {
    let env = Env::default();
    // Three hours ago, as RFC 3339: each server's newest point taken at or before it.
    let at = std::time::SystemTime::now() - Duration::from_secs(3 * 3600);
    let at = humantime_like(at);
    let out = env.run(&["failover", "--yes", "--recovery-point", "no-such-point"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("neither an RFC 3339 time nor a recovery point"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["failover", "--yes", "--recovery-point", &at]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the chosen recovery point") && stderr(&out).contains("RPO"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&[
        "failover",
        "--yes",
        "--accept-data-loss",
        "--recovery-point",
        &at,
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["recovery_point"], at.as_str());
    let summary = step(&doc, "recover-servers")["summary"]
        .as_str()
        .expect("summary")
        .to_string();
    assert!(
        summary.contains("from the chosen recovery point(s) s-billing: pit-s-billing-"),
        "{summary}"
    );
    // The data lost is the chosen point's age: three hours or more, never the newest point's.
    let rpo = doc["achieved"]["rpo_seconds"].as_f64().expect("rpo");
    assert!(rpo >= 3.0 * 3600.0, "{rpo}");

    // A resumed failover keeps the point it started with.
    let id = env.runs().pop().expect("run");
    let out = env.run(&[
        "failover",
        "--yes",
        "--resume",
        &id,
        "--recovery-point",
        &at,
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("keeps the recovery point"),
        "{}",
        stderr(&out)
    );
}

/// The DRS backout in full: a failback whose job fails is backed out (DR keeps serving); resumed
/// with a chosen recovery point, it relaunches the DR instances from that point, retires the ones
/// they replace, and fails back.
#[test]
fn a_backed_out_failback_relaunches_from_a_chosen_point_then_fails_back() {
    let env = Env::new(
        "",
        "[[sim.faults]]\noperation = \"start_failback\"\nerror = \"job-failure\"\ntimes = 1",
    );
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let instances = |env: &Env| {
        let w: Value = serde_json::from_str(
            &std::fs::read_to_string(env.state().join("sim-world.json")).expect("world"),
        )
        .expect("world json");
        let mut ids: Vec<String> = w["recovery_instances"]
            .as_object()
            .expect("instances")
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    };
    let before = instances(&env);
    assert_eq!(before.len(), 1, "{before:?}");

    let out = env.run(&["failback", "--yes"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("backed out with stop_failback"), "{err}");
    assert!(err.contains("--recovery-point TIME|ID"), "{err}");
    let id = env
        .runs()
        .into_iter()
        .find(|r| r.contains("-failback-"))
        .expect("the failback run");
    // Resumed as it is, the backed-out instance cannot fail back: the error says how to go on.
    let out = env.run(&["failback", "--yes", "--resume", &id]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("failback cannot start") && stderr(&out).contains("--recovery-point"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        instances(&env),
        before,
        "nothing relaunched without a point"
    );

    // Two hours back is beyond the RPO: refused until the data loss is accepted.
    let at = humantime_like(std::time::SystemTime::now() - Duration::from_secs(2 * 3600));
    let out = env.run(&[
        "failback",
        "--yes",
        "--resume",
        &id,
        "--recovery-point",
        &at,
    ]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("RPO"), "{}", stderr(&out));
    assert_eq!(instances(&env), before);
    let out = env.run(&[
        "failback",
        "--yes",
        "--accept-data-loss",
        "--resume",
        &id,
        "--recovery-point",
        &at,
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(
        doc["recovery_point"],
        at.as_str(),
        "the report names the point"
    );
    let summary = step(&doc, "failback-servers")["summary"]
        .as_str()
        .expect("summary")
        .to_string();
    assert!(
        summary.contains("from the chosen recovery point(s) s-billing: pit-s-billing-")
            && summary.contains(&format!("replacing {}", before[0]))
            && summary.contains("failed back and re-protected"),
        "{summary}"
    );
    // The relaunched instance was failed back and re-protected; the one it replaced is gone.
    assert!(instances(&env).is_empty(), "{:?}", instances(&env));
    whole_on_primary(&env);
    let out = env.run(&["report", &id]);
    assert!(stdout(&out).contains(&at), "{}", stdout(&out));
}

/// `t` as RFC 3339 in UTC, to the second.
fn humantime_like(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_rollback_never_undoes_a_run_the_estate_moved_on_from() {
    let env = Env::new("", DNS_FAULT);
    assert_eq!(code(&env.run(&["failover", "--yes"])), 1);
    let stopped = env.runs().pop().expect("run");
    // It is resumed to its end (the fault fired once): rolling it back now would undo what serves.
    let out = env.run(&["failover", "--yes", "--resume", &stopped]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["rollback", &stopped, "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("completed"), "{}", stderr(&out));

    // A stopped failover superseded by a later one that succeeded is not rolled back either.
    let env = Env::new("", DNS_FAULT);
    assert_eq!(code(&env.run(&["failover", "--yes"])), 1);
    let stopped = env.runs().pop().expect("run");
    assert_eq!(code(&env.run(&["failover", "--yes"])), 0);
    let out = env.run(&["rollback", &stopped, "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("moved on"), "{}", stderr(&out));
    assert_eq!(
        env.runs().len(),
        2,
        "no rollback run was made: {:?}",
        env.runs()
    );
}

#[test]
fn an_interrupted_run_is_given_up_on_only_when_its_rollback_starts() {
    let env = Env::new("node_boot = \"3s\"", "");
    let child = env.spawn(&["failover", "--yes"]);
    let t0 = Instant::now();
    let id = loop {
        let found = env.journaled_runs().into_iter().find(|r| {
            std::fs::read_to_string(env.state().join("runs").join(r).join("journal.jsonl"))
                .unwrap_or_default()
                .contains("\"step\":\"fence-primary-db\"")
        });
        if let Some(r) = found {
            break r;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "never fenced");
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    // Another run's folder that cannot be read blocks the rollback: the interrupted run stays
    // interrupted (not abandoned in the name of a rollback that never ran).
    let bad = env
        .state()
        .join("runs")
        .join("20200101T000000Z-failover-bad0");
    std::fs::create_dir_all(&bad).expect("mkdir");
    std::fs::write(bad.join("journal.jsonl"), "{broken\n").expect("write");
    let out = env.run(&["rollback", &id, "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("blocks a rollback"),
        "{}",
        stderr(&out)
    );
    let doc = json(&env.run(&["status", &id, "--output", "json"]));
    assert_eq!(doc["status"], "interrupted", "{doc}");

    std::fs::remove_dir_all(&bad).expect("rm");
    let out = env.run(&["rollback", &id, "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&env.run(&["status", &id, "--output", "json"]));
    assert_eq!(doc["status"], "abandoned", "{doc}");
    assert!(
        doc["abandoned"]
            .as_str()
            .is_some_and(|a| a.contains("rolled back by run")),
        "{doc}"
    );
    whole_on_primary(&env);
}
