//! The provider conformance suite, run against the simulated estate.

use std::{sync::Arc, time::Duration};

use aegis_dr_core::{
    clock::Clock,
    conformance,
    layer::{FaultLayer, RetryLayer},
    plan::ProviderName,
    retry::RetryPolicy,
    Plan,
};
use aegis_dr_provider_sim::SimProvider;

fn plan() -> Plan {
    Plan::parse(include_str!("fixtures/test-estate.toml")).expect("the fixture parses")
}

/// The fixture's record.
fn api_record() -> aegis_dr_core::provider::RecordRef {
    aegis_dr_core::provider::RecordRef {
        zone: "example.com".into(),
        name: "api.example.com".into(),
        record_type: "CNAME".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn sim_passes_the_conformance_suite() {
    let plan = plan();
    let clock = Clock::new();
    let sim = Arc::new(SimProvider::in_memory(&plan, clock));
    conformance::run_all(&sim.set(), &plan, &clock, Duration::from_secs(3600)).await;
}

#[tokio::test(start_paused = true)]
async fn sim_conformance_holds_under_transient_faults() {
    let mut plan = plan();
    plan.sim.transient_fault_rate = 0.2;
    plan.sim.seed = 99;
    let clock = Clock::new();
    let sim = Arc::new(SimProvider::in_memory(&plan, clock));
    // The suite itself does not retry mutating calls, so only reads run under faults here:
    // exercise the read paths many times and check every failure is retryable.
    let providers = sim.providers().expect("providers");
    let p = providers.get(&ProviderName::sim()).expect("the sim set");
    let dns = p.dns.as_ref().expect("dns");
    let mut failures = 0;
    for _ in 0..200 {
        let r = api_record();
        if let Err(e) = dns.get_record(&r).await {
            assert!(e.is_retryable(), "transient faults are retryable: {e}");
            failures += 1;
        }
    }
    assert!(
        (20..=70).contains(&failures),
        "about 20% of 200 calls fail: {failures}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_layer_over_a_fault_layer_hides_transient_faults() {
    let plan = plan();
    let clock = Clock::new();
    let sim = Arc::new(SimProvider::in_memory(&plan, clock));
    let policy = RetryPolicy {
        attempts: 8,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
    };
    let faulty = sim.set().layer(FaultLayer::new(0.3, 5, Vec::new()));
    let retried = faulty.clone().layer(RetryLayer::new(policy, clock));
    let r = api_record();
    let fails = |set: &aegis_dr_core::provider::ProviderSet| {
        let dns = set.dns.clone().expect("dns");
        let r = r.clone();
        async move { dns.get_record(&r).await.is_err() as u32 }
    };
    let (mut raw_failures, mut retried_failures) = (0, 0);
    for _ in 0..100 {
        raw_failures += fails(&faulty).await;
        retried_failures += fails(&retried).await;
    }
    assert!(
        raw_failures >= 10,
        "the fault layer injects: {raw_failures}"
    );
    assert_eq!(retried_failures, 0, "the retry layer absorbs them");
}
