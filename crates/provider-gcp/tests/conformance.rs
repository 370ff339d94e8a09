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
