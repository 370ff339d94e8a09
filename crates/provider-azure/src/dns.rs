//! Traffic routing on Azure ([`AzureDns`]): Azure DNS record sets, and Traffic Manager profiles.
//!
//! A Traffic Manager profile is a record as clients see it: `aegis-tm.trafficmanager.net` in the zone
//! `trafficmanager.net`, answering with the target of the endpoint it routes to. Its "target" is
//! the enabled endpoints' targets (a set when several are enabled); pointing it at a set of targets
//! enables those endpoints first, then disables the others, and the change is in sync once each of
//! them reports `endpointMonitorStatus` `Online`. Its TTL is the profile's `dnsConfig.ttl`.

use std::time::Duration;

use aegis_dr_core::{
    provider::{
        ChangeId, ChangeStatus, DnsRouter, HealthCheckRequest, HealthCheckState, RecordRef,
        RecordState, RecordTargets, UpsertRecord,
    },
    Error, ErrorKind, Result,
};
use async_trait::async_trait;
use serde_json::{json, Value};

use crate::{arm::Arm, settings::ResourceGroup};

/// Microsoft.Network API version of Traffic Manager.
pub const TM_API: &str = "2022-04-01";
/// Microsoft.Network API version of Azure DNS.
pub const DNS_API: &str = "2018-05-01";
/// Longest wait for a Traffic Manager update (ARM answers them at once; a 202 is followed).
const PATCH_WAIT: Duration = Duration::from_secs(120);
/// The zone that marks a record as a Traffic Manager profile.
pub const TRAFFIC_MANAGER_ZONE: &str = "trafficmanager.net";

/// Azure DNS and Traffic Manager through ARM.
#[derive(Debug, Clone)]
pub struct AzureDns {
    arm: Arm,
    group: ResourceGroup,
}

/// The record type's key in a record set's properties.
fn record_key(rtype: &str) -> Result<&'static str> {
    match rtype {
        "CNAME" => Ok("CNAMERecord"),
        "A" => Ok("ARecords"),
        "AAAA" => Ok("AAAARecords"),
        other => Err(Error::new(
            ErrorKind::Unsupported,
            format!("Azure DNS record type {other} is not supported (CNAME, A, AAAA)"),
        )),
    }
}

/// The record's name relative to its zone (`@` for the apex).
pub(crate) fn relative_name(name: &str, zone: &str) -> Result<String> {
    let name = name.trim_end_matches('.');
    let zone = zone.trim_end_matches('.');
    if name.eq_ignore_ascii_case(zone) {
        return Ok("@".into());
    }
    name.strip_suffix(zone)
        .and_then(|r| r.strip_suffix('.'))
        .filter(|r| !r.is_empty())
        .map(String::from)
        .ok_or_else(|| Error::config(format!("dns record `{name}` is not in zone `{zone}`")))
}

impl AzureDns {
    pub(crate) fn new(arm: Arm, group: ResourceGroup) -> AzureDns {
        AzureDns { arm, group }
    }

    fn is_traffic_manager(r: &RecordRef) -> bool {
        r.zone
            .trim_end_matches('.')
            .eq_ignore_ascii_case(TRAFFIC_MANAGER_ZONE)
    }

    fn profile_id(&self, r: &RecordRef) -> Result<String> {
        let name = relative_name(&r.name, TRAFFIC_MANAGER_ZONE)?;
        Ok(self
            .group
            .resource(&format!("Microsoft.Network/trafficManagerProfiles/{name}")))
    }

    fn record_id(&self, r: &RecordRef) -> Result<String> {
        let rel = relative_name(&r.name, &r.zone)?;
        Ok(self.group.resource(&format!(
            "Microsoft.Network/dnsZones/{}/{}/{rel}",
            r.zone.trim_end_matches('.'),
            r.record_type
        )))
    }

    async fn profile(&self, r: &RecordRef) -> Result<Value> {
        let id = self.profile_id(r)?;
        self.arm
            .get(&id, TM_API)
            .await
            .map_err(|e| e.or_resource(&format!("Traffic Manager profile {}", r.name)))
    }
}

fn endpoints(profile: &Value) -> Vec<&Value> {
    profile["properties"]["endpoints"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// The targets of the enabled endpoints.
fn enabled_targets(profile: &Value) -> RecordTargets {
    RecordTargets::new(
        endpoints(profile)
            .into_iter()
            .filter(|e| e["properties"]["endpointStatus"] == "Enabled")
            .filter_map(|e| e["properties"]["target"].as_str())
            .map(String::from)
            .collect(),
    )
}

/// True when endpoint `e`'s target is one of `targets`.
fn targets_endpoint(targets: &RecordTargets, e: &Value) -> bool {
    e["properties"]["target"]
        .as_str()
        .is_some_and(|t| targets.values().iter().any(|v| v == t))
}

/// An endpoint's ARM id relative to its profile: `{type}/{name}` (type from its `type`).
fn endpoint_path(profile_id: &str, e: &Value) -> Option<String> {
    let kind = e["type"].as_str()?.rsplit('/').next()?;
    Some(format!("{profile_id}/{kind}/{}", e["name"].as_str()?))
}

/// Whether Traffic Manager answers queries with endpoint `e` of profile `profile` now, from its
/// `endpointMonitorStatus`: `Online`, or `Unmonitored` (always served, no probes) while enabled.
/// `CheckingEndpoint` and `Degraded` may pass; an `Inactive` one (its profile disabled: every query
/// gets NXDOMAIN) and a `Stopped` one (its Azure service is not running) do not by waiting, and
/// are said so.
fn endpoint_serves(profile: &str, name: &str, e: &Value) -> Result<bool> {
    let props = &e["properties"];
    let monitor = props["endpointMonitorStatus"].as_str().unwrap_or("");
    let enabled = props["endpointStatus"] == "Enabled";
    match monitor {
        "Online" | "Unmonitored" => Ok(enabled),
        "Inactive" => Err(Error::new(
            ErrorKind::InvalidState,
            format!("Traffic Manager profile {profile} is disabled: it answers every query with NXDOMAIN, endpoint {name} included; enable the profile (profileStatus Enabled)"),
        )
        .with_resource(profile.to_string())),
        "Stopped" => Err(Error::new(
            ErrorKind::InvalidState,
            format!("Traffic Manager endpoint {name} of {profile} is Stopped: the Azure service it points to is not running, so Traffic Manager does not route to it; start that service"),
        )
        .temporary()
        .with_resource(name.to_string())),
        _ => Ok(false),
    }
}

#[async_trait]
impl DnsRouter for AzureDns {
    async fn get_record(&self, r: &RecordRef) -> Result<RecordState> {
        if Self::is_traffic_manager(r) {
            let p = self.profile(r).await?;
            return Ok(RecordState {
                target: enabled_targets(&p),
                ttl: p["properties"]["dnsConfig"]["ttl"].as_u64().unwrap_or(0) as u32,
            });
        }
        let key = record_key(&r.record_type)?;
        let rs = self
            .arm
            .get(&self.record_id(r)?, DNS_API)
            .await
            .map_err(|e| e.or_resource(&r.name))?;
        let props = &rs["properties"];
        let target: Vec<String> = match key {
            "CNAMERecord" => props[key]["cname"].as_str().into_iter().collect::<Vec<_>>(),
            _ => props[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| {
                            v.as_object()
                                .and_then(|o| o.values().next())
                                .and_then(Value::as_str)
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        }
        .into_iter()
        .map(|t| t.trim_end_matches('.').to_string())
        .collect();
        Ok(RecordState {
            target: RecordTargets::new(target),
            ttl: props["TTL"].as_u64().unwrap_or(0) as u32,
        })
    }

    async fn upsert_record(&self, req: &UpsertRecord) -> Result<ChangeId> {
        let r = &req.record;
        if Self::is_traffic_manager(r) {
            let id = self.profile_id(r)?;
            let p = self.profile(r).await?;
            let eps = endpoints(&p);
            let chosen: Vec<&Value> = eps
                .iter()
                .copied()
                .filter(|e| targets_endpoint(&req.target, e))
                .collect();
            if let Some(missing) = req.target.values().iter().find(|t| {
                !chosen
                    .iter()
                    .any(|e| e["properties"]["target"] == t.as_str())
            }) {
                let known: Vec<_> = eps
                    .iter()
                    .filter_map(|e| e["properties"]["target"].as_str())
                    .collect();
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "Traffic Manager profile {} has no endpoint with target `{missing}` (targets: {})",
                        r.name,
                        known.join(", ")
                    ),
                )
                .with_resource(r.name.clone()));
            }
            let set = |e: &Value, status: &'static str| {
                let path = endpoint_path(&id, e);
                let name = e["name"].as_str().unwrap_or("?").to_string();
                async move {
                    let path = path.ok_or_else(|| {
                        Error::new(ErrorKind::Provider, format!("endpoint {name} has no type"))
                    })?;
                    self.arm
                        .patch(
                            &path,
                            TM_API,
                            &json!({ "properties": { "endpointStatus": status } }),
                            PATCH_WAIT,
                        )
                        .await
                        .map_err(|e| e.or_resource(&format!("Traffic Manager endpoint {name}")))
                }
            };
            // Enable the new endpoints before disabling the others: never no endpoint at all.
            for e in &chosen {
                if e["properties"]["endpointStatus"] != "Enabled" {
                    set(e, "Enabled").await?;
                }
            }
            for e in eps.iter().filter(|e| !targets_endpoint(&req.target, e)) {
                if e["properties"]["endpointStatus"] != "Disabled" {
                    set(e, "Disabled").await?;
                }
            }
            if p["properties"]["dnsConfig"]["ttl"].as_u64() != Some(u64::from(req.ttl)) {
                self.arm
                    .patch(
                        &id,
                        TM_API,
                        &json!({ "properties": { "dnsConfig": { "ttl": req.ttl } } }),
                        PATCH_WAIT,
                    )
                    .await?;
            }
            let names: Vec<&str> = chosen.iter().filter_map(|e| e["name"].as_str()).collect();
            return Ok(ChangeId(format!(
                "trafficmanager|{}|{}|{}",
                r.name,
                names.join(","),
                req.ttl
            )));
        }
        let key = record_key(&r.record_type)?;
        let value = match key {
            "CNAMERecord" => json!({ "cname": req.target.to_string() }),
            "ARecords" => json!(req
                .target
                .values()
                .iter()
                .map(|v| json!({ "ipv4Address": v }))
                .collect::<Vec<_>>()),
            _ => json!(req
                .target
                .values()
                .iter()
                .map(|v| json!({ "ipv6Address": v }))
                .collect::<Vec<_>>()),
        };
        let mut props = json!({ "TTL": req.ttl });
        props[key] = value;
        self.arm
            .put(
                &self.record_id(r)?,
                DNS_API,
                &json!({ "properties": props }),
                None,
            )
            .await
            .map_err(|e| e.or_resource(&r.name))?;
        Ok(ChangeId(format!(
            "azuredns|{}|{}|{}|{}|{}",
            r.zone,
            r.name,
            r.record_type,
            req.target.values().join(","),
            req.ttl
        )))
    }

    async fn change_status(&self, change: &ChangeId) -> Result<ChangeStatus> {
        let parts: Vec<&str> = change.0.split('|').collect();
        match parts.as_slice() {
            ["trafficmanager", name, eps, _ttl] => {
                let r = RecordRef {
                    zone: TRAFFIC_MANAGER_ZONE.into(),
                    name: name.to_string(),
                    record_type: "CNAME".into(),
                };
                let p = self.profile(&r).await?;
                let all = endpoints(&p);
                let mut serving = true;
                for ep in eps.split(',') {
                    let e = all.iter().find(|e| e["name"] == ep).ok_or_else(|| {
                        Error::new(
                            ErrorKind::NotFound,
                            format!("Traffic Manager endpoint {ep} of {name} is gone"),
                        )
                    })?;
                    serving &= endpoint_serves(name, ep, e)?;
                }
                Ok(if serving {
                    ChangeStatus::Insync
                } else {
                    ChangeStatus::Pending
                })
            }
            // Azure DNS has no propagation status: a change is in sync once ARM serves it back
            // (its name servers apply it within a minute, the resolver check confirms it).
            ["azuredns", zone, name, rtype, target, ttl] => {
                let r = RecordRef {
                    zone: zone.to_string(),
                    name: name.to_string(),
                    record_type: rtype.to_string(),
                };
                let cur = self.get_record(&r).await?;
                let want = RecordTargets::new(target.split(',').map(String::from).collect());
                Ok(if cur.target == want && cur.ttl.to_string() == *ttl {
                    ChangeStatus::Insync
                } else {
                    ChangeStatus::Pending
                })
            }
            _ => Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "`{}` is not an Azure DNS or Traffic Manager change",
                    change.0
                ),
            )),
        }
    }

    async fn get_health_check(&self, id: &str) -> Result<HealthCheckState> {
        Err(Error::new(
            ErrorKind::Unsupported,
            format!("health check `{id}`: Azure DNS has no health checks (Traffic Manager monitors its endpoints itself)"),
        ))
    }

    async fn set_health_check(&self, req: &HealthCheckRequest) -> Result<()> {
        self.get_health_check(&req.id).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names() {
        assert_eq!(
            relative_name("api.aegis.io", "aegis.io").expect("rel"),
            "api"
        );
        assert_eq!(relative_name("aegis.io.", "aegis.io").expect("apex"), "@");
        assert_eq!(
            relative_name("aegis-tm.trafficmanager.net", TRAFFIC_MANAGER_ZONE).expect("tm"),
            "aegis-tm"
        );
        assert!(relative_name("api.other.io", "aegis.io").is_err());
        assert!(relative_name("xaegis.io", "aegis.io").is_err());
    }
}
