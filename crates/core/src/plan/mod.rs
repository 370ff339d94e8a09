//! The plan file: a TOML description of the estate, parsed into a validated [`Plan`].
//!
//! Parsing is two-phase (after ripgrep): serde reads the raw file (unknown fields and type errors are
//! reported by `toml` with line and column; `raw.rs`), then `Plan::from_raw` (`validate.rs`) checks cross-references and ranges,
//! naming the offending field and the line of its entry.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    duration::{parse_duration, serde_human},
    error::{Error, Result},
    incident::{IncidentClass, Targets},
};

mod choices;
mod discovery_settings;
mod escalation;
pub mod faults;
pub mod graph;
mod hooks;
mod notifications;
mod provider_settings;
mod raw;
mod record_targets;
mod rejoin;
mod schema;
mod selector;
mod sim_settings;
mod state_settings;
mod triggers;
mod validate;

pub use triggers::{default_triggers, LeaseSettings, TriggerAction, TriggerSpec, WatchSettings};

pub use hooks::{ApprovalDefault, Bound, HookAction, HookAnchor, HookPhase, HookSpec};

pub use choices::{choice_value, CHOICE_MARK};
pub use discovery_settings::{DiscoverySettings, PostgresDiscovery};
pub use escalation::{Escalation, EscalationRoute};
pub use notifications::{NotificationSink, WebhookFormat};
pub use provider_settings::{settings_table, CheckedSettings};
use raw::RawPlan;
pub use record_targets::RecordTargets;
pub use rejoin::{Rejoin, RejoinCommand, POSTGRES};
pub use schema::json_schema;
pub use selector::LabelSelector;
pub use sim_settings::{Estimates, FaultInjection, SimFault, SimSettings};
pub use state_settings::StateSettings;
pub use validate::MAX_PLAN_NAME;
use validate::{check_provider, line_of};

/// Which side of the estate a resource lives on.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SiteRole {
    /// The site that serves production in normal operation.
    Primary,
    /// The disaster-recovery site.
    Dr,
}

impl SiteRole {
    /// `primary` or `dr`.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteRole::Primary => "primary",
            SiteRole::Dr => "dr",
        }
    }
    /// The other site.
    pub fn other(self) -> SiteRole {
        match self {
            SiteRole::Primary => SiteRole::Dr,
            SiteRole::Dr => SiteRole::Primary,
        }
    }
}

impl std::fmt::Display for SiteRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider name as written in the plan (`sim`, `aws`, ...). Validation checks its shape; the
/// registry (`aegis_dr::registry`) whether such a provider exists.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct ProviderName(pub String);

impl ProviderName {
    /// The built-in simulated provider.
    pub fn sim() -> Self {
        ProviderName("sim".into())
    }
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProviderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ProviderName {
    fn from(s: &str) -> Self {
        ProviderName(s.to_string())
    }
}

/// The name of the provider serving Kubernetes workloads of a site with `kubeconfig`/`context`.
pub const KUBERNETES: &str = "kubernetes";

/// A provider's settings table as written in the plan (`[providers.aws]`, `[sites.dr.aws]`); its keys
/// are validated by that provider when it is built.
pub type ProviderSettings = BTreeMap<String, toml::Value>;

/// One site of the estate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    /// Which provider serves it.
    pub provider: ProviderName,
    /// Region (or location) name.
    pub region: String,
    /// Kubernetes cluster name serving the site's workloads (used in reports and by the simulator).
    pub cluster: Option<String>,
    /// Kubeconfig file of the site's cluster; with `context`, the site's workloads are reached through
    /// the Kubernetes API. Relative paths are resolved against the plan file's folder.
    pub kubeconfig: Option<String>,
    /// Context in the kubeconfig (default: its current context).
    pub context: Option<String>,
    /// Settings of each provider at this site (`[sites.dr.aws] profile = "dr"`), over the plan-wide
    /// `[providers.<name>]` ones.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<ProviderName, ProviderSettings>,
}

impl Site {
    /// True when the site's workloads live in a real Kubernetes cluster.
    pub fn uses_kubernetes(&self) -> bool {
        self.kubeconfig.is_some() || self.context.is_some()
    }

    /// The provider serving the site's Kubernetes workloads: `kubernetes` when the site names a
    /// cluster through `kubeconfig`/`context`, else the site's provider (the simulated estate has
    /// its own workloads).
    pub fn workloads_provider(&self) -> ProviderName {
        if self.uses_kubernetes() {
            ProviderName(KUBERNETES.into())
        } else {
            self.provider.clone()
        }
    }
}

/// A database pair: the writable primary and its replica at the DR site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseSpec {
    /// Name used in reports and errors.
    pub name: String,
    /// Provider serving both instances (default: the sites' provider).
    pub provider: ProviderName,
    /// Provider identifier of the instance at the primary site.
    pub primary: String,
    /// Provider identifier of the replica at the DR site.
    pub dr: String,
    /// Engine, informational (`postgres`, `mysql`, `aurora-postgresql`, ...).
    pub engine: Option<String>,
    /// Provider-specific options (for example an Aurora global cluster id).
    pub options: BTreeMap<String, String>,
    /// The commands that make an instance replicate from the other (`postgres` pairs).
    pub rejoin: Rejoin,
}

impl DatabaseSpec {
    /// The instance identifier at `site`.
    pub fn instance(&self, site: SiteRole) -> &str {
        match site {
            SiteRole::Primary => &self.primary,
            SiteRole::Dr => &self.dr,
        }
    }
}

/// A DNS record that points at the serving site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsRecordSpec {
    /// Fully-qualified record name, e.g. `api.aegis.io`.
    pub name: String,
    /// Provider serving the zone (default: the primary site's provider).
    pub provider: ProviderName,
    /// Hosted zone (name or id).
    pub zone: String,
    /// Record type: `CNAME`, `A`, `AAAA` or `ALIAS`.
    pub record_type: String,
    /// Target while the primary serves (several addresses for an A or AAAA record set).
    pub primary_target: RecordTargets,
    /// Target while the DR site serves.
    pub dr_target: RecordTargets,
    /// TTL in seconds to keep in normal operation.
    pub ttl: u32,
    /// Health check on the primary target, disabled during failover.
    pub health_check: Option<String>,
}

impl DnsRecordSpec {
    /// The target for `site`.
    pub fn target(&self, site: SiteRole) -> &RecordTargets {
        match site {
            SiteRole::Primary => &self.primary_target,
            SiteRole::Dr => &self.dr_target,
        }
    }
}

/// What a failover that stops midway (a failed step or a refusal after it changed the estate) does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Stop where it is; the stop says what serves and both ways out.
    #[default]
    Stop,
    /// Roll back at once what it changed (`aegis-dr rollback`), as a run of its own.
    Rollback,
}

/// Node-group sizes, `{ min, max, desired }` with `min <= desired <= max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolSize {
    /// Minimum number of nodes, at most `desired`. Required.
    pub min: u32,
    /// Maximum number of nodes, at least `desired`. Required.
    pub max: u32,
    /// Desired number of nodes, from `min` to `max`. Required.
    pub desired: u32,
}

/// A node pool (EKS node group, AKS node pool, GKE node pool) with its production and standby sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodePoolSpec {
    /// Provider identifier of the pool.
    pub name: String,
    /// Provider serving the pool (default: its site's provider).
    pub provider: ProviderName,
    /// Site it belongs to.
    pub site: SiteRole,
    /// Cluster the pool belongs to.
    pub cluster: String,
    /// Size when the site serves production.
    pub production: PoolSize,
    /// Size when the site is standby.
    pub standby: PoolSize,
    /// AWS: scale this Auto Scaling group directly instead of the EKS managed node group `name`.
    pub autoscaling_group: Option<String>,
}

/// Kind of Kubernetes workload.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
}

/// A group of Kubernetes workloads present at both sites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSpec {
    /// Name of the group, for reports.
    pub name: String,
    /// Namespace at both sites.
    pub namespace: String,
    /// Workload kind.
    pub kind: WorkloadKind,
    /// Explicit workload names; empty means "all matching `selector`".
    pub names: Vec<String>,
    /// Label selector (`app=api,tier=web`); empty with no names means the whole namespace.
    pub selector: Option<String>,
    /// Replicas when the site serves production.
    pub production_replicas: u32,
    /// Replicas when the site is standby.
    pub standby_replicas: u32,
}

/// A server protected by a recovery service (AWS DRS source server and the like).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryServerSpec {
    /// Name for reports.
    pub name: String,
    /// Provider of the recovery service (default: the DR site's provider).
    pub provider: ProviderName,
    /// Provider identifier of the source server.
    pub source_server_id: String,
}

/// An HTTP health endpoint of one site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthEndpointSpec {
    /// Name for reports.
    pub name: String,
    /// Provider that probes it (default: its site's provider).
    pub provider: ProviderName,
    /// Site it checks.
    pub site: SiteRole,
    /// URL probed.
    pub url: String,
    /// Status code meaning healthy.
    pub expect_status: u16,
    /// Fields the JSON body must carry, with these values (`{ status = "healthy", region = "dr" }`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expect_json: BTreeMap<String, serde_json::Value>,
}

/// Which DNS resolver verification asks for each record (`[verification] dns_resolver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsResolver {
    /// No resolver query: the provider's answer (INSYNC, the record's value) is the evidence.
    None,
    /// The machine's resolver configuration (`/etc/resolv.conf`).
    System,
    /// This name server (`ip:port`).
    Server(std::net::SocketAddr),
}

impl DnsResolver {
    /// Parses `none`, `system`, `IP` or `IP:PORT`.
    pub fn parse(text: &str) -> std::result::Result<DnsResolver, String> {
        match text {
            "none" => Ok(DnsResolver::None),
            "system" => Ok(DnsResolver::System),
            t => t
                .parse::<std::net::SocketAddr>()
                .or_else(|_| {
                    t.parse::<std::net::IpAddr>()
                        .map(|ip| std::net::SocketAddr::new(ip, 53))
                })
                .map(DnsResolver::Server)
                .map_err(|_| format!("`{t}` is not `none`, `system`, an IP address or IP:PORT")),
        }
    }
}

impl std::fmt::Display for DnsResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsResolver::None => f.write_str("none"),
            DnsResolver::System => f.write_str("the system resolver"),
            DnsResolver::Server(a) => write!(f, "{a}"),
        }
    }
}

/// How verification looks at the serving site beyond the providers' own answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerificationSettings {
    /// The resolver asked for every DNS record (default: the system resolver when a record is on
    /// a real provider, none when the simulated estate serves them all).
    pub dns_resolver: Option<DnsResolver>,
}

/// Thresholds of the pre-failover checks (`aegis-dr check`) and of verification (`[checks]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CheckThresholds {
    /// Largest replication lag of a DR replica the pre-failover check accepts (a duration,
    /// `"30s"`). Default: `30s`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub max_replication_lag: Duration,
    /// Largest age of the newest backup the pre-failover check accepts (a duration, `"6h"`).
    /// Default: `6h`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub max_backup_age: Duration,
    /// Largest TTL, in seconds, the pre-failover check accepts on each `[[dns_records]]` entry as
    /// its provider reports it. Default: `60`.
    pub max_dns_ttl: u32,
    /// Largest error rate of the serving site's health endpoints that verification accepts, a
    /// fraction from 0 to 1 (`0.01` is 1%). Default: `0.01`.
    pub max_error_rate: f64,
    /// ConfigMaps (`namespace/name`) that must be identical in both sites' clusters (the "DR config
    /// matches primary" check). Default: none.
    pub config_maps: Vec<String>,
}

impl Default for CheckThresholds {
    fn default() -> Self {
        CheckThresholds {
            max_replication_lag: Duration::from_secs(30),
            max_backup_age: Duration::from_secs(6 * 3600),
            max_dns_ttl: 60,
            max_error_rate: 0.01,
            config_maps: Vec::new(),
        }
    }
}

/// Failback settings (`[failback]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FailbackSettings {
    /// How long the primary site's health endpoints must have been healthy before a failback (a
    /// duration, `"2h"`). Default: `2h`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub min_primary_stable: Duration,
    /// TTL in seconds, at least 1, the DNS records are lowered to while traffic moves back on
    /// failback. Default: `60`.
    pub lowered_ttl: u32,
}

impl Default for FailbackSettings {
    fn default() -> Self {
        FailbackSettings {
            min_primary_stable: Duration::from_secs(2 * 3600),
            lowered_ttl: 60,
        }
    }
}

/// How the orchestrator executes a run (`[execution]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutionSettings {
    /// Most calls in flight at once inside one step's fan-out over its resources, at least 1.
    /// Default: `256`.
    pub max_concurrency: usize,
    /// Attempts of a call failing with a retryable error before the error counts as persistent, at
    /// least 1. Default: `8`.
    pub retry_attempts: u32,
    /// Delay before the first retry (a duration, `"200ms"`); doubled at each attempt, with full
    /// jitter. Default: `200ms`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub retry_base_delay: Duration,
    /// First interval between the polls of a wait (a duration greater than zero), growing up to
    /// `max_poll_interval`; also the pause between repeats of a `GET` or `HEAD` http hook. Default:
    /// `1s`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub poll_interval: Duration,
    /// Longest interval between the polls of a wait (a duration, at least `poll_interval`).
    /// Default: `15s`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub max_poll_interval: Duration,
    /// How long waits go on past the RTO before they give up, as a fraction of the RTO, from 0 to
    /// 10 (0 stops a run at its RTO). Default: `1.0`.
    pub overrun_factor: f64,
    /// Longest a real provider's call may take before it is abandoned and retried (a duration, at
    /// least `1s`). Default: `2m`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub call_timeout: Duration,
}

impl Default for ExecutionSettings {
    fn default() -> Self {
        ExecutionSettings {
            max_concurrency: 256,
            retry_attempts: 8,
            retry_base_delay: Duration::from_millis(200),
            poll_interval: Duration::from_secs(1),
            max_poll_interval: Duration::from_secs(15),
            overrun_factor: 1.0,
            call_timeout: Duration::from_secs(120),
        }
    }
}

/// A validated plan. Outside this crate it can only be built by [`Plan::load`] or [`Plan::parse`],
/// which validate it (it cannot be written as a struct literal, nor deserialized unvalidated). Its
/// fields are public to read; a change made to them afterwards is not validated again.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Plan {
    /// Plan name; also names the run lock.
    pub name: String,
    /// The primary site.
    pub primary: Site,
    /// The DR site.
    pub dr: Site,
    /// Targets per incident class (defaults, overridden by `[targets.<class>]`).
    pub targets: BTreeMap<IncidentClass, Targets>,
    /// What a failover of a class does when it stops midway (`[targets.<class>] on_failure`;
    /// default: stop).
    pub on_failure: BTreeMap<IncidentClass, OnFailure>,
    /// Database pairs.
    pub databases: Vec<DatabaseSpec>,
    /// DNS records.
    pub dns_records: Vec<DnsRecordSpec>,
    /// Node pools.
    pub node_pools: Vec<NodePoolSpec>,
    /// Workload groups.
    pub workloads: Vec<WorkloadSpec>,
    /// Recovery-service source servers.
    pub recovery_servers: Vec<RecoveryServerSpec>,
    /// Health endpoints.
    pub health_endpoints: Vec<HealthEndpointSpec>,
    /// Check thresholds.
    pub checks: CheckThresholds,
    /// Failback settings.
    pub failback: FailbackSettings,
    /// Execution settings.
    pub execution: ExecutionSettings,
    /// Duration estimates.
    pub estimates: Estimates,
    /// Notification sinks.
    pub notifications: Vec<NotificationSink>,
    /// Routes of the escalations.
    pub escalations: BTreeMap<Escalation, EscalationRoute>,
    /// Simulated-provider settings.
    pub sim: SimSettings,
    /// Faults injected around real providers' calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_injection: Option<FaultInjection>,
    /// Plan-wide settings of each provider (`[providers.aws] profile = "prod"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<ProviderName, ProviderSettings>,
    /// Steps of the user's own (`[[hooks]]`), in file order.
    pub hooks: Vec<HookSpec>,
    /// How verification looks beyond the providers' answers.
    pub verification: VerificationSettings,
    /// Conditions that declare an incident (`[[triggers]]`; the runbook's three when none are
    /// written: see [`Plan::triggers_in_force`]).
    pub triggers: Vec<TriggerSpec>,
    /// What `aegis-dr watch` does.
    pub watch: WatchSettings,
    /// Where runs keep their state (`[state]`).
    pub state: StateSettings,
    /// What `aegis-dr init` read, so `aegis-dr drift` (and `watch`) read the same
    /// (`[discovery]`; none in a plan not written by init).
    pub discovery: Option<DiscoverySettings>,
}

impl Plan {
    /// What the plan claims but cannot do, worth a warning (`plan` and `check` print them): two
    /// sites in one region (a region outage takes both), and a plan that moves nothing.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.primary.region == self.dr.region && self.primary.provider == self.dr.provider {
            out.push(format!(
                "sites.primary.region and sites.dr.region are both `{}`: a region outage takes both sites, so the region-outage class cannot be served",
                self.primary.region
            ));
        }
        if self.databases.is_empty()
            && self.dns_records.is_empty()
            && self.node_pools.is_empty()
            && self.workloads.is_empty()
            && self.recovery_servers.is_empty()
        {
            out.push(
                "the plan has no databases, DNS records, node pools, workloads or recovery servers: a run moves nothing"
                    .to_string(),
            );
        }
        out
    }

    /// The resolver verification asks for the DNS records: the plan's choice, else the system's
    /// when a record is on a real provider, else none (the simulated estate's names are not in DNS).
    pub fn dns_resolver(&self) -> DnsResolver {
        self.verification.dns_resolver.unwrap_or_else(|| {
            if self
                .dns_records
                .iter()
                .all(|r| self.sim_serves(&r.provider))
            {
                DnsResolver::None
            } else {
                DnsResolver::System
            }
        })
    }

    /// The triggers `watch` evaluates: the plan's, or the runbook's three when it writes none.
    pub fn triggers_in_force(&self) -> Vec<TriggerSpec> {
        if self.triggers.is_empty() {
            default_triggers(&self.primary)
        } else {
            self.triggers.clone()
        }
    }

    /// The targets of `class`.
    pub fn on_failure(&self, class: IncidentClass) -> OnFailure {
        self.on_failure.get(&class).copied().unwrap_or_default()
    }

    /// The targets of `class`.
    pub fn targets(&self, class: IncidentClass) -> Targets {
        self.targets
            .get(&class)
            .copied()
            .unwrap_or_else(|| class.default_targets())
    }

    /// The site description for `role`.
    pub fn site(&self, role: SiteRole) -> &Site {
        match role {
            SiteRole::Primary => &self.primary,
            SiteRole::Dr => &self.dr,
        }
    }

    /// Reads and validates a plan file.
    pub fn load(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!("cannot read plan file: {e}"))
                .with_resource(path.display().to_string())
        })?;
        let mut plan =
            Plan::parse(&text).map_err(|e| e.with_resource(path.display().to_string()))?;
        // `aegis.toml` has the parent `""`: its folder is the working directory, made absolute so a
        // hook's working folder does not depend on where the process runs later.
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let base = std::path::absolute(&base).unwrap_or(base);
        for site in [&mut plan.primary, &mut plan.dr] {
            if let Some(k) = &site.kubeconfig {
                if Path::new(k).is_relative() {
                    site.kubeconfig = Some(base.join(k).display().to_string());
                }
            }
        }
        // A command hook runs in the plan's folder unless it names another (relative to it).
        for h in &mut plan.hooks {
            if let HookAction::Command { workdir, .. } = &mut h.action {
                let dir = match workdir.as_deref() {
                    Some(w) if Path::new(w).is_absolute() => w.into(),
                    Some(w) => base.join(w),
                    None => base.to_path_buf(),
                };
                *workdir = Some(dir.display().to_string());
            }
        }
        Ok(plan)
    }

    /// Parses and validates plan text.
    pub fn parse(text: &str) -> Result<Plan> {
        choices::refuse_unmade(text)?;
        let raw: RawPlan = toml::from_str(text).map_err(|e| {
            let msg = e.message().trim().to_string();
            match e.span() {
                Some(span) => {
                    let l = line_of(text, span.start);
                    let src = text.lines().nth(l - 1).unwrap_or("").trim();
                    Error::config(format!("line {l}: `{src}`: {msg}"))
                }
                None => Error::config(msg),
            }
        })?;
        Plan::from_raw(raw, text)
    }

    /// Runs the whole plan on one provider (the CLI's `--provider`): both sites and every resource,
    /// including those that name another provider; Kubernetes workloads stay on their clusters.
    pub fn with_provider(mut self, provider: &str) -> Result<Plan> {
        check_provider(provider, "--provider")?;
        let p = ProviderName(provider.to_string());
        self.primary.provider = p.clone();
        self.dr.provider = p.clone();
        for d in &mut self.databases {
            d.provider = p.clone();
        }
        for r in &mut self.dns_records {
            r.provider = p.clone();
        }
        for n in &mut self.node_pools {
            n.provider = p.clone();
        }
        for s in &mut self.recovery_servers {
            s.provider = p.clone();
        }
        for h in &mut self.health_endpoints {
            h.provider = p.clone();
        }
        Ok(self)
    }

    /// Every provider the plan's resources name, with the site workloads' (`kubernetes` included).
    pub fn provider_names(&self) -> std::collections::BTreeSet<ProviderName> {
        let mut names: std::collections::BTreeSet<ProviderName> = [&self.primary, &self.dr]
            .into_iter()
            .filter(|s| !self.workloads.is_empty() || s.uses_kubernetes())
            .map(Site::workloads_provider)
            .collect();
        names.extend(self.databases.iter().map(|d| d.provider.clone()));
        names.extend(self.dns_records.iter().map(|d| d.provider.clone()));
        names.extend(self.node_pools.iter().map(|d| d.provider.clone()));
        names.extend(self.recovery_servers.iter().map(|d| d.provider.clone()));
        names.extend(self.health_endpoints.iter().map(|d| d.provider.clone()));
        names
    }

    /// True when the simulated estate serves `provider`: `sim` itself, or a name it plays
    /// (`[sim] plays = ["aws"]`).
    pub fn sim_serves(&self, provider: &ProviderName) -> bool {
        provider.as_str() == "sim" || self.sim.plays.contains(provider)
    }

    /// True when the simulated estate serves every resource of the plan (Kubernetes workloads
    /// aside): its timings then stand for the plan's `[estimates]`.
    pub fn runs_on_sim(&self) -> bool {
        self.sim_serves(&self.primary.provider)
            && self.sim_serves(&self.dr.provider)
            && self
                .provider_names()
                .iter()
                .all(|n| n.as_str() == KUBERNETES || self.sim_serves(n))
    }

    /// The settings of `provider` at `site`: the plan-wide `[providers.<name>]` table overlaid by
    /// the site's `[sites.<site>.<name>]` table.
    pub fn provider_settings(
        &self,
        provider: &ProviderName,
        site: Option<SiteRole>,
    ) -> ProviderSettings {
        let mut out = self.providers.get(provider).cloned().unwrap_or_default();
        if let Some(s) = site.and_then(|r| self.site(r).settings.get(provider)) {
            out.extend(s.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out
    }

    /// The plan as one provider sees it: only the resources it serves (sites, settings and
    /// execution settings unchanged). Providers build their clients and validate from this view.
    pub fn for_provider(&self, provider: &ProviderName) -> Plan {
        let mut p = self.clone();
        p.databases.retain(|d| &d.provider == provider);
        p.dns_records.retain(|d| &d.provider == provider);
        p.node_pools.retain(|d| &d.provider == provider);
        p.recovery_servers.retain(|d| &d.provider == provider);
        p.health_endpoints.retain(|d| &d.provider == provider);
        p
    }
}
