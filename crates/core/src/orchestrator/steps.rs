//! The steps: idempotent reconcilers that observe, act only where the world differs from the goal,
//! and wait for the goal with a deadline.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use serde_json::json;

use super::{
    context::{ItemWork, StepCtx},
    graph::{Level, StepKind, WorkloadMode},
};
use crate::{
    checks::{run_checks, CheckStatus},
    duration::format_duration,
    error::{Error, ErrorKind, Result},
    journal::Operation,
    notify::Template,
    plan::{DatabaseSpec, SiteRole, WorkloadSpec},
    provider::*,
};

/// Runs one step; returns its one-line summary.
pub(crate) async fn execute(ctx: &Arc<StepCtx>) -> Result<String> {
    match ctx.step.kind.clone() {
        StepKind::Preflight => preflight(ctx).await,
        StepKind::StableGate => stable_gate(ctx).await,
        StepKind::Declare => declare(ctx).await,
        StepKind::Drain { site } => drain(ctx, site).await,
        StepKind::FenceDatabases { site } => fence(ctx, site).await,
        StepKind::PromoteDatabases { to } => promote(ctx, to).await,
        StepKind::ReverseReplication {
            replica_site,
            dry_run,
        } => reverse(ctx, replica_site, dry_run).await,
        StepKind::ScaleNodes { site, level } => scale_nodes(ctx, site, level).await,
        StepKind::ScaleWorkloads { site, mode } => scale_workloads(ctx, site, mode).await,
        StepKind::LowerTtl => lower_ttl(ctx).await,
        StepKind::SwitchDns { to } => switch_dns(ctx, to).await,
        StepKind::RestoreTtl => restore_ttl(ctx).await,
        StepKind::RecoverServers => recover_servers(ctx).await,
        StepKind::FailbackServers => failback_servers(ctx).await,
        StepKind::TerminateDrill => terminate_drill(ctx).await,
        StepKind::Verify {
            site,
            database_only,
        } => verify(ctx, site, database_only).await,
        StepKind::Resolve => resolve(ctx).await,
    }
}

fn db_ref(d: &DatabaseSpec, site: SiteRole) -> DatabaseRef {
    DatabaseRef {
        database: d.name.clone(),
        instance: d.instance(site).to_string(),
        site,
    }
}

fn record_ref(r: &crate::plan::DnsRecordSpec) -> RecordRef {
    RecordRef {
        zone: r.zone.clone(),
        name: r.name.clone(),
        record_type: r.record_type.clone(),
    }
}

fn fmt_ms(ms: u64) -> String {
    format_duration(Duration::from_millis(ms))
}

/// True when the error means "the primary site is down" and the user said so.
fn primary_down_accepted(ctx: &StepCtx, site: SiteRole, e: &Error) -> Result<bool> {
    if e.kind() != ErrorKind::Unreachable || site != SiteRole::Primary {
        return Ok(false);
    }
    if ctx.flags().primary_unreachable {
        Ok(true)
    } else {
        Err(Error::refused(format!(
            "the primary site is unreachable ({e}); it cannot be drained or fenced. If it is really down, \
             re-run with --primary-unreachable to fail over without fencing it (DNS and its health check \
             then stop traffic to it)"
        )))
    }
}

// ---- gates ---------------------------------------------------------------------------------------

async fn preflight(ctx: &StepCtx) -> Result<String> {
    let run = &ctx.run;
    let plan = ctx.plan();
    let flags = ctx.flags();
    let targets = run.targets;
    let (checks, lags, recovery_refusal) = futures_util::join!(
        run_checks(plan, ctx.providers(), &run.clock),
        measure_lags(ctx),
        recovery_gate_if_needed(ctx)
    );
    ctx.set("checks", json!(checks));
    escalate_unhealthy_sites(ctx, &checks).await;
    let mut refusals = Vec::new();

    // RTO gate: the plan's estimate against the class's RTO.
    let est = run.estimate.total;
    ctx.set("estimate_ms", json!(est.as_millis() as u64));
    if est > targets.rto {
        let msg = format!(
            "the estimated duration {} exceeds the RTO of {} for {}",
            format_duration(est),
            format_duration(targets.rto),
            run.class
        );
        if flags.force {
            ctx.note(format!("{msg}; proceeding because of --force"));
        } else {
            refusals.push(format!("{msg} (pass --force to run anyway)"));
        }
    }

    // RPO gate: measured replication lag of every database this class promotes. A lag that could
    // not be measured cannot show the RPO holds: it fails the gate like a lag beyond it.
    let mut lag_data = serde_json::Map::new();
    for (name, lag) in lags? {
        let msg = match lag {
            LagReading::AlreadyPrimary => {
                lag_data.insert(name, json!("already promoted"));
                continue;
            }
            LagReading::Unknown => {
                lag_data.insert(name.clone(), json!("unknown"));
                format!(
                    "database `{name}`: the replication lag is unknown (the provider reports no measurement), so a promotion cannot be shown to lose less than the RPO of {} for {}",
                    format_duration(targets.rpo),
                    run.class
                )
            }
            LagReading::Measured(lag) => {
                lag_data.insert(name.clone(), json!(lag.as_millis() as u64));
                if lag <= targets.rpo {
                    continue;
                }
                format!(
                    "database `{name}`: replication lag {} exceeds the RPO of {} for {}: promoting now could lose up to {} of writes",
                    format_duration(lag),
                    format_duration(targets.rpo),
                    run.class,
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
    ctx.set("replication_lag_ms", serde_json::Value::Object(lag_data));
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
        "{passed}/{} checks passed; estimate {} within RTO {}",
        checks.len(),
        format_duration(est),
        format_duration(targets.rto)
    ))
}

/// Escalates when the checks find the DR site unhealthy: to the platform team, or, when the
/// primary's health fails too, as both sites down (executive team, business continuity).
async fn escalate_unhealthy_sites(ctx: &StepCtx, checks: &[crate::checks::CheckResult]) {
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
async fn primary_health_failure(ctx: &StepCtx) -> Option<String> {
    if ctx.flags().primary_unreachable {
        return Some("declared unreachable (--primary-unreachable)".into());
    }
    let health = ctx.providers().primary.health.clone();
    let mut failures = Vec::new();
    let eps: Vec<_> = ctx
        .plan()
        .health_endpoints
        .iter()
        .filter(|h| h.site == SiteRole::Primary)
        .collect();
    for h in &eps {
        let req = ProbeRequest {
            name: h.name.clone(),
            site: SiteRole::Primary,
            url: h.url.clone(),
        };
        match health.probe(&req).await {
            Ok(r) if r.status == h.expect_status => return None,
            Ok(r) => failures.push(format!("{} answers {}", h.url, r.status)),
            Err(e) => failures.push(format!("{}: {e}", h.url)),
        }
    }
    (!eps.is_empty()).then(|| failures.join("; "))
}

/// What the RPO gate knows of a DR instance's lag.
enum LagReading {
    /// Already the primary: nothing to promote.
    AlreadyPrimary,
    /// The provider measured this lag.
    Measured(Duration),
    /// A replica whose lag the provider does not report.
    Unknown,
}

/// Replication lag of each DR replica this run promotes.
async fn measure_lags(ctx: &StepCtx) -> Result<Vec<(String, LagReading)>> {
    let promotes = ctx
        .run
        .has_step(|k| matches!(k, StepKind::PromoteDatabases { to: SiteRole::Dr }));
    if !promotes {
        return Ok(Vec::new());
    }
    let db = ctx.providers().database.clone();
    let dbs: Vec<_> = ctx.plan().databases.iter().collect();
    ctx.fan_out(dbs, |d| {
        let db = db.clone();
        let r = db_ref(d, SiteRole::Dr);
        async move {
            let s = ctx
                .call("read DR database status", || db.status(&r))
                .await?;
            let lag = match (s.role, s.replication_lag) {
                (DatabaseRole::Primary, _) => LagReading::AlreadyPrimary,
                (_, Some(lag)) => LagReading::Measured(lag),
                (_, None) => LagReading::Unknown,
            };
            Ok((d.name.clone(), lag))
        }
    })
    .await
}

async fn recovery_gate_if_needed(ctx: &StepCtx) -> Result<Option<String>> {
    if ctx.run.has_step(|k| matches!(k, StepKind::RecoverServers)) {
        recovery_point_gate(ctx).await
    } else {
        Ok(None)
    }
}

/// The RPO gate for recovery servers: the newest recovery point must be younger than the RPO.
async fn recovery_point_gate(ctx: &StepCtx) -> Result<Option<String>> {
    let Some(rs) = ctx.providers().recovery.clone() else {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "the plan lists recovery servers but the provider has no recovery service",
        ));
    };
    let rpo = ctx.run.targets.rpo;
    let mut worst = Duration::ZERO;
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
    for (s, points) in all {
        let Some(newest) = points.iter().map(|p| p.age).min() else {
            return Ok(Some(format!(
                "recovery server `{}` has no recovery point",
                s.name
            )));
        };
        worst = worst.max(newest);
        if newest > rpo && !ctx.flags().accept_data_loss {
            return Ok(Some(format!(
                "recovery server `{}`: newest recovery point is {} old, beyond the RPO of {} (pass --accept-data-loss to recover anyway)",
                s.name,
                format_duration(newest),
                format_duration(rpo)
            )));
        }
    }
    ctx.set("recovery_point_age_ms", json!(worst.as_millis() as u64));
    Ok(None)
}

async fn stable_gate(ctx: &StepCtx) -> Result<String> {
    let plan = ctx.plan();
    let drill = ctx.run.operation == Operation::Drill;
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
    let health = ctx.providers().primary.health.clone();
    let mut shortest: Option<Duration> = None;
    for h in eps {
        let req = ProbeRequest {
            name: h.name.clone(),
            site: SiteRole::Primary,
            url: h.url.clone(),
        };
        let r = ctx
            .call("probe primary health", || health.probe(&req))
            .await?;
        if r.status != h.expect_status {
            return Err(Error::refused(format!(
                "primary endpoint {} answers {} (expected {}): the primary is not healthy",
                h.url, r.status, h.expect_status
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

// ---- notifications -------------------------------------------------------------------------------

async fn declare(ctx: &StepCtx) -> Result<String> {
    let run = &ctx.run;
    let now = run.clock.now_ms();
    ctx.set("declared_ms", json!(now));
    run.mark("declared", &ctx.step.id, now);
    let what = match (run.operation, ctx.step.id.starts_with("failback.")) {
        (Operation::Failback, _) | (Operation::Drill, true) => "failback to the primary site",
        (Operation::Drill, false) => "DR drill (failover, verify, failback)",
        (Operation::Failover, _) => "failover to the DR site",
    };
    let text = format!(
        "[aegis-dr] T+0 {}: {what} declared for incident class {}. Targets: RTO {}, RPO {}; estimated {}. Run {}. Updates follow at each milestone.",
        run.plan.name,
        run.class,
        format_duration(run.targets.rto),
        format_duration(run.targets.rpo),
        format_duration(run.estimate.total),
        run.run_id
    );
    let n = run
        .notify(
            Template::Initial,
            text,
            json!({
                "rto_seconds": run.targets.rto.as_secs(),
                "rpo_seconds": run.targets.rpo.as_secs(),
                "estimate_seconds": run.estimate.total.as_secs_f64(),
                "steps": run.estimate.steps.len(),
            }),
        )
        .await;
    Ok(format!("initial notification sent to {n} sink(s)"))
}

async fn resolve(ctx: &StepCtx) -> Result<String> {
    let run = &ctx.run;
    // This phase's recovery time: from the run's start (a failover, or a drill's failover) or from the
    // phase's declaration (a drill's failback) to its verified service.
    let start = match super::context::phase_of(&ctx.step.id) {
        "failback." => run
            .get_mark("declared", &ctx.step.id)
            .unwrap_or(run.started_ms),
        _ => run.started_ms,
    };
    let rto_ms = run
        .get_mark("restored", &ctx.step.id)
        .map(|r| r.saturating_sub(start));
    let loss = run.data_loss_of(&ctx.step.id);
    let site = match verified_site(ctx) {
        Some(site) => format!("the {site} site"),
        None => "the serving site".into(),
    };
    let achieved_rto = rto_ms
        .map(|ms| {
            let rto = Duration::from_millis(ms);
            format!(
                "{} ({} the target of {})",
                format_duration(rto),
                if rto <= run.targets.rto {
                    "within"
                } else {
                    "MISSED"
                },
                format_duration(run.targets.rto)
            )
        })
        .unwrap_or_else(|| format!("not measured (target {})", format_duration(run.targets.rto)));
    let text = format!(
        "[aegis-dr] Resolved {}: service verified on {site} (T+{}). Achieved RTO {achieved_rto}; RPO {} (target {}). Run {}.",
        run.plan.name,
        format_duration(run.elapsed()),
        loss.describe(),
        format_duration(run.targets.rpo),
        run.run_id
    );
    let rpo_seconds = if loss.unknown {
        None
    } else {
        Some(loss.worst_ms.unwrap_or(0) as f64 / 1000.0)
    };
    let n = run
        .notify(
            Template::Resolution,
            text,
            json!({ "achieved_rto_seconds": rto_ms.map(|m| m as f64 / 1000.0), "achieved_rpo_seconds": rpo_seconds, "rpo_unknown": loss.unknown }),
        )
        .await;
    Ok(format!("resolution notice sent to {n} sink(s)"))
}

/// The site the verification step of `ctx`'s phase checked.
fn verified_site(ctx: &StepCtx) -> Option<SiteRole> {
    let phase = super::context::phase_of(&ctx.step.id);
    ctx.run.graph.steps.iter().find_map(|s| match s.kind {
        StepKind::Verify { site, .. } if super::context::phase_of(&s.id) == phase => Some(site),
        _ => None,
    })
}

/// Sends a progress update after a milestone step, in the background: the steps after it do not
/// wait for the sinks.
pub(crate) fn progress_update(ctx: &StepCtx, summary: &str) {
    let run = &ctx.run;
    let left = run.targets.rto.saturating_sub(run.elapsed());
    let text = format!(
        "[aegis-dr] Progress {} (T+{}): {} done: {summary}. RTO budget left: {}.",
        run.plan.name,
        format_duration(run.elapsed()),
        ctx.step.title,
        format_duration(left)
    );
    run.notify_in_background(
        Template::Progress,
        text,
        json!({ "step": ctx.step.id, "summary": summary }),
    );
}

// ---- workloads -----------------------------------------------------------------------------------

struct Workload<'a> {
    id: WorkloadId,
    state: WorkloadState,
    spec: &'a WorkloadSpec,
    /// Index of `spec` in the plan's workload groups.
    group: usize,
}

async fn workloads_of(ctx: &Arc<StepCtx>, site: SiteRole) -> Result<Vec<Workload<'_>>> {
    let plan = ctx.plan();
    let lists = per_group(ctx, site, |_, g, req, mut listing| {
        let order = match_names(g, &req, &mut listing)?;
        with_ids(g, req, listing, order)
    })
    .await?;
    let mut out = Vec::with_capacity(lists.iter().map(|(_, l)| l.len()).sum());
    for (i, group) in lists {
        let spec = &plan.workloads[i];
        out.extend(group.into_iter().map(|(id, state)| Workload {
            id,
            state,
            spec,
            group: i,
        }));
    }
    Ok(out)
}

/// Lists every workload group of `site` and hands each listing (with the group's index and spec)
/// to `f` in the task that received it: with thousands of workloads that work (and freeing the
/// listing) is spread over the tasks and does not hold up the caller's other calls. Results by
/// group index, in plan order.
async fn per_group<T, F>(ctx: &Arc<StepCtx>, site: SiteRole, f: F) -> Result<Vec<(usize, T)>>
where
    T: Send + 'static,
    F: Fn(usize, &WorkloadSpec, ListWorkloads, Vec<WorkloadState>) -> Result<T>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let plan = ctx.plan();
    let cluster = plan.site(site).cluster.clone().unwrap_or_default();
    let scaler = ctx.providers().site(site).workloads.clone();
    let requests: Vec<(usize, ListWorkloads)> = plan
        .workloads
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let req = ListWorkloads {
                site,
                cluster: cluster.clone(),
                namespace: g.namespace.clone(),
                kind: g.kind,
                selector: g
                    .selector
                    .as_deref()
                    .and_then(|s| LabelSelector::parse(s).ok()),
            };
            (i, req)
        })
        .collect();
    let mut lists = ctx
        .fan_out_tasks(requests, ItemWork::Heavy, move |ctx, (i, req)| {
            let scaler = scaler.clone();
            let f = f.clone();
            async move {
                let listing = ctx.call("list workloads", || scaler.list(&req)).await?;
                Ok((i, f(i, &ctx.plan().workloads[i], req, listing)?))
            }
        })
        .await?;
    lists.sort_unstable_by_key(|(i, _)| *i);
    Ok(lists)
}

/// Indices into `listing` (sorted here by name) of group `g`'s workloads, in the plan's order (all,
/// by name, when the group selects by label); a named workload missing from the listing is an
/// error naming it. APIs list in name order (the sort is usually a check); names the plan gives in
/// order are matched in one walk, others by binary search: no hashing, no copies of names.
fn match_names(
    g: &WorkloadSpec,
    req: &ListWorkloads,
    listing: &mut [WorkloadState],
) -> Result<Vec<usize>> {
    if !listing.is_sorted_by(|a, b| a.name <= b.name) {
        listing.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    }
    if g.names.is_empty() {
        return Ok((0..listing.len()).collect());
    }
    let missing = |name: &str| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "{:?} `{name}` of group `{}` does not exist at the {} site",
                g.kind, g.name, req.site
            ),
        )
        .with_resource(format!(
            "{}/{}/{}/{name}",
            req.site, req.cluster, req.namespace
        ))
    };
    let listing: &[WorkloadState] = listing;
    if g.names.is_sorted() {
        let mut at = 0;
        return g
            .names
            .iter()
            .map(|name| {
                // Plans usually name most of what is listed: step a few before searching.
                let mut steps = 0;
                while steps < 4 && listing.get(at).is_some_and(|w| w.name < *name) {
                    at += 1;
                    steps += 1;
                }
                at += listing[at..].partition_point(|w| w.name < *name);
                match listing.get(at) {
                    Some(w) if w.name == *name => Ok(at),
                    _ => Err(missing(name)),
                }
            })
            .collect();
    }
    g.names
        .iter()
        .map(|name| {
            listing
                .binary_search_by(|w| w.name.as_str().cmp(name))
                .map_err(|_| missing(name))
        })
        .collect()
}

/// The workloads at `order` in `listing`, each with its id (the name moves into the id).
fn with_ids(
    g: &WorkloadSpec,
    req: ListWorkloads,
    listing: Vec<WorkloadState>,
    order: Vec<usize>,
) -> Result<Vec<(WorkloadId, WorkloadState)>> {
    let ListWorkloads {
        site,
        cluster,
        namespace,
        kind,
        ..
    } = req;
    let mut slots: Vec<Option<WorkloadState>> = listing.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(order.len());
    for i in order {
        let Some(mut state) = slots[i].take() else {
            return Err(Error::config(format!(
                "workload group `{}` names `{}` twice",
                g.name,
                g.names[out.len()]
            )));
        };
        let name = std::mem::take(&mut state.name);
        out.push((
            WorkloadId {
                site,
                cluster: cluster.clone(),
                namespace: namespace.clone(),
                kind,
                name,
            },
            state,
        ));
    }
    Ok(out)
}

async fn drain(ctx: &Arc<StepCtx>, site: SiteRole) -> Result<String> {
    let items = match workloads_of(ctx, site).await {
        Ok(items) => items,
        Err(e) if primary_down_accepted(ctx, site, &e)? => {
            return Ok(ctx.skip(format!(
                "the primary site is unreachable, as declared (--primary-unreachable): not drained ({e})"
            )));
        }
        Err(e) => return Err(e),
    };
    let scaler = ctx.providers().site(site).workloads.clone();
    let total = items.len();
    let todo: Vec<_> = items
        .into_iter()
        .filter(|w| {
            w.state
                .annotations
                .get(DRAIN_ANNOTATION)
                .map(String::as_str)
                != Some("true")
        })
        .map(|w| w.id)
        .collect();
    let annotated = todo.len();
    ctx.fan_out_tasks(todo, ItemWork::Light, move |ctx, id| {
        let scaler = scaler.clone();
        let req = AnnotateWorkload {
            id,
            annotations: BTreeMap::from([(DRAIN_ANNOTATION.to_string(), Some("true".to_string()))]),
        };
        async move { ctx.call("annotate drain", || scaler.annotate(&req)).await }
    })
    .await?;
    // Wait for in-flight requests to reach zero.
    let eps: Vec<_> = ctx
        .plan()
        .health_endpoints
        .iter()
        .filter(|h| h.site == site)
        .collect();
    let health = ctx.providers().site(site).health.clone();
    // Some(true): every endpoint reports zero in flight; Some(false): requests still in flight;
    // None: no endpoint reports in-flight requests at all.
    let reported = ctx
        .wait("in-flight requests to drain", || {
            let eps = eps.clone();
            let health = health.clone();
            async move {
                let mut any_reported = false;
                for h in eps {
                    let r = health
                        .probe(&ProbeRequest {
                            name: h.name.clone(),
                            site,
                            url: h.url.clone(),
                        })
                        .await?;
                    match r.in_flight {
                        Some(n) if n > 0 => return Ok(None),
                        Some(_) => any_reported = true,
                        None => {}
                    }
                }
                Ok(Some(any_reported))
            }
        })
        .await?;
    if !reported {
        // Nothing to observe: give in-flight requests the estimated drain time before fencing.
        let grace = ctx.estimates().drain;
        ctx.note(format!(
            "no health endpoint of the {site} site reports in-flight requests: waited the drain estimate of {}",
            format_duration(grace)
        ));
        ctx.run.clock.sleep(grace).await;
    }
    ctx.set("annotated", json!(annotated));
    Ok(format!(
        "{annotated} of {total} workloads annotated {DRAIN_ANNOTATION}=true; in-flight requests at zero"
    ))
}

/// Each workload group's goal replicas by workload name (sorted by name), for the rollout wait.
struct RolloutGoals(Vec<Vec<(String, u32)>>);

impl RolloutGoals {
    fn new(groups: usize) -> RolloutGoals {
        RolloutGoals(vec![Vec::new(); groups])
    }

    fn set(&mut self, w: &Workload<'_>, goal: u32) {
        self.0[w.group].push((w.id.name.clone(), goal));
    }

    fn sorted(mut self) -> RolloutGoals {
        for g in &mut self.0 {
            g.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        self
    }

    /// The goal of workload `name` of group `group`, if it has one.
    fn get(&self, group: usize, name: &str) -> Option<u32> {
        let g = self.0.get(group)?;
        g.binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| g[i].1)
    }
}

async fn scale_workloads(ctx: &Arc<StepCtx>, site: SiteRole, mode: WorkloadMode) -> Result<String> {
    let items = workloads_of(ctx, site).await?;
    let scaler = ctx.providers().site(site).workloads.clone();
    let run_id = ctx.run.run_id.clone();
    let total = items.len();
    let mut goals = RolloutGoals::new(ctx.plan().workloads.len());
    let changed;
    match mode {
        WorkloadMode::Undrain => {
            let todo: Vec<_> = items
                .into_iter()
                .filter(|w| w.state.annotations.contains_key(DRAIN_ANNOTATION))
                .map(|w| w.id)
                .collect();
            changed = todo.len();
            ctx.fan_out_tasks(todo, ItemWork::Light, move |ctx, id| {
                let scaler = scaler.clone();
                let req = AnnotateWorkload {
                    id,
                    annotations: BTreeMap::from([(DRAIN_ANNOTATION.to_string(), None)]),
                };
                async move {
                    ctx.call("remove drain annotation", || scaler.annotate(&req))
                        .await
                }
            })
            .await?;
            return Ok(format!(
                "drain annotation removed from {changed} of {total} workloads"
            ));
        }
        WorkloadMode::ScaleUpRecording | WorkloadMode::Production => {
            let record = mode == WorkloadMode::ScaleUpRecording;
            let mut todo = Vec::new();
            for w in items {
                let target = w.spec.production_replicas;
                goals.set(&w, target);
                if w.state.replicas == target {
                    continue;
                }
                let ours = w.state.annotations.get(SCALED_BY_RUN_ANNOTATION) == Some(&run_id)
                    && w.state
                        .annotations
                        .contains_key(ORIGINAL_REPLICAS_ANNOTATION);
                let annotate = record && !ours;
                todo.push((w.id, w.state.replicas, target, annotate));
            }
            changed = todo.len();
            let run_id = run_id.clone();
            ctx.fan_out_tasks(
                todo,
                ItemWork::Light,
                move |ctx, (id, current, target, annotate)| {
                    let scaler = scaler.clone();
                    let run_id = run_id.clone();
                    async move {
                        // The original count is recorded in the same request as the scale: a crash
                        // leaves both or neither.
                        let annotations = if annotate {
                            BTreeMap::from([
                                (
                                    ORIGINAL_REPLICAS_ANNOTATION.to_string(),
                                    Some(current.to_string()),
                                ),
                                (SCALED_BY_RUN_ANNOTATION.to_string(), Some(run_id)),
                            ])
                        } else {
                            BTreeMap::new()
                        };
                        let req = ScaleWorkload {
                            id,
                            replicas: target,
                            annotations,
                        };
                        ctx.call("scale workload", || scaler.scale(&req)).await
                    }
                },
            )
            .await?;
        }
        WorkloadMode::RestoreRecorded => {
            let mut todo = Vec::new();
            for w in items {
                let recorded = w.state.annotations.get(ORIGINAL_REPLICAS_ANNOTATION);
                let target = match recorded.map(|v| v.parse::<u32>()) {
                    Some(Ok(n)) => n,
                    Some(Err(_)) => {
                        ctx.note(format!(
                            "{}: {ORIGINAL_REPLICAS_ANNOTATION}=`{}` is not a number; restoring standby_replicas {}",
                            w.id,
                            recorded.map(String::as_str).unwrap_or(""),
                            w.spec.standby_replicas
                        ));
                        w.spec.standby_replicas
                    }
                    None => w.spec.standby_replicas,
                };
                goals.set(&w, target);
                let clear: BTreeMap<String, Option<String>> = [
                    ORIGINAL_REPLICAS_ANNOTATION,
                    SCALED_BY_RUN_ANNOTATION,
                    DRAIN_ANNOTATION,
                ]
                .iter()
                .filter(|k| w.state.annotations.contains_key(**k))
                .map(|k| (k.to_string(), None))
                .collect();
                if w.state.replicas != target || !clear.is_empty() {
                    todo.push((w.id, w.state.replicas != target, target, clear));
                }
            }
            changed = todo.len();
            ctx.fan_out_tasks(
                todo,
                ItemWork::Light,
                move |ctx, (id, scale, target, clear)| {
                    let scaler = scaler.clone();
                    async move {
                        if scale {
                            // Restore and clear the record in one request: a crash leaves both or neither.
                            let req = ScaleWorkload {
                                id,
                                replicas: target,
                                annotations: clear,
                            };
                            return ctx.call("restore replicas", || scaler.scale(&req)).await;
                        }
                        let req = AnnotateWorkload {
                            id,
                            annotations: clear,
                        };
                        ctx.call("clear annotations", || scaler.annotate(&req))
                            .await
                    }
                },
            )
            .await?;
        }
    }
    // Wait for the rollout: counted in the listing tasks, only the counts come back.
    let goals = Arc::new(goals.sorted());
    ctx.wait("workload rollout", || {
        let goals = goals.clone();
        async move {
            let pending = per_group(ctx, site, move |group, g, req, mut listing| {
                let order = match_names(g, &req, &mut listing)?;
                Ok(order
                    .into_iter()
                    .map(|i| &listing[i])
                    .filter(|w| {
                        let goal = goals.get(group, &w.name).unwrap_or(w.replicas);
                        w.replicas != goal || w.available_replicas != goal
                    })
                    .count())
            })
            .await?;
            Ok((pending.iter().all(|(_, n)| *n == 0)).then_some(()))
        }
    })
    .await?;
    ctx.set("changed", json!(changed));
    ctx.set("workloads", json!(total));
    let what = match mode {
        WorkloadMode::ScaleUpRecording => "scaled to production (original replicas recorded)",
        WorkloadMode::Production => "scaled to production",
        _ => "restored to their recorded replicas, annotations cleared",
    };
    Ok(format!(
        "{changed} of {total} workloads {what}; all rolled out"
    ))
}

// ---- nodes ---------------------------------------------------------------------------------------

async fn scale_nodes(ctx: &StepCtx, site: SiteRole, level: Level) -> Result<String> {
    let pools: Vec<_> = ctx
        .plan()
        .node_pools
        .iter()
        .filter(|p| p.site == site)
        .collect();
    let scaler = ctx.providers().site(site).nodes.clone();
    let results = ctx
        .fan_out(pools, |p| {
            let scaler = scaler.clone();
            let size = match level {
                Level::Production => p.production,
                Level::Standby => p.standby,
            };
            let pool = PoolRef {
                site,
                cluster: p.cluster.clone(),
                name: p.name.clone(),
            };
            async move {
                let cur = ctx
                    .call("read node pool", || scaler.get_pool(&pool))
                    .await?;
                let changed = cur.size != size;
                if changed {
                    let req = ScalePool {
                        pool: pool.clone(),
                        size,
                    };
                    ctx.call("scale node pool", || scaler.scale_pool(&req))
                        .await?;
                }
                let s = ctx
                    .wait(&format!("nodes of pool {} Ready", pool.name), || async {
                        let s = scaler.get_pool(&pool).await?;
                        Ok((s.size == size
                            && !s.updating
                            && s.ready_nodes >= size.desired
                            && s.nodes == size.desired)
                            .then_some(s))
                    })
                    .await?;
                Ok((pool.name.clone(), changed, s.ready_nodes))
            }
        })
        .await?;
    let changed = results.iter().filter(|r| r.1).count();
    let detail: Vec<_> = results
        .iter()
        .map(|(n, _, r)| format!("{n}: {r} Ready"))
        .collect();
    Ok(format!(
        "{changed} of {} pools resized to {level:?}; {}",
        results.len(),
        detail.join(", ")
    ))
}

// ---- databases -----------------------------------------------------------------------------------

async fn fence(ctx: &StepCtx, site: SiteRole) -> Result<String> {
    let db = ctx.providers().database.clone();
    let dbs: Vec<_> = ctx.plan().databases.iter().collect();
    let out = ctx
        .fan_out(dbs, |d| {
            let db = db.clone();
            let r = db_ref(d, site);
            async move {
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
struct PromoteDecision<'a> {
    spec: &'a DatabaseSpec,
    target: DatabaseRef,
    old: DatabaseRef,
    /// `None`: already primary.
    mode: Option<PromoteMode>,
    /// Already primary but fenced, never demoted (a failover that failed before promoting the
    /// other side): lifting the fence is all it needs.
    unfence: bool,
    /// The data-loss window in ms; `None` when it could not be measured.
    rpo_ms: Option<u64>,
}

/// True when a status proves the replica has everything its fenced source wrote: a measured zero
/// lag (an unknown lag proves nothing), or the replica already serving as primary.
fn caught_up(s: &DatabaseStatus) -> bool {
    s.role == DatabaseRole::Primary || s.replication_lag == Some(Duration::ZERO)
}

/// Decides how to promote `d` at `to`: reads both instances, refuses a split brain, waits for a
/// planned promotion's replica to catch up, and gates a forced one on its measured lag.
async fn decide_promotion<'a>(
    ctx: &StepCtx,
    db: &Arc<dyn DatabaseFailover>,
    d: &'a DatabaseSpec,
    to: SiteRole,
) -> Result<PromoteDecision<'a>> {
    let rpo = ctx.run.targets.rpo;
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
            .checkpointed("rpo_ms")
            .and_then(|m| m.get(&d.name).cloned())
        {
            Some(v) => v.as_u64(),
            None => Some(0),
        };
        return Ok(PromoteDecision {
            spec: d,
            target,
            old,
            mode: None,
            unfence: false,
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
            mode: None,
            unfence: true,
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
            None if ctx.flags().accept_data_loss => None,
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
        mode: Some(mode),
        unfence: false,
        rpo_ms,
    })
}

async fn promote(ctx: &StepCtx, to: SiteRole) -> Result<String> {
    let db = ctx.providers().database.clone();
    let dbs: Vec<_> = ctx.plan().databases.iter().collect();
    // Phase 1: observe every pair and decide; nothing is promoted unless every pair passes its gate.
    let decisions = ctx
        .fan_out(dbs, |d| {
            let db = db.clone();
            async move { decide_promotion(ctx, &db, d, to).await }
        })
        .await?;
    // The measured data-loss windows are journaled once, durably, before any promotion (`null`:
    // not measured).
    let todo: Vec<&PromoteDecision> = decisions.iter().filter(|d| d.mode.is_some()).collect();
    if !todo.is_empty() {
        let mut all = match ctx.checkpointed("rpo_ms") {
            Some(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        all.extend(todo.iter().map(|d| (d.spec.name.clone(), json!(d.rpo_ms))));
        ctx.checkpoint("rpo_ms", serde_json::Value::Object(all))?;
    }
    // Phase 2: promote and confirm.
    let out = ctx
        .fan_out(decisions.iter().collect(), |d: &PromoteDecision| {
            let db = db.clone();
            async move {
                if d.unfence {
                    let req = FenceRequest {
                        target: d.target.clone(),
                        fenced: false,
                    };
                    ctx.call("lift fence", || db.fence(&req)).await?;
                    ctx.wait(&format!("{} to take writes", d.target.instance), || async {
                        let s = db.status(&d.target).await?;
                        Ok((s.role == DatabaseRole::Primary && !s.fenced).then_some(()))
                    })
                    .await?;
                    return Ok(format!(
                        "{}: {} was fenced but never demoted: fence lifted, no data moved",
                        d.spec.name, d.target.instance
                    ));
                }
                let Some(mode) = d.mode else {
                    return Ok(format!(
                        "{}: {} already primary",
                        d.spec.name, d.target.instance
                    ));
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
                ctx.wait(
                    &format!("{} to become primary", d.target.instance),
                    || async {
                        let s = db.status(&d.target).await?;
                        Ok((s.role == DatabaseRole::Primary && !s.fenced).then_some(()))
                    },
                )
                .await?;
                Ok(format!(
                    "{}: {} promoted ({mode:?}, data loss window {})",
                    d.spec.name,
                    d.target.instance,
                    d.rpo_ms.map(fmt_ms).unwrap_or_else(|| "unknown".into())
                ))
            }
        })
        .await?;
    let mut loss = super::context::DataLoss::default();
    for d in &decisions {
        loss.add(d.rpo_ms);
    }
    if loss.worst_ms.is_some() {
        ctx.run.record_data_loss(&ctx.step.id, loss.worst_ms);
    }
    if loss.unknown {
        ctx.run.record_data_loss(&ctx.step.id, None);
    }
    for (k, v) in loss.to_output() {
        ctx.set(k, v);
    }
    Ok(out.join("; "))
}

async fn reverse(ctx: &StepCtx, replica_site: SiteRole, dry_run: bool) -> Result<String> {
    let db = ctx.providers().database.clone();
    let max_lag = ctx.plan().checks.max_replication_lag;
    let dbs: Vec<_> = ctx.plan().databases.iter().collect();
    let out = ctx
        .fan_out(dbs, |d| {
            let db = db.clone();
            let source = db_ref(d, replica_site.other());
            let target = db_ref(d, replica_site);
            async move {
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
                        Ok(s.replication_lag.filter(|l| *l <= max_lag).map(|_| ()))
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
    ctx.set(
        if dry_run {
            "sync_dry_run"
        } else {
            "replication"
        },
        json!(data),
    );
    Ok(out
        .into_iter()
        .map(|(s, _)| s)
        .collect::<Vec<_>>()
        .join("; "))
}

// ---- DNS -----------------------------------------------------------------------------------------

async fn wait_change(ctx: &StepCtx, change: &ChangeId) -> Result<()> {
    let dns = ctx.providers().dns.clone();
    ctx.wait(&format!("DNS change {} INSYNC", change.0), || async {
        Ok((dns.change_status(change).await? == ChangeStatus::Insync).then_some(()))
    })
    .await
}

/// Points `rec` at `target` with `ttl` unless it already is; waits for the change to be in sync.
async fn ensure_record(
    ctx: &StepCtx,
    rec: &crate::plan::DnsRecordSpec,
    target: &str,
    ttl: u32,
) -> Result<bool> {
    let dns = ctx.providers().dns.clone();
    let key = format!("change:{}", rec.name);
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
            wait_change(ctx, &ChangeId(id)).await?;
            return Ok(true);
        }
        // Already as wanted, and not a resumed step whose change may still be propagating.
        (true, None) if !ctx.resumed() => return Ok(false),
        _ => {}
    }
    let req = UpsertRecord {
        record: record_ref(rec),
        target: target.to_string(),
        ttl,
    };
    let change = ctx
        .call("UPSERT record", || dns.upsert_record(&req))
        .await?;
    ctx.checkpoint_light(&key, json!(change.0))?;
    wait_change(ctx, &change).await?;
    Ok(true)
}

async fn set_health_check(ctx: &StepCtx, id: &str, disabled: bool) -> Result<bool> {
    let dns = ctx.providers().dns.clone();
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

async fn switch_dns(ctx: &StepCtx, to: SiteRole) -> Result<String> {
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
                        set_health_check(ctx, hc, true),
                        ensure_record(ctx, rec, target, ttl)
                    );
                    (a?, b?)
                }
                (SiteRole::Primary, Some(hc)) => {
                    let b = ensure_record(ctx, rec, target, ttl).await?;
                    (set_health_check(ctx, hc, false).await?, b)
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

async fn lower_ttl(ctx: &StepCtx) -> Result<String> {
    let plan = ctx.plan();
    let lowered = plan.failback.lowered_ttl;
    let dns = ctx.providers().dns.clone();
    let recs: Vec<_> = plan.dns_records.iter().collect();
    let out = ctx
        .fan_out(recs, |rec| {
            let dns = dns.clone();
            async move {
                let rr = record_ref(rec);
                let cur = ctx.call("read record", || dns.get_record(&rr)).await?;
                let key = format!("lowered:{}", rec.name);
                let (old_ttl, since) = match ctx.checkpointed(&key) {
                    Some(v) => (
                        v["old_ttl"].as_u64().unwrap_or(0),
                        v["at_ms"].as_u64().unwrap_or(0),
                    ),
                    None if cur.ttl > lowered => {
                        ensure_record(ctx, rec, &cur.target, lowered).await?;
                        let at = ctx.run.clock.now_ms();
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
                let now = ctx.run.clock.now_ms();
                if until > now {
                    let left = (until - now).min(ctx.run.hard_deadline_ms().saturating_sub(now));
                    ctx.run.clock.sleep(Duration::from_millis(left)).await;
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

async fn restore_ttl(ctx: &StepCtx) -> Result<String> {
    let dns = ctx.providers().dns.clone();
    let recs: Vec<_> = ctx.plan().dns_records.iter().collect();
    let out = ctx
        .fan_out(recs, |rec| {
            let dns = dns.clone();
            async move {
                let rr = record_ref(rec);
                let cur = ctx.call("read record", || dns.get_record(&rr)).await?;
                let changed = ensure_record(ctx, rec, &cur.target, rec.ttl).await?;
                Ok(format!(
                    "{}: TTL {}s{}",
                    rec.name,
                    rec.ttl,
                    if changed { " restored" } else { " already" }
                ))
            }
        })
        .await?;
    Ok(out.join("; "))
}

// ---- recovery service ----------------------------------------------------------------------------

fn recovery(ctx: &StepCtx) -> Result<std::sync::Arc<dyn RecoveryService>> {
    ctx.providers().recovery.clone().ok_or_else(|| {
        Error::new(
            ErrorKind::Unsupported,
            "the plan lists recovery servers but the provider has no recovery service",
        )
    })
}

async fn wait_job(ctx: &StepCtx, rs: &dyn RecoveryService, job: &JobId) -> Result<JobState> {
    let st = ctx
        .wait(&format!("recovery job {}", job.0), || async {
            let j = rs.job(job).await?;
            let done = j.status == JobStatus::Completed
                && j.participants.iter().all(|(_, s)| s.is_final());
            Ok(done.then_some(j))
        })
        .await?;
    ctx.set("job_log", json!(st.log));
    Ok(st)
}

/// Adopts a running job of `participants` (a retry after a lost response, or a resume) or starts one.
async fn adopt_or_start<F, Fut>(
    rs: &dyn RecoveryService,
    participants: &[String],
    start: F,
) -> Result<JobId>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<JobId>>,
{
    if let Some(j) = rs.active_jobs(participants).await?.into_iter().next() {
        return Ok(j.id);
    }
    start().await
}

async fn recover_servers(ctx: &StepCtx) -> Result<String> {
    let rs = recovery(ctx)?;
    let drill = ctx.run.operation == Operation::Drill;
    let servers: Vec<String> = ctx
        .plan()
        .recovery_servers
        .iter()
        .map(|s| s.source_server_id.clone())
        .collect();
    if let Some(msg) = recovery_point_gate(ctx).await? {
        return Err(Error::refused(msg));
    }
    let age = ctx.output()["recovery_point_age_ms"].as_u64().unwrap_or(0);
    let job = match ctx
        .checkpointed("job_id")
        .and_then(|v| v.as_str().map(String::from))
    {
        Some(id) => Some(JobId(id)),
        None => {
            let existing = ctx
                .call("describe recovery instances", || {
                    rs.recovery_instances(&servers)
                })
                .await?;
            let todo: Vec<String> = servers
                .iter()
                .filter(|s| {
                    !existing
                        .iter()
                        .any(|i| &i.source_server == *s && i.is_drill == drill)
                })
                .cloned()
                .collect();
            if todo.is_empty() {
                None
            } else {
                let req = StartRecovery {
                    source_servers: todo.clone(),
                    is_drill: drill,
                };
                let id = ctx
                    .call("start recovery", || {
                        adopt_or_start(rs.as_ref(), &todo, || rs.start_recovery(&req))
                    })
                    .await?;
                ctx.checkpoint("job_id", json!(id.0))?;
                Some(id)
            }
        }
    };
    if let Some(job) = &job {
        let st = wait_job(ctx, rs.as_ref(), job).await?;
        let failed: Vec<_> = st
            .participants
            .iter()
            .filter(|(_, s)| *s != LaunchStatus::Launched)
            .map(|(p, s)| format!("{p}: {s:?}"))
            .collect();
        if !failed.is_empty() {
            return Err(Error::new(
                ErrorKind::Provider,
                format!(
                    "recovery job {} did not launch: {}",
                    job.0,
                    failed.join(", ")
                ),
            )
            .with_resource(job.0.clone()));
        }
    }
    let loss = super::context::DataLoss {
        worst_ms: Some(age),
        unknown: false,
    };
    for (k, v) in loss.to_output() {
        ctx.set(k, v);
    }
    ctx.run.record_data_loss(&ctx.step.id, Some(age));
    Ok(format!(
        "{} recovery instance(s) {}{}",
        servers.len(),
        if drill {
            "launched as a drill"
        } else {
            "launched"
        },
        job.map(|j| format!(" by job {}", j.0))
            .unwrap_or_else(|| " (already running)".into())
    ))
}

async fn failback_servers(ctx: &StepCtx) -> Result<String> {
    let rs = recovery(ctx)?;
    let servers: Vec<String> = ctx
        .plan()
        .recovery_servers
        .iter()
        .map(|s| s.source_server_id.clone())
        .collect();
    let list = || async {
        let all = ctx
            .call("describe recovery instances", || {
                rs.recovery_instances(&servers)
            })
            .await?;
        Ok::<_, Error>(all.into_iter().filter(|i| !i.is_drill).collect::<Vec<_>>())
    };
    let instances = list().await?;
    if instances.is_empty() {
        return Ok("no recovery instances to fail back".into());
    }
    let pending: Vec<String> = instances
        .iter()
        .filter(|i| i.failback_state != FailbackState::FailbackCompleted)
        .map(|i| i.id.clone())
        .collect();
    if !pending.is_empty() {
        let job = match ctx
            .checkpointed("job_id")
            .and_then(|v| v.as_str().map(String::from))
        {
            Some(id) => JobId(id),
            None => {
                // Gate on FailbackState: wait until every instance is ready for launch.
                ctx.wait("recovery instances FAILBACK_READY_FOR_LAUNCH", || async {
                    let now = rs.recovery_instances(&servers).await?;
                    let mut ready = true;
                    for i in now.iter().filter(|i| pending.contains(&i.id)) {
                        match i.failback_state {
                            FailbackState::FailbackReadyForLaunch => {}
                            FailbackState::FailbackInProgress => ready = false,
                            other => {
                                return Err(Error::new(
                                    ErrorKind::InvalidState,
                                    format!(
                                        "recovery instance {} is {other:?}: failback cannot start",
                                        i.id
                                    ),
                                )
                                .with_resource(i.id.clone()))
                            }
                        }
                    }
                    Ok(ready.then_some(()))
                })
                .await?;
                let id = ctx
                    .call("start failback launch", || {
                        adopt_or_start(rs.as_ref(), &pending, || rs.start_failback(&pending))
                    })
                    .await?;
                ctx.checkpoint("job_id", json!(id.0))?;
                id
            }
        };
        let st = wait_job(ctx, rs.as_ref(), &job).await?;
        let failed: Vec<_> = st
            .participants
            .iter()
            .filter(|(_, s)| *s != LaunchStatus::Launched)
            .map(|(p, _)| p.clone())
            .collect();
        if !failed.is_empty() {
            // Backout: stop the failback so the DR instances keep serving.
            for id in &pending {
                ctx.call("stop failback (backout)", || rs.stop_failback(id))
                    .await?;
            }
            return Err(Error::new(
                ErrorKind::Provider,
                format!(
                    "failback job {} failed for {}; backed out with stop_failback: the DR instances keep serving and DNS stays on DR",
                    job.0,
                    failed.join(", ")
                ),
            )
            .with_resource(job.0.clone()));
        }
    }
    // Verify, then re-protect.
    let after = list().await?;
    let not_done: Vec<_> = after
        .iter()
        .filter(|i| i.failback_state != FailbackState::FailbackCompleted)
        .map(|i| i.id.clone())
        .collect();
    if !not_done.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidState,
            format!("instances not failed back: {}", not_done.join(", ")),
        ));
    }
    // The failed-back servers must be running in the source region before they are re-protected.
    let states = ctx
        .wait("failed-back source instances running", || async {
            let states = rs.source_instance_states(&servers).await?;
            Ok(states.iter().all(|(_, s)| s == "running").then_some(states))
        })
        .await?;
    ctx.set(
        "source_instances",
        json!(states
            .iter()
            .map(|(s, st)| json!({ "source_server": s, "state": st }))
            .collect::<Vec<_>>()),
    );
    for i in &after {
        let attempt = std::sync::atomic::AtomicU32::new(0);
        ctx.call("reverse replication (re-protect)", || async {
            match rs.reverse_replication(&i.id).await {
                // The instance is gone after re-protection: on a retry that means the lost call worked.
                Err(e)
                    if e.kind() == ErrorKind::NotFound
                        && attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0 =>
                {
                    Ok(())
                }
                r => {
                    attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    r
                }
            }
        })
        .await?;
    }
    Ok(format!(
        "{} instance(s) failed back and re-protected",
        after.len()
    ))
}

async fn terminate_drill(ctx: &StepCtx) -> Result<String> {
    let rs = recovery(ctx)?;
    let servers: Vec<String> = ctx
        .plan()
        .recovery_servers
        .iter()
        .map(|s| s.source_server_id.clone())
        .collect();
    ctx.call("terminate drill instances", || {
        rs.terminate_drill_instances(&servers)
    })
    .await?;
    Ok(format!(
        "drill instances of {} server(s) terminated",
        servers.len()
    ))
}

// ---- verification --------------------------------------------------------------------------------

/// The site whose databases must be writable once this phase is done: where the phase promotes
/// them, else the primary (classes that move no data leave them there).
fn writable_database_site(ctx: &StepCtx) -> SiteRole {
    let phase = super::context::phase_of(&ctx.step.id);
    ctx.run
        .graph
        .steps
        .iter()
        .find_map(|s| match s.kind {
            StepKind::PromoteDatabases { to } if super::context::phase_of(&s.id) == phase => {
                Some(to)
            }
            _ => None,
        })
        .unwrap_or(SiteRole::Primary)
}

/// What is wrong with the database roles: the instance at `writable` must be an unfenced primary,
/// the other fenced or replicating from it (or, at a primary declared unreachable, not asked).
async fn database_roles(ctx: &StepCtx, writable: SiteRole) -> Result<Vec<String>> {
    let db = ctx.providers().database.clone();
    let per_db = ctx.plan().databases.iter().map(|d| {
        let db = db.clone();
        async move {
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

async fn verify(ctx: &Arc<StepCtx>, site: SiteRole, database_only: bool) -> Result<String> {
    let plan = ctx.plan();
    let max_err = plan.checks.max_error_rate;
    let health = ctx.providers().site(site).health.clone();
    // Data integrity, checked alongside the health wait; a failure stops the operation, after the
    // first poll has looked at the database roles, so that the error says what is wrong with them.
    let first_poll = tokio::sync::Notify::new();
    let first_poll = &first_poll;
    let integrity = async {
        if !ctx.providers().capabilities.integrity_check || plan.databases.is_empty() {
            return Ok(());
        }
        let dbs: Vec<_> = plan.databases.iter().collect();
        let res = ctx
            .fan_out(dbs, |d| {
                let health = health.clone();
                async move {
                    ctx.call("verify data integrity", || {
                        health.verify_integrity(site, &d.name)
                    })
                    .await
                }
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
    let what = format!("{site} site healthy");
    let healthy = ctx.wait(&what, || {
        let eps = eps.clone();
        let health = health.clone();
        async move {
            let probes = async {
                futures_util::future::try_join_all(eps.iter().map(|h| {
                    let health = health.clone();
                    async move {
                        let r = health
                            .probe(&ProbeRequest {
                                name: h.name.clone(),
                                site,
                                url: h.url.clone(),
                            })
                            .await?;
                        let mut p = Vec::new();
                        if r.status != h.expect_status {
                            p.push(format!("{} answers {}", h.url, r.status));
                        }
                        if let Some(er) = r.error_rate.filter(|er| *er > max_err) {
                            p.push(format!(
                                "{} error rate {:.2}% > {:.2}%",
                                h.url,
                                er * 100.0,
                                max_err * 100.0
                            ));
                        }
                        Ok::<_, Error>(p)
                    }
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
                let dns = ctx.providers().dns.clone();
                futures_util::future::try_join_all(plan.dns_records.iter().map(|rec| {
                    let dns = dns.clone();
                    async move {
                        let cur = dns.get_record(&record_ref(rec)).await?;
                        Ok::<_, Error>(
                            (cur.target != rec.target(site))
                                .then(|| format!("{} points at {}", rec.name, cur.target)),
                        )
                    }
                }))
                .await
                .map(|v| v.into_iter().flatten().collect::<Vec<_>>())
            };
            let pools = async {
                if database_only {
                    return Ok(Vec::new());
                }
                // The serving site runs at the plan's production capacity.
                let scaler = ctx.providers().site(site).nodes.clone();
                futures_util::future::try_join_all(
                    plan.node_pools.iter().filter(|p| p.site == site).map(|p| {
                        let scaler = scaler.clone();
                        async move {
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
                        }
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
    let now = ctx.run.clock.now_ms();
    ctx.set("service_restored_ms", json!(now));
    ctx.run.mark("restored", &ctx.step.id, now);
    // Name only what was checked.
    let mut checked = vec!["health endpoints".to_string()];
    if !database_only {
        if !plan.workloads.is_empty() {
            checked.push("all workloads available".into());
        }
        if plan.node_pools.iter().any(|p| p.site == site) {
            checked.push("node pools at production".into());
        }
        if !plan.dns_records.is_empty() {
            checked.push("DNS".into());
        }
    }
    if !plan.databases.is_empty() {
        checked.push(format!("databases writable at the {db_site} site"));
        if ctx.providers().capabilities.integrity_check {
            checked.push("data integrity".into());
        }
    }
    Ok(format!("{site} site verified: {}", checked.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::WorkloadKind;

    fn group(names: &[&str]) -> WorkloadSpec {
        WorkloadSpec {
            name: "api".into(),
            namespace: "prod".into(),
            kind: WorkloadKind::Deployment,
            names: names.iter().map(|n| n.to_string()).collect(),
            selector: None,
            production_replicas: 3,
            standby_replicas: 1,
        }
    }

    fn request() -> ListWorkloads {
        ListWorkloads {
            site: SiteRole::Dr,
            cluster: "dr".into(),
            namespace: "prod".into(),
            kind: WorkloadKind::Deployment,
            selector: None,
        }
    }

    fn listing(names: &[&str]) -> Vec<WorkloadState> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| WorkloadState {
                name: n.to_string(),
                replicas: i as u32,
                available_replicas: i as u32,
                annotations: BTreeMap::new(),
            })
            .collect()
    }

    #[test]
    fn named_workloads_come_back_in_plan_order_from_an_unsorted_listing() {
        let g = group(&["web", "api", "worker"]);
        let mut l = listing(&["worker", "api", "cron", "web"]);
        let order = match_names(&g, &request(), &mut l).expect("all listed");
        let got = with_ids(&g, request(), l, order).expect("ids");
        let names: Vec<(&str, u32)> = got
            .iter()
            .map(|(id, s)| (id.name.as_str(), s.replicas))
            .collect();
        // Replicas tell the listing entry each came from.
        assert_eq!(names, [("web", 3), ("api", 1), ("worker", 0)]);
        assert!(
            got.iter().all(|(_, s)| s.name.is_empty()),
            "name moved into the id"
        );
        assert_eq!(got[0].0.to_string(), "dr/dr:prod/Deployment/web");
    }

    #[test]
    fn a_selector_group_takes_every_listed_workload_by_name() {
        let g = group(&[]);
        let mut l = listing(&["b", "c", "a"]);
        let order = match_names(&g, &request(), &mut l).expect("listed");
        let got = with_ids(&g, request(), l, order).expect("ids");
        let names: Vec<&str> = got.iter().map(|(id, _)| id.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn names_given_in_order_are_matched_in_one_walk_dense_or_sparse() {
        let all: Vec<String> = (0..100).map(|i| format!("svc-{i:03}")).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        // Neighbours, gaps longer than the steps walked before searching, and the last one.
        let g = group(&[
            "svc-000", "svc-001", "svc-002", "svc-050", "svc-051", "svc-099",
        ]);
        let order = match_names(&g, &request(), &mut listing(&all)).expect("all listed");
        assert_eq!(order, [0, 1, 2, 50, 51, 99]);

        let g = group(&["svc-010", "svc-010b", "svc-020"]);
        let err = match_names(&g, &request(), &mut listing(&all)).expect_err("not listed");
        assert!(err.to_string().contains("`svc-010b`"), "{err}");
        let g = group(&["svc-099", "svc-100"]);
        let err = match_names(&g, &request(), &mut listing(&all)).expect_err("past the end");
        assert!(err.to_string().contains("`svc-100`"), "{err}");
    }

    #[test]
    fn a_missing_or_repeated_workload_is_an_error_naming_it() {
        let g = group(&["api", "gone"]);
        let err = match_names(&g, &request(), &mut listing(&["api", "web"]))
            .expect_err("`gone` is not listed");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("`gone` of group `api`"), "{err}");
        assert_eq!(err.resource(), Some("dr/dr/prod/gone"));

        let g = group(&["api", "api"]);
        let mut l = listing(&["api"]);
        let order = match_names(&g, &request(), &mut l).expect("listed");
        let err = with_ids(&g, request(), l, order).expect_err("named twice");
        assert!(err.to_string().contains("names `api` twice"), "{err}");
    }
}
