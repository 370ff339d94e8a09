//! What the real services answer that a kind simulator would not: each fault of the simulator's
//! matrix, and the real-world durations, met by the provider. Tests marked `start_paused` run in
//! virtual time: the simulator's operations take Azure's recorded durations (a planned failover
//! about a minute, a server update 30 s, an agent-pool scale minutes) and the provider polls them
//! with its production defaults, in milliseconds of real time.

use std::{sync::Arc, time::Duration};

use aegis_dr_azure_sim::{estate, AzureSim, PoolFault, Throttling};
use aegis_dr_core::{
    clock::Clock,
    conformance,
    plan::PoolSize,
    provider::{
        ChangeStatus, DatabaseRef, DatabaseRole, FenceRequest, PoolRef, PromoteMode,
        PromoteRequest, ProviderBuilder, ProviderSet, RecordRef, ScalePool, UpsertRecord,
    },
    ErrorKind, Plan, RetryStatus, SiteRole,
};
use aegis_dr_provider_azure::{credential::StaticToken, AzureProviders};

use crate::common::{example_plan, refs};

fn promote(mode: PromoteMode) -> PromoteRequest {
    let (primary, dr) = refs();
    PromoteRequest {
        target: dr,
        old_primary: primary,
        mode,
    }
}

fn fence(db: &DatabaseRef, fenced: bool) -> FenceRequest {
    FenceRequest {
        target: db.clone(),
        fenced,
    }
}

/// `examples/azure.toml` fencing with `public-network-access`.
fn closing_plan() -> Plan {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/azure.toml"
    ))
    .expect("example");
    Plan::parse(&text.replace("fence = \"tag\"", "fence = \"public-network-access\""))
        .expect("plan parses")
}

/// Providers for `plan` with the production defaults (5 s polls, 15 min failover wait), on a clock
/// made now (virtual under a paused runtime).
async fn defaults(sim: &AzureSim, plan: &Plan) -> ProviderSet {
    let token = sim.with(|s| s.token.clone());
    AzureProviders::from_env(plan)
        .with_endpoint(sim.url())
        .with_token_source(Arc::new(StaticToken::new(token)))
        .build()
        .await
        .expect("providers build")
        .set()
}

/// The runbook's estate with Azure's real-world durations.
async fn realistic() -> AzureSim {
    let sim = AzureSim::start().await.expect("simulator starts");
    sim.with(|s| {
        estate::runbook(s);
        s.realistic_durations();
    });
    sim
}

fn posts(sim: &AzureSim, suffix: &str) -> usize {
    sim.with(|s| {
        s.requests
            .count(|r| r.starts_with("POST ") && r.ends_with(suffix))
    })
}

/// Each operation of a failover, timed in virtual time against Azure's durations, stays within the
/// plan's default estimate of its kind, and the whole within the region-outage RTO (30 min). Before
/// the server update was followed, the fence "ended" at once while Azure still applied it.
#[tokio::test(start_paused = true)]
async fn a_failover_at_real_magnitudes_fits_the_estimates_and_the_rto() {
    let sim = realistic().await;
    let plan = example_plan();
    let p = defaults(&sim, &plan).await;
    let took = conformance::failover_within_estimates(&p, &plan, &Clock::new()).await;
    assert!(
        took[0].took >= Duration::from_secs(30),
        "the server update takes Azure 30 s, and the fence counts only once it shows: {took:?}"
    );
    assert!(took[1].took >= Duration::from_secs(60), "{took:?}");
    assert_eq!(
        sim.with(|s| s.sql_server_tags(estate::PRIMARY_SQL))
            .get("aegis-dr-fenced")
            .map(String::as_str),
        Some("true")
    );
}

/// The fence is a server update, a long-running operation: answered 202, followed to its end, then
/// read back. With `public-network-access` on a server without a private endpoint Azure accepts
/// the update and fails it (`PECsNotExistingToDenyPublicNetworkAccess`): the provider names the
/// way out, `check` reports it before any failover, and nothing changed on the server.
#[tokio::test(start_paused = true)]
async fn closing_the_public_endpoint_needs_a_private_endpoint_and_check_says_so() {
    let sim = realistic().await;
    let plan = closing_plan();
    let p = defaults(&sim, &plan).await;
    let db = p.database.clone().expect("db");
    let (primary, dr) = refs();
    let s = db.status(&dr).await.expect("status");
    assert!(
        s.planned_promotion_blockers
            .iter()
            .any(|b| b.contains("PECsNotExistingToDenyPublicNetworkAccess")),
        "{:?}",
        s.planned_promotion_blockers
    );
    let e = db
        .fence(&fence(&primary, true))
        .await
        .expect_err("refused by Azure");
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(
        e.to_string().contains("options.fence") && e.to_string().contains("private endpoint"),
        "{e}"
    );
    assert!(!e.to_string().contains('\n'), "{e}");
    assert!(
        !sim.with(|s| s.sql_server_tags(estate::PRIMARY_SQL))
            .contains_key("aegis-dr-fenced"),
        "a failed update changes nothing"
    );
    assert!(
        sim.with(|s| s
            .requests
            .count(|r| r.contains("/serverAzureAsyncOperation/")))
            > 0,
        "the operation was followed"
    );
    sim.with(|s| s.add_private_endpoint(estate::PRIMARY_SQL));
    assert!(db
        .status(&dr)
        .await
        .expect("status")
        .planned_promotion_blockers
        .is_empty());
    db.fence(&fence(&primary, true)).await.expect("fence");
    let s = db.status(&primary).await.expect("status");
    assert!(s.fenced, "tag and closed public endpoint both show");
    // Asked again: already so, nothing is sent.
    let patches = sim.with(|s| s.requests.count(|r| r.starts_with("PATCH ")));
    db.fence(&fence(&primary, true)).await.expect("again");
    assert_eq!(
        sim.with(|s| s.requests.count(|r| r.starts_with("PATCH "))),
        patches
    );
}

/// Every way ARM throttles is throttling, never an unreachable site (the error kind that leads
/// operators toward a forced failover); a throttled failover POST was never run, so it is sent
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_never_an_outage() {
    let w = crate::common::world().await;
    let db = w.azure.database.clone().expect("db");
    let (primary, dr) = refs();
    for t in [
        Throttling::SubscriptionRequestsThrottled,
        Throttling::SubscriptionTooManyRequests,
        Throttling::ConflictingSubscriptionOperation,
        Throttling::ServiceTooManyRequests,
    ] {
        w.sim.with(|s| {
            s.throttling = t;
            s.faults.throttle_next = 10;
        });
        let e = db
            .status(&dr)
            .await
            .expect_err("throttled past the attempts");
        assert_eq!(e.kind(), ErrorKind::Throttled, "{t:?}: {e}");
        assert_eq!(e.retry_status(), RetryStatus::Temporary, "{t:?}");
        w.sim.with(|s| s.faults.throttle_next = 0);
    }
    db.fence(&fence(&primary, true)).await.expect("fence");
    w.sim.with(|s| {
        s.throttling = Throttling::ServiceTooManyRequests;
        s.throttle_next_post = 1;
    });
    db.promote(&promote(PromoteMode::Planned))
        .await
        .expect("failover");
    assert_eq!(
        posts(&w.sim, "/failover"),
        2,
        "throttled once (503 TooManyRequests), sent again"
    );
    assert_eq!(
        db.status(&dr).await.expect("status").role,
        DatabaseRole::Primary
    );
}

/// A planned failover while the link is not in `CATCH_UP` is refused before it is sent, the state
/// named (temporary while seeding, permanent while suspended), and `check` reports it; a database
/// busy with an update (409 `InvalidDatabaseStateForOperation`) is a conflict that passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_failover_needs_a_caught_up_link() {
    let w = crate::common::world().await;
    let db = w.azure.database.clone().expect("db");
    let (primary, dr) = refs();
    db.fence(&fence(&primary, true)).await.expect("fence");
    for (state, retry) in [
        ("SEEDING", RetryStatus::Temporary),
        ("PENDING", RetryStatus::Temporary),
        ("SUSPENDED", RetryStatus::Permanent),
    ] {
        w.sim
            .with(|s| s.set_replication_state(estate::FAILOVER_GROUP, state));
        let e = db
            .promote(&promote(PromoteMode::Planned))
            .await
            .expect_err("not caught up");
        assert_eq!(e.kind(), ErrorKind::InvalidState, "{e}");
        assert_eq!(e.retry_status(), retry, "{state}: {e}");
        assert!(e.to_string().contains(state), "{e}");
        let s = db.status(&dr).await.expect("status");
        assert!(!s.lossless_planned_promotion);
        assert!(
            s.planned_promotion_blockers
                .iter()
                .any(|b| b.contains(state) && b.contains("IncorrectReplicationLinkState")),
            "{:?}",
            s.planned_promotion_blockers
        );
    }
    assert_eq!(posts(&w.sim, "/failover"), 0, "nothing was sent");
    w.sim
        .with(|s| s.set_replication_state(estate::FAILOVER_GROUP, "CATCH_UP"));
    w.sim.with(|s| s.invalid_database_state_next = true);
    let e = db
        .promote(&promote(PromoteMode::Planned))
        .await
        .expect_err("busy database");
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(e.retry_status(), RetryStatus::Temporary);
    assert!(
        e.to_string().contains("InvalidDatabaseStateForOperation"),
        "{e}"
    );
    db.promote(&promote(PromoteMode::Planned))
        .await
        .expect("the retry fails over");
    assert_eq!(
        db.status(&dr).await.expect("status").role,
        DatabaseRole::Primary
    );
}

/// `failoverPolicy = Automatic`: Azure fails the group over by itself once the primary's region is
/// out past the grace period. The promotion observes it (nothing is sent), and the old primary gets
/// the pair's fence as soon as it answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_failover_by_azure_is_observed_and_the_old_primary_fenced() {
    let w = crate::common::world().await;
    let db = w.azure.database.clone().expect("db");
    let (primary, dr) = refs();
    let e = w
        .sim
        .with(|s| s.service_fails_over(estate::FAILOVER_GROUP))
        .expect_err("a Manual group is failed over only on request");
    assert!(e.contains("Manual"), "{e}");
    w.sim.with(|s| {
        s.set_failover_policy(estate::FAILOVER_GROUP, "Automatic", Some(60));
        s.down_servers.push(estate::PRIMARY_SQL.into());
        s.service_fails_over(estate::FAILOVER_GROUP)
            .expect("Azure fails over");
    });
    let req = promote(PromoteMode::Forced);
    db.promote(&req)
        .await
        .expect("observed: already the primary");
    assert_eq!(posts(&w.sim, "/forceFailoverAllowDataLoss"), 0);
    let s = db.status(&dr).await.expect("status");
    assert_eq!((s.role, s.fenced), (DatabaseRole::Primary, false));
    // The old primary's region returns: it is the secondary now, and unfenced until told.
    w.sim.with(|s| s.down_servers.clear());
    let s = db.status(&primary).await.expect("status");
    assert_eq!((s.role, s.fenced), (DatabaseRole::Replica, false));
    db.promote(&req).await.expect("the step again");
    let s = db.status(&primary).await.expect("status");
    assert_eq!((s.role, s.fenced), (DatabaseRole::Replica, true));
}

/// Traffic Manager: an always-served endpoint (`Unmonitored`) counts as switched once enabled; a
/// `Stopped` one (its service not running) and a disabled profile (`Inactive`, NXDOMAIN) are said
/// so, instead of a wait that never ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_manager_endpoint_statuses_are_read_as_azure_means_them() {
    let w = crate::common::world().await;
    let dns = w.azure.dns.clone().expect("dns");
    let rec = &w.plan.dns_records[0];
    let rr = RecordRef {
        zone: rec.zone.clone(),
        name: rec.name.clone(),
        record_type: rec.record_type.clone(),
    };
    let up = UpsertRecord {
        record: rr,
        target: rec.dr_target.clone(),
        ttl: rec.ttl,
    };
    let switch = || dns.upsert_record(&up);
    w.sim.with(|s| {
        s.monitor_time = Duration::from_secs(3600);
        s.set_endpoint_always_serve(estate::PROFILE, "dr-endpoint", true);
    });
    let change = switch().await.expect("switch");
    assert_eq!(
        dns.change_status(&change).await.expect("status"),
        ChangeStatus::Insync,
        "Unmonitored and enabled: served without probes"
    );
    w.sim.with(|s| {
        s.set_endpoint_always_serve(estate::PROFILE, "dr-endpoint", false);
        s.monitor_time = Duration::ZERO;
        s.stopped_targets.push(estate::DR_TARGET.into());
    });
    let e = dns.change_status(&change).await.expect_err("stopped");
    assert_eq!(e.kind(), ErrorKind::InvalidState, "{e}");
    assert_eq!(e.retry_status(), RetryStatus::Temporary);
    assert!(e.to_string().contains("Stopped"), "{e}");
    w.sim.with(|s| {
        s.stopped_targets.clear();
        s.set_traffic_manager_enabled(estate::PROFILE, false);
    });
    let e = dns.change_status(&change).await.expect_err("inactive");
    assert_eq!(e.retry_status(), RetryStatus::Permanent);
    assert!(e.to_string().contains("NXDOMAIN"), "{e}");
    w.sim
        .with(|s| s.set_traffic_manager_enabled(estate::PROFILE, true));
    assert_eq!(
        dns.change_status(&change).await.expect("status"),
        ChangeStatus::Insync
    );
}

/// AKS: a scale refused by the vCPU quota changes nothing; one that fails or is canceled after it
/// was accepted leaves `count` at the target while the pool is `Failed`/`Canceled`: no node count
/// is claimed, and scaling again to the same sizes re-sends it (the reconcile), in virtual time.
#[tokio::test(start_paused = true)]
async fn a_failed_agent_pool_scale_is_reported_and_reconciled() {
    let sim = realistic().await;
    let plan = example_plan();
    let p = defaults(&sim, &plan).await;
    let nodes = p.nodes.clone().expect("nodes");
    let clock = Clock::new();
    let pool = PoolRef {
        site: SiteRole::Dr,
        cluster: estate::DR_AKS.into(),
        name: estate::POOL.into(),
    };
    let size = PoolSize {
        min: 3,
        max: 10,
        desired: 6,
    };
    let req = ScalePool {
        pool: pool.clone(),
        size,
    };
    let scale = || nodes.scale_pool(&req);
    let puts = || sim.with(|s| s.requests.count(|r| r.starts_with("PUT ")));
    sim.with(|s| s.next_pool_fault = Some(PoolFault::QuotaRefused));
    let e = scale().await.expect_err("quota");
    assert!(
        e.to_string().contains("ErrCode_InsufficientVCPUQuota"),
        "{e}"
    );
    assert_eq!(
        sim.with(|s| s.agent_pool(estate::DR_AKS, estate::POOL)),
        Some((1, Some((1, 10)), "Succeeded".to_string())),
        "refused: nothing changed"
    );
    for fault in [
        PoolFault::Failed(
            "AllocationFailed".into(),
            "Allocation failed. We do not have sufficient capacity for the requested VM size in this region.".into(),
        ),
        PoolFault::Canceled,
    ] {
        let outcome = if fault == PoolFault::Canceled {
            "Canceled"
        } else {
            "Failed"
        };
        sim.with(|s| {
            s.next_pool_fault = Some(fault.clone());
            // Back at standby, settled, for the next round.
            s.add_agent_pool(estate::DR_RG, estate::DR_AKS, estate::POOL, 1, Some((1, 10)));
        });
        scale().await.expect("accepted");
        let s = nodes.get_pool(&pool).await.expect("scaling");
        assert!(s.updating && s.ready_nodes == 0, "{s:?}");
        clock.sleep(Duration::from_secs(300)).await;
        let e = nodes.get_pool(&pool).await.expect_err(outcome);
        assert!(
            e.to_string().contains(outcome) && e.to_string().contains("not what runs"),
            "{e}"
        );
        let sent = puts();
        scale().await.expect("reconcile");
        assert_eq!(puts(), sent + 1, "the same sizes are sent again");
        clock.sleep(Duration::from_secs(300)).await;
        let s = nodes.get_pool(&pool).await.expect("reconciled");
        assert_eq!((s.size, s.ready_nodes, s.updating), (size, 6, false));
    }
}
