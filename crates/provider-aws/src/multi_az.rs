//! Multi-AZ pairs (`options.failover = "multi-az"`): one RDS instance with a synchronous standby in a
//! second availability zone of the primary site's region. Each site of the plan is one of the two
//! zones (`primary = "<instance>@<zone>"`, `dr = "<instance>@<other zone>"`); the site whose zone runs
//! the writer is the primary, the other is the replica with a lag of zero (the standby has every
//! committed write). A writer that is not `available` reads as fenced: it takes no writes.
//!
//! Promotion is `RebootDBInstance --force-failover`: RDS drops the writer's connections, the standby
//! takes over the same endpoint and the old writer becomes the standby. No write is lost and there
//! are never two writers, so fencing only records the fenced zone in the tag `aegis-dr:fenced-az`
//! (the orchestrator's gates read it; a read-only parameter group would block the new writer too).
//! The standby is maintained by RDS, so reverse replication only checks that it is in the other zone.

use std::time::Duration;

use aegis_dr_core::{
    provider::{
        DatabaseRef, DatabaseRole, DatabaseStatus, FenceRequest, PromoteRequest,
        ReverseReplicationRequest, SyncReport,
    },
    Error, ErrorKind, Result, SiteRole,
};
use aws_sdk_rds::types::DbInstance;

use crate::{
    error::map_sdk_error,
    iam,
    rds::{split_multi_az, tag, PairKind, PairSettings, RdsDatabases},
};

/// Tag naming the availability zone whose writer was fenced.
pub const FENCED_AZ_TAG: &str = "aegis-dr:fenced-az";

/// The instance and the zone of each site of a Multi-AZ pair.
struct Zones<'a> {
    instance: &'a str,
    primary: &'a str,
    dr: &'a str,
}

impl<'a> Zones<'a> {
    fn of(pair: &'a PairSettings) -> Result<Zones<'a>> {
        match &pair.kind {
            PairKind::MultiAz {
                instance,
                primary_az,
                dr_az,
            } => Ok(Zones {
                instance,
                primary: primary_az,
                dr: dr_az,
            }),
            _ => Err(Error::new(
                ErrorKind::Provider,
                format!("database `{}` is not a Multi-AZ pair", pair.name),
            )),
        }
    }

    fn zone(&self, site: SiteRole) -> &'a str {
        match site {
            SiteRole::Primary => self.primary,
            SiteRole::Dr => self.dr,
        }
    }

    /// The plan's reference to the instance at `site`: `<instance>@<zone>`.
    fn reference(&self, site: SiteRole) -> String {
        format!("{}@{}", self.instance, self.zone(site))
    }
}

impl RdsDatabases {
    /// The instance `db` names (`<instance>@<zone>`), always in the primary site's region; refused
    /// unless it is Multi-AZ.
    async fn describe_multi_az(&self, db: &DatabaseRef) -> Result<DbInstance> {
        let instance = split_multi_az(&db.instance).map_or(db.instance.as_str(), |(i, _)| i);
        let i = self
            .describe_instance(SiteRole::Primary, instance, &db.instance)
            .await?;
        if i.multi_az() != Some(true) {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "DB instance `{instance}` is not Multi-AZ: it has no standby to fail over to (enable Multi-AZ, or use failover = \"replica-promotion\")"
                ),
            )
            .with_resource(db.instance.clone()));
        }
        Ok(i)
    }

    /// Role of the zone of `site`: primary when it runs the writer, replica when it holds the standby
    /// or the writer is in the other zone of the pair; an error when the instance left both zones.
    fn zone_role(z: &Zones<'_>, i: &DbInstance, site: SiteRole) -> Result<DatabaseRole> {
        let (writer, standby) = (i.availability_zone(), i.secondary_availability_zone());
        let (mine, other) = (z.zone(site), z.zone(site.other()));
        if writer == Some(mine) {
            Ok(DatabaseRole::Primary)
        } else if standby == Some(mine) || writer == Some(other) {
            Ok(DatabaseRole::Replica)
        } else {
            Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "DB instance `{}` runs in {} with its standby in {}, but the plan names the zones {} and {}",
                    z.instance,
                    writer.unwrap_or("no zone"),
                    standby.unwrap_or("no zone"),
                    z.primary,
                    z.dr
                ),
            )
            .with_resource(z.reference(site)))
        }
    }

    /// Removes the fence tag when it names `zone`.
    async fn clear_fenced_zone(&self, i: &DbInstance, zone: &str, db: &DatabaseRef) -> Result<()> {
        if tag(i, FENCED_AZ_TAG) != Some(zone) {
            return Ok(());
        }
        let arn = i.db_instance_arn().unwrap_or_default();
        self.untag_resource(SiteRole::Primary, &db.instance, arn, &[FENCED_AZ_TAG])
            .await
    }

    pub(crate) async fn multi_az_status(
        &self,
        pair: &PairSettings,
        db: &DatabaseRef,
    ) -> Result<DatabaseStatus> {
        let z = Zones::of(pair)?;
        let i = self.describe_multi_az(db).await?;
        let role = Self::zone_role(&z, &i, db.site)?;
        let mine = z.zone(db.site);
        // Synchronous replication: an available standby in this zone has every committed write.
        // While the instance reboots or changes, the lag is unknown, not zero.
        let replication_lag = (role == DatabaseRole::Replica
            && i.db_instance_status() == Some("available")
            && i.secondary_availability_zone() == Some(mine))
        .then_some(Duration::ZERO);
        // A writer that is not available (rebooting, modifying) takes no writes: it reads as fenced,
        // so a promotion is confirmed only once the new writer serves.
        let serving = i.db_instance_status() == Some("available");
        Ok(DatabaseStatus {
            role,
            fenced: tag(&i, FENCED_AZ_TAG) == Some(mine)
                || (role == DatabaseRole::Primary && !serving),
            replication_lag,
            replication_lag_bytes: None,
            replication_lag_at_most: None,
            last_backup_age: self.snapshot_age(SiteRole::Primary, z.instance).await?,
            replicating_from: (role == DatabaseRole::Replica).then(|| z.reference(db.site.other())),
            lossless_planned_promotion: false,
            planned_promotion_blockers: Vec::new(),
        })
    }

    pub(crate) async fn multi_az_fence(
        &self,
        pair: &PairSettings,
        req: &FenceRequest,
    ) -> Result<()> {
        let z = Zones::of(pair)?;
        let db = &req.target;
        let i = self.describe_multi_az(db).await?;
        let mine = z.zone(db.site);
        if !req.fenced {
            return self.clear_fenced_zone(&i, mine, db).await;
        }
        if tag(&i, FENCED_AZ_TAG) != Some(mine) {
            let arn = i.db_instance_arn().unwrap_or_default();
            self.tag_resource(
                SiteRole::Primary,
                &db.instance,
                arn,
                &[(FENCED_AZ_TAG, mine)],
            )
            .await?;
        }
        Ok(())
    }

    pub(crate) async fn multi_az_promote(
        &self,
        pair: &PairSettings,
        req: &PromoteRequest,
    ) -> Result<()> {
        let z = Zones::of(pair)?;
        let target = z.zone(req.target.site);
        let i = self.describe_multi_az(&req.target).await?;
        if i.availability_zone() == Some(target) {
            // Already the writer: a fence it may carry from an earlier cycle no longer applies.
            return self.clear_fenced_zone(&i, target, &req.target).await;
        }
        let old = z.zone(req.old_primary.site);
        if i.availability_zone() == Some(old) && tag(&i, FENCED_AZ_TAG) != Some(old) {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "old primary `{}` is not fenced: refusing to fail `{}` over to {target} (fence it first)",
                    req.old_primary.instance, z.instance
                ),
            )
            .with_resource(req.old_primary.instance.clone()));
        }
        match i.db_instance_status() {
            // A failover (ours, whose answer was lost) is already under way: observe it.
            Some("rebooting") => return Ok(()),
            Some("available") => {}
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!(
                        "DB instance `{}` is {}: a forced failover needs it available",
                        z.instance,
                        other.unwrap_or("in an unknown state")
                    ),
                )
                .with_resource(req.target.instance.clone()))
            }
        }
        if i.secondary_availability_zone() != Some(target) {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "the standby of `{}` is in {}, not {target}: a forced failover would not move the writer there",
                    z.instance,
                    i.secondary_availability_zone().unwrap_or("no zone")
                ),
            )
            .with_resource(req.target.instance.clone()));
        }
        self.rds
            .get(SiteRole::Primary)
            .reboot_db_instance()
            .db_instance_identifier(z.instance)
            .force_failover(true)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::RDS_REBOOT, &req.target.instance, e))?;
        Ok(())
    }

    pub(crate) async fn multi_az_reverse(
        &self,
        pair: &PairSettings,
        req: &ReverseReplicationRequest,
    ) -> Result<SyncReport> {
        let z = Zones::of(pair)?;
        let i = self.describe_multi_az(&req.source).await?;
        let (source, target) = (z.zone(req.source.site), z.zone(req.target.site));
        if i.availability_zone() != Some(source) {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "`{}` is not the primary: the writer of `{}` runs in {}",
                    req.source.instance,
                    z.instance,
                    i.availability_zone().unwrap_or("no zone")
                ),
            )
            .with_resource(req.source.instance.clone()));
        }
        if i.secondary_availability_zone() != Some(target) {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "the standby of `{}` is in {}, not {target}: RDS placed it elsewhere, so `{}` is not protected by it",
                    z.instance,
                    i.secondary_availability_zone().unwrap_or("no zone"),
                    req.target.instance
                ),
            )
            .with_resource(req.target.instance.clone()));
        }
        // The old writer is the standby now: a fence recorded for its zone no longer applies.
        if !req.dry_run {
            self.clear_fenced_zone(&i, target, &req.target).await?;
        }
        Ok(SyncReport {
            pending_changes: 0,
            estimated_catch_up: Duration::ZERO,
            dry_run: req.dry_run,
            summary: Some(format!(
                "{} is the synchronous Multi-AZ standby of {}: RDS keeps it in sync, nothing to copy",
                req.target.instance, req.source.instance
            )),
        })
    }
}
