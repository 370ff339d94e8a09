//! Elastic Disaster Recovery: source servers, recovery snapshots, jobs, recovery instances and the
//! failback state machine.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::server::{iso8601, str_field, str_list, Effect, Map, Reply, SimState};

#[derive(Debug)]
struct SourceServer {
    aws_instance_id: Option<String>,
    /// `sourceProperties.identificationHints.hostname`, when the agent reported one.
    hostname: Option<String>,
    /// (snapshot id, taken at).
    snapshots: Vec<(String, SystemTime)>,
    /// False while a recovery instance serves for it and it has not been re-protected.
    protected: bool,
}

#[derive(Debug)]
struct RecoveryInstance {
    source_server: String,
    ec2_instance_id: String,
    is_drill: bool,
    failback_state: &'static str,
    changed: Instant,
    job_id: String,
    failback_job_id: Option<String>,
    snapshot_time: SystemTime,
}

#[derive(Debug)]
struct Job {
    initiated_by: &'static str,
    job_type: &'static str,
    created: Instant,
    created_at: SystemTime,
    /// (source server, recovery instance id for failback jobs).
    participants: Vec<(String, Option<String>)>,
    is_drill: bool,
    fails: bool,
    applied: bool,
    /// (time, event, source server).
    log: Vec<(SystemTime, &'static str, Option<String>)>,
}

/// The DRS part of the simulator state.
#[derive(Debug, Default)]
pub(crate) struct Drs {
    servers: Map<String, SourceServer>,
    instances: Map<String, RecoveryInstance>,
    jobs: Map<String, Job>,
}

impl Drs {
    pub(crate) fn add_source_server(
        &mut self,
        id: &str,
        aws_instance_id: Option<&str>,
        snapshot: String,
        snapshot_age: Duration,
    ) {
        let taken = SystemTime::now()
            .checked_sub(snapshot_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        // Older point-in-time snapshots, hourly (`<snapshot>-h3` is three hours older), oldest
        // first, then the newest.
        let mut snapshots: Vec<(String, SystemTime)> = (1..=3u64)
            .rev()
            .map(|h| {
                let t = taken
                    .checked_sub(Duration::from_secs(3600 * h))
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                (format!("{snapshot}-h{h}"), t)
            })
            .collect();
        snapshots.push((snapshot, taken));
        self.servers.insert(
            id.to_string(),
            SourceServer {
                aws_instance_id: aws_instance_id.map(String::from),
                hostname: None,
                snapshots,
                protected: true,
            },
        );
    }

    pub(crate) fn set_hostname(&mut self, id: &str, hostname: &str) {
        if let Some(s) = self.servers.get_mut(id) {
            s.hostname = Some(hostname.to_string());
        }
    }

    pub(crate) fn instances(&self) -> Vec<(String, String, String, bool)> {
        self.instances
            .iter()
            .map(|(id, i)| {
                (
                    id.clone(),
                    i.source_server.clone(),
                    i.failback_state.to_string(),
                    i.is_drill,
                )
            })
            .collect()
    }

    pub(crate) fn jobs_summary(&self) -> Vec<(String, String, String)> {
        self.jobs
            .iter()
            .map(|(id, j)| {
                let status = if j.applied { "COMPLETED" } else { "STARTED" };
                (id.clone(), j.initiated_by.to_string(), status.to_string())
            })
            .collect()
    }

    pub(crate) fn protected(&self, id: &str) -> Option<bool> {
        self.servers.get(id).map(|s| s.protected)
    }
}

/// Applies every transition that is due at `now`; returns effects on other services.
fn settle(s: &mut SimState, now: Instant) -> Vec<Effect> {
    let mut effects = Vec::new();
    let due: Vec<String> = s
        .drs
        .jobs
        .iter()
        .filter(|(_, j)| !j.applied && now >= j.created + s.job_time)
        .map(|(id, _)| id.clone())
        .collect();
    for id in due {
        let Some(job) = s.drs.jobs.get(&id) else {
            continue;
        };
        let (kind, participants, fails, is_drill) = (
            job.initiated_by,
            job.participants.clone(),
            job.fails,
            job.is_drill,
        );
        let mut log = Vec::new();
        let end = SystemTime::now();
        match kind {
            "START_RECOVERY" | "START_DRILL" => {
                for (server, _) in &participants {
                    if fails {
                        log.push((end, "LAUNCH_FAILED", Some(server.clone())));
                        continue;
                    }
                    let iid = s.new_id("i-");
                    let ec2 = s.new_id("i-");
                    let snapshot_time = s
                        .drs
                        .servers
                        .get(server)
                        .and_then(|x| x.snapshots.last().map(|p| p.1))
                        .unwrap_or(end);
                    s.drs.instances.insert(
                        iid,
                        RecoveryInstance {
                            source_server: server.clone(),
                            ec2_instance_id: ec2,
                            is_drill,
                            // A real recovery starts replicating back toward the source region;
                            // a drill leaves the source protected and never fails back.
                            failback_state: if is_drill {
                                "FAILBACK_NOT_STARTED"
                            } else {
                                "FAILBACK_IN_PROGRESS"
                            },
                            changed: now,
                            job_id: id.clone(),
                            failback_job_id: None,
                            snapshot_time,
                        },
                    );
                    if !is_drill {
                        if let Some(src) = s.drs.servers.get_mut(server) {
                            src.protected = false;
                        }
                    }
                    log.push((end, "LAUNCH_END", Some(server.clone())));
                }
            }
            "FAILBACK" => {
                let mut start = Vec::new();
                for (server, iid) in &participants {
                    let Some(inst) = iid.as_ref().and_then(|i| s.drs.instances.get_mut(i)) else {
                        continue;
                    };
                    if inst.failback_job_id.as_deref() != Some(id.as_str()) {
                        continue; // stopped (backed out) before the job finished
                    }
                    inst.changed = now;
                    if fails {
                        inst.failback_state = "FAILBACK_ERROR";
                        log.push((end, "LAUNCH_FAILED", Some(server.clone())));
                    } else {
                        inst.failback_state = "FAILBACK_COMPLETED";
                        log.push((end, "LAUNCH_END", Some(server.clone())));
                        if let Some(ec2) = s
                            .drs
                            .servers
                            .get(server)
                            .and_then(|x| x.aws_instance_id.clone())
                        {
                            start.push(ec2);
                        }
                    }
                }
                if !start.is_empty() {
                    effects.push(Effect::StartInstances {
                        region: s.source_region.clone(),
                        ids: start,
                    });
                }
            }
            _ => {}
        }
        log.push((end, "JOB_END", None));
        if let Some(j) = s.drs.jobs.get_mut(&id) {
            j.applied = true;
            j.log.extend(log);
        }
    }
    let replicate = s.failback_replication_time;
    for inst in s.drs.instances.values_mut() {
        if inst.failback_state == "FAILBACK_IN_PROGRESS" && now >= inst.changed + replicate {
            inst.failback_state = "FAILBACK_READY_FOR_LAUNCH";
            inst.changed = now;
        }
    }
    effects
}

fn new_job(
    s: &mut SimState,
    now: Instant,
    initiated_by: &'static str,
    job_type: &'static str,
    participants: Vec<(String, Option<String>)>,
    is_drill: bool,
    fails: bool,
) -> String {
    let id = s.new_id("drsjob-");
    let at = SystemTime::now();
    let mut log = vec![(at, "JOB_START", None)];
    log.extend(
        participants
            .iter()
            .map(|(p, _)| (at, "LAUNCH_START", Some(p.clone()))),
    );
    s.drs.jobs.insert(
        id.clone(),
        Job {
            initiated_by,
            job_type,
            created: now,
            created_at: at,
            participants,
            is_drill,
            fails,
            applied: false,
            log,
        },
    );
    id
}

fn job_json(s: &SimState, id: &str) -> Value {
    let Some(j) = s.drs.jobs.get(id) else {
        return Value::Null;
    };
    let done = j.applied;
    let launch = if !done {
        "IN_PROGRESS"
    } else if j.fails {
        "FAILED"
    } else {
        "LAUNCHED"
    };
    let participants: Vec<Value> = j
        .participants
        .iter()
        .map(|(server, iid)| {
            let iid = iid.clone().or_else(|| {
                s.drs
                    .instances
                    .iter()
                    .find(|(_, i)| i.job_id == id && &i.source_server == server)
                    .map(|(k, _)| k.clone())
            });
            let mut p = json!({ "sourceServerID": server, "launchStatus": launch });
            if let Some(iid) = iid {
                p["recoveryInstanceID"] = json!(iid);
            }
            p
        })
        .collect();
    let mut v = json!({
        "jobID": id,
        "arn": format!("arn:aws:drs:us-east-1:123456789012:job/{id}"),
        "type": j.job_type,
        "initiatedBy": j.initiated_by,
        "creationDateTime": iso8601(j.created_at),
        "status": if done { "COMPLETED" } else { "STARTED" },
        "participatingServers": participants,
        "tags": {},
    });
    if done {
        v["endDateTime"] = json!(iso8601(SystemTime::now()));
    }
    v
}

fn instance_json(id: &str, i: &RecoveryInstance) -> Value {
    let mut failback = json!({
        "state": i.failback_state,
        "failbackToOriginalServer": true,
        "failbackLaunchType": "RECOVERY",
    });
    if let Some(j) = &i.failback_job_id {
        failback["failbackJobID"] = json!(j);
    }
    json!({
        "recoveryInstanceID": id,
        "ec2InstanceID": i.ec2_instance_id,
        "ec2InstanceState": "RUNNING",
        "jobID": i.job_id,
        "sourceServerID": i.source_server,
        "arn": format!("arn:aws:drs:us-east-1:123456789012:recovery-instance/{id}"),
        "tags": {},
        "failback": failback,
        "isDrill": i.is_drill,
        "pointInTimeSnapshotDateTime": iso8601(i.snapshot_time),
        "originEnvironment": "AWS",
    })
}

/// Serves one DRS operation.
pub(crate) fn handle(
    s: &mut SimState,
    now: Instant,
    op: &str,
    input: &Value,
) -> (Reply, Vec<Effect>) {
    let effects = settle(s, now);
    let reply = match op {
        "DescribeSourceServers" => {
            let ids = input
                .get("filters")
                .map(|f| str_list(f, "sourceServerIDs"))
                .unwrap_or_default();
            let items: Vec<Value> = s
                .drs
                .servers
                .iter()
                .filter(|(id, _)| ids.is_empty() || ids.contains(id))
                .map(|(id, x)| {
                    let recovery = s
                        .drs
                        .instances
                        .iter()
                        .find(|(_, i)| &i.source_server == id && !i.is_drill)
                        .map(|(k, _)| k.clone());
                    let mut v = json!({
                        "sourceServerID": id,
                        "arn": format!("arn:aws:drs:us-east-1:123456789012:source-server/{id}"),
                        "tags": {},
                        "replicationDirection": if x.protected { "FAILOVER" } else { "FAILBACK" },
                        "dataReplicationInfo": { "dataReplicationState": if x.protected { "CONTINUOUS" } else { "STOPPED" } },
                        "sourceProperties": { "identificationHints": {} },
                    });
                    if let Some(ec2) = &x.aws_instance_id {
                        v["sourceProperties"]["identificationHints"]["awsInstanceID"] = json!(ec2);
                    }
                    if let Some(h) = &x.hostname {
                        v["sourceProperties"]["identificationHints"]["hostname"] = json!(h);
                    }
                    if let Some(r) = recovery {
                        v["recoveryInstanceId"] = json!(r);
                    }
                    v
                })
                .collect();
            Reply::ok(json!({ "items": items }))
        }
        "DescribeRecoverySnapshots" => match str_field(input, "sourceServerID") {
            None => Reply::invalid("sourceServerID is required".into()),
            Some(id) => match s.drs.servers.get(id) {
                None => Reply::not_found(format!("Source server {id} not found")),
                Some(x) => {
                    let mut items: Vec<Value> = x
                        .snapshots
                        .iter()
                        .map(|(sid, t)| {
                            json!({
                                "snapshotID": sid,
                                "sourceServerID": id,
                                "expectedTimestamp": iso8601(*t),
                                "timestamp": iso8601(*t),
                                "ebsSnapshots": [],
                            })
                        })
                        .collect();
                    if str_field(input, "order") != Some("ASC") {
                        items.reverse();
                    }
                    Reply::ok(json!({ "items": items }))
                }
            },
        },
        "StartRecovery" => {
            let is_drill = input
                .get("isDrill")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let servers: Vec<String> = input
                .get("sourceServers")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| str_field(x, "sourceServerID").map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            // A chosen recovery snapshot must be one of that server's (DRS answers 400 otherwise).
            let unknown_snapshot = input
                .get("sourceServers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find_map(|x| {
                    let id = str_field(x, "sourceServerID")?;
                    let snap = str_field(x, "recoverySnapshotID")?;
                    let known = s
                        .drs
                        .servers
                        .get(id)
                        .is_some_and(|srv| srv.snapshots.iter().any(|(sid, _)| sid == snap));
                    (!known).then(|| format!("Recovery snapshot {snap} not found for source server {id}"))
                });
            if servers.is_empty() {
                Reply::invalid("sourceServers must not be empty".into())
            } else if let Some(missing) = servers.iter().find(|x| !s.drs.servers.contains_key(*x)) {
                Reply::not_found(format!("Source server {missing} not found"))
            } else if let Some(msg) = unknown_snapshot {
                Reply::invalid(msg)
            } else if let Some(busy) = servers.iter().find(|x| {
                s.drs.jobs.values().any(|j| {
                    !j.applied
                        && j.job_type == "LAUNCH"
                        && j.participants.iter().any(|(p, _)| p == *x)
                })
            }) {
                Reply::conflict(format!("Source server {busy} already has a launch in progress"))
            } else {
                let fails = s.fail_next_recovery_jobs > 0;
                if fails {
                    s.fail_next_recovery_jobs -= 1;
                }
                let by = if is_drill { "START_DRILL" } else { "START_RECOVERY" };
                // Servers launched from a chosen point-in-time snapshot, as DRS logs them.
                let from_snapshot: Vec<String> = input
                    .get("sourceServers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|x| str_field(x, "recoverySnapshotID").is_some())
                    .filter_map(|x| str_field(x, "sourceServerID").map(String::from))
                    .collect();
                let participants = servers.into_iter().map(|x| (x, None)).collect();
                let id = new_job(s, now, by, "LAUNCH", participants, is_drill, fails);
                if let Some(j) = s.drs.jobs.get_mut(&id) {
                    let at = j.created_at;
                    j.log.extend(
                        from_snapshot
                            .into_iter()
                            .map(|x| (at, "USING_PREVIOUS_SNAPSHOT", Some(x))),
                    );
                }
                Reply::ok(json!({ "job": job_json(s, &id) }))
            }
        }
        "DescribeJobs" => {
            let ids = input
                .get("filters")
                .map(|f| str_list(f, "jobIDs"))
                .unwrap_or_default();
            let items: Vec<Value> = s
                .drs
                .jobs
                .keys()
                .filter(|id| ids.is_empty() || ids.contains(id))
                .map(|id| job_json(s, id))
                .collect();
            Reply::ok(json!({ "items": items }))
        }
        "DescribeJobLogItems" => match str_field(input, "jobID").and_then(|id| s.drs.jobs.get(id)) {
            None => Reply::invalid("jobID does not name a job".into()),
            Some(j) => {
                let items: Vec<Value> = j
                    .log
                    .iter()
                    .map(|(t, event, server)| {
                        let mut v = json!({ "logDateTime": iso8601(*t), "event": event });
                        if let Some(x) = server {
                            v["eventData"] = json!({ "sourceServerID": x });
                            if *event == "LAUNCH_FAILED" {
                                v["eventData"]["rawError"] = json!("Failed to launch instance: InsufficientInstanceCapacity");
                            }
                        }
                        v
                    })
                    .collect();
                Reply::ok(json!({ "items": items }))
            }
        },
        "DescribeRecoveryInstances" => {
            let f = input.get("filters").cloned().unwrap_or(json!({}));
            let (ids, servers) = (
                str_list(&f, "recoveryInstanceIDs"),
                str_list(&f, "sourceServerIDs"),
            );
            let items: Vec<Value> = s
                .drs
                .instances
                .iter()
                .filter(|(id, i)| {
                    (ids.is_empty() || ids.contains(id))
                        && (servers.is_empty() || servers.contains(&i.source_server))
                })
                .map(|(id, i)| instance_json(id, i))
                .collect();
            Reply::ok(json!({ "items": items }))
        }
        "StartFailbackLaunch" => {
            let ids = str_list(input, "recoveryInstanceIDs");
            let mut bad = None;
            for id in &ids {
                match s.drs.instances.get(id) {
                    None => {
                        bad = Some(Reply::not_found(format!("Recovery instance {id} not found")));
                        break;
                    }
                    Some(i) if i.failback_state != "FAILBACK_READY_FOR_LAUNCH" => {
                        bad = Some(Reply::conflict(format!(
                            "Recovery instance {id} is in failback state {}, not FAILBACK_READY_FOR_LAUNCH",
                            i.failback_state
                        )));
                        break;
                    }
                    Some(_) => {}
                }
            }
            match bad {
                Some(r) => r,
                None if ids.is_empty() => Reply::invalid("recoveryInstanceIDs must not be empty".into()),
                None => {
                    let fails = s.fail_next_failback_jobs > 0;
                    if fails {
                        s.fail_next_failback_jobs -= 1;
                    }
                    let participants: Vec<(String, Option<String>)> = ids
                        .iter()
                        .filter_map(|id| {
                            s.drs
                                .instances
                                .get(id)
                                .map(|i| (i.source_server.clone(), Some(id.clone())))
                        })
                        .collect();
                    let job = new_job(s, now, "FAILBACK", "LAUNCH", participants, false, fails);
                    for id in &ids {
                        if let Some(i) = s.drs.instances.get_mut(id) {
                            i.failback_job_id = Some(job.clone());
                            i.changed = now;
                        }
                    }
                    Reply::ok(json!({ "job": job_json(s, &job) }))
                }
            }
        }
        "StopFailback" => match str_field(input, "recoveryInstanceID") {
            None => Reply::invalid("recoveryInstanceID is required".into()),
            Some(id) => match s.drs.instances.get_mut(id) {
                None => Reply::not_found(format!("Recovery instance {id} not found")),
                Some(i) => {
                    // As documented: the failback state goes back to FAILBACK_NOT_STARTED.
                    if i.failback_state != "FAILBACK_COMPLETED" {
                        i.failback_state = "FAILBACK_NOT_STARTED";
                        i.failback_job_id = None;
                        i.changed = now;
                    }
                    Reply::ok(json!({}))
                }
            },
        },
        "ReverseReplication" => match str_field(input, "recoveryInstanceID") {
            None => Reply::invalid("recoveryInstanceID is required".into()),
            Some(id) => match s.drs.instances.get(id) {
                None => Reply::not_found(format!("Recovery instance {id} not found")),
                Some(i) if i.failback_state != "FAILBACK_COMPLETED" => Reply::conflict(format!(
                    "Recovery instance {id} is in failback state {}: reverse replication re-protects only after a completed failback",
                    i.failback_state
                )),
                Some(i) => {
                    let server = i.source_server.clone();
                    s.drs.instances.remove(id);
                    if let Some(x) = s.drs.servers.get_mut(&server) {
                        x.protected = true;
                    }
                    Reply::ok(json!({
                        "reversedDirectionSourceServerArn": format!("arn:aws:drs:us-east-1:123456789012:source-server/{server}")
                    }))
                }
            },
        },
        "TerminateRecoveryInstances" => {
            let ids = str_list(input, "recoveryInstanceIDs");
            if let Some(missing) = ids.iter().find(|id| !s.drs.instances.contains_key(*id)) {
                Reply::not_found(format!("Recovery instance {missing} not found"))
            } else {
                let participants: Vec<(String, Option<String>)> = ids
                    .iter()
                    .filter_map(|id| {
                        s.drs
                            .instances
                            .remove(id)
                            .map(|i| (i.source_server, Some(id.clone())))
                    })
                    .collect();
                let job = new_job(
                    s,
                    now,
                    "TERMINATE_RECOVERY_INSTANCES",
                    "TERMINATE",
                    participants,
                    false,
                    false,
                );
                Reply::ok(json!({ "job": job_json(s, &job) }))
            }
        }
        other => Reply::error(
            axum::http::StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!("the DRS simulator does not serve `{other}`"),
        ),
    };
    (reply, effects)
}
