//! Behaviour beyond the conformance suite.

use aegis_dr_core::{provider::*, SiteRole};
use aegis_dr_test_servers::postgres::PgOptions;

use crate::common::world;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_status() {
    let w = world(PgOptions::default(), "").await;
    let (p, d) = (w.at(SiteRole::Primary), w.at(SiteRole::Dr));
    w.db.fence(&FenceRequest { target: p.clone(), fenced: true }).await.expect("fence");
    w.db.promote(&PromoteRequest { target: d.clone(), old_primary: p.clone(), mode: PromoteMode::Planned }).await.expect("promote");
    eprintln!("{:?}", w.db.status(&d).await);
    let mut cmd = w.plan.databases[0].rejoin.primary.clone().unwrap();
    cmd.timeout = std::time::Duration::from_secs(10);
    let r = w.db.reverse_replication(&ReverseReplicationRequest { source: d.clone(), target: p.clone(), dry_run: false, accept_data_loss: false }).await;
    eprintln!("{r:?}");
    eprintln!("{:?}", w.db.status(&p).await);
    eprintln!("{}", w.pg.psql(&w.pg.primary, "SELECT status, received_tli, sender_host, sender_port FROM pg_stat_wal_receiver"));
    eprintln!("{}", w.pg.psql(&w.pg.standby, "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int, pg_current_wal_lsn()"));
    eprintln!("{}", std::fs::read_to_string(w.pg.log(&w.pg.primary)).unwrap());
}
