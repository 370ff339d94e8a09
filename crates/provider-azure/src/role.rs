//! `aegis-dr permissions --provider azure`: a custom role definition with the actions the plan's
//! Azure resources need, assignable at their resource groups only.

use std::collections::BTreeSet;

use aegis_dr_core::{Plan, Result, SiteRole};
use serde_json::{json, Value};

use crate::{dns::TRAFFIC_MANAGER_ZONE, settings::AzureSettings};

/// What `aegis-dr init` and `drift` read on Azure: list calls only, in the sites' and the shared
/// resource groups.
pub const DISCOVERY_ACTIONS: &[&str] = &[
    "Microsoft.Sql/servers/read",
    "Microsoft.Sql/servers/failoverGroups/read",
    "Microsoft.Network/trafficManagerProfiles/read",
    "Microsoft.Network/dnsZones/read",
    "Microsoft.Network/dnsZones/recordsets/read",
    "Microsoft.ContainerService/managedClusters/read",
    "Microsoft.ContainerService/managedClusters/agentPools/read",
];

/// The role definition (the JSON `az role definition create --role-definition` takes).
pub fn role_for(plan: &Plan) -> Result<Value> {
    let mut actions = BTreeSet::new();
    let mut scopes = BTreeSet::new();
    let plan_wide = AzureSettings::of(plan, None)?;
    if !plan.databases.is_empty() {
        for a in [
            "Microsoft.Sql/servers/read",
            "Microsoft.Sql/servers/write",
            "Microsoft.Sql/servers/failoverGroups/read",
            "Microsoft.Sql/servers/failoverGroups/failover/action",
            "Microsoft.Sql/servers/failoverGroups/forceFailoverAllowDataLoss/action",
            "Microsoft.Sql/servers/databases/restorePoints/read",
            "Microsoft.Sql/locations/failoverGroupAzureAsyncOperation/read",
            "Microsoft.Sql/locations/failoverGroupOperationResults/read",
            // A server update (the fence) is a long-running operation, followed to its end.
            "Microsoft.Sql/locations/serverAzureAsyncOperation/read",
            "Microsoft.Sql/locations/serverOperationResults/read",
        ] {
            actions.insert(a.to_string());
        }
        for d in &plan.databases {
            for site in [SiteRole::Primary, SiteRole::Dr] {
                let rg = AzureSettings::of(plan, Some(site))?
                    .group(Some(site), &format!("databases.{}", d.name))?;
                scopes.insert(rg.id());
            }
        }
    }
    for r in &plan.dns_records {
        let rg = plan_wide.group(None, &format!("dns_records.{}", r.name))?;
        scopes.insert(rg.id());
        if r.zone
            .trim_end_matches('.')
            .eq_ignore_ascii_case(TRAFFIC_MANAGER_ZONE)
        {
            for a in [
                "Microsoft.Network/trafficManagerProfiles/read",
                "Microsoft.Network/trafficManagerProfiles/write",
                "Microsoft.Network/trafficManagerProfiles/externalEndpoints/read",
                "Microsoft.Network/trafficManagerProfiles/externalEndpoints/write",
                "Microsoft.Network/trafficManagerProfiles/azureEndpoints/read",
                "Microsoft.Network/trafficManagerProfiles/azureEndpoints/write",
            ] {
                actions.insert(a.to_string());
            }
        } else {
            actions.insert("Microsoft.Network/dnsZones/read".into());
            actions.insert(format!("Microsoft.Network/dnsZones/{}/read", r.record_type));
            actions.insert(format!(
                "Microsoft.Network/dnsZones/{}/write",
                r.record_type
            ));
        }
    }
    for p in &plan.node_pools {
        let rg = AzureSettings::of(plan, Some(p.site))?
            .group(Some(p.site), &format!("node_pools.{}", p.name))?;
        scopes.insert(rg.id());
        actions.insert("Microsoft.ContainerService/managedClusters/agentPools/read".into());
        actions.insert("Microsoft.ContainerService/managedClusters/agentPools/write".into());
    }
    Ok(json!({
        "Name": format!("aegis-dr ({})", plan.name),
        "IsCustom": true,
        "Description": format!("What aegis-dr needs to fail plan `{}` over and back on Azure.", plan.name),
        "Actions": actions.into_iter().collect::<Vec<_>>(),
        "NotActions": [],
        "DataActions": [],
        "NotDataActions": [],
        "AssignableScopes": scopes.into_iter().collect::<Vec<_>>(),
    }))
}
