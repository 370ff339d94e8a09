//! The recovery service: launch recovery instances, fail them back (with backout), end drills.

use std::sync::Arc;

use serde_json::json;

use super::gates::{recovery_point_gate, ChosenPoints};
use crate::{
    duration::format_duration,
    error::{Error, ErrorKind, Result},
    journal::Operation,
    orchestrator::step_ctx::StepCtx,
    provider::{
        FailbackState, JobId, JobState, JobStatus, LaunchStatus, RecoveryInstance, RecoveryService,
        StartRecovery,
    },
    run::{Checkpoint, Output},
};

/// The source server ids of the plan's recovery servers.
fn source_server_ids(ctx: &StepCtx) -> Vec<String> {
    ctx.plan()
        .recovery_servers
        .iter()
        .map(|s| s.source_server_id.clone())
        .collect()
}

/// The recovery service of the plan's recovery servers (validation puts them all on one provider).
pub(super) fn recovery(ctx: &StepCtx) -> Result<std::sync::Arc<dyn RecoveryService>> {
    let Some(first) = ctx.plan().recovery_servers.first() else {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "the plan lists no recovery servers",
        ));
    };
    ctx.providers().recovery(&first.provider).cloned()
}

pub(super) async fn wait_job(
    ctx: &StepCtx,
    rs: &dyn RecoveryService,
    job: &JobId,
) -> Result<JobState> {
    let st = ctx
        .wait(&format!("recovery job {}", job.0), || async {
            let j = rs.job(job).await?;
            let done = j.status == JobStatus::Completed
                && j.participants.iter().all(|(_, s)| s.is_final());
            Ok(done.then_some(j))
        })
        .await?;
    ctx.record(Output::JobLog(st.log.clone()));
    Ok(st)
}

/// The job an earlier process of this step started, to follow again; `None` when there is none or
/// it ended with a participant not launched (a resume then launches a new job instead of adopting
/// the failed one again).
async fn saved_job(ctx: &StepCtx, rs: &dyn RecoveryService) -> Result<Option<JobId>> {
    let Some(id) = ctx
        .checkpointed(&Checkpoint::JobId)
        .and_then(|v| v.as_str().map(String::from))
    else {
        return Ok(None);
    };
    let job = JobId(id);
    let st = ctx.call("describe recovery job", || rs.job(&job)).await?;
    let ended_failed = st.status == JobStatus::Completed
        && st
            .participants
            .iter()
            .any(|(_, s)| s.is_final() && *s != LaunchStatus::Launched);
    Ok((!ended_failed).then_some(job))
}

/// Adopts a running job of `participants` (a retry after a lost response, or a resume) or starts one.
pub(super) async fn adopt_or_start<F, Fut>(
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

/// Starts the recovery (a drill's when `drill`) of `servers` from their `chosen` points (their
/// newest otherwise), or adopts the one already running for them; journals its id under `key`.
pub(super) async fn launch(
    ctx: &StepCtx,
    rs: &Arc<dyn RecoveryService>,
    servers: &[String],
    drill: bool,
    chosen: &ChosenPoints,
    key: &Checkpoint,
) -> Result<JobId> {
    let req = StartRecovery {
        source_servers: servers.to_vec(),
        is_drill: drill,
        recovery_points: chosen
            .iter()
            .filter(|(s, _)| servers.contains(s))
            .map(|(s, p)| (s.clone(), p.id.clone()))
            .collect(),
    };
    let id = ctx
        .call("start recovery", || {
            adopt_or_start(rs.as_ref(), servers, || rs.start_recovery(&req))
        })
        .await?;
    ctx.checkpoint(key, json!(id.0))?;
    Ok(id)
}

/// The participants of a finished job that did not launch, with their status.
pub(super) fn not_launched(st: &JobState) -> Vec<String> {
    st.participants
        .iter()
        .filter(|(_, s)| *s != LaunchStatus::Launched)
        .map(|(p, s)| format!("{p}: {s:?}"))
        .collect()
}

/// `server: point (age old)` for each of `servers` with a chosen point.
pub(super) fn describe_points(chosen: &ChosenPoints, servers: &[String]) -> String {
    chosen
        .iter()
        .filter(|(s, _)| servers.contains(s))
        .map(|(s, p)| format!("{s}: {} ({} old)", p.id, format_duration(p.age)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn recover_servers(ctx: &StepCtx) -> Result<String> {
    let rs = recovery(ctx)?;
    let drill = ctx.run.fixed.operation == Operation::Drill;
    let servers = source_server_ids(ctx);
    let (age, chosen) = match recovery_point_gate(ctx).await? {
        Ok((age, chosen)) => (age.as_millis() as u64, chosen),
        Err(msg) => return Err(Error::refused(msg)),
    };
    let job = match saved_job(ctx, rs.as_ref()).await? {
        Some(id) => Some(id),
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
                Some(launch(ctx, &rs, &todo, drill, &chosen, &Checkpoint::JobId).await?)
            }
        }
    };
    if let Some(job) = &job {
        let st = wait_job(ctx, rs.as_ref(), job).await?;
        let failed = not_launched(&st);
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
    ctx.record_data_loss(crate::run::DataLoss {
        worst_ms: Some(age),
        unknown: false,
    });
    // The report names the recovery point each server was launched from.
    let from = if chosen.is_empty() {
        format!(
            " from each server's newest recovery point (at most {} old)",
            crate::duration::format_duration(std::time::Duration::from_millis(age))
        )
    } else {
        format!(
            " from the chosen recovery point(s) {}",
            describe_points(&chosen, &servers)
        )
    };
    Ok(format!(
        "{} recovery instance(s) {}{}{from}",
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

pub(super) async fn failback_servers(ctx: &StepCtx) -> Result<String> {
    let rs = recovery(ctx)?;
    let servers = source_server_ids(ctx);
    let list = || async {
        let all = ctx
            .call("describe recovery instances", || {
                rs.recovery_instances(&servers)
            })
            .await?;
        Ok::<_, Error>(all.into_iter().filter(|i| !i.is_drill).collect::<Vec<_>>())
    };
    let mut instances = list().await?;
    if instances.is_empty() {
        return Ok("no recovery instances to fail back".into());
    }
    let not_back = |all: &[RecoveryInstance]| -> Vec<RecoveryInstance> {
        all.iter()
            .filter(|i| i.failback_state != FailbackState::FailbackCompleted)
            .cloned()
            .collect()
    };
    // With a chosen recovery point, first revert the DR instances to it (the DRS backout's relaunch).
    let relaunched = match not_back(&instances).as_slice() {
        [] => None,
        some => super::relaunch::from_chosen_point(ctx, &rs, some).await?,
    };
    if relaunched.is_some() {
        instances = list().await?;
    }
    let pending: Vec<String> = not_back(&instances).into_iter().map(|i| i.id).collect();
    let again = format!(
        "fail back again from a known-good recovery point with `failback --resume {} --recovery-point TIME|ID` (`check` lists the points)",
        ctx.run.fixed.run_id
    );
    if !pending.is_empty() {
        let job = match saved_job(ctx, rs.as_ref()).await? {
            Some(id) => id,
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
                                        "recovery instance {} is {other:?}: failback cannot start; {again}",
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
                ctx.checkpoint(&Checkpoint::JobId, json!(id.0))?;
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
                    "failback job {} failed for {}; backed out with stop_failback: the DR instances keep serving and DNS stays on DR; {again}",
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
    ctx.record(Output::SourceInstances(states.clone()));
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
        "{}{} instance(s) failed back and re-protected",
        relaunched.map(|r| format!("{r}; ")).unwrap_or_default(),
        after.len()
    ))
}

pub(super) async fn terminate_drill(ctx: &StepCtx) -> Result<String> {
    let rs = recovery(ctx)?;
    let servers = source_server_ids(ctx);
    ctx.call("terminate drill instances", || {
        rs.terminate_drill_instances(&servers)
    })
    .await?;
    Ok(format!(
        "drill instances of {} server(s) terminated",
        servers.len()
    ))
}
