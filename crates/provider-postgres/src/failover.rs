//! [`DatabaseFailover`] for PostgreSQL streaming-replication pairs: status from the servers' own
//! views, the fence, and promotion (planned with the LSN catch-up proof, or forced).

use std::{sync::Arc, time::Duration};

use aegis_dr_core::{
    clock::Clock,
    provider::{
        DatabaseFailover, DatabaseRef, DatabaseRole, DatabaseStatus, FenceRequest, PromoteMode,
        PromoteRequest, ReverseReplicationRequest, SyncReport,
    },
    Error, ErrorKind, Result,
};
use async_trait::async_trait;
use tokio_postgres::Client;

use crate::{
    client::{connect, map_err, wait_until},
    observe::{observe, Observed},
    settings::{Instance, Pair},
};

/// The PostgreSQL pairs of a plan.
#[derive(Debug, Clone)]
pub struct PostgresDatabases {
    pub(crate) pairs: Arc<Vec<Pair>>,
    pub(crate) clock: Clock,
}

/// Quotes a role name as an SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

const FENCE_TABLES: &str = "CREATE SCHEMA IF NOT EXISTS aegis_dr;
  CREATE TABLE IF NOT EXISTS aegis_dr.fence (role_name text PRIMARY KEY, could_login boolean NOT NULL,
    fenced_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE IF NOT EXISTS aegis_dr.promotion (id bigserial PRIMARY KEY, instance text NOT NULL,
    mode text NOT NULL, from_lsn pg_lsn, promoted_at timestamptz NOT NULL DEFAULT now());";

impl PostgresDatabases {
    /// The pair and instance `db` names, or `NotFound`.
    pub(crate) fn resolve(&self, db: &DatabaseRef) -> Result<(&Pair, &Instance)> {
        let pair = self
            .pairs
            .iter()
            .find(|p| p.name == db.database)
            .ok_or_else(|| not_found(db))?;
        let inst = pair.at(db.site);
        if inst.name != db.instance {
            return Err(not_found(db));
        }
        Ok((pair, inst))
    }

    /// Connects to `i` and reads it.
    pub(crate) async fn look(&self, pair: &Pair, i: &Instance) -> Result<(Client, Observed)> {
        let c = connect(i).await?;
        let o = observe(&c, i, &pair.app_roles).await?;
        Ok((c, o))
    }

    /// The other instance of the pair, read, or `None` when it cannot be reached.
    async fn other(&self, pair: &Pair, i: &Instance) -> Option<Observed> {
        let other = pair.at(i.site.other());
        self.look(pair, other).await.ok().map(|(_, o)| o)
    }

    async fn backup_age(&self, pair: &Pair, c: &Client, o: &Observed) -> Result<Option<f64>> {
        match &pair.backup_age_query {
            None => Ok(o.archive_age),
            Some(q) => {
                let row = c
                    .query_one(q.as_str(), &[])
                    .await
                    .map_err(|e| map_err(&pair.name, "run backup_age_query", e))?;
                row.try_get::<_, Option<f64>>(0).map_err(|_| {
                    Error::config(format!(
                        "databases.{}.options.backup_age_query: must answer one float8 (seconds), e.g. `SELECT extract(epoch FROM now() - max(finished))::float8 FROM backups`",
                        pair.name
                    ))
                })
            }
        }
    }
}

fn not_found(db: &DatabaseRef) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!(
            "PostgreSQL instance `{}` is not in database pair `{}` of the plan",
            db.instance, db.database
        ),
    )
    .with_resource(db.instance.clone())
}

#[async_trait]
impl DatabaseFailover for PostgresDatabases {
    async fn status(&self, db: &DatabaseRef) -> Result<DatabaseStatus> {
        let (pair, inst) = self.resolve(db)?;
        let (c, o) = self.look(pair, inst).await?;
        let mut backup = self.backup_age(pair, &c, &o).await?;
        let (role, lag, from) = if o.standby {
            let upstream = self.other(pair, inst).await;
            // A standby archives nothing unless `archive_mode = always`: the cluster's archive is
            // its primary's, one cluster with it while it streams from it.
            if backup.is_none() && pair.backup_age_query.is_none() {
                backup = upstream
                    .as_ref()
                    .filter(|u| o.streams_from(u))
                    .and_then(|u| u.archive_age);
            }
            let lag = upstream.as_ref().and_then(|u| o.lag_behind(u));
            let from = match &upstream {
                Some(u) if o.streams_from(u) => Some(pair.at(inst.site.other()).name.clone()),
                _ => o.sender.clone(),
            };
            (DatabaseRole::Replica, lag, from)
        } else {
            (DatabaseRole::Primary, None, None)
        };
        Ok(DatabaseStatus {
            role,
            fenced: o.fenced(),
            replication_lag: lag.map(|(_, t)| t),
            replication_lag_bytes: lag.map(|(b, _)| b),
            // Unmeasured: whatever it lacks was committed after the last transaction it replayed.
            replication_lag_at_most: match (o.standby, lag) {
                (true, None) => o
                    .replay_age
                    .filter(|a| a.is_finite())
                    .map(|a| std::time::Duration::from_secs_f64(a.max(0.0))),
                _ => None,
            },
            last_backup_age: backup
                .filter(|a| a.is_finite())
                .map(|a| std::time::Duration::from_secs_f64(a.max(0.0))),
            replicating_from: from,
            lossless_planned_promotion: false,
            planned_promotion_blockers: Vec::new(),
        })
    }

    async fn fence(&self, req: &FenceRequest) -> Result<()> {
        let (pair, inst) = self.resolve(&req.target)?;
        let (c, o) = self.look(pair, inst).await?;
        if o.standby {
            // A standby takes no writes; its copy of the fence record is lifted when it is promoted.
            return if req.fenced {
                Ok(())
            } else {
                Err(Error::new(
                    ErrorKind::InvalidState,
                    format!(
                        "PostgreSQL `{}` is a standby: its fence is lifted when it is promoted, not before",
                        inst.name
                    ),
                )
                .with_resource(inst.name.clone()))
            };
        }
        if req.fenced {
            fence(&c, pair, inst, &self.clock).await
        } else {
            lift(&c, inst, None).await
        }
    }

    async fn promote(&self, req: &PromoteRequest) -> Result<()> {
        let (pair, target) = self.resolve(&req.target)?;
        let old = pair.at(req.old_primary.site);
        let (tc, to) = self.look(pair, target).await?;
        if !to.standby {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "PostgreSQL `{}` is not a standby: nothing to promote",
                    target.name
                ),
            )
            .with_resource(target.name.clone()));
        }
        // A forced promotion records the position it started from (a planned one was recorded
        // on the old primary, with its proof).
        let forced = match req.mode {
            PromoteMode::Planned => {
                self.catch_up(pair, target, old, &tc).await?;
                None
            }
            PromoteMode::Forced => {
                if let Some(oo) = self.other(pair, target).await {
                    if !oo.standby && !oo.fenced() {
                        return Err(Error::new(
                            ErrorKind::InvalidState,
                            format!(
                                "PostgreSQL `{}` still accepts writes: refusing to promote `{}` (split-brain); fence it first",
                                old.name, target.name
                            ),
                        )
                        .with_resource(old.name.clone()));
                    }
                }
                Some(to.lsn)
            }
        };
        // pg_promote(wait => true) checks every 100 ms; polling the role ourselves ends sooner.
        tc.execute("SELECT pg_promote(false)", &[])
            .await
            .map_err(|e| map_err(&target.name, "pg_promote", e))?;
        wait_until(
            &self.clock,
            &format!("`{}` to leave recovery", target.name),
            pair.promote_timeout,
            || async {
                // The session survives the promotion: no new connection per poll.
                let row = tc
                    .query_one("SELECT pg_is_in_recovery()", &[])
                    .await
                    .map_err(|e| map_err(&target.name, "read its role", e))?;
                Ok((!row.get::<_, bool>(0)).then_some(()))
            },
        )
        .await
        .map_err(|e| {
            e.context(format!(
                "PostgreSQL `{}`: promoted, but still in recovery (the promotion may still complete; aegis-dr reads its role before trying again)",
                target.name
            ))
        })?;
        // The fence record came over with the data: lift it here, and record a forced
        // promotion, in one write that proves the new primary takes writes.
        lift(&tc, target, forced).await
    }

    async fn reverse_replication(&self, req: &ReverseReplicationRequest) -> Result<SyncReport> {
        crate::rejoin::reverse(self, req).await
    }
}

/// Fences `inst` (a primary): records each application role's LOGIN, takes it away, then ends the
/// roles' sessions (their open transactions roll back) and checks none is left.
async fn fence(c: &Client, pair: &Pair, inst: &Instance, clock: &Clock) -> Result<()> {
    let e = |doing: &'static str| move |err| map_err(&inst.name, doing, err);
    let missing: Vec<String> = c
        .query(
            "SELECT r FROM unnest($1::text[]) r WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)",
            &[&pair.app_roles],
        )
        .await
        .map_err(e("check the application roles"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !missing.is_empty() {
        return Err(Error::config(format!(
            "databases.{}.options.app_roles: no role {} on `{}`: a fence that misses the application's role is no fence",
            pair.name,
            missing.join(", "),
            inst.name
        )));
    }
    let mut sql = format!(
        "BEGIN; SET LOCAL synchronous_commit = local; {FENCE_TABLES}
         INSERT INTO aegis_dr.fence (role_name, could_login)
           SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ({}) ON CONFLICT DO NOTHING;",
        pair.app_roles
            .iter()
            .map(|r| format!("'{}'", r.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for r in &pair.app_roles {
        sql.push_str(&format!(" ALTER ROLE {} NOLOGIN;", ident(r)));
    }
    sql.push_str(" COMMIT;");
    c.batch_execute(&sql).await.map_err(e("fence"))?;
    // pg_terminate_backend's own wait checks every 100 ms; polling the sessions ends sooner.
    c.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE usename = ANY($1) AND pid <> pg_backend_pid()",
        &[&pair.app_roles],
    )
    .await
    .map_err(e("end the application's sessions"))?;
    wait_until(
        clock,
        &format!("the application's sessions on `{}` to end", inst.name),
        Duration::from_secs(5),
        || async {
            let left: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = ANY($1)",
                    &[&pair.app_roles],
                )
                .await
                .map_err(e("count the application's sessions"))?
                .get(0);
            Ok((left == 0).then_some(()))
        },
    )
    .await
    .map_err(|err| {
        Error::new(
            ErrorKind::Provider,
            format!(
                "PostgreSQL `{}`: fenced (no new application session), but its sessions did not all end: {err}",
                inst.name
            ),
        )
        .with_resource(inst.name.clone())
        .temporary()
    })
}

/// Lifts the fence of `inst` (a primary): gives LOGIN back to the roles that had it (as recorded)
/// and deletes the record; with `forced`, also records a forced promotion from that LSN.
async fn lift(c: &Client, inst: &Instance, forced: Option<Option<u64>>) -> Result<()> {
    let record = match forced {
        Some(lsn) => format!(
            "INSERT INTO aegis_dr.promotion (instance, mode, from_lsn) VALUES ('{}', 'forced', {});",
            inst.name.replace('\'', "''"),
            lsn.map(|l| format!("'{:X}/{:X}'", l >> 32, l & 0xFFFF_FFFF))
                .unwrap_or_else(|| "NULL".into())
        ),
        None => String::new(),
    };
    let sql = format!(
        "BEGIN; SET LOCAL synchronous_commit = local; {FENCE_TABLES}
         DO $aegis$ DECLARE r record; BEGIN
           FOR r IN SELECT role_name FROM aegis_dr.fence WHERE could_login LOOP
             EXECUTE format('ALTER ROLE %I LOGIN', r.role_name);
           END LOOP;
           DELETE FROM aegis_dr.fence;
         END $aegis$;
         {record} COMMIT;"
    );
    c.batch_execute(&sql)
        .await
        .map_err(|e| map_err(&inst.name, "lift the fence", e))
}

impl PostgresDatabases {
    /// The planned promotion's proof: records the promotion on the fenced old primary, flushes its
    /// WAL and reads where it ends, then waits until the standby has replayed at least that far.
    async fn catch_up(
        &self,
        pair: &Pair,
        target: &Instance,
        old: &Instance,
        tc: &Client,
    ) -> Result<()> {
        let (oc, oo) = self.look(pair, old).await?;
        if oo.standby {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "PostgreSQL `{}` is not the primary: no planned promotion from it",
                    old.name
                ),
            )
            .with_resource(old.name.clone()));
        }
        if !oo.fenced() {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "PostgreSQL `{}` is not fenced (application roles can log in or hold sessions): refusing a planned promotion of `{}` (split-brain)",
                    old.name, target.name
                ),
            )
            .with_resource(old.name.clone()));
        }
        // A synchronous (local) commit flushes every WAL record before it, the acknowledged
        // asynchronous commits included; the record tells a later rejoin that this was planned.
        oc.batch_execute(&format!(
            "BEGIN; SET LOCAL synchronous_commit = local; {FENCE_TABLES}
             INSERT INTO aegis_dr.promotion (instance, mode) VALUES ('{}', 'planned'); COMMIT;",
            target.name.replace('\'', "''")
        ))
        .await
        .map_err(|e| map_err(&old.name, "record the planned promotion", e))?;
        let end: String = oc
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await
            .map_err(|e| map_err(&old.name, "read its final WAL position", e))?
            .get(0);
        wait_until(
            &self.clock,
            &format!("`{}` to replay the fenced primary's WAL up to {end}", target.name),
            pair.catch_up_timeout,
            || async {
                let row = tc
                    .query_one(
                        "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn, pg_last_wal_replay_lsn()::text",
                        &[&end],
                    )
                    .await
                    .map_err(|e| map_err(&target.name, "read its replay position", e))?;
                Ok(row.get::<_, Option<bool>>(0).unwrap_or(false).then_some(()))
            },
        )
        .await
        .map_err(|e| {
            e.context(format!(
                "no planned promotion of `{}` without the proof that it holds everything the fenced primary wrote",
                target.name
            ))
        })?;
        Ok(())
    }
}
