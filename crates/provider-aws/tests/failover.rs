//! Failover and failback of a whole AWS estate through the orchestrator, checking the cloud state
//! afterwards through the SDK; and the DRS backout when the failback job fails.

use aegis_dr_core::{
    journal::{Operation, RunFlags, RunStatus},
    orchestrator::{Orchestrator, RunRequest},
    IncidentClass,
};

use crate::common::{run, world};

fn source_of(i: &aws_sdk_rds::types::DbInstance) -> Option<String> {
    i.read_replica_source_db_instance_identifier()
        .map(|s| s.rsplit(":db:").next().unwrap_or(s).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_then_failback_moves_the_whole_estate_and_back() {
    let w = world("").await;
    let e = &w.estate;

    let out = run(&w, Operation::Failover).await;
    assert!(
        out.error.is_none(),
        "failover failed: {:?}\n{}",
        out.error,
        out.report.to_markdown()
    );
    assert_eq!(out.report.status, RunStatus::Succeeded);
    // DNS points at DR; the DR replica is a writable primary; the old primary is fenced.
    assert_eq!(e.record_now().await.0, "lb-usw2.example.com");
    let dr = e
        .db_instance("us-west-2", &e.db_dr)
        .await
        .expect("DR instance");
    assert_eq!(source_of(&dr), None, "DR promoted");
    let old = e
        .db_instance("us-east-1", &e.db_primary)
        .await
        .expect("old primary");
    let tag = |i: &aws_sdk_rds::types::DbInstance, k: &str| {
        i.tag_list()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(String::from)
    };
    assert_eq!(tag(&old, "aegis-dr:fenced").as_deref(), Some("true"));
    assert_eq!(
        old.db_parameter_groups()
            .first()
            .and_then(|g| g.db_parameter_group_name()),
        Some(e.fence_group.as_str()),
        "fenced through the read-only parameter group"
    );
    // DR nodes at production size and Ready; DRS recovered the source server.
    let (min, max, desired, ready) = e.asg("us-west-2", &e.asgs.1).await;
    assert_eq!((min, max, desired), (2, 4, 3));
    assert_eq!(ready, 3);
    let instances = e.sim.with(|s| s.recovery_instances());
    assert!(
        instances
            .iter()
            .any(|(_, src, _, drill)| *src == e.source_server && !drill),
        "recovery instance launched: {instances:?}"
    );

    // The region outage took the source machine down; failback must bring it back.
    e.stop_source_instance().await;
    let out = run(&w, Operation::Failback).await;
    assert!(
        out.error.is_none(),
        "failback failed: {:?}\n{}",
        out.error,
        out.report.to_markdown()
    );
    assert_eq!(
        e.record_now().await,
        (
            "lb-use1.example.com".to_string(),
            i64::from(aegis_dr_aws_sim::estate::RECORD_TTL)
        )
    );
    let p = e
        .db_instance("us-east-1", &e.db_primary)
        .await
        .expect("primary");
    assert_eq!(source_of(&p), None, "primary writable again");
    assert_eq!(tag(&p, "aegis-dr:fenced"), None);
    // It was re-created as a replica of DR during the failback and promoted: the tag went with it.
    assert_eq!(
        tag(&p, "aegis-dr:replica-of"),
        None,
        "promoted: replicates from nothing"
    );
    let d = e
        .db_instance("us-west-2", &e.db_dr)
        .await
        .expect("DR replica");
    assert_eq!(
        source_of(&d).as_deref(),
        Some(e.db_primary.as_str()),
        "DR re-protected"
    );
    assert_eq!(
        tag(&d, "aegis-dr:replica-of").as_deref(),
        Some(e.db_primary.as_str()),
        "the replica-of tag names its real source"
    );
    let (_, _, desired, _) = e.asg("us-west-2", &e.asgs.1).await;
    assert_eq!(desired, 1, "DR back at standby");
    assert_eq!(
        e.source_instance_state().await,
        "running",
        "failed-back instance runs"
    );
    assert!(
        e.sim.with(|s| s.recovery_instances()).is_empty(),
        "recovery instance retired"
    );
    assert_eq!(
        e.sim.with(|s| s.source_server_protected(&e.source_server)),
        Some(true)
    );
    // The superseded instances were kept, never deleted.
    // Every page: an emulator kept up between runs may hold more than one page of instances.
    let all = e
        .rds("us-east-1")
        .describe_db_instances()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("list")
        .iter()
        .filter_map(|i| i.db_instance_identifier().map(String::from))
        .collect::<Vec<_>>();
    assert!(
        all.iter()
            .any(|i| i.starts_with(&format!("{}-aegis-", e.db_primary))),
        "superseded primary kept: {all:?}"
    );
    // The DRS job log was copied into the report.
    let md = out.report.to_markdown();
    assert!(
        md.contains("LAUNCH_END")
            || serde_json::to_string(&out.report)
                .unwrap_or_default()
                .contains("LAUNCH_END")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_failback_job_is_backed_out_and_traffic_stays_on_dr() {
    let w = world("").await;
    let e = &w.estate;
    let out = run(&w, Operation::Failover).await;
    assert!(out.error.is_none(), "failover failed: {:?}", out.error);
    e.sim.with(|s| s.fail_next_failback_jobs = 1);
    let out = run(&w, Operation::Failback).await;
    let err = out.error.expect("the failback must fail");
    assert!(err.to_string().contains("backed out"), "{err}");
    assert_eq!(out.report.status, RunStatus::Failed);
    // Backout: StopFailback returned the instance to FAILBACK_NOT_STARTED; DNS still on DR.
    let inst = e.sim.with(|s| s.recovery_instances());
    assert!(
        inst.iter()
            .all(|(_, _, state, _)| state == "FAILBACK_NOT_STARTED"),
        "{inst:?}"
    );
    assert_eq!(e.record_now().await.0, "lb-usw2.example.com");
    let requests = e.sim.with(|s| s.requests.clone());
    assert!(
        requests.iter().any(|r| r == "drs:StopFailback"),
        "{requests:?}"
    );

    // The backout's second half: resumed with a chosen recovery point (an hour back, beyond the
    // RPO, so the data loss is accepted), the DR instance is relaunched from that snapshot, the
    // one it replaces is terminated, and the failback runs again.
    let old: Vec<String> = inst.iter().map(|i| i.0.clone()).collect();
    let rs = w.aws.recovery.clone().expect("recovery");
    let points = rs.recovery_points(&e.source_server).await.expect("points");
    let point = points
        .iter()
        .find(|p| p.id.ends_with("-h1"))
        .unwrap_or_else(|| panic!("no point an hour back: {points:?}"))
        .id
        .clone();
    let out = Orchestrator::new(
        w.plan.clone(),
        w.providers.clone(),
        w.dir.path().join("state"),
    )
    .with_recovery_point(Some(point.clone()))
    .run(RunRequest {
        operation: Operation::Failback,
        class: IncidentClass::RegionOutage,
        flags: RunFlags {
            accept_data_loss: true,
            ..RunFlags::default()
        },
        resume: Some(out.report.run_id.clone()),
        abandon: None,
    })
    .await
    .expect("resume starts");
    assert!(
        out.error.is_none(),
        "{:?}\n{}",
        out.error,
        out.report.to_markdown()
    );
    assert_eq!(out.report.recovery_point.as_deref(), Some(point.as_str()));
    let requests = e.sim.with(|s| s.requests.clone());
    for call in ["drs:StartRecovery", "drs:TerminateRecoveryInstances"] {
        assert_eq!(
            requests.iter().filter(|r| *r == call).count(),
            if call == "drs:StartRecovery" { 2 } else { 1 },
            "{call}: {requests:?}"
        );
    }
    let log = format!("{:?}", out.report.steps);
    assert!(log.contains("USING_PREVIOUS_SNAPSHOT"), "{log}");
    // The relaunched instance failed back and was re-protected (gone); the replaced one too.
    let now = e.sim.with(|s| s.recovery_instances());
    assert!(now.iter().all(|i| !old.contains(&i.0)), "{now:?}");
    assert!(now.is_empty(), "{now:?}");
    assert_eq!(e.record_now().await.0, "lb-use1.example.com");
    assert_eq!(
        e.sim.with(|s| s.source_server_protected(&e.source_server)),
        Some(true)
    );
}
