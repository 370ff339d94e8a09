//! The second half of the DRS backout: revert the DR environment to a chosen recovery point, then
//! fail back again. DRS has no "restore recovery point" call; its equivalent is a recovery launched
//! from a chosen snapshot (`StartRecovery` with `recoverySnapshotID`). The new recovery instances
//! replace the ones that were failing back, which are terminated once the new ones launched.

use std::sync::Arc;

use serde_json::json;

use super::{
    gates::recovery_point_gate,
    recovery::{describe_points, launch, not_launched, wait_job},
};
use crate::{
    error::{Error, ErrorKind, Result},
    orchestrator::step_ctx::StepCtx,
    provider::{JobId, RecoveryInstance, RecoveryService},
    run::{Checkpoint, Output},
};

// Journaled before the launch: the instances the relaunch replaces, so a resume retires exactly
// these (and never the new ones). Once complete, its summary: a resume does not relaunch twice.
const REPLACED: Checkpoint = Checkpoint::RelaunchReplaces;
const JOB: Checkpoint = Checkpoint::RelaunchJob;
const DONE: Checkpoint = Checkpoint::Relaunched;

/// Relaunches the servers of `pending` (recovery instances not yet failed back) from the run's
/// chosen recovery point, when it has one. Returns what it did, or `None` when the run chose no
/// point. The RPO gate applies: a point older than the RPO needs `--accept-data-loss`, as the DR
/// site's writes since that point are lost.
pub(super) async fn from_chosen_point(
    ctx: &StepCtx,
    rs: &Arc<dyn RecoveryService>,
    pending: &[RecoveryInstance],
) -> Result<Option<String>> {
    if ctx.run.fixed.recovery_point.is_none() {
        return Ok(None);
    }
    if let Some(done) = ctx
        .checkpointed(&DONE)
        .and_then(|v| v.as_str().map(String::from))
    {
        return Ok(Some(done));
    }
    let (age, chosen) = match recovery_point_gate(ctx).await? {
        Ok(v) => v,
        Err(msg) => return Err(Error::refused(msg)),
    };
    let replaced: Vec<String> = match ctx.checkpointed(&REPLACED) {
        Some(v) => serde_json::from_value(v).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "journal: checkpoint `{}` is not a list of ids: {e}",
                    REPLACED.key()
                ),
            )
        })?,
        None => {
            let ids: Vec<String> = pending.iter().map(|i| i.id.clone()).collect();
            ctx.checkpoint(&REPLACED, json!(ids))?;
            ids
        }
    };
    let mut servers: Vec<String> = pending.iter().map(|i| i.source_server.clone()).collect();
    servers.sort();
    servers.dedup();
    let job = match ctx
        .checkpointed(&JOB)
        .and_then(|v| v.as_str().map(String::from))
    {
        Some(id) => JobId(id),
        None => launch(ctx, rs, &servers, false, &chosen, &JOB).await?,
    };
    let st = wait_job(ctx, rs.as_ref(), &job).await?;
    // The failback's own job log follows under `job_log`; this one stays beside it.
    ctx.record(Output::RelaunchJobLog(st.log.clone()));
    let failed = not_launched(&st);
    if !failed.is_empty() {
        return Err(Error::new(
            ErrorKind::Provider,
            format!(
                "relaunch job {} from the chosen recovery point did not launch ({}); the recovery instances it would replace ({}) still serve",
                job.0,
                failed.join(", "),
                replaced.join(", ")
            ),
        )
        .with_resource(job.0.clone()));
    }
    // Retire what the new instances replace (those still there: a resume may have done some).
    let now = ctx
        .call("describe recovery instances", || {
            rs.recovery_instances(&servers)
        })
        .await?;
    let still: Vec<String> = replaced
        .iter()
        .filter(|id| now.iter().any(|i| &i.id == *id))
        .cloned()
        .collect();
    if !still.is_empty() {
        ctx.call("terminate the replaced recovery instances", || {
            rs.terminate_recovery_instances(&still)
        })
        .await?;
    }
    // The DR site's writes since the point are gone with the instances it replaced.
    ctx.record_data_loss(crate::run::DataLoss {
        worst_ms: Some(age.as_millis() as u64),
        unknown: false,
    });
    let summary = format!(
        "relaunched {} server(s) by job {} from the chosen recovery point(s) {}, replacing {}",
        servers.len(),
        job.0,
        describe_points(&chosen, &servers),
        replaced.join(", ")
    );
    ctx.checkpoint(&DONE, json!(summary))?;
    Ok(Some(summary))
}
