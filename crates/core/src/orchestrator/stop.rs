//! When a run stops before its end: an interruption (SIGINT, SIGTERM) stops it starting steps and
//! bounds the running ones, and the sinks hear what serves now and the ways forward and back.

use crate::run::StepId;
use std::{collections::HashSet, time::Duration};

use tokio::sync::watch;

pub use crate::run::{ways_out, WaysOut};

use super::context::RunCtx;
use crate::{
    clock::Clock,
    error::{Error, Result},
    estate::{Estate, Verdict},
    journal::{Operation, RunStatus},
    notify::Escalation,
    plan::{OnFailure, Plan, SiteRole},
    provider::Providers,
};

/// How long steps running when an interruption arrives may take to finish before they are stopped.
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(10);

/// Resolves with the reason once an interruption is asked for; never when there is no channel or
/// its sender is gone without one.
pub(super) async fn interrupted(rx: &mut Option<watch::Receiver<Option<String>>>) -> String {
    if let Some(rx) = rx {
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
    }
    std::future::pending().await
}

/// What is known after a run stopped before its end.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// Where the estate serves now, read from the providers.
    pub estate: Estate,
    /// True when a step that changes the estate (or declares the incident) had started.
    pub changed: bool,
    /// True when the plan's `on_failure = "rollback"` rolls it back now.
    pub rolls_back: bool,
}

/// After a run stopped with `error`: reads where the estate serves now and tells the sinks
/// (through the `run-stopped` escalation route) with the ways forward and back. Only runs whose
/// declaration or changes were under way are announced: a run its gates refused changed nothing
/// and had announced nothing.
pub(super) async fn after_stop(
    ctx: &RunCtx,
    state: &crate::store::State,
    status: RunStatus,
    error: &Error,
) -> Stopped {
    let estate = crate::estate::read(&ctx.fixed.plan, &ctx.fixed.providers, &ctx.fixed.clock).await;
    // A journal that cannot be read says nothing of what ran: take it that something changed.
    let run = crate::journal::read_run(state, &ctx.fixed.run_id)
        .and_then(|e| crate::run::RunState::fold(&e));
    let started: HashSet<StepId> = run
        .as_ref()
        .map(|r| r.started().cloned().collect())
        .unwrap_or_default();
    let changed = run.is_err()
        || ctx
            .fixed
            .graph
            .steps
            .iter()
            .any(|s| !s.kind.observes_only() && started.contains(&s.id));
    let drill_failback_started = started
        .iter()
        .any(|s| s.phase() == crate::run::Phase::DrillFailback);
    let rolls_back = matches!(ctx.fixed.operation, Operation::Failover | Operation::Drill)
        && matches!(status, RunStatus::Failed | RunStatus::Refused)
        && ctx.fixed.plan.on_failure(ctx.fixed.class) == OnFailure::Rollback
        && !drill_failback_started;
    if changed {
        let w = ways_out(
            ctx.fixed.operation,
            &ctx.fixed.run_id,
            ctx.fixed.class.as_str(),
            drill_failback_started,
        );
        announce(ctx, status, error, &estate, rolls_back, &w).await;
    }
    Stopped {
        estate,
        changed,
        rolls_back,
    }
}

async fn announce(
    ctx: &RunCtx,
    status: RunStatus,
    error: &Error,
    estate: &Estate,
    rolls_back: bool,
    w: &WaysOut,
) {
    let next = if rolls_back {
        format!(
            "Rolling back now to {} (the plan's on_failure = rollback); if the rollback cannot start, go back with `{}`",
            w.back_to, w.back
        )
    } else {
        format!(
            "Go forward, once the cause is fixed: `{}`; or go back to {}: `{}`",
            w.forward, w.back_to, w.back
        )
    };
    let message = format!(
        "the run {} ({error}). What serves now: {}. {next}",
        match status {
            RunStatus::Interrupted => "was interrupted",
            RunStatus::Refused => "was refused",
            _ => "failed",
        },
        estate.headline(),
    );
    ctx.escalate(Escalation::RunStopped, message).await;
}

/// Refuses a run that would move nothing: a failback with no completed failover to undo while the
/// estate serves whole from the primary site (or cannot be read), and a failover or drill while
/// the last failover stands and the estate serves whole from the DR site. Reads the estate only
/// when the runs on record say there may be nothing to do.
pub(super) async fn refuse_nothing_to_do(
    plan: &Plan,
    providers: &Providers,
    clock: &Clock,
    runs: &[crate::runs::RunRecord],
    op: Operation,
) -> Result<()> {
    let on_dr_by_record = crate::runs::failover_to_undo_in(runs, &plan.name);
    match (op, &on_dr_by_record) {
        (Operation::Failback, None) => {
            let e = crate::estate::read(plan, providers, clock).await;
            match (e.verdict, e.serving) {
                (Verdict::Whole, Some(SiteRole::Primary)) | (Verdict::Whole, None) => {
                    Err(Error::refused(format!(
                        "no completed failover of plan `{}` to undo, and {}: nothing to fail back",
                        plan.name,
                        e.headline()
                    )))
                }
                (Verdict::Unknown, _) => Err(Error::refused(format!(
                    "no completed failover of plan `{}` to undo, and {}: fail back once it can be read",
                    plan.name,
                    e.headline()
                ))),
                _ => {
                    tracing::warn!(plan = %plan.name, estate = %e.headline(), "failback without a completed failover: the estate is not on the primary");
                    Ok(())
                }
            }
        }
        (Operation::Failover | Operation::Drill, Some(f)) => {
            let e = crate::estate::read(plan, providers, clock).await;
            if e.verdict == Verdict::Whole && e.serving == Some(SiteRole::Dr) {
                return Err(Error::refused(format!(
                    "already on DR: failover {} completed and {}; nothing was done (fail back with `aegis-dr failback`)",
                    f.state.run_id,
                    e.headline()
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
