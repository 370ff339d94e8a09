//! DNS: point records at a site, lower and restore TTLs, health checks; every change waited INSYNC.

use std::{sync::Arc, time::Duration};

use serde_json::json;

use super::record_ref;
use crate::{
    error::Result,
    orchestrator::step_ctx::StepCtx,
    plan::SiteRole,
    provider::{ChangeId, ChangeStatus, DnsRouter, DnsRouterExt, HealthCheckRequest, UpsertRecord},
    run::Checkpoint,
};

/// The DNS provider serving `rec`.
fn dns_of(ctx: &StepCtx, rec: &crate::plan::DnsRecordSpec) -> Result<Arc<dyn DnsRouter>> {
    ctx.providers().dns(&rec.provider).cloned()
}

pub(super) async fn wait_change(
    ctx: &StepCtx,
    dns: &dyn DnsRouter,
    change: &ChangeId,
) -> Result<()> {
    ctx.wait(&format!("DNS change {} INSYNC", change.0), || async {
        Ok((dns.change_status(change).await? == ChangeStatus::Insync).then_some(()))
    })
    .await
}

/// Points `rec` at `target` with `ttl` unless it already is; waits for the change to be in sync.
pub(super) async fn ensure_record(
    ctx: &StepCtx,
    rec: &crate::plan::DnsRecordSpec,
    target: &crate::plan::RecordTargets,
    ttl: u32,
) -> Result<bool> {
    let dns = dns_of(ctx, rec)?;
    let key = Checkpoint::DnsChange(rec.name.clone());
    let rr = record_ref(rec);
    let matches = ctx
        .call("read record", || dns.record_matches(&rr, target, ttl))
        .await?;
    let pending = ctx
        .checkpointed(&key)
        .and_then(|v| v.as_str().map(String::from));
    match (matches, pending) {
        // Changed by an earlier attempt of this step: wait for that change.
        (true, Some(id)) => {
            wait_change(ctx, &*dns, &ChangeId(id)).await?;
            return Ok(true);
        }
        // Already as wanted, and not a resumed step whose change may still be propagating.
        (true, None) if !ctx.resumed() => return Ok(false),
        _ => {}
    }
    let req = UpsertRecord {
        record: record_ref(rec),
        target: target.clone(),
        ttl,
    };
    let change = ctx
        .call("UPSERT record", || dns.upsert_record(&req))
        .await?;
    ctx.checkpoint_light(&key, json!(change.0))?;
    wait_change(ctx, &*dns, &change).await?;
    Ok(true)
}

pub(super) async fn set_health_check(
    ctx: &StepCtx,
    rec: &crate::plan::DnsRecordSpec,
    id: &str,
    disabled: bool,
) -> Result<bool> {
    let dns = dns_of(ctx, rec)?;
    let cur = ctx
        .call("read health check", || dns.get_health_check(id))
        .await?;
    if cur.disabled == disabled {
        return Ok(false);
    }
    let req = HealthCheckRequest {
        id: id.to_string(),
        disabled,
    };
    ctx.call("update health check", || dns.set_health_check(&req))
        .await?;
    Ok(true)
}

pub(super) async fn switch_dns(ctx: &StepCtx, to: SiteRole) -> Result<String> {
    let plan = ctx.plan();
    let lowered = plan.failback.lowered_ttl;
    let recs: Vec<_> = plan.dns_records.iter().collect();
    let out = ctx
        .fan_out(recs, |rec| async move {
            let target = rec.target(to);
            let ttl = match to {
                SiteRole::Dr => rec.ttl,
                SiteRole::Primary => rec.ttl.min(lowered),
            };
            let (hc, changed) = match (to, &rec.health_check) {
                (SiteRole::Dr, Some(hc)) => {
                    // Stop the primary's health check from routing traffic back, then flip.
                    let (a, b) = futures_util::join!(
                        set_health_check(ctx, rec, hc, true),
                        ensure_record(ctx, rec, target, ttl)
                    );
                    (a?, b?)
                }
                (SiteRole::Primary, Some(hc)) => {
                    let b = ensure_record(ctx, rec, target, ttl).await?;
                    (set_health_check(ctx, rec, hc, false).await?, b)
                }
                (_, None) => (false, ensure_record(ctx, rec, target, ttl).await?),
            };
            let mut s = format!(
                "{} -> {target} (TTL {ttl}s){}",
                rec.name,
                if changed { ", INSYNC" } else { ", already" }
            );
            if hc {
                s.push_str(if to == SiteRole::Dr {
                    "; primary health check disabled"
                } else {
                    "; health check enabled"
                });
            }
            Ok(s)
        })
        .await?;
    Ok(out.join("; "))
}

pub(super) async fn lower_ttl(ctx: &StepCtx) -> Result<String> {
    let plan = ctx.plan();
    let lowered = plan.failback.lowered_ttl;
    let recs: Vec<_> = plan.dns_records.iter().collect();
    let out = ctx
        .fan_out(recs, |rec| {
            async move {
                let dns = dns_of(ctx, rec)?;
                let rr = record_ref(rec);
                let cur = ctx.call("read record", || dns.get_record(&rr)).await?;
                let key = Checkpoint::LoweredTtl(rec.name.clone());
                let (old_ttl, since) = match ctx.checkpointed(&key) {
                    Some(v) => (
                        v["old_ttl"].as_u64().unwrap_or(0),
                        v["at_ms"].as_u64().unwrap_or(0),
                    ),
                    None if cur.ttl > lowered => {
                        ensure_record(ctx, rec, &cur.target, lowered).await?;
                        let at = ctx.run.fixed.clock.now_ms();
                        ctx.checkpoint(&key, json!({ "old_ttl": cur.ttl, "at_ms": at }))?;
                        (u64::from(cur.ttl), at)
                    }
                    None => {
                        return Ok(format!(
                            "{}: TTL {}s already <= {lowered}s",
                            rec.name, cur.ttl
                        ))
                    }
                };
                // Resolvers may cache the old TTL: wait it out before moving traffic.
                let until = since + old_ttl * 1000;
                let now = ctx.run.fixed.clock.now_ms();
                if until > now {
                    let left = (until - now).min(ctx.run.hard_deadline_ms().saturating_sub(now));
                    ctx.run.fixed.clock.sleep(Duration::from_millis(left)).await;
                }
                Ok(format!(
                    "{}: TTL {old_ttl}s -> {lowered}s, old TTL waited out",
                    rec.name
                ))
            }
        })
        .await?;
    Ok(out.join("; "))
}

pub(super) async fn restore_ttl(ctx: &StepCtx) -> Result<String> {
    let recs: Vec<_> = ctx.plan().dns_records.iter().collect();
    let out = ctx
        .fan_out(recs, |rec| async move {
            let dns = dns_of(ctx, rec)?;
            let rr = record_ref(rec);
            let cur = ctx.call("read record", || dns.get_record(&rr)).await?;
            let changed = ensure_record(ctx, rec, &cur.target, rec.ttl).await?;
            Ok(format!(
                "{}: TTL {}s{}",
                rec.name,
                rec.ttl,
                if changed { " restored" } else { " already" }
            ))
        })
        .await?;
    Ok(out.join("; "))
}
