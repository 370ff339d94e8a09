//! The graph of a rollback: the failback's steps that undo the kinds of step a stopped failover
//! started, in the failback's order.

use std::collections::HashMap;

use super::{
    Graph, IncidentClass, Level, Phase, Plan, SiteRole, Step, StepId, StepKind, WorkloadMode,
};

/// The rollback graph of a failover of `class` (a drill's failover phase when `drill`) whose
/// steps of kinds `started` had started.
pub fn graph(plan: &Plan, class: IncidentClass, drill: bool, started: &[StepKind]) -> Graph {
    use SiteRole::{Dr, Primary};
    let did = |f: &dyn Fn(&StepKind) -> bool| started.iter().any(f);
    let promoted = did(&|k| matches!(k, StepKind::PromoteDatabases { to: Dr }));
    let fenced_primary = did(&|k| matches!(k, StepKind::FenceDatabases { site: Primary }));
    let drained_primary = did(&|k| matches!(k, StepKind::Drain { site: Primary }));
    let switched = did(&|k| matches!(k, StepKind::SwitchDns { to: Dr }));
    let dr_nodes = did(&|k| matches!(k, StepKind::ScaleNodes { site: Dr, .. }));
    let dr_workloads = did(&|k| matches!(k, StepKind::ScaleWorkloads { site: Dr, .. }));
    let recovered = did(&|k| matches!(k, StepKind::RecoverServers));
    let back = super::failback(plan, class, Phase::Whole, &[], drill);
    // The failback drains the primary's workloads when they write to the DR databases (a database
    // corruption failover): so does the rollback of a promotion.
    let drains_primary_here = promoted
        && back
            .iter()
            .any(|s| matches!(s.kind, StepKind::Drain { site: Primary }));
    let keep = |k: &StepKind| match k {
        StepKind::Declare | StepKind::Verify { .. } | StepKind::Resolve => true,
        StepKind::BackupDatabases { .. } | StepKind::ReverseReplication { .. } => promoted,
        StepKind::FenceDatabases { site: Dr } | StepKind::PromoteDatabases { to: Primary } => {
            promoted || fenced_primary
        }
        StepKind::Drain { site: Dr } => switched,
        StepKind::Drain { site: Primary } => drains_primary_here,
        StepKind::ScaleWorkloads {
            site: Primary,
            mode: WorkloadMode::Undrain,
        } => drained_primary || drains_primary_here,
        StepKind::LowerTtl | StepKind::SwitchDns { .. } | StepKind::RestoreTtl => switched,
        StepKind::ScaleWorkloads { site: Dr, .. } => dr_workloads,
        StepKind::ScaleNodes {
            site: Dr,
            level: Level::Standby,
        } => dr_nodes,
        // A DRS failback writes the recovery instances back over the source: only when they served
        // (traffic moved). Launched instances that never served are left to the operator.
        StepKind::TerminateDrill => recovered,
        StepKind::FailbackServers => recovered && switched,
        _ => false,
    };
    Graph {
        steps: restrict(back, keep),
    }
}

/// The steps `keep` keeps, each depending on the kept steps it depended on, directly or through
/// steps left out (steps come in dependency order).
fn restrict(steps: Vec<Step>, keep: impl Fn(&StepKind) -> bool) -> Vec<Step> {
    let mut through: HashMap<StepId, Vec<StepId>> = HashMap::new();
    let mut out: Vec<Step> = Vec::new();
    for s in steps {
        let mut deps: Vec<StepId> = Vec::new();
        for d in &s.deps {
            let via = through.get(d).cloned().unwrap_or_else(|| vec![d.clone()]);
            for v in via {
                if !deps.contains(&v) {
                    deps.push(v);
                }
            }
        }
        if keep(&s.kind) {
            out.push(Step { deps, ..s });
        } else {
            through.insert(s.id, deps);
        }
    }
    out
}
