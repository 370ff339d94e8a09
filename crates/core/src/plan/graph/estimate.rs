//! The duration estimate of a graph: each step's cost model, and the critical path.

use super::*;

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
        StepKind::FenceDatabases { .. } => c(2, 0, 0, est.fence),
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
    pub steps: BTreeMap<StepId, Duration>,
    /// The steps on the critical path.
    pub critical_path: Vec<StepId>,
}

/// Estimates `graph` with `concurrency` calls in flight per step.
pub fn estimate(plan: &Plan, est: &Estimates, graph: &Graph, concurrency: usize) -> Estimate {
    let mut finish: BTreeMap<&StepId, (Duration, Option<&StepId>)> = BTreeMap::new();
    let mut steps = BTreeMap::new();
    for s in &graph.steps {
        let d = step_cost(plan, est, s).duration(est.api_call, concurrency);
        steps.insert(s.id.clone(), d);
        let (start, pred) = s
            .deps
            .iter()
            .filter_map(|dep| finish.get(dep).map(|(f, _)| (*f, Some(dep))))
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
        critical_path.push(id.clone());
        cur = finish.get(id).and_then(|(_, p)| *p);
    }
    critical_path.reverse();
    Estimate {
        total: end.map(|(_, f)| f).unwrap_or_default(),
        steps,
        critical_path,
    }
}
