//! RDS pairs: cross-region read replicas, Multi-AZ instances, Aurora global clusters, and the
//! fence parameter groups (writes disabled, present in both regions) each could use.

use std::collections::BTreeMap;

use aegis_dr_core::{
    discover::{Discovery, Entry, Observed, Pick, Scope, Serving, Table},
    Result, SiteRole,
};
use aws_sdk_rds::types::DbInstance;

use super::{in_region, next_token, Sites};
use crate::{error::map_sdk_error, iam};

type Client = aws_sdk_rds::Client;

/// `arn:aws:rds:<region>:<account>:<kind>:<id>` → (region, id); a bare id is in `here`.
fn source_of(arn_or_id: &str, here: &str) -> (String, String) {
    let parts: Vec<&str> = arn_or_id.split(':').collect();
    if parts.len() >= 7 && parts[0] == "arn" {
        (parts[3].to_string(), parts[6].to_string())
    } else {
        (here.to_string(), arn_or_id.to_string())
    }
}

fn in_scope(i: &DbInstance, scope: &Scope) -> bool {
    scope.admits_name(i.db_instance_identifier().unwrap_or_default())
        && scope.admits_tags(
            i.tag_list()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        )
}

async fn instances(c: &Client, region: &str) -> Result<Vec<DbInstance>> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let page = c
            .describe_db_instances()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::RDS_DESCRIBE_INSTANCES, region, e))?;
        out.extend(page.db_instances().iter().cloned());
        marker = next_token(page.marker(), &marker, region)?;
        if marker.is_none() {
            return Ok(out);
        }
    }
}

/// Reads both sites' RDS estate into `d`.
pub(super) async fn discover(sites: &Sites, scope: &Scope, d: &mut Discovery) -> Result<()> {
    let clients = sites.clients(|c, r| Client::new(&in_region(c, r)));
    let (Some(primary), Some(dr)) = (sites.region(SiteRole::Primary), sites.region(SiteRole::Dr))
    else {
        return Ok(());
    };
    let mut all: BTreeMap<SiteRole, Vec<DbInstance>> = BTreeMap::new();
    for (site, region, c) in &clients {
        all.insert(*site, instances(c, region).await?);
    }
    let client = |s: SiteRole| clients.iter().find(|(x, _, _)| *x == s).map(|(_, _, c)| c);
    let mut fences = Fences {
        scope: scope.clone(),
        cache: BTreeMap::new(),
    };
    // Replicas at either site, by (source region, source id).
    let mut pairs: BTreeMap<String, Vec<(SiteRole, String)>> = BTreeMap::new();
    for (site, list) in &all {
        let here = sites.region(*site).unwrap_or_default();
        for i in list
            .iter()
            .filter(|i| in_scope(i, scope) && i.db_cluster_identifier().is_none())
        {
            let Some(src) = i.read_replica_source_db_instance_identifier() else {
                continue;
            };
            let id = i.db_instance_identifier().unwrap_or_default().to_string();
            let (src_region, src_id) = source_of(src, here);
            if src_region == here {
                d.skipped.push(format!(
                    "{id}: a read replica in its source's region ({here}); no DR pair"
                ));
            } else if src_region != primary && src_region != dr {
                let e = Entry::new(Table::Databases, Observed::Database { primary: id.clone(), dr: None })
                    .commented(format!("{id} ({here}) replicates from {src_id}, which is in {src_region}: outside both sites"))
                    .with("name", Pick::known(id.as_str(), "the replica's DBInstanceIdentifier"))
                    .with(site.other().as_str(), Pick::choose(Vec::new(), format!(
                        "{id} replicates from {src_id} in {src_region}, a third region: name the instance at the {} site it should pair with, or delete this entry", site.other())))
                    .with(site.as_str(), Pick::known(id.as_str(), format!("DescribeDBInstances in {here}")));
                d.entries.push(e);
            } else {
                pairs.entry(src_id).or_default().push((*site, id));
            }
        }
    }
    for (src, replicas) in &pairs {
        let src_site = replicas[0].0.other();
        let source = all[&src_site]
            .iter()
            .find(|i| i.db_instance_identifier() == Some(src));
        let engine = source
            .and_then(|i| i.engine())
            .unwrap_or("postgres")
            .to_string();
        d.serving.push(Serving {
            site: src_site,
            why: format!("RDS {src} is the source of read replica {}", replicas[0].1),
        });
        let mut e = Entry::new(
            Table::Databases,
            Observed::Database {
                primary: src.clone(),
                dr: (replicas.len() == 1).then(|| replicas[0].1.clone()),
            },
        )
        .with(
            "name",
            Pick::known(src.as_str(), "the source instance's DBInstanceIdentifier"),
        );
        let other = if replicas.len() == 1 {
            Pick::known(
                replicas[0].1.as_str(),
                format!("ReadReplicaSourceDBInstanceIdentifier of {}", replicas[0].1),
            )
        } else {
            Pick::choose(
                replicas.iter().map(|(_, r)| r.clone()).collect(),
                format!(
                    "{src} has {} read replicas at the other site: pick the one to promote",
                    replicas.len()
                ),
            )
        };
        let mine = Pick::known(
            src.as_str(),
            format!(
                "DescribeDBInstances in {}",
                sites.region(src_site).unwrap_or_default()
            ),
        );
        let (p, r) = if src_site == SiteRole::Primary {
            (mine, other)
        } else {
            (other, mine)
        };
        e = e
            .with("primary", p)
            .with("dr", r)
            .with("engine", Pick::known(engine.as_str(), "Engine"));
        let current = source
            .and_then(|i| i.db_parameter_groups().first())
            .and_then(|g| g.db_parameter_group_name())
            .unwrap_or_default()
            .to_string();
        let version = source.and_then(|i| i.engine_version()).unwrap_or_default();
        let fence = fences
            .instance_group(&clients, &engine, &current, family_of(&engine, version))
            .await;
        d.entries
            .push(e.with("options.fence_parameter_group", fence));
    }
    multi_az(&all, scope, &pairs, primary, d);
    if let Some(c) = client(SiteRole::Primary) {
        aurora(c, &clients, sites, scope, &mut fences, d).await?;
    }
    Ok(())
}

/// Multi-AZ instances at the primary site that are no cross-region source.
fn multi_az(
    all: &BTreeMap<SiteRole, Vec<DbInstance>>,
    scope: &Scope,
    pairs: &BTreeMap<String, Vec<(SiteRole, String)>>,
    primary: &str,
    d: &mut Discovery,
) {
    for i in all.get(&SiteRole::Primary).into_iter().flatten() {
        let id = i.db_instance_identifier().unwrap_or_default();
        if !in_scope(i, scope)
            || i.multi_az() != Some(true)
            || pairs.contains_key(id)
            || i.db_cluster_identifier().is_some()
            || i.read_replica_source_db_instance_identifier().is_some()
        {
            continue;
        }
        let Some(zone) = i.availability_zone() else {
            d.skipped.push(format!(
                "{id}: Multi-AZ, but RDS gave no AvailabilityZone for its writer"
            ));
            continue;
        };
        let standby = match i.secondary_availability_zone() {
            Some(z) => Pick::known(format!("{id}@{z}"), "SecondaryAvailabilityZone"),
            None => Pick::choose(Vec::new(), format!("{id} is Multi-AZ but RDS names no SecondaryAvailabilityZone: write {id}@<standby zone>")),
        };
        d.entries.push(
            Entry::new(Table::Databases, Observed::Database { primary: format!("{id}@{zone}"), dr: i.secondary_availability_zone().map(|z| format!("{id}@{z}")) })
                .commented(format!("{id}: one Multi-AZ instance in {primary}; a failover moves its writer between zones"))
                .with("name", Pick::known(id, "DBInstanceIdentifier"))
                .with("primary", Pick::known(format!("{id}@{zone}"), "AvailabilityZone (the writer's)"))
                .with("dr", standby)
                .with("engine", Pick::known(i.engine().unwrap_or("postgres"), "Engine"))
                .with("options.failover", Pick::known("multi-az", "MultiAZ = true")),
        );
    }
}

/// Aurora global clusters with a member at each site.
async fn aurora(
    c: &Client,
    clients: &[(SiteRole, String, Client)],
    sites: &Sites,
    scope: &Scope,
    fences: &mut Fences,
    d: &mut Discovery,
) -> Result<()> {
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = c
            .describe_global_clusters()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::RDS_DESCRIBE_GLOBAL, "global clusters", e))?;
        all.extend(page.global_clusters().iter().cloned());
        marker = next_token(page.marker(), &marker, "global clusters")?;
        if marker.is_none() {
            break;
        }
    }
    for g in &all {
        let gid = g.global_cluster_identifier().unwrap_or_default();
        if !scope.admits_name(gid) {
            continue;
        }
        let mut at: BTreeMap<SiteRole, Vec<(String, bool)>> = BTreeMap::new();
        for m in g.global_cluster_members() {
            let (region, id) = source_of(m.db_cluster_arn().unwrap_or_default(), "");
            let site = [SiteRole::Primary, SiteRole::Dr]
                .into_iter()
                .find(|s| sites.region(*s) == Some(region.as_str()));
            match site {
                Some(s) => at
                    .entry(s)
                    .or_default()
                    .push((id, m.is_writer() == Some(true))),
                None => d.skipped.push(format!(
                    "global cluster {gid}: member {id} is in {region}, outside both sites"
                )),
            }
        }
        let pick = |s: SiteRole| -> Option<Pick> {
            let members = at.get(&s)?;
            Some(match members.as_slice() {
                [(id, w)] => Pick::known(
                    id.as_str(),
                    format!(
                        "GlobalClusterMembers of {gid}{}",
                        if *w { " (the writer)" } else { "" }
                    ),
                ),
                many => Pick::choose(
                    many.iter().map(|(i, _)| i.clone()).collect(),
                    format!(
                        "{gid} has {} clusters at the {s} site: pick the one to pair",
                        many.len()
                    ),
                ),
            })
        };
        let (Some(p), Some(r)) = (pick(SiteRole::Primary), pick(SiteRole::Dr)) else {
            d.skipped.push(format!(
                "global cluster {gid}: no member at one of the sites"
            ));
            continue;
        };
        let writer = at
            .iter()
            .find_map(|(s, m)| m.iter().find(|(_, w)| *w).map(|(id, _)| (*s, id.clone())));
        if let Some((s, id)) = &writer {
            d.serving.push(Serving {
                site: *s,
                why: format!("Aurora cluster {id} is the writer of global cluster {gid}"),
            });
        }
        let engine = g.engine().unwrap_or("aurora-postgresql").to_string();
        let fence = fences.cluster_group(clients, &engine).await;
        // What serves now: the writer, and the one member at the other site (when there is one).
        let observed = match &writer {
            Some((site, id)) => Observed::Database {
                primary: id.clone(),
                dr: match at.get(&site.other()).map(Vec::as_slice) {
                    Some([(other, _)]) => Some(other.clone()),
                    _ => None,
                },
            },
            None => Observed::Database {
                primary: gid.to_string(),
                dr: None,
            },
        };
        d.entries.push(
            Entry::new(Table::Databases, observed)
                .with("name", Pick::known(gid, "GlobalClusterIdentifier"))
                .with("primary", p)
                .with("dr", r)
                .with(
                    "engine",
                    Pick::known(engine.as_str(), "the global cluster's Engine"),
                )
                .with(
                    "options.failover",
                    Pick::known("aurora-global", "a global cluster"),
                )
                .with(
                    "options.global_cluster",
                    Pick::known(gid, "GlobalClusterIdentifier"),
                )
                .with("options.fence_parameter_group", fence),
        );
    }
    Ok(())
}

/// Parameter groups with writes disabled, present under one name in both regions.
struct Fences {
    /// Groups are resources too: only those in scope by name are candidates.
    scope: Scope,
    cache: BTreeMap<(bool, String), Pick>,
}

/// The parameter group family an engine version belongs to (`postgres` 16.3 → `postgres16`,
/// 9.6.2 → `postgres9.6`; `mysql` 8.0.35 → `mysql8.0`).
fn family_of(engine: &str, version: &str) -> Option<String> {
    let parts: Vec<&str> = version.split('.').collect();
    let major: u32 = parts.first()?.parse().ok()?;
    match engine {
        "postgres" if major >= 10 => Some(format!("postgres{major}")),
        "postgres" | "mysql" | "mariadb" => Some(format!("{engine}{major}.{}", parts.get(1)?)),
        _ => None,
    }
}

/// The parameter that disables writes for `engine`, and its value.
fn read_only_parameter(engine: &str) -> (&'static str, &'static str) {
    if engine.contains("postgres") {
        ("default_transaction_read_only", "on")
    } else {
        ("read_only", "1")
    }
}

impl Fences {
    /// The DB parameter group for an instance of `engine` whose current group is `current`.
    async fn instance_group(
        &mut self,
        clients: &[(SiteRole, String, Client)],
        engine: &str,
        current: &str,
        family: Option<String>,
    ) -> Pick {
        let key = (false, format!("{engine}/{current}/{family:?}"));
        if let Some(p) = self.cache.get(&key) {
            return p.clone();
        }
        let p = match fence_groups(clients, &self.scope, engine, Some(current), family, false).await {
            Ok(p) => p,
            Err(e) => Pick::choose(Vec::new(), format!("could not list DB parameter groups ({e}): name one with writes disabled, or set options.fence = \"tag-only\"")),
        };
        self.cache.insert(key, p.clone());
        p
    }

    /// The DB cluster parameter group for a global cluster of `engine`.
    async fn cluster_group(
        &mut self,
        clients: &[(SiteRole, String, Client)],
        engine: &str,
    ) -> Pick {
        let key = (true, engine.to_string());
        if let Some(p) = self.cache.get(&key) {
            return p.clone();
        }
        let p = match fence_groups(clients, &self.scope, engine, None, None, true).await {
            Ok(p) => p,
            Err(e) => Pick::choose(Vec::new(), format!("could not list DB cluster parameter groups ({e}): name one with writes disabled")),
        };
        self.cache.insert(key, p.clone());
        p
    }
}

/// Groups (cluster groups when `cluster`) in every region with the read-only parameter on; of
/// the family of `current` when given.
async fn fence_groups(
    clients: &[(SiteRole, String, Client)],
    scope: &Scope,
    engine: &str,
    current: Option<&str>,
    versioned: Option<String>,
    cluster: bool,
) -> Result<Pick> {
    let (param, on) = read_only_parameter(engine);
    let mut per_region: Vec<Vec<(String, String)>> = Vec::new();
    for (_, region, c) in clients {
        per_region.push(groups(c, region, cluster).await?);
    }
    // The instance's family: its current group's, and the one its engine version names.
    let families: Vec<String> = current
        .and_then(|cur| {
            per_region
                .first()?
                .iter()
                .find(|(n, _)| n == cur)
                .map(|(_, f)| f.clone())
        })
        .into_iter()
        .chain(versioned)
        .collect();
    let family = (!families.is_empty()).then(|| families.join(" or "));
    let mut found = Vec::new();
    for (name, fam) in per_region.first().cloned().unwrap_or_default() {
        if (!families.is_empty() && !families.contains(&fam))
            || (cluster && !fam.starts_with(engine))
            || !scope.admits_name(&name)
        {
            continue;
        }
        if !per_region
            .iter()
            .all(|groups| groups.iter().any(|(n, f)| *n == name && *f == fam))
        {
            continue;
        }
        let mut all_on = true;
        for (_, region, c) in clients {
            all_on &= parameter_is(c, region, &name, cluster, param, on).await?;
        }
        if all_on {
            found.push(name);
        }
    }
    let what = if cluster {
        "DB cluster parameter group"
    } else {
        "DB parameter group"
    };
    Ok(match found.as_slice() {
        [one] => Pick::known(one.as_str(), format!("the only {what} with {param} = {on} in both regions")),
        [] => Pick::choose(Vec::new(), format!(
            "no {what}{} has {param} = {on} in both regions: create one, or set options.fence = \"tag-only\" if the application honours the fenced tag",
            family.map(|f| format!(" of family {f}")).unwrap_or_default())),
        many => Pick::choose(many.to_vec(), format!("{} {what}s have {param} = {on} in both regions: pick the fence", many.len())),
    })
}

async fn groups(c: &Client, region: &str, cluster: bool) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let next = if cluster {
            let page = c
                .describe_db_cluster_parameter_groups()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| {
                    map_sdk_error(iam::RDS_DESCRIBE_CLUSTER_PARAMETER_GROUPS, region, e)
                })?;
            out.extend(page.db_cluster_parameter_groups().iter().map(|g| {
                (
                    g.db_cluster_parameter_group_name()
                        .unwrap_or_default()
                        .to_string(),
                    g.db_parameter_group_family()
                        .unwrap_or_default()
                        .to_string(),
                )
            }));
            next_token(page.marker(), &marker, region)?
        } else {
            let page = c
                .describe_db_parameter_groups()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| map_sdk_error(iam::RDS_DESCRIBE_PARAMETER_GROUPS, region, e))?;
            out.extend(page.db_parameter_groups().iter().map(|g| {
                (
                    g.db_parameter_group_name().unwrap_or_default().to_string(),
                    g.db_parameter_group_family()
                        .unwrap_or_default()
                        .to_string(),
                )
            }));
            next_token(page.marker(), &marker, region)?
        };
        match next {
            Some(m) => marker = Some(m),
            None => return Ok(out),
        }
    }
}

async fn parameter_is(
    c: &Client,
    region: &str,
    group: &str,
    cluster: bool,
    param: &str,
    on: &str,
) -> Result<bool> {
    let mut marker = None;
    loop {
        let (params, next) = if cluster {
            let page = c
                .describe_db_cluster_parameters()
                .db_cluster_parameter_group_name(group)
                .source("user")
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| {
                    map_sdk_error(
                        iam::RDS_DESCRIBE_CLUSTER_PARAMETERS,
                        &format!("{group} ({region})"),
                        e,
                    )
                })?;
            (
                page.parameters().to_vec(),
                next_token(page.marker(), &marker, group)?,
            )
        } else {
            let page = c
                .describe_db_parameters()
                .db_parameter_group_name(group)
                .source("user")
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| {
                    map_sdk_error(
                        iam::RDS_DESCRIBE_PARAMETERS,
                        &format!("{group} ({region})"),
                        e,
                    )
                })?;
            (
                page.parameters().to_vec(),
                next_token(page.marker(), &marker, group)?,
            )
        };
        if params
            .iter()
            .any(|p| p.parameter_name() == Some(param) && p.parameter_value() == Some(on))
        {
            return Ok(true);
        }
        match next {
            Some(m) => marker = Some(m),
            None => return Ok(false),
        }
    }
}
