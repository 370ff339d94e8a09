//! Steps of the user's own and the operator's controls, on the simulated estate in real time (the
//! hooks run real processes and HTTP servers): placement, evidence, failure and resume, approval,
//! pause, skip.

use std::time::Duration;

use aegis_dr_core::{
    control::{self, Command, Delivery},
    journal::{self, Entry, Operation, RunStatus},
    report::StepStatus,
    store::State,
    ErrorKind, IncidentClass, Plan,
};

use crate::common::*;

const RO: IncidentClass = IncidentClass::RegionOutage;

/// A small estate whose simulated waits are short enough for real time.
pub fn fast_plan(hooks: &str) -> Plan {
    let text = format!(
        r#"
[plan]
name = "hooks"

[sites.primary]
provider = "sim"
region = "us-east-1"

[sites.dr]
provider = "sim"
region = "us-west-2"

[[databases]]
name = "orders"
primary = "orders-use1"
dr = "orders-usw2"

[[dns_records]]
name = "api.example.com"
zone = "example.com"
primary_target = "lb-use1.example.com"
dr_target = "lb-usw2.example.com"
ttl = 60

[[health_endpoints]]
name = "dr"
site = "dr"
url = "https://dr.example.com/healthz"

[execution]
retry_base_delay = "10ms"
poll_interval = "20ms"
max_poll_interval = "50ms"

[sim]
latency = "0ms"
dns_propagation = "30ms"
node_boot = "30ms"
rollout = "30ms"
replication_lag = "1s"
drain_time = "10ms"
job_time = "30ms"
backup_age = "1h"

{hooks}
"#
    );
    Plan::parse(&text).unwrap_or_else(|e| panic!("plan parses: {e}"))
}

fn position(es: &[Entry], f: impl Fn(&Entry) -> bool) -> usize {
    es.iter().position(f).expect("entry present")
}

fn started(step: &'static str) -> impl Fn(&Entry) -> bool {
    move |e| matches!(e, Entry::StepStarted { step: s, .. } if s == step)
}

/// An operator's request of this kind, as the run took it.
fn is_control(command: &'static str) -> impl Fn(&Entry) -> bool {
    move |e| {
        matches!(e, Entry::Control { request, .. }
            if request.command.describe().starts_with(command))
    }
}

/// Waits (real time, 30 s at most) until the journal of `run_id` holds an entry `f` accepts.
async fn wait_entry(state: &State, run_id: &str, f: impl Fn(&Entry) -> bool) {
    for _ in 0..3000 {
        if journal::read_run(state, run_id).is_ok_and(|es| es.iter().any(&f)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the journal of {run_id} in {state} never held the entry");
}

fn succeeded(step: &'static str) -> impl Fn(&Entry) -> bool {
    move |e| matches!(e, Entry::StepSucceeded { step: s, .. } if s == step)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_hook_runs_in_place_and_its_output_is_in_the_report_with_secrets_hidden() {
    // The variable is this test's own: no other test reads or writes it.
    std::env::set_var("AEGIS_TEST_HOOK_SECRET", "hunter2-s3cret");
    let e = Estate::new(fast_plan(
        r#"
[[hooks]]
name = "sync-check"
type = "command"
phases = ["failover"]
after = "promote-dr-db"
command = ["sh", "-c", "echo checking; echo token=$AEGIS_TEST_HOOK_SECRET; echo zero conflicts; echo warn >&2"]
secret_env = ["AEGIS_TEST_HOOK_SECRET"]
expect_stdout = "zero conflicts"
"#,
    ));
    let out = e.run(Operation::Failover, RO, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let es = e.entries(&out.report.run_id);
    // After the step it follows, before what followed that step.
    assert!(position(&es, succeeded("promote-dr-db")) < position(&es, started("hook.sync-check")));
    assert!(
        position(&es, succeeded("hook.sync-check")) < position(&es, started("switch-dns-to-dr"))
    );
    let step = step(&out.report, "hook.sync-check");
    let hook = &step.data["hook"];
    assert_eq!(hook["exit_code"], 0, "{hook}");
    let stdout = hook["stdout"].as_str().expect("stdout captured");
    assert!(stdout.contains("token=[redacted]"), "{stdout}");
    assert!(hook["stderr"].as_str().unwrap_or("").contains("warn"));
    let json = e.report_file(&out.report.run_id, "report.json");
    let md = e.report_file(&out.report.run_id, "report.md");
    assert!(!json.contains("hunter2-s3cret") && !md.contains("hunter2-s3cret"));
    assert!(md.contains("hook: exit 0"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_hook_stops_the_run_and_a_resume_retries_it_without_rerunning_finished_hooks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let count = dir.path().join("count");
    let flag = dir.path().join("conflicts-resolved");
    let e = Estate::new(fast_plan(&format!(
        r#"
[[hooks]]
name = "count"
type = "command"
phases = ["failover"]
before = "fence-primary-db"
command = ["sh", "-c", "echo ran >> {count}"]

[[hooks]]
name = "integrity"
type = "command"
phases = ["failover"]
after = "count"
command = ["sh", "-c", "test -f {flag} || {{ echo 3 conflicts >&2; exit 4; }}"]
"#,
        count = count.display(),
        flag = flag.display()
    )));
    let out = e.run(Operation::Failover, RO, flags()).await;
    let err = out.error.expect("the failing hook fails the run");
    assert_eq!(err.kind(), ErrorKind::HookFailed, "{err}");
    assert!(
        err.to_string().contains("exit status 4: 3 conflicts"),
        "{err}"
    );
    assert_eq!(out.report.status, RunStatus::Failed);
    // Nothing after the hook ran: the primary is not fenced.
    let fence = step(&out.report, "fence-primary-db");
    assert_eq!(fence.status, StepStatus::Pending);
    let failed = step(&out.report, "hook.integrity");
    assert!(failed.data["hook"]["stderr"]
        .as_str()
        .unwrap_or("")
        .contains("3 conflicts"));

    std::fs::write(&flag, "").expect("flag");
    let run_id = out.report.run_id.clone();
    let out = e.resume(Operation::Failover, &run_id, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(std::fs::read_to_string(&count).expect("count"), "ran\n");
    let hook = step(&out.report, "hook.integrity");
    assert_eq!((hook.attempts, hook.status), (2, StepStatus::Succeeded));
}

/// Serves `body` with `status` to every request on a loopback port; returns its URL and the
/// requests it saw (method and path).
async fn serve(
    status: u16,
    body: &'static str,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let line = head.lines().next().unwrap_or("").to_string();
            log.lock().expect("log").push(line);
            let resp = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_hooks_check_the_status_and_the_json_fields() {
    let (ok, _) = serve(
        200,
        r#"{"status":"healthy","region":"dr","opa_external":"ok"}"#,
    )
    .await;
    let (scan, scans) = serve(202, r#"{"scan":"started"}"#).await;
    let e = Estate::new(fast_plan(&format!(
        r#"
[[hooks]]
name = "dr-health"
type = "http"
phases = ["failover"]
after = "verify-dr"
url = "{ok}/healthz"
expect_json = {{ status = "healthy", region = "dr", opa_external = "ok" }}

[[hooks]]
name = "e2e-scan"
type = "http"
phases = ["failover"]
after = "dr-health"
method = "POST"
url = "{scan}/scans"
body = '{{"suite":"smoke"}}'
expect_status = 202
"#
    )));
    let out = e.run(Operation::Failover, RO, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(
        scans.lock().expect("log").as_slice(),
        ["POST /scans HTTP/1.1"]
    );

    let e = Estate::new(fast_plan(&format!(
        r#"
[[hooks]]
name = "dr-health"
type = "http"
phases = ["failover"]
after = "verify-dr"
url = "{ok}/healthz"
timeout = "300ms"
escalate = "dr-environment-unhealthy"
expect_json = {{ region = "primary" }}
"#
    )));
    let out = e.run(Operation::Failover, RO, flags()).await;
    let err = out.error.expect("a wrong field fails the hook");
    assert!(
        err.to_string()
            .contains(r#"field `region` is "dr", expected "primary""#),
        "{err}"
    );
    assert!(out
        .report
        .escalations
        .iter()
        .any(|x| x.reason == "dr-environment-unhealthy"));
}

/// Waits (real time) until the run in `state` has journaled the start of `step`.
async fn wait_started(state: &State, step: &str) -> String {
    for _ in 0..500 {
        for r in aegis_dr_core::runs::list(state) {
            if let Some(run) = r.run() {
                if run
                    .state
                    .steps
                    .iter()
                    .any(|s| s.info.id == step && s.status == StepStatus::Running)
                {
                    return run.state.run_id.clone();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{step} never started");
}

const APPROVAL: &str = r#"
[[hooks]]
name = "go-ahead"
type = "approval"
phases = ["failover"]
before = "promote-dr-db"
message = "promote the DR database?"
timeout = "1m"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_hook_holds_the_run_until_approved_and_a_rejection_fails_it() {
    let e = std::sync::Arc::new(Estate::new(fast_plan(APPROVAL)));
    let runner = e.clone();
    let run = tokio::spawn(async move { runner.run(Operation::Failover, RO, flags()).await });
    let run_id = wait_started(&e.state, "hook.go-ahead").await;
    let d = control::send(&e.state, &run_id, "alice", Command::Approve { step: None })
        .expect("approve");
    assert_eq!(d, Delivery::Live);
    let out = run.await.expect("run task");
    assert!(out.error.is_none(), "{:?}", out.error);
    let hook = step(&out.report, "hook.go-ahead");
    assert_eq!(hook.summary.as_deref(), Some("approved by alice"));
    assert!(out
        .report
        .controls
        .iter()
        .any(|c| c.by == "alice" && c.request.contains("approve hook.go-ahead")));
    // The run waited for the approval: the hook ended only after the answer was taken.
    let es = e.entries(&run_id);
    assert!(
        position(&es, is_control("approve")) < position(&es, succeeded("hook.go-ahead")),
        "the hook ended before it was approved"
    );

    let e = std::sync::Arc::new(Estate::new(fast_plan(APPROVAL)));
    let runner = e.clone();
    let run = tokio::spawn(async move { runner.run(Operation::Failover, RO, flags()).await });
    let run_id = wait_started(&e.state, "hook.go-ahead").await;
    control::send(
        &e.state,
        &run_id,
        "bob",
        Command::Reject {
            step: Some("hook.go-ahead".into()),
            reason: "lag too high".into(),
        },
    )
    .expect("reject");
    let out = run.await.expect("run task");
    let err = out.error.expect("rejected");
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(
        err.to_string().contains("rejected by bob: lag too high"),
        "{err}"
    );
    let promote = step(&out.report, "promote-dr-db");
    assert_eq!(promote.status, StepStatus::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_approval_takes_its_default() {
    let e = Estate::new(fast_plan(
        r#"
[[hooks]]
name = "go-ahead"
type = "approval"
phases = ["failover"]
before = "promote-dr-db"
timeout = "300ms"
default = "approve"
"#,
    ));
    let out = e.run(Operation::Failover, RO, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let hook = step(&out.report, "hook.go-ahead");
    assert!(hook
        .summary
        .as_deref()
        .unwrap_or("")
        .contains("approved by default"));

    let e = Estate::new(fast_plan(&APPROVAL.replace("1m", "300ms")));
    let out = e.run(Operation::Failover, RO, flags()).await;
    let err = out.error.expect("rejected by default");
    assert!(err.to_string().contains("rejected by default"), "{err}");

    // Approved afterwards, while the run is stopped: the answer waits in its journal.
    let run_id = out.report.run_id.clone();
    let d = control::send(&e.state, &run_id, "frank", Command::Approve { step: None })
        .expect("approve a stopped run");
    assert_eq!(d, Delivery::Journaled);
    let out = e.resume(Operation::Failover, &run_id, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let hook = step(&out.report, "hook.go-ahead");
    assert_eq!(hook.summary.as_deref(), Some("approved by frank"));
    let err = control::send(&e.state, &run_id, "frank", Command::Approve { step: None })
        .expect_err("nothing left");
    assert!(err.to_string().contains("succeeded"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_run_starts_no_step_until_resumed_and_the_report_shows_the_pause() {
    let e = std::sync::Arc::new(Estate::new(fast_plan(APPROVAL)));
    let runner = e.clone();
    let run = tokio::spawn(async move { runner.run(Operation::Failover, RO, flags()).await });
    let run_id = wait_started(&e.state, "hook.go-ahead").await;
    let by = "carol";
    control::send(
        &e.state,
        &run_id,
        by,
        Command::Pause {
            reason: "checking the lag".into(),
        },
    )
    .expect("pause");
    // The run took the pause before the approval lets the next step become ready.
    wait_entry(&e.state, &run_id, is_control("pause")).await;
    control::send(&e.state, &run_id, by, Command::Approve { step: None }).expect("approve");
    wait_entry(&e.state, &run_id, succeeded("hook.go-ahead")).await;
    assert!(!run.is_finished(), "a paused run does not end");
    control::send(&e.state, &run_id, by, Command::Resume).expect("resume");
    let out = run.await.expect("run task");
    assert!(out.error.is_none(), "{:?}", out.error);
    // No step started while paused: the next one only after the resume was taken.
    let es = e.entries(&run_id);
    assert!(
        position(&es, is_control("resume")) < position(&es, started("promote-dr-db")),
        "a step started while paused"
    );
    assert_eq!(out.report.pauses.len(), 1, "{:?}", out.report.pauses);
    let p = &out.report.pauses[0];
    assert!(p.to_seconds.expect("resumed") >= p.from_seconds, "{p:?}");
    assert!(p.by.contains("checking the lag"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipping_needs_force_for_a_safety_step_and_every_report_flags_it() {
    let e = std::sync::Arc::new(Estate::new(fast_plan(&format!(
        "{APPROVAL}
[[hooks]]
name = \"smoke\"
type = \"command\"
phases = [\"failover\"]
after = \"verify-dr\"
command = [\"false\"]
"
    ))));
    let runner = e.clone();
    let run = tokio::spawn(async move { runner.run(Operation::Failover, RO, flags()).await });
    let run_id = wait_started(&e.state, "hook.go-ahead").await;
    let skip = |step: &str, force| Command::Skip {
        step: step.into(),
        reason: "known broken".into(),
        force,
    };
    // A safety step is refused without --force; an unknown one names the steps.
    let err = control::send(&e.state, &run_id, "dave", skip("hook.smoke", false))
        .expect_err("safety step");
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    let err = control::send(&e.state, &run_id, "dave", skip("nope", false)).expect_err("unknown");
    assert!(err.to_string().contains("has no step `nope`"), "{err}");
    control::send(&e.state, &run_id, "dave", skip("hook.smoke", true)).expect("forced skip");
    // The running approval is stopped when skipped.
    control::send(&e.state, &run_id, "dave", skip("hook.go-ahead", true)).expect("skip running");
    let out = run.await.expect("run task");
    assert!(out.error.is_none(), "{:?}", out.error);
    for id in ["hook.smoke", "hook.go-ahead"] {
        let s = step(&out.report, id);
        assert_eq!(s.status, StepStatus::Skipped, "{id}");
        assert!(s.forced_skip, "{id}");
        assert_eq!(s.skipped_by.as_deref(), Some("dave"));
    }
    let md = e.report_file(&out.report.run_id, "report.md");
    assert!(md.contains("SAFETY STEP SKIPPED (--force)"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skip_sent_to_a_failed_run_applies_when_it_is_resumed() {
    let e = Estate::new(fast_plan(
        r#"
[[hooks]]
name = "flaky-scan"
type = "command"
phases = ["failover"]
after = "verify-dr"
safety = false
command = ["false"]
"#,
    ));
    let out = e.run(Operation::Failover, RO, flags()).await;
    assert!(out.error.is_some());
    let run_id = out.report.run_id.clone();
    let err = control::send(
        &e.state,
        &run_id,
        "erin",
        Command::Pause { reason: "x".into() },
    )
    .expect_err("a stopped run cannot be paused");
    assert!(err.to_string().contains("is not running"), "{err}");
    let d = control::send(
        &e.state,
        &run_id,
        "erin",
        Command::Skip {
            step: "hook.flaky-scan".into(),
            reason: "scanner down".into(),
            force: false,
        },
    )
    .expect("skip");
    assert_eq!(d, Delivery::Journaled);
    let out = e.resume(Operation::Failover, &run_id, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let s = step(&out.report, "hook.flaky-scan");
    assert_eq!(s.status, StepStatus::Skipped);
    assert!(!s.forced_skip);
}

#[test]
fn hooks_are_placed_before_and_after_their_steps_in_every_phase_they_name() {
    let plan = fast_plan(
        r#"
[[hooks]]
name = "pre-fence"
type = "command"
before = "fence-primary-db"
phases = ["failover"]
command = ["true"]

[[hooks]]
name = "post-verify"
type = "command"
after = "verify-primary"
phases = ["failback"]
command = ["true"]
"#,
    );
    let g = aegis_dr_core::orchestrator::build(&plan, Operation::Drill, RO);
    let step = |id: &str| {
        g.steps
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    let pre = step("failover.hook.pre-fence");
    let fence = step("failover.fence-primary-db");
    // The hook takes the step's dependencies, and the step waits for the hook.
    let mut before = fence.deps.clone();
    before.retain(|d| d != &pre.id);
    assert_eq!(pre.deps, before);
    assert_eq!(before, vec!["failover.declare".to_string()]);
    assert!(fence.deps.contains(&pre.id));
    let post = step("failback.hook.post-verify");
    assert_eq!(post.deps, vec!["failback.verify-primary".to_string()]);
    assert!(step("failback.resolve").deps.contains(&post.id));
    assert!(!g.steps.iter().any(|s| s.id == "failback.hook.pre-fence"));
}

#[test]
fn hook_errors_name_the_field_and_the_steps_there_are() {
    // (the hook as written, what its error must say)
    let cases = [
        (
            "after = \"promote-dr-db\"\nclasses = [\"region-outage\", \"network-partition\"]\ntype = \"command\"\ncommand = [\"true\"]",
            "`promote-dr-db` is not a step of the failover or failback of a network-partition, so the hook would not run there: leave network-partition out of its `classes`",
        ),
        (
            "after = \"promte-dr-db\"\ntype = \"command\"\ncommand = [\"true\"]",
            "`promte-dr-db` is not a step of any failover or failback of this plan (its steps: preflight, declare,",
        ),
        (
            "type = \"shell\"\nafter = \"declare\"",
            "hooks[0] (`x`, line 20).type: `shell` is not a hook type",
        ),
        (
            "type = \"command\"\nafter = \"declare\"\ncommand = [\"true\"]\nquery = \"up\"",
            ".query: not a key of a `command` hook",
        ),
        ("type = \"approval\"", "give exactly one of `before` or `after`"),
        (
            "type = \"prometheus\"\nafter = \"declare\"\nurl = \"http://p:9090\"\nquery = \"up\"",
            "give exactly one finite `below` or `above`",
        ),
    ];
    for (hook, want) in cases {
        let text = common_plan_text(&format!("[[hooks]]\nname = \"x\"\n{hook}\n"));
        let e = Plan::parse(&text).expect_err("rejected").to_string();
        assert!(e.contains(want), "{hook}:\n{e}");
    }
}

/// The fast plan's text with `hooks` appended (for errors, which `fast_plan` would panic on).
pub fn common_plan_text(hooks: &str) -> String {
    format!(
        "[plan]\nname = \"h\"\n[sites.primary]\nprovider = \"sim\"\nregion = \"a\"\n[sites.dr]\nprovider = \"sim\"\nregion = \"b\"\n[[databases]]\nname = \"d\"\nprimary = \"p\"\ndr = \"q\"\n[[dns_records]]\nname = \"n\"\nzone = \"z\"\nprimary_target = \"a\"\ndr_target = \"b\"\nttl = 60\n{hooks}"
    )
}
