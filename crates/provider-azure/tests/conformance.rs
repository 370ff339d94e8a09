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
    let mut plan = plan;
    plan.dns_records.remove(0);
    conformance::dns_routing(&w.azure, &plan, &Clock::new(), WITHIN).await;
    let set =
        |s: &mut aegis_dr_azure_sim::SimState| s.record(estate::ZONE, "A", "v4").expect("set").1;
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
    assert!(dns
        .record_matches(&rr, &rec.dr_target, 60)
        .await
        .expect("read"));
}

/// A Traffic Manager profile pointed at two DR targets enables both DR endpoints before it disables
/// the primary one, and is in sync only once both are `Online`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traffic_manager_profile_moves_to_a_set_of_endpoints() {
    use aegis_dr_core::provider::{ChangeStatus, RecordRef, UpsertRecord};
    let w = world().await;
    w.sim.with(|s| {
        s.add_traffic_manager(
            estate::GLOBAL_RG,
            "aegis-set",
            "Weighted",
            60,
            &[
                ("primary", "primary.aegis.io", true, 1),
                ("dr-a", "dr-a.aegis.io", false, 2),
                ("dr-b", "dr-b.aegis.io", false, 3),
            ],
        )
    });
    let dns = w.azure.dns.clone().expect("dns");
    let rr = RecordRef {
        zone: "trafficmanager.net".into(),
        name: "aegis-set.trafficmanager.net".into(),
        record_type: "CNAME".into(),
    };
    assert_eq!(
        dns.get_record(&rr).await.expect("read").target,
        "primary.aegis.io"
    );
    let dr = aegis_dr_core::plan::RecordTargets::new(vec![
        "dr-b.aegis.io".into(),
        "dr-a.aegis.io".into(),
    ]);
    let change = dns
        .upsert_record(&UpsertRecord {
            record: rr.clone(),
            target: dr.clone(),
            ttl: 60,
        })
        .await
        .expect("upsert");
    let eps = w.sim.with(|s| s.traffic_manager_endpoints("aegis-set"));
    let status: Vec<(&str, &str)> = eps.iter().map(|e| (e.0.as_str(), e.1.as_str())).collect();
    assert_eq!(
        status,
        [
            ("primary", "Disabled"),
            ("dr-a", "Enabled"),
            ("dr-b", "Enabled")
        ]
    );
    assert_eq!(dns.get_record(&rr).await.expect("read").target, dr);
    // In sync only once both endpoints are Online (polled, to a deadline).
    let deadline = std::time::Instant::now() + WITHIN;
    while dns.change_status(&change).await.expect("status") != ChangeStatus::Insync {
        assert!(std::time::Instant::now() < deadline, "never in sync");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let eps = w.sim.with(|s| s.traffic_manager_endpoints("aegis-set"));
    assert!(eps[1..].iter().all(|e| e.2 == "Online"), "{eps:?}");
    // A target the profile does not have is named, and nothing is changed.
    let e = dns
        .upsert_record(&UpsertRecord {
            record: rr.clone(),
            target: vec!["dr-a.aegis.io".into(), "dr-c.aegis.io".into()].into(),
            ttl: 60,
        })
        .await
        .expect_err("unknown endpoint target");
    assert!(
        e.to_string()
            .contains("no endpoint with target `dr-c.aegis.io`"),
        "{e}"
    );
    assert_eq!(dns.get_record(&rr).await.expect("read").target, dr);
}
