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

/// An A record set in Azure DNS moves as a whole: read back as the set, written as one
/// `ARecords` array, and back again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_set_in_azure_dns_moves_whole() {
    use aegis_dr_core::provider::{DnsRouterExt, RecordRef, UpsertRecord};
    const PRIMARY: [&str; 2] = ["192.0.2.10", "192.0.2.11"];
    const DR: [&str; 2] = ["198.51.100.10", "198.51.100.11"];
    let w = world().await;
    w.sim
        .with(|s| s.set_record_values(estate::ZONE, "A", "v4", 60, &PRIMARY));
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/azure.toml"
    ))
    .expect("example");
    let plan = aegis_dr_core::Plan::parse(&format!(
        "{text}\n[[dns_records]]\nname = \"v4.{zone}\"\nzone = \"{zone}\"\ntype = \"A\"\nprimary_target = {PRIMARY:?}\ndr_target = {DR:?}\nttl = 60\n",
        zone = estate::ZONE
    ))
    .expect("plan parses");
    let plan = aegis_dr_core::Plan {
        dns_records: plan.dns_records[1..].to_vec(),
        ..plan
    };
    conformance::dns_routing(&w.azure, &plan, &Clock::new(), WITHIN).await;
    let set = |s: &mut aegis_dr_azure_sim::SimState| s.record(estate::ZONE, "A", "v4").expect("set").1;
    assert_eq!(w.sim.with(set), PRIMARY, "the suite put it back");
    let dns = w.azure.dns.clone().expect("dns");
    let rec = &plan.dns_records[0];
    let rr = RecordRef {
        zone: rec.zone.clone(),
        name: rec.name.clone(),
        record_type: rec.record_type.clone(),
    };
    dns.upsert_record(&UpsertRecord {
        record: rr.clone(),
        target: rec.dr_target.clone(),
        ttl: 60,
    })
    .await
    .expect("upsert");
    assert_eq!(w.sim.with(set), DR, "ARM holds both DR addresses");
    assert!(dns.record_matches(&rr, &rec.dr_target, 60).await.expect("read"));
}
