//! The runbook's Azure estate, as `examples/azure.toml` describes it: the failover group `aegis-fog`
//! between `aegis-sql-eastus` and `aegis-sql-westus`, the Traffic Manager profile `aegis-tm`
//! (`primary-endpoint` enabled, `dr-endpoint` disabled), the zone `aegis.io`, and the AKS pools
//! `agentpool` of `aegis-prod-aks` (6 nodes) and `aegis-dr-aks` (standby: 1, autoscaler 1..10).

use std::time::Duration;

use crate::SimState;

/// Resource group of the primary site's resources.
pub const PRIMARY_RG: &str = "aegis-prod-eastus";
/// Resource group of the DR site's resources.
pub const DR_RG: &str = "aegis-dr-westus";
/// Resource group of the global resources (Traffic Manager, DNS zone).
pub const GLOBAL_RG: &str = "aegis-global";
/// Primary SQL server.
pub const PRIMARY_SQL: &str = "aegis-sql-eastus";
/// DR SQL server.
pub const DR_SQL: &str = "aegis-sql-westus";
/// The failover group.
pub const FAILOVER_GROUP: &str = "aegis-fog";
/// The Traffic Manager profile.
pub const PROFILE: &str = "aegis-tm";
/// Target of `primary-endpoint`.
pub const PRIMARY_TARGET: &str = "aegis-api-eastus.cloudapp.azure.com";
/// Target of `dr-endpoint`.
pub const DR_TARGET: &str = "aegis-api-westus.cloudapp.azure.com";
/// The Azure DNS zone.
pub const ZONE: &str = "aegis.io";
/// Primary AKS cluster.
pub const PRIMARY_AKS: &str = "aegis-prod-aks";
/// DR AKS cluster.
pub const DR_AKS: &str = "aegis-dr-aks";
/// The pool name in both clusters.
pub const POOL: &str = "agentpool";

/// Creates the runbook's estate in `s`.
pub fn runbook(s: &mut SimState) {
    s.add_sql_server(PRIMARY_RG, PRIMARY_SQL, "eastus");
    s.add_sql_server(DR_RG, DR_SQL, "westus");
    s.add_failover_group(
        FAILOVER_GROUP,
        (PRIMARY_RG, PRIMARY_SQL),
        (DR_RG, DR_SQL),
        &["orders"],
        Some(Duration::from_secs(3600)),
    );
    s.add_traffic_manager(
        GLOBAL_RG,
        PROFILE,
        "Priority",
        60,
        &[
            ("primary-endpoint", PRIMARY_TARGET, true, 1),
            ("dr-endpoint", DR_TARGET, false, 2),
        ],
    );
    s.add_dns_zone(GLOBAL_RG, ZONE);
    s.set_record(ZONE, "CNAME", "app", 300, "app-eastus.aegis.io");
    s.add_aks_cluster(PRIMARY_RG, PRIMARY_AKS, "eastus");
    s.add_aks_cluster(DR_RG, DR_AKS, "westus");
    s.add_agent_pool(PRIMARY_RG, PRIMARY_AKS, POOL, 6, None);
    s.add_agent_pool(DR_RG, DR_AKS, POOL, 1, Some((1, 10)));
}
