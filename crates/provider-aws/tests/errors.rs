//! SDK errors mapped to core errors: throttling, access denial, unreachable endpoints, bad settings.

use aegis_dr_core::provider::ProviderBuilder;
use aegis_dr_core::{
    provider::{DatabaseRef, PoolRef},
    ErrorKind, Plan, SiteRole,
};
use aegis_dr_provider_aws::AwsProviders;

use crate::common::world;

fn dr_pool(w: &crate::common::World) -> PoolRef {
    PoolRef {
        site: SiteRole::Dr,
        cluster: w.estate.clusters.1.clone(),
        name: w.estate.nodegroups.1.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_by_the_sdk_then_reported_as_temporary() {
    let w = world("").await;
    let pool = dr_pool(&w);
    // One throttled answer: the SDK's own retry absorbs it.
    w.estate.sim.with(|s| s.faults.throttle_next = 1);
    w.aws
        .nodes
        .as_ref()
        .expect("nodes")
        .get_pool(&pool)
        .await
        .expect("retried past one throttle");
    // More than the SDK's attempts: a temporary Throttled error reaches the orchestrator's retries.
    w.estate.sim.with(|s| s.faults.throttle_next = 10);
    let e = w
        .aws
        .nodes
        .as_ref()
        .expect("nodes")
        .get_pool(&pool)
        .await
        .expect_err("throttled");
    assert_eq!(e.kind(), ErrorKind::Throttled, "{e}");
    assert!(e.is_retryable(), "{e}");
    assert_eq!(e.resource(), Some(pool.name.as_str()));
    w.estate.sim.with(|s| s.faults.throttle_next = 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_is_permanent_and_names_the_iam_action() {
    let w = world("").await;
    w.estate
        .sim
        .with(|s| s.denied = vec!["StartFailbackLaunch".into(), "UpdateNodegroupConfig".into()]);
    let rs = w.aws.recovery.clone().expect("recovery service");
    let e = rs
        .start_failback(&["ri-1".into()])
        .await
        .expect_err("denied");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("drs:StartFailbackLaunch"), "{e}");
    let pool = dr_pool(&w);
    let e = w
        .aws
        .nodes
        .as_ref()
        .expect("nodes")
        .scale_pool(&aegis_dr_core::provider::ScalePool {
            pool,
            size: aegis_dr_core::plan::PoolSize {
                min: 2,
                max: 4,
                desired: 3,
            },
        })
        .await
        .expect_err("denied");
    assert!(e.to_string().contains("eks:UpdateNodegroupConfig"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_temporary_and_names_the_instance() {
    let w = world("").await;
    // Nothing listens on the discard port: every service is unreachable.
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_rds::config::SharedCredentialsProvider::new(
            aws_sdk_rds::config::Credentials::new("test", "test", None, None, "test"),
        ))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let p = AwsProviders::from_env(&w.plan)
        .with_sdk_config(sdk)
        .with_max_attempts(1)
        .build()
        .await
        .expect("build")
        .providers();
    let r = DatabaseRef {
        database: "orders".into(),
        instance: w.estate.db_primary.clone(),
        site: SiteRole::Primary,
    };
    let db = p.database(&"aws".into()).expect("database");
    let e = db.status(&r).await.expect_err("unreachable");
    assert!(
        e.to_string().starts_with("aws: unreachable"),
        "the error names its provider: {e}"
    );
    assert_eq!(e.kind(), ErrorKind::Unreachable, "{e}");
    assert!(e.is_retryable());
    assert_eq!(e.resource(), Some(w.estate.db_primary.as_str()));
}

const PLAN: &str = r#"
[plan]
name = "settings"
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
PAIR
OPTIONS
"#;

const REPLICA_PAIR: &str = "primary = \"orders-use1\"\ndr = \"orders-usw2\"";

async fn build_err(options: &str, region: Option<&str>) -> String {
    build_pair_err(REPLICA_PAIR, options, region).await
}

async fn build_pair_err(pair: &str, options: &str, region: Option<&str>) -> String {
    let plan = Plan::parse(&PLAN.replace("PAIR", pair).replace("OPTIONS", options)).expect("plan");
    let mut b = AwsProviders::from_env(&plan);
    if let Some(r) = region {
        b = b.with_region(SiteRole::Dr, r);
    }
    b.build().await.expect_err("must be refused").to_string()
}

#[tokio::test]
async fn the_builder_validates_the_plans_aws_settings() {
    let e = build_err("", None).await;
    assert!(
        e.contains("databases.orders.options.fence_parameter_group"),
        "{e}"
    );
    let e = build_err(r#"options = { failover = "multi-az" }"#, None).await;
    assert!(
        e.contains(
            "databases.orders.primary: `orders-use1` must be `<instance>@<availability zone>`"
        ),
        "{e}"
    );
    let maz = r#"options = { failover = "multi-az" }"#;
    let e = build_pair_err(
        "primary = \"a@us-east-1a\"\ndr = \"b@us-east-1b\"",
        maz,
        None,
    )
    .await;
    assert!(
        e.contains("databases.orders.dr: a Multi-AZ pair is one instance"),
        "{e}"
    );
    let e = build_pair_err(
        "primary = \"a@us-east-1a\"\ndr = \"a@us-west-2b\"",
        maz,
        None,
    )
    .await;
    assert!(
        e.contains("databases.orders.dr: `us-west-2b` is not an availability zone of the primary site's region us-east-1"),
        "{e}"
    );
    let e = build_pair_err(
        "primary = \"a@us-east-1a\"\ndr = \"a@us-east-1b\"",
        r#"options = { failover = "multi-az", fence_parameter_group = "ro" }"#,
        None,
    )
    .await;
    assert!(
        e.contains("databases.orders.options.fence_parameter_group") && e.contains("Multi-AZ"),
        "{e}"
    );
    for (pair, options) in [
        ("primary = \"a@us-east-1a\"\ndr = \"a@us-east-1b\"", maz),
        (
            REPLICA_PAIR,
            r#"options = { failover = "aurora-global", global_cluster = "g", fence = "tag-only" }"#,
        ),
    ] {
        let plan =
            Plan::parse(&PLAN.replace("PAIR", pair).replace("OPTIONS", options)).expect("plan");
        AwsProviders::from_env(&plan)
            .build()
            .await
            .unwrap_or_else(|e| panic!("{options} is valid: {e}"));
    }
    let e = build_err(
        r#"options = { failover = "aurora-global", fence = "tag-only" }"#,
        None,
    )
    .await;
    assert!(
        e.contains("databases.orders.options.global_cluster: missing"),
        "{e}"
    );
    let e = build_err(
        r#"options = { failover = "aurora-global", global_cluster = "g" }"#,
        None,
    )
    .await;
    assert!(
        e.contains("databases.orders.options.fence_parameter_group: missing: name a DB cluster parameter group"),
        "{e}"
    );
    let e = build_err(
        r#"options = { failover = "blue-green", fence = "tag-only" }"#,
        None,
    )
    .await;
    assert!(
        e.contains("databases.orders.options.failover: unknown mode `blue-green`"),
        "{e}"
    );
    let e = build_err(
        r#"options = { fence_parameter_group = "ro", colour = "blue" }"#,
        None,
    )
    .await;
    assert!(e.contains("databases.orders.options.colour"), "{e}");
    let e = build_err(r#"options = { fence = "tag-only" }"#, Some("westus2")).await;
    assert!(e.contains("sites.dr.region"), "{e}");
}

#[tokio::test]
async fn the_example_aws_plan_validates_and_has_a_policy() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/aws.toml");
    let plan = Plan::load(&path).expect("examples/aws.toml parses");
    AwsProviders::from_env(&plan)
        .build()
        .await
        .expect("examples/aws.toml passes the builder's validation");
    let doc = aegis_dr_provider_aws::iam::policy_for(&plan).expect("policy");
    assert!(doc.to_string().contains("rds:PromoteReadReplica"));
}
