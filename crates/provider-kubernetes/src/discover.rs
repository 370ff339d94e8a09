//! `aegis-dr init` and `drift` on Kubernetes: the namespaces present in both sites' clusters,
//! their Deployments and StatefulSets with the replicas each site runs, and the ConfigMaps both
//! sides hold (for the `dr-config-matches` check).

use std::collections::{BTreeMap, BTreeSet};

use aegis_dr_core::{
    discover::{list_value, DiscoverContext, Discovery, Entry, Observed, Pick, Serving, Table},
    plan::WorkloadKind,
    Error, Result, SiteRole,
};
use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{ConfigMap, Namespace},
};
use kube::{api::ListParams, Api, Client, Resource};

use crate::workloads::Workload;

/// Namespaces of the cluster itself, never an application's.
const SYSTEM: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

async fn names<K>(api: Api<K>, what: &str) -> Result<Vec<K>>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    crate::workloads::list_all(&api, ListParams::default().limit(500), what).await
}

fn name_of<K: Resource>(k: &K) -> String {
    k.meta().name.clone().unwrap_or_default()
}

async fn workloads<K: Workload>(
    c: &Client,
    ns: &str,
    site: SiteRole,
) -> Result<BTreeMap<String, u32>> {
    let what = format!("{} in namespace {ns} ({site} site)", K::PLURAL);
    Ok(names(Api::<K>::namespaced(c.clone(), ns), &what)
        .await?
        .iter()
        .map(|w| (name_of(w), w.replicas()))
        .collect())
}

/// Reads both sites' clusters.
pub(crate) async fn discover(ctx: &DiscoverContext) -> Result<Discovery> {
    let plan = &ctx.plan;
    let mut clients = BTreeMap::new();
    for role in [SiteRole::Primary, SiteRole::Dr] {
        let s = plan.site(role);
        if !s.uses_kubernetes() {
            return Err(Error::config(format!(
                "sites.{role}: init reads Kubernetes workloads in both sites' clusters: give this site a kubeconfig or context too"
            )));
        }
        let kc = s.kubeconfig.as_ref().map(std::path::PathBuf::from);
        let client = crate::client_for(
            kc.as_deref(),
            s.context.as_deref(),
            &format!("sites.{role}.context"),
        )
        .await?;
        clients.insert(role, client);
    }
    let mut d = Discovery::new(ctx.name.clone(), vec![Table::Workloads]);
    let mut spaces: BTreeMap<SiteRole, BTreeSet<String>> = BTreeMap::new();
    for (role, c) in &clients {
        let all = names(
            Api::<Namespace>::all(c.clone()),
            &format!("namespaces ({role} site)"),
        )
        .await?;
        spaces.insert(
            *role,
            all.iter()
                .map(name_of)
                .filter(|n| !SYSTEM.contains(&n.as_str()))
                .collect(),
        );
    }
    let (p, r) = (&spaces[&SiteRole::Primary], &spaces[&SiteRole::Dr]);
    for (role, only) in [
        (SiteRole::Primary, p.difference(r)),
        (SiteRole::Dr, r.difference(p)),
    ] {
        for ns in only.filter(|n| ctx.scope.admits_name(n)) {
            d.skipped
                .push(format!("namespace {ns}: only in the {role} site's cluster"));
        }
    }
    let mut maps = Vec::new();
    for ns in p.intersection(r) {
        for kind in [WorkloadKind::Deployment, WorkloadKind::StatefulSet] {
            let mut at = BTreeMap::new();
            for (role, c) in &clients {
                let found = match kind {
                    WorkloadKind::Deployment => workloads::<Deployment>(c, ns, *role).await?,
                    WorkloadKind::StatefulSet => workloads::<StatefulSet>(c, ns, *role).await?,
                };
                at.insert(*role, found);
            }
            let (wp, wd) = (&at[&SiteRole::Primary], &at[&SiteRole::Dr]);
            let all: BTreeSet<&String> = wp.keys().chain(wd.keys()).collect();
            for name in all {
                if !(ctx.scope.admits_name(ns) || ctx.scope.admits_name(name)) {
                    continue;
                }
                match (wp.get(name), wd.get(name)) {
                    (Some(&pn), Some(&dn)) => {
                        d.entries
                            .push(entry(ns, kind, name, pn, dn, &mut d.serving))
                    }
                    (Some(_), None) => d.skipped.push(format!(
                        "{kind:?} {ns}/{name}: only in the primary site's cluster"
                    )),
                    _ => d.skipped.push(format!(
                        "{kind:?} {ns}/{name}: only in the DR site's cluster"
                    )),
                }
            }
        }
        let mut both: Option<BTreeSet<String>> = None;
        for (role, c) in &clients {
            let here: BTreeSet<String> = names(
                Api::<ConfigMap>::namespaced(c.clone(), ns),
                &format!("configmaps in namespace {ns} ({role} site)"),
            )
            .await?
            .iter()
            .map(name_of)
            .filter(|n| n != "kube-root-ca.crt")
            .collect();
            both = Some(match both {
                None => here,
                Some(b) => b.intersection(&here).cloned().collect(),
            });
        }
        if ctx.scope.admits_name(ns) {
            maps.extend(
                both.unwrap_or_default()
                    .into_iter()
                    .map(|m| format!("{ns}/{m}")),
            );
        }
    }
    if !maps.is_empty() {
        d.checks.push((
            "config_maps".into(),
            Pick::known(
                list_value(&maps),
                "ConfigMaps present in both sites' clusters",
            ),
        ));
    }
    Ok(d)
}

/// A workload present at both sites: the larger count is production, the smaller standby; the
/// site running more serves now (equal counts say nothing).
fn entry(
    ns: &str,
    kind: WorkloadKind,
    name: &str,
    p: u32,
    d: u32,
    serving: &mut Vec<Serving>,
) -> Entry {
    let what = format!("{kind:?} {ns}/{name}");
    if p != d {
        let site = if p > d {
            SiteRole::Primary
        } else {
            SiteRole::Dr
        };
        serving.push(Serving {
            site,
            why: format!(
                "{what} runs {} replicas at the {site} site, {} at the other",
                p.max(d),
                p.min(d)
            ),
        });
    }
    let mut e = Entry::new(
        Table::Workloads,
        Observed::Workload {
            namespace: ns.to_string(),
            kind,
            name: name.to_string(),
            replicas: [(SiteRole::Primary, p), (SiteRole::Dr, d)]
                .into_iter()
                .collect(),
        },
    )
    .with(
        "name",
        Pick::known(format!("{ns}-{name}"), format!("{what}, in both clusters")),
    )
    .with("namespace", Pick::known(ns, "its namespace"));
    if kind == WorkloadKind::StatefulSet {
        e = e.with("kind", Pick::known("StatefulSet", "its kind"));
    }
    e = e.with(
        "deployments",
        Pick::known(list_value(&[name.to_string()]), "its name"),
    );
    if p.max(d) == 0 {
        // Scaled to zero at both sites: nothing says what production runs.
        return e
            .with(
                "production_replicas",
                Pick::choose(
                    Vec::new(),
                    format!(
                        "{what} runs no replica at either site now: write what production runs"
                    ),
                ),
            )
            .with(
                "standby_replicas",
                Pick::known(0_i64, "spec.replicas at both sites now"),
            );
    }
    e.with(
        "production_replicas",
        Pick::known(
            i64::from(p.max(d)),
            format!("the larger spec.replicas of the two sites now ({p} primary, {d} DR)"),
        ),
    )
    .with(
        "standby_replicas",
        Pick::known(
            i64::from(p.min(d)),
            "the smaller spec.replicas of the two sites now",
        ),
    )
}
