//! What a failover must never do, and what it must never claim: one test per defect the safety issue
//! names, written against the defect as a user sees it.

use serde_json::Value;

use crate::common::*;

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

/// The fixture without its `[[workloads]]` table.
fn plan_without_workloads(sim: &str) -> Env {
    let start = PLAN.find("[[workloads]]").expect("workloads table");
    let end = start + PLAN[start..].find("\n\n").expect("table end");
    let text = format!("{}{}", &PLAN[..start], &PLAN[end..])
        .replace("{EXTRA}", "")
        .replace("{SIM}", sim);
    Env::with_plan(&text)
}

/// Journal entries of a run, in order.
fn journal(env: &Env, run_id: &str) -> Vec<Value> {
    std::fs::read_to_string(env.state().join("runs").join(run_id).join("journal.jsonl"))
        .expect("journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("journal line"))
        .collect()
}

fn position(entries: &[Value], event: &str, step: &str) -> usize {
    entries
        .iter()
        .position(|e| e["event"] == event && e["step"] == step)
        .unwrap_or_else(|| panic!("no {event} of {step}"))
}

#[test]
fn traffic_never_moves_before_the_dr_node_pools_reach_production() {
    // No [[workloads]]: the node pools are the only capacity, and they boot slowly.
    let env = plan_without_workloads("");
    let slow = std::fs::read_to_string(env.path().join("aegis.toml"))
        .expect("plan")
        .replace("node_boot = \"120ms\"", "node_boot = \"700ms\"");
    std::fs::write(env.path().join("aegis.toml"), slow).expect("write");

    let out = env.run(&["plan", "--output", "json"]);
    let doc = json(&out);
    assert!(
        doc["critical_path"]
            .as_array()
            .expect("critical path")
            .iter()
            .any(|s| s == "scale-dr-nodes"),
        "the node boot is on the critical path: {doc}"
    );

    for op in ["drill"] {
        let out = env.run(&[op, "--yes", "--output", "json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let doc = json(&out);
        let run_id = doc["run_id"].as_str().expect("run id");
        let j = journal(&env, run_id);
        for (prefix, pools, site) in [
            ("failover.", "scale-dr-nodes", "dr"),
            ("failback.", "scale-primary-nodes", "primary"),
        ] {
            let ready = position(&j, "step_succeeded", &format!("{prefix}{pools}"));
            let dns = position(&j, "step_started", &format!("{prefix}switch-dns-to-{site}"));
            let verify = position(&j, "step_started", &format!("{prefix}verify-{site}"));
            assert!(
                ready < dns && ready < verify,
                "{prefix}: DNS or verification before {pools}"
            );
        }
        let verify = step(&doc, "failover.verify-dr")["summary"]
            .as_str()
            .expect("summary")
            .to_string();
        assert!(verify.contains("node pools at production"), "{verify}");
        assert!(
            !verify.contains("workloads"),
            "no workloads were checked: {verify}"
        );
    }
}

#[test]
fn with_the_primary_declared_unreachable_its_steps_are_skipped_at_once() {
    let env = Env::new("primary_reachable = false", "");
    let t0 = std::time::Instant::now();
    let out = env.run(&[
        "failover",
        "--yes",
        "--primary-unreachable",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    for id in ["drain-primary", "fence-primary-db"] {
        let s = step(&doc, id);
        assert_eq!(s["status"], "skipped", "{s}");
        assert_eq!(s["retries"], 0, "{s}");
        assert!(
            s["summary"]
                .as_str()
                .expect("summary")
                .contains("unreachable, as declared"),
            "{s}"
        );
    }
    // Every retry of a call to the primary costs a backoff: none were made.
    let retries: u64 = doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["retries"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(retries, 0, "{doc}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(20));
    let md = std::fs::read_to_string(
        env.state()
            .join("runs")
            .join(doc["run_id"].as_str().expect("id"))
            .join("report.md"),
    )
    .expect("report.md");
    assert!(md.contains("| drain-primary | Skipped |"), "{md}");
}

#[test]
fn verification_fails_when_the_other_database_may_take_writes() {
    // A network partition moves no data: the primary database stays the writable one and the DR
    // instance must be fenced or replicating from it. Detach the DR instance behind aegis-dr's back
    // (an unfenced standalone: a second writer) and the DR verification must not pass.
    let env = Env::new(
        "",
        "[targets.network-partition]\nrto = \"2s\"\nrpo = \"0s\"",
    );
    let out = env.run(&["drill", "--yes", "--class", "network-partition"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let world_path = env.state().join("sim-world.json");
    let mut w: Value =
        serde_json::from_str(&std::fs::read_to_string(&world_path).expect("world")).expect("json");
    let dr = &mut w["databases"]["orders-euc1"];
    dr["role"] = Value::from("standalone");
    dr["fenced"] = Value::Bool(false);
    dr["replicating_from"] = Value::Null;
    std::fs::write(&world_path, w.to_string()).expect("write world");

    let out = env.run(&[
        "failover",
        "--yes",
        "--class",
        "network-partition",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc = json(&out);
    let v = step(&doc, "verify-dr");
    assert_eq!(v["status"], "failed", "{v}");
    assert!(
        v["errors"].to_string().contains(
            "orders-euc1 at the dr site is an unfenced Standalone and may take writes (split brain)"
        ),
        "{v}"
    );
}

#[test]
fn the_resolution_names_the_site_it_verified_and_only_the_checks_it_ran() {
    let env = Env::new(
        "",
        "[[notifications]]\nkind = \"file\"\npath = \"notes.jsonl\"\n",
    );
    let out = env.run(&["failover", "--yes", "--class", "database-corruption"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let notes = std::fs::read_to_string(env.path().join("notes.jsonl")).expect("notes");
    let resolution = notes
        .lines()
        .find(|l| l.contains("\"resolution\""))
        .expect("resolution notice");
    assert!(
        resolution.contains("service verified on the primary site"),
        "{resolution}"
    );
    assert!(!resolution.contains("DR site"), "{resolution}");
}

#[test]
fn plan_and_dry_run_have_no_side_effects() {
    let env = Env::default();
    for args in [
        &["plan"][..],
        &["plan", "--operation", "drill", "--output", "json"],
        &["failover", "--dry-run"],
        &["failback", "--dry-run"],
    ] {
        let out = env.run(args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    }
    assert!(
        !env.state().exists(),
        "plan wrote into the state folder: {:?}",
        std::fs::read_dir(env.state()).map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
    );

    // An AWS plan whose kubeconfig cannot be read still prints its graph.
    let text = PLAN
        .replace("{EXTRA}", "")
        .replace("{SIM}", "")
        .replace("provider = \"sim\"", "provider = \"aws\"")
        .replace(
            "cluster = \"prod\"",
            "cluster = \"prod\"\nkubeconfig = \"no-such-kubeconfig.yaml\"",
        );
    let env = Env::with_plan(&text);
    let out = env.run(&["plan", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["status"], "planned");
    assert!(!env.state().exists());
}

#[test]
fn an_unreachable_cloud_endpoint_gives_one_readable_line_per_problem() {
    // The runbook's AWS estate, without its Kubernetes contexts, against a closed loopback port.
    let text: String = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/aws.toml"
    ))
    .expect("examples/aws.toml")
    .lines()
    .filter(|l| !l.starts_with("context") && !l.starts_with("kubeconfig"))
    .map(|l| format!("{l}\n"))
    .collect();
    let env = Env::with_plan(&format!(
        "{text}\n[execution]\nretry_attempts = 2\nretry_base_delay = \"5ms\"\n"
    ));
    let out = env
        .command(&["check"])
        .env_remove("AWS_PROFILE")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("runs");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("orders-db-usw2]: read database status: rds:DescribeDBInstances: could not reach the endpoint"),
        "{text}"
    );
    for dump in ["DispatchFailure", "ConnectorError", "{ source", "Some("] {
        assert!(!text.contains(dump), "SDK debug output `{dump}`: {text}");
    }
}

#[test]
fn webhook_secrets_never_reach_output_reports_or_the_journal() {
    // Nothing listens on port 9: the POSTs fail, and their errors are journaled too.
    let sinks = "[[notifications]]\nkind = \"webhook\"\nurl = \"http://bot:pa55word@127.0.0.1:9/services/T0/B0/tok3nInPath?sig=qu3rySecret\"\n\n\
                 [[notifications]]\nkind = \"webhook\"\nurl_env = \"AEGIS_TEST_HOOK\"\n";
    let env = Env::new("", sinks);
    let out = env
        .command(&["failover", "--yes", "--class", "network-partition"])
        .env(
            "AEGIS_TEST_HOOK",
            "http://127.0.0.1:9/hooks/envT0ken?key=envQu3ry",
        )
        .output()
        .expect("runs");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let run_dir = env
        .state()
        .join("runs")
        .join(env.runs().pop().expect("run"));
    let mut seen = vec![stdout(&out), stderr(&out)];
    for f in ["journal.jsonl", "report.json", "report.md"] {
        seen.push(std::fs::read_to_string(run_dir.join(f)).expect(f));
    }
    seen.push(stdout(&env.run(&["report", "--output", "json"])));
    for text in &seen {
        for secret in [
            "pa55word",
            "tok3nInPath",
            "qu3rySecret",
            "envT0ken",
            "envQu3ry",
            "bot:",
        ] {
            assert!(!text.contains(secret), "`{secret}` leaked in:\n{text}");
        }
    }
    let journal = &seen[2];
    assert!(
        journal.contains("webhook:http://127.0.0.1:9/…"),
        "{journal}"
    );
    assert!(journal.contains("($AEGIS_TEST_HOOK)"), "{journal}");

    // A missing variable is said plainly, and the run goes on.
    let out = env.run(&["failback", "--yes", "--force", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert!(
        doc["notifications"]
            .to_string()
            .contains("environment variable AEGIS_TEST_HOOK (url_env) is not set"),
        "{doc}"
    );
}

/// Escalation lines written to the file sink `path`.
fn escalations_in(env: &Env, path: &str) -> Vec<Value> {
    std::fs::read_to_string(env.path().join(path))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("line"))
        .filter(|m| m["template"] == "escalation")
        .collect()
}

#[test]
fn an_unhealthy_dr_site_and_two_failed_sites_escalate_each_to_their_route() {
    let routes = "[[notifications]]\nkind = \"file\"\npath = \"platform.jsonl\"\nname = \"platform\"\n\n\
                  [[notifications]]\nkind = \"file\"\npath = \"exec.jsonl\"\nname = \"exec\"\n\n\
                  [escalations.dr-environment-unhealthy]\nnotify = [\"platform\"]\n\n\
                  [escalations.both-sites-down]\nnotify = [\"exec\"]\ncontact = \"the CTO on 555-0100\"\n\n\
                  [[sim.faults]]\noperation = \"probe\"\nresource = \"dr\"\nerror = \"permanent\"\ntimes = 0\n";
    let env = Env::new("", routes);
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let platform = escalations_in(&env, "platform.jsonl");
    assert_eq!(platform.len(), 1, "{platform:?}");
    assert_eq!(platform[0]["fields"]["reason"], "dr-environment-unhealthy");
    assert!(platform[0]["text"]
        .as_str()
        .expect("text")
        .contains("Contact the platform team"));
    assert!(escalations_in(&env, "exec.jsonl").is_empty());

    // The primary is down as well: both sites, to the executive route with its contact.
    let env = Env::new("primary_reachable = false", routes);
    let out = env.run(&["failover", "--yes", "--primary-unreachable"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let exec = escalations_in(&env, "exec.jsonl");
    assert_eq!(exec.len(), 1, "{exec:?}");
    assert_eq!(exec[0]["fields"]["reason"], "both-sites-down");
    assert!(exec[0]["text"]
        .as_str()
        .expect("text")
        .contains("Contact the CTO on 555-0100"));
    assert!(escalations_in(&env, "platform.jsonl").is_empty());

    // A route naming no sink is a config error naming it.
    let env = Env::new("", "[escalations.both-sites-down]\nnotify = [\"nobody\"]\n");
    let out = env.run(&["plan"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("escalations.both-sites-down.notify"),
        "{}",
        stderr(&out)
    );
}
