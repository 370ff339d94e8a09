//! The provider conformance suite, run against the simulated estate.

use std::{sync::Arc, time::Duration};

use aegis_dr_core::{clock::Clock, conformance, sim::SimProvider};

use crate::common::plan;

#[tokio::test(start_paused = true)]
async fn sim_passes_the_conformance_suite() {
    let plan = plan();
    let clock = Clock::new();
    let sim = Arc::new(SimProvider::in_memory(&plan, clock));
    conformance::run_all(&sim.providers(), &plan, &clock, Duration::from_secs(3600)).await;
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
    let p = sim.providers();
    let mut failures = 0;
    for _ in 0..200 {
        let r = aegis_dr_core::provider::RecordRef {
            zone: "example.com".into(),
            name: "api.example.com".into(),
            record_type: "CNAME".into(),
        };
        if let Err(e) = p.dns.get_record(&r).await {
            assert!(e.is_retryable(), "transient faults are retryable: {e}");
            failures += 1;
        }
    }
    assert!(
        (20..=70).contains(&failures),
        "about 20% of 200 calls fail: {failures}"
    );
}
