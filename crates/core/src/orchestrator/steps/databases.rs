//! Databases: fence, promote (planned or forced, behind the RPO gate), reverse replication.

use std::{sync::Arc, time::Duration};

use serde_json::json;

use super::{db_ref, fmt_ms, primary_down_accepted};
use crate::{
    duration::format_duration,
    error::{Error, ErrorKind, Result},
    orchestrator::step_ctx::StepCtx,
    plan::{DatabaseSpec, SiteRole},
    provider::{
        DatabaseFailover, DatabaseRef, DatabaseRole, DatabaseStatus, FenceRequest, PromoteMode,
        PromoteRequest, ReverseReplicationRequest, SnapshotRequest, SnapshotState,
    },
    run::{Checkpoint, Output},
};

pub(super) async fn fence(ctx: &StepCtx, site: SiteRole) -> Result<String> {
    let dbs: Vec<_> = ctx.plan().databases.iter().collect();
    let out = ctx
        .fan_out(dbs, |d| {
            let r = db_ref(d, site);
            async move {
                let db = ctx.providers().database(&d.provider)?;
                let s = match ctx.call("read database status", || db.status(&r)).await {
                    Ok(s) => s,
                    Err(e) if primary_down_accepted(ctx, site, &e)? => {
                        ctx.note(format!(
                            "{}: unreachable, not fenced; the promotion will be forced ({e})",
                            r.instance
                        ));
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                };
                if s.role != DatabaseRole::Primary {
                    return Ok(Some(format!("{}: {:?}, nothing to fence", d.name, s.role)));
                }
                if s.fenced {
                    return Ok(Some(format!("{}: already fenced", d.name)));
                }
                let req = FenceRequest {
                    target: r.clone(),
                    fenced: true,
                };
                ctx.call("fence database", || db.fence(&req)).await?;
                Ok(Some(format!("{}: fenced {}", d.name, r.instance)))
            }
        })
        .await?;
    let unreachable = out.iter().filter(|o| o.is_none()).count();
    if unreachable == out.len() && unreachable > 0 {
        return Ok(ctx.skip(
            "the primary site is unreachable, as declared (--primary-unreachable): no database fenced; the promotion is forced",
        ));
    }
    let mut lines: Vec<String> = out.into_iter().flatten().collect();
    if unreachable > 0 {
        lines.push(format!(
            "{unreachable} unreachable, not fenced (--primary-unreachable)"
        ));
    }
    Ok(lines.join("; "))
}

/// What the promotion step decided for one database.
pub(super) struct PromoteDecision<'a> {
    spec: &'a DatabaseSpec,
    target: DatabaseRef,
    old: DatabaseRef,
    action: PromoteAction,
    /// The data-loss window in ms; `None` when it could not be measured.
    rpo_ms: Option<u64>,
}

/// What the promotion does to one database.
#[derive(Clone, Copy)]
pub(super) enum PromoteAction {
    /// Nothing: it already is an unfenced primary.
    None,
    /// It is a primary that was fenced and never demoted (a failover that failed before promoting
    /// the other side): lifting the fence is all it needs.
    LiftFence,
    /// Promote it.
    Promote(PromoteMode),
}

/// Waits until `target` is an unfenced primary.
async fn wait_writable(
    ctx: &StepCtx,
    db: &Arc<dyn DatabaseFailover>,
    target: &DatabaseRef,
) -> Result<()> {
    ctx.wait(&format!("{} to take writes", target.instance), || async {
        let s = db.status(target).await?;
        Ok((s.role == DatabaseRole::Primary && !s.fenced).then_some(()))
    })
    .await
}

/// True when a status proves the replica has everything its fenced source wrote: a measured zero
/// lag (an unknown lag proves nothing), or the replica already serving as primary.
pub(super) fn caught_up(s: &DatabaseStatus) -> bool {
    s.role == DatabaseRole::Primary || s.replication_lag == Some(Duration::ZERO)
}

/// Decides how to promote `d` at `to`: reads both instances, refuses a split brain, waits for a
/// planned promotion's replica to catch up, and gates a forced one on its measured lag.
pub(super) async fn decide_promotion<'a>(
    ctx: &StepCtx,
    db: &Arc<dyn DatabaseFailover>,
    d: &'a DatabaseSpec,
    to: SiteRole,
) -> Result<PromoteDecision<'a>> {
    let rpo = ctx.run.fixed.targets.rpo;
    let target = db_ref(d, to);
    let old = db_ref(d, to.other());
    // Both instances are read at once (one round trip); a primary declared unreachable is asked
    // once, without retries.
    let read_old = async {
        if old.site == SiteRole::Primary && ctx.flags().primary_unreachable {
            db.status(&old).await
        } else {
            ctx.call("read old primary status", || db.status(&old))
                .await
        }
    };
    let (s, old_status) = futures_util::join!(
        ctx.call("read database status", || db.status(&target)),
        read_old
    );
    let s = s?;
    if s.role == DatabaseRole::Primary && !s.fenced {
        // Promoted by an earlier attempt: its measured window was checkpointed before promoting
        // (`null`: not measured). Without a checkpoint it was primary already: nothing moved.
        let rpo_ms = match ctx
            .checkpointed(&Checkpoint::RpoMs)
            .and_then(|m| m.get(&d.name).cloned())
        {
            Some(v) => v.as_u64(),
            None => Some(0),
        };
        return Ok(PromoteDecision {
            spec: d,
            target,
            old,
            action: PromoteAction::None,
            rpo_ms,
        });
    }
    if s.role == DatabaseRole::Primary {
        // Fenced and never demoted: the other instance must not have become a writer meanwhile.
        let o = old_status?;
        if o.role != DatabaseRole::Replica && !o.fenced {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "{} is a fenced primary and {} also accepts writes: refusing to lift the fence (split-brain)",
                    target.instance, old.instance
                ),
            )
            .with_resource(target.instance.clone()));
        }
        return Ok(PromoteDecision {
            spec: d,
            target,
            old,
            action: PromoteAction::LiftFence,
            rpo_ms: Some(0),
        });
    }
    if s.role != DatabaseRole::Replica {
        return Err(Error::new(
            ErrorKind::InvalidState,
            format!(
                "{} is {:?}, not a replica: refusing to promote it",
                target.instance, s.role
            ),
        )
        .with_resource(target.instance.clone()));
    }
    let mode = match old_status {
        Ok(o) if o.role != DatabaseRole::Replica && !o.fenced => {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "old primary {} still accepts writes: refusing to promote {} (split-brain)",
                    old.instance, target.instance
                ),
            )
            .with_resource(old.instance.clone()))
        }
        Ok(_) => PromoteMode::Planned,
        Err(e) if primary_down_accepted(ctx, old.site, &e)? => PromoteMode::Forced,
        Err(e) => return Err(e),
    };
    let rpo_ms = match mode {
        PromoteMode::Planned if caught_up(&s) => Some(0),
        // The provider's planned promotion synchronises before switching roles: nothing is lost.
        PromoteMode::Planned if s.lossless_planned_promotion => Some(0),
        PromoteMode::Planned => {
            // The source is fenced: once the replica has everything, nothing is lost. Only a
            // measured zero proves it; an unknown lag is waited on like a positive one.
            let what = format!("{} to catch up (measured lag 0)", target.instance);
            let poll = || async {
                let s = db.status(&target).await?;
                Ok(caught_up(&s).then_some(()))
            };
            if s.replication_lag.is_none() && ctx.flags().accept_data_loss {
                // Lag unknown and data loss accepted: wait the promotion estimate, not the RTO.
                let budget = ctx.estimates().promotion;
                match ctx.wait_at_most(&what, budget, poll).await? {
                    Some(()) => Some(0),
                    None => {
                        ctx.note(format!(
                            "{}: no measured lag within {}; promoting with an unknown data-loss window (--accept-data-loss)",
                            target.instance,
                            format_duration(budget)
                        ));
                        None
                    }
                }
            } else {
                ctx.wait(&what, poll).await.map_err(|e| {
                    if s.replication_lag.is_none() {
                        e.context(format!(
                            "the replication lag of {} was never measured, so it was not shown to have caught up (pass --accept-data-loss to promote without that proof)",
                            target.instance
                        ))
                    } else {
                        e
                    }
                })?;
                Some(0)
            }
        }
        PromoteMode::Forced => match s.replication_lag {
            // Not measured: the provider's bound, when it has one, is the window reported.
            None if ctx.flags().accept_data_loss => {
                s.replication_lag_at_most.map(|d| d.as_millis() as u64)
            }
            None => {
                return Err(Error::refused(format!(
                    "database `{}`: the replication lag of {} is unknown, so the data a forced promotion would lose cannot be bounded by the RPO of {} (pass --accept-data-loss)",
                    d.name,
                    target.instance,
                    format_duration(rpo)
                ))
                .with_resource(target.instance.clone()));
            }
            Some(lag) if lag > rpo && !ctx.flags().accept_data_loss => {
                return Err(Error::refused(format!(
                    "database `{}`: forced promotion would lose {} of writes, beyond the RPO of {} (pass --accept-data-loss)",
                    d.name,
                    format_duration(lag),
                    format_duration(rpo)
                ))
                .with_resource(target.instance.clone()));
            }
            Some(lag) => Some(lag.as_millis() as u64),
        },
    };
    Ok(PromoteDecision {
        spec: d,
        target,
        old,
        action: PromoteAction::Promote(mode),
        rpo_ms,
    })
}

pub(super) async fn promote(ctx: &StepCtx, to: SiteRole) -> Result<String> {
    let dbs: Vec<_> = ctx.plan().databases.iter().collect();
    // Phase 1: observe every pair and decide; nothing is promoted unless every pair passes its gate.
    let decisions = ctx
        .fan_out(dbs, |d| async move {
            let db = ctx.providers().database(&d.provider)?;
            decide_promotion(ctx, db, d, to).await
        })
        .await?;
    // The measured data-loss windows are journaled once, durably, before any promotion (`null`:
    // not measured).
    let todo: Vec<&PromoteDecision> = decisions
        .iter()
        .filter(|d| matches!(d.action, PromoteAction::Promote(_)))
        .collect();
    if !todo.is_empty() {
        let mut all = match ctx.checkpointed(&Checkpoint::RpoMs) {
            Some(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        all.extend(todo.iter().map(|d| (d.spec.name.clone(), json!(d.rpo_ms))));
        ctx.checkpoint(&Checkpoint::RpoMs, serde_json::Value::Object(all))?;
    }
    // Phase 2: promote and confirm.
    let out = ctx
        .fan_out(decisions.iter().collect(), |d: &PromoteDecision| {
            async move {
                let db = ctx.providers().database(&d.spec.provider)?;
                let mode = match d.action {
                    PromoteAction::None => {
                        return Ok(format!(
                            "{}: {} already primary",
                            d.spec.name, d.target.instance
                        ))
                    }
                    PromoteAction::LiftFence => {
                        let req = FenceRequest {
                            target: d.target.clone(),
                            fenced: false,
                        };
                        ctx.call("lift fence", || db.fence(&req)).await?;
                        wait_writable(ctx, db, &d.target).await?;
                        return Ok(format!(
                            "{}: {} was fenced but never demoted: fence lifted, no data moved",
                            d.spec.name, d.target.instance
                        ));
                    }
                    PromoteAction::Promote(mode) => mode,
                };
                let req = PromoteRequest {
                    target: d.target.clone(),
                    old_primary: d.old.clone(),
                    mode,
                };
                // On a retry, observe first: a lost response to a promotion that happened must not fail it.
                let attempt = std::sync::atomic::AtomicU32::new(0);
                ctx.call("promote database", || async {
                    let retrying = attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0;
                    if retrying && db.status(&d.target).await?.role == DatabaseRole::Primary {
                        return Ok(());
                    }
                    db.promote(&req).await
                })
                .await?;
                wait_writable(ctx, db, &d.target).await?;
                Ok(format!(
                    "{}: {} promoted ({mode:?}, data loss window {})",
                    d.spec.name,
                    d.target.instance,
                    d.rpo_ms.map(fmt_ms).unwrap_or_else(|| "unknown".into())
                ))
            }
        })
        .await?;
    let mut loss = crate::run::DataLoss::default();
    for d in &decisions {
        loss.add(d.rpo_ms);
    }
    ctx.record_data_loss(loss);
    Ok(out.join("; "))
}

pub(super) async fn reverse(
    ctx: &StepCtx,
    replica_site: SiteRole,
    dry_run: bool,
) -> Result<String> {
    let max_lag = ctx.plan().checks.max_replication_lag;
    let dbs: Vec<_> = ctx.plan().databases.iter().collect();
    let out = ctx
        .fan_out(dbs, |d| {
            let source = db_ref(d, replica_site.other());
            let target = db_ref(d, replica_site);
            async move {
                let db = ctx.providers().database(&d.provider)?;
                let ss = ctx
                    .call("read source database status", || db.status(&source))
                    .await?;
                if ss.role != DatabaseRole::Primary {
                    return Ok((
                        format!(
                            "{}: {} is not the primary, nothing to replicate back",
                            d.name, source.instance
                        ),
                        json!(null),
                    ));
                }
                let ts = ctx
                    .call("read target database status", || db.status(&target))
                    .await?;
                let already = ts.role == DatabaseRole::Replica
                    && ts.replicating_from.as_deref() == Some(source.instance.as_str());
                let req = ReverseReplicationRequest {
                    source: source.clone(),
                    target: target.clone(),
                    dry_run,
                    accept_data_loss: ctx.flags().accept_data_loss,
                };
                if dry_run || !already {
                    let rep = ctx
                        .call("reverse replication", || db.reverse_replication(&req))
                        .await?;
                    if dry_run {
                        let line = match &rep.summary {
                            Some(s) => format!("{}: {s}", d.name),
                            None => format!(
                                "{}: {} changes to sync from {} to {} (about {})",
                                d.name,
                                rep.pending_changes,
                                source.instance,
                                target.instance,
                                format_duration(rep.estimated_catch_up)
                            ),
                        };
                        return Ok((line, json!(rep)));
                    }
                }
                ctx.wait(
                    &format!("{} to catch up with {}", target.instance, source.instance),
                    || async {
                        let s = db.status(&target).await?;
                        // A provider that reports no lag but a caught-up link (an Azure failover
                        // group in CATCH_UP) is caught up by its own account.
                        let synced = s.replication_lag.is_none() && s.lossless_planned_promotion;
                        Ok((synced || s.replication_lag.is_some_and(|l| l <= max_lag))
                            .then_some(()))
                    },
                )
                .await?;
                Ok((
                    format!(
                        "{}: {} replicates from {}",
                        d.name, target.instance, source.instance
                    ),
                    json!(null),
                ))
            }
        })
        .await?;
    let data: Vec<_> = out.iter().map(|(_, d)| d.clone()).collect();
    ctx.record(Output::Replication {
        dry_run,
        pairs: data,
    });
    Ok(out
        .into_iter()
        .map(|(s, _)| s)
        .collect::<Vec<_>>()
        .join("; "))
}

/// The snapshot name of database `d` in this run: letters, digits and single `-`, starting with a
/// letter (what RDS and the others accept), the same on every attempt so a retry adopts it.
fn snapshot_name(run_id: &str, d: &DatabaseSpec) -> String {
    let raw = format!("aegis-{run_id}-{}", d.name).to_ascii_lowercase();
    let mut out = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out.trim_end_matches('-').chars().take(200).collect()
}

/// Snapshots every database at `site` whose provider takes snapshots and waits until each is
/// usable; a database whose provider cannot is named in the summary, never counted as backed up.
pub(super) async fn backup(ctx: &StepCtx, site: SiteRole) -> Result<String> {
    let dbs: Vec<_> = ctx.plan().databases.iter().collect();
    let out = ctx
        .fan_out(dbs, |d| async move {
            if !ctx.providers().capabilities(&d.provider).snapshots {
                return Ok((d.name.clone(), None));
            }
            let db = ctx.providers().database(&d.provider)?;
            let req = SnapshotRequest {
                db: db_ref(d, site),
                name: snapshot_name(&ctx.run.fixed.run_id, d),
            };
            ctx.call("create snapshot", || db.create_snapshot(&req))
                .await?;
            ctx.wait(&format!("snapshot {} available", req.name), || async {
                match db.snapshot_state(&req).await? {
                    SnapshotState::Available => Ok(Some(())),
                    SnapshotState::Creating => Ok(None),
                    SnapshotState::Failed(why) => Err(Error::new(
                        ErrorKind::Provider,
                        format!(
                            "snapshot `{}` of `{}` failed: {why}",
                            req.name, req.db.instance
                        ),
                    )
                    .with_resource(req.db.instance.clone())),
                }
            })
            .await?;
            Ok((d.name.clone(), Some(req.name)))
        })
        .await?;
    let taken: Vec<(String, String)> = out
        .iter()
        .filter_map(|(d, n)| n.clone().map(|n| (d.clone(), n)))
        .collect();
    let without: Vec<&str> = out
        .iter()
        .filter(|(_, n)| n.is_none())
        .map(|(d, _)| d.as_str())
        .collect();
    ctx.record(Output::Snapshots(taken.clone()));
    let mut parts: Vec<String> = taken
        .iter()
        .map(|(d, n)| format!("{d}: snapshot {n} available"))
        .collect();
    if !without.is_empty() {
        let msg = format!(
            "no snapshot of {} (the provider takes none): not backed up",
            without.join(", ")
        );
        ctx.note(msg.clone());
        parts.push(msg);
    }
    Ok(parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_are_what_providers_accept() {
        let d = DatabaseSpec {
            name: "Orders_DB--main-".into(),
            provider: "sim".into(),
            primary: "a".into(),
            dr: "b".into(),
            engine: None,
            options: Default::default(),
            rejoin: Default::default(),
        };
        let n = snapshot_name("20261124T154155Z-failback-9ab9", &d);
        assert_eq!(n, "aegis-20261124t154155z-failback-9ab9-orders-db-main");
        assert!(n.starts_with(|c: char| c.is_ascii_lowercase()) && !n.contains("--"));
    }
}
