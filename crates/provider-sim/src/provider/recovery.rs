//! The simulated recovery service, modelled on AWS DRS: recovery points, launch and failback jobs,
//! `FailbackState` transitions, reverse replication and drill instances.

use super::*;

/// The id of the recovery point of `server` taken at `ms` (to the minute).
fn point_id(server: &str, ms: u64) -> String {
    format!("pit-{server}-{}", ms / 60_000)
}

/// Records a new recovery job and returns its id.
fn new_job(
    w: &mut SimWorld,
    kind: &str,
    now: u64,
    participants: Vec<String>,
    fails: bool,
    is_drill: bool,
) -> JobId {
    let id = w.new_id("drsjob-");
    let job = SimJob {
        kind: kind.into(),
        created_ms: now,
        participants,
        fails,
        is_drill,
        applied: false,
    };
    w.jobs.insert(id.clone(), job);
    JobId(id)
}

#[async_trait]
impl RecoveryService for SimProvider {
    async fn recovery_points(&self, source_server: &str) -> Result<Vec<RecoveryPoint>> {
        let age = self.settings.recovery_point_age;
        self.read(
            ProviderOp::DescribeRecoverySnapshots,
            source_server,
            None,
            |w, now| {
                w.source_servers
                    .get(source_server)
                    .ok_or_else(|| not_found("source server", source_server))?;
                // Continuous replication: the newest point is `recovery_point_age` old; older
                // points are kept hourly, for a day (DRS keeps its point-in-time snapshots so).
                let newest = now.saturating_sub(age.as_millis() as u64);
                let mut points = vec![RecoveryPoint {
                    id: point_id(source_server, newest),
                    age,
                }];
                let hour = 3_600_000;
                for k in 0..24 {
                    let taken = (newest / hour).saturating_sub(k) * hour;
                    if taken < newest {
                        points.push(RecoveryPoint {
                            id: point_id(source_server, taken),
                            age: Duration::from_millis(now - taken),
                        });
                    }
                }
                Ok(points)
            },
        )
        .await
    }

    async fn start_recovery(&self, req: &StartRecovery) -> Result<JobId> {
        let resource = req.source_servers.join(",");
        let age_ms = self.settings.recovery_point_age.as_millis() as u64;
        let fails = self.job_fails(ProviderOp::StartRecovery, &req.source_servers)?;
        self.call(
            ProviderOp::StartRecovery,
            &resource,
            None,
            true,
            |w, now| {
                for s in &req.source_servers {
                    w.source_servers
                        .get(s)
                        .ok_or_else(|| not_found("source server", s))?;
                    // A chosen point must be one of the server's: taken by now (less the lag).
                    if let Some(p) = req.recovery_points.get(s) {
                        let taken = p
                            .strip_prefix(&format!("pit-{s}-"))
                            .and_then(|m| m.parse::<u64>().ok())
                            .map(|m| m * 60_000);
                        if taken.is_none_or(|t| t > now.saturating_sub(age_ms)) {
                            return Err(invalid(format!(
                            "recovery snapshot `{p}` is not a recovery point of source server `{s}`"
                        )));
                        }
                    }
                    let busy = w
                        .jobs
                        .values()
                        .any(|j| j.kind == "LAUNCH" && !j.applied && j.participants.contains(s));
                    if busy {
                        return Err(invalid(format!(
                            "source server `{s}` already has a launch in progress"
                        )));
                    }
                }
                Ok(new_job(
                    w,
                    "LAUNCH",
                    now,
                    req.source_servers.clone(),
                    fails,
                    req.is_drill,
                ))
            },
        )
        .await
    }

    async fn recovery_instances(&self, source_servers: &[String]) -> Result<Vec<RecoveryInstance>> {
        self.read(
            ProviderOp::DescribeRecoveryInstances,
            "recovery-instances",
            None,
            |w, _| {
                Ok(w.recovery_instances
                    .iter()
                    .filter(|(_, i)| source_servers.contains(&i.source_server))
                    .map(|(id, i)| RecoveryInstance {
                        id: id.clone(),
                        source_server: i.source_server.clone(),
                        failback_state: i.failback_state,
                        is_drill: i.is_drill,
                        compute_state: "running".into(),
                    })
                    .collect())
            },
        )
        .await
    }

    async fn start_failback(&self, instance_ids: &[String]) -> Result<JobId> {
        let fails = self.job_fails(ProviderOp::StartFailback, instance_ids)?;
        self.call(
            ProviderOp::StartFailback,
            &instance_ids.join(","),
            None,
            true,
            |w, now| {
                for id in instance_ids {
                    let inst = w
                        .recovery_instances
                        .get(id)
                        .ok_or_else(|| not_found("recovery instance", id))?;
                    if inst.failback_state != FailbackState::FailbackReadyForLaunch {
                        return Err(invalid(format!(
                            "recovery instance `{id}` is {:?}, not FAILBACK_READY_FOR_LAUNCH",
                            inst.failback_state
                        )));
                    }
                }
                Ok(new_job(
                    w,
                    "FAILBACK",
                    now,
                    instance_ids.to_vec(),
                    fails,
                    false,
                ))
            },
        )
        .await
    }

    async fn stop_failback(&self, instance_id: &str) -> Result<()> {
        self.call(
            ProviderOp::StopFailback,
            instance_id,
            None,
            true,
            |w, now| {
                let inst = w
                    .recovery_instances
                    .get_mut(instance_id)
                    .ok_or_else(|| not_found("recovery instance", instance_id))?;
                if inst.failback_state != FailbackState::FailbackCompleted {
                    inst.failback_state = FailbackState::FailbackNotReadyForLaunch;
                    inst.failback_changed_ms = now;
                }
                Ok(())
            },
        )
        .await
    }

    async fn reverse_replication(&self, instance_id: &str) -> Result<()> {
        self.call(ProviderOp::ReverseReplication, instance_id, None, true, |w, _| {
            let inst = w
                .recovery_instances
                .get(instance_id)
                .ok_or_else(|| not_found("recovery instance", instance_id))?;
            if inst.failback_state != FailbackState::FailbackCompleted {
                return Err(invalid(format!(
                    "recovery instance `{instance_id}` is {:?}: re-protect only after a completed failback",
                    inst.failback_state
                )));
            }
            w.recovery_instances.remove(instance_id);
            Ok(())
        })
        .await
    }

    async fn job(&self, id: &JobId) -> Result<JobState> {
        let job_ms = self.settings.job_time.as_millis() as u64;
        self.read(ProviderOp::DescribeJobs, &id.0, None, |w, now| {
            let j = w.jobs.get(&id.0).ok_or_else(|| not_found("job", &id.0))?;
            let done = now >= j.created_ms + job_ms;
            let launch = if !done {
                LaunchStatus::InProgress
            } else if j.fails {
                LaunchStatus::Failed
            } else {
                LaunchStatus::Launched
            };
            let mut log = vec![format!(
                "{} job {} started for {}",
                j.kind,
                id.0,
                j.participants.join(", ")
            )];
            if done {
                log.push(format!("{} job {} ended: {:?}", j.kind, id.0, launch));
            }
            Ok(JobState {
                id: id.clone(),
                status: if done {
                    JobStatus::Completed
                } else {
                    JobStatus::Started
                },
                participants: j.participants.iter().map(|p| (p.clone(), launch)).collect(),
                log,
            })
        })
        .await
    }

    async fn active_jobs(&self, participants: &[String]) -> Result<Vec<JobState>> {
        let job_ms = self.settings.job_time.as_millis() as u64;
        self.read(ProviderOp::DescribeJobs, "active-jobs", None, |w, now| {
            Ok(w.jobs
                .iter()
                .filter(|(_, j)| {
                    now < j.created_ms + job_ms
                        && j.participants.iter().any(|p| participants.contains(p))
                })
                .map(|(id, j)| JobState {
                    id: JobId(id.clone()),
                    status: JobStatus::Started,
                    participants: j
                        .participants
                        .iter()
                        .map(|p| (p.clone(), LaunchStatus::InProgress))
                        .collect(),
                    log: Vec::new(),
                })
                .collect())
        })
        .await
    }

    async fn source_instance_states(
        &self,
        source_servers: &[String],
    ) -> Result<Vec<(String, String)>> {
        self.read(
            ProviderOp::DescribeInstances,
            "source-instances",
            None,
            |w, _| {
                Ok(source_servers
                    .iter()
                    .filter_map(|s| {
                        w.source_servers
                            .get(s)
                            .map(|x| (s.clone(), x.state.clone()))
                    })
                    .collect())
            },
        )
        .await
    }

    async fn terminate_drill_instances(&self, source_servers: &[String]) -> Result<()> {
        self.call(
            ProviderOp::TerminateRecoveryInstances,
            "drill-instances",
            None,
            true,
            |w, _| {
                w.recovery_instances
                    .retain(|_, i| !(i.is_drill && source_servers.contains(&i.source_server)));
                Ok(())
            },
        )
        .await
    }

    async fn terminate_recovery_instances(&self, instance_ids: &[String]) -> Result<()> {
        self.call(
            ProviderOp::TerminateRecoveryInstances,
            &instance_ids.join(","),
            None,
            true,
            |w, _| {
                if let Some(id) = instance_ids
                    .iter()
                    .find(|id| !w.recovery_instances.contains_key(*id))
                {
                    return Err(not_found("recovery instance", id));
                }
                w.recovery_instances
                    .retain(|id, _| !instance_ids.contains(id));
                Ok(())
            },
        )
        .await
    }
}
