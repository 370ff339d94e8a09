//! Runs over time: interrupted and abandoned runs, superseded runs, the failback of the last
//! failover, `status` and `report`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// Starts `args` and kills it (SIGKILL) once its journal shows `step` started.
fn kill_at_step(env: &Env, args: &[&str], step: &str) -> String {
    let mut child = env.command(args).spawn().expect("spawn");
    let t0 = Instant::now();
    let started = |id: &str| {
        std::fs::read_to_string(env.state().join("runs").join(id).join("journal.jsonl"))
            .unwrap_or_default()
            .contains(&format!("\"step\":\"{step}\""))
    };
    let found = loop {
        if let Some(id) = env.journaled_runs().pop().filter(|id| started(id)) {
            break Some(id);
        }
        if t0.elapsed() > Duration::from_secs(30) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = child.kill();
    let _ = child.wait();
    found.unwrap_or_else(|| panic!("{step} never started"))
}

fn slow_nodes_env() -> Env {
    Env::new("node_boot = \"2s\"", "")
}

#[test]
fn a_killed_run_is_interrupted_and_blocks_new_runs_until_resumed_or_abandoned() {
    let env = slow_nodes_env();
    let id = kill_at_step(&env, &["failover", "--yes"], "scale-dr-nodes");

    // `status` tells it apart from a running one and says how to continue, from any folder.
    let out = env.run(&["status"]);
    let text = stdout(&out);
    assert!(text.starts_with("RUN "), "header row: {text}");
    let line = text.lines().find(|l| l.starts_with(&id)).expect("listed");
    assert!(line.contains("interrupted"), "{text}");
    let config = env.path().join("aegis.toml");
    assert!(
        text.contains(&format!("--config {}", config.display()))
            && text.contains(&format!("--state-dir {}", env.state().display()))
            && text.contains(&format!("failover --resume {id}")),
        "{text}"
    );

    // A new failover or failback is refused while it is interrupted.
    for op in ["failover", "failback"] {
        let out = env.run(&[op, "--yes"]);
        assert_eq!(code(&out), 3, "{op}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("run {id}")),
            "{}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("--abandon"), "{}", stderr(&out));
    }

    // Abandoning it needs a reason, is journaled, and lets a new run start.
    let out = env.run(&["failover", "--yes", "--abandon", &id]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = env.run(&[
        "failover",
        "--yes",
        "--abandon",
        &id,
        "--reason",
        "restored by hand from the console",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["status", &id, "--output", "json"]);
    let doc = json(&out);
    assert_eq!(doc["status"], "abandoned");
    assert!(doc["abandoned"]
        .as_str()
        .expect("why")
        .contains("restored by hand from the console"));

    // An abandoned run cannot be resumed.
    let out = env.run(&["failover", "--yes", "--resume", &id]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("abandoned"), "{}", stderr(&out));
}

#[test]
fn the_resume_hint_pastes_from_another_folder() {
    let env = Env::new(
        "",
        "[[sim.faults]]\noperation = \"promote_database\"\nerror = \"permanent\"",
    );
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    let hint = err
        .lines()
        .find_map(|l| l.split("go forward, once the cause is fixed: ").nth(1))
        .unwrap_or_else(|| panic!("no hint: {err}"));
    assert!(
        hint.contains("--config") && hint.contains("--state-dir"),
        "{hint}"
    );
    // `status RUN` shows the failed step's error.
    let id = env.runs().pop().expect("run");
    let text = stdout(&env.run(&["status", &id]));
    let promote = text
        .lines()
        .find(|l| l.contains("promote-dr-db"))
        .expect("promote line");
    assert!(
        promote.contains("failed") && promote.contains("error:"),
        "{text}"
    );
    // Pasted as printed (with its --yes; the fault fires once), from a folder with no plan: it resumes.
    let out = run_printed(hint);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_run_superseded_by_a_later_completed_run_cannot_be_resumed() {
    // The failover fails at the DNS switch, after the promotion.
    let env = Env::new(
        "",
        "[[sim.faults]]\noperation = \"upsert_record\"\nerror = \"permanent\"",
    );
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let failed = env.runs().pop().expect("run");
    // The team restores service with a failback.
    let out = env.run(&["failback", "--yes", "--force", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let later = json(&out)["run_id"].as_str().expect("id").to_string();
    let before = env.world();
    let out = env.run(&["failover", "--yes", "--resume", &failed]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("run {later} (failback")),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.world(), before, "nothing changed");
}

#[test]
fn a_failback_undoes_the_last_failover_under_its_class() {
    let env = Env::default();
    let out = env.run(&[
        "failover",
        "--yes",
        "--class",
        "database-corruption",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let failover = json(&out)["run_id"].as_str().expect("id").to_string();

    let out = env.run(&["failback", "--yes", "--class", "region-outage"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("database-corruption"),
        "{}",
        stderr(&out)
    );

    let out = env.run(&["failback", "--yes", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["class"], "database-corruption");
    assert_eq!(doc["undoes"], failover.as_str());
    assert_eq!(doc["targets"]["rto_seconds"], 900.0);
    let ids: Vec<&str> = doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    // The failover moved only the databases: DR workloads never served, DNS never moved.
    for absent in [
        "drain-dr",
        "switch-dns-to-primary",
        "scale-dr-workloads",
        "lower-ttl",
    ] {
        assert!(!ids.contains(&absent), "{absent} in {ids:?}");
    }
    for present in [
        "drain-primary",
        "fence-dr-db",
        "promote-primary-db",
        "undrain-primary",
    ] {
        assert!(ids.contains(&present), "{present} missing from {ids:?}");
    }
    let w = env.world();
    assert_eq!(w["databases"]["orders-euw1"]["role"], "primary");
    assert_eq!(w["databases"]["orders-euc1"]["role"], "replica");
}

#[test]
fn a_corrupt_journal_hides_no_other_run() {
    let env = Env::default();
    for _ in 0..2 {
        let out = env.run(&["failover", "--yes", "--class", "network-partition"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let runs = env.runs();
    let bad = &runs[0];
    std::fs::write(
        env.state().join("runs").join(bad).join("journal.jsonl"),
        "not json\n{}\n",
    )
    .expect("corrupt");
    let out = env.run(&["status"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(bad.as_str()) && text.contains("UNREADABLE"),
        "{text}"
    );
    assert!(text.contains(&runs[1]), "{text}");
    let out = env.run(&["status", "--output", "json"]);
    let doc: Value = json(&out);
    assert_eq!(doc["runs"].as_array().expect("runs").len(), 2);
    let out = env.run(&["report", bad]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(&format!("run `{bad}` cannot be read")),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("line 1"), "{}", stderr(&out));
    // The newest readable run is still the default report.
    let out = env.run(&["report"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains(&runs[1]));
}

#[test]
fn a_failback_after_a_failover_that_fenced_but_never_promoted_lifts_the_fence() {
    let env = Env::new(
        "",
        "[[sim.faults]]\noperation = \"promote_database\"\nerror = \"permanent\"",
    );
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let w = env.world();
    assert_eq!(
        w["databases"]["orders-euw1"]["fenced"], true,
        "fenced by the failover"
    );
    assert_eq!(w["databases"]["orders-euw1"]["role"], "primary");

    let out = env.run(&["failback", "--yes", "--force", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let promote = step(&doc, "promote-primary-db");
    assert!(
        promote["summary"]
            .as_str()
            .expect("summary")
            .contains("fence lifted, no data moved"),
        "{promote}"
    );
    assert_eq!(doc["achieved"]["rpo_seconds"], 0.0);
    let w = env.world();
    assert_eq!(w["databases"]["orders-euw1"]["fenced"], false);
    assert_eq!(w["databases"]["orders-euw1"]["role"], "primary");
    assert_eq!(w["databases"]["orders-euc1"]["role"], "replica");
}
