//! The backup before a failback: the DR databases are snapshotted, and usable, before any step that
//! changes the estate starts; a snapshot that cannot be taken stops the failback with nothing changed.

use aegis_dr_core::{
    journal::{Entry, Operation},
    plan::SimFault,
    provider::DatabaseRole,
    IncidentClass,
};

use crate::common::*;

const RO: IncidentClass = IncidentClass::RegionOutage;

/// Steps a failback may run before its backup is done: they change nothing.
const BEFORE_BACKUP: [&str; 4] = ["stable-gate", "declare", "sync-dry-run", "backup-dr-db"];

#[tokio::test(start_paused = true)]
async fn the_dr_databases_are_snapshotted_before_the_failback_changes_anything() {
    let e = Estate::new(plan());
    assert!(e
        .run(Operation::Failover, RO, flags())
        .await
        .error
        .is_none());
    let out = e.run(Operation::Failback, RO, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let run = &out.report.run_id;

    // Every pair's DR instance (the serving one) has a snapshot named after the run.
    let w = e.world();
    for d in &e.plan.databases {
        let snap = w
            .snapshots
            .iter()
            .find(|(_, (of, _))| *of == d.dr)
            .unwrap_or_else(|| panic!("no snapshot of {}: {:?}", d.dr, w.snapshots));
        assert!(snap.0.contains(&run.to_ascii_lowercase()), "{}", snap.0);
    }
    // The backup was journaled done before anything else started.
    let entries = e.entries(&out.report.run_id);
    let backed_up = entries
        .iter()
        .position(|x| matches!(x, Entry::StepSucceeded { step, .. } if step == "backup-dr-db"))
        .expect("backup step succeeded");
    for (i, x) in entries.iter().enumerate() {
        if let Entry::StepStarted { step, .. } = x {
            if !BEFORE_BACKUP.contains(&step.as_str()) {
                assert!(i > backed_up, "{step} started before the backup was done");
            }
        }
    }
    let step = out
        .report
        .steps
        .iter()
        .find(|s| s.id == "backup-dr-db")
        .expect("backup step");
    assert!(
        step.summary.as_deref().unwrap_or("").contains("available"),
        "{step:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_that_cannot_be_taken_stops_the_failback_with_nothing_changed() {
    let mut p = plan();
    p.sim.faults = vec![SimFault {
        operation: aegis_dr_core::layer::ProviderOp::CreateSnapshot,
        resource: Some("orders-usw2".into()),
        error: "permanent".into(),
        times: 0,
    }];
    let e = Estate::new(p);
    assert!(e
        .run(Operation::Failover, RO, flags())
        .await
        .error
        .is_none());
    let after_failover = canonical(&e.world());
    let out = e.run(Operation::Failback, RO, flags()).await;
    let err = out.error.expect("the backup fails").to_string();
    assert!(
        err.contains("orders-usw2") && err.contains("create_snapshot"),
        "{err}"
    );
    let w = e.world();
    assert_eq!(canonical(&w), after_failover, "nothing changed");
    assert_eq!(w.databases["orders-usw2"].role, DatabaseRole::Primary);
}
