//! The step graph of each operation and incident class, and its duration estimate: the plan as
//! steps. It lives with the plan because validating a plan checks its hooks' anchors against it.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    incident::{IncidentClass, Targets},
    plan::{Estimates, HookAnchor, HookPhase, Plan, SiteRole},
    run::{Operation, Phase, StepId, StepInfo},
};

mod estimate;
mod hooks;
mod phases;
mod rollback;

pub use estimate::{estimate, step_cost, Estimate, StepCost};
pub(crate) use hooks::check_hook_anchors;
use hooks::insert_hooks;
pub(crate) use phases::failback;
use phases::failover;
pub use rollback::graph as rollback;

/// Size a node pool or workload group is scaled to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Production capacity.
    Production,
    /// Standby capacity.
    Standby,
}

/// How a workload step treats replicas and annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadMode {
    /// Scale to production, recording the original replicas first.
    ScaleUpRecording,
    /// Scale back to the recorded original replicas and clear the annotations (and the drain).
    RestoreRecorded,
    /// Scale to production.
    Production,
    /// Remove the drain annotation.
    Undrain,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    /// Pre-failover checks and the RPO and RTO gates.
    Preflight,
    /// Failback gate: the primary has been stable long enough.
    StableGate,
    /// Initial notification.
    Declare,
    /// Annotate the site's workloads to drain, wait for in-flight requests to reach zero.
    Drain {
        /// Site drained.
        site: SiteRole,
    },
    /// Fence the databases that are primaries at `site`.
    FenceDatabases {
        /// Site fenced.
        site: SiteRole,
    },
    /// Promote the databases at `to`.
    PromoteDatabases {
        /// Site promoted.
        to: SiteRole,
    },
    /// Snapshot the databases at `site` (where their provider takes snapshots) and wait until the
    /// snapshots are usable: the backup a failback takes before it changes anything.
    BackupDatabases {
        /// Site whose instances are snapshotted.
        site: SiteRole,
    },
    /// Make the instances at `replica_site` replicas of the other site (or measure with `dry_run`).
    ReverseReplication {
        /// Site that becomes the replica.
        replica_site: SiteRole,
        /// Only report what would be synchronised.
        dry_run: bool,
    },
    /// Scale the site's node pools.
    ScaleNodes {
        /// The site whose node pools it scales.
        site: SiteRole,
        /// Target size.
        level: Level,
    },
    /// Scale or restore the site's workloads.
    ScaleWorkloads {
        /// The site whose workloads the step scales.
        site: SiteRole,
        /// Scale the plan's deployments, or move a namespace.
        mode: WorkloadMode,
    },
    /// Lower the TTL of every record before moving traffic back.
    LowerTtl,
    /// Point every record at `to`.
    SwitchDns {
        /// Site that will serve.
        to: SiteRole,
    },
    /// Put the plan's TTL back.
    RestoreTtl,
    /// Launch recovery instances (drill or real) of the recovery servers.
    RecoverServers,
    /// Fail the recovery instances back; stop the failback as backout when the job fails.
    FailbackServers,
    /// Terminate drill instances.
    TerminateDrill,
    /// Verify the serving site.
    Verify {
        /// Site verified.
        site: SiteRole,
        /// True to check only databases and health.
        database_only: bool,
    },
    /// Resolution notice.
    Resolve,
    /// A step of the user's own (`[[hooks]]`).
    Hook {
        /// The hook's name.
        name: String,
    },
}

impl StepKind {
    /// True for a step that only reads the estate (checks, gates, verification, a dry run):
    /// running it again changes nothing, so its start need not be durable before it runs.
    pub fn observes_only(&self) -> bool {
        matches!(
            self,
            StepKind::Preflight
                | StepKind::StableGate
                | StepKind::Verify { .. }
                | StepKind::ReverseReplication { dry_run: true, .. }
        )
    }

    /// True for a step whose skipping by an operator needs `--force`: the gates, draining,
    /// fencing, the backup, the dry run, verification and hooks marked `safety` (the default).
    pub fn is_safety(&self, plan: &Plan) -> bool {
        match self {
            StepKind::Preflight
            | StepKind::StableGate
            | StepKind::Drain { .. }
            | StepKind::FenceDatabases { .. }
            | StepKind::BackupDatabases { .. }
            | StepKind::ReverseReplication { dry_run: true, .. }
            | StepKind::Verify { .. } => true,
            StepKind::Hook { name } => plan.hooks.iter().any(|h| &h.name == name && h.safety),
            _ => false,
        }
    }
}

/// One step of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Unique id, stable across runs of the same graph.
    pub id: StepId,
    /// Title shown to people.
    pub title: String,
    /// Steps that must succeed first.
    pub deps: Vec<StepId>,
    /// What it does.
    pub kind: StepKind,
}

/// A step graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    /// Steps in a topological order.
    pub steps: Vec<Step>,
}

struct Builder<'a> {
    plan: &'a Plan,
    /// The phase whose steps it builds.
    phase: Phase,
    steps: Vec<Step>,
}

impl Builder<'_> {
    fn id(&self, name: &str) -> StepId {
        StepId::new(self.phase, name)
    }
    fn has(&self, id: &str) -> bool {
        let id = self.id(id);
        self.steps.iter().any(|s| s.id == id)
    }
    fn add(&mut self, id: &str, title: &str, deps: &[&str], kind: StepKind) {
        let deps = deps
            .iter()
            .filter(|d| self.has(d))
            .map(|d| self.id(d))
            .collect();
        self.steps.push(Step {
            id: self.id(id),
            title: title.into(),
            deps,
            kind,
        });
    }
    fn add_after(
        &mut self,
        id: &str,
        title: &str,
        deps: &[&str],
        extra: &[StepId],
        kind: StepKind,
    ) {
        self.add(id, title, deps, kind);
        if let Some(s) = self.steps.last_mut() {
            s.deps.extend(extra.iter().cloned());
        }
    }
    fn pools(&self, site: SiteRole) -> bool {
        self.plan.node_pools.iter().any(|p| p.site == site)
    }
    fn workloads(&self) -> bool {
        !self.plan.workloads.is_empty()
    }
    fn dbs(&self) -> bool {
        !self.plan.databases.is_empty()
    }
    fn records(&self) -> bool {
        !self.plan.dns_records.is_empty()
    }
    fn servers(&self) -> bool {
        !self.plan.recovery_servers.is_empty()
    }
}

/// Builds the graph of `op` for `class`, with the plan's hooks in place.
pub fn build(plan: &Plan, op: Operation, class: IncidentClass) -> Graph {
    let with_hooks = |mut steps: Vec<Step>, hooks: HookPhase, phase: Phase| {
        insert_hooks(plan, &mut steps, hooks, class, phase);
        steps
    };
    match op {
        Operation::Failover => Graph {
            steps: with_hooks(
                failover(plan, class, Phase::Whole),
                HookPhase::Failover,
                Phase::Whole,
            ),
        },
        Operation::Failback => Graph {
            steps: with_hooks(
                failback(plan, class, Phase::Whole, &[], false),
                HookPhase::Failback,
                Phase::Whole,
            ),
        },
        // Without the stopped run it undoes, a rollback undoes all a failover does.
        Operation::Rollback => rollback(
            plan,
            class,
            false,
            &build(plan, Operation::Failover, class)
                .steps
                .iter()
                .map(|s| s.kind.clone())
                .collect::<Vec<_>>(),
        ),
        Operation::Drill => {
            let (fo, fb) = (Phase::DrillFailover, Phase::DrillFailback);
            let mut steps = with_hooks(failover(plan, class, fo), HookPhase::Failover, fo);
            let last: Vec<StepId> = steps.last().map(|s| vec![s.id.clone()]).unwrap_or_default();
            steps.extend(with_hooks(
                failback(plan, class, fb, &last, true),
                HookPhase::Failback,
                fb,
            ));
            Graph { steps }
        }
    }
}

impl Graph {
    /// The graph as journal step infos.
    pub fn infos(&self, plan: &Plan, est: &Estimate) -> Vec<StepInfo> {
        self.steps
            .iter()
            .map(|s| StepInfo {
                id: s.id.clone(),
                title: s.title.clone(),
                deps: s.deps.clone(),
                estimate_ms: est
                    .steps
                    .get(&s.id)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
                safety: s.kind.is_safety(plan),
                approval: match &s.kind {
                    StepKind::Hook { name } => plan.hooks.iter().any(|h| {
                        &h.name == name
                            && matches!(h.action, crate::plan::HookAction::Approval { .. })
                    }),
                    _ => false,
                },
            })
            .collect()
    }
}

/// What `plan` shows: the graph and its estimate, without side effects.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanPreview {
    /// Failover, failback or drill.
    pub operation: Operation,
    /// The incident class whose targets apply.
    pub class: IncidentClass,
    /// The class's RTO and RPO (after the plan's overrides).
    pub targets: Targets,
    /// The graph.
    pub graph: Graph,
    /// Its estimate.
    pub estimate: Estimate,
}

/// The graph of `op` for `class` and its estimate with `estimates`: no provider is built, nothing
/// is read or written.
pub fn preview(
    plan: &Plan,
    estimates: &Estimates,
    op: Operation,
    class: IncidentClass,
) -> PlanPreview {
    let graph = build(plan, op, class);
    let estimate = estimate(plan, estimates, &graph, plan.execution.max_concurrency);
    PlanPreview {
        operation: op,
        class,
        targets: plan.targets(class),
        graph,
        estimate,
    }
}
