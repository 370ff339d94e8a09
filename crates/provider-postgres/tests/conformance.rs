//! The core conformance suite through the postgres provider, on a real pair.

use aegis_dr_core::{clock::Clock, conformance};
use aegis_dr_test_servers::postgres::{PgOptions, APP};

use crate::common::{client, world, WITHIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pairs_pass_the_conformance_suite() {
    let w = world(PgOptions::default(), "").await;
    conformance::run_all(&w.set(), &w.plan, &Clock::new(), WITHIN).await;
    // Home again: the first primary takes the application's writes, the other streams from it.
    let c = client(&w.pg, &w.pg.primary, APP)
        .await
        .expect("the application logs in again");
    c.execute("INSERT INTO writes (n) VALUES (1)", &[])
        .await
        .expect("a write");
    let standby = w.pg.psql(&w.pg.standby, "SELECT pg_is_in_recovery()");
    assert_eq!(standby, "t");
}
