//! What each step touches: every resource with the provider serving it and the calls the step
//! makes on it, for `plan`/`--dry-run` (no provider is asked).

use serde::Serialize;

use super::graph::StepKind;
use crate::plan::{faults::ProviderOp, Plan, ProviderName, SiteRole};

/// A provider call's name, for a touch list.
const fn op(o: ProviderOp) -> &'static str {
    o.as_str()
}

/// One resource a step touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Touch {
    /// The provider serving it.
    pub provider: ProviderName,
    /// The resource (instance, record, pool, namespace, endpoint, server).
    pub resource: String,
    /// The calls the step makes on it: [`ProviderOp`] names (a hook's own: `run_command`,
    /// `http_request`, `prometheus_query`, `approval`).
    pub operations: &'static [&'static str],
}

const DB_READ: &[&str] = &[op(ProviderOp::DatabaseStatus)];
const DB_FENCE: &[&str] = &[
    op(ProviderOp::DatabaseStatus),
    op(ProviderOp::FenceDatabase),
];
const DB_PROMOTE: &[&str] = &[
    op(ProviderOp::DatabaseStatus),
    op(ProviderOp::PromoteDatabase),
];
const DB_REVERSE: &[&str] = &[
    op(ProviderOp::DatabaseStatus),
    op(ProviderOp::ReverseReplicationDatabase),
];
const DB_BACKUP: &[&str] = &[
    op(ProviderOp::CreateSnapshot),
    op(ProviderOp::SnapshotState),
];
const DB_VERIFY: &[&str] = &[
    op(ProviderOp::DatabaseStatus),
    op(ProviderOp::VerifyIntegrity),
];
const POOL_READ: &[&str] = &[op(ProviderOp::GetPool)];
const POOL_SCALE: &[&str] = &[op(ProviderOp::GetPool), op(ProviderOp::ScalePool)];
const RECORD_READ: &[&str] = &[op(ProviderOp::GetRecord)];
const RECORD_CHANGE: &[&str] = &[
    op(ProviderOp::GetRecord),
    op(ProviderOp::UpsertRecord),
    op(ProviderOp::GetChange),
];
const RECORD_SWITCH: &[&str] = &[
    op(ProviderOp::GetRecord),
    op(ProviderOp::UpsertRecord),
    op(ProviderOp::GetChange),
    op(ProviderOp::GetHealthCheck),
    op(ProviderOp::SetHealthCheck),
];
const PROBE: &[&str] = &[op(ProviderOp::Probe)];
const WORKLOADS_READ: &[&str] = &[op(ProviderOp::ListWorkloads)];
const WORKLOADS_CHECK: &[&str] = &[
    op(ProviderOp::NodesReady),
    op(ProviderOp::ConfigMaps),
    op(ProviderOp::ListWorkloads),
];
const WORKLOADS_DRAIN: &[&str] = &[
    op(ProviderOp::ListWorkloads),
    op(ProviderOp::AnnotateWorkload),
];
const WORKLOADS_SCALE: &[&str] = &[op(ProviderOp::ListWorkloads), op(ProviderOp::ScaleWorkload)];
const RECOVER: &[&str] = &[
    op(ProviderOp::DescribeRecoverySnapshots),
    op(ProviderOp::DescribeJobs),
    op(ProviderOp::StartRecovery),
];
const FAIL_BACK: &[&str] = &[
    op(ProviderOp::DescribeRecoveryInstances),
    op(ProviderOp::DescribeJobs),
    op(ProviderOp::StartFailback),
    op(ProviderOp::StopFailback),
    op(ProviderOp::DescribeInstances),
    op(ProviderOp::ReverseReplication),
    // The relaunch from a chosen recovery point (`failback --recovery-point`).
    op(ProviderOp::DescribeRecoverySnapshots),
    op(ProviderOp::StartRecovery),
    op(ProviderOp::TerminateRecoveryInstances),
];
const TERMINATE: &[&str] = &[op(ProviderOp::TerminateRecoveryInstances)];

/// The resources step `kind` of `plan` touches, in plan order.
pub fn touches(plan: &Plan, kind: &StepKind) -> Vec<Touch> {
    let mut out = Vec::new();
    let mut add = |provider: &ProviderName, resource: String, operations| {
        out.push(Touch {
            provider: provider.clone(),
            resource,
            operations,
        })
    };
    let dbs = |site: SiteRole,
               ops,
               add: &mut dyn FnMut(&ProviderName, String, &'static [&'static str])| {
        for d in &plan.databases {
            add(&d.provider, d.instance(site).to_string(), ops);
        }
    };
    let pools =
        |site: SiteRole,
         ops,
         add: &mut dyn FnMut(&ProviderName, String, &'static [&'static str])| {
            for p in plan.node_pools.iter().filter(|p| p.site == site) {
                add(&p.provider, p.name.clone(), ops);
            }
        };
    let probes =
        |site: SiteRole, add: &mut dyn FnMut(&ProviderName, String, &'static [&'static str])| {
            for h in plan.health_endpoints.iter().filter(|h| h.site == site) {
                add(&h.provider, h.url.clone(), PROBE);
            }
        };
    let workloads =
        |site: SiteRole,
         ops,
         add: &mut dyn FnMut(&ProviderName, String, &'static [&'static str])| {
            let provider = plan.site(site).workloads_provider();
            for w in &plan.workloads {
                add(&provider, format!("{site}/{}/{}", w.namespace, w.name), ops);
            }
        };
    let records = |ops, add: &mut dyn FnMut(&ProviderName, String, &'static [&'static str])| {
        for r in &plan.dns_records {
            add(&r.provider, r.name.clone(), ops);
        }
    };
    let servers = |ops, add: &mut dyn FnMut(&ProviderName, String, &'static [&'static str])| {
        for s in &plan.recovery_servers {
            add(&s.provider, s.source_server_id.clone(), ops);
        }
    };
    match kind {
        StepKind::Preflight => {
            dbs(SiteRole::Dr, DB_READ, &mut add);
            pools(SiteRole::Dr, POOL_READ, &mut add);
            records(RECORD_READ, &mut add);
            workloads(SiteRole::Dr, WORKLOADS_CHECK, &mut add);
            probes(SiteRole::Dr, &mut add);
        }
        StepKind::StableGate => probes(SiteRole::Primary, &mut add),
        StepKind::Declare | StepKind::Resolve => {}
        StepKind::Drain { site } => {
            workloads(*site, WORKLOADS_DRAIN, &mut add);
            probes(*site, &mut add);
        }
        StepKind::FenceDatabases { site } => dbs(*site, DB_FENCE, &mut add),
        StepKind::PromoteDatabases { to } => {
            dbs(*to, DB_PROMOTE, &mut add);
            dbs(to.other(), DB_READ, &mut add);
        }
        StepKind::BackupDatabases { site } => dbs(*site, DB_BACKUP, &mut add),
        StepKind::ReverseReplication { replica_site, .. } => {
            dbs(replica_site.other(), DB_READ, &mut add);
            dbs(*replica_site, DB_REVERSE, &mut add);
        }
        StepKind::ScaleNodes { site, .. } => pools(*site, POOL_SCALE, &mut add),
        StepKind::ScaleWorkloads { site, .. } => workloads(*site, WORKLOADS_SCALE, &mut add),
        StepKind::LowerTtl | StepKind::RestoreTtl => records(RECORD_CHANGE, &mut add),
        // Health checks are read and set only for records that have one.
        StepKind::SwitchDns { .. } => {
            for r in &plan.dns_records {
                let ops = if r.health_check.is_some() {
                    RECORD_SWITCH
                } else {
                    RECORD_CHANGE
                };
                add(&r.provider, r.name.clone(), ops);
            }
        }
        StepKind::RecoverServers => servers(RECOVER, &mut add),
        StepKind::FailbackServers => servers(FAIL_BACK, &mut add),
        StepKind::TerminateDrill => servers(TERMINATE, &mut add),
        StepKind::Verify {
            site,
            database_only,
        } => {
            probes(*site, &mut add);
            dbs(*site, DB_VERIFY, &mut add);
            if !database_only {
                workloads(*site, WORKLOADS_READ, &mut add);
                pools(*site, POOL_READ, &mut add);
                records(RECORD_READ, &mut add);
            }
        }
        StepKind::Hook { name } => {
            if let Some(h) = plan.hooks.iter().find(|h| &h.name == name) {
                use crate::plan::HookAction;
                let (resource, ops): (String, &'static [&'static str]) = match &h.action {
                    HookAction::Command { argv, .. } => (argv.join(" "), &["run_command"]),
                    HookAction::Http { method, url, .. } => (
                        format!("{method} {}", crate::redact::redact_credentials(url)),
                        &["http_request"],
                    ),
                    HookAction::Prometheus { url, query, .. } => (
                        format!("{} `{query}`", crate::redact::redact_credentials(url)),
                        &["prometheus_query"],
                    ),
                    HookAction::Approval { .. } => {
                        ("aegis-dr approve|reject".into(), &["approval"])
                    }
                };
                add(&ProviderName("hook".into()), resource, ops);
            }
        }
    }
    out
}
