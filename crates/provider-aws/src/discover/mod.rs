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

/// The next page's token: none when the service gave none, an empty one, or the one just used
/// (a token that repeats would loop for ever).
pub(crate) fn next_token(given: Option<&str>, used: &Option<String>) -> Option<String> {
    given
        .filter(|t| !t.is_empty() && used.as_deref() != Some(*t))
        .map(str::to_string)
}

/// The short form of a region (`us-east-1` → `use1`, `ap-southeast-2` → `aps2`).
fn short(region: &str) -> Option<String> {
    let parts: Vec<&str> = region.split('-').collect();
    if parts.len() < 3 {
        return None;
    }
    let mut s = parts[0].to_string();
    for p in &parts[1..parts.len() - 1] {
        s.push(p.chars().next()?);
    }
    s.push_str(parts[parts.len() - 1]);
    Some(s)
}

fn pieces(name: &str) -> Vec<&str> {
    name.split(['.', '-', '_'])
        .filter(|p| !p.is_empty())
        .collect()
}

/// True when `name` carries `region`, whole (`x.us-east-1.elb.amazonaws.com`) or short (`lb-use1`).
pub(crate) fn names_region(name: &str, region: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower
        .match_indices(region)
        .any(|(at, _)| bounded(&lower, at, region.len()))
    {
        return true;
    }
    short(region).is_some_and(|s| pieces(&lower).contains(&s.as_str()))
}

fn bounded(s: &str, at: usize, len: usize) -> bool {
    let sep = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
    sep(s[..at].chars().next_back()) && sep(s[at + len..].chars().next())
}

/// `name` with `from`'s region (whole or short) replaced by `to`'s; none when it names neither.
pub(crate) fn twin_name(name: &str, from: &str, to: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if let Some((at, _)) = lower
        .match_indices(from)
        .find(|(at, _)| bounded(&lower, *at, from.len()))
    {
        return Some(format!("{}{to}{}", &name[..at], &name[at + from.len()..]));
    }
    let (sf, st) = (short(from)?, short(to)?);
    let mut out = String::new();
    let mut piece = String::new();
    let mut changed = false;
    for c in name.chars().chain(std::iter::once('.')) {
        if c == '.' || c == '-' || c == '_' {
            if piece.eq_ignore_ascii_case(&sf) {
                out.push_str(&st);
                changed = true;
            } else {
                out.push_str(&piece);
            }
            piece.clear();
            out.push(c);
        } else {
            piece.push(c);
        }
    }
    out.pop();
    changed.then_some(out)
}

/// The words of a pool's name that say nothing about which site it is at (region, `dr`, `prod`,
/// ...), for pairing a pool with its twin at the other site.
pub(crate) fn twin_key(name: &str, regions: &[&str]) -> String {
    const SITE_WORDS: [&str; 8] = [
        "dr",
        "prod",
        "production",
        "primary",
        "standby",
        "secondary",
        "main",
        "failover",
    ];
    let shorts: Vec<String> = regions.iter().filter_map(|r| short(r)).collect();
    let mut rest = name.to_ascii_lowercase();
    for r in regions {
        rest = rest.replace(r, "");
    }
    pieces(&rest)
        .into_iter()
        .filter(|p| !SITE_WORDS.contains(p) && !shorts.iter().any(|s| s == p))
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_read_from_names_whole_or_short() {
        assert!(names_region("lb-use1.example.com", "us-east-1"));
        assert!(names_region("x.us-west-2.elb.amazonaws.com.", "us-west-2"));
        assert!(!names_region("x.us-west-2.elb.amazonaws.com", "us-west-1"));
        assert!(!names_region("house1.example.com", "us-east-1"));
        assert_eq!(
            twin_name("lb-use1.example.com", "us-east-1", "us-west-2").as_deref(),
            Some("lb-usw2.example.com")
        );
        assert_eq!(
            twin_name("a.us-east-1.elb.amazonaws.com", "us-east-1", "us-west-2").as_deref(),
            Some("a.us-west-2.elb.amazonaws.com")
        );
        assert_eq!(twin_name("lb.example.com", "us-east-1", "us-west-2"), None);
        let r = ["us-east-1", "us-west-2"];
        assert_eq!(twin_key("workers-ab1", &r), twin_key("dr-workers-ab1", &r));
        assert_eq!(twin_key("web-use1", &r), twin_key("web-usw2", &r));
        assert_ne!(twin_key("web-use1", &r), twin_key("api-usw2", &r));
    }
}
