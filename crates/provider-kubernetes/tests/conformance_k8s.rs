//! The core conformance suite's workload function against the Kubernetes provider.

use std::time::Duration;

use aegis_dr_core::{clock::Clock, conformance};

use crate::common::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_workloads_pass_the_conformance_suite() {
    let env = Env::new().await;
    let providers = env.providers().await;
    let k8s = providers
        .get(&aegis_dr_core::plan::KUBERNETES.into())
        .expect("the kubernetes set");
    conformance::workload_scaling(k8s, &env.plan, &Clock::new(), Duration::from_secs(10)).await;
    // The suite went through the wire: the DR simulator saw list, patch and scale requests.
    let requests = env.dr.with(|c| c.requests.clone());
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("PATCH") && r.ends_with("/scale")),
        "{requests:?}"
    );
    assert!(requests
        .iter()
        .any(|r| r.starts_with("GET /apis/apps/v1/namespaces/production/deployments")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_kubeconfig_and_context_are_config_errors_naming_the_site() {
    use aegis_dr_core::{plan::SiteRole, ErrorKind};
    use aegis_dr_provider_kubernetes::{KubeSite, KubernetesBuilder};
    let env = Env::new().await;
    let err = KubernetesBuilder::new()
        .with_site(
            SiteRole::Dr,
            KubeSite {
                kubeconfig: Some(env.dir.path().join("missing.kubeconfig")),
                context: None,
            },
        )
        .build()
        .await
        .expect_err("missing file");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string().contains("sites.dr.kubeconfig")
            && err.to_string().contains("missing.kubeconfig"),
        "{err}"
    );
    let err = KubernetesBuilder::new()
        .with_site(
            SiteRole::Primary,
            KubeSite {
                kubeconfig: Some(env.dir.path().join("primary.kubeconfig")),
                context: Some("nope".into()),
            },
        )
        .build()
        .await
        .expect_err("unknown context");
    assert!(
        err.to_string().contains("sites.primary.kubeconfig") && err.to_string().contains("nope"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_read_cluster_nodes_and_compare_config_maps_between_clusters() {
    use aegis_dr_core::checks::{run_checks, CheckStatus};
    let env = Env::new().await;
    let providers = env.providers().await;
    let clock = Clock::new();
    let by_name = |r: &[aegis_dr_core::checks::CheckResult], n: &str| {
        r.iter().find(|c| c.name == n).cloned().expect("check")
    };
    let results = run_checks(&env.plan, &providers, &clock).await;
    let nodes = by_name(&results, "dr-nodes-ready");
    assert_eq!(nodes.status, CheckStatus::Pass, "{nodes:?}");
    assert!(nodes.evidence.contains("3/3 nodes Ready"), "{nodes:?}");
    assert_eq!(
        by_name(&results, "dr-config-matches").status,
        CheckStatus::Pass
    );

    env.dr.with(|c| {
        c.node("dr-node-1", false);
        let mut cm = c.get("configmaps", "production", "api-config").expect("cm");
        cm["data"]["LOG_LEVEL"] = serde_json::json!("debug");
        c.put(cm);
    });
    let results = run_checks(&env.plan, &providers, &clock).await;
    let nodes = by_name(&results, "dr-nodes-ready");
    assert_eq!(nodes.status, CheckStatus::Fail, "{nodes:?}");
    assert!(nodes.evidence.contains("2/3"), "{nodes:?}");
    let cfg = by_name(&results, "dr-config-matches");
    assert_eq!(cfg.status, CheckStatus::Fail);
    assert!(cfg.evidence.contains("LOG_LEVEL"), "{cfg:?}");
}
