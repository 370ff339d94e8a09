//! The communication templates a run sends: declaration, progress, resolution.

use std::time::Duration;

use serde_json::json;

use crate::{
    duration::format_duration,
    error::Result,
    journal::Operation,
    notify::Template,
    orchestrator::{context::Mark, step_ctx::StepCtx},
    plan::{graph::StepKind, SiteRole},
    run::{Output, Phase},
};

pub(super) async fn declare(ctx: &StepCtx) -> Result<String> {
    let run = &ctx.run;
    let now = run.fixed.clock.now_ms();
    ctx.record(Output::DeclaredMs(now));
    run.mark(Mark::Declared, &ctx.step.id, now);
    let what = match (
        run.fixed.operation,
        ctx.step.id.phase() == Phase::DrillFailback,
    ) {
        (Operation::Failback, _) | (Operation::Drill, true) => "failback to the primary site",
        (Operation::Drill, false) => "DR drill (failover, verify, failback)",
        (Operation::Failover, _) => "failover to the DR site",
        (Operation::Rollback, _) => "rollback of a stopped failover (back to the primary site)",
    };
    let text = format!(
        "[aegis-dr] T+0 {}: {what} declared for incident class {}. Targets: RTO {}, RPO {}; estimated {}. Run {}. Updates follow at each milestone.",
        run.fixed.plan.name,
        run.fixed.class,
        format_duration(run.fixed.targets.rto),
        format_duration(run.fixed.targets.rpo),
        format_duration(run.fixed.estimate.total),
        run.fixed.run_id
    );
    let n = run
        .notify(
            Template::Initial,
            text,
            json!({
                "rto_seconds": run.fixed.targets.rto.as_secs(),
                "rpo_seconds": run.fixed.targets.rpo.as_secs(),
                "estimate_seconds": run.fixed.estimate.total.as_secs_f64(),
                "steps": run.fixed.estimate.steps.len(),
            }),
        )
        .await;
    Ok(format!("initial notification {n}"))
}

pub(super) async fn resolve(ctx: &StepCtx) -> Result<String> {
    let run = &ctx.run;
    // This phase's recovery time: from the run's start (a failover, or a drill's failover) or from the
    // phase's declaration (a drill's failback) to its verified service.
    let start = match ctx.step.id.phase() {
        Phase::DrillFailback => run
            .get_mark(Mark::Declared, &ctx.step.id)
            .unwrap_or(run.fixed.started_ms),
        _ => run.fixed.started_ms,
    };
    let rto_ms = run
        .get_mark(Mark::Restored, &ctx.step.id)
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
                if rto <= run.fixed.targets.rto {
                    "within"
                } else {
                    "MISSED"
                },
                format_duration(run.fixed.targets.rto)
            )
        })
        .unwrap_or_else(|| {
            format!(
                "not measured (target {})",
                format_duration(run.fixed.targets.rto)
            )
        });
    let text = format!(
        "[aegis-dr] Resolved {}: service verified on {site} (T+{}). Achieved RTO {achieved_rto}; RPO {} (target {}). Run {}.",
        run.fixed.plan.name,
        format_duration(run.elapsed()),
        loss.describe(),
        format_duration(run.fixed.targets.rpo),
        run.fixed.run_id
    );
    let rpo_seconds = loss.rpo_seconds();
    let n = run
        .notify(
            Template::Resolution,
            text,
            json!({ "achieved_rto_seconds": rto_ms.map(|m| m as f64 / 1000.0), "achieved_rpo_seconds": rpo_seconds, "rpo_unknown": loss.unknown }),
        )
        .await;
    Ok(format!("resolution notice {n}"))
}

/// The site the verification step of `ctx`'s phase checked.
fn verified_site(ctx: &StepCtx) -> Option<SiteRole> {
    ctx.run.find_in_phase(&ctx.step.id, |k| match k {
        StepKind::Verify { site, .. } => Some(*site),
        _ => None,
    })
}

/// Sends a progress update after a milestone step, in the background: the steps after it do not
/// wait for the sinks.
pub(crate) fn progress_update(ctx: &StepCtx, summary: &str) {
    let run = &ctx.run;
    let left = run.fixed.targets.rto.saturating_sub(run.elapsed());
    let text = format!(
        "[aegis-dr] Progress {} (T+{}): {} done: {summary}. RTO budget left: {}.",
        run.fixed.plan.name,
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
