//! `RecoveryService` on AWS Elastic Disaster Recovery (in the recovery region), with EC2
//! `DescribeInstances` (in the source region) to verify that failed-back servers run.

use std::time::{Duration, SystemTime};

use aegis_dr_core::{
    clock::Clock,
    provider::{
        FailbackState, JobId, JobState, JobStatus, LaunchStatus, RecoveryInstance, RecoveryPoint,
        RecoveryService, StartRecovery,
    },
    Error, ErrorKind, Result,
};
use async_trait::async_trait;
use aws_sdk_drs::types::{
    DescribeJobsRequestFilters, DescribeRecoveryInstancesRequestFilters,
    DescribeSourceServersRequestFilters, Job, RecoverySnapshotsOrder,
    StartRecoveryRequestSourceServer,
};
use aws_smithy_types::date_time::Format;

use crate::{error::map_sdk_error, iam};

/// DRS and EC2 behind the [`RecoveryService`] trait.
#[derive(Debug)]
pub struct DrsRecovery {
    drs: aws_sdk_drs::Client,
    ec2_source: aws_sdk_ec2::Client,
    /// The run's clock: recovery points' ages are measured on it.
    clock: Clock,
}

fn failback_state(s: Option<&aws_sdk_drs::types::FailbackState>) -> FailbackState {
    match s.map(|s| s.as_str()) {
        Some("FAILBACK_IN_PROGRESS") => FailbackState::FailbackInProgress,
        Some("FAILBACK_READY_FOR_LAUNCH") => FailbackState::FailbackReadyForLaunch,
        Some("FAILBACK_COMPLETED") => FailbackState::FailbackCompleted,
        Some("FAILBACK_ERROR") => FailbackState::FailbackError,
        Some("FAILBACK_NOT_READY_FOR_LAUNCH") => FailbackState::FailbackNotReadyForLaunch,
        Some("FAILBACK_LAUNCH_STATE_NOT_AVAILABLE") => {
            FailbackState::FailbackLaunchStateNotAvailable
        }
        _ => FailbackState::FailbackNotStarted,
    }
}

fn launch_status(s: Option<&aws_sdk_drs::types::LaunchStatus>) -> LaunchStatus {
    match s.map(|s| s.as_str()) {
        Some("IN_PROGRESS") => LaunchStatus::InProgress,
        Some("LAUNCHED") => LaunchStatus::Launched,
        Some("FAILED") => LaunchStatus::Failed,
        Some("TERMINATED") => LaunchStatus::Terminated,
        _ => LaunchStatus::Pending,
    }
}

fn job_status(s: Option<&aws_sdk_drs::types::JobStatus>) -> JobStatus {
    match s.map(|s| s.as_str()) {
        Some("STARTED") => JobStatus::Started,
        Some("COMPLETED") => JobStatus::Completed,
        _ => JobStatus::Pending,
    }
}

/// True for jobs that launch instances (recoveries, drills, failbacks), not terminations.
fn is_launch(j: &Job) -> bool {
    matches!(
        j.initiated_by().map(|i| i.as_str()),
        Some("START_RECOVERY" | "START_DRILL" | "FAILBACK")
    )
}

impl DrsRecovery {
    /// Wraps a DRS client of the recovery region and an EC2 client of the source region.
    pub fn new(
        drs: aws_sdk_drs::Client,
        ec2_source: aws_sdk_ec2::Client,
        clock: Clock,
    ) -> DrsRecovery {
        DrsRecovery {
            drs,
            ec2_source,
            clock,
        }
    }

    fn to_state(&self, j: &Job, log: Vec<String>) -> JobState {
        JobState {
            id: JobId(j.job_id().to_string()),
            status: job_status(j.status()),
            participants: j
                .participating_servers()
                .iter()
                .map(|p| {
                    (
                        p.recovery_instance_id()
                            .filter(|_| j.initiated_by().map(|i| i.as_str()) == Some("FAILBACK"))
                            .or(p.source_server_id())
                            .unwrap_or_default()
                            .to_string(),
                        launch_status(p.launch_status()),
                    )
                })
                .collect(),
            log,
        }
    }

    async fn job_log(&self, id: &str) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .drs
                .describe_job_log_items()
                .job_id(id)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| map_sdk_error(iam::DRS_DESCRIBE_JOB_LOG, id, e))?;
            for item in out.items() {
                let mut line = format!(
                    "{} {}",
                    item.log_date_time().unwrap_or("-"),
                    item.event().map(|e| e.as_str()).unwrap_or("?")
                );
                if let Some(d) = item.event_data() {
                    if let Some(s) = d.source_server_id() {
                        line.push_str(&format!(" {s}"));
                    }
                    if let Some(t) = d.target_instance_id() {
                        line.push_str(&format!(" -> {t}"));
                    }
                    if let Some(e) = d.raw_error() {
                        line.push_str(&format!(": {e}"));
                    }
                }
                lines.push(line);
            }
            token = out.next_token().filter(|t| !t.is_empty()).map(String::from);
            if token.is_none() {
                return Ok(lines);
            }
        }
    }

    async fn all_jobs(&self, ids: Option<Vec<String>>) -> Result<Vec<Job>> {
        let mut jobs = Vec::new();
        let mut token = None;
        loop {
            let mut req = self.drs.describe_jobs().set_next_token(token);
            if let Some(ids) = &ids {
                req = req.filters(
                    DescribeJobsRequestFilters::builder()
                        .set_job_ids(Some(ids.clone()))
                        .build(),
                );
            }
            let out = req
                .send()
                .await
                .map_err(|e| map_sdk_error(iam::DRS_DESCRIBE_JOBS, "jobs", e))?;
            jobs.extend(out.items().iter().cloned());
            token = out.next_token().filter(|t| !t.is_empty()).map(String::from);
            if token.is_none() {
                return Ok(jobs);
            }
        }
    }

    async fn instances(
        &self,
        source_servers: &[String],
    ) -> Result<Vec<aws_sdk_drs::types::RecoveryInstance>> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .drs
                .describe_recovery_instances()
                .filters(
                    DescribeRecoveryInstancesRequestFilters::builder()
                        .set_source_server_ids(Some(source_servers.to_vec()))
                        .build(),
                )
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    map_sdk_error(iam::DRS_DESCRIBE_INSTANCES, &source_servers.join(","), e)
                })?;
            all.extend(out.items().iter().cloned());
            token = out.next_token().filter(|t| !t.is_empty()).map(String::from);
            if token.is_none() {
                return Ok(all);
            }
        }
    }
}

#[async_trait]
impl RecoveryService for DrsRecovery {
    async fn recovery_points(&self, source_server: &str) -> Result<Vec<RecoveryPoint>> {
        let out = self
            .drs
            .describe_recovery_snapshots()
            .source_server_id(source_server)
            .order(RecoverySnapshotsOrder::Desc)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::DRS_DESCRIBE_SNAPSHOTS, source_server, e))?;
        let now = self.clock.now();
        let mut points = Vec::new();
        for s in out.items() {
            let ts = s.timestamp().unwrap_or(s.expected_timestamp());
            let t = aws_smithy_types::DateTime::from_str(ts, Format::DateTime).map_err(|e| {
                Error::new(
                    ErrorKind::Provider,
                    format!(
                        "recovery snapshot {} has an unreadable timestamp `{ts}`: {e}",
                        s.snapshot_id()
                    ),
                )
                .with_resource(source_server.to_string())
            })?;
            let at = SystemTime::try_from(t).unwrap_or(SystemTime::UNIX_EPOCH);
            points.push(RecoveryPoint {
                id: s.snapshot_id().to_string(),
                age: now.duration_since(at).unwrap_or(Duration::ZERO),
            });
        }
        points.sort_by_key(|p| p.age);
        Ok(points)
    }

    async fn start_recovery(&self, req: &StartRecovery) -> Result<JobId> {
        let servers: Vec<StartRecoveryRequestSourceServer> = req
            .source_servers
            .iter()
            .map(|s| {
                StartRecoveryRequestSourceServer::builder()
                    .source_server_id(s)
                    .set_recovery_snapshot_id(req.recovery_points.get(s).cloned())
                    .build()
                    .map_err(|e| Error::config(format!("source server `{s}`: {e}")))
            })
            .collect::<Result<_>>()?;
        let out = self
            .drs
            .start_recovery()
            .set_source_servers(Some(servers))
            .is_drill(req.is_drill)
            .send()
            .await
            .map_err(|e| {
                map_sdk_error(iam::DRS_START_RECOVERY, &req.source_servers.join(","), e)
            })?;
        let job = out
            .job()
            .ok_or_else(|| Error::new(ErrorKind::Provider, "StartRecovery returned no job"))?;
        Ok(JobId(job.job_id().to_string()))
    }

    async fn recovery_instances(&self, source_servers: &[String]) -> Result<Vec<RecoveryInstance>> {
        Ok(self
            .instances(source_servers)
            .await?
            .into_iter()
            .map(|i| RecoveryInstance {
                id: i.recovery_instance_id().unwrap_or_default().to_string(),
                source_server: i.source_server_id().unwrap_or_default().to_string(),
                failback_state: failback_state(i.failback().and_then(|f| f.state())),
                is_drill: i.is_drill().unwrap_or(false),
                compute_state: i
                    .ec2_instance_state()
                    .map(|s| s.as_str().to_ascii_lowercase())
                    .unwrap_or_else(|| "unknown".into()),
            })
            .collect())
    }

    async fn start_failback(&self, instance_ids: &[String]) -> Result<JobId> {
        let out = self
            .drs
            .start_failback_launch()
            .set_recovery_instance_ids(Some(instance_ids.to_vec()))
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::DRS_START_FAILBACK, &instance_ids.join(","), e))?;
        let job = out.job().ok_or_else(|| {
            Error::new(ErrorKind::Provider, "StartFailbackLaunch returned no job")
        })?;
        Ok(JobId(job.job_id().to_string()))
    }

    async fn stop_failback(&self, instance_id: &str) -> Result<()> {
        self.drs
            .stop_failback()
            .recovery_instance_id(instance_id)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::DRS_STOP_FAILBACK, instance_id, e))?;
        Ok(())
    }

    async fn reverse_replication(&self, instance_id: &str) -> Result<()> {
        self.drs
            .reverse_replication()
            .recovery_instance_id(instance_id)
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::DRS_REVERSE_REPLICATION, instance_id, e))?;
        Ok(())
    }

    async fn job(&self, id: &JobId) -> Result<JobState> {
        let jobs = self.all_jobs(Some(vec![id.0.clone()])).await?;
        let j = jobs.iter().find(|j| j.job_id() == id.0).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("DRS job `{}` does not exist", id.0),
            )
            .with_resource(id.0.clone())
        })?;
        let log = self.job_log(&id.0).await?;
        Ok(self.to_state(j, log))
    }

    async fn active_jobs(&self, participants: &[String]) -> Result<Vec<JobState>> {
        Ok(self
            .all_jobs(None)
            .await?
            .iter()
            .filter(|j| is_launch(j) && job_status(j.status()) != JobStatus::Completed)
            .filter(|j| {
                j.participating_servers().iter().any(|p| {
                    p.source_server_id()
                        .is_some_and(|s| participants.iter().any(|x| x == s))
                        || p.recovery_instance_id()
                            .is_some_and(|s| participants.iter().any(|x| x == s))
                })
            })
            .map(|j| self.to_state(j, Vec::new()))
            .collect())
    }

    async fn terminate_drill_instances(&self, source_servers: &[String]) -> Result<()> {
        let drills: Vec<String> = self
            .instances(source_servers)
            .await?
            .iter()
            .filter(|i| i.is_drill() == Some(true))
            .filter_map(|i| i.recovery_instance_id().map(String::from))
            .collect();
        if drills.is_empty() {
            return Ok(());
        }
        self.drs
            .terminate_recovery_instances()
            .set_recovery_instance_ids(Some(drills.clone()))
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::DRS_TERMINATE, &drills.join(","), e))?;
        Ok(())
    }

    async fn terminate_recovery_instances(&self, instance_ids: &[String]) -> Result<()> {
        if instance_ids.is_empty() {
            return Ok(());
        }
        self.drs
            .terminate_recovery_instances()
            .set_recovery_instance_ids(Some(instance_ids.to_vec()))
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::DRS_TERMINATE, &instance_ids.join(","), e))?;
        Ok(())
    }

    async fn source_instance_states(
        &self,
        source_servers: &[String],
    ) -> Result<Vec<(String, String)>> {
        let out = self
            .drs
            .describe_source_servers()
            .filters(
                DescribeSourceServersRequestFilters::builder()
                    .set_source_server_ids(Some(source_servers.to_vec()))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                map_sdk_error(
                    iam::DRS_DESCRIBE_SOURCE_SERVERS,
                    &source_servers.join(","),
                    e,
                )
            })?;
        let pairs: Vec<(String, String)> = out
            .items()
            .iter()
            .filter_map(|s| {
                let ec2 = s
                    .source_properties()
                    .and_then(|p| p.identification_hints())
                    .and_then(|h| h.aws_instance_id())?;
                Some((s.source_server_id()?.to_string(), ec2.to_string()))
            })
            .collect();
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = pairs.iter().map(|(_, i)| i.clone()).collect();
        let out = self
            .ec2_source
            .describe_instances()
            .set_instance_ids(Some(ids.clone()))
            .send()
            .await
            .map_err(|e| map_sdk_error(iam::EC2_DESCRIBE_INSTANCES, &ids.join(","), e))?;
        let states: Vec<(String, String)> = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(|i| {
                Some((
                    i.instance_id()?.to_string(),
                    i.state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_string())?,
                ))
            })
            .collect();
        Ok(pairs
            .into_iter()
            .map(|(server, ec2)| {
                let st = states
                    .iter()
                    .find(|(i, _)| *i == ec2)
                    .map(|(_, s)| s.clone())
                    .unwrap_or_else(|| "not-found".into());
                (server, st)
            })
            .collect())
    }
}
