//! Leader election through a `Lease` on the Kubernetes API simulator, with the real `kube` client:
//! one replica holds it and renews it; another waits while it is fresh, takes it over once it has
//! expired (counting a transition), and never both hold it; a released lease is taken at once.

use std::time::Duration;

use aegis_dr_core::{controller::Leadership, plan::LeaseSettings};
use aegis_dr_k8s_sim::K8sSim;
use aegis_dr_provider_kubernetes::LeaseLeader;

fn settings(kubeconfig: &std::path::Path) -> LeaseSettings {
    LeaseSettings {
        namespace: "aegis-system".into(),
        name: "aegis-dr-controller".into(),
        kubeconfig: Some(kubeconfig.display().to_string()),
        context: None,
        duration: Duration::from_secs(2),
        renew_every: Duration::from_millis(500),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_the_other_takes_over_after_expiry_and_never_both() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = K8sSim::start("ops").await.expect("sim");
    sim.with(|c| c.ensure_namespace("aegis-system"));
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = dir.path().join("ops.kubeconfig");
    sim.write_kubeconfig(&kc).expect("kubeconfig");
    let a = LeaseLeader::new(&settings(&kc), "replica-a")
        .await
        .expect("a");
    let b = LeaseLeader::new(&settings(&kc), "replica-b")
        .await
        .expect("b");

    assert!(a.acquire_or_renew().await.expect("a acquires"));
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(a.acquire_or_renew().await.expect("a renews"));
        assert!(!b.acquire_or_renew().await.expect("b waits"), "never both");
    }
    let lease = sim
        .with(|c| c.get("leases", "aegis-system", "aegis-dr-controller"))
        .expect("the lease");
    assert_eq!(lease["spec"]["holderIdentity"], "replica-a");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 2);

    // A stops renewing (killed): B takes over once the lease has expired, not before.
    let stopped = std::time::Instant::now();
    let mut took = None;
    while stopped.elapsed() < Duration::from_secs(6) {
        if b.acquire_or_renew().await.expect("b") {
            took = Some(stopped.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = took.expect("b took over");
    assert!(
        took >= Duration::from_millis(1500),
        "taken over too early: {took:?}"
    );
    let lease = sim
        .with(|c| c.get("leases", "aegis-system", "aegis-dr-controller"))
        .expect("the lease");
    assert_eq!(lease["spec"]["holderIdentity"], "replica-b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    // A, back, finds it held and stops acting.
    assert!(!a.acquire_or_renew().await.expect("a"));

    // Released: taken at once.
    b.release().await;
    assert!(a.acquire_or_renew().await.expect("a after release"));
    assert_eq!(
        sim.with(|c| c.get("leases", "aegis-system", "aegis-dr-controller"))
            .expect("lease")["spec"]["leaseTransitions"],
        2
    );
}
