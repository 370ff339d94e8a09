//! What the real services answer that a kind simulator would not: each fault of the simulator's
//! matrix, and the real-world durations, met by the provider. Tests marked `start_paused` run in
//! virtual time: the simulator's operations take Google's durations (a switchover minutes, a
//! node-pool resize minutes) and the provider polls them with its production defaults.

use std::time::Duration;

use aegis_dr_core::{
    clock::Clock,
    conformance,
    plan::PoolSize,
    provider::{
        DatabaseRef, DatabaseRole, FenceRequest, PoolRef, PromoteMode, PromoteRequest, ProviderSet,
        ScalePool,
    },
    ErrorKind, Plan, SiteRole,
};
use aegis_dr_gcp_sim::{estate, GcpSim};

use crate::common::{builder, example_plan, example_text, refs};

fn dr_pool() -> PoolRef {
    PoolRef {
        site: SiteRole::Dr,
        cluster: estate::DR_CLUSTER.into(),
        name: estate::POOL.into(),
    }
}

const PRODUCTION: PoolSize = PoolSize {
    min: 3,
    max: 10,
    desired: 6,
};

/// The runbook's estate with Google's real-world durations.
async fn realistic() -> GcpSim {
    let sim = GcpSim::start().await.expect("simulator starts");
    sim.with(|s| {
        estate::runbook(s);
        s.realistic_durations();
    });
    sim
}

/// Providers for `plan` with the production defaults (5 s polls, 15 min operation wait) unless
/// `timeout` says otherwise, on a clock made now (virtual under a paused runtime).
async fn defaults(sim: &GcpSim, plan: &Plan, timeout: Option<Duration>) -> ProviderSet {
    let mut b = builder(sim, plan, 3)
        .with_poll_interval(Duration::from_secs(5))
        .with_operation_timeout(Duration::from_secs(15 * 60));
    if let Some(t) = timeout {
        b = b.with_operation_timeout(t);
    }
    b.build().await.expect("providers build").set()
}

fn count(sim: &GcpSim, suffix: &str) -> usize {
    sim.with(|s| s.requests.count(|r| r.ends_with(suffix)))
}

/// Each operation of a failover, timed in virtual time against Google's durations, stays within
/// the plan's default estimate of its kind, and the whole within the region-outage RTO (30 min).
#[tokio::test(start_paused = true)]
async fn a_failover_at_real_magnitudes_fits_the_estimates_and_the_rto() {
    let sim = realistic().await;
    let plan = example_plan();
    let p = defaults(&sim, &plan, None).await;
    let took = conformance::failover_within_estimates(&p, &plan, &Clock::new()).await;
    assert!(
        took[1].took >= Duration::from_secs(240),
        "a switchover takes minutes: {took:?}"
    );
}

/// GKE runs one operation per cluster (its own upgrades included) and a quota of them: a resize
/// meanwhile is refused (400 FAILED_PRECONDITION, 429) only for now, so the provider waits it out
/// to its deadline, and names the lock when the deadline comes first. Before, FAILED_PRECONDITION
/// was a permanent error and the failover stopped where the simulated one passed.
#[tokio::test(start_paused = true)]
async fn a_cluster_busy_with_an_upgrade_or_its_quota_is_waited_out() {
    let sim = realistic().await;
    let plan = example_plan();
    let p = defaults(&sim, &plan, None).await;
    let nodes = p.nodes.clone().expect("nodes");
    let clock = Clock::new();
    sim.with(|s| {
        s.start_cluster_upgrade("us-east1-b", estate::DR_CLUSTER, Duration::from_secs(600))
    });
    let t = clock.now_ms();
    nodes
        .scale_pool(&ScalePool {
            pool: dr_pool(),
            size: PRODUCTION,
        })
        .await
        .expect("scaled once the upgrade ended");
    assert!(clock.now_ms() - t >= 600_000, "waited for the upgrade");
    assert!(
        count(&sim, ":setAutoscaling") > 1,
        "refused while the cluster upgraded, sent again after"
    );

    // The concurrent-operations quota: two pools of one cluster, one operation at a time.
    sim.with(|s| {
        s.set_concurrent_operations_quota(1);
        s.add_node_pool(
            "us-east1-b",
            estate::DR_CLUSTER,
            "batch-pool",
            &["us-east1-b"],
            1,
            None,
        );
    });
    let batch = PoolRef {
        name: "batch-pool".into(),
        ..dr_pool()
    };
    let sizes_before = count(&sim, ":setSize");
    let (to_batch, to_dr) = (
        ScalePool {
            pool: batch.clone(),
            size: PoolSize {
                min: 3,
                max: 3,
                desired: 3,
            },
        },
        ScalePool {
            pool: dr_pool(),
            size: PoolSize {
                min: 3,
                max: 10,
                desired: 9,
            },
        },
    );
    let (a, b) = tokio::join!(nodes.scale_pool(&to_batch), nodes.scale_pool(&to_dr));
    a.expect("batch pool");
    b.expect("primary pool");
    assert!(
        count(&sim, ":setSize") > sizes_before + 2,
        "one of the two was refused by the quota and sent again"
    );

    // An upgrade that outlasts the step's deadline: a timeout naming the lock.
    sim.with(|s| {
        s.start_cluster_upgrade("us-east1-b", estate::DR_CLUSTER, Duration::from_secs(3600))
    });
    let e = nodes
        .scale_pool(&ScalePool {
            pool: dr_pool(),
            size: PRODUCTION,
        })
        .await
        .expect_err("15 min is not enough");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("currently upgrading cluster"), "{e}");
}

/// A zone out of capacity: the resize operation ends in error naming the stockout, the pool is
/// `RUNNING_WITH_ERROR` and its missing nodes are never counted.
#[tokio::test(start_paused = true)]
async fn a_stockout_is_named_and_its_nodes_never_counted() {
    let sim = realistic().await;
    let plan = example_plan();
    let p = defaults(&sim, &plan, None).await;
    let nodes = p.nodes.clone().expect("nodes");
    sim.with(|s| s.set_stockout("us-east1-b", true));
    let e = nodes
        .scale_pool(&ScalePool {
            pool: dr_pool(),
            size: PRODUCTION,
        })
        .await
        .expect_err("no capacity");
    assert!(
        e.to_string().contains("GCE_STOCKOUT") && e.to_string().contains("us-east1-b"),
        "{e}"
    );
    let e = nodes.get_pool(&dr_pool()).await.expect_err("in error");
    assert_eq!(e.kind(), ErrorKind::InvalidState, "{e}");
    assert!(e.to_string().contains("RUNNING_WITH_ERROR"), "{e}");
    let sizes = count(&sim, ":setSize");
    let e = nodes
        .scale_pool(&ScalePool {
            pool: dr_pool(),
            size: PRODUCTION,
        })
        .await
        .expect_err("still in error");
    assert!(
        e.to_string().contains("does not have enough resources"),
        "{e}"
    );
    assert_eq!(count(&sim, ":setSize"), sizes, "nothing sent again");
}

/// Switchover's preconditions (Enterprise Plus on both, point-in-time recovery on the PostgreSQL
/// primary, one version, a direct DR replica, equal `max_*` flags): Cloud SQL refuses a switchover
/// without them; the provider reports each in `status` (so `check` fails) and refuses a planned
/// promotion before sending it, naming them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switchover_preconditions_are_reported_before_cloud_sql_refuses() {
    let w = crate::common::world().await;
    let db = w.gcp.database.clone().expect("db");
    let (primary, dr) = refs();
    assert!(db
        .status(&dr)
        .await
        .expect("status")
        .planned_promotion_blockers
        .is_empty());
    type Break = fn(&mut aegis_dr_gcp_sim::SimState);
    let breaks: [(Break, Break, &str); 4] = [
        (
            |s| s.set_sql_edition(estate::DR_DB, "ENTERPRISE"),
            |s| s.set_sql_edition(estate::DR_DB, "ENTERPRISE_PLUS"),
            "edition ENTERPRISE",
        ),
        (
            |s| s.set_point_in_time_recovery(estate::PRIMARY_DB, false),
            |s| s.set_point_in_time_recovery(estate::PRIMARY_DB, true),
            "point-in-time recovery is off",
        ),
        (
            |s| s.set_database_version(estate::DR_DB, "POSTGRES_16"),
            |s| s.set_database_version(estate::DR_DB, "POSTGRES_15"),
            "POSTGRES_16",
        ),
        (
            |s| s.set_sql_flag(estate::DR_DB, "max_connections", "500"),
            |s| s.set_sql_flag(estate::PRIMARY_DB, "max_connections", "500"),
            "flag max_connections",
        ),
    ];
    db.fence(&FenceRequest {
        target: primary.clone(),
        fenced: true,
    })
    .await
    .expect("fence");
    for (break_it, mend, says) in breaks {
        w.sim.with(break_it);
        let s = db.status(&dr).await.expect("status");
        assert!(
            s.planned_promotion_blockers
                .iter()
                .any(|b| b.contains(says)),
            "{says}: {:?}",
            s.planned_promotion_blockers
        );
        assert!(!s.lossless_planned_promotion);
        let e = db
            .promote(&PromoteRequest {
                target: dr.clone(),
                old_primary: primary.clone(),
                mode: PromoteMode::Planned,
            })
            .await
            .expect_err(says);
        assert_eq!(e.kind(), ErrorKind::InvalidState, "{e}");
        assert!(e.to_string().contains(says), "{e}");
        // Cloud SQL itself refuses it too (the simulator's wording; Google documents none).
        let refused = raw_switchover(&w.sim).await;
        assert_eq!(refused.0, 400, "{says}: {}", refused.1);
        w.sim.with(mend);
    }
    assert_eq!(count(&w.sim, "/switchover"), 4, "only the raw requests");
    // A cascading replica: the DR instance replicates from a replica.
    w.sim.with(|s| {
        s.add_sql_replica(
            "aegis-db-cascade",
            estate::DR_DB,
            "us-west1",
            "us-west1-a",
            false,
        )
    });
    let plan = Plan::parse(
        &example_text().replace("dr = \"aegis-db-failover\"", "dr = \"aegis-db-cascade\""),
    )
    .expect("plan");
    let p = crate::common::providers(&w.sim, &plan, 3).await;
    let s = p
        .database
        .expect("db")
        .status(&DatabaseRef {
            instance: "aegis-db-cascade".into(),
            ..dr
        })
        .await
        .expect("status");
    assert!(
        s.planned_promotion_blockers
            .iter()
            .any(|b| b.contains("cascading")),
        "{:?}",
        s.planned_promotion_blockers
    );
}

/// The switchover request sent by hand (no provider check in front): (status, body).
async fn raw_switchover(sim: &GcpSim) -> (u16, String) {
    let token = sim.with(|s| s.token.clone());
    let r = reqwest::Client::new()
        .post(format!(
            "{}/v1/projects/{}/instances/{}/switchover",
            sim.url(),
            estate::PROJECT,
            estate::DR_DB
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("sim answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// The switchover's `dbTimeout` is the provider's own wait: Cloud SQL stops a switchover it cannot
/// finish in that time (nothing changes), instead of finishing it after aegis-dr gave up on it.
#[tokio::test(start_paused = true)]
async fn a_switchover_runs_no_longer_than_the_provider_waits() {
    let sim = realistic().await;
    let plan = example_plan();
    let p = defaults(&sim, &plan, Some(Duration::from_secs(180))).await;
    let db = p.database.clone().expect("db");
    let (primary, dr) = refs();
    db.fence(&FenceRequest {
        target: primary.clone(),
        fenced: true,
    })
    .await
    .expect("fence");
    let e = db
        .promote(&PromoteRequest {
            target: dr.clone(),
            old_primary: primary,
            mode: PromoteMode::Planned,
        })
        .await
        .expect_err("4 min do not fit in 3");
    assert!(e.to_string().contains("dbTimeout of 180s"), "{e}");
    // Long after: Cloud SQL did not finish it behind the provider's back.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(
        sim.with(|s| s.sql_instance(estate::DR_DB))
            .and_then(|i| i.master)
            .as_deref(),
        Some(estate::PRIMARY_DB)
    );
    assert_eq!(
        db.status(&dr).await.expect("status").role,
        DatabaseRole::Replica
    );
}
