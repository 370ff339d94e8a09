//! The core conformance suite, run against the AWS providers.

use aegis_dr_core::{clock::Clock, conformance};

use crate::common::{world, WITHIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_providers_pass_the_conformance_suite() {
    let w = world("").await;
    conformance::run_all(&w.aws, &w.plan, &Clock::new(), WITHIN).await;
    // The suite left the estate as it found it: primary serving, DR replicating, DR nodes standby.
    let e = &w.estate;
    let p = e
        .db_instance("us-east-1", &e.db_primary)
        .await
        .expect("primary exists");
    assert!(p.read_replica_source_db_instance_identifier().is_none());
    let d = e
        .db_instance("us-west-2", &e.db_dr)
        .await
        .expect("replica exists");
    assert!(
        d.read_replica_source_db_instance_identifier()
            .is_some_and(|s| s.ends_with(&format!(":db:{}", e.db_primary)) || s == e.db_primary),
        "DR replicates from the primary again: {d:?}"
    );
    assert_eq!(
        e.record_now().await,
        (
            "lb-use1.example.com".to_string(),
            i64::from(aegis_dr_aws_sim::estate::RECORD_TTL)
        )
    );
    let (_, _, desired, _) = e.asg("us-west-2", &e.asgs.1).await;
    assert_eq!(desired, 1, "DR Auto Scaling group back at standby");
}
