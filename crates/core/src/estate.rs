//! Where the plan's estate serves now, read from the providers (never from a journal): each database
//! instance's role and fence, each DNS record's target, each node pool's size and each workload
//! group's replicas, and one verdict: whole (one site takes writes and traffic), split, or unknown.
//!
//! A value that could not be read stays unknown and makes the verdict unknown, never "whole".

use std::time::Duration;

use futures_util::future::join_all;
use serde::Serialize;

use crate::{
    clock::Clock,
    error::Result,
    plan::{Plan, SiteRole},
    provider::{DatabaseRef, DatabaseRole, ListWorkloads, PoolRef, Providers, RecordRef},
    retry::{retry, RetryPolicy},
};

/// One database instance as its provider reports it now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceView {
    /// Provider identifier.
    pub instance: String,
    /// Replication role; `None` when it could not be read.
    pub role: Option<DatabaseRole>,
    /// True when writes are blocked; `None` when it could not be read.
    pub fenced: Option<bool>,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl InstanceView {
    /// True when the instance takes writes now; `None` when unknown.
    pub fn writable(&self) -> Option<bool> {
        Some(self.role? == DatabaseRole::Primary && !self.fenced?)
    }

    fn describe(&self) -> String {
        match (&self.role, self.fenced, &self.error) {
            (Some(role), Some(fenced), _) => format!(
                "{} ({}{})",
                self.instance,
                match role {
                    DatabaseRole::Primary => "primary",
                    DatabaseRole::Replica => "replica",
                    DatabaseRole::Standalone => "standalone",
                },
                if fenced { ", fenced" } else { "" }
            ),
            (_, _, Some(e)) => format!("{} (unknown: {e})", self.instance),
            _ => format!("{} (unknown)", self.instance),
        }
    }
}

/// A database pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseView {
    /// The pair's name in the plan.
    pub name: String,
    /// The primary site's instance.
    pub primary: InstanceView,
    /// The DR site's instance.
    pub dr: InstanceView,
}

impl DatabaseView {
    /// The instance at `site`.
    pub fn at(&self, site: SiteRole) -> &InstanceView {
        match site {
            SiteRole::Primary => &self.primary,
            SiteRole::Dr => &self.dr,
        }
    }

    /// The sites whose instance takes writes; `None` when either is unknown.
    pub fn writers(&self) -> Option<Vec<SiteRole>> {
        let mut out = Vec::new();
        for site in [SiteRole::Primary, SiteRole::Dr] {
            if self.at(site).writable()? {
                out.push(site);
            }
        }
        Some(out)
    }
}

/// A DNS record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnsView {
    /// Record name.
    pub name: String,
    /// Its target now; `None` when it could not be read.
    pub target: Option<crate::plan::RecordTargets>,
    /// The site whose target it is; `None` when it is neither's or unknown.
    pub serves: Option<SiteRole>,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A node pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolView {
    /// Pool name.
    pub name: String,
    /// Its site.
    pub site: SiteRole,
    /// Configured desired size; `None` when unknown.
    pub desired: Option<u32>,
    /// Nodes Ready; `None` when unknown.
    pub ready_nodes: Option<u32>,
    /// The plan's production desired size.
    pub production_desired: u32,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A workload group at one site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadView {
    /// The group's name in the plan.
    pub name: String,
    /// Its site.
    pub site: SiteRole,
    /// Desired replicas summed over the group; `None` when unknown.
    pub replicas: Option<u32>,
    /// Available replicas summed over the group; `None` when unknown.
    pub available: Option<u32>,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether the estate serves from one site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every pair has one writable instance at one site, and every record points there.
    Whole,
    /// Records and writable databases are not on one site, or a pair has no (or two) writers.
    Split,
    /// Something could not be read.
    Unknown,
}

/// The estate as read now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estate {
    /// Database pairs.
    pub databases: Vec<DatabaseView>,
    /// DNS records.
    pub dns: Vec<DnsView>,
    /// Node pools.
    pub pools: Vec<PoolView>,
    /// Workload groups at each site that has a cluster.
    pub workloads: Vec<WorkloadView>,
    /// The verdict.
    pub verdict: Verdict,
    /// The site that serves, when the estate is whole.
    pub serving: Option<SiteRole>,
    /// True when traffic reaches no site that takes its writes (a record at neither site's target,
    /// at a site whose database is fenced, or a pair with no writer).
    pub down: bool,
    /// One sentence per problem: what does not serve, and why.
    pub problems: Vec<String>,
    /// Notes that do not break the estate (capacity below production at the serving site).
    pub notes: Vec<String>,
}

impl Estate {
    /// One line for a person: "serving from the DR site" or "service DOWN: ...".
    pub fn headline(&self) -> String {
        match (self.verdict, self.serving) {
            (Verdict::Whole, Some(site)) => format!("the estate is whole: the {site} site serves"),
            (Verdict::Whole, None) => "the estate is whole".to_string(),
            (Verdict::Split, _) if self.down => {
                format!("service DOWN: {}", self.problems.join("; "))
            }
            (Verdict::Split, _) => format!("estate SPLIT: {}", self.problems.join("; ")),
            (Verdict::Unknown, _) => format!(
                "where the estate serves is UNKNOWN: {}",
                self.problems.join("; ")
            ),
        }
    }

    /// Every resource, one line each, for `aegis-dr estate` and stop messages.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in &self.databases {
            out.push(format!(
                "database {}: primary site {}; DR site {}",
                d.name,
                d.primary.describe(),
                d.dr.describe()
            ));
        }
        for r in &self.dns {
            let at = match (&r.target, r.serves, &r.error) {
                (Some(t), Some(site), _) => format!("{t} (the {site} site)"),
                (Some(t), None, _) => format!("{t} (neither site's target)"),
                (None, _, Some(e)) => format!("unknown: {e}"),
                (None, _, None) => "unknown".to_string(),
            };
            out.push(format!("dns {}: {at}", r.name));
        }
        for p in &self.pools {
            let size = match (p.desired, p.ready_nodes, &p.error) {
                (Some(d), Some(r), _) => format!(
                    "desired {d}, {r} ready (production {})",
                    p.production_desired
                ),
                (_, _, Some(e)) => format!("unknown: {e}"),
                _ => "unknown".to_string(),
            };
            out.push(format!("pool {} ({} site): {size}", p.name, p.site));
        }
        for w in &self.workloads {
            let n = match (w.replicas, w.available, &w.error) {
                (Some(r), Some(a), _) => format!("{r} replicas, {a} available"),
                (_, _, Some(e)) => format!("unknown: {e}"),
                _ => "unknown".to_string(),
            };
            out.push(format!("workloads {} ({} site): {n}", w.name, w.site));
        }
        out
    }
}

/// How long one read of the estate may take: a stop is announced within seconds even when a
/// site does not answer (what is not read by then is unknown).
const READ_TIMEOUT: Duration = Duration::from_secs(10);

async fn bounded<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(READ_TIMEOUT, f).await {
        Ok(r) => r,
        // Not tried again: a site silent this long is reported unknown at once.
        Err(_) => Err(crate::error::Error::new(
            crate::error::ErrorKind::Timeout,
            format!("no answer within {}s", READ_TIMEOUT.as_secs()),
        )),
    }
}

/// Reads the estate of `plan` through `providers`; never fails (what cannot be read is unknown).
pub async fn read(plan: &Plan, providers: &Providers, clock: &Clock) -> Estate {
    let policy = RetryPolicy {
        attempts: plan.execution.retry_attempts.min(3),
        base_delay: plan.execution.retry_base_delay,
        max_delay: Duration::from_secs(2),
    };
    let databases = join_all(plan.databases.iter().map(|d| async move {
        let side = |site: SiteRole| async move {
            let r = DatabaseRef {
                database: d.name.clone(),
                instance: d.instance(site).to_string(),
                site,
            };
            let res: Result<_> = retry(
                policy,
                clock,
                "read database status",
                |_| {},
                || bounded(async { providers.database(&d.provider)?.status(&r).await }),
            )
            .await;
            match res {
                Ok(s) => InstanceView {
                    instance: r.instance,
                    role: Some(s.role),
                    fenced: Some(s.fenced),
                    error: None,
                },
                Err(e) => InstanceView {
                    instance: r.instance,
                    role: None,
                    fenced: None,
                    error: Some(e.to_string()),
                },
            }
        };
        let (primary, dr) = futures_util::join!(side(SiteRole::Primary), side(SiteRole::Dr));
        DatabaseView {
            name: d.name.clone(),
            primary,
            dr,
        }
    }))
    .await;
    let dns = join_all(plan.dns_records.iter().map(|r| async move {
        let rr = RecordRef {
            zone: r.zone.clone(),
            name: r.name.clone(),
            record_type: r.record_type.clone(),
        };
        let res = retry(
            policy,
            clock,
            "read DNS record",
            |_| {},
            || bounded(async { providers.dns(&r.provider)?.get_record(&rr).await }),
        )
        .await;
        match res {
            Ok(s) => DnsView {
                name: r.name.clone(),
                serves: [SiteRole::Primary, SiteRole::Dr]
                    .into_iter()
                    .find(|site| s.target.same_as(r.target(*site))),
                target: Some(s.target),
                error: None,
            },
            Err(e) => DnsView {
                name: r.name.clone(),
                target: None,
                serves: None,
                error: Some(e.to_string()),
            },
        }
    }))
    .await;
    let pools = join_all(plan.node_pools.iter().map(|p| async move {
        let r = PoolRef {
            site: p.site,
            cluster: p.cluster.clone(),
            name: p.name.clone(),
        };
        let res = retry(
            policy,
            clock,
            "read node pool",
            |_| {},
            || bounded(async { providers.nodes(&p.provider)?.get_pool(&r).await }),
        )
        .await;
        let (desired, ready_nodes, error) = match res {
            Ok(s) => (Some(s.size.desired), Some(s.ready_nodes), None),
            Err(e) => (None, None, Some(e.to_string())),
        };
        PoolView {
            name: p.name.clone(),
            site: p.site,
            desired,
            ready_nodes,
            production_desired: p.production.desired,
            error,
        }
    }))
    .await;
    let workloads = read_workloads(plan, providers, clock, policy).await;
    judge(plan, databases, dns, pools, workloads)
}

async fn read_workloads(
    plan: &Plan,
    providers: &Providers,
    clock: &Clock,
    policy: RetryPolicy,
) -> Vec<WorkloadView> {
    let mut asks = Vec::new();
    for site in [SiteRole::Primary, SiteRole::Dr] {
        for g in &plan.workloads {
            asks.push((site, g));
        }
    }
    join_all(asks.into_iter().map(|(site, g)| async move {
        let req = ListWorkloads::for_group(plan, site, g);
        let scaler = providers.workloads(plan.site(site));
        let res = retry(
            policy,
            clock,
            "list workloads",
            |_| {},
            || bounded(async { scaler.list(&req).await }),
        )
        .await;
        let (replicas, available, error) = match res {
            Ok(list) => {
                let mine = list
                    .iter()
                    .filter(|w| g.names.is_empty() || g.names.contains(&w.name));
                let (r, a) = mine.fold((0, 0), |(r, a), w| {
                    (r + w.replicas, a + w.available_replicas)
                });
                (Some(r), Some(a), None)
            }
            Err(e) => (None, None, Some(e.to_string())),
        };
        WorkloadView {
            name: g.name.clone(),
            site,
            replicas,
            available,
            error,
        }
    }))
    .await
}

/// The verdict over what was read.
fn judge(
    plan: &Plan,
    databases: Vec<DatabaseView>,
    dns: Vec<DnsView>,
    pools: Vec<PoolView>,
    workloads: Vec<WorkloadView>,
) -> Estate {
    let mut problems = Vec::new();
    let mut unknown = 0;
    let mut down = false;
    // The sites that take writes, per pair, and the sites records point at.
    let mut write_sites = Vec::new();
    for d in &databases {
        match d.writers() {
            None => {
                unknown += 1;
                problems.push(format!(
                    "database {}: its roles and fences could not be read",
                    d.name
                ));
            }
            Some(w) if w.is_empty() => {
                down = true;
                problems.push(format!(
                    "database {}: no instance takes writes ({}; {})",
                    d.name,
                    d.primary.describe(),
                    d.dr.describe()
                ));
            }
            Some(w) if w.len() > 1 => problems.push(format!(
                "database {}: BOTH instances take writes (split brain: {}; {})",
                d.name,
                d.primary.describe(),
                d.dr.describe()
            )),
            Some(w) => write_sites.push((d, w[0])),
        }
    }
    let mut dns_sites = Vec::new();
    for r in &dns {
        match (&r.target, r.serves) {
            (None, _) => {
                unknown += 1;
                problems.push(format!("dns {}: its target could not be read", r.name));
            }
            (Some(t), None) => {
                down = true;
                problems.push(format!(
                    "dns {} points at {t}, neither site's target",
                    r.name
                ));
            }
            (Some(_), Some(site)) => dns_sites.push((r, site)),
        }
    }
    for (r, site) in &dns_sites {
        for (d, w) in &write_sites {
            if w != site {
                down = true;
                problems.push(format!(
                    "dns {} points at the {site} site, but database {} takes writes at the {w} site ({} is {})",
                    r.name,
                    d.name,
                    d.at(*site).instance,
                    if d.at(*site).fenced == Some(true) { "fenced" } else { "not writable" }
                ));
            }
        }
    }
    let sites: std::collections::BTreeSet<SiteRole> = write_sites
        .iter()
        .map(|(_, s)| *s)
        .chain(dns_sites.iter().map(|(_, s)| *s))
        .collect();
    if sites.len() > 1 && problems.len() == unknown {
        let at =
            |what: &str, name: &str, site: SiteRole| format!("{what} {name} at the {site} site");
        let parts: Vec<String> = write_sites
            .iter()
            .map(|(d, s)| at("database", &d.name, *s))
            .chain(dns_sites.iter().map(|(r, s)| at("dns", &r.name, *s)))
            .collect();
        problems.push(format!(
            "the estate serves from two sites: {}",
            parts.join(", ")
        ));
    }
    // Capacity that could not be read is unknown too: never "whole" on a guess.
    for p in pools.iter().filter(|p| p.error.is_some()) {
        unknown += 1;
        problems.push(format!("pool {}: its size could not be read", p.name));
    }
    for w in workloads.iter().filter(|w| w.error.is_some()) {
        unknown += 1;
        problems.push(format!(
            "workloads {} at the {} site: their replicas could not be read",
            w.name, w.site
        ));
    }
    // With no database and no DNS record, nothing says which site serves.
    if databases.is_empty() && dns.is_empty() {
        unknown += 1;
        problems.push(
            "the plan has no databases or DNS records: which site serves cannot be told".into(),
        );
    }
    // A split seen is a split, even where something else could not be read.
    let verdict = if problems.len() > unknown {
        Verdict::Split
    } else if unknown > 0 {
        Verdict::Unknown
    } else {
        Verdict::Whole
    };
    let serving = if verdict == Verdict::Whole {
        sites.iter().next().copied()
    } else {
        None
    };
    let mut notes = Vec::new();
    if let Some(site) = serving {
        for p in pools.iter().filter(|p| p.site == site) {
            match p.ready_nodes {
                Some(n) if n < p.production_desired => notes.push(format!(
                    "pool {} at the serving {site} site has {n} ready nodes, below its production size {}",
                    p.name, p.production_desired
                )),
                Some(_) => {}
                None => {}
            }
        }
        for w in workloads.iter().filter(|w| w.site == site) {
            let want = plan
                .workloads
                .iter()
                .find(|g| g.name == w.name)
                .map(|g| g.production_replicas)
                .unwrap_or(0);
            match w.available {
                Some(0) if want > 0 => notes.push(format!(
                    "workloads {} at the serving {site} site have no available replica",
                    w.name
                )),
                Some(_) | None => {}
            }
        }
    }
    Estate {
        databases,
        dns,
        pools,
        workloads,
        verdict,
        serving,
        down,
        problems,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan::parse(
            "[plan]\nname = \"t\"\n[sites.primary]\nprovider = \"sim\"\nregion = \"a\"\n[sites.dr]\nprovider = \"sim\"\nregion = \"b\"\n[[databases]]\nname = \"d\"\nprimary = \"p\"\ndr = \"q\"\n[[dns_records]]\nname = \"n\"\nzone = \"z\"\nprimary_target = \"lb-a\"\ndr_target = \"lb-b\"\nttl = 60\n",
        )
        .expect("plan")
    }

    fn inst(name: &str, role: Option<DatabaseRole>, fenced: Option<bool>) -> InstanceView {
        InstanceView {
            instance: name.into(),
            role,
            fenced,
            error: role.is_none().then(|| "unreachable".to_string()),
        }
    }

    fn estate(p: InstanceView, d: InstanceView, target: Option<&str>) -> Estate {
        let plan = plan();
        let serves = target.and_then(|t| {
            [SiteRole::Primary, SiteRole::Dr]
                .into_iter()
                .find(|s| plan.dns_records[0].target(*s).same_as(&t.into()))
        });
        judge(
            &plan,
            vec![DatabaseView {
                name: "d".into(),
                primary: p,
                dr: d,
            }],
            vec![DnsView {
                name: "n".into(),
                target: target.map(Into::into),
                serves,
                error: target.is_none().then(|| "unreachable".to_string()),
            }],
            Vec::new(),
            Vec::new(),
        )
    }

    use DatabaseRole::{Primary, Replica, Standalone};

    #[test]
    fn one_writer_where_dns_points_is_whole() {
        let e = estate(
            inst("p", Some(Primary), Some(false)),
            inst("q", Some(Replica), Some(true)),
            Some("LB-A."),
        );
        assert_eq!(
            (e.verdict, e.serving, e.down),
            (Verdict::Whole, Some(SiteRole::Primary), false)
        );
        let e = estate(
            inst("p", Some(Standalone), Some(true)),
            inst("q", Some(Primary), Some(false)),
            Some("lb-b"),
        );
        assert_eq!((e.verdict, e.serving), (Verdict::Whole, Some(SiteRole::Dr)));
    }

    #[test]
    fn dns_at_a_fenced_site_is_down_and_two_writers_a_split() {
        let e = estate(
            inst("p", Some(Standalone), Some(true)),
            inst("q", Some(Primary), Some(false)),
            Some("lb-a"),
        );
        assert_eq!((e.verdict, e.down), (Verdict::Split, true));
        assert!(
            e.headline()
                .starts_with("service DOWN: dns n points at the primary site"),
            "{}",
            e.headline()
        );
        let e = estate(
            inst("p", Some(Primary), Some(false)),
            inst("q", Some(Primary), Some(false)),
            Some("lb-a"),
        );
        assert_eq!(e.verdict, Verdict::Split);
        assert!(
            e.headline().contains("BOTH instances take writes"),
            "{}",
            e.headline()
        );
        let e = estate(
            inst("p", Some(Primary), Some(true)),
            inst("q", Some(Replica), Some(true)),
            Some("lb-a"),
        );
        assert_eq!((e.verdict, e.down), (Verdict::Split, true));
    }

    #[test]
    fn a_plan_with_no_database_or_record_cannot_say_where_it_serves() {
        let e = judge(&plan(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        assert_eq!((e.verdict, e.serving), (Verdict::Unknown, None));
    }

    #[test]
    fn what_cannot_be_read_is_unknown_never_whole() {
        let e = estate(
            inst("p", None, None),
            inst("q", Some(Replica), Some(true)),
            Some("lb-a"),
        );
        assert_eq!((e.verdict, e.serving), (Verdict::Unknown, None));
        let e = estate(
            inst("p", Some(Primary), Some(false)),
            inst("q", Some(Replica), Some(true)),
            None,
        );
        assert_eq!(e.verdict, Verdict::Unknown);
        assert!(e.headline().contains("UNKNOWN"), "{}", e.headline());
    }
}
