//! `DnsRouter` on Route 53: records (CNAME, A, alias), changes and health checks.

use std::{collections::BTreeMap, sync::Mutex};

use aegis_dr_core::{
    provider::{
        ChangeId, ChangeStatus, DnsRouter, HealthCheckRequest, HealthCheckState, RecordRef,
        RecordState, RecordTargets, UpsertRecord,
    },
    Error, ErrorKind, Result,
};
use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};

use crate::{error::map_sdk_error, iam};

/// TTL Route 53 serves alias records with (the target's, 60 s for load balancers); aliases have no
/// TTL of their own.
pub const ALIAS_TTL: u32 = 60;

/// Prefix of an alias target in the plan: `alias:<hosted zone id of the target>/<dns name>`.
pub const ALIAS_PREFIX: &str = "alias:";

/// True when `zone` is a hosted zone id (`Z0123...` or `/hostedzone/Z0123...`) rather than a name.
pub fn looks_like_zone_id(zone: &str) -> bool {
    let z = zone.trim_start_matches("/hostedzone/");
    !z.contains('.') && z.starts_with('Z') && z.len() > 2
}

fn fqdn(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    if n.ends_with('.') {
        n
    } else {
        format!("{n}.")
    }
}

fn same_name(a: &str, b: &str) -> bool {
    fqdn(a) == fqdn(b)
}

fn rr_type(t: &str) -> Result<RrType> {
    let t = t.to_ascii_uppercase();
    let known = ["A", "AAAA", "CNAME", "TXT"];
    if !known.contains(&t.as_str()) {
        return Err(Error::config(format!(
            "record type `{t}` is not supported on Route 53 by aegis-dr (use A, AAAA, CNAME or TXT)"
        )));
    }
    Ok(RrType::from(t.as_str()))
}

/// Route 53 behind the [`DnsRouter`] trait.
#[derive(Debug)]
pub struct Route53Dns {
    client: aws_sdk_route53::Client,
    zone_ids: Mutex<BTreeMap<String, String>>,
}

impl Route53Dns {
    /// Wraps a Route 53 client.
    pub fn new(client: aws_sdk_route53::Client) -> Route53Dns {
        Route53Dns {
            client,
            zone_ids: Mutex::new(BTreeMap::new()),
        }
    }

    /// The hosted zone id of `zone` (an id, or a name looked up once and cached).
    async fn zone_id(&self, zone: &str) -> Result<String> {
        if looks_like_zone_id(zone) {
            return Ok(zone.trim_start_matches("/hostedzone/").to_string());
        }
        if let Some(id) = self.zone_ids.lock().ok().and_then(|m| m.get(zone).cloned()) {
            return Ok(id);
        }
        let out = self
            .client
            .list_hosted_zones_by_name()
            .dns_name(fqdn(zone))
            .max_items(1)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::ROUTE53_LIST_ZONES, zone, e))?;
        let hz = out
            .hosted_zones()
            .iter()
            .find(|z| same_name(z.name(), zone))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("no hosted zone named `{zone}` in this account"),
                )
                .with_resource(zone.to_string())
            })?;
        let id = hz.id().trim_start_matches("/hostedzone/").to_string();
        if let Ok(mut m) = self.zone_ids.lock() {
            m.insert(zone.to_string(), id.clone());
        }
        Ok(id)
    }

    async fn find_record(&self, record: &RecordRef) -> Result<ResourceRecordSet> {
        let zone = self.zone_id(&record.zone).await?;
        let t = rr_type(&record.record_type)?;
        let out = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(&zone)
            .start_record_name(fqdn(&record.name))
            .start_record_type(t.clone())
            .max_items(1)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::ROUTE53_LIST_RECORDS, &record.name, e))?;
        out.resource_record_sets()
            .iter()
            .find(|r| same_name(r.name(), &record.name) && *r.r#type() == t)
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "record {} {} does not exist in hosted zone {zone}",
                        record.name, record.record_type
                    ),
                )
                .with_resource(record.name.clone())
            })
    }
}

#[async_trait]
impl DnsRouter for Route53Dns {
    async fn get_record(&self, record: &RecordRef) -> Result<RecordState> {
        let rs = self.find_record(record).await?;
        if let Some(a) = rs.alias_target() {
            return Ok(RecordState {
                target: format!(
                    "{ALIAS_PREFIX}{}/{}",
                    a.hosted_zone_id(),
                    a.dns_name().trim_end_matches('.')
                )
                .into(),
                ttl: ALIAS_TTL,
            });
        }
        // Every value of the set: an A or AAAA record may hold several addresses.
        let values: Vec<String> = rs
            .resource_records()
            .iter()
            .map(|r| r.value().trim_end_matches('.').to_string())
            .collect();
        if values.is_empty() {
            return Err(Error::new(
                ErrorKind::Provider,
                format!("record {} has no value", record.name),
            )
            .with_resource(record.name.clone()));
        }
        let target = RecordTargets::new(values);
        let ttl = rs.ttl().unwrap_or(0);
        Ok(RecordState {
            target,
            ttl: u32::try_from(ttl).unwrap_or(u32::MAX),
        })
    }

    async fn upsert_record(&self, req: &UpsertRecord) -> Result<ChangeId> {
        let zone = self.zone_id(&req.record.zone).await?;
        let t = rr_type(&req.record.record_type)?;
        let build = |e: aws_sdk_route53::error::BuildError| {
            Error::config(format!("record {}: {e}", req.record.name))
        };
        let mut rs = ResourceRecordSet::builder()
            .name(fqdn(&req.record.name))
            .r#type(t);
        let alias = req
            .target
            .single()
            .and_then(|t| t.strip_prefix(ALIAS_PREFIX));
        if let Some(alias) = alias {
            let (hz, dns) = alias.split_once('/').ok_or_else(|| {
                Error::config(format!(
                    "record {}: alias target `{}` must be `alias:<hosted zone id>/<dns name>`",
                    req.record.name, req.target
                ))
            })?;
            rs = rs.alias_target(
                AliasTarget::builder()
                    .hosted_zone_id(hz)
                    .dns_name(dns)
                    .evaluate_target_health(false)
                    .build()
                    .map_err(build)?,
            );
        } else {
            let records = req
                .target
                .values()
                .iter()
                .map(|v| ResourceRecord::builder().value(v).build().map_err(build))
                .collect::<Result<Vec<_>>>()?;
            rs = rs
                .ttl(i64::from(req.ttl))
                .set_resource_records(Some(records));
        }
        let batch = ChangeBatch::builder()
            .comment("aegis-dr")
            .changes(
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(rs.build().map_err(build)?)
                    .build()
                    .map_err(build)?,
            )
            .build()
            .map_err(build)?;
        let out = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(&zone)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::ROUTE53_CHANGE_RECORDS, &req.record.name, e))?;
        let id = out
            .change_info()
            .map(|c| c.id().trim_start_matches("/change/").to_string())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Provider,
                    "ChangeResourceRecordSets returned no change id",
                )
                .with_resource(req.record.name.clone())
            })?;
        Ok(ChangeId(id))
    }

    async fn change_status(&self, change: &ChangeId) -> Result<ChangeStatus> {
        let out = self
            .client
            .get_change()
            .id(&change.0)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::ROUTE53_GET_CHANGE, &change.0, e))?;
        let status = out.change_info().map(|c| c.status().as_str().to_string());
        Ok(match status.as_deref() {
            Some("INSYNC") => ChangeStatus::Insync,
            _ => ChangeStatus::Pending,
        })
    }

    async fn get_health_check(&self, id: &str) -> Result<HealthCheckState> {
        let out = self
            .client
            .get_health_check()
            .health_check_id(id)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::ROUTE53_GET_HEALTH_CHECK, id, e))?;
        let disabled = out
            .health_check()
            .and_then(|h| h.health_check_config())
            .and_then(|c| c.disabled())
            .unwrap_or(false);
        Ok(HealthCheckState { disabled })
    }

    async fn set_health_check(&self, req: &HealthCheckRequest) -> Result<()> {
        self.client
            .update_health_check()
            .health_check_id(&req.id)
            .disabled(req.disabled)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::ROUTE53_UPDATE_HEALTH_CHECK, &req.id, e))?;
        Ok(())
    }
}
