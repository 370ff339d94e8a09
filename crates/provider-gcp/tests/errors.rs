//! Throttling, a busy instance, a stale `settingsVersion`, HA failover, a missing IAM permission, an
//! unreachable endpoint, and a forced promotion while the primary's region is down.

use aegis_dr_core::provider::ProviderBuilder;
use std::time::Duration;

use aegis_dr_core::{
    plan::PoolSize,
    provider::{
        DatabaseRef, DatabaseRole, FenceRequest, PoolRef, PromoteMode, PromoteRequest, RecordRef,
        ScalePool,
    },
    ErrorKind, Plan, RetryStatus, SiteRole,
};
use aegis_dr_gcp_sim::{estate, GcpSim};

use crate::common::{builder, example_plan, example_text, providers, refs, world};

fn record() -> RecordRef {
    RecordRef {
        zone: estate::ZONE.into(),
        name: estate::RECORD.into(),
        record_type: "CNAME".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_unavailability_are_retried_then_reported_as_temporary() {
    let w = world().await;
    let dns = w.gcp.dns.clone().expect("dns");
    w.sim.with(|s| s.faults.throttle_next = 2);
    let r = dns
        .get_record(&record())
        .await
        .expect("two 429s, then an answer");
    assert_eq!(r.target, estate::PRIMARY_TARGET.trim_end_matches('.'));
    w.sim.with(|s| s.faults.throttle_next = 5);
    let e = dns
        .get_record(&record())
        .await
        .expect_err("still throttled");
    assert_eq!(e.kind(), ErrorKind::Throttled, "{e}");
    assert_eq!(e.retry_status(), RetryStatus::Temporary);
    assert!(e.to_string().contains("RESOURCE_EXHAUSTED"), "{e}");
    w.sim.with(|s| s.faults.throttle_next = 0);
    // A transient 503 on a read is retried too.
    w.sim.with(|s| s.faults.unavailable_next = 2);
    let db = w.gcp.database.clone().expect("database");
    let (primary, _) = refs();
    assert_eq!(
        db.status(&primary).await.expect("retried").role,
        DatabaseRole::Primary
    );
    let nodes = w.gcp.nodes.clone().expect("nodes");
    let pool = PoolRef {
        site: SiteRole::Dr,
        cluster: estate::DR_CLUSTER.into(),
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
        .expect("resize, followed to DONE");
    let s = nodes.get_pool(&pool).await.expect("pool");
    assert_eq!(
        (s.size.desired, s.updating, s.ready_nodes),
        (6, false, 6),
        "{s:?}"
    );
    // A pool whose operation still runs is a retryable conflict, not a second operation.
    w.sim.with(|s| s.pool_time = Duration::from_secs(5));
    let resizes = || {
        w.sim.with(|s| {
            s.requests
                .iter()
                .filter(|r| r.ends_with(":setSize"))
                .count()
        })
    };
    let before = resizes();
    let busy = nodes.clone();
    let first = {
        let pool = pool.clone();
        tokio::spawn(async move {
            busy.scale_pool(&ScalePool {
                pool,
                size: size(2),
            })
            .await
        })
    };
    // The first resize's operation has started before the second is sent.
    let t0 = std::time::Instant::now();
    while resizes() == before {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the first resize never reached the simulator"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let e = nodes
        .scale_pool(&ScalePool {
            pool: pool.clone(),
            size: size(4),
        })
        .await
        .expect_err("busy");
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(e.is_retryable());
    let st = nodes.get_pool(&pool).await.expect("pool");
    assert!(st.updating && st.ready_nodes < 6, "{st:?}");
    first.abort();
    // Six nodes over three zones is fine, five is refused naming the zones.
    let primary_pool = PoolRef {
        site: SiteRole::Primary,
        cluster: estate::PRIMARY_CLUSTER.into(),
        name: estate::POOL.into(),
    };
    let e = nodes
        .scale_pool(&ScalePool {
            pool: primary_pool,
            size: PoolSize {
                min: 5,
                max: 5,
                desired: 5,
            },
        })
        .await
        .expect_err("uneven");
    assert!(e.to_string().contains("3 zones"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_settings_version_is_read_again_and_ha_failover_sends_the_current_one() {
    let sim = GcpSim::start().await.expect("sim");
    sim.with(estate::runbook);
    // The HA shape: one regional instance, its zones a and b.
    let text = example_text()
        .replace(
            "primary = \"aegis-db\"                       # Cloud SQL primary\ndr = \"aegis-db-failover\"",
            "primary = \"aegis-db:us-central1-a\"\ndr = \"aegis-db:us-central1-b\"",
        )
        .replace(
            "options = { mode = \"replica\", fence = \"label\" }",
            "options = { mode = \"ha\", fence = \"read-only-flag\" }",
        );
    let plan = Plan::parse(&text).expect("HA plan");
    let gcp = providers(&sim, &plan, 3).await;
    let db = gcp.database.clone().expect("db");
    let r = |zone: &str, site| DatabaseRef {
        database: "orders".into(),
        instance: format!("{}:{zone}", estate::PRIMARY_DB),
        site,
    };
    let (a, b) = (
        r("us-central1-a", SiteRole::Primary),
        r("us-central1-b", SiteRole::Dr),
    );
    let s = db.status(&b).await.expect("standby");
    assert_eq!(s.role, DatabaseRole::Replica);
    assert!(
        s.lossless_planned_promotion && s.replication_lag.is_none(),
        "{s:?}"
    );
    // Someone else changes the instance between our read and our failover: the failover is refused
    // for its stale settingsVersion, read again, and sent with the current one.
    db.fence(&FenceRequest {
        target: a.clone(),
        fenced: true,
    })
    .await
    .expect("fence");
    let flags = sim.with(|s| s.sql_instance(estate::PRIMARY_DB).expect("db").flags);
    assert_eq!(
        flags
            .get("default_transaction_read_only")
            .map(String::as_str),
        Some("on")
    );
    sim.with(|s| s.bump_settings_version(estate::PRIMARY_DB));
    let stale = sim.with(|s| {
        s.sql_instance(estate::PRIMARY_DB)
            .expect("db")
            .settings_version
    });
    db.promote(&PromoteRequest {
        target: b.clone(),
        old_primary: a.clone(),
        mode: PromoteMode::Planned,
    })
    .await
    .expect("HA failover");
    let after = sim.with(|s| s.sql_instance(estate::PRIMARY_DB).expect("db"));
    assert_eq!(after.zone, "us-central1-b");
    assert_eq!(
        after
            .flags
            .get("default_transaction_read_only")
            .map(String::as_str),
        Some("off"),
        "the promoted side takes writes"
    );
    assert!(after.settings_version > stale);
    assert_eq!(
        db.status(&b).await.expect("status").role,
        DatabaseRole::Primary
    );
    let posts = sim.with(|s| {
        s.requests
            .iter()
            .filter(|r| r.ends_with("/failover"))
            .count()
    });
    assert_eq!(
        posts, 1,
        "the current settingsVersion was read before the one failover"
    );
    // A stale version on the wire is refused by the simulator as Cloud SQL does.
    sim.with(|s| s.bump_settings_version(estate::PRIMARY_DB));
    let client = reqwest_like_post(&sim, estate::PRIMARY_DB, stale).await;
    assert_eq!(client, 412);
}

/// A raw failover POST with `version`, as a client holding an old read would send it.
async fn reqwest_like_post(sim: &GcpSim, instance: &str, version: i64) -> u16 {
    let token = sim.with(|s| s.token.clone());
    let body = format!("{{\"failoverContext\":{{\"settingsVersion\":\"{version}\"}}}}");
    let url = format!(
        "{}/v1/projects/{}/instances/{instance}/failover",
        sim.url(),
        estate::PROJECT
    );
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "-H",
        ])
        .arg(format!("Authorization: Bearer {token}"))
        .args(["-H", "content-type: application/json", "-d", &body, &url])
        .output()
        .await
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout)
        .parse()
        .expect("a status code")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_named_and_the_role_holds_it() {
    let w = world().await;
    w.sim
        .with(|s| s.denied.push("cloudsql.instances.failover".into()));
    let db = w.gcp.database.clone().expect("db");
    let (primary, dr) = refs();
    db.fence(&FenceRequest {
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
    assert!(
        e.to_string().contains("`cloudsql.instances.failover`"),
        "{e}"
    );
    let (role, projects) = aegis_dr_provider_gcp::role::role_for(&w.plan).expect("role");
    let perms = role["includedPermissions"].as_array().expect("list");
    for p in [
        "cloudsql.instances.failover",
        "dns.changes.create",
        "container.clusters.update",
        "compute.instanceGroupManagers.get",
    ] {
        assert!(perms.iter().any(|x| x == p), "{p} in {perms:?}");
    }
    assert_eq!(
        projects.into_iter().collect::<Vec<_>>(),
        vec![estate::PROJECT.to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_a_temporary_unreachable_error() {
    let sim = GcpSim::start().await.expect("sim");
    sim.with(estate::runbook);
    let plan: Plan = example_plan();
    // A closed port: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let gcp = builder(&sim, &plan, 2)
        .with_endpoint(url)
        .build()
        .await
        .expect("builds")
        .set();
    let e = gcp
        .dns
        .expect("dns")
        .get_record(&record())
        .await
        .expect_err("unreachable");
    assert_eq!(e.kind(), ErrorKind::Unreachable, "{e}");
    assert_eq!(e.retry_status(), RetryStatus::Temporary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_promotion_with_the_primary_region_down_promotes_the_replica() {
    let w = world().await;
    let db = w.gcp.database.clone().expect("db");
    let (primary, dr) = refs();
    w.sim
        .with(|s| s.down_instances.push(estate::PRIMARY_DB.into()));
    let e = db.status(&primary).await.expect_err("down");
    assert_eq!(e.kind(), ErrorKind::Unreachable, "{e}");
    // Planned needs the primary: refused while it cannot be shown fenced.
    let e = db
        .promote(&PromoteRequest {
            target: dr.clone(),
            old_primary: primary.clone(),
            mode: PromoteMode::Planned,
        })
        .await
        .expect_err("planned needs the primary");
    assert_eq!(e.kind(), ErrorKind::Unreachable, "{e}");
    db.promote(&PromoteRequest {
        target: dr.clone(),
        old_primary: primary.clone(),
        mode: PromoteMode::Forced,
    })
    .await
    .expect("forced");
    let s = db.status(&dr).await.expect("status");
    assert_eq!(s.role, DatabaseRole::Primary);
    assert_eq!(s.replication_lag, None, "unknown stays unknown");
    let promotes = w.sim.with(|s| {
        s.requests
            .iter()
            .filter(|r| r.ends_with("/promoteReplica"))
            .count()
    });
    assert_eq!(promotes, 1);
    // Promoted with `failover=true`: once the old primary answers again, Cloud SQL re-attaches it
    // as the new primary's replica. It never comes back writable beside it.
    w.sim.with(|s| s.down_instances.clear());
    let s = db.status(&primary).await.expect("status");
    assert_eq!(s.role, DatabaseRole::Replica, "{s:?}");
    assert_eq!(s.replicating_from.as_deref(), Some(estate::DR_DB));
    let r = db
        .reverse_replication(&aegis_dr_core::provider::ReverseReplicationRequest {
            source: dr,
            target: primary,
            dry_run: false,
            accept_data_loss: false,
        })
        .await
        .expect("re-attached");
    assert!(
        r.summary
            .as_deref()
            .is_some_and(|s| s.contains("replicates from aegis-db-failover")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_comes_from_cloud_monitoring_and_unknown_stays_unknown() {
    let w = world().await;
    let db = w.gcp.database.clone().expect("db");
    let (primary, dr) = refs();
    let lag = |w: &crate::common::World| {
        let db = w.gcp.database.clone().expect("db");
        let dr = dr.clone();
        async move { db.status(&dr).await.expect("status").replication_lag }
    };
    assert_eq!(
        lag(&w).await,
        Some(Duration::from_secs(2)),
        "the metric's newest point"
    );
    db.fence(&FenceRequest {
        target: primary.clone(),
        fenced: true,
    })
    .await
    .expect("fence");
    assert_eq!(
        lag(&w).await,
        Some(Duration::ZERO),
        "caught up once writes stopped"
    );
    // No series (metrics not collected), or no permission to read them: unknown, not zero.
    w.sim.with(|s| s.replica_lag = None);
    assert_eq!(lag(&w).await, None);
    w.sim.with(|s| {
        s.replica_lag = Some(Duration::from_secs(2));
        s.denied.push("monitoring.timeSeries.list".into());
    });
    let s = db.status(&dr).await.expect("status");
    assert_eq!(s.replication_lag, None);
    assert!(
        s.lossless_planned_promotion,
        "a switchover still waits for the replica: {s:?}"
    );
    // The primary has no lag of its own.
    assert_eq!(
        db.status(&primary).await.expect("status").replication_lag,
        None
    );
}

#[test]
fn plan_mistakes_are_named_before_any_call() {
    for (from, to, want) in [
        (
            "dr_target = \"dr-lb.aegis.io\"",
            "dr_target = \"dr-lb.aegis.io.\"",
            "dns_records.api.aegis.io..dr_target: write `dr-lb.aegis.io.` without its trailing dot",
        ),
        (
            "zone = \"aegis-zone\"",
            "zone = \"aegis.io.\"",
            "is not a Cloud DNS managed zone name",
        ),
        (
            "type = \"CNAME\"",
            "type = \"ALIAS\"",
            "ALIAS is not supported on Cloud DNS",
        ),
        ("project = \"aegis-prod\"", "# no project", "no GCP project"),
    ] {
        let plan = Plan::parse(&example_text().replace(from, to)).expect("plan parses");
        let e = aegis_dr_provider_gcp::GcpProviders::from_env(&plan)
            .validate()
            .expect_err(want);
        assert!(e.to_string().contains(want), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_changed_between_read_and_change_is_read_again() {
    let w = world().await;
    let dns = w.gcp.dns.clone().expect("dns");
    // Another operator lowers the TTL just before our change: Cloud DNS refuses our deletion (412),
    // the provider reads the set again and sends a change that matches it.
    w.sim.with(|s| {
        s.edit_before_next_change(estate::RECORD, "CNAME", 30, &[estate::PRIMARY_TARGET])
    });
    let id = dns
        .upsert_record(&aegis_dr_core::provider::UpsertRecord {
            record: record(),
            target: estate::DR_TARGET.trim_end_matches('.').into(),
            ttl: 60,
        })
        .await
        .expect("upsert after a re-read");
    assert!(!id.0.is_empty());
    let (ttl, data) = w
        .sim
        .with(|s| s.record_set(estate::ZONE, estate::RECORD, "CNAME"))
        .expect("record");
    assert_eq!((ttl, data), (60, vec![estate::DR_TARGET.to_string()]));
    let changes = w.sim.with(|s| {
        s.requests
            .iter()
            .filter(|r| r.starts_with("POST ") && r.ends_with("/changes"))
            .count()
    });
    assert_eq!(
        changes, 2,
        "refused once, then sent against the current set"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_operation_surfaces_its_error_and_changes_nothing() {
    let w = world().await;
    let db = w.gcp.database.clone().expect("db");
    let (primary, dr) = refs();
    db.fence(&FenceRequest {
        target: primary.clone(),
        fenced: true,
    })
    .await
    .expect("fence");
    w.sim.with(|s| {
        s.fail_next_operation = Some((
            "INTERNAL_ERROR".into(),
            "An internal error occurred while switching over.".into(),
        ))
    });
    let e = db
        .promote(&PromoteRequest {
            target: dr.clone(),
            old_primary: primary,
            mode: PromoteMode::Planned,
        })
        .await
        .expect_err("the operation failed");
    assert!(
        e.to_string()
            .contains("switchover of Cloud SQL instance aegis-db-failover")
            && e.to_string()
                .contains("INTERNAL_ERROR: An internal error occurred while switching over."),
        "{e}"
    );
    assert_eq!(
        db.status(&dr).await.expect("status").role,
        DatabaseRole::Replica,
        "nothing changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_in_progress_is_a_retryable_conflict() {
    let w = world().await;
    let db = w.gcp.database.clone().expect("db");
    let (primary, _) = refs();
    w.sim.with(|s| s.op_time = Duration::from_secs(3));
    let first = {
        let (db, primary) = (db.clone(), primary.clone());
        tokio::spawn(async move {
            db.fence(&FenceRequest {
                target: primary,
                fenced: true,
            })
            .await
        })
    };
    // The first fence's operation has started (its change is on record) before the second is sent.
    let t0 = std::time::Instant::now();
    while !w.sim.with(|s| {
        s.requests
            .iter()
            .any(|r| r.starts_with("PATCH ") && r.contains("/instances/"))
    }) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the first fence never reached the simulator"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A second change while Cloud SQL runs the first: 409 `operationInProgress`.
    let e = db
        .fence(&FenceRequest {
            target: primary.clone(),
            fenced: true,
        })
        .await
        .expect_err("busy");
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.is_retryable() && e.to_string().contains("operationInProgress"),
        "{e}"
    );
    first.await.expect("joins").expect("the first fence ends");
}

/// An operation that outlasts the wait ends in the distinct timeout ("exceeded max wait") naming
/// the operation and what it last showed, and saying it may still finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_that_outlasts_the_wait_is_a_timeout_naming_its_last_state() {
    let sim = GcpSim::start().await.expect("simulator starts");
    sim.with(estate::runbook);
    sim.with(|s| s.op_time = Duration::from_secs(3600));
    let plan = example_plan();
    let gcp = builder(&sim, &plan, 3)
        .with_operation_timeout(Duration::from_millis(400))
        .build()
        .await
        .expect("providers build")
        .set();
    let (primary, _) = refs();
    let e = gcp
        .database
        .expect("db")
        .fence(&FenceRequest {
            target: primary,
            fenced: true,
        })
        .await
        .expect_err("the operation runs for an hour");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("exceeded max wait"), "{msg}");
    assert!(msg.contains("(operation "), "names the operation: {msg}");
    assert!(
        msg.contains("last seen: PENDING") || msg.contains("last seen: RUNNING"),
        "{msg}"
    );
    assert!(msg.contains("it may still finish"), "{msg}");
}

/// Ages are measured on the run's clock, not the machine's: a clock ten hours ahead sees the newest
/// backup ten hours older (so a test in virtual time sees backups age with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_ages_are_measured_on_the_injected_clock() {
    let w = world().await;
    let (primary, _) = refs();
    let now = w
        .gcp
        .database
        .clone()
        .expect("database")
        .status(&primary)
        .await
        .expect("status")
        .last_backup_age
        .expect("a backup age");
    let ahead = aegis_dr_core::clock::Clock::starting_at(
        aegis_dr_core::clock::Clock::new().now_ms() + 10 * 3600 * 1000,
    );
    let later = builder(&w.sim, &w.plan, 3)
        .with_clock(ahead)
        .build()
        .await
        .expect("providers build")
        .set()
        .database
        .expect("database")
        .status(&primary)
        .await
        .expect("status")
        .last_backup_age
        .expect("a backup age");
    let gained = later.saturating_sub(now);
    assert!(
        gained >= Duration::from_secs(10 * 3600) && gained < Duration::from_secs(10 * 3600 + 60),
        "{now:?} then {later:?}"
    );
}
