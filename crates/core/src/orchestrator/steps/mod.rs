//! The steps: idempotent reconcilers that observe, act only where the world differs from the goal,
//! and wait for the goal with a deadline. One file per family of steps.

use std::{sync::Arc, time::Duration};

use super::{graph::StepKind, step_ctx::StepCtx};
use crate::{
    duration::format_duration,
    error::{Error, ErrorKind, Result},
    plan::{DatabaseSpec, SiteRole},
    provider::{DatabaseRef, RecordRef},
};

mod comms;
mod databases;
mod dns;
mod gates;
mod hooks;
mod nodes;
mod recovery;
mod relaunch;
mod verify;
mod workloads;

use comms::{declare, resolve};
use databases::{backup, fence, promote, reverse};
use dns::{lower_ttl, restore_ttl, switch_dns};
use gates::{preflight, stable_gate};
use nodes::scale_nodes;
use recovery::{failback_servers, recover_servers, terminate_drill};
use workloads::{drain, scale_workloads};

pub(crate) use comms::progress_update;

/// Runs one step; returns its one-line summary.
pub(crate) async fn execute(ctx: &Arc<StepCtx>) -> Result<String> {
    match ctx.step.kind.clone() {
        StepKind::Preflight => preflight(ctx).await,
        StepKind::StableGate => stable_gate(ctx).await,
        StepKind::Declare => declare(ctx).await,
        StepKind::Drain { site } => drain(ctx, site).await,
        StepKind::FenceDatabases { site } => fence(ctx, site).await,
        StepKind::PromoteDatabases { to } => promote(ctx, to).await,
        StepKind::BackupDatabases { site } => backup(ctx, site).await,
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
        } => verify::verify(ctx, site, database_only).await,
        StepKind::Resolve => resolve(ctx).await,
        StepKind::Hook { name } => hooks::run(ctx, &name).await,
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
