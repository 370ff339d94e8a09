//! The providers a plan runs against: one [`ProviderSet`] per provider name, each resource routed to
//! the set its plan entry names.

use std::{collections::BTreeMap, sync::Arc};

use super::layer::{CallStats, Layer, Layered, ProviderCalls};
use crate::{
    error::{Error, Result},
    plan::{Estimates, ProviderName, Site},
    provider::{
        DatabaseFailover, DnsRouter, HealthProbe, NoWorkloads, NodeScaler, RecoveryService,
        WorkloadScaler,
    },
};

/// Which behaviours a provider supports; the conformance suite skips only what is declared absent.
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
    /// Database snapshots (taken before a failback changes anything).
    pub snapshots: bool,
}

/// What one provider serves: each capability it has for this plan.
#[derive(Debug, Clone)]
pub struct ProviderSet {
    /// The name the plan uses for it (`aws`, `sim`, `kubernetes`, ...).
    pub name: ProviderName,
    /// Database pairs.
    pub database: Option<Arc<dyn DatabaseFailover>>,
    /// DNS records.
    pub dns: Option<Arc<dyn DnsRouter>>,
    /// Node pools.
    pub nodes: Option<Arc<dyn NodeScaler>>,
    /// Kubernetes workloads.
    pub workloads: Option<Arc<dyn WorkloadScaler>>,
    /// Health endpoints (and the integrity check, where `capabilities.integrity_check`).
    pub health: Option<Arc<dyn HealthProbe>>,
    /// Recovery service.
    pub recovery: Option<Arc<dyn RecoveryService>>,
    /// What it supports.
    pub capabilities: Capabilities,
}

impl ProviderSet {
    /// A set serving nothing yet.
    pub fn new(name: impl Into<ProviderName>) -> ProviderSet {
        ProviderSet {
            name: name.into(),
            database: None,
            dns: None,
            nodes: None,
            workloads: None,
            health: None,
            recovery: None,
            capabilities: Capabilities::default(),
        }
    }

    /// The same set under another name (the simulated estate playing `aws`, say).
    pub fn renamed(mut self, name: impl Into<ProviderName>) -> ProviderSet {
        self.name = name.into();
        self
    }

    /// Every capability wrapped in `layer`.
    pub fn layer<L: Layer>(self, layer: L) -> ProviderSet {
        self.layer_shared(Arc::new(layer))
    }

    /// Every capability wrapped in `layer`, shared with other sets (one fault script over several
    /// provider names, say).
    pub fn layer_shared<L: Layer>(self, layer: Arc<L>) -> ProviderSet {
        let name: Arc<str> = Arc::from(self.name.as_str());
        macro_rules! wrap {
            ($field:expr, $tr:ident) => {
                $field.map(|inner| {
                    Arc::new(Layered::<L, dyn $tr>::new(
                        layer.clone(),
                        name.clone(),
                        inner,
                    )) as Arc<dyn $tr>
                })
            };
        }
        ProviderSet {
            database: wrap!(self.database, DatabaseFailover),
            dns: wrap!(self.dns, DnsRouter),
            nodes: wrap!(self.nodes, NodeScaler),
            workloads: wrap!(self.workloads, WorkloadScaler),
            health: wrap!(self.health, HealthProbe),
            recovery: wrap!(self.recovery, RecoveryService),
            name: self.name,
            capabilities: self.capabilities,
        }
    }
}

/// Everything the orchestrator calls: the provider sets by name. Each set wears a
/// [`StatsLayer`](super::layer::StatsLayer), so calls and errors are counted and named per provider.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    sets: BTreeMap<ProviderName, ProviderSet>,
    stats: Arc<CallStats>,
    /// Duration estimates for the RTO estimate, from the providers where they know better than the
    /// plan (the simulated estate's own timings).
    pub estimates: Option<Estimates>,
}

impl Providers {
    /// No provider yet.
    pub fn new() -> Providers {
        Providers::default()
    }

    /// Adds (or replaces) the set of `set.name`.
    pub fn insert(&mut self, set: ProviderSet) {
        let layer = self.stats.layer(set.name.as_str());
        self.sets.insert(set.name.clone(), set.layer(layer));
    }

    /// With `set` added.
    pub fn with(mut self, set: ProviderSet) -> Providers {
        self.insert(set);
        self
    }

    /// The set named `name`.
    pub fn get(&self, name: &ProviderName) -> Option<&ProviderSet> {
        self.sets.get(name)
    }

    /// The names of the sets.
    pub fn names(&self) -> impl Iterator<Item = &ProviderName> {
        self.sets.keys()
    }

    /// Calls and errors so far, by provider.
    pub fn calls(&self) -> BTreeMap<String, ProviderCalls> {
        self.stats.snapshot()
    }

    /// The duration estimates in force: the providers' own where they have them, else the plan's.
    pub fn estimates_for(&self, plan: &crate::plan::Plan) -> Estimates {
        self.estimates
            .clone()
            .unwrap_or_else(|| plan.estimates.clone())
    }

    /// The capability `pick` of provider `name`, or a config error saying which is missing.
    fn capability<'a, T: ?Sized>(
        &'a self,
        name: &ProviderName,
        what: &str,
        pick: impl FnOnce(&'a ProviderSet) -> Option<&'a Arc<T>>,
    ) -> Result<&'a Arc<T>> {
        match self.sets.get(name) {
            Some(set) => pick(set).ok_or_else(|| {
                Error::config(format!(
                    "provider `{name}` serves no {what} in this run (its plan entries were not built for it)"
                ))
            }),
            None => Err(Error::config(format!(
                "the plan routes {what} to provider `{name}`, which this run has not built"
            ))),
        }
    }

    /// The database capability of provider `name`.
    pub fn database(&self, name: &ProviderName) -> Result<&Arc<dyn DatabaseFailover>> {
        self.capability(name, "database pairs", |s| s.database.as_ref())
    }

    /// The DNS capability of provider `name`.
    pub fn dns(&self, name: &ProviderName) -> Result<&Arc<dyn DnsRouter>> {
        self.capability(name, "DNS records", |s| s.dns.as_ref())
    }

    /// The node-pool capability of provider `name`.
    pub fn nodes(&self, name: &ProviderName) -> Result<&Arc<dyn NodeScaler>> {
        self.capability(name, "node pools", |s| s.nodes.as_ref())
    }

    /// The health probes of provider `name`.
    pub fn health(&self, name: &ProviderName) -> Result<&Arc<dyn HealthProbe>> {
        self.capability(name, "health endpoints", |s| s.health.as_ref())
    }

    /// The recovery service of provider `name`.
    pub fn recovery(&self, name: &ProviderName) -> Result<&Arc<dyn RecoveryService>> {
        self.capability(name, "recovery servers", |s| s.recovery.as_ref())
    }

    /// The capabilities of provider `name` (none when it is not in the run).
    pub fn capabilities(&self, name: &ProviderName) -> Capabilities {
        self.sets
            .get(name)
            .map(|s| s.capabilities)
            .unwrap_or_default()
    }

    /// The workloads of `site`: its Kubernetes cluster, or the site's provider; a site with neither
    /// gets [`NoWorkloads`] (every call a config error naming the site).
    pub fn workloads(&self, site: &Site) -> Arc<dyn WorkloadScaler> {
        self.sets
            .get(&site.workloads_provider())
            .and_then(|s| s.workloads.clone())
            .unwrap_or_else(|| Arc::new(NoWorkloads))
    }
}
