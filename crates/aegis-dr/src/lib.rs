//! aegis-dr: disaster-recovery failover and failback as a library.
//!
//! This is the one crate to depend on. It re-exports the core (plan model, provider traits,
//! orchestrator, journal, reports, simulated estate) and builds the provider set a plan names:
//! the simulated estate (`sim`) is built in; AWS (feature `aws`) and Kubernetes workloads (feature
//! `kubernetes`) are default features. Azure and GCP are not implemented yet.
//!
//! ```no_run
//! # async fn demo() -> aegis_dr::Result<()> {
//! use aegis_dr::{orchestrator::{Orchestrator, RunRequest}, journal::{Operation, RunFlags}, IncidentClass, Plan};
//! let plan = Plan::load("examples/aegis.toml".as_ref())?;
//! let state_dir = std::path::Path::new(".aegis");
//! let providers = aegis_dr::providers_for(&plan, state_dir, aegis_dr::clock::Clock::new()).await?;
//! let outcome = Orchestrator::new(plan, providers, state_dir)
//!     .run(RunRequest { operation: Operation::Drill, class: IncidentClass::RegionOutage, flags: RunFlags::default(), resume: None, abandon: None })
//!     .await?;
//! println!("{}", outcome.report.to_markdown());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub use aegis_dr_core::*;

use std::{path::Path, sync::Arc};

#[cfg(feature = "kubernetes")]
pub use aegis_dr_provider_kubernetes as kubernetes;

#[cfg(feature = "aws")]
pub use aegis_dr_provider_aws as aws;

/// Builds the providers the plan's sites name. Every site must use a provider of this build; a site
/// with `kubeconfig` or `context` has its workloads served by the Kubernetes provider.
pub async fn providers_for(
    plan: &Plan,
    state_dir: &Path,
    clock: clock::Clock,
) -> Result<provider::Providers> {
    let (p, d) = (plan.primary.provider.as_str(), plan.dr.provider.as_str());
    if p != d {
        return Err(Error::config(format!(
            "sites.dr.provider: `{d}` differs from sites.primary.provider `{p}`: one plan runs on one provider \
             (Kubernetes workloads of either site come from `kubeconfig`/`context`)"
        )));
    }
    #[allow(unused_mut)]
    let mut providers = match p {
        // Real time here: the simulated latency runs on the precise timer.
        "sim" => Arc::new(sim::SimProvider::open(plan, state_dir, clock)?.with_precise_latency()).providers(),
        #[cfg(feature = "aws")]
        "aws" => aws::AwsProviders::from_env(plan).build().await?.providers(),
        other => {
            return Err(Error::config(format!(
                "provider `{other}` is not available in this build of aegis-dr: `sim` (the simulated estate) and \
                 `aws` (feature `aws`) are; Azure and GCP are not implemented yet (Kubernetes workloads: set \
                 `kubeconfig`/`context` on a site)"
            )))
        }
    };
    let k8s_sites: Vec<SiteRole> = [SiteRole::Primary, SiteRole::Dr]
        .into_iter()
        .filter(|r| plan.site(*r).uses_kubernetes())
        .collect();
    if !k8s_sites.is_empty() {
        #[cfg(feature = "kubernetes")]
        {
            let mut b = kubernetes::KubernetesBuilder::new();
            for role in &k8s_sites {
                let s = plan.site(*role);
                b = b.with_site(
                    *role,
                    kubernetes::KubeSite {
                        kubeconfig: s.kubeconfig.as_ref().map(Into::into),
                        context: s.context.clone(),
                    },
                );
            }
            let k8s: Arc<dyn provider::WorkloadScaler> = Arc::new(b.build().await?);
            for role in &k8s_sites {
                match role {
                    SiteRole::Primary => providers.primary.workloads = k8s.clone(),
                    SiteRole::Dr => providers.dr.workloads = k8s.clone(),
                }
            }
        }
        #[cfg(not(feature = "kubernetes"))]
        return Err(Error::config(format!(
            "sites.{}.kubeconfig: this build of aegis-dr has no Kubernetes provider (enable the `kubernetes` feature)",
            k8s_sites[0]
        )));
    }
    Ok(providers)
}
