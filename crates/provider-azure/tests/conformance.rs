//! The core conformance suite, run against the Azure providers.

use aegis_dr_azure_sim::estate;
use aegis_dr_core::{clock::Clock, conformance};

use crate::common::{world, WITHIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_providers_pass_the_conformance_suite() {
    let w = world().await;
    conformance::run_all(&w.azure, &w.plan, &Clock::new(), WITHIN).await;
    // The suite left the estate as it found it.
    w.sim.with(|s| {
        let (primary, state) = s.failover_group(estate::FAILOVER_GROUP).expect("group");
        assert_eq!(
            (primary.as_str(), state.as_str()),
            (estate::PRIMARY_SQL, "CATCH_UP")
        );
        assert!(!s
            .sql_server_tags(estate::PRIMARY_SQL)
            .contains_key("aegis-dr-fenced"));
        let eps = s.traffic_manager_endpoints(estate::PROFILE);
        assert_eq!(eps[0].1, "Enabled", "{eps:?}");
        assert_eq!(eps[1].1, "Disabled", "{eps:?}");
        assert_eq!(s.traffic_manager_ttl(estate::PROFILE), Some(60));
        let (count, bounds, _) = s.agent_pool(estate::DR_AKS, estate::POOL).expect("pool");
        assert_eq!(
            (count, bounds),
            (1, Some((1, 10))),
            "DR pool back at standby"
        );
    });
    // Every failover was a POST answered 202 and followed, never re-sent.
    let posts = w.sim.with(|s| {
        s.requests
            .iter()
            .filter(|r| r.starts_with("POST ") && r.ends_with("/failover"))
            .count()
    });
    assert_eq!(posts, 2, "one failover there, one back");
}
