//! The provider conformance suite: plain async functions that any provider set runs against an estate
//! in its initial state (primary serving, DR standing by), so the simulator and every real provider
//! are held to the same behaviour. Each function panics with a message naming what did not conform.
//!
//! Call them from a provider's own integration tests with a plan describing the estate under test;
//! [`Capabilities`](crate::provider::Capabilities) decide which apply.

use std::time::Duration;

use crate::{
    clock::Clock,
    plan::{Plan, SiteRole},
    provider::*,
    retry::{await_condition, RetryPolicy, WaitPolicy},
    ErrorKind,
};

fn policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 5,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(1),
    }
}

async fn eventually<T, F, Fut>(clock: &Clock, what: &str, within: Duration, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::Result<Option<T>>>,
{
    let wait = WaitPolicy {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(500),
        deadline_ms: clock.now_ms() + within.as_millis() as u64,
    };
    match await_condition(policy(), wait, clock, what, |_| {}, f).await {
        Ok(v) => v,
        Err(e) => panic!("conformance: {what}: {e}"),
    }
}

/// True when a replica has everything: a measured zero lag, or (no lag reported) a provider whose
/// planned promotion synchronises and whose link is caught up.
fn in_sync(s: &DatabaseStatus) -> bool {
    s.replication_lag.is_some_and(|l| l.is_zero())
        || (s.replication_lag.is_none() && s.lossless_planned_promotion)
}

/// Database failover: status, idempotent fencing, split-brain refusal, planned promotion after the
/// replica caught up, reverse replication back, and the way home.
pub async fn database_failover(p: &ProviderSet, plan: &Plan, clock: &Clock, within: Duration) {
    let Some(d) = plan.databases.first() else {
        return;
    };
    let db = p.database.as_ref().expect("the provider serves databases");
    let primary = DatabaseRef {
        database: d.name.clone(),
        instance: d.primary.clone(),
        site: SiteRole::Primary,
    };
    let dr = DatabaseRef {
        database: d.name.clone(),
        instance: d.dr.clone(),
        site: SiteRole::Dr,
    };
    let s = db.status(&primary).await.expect("status of the primary");
    assert_eq!(
        s.role,
        DatabaseRole::Primary,
        "primary instance should be the primary"
    );
    assert!(!s.fenced, "primary should start writable");
    let r = db.status(&dr).await.expect("status of the replica");
    assert_eq!(
        r.role,
        DatabaseRole::Replica,
        "DR instance should be a replica"
    );
    assert!(
        r.replication_lag.is_some() || r.lossless_planned_promotion,
        "a replica reports its lag (or that its planned promotion synchronises first)"
    );

    let missing = DatabaseRef {
        instance: "no-such-instance".into(),
        ..primary.clone()
    };
    let e = db.status(&missing).await.expect_err("unknown instance");
    assert_eq!(
        e.kind(),
        ErrorKind::NotFound,
        "unknown instance maps to NotFound: {e}"
    );

    if p.capabilities.forced_promotion {
        // Promoting while the old primary is writable must be refused (never two writable primaries).
        let req = PromoteRequest {
            target: dr.clone(),
            old_primary: primary.clone(),
            mode: PromoteMode::Forced,
        };
        let e = db
            .promote(&req)
            .await
            .expect_err("split-brain promotion must be refused");
        assert_eq!(
            e.kind(),
            ErrorKind::InvalidState,
            "split-brain refusal is InvalidState: {e}"
        );
    }

    for _ in 0..2 {
        db.fence(&FenceRequest {
            target: primary.clone(),
            fenced: true,
        })
        .await
        .expect("fence (idempotent)");
    }
    assert!(
        db.status(&primary).await.expect("status").fenced,
        "fence sticks"
    );

    if p.capabilities.planned_promotion {
        eventually(
            clock,
            "replica catches up after fencing",
            within,
            || async { Ok(in_sync(&db.status(&dr).await?).then_some(())) },
        )
        .await;
        let req = PromoteRequest {
            target: dr.clone(),
            old_primary: primary.clone(),
            mode: PromoteMode::Planned,
        };
        db.promote(&req).await.expect("planned promotion");
        eventually(clock, "DR becomes primary", within, || async {
            let s = db.status(&dr).await?;
            Ok((s.role == DatabaseRole::Primary && !s.fenced).then_some(()))
        })
        .await;
        if p.capabilities.sync_dry_run {
            let before = db.status(&primary).await.expect("status").role;
            let rep = db
                .reverse_replication(&ReverseReplicationRequest {
                    source: dr.clone(),
                    target: primary.clone(),
                    dry_run: true,
                    accept_data_loss: false,
                })
                .await
                .expect("dry-run reverse replication");
            assert!(rep.dry_run, "dry run says so");
            let s = db.status(&primary).await.expect("status");
            assert_eq!(s.role, before, "a dry run changes nothing");
        }
        db.reverse_replication(&ReverseReplicationRequest {
            source: dr.clone(),
            target: primary.clone(),
            dry_run: false,
            accept_data_loss: false,
        })
        .await
        .expect("reverse replication");
        let s = db.status(&primary).await.expect("status");
        assert_eq!(s.role, DatabaseRole::Replica);
        assert_eq!(s.replicating_from.as_deref(), Some(d.dr.as_str()));
        // And home again.
        db.fence(&FenceRequest {
            target: dr.clone(),
            fenced: true,
        })
        .await
        .expect("fence DR");
        eventually(clock, "primary catches up", within, || async {
            Ok(in_sync(&db.status(&primary).await?).then_some(()))
        })
        .await;
        db.promote(&PromoteRequest {
            target: primary.clone(),
            old_primary: dr.clone(),
            mode: PromoteMode::Planned,
        })
        .await
        .expect("promote back");
        eventually(clock, "primary becomes primary again", within, || async {
            let s = db.status(&primary).await?;
            Ok((s.role == DatabaseRole::Primary && !s.fenced).then_some(()))
        })
        .await;
        db.reverse_replication(&ReverseReplicationRequest {
            source: primary.clone(),
            target: dr.clone(),
            dry_run: false,
            accept_data_loss: false,
        })
        .await
        .expect("re-protect");
        assert_eq!(
            db.status(&dr).await.expect("status").role,
            DatabaseRole::Replica
        );
    }
}

/// DNS: read, UPSERT, wait for INSYNC, health checks; every record of the plan moves and comes
/// back (an address set as a whole).
pub async fn dns_routing(p: &ProviderSet, plan: &Plan, clock: &Clock, within: Duration) {
    let Some(r) = plan.dns_records.first() else {
        return;
    };
    let dns = p.dns.as_ref().expect("the provider serves DNS");
    for r in &plan.dns_records {
        let rr = RecordRef {
            zone: r.zone.clone(),
            name: r.name.clone(),
            record_type: r.record_type.clone(),
        };
        let cur = dns.get_record(&rr).await.expect("read record");
        assert_eq!(
            cur.target, r.primary_target,
            "record {} starts on the primary target",
            r.name
        );
        let change = dns
            .upsert_record(&UpsertRecord {
                record: rr.clone(),
                target: r.dr_target.clone(),
                ttl: 30,
            })
            .await
            .expect("upsert");
        eventually(clock, "change INSYNC", within, || async {
            Ok((dns.change_status(&change).await? == ChangeStatus::Insync).then_some(()))
        })
        .await;
        let now = dns.get_record(&rr).await.expect("read record");
        assert_eq!((&now.target, now.ttl), (&r.dr_target, 30), "{}", r.name);
        assert!(
            dns.record_matches(&rr, &r.dr_target, 30)
                .await
                .expect("read record"),
            "{}",
            r.name
        );
        dns.upsert_record(&UpsertRecord {
            record: rr.clone(),
            target: r.primary_target.clone(),
            ttl: r.ttl,
        })
        .await
        .expect("upsert back");
    }
    let rr = RecordRef {
        zone: r.zone.clone(),
        name: r.name.clone(),
        record_type: r.record_type.clone(),
    };
    let missing = RecordRef {
        name: format!("missing.{}", r.zone),
        ..rr
    };
    assert_eq!(
        dns.get_record(&missing).await.expect_err("missing").kind(),
        ErrorKind::NotFound
    );
    if let (true, Some(hc)) = (p.capabilities.dns_health_checks, &r.health_check) {
        dns.set_health_check(&HealthCheckRequest {
            id: hc.clone(),
            disabled: true,
        })
        .await
        .expect("disable");
        assert!(dns.get_health_check(hc).await.expect("read hc").disabled);
        dns.set_health_check(&HealthCheckRequest {
            id: hc.clone(),
            disabled: false,
        })
        .await
        .expect("enable");
        assert!(!dns.get_health_check(hc).await.expect("read hc").disabled);
    }
}

/// Node pools: read, scale, wait Ready, scale back.
pub async fn node_scaling(p: &ProviderSet, plan: &Plan, clock: &Clock, within: Duration) {
    let Some(pool) = plan.node_pools.iter().find(|n| n.site == SiteRole::Dr) else {
        return;
    };
    let nodes = p.nodes.as_ref().expect("the provider serves node pools");
    let r = PoolRef {
        site: SiteRole::Dr,
        cluster: pool.cluster.clone(),
        name: pool.name.clone(),
    };
    let s = nodes.get_pool(&r).await.expect("read pool");
    assert_eq!(s.size, pool.standby, "DR pool starts at standby size");
    for _ in 0..2 {
        nodes
            .scale_pool(&ScalePool {
                pool: r.clone(),
                size: pool.production,
            })
            .await
            .expect("scale (idempotent)");
    }
    let s = eventually(clock, "nodes Ready", within, || async {
        let s = nodes.get_pool(&r).await?;
        Ok((s.ready_nodes >= pool.production.desired && !s.updating).then_some(s))
    })
    .await;
    assert_eq!(s.size, pool.production);
    nodes
        .scale_pool(&ScalePool {
            pool: r.clone(),
            size: pool.standby,
        })
        .await
        .expect("scale back");
    let missing = PoolRef {
        name: "no-such-pool".into(),
        ..r
    };
    assert_eq!(
        nodes.get_pool(&missing).await.expect_err("missing").kind(),
        ErrorKind::NotFound
    );
}

/// Workloads: list with selectors, annotate, scale, roll out, remove annotations.
pub async fn workload_scaling(p: &ProviderSet, plan: &Plan, clock: &Clock, within: Duration) {
    let Some(g) = plan.workloads.first() else {
        return;
    };
    let workloads = p.workloads.as_ref().expect("the provider serves workloads");
    let cluster = plan.dr.cluster.clone().unwrap_or_default();
    let list = ListWorkloads::for_group(plan, SiteRole::Dr, g);
    let items = workloads.list(&list.clone()).await.expect("list");
    assert!(!items.is_empty(), "group `{}` lists workloads", g.name);
    let w = &items[0];
    assert_eq!(
        w.replicas, g.standby_replicas,
        "DR workloads start at standby replicas"
    );
    let none = ListWorkloads {
        selector: Some(LabelSelector::parse("aegis-conformance=absent").expect("selector")),
        ..list.clone()
    };
    assert!(
        workloads.list(&none).await.expect("list").is_empty(),
        "selectors filter"
    );
    let id = WorkloadId {
        site: SiteRole::Dr,
        cluster,
        namespace: g.namespace.clone(),
        kind: g.kind,
        name: w.name.clone(),
    };
    let ann = |v: Option<&str>| AnnotateWorkload {
        id: id.clone(),
        annotations: [(
            ORIGINAL_REPLICAS_ANNOTATION.to_string(),
            v.map(String::from),
        )]
        .into_iter()
        .collect(),
    };
    workloads.annotate(&ann(Some("2"))).await.expect("annotate");
    workloads
        .scale(&ScaleWorkload {
            id: id.clone(),
            replicas: g.production_replicas,
            annotations: Default::default(),
        })
        .await
        .expect("scale");
    let up = eventually(clock, "rollout", within, || async {
        let items = workloads.list(&list.clone()).await?;
        let w = items.iter().find(|x| x.name == id.name).cloned();
        Ok(w.filter(|w| w.available_replicas == g.production_replicas))
    })
    .await;
    assert_eq!(
        up.annotations
            .get(ORIGINAL_REPLICAS_ANNOTATION)
            .map(String::as_str),
        Some("2"),
        "a plain scale keeps annotations"
    );
    // Scale back and remove the annotation in one request.
    workloads
        .scale(&ScaleWorkload {
            id: id.clone(),
            replicas: g.standby_replicas,
            annotations: ann(None).annotations,
        })
        .await
        .expect("scale back, removing the annotation");
    let items = workloads.list(&list).await.expect("list");
    let w = items
        .iter()
        .find(|x| x.name == id.name)
        .expect("still listed");
    assert!(
        !w.annotations.contains_key(ORIGINAL_REPLICAS_ANNOTATION),
        "annotation removed"
    );
    assert_eq!(w.replicas, g.standby_replicas);
}

/// Recovery service: points, drill launch, job to completion, terminate the drill.
pub async fn recovery_service(p: &ProviderSet, plan: &Plan, clock: &Clock, within: Duration) {
    let (Some(rs), Some(s)) = (&p.recovery, plan.recovery_servers.first()) else {
        return;
    };
    let points = rs
        .recovery_points(&s.source_server_id)
        .await
        .expect("recovery points");
    assert!(!points.is_empty(), "a protected server has recovery points");
    let servers = vec![s.source_server_id.clone()];
    let job = rs
        .start_recovery(&StartRecovery {
            source_servers: servers.clone(),
            is_drill: true,
            recovery_points: Default::default(),
        })
        .await
        .expect("start drill");
    let st = eventually(clock, "drill job completes", within, || async {
        let j = rs.job(&job).await?;
        Ok(
            (j.status == JobStatus::Completed && j.participants.iter().all(|(_, s)| s.is_final()))
                .then_some(j),
        )
    })
    .await;
    assert!(
        st.participants
            .iter()
            .all(|(_, s)| *s == LaunchStatus::Launched),
        "drill launched: {st:?}"
    );
    let inst = rs.recovery_instances(&servers).await.expect("instances");
    assert!(inst.iter().any(|i| i.is_drill), "drill instance listed");
    let e = rs
        .start_failback(&[inst[0].id.clone()])
        .await
        .expect_err("a drill instance is not ready for failback");
    assert_eq!(e.kind(), ErrorKind::InvalidState);
    rs.terminate_drill_instances(&servers)
        .await
        .expect("terminate");
    assert!(rs
        .recovery_instances(&servers)
        .await
        .expect("instances")
        .iter()
        .all(|i| !i.is_drill));
}

/// How long one kind of failover step took, beside the default estimate of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepTiming {
    /// The estimate's name (`fence`, `promotion`, `dns_propagation`, `node_boot`).
    pub kind: &'static str,
    /// How long it took on the clock.
    pub took: Duration,
    /// The default estimate of its kind ([`Estimates::default`](crate::plan::Estimates)).
    pub estimate: Duration,
}

/// Fails over the estate at the magnitudes its services really take: fences `plan`'s first database
/// pair's primary, promotes its DR instance (planned), switches its first DNS record and waits until
/// it is in sync, scales its first DR node pool to production and waits for its nodes, timing each
/// on `clock`. Panics when one takes longer than the default estimate of its kind, or all together
/// longer than the region-outage RTO. Run it on a paused runtime against a simulator set to the
/// services' real-world durations: the timeouts and estimates then meet real magnitudes in virtual
/// time. Returns the timings.
pub async fn failover_within_estimates(
    p: &ProviderSet,
    plan: &Plan,
    clock: &Clock,
) -> Vec<StepTiming> {
    let est = crate::plan::Estimates::default();
    let rto = plan.targets(crate::IncidentClass::RegionOutage).rto;
    let (db, dns, nodes) = (
        p.database.clone().expect("a database capability"),
        p.dns.clone().expect("a DNS capability"),
        p.nodes.clone().expect("a node-pool capability"),
    );
    let spec = plan.databases.first().expect("a database pair");
    let r = |site| DatabaseRef {
        database: spec.name.clone(),
        instance: spec.instance(site).to_string(),
        site,
    };
    let mut took = Vec::new();
    let mut time = |kind, t: u64, estimate| {
        took.push(StepTiming {
            kind,
            took: Duration::from_millis(clock.now_ms() - t),
            estimate,
        })
    };
    let t = clock.now_ms();
    db.fence(&FenceRequest {
        target: r(SiteRole::Primary),
        fenced: true,
    })
    .await
    .expect("fence");
    time("fence", t, est.fence);
    let t = clock.now_ms();
    db.promote(&PromoteRequest {
        target: r(SiteRole::Dr),
        old_primary: r(SiteRole::Primary),
        mode: PromoteMode::Planned,
    })
    .await
    .expect("planned promotion");
    time("promotion", t, est.promotion);
    let rec = plan.dns_records.first().expect("a DNS record");
    let t = clock.now_ms();
    let change = dns
        .upsert_record(&UpsertRecord {
            record: RecordRef {
                zone: rec.zone.clone(),
                name: rec.name.clone(),
                record_type: rec.record_type.clone(),
            },
            target: rec.dr_target.clone(),
            ttl: rec.ttl,
        })
        .await
        .expect("switch the record");
    eventually(clock, "the record in sync", rto, || async {
        Ok((dns.change_status(&change).await? == ChangeStatus::Insync).then_some(()))
    })
    .await;
    time("dns_propagation", t, est.dns_propagation);
    let pool = plan
        .node_pools
        .iter()
        .find(|n| n.site == SiteRole::Dr)
        .expect("a DR node pool");
    let pr = PoolRef {
        site: SiteRole::Dr,
        cluster: plan.site(SiteRole::Dr).cluster.clone().unwrap_or_default(),
        name: pool.name.clone(),
    };
    let t = clock.now_ms();
    nodes
        .scale_pool(&ScalePool {
            pool: pr.clone(),
            size: pool.production,
        })
        .await
        .expect("scale the DR pool");
    eventually(clock, "the DR pool's nodes ready", rto, || async {
        let s = nodes.get_pool(&pr).await?;
        Ok((!s.updating && s.ready_nodes >= pool.production.desired).then_some(()))
    })
    .await;
    time("node_boot", t, est.node_boot);
    for s in &took {
        assert!(
            s.took <= s.estimate,
            "conformance: {} took {:?}, over its default estimate {:?}: {took:?}",
            s.kind,
            s.took,
            s.estimate
        );
    }
    let total: Duration = took.iter().map(|s| s.took).sum();
    assert!(
        total <= rto,
        "conformance: the failover took {total:?}, over the {rto:?} RTO: {took:?}"
    );
    took
}

/// Runs every conformance function.
pub async fn run_all(p: &ProviderSet, plan: &Plan, clock: &Clock, within: Duration) {
    database_failover(p, plan, clock, within).await;
    dns_routing(p, plan, clock, within).await;
    node_scaling(p, plan, clock, within).await;
    workload_scaling(p, plan, clock, within).await;
    recovery_service(p, plan, clock, within).await;
}
