//! Route 53: records whose target names a site's region, each target's twin at the other site,
//! and the health check on the primary target.

use aegis_dr_core::{
    discover::{targets_value, Discovery, Entry, Observed, Pick, Scope, Serving, Table},
    plan::RecordTargets,
    Result, SiteRole,
};
use aws_sdk_route53::types::{HealthCheck, ResourceRecordSet, RrType, TagResourceType};

use super::{names_region, next_token, twin_name, Sites};
use crate::{error::map_sdk_error, iam, route53::ALIAS_PREFIX, route53::ALIAS_TTL};

type Client = aws_sdk_route53::Client;

fn bare(name: &str) -> String {
    name.trim_end_matches('.').to_string()
}

/// A record as read: its zone, its set, and its target's DNS name.
struct Read {
    zone: String,
    rs: ResourceRecordSet,
}

impl Read {
    fn name(&self) -> String {
        bare(self.rs.name())
    }

    /// The targets as a plan writes them, and the DNS name that can carry a region.
    fn targets(&self) -> (Vec<String>, Option<String>) {
        if let Some(a) = self.rs.alias_target() {
            let dns = bare(a.dns_name());
            return (
                vec![format!("{ALIAS_PREFIX}{}/{dns}", a.hosted_zone_id())],
                Some(dns),
            );
        }
        let values: Vec<String> = self
            .rs
            .resource_records()
            .iter()
            .map(|r| bare(r.value()))
            .collect();
        let dns = (*self.rs.r#type() == RrType::Cname)
            .then(|| values.first().cloned())
            .flatten();
        (values, dns)
    }
}

async fn zones(c: &Client, scope: &Scope) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let page = c
            .list_hosted_zones()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::ROUTE53_LIST_ALL_ZONES, "hosted zones", e))?;
        for z in page.hosted_zones() {
            let id = z.id().trim_start_matches("/hostedzone/").to_string();
            if !scope.tags.is_empty() {
                let tags = c
                    .list_tags_for_resource()
                    .resource_type(TagResourceType::Hostedzone)
                    .resource_id(&id)
                    .send()
                    .await
                    .map_err(|e| map_sdk_error(iam::ROUTE53_LIST_TAGS, z.name(), e))?;
                let set = tags
                    .resource_tag_set()
                    .map(|s| s.tags())
                    .unwrap_or_default();
                if !scope.admits_tags(
                    set.iter()
                        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
                ) {
                    continue;
                }
            }
            out.push((id, bare(z.name())));
        }
        marker = next_token(page.next_marker(), &marker, "Route 53 hosted zones")?;
        if !page.is_truncated() || marker.is_none() {
            return Ok(out);
        }
    }
}

async fn records(c: &Client, zone_id: &str, zone: &str) -> Result<Vec<Read>> {
    let mut out = Vec::new();
    let (mut name, mut kind, mut ident) = (None, None, None);
    loop {
        let page = c
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .set_start_record_name(name.clone())
            .set_start_record_type(kind.clone())
            .set_start_record_identifier(ident.clone())
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::ROUTE53_LIST_RECORDS, zone, e))?;
        out.extend(page.resource_record_sets().iter().map(|rs| Read {
            zone: zone.to_string(),
            rs: rs.clone(),
        }));
        if !page.is_truncated() {
            return Ok(out);
        }
        let next = (
            page.next_record_name().map(str::to_string),
            page.next_record_type().cloned(),
            page.next_record_identifier().map(str::to_string),
        );
        // No next record, or the one just asked for (it would loop for ever).
        if next.0.is_none() || next == (name.clone(), kind.clone(), ident.clone()) {
            return Ok(out);
        }
        (name, kind, ident) = next;
    }
}

async fn health_checks(c: &Client) -> Result<Vec<HealthCheck>> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let page = c
            .list_health_checks()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::ROUTE53_LIST_HEALTH_CHECKS, "health checks", e))?;
        out.extend(page.health_checks().iter().cloned());
        marker = next_token(page.next_marker(), &marker, "Route 53 health checks")?;
        if !page.is_truncated() || marker.is_none() {
            return Ok(out);
        }
    }
}

/// Reads Route 53 into `d`.
pub(super) async fn discover(sites: &Sites, scope: &Scope, d: &mut Discovery) -> Result<()> {
    let c = Client::new(&sites.global);
    let mut all = Vec::new();
    for (id, name) in zones(&c, scope).await? {
        all.extend(records(&c, &id, &name).await?);
    }
    let checks = health_checks(&c).await?;
    let region = |s: SiteRole| {
        sites
            .regions
            .get(&s)
            .map(String::as_str)
            .unwrap_or_default()
    };
    let mut regional = 0;
    for r in &all {
        let t = r.rs.r#type();
        if !matches!(t, RrType::Cname | RrType::A | RrType::Aaaa)
            || r.rs.set_identifier().is_some()
            || !scope.admits_name(&r.name())
        {
            continue;
        }
        let name = r.name();
        if [SiteRole::Primary, SiteRole::Dr]
            .iter()
            .any(|s| names_region(&name, region(*s)))
        {
            regional += 1;
            continue;
        }
        let (targets, dns) = r.targets();
        let at = dns.as_deref().and_then(|dns| {
            [SiteRole::Primary, SiteRole::Dr]
                .into_iter()
                .find(|s| names_region(dns, region(*s)))
        });
        let (Some(at), Some(dns)) = (at, dns.clone()) else {
            d.skipped.push(format!(
                "{name} ({} → {}): its target names neither site's region",
                t.as_str(),
                targets.join(", ")
            ));
            continue;
        };
        d.serving.push(Serving {
            site: at,
            why: format!("{name} points at {dns} ({})", region(at)),
        });
        let other = twin(r, &dns, region(at), region(at.other()), &all);
        let now = Pick::known(
            targets_value(&targets),
            format!("the record's target now (names {})", region(at)),
        );
        let (primary, dr) = if at == SiteRole::Primary {
            (now, other)
        } else {
            (other, now)
        };
        let primary_dns = match (&primary, at) {
            (_, SiteRole::Primary) => Some(dns.clone()),
            (Pick::Known { value, .. }, _) => value
                .as_str()
                .map(|v| v.rsplit('/').next().unwrap_or(v).to_string()),
            _ => None,
        };
        let alias = r.rs.alias_target().is_some();
        let mut e = Entry::new(
            Table::DnsRecords,
            Observed::Record {
                name: name.clone(),
                targets: RecordTargets::new(targets.clone()),
            },
        )
        .with("name", Pick::known(name.as_str(), "Route 53 record"))
        .with("zone", Pick::known(r.zone.as_str(), "its hosted zone"))
        .with(
            "type",
            Pick::known(
                t.as_str(),
                if alias {
                    "an alias record (targets alias:<zone>/<name>)"
                } else {
                    "the record's type"
                },
            ),
        )
        .with("primary_target", primary)
        .with("dr_target", dr)
        .with(
            "ttl",
            match r.rs.ttl() {
                Some(ttl) if (1..=172_800).contains(&ttl) => Pick::known(ttl, "the record's TTL"),
                Some(ttl) => Pick::choose(
                    Vec::new(),
                    format!("{name} has TTL {ttl}, outside what a plan takes (1 to 172800 s): write the TTL to keep in normal operation"),
                ),
                None => Pick::known(
                    i64::from(ALIAS_TTL),
                    "an alias has no TTL of its own: aegis-dr reads an alias as 60 s (a load balancer's)",
                ),
            },
        );
        if let Some(p) = primary_dns.and_then(|dns| check_on(&checks, &dns, &targets, at)) {
            e = e.with("health_check", p);
        }
        d.entries.push(e);
    }
    if regional > 0 {
        d.skipped.push(format!(
            "{regional} record(s) whose own name carries a site's region: they are targets, not flipped"
        ));
    }
    Ok(())
}

/// The target at the other site: `dns` with the region swapped, when a record read here has that
/// name (or an alias to it); else a choice.
fn twin(r: &Read, dns: &str, here: &str, there: &str, all: &[Read]) -> Pick {
    let Some(candidate) = twin_name(dns, here, there) else {
        return Pick::choose(Vec::new(), format!(
            "{} points at {dns} in {here}; nothing names its counterpart in {there}: write the DR target", r.name()));
    };
    let same = |a: &str, b: &str| bare(a).eq_ignore_ascii_case(&bare(b));
    if r.rs.alias_target().is_some() {
        let found = all.iter().find_map(|o| {
            o.rs.alias_target()
                .filter(|a| same(a.dns_name(), &candidate))
                .map(|a| {
                    format!(
                        "{ALIAS_PREFIX}{}/{}",
                        a.hosted_zone_id(),
                        bare(a.dns_name())
                    )
                })
        });
        return match found {
            Some(t) => Pick::known(t, format!("an alias to {candidate} in the zones read ({dns} with {here} → {there})")),
            None => Pick::choose(Vec::new(), format!(
                "{} aliases {dns} in {here}; its counterpart would be {candidate}, but no alias to it was read: write alias:<its hosted zone id>/{candidate}", r.name())),
        };
    }
    match all.iter().find(|o| same(o.rs.name(), &candidate)) {
        Some(o) => Pick::known(candidate.as_str(), format!("record {candidate} in zone {} ({dns} with {here} → {there})", o.zone)),
        None => Pick::choose(vec![candidate.clone()], format!(
            "{} points at {dns} in {here}; its counterpart in {there} would be {candidate}, but no hosted zone read here holds it: confirm it or write the DR target", r.name())),
    }
}

/// The health check on the primary target (its FQDN or one of its addresses).
fn check_on(checks: &[HealthCheck], dns: &str, targets: &[String], at: SiteRole) -> Option<Pick> {
    let on: Vec<&HealthCheck> = checks
        .iter()
        .filter(|h| {
            h.health_check_config().is_some_and(|c| {
                c.fully_qualified_domain_name()
                    .is_some_and(|f| bare(f).eq_ignore_ascii_case(dns))
                    || (at == SiteRole::Primary
                        && c.ip_address()
                            .is_some_and(|ip| targets.iter().any(|t| t == ip)))
            })
        })
        .collect();
    match on.as_slice() {
        [] => None,
        [one] => Some(Pick::known(one.id(), format!("the health check on {dns}"))),
        many => Some(Pick::choose(
            many.iter().map(|h| h.id().to_string()).collect(),
            format!(
                "{} health checks watch {dns}: pick the one to disable during failover",
                many.len()
            ),
        )),
    }
}
