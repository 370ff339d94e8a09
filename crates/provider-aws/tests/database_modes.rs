//! Multi-AZ instances and Aurora global databases: the conformance suite, a whole failover and
//! failback moving every kind of pair, and a forced Aurora failover. moto serves RDS, with the
//! forced Multi-AZ failover and the global switchover/failover that `scripts/moto_server.py` adds.

use aegis_dr_aws_sim::estate::{DbKind, MULTI_AZ_ZONES};
use aegis_dr_core::{
    clock::Clock,
    conformance,
    journal::{Operation, RunStatus},
    orchestrator::RunOutcome,
    provider::{DatabaseRef, DatabaseRole, FenceRequest, PromoteMode, PromoteRequest},
    SiteRole,
};

use crate::common::{world_with, World, WITHIN};

/// Runs `operation` and requires it to succeed.
async fn run_ok(w: &World, operation: Operation) -> RunOutcome {
    let out = crate::common::run(w, operation).await;
    assert!(
        out.error.is_none(),
        "{operation:?} failed: {:?}\n{}",
        out.error,
        out.report.to_markdown()
    );
    assert_eq!(out.report.status, RunStatus::Succeeded);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_az_pair_passes_the_database_conformance_suite() {
    let w = world_with(&[DbKind::MultiAz], "").await;
    conformance::database_failover(&w.aws, &w.plan, &Clock::new(), WITHIN).await;
    // Failed over to the standby zone and back: the writer is in its first zone again.
    let (status, writer, standby) = w.estate.multi_az_state().await;
    assert_eq!(
        (status.as_str(), writer.as_str(), standby.as_str()),
        ("available", MULTI_AZ_ZONES.0, MULTI_AZ_ZONES.1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aurora_global_pair_passes_the_database_conformance_suite() {
    let w = world_with(&[DbKind::AuroraGlobal], "").await;
    conformance::database_failover(&w.aws, &w.plan, &Clock::new(), WITHIN).await;
    let (status, writer, op) = w.estate.global_state().await;
    assert_eq!(status, "available");
    assert_eq!(writer, w.estate.aurora.0, "switched over and back");
    assert_eq!(op, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_failback_move_every_kind_of_database_pair() {
    let w = world_with(
        &[
            DbKind::ReplicaPromotion,
            DbKind::MultiAz,
            DbKind::AuroraGlobal,
        ],
        "",
    )
    .await;
    let e = &w.estate;
    let out = run_ok(&w, Operation::Failover).await;
    // Multi-AZ: the writer moved to the standby zone through a forced failover.
    let (_, writer, standby) = e.multi_az_state().await;
    assert_eq!(
        (writer.as_str(), standby.as_str()),
        (MULTI_AZ_ZONES.1, MULTI_AZ_ZONES.0)
    );
    // Aurora: the DR cluster is the writer (planned switchover, no data loss).
    let (status, writer, _) = e.global_state().await;
    assert_eq!(
        (status.as_str(), writer.as_str()),
        ("available", e.aurora.1.as_str())
    );
    let rds = e.rds("us-east-1");
    let old = rds
        .describe_db_clusters()
        .db_cluster_identifier(&e.aurora.0)
        .send()
        .await
        .expect("describe old primary cluster");
    let old = &old.db_clusters()[0];
    assert!(
        old.tag_list()
            .iter()
            .any(|t| t.key() == Some("aegis-dr:fenced") && t.value() == Some("true")),
        "old primary cluster fenced: {old:?}"
    );
    assert_eq!(
        old.db_cluster_parameter_group(),
        Some(e.cluster_fence_group.as_str()),
        "fenced through the read-only cluster parameter group"
    );
    let md = out.report.to_markdown();
    assert!(md.contains("sessions") && md.contains("ledger"), "{md}");

    e.stop_source_instance().await;
    let back = run_ok(&w, Operation::Failback).await;
    // Before anything changed, every pair's serving instance was snapshotted: a DB snapshot of the
    // replica (in the DR region) and of the Multi-AZ instance, a cluster snapshot of Aurora's.
    let backup = back
        .report
        .steps
        .iter()
        .find(|s| s.id == "backup-dr-db")
        .expect("backup step");
    let taken = backup.data["snapshots"]
        .as_array()
        .expect("snapshots")
        .clone();
    assert_eq!(taken.len(), 3, "{taken:?}");
    let name_of = |db: &str| {
        taken
            .iter()
            .find(|t| t["database"] == db)
            .and_then(|t| t["snapshot"].as_str())
            .unwrap_or_else(|| panic!("no snapshot of {db}: {taken:?}"))
            .to_string()
    };
    let dr_rds = e.rds("us-west-2");
    let snap = dr_rds
        .describe_db_snapshots()
        .db_snapshot_identifier(name_of("orders"))
        .send()
        .await
        .expect("the replica's snapshot exists");
    assert_eq!(
        snap.db_snapshots()[0].db_instance_identifier(),
        Some(e.db_dr.as_str())
    );
    let snap = rds
        .describe_db_snapshots()
        .db_snapshot_identifier(name_of("sessions"))
        .send()
        .await
        .expect("the Multi-AZ instance's snapshot exists");
    assert_eq!(
        snap.db_snapshots()[0].db_instance_identifier(),
        Some(e.db_multi_az.as_str())
    );
    let snap = dr_rds
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(name_of("ledger"))
        .send()
        .await
        .expect("the Aurora cluster's snapshot exists");
    assert_eq!(
        snap.db_cluster_snapshots()[0].db_cluster_identifier(),
        Some(e.aurora.1.as_str())
    );
    let fence = back
        .report
        .steps
        .iter()
        .find(|s| s.id == "fence-dr-db")
        .expect("fence step");
    assert!(
        backup.finished_at <= fence.started_at,
        "the backup ended before the fence began"
    );
    let (status, writer, standby) = e.multi_az_state().await;
    assert_eq!(
        (status.as_str(), writer.as_str(), standby.as_str()),
        ("available", MULTI_AZ_ZONES.0, MULTI_AZ_ZONES.1)
    );
    let (status, writer, _) = e.global_state().await;
    assert_eq!(
        (status.as_str(), writer.as_str()),
        ("available", e.aurora.0.as_str())
    );
    let p = rds
        .describe_db_clusters()
        .db_cluster_identifier(&e.aurora.0)
        .send()
        .await
        .expect("describe primary cluster");
    let p = &p.db_clusters()[0];
    assert!(
        !p.tag_list()
            .iter()
            .any(|t| t.key() == Some("aegis-dr:fenced")),
        "primary cluster unfenced: {p:?}"
    );
    assert_ne!(
        p.db_cluster_parameter_group(),
        Some(e.cluster_fence_group.as_str()),
        "its original parameter group is back"
    );
    // Every pair reads as home: primary writable, DR replicating from it.
    for d in &w.plan.databases {
        let at = |site| DatabaseRef {
            database: d.name.clone(),
            instance: d.instance(site).to_string(),
            site,
        };
        let p = w
            .aws
            .database
            .as_ref()
            .expect("database")
            .status(&at(SiteRole::Primary))
            .await
            .expect("status");
        assert_eq!(
            (p.role, p.fenced),
            (DatabaseRole::Primary, false),
            "{}",
            d.name
        );
        let r = w
            .aws
            .database
            .as_ref()
            .expect("database")
            .status(&at(SiteRole::Dr))
            .await
            .expect("status");
        assert_eq!(r.role, DatabaseRole::Replica, "{}", d.name);
        assert_eq!(
            r.replicating_from.as_deref(),
            Some(d.primary.as_str()),
            "{}",
            d.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_aurora_promotion_fails_over_allowing_data_loss() {
    let w = world_with(&[DbKind::AuroraGlobal], "").await;
    let e = &w.estate;
    let db = w.aws.database.as_ref().expect("database");
    let req = fence_then_promote(&w, PromoteMode::Forced, "split-brain").await;
    let (status, _, op) = e.global_state().await;
    assert_eq!(status, "failing-over");
    assert_eq!(
        op,
        Some(("failing-over".to_string(), e.aurora.1.clone(), true))
    );
    // Promoting again while it runs observes the operation instead of starting another.
    db.promote(&req)
        .await
        .expect("idempotent while failing over");
    let dr = db.status(&req.target).await.expect("status");
    assert_eq!(dr.replication_lag, None, "no lag is known mid-failover");
    await_dr_serving(&w).await;
    let old = db.status(&req.old_primary).await.expect("status");
    assert_eq!(
        old.role,
        DatabaseRole::Replica,
        "the old primary stays, as a secondary"
    );
    assert_eq!(old.replicating_from.as_deref(), Some(e.aurora.1.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_az_failover_is_confirmed_only_once_the_new_writer_serves() {
    let w = world_with(&[DbKind::MultiAz], "").await;
    let e = &w.estate;
    let db = w.aws.database.as_ref().expect("database");
    let req = fence_then_promote(&w, PromoteMode::Planned, "not fenced").await;
    let (status, writer, _) = e.multi_az_state().await;
    assert_eq!(
        (status.as_str(), writer.as_str()),
        ("rebooting", MULTI_AZ_ZONES.0)
    );
    // Mid-failover: the DR zone is not primary yet and its lag is unknown; asking again observes.
    let dr = db.status(&req.target).await.expect("status");
    assert_eq!((dr.role, dr.replication_lag), (DatabaseRole::Replica, None));
    db.promote(&req).await.expect("idempotent while rebooting");
    await_dr_serving(&w).await;
    let (status, writer, standby) = e.multi_az_state().await;
    assert_eq!(
        (status.as_str(), writer.as_str(), standby.as_str()),
        ("available", MULTI_AZ_ZONES.1, MULTI_AZ_ZONES.0)
    );
    let old = db.status(&req.old_primary).await.expect("status");
    assert_eq!(
        old.role,
        DatabaseRole::Replica,
        "the old writer is the standby"
    );
    assert_eq!(old.replication_lag, Some(std::time::Duration::ZERO));
}

/// The first database pair of the plan at `site`.
fn pair_at(w: &World, site: SiteRole) -> DatabaseRef {
    let d = &w.plan.databases[0];
    DatabaseRef {
        database: d.name.clone(),
        instance: d.instance(site).to_string(),
        site,
    }
}

/// Promotes the first pair's DR side: refused (the error containing `refusal`) while the writer
/// is not fenced, started once it is. Returns the request, to repeat it.
async fn fence_then_promote(w: &World, mode: PromoteMode, refusal: &str) -> PromoteRequest {
    let db = w.aws.database.as_ref().expect("database");
    let req = PromoteRequest {
        target: pair_at(w, SiteRole::Dr),
        old_primary: pair_at(w, SiteRole::Primary),
        mode,
    };
    let refused = db.promote(&req).await.expect_err("unfenced writer");
    assert!(refused.to_string().contains(refusal), "{refused}");
    db.fence(&FenceRequest {
        target: req.old_primary.clone(),
        fenced: true,
    })
    .await
    .expect("fence");
    db.promote(&req).await.expect("promotion starts");
    req
}

/// Polls until the first pair's DR side serves as the writer (primary, not fenced), within
/// [`WITHIN`].
async fn await_dr_serving(w: &World) {
    let db = w.aws.database.as_ref().expect("database");
    let dr = pair_at(w, SiteRole::Dr);
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let s = db.status(&dr).await.expect("status");
        if s.role == DatabaseRole::Primary && !s.fenced {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "DR never became the serving writer: {s:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
