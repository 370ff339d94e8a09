//! Orchestrator behaviour on the simulated estate, in virtual time.

use std::time::Duration;

use aegis_dr_core::{
    journal::{Entry, Operation, RunFlags, RunStatus},
    plan::{SimFault, SiteRole},
    provider::{
        DatabaseRole, FailbackState, ORIGINAL_REPLICAS_ANNOTATION, SCALED_BY_RUN_ANNOTATION,
    },
    report::StepStatus,
    ErrorKind, IncidentClass,
};

use crate::common::*;

const RO: IncidentClass = IncidentClass::RegionOutage;

fn fault(op: &str, resource: Option<&str>, error: &str, times: u32) -> SimFault {
    SimFault {
        operation: op.parse().expect("a provider operation"),
        resource: resource.map(String::from),
        error: error.into(),
        times,
    }
}

#[tokio::test(start_paused = true)]
async fn drill_fails_over_and_back_to_the_initial_world() {
    let e = Estate::new(plan());
    let before = canonical(&e.world());
    let out = e.run(Operation::Drill, RO, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let r = &out.report;
    assert_eq!(r.status, RunStatus::Succeeded);
    assert!(r.steps.iter().all(|s| s.status == StepStatus::Succeeded));
    let rto = r.achieved.rto_seconds.expect("achieved RTO");
    assert!(rto > 0.0 && rto < 1800.0, "{rto}");
    // Drill recovery instances carry the recovery point age as the data-loss window.
    assert_eq!(r.achieved.rpo_seconds, Some(20.0));
    assert_eq!(r.achieved.within_targets, Some(true));
    assert_eq!(
        canonical(&e.world()),
        before,
        "a drill leaves the estate as it found it"
    );
    for file in ["report.json", "report.md", "report.html"] {
        assert!(
            !e.report_file(&out.report.run_id, file).is_empty(),
            "{file}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn failover_moves_everything_and_records_original_replicas() {
    let e = Estate::new(plan());
    let out = e.run(Operation::Failover, RO, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let w = e.world();
    assert_eq!(w.databases["orders-usw2"].role, DatabaseRole::Primary);
    assert!(!w.databases["orders-usw2"].fenced);
    assert!(w.databases["orders-use1"].fenced, "old primary fenced");
    assert_eq!(
        w.records["example.com/api.example.com/CNAME"].target,
        "lb-usw2.example.com"
    );
    assert!(w.health_checks["hc-use1"], "primary health check disabled");
    assert_eq!(w.pools["dr/dr/dr-pool"].size.desired, 6);
    let api = &w.workloads["dr/dr/prod/Deployment/api"];
    assert_eq!(api.replicas, 6);
    assert_eq!(api.annotations[ORIGINAL_REPLICAS_ANNOTATION], "2");
    assert_eq!(api.annotations[SCALED_BY_RUN_ANNOTATION], out.report.run_id);
    assert_eq!(
        w.workloads["primary/prod/prod/Deployment/api"].annotations["aegis.io/drain"],
        "true"
    );
    assert_eq!(
        w.workloads["dr/dr/web/Deployment/web"].replicas, 4,
        "selector group scaled"
    );
    assert_eq!(out.report.achieved.rpo_seconds, Some(20.0));
    // A second failover while on DR is refused ("already on DR") and changes nothing.
    let again = e
        .orchestrator()
        .run(aegis_dr_core::orchestrator::RunRequest {
            operation: Operation::Failover,
            class: RO,
            flags: flags(),
            resume: None,
            abandon: None,
        })
        .await;
    let err = again.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(err.to_string().contains("already on DR"), "{err}");
    assert_eq!(canonical(&e.world()), canonical(&w));
}

#[tokio::test(start_paused = true)]
async fn rpo_gate_refuses_excess_lag_unless_data_loss_is_accepted() {
    let mut p = plan();
    p.sim.replication_lag = 10 * MINUTE;
    let e = Estate::new(p);
    let before = canonical(&e.world());
    let out = e.run(Operation::Failover, RO, flags()).await;
    let err = out.error.expect("refused");
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(err.to_string().contains("replication lag 10m"), "{err}");
    assert!(err.to_string().contains("--accept-data-loss"), "{err}");
    assert_eq!(out.report.status, RunStatus::Refused);
    assert_eq!(canonical(&e.world()), before, "a refusal changes nothing");

    let out = e
        .run(
            Operation::Failover,
            RO,
            RunFlags {
                accept_data_loss: true,
                ..flags()
            },
        )
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    // Planned promotion after fencing waited for the replica: nothing lost beyond the recovery point.
    assert_eq!(
        e.world().databases["orders-usw2"].role,
        DatabaseRole::Primary
    );
}

#[tokio::test(start_paused = true)]
async fn unreachable_primary_needs_the_flag_and_forces_promotion() {
    let mut p = plan();
    p.sim.primary_reachable = false;
    p.sim.replication_lag = Duration::from_secs(45);
    let e = Estate::new(p);
    let out = e.run(Operation::Failover, RO, flags()).await;
    let err = out.error.expect("refused");
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    assert!(err.to_string().contains("--primary-unreachable"), "{err}");

    let out = e
        .resume(
            Operation::Failover,
            &out.report.run_id,
            RunFlags {
                primary_unreachable: true,
                ..flags()
            },
        )
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(
        out.report.achieved.rpo_seconds,
        Some(45.0),
        "forced promotion loses the lag"
    );
    assert_eq!(out.report.resumes, 1);
    let w = e.world();
    assert_eq!(w.databases["users-usw2"].role, DatabaseRole::Primary);
    assert_eq!(
        w.records["example.com/api.example.com/CNAME"].target,
        "lb-usw2.example.com"
    );
}

#[tokio::test(start_paused = true)]
async fn passing_the_rto_escalates_and_the_run_continues() {
    let mut p = plan();
    p.sim.node_boot = 40 * MINUTE;
    let e = Estate::new(p);
    let out = e.run(Operation::Failover, RO, flags()).await;
    assert_eq!(
        out.error.expect("estimate exceeds RTO").kind(),
        ErrorKind::Refused
    );
    let out = e
        .run(
            Operation::Failover,
            RO,
            RunFlags {
                force: true,
                ..flags()
            },
        )
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let r = &out.report;
    assert_eq!(r.escalations.len(), 1, "{:?}", r.escalations);
    assert_eq!(r.escalations[0].reason, "rto-exceeded");
    assert!(r.achieved.rto_seconds.expect("rto") > 1800.0);
    assert_eq!(r.achieved.within_targets, Some(false));
}

#[tokio::test(start_paused = true)]
async fn a_wait_that_never_ends_gives_up_with_exceeded_max_wait() {
    let mut p = plan();
    p.sim.node_boot = Duration::from_secs(5 * 3600);
    let e = Estate::new(p);
    let out = e
        .run(
            Operation::Failover,
            RO,
            RunFlags {
                force: true,
                ..flags()
            },
        )
        .await;
    let err = out.error.expect("times out");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("exceeded max wait"), "{err}");
    let step = out
        .report
        .steps
        .iter()
        .find(|s| s.id == "scale-dr-nodes")
        .expect("step");
    assert_eq!(step.status, StepStatus::Failed);
    // Gave up at RTO + overrun (2 x 30 min) in virtual time.
    assert!(
        (3600.0..3700.0).contains(&out.report.duration_seconds),
        "{}",
        out.report.duration_seconds
    );
}

#[tokio::test(start_paused = true)]
async fn integrity_failure_stops_the_failover_and_escalates() {
    let mut p = plan();
    p.sim.faults = vec![fault("verify_integrity", Some("orders"), "integrity", 0)];
    let e = Estate::new(p);
    let out = e.run(Operation::Failover, RO, flags()).await;
    let err = out.error.expect("fails");
    assert_eq!(err.kind(), ErrorKind::Integrity);
    assert!(out
        .report
        .escalations
        .iter()
        .any(|x| x.reason == "data-integrity"));
    assert_eq!(out.report.status, RunStatus::Failed);
}

#[tokio::test(start_paused = true)]
async fn twenty_percent_transient_faults_still_complete() {
    let mut p = plan();
    p.sim.transient_fault_rate = 0.2;
    p.sim.seed = 2024;
    let e = Estate::new(p);
    let clean = Estate::new(plan());
    assert!(clean
        .run(Operation::Failover, RO, flags())
        .await
        .error
        .is_none());
    let out = e.run(Operation::Failover, RO, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let retries: u32 = out.report.steps.iter().map(|s| s.retries).sum();
    assert!(retries > 5, "faults were retried: {retries}");
    assert_eq!(
        canonical(&e.world()),
        canonical(&clean.world()),
        "same end state as a clean run"
    );
}

#[tokio::test(start_paused = true)]
async fn failed_failback_job_is_backed_out_and_dns_stays_on_dr() {
    let mut p = plan();
    p.sim.faults = vec![fault("start_failback", None, "job-failure", 1)];
    p.sim.primary_stable_for = Duration::from_secs(3 * 3600);
    let e = Estate::new(p);
    assert!(e
        .run(Operation::Failover, RO, flags())
        .await
        .error
        .is_none());
    let out = e.run(Operation::Failback, RO, flags()).await;
    let err = out.error.expect("failback job fails");
    assert!(
        err.to_string().contains("backed out with stop_failback"),
        "{err}"
    );
    let w = e.world();
    let inst: Vec<_> = w.recovery_instances.values().collect();
    assert_eq!(inst.len(), 1);
    assert_eq!(
        inst[0].failback_state,
        FailbackState::FailbackNotReadyForLaunch
    );
    assert_eq!(
        w.records["example.com/api.example.com/CNAME"].target, "lb-usw2.example.com",
        "traffic stays on DR"
    );
    assert_eq!(
        w.databases["orders-usw2"].role,
        DatabaseRole::Primary,
        "DR database still primary"
    );
    assert!(
        !w.databases["orders-usw2"].fenced,
        "DR database still writable"
    );
}

#[tokio::test(start_paused = true)]
async fn failback_restores_exact_counts_and_a_second_failover_records_fresh_ones() {
    let e = Estate::new(plan());
    let initial = canonical(&e.world());
    assert!(e
        .run(Operation::Failover, RO, flags())
        .await
        .error
        .is_none());
    let out = e.run(Operation::Failback, RO, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let w = e.world();
    let api = &w.workloads["dr/dr/prod/Deployment/api"];
    assert_eq!(api.replicas, 2, "restored exactly");
    assert!(
        api.annotations.is_empty(),
        "annotations cleared: {:?}",
        api.annotations
    );
    assert_eq!(
        canonical(&w),
        initial,
        "failback returns to the initial estate"
    );

    // Someone changes the DR standby count; the next failover must record 3, not a stale 2.
    e.sim
        .mutate(|w| {
            let a = w
                .workloads
                .get_mut("dr/dr/prod/Deployment/api")
                .expect("api");
            a.replicas = 3;
            a.prev_available = 3;
        })
        .expect("mutate");
    assert!(e
        .run(Operation::Failover, RO, flags())
        .await
        .error
        .is_none());
    assert_eq!(
        e.world().workloads["dr/dr/prod/Deployment/api"].annotations[ORIGINAL_REPLICAS_ANNOTATION],
        "3"
    );
    assert!(e
        .run(Operation::Failback, RO, flags())
        .await
        .error
        .is_none());
    assert_eq!(e.world().workloads["dr/dr/prod/Deployment/api"].replicas, 3);
}

#[tokio::test(start_paused = true)]
async fn failback_waits_for_a_stable_primary_unless_forced() {
    let mut p = plan();
    p.sim.primary_stable_for = 30 * MINUTE;
    let e = Estate::new(p);
    assert!(e
        .run(Operation::Failover, RO, flags())
        .await
        .error
        .is_none());
    let out = e.run(Operation::Failback, RO, flags()).await;
    let err = out.error.expect("refused");
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(err.to_string().contains("requires 2h"), "{err}");
    let out = e
        .run(
            Operation::Failback,
            RO,
            RunFlags {
                force: true,
                ..flags()
            },
        )
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
}

#[tokio::test(start_paused = true)]
async fn a_failed_step_resumes_to_the_same_end_state() {
    let mut p = plan();
    p.sim.faults = vec![fault(
        "promote_database",
        Some("users-usw2"),
        "permanent",
        1,
    )];
    let e = Estate::new(p);
    let out = e.run(Operation::Failover, RO, flags()).await;
    let err = out.error.expect("promotion fails once");
    assert_eq!(
        err.resource(),
        Some("users-usw2"),
        "the error names the resource: {err}"
    );
    let out = e
        .resume(Operation::Failover, &out.report.run_id, flags())
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let clean = Estate::new(plan());
    assert!(clean
        .run(Operation::Failover, RO, flags())
        .await
        .error
        .is_none());
    assert_eq!(canonical(&e.world()), canonical(&clean.world()));
    // The journal shows the retried step started twice.
    let entries = e.entries(&out.report.run_id);
    let starts = entries
        .iter()
        .filter(|x| matches!(x, Entry::StepStarted { step, .. } if step == "promote-dr-db"))
        .count();
    assert_eq!(starts, 2);
}

#[tokio::test(start_paused = true)]
async fn every_incident_class_runs_and_measures_its_rpo() {
    for (class, rpo) in [
        (IncidentClass::DatabaseCorruption, Some(0.0)),
        (IncidentClass::NetworkPartition, Some(0.0)),
        (IncidentClass::ComputeFailure, Some(20.0)),
    ] {
        let mut p = plan();
        p.recovery_servers.clear();
        if class == IncidentClass::ComputeFailure {
            p = plan();
        }
        let e = Estate::new(p);
        let out = e.run(Operation::Failover, class, flags()).await;
        assert!(out.error.is_none(), "{class}: {:?}", out.error);
        assert_eq!(out.report.achieved.rpo_seconds, rpo, "{class}");
        let w = e.world();
        match class {
            IncidentClass::DatabaseCorruption => {
                assert_eq!(w.databases["orders-usw2"].role, DatabaseRole::Primary);
                assert_eq!(
                    w.records["example.com/api.example.com/CNAME"].target, "lb-use1.example.com",
                    "DNS untouched"
                );
                assert!(!w.workloads["primary/prod/prod/Deployment/api"]
                    .annotations
                    .contains_key("aegis.io/drain"));
            }
            _ => {
                assert_eq!(
                    w.databases["orders-use1"].role,
                    DatabaseRole::Primary,
                    "{class}: database stays"
                );
                assert_eq!(
                    w.records["example.com/api.example.com/CNAME"].target,
                    "lb-usw2.example.com"
                );
            }
        }
        // Whatever moved, failback brings it home.
        let back = e.run(Operation::Failback, class, flags()).await;
        assert!(back.error.is_none(), "{class} failback: {:?}", back.error);
        assert_eq!(
            e.world().databases["orders-use1"].role,
            DatabaseRole::Primary
        );
        assert_eq!(e.world().sites[&SiteRole::Primary].drain_started_ms, None);
    }
}

#[tokio::test(start_paused = true)]
async fn the_estimate_follows_the_critical_path() {
    let e = Estate::new(plan());
    let p = e.orchestrator().preview(Operation::Failover, RO);
    // node boot (3m) + rollout (90s) outweigh drain + promotion; DNS propagation (30s) follows.
    assert!(
        p.estimate.critical_path.contains(&"scale-dr-nodes".into()),
        "{:?}",
        p.estimate.critical_path
    );
    assert!(
        p.estimate.critical_path.contains(&"recover-servers".into())
            || p.estimate.total > Duration::from_secs(300)
    );
    assert!(p.estimate.total < p.targets.rto);
    assert_eq!(
        p.graph.steps.first().map(|s| s.id.as_str()),
        Some("preflight")
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_is_a_send_future_so_embedders_can_spawn_it() {
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let e = Estate::new(plan());
    let orch = e.orchestrator();
    let fut = assert_send(orch.run(aegis_dr_core::orchestrator::RunRequest {
        operation: Operation::Failover,
        class: RO,
        flags: flags(),
        resume: None,
        abandon: None,
    }));
    let out = fut.await.expect("runs");
    assert!(out.error.is_none(), "{:?}", out.error);
}

#[tokio::test(start_paused = true)]
async fn the_journal_has_every_dependency_done_before_a_step_starts() {
    let e = Estate::new(plan());
    let out = e.run(Operation::Drill, RO, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let entries = e.entries(&out.report.run_id);
    let Some(Entry::RunStarted { steps, .. }) = entries.first() else {
        panic!("the journal starts with run_started");
    };
    let mut done = std::collections::HashSet::new();
    let mut started = 0;
    for entry in &entries {
        match entry {
            Entry::StepStarted { step, .. } => {
                started += 1;
                let info = steps.iter().find(|s| &s.id == step).expect("a known step");
                for dep in &info.deps {
                    assert!(
                        done.contains(dep),
                        "{step} started before {dep} was journaled done"
                    );
                }
            }
            Entry::StepSucceeded { step, .. } => {
                done.insert(step.clone());
            }
            _ => {}
        }
    }
    assert_eq!(started, steps.len(), "every step started once");
    assert_eq!(done.len(), steps.len(), "every step journaled done");
    assert!(matches!(entries.last(), Some(Entry::RunFinished { .. })));
}

#[tokio::test(start_paused = true)]
async fn only_steps_that_read_the_estate_start_without_a_commit() {
    let e = Estate::new(plan());
    let p = e.orchestrator().preview(Operation::Drill, RO);
    let observing: Vec<&str> = p
        .graph
        .steps
        .iter()
        .filter(|s| s.kind.observes_only())
        .map(|s| s.id.as_str())
        .collect();
    // Checks, gates, verification and the dry run; every step that changes the estate (drain,
    // fence, promote, DNS, scaling, recovery, reverse replication) commits its start first.
    assert_eq!(
        observing,
        [
            "failover.preflight",
            "failover.verify-dr",
            "failback.stable-gate",
            "failback.sync-dry-run",
            "failback.verify-primary"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_deployment_and_a_statefulset_of_one_name_each_reach_their_own_replicas() {
    // Goals are kept per workload group: a StatefulSet `api` next to the Deployment `api` in the
    // same namespace has its own production count, and the rollout wait checks each against its own.
    let mut p = plan();
    let mut sts = p.workloads[0].clone();
    sts.name = "api-db".into();
    sts.kind = aegis_dr_core::plan::WorkloadKind::StatefulSet;
    sts.names = vec!["api".into()];
    sts.production_replicas = 3;
    sts.standby_replicas = 1;
    p.workloads.push(sts);
    let e = Estate::new(p);
    let out = e.run(Operation::Failover, RO, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let w = e.world();
    assert_eq!(w.workloads["dr/dr/prod/Deployment/api"].replicas, 6);
    assert_eq!(w.workloads["dr/dr/prod/StatefulSet/api"].replicas, 3);
}
