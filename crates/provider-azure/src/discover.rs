//! `aegis-dr init` and `drift` on Azure: SQL failover groups between the two sites' resource
//! groups, Traffic Manager profiles and Azure DNS record sets in the shared resource group
//! (`[providers.azure] resource_group`), and the agent pools of each Azure site's AKS cluster.
//! Resource groups say which site a resource is at; list calls only, nothing is written.

use std::collections::BTreeMap;

use aegis_dr_core::{
    discover::{
        cluster_pick, names::names_region, pool_entries, record_entries, DiscoverContext,
        Discovery, Entry, Observed, Pick, PoolRead, RecordRead, Scope, Serving, Table,
    },
    plan::RecordTargets,
    Error, ErrorKind, Result, SiteRole,
};
use serde_json::Value;

use crate::{
    arm::Arm,
    dns::{DNS_API, TM_API, TRAFFIC_MANAGER_ZONE},
    settings::{AzureSettings, ResourceGroup},
};

const SITES: [SiteRole; 2] = [SiteRole::Primary, SiteRole::Dr];

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

fn tags(v: &Value) -> Vec<(&str, &str)> {
    v["tags"]
        .as_object()
        .map(|t| {
            t.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// The resource group and name in an ARM id (`/subscriptions/s/resourceGroups/rg/providers/.../name`).
fn group_and_name(id: &str) -> Option<(String, String)> {
    let segs: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    let at = segs
        .iter()
        .position(|s| s.eq_ignore_ascii_case("resourceGroups"))?;
    Some((segs.get(at + 1)?.to_string(), segs.last()?.to_string()))
}

/// What discovery reads with: both sites' resource groups and the sites' regions.
struct Estate<'a> {
    arm: &'a Arm,
    groups: BTreeMap<SiteRole, ResourceGroup>,
    regions: BTreeMap<SiteRole, String>,
    scope: &'a Scope,
}

impl Estate<'_> {
    fn site_of_group(&self, rg: &str) -> Option<SiteRole> {
        SITES
            .into_iter()
            .find(|s| self.groups[s].name.eq_ignore_ascii_case(rg))
    }
}

/// Reads the Azure part of the estate of `ctx`'s sites.
pub(crate) async fn discover(ctx: &DiscoverContext, arm: &Arm) -> Result<Discovery> {
    let plan = &ctx.plan;
    let mut groups = BTreeMap::new();
    for site in SITES {
        let g = AzureSettings::of(plan, Some(site))?
            .group(Some(site), "init")
            .map_err(|e| {
                Error::config(format!(
                    "{e} (init reads Azure in each site's resource group: --azure-resource-groups PRIMARY,DR[,SHARED])"
                ))
            })?;
        groups.insert(site, g);
    }
    if groups[&SiteRole::Primary]
        .name
        .eq_ignore_ascii_case(&groups[&SiteRole::Dr].name)
    {
        return Err(Error::config(format!(
            "sites.primary.azure and sites.dr.azure: both sites' resources are in resource group {}; init tells the sites apart by their groups, so give each its own (--azure-resource-groups PRIMARY,DR[,SHARED])",
            groups[&SiteRole::Primary].name
        )));
    }
    let regions = SITES
        .into_iter()
        .map(|s| (s, plan.site(s).region.clone()))
        .collect();
    let e = Estate {
        arm,
        groups,
        regions,
        scope: &ctx.scope,
    };
    let wide = AzureSettings::of(plan, None)?;
    let on_sites: Vec<SiteRole> = SITES
        .into_iter()
        .filter(|s| plan.site(*s).provider == ctx.name)
        .collect();
    let mut covers = vec![Table::Databases];
    let shared = wide
        .resource_group
        .is_some()
        .then(|| wide.group(None, "dns_records"))
        .transpose()?;
    if shared.is_some() {
        covers.push(Table::DnsRecords);
    }
    if !on_sites.is_empty() {
        covers.push(Table::NodePools);
    }
    let mut d = Discovery::new(ctx.name.clone(), covers);
    sql(&e, &mut d).await?;
    match &shared {
        Some(g) => {
            traffic_manager(&e, g, &mut d).await?;
            dns(&e, g, &mut d).await?;
        }
        None => d.skipped.push(
            "Traffic Manager and Azure DNS: no shared resource group given (the third of --azure-resource-groups, or [providers.azure] resource_group), so none was read".into(),
        ),
    }
    pools(&e, &on_sites, plan, &mut d).await?;
    Ok(d)
}

/// Failover groups of the primary site's servers whose partner is in the DR site's group.
async fn sql(e: &Estate<'_>, d: &mut Discovery) -> Result<()> {
    let primary = &e.groups[&SiteRole::Primary];
    let servers = e
        .arm
        .list(&primary.resource("Microsoft.Sql/servers"), crate::sql::API)
        .await?;
    for server in &servers {
        let name = text(server, "name");
        if !e.scope.admits_tags(tags(server)) {
            continue;
        }
        let fogs = e
            .arm
            .list(
                &primary.resource(&format!("Microsoft.Sql/servers/{name}/failoverGroups")),
                crate::sql::API,
            )
            .await?;
        if fogs.is_empty() && e.scope.admits_name(name) {
            d.skipped.push(format!(
                "SQL server {name}: in no failover group, so nothing fails it over"
            ));
        }
        for g in &fogs {
            if let Some(entry) = failover_group(e, name, g, d)? {
                d.entries.push(entry);
            }
        }
    }
    Ok(())
}

fn failover_group(
    e: &Estate<'_>,
    server: &str,
    g: &Value,
    d: &mut Discovery,
) -> Result<Option<Entry>> {
    let group = text(g, "name");
    let props = &g["properties"];
    let partner = props["partnerServers"][0]["id"]
        .as_str()
        .and_then(group_and_name);
    let Some((partner_rg, partner)) = partner else {
        return Err(Error::new(
            ErrorKind::Provider,
            format!("failover group {group} of {server}: Azure's answer names no partner server"),
        ));
    };
    // In scope by its servers' names: drift compares pairs by them.
    if ![server, partner.as_str()]
        .iter()
        .any(|n| e.scope.admits_name(n))
    {
        return Ok(None);
    }
    if e.site_of_group(&partner_rg) != Some(SiteRole::Dr) {
        d.skipped.push(format!(
            "failover group {group}: its partner {partner} is in resource group {partner_rg}, not the DR site's ({})",
            e.groups[&SiteRole::Dr].name
        ));
        return Ok(None);
    }
    let (writer, reader, serving) = match text(props, "replicationRole") {
        "Primary" => (server, partner.as_str(), SiteRole::Primary),
        "Secondary" => (partner.as_str(), server, SiteRole::Dr),
        other => {
            return Err(Error::new(
                ErrorKind::Provider,
                format!("failover group {group}: {server}'s replication role is `{other}`, neither Primary nor Secondary"),
            ))
        }
    };
    d.serving.push(Serving {
        site: serving,
        why: format!("{writer} is the primary of failover group {group}"),
    });
    Ok(Some(
        Entry::new(
            Table::Databases,
            Observed::Database {
                primary: writer.to_string(),
                dr: Some(reader.to_string()),
            },
        )
        .with("name", Pick::known(group, "the failover group's name"))
        .with(
            "primary",
            Pick::known(server, format!("the member of failover group {group} in the primary site's resource group")),
        )
        .with(
            "dr",
            Pick::known(partner.as_str(), format!("the group's partner server, in the DR site's resource group {partner_rg}")),
        )
        .with("engine", Pick::known("azure-sql", "a logical SQL server"))
        .with("options.failover_group", Pick::known(group, "the failover group"))
        .with(
            "options.fence",
            Pick::known("tag", "marks the old primary only (\"public-network-access\" also closes its public endpoint, given a private endpoint)"),
        ),
    ))
}

/// The site an endpoint is at: its `endpointLocation`, else a region named in its target.
fn endpoint_site(e: &Estate<'_>, ep: &Value) -> Option<SiteRole> {
    let props = &ep["properties"];
    let location: String = text(props, "endpointLocation")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    SITES.into_iter().find(|s| {
        let region = &e.regions[s];
        (!location.is_empty() && location == region.to_ascii_lowercase())
            || names_region(text(props, "target"), region)
    })
}

/// Traffic Manager profiles with one endpoint at each site.
async fn traffic_manager(e: &Estate<'_>, shared: &ResourceGroup, d: &mut Discovery) -> Result<()> {
    let profiles = e
        .arm
        .list(
            &shared.resource("Microsoft.Network/trafficmanagerprofiles"),
            TM_API,
        )
        .await?;
    for p in &profiles {
        let props = &p["properties"];
        let name = text(p, "name");
        // The plan names a profile `<resource name>.trafficmanager.net` (how the provider finds
        // it); clients resolve `relativeName`'s, the same unless set apart.
        let fqdn = format!("{name}.{TRAFFIC_MANAGER_ZONE}");
        let relative = text(&props["dnsConfig"], "relativeName");
        if !(e.scope.admits_name(name) || e.scope.admits_name(&fqdn))
            || !e.scope.admits_tags(tags(p))
        {
            continue;
        }
        let endpoints = props["endpoints"].as_array().cloned().unwrap_or_default();
        let at = |site: SiteRole| -> Vec<&Value> {
            endpoints
                .iter()
                .filter(|ep| endpoint_site(e, ep) == Some(site))
                .collect()
        };
        let (pe, de) = (at(SiteRole::Primary), at(SiteRole::Dr));
        let ([pe], [de]) = (pe.as_slice(), de.as_slice()) else {
            d.skipped.push(format!(
                "Traffic Manager profile {name}: {} endpoint(s) at the primary site's region and {} at the DR's; init writes a profile with one at each",
                pe.len(),
                de.len()
            ));
            continue;
        };
        let target = |ep: &Value| text(&ep["properties"], "target").to_string();
        let enabled: Vec<String> = endpoints
            .iter()
            .filter(|ep| text(&ep["properties"], "endpointStatus") == "Enabled")
            .map(target)
            .collect();
        for (site, ep) in [(SiteRole::Primary, pe), (SiteRole::Dr, de)] {
            if enabled.len() == 1 && enabled[0] == target(ep) {
                d.serving.push(Serving {
                    site,
                    why: format!(
                        "Traffic Manager profile {name} routes only to {}",
                        target(ep)
                    ),
                });
            }
        }
        let ttl = props["dnsConfig"]["ttl"]
            .as_u64()
            .and_then(|t| u32::try_from(t).ok());
        let from = |ep: &Value| format!("endpoint {} of profile {name}", text(ep, "name"));
        let mut notes = Vec::new();
        if !relative.is_empty() && !relative.eq_ignore_ascii_case(name) {
            notes.push(format!("clients resolve {relative}.{TRAFFIC_MANAGER_ZONE}; the plan names the profile by its resource name"));
        }
        if enabled.len() > 1 {
            notes.push("both endpoints are enabled now: aegis-dr reads the profile as pointing at both (drift says so) and a failover disables the primary's".to_string());
        }
        let mut entry = Entry::new(
                Table::DnsRecords,
                Observed::Record {
                    name: fqdn.clone(),
                    targets: RecordTargets::new(enabled.clone()),
                },
            )
            .with(
                "name",
                Pick::known(fqdn.as_str(), "the Traffic Manager profile's name"),
            )
            .with(
                "zone",
                Pick::known(TRAFFIC_MANAGER_ZONE, "a Traffic Manager profile"),
            )
            .with(
                "type",
                Pick::known("CNAME", "a profile answers with a CNAME"),
            )
            .with("primary_target", Pick::known(target(pe), from(pe)))
            .with("dr_target", Pick::known(target(de), from(de)))
            .with(
                "ttl",
                match ttl {
                    Some(t) if (1..=172_800).contains(&t) => {
                        Pick::known(t, "the profile's dnsConfig.ttl")
                    }
                    _ => Pick::choose(
                        Vec::new(),
                        format!("profile {name} gave no TTL a plan takes (1 to 172800 s): write the one to keep in normal operation"),
                    ),
                },
            );
        if !notes.is_empty() {
            entry = entry.commented(notes.join("; "));
        }
        d.entries.push(entry);
    }
    Ok(())
}

/// One record set as [`RecordRead`]: its values by type.
fn record_read(zone: &str, rs: &Value) -> Option<RecordRead> {
    let rtype = text(rs, "type").rsplit('/').next()?.to_ascii_uppercase();
    let props = &rs["properties"];
    let values = |key: &str, field: &str| -> Vec<String> {
        props[key]
            .as_array()
            .map(|a| a.iter().map(|v| text(v, field).to_string()).collect())
            .unwrap_or_default()
    };
    let targets = match rtype.as_str() {
        "CNAME" => vec![text(&props["CNAMERecord"], "cname")
            .trim_end_matches('.')
            .to_string()],
        "A" => values("ARecords", "ipv4Address"),
        "AAAA" => values("AAAARecords", "ipv6Address"),
        _ => return None,
    };
    Some(RecordRead {
        zone: zone.to_string(),
        name: text(props, "fqdn").trim_end_matches('.').to_string(),
        rtype,
        targets,
        ttl: props["TTL"].as_u64().and_then(|t| u32::try_from(t).ok()),
    })
}

/// Azure DNS record sets of the shared group's zones.
async fn dns(e: &Estate<'_>, shared: &ResourceGroup, d: &mut Discovery) -> Result<()> {
    let zones = e
        .arm
        .list(&shared.resource("Microsoft.Network/dnsZones"), DNS_API)
        .await?;
    let mut reads = Vec::new();
    for z in zones.iter().filter(|z| e.scope.admits_tags(tags(z))) {
        let zone = text(z, "name");
        let sets = e
            .arm
            .list(
                &shared.resource(&format!("Microsoft.Network/dnsZones/{zone}/recordsets")),
                DNS_API,
            )
            .await?;
        reads.extend(sets.iter().filter_map(|rs| record_read(zone, rs)));
    }
    record_entries("Azure DNS", &reads, &e.regions, e.scope, d);
    Ok(())
}

/// The agent pools of each Azure site's AKS cluster (the site's `cluster`, else the clusters in
/// its resource group).
async fn pools(
    e: &Estate<'_>,
    on_sites: &[SiteRole],
    plan: &aegis_dr_core::Plan,
    d: &mut Discovery,
) -> Result<()> {
    let mut found = Vec::new();
    for &site in on_sites {
        let rg = &e.groups[&site];
        // The site's cluster and those its plan's pools name (drift), else every one in its
        // group in scope (init).
        let named: Vec<String> = plan
            .site(site)
            .cluster
            .iter()
            .chain(
                plan.node_pools
                    .iter()
                    .filter(|n| n.site == site && !n.cluster.is_empty())
                    .map(|n| &n.cluster),
            )
            .cloned()
            .collect();
        let mut clusters: Vec<String> = if named.is_empty() {
            e.arm
                .list(
                    &rg.resource("Microsoft.ContainerService/managedClusters"),
                    crate::aks::API,
                )
                .await?
                .iter()
                .filter(|c| e.scope.admits_tags(tags(c)))
                .map(|c| text(c, "name").to_string())
                .collect()
        } else {
            named
        };
        clusters.sort();
        clusters.dedup();
        if plan.site(site).cluster.is_none() {
            let at = format!("AKS clusters in resource group {}", rg.name);
            if let Some(p) = cluster_pick(&clusters, &at) {
                d.site_keys
                    .entry(site)
                    .or_default()
                    .push(("cluster".into(), p));
            }
        }
        for cluster in &clusters {
            let listed = e
                .arm
                .list(
                    &rg.resource(&format!(
                        "Microsoft.ContainerService/managedClusters/{cluster}/agentPools"
                    )),
                    crate::aks::API,
                )
                .await?;
            for p in &listed {
                let name = text(p, "name");
                if !(e.scope.admits_name(name) || e.scope.admits_name(cluster)) {
                    continue;
                }
                // A count that is not there is unknown: the read stops rather than drop the pool
                // (drift would call it gone).
                let n = crate::aks::count(p, "count").ok_or_else(|| {
                    Error::new(
                        ErrorKind::Provider,
                        format!("agent pool {cluster}/{name}: Azure's answer has no count"),
                    )
                })?;
                found.push(PoolRead {
                    site,
                    name: name.to_string(),
                    cluster: (clusters.len() > 1).then(|| cluster.clone()),
                    size: crate::aks::size_of(p, n),
                    size_from: "the agent pool's count (and autoscaler bounds)".into(),
                    name_from: format!("an agent pool of AKS cluster {cluster}"),
                    extra: Vec::new(),
                });
            }
        }
    }
    pool_entries(&found, &e.regions, on_sites, d);
    Ok(())
}
