//! Node pools as plan entries: each pool's size now is its size for the role its site has now; its
//! size for the other role is its twin's (the pool at the other site with the same name but for
//! its site words). Shared by the providers that scale pools (EKS/ASG, AKS, GKE).

use std::collections::BTreeMap;

use super::{names::twin_key, size_value, Discovery, Entry, Observed, Pick, Table};
use crate::{plan::PoolSize, SiteRole};

/// A node pool read at one site.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolRead {
    /// Its site.
    pub site: SiteRole,
    /// Its name, as the plan writes it.
    pub name: String,
    /// Its cluster, written in the entry (when its site has several clusters in scope).
    pub cluster: Option<String>,
    /// Its size now.
    pub size: PoolSize,
    /// Where the size came from (`the node group's scalingConfig`).
    pub size_from: String,
    /// Where the name came from (`the EKS node group's name`).
    pub name_from: String,
    /// Keys written after `standby` (`autoscaling_group`).
    pub extra: Vec<(String, Pick)>,
}

/// Pushes one `[[node_pools]]` entry per pool read into `d`. `regions` are both sites' regions;
/// `read` the sites whose pools were read (a twin is looked for only there).
pub fn pool_entries(
    pools: &[PoolRead],
    regions: &BTreeMap<SiteRole, String>,
    read: &[SiteRole],
    d: &mut Discovery,
) {
    let names: Vec<&str> = regions.values().map(String::as_str).collect();
    let region = |s: SiteRole| regions.get(&s).map(String::as_str).unwrap_or_default();
    for p in pools {
        let key = twin_key(&p.name, &names);
        let twins: Vec<&PoolRead> = pools
            .iter()
            .filter(|o| o.site != p.site && !key.is_empty() && twin_key(&o.name, &names) == key)
            .collect();
        let other_site = p.site.other();
        let now = Pick::known(size_value(p.size), format!("{} now", p.size_from));
        let other = match twins.as_slice() {
            [t] => Pick::known(
                size_value(t.size),
                format!("the size of its twin {} at the {} site now", t.name, t.site),
            ),
            [] if !read.contains(&other_site) => Pick::choose(Vec::new(), format!(
                "{} does not read the {other_site} site's pools, so {} has no twin read here: write its size for the other role, as {{ min, max, desired }}",
                d.provider, p.name)),
            [] => Pick::choose(Vec::new(), format!(
                "no pool at the {other_site} site looks like the twin of {}: write its size for the other role, as {{ min, max, desired }}", p.name)),
            many => Pick::choose(Vec::new(), format!(
                "several pools at the {other_site} site look like the twin of {} ({}): write the size it should have for the other role, as {{ min, max, desired }}",
                p.name, many.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "))),
        };
        // The primary site serves production now unless the estate says otherwise (drift
        // matches either size).
        let (production, standby) = if p.site == SiteRole::Primary {
            (now, other)
        } else {
            (other, now)
        };
        let mut e = Entry::new(
            Table::NodePools,
            Observed::Pool {
                name: p.name.clone(),
                site: p.site,
                size: p.size,
            },
        )
        .with("name", Pick::known(p.name.as_str(), p.name_from.as_str()))
        .with(
            "site",
            Pick::known(p.site.as_str(), format!("its region, {}", region(p.site))),
        );
        if let Some(c) = &p.cluster {
            e = e.with("cluster", Pick::known(c.as_str(), "the pool's cluster"));
        }
        e = e.with("production", production).with("standby", standby);
        for (k, v) in &p.extra {
            e = e.with(k, v.clone());
        }
        d.entries.push(e);
    }
}

/// A site's `cluster` among the clusters in scope at it (`where_` says which: `GKE clusters in
/// us-central1`): none when there is none, the only one, or a choice among several.
pub fn cluster_pick(names: &[String], where_: &str) -> Option<Pick> {
    match names {
        [] => None,
        [one] => Some(Pick::known(
            one.as_str(),
            format!("the only one of the {where_}"),
        )),
        many => Some(Pick::choose(
            many.to_vec(),
            format!(
                "{} {where_} are in scope: pick the site's own (each pool names its cluster)",
                many.len()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ProviderName;

    fn pool(site: SiteRole, name: &str, desired: u32) -> PoolRead {
        PoolRead {
            site,
            name: name.into(),
            cluster: None,
            size: PoolSize {
                min: 1,
                max: 10,
                desired,
            },
            size_from: "the pool's count".into(),
            name_from: "the pool's name".into(),
            extra: Vec::new(),
        }
    }

    #[test]
    fn twins_give_the_other_role_and_a_missing_twin_is_a_choice() {
        let regions: BTreeMap<SiteRole, String> = [
            (SiteRole::Primary, "eastus".to_string()),
            (SiteRole::Dr, "westus".to_string()),
        ]
        .into();
        let mut d = Discovery::new(ProviderName("azure".into()), vec![Table::NodePools]);
        let pools = [
            pool(SiteRole::Primary, "web-eastus", 6),
            pool(SiteRole::Dr, "web-westus", 1),
            pool(SiteRole::Dr, "batch", 2),
        ];
        pool_entries(&pools, &regions, &[SiteRole::Primary, SiteRole::Dr], &mut d);
        let standby = d.entries[0].get("standby").expect("standby");
        assert_eq!(
            standby.value(),
            size_value(pools[1].size),
            "the twin's size"
        );
        let production = d.entries[1].get("production").expect("production");
        assert_eq!(production.value(), size_value(pools[0].size));
        assert!(
            matches!(d.entries[2].get("production"), Some(Pick::Choose { why, .. }) if why.contains("no pool at the primary site")),
            "{:?}",
            d.entries[2]
        );
        let mut one = Discovery::new(ProviderName("azure".into()), vec![Table::NodePools]);
        pool_entries(&pools[..1], &regions, &[SiteRole::Primary], &mut one);
        assert!(
            matches!(one.entries[0].get("standby"), Some(Pick::Choose { why, .. }) if why.contains("does not read the dr site's pools")),
            "{:?}",
            one.entries[0]
        );
    }
}
