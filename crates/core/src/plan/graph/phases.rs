//! The steps of a failover and of a failback, per incident class.

use super::{
    Builder, IncidentClass, Level, Phase, Plan, SiteRole, Step, StepId, StepKind, WorkloadMode,
};

pub(super) fn failover(plan: &Plan, class: IncidentClass, phase: Phase) -> Vec<Step> {
    use IncidentClass::*;
    use SiteRole::*;
    let mut b = Builder {
        plan,
        phase,
        steps: Vec::new(),
    };
    let moves_db = matches!(class, RegionOutage | DatabaseCorruption) && b.dbs();
    let moves_compute = matches!(class, RegionOutage | NetworkPartition | ComputeFailure);
    let moves_traffic = moves_compute && b.records();
    let drains =
        matches!(class, RegionOutage | DatabaseCorruption | ComputeFailure) && b.workloads();
    let recovers = matches!(class, RegionOutage | ComputeFailure) && b.servers();

    b.add(
        "preflight",
        "Pre-failover checks and safety gates",
        &[],
        StepKind::Preflight,
    );
    b.add(
        "declare",
        "Declare the incident (initial notification)",
        &["preflight"],
        StepKind::Declare,
    );
    if moves_compute && b.pools(Dr) {
        b.add(
            "scale-dr-nodes",
            "Scale DR node pools to production",
            &["declare"],
            StepKind::ScaleNodes {
                site: Dr,
                level: Level::Production,
            },
        );
    }
    if moves_compute && b.workloads() {
        b.add(
            "scale-dr-workloads",
            "Scale DR workloads to production",
            &["declare", "scale-dr-nodes"],
            StepKind::ScaleWorkloads {
                site: Dr,
                mode: WorkloadMode::ScaleUpRecording,
            },
        );
    }
    if drains {
        b.add(
            "drain-primary",
            "Drain the primary (stop new writes, wait for in-flight requests)",
            &["declare"],
            StepKind::Drain { site: Primary },
        );
    }
    if moves_db {
        b.add(
            "fence-primary-db",
            "Fence the primary databases",
            &["declare", "drain-primary"],
            StepKind::FenceDatabases { site: Primary },
        );
        b.add(
            "promote-dr-db",
            "Promote the DR databases",
            &["fence-primary-db"],
            StepKind::PromoteDatabases { to: Dr },
        );
    }
    if recovers {
        b.add(
            "recover-servers",
            "Launch recovery instances",
            &["declare"],
            StepKind::RecoverServers,
        );
    }
    if moves_traffic {
        b.add(
            "switch-dns-to-dr",
            "Point DNS at the DR site",
            // Traffic never reaches the DR site before its capacity: node pools and workloads.
            &[
                "declare",
                "promote-dr-db",
                "scale-dr-nodes",
                "scale-dr-workloads",
                "recover-servers",
                "drain-primary",
            ],
            StepKind::SwitchDns { to: Dr },
        );
    }
    if class == DatabaseCorruption {
        if b.workloads() {
            b.add(
                "undrain-primary",
                "Let the primary write again (to the promoted database)",
                &["promote-dr-db"],
                StepKind::ScaleWorkloads {
                    site: Primary,
                    mode: WorkloadMode::Undrain,
                },
            );
        }
        b.add(
            "verify-primary",
            "Verify the primary site on the promoted database",
            &["declare", "promote-dr-db", "undrain-primary"],
            StepKind::Verify {
                site: Primary,
                database_only: true,
            },
        );
        b.add(
            "resolve",
            "Resolution notice",
            &["verify-primary"],
            StepKind::Resolve,
        );
    } else {
        b.add(
            "verify-dr",
            "Verify the DR site serves",
            &[
                "declare",
                "switch-dns-to-dr",
                "scale-dr-nodes",
                "scale-dr-workloads",
                "promote-dr-db",
                "recover-servers",
            ],
            StepKind::Verify {
                site: Dr,
                database_only: false,
            },
        );
        b.add(
            "resolve",
            "Resolution notice",
            &["verify-dr"],
            StepKind::Resolve,
        );
    }
    b.steps
}

/// The failback of what a failover of `class` did: only what it moved is moved back.
pub(crate) fn failback(
    plan: &Plan,
    class: IncidentClass,
    phase: Phase,
    after: &[StepId],
    drill: bool,
) -> Vec<Step> {
    use IncidentClass::*;
    use SiteRole::*;
    let mut b = Builder {
        plan,
        phase,
        steps: Vec::new(),
    };
    // The same decisions as the failover of `class`.
    let moves_db = matches!(class, RegionOutage | DatabaseCorruption) && b.dbs();
    let moves_compute = matches!(class, RegionOutage | NetworkPartition | ComputeFailure);
    let moves_traffic = moves_compute && b.records();
    let recovers = matches!(class, RegionOutage | ComputeFailure) && b.servers();
    let workloads = b.workloads();
    // A database corruption failover left the primary site serving on the DR databases: its
    // workloads are the writers to stop before the databases move back.
    let writers = if moves_compute { Dr } else { Primary };

    b.add_after(
        "stable-gate",
        "Verify the primary is healthy and stable",
        &[],
        after,
        StepKind::StableGate,
    );
    b.add(
        "declare",
        "Declare the failback (initial notification)",
        &["stable-gate"],
        StepKind::Declare,
    );
    // Nothing changes before the DR databases (serving since the failover) are backed up.
    let start = if moves_db {
        b.add(
            "backup-dr-db",
            "Snapshot the DR databases before anything changes",
            &["declare"],
            StepKind::BackupDatabases { site: Dr },
        );
        "backup-dr-db"
    } else {
        "declare"
    };
    if moves_db {
        b.add(
            "sync-dry-run",
            "Dry-run the data sync back to the primary",
            &["declare"],
            StepKind::ReverseReplication {
                replica_site: Primary,
                dry_run: true,
            },
        );
        b.add(
            "resync-primary-db",
            "Replicate data written during the failover back to the primary",
            &["sync-dry-run", start],
            StepKind::ReverseReplication {
                replica_site: Primary,
                dry_run: false,
            },
        );
    }
    if moves_traffic {
        b.add("lower-ttl", "Lower DNS TTL", &[start], StepKind::LowerTtl);
    }
    if moves_compute && b.pools(Primary) {
        b.add(
            "scale-primary-nodes",
            "Scale primary node pools to production",
            &[start],
            StepKind::ScaleNodes {
                site: Primary,
                level: Level::Production,
            },
        );
    }
    if moves_compute && workloads {
        b.add(
            "scale-primary-workloads",
            "Scale primary workloads to production",
            &[start, "scale-primary-nodes"],
            StepKind::ScaleWorkloads {
                site: Primary,
                mode: WorkloadMode::Production,
            },
        );
    }
    if recovers {
        if drill {
            b.add(
                "terminate-drill-instances",
                "Terminate drill instances",
                &[start],
                StepKind::TerminateDrill,
            );
        } else {
            b.add(
                "failback-servers",
                "Fail recovery instances back",
                &[start],
                StepKind::FailbackServers,
            );
        }
    }
    let gate = [
        "resync-primary-db",
        "scale-primary-workloads",
        "lower-ttl",
        "failback-servers",
        start,
    ];
    // Drain the writers: the DR site when traffic moved there, else the primary site (its workloads
    // write to the DR databases).
    let drain_id = if writers == Dr {
        "drain-dr"
    } else {
        "drain-primary"
    };
    if workloads && (moves_compute || moves_db) {
        b.add(
            drain_id,
            if writers == Dr {
                "Drain the DR site"
            } else {
                "Drain the primary (stop writes to the DR databases)"
            },
            &gate,
            StepKind::Drain { site: writers },
        );
    }
    if moves_db {
        let mut deps = gate.to_vec();
        deps.push(drain_id);
        b.add(
            "fence-dr-db",
            "Fence the DR databases",
            &deps,
            StepKind::FenceDatabases { site: Dr },
        );
        b.add(
            "promote-primary-db",
            "Promote the primary databases back",
            &["fence-dr-db"],
            StepKind::PromoteDatabases { to: Primary },
        );
    }
    if workloads && (moves_compute || moves_db) {
        b.add(
            "undrain-primary",
            "Let the primary take writes",
            &["promote-primary-db", "scale-primary-workloads", drain_id],
            StepKind::ScaleWorkloads {
                site: Primary,
                mode: WorkloadMode::Undrain,
            },
        );
    }
    if moves_traffic {
        b.add(
            "switch-dns-to-primary",
            "Point DNS back at the primary",
            &[
                "promote-primary-db",
                "undrain-primary",
                "scale-primary-nodes",
                "scale-primary-workloads",
                "lower-ttl",
                "failback-servers",
                "terminate-drill-instances",
                start,
                "drain-dr",
            ],
            StepKind::SwitchDns { to: Primary },
        );
    }
    b.add(
        "verify-primary",
        "Verify traffic is served by the primary",
        &[
            "switch-dns-to-primary",
            "undrain-primary",
            "scale-primary-nodes",
            "scale-primary-workloads",
            "promote-primary-db",
            start,
            "failback-servers",
            "terminate-drill-instances",
        ],
        StepKind::Verify {
            site: Primary,
            database_only: !moves_compute,
        },
    );
    if moves_db {
        b.add(
            "reprotect-dr-db",
            "Re-protect: replicate the primary to DR again",
            &["verify-primary"],
            StepKind::ReverseReplication {
                replica_site: Dr,
                dry_run: false,
            },
        );
    }
    if moves_traffic {
        b.add(
            "restore-ttl",
            "Restore DNS TTL",
            &["verify-primary"],
            StepKind::RestoreTtl,
        );
    }
    if moves_compute && workloads {
        b.add(
            "scale-dr-workloads",
            "Scale DR workloads back to standby",
            &["verify-primary"],
            StepKind::ScaleWorkloads {
                site: Dr,
                mode: WorkloadMode::RestoreRecorded,
            },
        );
    }
    if moves_compute && b.pools(Dr) {
        b.add(
            "scale-dr-nodes",
            "Scale DR node pools back to standby",
            &["verify-primary", "scale-dr-workloads"],
            StepKind::ScaleNodes {
                site: Dr,
                level: Level::Standby,
            },
        );
    }
    b.add(
        "resolve",
        "Resolution notice",
        &[
            "verify-primary",
            "reprotect-dr-db",
            "restore-ttl",
            "scale-dr-workloads",
            "scale-dr-nodes",
        ],
        StepKind::Resolve,
    );
    b.steps
}
