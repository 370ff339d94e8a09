//! aegis-dr: disaster-recovery failover and failback as a library.
//!
//! This is the one crate to depend on. It re-exports the core (plan model, provider traits,
//! orchestrator, journal, reports, simulated estate) and builds the provider set a plan names.
//! Cloud providers join behind cargo features as they land; today the simulated estate (`sim`) is
//! built in.
//!
//! ```no_run
//! # async fn demo() -> aegis_dr::Result<()> {
//! use aegis_dr::{orchestrator::{Orchestrator, RunRequest}, journal::{Operation, RunFlags}, IncidentClass, Plan};
//! let plan = Plan::load("examples/aegis.toml".as_ref())?;
//! let state_dir = std::path::Path::new(".aegis");
//! let providers = aegis_dr::providers_for(&plan, state_dir, aegis_dr::clock::Clock::new())?;
//! let outcome = Orchestrator::new(plan, providers, state_dir)
//!     .run(RunRequest { operation: Operation::Drill, class: IncidentClass::RegionOutage, flags: RunFlags::default(), resume: None })
//!     .await?;
//! println!("{}", outcome.report.to_markdown());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub use aegis_dr_core::*;

use std::{path::Path, sync::Arc};

/// Builds the providers the plan's sites name. Every site must use a provider of this build.
pub fn providers_for(
    plan: &Plan,
    state_dir: &Path,
    clock: clock::Clock,
) -> Result<provider::Providers> {
    let names = [plan.primary.provider.as_str(), plan.dr.provider.as_str()];
    if names.iter().all(|n| *n == "sim") {
        let sim = Arc::new(sim::SimProvider::open(plan, state_dir, clock)?);
        return Ok(sim.providers());
    }
    let missing: Vec<&str> = names.iter().copied().filter(|n| *n != "sim").collect();
    Err(Error::config(format!(
        "provider `{}` is not available in this build of aegis-dr: only `sim` (the simulated estate) is implemented so far; \
         the AWS, Azure, GCP and Kubernetes providers are tracked in their own issues",
        missing.first().copied().unwrap_or("?")
    )))
}
