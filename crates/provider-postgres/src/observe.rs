//! What an instance says of itself, in one query: role, WAL position, timeline, its WAL receiver,
//! the age of its last replayed transaction and of its last archived WAL, and the fence.

use std::time::Duration;

use aegis_dr_core::Result;
use tokio_postgres::Client;

use crate::client::{lsn, map_err};
use crate::settings::Instance;

/// One instance, as read.
#[derive(Debug, Clone)]
pub struct Observed {
    /// In recovery: a standby.
    pub standby: bool,
    /// The cluster's system identifier (the same on a primary and its physical standbys).
    pub system_id: String,
    /// The primary's current WAL write position, or the standby's last replayed one.
    pub lsn: Option<u64>,
    /// The primary's timeline, or the timeline a standby receives.
    pub timeline: Option<i32>,
    /// The WAL receiver's status (`streaming`, ...), when one runs.
    pub receiver: Option<String>,
    /// `host:port` the receiver streams from.
    pub sender: Option<String>,
    /// Seconds since the last replayed transaction committed on its primary.
    pub replay_age: Option<f64>,
    /// On a primary: the longest `replay_lag` its streaming standbys report (seconds).
    pub standby_replay_lag: Option<f64>,
    /// Seconds since WAL was last archived (when the last attempt did not fail after it).
    pub archive_age: Option<f64>,
    /// Rows of the fence record (replicated with everything else).
    pub fence_rows: i64,
    /// Application roles that may still log in.
    pub app_login_roles: i64,
    /// Sessions of application roles.
    pub app_sessions: i64,
}

const OBSERVE: &str = "SELECT pg_is_in_recovery(),
  (SELECT system_identifier::text FROM pg_control_system()),
  CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text ELSE pg_current_wal_lsn()::text END,
  CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli FROM pg_stat_wal_receiver)
       ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
  (SELECT status FROM pg_stat_wal_receiver),
  (SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver),
  extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8,
  (SELECT extract(epoch FROM clock_timestamp() - last_archived_time)::float8 FROM pg_stat_archiver
     WHERE last_archived_time IS NOT NULL AND (last_failed_time IS NULL OR last_failed_time <= last_archived_time)),
  to_regclass('aegis_dr.fence') IS NOT NULL,
  (SELECT count(*) FROM pg_roles WHERE rolname = ANY($1) AND rolcanlogin),
  (SELECT count(*) FROM pg_stat_activity WHERE usename = ANY($1)),
  (SELECT max(extract(epoch FROM replay_lag))::float8 FROM pg_stat_replication WHERE state = 'streaming')";

/// Reads `i` through `c`.
pub async fn observe(c: &Client, i: &Instance, app_roles: &[String]) -> Result<Observed> {
    let e = |e| map_err(&i.name, "read its state", e);
    let row = c.query_one(OBSERVE, &[&app_roles]).await.map_err(e)?;
    let has_fence: bool = row.get(8);
    let fence_rows = if has_fence {
        c.query_one("SELECT count(*) FROM aegis_dr.fence", &[])
            .await
            .map_err(e)?
            .get(0)
    } else {
        0
    };
    Ok(Observed {
        standby: row.get(0),
        system_id: row.get(1),
        lsn: row.get::<_, Option<String>>(2).as_deref().and_then(lsn),
        timeline: row.get(3),
        receiver: row.get(4),
        sender: row.get(5),
        replay_age: row.get(6),
        archive_age: row.get(7),
        fence_rows,
        app_login_roles: row.get(9),
        app_sessions: row.get(10),
        standby_replay_lag: row.get(11),
    })
}

impl Observed {
    /// A primary whose application roles can neither log in nor hold a session, by aegis-dr's
    /// fence (a standby holding the replicated fence record counts as fenced too: promoted, it
    /// starts fenced until the promotion lifts it).
    pub fn fenced(&self) -> bool {
        self.fence_rows > 0 && self.app_login_roles == 0 && (self.standby || self.app_sessions == 0)
    }

    /// True when this standby streams from `upstream` (the same cluster, on its timeline).
    pub fn streams_from(&self, upstream: &Observed) -> bool {
        self.standby
            && !upstream.standby
            && self.receiver.as_deref() == Some("streaming")
            && self.system_id == upstream.system_id
            && self.timeline.is_some()
            && self.timeline == upstream.timeline
    }

    /// This standby's lag behind `upstream` it streams from: bytes of WAL not replayed, and time
    /// (zero when nothing is left; otherwise the age of the last transaction replayed, an upper
    /// bound, or else the primary's `replay_lag`). `None` when it does not stream from it, or when
    /// bytes remain and no time was measured: unknown is never zero.
    pub fn lag_behind(&self, upstream: &Observed) -> Option<(u64, Duration)> {
        if !self.streams_from(upstream) {
            return None;
        }
        let bytes = upstream.lsn?.saturating_sub(self.lsn?);
        if bytes == 0 {
            return Some((0, Duration::ZERO));
        }
        let age = self
            .replay_age
            .or(upstream.standby_replay_lag)
            .filter(|a| a.is_finite())?;
        Some((bytes, Duration::from_secs_f64(age.max(0.001))))
    }
}
