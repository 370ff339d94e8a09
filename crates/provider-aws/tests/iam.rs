//! The least-privilege policy printed by `aegis-dr iam-policy`.

use aegis_dr_core::Plan;
use aegis_dr_provider_aws::iam::{actions_of, policy_for};

const PLAN: &str = r#"
[plan]
name = "iam"
[sites.primary]
provider = "aws"
region = "us-east-1"
cluster = "prod"
[sites.dr]
provider = "aws"
region = "us-west-2"
cluster = "dr"
[[databases]]
name = "orders"
primary = "orders-use1"
dr = "orders-usw2"
options = { fence_parameter_group = "read-only" }
[[dns_records]]
name = "api.aegis.io"
zone = "Z0123456789ABC"
primary_target = "a.example.com"
dr_target = "b.example.com"
ttl = 60
health_check = "hc-1"
[[node_pools]]
name = "dr-workers"
site = "dr"
production = { min = 3, max = 10, desired = 6 }
standby = { min = 1, max = 10, desired = 1 }
[[node_pools]]
name = "legacy"
site = "primary"
autoscaling_group = "legacy-asg"
production = { min = 3, max = 10, desired = 6 }
standby = { min = 1, max = 10, desired = 1 }
[[recovery_servers]]
name = "billing"
source_server_id = "s-0123456789abcdef0"
"#;

#[test]
fn the_policy_covers_every_call_and_is_scoped_to_the_plan() {
    let plan = Plan::parse(PLAN).expect("plan");
    let doc = policy_for(&plan).expect("policy");
    assert_eq!(doc["Version"], "2012-10-17");
    let actions = actions_of(&doc);
    for a in [
        "route53:ChangeResourceRecordSets",
        "route53:GetChange",
        "route53:UpdateHealthCheck",
        "rds:PromoteReadReplica",
        "rds:CreateDBInstanceReadReplica",
        "rds:ModifyDBInstance",
        "cloudwatch:GetMetricStatistics",
        "eks:UpdateNodegroupConfig",
        "autoscaling:UpdateAutoScalingGroup",
        "drs:StartFailbackLaunch",
        "drs:StopFailback",
        "drs:ReverseReplication",
        "ec2:DescribeInstances",
    ] {
        assert!(actions.contains_key(a), "{a} missing from {doc:#}");
    }
    assert_eq!(
        actions["route53:ChangeResourceRecordSets"],
        vec!["arn:aws:route53:::hostedzone/Z0123456789ABC".to_string()]
    );
    assert!(actions["rds:PromoteReadReplica"]
        .contains(&"arn:aws:rds:us-west-2:*:db:orders-usw2".to_string()));
    assert!(actions["eks:UpdateNodegroupConfig"]
        .iter()
        .all(|r| r.starts_with("arn:aws:eks:us-west-2:*:nodegroup/dr/dr-workers/")));
    assert!(actions["autoscaling:UpdateAutoScalingGroup"][0]
        .ends_with("autoScalingGroupName/legacy-asg"));
    assert!(actions["drs:StartFailbackLaunch"]
        .contains(&"arn:aws:drs:us-west-2:*:source-server/s-0123456789abcdef0".to_string()));
    // Zones given by id need no zone listing; nothing is granted on "*" that could be scoped.
    assert!(!actions.contains_key("route53:ListHostedZonesByName"));
    assert!(
        actions["route53:UpdateHealthCheck"]
            == vec!["arn:aws:route53:::healthcheck/hc-1".to_string()]
    );
}

const MODES: &str = r#"
[plan]
name = "iam-modes"
[sites.primary]
provider = "aws"
region = "us-east-1"
[sites.dr]
provider = "aws"
region = "us-west-2"
[[databases]]
name = "sessions"
primary = "sessions@us-east-1a"
dr = "sessions@us-east-1b"
options = { failover = "multi-az" }
[[databases]]
name = "ledger"
primary = "ledger-use1"
dr = "ledger-usw2"
options = { failover = "aurora-global", global_cluster = "ledger", fence_parameter_group = "ro-cluster" }
"#;

#[test]
fn multi_az_and_aurora_global_pairs_get_their_own_actions() {
    let plan = Plan::parse(MODES).expect("plan");
    let actions = actions_of(&policy_for(&plan).expect("policy"));
    assert_eq!(
        actions["rds:RebootDBInstance"],
        vec!["arn:aws:rds:us-east-1:*:db:sessions".to_string()],
        "the Multi-AZ instance lives in the primary region only"
    );
    for a in ["rds:SwitchoverGlobalCluster", "rds:FailoverGlobalCluster"] {
        assert!(
            actions[a].contains(&"arn:aws:rds::*:global-cluster:ledger".to_string()),
            "{a}"
        );
        assert!(
            actions[a].contains(&"arn:aws:rds:us-west-2:*:cluster:ledger-usw2".to_string()),
            "{a}"
        );
    }
    assert!(actions["rds:ModifyDBCluster"]
        .contains(&"arn:aws:rds:us-east-1:*:cluster-pg:ro-cluster".to_string()));
    assert!(actions["rds:DescribeDBClusters"]
        .contains(&"arn:aws:rds:us-east-1:*:cluster:ledger-use1".to_string()));
    assert!(
        !actions.contains_key("rds:PromoteReadReplica"),
        "no replica pair, no replica promotion"
    );
}

#[test]
fn a_zone_named_by_domain_is_granted_widely_and_says_why() {
    let plan = Plan::parse(&PLAN.replace("zone = \"Z0123456789ABC\"", "zone = \"aegis.io\""))
        .expect("plan");
    let doc = policy_for(&plan).expect("policy");
    assert_eq!(
        actions_of(&doc)["route53:ChangeResourceRecordSets"],
        vec!["arn:aws:route53:::hostedzone/*".to_string()]
    );
    let notes = aegis_dr_provider_aws::iam::unscoped_zone_notes(&plan);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("zone `aegis.io` is named by domain")
            && notes[0].contains("hostedzone/*")
    );
    // Named by id: nothing to explain.
    assert!(
        aegis_dr_provider_aws::iam::unscoped_zone_notes(&Plan::parse(PLAN).expect("plan"))
            .is_empty()
    );
}

#[test]
fn an_auto_scaling_group_pool_needs_no_cluster() {
    // Neither site names a cluster: the Auto Scaling group pool stands alone.
    let text = PLAN
        .replace("cluster = \"prod\"\n", "")
        .replace("cluster = \"dr\"\n", "")
        .replace(
            "[[node_pools]]\nname = \"dr-workers\"\nsite = \"dr\"\nproduction = { min = 3, max = 10, desired = 6 }\nstandby = { min = 1, max = 10, desired = 1 }\n",
            "",
        );
    let plan = Plan::parse(&text).expect("an ASG pool without a cluster loads");
    assert_eq!(plan.node_pools.len(), 1);
    // An EKS node group still names its cluster, and the error says how to do without.
    let err = Plan::parse(&text.replace("autoscaling_group = \"legacy-asg\"\n", ""))
        .expect_err("EKS pool without a cluster");
    assert!(err.to_string().contains("set autoscaling_group"), "{err}");
}
