//! What each step touches: every resource with the provider serving it and the calls the step
//! makes on it, for `plan`/`--dry-run` (no provider is asked).

use serde::Serialize;

use super::graph::StepKind;
use crate::plan::{Plan, ProviderName, SiteRole};

/// One resource a step touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Touch {
    /// The provider serving it.
    pub provider: ProviderName,
    /// The resource (instance, record, pool, namespace, endpoint, server).
    pub resource: String,
    /// The calls the step makes on it, named as in [`crate::plan::faults::OPERATIONS`].
    pub operations: &'static [&'static str],
}

const DB_READ: &[&str] = &["database_status"];
const DB_FENCE: &[&str] = &["database_status", "fence_database"];
const DB_PROMOTE: &[&str] = &["database_status", "promote_database"];
const DB_REVERSE: &[&str] = &["database_status", "reverse_replication_database"];
const DB_BACKUP: &[&str] = &["create_snapshot", "snapshot_state"];
const DB_VERIFY: &[&str] = &["database_status", "verify_integrity"];
const POOL_READ: &[&str] = &["get_pool"];
const POOL_SCALE: &[&str] = &["get_pool", "scale_pool"];
const RECORD_READ: &[&str] = &["get_record"];
const RECORD_CHANGE: &[&str] = &["get_record", "upsert_record", "get_change"];
const RECORD_SWITCH: &[&str] = &[
    "get_record",
    "upsert_record",
    "get_change",
    "get_health_check",
    "set_health_check",
];
const PROBE: &[&str] = &["probe"];
const WORKLOADS_READ: &[&str] = &["list_workloads"];
const WORKLOADS_CHECK: &[&str] = &["nodes_ready", "config_maps", "list_workloads"];
const WORKLOADS_DRAIN: &[&str] = &["list_workloads", "annotate_workload"];
const WORKLOADS_SCALE: &[&str] = &["list_workloads", "scale_workload"];
const RECOVER: &[&str] = &[
    "describe_recovery_snapshots",
    "describe_jobs",
    "start_recovery",
];
const FAIL_BACK: &[&str] = &[
    "describe_recovery_instances",
    "describe_jobs",
    "start_failback",
    "stop_failback",
    "describe_instances",
    "reverse_replication",
    // The relaunch from a chosen recovery point (`failback --recovery-point`).
    "describe_recovery_snapshots",
    "start_recovery",
    "terminate_recovery_instances",
];
const TERMINATE: &[&str] = &["terminate_recovery_instances"];

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_named_is_a_provider_operation() {
        for ops in [
            DB_READ,
            DB_FENCE,
            DB_PROMOTE,
            DB_REVERSE,
            DB_BACKUP,
            DB_VERIFY,
            POOL_READ,
            POOL_SCALE,
            RECORD_READ,
            RECORD_CHANGE,
            RECORD_SWITCH,
            PROBE,
            WORKLOADS_READ,
            WORKLOADS_CHECK,
            WORKLOADS_DRAIN,
            WORKLOADS_SCALE,
            RECOVER,
            FAIL_BACK,
            TERMINATE,
        ] {
            for op in ops {
                assert!(crate::plan::faults::OPERATIONS.contains(op), "{op}");
            }
        }
    }
}
