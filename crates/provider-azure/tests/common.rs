//! The runbook's Azure estate in a fresh simulator, and providers bound to it.

use aegis_dr_core::provider::ProviderBuilder;
use std::{sync::Arc, time::Duration};

use aegis_dr_azure_sim::{estate, AzureSim};
use aegis_dr_core::{
    provider::{DatabaseRef, ProviderSet},
    Plan, SiteRole,
};
use aegis_dr_provider_azure::{credential::StaticToken, AzureProviders};

/// Longest any conformance wait may take.
pub const WITHIN: Duration = Duration::from_secs(20);

/// The text of `examples/azure.toml`.
pub fn example_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/azure.toml"
    ))
    .expect("examples/azure.toml")
}

/// `examples/azure.toml`.
pub fn example_plan() -> Plan {
    Plan::parse(&example_text()).expect("the example parses")
}

/// A simulator holding the runbook's estate, the example plan, and its Azure provider set.
pub struct World {
    pub sim: AzureSim,
    pub plan: Plan,
    pub azure: ProviderSet,
}

/// Providers for `plan` against `sim` with its token and fast polls.
pub async fn providers(sim: &AzureSim, plan: &Plan, attempts: u32) -> ProviderSet {
    let token = sim.with(|s| s.token.clone());
    AzureProviders::from_env(plan)
        .with_endpoint(sim.url())
        .with_token_source(Arc::new(StaticToken::new(token)))
        .with_poll_interval(Duration::from_millis(20))
        .with_max_attempts(attempts)
        .with_failover_timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("providers build")
        .set()
}

pub async fn world() -> World {
    let sim = AzureSim::start().await.expect("simulator starts");
    sim.with(estate::runbook);
    let plan = example_plan();
    let azure = providers(&sim, &plan, 3).await;
    World { sim, plan, azure }
}

/// The example's database pair: (primary server, DR server).
pub fn refs() -> (DatabaseRef, DatabaseRef) {
    let r = |instance: &str, site| DatabaseRef {
        database: "orders".into(),
        instance: instance.into(),
        site,
    };
    (
        r(estate::PRIMARY_SQL, SiteRole::Primary),
        r(estate::DR_SQL, SiteRole::Dr),
    )
}
