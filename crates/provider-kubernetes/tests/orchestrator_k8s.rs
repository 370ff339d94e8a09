//! Failover and failback with workloads in two simulated clusters.

use aegis_dr_core::{
    journal::{Operation, RunFlags, RunStatus},
    plan::SiteRole,
    ErrorKind,
};

use crate::common::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_failback_move_workloads_between_clusters() {
    let env = Env::new().await;
    let out = env
        .run(Operation::Failover, RunFlags::default(), None)
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let api = env.deployment(SiteRole::Dr, "production", "api");
    assert_eq!(api["spec"]["replicas"], 6);
    assert_eq!(api["status"]["availableReplicas"], 6);
    assert_eq!(
        api["metadata"]["annotations"]["aegis.io/original-replicas"],
        "2"
    );
    assert_eq!(
        env.deployment(SiteRole::Dr, "web", "web")["spec"]["replicas"],
        4
    );
    assert_eq!(
        env.deployment(SiteRole::Dr, "web", "batch-job")["spec"]["replicas"],
        1,
        "selector leaves others alone"
    );
    assert_eq!(
        env.deployment(SiteRole::Primary, "production", "checkout")["metadata"]["annotations"]
            ["aegis.io/drain"],
        "true"
    );

    let out = env
        .run(
            Operation::Failback,
            RunFlags {
                force: true,
                ..Default::default()
            },
            None,
        )
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let api = env.deployment(SiteRole::Dr, "production", "api");
    assert_eq!(api["spec"]["replicas"], 2, "restored exactly");
    assert!(
        api["metadata"]["annotations"]
            .as_object()
            .is_none_or(|a| a.is_empty()),
        "annotations cleared: {api}"
    );
    let primary = env.deployment(SiteRole::Primary, "production", "checkout");
    assert!(
        primary["metadata"]["annotations"]
            .get("aegis.io/drain")
            .is_none(),
        "undrained: {primary}"
    );
    assert_eq!(primary["spec"]["replicas"], 6);
    assert_eq!(
        env.dr
            .with(|c| c.get("statefulsets", "data", "redis"))
            .expect("sts")["spec"]["replicas"],
        1
    );

    // A second cutover after the failback records fresh counts, not stale ones.
    env.dr.with(|c| {
        let mut d = c.get("deployments", "production", "api").expect("api");
        d["spec"]["replicas"] = serde_json::json!(3);
        c.put(d);
    });
    let out = env
        .run(Operation::Failover, RunFlags::default(), None)
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(
        env.deployment(SiteRole::Dr, "production", "api")["metadata"]["annotations"]
            ["aegis.io/original-replicas"],
        "3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_are_retried() {
    let env = Env::new().await;
    env.dr.with(|c| c.conflicts_to_inject = 4);
    let out = env
        .run(Operation::Failover, RunFlags::default(), None)
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(env.dr.with(|c| c.conflicts_answered), 4);
    let retries: u32 = out.report.steps.iter().map(|s| s.retries).sum();
    assert!(retries >= 4, "409s were retried: {retries}");
    assert_eq!(
        env.deployment(SiteRole::Dr, "production", "api")["spec"]["replicas"],
        6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_primary_cluster_needs_the_flag() {
    let mut env = Env::new().await;
    env.primary.stop();
    let out = env
        .run(Operation::Failover, RunFlags::default(), None)
        .await;
    let err = out.error.expect("refused");
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    assert!(err.to_string().contains("--primary-unreachable"), "{err}");
    let out = env
        .run(
            Operation::Failover,
            RunFlags {
                primary_unreachable: true,
                ..Default::default()
            },
            Some(out.report.run_id.clone()),
        )
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.report.status, RunStatus::Succeeded);
    assert_eq!(
        env.deployment(SiteRole::Dr, "production", "api")["spec"]["replicas"],
        6
    );
}
