//! EKS managed node groups and Auto Scaling groups (with their current sizes), paired with their
//! twins at the other site; DRS source servers.

use std::collections::BTreeMap;

use aegis_dr_core::{
    discover::{pool_entries, Discovery, Entry, Observed, Pick, PoolRead, Scope, Serving, Table},
    plan::PoolSize,
    Result, SiteRole,
};

use super::{in_region, next_token, Sites};
use crate::{error::map_sdk_error, iam};

fn size(min: Option<i32>, max: Option<i32>, desired: Option<i32>) -> Option<PoolSize> {
    let n = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok());
    Some(PoolSize {
        min: n(min)?,
        max: n(max)?,
        desired: n(desired)?,
    })
}

async fn eks(
    sites: &Sites,
    scope: &Scope,
    d: &mut Discovery,
) -> Result<(Vec<PoolRead>, Vec<String>, BTreeMap<SiteRole, Vec<String>>)> {
    let mut pools = Vec::new();
    let mut backing = Vec::new();
    let mut clusters: BTreeMap<SiteRole, Vec<String>> = BTreeMap::new();
    for (site, region, c) in sites.clients(|c, r| aws_sdk_eks::Client::new(&in_region(c, r))) {
        let mut token = None;
        let mut names = Vec::new();
        loop {
            let page = c
                .list_clusters()
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| map_sdk_error(iam::EKS_LIST_CLUSTERS, &region, e))?;
            names.extend(page.clusters().iter().cloned());
            token = next_token(page.next_token(), &token, &region)?;
            if token.is_none() {
                break;
            }
        }
        for cluster in names {
            let mut groups = Vec::new();
            let mut token = None;
            loop {
                let page = c
                    .list_nodegroups()
                    .cluster_name(&cluster)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| map_sdk_error(iam::EKS_LIST_NODEGROUPS, &cluster, e))?;
                groups.extend(page.nodegroups().iter().cloned());
                token = next_token(page.next_token(), &token, &cluster)?;
                if token.is_none() {
                    break;
                }
            }
            let mut any = false;
            for g in groups {
                let out = c
                    .describe_nodegroup()
                    .cluster_name(&cluster)
                    .nodegroup_name(&g)
                    .send()
                    .await
                    .map_err(|e| map_sdk_error(iam::EKS_DESCRIBE_NODEGROUP, &g, e))?;
                let Some(ng) = out.nodegroup() else { continue };
                for a in ng
                    .resources()
                    .map(|r| r.auto_scaling_groups())
                    .unwrap_or_default()
                {
                    backing.extend(a.name().map(str::to_string));
                }
                let tags = ng
                    .tags()
                    .map(|t| {
                        t.iter()
                            .map(|(k, v)| (k.as_str(), v.as_str()))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                if !(scope.admits_name(&g) || scope.admits_name(&cluster))
                    || !scope.admits_tags(tags)
                {
                    continue;
                }
                let s = ng
                    .scaling_config()
                    .and_then(|s| size(s.min_size(), s.max_size(), s.desired_size()));
                let Some(s) = s else {
                    d.skipped.push(format!(
                        "node group {cluster}/{g}: EKS gave no complete scaling config"
                    ));
                    continue;
                };
                any = true;
                pools.push(PoolRead {
                    site,
                    name: g,
                    cluster: Some(cluster.clone()),
                    size: s,
                    size_from: "the node group's scalingConfig".into(),
                    name_from: "the EKS node group's name".into(),
                    extra: Vec::new(),
                });
            }
            if any {
                clusters.entry(site).or_default().push(cluster);
            }
        }
    }
    Ok((pools, backing, clusters))
}

async fn asgs(
    sites: &Sites,
    scope: &Scope,
    backing: &[String],
    d: &mut Discovery,
) -> Result<Vec<PoolRead>> {
    let mut pools = Vec::new();
    for (site, region, c) in
        sites.clients(|c, r| aws_sdk_autoscaling::Client::new(&in_region(c, r)))
    {
        let mut token = None;
        loop {
            let page = c
                .describe_auto_scaling_groups()
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| map_sdk_error(iam::ASG_DESCRIBE, &region, e))?;
            for g in page.auto_scaling_groups() {
                let name = g.auto_scaling_group_name().unwrap_or_default().to_string();
                let tags: Vec<(&str, &str)> = g
                    .tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
                    .collect();
                let managed =
                    backing.contains(&name) || tags.iter().any(|(k, _)| *k == "eks:nodegroup-name");
                if managed || !scope.admits_name(&name) || !scope.admits_tags(tags) {
                    continue;
                }
                match size(g.min_size(), g.max_size(), g.desired_capacity()) {
                    Some(s) => pools.push(PoolRead {
                        site,
                        name: name.clone(),
                        cluster: None,
                        size: s,
                        size_from: "the Auto Scaling group's sizes".into(),
                        name_from: "the Auto Scaling group's name".into(),
                        extra: vec![(
                            "autoscaling_group".into(),
                            Pick::known(name, "an Auto Scaling group of no EKS node group"),
                        )],
                    }),
                    None => d
                        .skipped
                        .push(format!("Auto Scaling group {name}: no complete sizes")),
                }
            }
            token = next_token(page.next_token(), &token, &region)?;
            if token.is_none() {
                break;
            }
        }
    }
    Ok(pools)
}

/// Reads node pools at the AWS sites into `d`: each pool's size now is its size for the role its
/// site has now; its size for the other role is its twin's (same name but for the site words).
pub(super) async fn discover(sites: &Sites, scope: &Scope, d: &mut Discovery) -> Result<()> {
    let (mut pools, backing, clusters) = eks(sites, scope, d).await?;
    pools.extend(asgs(sites, scope, &backing, d).await?);
    for (site, names) in &clusters {
        let pick = match names.as_slice() {
            [one] => Pick::known(one.as_str(), format!("the only EKS cluster in scope in {}", sites.region(*site).unwrap_or_default())),
            many => Pick::choose(many.to_vec(), format!("{} EKS clusters are in scope at the {site} site: pick the one reports name (each pool names its own)", many.len())),
        };
        d.site_keys
            .entry(*site)
            .or_default()
            .push(("cluster".into(), pick));
    }
    // A pool names its cluster only where its site has several in scope.
    for p in &mut pools {
        if clusters.get(&p.site).is_none_or(|cs| cs.len() < 2) {
            p.cluster = None;
        }
    }
    let read: Vec<SiteRole> = sites.by_site.keys().copied().collect();
    pool_entries(&pools, &sites.regions, &read, d);
    Ok(())
}

/// Reads the DRS source servers (in the DR region, where DRS recovers them) into `d`.
pub(super) async fn discover_servers(
    sites: &Sites,
    scope: &Scope,
    d: &mut Discovery,
) -> Result<()> {
    let Some((config, region)) = sites.by_site.get(&SiteRole::Dr) else {
        return Ok(());
    };
    let c = aws_sdk_drs::Client::new(&in_region(config, region));
    let mut token = None;
    loop {
        let page = c
            .describe_source_servers()
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::DRS_DESCRIBE_SOURCE_SERVERS, region, e))?;
        for s in page.items() {
            let id = s.source_server_id().unwrap_or_default().to_string();
            let tags: Vec<(&str, &str)> = s
                .tags()
                .map(|t| t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
                .unwrap_or_default();
            let hostname = s
                .source_properties()
                .and_then(|p| p.identification_hints())
                .and_then(|h| h.hostname())
                .map(str::to_string);
            let named = tags
                .iter()
                .find(|(k, _)| *k == "Name")
                .map(|(_, v)| v.to_string())
                .or(hostname);
            if !scope.admits_name(named.as_deref().unwrap_or(&id))
                || !scope.admits_tags(tags.iter().copied())
            {
                continue;
            }
            let state = s
                .data_replication_info()
                .and_then(|i| i.data_replication_state())
                .map(|s| s.as_str().to_string());
            if state.as_deref() == Some("DISCONNECTED") {
                d.skipped.push(format!(
                    "DRS source server {id}: disconnected, so not protected"
                ));
                continue;
            }
            if s.replication_direction().map(|r| r.as_str()) == Some("FAILBACK") {
                d.serving.push(Serving { site: SiteRole::Dr, why: format!("DRS source server {id} replicates for failback (its recovery instance serves)") });
            }
            let (name, from) = match &named {
                Some(n) => (n.clone(), "its Name tag or hostname"),
                None => (id.clone(), "its id (it has no Name tag or hostname)"),
            };
            d.entries.push(
                Entry::new(
                    Table::RecoveryServers,
                    Observed::RecoveryServer { id: id.clone() },
                )
                .with("name", Pick::known(name, from))
                .with(
                    "source_server_id",
                    Pick::known(id.as_str(), format!("DescribeSourceServers in {region}")),
                ),
            );
        }
        token = next_token(page.next_token(), &token, region)?;
        if token.is_none() {
            return Ok(());
        }
    }
}
