//! The runbook's GCP estate in a fresh simulator, and providers bound to it through Google's
//! clients, with an `authorized_user` credential whose token endpoint is the simulator.

use aegis_dr_core::provider::ProviderBuilder;
use std::time::Duration;

use aegis_dr_core::{
    provider::{DatabaseRef, ProviderSet},
    Plan, SiteRole,
};
use aegis_dr_gcp_sim::{estate, GcpSim};
use aegis_dr_provider_gcp::GcpProviders;
use google_cloud_auth::credentials::user_account;

/// Longest any conformance wait may take.
pub const WITHIN: Duration = Duration::from_secs(30);

/// The text of `examples/gcp.toml`.
pub fn example_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/gcp.toml"
    ))
    .expect("examples/gcp.toml")
}

/// `examples/gcp.toml`.
pub fn example_plan() -> Plan {
    Plan::parse(&example_text()).expect("the example parses")
}

/// A simulator holding the runbook's estate, the example plan, and its GCP provider set.
pub struct World {
    pub sim: GcpSim,
    pub plan: Plan,
    pub gcp: ProviderSet,
}

/// Providers for `plan` against `sim` with fast polls.
pub async fn providers(sim: &GcpSim, plan: &Plan, attempts: u32) -> ProviderSet {
    builder(sim, plan, attempts)
        .build()
        .await
        .expect("providers build")
        .set()
}

/// The builder of [`providers`].
pub fn builder(
    sim: &GcpSim,
    plan: &Plan,
    attempts: u32,
) -> aegis_dr_provider_gcp::GcpProvidersBuilder {
    // Google's clients bring no TLS provider (their default one is off); the credentials' token
    // refresh starts as they are built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let adc: serde_json::Value = serde_json::from_str(&sim.adc_json()).expect("adc json");
    let credentials = user_account::Builder::new(adc)
        .build()
        .expect("credentials");
    GcpProviders::from_env(plan)
        .with_endpoint(sim.url())
        .with_credentials(credentials)
        .with_poll_interval(Duration::from_millis(40))
        .with_max_attempts(attempts)
        .with_operation_timeout(Duration::from_secs(10))
}

pub async fn world() -> World {
    let sim = GcpSim::start().await.expect("simulator starts");
    sim.with(estate::runbook);
    let plan = example_plan();
    let gcp = providers(&sim, &plan, 3).await;
    World { sim, plan, gcp }
}

/// The example's database pair: (primary instance, DR replica).
pub fn refs() -> (DatabaseRef, DatabaseRef) {
    let r = |instance: &str, site| DatabaseRef {
        database: "orders".into(),
        instance: instance.into(),
        site,
    };
    (
        r(estate::PRIMARY_DB, SiteRole::Primary),
        r(estate::DR_DB, SiteRole::Dr),
    )
}
