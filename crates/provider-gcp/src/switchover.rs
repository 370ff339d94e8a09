//! Cloud SQL switchover's preconditions (its advanced disaster recovery requirements), read before a
//! planned promotion and by `check`: a switchover Cloud SQL would refuse is named, not sent.

use google_cloud_sql_v1::{
    client::SqlInstancesService,
    model::{settings::Edition, DatabaseInstance},
};

use crate::sql::{is_replica, settings};

/// PostgreSQL flags a DR replica must hold at the primary's value for a switchover.
const SWITCHOVER_EQUAL_FLAGS: &[&str] = &[
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_parallel_workers",
    "max_locks_per_transaction",
    "max_parallel_maintenance_workers",
    "max_parallel_workers_per_gather",
];

/// What would make Cloud SQL refuse a switchover to the replica `r` now (its advanced
/// disaster recovery requirements): Enterprise Plus on both, point-in-time recovery on a
/// PostgreSQL primary, the same version, a direct replica that is the primary's designated DR
/// replica, and the flags a switchover wants equal. The primary not read is no blocker here
/// (the lag and health checks report it).
pub(crate) async fn blockers(
    instances: &SqlInstancesService,
    project: &str,
    r: &DatabaseInstance,
) -> Vec<String> {
    let Ok(m) = instances
        .get()
        .set_project(project)
        .set_instance(crate::sql::master_name(r))
        .send()
        .await
    else {
        return Vec::new();
    };
    let mut why = Vec::new();
    for i in [&m, r] {
        let edition = settings(i).edition;
        if edition != Edition::EnterprisePlus {
            why.push(format!(
                "{} is edition {}, and switchover needs ENTERPRISE_PLUS",
                i.name,
                edition.name().unwrap_or("unspecified")
            ));
        }
    }
    let version = m.database_version.name().unwrap_or_default();
    let pitr = settings(&m)
        .backup_configuration
        .and_then(|b| b.point_in_time_recovery_enabled)
        .unwrap_or(false);
    if version.starts_with("POSTGRES") && !pitr {
        why.push(format!(
            "point-in-time recovery is off on the primary {}",
            m.name
        ));
    }
    if m.database_version != r.database_version {
        why.push(format!(
            "{} runs {version} and {} {}",
            m.name,
            r.name,
            r.database_version.name().unwrap_or("?")
        ));
    }
    if is_replica(&m) {
        why.push(format!(
            "{} replicates from {}, itself a replica (cascading)",
            r.name, m.name
        ));
    } else if m
        .replication_cluster
        .as_ref()
        .is_none_or(|c| c.failover_dr_replica_name != r.name)
    {
        why.push(format!(
            "{} is not the DR replica of {} (replicationCluster.failoverDrReplicaName)",
            r.name, m.name
        ));
    }
    let flag = |i: &DatabaseInstance, f: &str| {
        settings(i)
            .database_flags
            .iter()
            .find(|x| x.name == f)
            .map(|x| x.value.clone())
    };
    for f in SWITCHOVER_EQUAL_FLAGS {
        let (a, b) = (flag(&m, f), flag(r, f));
        if a != b {
            why.push(format!(
                "flag {f} is {} on {} and {} on {}",
                a.as_deref().unwrap_or("default"),
                m.name,
                b.as_deref().unwrap_or("default"),
                r.name
            ));
        }
    }
    why
}
