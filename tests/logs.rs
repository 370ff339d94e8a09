//! Logs: `--log-level`, `RUST_LOG` and `--log-format json` on stderr, beside the output on stdout.

use crate::common::*;

#[test]
fn json_logs_name_every_step_and_leave_stdout_one_document() {
    let env = Env::default();
    let out = env
        .command(&[
            "failover",
            "--yes",
            "--output",
            "json",
            "--log-level",
            "info",
            "--log-format",
            "json",
        ])
        .env_remove("RUST_LOG")
        .output()
        .expect("runs");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    let lines: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("a log line is JSON ({e}): {l}"))
        })
        .collect();
    let logged = |msg: &str, step: &str| {
        lines
            .iter()
            .any(|l| l["fields"]["message"] == msg && l["span"]["step"] == step)
    };
    for s in report["steps"].as_array().expect("steps") {
        let id = s["id"].as_str().expect("id");
        assert!(
            logged("step started", id) && logged("step succeeded", id),
            "{id} not logged"
        );
    }
    let run = report["run_id"].as_str().expect("run id");
    assert!(lines
        .iter()
        .any(|l| l["fields"]["message"] == "run finished" && l["fields"]["run"] == run));
    // Info level: no provider calls (they are debug).
    assert!(!lines
        .iter()
        .any(|l| l["fields"]["message"] == "provider call"));
}

#[test]
fn rust_log_turns_on_provider_calls_and_nothing_is_logged_unasked() {
    let env = Env::default();
    let out = env
        .command(&["check"])
        .env("RUST_LOG", "aegis_dr_core::layer=debug")
        .output()
        .expect("runs");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.lines().any(|l| l.contains("DEBUG")
            && l.contains("provider call")
            && l.contains("provider=\"sim\"")
            && l.contains("operation=\"database_status\"")),
        "{e}"
    );
    let quiet = env
        .command(&["check"])
        .env_remove("RUST_LOG")
        .output()
        .expect("runs");
    assert_eq!(code(&quiet), 0);
    assert!(
        !stderr(&quiet).contains("INFO") && !stderr(&quiet).contains("DEBUG"),
        "{}",
        stderr(&quiet)
    );
    let bad = env
        .command(&["check"])
        .env("RUST_LOG", "aegis=loud")
        .output()
        .expect("runs");
    assert_eq!(code(&bad), 2);
    assert!(stderr(&bad).contains("RUST_LOG"), "{}", stderr(&bad));
}
