//! Gates: the pre-failover checks with the RPO and RTO gates, the failback stability gate, and
//! the escalations of unhealthy sites.

use std::time::Duration;

use super::db_ref;
use crate::{
    checks::{run_checks, CheckStatus},
    duration::format_duration,
    error::{Error, Result},
    journal::Operation,
    orchestrator::step_ctx::StepCtx,
    plan::{graph::StepKind, SiteRole},
    provider::{DatabaseRole, ProbeRequest},
    run::{LagSeen, Output},
};

pub(super) async fn preflight(ctx: &StepCtx) -> Result<String> {
    let run = &ctx.run;
    let plan = ctx.plan();
    let flags = ctx.flags();
    let targets = run.fixed.targets;
    let (checks, lags, recovery_refusal) = futures_util::join!(
        run_checks(plan, ctx.providers(), &run.fixed.clock),
        measure_lags(ctx),
        recovery_gate_if_needed(ctx)
    );
    ctx.record(Output::Checks(checks.clone()));
    escalate_unhealthy_sites(ctx, &checks).await;
    let mut refusals = Vec::new();

    // RTO gate: the plan's estimate against the class's RTO.
    let est = run.fixed.estimate.total;
    ctx.record(Output::EstimateMs(est.as_millis() as u64));
    if est > targets.rto {
        let msg = format!(
            "the estimated duration {} exceeds the RTO of {} for {}",
            format_duration(est),
            format_duration(targets.rto),
            run.fixed.class
        );
        if flags.force {
            ctx.note(format!("{msg}; proceeding because of --force"));
        } else {
            refusals.push(format!("{msg} (pass --force to run anyway)"));
        }
    }

    // RPO gate: measured replication lag of every database this class promotes. A lag that could
    // not be measured cannot show the RPO holds: it fails the gate like a lag beyond it.
    let mut lag_data = std::collections::BTreeMap::new();
    for (name, lag) in lags? {
        let msg = match lag {
            LagReading::AlreadyPrimary => {
                lag_data.insert(name, LagSeen::AlreadyPrimary);
                continue;
            }
            LagReading::SyncedByPlannedPromotion => {
                // Passes: a planned promotion loses nothing; should the primary not answer, the
                // promotion is forced and refused without a measured lag (or --accept-data-loss).
                lag_data.insert(name.clone(), LagSeen::Unknown);
                ctx.note(format!(
                    "database `{name}`: replication lag not reported; the provider's planned failover synchronises every write before switching roles, so nothing is lost while the primary answers (a forced failover still needs a measured lag or --accept-data-loss)"
                ));
                continue;
            }
            LagReading::Unknown => {
                lag_data.insert(name.clone(), LagSeen::Unknown);
                format!(
                    "database `{name}`: the replication lag is unknown (the provider reports no measurement), so a promotion cannot be shown to lose less than the RPO of {} for {}",
                    format_duration(targets.rpo),
                    run.fixed.class
                )
            }
            LagReading::Measured(lag) => {
                lag_data.insert(name.clone(), LagSeen::Ms(lag.as_millis() as u64));
                if lag <= targets.rpo {
                    continue;
                }
                format!(
                    "database `{name}`: replication lag {} exceeds the RPO of {} for {}: promoting now could lose up to {} of writes",
                    format_duration(lag),
                    format_duration(targets.rpo),
                    run.fixed.class,
                    format_duration(lag)
                )
            }
        };
        if flags.accept_data_loss {
            ctx.note(format!("{msg}; proceeding because of --accept-data-loss"));
        } else {
            refusals.push(format!("{msg} (pass --accept-data-loss to promote anyway)"));
        }
    }
    ctx.record(Output::ReplicationLag(lag_data));
    if let Some(msg) = recovery_refusal? {
        refusals.push(msg);
    }

    let failed: Vec<_> = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail && c.name != "replication-lag")
        .map(|c| format!("{} ({})", c.name, c.evidence))
        .collect();
    if !failed.is_empty() {
        let msg = format!("pre-failover checks failed: {}", failed.join("; "));
        if flags.ignore_checks {
            ctx.note(format!("{msg}; proceeding because of --ignore-checks"));
        } else {
            refusals.push(format!("{msg} (pass --ignore-checks to fail over anyway)"));
        }
    }
    if !refusals.is_empty() {
        return Err(Error::refused(refusals.join("; ")));
    }
    let passed = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Pass)
        .count();
    Ok(format!(
        "{passed}/{} checks passed; estimate {} {} RTO {}",
        checks.len(),
        format_duration(est),
        if est <= targets.rto {
            "within"
        } else {
            "EXCEEDS (run anyway with --force)"
        },
        format_duration(targets.rto)
    ))
}

/// Escalates when the checks find the DR site unhealthy: to the platform team, or, when the
/// primary's health fails too, as both sites down (executive team, business continuity).
pub(super) async fn escalate_unhealthy_sites(ctx: &StepCtx, checks: &[crate::checks::CheckResult]) {
    let dr_bad: Vec<String> = checks
        .iter()
        .filter(|c| {
            c.status == CheckStatus::Fail
                && ["dr-health", "dr-nodes-ready"].contains(&c.name.as_str())
        })
        .map(|c| format!("{}: {}", c.name, c.evidence))
        .collect();
    if dr_bad.is_empty() {
        return;
    }
    use crate::notify::Escalation;
    match primary_health_failure(ctx).await {
        Some(primary) => {
            ctx.run
                .escalate(
                    Escalation::BothSitesDown,
                    format!(
                        "both sites fail their health: DR {}; primary {primary}",
                        dr_bad.join("; ")
                    ),
                )
                .await
        }
        None => {
            ctx.run
                .escalate(
                    Escalation::DrEnvironmentUnhealthy,
                    format!("the DR site is unhealthy: {}", dr_bad.join("; ")),
                )
                .await
        }
    }
}

/// Why the primary's health fails (every primary endpoint answers wrong or not at all, asked once),
/// or `None` when it does not (or the plan has no primary endpoint to ask).
pub(super) async fn primary_health_failure(ctx: &StepCtx) -> Option<String> {
    if ctx.flags().primary_unreachable {
        return Some("declared unreachable (--primary-unreachable)".into());
    }
    let mut failures = Vec::new();
    let eps: Vec<_> = ctx
        .plan()
        .health_endpoints
        .iter()
        .filter(|h| h.site == SiteRole::Primary)
        .collect();
    for h in &eps {
        let req = ProbeRequest::of(h);
        let answer = match ctx.providers().health(&h.provider) {
            Ok(health) => health.probe(&req).await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(r) => match r.problems(h) {
                p if p.is_empty() => return None,
                p => failures.extend(p),
            },
            Err(e) => failures.push(format!("{}: {e}", h.url)),
        }
    }
    (!eps.is_empty()).then(|| failures.join("; "))
}

/// What the RPO gate knows of a DR instance's lag.
pub(super) enum LagReading {
    /// Already the primary: nothing to promote.
    AlreadyPrimary,
    /// The provider measured this lag.
    Measured(Duration),
    /// A replica whose lag the provider does not report.
    Unknown,
    /// No lag reported, but the provider's planned promotion synchronises before it switches roles.
    SyncedByPlannedPromotion,
}

/// Replication lag of each DR replica this run promotes.
pub(super) async fn measure_lags(ctx: &StepCtx) -> Result<Vec<(String, LagReading)>> {
    let promotes = ctx
        .run
        .has_step(|k| matches!(k, StepKind::PromoteDatabases { to: SiteRole::Dr }));
    if !promotes {
        return Ok(Vec::new());
    }
    let dbs: Vec<_> = ctx.plan().databases.iter().collect();
    ctx.fan_out(dbs, |d| {
        let r = db_ref(d, SiteRole::Dr);
        async move {
            let db = ctx.providers().database(&d.provider)?;
            let s = ctx
                .call("read DR database status", || db.status(&r))
                .await?;
            let lag = match (s.role, s.replication_lag) {
                (DatabaseRole::Primary, _) => LagReading::AlreadyPrimary,
                (_, Some(lag)) => LagReading::Measured(lag),
                (_, None) if s.lossless_planned_promotion => LagReading::SyncedByPlannedPromotion,
                (_, None) => LagReading::Unknown,
            };
            Ok((d.name.clone(), lag))
        }
    })
    .await
}

pub(super) async fn recovery_gate_if_needed(ctx: &StepCtx) -> Result<Option<String>> {
    if ctx.run.has_step(|k| matches!(k, StepKind::RecoverServers)) {
        Ok(recovery_point_gate(ctx).await?.err())
    } else {
        Ok(None)
    }
}

/// The RPO gate for recovery servers: the newest recovery point must be younger than the RPO.
/// `Ok(age)`: the gate passes, the oldest of the servers' newest points is `age` old;
/// `Err(why)`: it refuses.
pub(super) async fn recovery_point_gate(
    ctx: &StepCtx,
) -> Result<std::result::Result<(Duration, ChosenPoints), String>> {
    let rs = super::recovery::recovery(ctx)?;
    let rpo = ctx.run.fixed.targets.rpo;
    let mut worst = Duration::ZERO;
    let mut chosen = ChosenPoints::new();
    let servers: Vec<_> = ctx.plan().recovery_servers.iter().collect();
    let all = ctx
        .fan_out(servers, |s| {
            let rs = rs.clone();
            async move {
                let points = ctx
                    .call("describe recovery snapshots", || {
                        rs.recovery_points(&s.source_server_id)
                    })
                    .await?;
                Ok((s, points))
            }
        })
        .await?;
    // A chosen recovery point (`--recovery-point`): each server's point at or before it.
    let choice = match ctx.run.fixed.recovery_point.as_deref() {
        None => None,
        Some(c) => {
            let lists: Vec<&[crate::provider::RecoveryPoint]> =
                all.iter().map(|(_, p)| p.as_slice()).collect();
            match point_time(c, &lists, ctx.run.fixed.clock.now_ms()) {
                Some(t) => Some((c, t)),
                None => {
                    return Ok(Err(format!(
                        "--recovery-point `{c}` is neither an RFC 3339 time nor a recovery point of the plan's servers"
                    )))
                }
            }
        }
    };
    let now = ctx.run.fixed.clock.now_ms();
    for (s, points) in all {
        let point = match choice {
            None => points.iter().min_by_key(|p| p.age),
            Some((c, at_ms)) => points
                .iter()
                .filter(|p| p.id == c || now.saturating_sub(p.age.as_millis() as u64) <= at_ms)
                .min_by_key(|p| (p.id != c, p.age)),
        };
        let Some(point) = point else {
            return Ok(Err(match choice {
                None => format!("recovery server `{}` has no recovery point", s.name),
                Some((c, _)) => format!(
                    "recovery server `{}` has no recovery point at or before `{c}`",
                    s.name
                ),
            }));
        };
        let age = point.age;
        worst = worst.max(age);
        if age > rpo && !ctx.flags().accept_data_loss {
            return Ok(Err(format!(
                "recovery server `{}`: {} recovery point {} is {} old, beyond the RPO of {} (pass --accept-data-loss to recover anyway)",
                s.name,
                if choice.is_some() { "the chosen" } else { "the newest" },
                point.id,
                format_duration(age),
                format_duration(rpo)
            )));
        }
        if choice.is_some() {
            chosen.insert(s.source_server_id.clone(), point.clone());
        }
    }
    ctx.record(Output::RecoveryPointAgeMs(worst.as_millis() as u64));
    Ok(Ok((worst, chosen)))
}

/// The recovery points chosen for a run, by source server id (empty: each server's newest).
pub(super) type ChosenPoints = std::collections::BTreeMap<String, crate::provider::RecoveryPoint>;

/// The time (epoch ms) `choice` stands for: an RFC 3339 time, or the time a recovery point of that
/// id was taken (now less its age).
fn point_time(
    choice: &str,
    lists: &[&[crate::provider::RecoveryPoint]],
    now_ms: u64,
) -> Option<u64> {
    if let Ok(t) = humantime::parse_rfc3339_weak(choice) {
        return t
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_millis() as u64);
    }
    lists
        .iter()
        .flat_map(|l| l.iter())
        .find(|p| p.id == choice)
        .map(|p| now_ms.saturating_sub(p.age.as_millis() as u64))
}

pub(super) async fn stable_gate(ctx: &StepCtx) -> Result<String> {
    let plan = ctx.plan();
    let drill = ctx.run.fixed.operation == Operation::Drill;
    let min = plan.failback.min_primary_stable;
    let eps: Vec<_> = plan
        .health_endpoints
        .iter()
        .filter(|h| h.site == SiteRole::Primary)
        .collect();
    if eps.is_empty() {
        if ctx.flags().force || drill {
            ctx.note("no primary health endpoints in the plan: stability not verified");
            return Ok("primary stability not verifiable (no endpoints)".into());
        }
        return Err(Error::refused(
            "no primary health endpoints in the plan: cannot verify the primary is stable (pass --force to fail back anyway)",
        ));
    }
    let mut shortest: Option<Duration> = None;
    for h in eps {
        let health = ctx.providers().health(&h.provider)?;
        let req = ProbeRequest::of(h);
        let r = ctx
            .call("probe primary health", || health.probe(&req))
            .await?;
        let problems = r.problems(h);
        if !problems.is_empty() {
            return Err(Error::refused(format!(
                "primary endpoint {}: the primary is not healthy",
                problems.join("; ")
            )));
        }
        if let Some(f) = r.healthy_for {
            shortest = Some(shortest.map_or(f, |s: Duration| s.min(f)));
        }
    }
    if drill {
        return Ok("primary healthy (drill: stability window not required)".into());
    }
    match shortest {
        Some(f) if f >= min => Ok(format!("primary healthy for {}", format_duration(f))),
        other => {
            let seen = other
                .map(format_duration)
                .unwrap_or_else(|| "an unknown time".into());
            let msg = format!(
                "the primary has been healthy for {seen}; the runbook requires {} before failback",
                format_duration(min)
            );
            if ctx.flags().force {
                ctx.note(format!("{msg}; proceeding because of --force"));
                Ok(format!("primary healthy for {seen} (--force)"))
            } else {
                Err(Error::refused(format!(
                    "{msg} (pass --force to fail back anyway)"
                )))
            }
        }
    }
}
