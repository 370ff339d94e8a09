//! The step graph of each operation and incident class, and its duration estimate.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    incident::IncidentClass,
    journal::{Operation, StepInfo},
    plan::{Estimates, HookAnchor, HookPhase, Plan, SiteRole},
};

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
        /// Site.
        site: SiteRole,
        /// Target size.
        level: Level,
    },
    /// Scale or restore the site's workloads.
    ScaleWorkloads {
        /// Site.
        site: SiteRole,
        /// Mode.
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
    pub id: String,
    /// Title shown to people.
    pub title: String,
    /// Steps that must succeed first.
    pub deps: Vec<String>,
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
    prefix: &'a str,
    steps: Vec<Step>,
}

impl Builder<'_> {
    fn id(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
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
        extra: &[String],
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
    let with_hooks = |mut steps: Vec<Step>, phase: HookPhase, prefix: &str| {
        insert_hooks(plan, &mut steps, phase, class, prefix);
        steps
    };
    match op {
        Operation::Failover => Graph {
            steps: with_hooks(failover(plan, class, ""), HookPhase::Failover, ""),
        },
        Operation::Failback => Graph {
            steps: with_hooks(
                failback(plan, class, "", &[], false),
                HookPhase::Failback,
                "",
            ),
        },
        // Without the stopped run it undoes, a rollback undoes all a failover does.
        Operation::Rollback => super::rollback::graph(
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
            let mut steps = with_hooks(
                failover(plan, class, "failover."),
                HookPhase::Failover,
                "failover.",
            );
            let last: Vec<String> = steps.last().map(|s| vec![s.id.clone()]).unwrap_or_default();
            steps.extend(with_hooks(
                failback(plan, class, "failback.", &last, true),
                HookPhase::Failback,
                "failback.",
            ));
            Graph { steps }
        }
    }
}

/// Puts the hooks of `phase` and `class` into a phase's steps: `before = X` runs after X's
/// dependencies and X waits for it; `after = X` runs after X and every step that waited for X
/// waits for it too. A hook runs wherever its step is, among its phases and classes.
fn insert_hooks(
    plan: &Plan,
    steps: &mut Vec<Step>,
    phase: HookPhase,
    class: IncidentClass,
    prefix: &str,
) {
    for h in plan.hooks.iter().filter(|h| h.applies(phase, class)) {
        let target = h.anchor.target();
        let target_id = match plan.hooks.iter().find(|o| o.name == target) {
            Some(o) => format!("{prefix}{}", o.step_id()),
            None => format!("{prefix}{target}"),
        };
        let Some(at) = steps.iter().position(|s| s.id == target_id) else {
            continue;
        };
        let id = format!("{prefix}{}", h.step_id());
        let kind = StepKind::Hook {
            name: h.name.clone(),
        };
        match &h.anchor {
            HookAnchor::Before(_) => {
                let deps = steps[at].deps.clone();
                steps[at].deps.push(id.clone());
                steps.insert(
                    at,
                    Step {
                        id,
                        title: h.title(),
                        deps,
                        kind,
                    },
                );
            }
            HookAnchor::After(_) => {
                for s in steps.iter_mut() {
                    if s.deps.contains(&target_id) {
                        s.deps.push(id.clone());
                    }
                }
                steps.insert(
                    at + 1,
                    Step {
                        id,
                        title: h.title(),
                        deps: vec![target_id],
                        kind,
                    },
                );
            }
        }
    }
}

/// Checks every hook's step: it must be in some graph of the hook's phases (a misspelt step runs
/// nowhere), and in each class the hook names (in one of its phases).
pub(crate) fn check_hook_anchors(plan: &Plan) -> crate::error::Result<()> {
    let mut placed: std::collections::BTreeSet<(String, IncidentClass)> = Default::default();
    let mut known: Vec<String> = Vec::new();
    for class in IncidentClass::ALL {
        for (phase, mut steps) in [
            (HookPhase::Failover, failover(plan, class, "")),
            (HookPhase::Failback, failback(plan, class, "", &[], false)),
        ] {
            insert_hooks(plan, &mut steps, phase, class, "");
            for s in steps {
                if let StepKind::Hook { name } = &s.kind {
                    placed.insert((name.clone(), class));
                } else if !known.contains(&s.id) {
                    known.push(s.id);
                }
            }
        }
    }
    for h in &plan.hooks {
        let phases: Vec<&str> = h.phases.iter().map(|p| p.as_str()).collect();
        let phases = phases.join(" or ");
        let target = h.anchor.target();
        if !placed.iter().any(|(n, _)| n == &h.name) {
            return Err(crate::error::Error::config(format!(
                "hooks: hook `{}`: `{target}` is not a step of any {phases} of this plan (its steps: {})",
                h.name,
                known.join(", ")
            )));
        }
        if let Some(c) = h
            .classes
            .iter()
            .find(|c| !placed.contains(&(h.name.clone(), **c)))
        {
            return Err(crate::error::Error::config(format!(
                "hooks: hook `{}`: `{target}` is not a step of the {phases} of a {c}, so the hook would not run there: leave {c} out of its `classes`, or name another step",
                h.name
            )));
        }
    }
    Ok(())
}

fn failover(plan: &Plan, class: IncidentClass, prefix: &str) -> Vec<Step> {
    use IncidentClass::*;
    use SiteRole::*;
    let mut b = Builder {
        plan,
        prefix,
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
pub(super) fn failback(
    plan: &Plan,
    class: IncidentClass,
    prefix: &str,
    after: &[String],
    drill: bool,
) -> Vec<Step> {
    use IncidentClass::*;
    use SiteRole::*;
    let mut b = Builder {
        plan,
        prefix,
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

/// Sequential API round trips and waits of a step, for the estimate and the benchmark's lower bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepCost {
    /// Round trips made once per step (observe, confirm), each depending on the previous.
    pub fixed_calls: u32,
    /// Round trips made per item, repeated `ceil(items / concurrency)` times.
    pub per_item_calls: u32,
    /// Items fanned out.
    pub items: usize,
    /// Waits that cannot overlap.
    pub wait: Duration,
}

/// The cost model of a step in `plan`.
pub fn step_cost(plan: &Plan, est: &Estimates, step: &Step) -> StepCost {
    let workloads: usize = plan.workloads.iter().map(|w| w.names.len().max(1)).sum();
    let c = |fixed_calls, per_item_calls, items, wait| StepCost {
        fixed_calls,
        per_item_calls,
        items,
        wait,
    };
    let zero = Duration::ZERO;
    match &step.kind {
        StepKind::Preflight | StepKind::StableGate | StepKind::Verify { .. } => c(1, 0, 0, zero),
        StepKind::Declare | StepKind::Resolve => c(0, 0, 0, zero),
        // list, annotate each, probe until drained
        StepKind::Drain { .. } => c(2, 1, workloads, est.drain),
        // status, fence
        StepKind::FenceDatabases { .. } => c(2, 0, 0, zero),
        // status of both (concurrently), promote, confirm; plus the catch-up wait
        StepKind::PromoteDatabases { .. } => c(3, 0, 0, est.promotion),
        StepKind::ReverseReplication { dry_run: true, .. } => c(2, 0, 0, zero),
        // create, then poll until available (a snapshot takes about as long as a recovery job)
        StepKind::BackupDatabases { .. } => c(2, 0, 0, est.snapshot),
        StepKind::ReverseReplication { .. } => c(3, 0, 0, est.promotion),
        // read, scale, wait ready
        StepKind::ScaleNodes { .. } => c(3, 0, 0, est.node_boot),
        // list, scale each (recording or clearing annotations in the same request), wait rolled out
        StepKind::ScaleWorkloads {
            mode:
                WorkloadMode::ScaleUpRecording
                | WorkloadMode::RestoreRecorded
                | WorkloadMode::Production,
            ..
        } => c(2, 1, workloads, est.rollout),
        StepKind::ScaleWorkloads {
            mode: WorkloadMode::Undrain,
            ..
        } => c(1, 1, workloads, zero),
        // read, upsert, poll change
        StepKind::LowerTtl | StepKind::RestoreTtl | StepKind::SwitchDns { .. } => {
            c(3, 0, 0, est.dns_propagation)
        }
        // points or instances, start, poll job
        StepKind::RecoverServers | StepKind::FailbackServers => c(4, 0, 0, est.recovery_job),
        StepKind::TerminateDrill => c(1, 0, 0, zero),
        StepKind::Hook { name } => c(
            0,
            0,
            0,
            plan.hooks
                .iter()
                .find(|h| &h.name == name)
                .map(|h| h.estimate)
                .unwrap_or(zero),
        ),
    }
}

impl StepCost {
    /// Duration of the step at `api_call` per round trip with `concurrency` calls in flight.
    pub fn duration(&self, api_call: Duration, concurrency: usize) -> Duration {
        let rounds = self.items.div_ceil(concurrency.max(1)) as u32;
        api_call * (self.fixed_calls + self.per_item_calls * rounds) + self.wait
    }
}

/// The estimate of a graph: per step and along the critical path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Critical-path duration.
    pub total: Duration,
    /// Per-step estimates.
    pub steps: BTreeMap<String, Duration>,
    /// The steps on the critical path.
    pub critical_path: Vec<String>,
}

/// Estimates `graph` with `concurrency` calls in flight per step.
pub fn estimate(plan: &Plan, est: &Estimates, graph: &Graph, concurrency: usize) -> Estimate {
    let mut finish: BTreeMap<&str, (Duration, Option<&str>)> = BTreeMap::new();
    let mut steps = BTreeMap::new();
    for s in &graph.steps {
        let d = step_cost(plan, est, s).duration(est.api_call, concurrency);
        steps.insert(s.id.clone(), d);
        let (start, pred) = s
            .deps
            .iter()
            .filter_map(|dep| {
                finish
                    .get(dep.as_str())
                    .map(|(f, _)| (*f, Some(dep.as_str())))
            })
            .max_by_key(|(f, _)| *f)
            .unwrap_or((Duration::ZERO, None));
        finish.insert(&s.id, (start + d, pred));
    }
    let end = finish
        .iter()
        .max_by_key(|(_, (f, _))| *f)
        .map(|(id, (f, _))| (*id, *f));
    let mut critical_path = Vec::new();
    let mut cur = end.map(|(id, _)| id);
    while let Some(id) = cur {
        critical_path.push(id.to_string());
        cur = finish.get(id).and_then(|(_, p)| *p);
    }
    critical_path.reverse();
    Estimate {
        total: end.map(|(_, f)| f).unwrap_or_default(),
        steps,
        critical_path,
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
