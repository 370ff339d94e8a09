//! Operator control from another terminal: `approve`, `pause`, `resume`, `skip`, `reject` on a
//! run of the binary, with their exit codes, and the runbook's failback data sync as hooks.

use std::{process::Stdio, time::Duration};

use crate::common::*;

/// An approval hook before the DR database's promotion (also the state store tests').
pub(crate) const APPROVAL: &str = r#"
[[hooks]]
name = "go-ahead"
type = "approval"
phases = ["failover"]
before = "promote-dr-db"
message = "promote the DR database?"
timeout = "2m"
"#;

/// Waits for the one run of `env` to journal the start of `step`; returns its id.
fn wait_started(env: &Env, step: &str) -> String {
    env.wait_for_entry(&format!("{step} started"), |e| {
        e["event"] == "step_started" && e["step"] == step
    })
}

/// The position of the first entry `matches` accepts in run `id`'s journal.
fn position(env: &Env, id: &str, matches: impl Fn(&serde_json::Value) -> bool) -> usize {
    env.journal(id)
        .iter()
        .position(matches)
        .unwrap_or_else(|| panic!("no such entry in {id}"))
}

#[test]
fn an_operator_approves_pauses_and_resumes_a_run_from_another_terminal() {
    let env = Env::new(
        "",
        &format!("{APPROVAL}\n[[notifications]]\nkind = \"file\"\npath = \"notes.jsonl\"\n"),
    );
    let run = env
        .command(&["--output", "json", "failover", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failover starts");
    let id = wait_started(&env, "hook.go-ahead");
    // The people who decide are asked where the plan's messages go.
    let mut notes = String::new();
    for _ in 0..200 {
        notes = std::fs::read_to_string(env.path().join("notes.jsonl")).unwrap_or_default();
        if notes.contains("approval needed") {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(
        notes.contains("approval needed") && notes.contains(&format!("aegis-dr approve {id}")),
        "{notes}"
    );

    // Pause first: the approval then lets nothing start until `resume`.
    let o = env.run(&["pause", &id, "--reason", "reading the lag", "--by", "alice"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("sent to the running run"),
        "{}",
        stdout(&o)
    );
    env.wait_for_entry("the pause taken", |e| {
        e["event"] == "control" && e["request"]["command"] == "pause"
    });
    let o = env.run(&["approve", &id, "--by", "alice"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    env.wait_for_entry("the approved hook done", |e| {
        e["event"] == "step_succeeded" && e["step"] == "hook.go-ahead"
    });
    let o = env.run(&["--output", "json", "status", &id]);
    let doc = json(&o);
    assert_eq!(step(&doc, "hook.go-ahead")["status"], "succeeded", "{doc}");
    let o = env.run(&["status", &id]);
    assert!(
        stdout(&o).contains("paused by alice: reading the lag"),
        "{}",
        stdout(&o)
    );
    let o = env.run(&["resume", &id, "--by", "alice"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let out = run.wait_with_output().expect("failover ends");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The pause held: the step after the approval started only once the run was resumed.
    let resumed = position(&env, &id, |e| {
        e["event"] == "control" && e["request"]["command"] == "resume"
    });
    let promoted = position(&env, &id, |e| {
        e["event"] == "step_started" && e["step"] == "promote-dr-db"
    });
    assert!(resumed < promoted, "promote-dr-db started during the pause");
    let doc = json(&out);
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(step(&doc, "hook.go-ahead")["summary"], "approved by alice");
    let controls: Vec<&str> = doc["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .filter_map(|c| c["request"].as_str())
        .collect();
    assert_eq!(
        controls,
        ["pause (reading the lag)", "approve hook.go-ahead", "resume"],
        "{doc}"
    );
    assert_eq!(doc["pauses"].as_array().map(Vec::len), Some(1));
    let md = std::fs::read_to_string(env.state().join("runs").join(&id).join("report.md"))
        .expect("report.md");
    assert!(md.contains("## Operator actions"), "{md}");

    // A finished run takes no more requests: usage error naming why.
    let o = env.run(&["pause", &id]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("is not running"), "{}", stderr(&o));
}

#[test]
fn a_rejection_stops_the_run_as_refused_and_a_safety_skip_needs_force() {
    let env = Env::new("", APPROVAL);
    let run = env
        .command(&["failover", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failover starts");
    let id = wait_started(&env, "hook.go-ahead");
    let o = env.run(&["skip", &id, "verify-dr", "--reason", "probe broken"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("is a safety step"), "{}", stderr(&o));
    let o = env.run(&["skip", &id, "no-such-step", "--reason", "x"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = env.run(&[
        "reject",
        &id,
        "--reason",
        "the lag is 40 minutes",
        "--by",
        "bob",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = run.wait_with_output().expect("failover ends");
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("rejected by bob: the lag is 40 minutes"),
        "{}",
        stderr(&out)
    );
}

/// The runbook's failback sync (`./aegis dr sync-from-dr --dry-run`, then `--execute`, "zero
/// conflicts"), the approval and the integrity check, as the example plan writes them, with the
/// example's stand-in for the team's tool.
#[test]
fn the_runbooks_failback_steps_run_as_hooks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let example =
        std::fs::read_to_string(root.join("examples/runbook-hooks.toml")).expect("example plan");
    let env = Env::with_plan(&example);
    std::fs::copy(root.join("examples/aegis"), env.path().join("aegis")).expect("tool");
    let o = env.run(&["plan", "--operation", "failback"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for hook in [
        "sync-from-dr-dry-run",
        "sync-from-dr-execute",
        "approve-promotion",
        "integrity-check",
    ] {
        assert!(
            stdout(&o).contains(&format!("hook.{hook}")),
            "{}",
            stdout(&o)
        );
    }
    let run = env
        .command(&["--output", "json", "drill", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("drill starts");
    let id = wait_started(&env, "failback.hook.approve-promotion");
    let o = env.run(&["approve", &id, "--by", "oncall"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = run.wait_with_output().expect("drill ends");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    for (hook, says) in [
        (
            "sync-from-dr-dry-run",
            "dry run: 0 rows differ; zero conflicts",
        ),
        ("sync-from-dr-execute", "synced 0 rows; zero conflicts"),
        ("integrity-check", "integrity: checksums match"),
    ] {
        let s = step(&doc, &format!("failback.hook.{hook}"));
        assert_eq!(s["status"], "succeeded", "{s}");
        assert!(
            s["data"]["hook"]["stdout"]
                .as_str()
                .unwrap_or("")
                .contains(says),
            "{s}"
        );
    }
    assert_eq!(
        step(&doc, "failback.hook.approve-promotion")["summary"],
        "approved by oncall"
    );

    // The hooks that need the team's endpoints, enabled, make a valid plan too.
    let marker = "# Hooks that need the team's own endpoints";
    let at = example.find(marker).expect("the commented hooks");
    let enabled: String = example[at..]
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|r| r.starts_with('[') || r.contains(" = "))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let enabled = format!("{}{enabled}", &example[..at]);
    let env = Env::with_plan(&enabled);
    let o = env.run(&["plan"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("hook.error-rate-window"),
        "{}",
        stdout(&o)
    );
}
