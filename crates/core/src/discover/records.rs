//! DNS record sets as plan entries: a record whose target names a site's region is flipped between
//! that target and its twin at the other site (the same name with the region swapped, when a
//! record read here holds it). Shared by the DNS services without aliases or health checks of
//! their own (Azure DNS, Cloud DNS); Route 53's reading adds those.

use std::collections::BTreeMap;

use super::{
    names::{names_region, twin_name},
    targets_value, Discovery, Entry, Observed, Pick, Scope, Serving, Table,
};
use crate::{plan::RecordTargets, SiteRole};

/// Longest TTL a plan takes.
const MAX_TTL: u32 = 172_800;

/// A record set as read.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRead {
    /// Its zone, as the plan writes it (a name or a managed zone's id).
    pub zone: String,
    /// Its name, fully qualified, as the plan writes it.
    pub name: String,
    /// `CNAME`, `A`, `AAAA` (other types are left out).
    pub rtype: String,
    /// Its values, without trailing dots.
    pub targets: Vec<String>,
    /// Its TTL, when the service gave one.
    pub ttl: Option<u32>,
}

fn bare(name: &str) -> &str {
    name.trim_end_matches('.')
}

/// Pushes one `[[dns_records]]` entry per record in `reads` whose target names a site's region;
/// `service` names where they were read (`Azure DNS`).
pub fn record_entries(
    service: &str,
    reads: &[RecordRead],
    regions: &BTreeMap<SiteRole, String>,
    scope: &Scope,
    d: &mut Discovery,
) {
    let region = |s: SiteRole| regions.get(&s).map(String::as_str).unwrap_or_default();
    let mut regional = 0;
    for r in reads {
        if !["CNAME", "A", "AAAA"].contains(&r.rtype.as_str()) || !scope.admits_name(&r.name) {
            continue;
        }
        if [SiteRole::Primary, SiteRole::Dr]
            .iter()
            .any(|s| names_region(&r.name, region(*s)))
        {
            regional += 1;
            continue;
        }
        let dns = (r.rtype == "CNAME")
            .then(|| r.targets.first().map(|t| bare(t).to_string()))
            .flatten();
        let at = dns.as_deref().and_then(|dns| {
            [SiteRole::Primary, SiteRole::Dr]
                .into_iter()
                .find(|s| names_region(dns, region(*s)))
        });
        let (Some(at), Some(dns)) = (at, dns) else {
            d.skipped.push(format!(
                "{} ({} → {}): its target names neither site's region",
                r.name,
                r.rtype,
                r.targets.join(", ")
            ));
            continue;
        };
        d.serving.push(Serving {
            site: at,
            why: format!("{} points at {dns} ({})", r.name, region(at)),
        });
        let (here, there) = (region(at), region(at.other()));
        let other = match twin_name(&dns, here, there) {
            None => Pick::choose(Vec::new(), format!(
                "{} points at {dns} in {here}; nothing names its counterpart in {there}: write the DR target", r.name)),
            Some(c) => match reads.iter().find(|o| bare(&o.name).eq_ignore_ascii_case(&c)) {
                Some(o) => Pick::known(c.as_str(), format!("record {c} in zone {} ({dns} with {here} → {there})", o.zone)),
                None => Pick::choose(vec![c.clone()], format!(
                    "{} points at {dns} in {here}; its counterpart in {there} would be {c}, but no zone read here holds it: confirm it or write the other target", r.name)),
            },
        };
        let now = Pick::known(
            targets_value(std::slice::from_ref(&dns)),
            format!("the record's target now (names {here})"),
        );
        let (primary, dr) = if at == SiteRole::Primary {
            (now, other)
        } else {
            (other, now)
        };
        let ttl = match r.ttl {
            Some(t) if (1..=MAX_TTL).contains(&t) => Pick::known(t, "the record's TTL"),
            Some(t) => Pick::choose(Vec::new(), format!(
                "{} has TTL {t}, outside what a plan takes (1 to {MAX_TTL} s): write the TTL to keep in normal operation", r.name)),
            None => Pick::choose(Vec::new(), format!(
                "{} gave no TTL for {}: write the TTL to keep in normal operation", service, r.name)),
        };
        d.entries.push(
            Entry::new(
                Table::DnsRecords,
                Observed::Record {
                    name: r.name.clone(),
                    targets: RecordTargets::new(vec![dns]),
                },
            )
            .with(
                "name",
                Pick::known(r.name.as_str(), format!("{service} record")),
            )
            .with("zone", Pick::known(r.zone.as_str(), "its zone"))
            .with("type", Pick::known(r.rtype.as_str(), "the record's type"))
            .with("primary_target", primary)
            .with("dr_target", dr)
            .with("ttl", ttl),
        );
    }
    if regional > 0 {
        d.skipped.push(format!(
            "{regional} record(s) whose own name carries a site's region: they are targets, not flipped"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ProviderName;

    fn read(name: &str, rtype: &str, target: &str) -> RecordRead {
        RecordRead {
            zone: "aegis.io".into(),
            name: name.into(),
            rtype: rtype.into(),
            targets: vec![target.into()],
            ttl: Some(300),
        }
    }

    #[test]
    fn a_target_naming_a_region_is_flipped_to_its_twin_or_a_choice() {
        let regions: BTreeMap<SiteRole, String> = [
            (SiteRole::Primary, "eastus".to_string()),
            (SiteRole::Dr, "westus".to_string()),
        ]
        .into();
        let reads = [
            read("app.aegis.io", "CNAME", "app-eastus.aegis.io."),
            read("app-westus.aegis.io", "A", "10.0.0.2"),
            read("api.aegis.io", "CNAME", "api-westus.aegis.io"),
            read("docs.aegis.io", "CNAME", "docs.example.com"),
        ];
        let mut d = Discovery::new(ProviderName("azure".into()), vec![Table::DnsRecords]);
        record_entries("Azure DNS", &reads, &regions, &Scope::default(), &mut d);
        assert_eq!(d.entries.len(), 2, "{:?}", d.entries);
        let app = &d.entries[0];
        assert_eq!(
            app.get("dr_target").map(Pick::value),
            Some(toml::Value::from("app-westus.aegis.io")),
            "the twin read in the zone"
        );
        assert_eq!(
            app.get("primary_target").map(Pick::value),
            Some(toml::Value::from("app-eastus.aegis.io")),
            "no trailing dot"
        );
        let api = &d.entries[1];
        assert!(
            matches!(api.get("primary_target"), Some(Pick::Choose { options, .. }) if options == &["api-eastus.aegis.io".to_string()]),
            "{api:?}"
        );
        assert_eq!(d.serving.len(), 2);
        assert_eq!(d.serving[1].site, SiteRole::Dr);
        assert!(d.skipped.iter().any(|s| s.starts_with("docs.aegis.io")));
        assert!(d.skipped.iter().any(|s| s.starts_with("1 record(s)")));
    }
}
