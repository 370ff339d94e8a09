//! `aegis-dr init` and `drift` on AWS: reads the estate of the plan's AWS sites into plan entries.
//!
//! - RDS (`rds.rs`): cross-region read replicas paired from `ReadReplicaSourceDBInstanceIdentifier`,
//!   Multi-AZ instances, Aurora global clusters, and the fence parameter groups they could use.
//! - Route 53 (`dns.rs`): records whose targets name a site's region, the DR twin of each target,
//!   health checks on the primary target.
//! - EKS node groups, Auto Scaling groups and DRS source servers (`nodes.rs`).
//!
//! It reads with the credentials and settings a run uses ([`AwsProvidersBuilder`]) and writes
//! nothing. A fact that is not there is never guessed: it becomes a [`Pick::Choose`].

use std::collections::BTreeMap;

use aegis_dr_core::{
    discover::{DiscoverContext, Discovery, Table},
    Error, Result, SiteRole,
};
use aws_config::{Region, SdkConfig};

use crate::{settings::AwsSettings, AwsProviders};

mod dns;
mod nodes;
mod rds;

pub(crate) use aegis_dr_core::discover::names::{names_region, next_token, twin_name};

/// The SDK configuration of each AWS site, with its region.
pub(crate) struct Sites {
    pub(crate) by_site: BTreeMap<SiteRole, (SdkConfig, String)>,
    pub(crate) global: SdkConfig,
    /// Both sites' regions, AWS or not (a record's DR target may be on another cloud).
    pub(crate) regions: BTreeMap<SiteRole, String>,
}

impl Sites {
    /// The AWS region of `site`, when the site is on AWS.
    fn region(&self, site: SiteRole) -> Option<&str> {
        self.by_site.get(&site).map(|(_, r)| r.as_str())
    }

    /// A client of `krate` per AWS site.
    fn clients<C>(&self, make: impl Fn(&SdkConfig, &str) -> C) -> Vec<(SiteRole, String, C)> {
        self.by_site
            .iter()
            .map(|(s, (c, r))| (*s, r.clone(), make(c, r)))
            .collect()
    }
}

/// `config` bound to `region`.
fn in_region(config: &SdkConfig, region: &str) -> SdkConfig {
    config
        .clone()
        .into_builder()
        .region(Region::new(region.to_string()))
        .build()
}

/// Reads the AWS part of the estate of `ctx`'s sites.
pub(crate) async fn discover(ctx: &DiscoverContext) -> Result<Discovery> {
    let plan = &ctx.plan;
    let aws: Vec<SiteRole> = [SiteRole::Primary, SiteRole::Dr]
        .into_iter()
        .filter(|s| plan.site(*s).provider == ctx.name)
        .collect();
    if aws.is_empty() {
        return Err(Error::config(format!(
            "no site is on `{}`: give it a site (for example --aws-regions us-east-1,us-west-2)",
            ctx.name
        )));
    }
    let builder = AwsProviders::from_env(plan);
    let mut by_site = BTreeMap::new();
    for site in &aws {
        let region = builder.site_region(*site)?;
        let settings = AwsSettings::of(plan, Some(*site))?;
        by_site.insert(
            *site,
            (builder.config_for(&settings, &region).await, region),
        );
    }
    let global = builder
        .config_for(
            &AwsSettings::of(plan, None)?,
            crate::builder::ROUTE53_REGION,
        )
        .await;
    let regions = [SiteRole::Primary, SiteRole::Dr]
        .into_iter()
        .map(|s| {
            let r = by_site
                .get(&s)
                .map(|(_, r): &(SdkConfig, String)| r.clone());
            (s, r.unwrap_or_else(|| plan.site(s).region.clone()))
        })
        .collect();
    let sites = Sites {
        by_site,
        global,
        regions,
    };
    let both = aws.len() == 2;
    let mut covers = vec![Table::DnsRecords, Table::NodePools];
    if both {
        covers.extend([Table::Databases, Table::RecoveryServers]);
    }
    let mut d = Discovery::new(ctx.name.clone(), covers);
    if both {
        rds::discover(&sites, &ctx.scope, &mut d).await?;
    } else {
        d.skipped.push(
            "RDS and DRS: only one site is on AWS, so no cross-region pair can be read (a database pair on another provider is that provider's)".into(),
        );
    }
    dns::discover(&sites, &ctx.scope, &mut d).await?;
    nodes::discover(&sites, &ctx.scope, &mut d).await?;
    if both {
        nodes::discover_servers(&sites, &ctx.scope, &mut d).await?;
    }
    Ok(d)
}
