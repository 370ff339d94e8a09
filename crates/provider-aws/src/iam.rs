//! The IAM actions each capability calls, and the least-privilege policy a plan needs
//! (`aegis-dr permissions --provider aws`). Every SDK call site names its action from here, so an
//! access-denied error and the printed policy always agree.

use std::collections::BTreeMap;

use aegis_dr_core::{Plan, SiteRole};
use serde_json::{json, Value};

use crate::rds::FailoverMode;

/// `route53:ListResourceRecordSets`.
pub const ROUTE53_LIST_RECORDS: &str = "route53:ListResourceRecordSets";
/// `route53:ChangeResourceRecordSets`.
pub const ROUTE53_CHANGE_RECORDS: &str = "route53:ChangeResourceRecordSets";
/// `route53:GetChange`.
pub const ROUTE53_GET_CHANGE: &str = "route53:GetChange";
/// `route53:ListHostedZonesByName`.
pub const ROUTE53_LIST_ZONES: &str = "route53:ListHostedZonesByName";
/// `route53:GetHealthCheck`.
pub const ROUTE53_GET_HEALTH_CHECK: &str = "route53:GetHealthCheck";
/// `route53:UpdateHealthCheck`.
pub const ROUTE53_UPDATE_HEALTH_CHECK: &str = "route53:UpdateHealthCheck";

/// `rds:DescribeDBParameterGroups` (discovery).
pub const RDS_DESCRIBE_PARAMETER_GROUPS: &str = "rds:DescribeDBParameterGroups";
/// `rds:DescribeDBParameters` (discovery).
pub const RDS_DESCRIBE_PARAMETERS: &str = "rds:DescribeDBParameters";
/// `rds:DescribeDBClusterParameterGroups` (discovery).
pub const RDS_DESCRIBE_CLUSTER_PARAMETER_GROUPS: &str = "rds:DescribeDBClusterParameterGroups";
/// `rds:DescribeDBClusterParameters` (discovery).
pub const RDS_DESCRIBE_CLUSTER_PARAMETERS: &str = "rds:DescribeDBClusterParameters";
/// `route53:ListHostedZones` (discovery).
pub const ROUTE53_LIST_ALL_ZONES: &str = "route53:ListHostedZones";
/// `route53:ListHealthChecks` (discovery).
pub const ROUTE53_LIST_HEALTH_CHECKS: &str = "route53:ListHealthChecks";
/// `route53:ListTagsForResource` (discovery with a tag filter).
pub const ROUTE53_LIST_TAGS: &str = "route53:ListTagsForResource";
/// `eks:ListClusters` (discovery).
pub const EKS_LIST_CLUSTERS: &str = "eks:ListClusters";
/// `eks:ListNodegroups` (discovery).
pub const EKS_LIST_NODEGROUPS: &str = "eks:ListNodegroups";

/// Every action `aegis-dr init` and `drift` call: all reads.
pub const DISCOVERY_ACTIONS: &[&str] = &[
    RDS_DESCRIBE_INSTANCES,
    RDS_DESCRIBE_GLOBAL,
    RDS_DESCRIBE_PARAMETER_GROUPS,
    RDS_DESCRIBE_PARAMETERS,
    RDS_DESCRIBE_CLUSTER_PARAMETER_GROUPS,
    RDS_DESCRIBE_CLUSTER_PARAMETERS,
    ROUTE53_LIST_ALL_ZONES,
    ROUTE53_LIST_RECORDS,
    ROUTE53_LIST_HEALTH_CHECKS,
    ROUTE53_LIST_TAGS,
    EKS_LIST_CLUSTERS,
    EKS_LIST_NODEGROUPS,
    EKS_DESCRIBE_NODEGROUP,
    ASG_DESCRIBE,
    DRS_DESCRIBE_SOURCE_SERVERS,
];

/// `rds:DescribeDBInstances`.
pub const RDS_DESCRIBE_INSTANCES: &str = "rds:DescribeDBInstances";
/// `rds:DescribeDBSnapshots`.
pub const RDS_DESCRIBE_SNAPSHOTS: &str = "rds:DescribeDBSnapshots";
/// `rds:CreateDBSnapshot`.
pub const RDS_CREATE_SNAPSHOT: &str = "rds:CreateDBSnapshot";
/// `rds:CreateDBClusterSnapshot`.
pub const RDS_CREATE_CLUSTER_SNAPSHOT: &str = "rds:CreateDBClusterSnapshot";
/// `rds:AddTagsToResource`.
pub const RDS_ADD_TAGS: &str = "rds:AddTagsToResource";
/// `rds:RemoveTagsFromResource`.
pub const RDS_REMOVE_TAGS: &str = "rds:RemoveTagsFromResource";
/// `rds:ModifyDBInstance`.
pub const RDS_MODIFY_INSTANCE: &str = "rds:ModifyDBInstance";
/// `rds:PromoteReadReplica`.
pub const RDS_PROMOTE_REPLICA: &str = "rds:PromoteReadReplica";
/// `rds:RebootDBInstance`.
pub const RDS_REBOOT: &str = "rds:RebootDBInstance";
/// `rds:CreateDBInstanceReadReplica`.
pub const RDS_CREATE_REPLICA: &str = "rds:CreateDBInstanceReadReplica";
/// `rds:DescribeDBClusters`.
pub const RDS_DESCRIBE_CLUSTERS: &str = "rds:DescribeDBClusters";
/// `rds:DescribeDBClusterSnapshots`.
pub const RDS_DESCRIBE_CLUSTER_SNAPSHOTS: &str = "rds:DescribeDBClusterSnapshots";
/// `rds:ModifyDBCluster`.
pub const RDS_MODIFY_CLUSTER: &str = "rds:ModifyDBCluster";
/// `rds:DescribeGlobalClusters`.
pub const RDS_DESCRIBE_GLOBAL: &str = "rds:DescribeGlobalClusters";
/// `rds:SwitchoverGlobalCluster`.
pub const RDS_SWITCHOVER_GLOBAL: &str = "rds:SwitchoverGlobalCluster";
/// `rds:FailoverGlobalCluster`.
pub const RDS_FAILOVER_GLOBAL: &str = "rds:FailoverGlobalCluster";
/// `cloudwatch:GetMetricStatistics`.
pub const CLOUDWATCH_GET_STATS: &str = "cloudwatch:GetMetricStatistics";

/// `eks:DescribeNodegroup`.
pub const EKS_DESCRIBE_NODEGROUP: &str = "eks:DescribeNodegroup";
/// `eks:UpdateNodegroupConfig`.
pub const EKS_UPDATE_NODEGROUP: &str = "eks:UpdateNodegroupConfig";
/// `autoscaling:DescribeAutoScalingGroups`.
pub const ASG_DESCRIBE: &str = "autoscaling:DescribeAutoScalingGroups";
/// `autoscaling:UpdateAutoScalingGroup`.
pub const ASG_UPDATE: &str = "autoscaling:UpdateAutoScalingGroup";

/// `drs:DescribeRecoverySnapshots`.
pub const DRS_DESCRIBE_SNAPSHOTS: &str = "drs:DescribeRecoverySnapshots";
/// `drs:StartRecovery`.
pub const DRS_START_RECOVERY: &str = "drs:StartRecovery";
/// `drs:DescribeRecoveryInstances`.
pub const DRS_DESCRIBE_INSTANCES: &str = "drs:DescribeRecoveryInstances";
/// `drs:StartFailbackLaunch`.
pub const DRS_START_FAILBACK: &str = "drs:StartFailbackLaunch";
/// `drs:StopFailback`.
pub const DRS_STOP_FAILBACK: &str = "drs:StopFailback";
/// `drs:ReverseReplication`.
pub const DRS_REVERSE_REPLICATION: &str = "drs:ReverseReplication";
/// `drs:DescribeJobs`.
pub const DRS_DESCRIBE_JOBS: &str = "drs:DescribeJobs";
/// `drs:DescribeJobLogItems`.
pub const DRS_DESCRIBE_JOB_LOG: &str = "drs:DescribeJobLogItems";
/// `drs:TerminateRecoveryInstances`.
pub const DRS_TERMINATE: &str = "drs:TerminateRecoveryInstances";
/// `drs:DescribeSourceServers`.
pub const DRS_DESCRIBE_SOURCE_SERVERS: &str = "drs:DescribeSourceServers";
/// `ec2:DescribeInstances`.
pub const EC2_DESCRIBE_INSTANCES: &str = "ec2:DescribeInstances";

/// Why the policy cannot scope Route 53 to some zones: one line per zone the plan names by domain
/// name. A zone id is only known by asking Route 53 (`ListHostedZonesByName`), and the policy is
/// written offline, before any credentials exist: those zones get `hostedzone/*`.
pub fn unscoped_zone_notes(plan: &Plan) -> Vec<String> {
    let mut zones: Vec<&str> = plan
        .dns_records
        .iter()
        .map(|r| r.zone.as_str())
        .filter(|z| !crate::route53::looks_like_zone_id(z))
        .collect();
    zones.sort_unstable();
    zones.dedup();
    zones
        .into_iter()
        .map(|z| {
            format!(
                "zone `{z}` is named by domain, not by id: the policy grants Route 53 changes on every hosted zone (hostedzone/*); write its id (`aws route53 list-hosted-zones-by-name --dns-name {z}`, e.g. zone = \"Z0123456789ABC\") for a policy scoped to it"
            )
        })
        .collect()
}

/// The least-privilege IAM policy document for running `plan` (failover, failback, drill, check)
/// on AWS: one statement per resource family, scoped to the plan's resources where the service
/// supports resource-level permissions.
pub fn policy_for(plan: &Plan) -> aegis_dr_core::Result<Value> {
    // The AWS region of each site with AWS resources (`*` for a site without: never used).
    let mut regions = BTreeMap::new();
    for site in [SiteRole::Primary, SiteRole::Dr] {
        if !plan.databases.is_empty()
            || !plan.recovery_servers.is_empty()
            || plan.node_pools.iter().any(|p| p.site == site)
        {
            regions.insert(site, crate::settings::region_of(plan, site)?);
        }
    }
    let region_of =
        |_: &Plan, site: SiteRole| regions.get(&site).cloned().unwrap_or_else(|| "*".into());
    let mut statements: Vec<Value> = Vec::new();
    let mut add = |sid: &str, actions: &[&str], resources: Vec<String>| {
        let mut actions: Vec<&str> = actions.to_vec();
        actions.sort_unstable();
        actions.dedup();
        statements.push(json!({
            "Sid": sid,
            "Effect": "Allow",
            "Action": actions,
            "Resource": resources,
        }));
    };

    if !plan.dns_records.is_empty() {
        let mut zones: Vec<String> = plan
            .dns_records
            .iter()
            .map(|r| {
                if crate::route53::looks_like_zone_id(&r.zone) {
                    format!(
                        "arn:aws:route53:::hostedzone/{}",
                        r.zone.trim_start_matches("/hostedzone/")
                    )
                } else {
                    "arn:aws:route53:::hostedzone/*".to_string()
                }
            })
            .collect();
        zones.sort();
        zones.dedup();
        add(
            "AegisDrRoute53Records",
            &[ROUTE53_LIST_RECORDS, ROUTE53_CHANGE_RECORDS],
            zones,
        );
        add(
            "AegisDrRoute53Changes",
            &[ROUTE53_GET_CHANGE],
            vec!["arn:aws:route53:::change/*".into()],
        );
        if plan
            .dns_records
            .iter()
            .any(|r| !crate::route53::looks_like_zone_id(&r.zone))
        {
            add(
                "AegisDrRoute53Zones",
                &[ROUTE53_LIST_ZONES],
                vec!["*".into()],
            );
        }
        let checks: Vec<String> = plan
            .dns_records
            .iter()
            .filter_map(|r| r.health_check.as_ref())
            .map(|h| format!("arn:aws:route53:::healthcheck/{h}"))
            .collect();
        if !checks.is_empty() {
            add(
                "AegisDrRoute53HealthChecks",
                &[ROUTE53_GET_HEALTH_CHECK, ROUTE53_UPDATE_HEALTH_CHECK],
                checks,
            );
        }
    }

    if !plan.databases.is_empty() {
        let (mut replicas, mut multi_az, mut clusters, mut global) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut param_groups, mut cluster_param_groups) = (Vec::new(), Vec::new());
        for d in &plan.databases {
            let fence_group = d.options.get("fence_parameter_group");
            match FailoverMode::of(d).unwrap_or(FailoverMode::ReplicaPromotion) {
                FailoverMode::ReplicaPromotion => {
                    for (site, id) in [(SiteRole::Primary, &d.primary), (SiteRole::Dr, &d.dr)] {
                        let region = region_of(plan, site);
                        replicas.push(format!("arn:aws:rds:{region}:*:db:{id}"));
                        // Re-protection renames the superseded instance and keeps it.
                        replicas.push(format!("arn:aws:rds:{region}:*:db:{id}-aegis-*"));
                        if let Some(g) = fence_group {
                            param_groups.push(format!("arn:aws:rds:{region}:*:pg:{g}"));
                        }
                    }
                }
                FailoverMode::MultiAz => {
                    // One instance, in the primary site's region.
                    if let Some((instance, _)) = crate::rds::split_multi_az(&d.primary) {
                        multi_az.push(format!(
                            "arn:aws:rds:{}:*:db:{instance}",
                            region_of(plan, SiteRole::Primary)
                        ));
                    }
                }
                FailoverMode::AuroraGlobal => {
                    if let Some(g) = d.options.get("global_cluster") {
                        global.push(format!("arn:aws:rds::*:global-cluster:{g}"));
                    }
                    for (site, id) in [(SiteRole::Primary, &d.primary), (SiteRole::Dr, &d.dr)] {
                        let region = region_of(plan, site);
                        clusters.push(format!("arn:aws:rds:{region}:*:cluster:{id}"));
                        if let Some(g) = fence_group {
                            cluster_param_groups
                                .push(format!("arn:aws:rds:{region}:*:cluster-pg:{g}"));
                        }
                    }
                }
            }
        }
        for v in [
            &mut replicas,
            &mut multi_az,
            &mut clusters,
            &mut global,
            &mut param_groups,
            &mut cluster_param_groups,
        ] {
            v.sort();
            v.dedup();
        }
        let instance_pairs = !replicas.is_empty() || !multi_az.is_empty();
        if !replicas.is_empty() {
            add(
                "AegisDrRdsReplicaPairs",
                &[
                    RDS_DESCRIBE_INSTANCES,
                    RDS_DESCRIBE_SNAPSHOTS,
                    RDS_ADD_TAGS,
                    RDS_REMOVE_TAGS,
                    RDS_MODIFY_INSTANCE,
                    RDS_PROMOTE_REPLICA,
                    RDS_CREATE_REPLICA,
                    RDS_CREATE_SNAPSHOT,
                ],
                replicas,
            );
        }
        if !param_groups.is_empty() {
            add(
                "AegisDrRdsParameterGroups",
                &[RDS_MODIFY_INSTANCE],
                param_groups,
            );
        }
        if !multi_az.is_empty() {
            add(
                "AegisDrRdsMultiAz",
                &[
                    RDS_DESCRIBE_INSTANCES,
                    RDS_DESCRIBE_SNAPSHOTS,
                    RDS_ADD_TAGS,
                    RDS_REMOVE_TAGS,
                    RDS_REBOOT,
                    RDS_CREATE_SNAPSHOT,
                ],
                multi_az,
            );
        }
        add(
            "AegisDrRdsSnapshots",
            &[RDS_DESCRIBE_SNAPSHOTS],
            vec!["arn:aws:rds:*:*:snapshot:*".into()],
        );
        // The backup before a failback: snapshots named `aegis-<run id>-<database>`.
        if instance_pairs {
            add(
                "AegisDrRdsBackupBeforeFailback",
                &[RDS_CREATE_SNAPSHOT],
                vec!["arn:aws:rds:*:*:snapshot:aegis-*".into()],
            );
        }
        if !clusters.is_empty() {
            add(
                "AegisDrAuroraClusters",
                &[
                    RDS_DESCRIBE_CLUSTERS,
                    RDS_DESCRIBE_CLUSTER_SNAPSHOTS,
                    RDS_ADD_TAGS,
                    RDS_REMOVE_TAGS,
                    RDS_MODIFY_CLUSTER,
                    RDS_CREATE_CLUSTER_SNAPSHOT,
                ],
                clusters.clone(),
            );
            add(
                "AegisDrAuroraBackupBeforeFailback",
                &[RDS_CREATE_CLUSTER_SNAPSHOT],
                vec!["arn:aws:rds:*:*:cluster-snapshot:aegis-*".into()],
            );
            add(
                "AegisDrAuroraSnapshots",
                &[RDS_DESCRIBE_CLUSTER_SNAPSHOTS],
                vec!["arn:aws:rds:*:*:cluster-snapshot:*".into()],
            );
        }
        if !cluster_param_groups.is_empty() {
            add(
                "AegisDrAuroraParameterGroups",
                &[RDS_MODIFY_CLUSTER],
                cluster_param_groups,
            );
        }
        if !global.is_empty() {
            // Switchover and failover act on the global cluster and on its member clusters.
            global.extend(clusters);
            add(
                "AegisDrAuroraGlobal",
                &[
                    RDS_DESCRIBE_GLOBAL,
                    RDS_SWITCHOVER_GLOBAL,
                    RDS_FAILOVER_GLOBAL,
                ],
                global,
            );
        }
        // CloudWatch metric reads cannot be scoped to a resource.
        add(
            "AegisDrReplicaLag",
            &[CLOUDWATCH_GET_STATS],
            vec!["*".into()],
        );
    }

    let (eks, asg): (Vec<_>, Vec<_>) = plan
        .node_pools
        .iter()
        .partition(|p| p.autoscaling_group.is_none());
    if !eks.is_empty() {
        add(
            "AegisDrEksNodegroups",
            &[EKS_DESCRIBE_NODEGROUP, EKS_UPDATE_NODEGROUP],
            eks.iter()
                .map(|p| {
                    format!(
                        "arn:aws:eks:{}:*:nodegroup/{}/{}/*",
                        region_of(plan, p.site),
                        p.cluster,
                        p.name
                    )
                })
                .collect(),
        );
    }
    if !plan.node_pools.is_empty() {
        // Ready nodes are counted from the groups' instances; Describe* cannot be scoped.
        add("AegisDrAutoScalingRead", &[ASG_DESCRIBE], vec!["*".into()]);
    }
    if !asg.is_empty() {
        add(
            "AegisDrAutoScalingGroups",
            &[ASG_UPDATE],
            asg.iter()
                .filter_map(|p| {
                    p.autoscaling_group.as_ref().map(|g| {
                        format!(
                            "arn:aws:autoscaling:{}:*:autoScalingGroup:*:autoScalingGroupName/{g}",
                            region_of(plan, p.site)
                        )
                    })
                })
                .collect(),
        );
    }

    if !plan.recovery_servers.is_empty() {
        let dr = region_of(plan, SiteRole::Dr);
        let mut servers: Vec<String> = plan
            .recovery_servers
            .iter()
            .map(|s| format!("arn:aws:drs:{dr}:*:source-server/{}", s.source_server_id))
            .collect();
        servers.push(format!("arn:aws:drs:{dr}:*:recovery-instance/*"));
        add(
            "AegisDrElasticDisasterRecovery",
            &[
                DRS_START_RECOVERY,
                DRS_START_FAILBACK,
                DRS_STOP_FAILBACK,
                DRS_REVERSE_REPLICATION,
                DRS_TERMINATE,
            ],
            servers,
        );
        add(
            "AegisDrElasticDisasterRecoveryRead",
            &[
                DRS_DESCRIBE_SNAPSHOTS,
                DRS_DESCRIBE_INSTANCES,
                DRS_DESCRIBE_JOBS,
                DRS_DESCRIBE_JOB_LOG,
                DRS_DESCRIBE_SOURCE_SERVERS,
            ],
            vec!["*".into()],
        );
        add(
            "AegisDrVerifyInstances",
            &[EC2_DESCRIBE_INSTANCES],
            vec!["*".into()],
        );
    }

    Ok(json!({ "Version": "2012-10-17", "Statement": statements }))
}

/// Every action in [`policy_for`]'s document, for tests and summaries.
pub fn actions_of(policy: &Value) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for st in policy["Statement"].as_array().into_iter().flatten() {
        let resources: Vec<String> = st["Resource"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(String::from))
            .collect();
        for a in st["Action"].as_array().into_iter().flatten() {
            if let Some(a) = a.as_str() {
                out.entry(a.to_string())
                    .or_default()
                    .extend(resources.clone());
            }
        }
    }
    out
}
