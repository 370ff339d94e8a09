//! RDS snapshots taken before a failback: a DB snapshot of a replica-promotion or Multi-AZ instance,
//! a DB cluster snapshot of an Aurora cluster. Named by the caller, so a retry or a resumed run adopts
//! the snapshot it started instead of taking a second one.

use aegis_dr_core::{
    provider::{DatabaseRef, SnapshotRequest, SnapshotState},
    Error, ErrorKind, Result, SiteRole,
};

use crate::{
    error::map_sdk_error,
    iam,
    rds::{split_multi_az, PairKind, RdsDatabases},
};

/// What RDS says of a snapshot's status (`creating`, `available`, `failed`, ...).
fn state_of(status: Option<&str>) -> SnapshotState {
    match status {
        Some("available") => SnapshotState::Available,
        Some(s @ ("failed" | "error" | "incompatible-restore" | "deleted" | "deleting")) => {
            SnapshotState::Failed(format!("status `{s}`"))
        }
        _ => SnapshotState::Creating,
    }
}

impl RdsDatabases {
    /// The site whose region holds the instance `db` names, and the instance id.
    fn snapshot_target<'a>(&self, db: &'a DatabaseRef) -> Result<(SiteRole, &'a str, bool)> {
        Ok(match &self.pair(db)?.kind {
            PairKind::AuroraGlobal { .. } => (db.site, db.instance.as_str(), true),
            // One instance, always in the primary site's region.
            PairKind::MultiAz { .. } => (
                SiteRole::Primary,
                split_multi_az(&db.instance).map_or(db.instance.as_str(), |(i, _)| i),
                false,
            ),
            PairKind::ReplicaPromotion => (db.site, db.instance.as_str(), false),
        })
    }

    /// The snapshot `name`: (the instance or cluster it is of, its state), or `None`.
    async fn find_snapshot(
        &self,
        site: SiteRole,
        cluster: bool,
        name: &str,
    ) -> Result<Option<(String, SnapshotState)>> {
        let rds = self.rds.get(site);
        let found = if cluster {
            rds.describe_db_cluster_snapshots()
                .db_cluster_snapshot_identifier(name)
                .send()
                .await
                .map_err(|e| map_sdk_error(iam::RDS_DESCRIBE_CLUSTER_SNAPSHOTS, name, e))
                .map(|o| {
                    o.db_cluster_snapshots().first().map(|s| {
                        (
                            s.db_cluster_identifier().unwrap_or_default().to_string(),
                            state_of(s.status()),
                        )
                    })
                })
        } else {
            rds.describe_db_snapshots()
                .db_snapshot_identifier(name)
                .send()
                .await
                .map_err(|e| map_sdk_error(iam::RDS_DESCRIBE_SNAPSHOTS, name, e))
                .map(|o| {
                    o.db_snapshots().first().map(|s| {
                        (
                            s.db_instance_identifier().unwrap_or_default().to_string(),
                            state_of(s.status()),
                        )
                    })
                })
        };
        match found {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            other => other,
        }
    }

    /// Starts the snapshot, or adopts the one of that name already taken of the same instance.
    pub(crate) async fn take_snapshot(&self, req: &SnapshotRequest) -> Result<()> {
        let (site, id, cluster) = self.snapshot_target(&req.db)?;
        match self.find_snapshot(site, cluster, &req.name).await? {
            Some((of, _)) if of == id => return Ok(()),
            Some((of, _)) => {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!("snapshot `{}` exists, of `{of}`, not of `{id}`", req.name),
                )
                .with_resource(req.db.instance.clone()))
            }
            None => {}
        }
        let rds = self.rds.get(site);
        if cluster {
            rds.create_db_cluster_snapshot()
                .db_cluster_snapshot_identifier(&req.name)
                .db_cluster_identifier(id)
                .send()
                .await
                .map_err(|e| map_sdk_error(iam::RDS_CREATE_CLUSTER_SNAPSHOT, id, e))?;
        } else {
            rds.create_db_snapshot()
                .db_snapshot_identifier(&req.name)
                .db_instance_identifier(id)
                .send()
                .await
                .map_err(|e| map_sdk_error(iam::RDS_CREATE_SNAPSHOT, id, e))?;
        }
        Ok(())
    }

    /// Where the snapshot stands; a snapshot that does not exist is an error naming it.
    pub(crate) async fn snapshot_status(&self, req: &SnapshotRequest) -> Result<SnapshotState> {
        let (site, _, cluster) = self.snapshot_target(&req.db)?;
        match self.find_snapshot(site, cluster, &req.name).await? {
            Some((_, state)) => Ok(state),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("snapshot `{}` does not exist", req.name),
            )
            .with_resource(req.db.instance.clone())),
        }
    }
}
