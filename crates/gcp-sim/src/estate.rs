//! The runbook's GCP estate, as `examples/gcp.toml` describes it: the Cloud SQL primary `aegis-db`
//! (us-central1, HA across zones a and b, backed up an hour ago) with its cross-region DR replica
//! `aegis-db-failover` (us-east1, 2 s behind in Cloud Monitoring until the primary is fenced), the Cloud DNS zone `aegis-zone` (`aegis.io.`, `api.aegis.io.` →
//! `primary-lb.aegis.io.`), and the GKE pools `primary-pool` of `aegis-prod` (regional, 2 nodes in
//! each of three zones) and of `aegis-dr` (one zone, standby: 1 node, autoscaler 1..10).

use std::time::Duration;

use crate::SimState;

/// The project.
pub const PROJECT: &str = "aegis-prod";
/// The primary Cloud SQL instance.
pub const PRIMARY_DB: &str = "aegis-db";
/// Its DR replica.
pub const DR_DB: &str = "aegis-db-failover";
/// The managed zone.
pub const ZONE: &str = "aegis-zone";
/// The record the runbook flips.
pub const RECORD: &str = "api.aegis.io.";
/// Its target at the primary site.
pub const PRIMARY_TARGET: &str = "primary-lb.aegis.io.";
/// Its target at the DR site.
pub const DR_TARGET: &str = "dr-lb.aegis.io.";
/// The primary GKE cluster (us-central1).
pub const PRIMARY_CLUSTER: &str = "aegis-prod";
/// The DR GKE cluster (us-east1-b).
pub const DR_CLUSTER: &str = "aegis-dr";
/// The pool name in both clusters.
pub const POOL: &str = "primary-pool";

/// Creates the runbook's estate in `s`.
pub fn runbook(s: &mut SimState) {
    s.replica_lag = Some(Duration::from_secs(2));
    s.add_sql_primary(
        PRIMARY_DB,
        "us-central1",
        "us-central1-a",
        Some("us-central1-b"),
        Some(Duration::from_secs(3600)),
    );
    s.add_sql_replica(DR_DB, PRIMARY_DB, "us-east1", "us-east1-b", true);
    s.add_managed_zone(ZONE, "aegis.io.");
    s.set_record_set(ZONE, RECORD, "CNAME", 60, &[PRIMARY_TARGET]);
    s.add_node_pool(
        "us-central1",
        PRIMARY_CLUSTER,
        POOL,
        &["us-central1-a", "us-central1-b", "us-central1-c"],
        2,
        None,
    );
    s.add_node_pool(
        "us-east1-b",
        DR_CLUSTER,
        POOL,
        &["us-east1-b"],
        1,
        Some((1, 10)),
    );
}
