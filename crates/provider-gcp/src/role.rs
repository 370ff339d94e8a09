//! `aegis-dr permissions --provider gcp`: a custom IAM role with the permissions the plan's GCP
//! resources need, and the projects to grant it in.

use std::collections::BTreeSet;

use aegis_dr_core::{Plan, Result, SiteRole};
use serde_json::{json, Value};

use crate::settings::GcpSettings;

/// What `aegis-dr init` and `drift` read on GCP: list calls only, in the plan's project.
pub const DISCOVERY_PERMISSIONS: &[&str] = &[
    "cloudsql.instances.list",
    "dns.managedZones.list",
    "dns.resourceRecordSets.list",
    "container.clusters.list",
    "container.clusters.get",
    "compute.instanceGroupManagers.get",
];

/// The role (the YAML/JSON `gcloud iam roles create --file` takes, as JSON) and its projects.
pub fn role_for(plan: &Plan) -> Result<(Value, BTreeSet<String>)> {
    let mut perms = BTreeSet::new();
    let mut projects = BTreeSet::new();
    if !plan.databases.is_empty() {
        for p in [
            "cloudsql.instances.get",
            "cloudsql.instances.update",
            "cloudsql.instances.failover",
            "cloudsql.instances.promoteReplica",
            "cloudsql.backupRuns.list",
            "monitoring.timeSeries.list",
        ] {
            perms.insert(p);
        }
        for d in &plan.databases {
            for site in [SiteRole::Primary, SiteRole::Dr] {
                projects.insert(
                    GcpSettings::of(plan, Some(site))?
                        .project(Some(site), &format!("databases.{}", d.name))?,
                );
            }
        }
    }
    for r in &plan.dns_records {
        projects.insert(
            GcpSettings::of(plan, None)?.project(None, &format!("dns_records.{}", r.name))?,
        );
        for p in [
            "dns.resourceRecordSets.get",
            "dns.resourceRecordSets.create",
            "dns.resourceRecordSets.delete",
            "dns.resourceRecordSets.update",
            "dns.changes.create",
            "dns.changes.get",
        ] {
            perms.insert(p);
        }
    }
    for n in &plan.node_pools {
        projects.insert(
            GcpSettings::of(plan, Some(n.site))?
                .project(Some(n.site), &format!("node_pools.{}", n.name))?,
        );
        for p in [
            "container.clusters.get",
            "container.clusters.update",
            "container.operations.get",
            "compute.instanceGroupManagers.get",
        ] {
            perms.insert(p);
        }
    }
    let role = json!({
        "title": format!("aegis-dr ({})", plan.name),
        "description": format!("What aegis-dr needs to fail plan `{}` over and back on GCP.", plan.name),
        "stage": "GA",
        "includedPermissions": perms.into_iter().collect::<Vec<_>>(),
    });
    Ok((role, projects))
}
