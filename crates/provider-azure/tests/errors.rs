//! Throttling, conflicts, missing role actions, an unreachable endpoint, a wrong token, and a forced
//! failover while the primary's region is down.

use aegis_dr_core::provider::ProviderBuilder;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use aegis_dr_azure_sim::estate;
use aegis_dr_core::{
    plan::PoolSize,
    provider::{DatabaseRole, PoolRef, PromoteMode, PromoteRequest, RecordRef, ScalePool},
    ErrorKind, RetryStatus, SiteRole,
};
use aegis_dr_provider_azure::{credential::StaticToken, AzureProviders};

use crate::common::{example_plan, providers, refs, world};

fn tm() -> RecordRef {
    RecordRef {
        zone: "trafficmanager.net".into(),
        name: "aegis-tm.trafficmanager.net".into(),
        record_type: "CNAME".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_and_conflicts_are_retryable() {
    let w = world().await;
    let dns = w.azure.dns.clone().expect("dns");
    w.sim.with(|s| s.faults.throttle_next = 2);
    let r = dns
        .get_record(&tm())
        .await
        .expect("two 429s, then an answer");
    assert_eq!(r.target, estate::PRIMARY_TARGET);
    // Past the attempts: a throttled error, temporary, for the orchestrator's own retries.
    w.sim.with(|s| s.faults.throttle_next = 5);
    let e = dns.get_record(&tm()).await.expect_err("still throttled");
    assert_eq!(e.kind(), ErrorKind::Throttled, "{e}");
    assert_eq!(e.retry_status(), RetryStatus::Temporary);
    w.sim.with(|s| s.faults.throttle_next = 0);
    // A transient 503 on a read is retried too.
    w.sim.with(|s| s.faults.unavailable_next = 2);
    assert_eq!(
        dns.get_record(&tm()).await.expect("retried").target,
        estate::PRIMARY_TARGET
    );

    let nodes = w.azure.nodes.clone().expect("nodes");
    let pool = PoolRef {
        site: SiteRole::Dr,
        cluster: estate::DR_AKS.into(),
        name: estate::POOL.into(),
    };
    let size = |desired| PoolSize {
        min: 1,
        max: 10,
        desired,
    };
    nodes
        .scale_pool(&ScalePool {
            pool: pool.clone(),
            size: size(6),
        })
        .await
        .expect("scale");
    let e = nodes
        .scale_pool(&ScalePool {
            pool: pool.clone(),
            size: size(4),
        })
        .await
        .expect_err("a second update while the first runs");
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(e.retry_status(), RetryStatus::Temporary);
    assert!(e.to_string().contains("is Scaling"), "{e}");
    // The same sizes again are already in place: nothing is sent.
    nodes
        .scale_pool(&ScalePool {
            pool: pool.clone(),
            size: size(6),
        })
        .await
        .expect("idempotent");
    let s = nodes.get_pool(&pool).await.expect("pool");
    assert!(
        s.updating && s.ready_nodes == 0,
        "Updating: no node counted Ready yet: {s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_role_action_is_named_and_listed_in_the_role() {
    let w = world().await;
    let action = "Microsoft.Sql/servers/failoverGroups/failover/action";
    w.sim.with(|s| s.denied.push(action.into()));
    let db = w.azure.database.clone().expect("db");
    let (primary, dr) = refs();
    db.fence(&aegis_dr_core::provider::FenceRequest {
        target: primary.clone(),
        fenced: true,
    })
    .await
    .expect("fence");
    let e = db
        .promote(&PromoteRequest {
            target: dr,
            old_primary: primary,
            mode: PromoteMode::Planned,
        })
        .await
        .expect_err("denied");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains(&format!("`{action}`")), "{e}");
    assert!(!e.to_string().contains('\n'), "one line: {e}");
    let role = aegis_dr_provider_azure::role::role_for(&w.plan).expect("role");
    let actions: Vec<&str> = role["Actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(actions.contains(&action), "{role:#}");
    assert!(actions.contains(&"Microsoft.ContainerService/managedClusters/agentPools/write"));
    assert!(actions.contains(&"Microsoft.Network/trafficManagerProfiles/externalEndpoints/write"));
    let scopes = role["AssignableScopes"].to_string();
    for rg in [estate::PRIMARY_RG, estate::DR_RG, estate::GLOBAL_RG] {
        assert!(
            scopes.contains(&format!("/resourceGroups/{rg}\"")),
            "{scopes}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_and_wrong_token_are_one_line_errors() {
    let plan = example_plan();
    let p = AzureProviders::from_env(&plan)
        .with_endpoint("http://127.0.0.1:9")
        .with_token_source(Arc::new(StaticToken::new("x")))
        .with_max_attempts(1)
        .build()
        .await
        .expect("build")
        .set();
    let e = p
        .dns
        .expect("dns")
        .get_record(&tm())
        .await
        .expect_err("nobody listens");
    assert_eq!(e.kind(), ErrorKind::Unreachable, "{e}");
    assert!(
        e.to_string().contains("127.0.0.1:9") && !e.to_string().contains('\n'),
        "{e}"
    );

    let w = world().await;
    let bad = AzureProviders::from_env(&w.plan)
        .with_endpoint(w.sim.url())
        .with_token_source(Arc::new(StaticToken::new("expired")))
        .build()
        .await
        .expect("build")
        .set();
    let e = bad
        .dns
        .expect("dns")
        .get_record(&tm())
        .await
        .expect_err("401");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("InvalidAuthenticationToken"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_failover_with_the_primary_region_down_follows_the_operation() {
    let w = world().await;
    w.sim.with(|s| {
        s.down_servers.push(estate::PRIMARY_SQL.into());
        s.retry_after_secs = 1;
    });
    let azure = providers(&w.sim, &w.plan, 1).await;
    let db = azure.database.clone().expect("db");
    let (primary, dr) = refs();
    let e = db.status(&primary).await.expect_err("region down");
    assert_eq!(e.retry_status(), RetryStatus::Temporary, "{e}");
    let s = db.status(&dr).await.expect("the DR server answers");
    assert_eq!(s.role, DatabaseRole::Replica);
    assert_eq!(
        s.replication_lag, None,
        "ARM reports no lag: unknown, not zero"
    );
    assert_eq!(
        s.last_backup_age, None,
        "the primary's restore points cannot be read"
    );
    // A planned failover needs the primary: refused, nothing changes.
    let planned = PromoteRequest {
        target: dr.clone(),
        old_primary: primary.clone(),
        mode: PromoteMode::Planned,
    };
    db.promote(&planned)
        .await
        .expect_err("planned needs the primary");
    assert_eq!(
        w.sim
            .with(|s| s.failover_group(estate::FAILOVER_GROUP))
            .map(|g| g.0),
        Some(estate::PRIMARY_SQL.to_string())
    );
    let started = Instant::now();
    db.promote(&PromoteRequest {
        mode: PromoteMode::Forced,
        ..planned
    })
    .await
    .expect("forced failover");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    let (now_primary, state) = w
        .sim
        .with(|s| s.failover_group(estate::FAILOVER_GROUP))
        .expect("group");
    assert_eq!(now_primary, estate::DR_SQL);
    assert_eq!(
        state, "SUSPENDED",
        "the link waits for the old primary to answer again"
    );
    let s = db.status(&dr).await.expect("status");
    assert_eq!((s.role, s.fenced), (DatabaseRole::Primary, false));
    let posts = w
        .sim
        .with(|s| s.requests.iter().filter(|r| r.starts_with("POST ")).count());
    assert_eq!(posts, 1, "the forced failover was sent once");
}
