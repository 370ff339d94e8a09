//! When a run goes wrong: every stop says what serves and both ways out, the sinks hear of it,
//! signals are journaled, and the defects found trying aegis-dr as a new user would stay fixed.

use serde_json::Value;

use crate::common::*;

/// The run whose journal has an entry of `step`, waited for while its process runs.
fn wait_for_step(env: &Env, step: &str) -> String {
    env.wait_for_entry(&format!("an entry of step {step}"), |e| e["step"] == step)
}

fn check_status(env: &Env, name: &str) -> String {
    let doc = json(&env.run(&["check", "--output", "json"]));
    doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {doc}"))["status"]
        .as_str()
        .expect("status")
        .to_string()
}

const DNS_FAULT: &str = r#"
[[sim.faults]]
operation = "upsert_record"
error = "permanent"
times = 1

[[notifications]]
kind = "file"
path = "messages.jsonl"
"#;

#[test]
fn a_run_stopped_after_the_point_of_no_return_says_service_is_down_and_both_ways_out() {
    let env = Env::new("", DNS_FAULT);
    // Before: whole, serving from the primary; `estate` and `check` agree.
    let out = env.run(&["estate"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("the estate is whole: the primary site serves"),
        "{}",
        stdout(&out)
    );

    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("consistent state"), "{err}");
    assert!(
        err.contains("what serves now: service DOWN: dns api.aegis.io points at the primary site, but database orders takes writes at the dr site (orders-euw1 is fenced)"),
        "{err}"
    );
    let forward = err
        .lines()
        .find_map(|l| l.strip_prefix("go forward, once the cause is fixed: "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        forward.contains("--config") && forward.contains("failover --resume"),
        "{forward}"
    );
    let back = err
        .lines()
        .find_map(|l| l.strip_prefix("or go back to the primary site: "))
        .unwrap_or_else(|| panic!("{err}"));
    let id = env.runs().pop().expect("run");
    assert!(back.ends_with(&format!("rollback {id} --yes")), "{back}");
    let back = back.to_string();

    // The sinks heard it: what serves and the ways out, as the run-stopped escalation.
    let messages = std::fs::read_to_string(env.path().join("messages.jsonl")).expect("sink");
    let stopped: Vec<Value> = messages
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("message"))
        .filter(|m| m["fields"]["reason"] == "run-stopped")
        .collect();
    assert_eq!(stopped.len(), 1, "{messages}");
    let text = stopped[0]["text"].as_str().expect("text");
    assert!(
        text.contains("service DOWN") && text.contains("--resume") && text.contains("rollback"),
        "{text}"
    );

    // `estate` and `check` say it is split; JSON names the verdict.
    let out = env.run(&["estate", "--output", "json"]);
    assert_eq!(code(&out), 1);
    let doc = json(&out);
    assert_eq!(doc["estate"]["verdict"], "split", "{doc}");
    assert_eq!(doc["estate"]["down"], true, "{doc}");
    assert_eq!(doc["last_run"]["status"], "failed", "{doc}");
    assert_eq!(check_status(&env, "estate"), "fail");

    // The way back, pasted as printed from another folder: the primary serves whole again.
    let out = run_printed(&back);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["estate"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(check_status(&env, "estate"), "pass");
}

#[test]
fn a_run_refused_at_its_gates_changed_nothing_and_says_so() {
    let env = Env::new("replication_lag = \"2h\"", "");
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("what serves now: the estate is whole: the primary site serves")
            && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(!err.contains("go back"), "{err}");
}

#[test]
fn sigterm_stops_starting_steps_journals_the_interruption_and_the_run_resumes() {
    let env = Env::new("node_boot = \"3s\"", "");
    let child = env.spawn(&["failover", "--yes"]);
    let id = wait_for_step(&env, "scale-dr-nodes");
    terminate(&child);
    let out = child.wait_with_output().expect("exits");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("SIGTERM"), "{err}");
    assert!(
        err.contains("was interrupted") && err.contains("--resume"),
        "{err}"
    );

    let entries = env.journal(&id);
    let finished = entries.last().expect("entries");
    assert_eq!(finished["event"], "run_finished", "{finished}");
    assert_eq!(finished["status"], "interrupted", "{finished}");
    assert!(
        finished["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("SIGTERM")),
        "{finished}"
    );
    // The running step was let finish; nothing after it started.
    let started = |step: &str| {
        entries
            .iter()
            .any(|e| e["event"] == "step_started" && e["step"] == step)
    };
    assert!(started("scale-dr-nodes"));
    assert!(!started("switch-dns-to-dr"), "{entries:?}");

    // It blocks a new run like a killed one, and resumes to the end.
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let out = env.run(&["failover", "--yes", "--resume", &id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_failed_recovery_job_is_not_adopted_again_on_resume() {
    let env = Env::new(
        "",
        "[[sim.faults]]\noperation = \"start_recovery\"\nerror = \"job-failure\"\ntimes = 1",
    );
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("did not launch"), "{}", stderr(&out));
    let id = env.runs().pop().expect("run");
    let out = env.run(&["failover", "--yes", "--resume", &id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let jobs: Vec<String> = env
        .journal(&id)
        .iter()
        .filter(|e| e["event"] == "step_checkpoint" && e["key"] == "job_id")
        .map(|e| e["value"].as_str().expect("job").to_string())
        .collect();
    assert_eq!(jobs.len(), 2, "a second job was launched: {jobs:?}");
    assert_ne!(jobs[0], jobs[1]);
}

#[test]
fn nothing_to_undo_is_refused_and_a_second_failover_does_nothing() {
    let env = Env::default();
    let out = env.run(&["failback", "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no completed failover of plan `e2e` to undo"),
        "{}",
        stderr(&out)
    );
    assert!(env.runs().is_empty(), "{:?}", env.runs());

    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already on DR") && stderr(&out).contains("nothing was done"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.runs().len(), 1, "{:?}", env.runs());
    let out = env.run(&["failback", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_failback_without_a_recorded_failover_runs_when_the_estate_is_on_dr() {
    let env = Env::default();
    assert_eq!(code(&env.run(&["failover", "--yes"])), 0);
    // The runs are lost (a new state folder), the estate stays on DR.
    std::fs::remove_dir_all(env.state().join("runs")).expect("rm runs");
    let out = env.run(&["failback", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn command_hooks_run_from_a_plan_named_without_a_folder_and_check_finds_missing_programs() {
    let env = Env::new(
        "",
        "[[hooks]]\nname = \"mark\"\ntype = \"command\"\nphases = [\"failover\"]\nafter = \"switch-dns-to-dr\"\ncommand = [\"sh\", \"-c\", \"pwd > hook-ran\"]",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aegis-dr"))
        .args(["--config", "aegis.toml", "failover", "--yes"])
        .current_dir(env.path())
        .env_remove("AEGIS_CONFIG")
        .env_remove("AEGIS_STATE_DIR")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ran = std::fs::read_to_string(env.path().join("hook-ran")).expect("the hook ran");
    assert_eq!(
        std::path::Path::new(ran.trim())
            .canonicalize()
            .expect("dir"),
        env.path().canonicalize().expect("dir")
    );

    let env = Env::new(
        "",
        "[[hooks]]\nname = \"gone\"\ntype = \"command\"\nphases = [\"failover\"]\nafter = \"declare\"\ncommand = [\"aegis-no-such-program\"]\n\n[[hooks]]\nname = \"nowhere\"\ntype = \"command\"\nphases = [\"failover\"]\nafter = \"declare\"\ncommand = [\"true\"]\nworkdir = \"no-such-folder\"\n\n[[notifications]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"",
    );
    let out = env.run(&["check"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let text = stdout(&out);
    let hooks = text
        .lines()
        .find(|l| l.starts_with("hooks "))
        .expect("hooks line");
    assert!(
        hooks.contains("FAIL")
            && hooks.contains("program `aegis-no-such-program` is not found on PATH")
            && hooks.contains("no-such-folder"),
        "{text}"
    );
    let sinks = text
        .lines()
        .find(|l| l.starts_with("sinks "))
        .expect("sinks line");
    assert!(
        sinks.contains("FAIL") && sinks.contains("127.0.0.1:9"),
        "{text}"
    );
    let out = env.run(&["plan"]);
    assert!(
        stderr(&out).contains("warning: hook `gone`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn http_hook_credentials_never_reach_output_reports_or_the_journal() {
    let env = Env::new(
        "",
        "[[hooks]]\nname = \"freeze\"\ntype = \"http\"\nphases = [\"failover\"]\nafter = \"declare\"\ntimeout = \"200ms\"\nmethod = \"POST\"\nurl = \"http://ops:pw-s3cret@127.0.0.1:9/freeze?api_key=KEY-s3cret\"",
    );
    let mut seen = String::new();
    for args in [
        &["failover", "--yes"][..],
        &["plan", "--output", "json"],
        &["plan", "--output", "html"],
        &["status"],
        &["report"],
    ] {
        let out = env.run(args);
        seen.push_str(&stdout(&out));
        seen.push_str(&stderr(&out));
    }
    for e in walk(&env.state()) {
        seen.push_str(&std::fs::read_to_string(e).unwrap_or_default());
    }
    assert!(seen.contains("127.0.0.1:9/freeze?api_key=…"), "{seen}");
    assert!(!seen.contains("s3cret"), "{seen}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_second_process_never_drives_a_live_run_whose_lock_file_was_deleted() {
    // The run waits for an approval: it stays live, deterministically, while the test acts.
    let env = Env::new(
        "",
        "[[hooks]]\nname = \"go\"\ntype = \"approval\"\nphases = [\"failover\"]\nbefore = \"promote-dr-db\"\ntimeout = \"10m\"",
    );
    let child = env.spawn(&["failover", "--yes"]);
    let id = wait_for_step(&env, "hook.go");
    std::fs::remove_file(env.state().join("locks").join("e2e.lock")).expect("rm lock");

    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("running in another process"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["failover", "--yes", "--resume", &id]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let out = env.run(&["failover", "--yes", "--abandon", &id, "--reason", "x"]);
    assert_ne!(code(&out), 0, "{}", stderr(&out));
    let line = stdout(&env.run(&["status"]));
    assert!(
        line.lines()
            .any(|l| l.starts_with(&id) && l.contains("running")),
        "{line}"
    );
    // The operator still reaches the live run (through its control folder, not its journal).
    let out = env.run(&["approve", &id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sent to the running run"),
        "{}",
        stdout(&out)
    );

    let out = child.wait_with_output().expect("exits");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let entries = env.journal(&id);
    let count = |event: &str| entries.iter().filter(|e| e["event"] == event).count();
    assert_eq!(count("run_started"), 1);
    assert_eq!(count("run_resumed"), 0);
    assert_eq!(count("run_abandoned"), 0);
    assert_eq!(count("run_finished"), 1);
    assert_eq!(env.runs().len(), 1, "{:?}", env.runs());
}

#[test]
fn an_unreadable_run_blocks_new_runs_until_abandoned_and_is_kept() {
    let env = Env::default();
    let dir = env
        .state()
        .join("runs")
        .join("20260101T000000Z-failover-dead");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("journal.jsonl"), "{not json\n").expect("write");

    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("20260101T000000Z-failover-dead cannot be read"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&[
        "failover",
        "--yes",
        "--abandon",
        "20260101T000000Z-failover-dead",
        "--reason",
        "a test journal",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let kept = env
        .state()
        .join("abandoned")
        .join("20260101T000000Z-failover-dead");
    assert_eq!(
        std::fs::read_to_string(kept.join("journal.jsonl")).expect("kept"),
        "{not json\n"
    );
    let note: Value =
        serde_json::from_str(&std::fs::read_to_string(kept.join("abandoned.json")).expect("note"))
            .expect("json");
    assert_eq!(note["reason"], "a test journal");
}

#[test]
fn a_report_that_cannot_be_written_does_not_fail_a_run_that_succeeded() {
    let env = Env::new("node_boot = \"2s\"", "");
    let child = env.spawn(&["failover", "--yes"]);
    let id = wait_for_step(&env, "scale-dr-nodes");
    // A folder where the report goes: its write fails as on a full disk.
    let blocker = env.state().join("runs").join(&id).join("report.json");
    std::fs::create_dir_all(blocker.join("x")).expect("mkdir");
    let out = child.wait_with_output().expect("exits");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("report could not be written")
            && stderr(&out).contains(&format!("aegis-dr report {id}")),
        "{}",
        stderr(&out)
    );
    let leftovers: Vec<_> = walk(&env.state().join("runs").join(&id))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&blocker).expect("rm");
    let out = env.run(&["report", &id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("succeeded"), "{}", stdout(&out));
}

#[test]
fn run_folders_without_a_journal_are_removed_and_named_on_resume() {
    let env = Env::default();
    let dead = "20260101T000000Z-failover-0000";
    std::fs::create_dir_all(env.state().join("runs").join(dead)).expect("mkdir");
    let out = env.run(&["failover", "--yes", "--resume", dead]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has no journal: it was killed before its first step"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        !env.state().join("runs").join(dead).exists(),
        "{:?}",
        env.runs()
    );
}

#[test]
fn an_unreadable_state_folder_is_an_error_never_no_runs() {
    let env = Env::default();
    std::fs::create_dir_all(env.state()).expect("mkdir");
    std::fs::write(env.state().join("runs"), "not a folder").expect("write");
    let out = env.run(&["status"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(stderr(&out).contains("runs"), "{}", stderr(&out));

    let env = Env::default();
    let dir = env
        .state()
        .join("runs")
        .join("20260101T000000Z-failover-0001");
    std::fs::create_dir_all(dir.join("journal.jsonl")).expect("a folder where the journal is");
    let text = stdout(&env.run(&["status"]));
    assert!(
        text.contains("UNREADABLE") && !text.contains("NO JOURNAL"),
        "{text}"
    );
}

#[test]
fn reports_after_a_resume_keep_the_error_that_stopped_the_run() {
    let env = Env::new(
        "",
        "[[sim.faults]]\noperation = \"promote_database\"\nerror = \"permanent\"\ntimes = 1",
    );
    assert_eq!(code(&env.run(&["failover", "--yes"])), 1);
    let id = env.runs().pop().expect("run");
    let out = env.run(&["failover", "--yes", "--resume", &id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let md = stdout(&env.run(&["report", &id]));
    let line = md
        .lines()
        .find(|l| l.contains("an earlier attempt failed"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(line.contains("injected fault in promote_database"), "{md}");
    let html = stdout(&env.run(&["report", &id, "--output", "html"]));
    assert!(
        html.contains("an earlier attempt failed")
            && html.contains("injected fault in promote_database"),
        "no earlier error in the HTML report"
    );
}

#[test]
fn failed_notifications_are_not_counted_as_sent() {
    let env = Env::new(
        "",
        "[[notifications]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"",
    );
    let out = env.run(&["failover", "--yes", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let declare = step(&doc, "declare")["summary"].as_str().expect("summary");
    assert!(
        declare.contains("sent to 0 sink(s); FAILED at 1"),
        "{declare}"
    );
    let html = stdout(&env.run(&["report", "--output", "html"]));
    assert!(
        html.contains("<h2>Notifications</h2>") && html.contains("failed: POST failed"),
        "no notifications in the HTML report"
    );
}

#[test]
fn overrun_factor_zero_stops_at_the_rto_and_the_wait_names_what_fails() {
    let env = Env::with_plan(
        &PLAN
            .replace("[execution]\n", "[execution]\noverrun_factor = 0\n")
            .replace(
                "{EXTRA}",
                "[targets.region-outage]\nrto = \"3s\"\nrpo = \"5m\"",
            )
            .replace("{SIM}", "error_rate = 0.5"),
    );
    // The DR site's error rate fails its health check too: checks are overridden to reach verify.
    let out = env.run(&["failover", "--yes", "--ignore-checks"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("stopped at the RTO of 3s"), "{err}");
    assert!(
        err.contains("failing:") && err.contains("error rate"),
        "{err}"
    );
}

#[test]
fn plans_that_cannot_do_what_they_claim_are_refused_or_warned() {
    let refused = |extra: &str, needle: &str| {
        let env = Env::with_plan(&PLAN.replace("{EXTRA}", extra).replace("{SIM}", ""));
        let out = env.run(&["plan"]);
        assert_eq!(code(&out), 2, "{extra}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{extra}: {}", stderr(&out));
    };
    refused(
        "[[dns_records]]\nname = \"v4.aegis.io\"\nzone = \"aegis.io\"\ntype = \"A\"\nprimary_target = \"not-an-ip\"\ndr_target = \"198.51.100.10\"\nttl = 60",
        "`not-an-ip` is not an IPv4 address",
    );
    refused(
        "[[dns_records]]\nname = \"v4.aegis.io\"\nzone = \"aegis.io\"\ntype = \"A\"\nprimary_target = \"192.0.2.1,192.0.2.2\"\ndr_target = \"198.51.100.10\"\nttl = 60",
        "is not one value (write several as a list",
    );
    refused(
        "[[dns_records]]\nname = \"same.aegis.io\"\nzone = \"aegis.io\"\nprimary_target = \"lb.aegis.io\"\ndr_target = \"LB.aegis.io.\"\nttl = 60",
        "shares a value with the primary_target",
    );
    // Address sets: validated value by value; a CNAME names one host; no value twice, none on
    // both sides, no alias among others.
    let set = |primary: &str, dr: &str, rtype: &str| {
        format!("[[dns_records]]\nname = \"set.aegis.io\"\nzone = \"aegis.io\"\ntype = \"{rtype}\"\nprimary_target = {primary}\ndr_target = {dr}\nttl = 60")
    };
    refused(
        &set(r#"["192.0.2.1", "not-an-ip"]"#, r#""198.51.100.10""#, "A"),
        "primary_target: `not-an-ip` is not an IPv4 address",
    );
    refused(
        &set(
            r#"["2001:db8::1", "192.0.2.1"]"#,
            r#""2001:db8::2""#,
            "AAAA",
        ),
        "`192.0.2.1` is not an IPv6 address",
    );
    refused(
        &set(
            r#""a.aegis.io""#,
            r#"["b.aegis.io", "c.aegis.io"]"#,
            "CNAME",
        ),
        "a CNAME record names one host, not 2",
    );
    refused(
        &set(r#"["192.0.2.1", "192.0.2.1"]"#, r#""198.51.100.10""#, "A"),
        "`192.0.2.1` is listed twice",
    );
    refused(
        &set(
            r#"["192.0.2.1", "192.0.2.2"]"#,
            r#"["198.51.100.10", "192.0.2.2"]"#,
            "A",
        ),
        "shares a value with the primary_target",
    );
    refused(
        &set(r#"[]"#, r#""198.51.100.10""#, "A"),
        "primary_target: must not be empty",
    );
    refused(
        &set(
            r#"["alias:Z1/lb.aws.com", "192.0.2.1"]"#,
            r#""198.51.100.10""#,
            "A",
        ),
        "an alias stands alone",
    );
    refused(
        &set("7", r#""198.51.100.10""#, "A"),
        "a target, or a list of targets",
    );
    refused(
        "[[databases]]\nname = \"again\"\nprimary = \"orders-euw1\"\ndr = \"other\"",
        "instance `orders-euw1` is already in another database pair",
    );
    refused(
        "[[workloads]]\nname = \"both\"\nnamespace = \"x\"\ndeployments = [\"a\"]\nselector = \"app=a\"\nproduction_replicas = 2\nstandby_replicas = 1",
        "not both",
    );
    // Dual stack: an A and an AAAA record of one name are two records.
    let env = Env::new(
        "",
        "[[dns_records]]\nname = \"ds.aegis.io\"\nzone = \"aegis.io\"\ntype = \"A\"\nprimary_target = \"192.0.2.1\"\ndr_target = \"198.51.100.10\"\nttl = 60\n\n[[dns_records]]\nname = \"ds.aegis.io\"\nzone = \"aegis.io\"\ntype = \"AAAA\"\nprimary_target = \"2001:db8::1\"\ndr_target = \"2001:db8::2\"\nttl = 60",
    );
    let out = env.run(&["plan"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // An address set moves as a whole, and the estate reads it back as the DR site's.
    let env = Env::new(
        "",
        "[[dns_records]]\nname = \"set.aegis.io\"\nzone = \"aegis.io\"\ntype = \"A\"\nprimary_target = [\"192.0.2.1\", \"192.0.2.2\"]\ndr_target = [\"198.51.100.10\", \"198.51.100.11\"]\nttl = 60",
    );
    let out = env.run(&["plan", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&env.run(&["estate", "--output", "json"]));
    let rec = doc["estate"]["dns"]
        .as_array()
        .expect("dns")
        .iter()
        .find(|r| r["name"] == "set.aegis.io")
        .expect("the set's record")
        .clone();
    assert_eq!(rec["serves"], "dr", "{rec}");
    assert_eq!(
        rec["target"],
        serde_json::json!(["198.51.100.10", "198.51.100.11"]),
        "{rec}"
    );
    let out = env.run(&["estate"]);
    assert!(
        stdout(&out).contains("dns set.aegis.io: 198.51.100.10, 198.51.100.11 (the dr site)"),
        "{}",
        stdout(&out)
    );

    // Both sites in one region: a warning in `plan` and in `check`.
    let env = Env::with_plan(
        &PLAN
            .replace("eu-central-1", "eu-west-1")
            .replace("{EXTRA}", "")
            .replace("{SIM}", ""),
    );
    let out = env.run(&["plan"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("warning: sites.primary.region and sites.dr.region are both `eu-west-1`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(check_status(&env, "plan"), "warn");
}

#[test]
fn version_names_the_commit_and_the_providers_built_in() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aegis-dr"))
        .arg("--version")
        .output()
        .expect("runs");
    assert_eq!(code(&out), 0);
    let v = stdout(&out);
    assert!(v.starts_with("aegis-dr 0."), "{v}");
    assert!(v.contains("(commit "), "{v}");
    assert!(
        v.contains("providers: sim, aws, azure, gcp, kubernetes, postgres"),
        "{v}"
    );
}

#[test]
fn untrue_lines_are_gone() {
    // A forced run over its RTO does not say it is within it.
    // (It may take ten times its RTO: the run is not cut short.)
    let env = Env::with_plan(
        &PLAN
            .replace("[execution]\n", "[execution]\noverrun_factor = 10\n")
            .replace(
                "{EXTRA}",
                "[targets.region-outage]\nrto = \"200ms\"\nrpo = \"5m\"",
            )
            .replace("{SIM}", ""),
    );
    let out = env.run(&["failover", "--yes", "--force", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let gate = step(&doc, "preflight")["summary"]
        .as_str()
        .expect("summary");
    assert!(
        gate.contains("EXCEEDS") && !gate.contains("within"),
        "{gate}"
    );
    // `pause` on a finished run advises no resume.
    let id = env.runs().pop().expect("run");
    let out = env.run(&["pause", &id]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is succeeded") && !stderr(&out).contains("--resume"),
        "{}",
        stderr(&out)
    );
    // `--by` falls back to the OS user, never `unknown`: a skip journaled in a stopped run.
    let failed = Env::new(
        "",
        "[[sim.faults]]\noperation = \"promote_database\"\nerror = \"permanent\"\ntimes = 1",
    );
    assert_eq!(code(&failed.run(&["failover", "--yes"])), 1);
    let id = failed.runs().pop().expect("run");
    let out = failed
        .command(&[
            "skip",
            &id,
            "switch-dns-to-dr",
            "--reason",
            "r",
            "--output",
            "json",
        ])
        .env_remove("USER")
        .env_remove("LOGNAME")
        .env_remove("USERNAME")
        .output()
        .expect("runs");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let by = json(&out)["by"].as_str().expect("by").to_string();
    assert!(!by.is_empty() && !by.starts_with("unknown"), "{by}");
    // Switching a record with no health check touches no health check.
    let doc = json(&env.run(&["plan", "--output", "json"]));
    let with_hc = step(&doc, "switch-dns-to-dr")["touches"].to_string();
    assert!(with_hc.contains("set_health_check"), "{with_hc}");
    let env = Env::with_plan(
        &PLAN
            .replace("health_check = \"hc-euw1\"\n", "")
            .replace("{EXTRA}", "")
            .replace("{SIM}", ""),
    );
    let doc = json(&env.run(&["plan", "--output", "json"]));
    let touches = step(&doc, "switch-dns-to-dr")["touches"].to_string();
    assert!(!touches.contains("health_check"), "{touches}");
}

#[test]
fn missing_aws_credentials_are_named_and_are_no_unreachable_endpoint() {
    let env = Env::with_plan(
        r#"
[plan]
name = "no-creds"

[sites.primary]
provider = "aws"
region = "us-east-1"

[sites.dr]
provider = "aws"
region = "us-west-2"

[[dns_records]]
name = "api.aegis.io"
zone = "aegis.io"
primary_target = "lb-use1.aegis.io"
dr_target = "lb-usw2.aegis.io"
ttl = 60
"#,
    );
    let out = env
        .command(&["estate", "--output", "json"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", env.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            env.path().join("no-credentials"),
        )
        .output()
        .expect("runs");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc = json(&out);
    let error = doc["estate"]["dns"][0]["error"].as_str().expect("error");
    assert!(
        error.contains("no AWS credentials found") && error.contains("permission denied"),
        "{error}"
    );
    assert!(!error.contains("unreachable"), "{error}");
    assert_eq!(doc["estate"]["verdict"], "unknown");
}

#[test]
fn a_run_interrupted_before_it_changed_anything_still_says_how_to_unblock() {
    // Slow calls keep the run in its (observing) preflight while the signal arrives.
    let env = Env::new("latency = \"1s\"", "");
    let child = env.spawn(&["failover", "--yes"]);
    let id = wait_for_step(&env, "preflight");
    terminate(&child);
    let out = child.wait_with_output().expect("exits");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(
        err.contains(&format!("failover --resume {id} --yes"))
            && err.contains(&format!("failover --abandon {id}")),
        "{err}"
    );
    assert!(!err.contains("go back"), "{err}");
}

#[test]
fn a_drill_stopped_in_its_failback_phase_points_back_to_the_dr_site_not_to_rollback() {
    // The DR database's fence fails: only the failback phase fences it.
    let env = Env::new(
        "",
        "[[sim.faults]]\noperation = \"fence_database\"\nresource = \"orders-euc1\"\nerror = \"permanent\"\ntimes = 1",
    );
    let out = env.run(&["drill", "--yes"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("fence-dr-db"), "{err}");
    let back = err
        .lines()
        .find_map(|l| l.strip_prefix("or go back to the DR site: "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        back.ends_with("failover --class region-outage --yes"),
        "{back}"
    );
    assert!(!err.contains("rollback"), "{err}");
    let id = env.runs().pop().expect("run");

    // `status` names the same way back; `rollback` refuses the drill and names the way forward.
    let out = env.run(&["status", &id]);
    assert!(
        stdout(&out).contains("or go back to the DR site: ") && !stdout(&out).contains("rollback"),
        "{}",
        stdout(&out)
    );
    let out = env.run(&["rollback", &id, "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stopped in its failback phase"),
        "{}",
        stderr(&out)
    );

    // The way forward, as printed, finishes the drill: the primary serves whole again.
    let forward = err
        .lines()
        .find_map(|l| l.strip_prefix("go forward, once the cause is fixed: "))
        .unwrap_or_else(|| panic!("{err}"));
    let out = run_printed(forward);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["estate"]);
    assert!(
        stdout(&out).contains("the estate is whole: the primary site serves"),
        "{}",
        stdout(&out)
    );
}
