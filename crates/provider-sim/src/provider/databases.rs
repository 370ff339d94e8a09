//! The simulated database pairs: status, fencing, promotion, reverse replication and snapshots.

use super::*;

#[async_trait]
impl DatabaseFailover for SimProvider {
    async fn status(&self, db: &DatabaseRef) -> Result<DatabaseStatus> {
        self.read(
            ProviderOp::DatabaseStatus,
            &db.instance,
            Some(db.site),
            |w, now| {
                let d = w
                    .databases
                    .get(&db.instance)
                    .ok_or_else(|| not_found("database instance", &db.instance))?;
                Ok(DatabaseStatus {
                    role: d.role,
                    fenced: d.fenced,
                    replication_lag: w
                        .lag(&db.instance, now, self.settings.catch_up_speed)
                        .filter(|_| self.settings.lag_reported),
                    replication_lag_bytes: None,
                    replication_lag_at_most: None,
                    last_backup_age: Some(Duration::from_millis(
                        now.saturating_sub(d.last_backup_ms),
                    )),
                    replicating_from: d.replicating_from.clone(),
                    lossless_planned_promotion: false,
                    planned_promotion_blockers: Vec::new(),
                })
            },
        )
        .await
    }

    async fn fence(&self, req: &FenceRequest) -> Result<()> {
        let id = req.target.instance.clone();
        self.call(
            ProviderOp::FenceDatabase,
            &id,
            Some(req.target.site),
            true,
            |w, now| {
                let d = w
                    .databases
                    .get_mut(&id)
                    .ok_or_else(|| not_found("database instance", &id))?;
                if d.fenced != req.fenced {
                    d.fenced = req.fenced;
                    d.fenced_ms = req.fenced.then_some(now);
                }
                Ok(())
            },
        )
        .await
    }

    async fn promote(&self, req: &PromoteRequest) -> Result<()> {
        let id = req.target.instance.clone();
        let lag_limit = Duration::ZERO;
        self.call(
            ProviderOp::PromoteDatabase,
            &id,
            Some(req.target.site),
            true,
            |w, now| {
                let lag = w.lag(&id, now, self.settings.catch_up_speed);
                let d = w
                    .databases
                    .get(&id)
                    .ok_or_else(|| not_found("database instance", &id))?;
                match d.role {
                    DatabaseRole::Primary => {
                        return Err(invalid(format!("`{id}` is already the primary")))
                    }
                    DatabaseRole::Standalone => {
                        return Err(invalid(format!(
                            "`{id}` is not replicating: nothing to promote"
                        )))
                    }
                    DatabaseRole::Replica => {}
                }
                let source = d.replicating_from.clone();
                if req.mode == PromoteMode::Planned {
                    let src_fenced = source
                        .as_ref()
                        .and_then(|s| w.databases.get(s))
                        .map(|s| s.fenced)
                        .unwrap_or(false);
                    if !src_fenced {
                        return Err(invalid(format!(
                            "planned promotion of `{id}` needs its source fenced first"
                        )));
                    }
                    if lag.unwrap_or_default() > lag_limit {
                        return Err(invalid(format!(
                            "planned promotion of `{id}` needs replication caught up (lag {:?})",
                            lag.unwrap_or_default()
                        ))
                        .temporary());
                    }
                }
                if let Some(d) = w.databases.get_mut(&id) {
                    d.role = DatabaseRole::Primary;
                    d.fenced = false;
                    d.fenced_ms = None;
                    d.replicating_from = None;
                    d.lag_ms = 0;
                    d.promoted_ms = Some(now);
                }
                if let Some(src) = source.and_then(|s| w.databases.get_mut(&s)) {
                    if src.role == DatabaseRole::Primary {
                        src.role = DatabaseRole::Standalone;
                    }
                }
                Ok(())
            },
        )
        .await
    }

    async fn reverse_replication(&self, req: &ReverseReplicationRequest) -> Result<SyncReport> {
        let (src, dst) = (req.source.instance.clone(), req.target.instance.clone());
        let lag_ms = self.settings.replication_lag.as_millis() as u64;
        let catch_up = self.settings.replication_lag;
        // The target sits at the other site; both must answer.
        self.read(
            ProviderOp::ReverseReplicationDatabase,
            &dst,
            Some(req.target.site),
            |_, _| Ok(()),
        )
        .await?;
        self.call(
            ProviderOp::ReverseReplicationDatabase,
            &dst,
            Some(req.source.site),
            !req.dry_run,
            |w, now| {
                let s = w
                    .databases
                    .get(&src)
                    .ok_or_else(|| not_found("database instance", &src))?;
                if s.role != DatabaseRole::Primary {
                    return Err(invalid(format!(
                        "`{src}` is not a primary: it cannot be a replication source"
                    )));
                }
                let pending = s
                    .promoted_ms
                    .map(|p| now.saturating_sub(p) / 100)
                    .unwrap_or(0);
                let t = w
                    .databases
                    .get(&dst)
                    .ok_or_else(|| not_found("database instance", &dst))?;
                let already = t.role == DatabaseRole::Replica
                    && t.replicating_from.as_deref() == Some(src.as_str());
                if !req.dry_run && !already {
                    if t.role == DatabaseRole::Primary && !t.fenced {
                        return Err(invalid(format!(
                            "`{dst}` is a writable primary: fence it before re-protecting"
                        )));
                    }
                    if let Some(t) = w.databases.get_mut(&dst) {
                        t.role = DatabaseRole::Replica;
                        t.fenced = true;
                        t.fenced_ms = None;
                        t.replicating_from = Some(src.clone());
                        t.lag_ms = lag_ms;
                        t.promoted_ms = None;
                    }
                }
                Ok(SyncReport {
                    pending_changes: if already { 0 } else { pending },
                    estimated_catch_up: if already { Duration::ZERO } else { catch_up },
                    dry_run: req.dry_run,
                    summary: None,
                })
            },
        )
        .await
    }

    async fn create_snapshot(&self, req: &SnapshotRequest) -> Result<()> {
        let (name, id) = (req.name.clone(), req.db.instance.clone());
        self.call(
            ProviderOp::CreateSnapshot,
            &id,
            Some(req.db.site),
            true,
            |w, now| {
                if !w.databases.contains_key(&id) {
                    return Err(not_found("database instance", &id));
                }
                match w.snapshots.get(&name) {
                    Some((of, _)) if *of != id => Err(invalid(format!(
                        "snapshot `{name}` exists, of `{of}`, not of `{id}`"
                    ))),
                    Some(_) => Ok(()),
                    None => {
                        w.snapshots.insert(name, (id.clone(), now));
                        Ok(())
                    }
                }
            },
        )
        .await
    }

    async fn snapshot_state(&self, req: &SnapshotRequest) -> Result<SnapshotState> {
        let job_ms = self.settings.job_time.as_millis() as u64;
        self.read(
            ProviderOp::SnapshotState,
            &req.db.instance,
            Some(req.db.site),
            |w, now| match w.snapshots.get(&req.name) {
                None => Err(not_found("snapshot", &req.name)),
                Some((_, at)) if now >= at + job_ms => Ok(SnapshotState::Available),
                Some(_) => Ok(SnapshotState::Creating),
            },
        )
        .await
    }
}
