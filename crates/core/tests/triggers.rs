//! The DR controller against a real Prometheus scraping an exporter the test sets: a condition that
//! holds for its `for` triggers exactly one failover, a shorter blip none; Prometheus down triggers
//! nothing and is escalated; a second condition while a run is active triggers nothing; of two
//! replicas only the leader acts, and the other takes over when it goes.

use std::{sync::Arc, time::Duration};

use aegis_dr_core::{
    control::{self, Command},
    controller::{leader, Controller, Leadership, RuleState},
    journal::RunStatus,
    notify::Notifier,
    report::StepStatus,
    runs,
};
use aegis_dr_test_servers::{Exporter, Prometheus};

use crate::{common::*, hooks::fast_plan};

const HEALTH: &str = "test_health{region=\"us-east-1\"}";
const LAG: &str = "test_lag_seconds";

fn plan_text(prom: &str, notes: &std::path::Path, health_action: &str) -> String {
    format!(
        r#"
[[notifications]]
kind = "file"
path = "{notes}"

[watch]
prometheus = "{prom}"
interval = "150ms"
min_delay = "1h"
unknown_escalate_after = "500ms"
approve_timeout = "1m"

[[triggers]]
name = "primary-health"
query = 'min(test_health{{region="us-east-1"}})'
below = 0.3
for = "1500ms"
action = "{health_action}"

[[triggers]]
name = "replication-lag"
query = 'max(test_lag_seconds)'
above = 120
action = "failover"
"#,
        notes = notes.display()
    )
}

async fn setup() -> (Exporter, Prometheus) {
    let exporter = Exporter::start().await;
    exporter.set(HEALTH, 0.9);
    exporter.set(LAG, 1.0);
    let prom = Prometheus::start(
        &[exporter.addr()],
        Duration::from_millis(200),
        "test_health",
    )
    .await;
    (exporter, prom)
}

/// An estate whose plan watches `prom`, with its messages in `notes/n.jsonl`.
fn estate(prom: &Prometheus, notes: &tempfile::TempDir, health_action: &str) -> Estate {
    Estate::new(fast_plan(&plan_text(
        &prom.url,
        &notes.path().join("n.jsonl"),
        health_action,
    )))
}

/// A replica named `id` of the controller of `e`, leading through the state's lock or lease.
fn replica(e: &Estate, id: &str, notes: &tempfile::TempDir) -> Running {
    start(
        e,
        leader::for_state(&e.state, &e.plan.name, id),
        notes.path(),
    )
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    status: Arc<std::sync::RwLock<aegis_dr_core::controller::ControllerStatus>>,
}

fn start(e: &Estate, leader: Arc<dyn Leadership>, notes_dir: &std::path::Path) -> Running {
    start_with(e, leader, notes_dir, |c| c)
}

/// [`start`], with `adjust` applied to the controller before it runs.
fn start_with(
    e: &Estate,
    leader: Arc<dyn Leadership>,
    notes_dir: &std::path::Path,
    adjust: impl FnOnce(Controller) -> Controller,
) -> Running {
    let c = adjust(
        Controller::new(
            e.plan.clone(),
            e.sim.providers().expect("providers"),
            e.state.clone(),
            leader,
        )
        .expect("controller")
        .with_clock(e.clock)
        .with_notifier(Notifier::new(
            e.plan.notifications.clone(),
            notes_dir.to_path_buf(),
            false,
        )),
    );
    let status = c.status();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        c.run(async {
            let _ = rx.await;
        })
        .await
        .expect("controller runs");
    });
    Running { stop, task, status }
}

impl Running {
    async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn failovers(e: &Estate) -> Vec<aegis_dr_core::report::Report> {
    runs::of_plan(&e.state, &e.plan.name)
        .iter()
        .map(runs::Listed::report)
        .collect()
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Waits until the controller has evaluated its triggers `n` more times: the event an absence
/// check waits for (it looked again, and still did nothing).
async fn more_evaluations(c: &Running, n: u64) {
    let from = c.status.read().expect("status").evaluations;
    wait_for(&format!("{n} more evaluations"), || {
        c.status.read().is_ok_and(|s| s.evaluations >= from + n)
    })
    .await;
}

/// Waits until the controller has run its readiness checks `n` more times.
async fn more_check_rounds(c: &Running, n: u64) {
    let mut last = c.status.read().expect("status").checks_ms;
    for _ in 0..n {
        wait_for("another round of checks", || {
            c.status
                .read()
                .is_ok_and(|s| s.checks_ms.is_some() && s.checks_ms != last)
        })
        .await;
        last = c.status.read().expect("status").checks_ms;
    }
}

/// The state of rule `name` now.
fn rule_state(c: &Running, name: &str) -> Option<RuleState> {
    let s = c.status.read().ok()?;
    s.rules
        .iter()
        .find(|r| r.spec.name == name)
        .map(|r| r.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_holding_for_its_for_triggers_exactly_one_failover_and_a_blip_none() {
    let (exporter, prom) = setup().await;
    let notes = tempfile::tempdir().expect("notes");
    let e = estate(&prom, &notes, "failover");
    let c = replica(&e, "a", &notes);

    // A blip shorter than `for`: pending (seen), then inactive, and no run once the controller has
    // evaluated past the moment a held condition would have fired.
    exporter.set(HEALTH, 0.1);
    wait_for("the blip seen", || {
        rule_state(&c, "primary-health") == Some(RuleState::Pending)
    })
    .await;
    let seen_ms = c
        .status
        .read()
        .expect("status")
        .last_evaluation_ms
        .expect("evaluated");
    exporter.set(HEALTH, 0.9);
    wait_for("the blip over", || {
        rule_state(&c, "primary-health") == Some(RuleState::Inactive)
    })
    .await;
    wait_for("evaluations past the blip's `for`", || {
        c.status.read().is_ok_and(|s| {
            s.last_evaluation_ms
                .is_some_and(|t| t > seen_ms + 1500 + 300)
        })
    })
    .await;
    assert!(failovers(&e).is_empty(), "a blip triggered a run");

    // Held: exactly one failover, however long it stays low.
    exporter.set(HEALTH, 0.1);
    wait_for("the failover to finish", || {
        failovers(&e)
            .iter()
            .any(|r| r.status == RunStatus::Succeeded)
    })
    .await;
    more_evaluations(&c, 6).await;
    let runs = failovers(&e);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        (runs[0].operation.as_str(), runs[0].class.as_str()),
        ("failover", "region-outage")
    );
    let st = c.status.read().expect("status").clone();
    let health = st
        .rules
        .iter()
        .find(|r| r.spec.name == "primary-health")
        .expect("rule");
    assert_eq!(health.state, RuleState::Firing);
    assert_eq!(health.value, Some(0.1));
    assert!(st.leader);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_down_triggers_nothing_and_is_escalated() {
    let (_exporter, mut prom) = setup().await;
    let notes = tempfile::tempdir().expect("notes");
    let file = notes.path().join("n.jsonl");
    let e = Estate::new(fast_plan(&plan_text(&prom.url, &file, "failover")));
    let c = replica(&e, "a", &notes);
    wait_for("a first evaluation", || {
        c.status.read().map(|s| s.evaluations > 0).unwrap_or(false)
    })
    .await;
    prom.stop();
    wait_for("the escalation", || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.contains("could not be evaluated"))
    })
    .await;
    let st = c.status.read().expect("status").clone();
    assert!(
        st.rules.iter().all(|r| r.state == RuleState::Unknown),
        "{:?}",
        st.rules
    );
    assert!(failovers(&e).is_empty());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_drift_is_escalated_when_a_check_starts_failing_and_only_then() {
    let (_exporter, prom) = setup().await;
    let notes = tempfile::tempdir().expect("notes");
    let file = notes.path().join("n.jsonl");
    // The simulated newest backup is 1h old: above this threshold the backup check fails.
    let text = format!(
        "{}\n[checks]\nmax_backup_age = \"30m\"\n",
        plan_text(&prom.url, &file, "failover").replace(
            "approve_timeout = \"1m\"",
            "approve_timeout = \"1m\"\ncheck_interval = \"200ms\""
        )
    );
    let e = Estate::new(fast_plan(&text));
    let c = replica(&e, "a", &notes);
    wait_for("the drift escalation", || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.contains("readiness drift: backup-age"))
    })
    .await;
    // Checked again and again, reported once while it keeps failing.
    more_check_rounds(&c, 3).await;
    let text = std::fs::read_to_string(&file).expect("notes");
    assert_eq!(text.matches("readiness drift").count(), 1, "{text}");
    let st = c.status.read().expect("status").clone();
    assert!(
        st.checks.iter().any(|c| c.name == "backup-age"),
        "{:?}",
        st.checks
    );
    assert!(failovers(&e).is_empty());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failover_it_says_once_when_the_primary_is_ready_to_fail_back_to() {
    let (_exporter, prom) = setup().await;
    let notes = tempfile::tempdir().expect("notes");
    let file = notes.path().join("n.jsonl");
    // The simulated primary has been healthy for 3h (its default); failback needs 2h.
    let text = format!(
        "{}\n[[health_endpoints]]\nname = \"primary\"\nsite = \"primary\"\nurl = \"https://primary.example.com/healthz\"\n",
        plan_text(&prom.url, &file, "failover").replace(
            "approve_timeout = \"1m\"",
            "approve_timeout = \"1m\"\ncheck_interval = \"200ms\""
        )
    );
    let e = Estate::new(fast_plan(&text));
    // No failover yet: nothing to fail back.
    let c = replica(&e, "a", &notes);
    more_check_rounds(&c, 2).await;
    assert!(!c.status.read().expect("status").failback_ready);
    c.shutdown().await;
    let out = e
        .run(
            aegis_dr_core::journal::Operation::Failover,
            aegis_dr_core::IncidentClass::RegionOutage,
            flags(),
        )
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let c = replica(&e, "a", &notes);
    wait_for("failback readiness", || {
        c.status.read().map(|s| s.failback_ready).unwrap_or(false)
    })
    .await;
    more_check_rounds(&c, 3).await;
    let text = std::fs::read_to_string(&file).expect("notes");
    assert_eq!(
        text.matches("ready to fail back").count(),
        1,
        "once: {text}"
    );
    assert!(text.contains(&out.report.run_id), "{text}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_condition_while_a_run_is_active_triggers_nothing() {
    let (exporter, prom) = setup().await;
    let notes = tempfile::tempdir().expect("notes");
    let e = estate(&prom, &notes, "approve");
    let c = replica(&e, "a", &notes);
    exporter.set(HEALTH, 0.1);
    // The approval holds the run.
    wait_for("the run to wait for approval", || {
        failovers(&e).iter().any(|r| {
            r.steps
                .iter()
                .any(|s| s.id == "hook.trigger-approval" && s.status == StepStatus::Running)
        })
    })
    .await;
    exporter.set(LAG, 600.0);
    wait_for("the lag trigger to be refused", || {
        c.status
            .read()
            .ok()
            .and_then(|s| s.last_action.clone())
            .is_some_and(|a| a.contains("`replication-lag`") && a.contains("not acting"))
    })
    .await;
    let id = failovers(&e)[0].run_id.clone();
    control::send(&e.state, &id, "oncall", Command::Approve { step: None }).expect("approve");
    wait_for("the failover to finish", || {
        failovers(&e)
            .iter()
            .any(|r| r.status == RunStatus::Succeeded)
    })
    .await;
    more_evaluations(&c, 4).await;
    assert_eq!(
        failovers(&e).len(),
        1,
        "the second condition started nothing"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_replicas_only_the_leader_acts_and_the_other_takes_over() {
    let (exporter, prom) = setup().await;
    let notes = tempfile::tempdir().expect("notes");
    let e = estate(&prom, &notes, "failover");
    let a = replica(&e, "a", &notes);
    wait_for("a to lead", || {
        a.status.read().map(|s| s.leader).unwrap_or(false)
    })
    .await;
    let b = replica(&e, "b", &notes);
    wait_for("b to evaluate", || {
        b.status.read().map(|s| s.evaluations > 2).unwrap_or(false)
    })
    .await;
    assert!(!b.status.read().expect("b").leader, "never both");
    a.shutdown().await;
    wait_for("b to take over", || {
        b.status.read().map(|s| s.leader).unwrap_or(false)
    })
    .await;
    exporter.set(HEALTH, 0.1);
    wait_for("b's failover", || {
        failovers(&e)
            .iter()
            .any(|r| r.status == RunStatus::Succeeded)
    })
    .await;
    assert_eq!(failovers(&e).len(), 1);
    b.shutdown().await;
}

/// A drift source answering what the test sets.
struct FixedDrift(std::sync::Mutex<aegis_dr_core::Result<Vec<aegis_dr_core::discover::Drift>>>);

#[async_trait::async_trait]
impl aegis_dr_core::discover::DriftSource for FixedDrift {
    async fn drift(&self) -> aegis_dr_core::Result<Vec<aegis_dr_core::discover::Drift>> {
        match &*self.0.lock().expect("lock") {
            Ok(v) => Ok(v.clone()),
            Err(e) => Err(aegis_dr_core::Error::new(e.kind(), e.to_string())),
        }
    }
}

fn a_drift(what: &str) -> aegis_dr_core::discover::Drift {
    aegis_dr_core::discover::Drift {
        provider: "aws".into(),
        kind: aegis_dr_core::discover::DriftKind::Added,
        table: aegis_dr_core::discover::Table::Databases,
        subject: "billing".into(),
        what: what.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_drift_is_escalated_once_and_an_unreadable_estate_is_unknown_not_none() {
    let (_exporter, prom) = setup().await;
    let notes = tempfile::tempdir().expect("notes");
    let file = notes.path().join("n.jsonl");
    let text = plan_text(&prom.url, &file, "failover").replace(
        "approve_timeout = \"1m\"",
        "approve_timeout = \"1m\"\ncheck_interval = \"200ms\"",
    );
    let e = Estate::new(fast_plan(&text));
    let source = Arc::new(FixedDrift(std::sync::Mutex::new(Ok(vec![a_drift(
        "the pair billing → billing-dr is not in the plan",
    )]))));
    let drift = source.clone();
    let c = start_with(
        &e,
        leader::for_state(&e.state, &e.plan.name, "a"),
        notes.path(),
        move |c| c.with_drift(drift),
    );
    wait_for("the drift escalation", || {
        std::fs::read_to_string(&file)
            .is_ok_and(|t| t.contains("plan drift") && t.contains("billing"))
    })
    .await;
    more_check_rounds(&c, 3).await;
    let notes_text = std::fs::read_to_string(&file).expect("notes");
    assert_eq!(notes_text.matches("plan drift").count(), 1, "{notes_text}");
    assert_eq!(
        c.status
            .read()
            .expect("status")
            .plan_drift
            .as_ref()
            .map(Vec::len),
        Some(1)
    );

    // The estate cannot be read: escalated once, and the drift is unknown (not an empty list).
    *source.0.lock().expect("lock") = Err(aegis_dr_core::Error::new(
        aegis_dr_core::ErrorKind::Unreachable,
        "rds: connection refused",
    ));
    wait_for("the unknown drift", || {
        c.status
            .read()
            .is_ok_and(|s| s.plan_drift.is_none() && s.drift_error.is_some())
    })
    .await;
    more_check_rounds(&c, 2).await;
    let notes_text = std::fs::read_to_string(&file).expect("notes");
    assert_eq!(
        notes_text.matches("could not be read").count(),
        1,
        "{notes_text}"
    );
    c.shutdown().await;
}
