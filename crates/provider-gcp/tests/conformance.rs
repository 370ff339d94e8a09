//! The core conformance suite, run against the GCP providers.

use aegis_dr_core::{clock::Clock, conformance};
use aegis_dr_gcp_sim::estate;

use crate::common::{world, WITHIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_providers_pass_the_conformance_suite() {
    let w = world().await;
    conformance::run_all(&w.gcp, &w.plan, &Clock::new(), WITHIN).await;
    // The suite left the estate as it found it.
    w.sim.with(|s| {
        let db = s.sql_instance(estate::PRIMARY_DB).expect("primary");
        assert_eq!(db.master, None, "aegis-db is the primary again");
        assert_eq!(
            db.labels.get("aegis-dr-fenced").map(String::as_str),
            Some("false"),
            "{db:?}"
        );
        let dr = s.sql_instance(estate::DR_DB).expect("replica");
        assert_eq!(dr.master.as_deref(), Some(estate::PRIMARY_DB));
        let (ttl, data) = s
            .record_set(estate::ZONE, estate::RECORD, "CNAME")
            .expect("record");
        assert_eq!((ttl, data), (60, vec![estate::PRIMARY_TARGET.to_string()]));
        let (per_zone, zones, bounds, busy) =
            s.node_pool(estate::DR_CLUSTER, estate::POOL).expect("pool");
        assert_eq!(
            (per_zone, zones, bounds, busy),
            (1, 1, Some((1, 10)), false),
            "DR pool back at standby"
        );
    });
    // Google's Rust clients asked for enums as integers, and got them.
    assert!(w.sim.with(|s| s.int_enum_replies) > 0);
    // Every switchover was a POST followed to DONE, never re-sent.
    let posts = w.sim.with(|s| {
        s.requests
            .iter()
            .filter(|r| r.starts_with("POST ") && r.ends_with("/switchover"))
            .count()
    });
    assert_eq!(posts, 2, "one switchover there, one back");
}

/// An A record set in Cloud DNS moves as a whole: read back as the set, changed as one set of
/// rrdatas, and back again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_set_in_cloud_dns_moves_whole() {
    use aegis_dr_core::provider::{DnsRouterExt, RecordRef, UpsertRecord};
    const PRIMARY: [&str; 2] = ["192.0.2.10", "192.0.2.11"];
    const DR: [&str; 2] = ["198.51.100.10", "198.51.100.11"];
    const NAME: &str = "v4.aegis.io.";
    let w = world().await;
    w.sim
        .with(|s| s.set_record_set(estate::ZONE, NAME, "A", 60, &PRIMARY));
    let plan = aegis_dr_core::Plan::parse(&format!(
        "{}\n[[dns_records]]\nname = \"{NAME}\"\nzone = \"{}\"\ntype = \"A\"\nprimary_target = {PRIMARY:?}\ndr_target = {DR:?}\nttl = 60\n",
        crate::common::example_text(),
        estate::ZONE
    ))
    .expect("plan parses");
    let mut plan = plan;
    plan.dns_records.remove(0);
    conformance::dns_routing(&w.gcp, &plan, &Clock::new(), WITHIN).await;
    let set = |s: &mut aegis_dr_gcp_sim::SimState| {
        let mut v = s.record_set(estate::ZONE, NAME, "A").expect("set").1;
        v.sort();
        v
    };
    assert_eq!(w.sim.with(set), PRIMARY, "the suite put it back");
    let dns = w.gcp.dns.clone().expect("dns");
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
    assert_eq!(w.sim.with(set), DR, "Cloud DNS holds both DR addresses");
    assert!(dns
        .record_matches(&rr, &rec.dr_target, 60)
        .await
        .expect("read"));
}
