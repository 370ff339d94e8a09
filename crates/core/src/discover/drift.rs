//! Drift: what a plan misses or names wrongly, against what discovery finds now.

use std::fmt;

use super::{Discovery, Observed, Scope, Table};
use crate::plan::{Plan, PoolSize, ProviderName, RecordTargets, SiteRole, KUBERNETES};

/// How the plan and the estate differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftKind {
    /// In the estate, not in the plan.
    Added,
    /// In the plan, not in the estate.
    Missing,
    /// In both, but different.
    Changed,
}

impl DriftKind {
    /// `added`, `missing` or `changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Added => "added",
            DriftKind::Missing => "missing",
            DriftKind::Changed => "changed",
        }
    }
}

/// One difference between the plan and the estate.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// The provider that read the estate.
    pub provider: ProviderName,
    /// What kind.
    pub kind: DriftKind,
    /// Which plan array.
    pub table: Table,
    /// The resource it is about (its identifier), stable while the difference lasts.
    pub subject: String,
    /// What differs, in a sentence.
    pub what: String,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}): {}",
            self.kind.as_str(),
            self.table.key(),
            self.provider,
            self.what
        )
    }
}

/// The differences between `plan` and what the providers `found`, for the tables each read in
/// full. Sizes, replicas and record targets match when they are either site's (a run may be
/// under way or done); plan entries the plan's `[discovery]` scope would not read (by name) are
/// not compared.
pub fn drift(plan: &Plan, found: &[Discovery]) -> Vec<Drift> {
    let scope: Scope = plan.discovery.as_ref().map(Scope::from).unwrap_or_default();
    let plan = &in_scope(plan, &scope);
    let mut out = Vec::new();
    for d in found {
        let obs = |t: Table| -> Vec<&Observed> {
            d.entries
                .iter()
                .filter(|e| e.table == t)
                .map(|e| &e.observed)
                .collect()
        };
        let mut say = |kind, table, subject: &str, what: String| {
            out.push(Drift {
                provider: d.provider.clone(),
                kind,
                table,
                subject: subject.to_string(),
                what,
            });
        };
        for &table in &d.covers {
            let seen = obs(table);
            match table {
                Table::Databases => databases(plan, &d.provider, &seen, &mut say),
                Table::DnsRecords => records(plan, &d.provider, &seen, &mut say),
                Table::NodePools => pools(plan, &d.provider, &seen, &mut say),
                Table::Workloads
                    if d.provider.as_str() == KUBERNETES || plan_has_no_cluster(plan) =>
                {
                    workloads(plan, &seen, &mut say)
                }
                Table::Workloads => {}
                Table::RecoveryServers => servers(plan, &d.provider, &seen, &mut say),
            }
        }
    }
    out
}

/// `plan` with only the entries `scope` reads by name (tags cannot be told from the plan).
fn in_scope(plan: &Plan, scope: &Scope) -> Plan {
    let mut p = plan.clone();
    p.databases
        .retain(|d| scope.admits_name(&d.primary) || scope.admits_name(&d.dr));
    p.dns_records.retain(|r| scope.admits_name(&r.name));
    p.node_pools
        .retain(|n| scope.admits_name(&n.name) || scope.admits_name(&n.cluster));
    p.workloads.retain(|w| {
        scope.admits_name(&w.namespace) || w.names.iter().any(|n| scope.admits_name(n))
    });
    p.recovery_servers
        .retain(|s| scope.admits_name(&s.name) || scope.admits_name(&s.source_server_id));
    p
}

fn plan_has_no_cluster(plan: &Plan) -> bool {
    !plan.primary.uses_kubernetes() && !plan.dr.uses_kubernetes()
}

type Say<'a> = dyn FnMut(DriftKind, Table, &str, String) + 'a;

fn databases(plan: &Plan, provider: &ProviderName, seen: &[&Observed], say: &mut Say) {
    let pairs: Vec<(&str, Option<&str>)> = seen
        .iter()
        .filter_map(|o| match o {
            Observed::Database { primary, dr } => Some((primary.as_str(), dr.as_deref())),
            _ => None,
        })
        .collect();
    let mut matched = vec![false; pairs.len()];
    for spec in plan.databases.iter().filter(|s| &s.provider == provider) {
        let ours = [spec.primary.as_str(), spec.dr.as_str()];
        let hit = pairs
            .iter()
            .position(|(p, d)| ours.contains(p) || d.is_some_and(|d| ours.contains(&d)));
        let t = Table::Databases;
        match hit {
            None => say(
                DriftKind::Missing,
                t,
                &spec.primary,
                format!(
                    "`{}`: no replicating pair of {} and {} is in the estate now",
                    spec.name, spec.primary, spec.dr
                ),
            ),
            Some(i) => {
                matched[i] = true;
                let (p, d) = pairs[i];
                match d {
                    None => say(
                        DriftKind::Changed,
                        t,
                        &spec.primary,
                        format!(
                            "`{}`: {p} has no single replica at the other site now (the plan pairs it with {})",
                            spec.name,
                            if p == spec.primary { &spec.dr } else { &spec.primary }
                        ),
                    ),
                    Some(d) if !(ours == [p, d] || ours == [d, p]) => say(
                        DriftKind::Changed,
                        t,
                        &spec.primary,
                        format!(
                            "`{}`: the estate pairs {p} with {d}; the plan says {} with {}",
                            spec.name, spec.primary, spec.dr
                        ),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
    for (i, (p, d)) in pairs.iter().enumerate() {
        if !matched[i] {
            let what = match d {
                Some(d) => format!("the pair {p} → {d} is not in the plan"),
                None => format!("{p} has replicas or a standby the plan does not name"),
            };
            say(DriftKind::Added, Table::Databases, p, what);
        }
    }
}

fn records(plan: &Plan, provider: &ProviderName, seen: &[&Observed], say: &mut Say) {
    let norm = |n: &str| n.trim_end_matches('.').to_ascii_lowercase();
    let now: Vec<(String, &RecordTargets)> = seen
        .iter()
        .filter_map(|o| match o {
            Observed::Record { name, targets } => Some((norm(name), targets)),
            _ => None,
        })
        .collect();
    let t = Table::DnsRecords;
    let specs: Vec<_> = plan
        .dns_records
        .iter()
        .filter(|r| &r.provider == provider)
        .collect();
    for spec in &specs {
        match now.iter().find(|(n, _)| *n == norm(&spec.name)) {
            None => say(
                DriftKind::Missing,
                t,
                &spec.name,
                format!("`{}`: no such record in the estate now", spec.name),
            ),
            Some((_, targets)) => {
                if !targets.same_as(&spec.primary_target) && !targets.same_as(&spec.dr_target) {
                    say(
                        DriftKind::Changed,
                        t,
                        &spec.name,
                        format!(
                            "`{}` points at {targets}, neither site's (primary {}, DR {})",
                            spec.name, spec.primary_target, spec.dr_target
                        ),
                    );
                }
            }
        }
    }
    for (name, targets) in &now {
        if !specs.iter().any(|s| norm(&s.name) == *name) {
            say(
                DriftKind::Added,
                t,
                name,
                format!("`{name}` (→ {targets}) points at a site and is not in the plan"),
            );
        }
    }
}

fn size(s: PoolSize) -> String {
    format!("min {} / max {} / desired {}", s.min, s.max, s.desired)
}

fn pools(plan: &Plan, provider: &ProviderName, seen: &[&Observed], say: &mut Say) {
    let now: Vec<(&str, SiteRole, PoolSize)> = seen
        .iter()
        .filter_map(|o| match o {
            Observed::Pool { name, site, size } => Some((name.as_str(), *site, *size)),
            _ => None,
        })
        .collect();
    let t = Table::NodePools;
    let specs: Vec<_> = plan
        .node_pools
        .iter()
        .filter(|p| &p.provider == provider)
        .collect();
    for spec in &specs {
        let subject = format!("{}/{}", spec.site, spec.name);
        match now
            .iter()
            .find(|(n, site, _)| *n == spec.name && *site == spec.site)
        {
            None => say(
                DriftKind::Missing,
                t,
                &subject,
                format!(
                    "`{}`: no such pool at the {} site now",
                    spec.name, spec.site
                ),
            ),
            Some((_, _, s)) if *s != spec.production && *s != spec.standby => say(
                DriftKind::Changed,
                t,
                &subject,
                format!(
                    "`{}` is {} now; the plan says production {}, standby {}",
                    spec.name,
                    size(*s),
                    size(spec.production),
                    size(spec.standby)
                ),
            ),
            Some(_) => {}
        }
    }
    for (name, site, s) in &now {
        if !specs.iter().any(|p| p.name == *name && p.site == *site) {
            say(
                DriftKind::Added,
                t,
                &format!("{site}/{name}"),
                format!(
                    "`{name}` at the {site} site ({}) is not in the plan",
                    size(*s)
                ),
            );
        }
    }
}

fn workloads(plan: &Plan, seen: &[&Observed], say: &mut Say) {
    let t = Table::Workloads;
    for o in seen {
        let Observed::Workload {
            namespace,
            kind,
            name,
            replicas,
        } = o
        else {
            continue;
        };
        let group = plan.workloads.iter().find(|w| {
            &w.namespace == namespace
                && w.kind == *kind
                && (w.names.is_empty() || w.names.contains(name))
        });
        match group {
            None => say(
                DriftKind::Added,
                t,
                &format!("{namespace}/{name}"),
                format!("{kind:?} {namespace}/{name} is not in the plan"),
            ),
            Some(g) => {
                for (site, n) in replicas {
                    if *n != g.production_replicas && *n != g.standby_replicas {
                        say(
                            DriftKind::Changed,
                            t,
                            &format!("{namespace}/{name}@{site}"),
                            format!(
                                "{kind:?} {namespace}/{name} runs {n} replicas at the {site} site; the plan (`{}`) says production {}, standby {}",
                                g.name, g.production_replicas, g.standby_replicas
                            ),
                        );
                    }
                }
            }
        }
    }
    for g in &plan.workloads {
        for name in &g.names {
            let there = seen.iter().any(|o| {
                matches!(o, Observed::Workload { namespace, kind, name: n, .. }
                    if *namespace == g.namespace && *kind == g.kind && n == name)
            });
            if !there {
                say(
                    DriftKind::Missing,
                    t,
                    &format!("{}/{name}", g.namespace),
                    format!(
                        "`{}`: {:?} {}/{name} is not in both sites' clusters",
                        g.name, g.kind, g.namespace
                    ),
                );
            }
        }
    }
}

fn servers(plan: &Plan, provider: &ProviderName, seen: &[&Observed], say: &mut Say) {
    let ids: Vec<&str> = seen
        .iter()
        .filter_map(|o| match o {
            Observed::RecoveryServer { id } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let t = Table::RecoveryServers;
    let specs: Vec<_> = plan
        .recovery_servers
        .iter()
        .filter(|s| &s.provider == provider)
        .collect();
    for s in &specs {
        if !ids.contains(&s.source_server_id.as_str()) {
            say(
                DriftKind::Missing,
                t,
                &s.source_server_id,
                format!(
                    "`{}`: source server {} is not protected now",
                    s.name, s.source_server_id
                ),
            );
        }
    }
    for id in ids {
        if !specs.iter().any(|s| s.source_server_id == id) {
            say(
                DriftKind::Added,
                t,
                id,
                format!("source server {id} is not in the plan"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::{Entry, Pick};

    const PLAN: &str = r#"
[plan]
name = "t"
[sites.primary]
provider = "aws"
region = "us-east-1"
cluster = "prod"
[sites.dr]
provider = "aws"
region = "us-west-2"
cluster = "dr"
[discovery]
name_contains = "shop"
[[node_pools]]
name = "shop-workers"
site = "primary"
production = { min = 2, max = 4, desired = 3 }
standby = { min = 1, max = 4, desired = 1 }
[[node_pools]]
name = "shop-workers"
site = "dr"
production = { min = 2, max = 4, desired = 3 }
standby = { min = 1, max = 4, desired = 1 }
[[node_pools]]
name = "batch"
site = "dr"
production = { min = 1, max = 1, desired = 1 }
standby = { min = 1, max = 1, desired = 1 }
"#;

    fn pool(site: SiteRole, desired: u32) -> Entry {
        Entry::new(
            Table::NodePools,
            Observed::Pool {
                name: "shop-workers".into(),
                site,
                size: PoolSize {
                    min: if desired == 3 { 2 } else { 1 },
                    max: 4,
                    desired,
                },
            },
        )
        .with("name", Pick::known("shop-workers", "test"))
    }

    #[test]
    fn pools_match_by_site_and_name_and_out_of_scope_entries_are_not_compared() {
        let plan = Plan::parse(PLAN).expect("plan");
        let mut d = Discovery::new("aws".into(), vec![Table::NodePools]);
        d.entries = vec![pool(SiteRole::Primary, 3), pool(SiteRole::Dr, 1)];
        // `batch` is outside `name_contains = "shop"`: not read, so not "missing".
        assert_eq!(drift(&plan, &[d.clone()]), Vec::new());
        d.entries[1] = pool(SiteRole::Dr, 2);
        let found = drift(&plan, &[d]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].kind, found[0].subject.as_str()),
            (DriftKind::Changed, "dr/shop-workers")
        );
    }
}
