//! What every cloud provider's builder shares: the plan, an endpoint override (an emulator or a
//! simulator), attempts per request, the run's clock and the health probe's timeout, with the
//! builder methods over them declared once ([`ProviderBuilder`]); and the provider set a cloud's
//! clients make, its capabilities those its backend declares, less those whose client it did not
//! build ([`Capabilities::of_clients`]).

use std::{sync::Arc, time::Duration};

use super::{
    Capabilities, DatabaseFailover, DnsRouter, HealthProbe, NodeScaler, ProviderSet,
    RecoveryService,
};
use crate::{
    clock::Clock,
    error::Result,
    plan::{DatabaseSpec, Plan, SiteRole},
};

/// The settings every cloud provider's builder holds besides its own.
#[derive(Debug, Clone)]
pub struct BuilderBase {
    /// The plan, as the provider sees it (its own resources).
    pub plan: Plan,
    /// Every request to this endpoint instead of the cloud's (an emulator, a simulator).
    pub endpoint: Option<String>,
    /// Attempts per request before an error reaches aegis-dr's own retries (`None`: the client's
    /// default).
    pub attempts: Option<u32>,
    /// The clock ages and waits are measured on: the run's (virtual time in tests).
    pub clock: Clock,
    /// Timeout of each health-endpoint request.
    pub probe_timeout: Duration,
}

impl BuilderBase {
    /// The defaults for `plan`: no endpoint override, the client's attempts, the wall clock and a
    /// 5 s probe timeout.
    pub fn new(plan: &Plan) -> BuilderBase {
        BuilderBase {
            plan: plan.clone(),
            endpoint: None,
            attempts: None,
            clock: Clock::new(),
            probe_timeout: Duration::from_secs(5),
        }
    }

    /// One value per database pair of the plan: `make` gets the pair's spec, the field that names
    /// it in errors (`databases.NAME`) and each site's settings (`primary`, `dr`, read once by
    /// `settings`).
    pub fn pairs<S, T>(
        &self,
        settings: impl Fn(SiteRole) -> Result<S>,
        make: impl Fn(&DatabaseSpec, &str, &S, &S) -> Result<T>,
    ) -> Result<Vec<T>> {
        let (primary, dr) = (settings(SiteRole::Primary)?, settings(SiteRole::Dr)?);
        self.plan
            .databases
            .iter()
            .map(|d| make(d, &format!("databases.{}", d.name), &primary, &dr))
            .collect()
    }
}

/// The builder methods every cloud provider's builder shares, over its [`BuilderBase`].
pub trait ProviderBuilder: Sized {
    /// The shared settings.
    fn base_mut(&mut self) -> &mut BuilderBase;

    /// Measures ages and waits on `clock` (the run's; default: the wall clock).
    fn with_clock(mut self, clock: Clock) -> Self {
        self.base_mut().clock = clock;
        self
    }

    /// Sends every request to `url` (an emulator or a simulator).
    fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.base_mut().endpoint = Some(url.into());
        self
    }

    /// Attempts per request on throttling, unavailability and transport errors (at least 1).
    fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.base_mut().attempts = Some(attempts.max(1));
        self
    }

    /// Timeout of each health-endpoint request (default 5 s).
    fn with_probe_timeout(mut self, timeout: Duration) -> Self {
        self.base_mut().probe_timeout = timeout;
        self
    }
}

/// The clients a cloud provider built for a plan (only those its resources need).
#[derive(Clone, Default)]
pub struct Clients {
    /// Database pairs.
    pub database: Option<Arc<dyn DatabaseFailover>>,
    /// DNS records.
    pub dns: Option<Arc<dyn DnsRouter>>,
    /// Node pools.
    pub nodes: Option<Arc<dyn NodeScaler>>,
    /// Recovery servers.
    pub recovery: Option<Arc<dyn RecoveryService>>,
    /// Health endpoints.
    pub health: Option<Arc<dyn HealthProbe>>,
}

impl Capabilities {
    /// `declared` (a backend's, declared once) less what needs a client not built: promotions,
    /// dry-runs, snapshots and integrity checks need the database client, DNS health checks the DNS
    /// client, the recovery service its own.
    pub fn of_clients(declared: Capabilities, clients: &Clients) -> Capabilities {
        let db = clients.database.is_some();
        Capabilities {
            planned_promotion: declared.planned_promotion && db,
            forced_promotion: declared.forced_promotion && db,
            sync_dry_run: declared.sync_dry_run && db,
            snapshots: declared.snapshots && db,
            integrity_check: declared.integrity_check && db,
            dns_health_checks: declared.dns_health_checks && clients.dns.is_some(),
            recovery_service: declared.recovery_service && clients.recovery.is_some(),
        }
    }
}

impl ProviderSet {
    /// The set `name` of a cloud's `clients`, with the capabilities its backend `declared` that
    /// they serve.
    pub fn of_clients(name: &str, clients: Clients, declared: Capabilities) -> ProviderSet {
        let mut set = ProviderSet::new(name);
        set.capabilities = Capabilities::of_clients(declared, &clients);
        set.database = clients.database;
        set.dns = clients.dns;
        set.nodes = clients.nodes;
        set.recovery = clients.recovery;
        set.health = clients.health;
        set
    }
}
