//! Verification of the serving site: health, workloads, pools, DNS, database roles, integrity.

use std::sync::Arc;

use super::{
    db_ref, primary_down_accepted, record_ref,
    workloads::{match_names, per_group},
};
use crate::{
    error::{Error, ErrorKind, Result},
    orchestrator::{context::Mark, step_ctx::StepCtx},
    plan::{graph::StepKind, SiteRole},
    provider::{DatabaseRole, PoolRef, ProbeRequest},
    run::Output,
};

/// The site whose databases must be writable once this phase is done: where the phase promotes
/// them, else the primary (classes that move no data leave them there).
pub(super) fn writable_database_site(ctx: &StepCtx) -> SiteRole {
    ctx.run
        .find_in_phase(&ctx.step.id, |k| match k {
            StepKind::PromoteDatabases { to } => Some(*to),
            _ => None,
        })
        .unwrap_or(SiteRole::Primary)
}

/// What is wrong with the database roles: the instance at `writable` must be an unfenced primary,
/// the other fenced or replicating from it (or, at a primary declared unreachable, not asked).
pub(super) async fn database_roles(ctx: &StepCtx, writable: SiteRole) -> Result<Vec<String>> {
    let per_db = ctx.plan().databases.iter().map(|d| {
        async move {
            let db = ctx.providers().database(&d.provider)?;
            let (w, o) = (db_ref(d, writable), db_ref(d, writable.other()));
            let skip_other = o.site == SiteRole::Primary && ctx.flags().primary_unreachable;
            let (ws, os) = futures_util::join!(db.status(&w), async {
                if skip_other {
                    Ok(None)
                } else {
                    db.status(&o).await.map(Some)
                }
            });
            let ws = ws?;
            let mut problems = Vec::new();
            if ws.role != DatabaseRole::Primary || ws.fenced {
                problems.push(format!(
                    "database `{}`: {} at the {writable} site is a{} {:?}, not a writable primary",
                    d.name,
                    w.instance,
                    if ws.fenced { " fenced" } else { "n unfenced" },
                    ws.role
                ));
            }
            let os = match os {
                Ok(Some(s)) => s,
                Ok(None) => return Ok(problems),
                Err(e) if primary_down_accepted(ctx, o.site, &e)? => return Ok(problems),
                Err(e) => return Err(e),
            };
            let replicates_from_writable = os.role == DatabaseRole::Replica
                && os
                    .replicating_from
                    .as_deref()
                    .is_none_or(|f| f == w.instance);
            if !(os.fenced || replicates_from_writable) {
                problems.push(format!(
                    "database `{}`: {} at the {} site is an unfenced {:?} and may take writes (split brain)",
                    d.name, o.instance, o.site, os.role
                ));
            }
            Ok::<_, Error>(problems)
        }
    });
    let all = futures_util::future::try_join_all(per_db).await?;
    Ok(all.into_iter().flatten().collect())
}

/// The databases whose provider can check their data integrity.
fn integrity_checked(ctx: &StepCtx) -> Vec<&crate::plan::DatabaseSpec> {
    ctx.plan()
        .databases
        .iter()
        .filter(|d| ctx.providers().capabilities(&d.provider).integrity_check)
        .collect()
}

pub(super) async fn verify(
    ctx: &Arc<StepCtx>,
    site: SiteRole,
    database_only: bool,
) -> Result<String> {
    let plan = ctx.plan();
    let max_err = plan.checks.max_error_rate;
    // Data integrity, checked alongside the health wait; a failure stops the operation, after the
    // first poll has looked at the database roles, so that the error says what is wrong with them.
    let first_poll = tokio::sync::Notify::new();
    let first_poll = &first_poll;
    let integrity = async {
        let dbs = integrity_checked(ctx);
        if dbs.is_empty() {
            return Ok(());
        }
        let res = ctx
            .fan_out(dbs, |d| async move {
                let health = ctx.providers().health(&d.provider)?;
                ctx.call("verify data integrity", || {
                    health.verify_integrity(site, &d.name)
                })
                .await
            })
            .await;
        if res.is_err() {
            first_poll.notified().await;
        }
        if let Err(e) = &res {
            if e.kind() == ErrorKind::Integrity {
                ctx.run
                    .escalate(
                        crate::notify::Escalation::DataIntegrity,
                        format!("integrity check failed at the {site} site: {e}"),
                    )
                    .await;
            }
        }
        res.map(|_| ())
    };
    let last: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let last_ref = &last;
    let eps: Vec<_> = plan
        .health_endpoints
        .iter()
        .filter(|h| h.site == site)
        .collect();
    let db_site = writable_database_site(ctx);
    // DNS as clients see it: a resolver query per record, besides the provider's answer.
    let resolver = if database_only || plan.dns_records.is_empty() {
        None
    } else {
        crate::dns_check::DnsCheck::new(plan.dns_resolver())?
    };
    let resolver = &resolver;
    let what = format!("{site} site healthy");
    let what_ref = &what;
    let healthy = ctx.wait(&what, || {
        let eps = eps.clone();
        async move {
            let probes = async {
                futures_util::future::try_join_all(eps.iter().map(|h| async move {
                    let health = ctx.providers().health(&h.provider)?;
                    let r = health.probe(&ProbeRequest::of(h)).await?;
                    let mut p = r.problems(h);
                    if let Some(er) = r.error_rate.filter(|er| *er > max_err) {
                        p.push(format!(
                            "{} error rate {:.2}% > {:.2}%",
                            h.url,
                            er * 100.0,
                            max_err * 100.0
                        ));
                    }
                    Ok::<_, Error>(p)
                }))
                .await
            };
            let workloads = async {
                if database_only {
                    return Ok(Vec::new());
                }
                // Checked in the listing tasks: only the problems come back.
                let groups = per_group(ctx, site, |_, g, req, mut listing| {
                    let order = match_names(g, &req, &mut listing)?;
                    Ok(order
                        .into_iter()
                        .map(|i| &listing[i])
                        .filter(|w| w.replicas == 0 || w.available_replicas < w.replicas)
                        .map(|w| {
                            // As a `WorkloadId` displays.
                            format!(
                                "{}/{}:{}/{:?}/{} has {}/{} available",
                                req.site,
                                req.cluster,
                                req.namespace,
                                req.kind,
                                w.name,
                                w.available_replicas,
                                w.replicas
                            )
                        })
                        .collect::<Vec<_>>())
                })
                .await?;
                Ok::<_, Error>(groups.into_iter().flat_map(|(_, p)| p).collect::<Vec<_>>())
            };
            let records = async {
                if database_only {
                    return Ok(Vec::new());
                }
                futures_util::future::try_join_all(plan.dns_records.iter().map(|rec| async move {
                    let dns = ctx.providers().dns(&rec.provider)?;
                    let cur = dns.get_record(&record_ref(rec)).await?;
                    let mut p = Vec::new();
                    if cur.target != *rec.target(site) {
                        p.push(format!("{} points at {}", rec.name, cur.target));
                    }
                    if let Some(r) = resolver {
                        p.extend(
                            r.problem(&rec.name, &rec.record_type, rec.target(site))
                                .await,
                        );
                    }
                    Ok::<_, Error>(p)
                }))
                .await
                .map(|v| v.into_iter().flatten().collect::<Vec<_>>())
            };
            let pools = async {
                if database_only {
                    return Ok(Vec::new());
                }
                // The serving site runs at the plan's production capacity.
                futures_util::future::try_join_all(
                    plan.node_pools
                        .iter()
                        .filter(|p| p.site == site)
                        .map(|p| async move {
                            let scaler = ctx.providers().nodes(&p.provider)?;
                            let s = scaler
                                .get_pool(&PoolRef {
                                    site,
                                    cluster: p.cluster.clone(),
                                    name: p.name.clone(),
                                })
                                .await?;
                            Ok::<_, Error>((s.ready_nodes < p.production.desired).then(|| {
                                format!(
                                    "node pool {} has {} Ready nodes, below production {}",
                                    p.name, s.ready_nodes, p.production.desired
                                )
                            }))
                        }),
                )
                .await
                .map(|v| v.into_iter().flatten().collect::<Vec<_>>())
            };
            let (p, w, r, n, d) = futures_util::join!(
                probes,
                workloads,
                records,
                pools,
                database_roles(ctx, db_site)
            );
            // Every poll, whatever it found, lets a failed integrity check report.
            let outcome = (|| {
                let mut problems: Vec<String> = d?;
                problems.extend(p?.into_iter().flatten());
                problems.extend(w?);
                problems.extend(r?);
                problems.extend(n?);
                let ok = problems.is_empty();
                if let Ok(mut l) = last_ref.lock() {
                    // The progress line names what the wait fails on, each time that changes.
                    if !ok && *l != problems {
                        ctx.run.effects.progress.step_waiting(
                            &ctx.step,
                            &format!("{what_ref}; failing: {}", problems.join("; ")),
                            ctx.wait_deadline_ms(),
                        );
                    }
                    *l = problems;
                }
                Ok(ok.then_some(()))
            })();
            first_poll.notify_one();
            outcome
        }
    });
    // The first failure ends the verification, with every problem the last poll saw.
    let verified = futures_util::future::try_join(integrity, healthy)
        .await
        .map_err(|e| {
            let problems = last.lock().map(|l| l.join("; ")).unwrap_or_default();
            if problems.is_empty() {
                e
            } else {
                e.context(format!("still failing: {problems}"))
            }
        });
    if let Err(e) = &verified {
        if site == SiteRole::Dr && e.kind() != ErrorKind::Integrity {
            ctx.run
                .escalate(
                    crate::notify::Escalation::DrEnvironmentUnhealthy,
                    format!("verification of the DR site failed: {e}"),
                )
                .await;
        }
    }
    verified?;
    let now = ctx.run.fixed.clock.now_ms();
    ctx.record(Output::ServiceRestoredMs(now));
    ctx.run.mark(Mark::Restored, &ctx.step.id, now);
    // Name only what was checked.
    let mut checked = vec!["health endpoints".to_string()];
    if !database_only {
        if !plan.workloads.is_empty() {
            checked.push("all workloads available".into());
        }
        if plan.node_pools.iter().any(|p| p.site == site) {
            checked.push("node pools at production".into());
        }
        match resolver {
            Some(r) if !plan.dns_records.is_empty() => {
                checked.push(format!("DNS (and as {} answers it)", r.via()))
            }
            _ if !plan.dns_records.is_empty() => checked.push("DNS".into()),
            _ => {}
        }
    }
    if !plan.databases.is_empty() {
        checked.push(format!("databases writable at the {db_site} site"));
        if !integrity_checked(ctx).is_empty() {
            checked.push("data integrity".into());
        }
    }
    Ok(format!("{site} site verified: {}", checked.join(", ")))
}
