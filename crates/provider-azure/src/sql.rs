//! Azure SQL failover groups ([`SqlFailoverGroups`]): role and replication state from the group as
//! each server sees it, planned failover (`POST .../failover`, sent to the secondary) or forced
//! (`forceFailoverAllowDataLoss`, behind the RPO gate), fencing by tag or by closing the old
//! primary's public network access, backup age from the databases' restore points.

use std::time::{Duration, SystemTime};

use aegis_dr_core::{
    clock::Clock,
    plan::DatabaseSpec,
    provider::{
        DatabaseFailover, DatabaseRef, DatabaseRole, DatabaseStatus, FenceRequest, PromoteMode,
        PromoteRequest, ReverseReplicationRequest, SyncReport,
    },
    Error, ErrorKind, Result, RetryStatus, SiteRole,
};
use async_trait::async_trait;
use serde_json::{json, Value};

use crate::{arm::Arm, settings::ResourceGroup};

/// Microsoft.Sql API version used.
pub const API: &str = "2021-11-01";
/// The tag that marks a fenced server.
pub const FENCED_TAG: &str = "aegis-dr-fenced";

/// How writes to the old primary are stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceMode {
    /// Tag only: the server is marked `aegis-dr-fenced=true` and aegis-dr treats it as fenced,
    /// but Azure still accepts writes there (the applications must honour it, or be drained).
    Tag,
    /// The tag, and `publicNetworkAccess = Disabled` on the server: clients on public endpoints
    /// can no longer connect (private-endpoint clients still can).
    PublicNetworkAccess,
}

/// One failover group of the plan: the spec's name, the group, the server at each site.
#[derive(Debug, Clone)]
pub struct GroupPair {
    /// The pair's name in the plan.
    pub database: String,
    /// The failover group's name.
    pub group: String,
    /// (resource group, server) at the primary site.
    pub primary: (ResourceGroup, String),
    /// (resource group, server) at the DR site.
    pub dr: (ResourceGroup, String),
    /// How the old primary is fenced.
    pub fence: FenceMode,
}

impl GroupPair {
    /// The pair of `spec`: `options.failover_group` names the group, `options.fence` is `tag`
    /// (default) or `public-network-access`.
    pub fn from_spec(
        spec: &DatabaseSpec,
        primary: ResourceGroup,
        dr: ResourceGroup,
    ) -> Result<GroupPair> {
        let at = format!("databases.{}", spec.name);
        for k in spec.options.keys() {
            if k != "failover_group" && k != "fence" {
                return Err(Error::config(format!(
                    "{at}.options.{k}: not an Azure SQL option (known: failover_group, fence)"
                )));
            }
        }
        let group = spec.options.get("failover_group").cloned().ok_or_else(|| {
            Error::config(format!(
                "{at}.options.failover_group: required for Azure SQL (the failover group joining `{}` and `{}`)",
                spec.primary, spec.dr
            ))
        })?;
        let fence = match spec.options.get("fence").map(String::as_str) {
            None | Some("tag") => FenceMode::Tag,
            Some("public-network-access") => FenceMode::PublicNetworkAccess,
            Some(o) => {
                return Err(Error::config(format!(
                    "{at}.options.fence: `{o}` is not one of tag, public-network-access"
                )))
            }
        };
        for s in [&spec.primary, &spec.dr] {
            let ok = (1..=63).contains(&s.len())
                && !s.starts_with('-')
                && !s.ends_with('-')
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return Err(Error::config(format!(
                    "{at}: `{s}` is not an Azure SQL server name (lowercase letters, digits and '-')"
                )));
            }
        }
        Ok(GroupPair {
            database: spec.name.clone(),
            group,
            primary: (primary, spec.primary.clone()),
            dr: (dr, spec.dr.clone()),
            fence,
        })
    }

    fn server(&self, site: SiteRole) -> &(ResourceGroup, String) {
        match site {
            SiteRole::Primary => &self.primary,
            SiteRole::Dr => &self.dr,
        }
    }

    /// The server `db` names, in its site's resource group.
    fn server_id(&self, db: &DatabaseRef) -> String {
        let (rg, _) = self.server(db.site);
        rg.resource(&format!("Microsoft.Sql/servers/{}", db.instance))
    }

    /// The failover group as the server `db` names sees it.
    fn group_id(&self, db: &DatabaseRef) -> String {
        format!("{}/failoverGroups/{}", self.server_id(db), self.group)
    }
}

/// Azure SQL failover groups through ARM.
#[derive(Debug, Clone)]
pub struct SqlFailoverGroups {
    arm: Arm,
    pairs: Vec<GroupPair>,
    failover_timeout: Duration,
    /// The run's clock: backup ages are measured on it.
    clock: Clock,
}

fn parse_time(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    let secs = t.unix_timestamp();
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

/// The role of the server `db` names, from the failover group `g` as that server sees it.
fn role_of(p: &GroupPair, db: &DatabaseRef, g: &Value) -> Result<DatabaseRole> {
    match g["properties"]["replicationRole"].as_str() {
        Some("Primary") => Ok(DatabaseRole::Primary),
        Some("Secondary") => Ok(DatabaseRole::Replica),
        other => Err(Error::new(
            ErrorKind::Provider,
            format!(
                "failover group {} on {}: unexpected replicationRole {other:?}",
                p.group, db.instance
            ),
        )),
    }
}

fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

impl SqlFailoverGroups {
    pub(crate) fn new(
        arm: Arm,
        pairs: Vec<GroupPair>,
        failover_timeout: Duration,
        clock: Clock,
    ) -> SqlFailoverGroups {
        SqlFailoverGroups {
            arm,
            pairs,
            failover_timeout,
            clock,
        }
    }

    fn pair(&self, db: &DatabaseRef) -> Result<&GroupPair> {
        self.pairs
            .iter()
            .find(|p| p.database == db.database)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("database pair `{}` is not on Azure", db.database),
                )
            })
    }

    async fn group(&self, p: &GroupPair, db: &DatabaseRef) -> Result<Value> {
        self.arm
            .get(&p.group_id(db), API)
            .await
            .map_err(|e| e.or_resource(&format!("failover group {} on {}", p.group, db.instance)))
    }

    /// True when the server `db` names carries the fence this pair uses (the tag, and for
    /// `public-network-access` also a closed public endpoint).
    async fn fenced(&self, p: &GroupPair, db: &DatabaseRef) -> Result<bool> {
        let server = self.arm.get(&p.server_id(db), API).await?;
        Ok(fence_of(p, &server))
    }

    /// Age of the newest DISCRETE restore point of every database of the group, on its primary
    /// server (the worst of them); unknown when a database has none or they cannot be read.
    async fn backup_age(&self, group: &Value, here: &str) -> Option<Duration> {
        let primary_id = if group["properties"]["replicationRole"] == "Primary" {
            here.to_string()
        } else {
            group["properties"]["partnerServers"][0]["id"]
                .as_str()?
                .to_string()
        };
        let dbs = group["properties"]["databases"].as_array()?;
        if dbs.is_empty() {
            return None;
        }
        let mut worst = Duration::ZERO;
        for d in dbs {
            let name = last_segment(d.as_str()?);
            let points = self
                .arm
                .get(&format!("{primary_id}/databases/{name}/restorePoints"), API)
                .await
                .ok()?;
            let newest = points["value"]
                .as_array()?
                .iter()
                .filter_map(|p| p["properties"]["restorePointCreationDate"].as_str())
                .filter_map(parse_time)
                .max()?;
            let age = self.clock.now().duration_since(newest).unwrap_or_default();
            worst = worst.max(age);
        }
        Some(worst)
    }
    /// What would refuse a planned failover to the secondary whose view of the group is `g`: a
    /// replication link not in `CATCH_UP`, or a fence Azure refuses on the primary (closing the
    /// public endpoint of a server with no private endpoint).
    async fn blockers(&self, p: &GroupPair, g: &Value) -> Vec<String> {
        let mut out = Vec::new();
        let state = g["properties"]["replicationState"].as_str().unwrap_or("?");
        if state != "CATCH_UP" {
            out.push(format!(
                "failover group {}'s replication link is {state}, and Azure fails over planned only in CATCH_UP (IncorrectReplicationLinkState)",
                p.group
            ));
        }
        if p.fence == FenceMode::PublicNetworkAccess {
            let primary = g["properties"]["partnerServers"][0]["id"].as_str();
            // The primary not answering is the lag and health checks' to report.
            if let Some(server) = match primary {
                Some(id) => self.arm.get(id, API).await.ok(),
                None => None,
            } {
                let approved = server["properties"]["privateEndpointConnections"]
                    .as_array()
                    .is_some_and(|c| {
                        c.iter().any(|c| {
                            c["properties"]["privateLinkServiceConnectionState"]["status"]
                                == "Approved"
                        })
                    });
                if !approved {
                    out.push(format!(
                        "the fence closes the public endpoint of SQL server {}, which has no approved private endpoint, and Azure refuses that (PECsNotExistingToDenyPublicNetworkAccess): add one, or set options.fence = \"tag\"",
                        server["name"].as_str().unwrap_or("?")
                    ));
                }
            }
        }
        out
    }

    /// After a failover that has happened (this step's earlier try, or Azure's own automatic
    /// one): the old primary carries the fence where it answers, the new one none.
    async fn settle_failed_over(&self, p: &GroupPair, req: &PromoteRequest) -> Result<()> {
        match self.set_fence(p, &req.old_primary, true).await {
            Ok(()) => {}
            // Out with its region: it rejoins as the group's secondary, read-only, when it returns.
            Err(e) if e.kind() == ErrorKind::Unreachable => {}
            Err(e) => return Err(e),
        }
        self.set_fence(p, &req.target, false).await
    }

    /// Sets or lifts the pair's fence on the server `db` names: observed first (nothing is sent
    /// when it is already so), then one `PATCH`, a long-running operation followed to its end,
    /// then read back: the fence counts only once the server shows it.
    async fn set_fence(&self, p: &GroupPair, db: &DatabaseRef, fenced: bool) -> Result<()> {
        let id = p.server_id(db);
        let server = self.arm.get(&id, API).await?;
        if fence_of(p, &server) == fenced {
            return Ok(());
        }
        let mut tags = server["tags"].as_object().cloned().unwrap_or_default();
        if fenced {
            tags.insert(FENCED_TAG.into(), json!("true"));
        } else {
            tags.remove(FENCED_TAG);
        }
        let mut body = json!({ "tags": tags });
        if p.fence == FenceMode::PublicNetworkAccess {
            body["properties"] = json!({
                "publicNetworkAccess": if fenced { "Disabled" } else { "Enabled" }
            });
        }
        self.arm
            .patch(&id, API, &body, self.failover_timeout)
            .await
            .map_err(|e| fence_error(e, p, db))?;
        let now = self.arm.get(&id, API).await?;
        if fence_of(p, &now) != fenced {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "SQL server {}: the update {} the fence ended, but the server does not show it (tag {}, publicNetworkAccess {})",
                    db.instance,
                    if fenced { "setting" } else { "lifting" },
                    now["tags"][FENCED_TAG].as_str().unwrap_or("absent"),
                    now["properties"]["publicNetworkAccess"].as_str().unwrap_or("?")
                ),
            )
            .temporary()
            .with_resource(db.instance.clone()));
        }
        Ok(())
    }
}

/// True when `server` (its ARM representation) carries the fence `p` uses: the tag, and for
/// `public-network-access` also a closed public endpoint.
fn fence_of(p: &GroupPair, server: &Value) -> bool {
    let tagged = server["tags"][FENCED_TAG] == "true";
    let closed = server["properties"]["publicNetworkAccess"] == "Disabled";
    match p.fence {
        FenceMode::Tag => tagged,
        FenceMode::PublicNetworkAccess => tagged && closed,
    }
}

/// A failed fence update, with what to do where Azure's words alone would not say it.
fn fence_error(e: Error, p: &GroupPair, db: &DatabaseRef) -> Error {
    if e.message()
        .contains("PECsNotExistingToDenyPublicNetworkAccess")
    {
        return Error::config(format!(
            "databases.{}.options.fence = \"public-network-access\": Azure refuses to close the public endpoint of SQL server {}, which has no private endpoint (PECsNotExistingToDenyPublicNetworkAccess); add a private endpoint to it, or fence with \"tag\"",
            p.database, db.instance
        ))
        .with_resource(db.instance.clone());
    }
    e.or_resource(&db.instance)
}

#[async_trait]
impl DatabaseFailover for SqlFailoverGroups {
    async fn status(&self, db: &DatabaseRef) -> Result<DatabaseStatus> {
        let p = self.pair(db)?;
        let g = self.group(p, db).await?;
        let props = &g["properties"];
        let role = role_of(p, db, &g)?;
        let state = props["replicationState"].as_str().unwrap_or_default();
        let fenced = self.fenced(p, db).await?;
        Ok(DatabaseStatus {
            role,
            fenced,
            // ARM reports no replication lag for failover groups (only T-SQL's
            // sys.dm_geo_replication_link_status does): unknown, never zero.
            replication_lag: None,
            replication_lag_bytes: None,
            replication_lag_at_most: None,
            last_backup_age: self.backup_age(&g, &p.server_id(db)).await,
            replicating_from: (role == DatabaseRole::Replica)
                .then(|| {
                    props["partnerServers"][0]["id"]
                        .as_str()
                        .map(|id| last_segment(id).to_string())
                })
                .flatten(),
            lossless_planned_promotion: role == DatabaseRole::Replica && state == "CATCH_UP",
            planned_promotion_blockers: if role == DatabaseRole::Replica {
                self.blockers(p, &g).await
            } else {
                Vec::new()
            },
        })
    }

    async fn fence(&self, req: &FenceRequest) -> Result<()> {
        let p = self.pair(&req.target)?;
        self.set_fence(p, &req.target, req.fenced).await
    }

    async fn promote(&self, req: &PromoteRequest) -> Result<()> {
        let p = self.pair(&req.target)?;
        // Observe first: a retried promotion whose failover already happened is done.
        let g = self.group(p, &req.target).await?;
        if g["properties"]["replicationRole"] == "Primary" {
            // Failed over already: by an earlier try of this step, or by Azure itself (an
            // `Automatic` policy after its grace period). Either way the old primary gets the fence
            // this pair uses, where it answers (it comes back a secondary where it does not).
            return self.settle_failed_over(p, req).await;
        }
        let state = g["properties"]["replicationState"].as_str().unwrap_or("?");
        if req.mode == PromoteMode::Planned && state != "CATCH_UP" {
            // Azure would refuse it (400 IncorrectReplicationLinkState): say why first.
            let e = Error::new(
                ErrorKind::InvalidState,
                format!(
                    "failover group {}: a planned failover needs the replication link in CATCH_UP, it is {state}{}",
                    p.group,
                    match state {
                        "SEEDING" | "PENDING" => " (the secondary is still being seeded: wait, or fail over forced behind the RPO gate)",
                        "SUSPENDED" => " (replication is suspended: only a forced failover, behind the RPO gate, can switch now)",
                        _ => "",
                    }
                ),
            )
            .with_resource(req.target.instance.clone());
            return Err(if matches!(state, "SEEDING" | "PENDING") {
                e.temporary()
            } else {
                e.permanent()
            });
        }
        // Never two writable primaries: the old primary must be fenced, or (forced) unreachable.
        // Only its role and fence are read (not its restore points, as `status` would).
        let old = &req.old_primary;
        let old_writable = async {
            let role = role_of(p, old, &self.group(p, old).await?)?;
            Ok::<_, Error>(role == DatabaseRole::Primary && !self.fenced(p, old).await?)
        };
        match old_writable.await {
            Ok(true) => {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!(
                        "old primary {} still accepts writes: refusing to fail failover group {} over to {} (split-brain)",
                        req.old_primary.instance, p.group, req.target.instance
                    ),
                )
                .with_resource(req.old_primary.instance.clone()))
            }
            Ok(false) => {}
            Err(e) if req.mode == PromoteMode::Forced && e.retry_status() != RetryStatus::Permanent => {}
            Err(e) => return Err(e),
        }
        let action = match req.mode {
            PromoteMode::Planned => "failover",
            PromoteMode::Forced => "forceFailoverAllowDataLoss",
        };
        self.arm
            .post_action(
                &format!("{}/{action}", p.group_id(&req.target)),
                API,
                self.failover_timeout,
            )
            .await
            .map_err(|e| {
                e.or_resource(&format!(
                    "failover group {} on {}",
                    p.group, req.target.instance
                ))
            })?;
        let g = self.group(p, &req.target).await?;
        if g["properties"]["replicationRole"] != "Primary" {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "the {action} of failover group {} ended, but {} is still {}",
                    p.group,
                    req.target.instance,
                    g["properties"]["replicationRole"].as_str().unwrap_or("?")
                ),
            )
            .with_resource(req.target.instance.clone()));
        }
        // The new primary takes writes: a fence left on it from an earlier failover is lifted.
        self.set_fence(p, &req.target, false).await
    }

    async fn reverse_replication(&self, req: &ReverseReplicationRequest) -> Result<SyncReport> {
        // A failover group re-establishes replication toward the old primary by itself once the
        // old primary's server answers: there is nothing to start, only to observe.
        let p = self.pair(&req.target)?;
        let g = self.group(p, &req.target).await?;
        let props = &g["properties"];
        let role = props["replicationRole"].as_str().unwrap_or("?");
        let partner = props["partnerServers"][0]["id"].as_str().map(last_segment);
        let state = props["replicationState"].as_str().unwrap_or("?");
        if role != "Secondary" || partner != Some(req.source.instance.as_str()) {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "failover group {}: {} is {role} (partner {}), not a secondary of {}; re-create the geo-secondary in the Azure portal or with `az sql failover-group create`",
                    p.group,
                    req.target.instance,
                    partner.unwrap_or("none"),
                    req.source.instance
                ),
            )
            .with_resource(req.target.instance.clone()));
        }
        Ok(SyncReport {
            pending_changes: 0,
            estimated_catch_up: Duration::ZERO,
            dry_run: req.dry_run,
            summary: Some(format!(
                "failover group {} already replicates {} -> {} (replicationState {state}); Azure reports no change count or lag, the group catches up by itself",
                p.group, req.source.instance, req.target.instance
            )),
        })
    }
}
