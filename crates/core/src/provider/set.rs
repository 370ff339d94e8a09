//! The set of providers a plan runs against, and what each can do.

use std::sync::Arc;

use crate::{
    plan::{Estimates, SiteRole},
    provider::{
        DatabaseFailover, DnsRouter, HealthProbe, NodeScaler, RecoveryService, WorkloadScaler,
    },
};

/// Which behaviours a provider set supports; the conformance suite skips only what is declared absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Planned (zero data loss) promotion.
    pub planned_promotion: bool,
    /// Forced promotion.
    pub forced_promotion: bool,
    /// Dry-run of reverse replication.
    pub sync_dry_run: bool,
    /// DNS health checks.
    pub dns_health_checks: bool,
    /// Recovery service.
    pub recovery_service: bool,
    /// Integrity verification.
    pub integrity_check: bool,
}

/// The providers of one site.
#[derive(Debug, Clone)]
pub struct SiteProviders {
    /// Node pools of the site.
    pub nodes: Arc<dyn NodeScaler>,
    /// Workloads of the site's cluster.
    pub workloads: Arc<dyn WorkloadScaler>,
    /// Health probes of the site.
    pub health: Arc<dyn HealthProbe>,
}

/// Everything the orchestrator calls.
#[derive(Debug, Clone)]
pub struct Providers {
    /// Primary-site providers.
    pub primary: SiteProviders,
    /// DR-site providers.
    pub dr: SiteProviders,
    /// Database pairs.
    pub database: Arc<dyn DatabaseFailover>,
    /// DNS.
    pub dns: Arc<dyn DnsRouter>,
    /// Recovery service, where the plan uses one.
    pub recovery: Option<Arc<dyn RecoveryService>>,
    /// What the set supports.
    pub capabilities: Capabilities,
    /// Duration estimates for the RTO estimate, from the provider where it knows better than the plan.
    pub estimates: Option<Estimates>,
}

impl Providers {
    /// The duration estimates in force: the providers' own where they have them, else the plan's.
    pub fn estimates_for(&self, plan: &crate::plan::Plan) -> Estimates {
        self.estimates
            .clone()
            .unwrap_or_else(|| plan.estimates.clone())
    }

    /// The providers of `site`.
    pub fn site(&self, site: SiteRole) -> &SiteProviders {
        match site {
            SiteRole::Primary => &self.primary,
            SiteRole::Dr => &self.dr,
        }
    }
}
