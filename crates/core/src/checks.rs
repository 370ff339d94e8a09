//! The six pre-failover checks of the runbook, each pass/warn/fail with evidence.

use std::{collections::BTreeMap, time::Duration};

use futures_util::future::join_all;

use crate::{
    clock::Clock,
    duration::format_duration,
    error::{ErrorKind, Result},
    plan::{Plan, SiteRole},
    provider::{
        ConfigMapsRequest, DatabaseRef, DatabaseRole, PoolRef, ProbeRequest, Providers, RecordRef,
    },
    retry::{retry, RetryPolicy},
};

pub use crate::run::{CheckResult, CheckStatus};

/// Check ids, in runbook order.
pub const CHECK_NAMES: [&str; 6] = [
    "dr-nodes-ready",
    "replication-lag",
    "backup-age",
    "dns-ttl",
    "dr-config-matches",
    "dr-health",
];

fn result(
    name: &str,
    description: &str,
    status: CheckStatus,
    evidence: impl Into<String>,
) -> CheckResult {
    CheckResult {
        name: name.into(),
        description: description.into(),
        status,
        evidence: evidence.into(),
    }
}

/// Runs all six checks concurrently.
pub async fn run_checks(plan: &Plan, providers: &Providers, clock: &Clock) -> Vec<CheckResult> {
    let policy = RetryPolicy {
        attempts: plan.execution.retry_attempts,
        base_delay: plan.execution.retry_base_delay,
        max_delay: Duration::from_secs(5),
    };
    let c = Checker {
        plan,
        p: providers,
        clock,
        policy,
    };
    let (a, b, cc, d, e, f) = futures_util::join!(
        c.nodes_ready(),
        c.replication_lag(),
        c.backup_age(),
        c.dns_ttl(),
        c.config_matches(),
        c.dr_health()
    );
    vec![a, b, cc, d, e, f]
}

/// The worst status of `results`.
pub fn overall(results: &[CheckResult]) -> CheckStatus {
    results
        .iter()
        .map(|r| r.status)
        .max()
        .unwrap_or(CheckStatus::Pass)
}

struct Checker<'a> {
    plan: &'a Plan,
    p: &'a Providers,
    clock: &'a Clock,
    policy: RetryPolicy,
}

impl Checker<'_> {
    async fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        retry(self.policy, self.clock, what, |_| {}, f).await
    }

    async fn nodes_ready(&self) -> CheckResult {
        const N: &str = "dr-nodes-ready";
        const D: &str = "every node of the DR cluster and node pools is Ready";
        let pools: Vec<_> = self
            .plan
            .node_pools
            .iter()
            .filter(|p| p.site == SiteRole::Dr)
            .collect();
        let workloads = self.p.workloads(&self.plan.dr);
        let cluster = self
            .call("list cluster nodes", || workloads.nodes_ready(SiteRole::Dr))
            .await;
        let mut status = CheckStatus::Pass;
        let mut ev = Vec::new();
        match cluster {
            Ok(Some((ready, total))) => {
                if ready < total || total == 0 {
                    status = CheckStatus::Fail;
                }
                ev.push(format!("cluster: {ready}/{total} nodes Ready"));
            }
            Ok(None) => {}
            Err(e) => {
                status = CheckStatus::Fail;
                ev.push(format!("cluster nodes: {e}"));
            }
        }
        if pools.is_empty() && ev.is_empty() {
            return result(N, D, CheckStatus::Warn, "no DR node pools in the plan");
        }
        let states = join_all(pools.iter().map(|p| {
            let r = PoolRef {
                site: SiteRole::Dr,
                cluster: p.cluster.clone(),
                name: p.name.clone(),
            };
            async move {
                (
                    p.name.clone(),
                    self.call("read node pool", || async {
                        self.p.nodes(&p.provider)?.get_pool(&r).await
                    })
                    .await,
                )
            }
        }))
        .await;
        for (name, s) in states {
            match s {
                Ok(s) => {
                    if s.ready_nodes < s.nodes || s.nodes == 0 {
                        status = CheckStatus::Fail;
                    }
                    ev.push(format!("{name}: {}/{} Ready", s.ready_nodes, s.nodes));
                }
                Err(e) => {
                    status = CheckStatus::Fail;
                    ev.push(format!("{name}: {e}"));
                }
            }
        }
        result(N, D, status, ev.join("; "))
    }

    async fn db_status(
        &self,
        site: SiteRole,
    ) -> Vec<(String, Result<crate::provider::DatabaseStatus>)> {
        join_all(self.plan.databases.iter().map(|d| {
            let r = DatabaseRef {
                database: d.name.clone(),
                instance: d.instance(site).to_string(),
                site,
            };
            async move {
                (
                    d.name.clone(),
                    self.call("read database status", || async {
                        self.p.database(&d.provider)?.status(&r).await
                    })
                    .await,
                )
            }
        }))
        .await
    }

    async fn replication_lag(&self) -> CheckResult {
        const N: &str = "replication-lag";
        let max = self.plan.checks.max_replication_lag;
        let d = format!("DR replicas lag less than {}", format_duration(max));
        if self.plan.databases.is_empty() {
            return result(N, &d, CheckStatus::Warn, "no databases in the plan");
        }
        let mut status = CheckStatus::Pass;
        let mut ev = Vec::new();
        for (name, s) in self.db_status(SiteRole::Dr).await {
            if let Ok(s) = &s {
                // What the provider knows would refuse the planned promotion: a failover then
                // has only the forced way, behind the RPO gate.
                for b in &s.planned_promotion_blockers {
                    status = CheckStatus::Fail;
                    ev.push(format!("{name}: a planned failover would be refused: {b}"));
                }
            }
            match s {
                Ok(s) => match s.replication_lag {
                    Some(lag) => {
                        if lag >= max {
                            status = CheckStatus::Fail;
                        }
                        let bytes = s
                            .replication_lag_bytes
                            .map(|b| format!(" ({b} bytes of WAL)"))
                            .unwrap_or_default();
                        ev.push(format!("{name}: lag {}{bytes}", format_duration(lag)));
                    }
                    None if s.role == DatabaseRole::Replica => {
                        let from = s
                            .replicating_from
                            .as_deref()
                            .map(|f| format!(" from {f}"))
                            .unwrap_or_default();
                        if s.lossless_planned_promotion {
                            // Not measured, but a planned failover synchronises first: a warning.
                            status = status.max(CheckStatus::Warn);
                            ev.push(format!(
                                "{name}: replicating{from}, lag not reported by the provider (a planned failover synchronises before switching roles; a forced one would lose an unknown amount)"
                            ));
                        } else {
                            // Replicating, but the lag is not measured: unknown is not zero.
                            status = CheckStatus::Fail;
                            ev.push(format!(
                                "{name}: replicating{from}, lag unknown (the provider reports no measurement)"
                            ));
                        }
                    }
                    None => {
                        status = status.max(CheckStatus::Warn);
                        ev.push(format!(
                            "{name}: DR instance is {:?}, not replicating",
                            s.role
                        ));
                    }
                },
                Err(e) => {
                    status = CheckStatus::Fail;
                    ev.push(format!("{name}: {e}"));
                }
            }
        }
        result(N, &d, status, ev.join("; "))
    }

    async fn backup_age(&self) -> CheckResult {
        const N: &str = "backup-age";
        let max = self.plan.checks.max_backup_age;
        let d = format!("newest backup is younger than {}", format_duration(max));
        if self.plan.databases.is_empty() {
            return result(N, &d, CheckStatus::Warn, "no databases in the plan");
        }
        let mut status = CheckStatus::Pass;
        let mut ev = Vec::new();
        for (name, s) in self.db_status(SiteRole::Dr).await {
            match s.map(|s| s.last_backup_age) {
                Ok(Some(age)) => {
                    if age >= max {
                        status = CheckStatus::Fail;
                    }
                    ev.push(format!("{name}: {} old", format_duration(age)));
                }
                Ok(None) => {
                    status = CheckStatus::Fail;
                    ev.push(format!(
                        "{name}: no backup age reported (none found, or the provider could not read it)"
                    ));
                }
                Err(e) => {
                    status = CheckStatus::Fail;
                    ev.push(format!("{name}: {e}"));
                }
            }
        }
        result(N, &d, status, ev.join("; "))
    }

    async fn dns_ttl(&self) -> CheckResult {
        const N: &str = "dns-ttl";
        let max = self.plan.checks.max_dns_ttl;
        let d = format!("DNS TTL is at most {max}s");
        if self.plan.dns_records.is_empty() {
            return result(N, &d, CheckStatus::Warn, "no DNS records in the plan");
        }
        let states = join_all(self.plan.dns_records.iter().map(|r| {
            let rr = RecordRef {
                zone: r.zone.clone(),
                name: r.name.clone(),
                record_type: r.record_type.clone(),
            };
            async move {
                (
                    r.name.clone(),
                    self.call("read record", || async {
                        self.p.dns(&r.provider)?.get_record(&rr).await
                    })
                    .await,
                )
            }
        }))
        .await;
        let mut status = CheckStatus::Pass;
        let mut ev = Vec::new();
        for (name, s) in states {
            match s {
                Ok(s) => {
                    if s.ttl > max {
                        status = CheckStatus::Fail;
                    }
                    ev.push(format!("{name}: TTL {}s -> {}", s.ttl, s.target));
                }
                Err(e) => {
                    status = CheckStatus::Fail;
                    ev.push(format!("{name}: {e}"));
                }
            }
        }
        result(N, &d, status, ev.join("; "))
    }

    async fn config_matches(&self) -> CheckResult {
        const N: &str = "dr-config-matches";
        const D: &str = "the DR site's ConfigMaps match the primary's";
        let names = &self.plan.checks.config_maps;
        if names.is_empty() {
            return result(
                N,
                D,
                CheckStatus::Warn,
                "no ConfigMaps listed in checks.config_maps",
            );
        }
        let read = |site: SiteRole| {
            let req = ConfigMapsRequest {
                site,
                cluster: self.plan.site(site).cluster.clone().unwrap_or_default(),
                names: names.clone(),
            };
            let w = self.p.workloads(self.plan.site(site));
            async move { self.call("read ConfigMaps", || w.config_maps(&req)).await }
        };
        let (primary, dr) = futures_util::join!(read(SiteRole::Primary), read(SiteRole::Dr));
        let (primary, dr) = match (primary, dr) {
            (Err(e), _) if e.kind() == ErrorKind::Unreachable => {
                return result(
                    N,
                    D,
                    CheckStatus::Warn,
                    format!("primary unreachable, cannot compare: {e}"),
                )
            }
            (Err(e), _) | (_, Err(e)) => return result(N, D, CheckStatus::Fail, e.to_string()),
            (Ok(p), Ok(d)) => (p, d),
        };
        let mut diffs = Vec::new();
        for n in names {
            let (p, d) = (
                primary.get(n).cloned().flatten(),
                dr.get(n).cloned().flatten(),
            );
            match (p, d) {
                (Some(p), Some(d)) => {
                    let keys: Vec<_> = diff_keys(&p, &d);
                    if !keys.is_empty() {
                        diffs.push(format!("{n}: keys differ: {}", keys.join(", ")));
                    }
                }
                (None, Some(_)) => diffs.push(format!("{n}: missing at primary")),
                (Some(_), None) => diffs.push(format!("{n}: missing at DR")),
                (None, None) => diffs.push(format!("{n}: missing at both sites")),
            }
        }
        if diffs.is_empty() {
            result(
                N,
                D,
                CheckStatus::Pass,
                format!("{} ConfigMaps identical", names.len()),
            )
        } else {
            result(N, D, CheckStatus::Fail, diffs.join("; "))
        }
    }

    async fn dr_health(&self) -> CheckResult {
        const N: &str = "dr-health";
        const D: &str = "the DR health endpoints answer their expected status and body fields";
        let eps: Vec<_> = self
            .plan
            .health_endpoints
            .iter()
            .filter(|h| h.site == SiteRole::Dr)
            .collect();
        if eps.is_empty() {
            return result(
                N,
                D,
                CheckStatus::Warn,
                "no DR health endpoints in the plan",
            );
        }
        let res = join_all(eps.iter().map(|h| {
            let req = ProbeRequest::of(h);
            async move {
                (
                    h,
                    self.call("probe health endpoint", || async {
                        self.p.health(&h.provider)?.probe(&req).await
                    })
                    .await,
                )
            }
        }))
        .await;
        let mut status = CheckStatus::Pass;
        let mut ev = Vec::new();
        for (h, r) in res {
            match r {
                Ok(r) => match r.problems(h).as_slice() {
                    [] => ev.push(format!("{}: {}", h.url, r.status)),
                    problems => {
                        status = CheckStatus::Fail;
                        ev.extend(problems.iter().cloned());
                    }
                },
                Err(e) => {
                    status = CheckStatus::Fail;
                    ev.push(format!("{}: {e}", h.url));
                }
            }
        }
        result(N, D, status, ev.join("; "))
    }
}

fn diff_keys(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut keys: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .chain(b.keys().filter(|k| !a.contains_key(*k)).cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}
