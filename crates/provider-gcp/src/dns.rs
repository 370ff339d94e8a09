//! Cloud DNS ([`CloudDns`]) through `google-cloud-dns-v1`: a record is read with
//! `resourceRecordSets.get`, changed with one `changes.create` holding the current set as its
//! deletion and the new one as its addition (atomic: Cloud DNS refuses it if the set changed
//! meanwhile), and the change is polled until `done`. A plan's record `zone` is the managed zone's
//! name (`aegis-zone`), its `name` the fully qualified record name (`api.aegis.io.`).

use aegis_dr_core::{
    provider::{
        ChangeId, ChangeStatus, DnsRouter, HealthCheckRequest, HealthCheckState, RecordRef,
        RecordState, RecordTargets, UpsertRecord,
    },
    Error, ErrorKind, Result,
};
use async_trait::async_trait;
use google_cloud_dns_v1::{
    client::{Changes, ResourceRecordSets},
    model::{change::Status, Change, ResourceRecordSet},
};

use crate::client::on;

/// Cloud DNS of one project.
#[derive(Debug, Clone)]
pub struct CloudDns {
    rrsets: ResourceRecordSets,
    changes: Changes,
    project: String,
}

/// The record's fully qualified name (a trailing dot added).
pub(crate) fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// A CNAME target as Cloud DNS stores it (fully qualified); other types as given.
fn rrdata(rtype: &str, target: &str) -> String {
    if rtype == "CNAME" {
        fqdn(target)
    } else {
        target.to_string()
    }
}

fn label(r: &RecordRef) -> String {
    format!(
        "record {} {} in managed zone {}",
        fqdn(&r.name),
        r.record_type,
        r.zone
    )
}

impl CloudDns {
    pub(crate) fn new(rrsets: ResourceRecordSets, changes: Changes, project: String) -> CloudDns {
        CloudDns {
            rrsets,
            changes,
            project,
        }
    }

    async fn read(&self, r: &RecordRef) -> Result<Option<ResourceRecordSet>> {
        let got = self
            .rrsets
            .get()
            .set_project(&self.project)
            .set_managed_zone(&r.zone)
            .set_name(fqdn(&r.name))
            .set_type(&r.record_type)
            .send()
            .await
            .map_err(on(&label(r), "dns.resourceRecordSets.get"));
        match got {
            Ok(set) => Ok(Some(set)),
            Err(e) if e.kind() == ErrorKind::NotFound && !e.message().contains("managedZone") => {
                Ok(None)
            }
            Err(e) => Err(e.or_resource(&r.name)),
        }
    }
}

#[async_trait]
impl DnsRouter for CloudDns {
    async fn get_record(&self, r: &RecordRef) -> Result<RecordState> {
        let set = self.read(r).await?.ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("{} does not exist", label(r)))
                .with_resource(r.name.clone())
        })?;
        Ok(RecordState {
            // A CNAME target as the plan writes it: without Cloud DNS's trailing dot.
            target: RecordTargets::new(
                set.rrdatas
                    .iter()
                    .map(|d| {
                        if r.record_type == "CNAME" {
                            d.trim_end_matches('.').to_string()
                        } else {
                            d.clone()
                        }
                    })
                    .collect(),
            ),
            ttl: set
                .ttl
                .and_then(|t| u32::try_from(t).ok())
                .unwrap_or_default(),
        })
    }

    async fn upsert_record(&self, req: &UpsertRecord) -> Result<ChangeId> {
        let r = &req.record;
        let ttl = i32::try_from(req.ttl)
            .map_err(|_| Error::config(format!("{}: TTL {} is too large", label(r), req.ttl)))?;
        let new = ResourceRecordSet::new()
            .set_name(fqdn(&r.name))
            .set_type(&r.record_type)
            .set_ttl(ttl)
            .set_rrdatas(
                req.target
                    .values()
                    .iter()
                    .map(|t| rrdata(&r.record_type, t))
                    .collect::<Vec<_>>(),
            );
        // Cloud DNS refuses a change whose deletion no longer matches the set (412
        // `conditionNotMet`: someone changed it since it was read): read it again, twice at most.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self.read(r).await?;
            if current
                .as_ref()
                .is_some_and(|c| c.rrdatas == new.rrdatas && c.ttl == new.ttl)
            {
                // Already so: nothing to change, nothing to wait for.
                return Ok(ChangeId(String::new()));
            }
            let mut change = Change::new().set_additions([new.clone()]);
            if let Some(c) = current {
                change = change.set_deletions([c]);
            }
            let made = self
                .changes
                .create()
                .set_project(&self.project)
                .set_managed_zone(&r.zone)
                .set_body(change)
                .send()
                .await
                .map_err(|e| on(&label(r), "dns.changes.create")(e).or_resource(&r.name));
            let made = match made {
                Err(e) if attempt < 3 && e.message().contains("conditionNotMet") => continue,
                other => other?,
            };
            let id = made.id.ok_or_else(|| {
                Error::new(
                    ErrorKind::Provider,
                    format!("{}: Cloud DNS returned a change without an id", label(r)),
                )
            })?;
            return Ok(ChangeId(format!("{}/{id}", r.zone)));
        }
    }

    async fn change_status(&self, change: &ChangeId) -> Result<ChangeStatus> {
        if change.0.is_empty() {
            return Ok(ChangeStatus::Insync);
        }
        let (zone, id) = change.0.split_once('/').ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidState,
                format!("`{}` is not a Cloud DNS change id (zone/id)", change.0),
            )
        })?;
        let what = format!("change {id} of managed zone {zone}");
        let c = self
            .changes
            .get()
            .set_project(&self.project)
            .set_managed_zone(zone)
            .set_change_id(id)
            .send()
            .await
            .map_err(on(&what, "dns.changes.get"))?;
        Ok(match c.status {
            Some(Status::Done) => ChangeStatus::Insync,
            _ => ChangeStatus::Pending,
        })
    }

    async fn get_health_check(&self, id: &str) -> Result<HealthCheckState> {
        Err(unsupported_health(id))
    }

    async fn set_health_check(&self, req: &HealthCheckRequest) -> Result<()> {
        Err(unsupported_health(&req.id))
    }
}

fn unsupported_health(id: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("health check `{id}`: Cloud DNS records have no health checks here (use the plan's health_endpoints)"),
    )
}
