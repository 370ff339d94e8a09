//! The estate and providers every test starts from.

use aegis_dr_core::provider::ProviderBuilder;
use std::time::Duration;

use aegis_dr_aws_sim::estate::{DbKind, Endpoints, Estate};
use aegis_dr_core::{
    journal::{Operation, RunFlags},
    orchestrator::{Orchestrator, RunOutcome, RunRequest},
    provider::{ProviderSet, Providers},
    IncidentClass, Plan,
};
use aegis_dr_provider_aws::AwsProviders;

/// An estate, its plan, its providers and the folder holding its files.
pub struct World {
    pub estate: Estate,
    pub plan: Plan,
    pub providers: Providers,
    /// The `aws` set of `providers` (as the orchestrator sees it: counted, errors named).
    pub aws: ProviderSet,
    pub dir: tempfile::TempDir,
}

/// How long waits in these tests may take.
pub const WITHIN: Duration = Duration::from_secs(20);

/// Creates an estate in the emulators and AWS providers reaching it through a shared-config
/// `services` section (the tests of the `aegis-dr` binary use `AWS_ENDPOINT_URL_<SERVICE>`).
pub async fn world(extra: &str) -> World {
    world_with(&[DbKind::ReplicaPromotion], extra).await
}

/// [`world`] whose plan holds the database pairs `databases`, in that order.
pub async fn world_with(databases: &[DbKind], extra: &str) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let estate = Estate::create(dir.path(), &Endpoints::from_env()).await;
    let plan = Plan::parse(&estate.plan_toml_with(databases, extra)).expect("plan parses");
    let providers = AwsProviders::from_env(&plan)
        .with_sdk_config(estate.sdk.clone())
        .with_max_attempts(2)
        .build()
        .await
        .expect("providers build")
        .providers();
    World {
        estate,
        plan,
        aws: providers.get(&"aws".into()).cloned().expect("the aws set"),
        providers,
        dir,
    }
}

/// Runs a region-outage `operation` of the world's plan through the orchestrator.
pub async fn run(w: &World, operation: Operation) -> RunOutcome {
    Orchestrator::new(
        w.plan.clone(),
        w.providers.clone(),
        w.dir.path().join("state"),
    )
    .run(RunRequest {
        operation,
        class: IncidentClass::RegionOutage,
        flags: RunFlags::default(),
        resume: None,
        abandon: None,
    })
    .await
    .expect("run starts")
}
