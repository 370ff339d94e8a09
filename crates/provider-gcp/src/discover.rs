//! `aegis-dr init` and `drift` on GCP, in the plan's project: Cloud SQL primaries with their
//! cross-region replica (or, with none, their HA zones), Cloud DNS record sets whose target names a
//! site's region, and the node pools of each GCP site's GKE clusters (sizes read as a run reads
//! them). List calls only, through Google's clients; nothing is written.

use std::collections::BTreeMap;

use aegis_dr_core::{
    discover::{
        cluster_pick, names::next_token, pool_entries, record_entries, DiscoverContext, Discovery,
        Entry, Observed, Pick, PoolRead, RecordRead, Scope, Serving, Table,
    },
    provider::{NodeScaler, PoolRef},
    Error, ErrorKind, Result, SiteRole,
};
use google_cloud_container_v1::model::Cluster;
use google_cloud_sql_v1::model::{DatabaseInstance, SqlAvailabilityType};

use crate::{
    client::{configure, on, AegisRetry, Google},
    settings::GcpSettings,
    GcpProvidersBuilder, GkeNodes,
};

const SITES: [SiteRole; 2] = [SiteRole::Primary, SiteRole::Dr];

/// Reads the GCP part of the estate of `ctx`'s sites.
pub(crate) async fn discover(ctx: &DiscoverContext, b: &GcpProvidersBuilder) -> Result<Discovery> {
    let plan = &ctx.plan;
    // Cloud SQL and Cloud DNS in the plan-wide project (else the primary site's); pools in each
    // site's own.
    let project = match GcpSettings::of(plan, None)?.project {
        Some(p) => p,
        None => GcpSettings::of(plan, Some(SiteRole::Primary))?
            .project(Some(SiteRole::Primary), "discovery (init: --gcp-project)")?,
    };
    let g = b.google()?;
    let on_sites: Vec<SiteRole> = SITES
        .into_iter()
        .filter(|s| plan.site(*s).provider == ctx.name)
        .collect();
    let regions: BTreeMap<SiteRole, String> = SITES
        .into_iter()
        .map(|s| (s, plan.site(s).region.clone()))
        .collect();
    let mut covers = vec![Table::Databases, Table::DnsRecords];
    if !on_sites.is_empty() {
        covers.push(Table::NodePools);
    }
    let mut d = Discovery::new(ctx.name.clone(), covers);
    let sites_here = (on_sites.len() == 2).then_some(&regions);
    sql(&g, &project, sites_here, &ctx.scope, &mut d).await?;
    dns(&g, &project, &regions, &ctx.scope, &mut d).await?;
    pools(ctx, &g, &on_sites, &regions, &mut d).await?;
    Ok(d)
}

async fn instances(g: &Google, project: &str) -> Result<Vec<DatabaseInstance>> {
    let c = configure!(
        g,
        google_cloud_sql_v1::client::SqlInstancesService::builder()
    );
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .list()
            .set_project(project)
            .set_page_token(token.clone())
            .send()
            .await
            .map_err(on(
                &format!("Cloud SQL instances of {project}"),
                "cloudsql.instances.list",
            ))?;
        out.extend(page.items);
        let used = Some(token).filter(|t| !t.is_empty());
        match next_token(Some(&page.next_page_token), &used, "Cloud SQL instances")? {
            Some(t) => token = t,
            None => return Ok(out),
        }
    }
}

fn engine(i: &DatabaseInstance) -> &'static str {
    match i.database_version.name().unwrap_or_default() {
        v if v.starts_with("POSTGRES") => "cloudsql-postgres",
        v if v.starts_with("MYSQL") => "cloudsql-mysql",
        _ => "cloudsql-sqlserver",
    }
}

fn admits(scope: &Scope, i: &DatabaseInstance) -> bool {
    scope.admits_tags(
        i.settings
            .iter()
            .flat_map(|s| s.user_labels.iter())
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// Primaries paired with their cross-region replica (or their HA zones). `sites` holds both
/// sites' regions when both are on GCP: a pair must then span them.
async fn sql(
    g: &Google,
    project: &str,
    sites: Option<&BTreeMap<SiteRole, String>>,
    scope: &Scope,
    d: &mut Discovery,
) -> Result<()> {
    let all = instances(g, project).await?;
    let site_of = |region: &str| sites.and_then(|r| SITES.into_iter().find(|s| r[s] == region));
    for i in all.iter().filter(|i| i.master_instance_name.is_empty()) {
        let replicas: Vec<&DatabaseInstance> = all
            .iter()
            .filter(|r| crate::sql::master_name(r) == i.name && r.region != i.region)
            .collect();
        let named = std::iter::once(i)
            .chain(replicas.iter().copied())
            .any(|x| scope.admits_name(&x.name));
        if !named || !admits(scope, i) {
            continue;
        }
        let here = site_of(&i.region);
        if sites.is_some() && here.is_none() {
            d.skipped.push(format!(
                "Cloud SQL instance {} is in {}, neither site's region",
                i.name, i.region
            ));
            continue;
        }
        let candidates: Vec<&DatabaseInstance> = replicas
            .into_iter()
            .filter(|r| sites.is_none() || site_of(&r.region) == here.map(SiteRole::other))
            .collect();
        let e = match candidates.as_slice() {
            [r] => replica_pair(i, r, here, d),
            [] => match ha(i) {
                Some(e) => e,
                None => {
                    d.skipped.push(format!(
                        "Cloud SQL instance {}: no replica in the other site's region and not HA, so nothing to fail over to",
                        i.name
                    ));
                    continue;
                }
            },
            many => db_entry(
                i,
                Observed::Database {
                    primary: i.name.clone(),
                    dr: None,
                },
                Pick::known(i.name.as_str(), "an instance with replicas and no master"),
                Pick::choose(
                    many.iter().map(|r| r.name.clone()).collect(),
                    format!(
                        "{} has {} cross-region replicas: pick the one to promote",
                        i.name,
                        many.len()
                    ),
                ),
                ("replica", "cross-region replicas"),
            ),
        };
        d.entries.push(e);
    }
    Ok(())
}

/// `i` and its replica `r`, written site-wise (`here`: the site `i`, the writer, is at).
fn replica_pair(
    i: &DatabaseInstance,
    r: &DatabaseInstance,
    here: Option<SiteRole>,
    d: &mut Discovery,
) -> Entry {
    let from_master = format!("masterInstanceName of {}", r.name);
    let (primary, dr) = match here {
        Some(SiteRole::Dr) => {
            d.serving.push(Serving {
                site: SiteRole::Dr,
                why: format!(
                    "Cloud SQL {} in {} is the master of {}",
                    i.name, i.region, r.name
                ),
            });
            (
                Pick::known(
                    r.name.as_str(),
                    format!(
                        "the replica of {}, in the primary site's region {}",
                        i.name, r.region
                    ),
                ),
                Pick::known(i.name.as_str(), from_master),
            )
        }
        Some(SiteRole::Primary) => {
            d.serving.push(Serving {
                site: SiteRole::Primary,
                why: format!(
                    "Cloud SQL {} in {} is the master of {}",
                    i.name, i.region, r.name
                ),
            });
            (
                Pick::known(i.name.as_str(), from_master),
                Pick::known(
                    r.name.as_str(),
                    format!("its only replica in the DR site's region {}", r.region),
                ),
            )
        }
        None => (
            Pick::known(i.name.as_str(), from_master),
            Pick::known(
                r.name.as_str(),
                format!("its only cross-region replica ({})", r.region),
            ),
        ),
    };
    db_entry(
        i,
        Observed::Database {
            primary: i.name.clone(),
            dr: Some(r.name.clone()),
        },
        primary,
        dr,
        ("replica", "a cross-region replica"),
    )
}

/// The `[[databases]]` entry named after instance `i`, fenced by label.
fn db_entry(
    i: &DatabaseInstance,
    observed: Observed,
    primary: Pick,
    dr: Pick,
    (mode, mode_from): (&str, &str),
) -> Entry {
    Entry::new(Table::Databases, observed)
        .with("name", Pick::known(i.name.as_str(), "the instance's name"))
        .with("primary", primary)
        .with("dr", dr)
        .with("engine", Pick::known(engine(i), "its databaseVersion"))
        .with("options.mode", Pick::known(mode, mode_from))
        .with(
            "options.fence",
            Pick::known(
                "label",
                "marks the old primary only (\"read-only-flag\" also makes it read-only)",
            ),
        )
}

/// An HA instance as a pair of its zones (`mode = "ha"`).
fn ha(i: &DatabaseInstance) -> Option<Entry> {
    let regional = i
        .settings
        .as_ref()
        .is_some_and(|s| s.availability_type == SqlAvailabilityType::Regional);
    if !regional || i.gce_zone.is_empty() || i.secondary_gce_zone.is_empty() {
        return None;
    }
    let (p, s) = (
        format!("{}:{}", i.name, i.gce_zone),
        format!("{}:{}", i.name, i.secondary_gce_zone),
    );
    let comment = format!(
        "{} is HA within {} (no cross-region replica): this pair fails it over between its zones",
        i.name, i.region
    );
    Some(
        db_entry(
            i,
            Observed::Database {
                primary: p.clone(),
                dr: Some(s.clone()),
            },
            Pick::known(p, "its gceZone"),
            Pick::known(s, "its secondaryGceZone"),
            ("ha", "availabilityType REGIONAL"),
        )
        .commented(comment),
    )
}

/// Cloud DNS record sets of the project's zones (in scope by label).
async fn dns(
    g: &Google,
    project: &str,
    regions: &BTreeMap<SiteRole, String>,
    scope: &Scope,
    d: &mut Discovery,
) -> Result<()> {
    let zones_client = configure!(g, google_cloud_dns_v1::client::ManagedZones::builder());
    let sets_client = configure!(
        g,
        google_cloud_dns_v1::client::ResourceRecordSets::builder()
    );
    let what = format!("Cloud DNS managed zones of {project}");
    let mut zones = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = zones_client
            .list()
            .set_project(project)
            .set_or_clear_page_token(token.clone())
            .send()
            .await
            .map_err(on(&what, "dns.managedZones.list"))?;
        zones.extend(page.managed_zones);
        token = next_token(page.next_page_token.as_deref(), &token, &what)?;
        if token.is_none() {
            break;
        }
    }
    let mut reads = Vec::new();
    for z in zones
        .iter()
        .filter(|z| scope.admits_tags(z.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
    {
        let zone = z.name.clone().unwrap_or_default();
        let what = format!("record sets of managed zone {zone}");
        let mut token: Option<String> = None;
        loop {
            let page = sets_client
                .list()
                .set_project(project)
                .set_managed_zone(&zone)
                .set_or_clear_page_token(token.clone())
                .send()
                .await
                .map_err(on(&what, "dns.resourceRecordSets.list"))?;
            reads.extend(page.rrsets.iter().map(|rs| {
                RecordRead {
                    zone: zone.clone(),
                    name: rs
                        .name
                        .clone()
                        .unwrap_or_default()
                        .trim_end_matches('.')
                        .to_string(),
                    rtype: rs.r#type.clone().unwrap_or_default(),
                    targets: rs
                        .rrdatas
                        .iter()
                        .map(|t| t.trim_end_matches('.').to_string())
                        .collect(),
                    ttl: rs.ttl.and_then(|t| u32::try_from(t).ok()),
                }
            }));
            token = next_token(page.next_page_token.as_deref(), &token, &what)?;
            if token.is_none() {
                break;
            }
        }
    }
    record_entries("Cloud DNS", &reads, regions, scope, d);
    Ok(())
}

/// True when GKE location `l` (a region or a zone) is in `region`.
fn in_region(l: &str, region: &str) -> bool {
    l == region || l.strip_prefix(region).is_some_and(|z| z.starts_with('-'))
}

/// The clusters of `site` to read pools from: the site's `cluster` and those its plan's pools name
/// (drift), else every cluster in its region in scope (init).
fn site_clusters<'a>(
    ctx: &DiscoverContext,
    site: SiteRole,
    region: &str,
    listed: &'a [Cluster],
) -> Vec<&'a Cluster> {
    let s = ctx.plan.site(site);
    let named: Vec<&str> = s
        .cluster
        .iter()
        .map(String::as_str)
        .chain(
            ctx.plan
                .node_pools
                .iter()
                .filter(|n| n.site == site)
                .map(|n| n.cluster.as_str())
                .filter(|c| !c.is_empty()),
        )
        .collect();
    listed
        .iter()
        .filter(|cl| in_region(&cl.location, region))
        .filter(|cl| {
            if named.is_empty() {
                ctx.scope.admits_tags(
                    cl.resource_labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                )
            } else {
                named.contains(&cl.name.as_str())
            }
        })
        .collect()
}

/// The node pools of each GCP site's GKE clusters, in the site's project, sized as a run reads
/// them.
async fn pools(
    ctx: &DiscoverContext,
    g: &Google,
    on_sites: &[SiteRole],
    regions: &BTreeMap<SiteRole, String>,
    d: &mut Discovery,
) -> Result<()> {
    if on_sites.is_empty() {
        return Ok(());
    }
    let c = configure!(
        g,
        google_cloud_container_v1::client::ClusterManager::builder()
    );
    let mut found = Vec::new();
    for &site in on_sites {
        let project = GcpSettings::of(&ctx.plan, Some(site))?
            .project(Some(site), "node pools (init: --gcp-project)")?;
        let listed = c
            .list_clusters()
            .set_parent(format!("projects/{project}/locations/-"))
            .send()
            .await
            .map_err(on(
                &format!("GKE clusters of {project}"),
                "container.clusters.list",
            ))?;
        if !listed.missing_zones.is_empty() {
            // Clusters there are unknown, not absent.
            return Err(Error::new(
                ErrorKind::Unreachable,
                format!(
                    "GKE clusters of {project}: GKE could not list the zones {} (their clusters are unknown, so none are read)",
                    listed.missing_zones.join(", ")
                ),
            ));
        }
        let region = &regions[&site];
        let clusters = site_clusters(ctx, site, region, &listed.clusters);
        if ctx.plan.site(site).cluster.is_none() {
            let names: Vec<String> = clusters.iter().map(|c| c.name.clone()).collect();
            if let Some(p) = cluster_pick(&names, &format!("GKE clusters in {region}")) {
                d.site_keys
                    .entry(site)
                    .or_default()
                    .push(("cluster".into(), p));
            }
        }
        if let [one] = clusters.as_slice() {
            if &one.location != region {
                d.site_settings.entry(site).or_default().push((
                    "location".into(),
                    Pick::known(
                        one.location.as_str(),
                        format!("the location of GKE cluster {}", one.name),
                    ),
                ));
            }
        }
        for cl in &clusters {
            let nodes = GkeNodes::new(
                c.clone(),
                g.clone(),
                [(site, (project.clone(), cl.location.clone()))].into(),
                std::time::Duration::from_secs(60),
            );
            let parent = format!(
                "projects/{project}/locations/{}/clusters/{}",
                cl.location, cl.name
            );
            let pools = c
                .list_node_pools()
                .set_parent(&parent)
                .send()
                .await
                .map_err(on(
                    &format!("node pools of GKE cluster {}", cl.name),
                    "container.clusters.get",
                ))?;
            for p in &pools.node_pools {
                if !(ctx.scope.admits_name(&p.name) || ctx.scope.admits_name(&cl.name)) {
                    continue;
                }
                let at = PoolRef {
                    site,
                    cluster: cl.name.clone(),
                    name: p.name.clone(),
                };
                // A size that cannot be read stops the read: a pool left out would read as gone.
                let state = nodes.get_pool(&at).await?;
                found.push(PoolRead {
                    site,
                    name: p.name.clone(),
                    cluster: (clusters.len() > 1).then(|| cl.name.clone()),
                    size: state.size,
                    size_from: "its instance groups' targetSize (and autoscaler bounds)".into(),
                    name_from: format!("a node pool of GKE cluster {}", cl.name),
                    extra: Vec::new(),
                });
            }
        }
    }
    pool_entries(&found, regions, on_sites, d);
    Ok(())
}
