//! The plan file: a TOML description of the estate, parsed into a validated [`Plan`].
//!
//! Parsing is two-phase (after ripgrep): serde reads the raw file (unknown fields and type errors are
//! reported by `toml` with line and column), then [`Plan::from_raw`] checks cross-references and ranges,
//! naming the offending field and the line of its entry.

use std::{collections::BTreeMap, path::Path, time::Duration};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::{
    duration::{parse_duration, serde_human},
    error::{Error, Result},
    incident::{IncidentClass, Targets},
};

/// Which side of the estate a resource lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

/// A provider name as written in the plan (`sim`, `aws`, `azure`, `gcp`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

/// Provider names this build knows about; others are rejected at validation.
pub const KNOWN_PROVIDERS: [&str; 4] = ["sim", "aws", "azure", "gcp"];

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
}

impl Site {
    /// True when the site's workloads live in a real Kubernetes cluster.
    pub fn uses_kubernetes(&self) -> bool {
        self.kubeconfig.is_some() || self.context.is_some()
    }
}

/// A database pair: the writable primary and its replica at the DR site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseSpec {
    /// Name used in reports and errors.
    pub name: String,
    /// Provider identifier of the instance at the primary site.
    pub primary: String,
    /// Provider identifier of the replica at the DR site.
    pub dr: String,
    /// Engine, informational (`postgres`, `mysql`, `aurora-postgresql`, ...).
    pub engine: Option<String>,
    /// Provider-specific options (for example an Aurora global cluster id).
    pub options: BTreeMap<String, String>,
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
    /// Hosted zone (name or id).
    pub zone: String,
    /// Record type: `CNAME`, `A` or `ALIAS`.
    pub record_type: String,
    /// Target while the primary serves.
    pub primary_target: String,
    /// Target while the DR site serves.
    pub dr_target: String,
    /// TTL in seconds to keep in normal operation.
    pub ttl: u32,
    /// Health check on the primary target, disabled during failover.
    pub health_check: Option<String>,
}

impl DnsRecordSpec {
    /// The target for `site`.
    pub fn target(&self, site: SiteRole) -> &str {
        match site {
            SiteRole::Primary => &self.primary_target,
            SiteRole::Dr => &self.dr_target,
        }
    }
}

/// Node-group sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSize {
    /// Minimum nodes.
    pub min: u32,
    /// Maximum nodes.
    pub max: u32,
    /// Desired nodes.
    pub desired: u32,
}

/// A node pool (EKS node group, AKS node pool, GKE node pool) with its production and standby sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodePoolSpec {
    /// Provider identifier of the pool.
    pub name: String,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// Provider identifier of the source server.
    pub source_server_id: String,
}

/// An HTTP health endpoint of one site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthEndpointSpec {
    /// Name for reports.
    pub name: String,
    /// Site it checks.
    pub site: SiteRole,
    /// URL probed.
    pub url: String,
    /// Status code meaning healthy.
    pub expect_status: u16,
}

/// Thresholds of the pre-failover checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckThresholds {
    /// Largest acceptable replication lag (default 30 s).
    #[serde(with = "serde_human")]
    pub max_replication_lag: Duration,
    /// Oldest acceptable backup (default 6 h).
    #[serde(with = "serde_human")]
    pub max_backup_age: Duration,
    /// Largest acceptable DNS TTL in seconds (default 60).
    pub max_dns_ttl: u32,
    /// Largest acceptable error rate in verification (default 1%).
    pub max_error_rate: f64,
    /// ConfigMaps compared between the sites ("DR config matches primary").
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

/// Failback settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailbackSettings {
    /// How long the primary must have been healthy before failback (default 2 h).
    #[serde(with = "serde_human")]
    pub min_primary_stable: Duration,
    /// TTL in seconds used while moving traffic back (default 60).
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

/// How the orchestrator executes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutionSettings {
    /// Calls in flight at once inside one step's fan-out (default 256).
    pub max_concurrency: usize,
    /// Attempts for a retryable error before it becomes persistent (default 8).
    pub retry_attempts: u32,
    /// First retry delay; doubled each attempt with full jitter (default 200 ms).
    #[serde(with = "serde_human")]
    pub retry_base_delay: Duration,
    /// First poll interval of waits; grows to `max_poll_interval` (default 1 s).
    #[serde(with = "serde_human")]
    pub poll_interval: Duration,
    /// Longest poll interval (default 15 s).
    #[serde(with = "serde_human")]
    pub max_poll_interval: Duration,
    /// How long waits go on past the RTO before they give up, as a fraction of the RTO (default 1.0).
    pub overrun_factor: f64,
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
        }
    }
}

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum NotificationSink {
    /// Printed to the terminal (stderr when the output is JSON).
    Stdout {
        /// Name an escalation route can give.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Appended to a file.
    File {
        /// File path (relative to the plan file).
        path: String,
        /// Name an escalation route can give.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// POSTed as JSON. The URL (a secret: Slack and Teams URLs carry their token) is never written
    /// or printed whole; `url_env` keeps it out of the plan file.
    Webhook {
        /// URL receiving the POST.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// Environment variable holding the URL (instead of `url`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_env: Option<String>,
        /// Name an escalation route can give.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
}

impl NotificationSink {
    /// The sink's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        match self {
            NotificationSink::Stdout { name }
            | NotificationSink::File { name, .. }
            | NotificationSink::Webhook { name, .. } => name.as_deref(),
        }
    }
}

/// Who an escalation pages (`[escalations.<reason>]`): named sinks, and the contact its message
/// names. Without a route an escalation goes to every sink.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationRoute {
    /// Names of the `[[notifications]]` sinks to send it to.
    #[serde(default)]
    pub notify: Vec<String>,
    /// Who to contact, in the message (default: the runbook's).
    #[serde(default)]
    pub contact: Option<String>,
}

/// Settings of the simulated provider (`[sim]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimSettings {
    /// Latency added to every call.
    #[serde(with = "serde_human")]
    pub latency: Duration,
    /// Probability that a call fails with a transient error.
    pub transient_fault_rate: f64,
    /// Seed of the fault generator.
    pub seed: u64,
    /// Time a DNS change takes to become INSYNC.
    #[serde(with = "serde_human")]
    pub dns_propagation: Duration,
    /// Time a new node takes to become Ready.
    #[serde(with = "serde_human")]
    pub node_boot: Duration,
    /// Time a scaled workload takes to make its replicas available.
    #[serde(with = "serde_human")]
    pub rollout: Duration,
    /// Replication lag of every replica at the start.
    #[serde(with = "serde_human")]
    pub replication_lag: Duration,
    /// How fast a replica catches up once its source is fenced, in seconds of lag per second (default 10).
    pub catch_up_speed: f64,
    /// Whether replicas report their lag (false: like an RDS replica with no CloudWatch
    /// `ReplicaLag` datapoint in the window, the lag is unknown).
    pub lag_reported: bool,
    /// Age of the newest backup at the start.
    #[serde(with = "serde_human")]
    pub backup_age: Duration,
    /// Age of the newest recovery point of each recovery server.
    #[serde(with = "serde_human")]
    pub recovery_point_age: Duration,
    /// Time in-flight requests take to drain after the drain annotation.
    #[serde(with = "serde_human")]
    pub drain_time: Duration,
    /// Time a recovery or failback job takes.
    #[serde(with = "serde_human")]
    pub job_time: Duration,
    /// How long the primary has been healthy at the start.
    #[serde(with = "serde_human")]
    pub primary_stable_for: Duration,
    /// Whether the primary site answers at all.
    pub primary_reachable: bool,
    /// Error rate reported by the health endpoints.
    pub error_rate: f64,
    /// Scripted faults.
    pub faults: Vec<SimFault>,
    /// ConfigMaps (`namespace/name`) whose DR copy differs from the primary's.
    pub config_drift: Vec<String>,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            latency: Duration::from_millis(2),
            transient_fault_rate: 0.0,
            seed: 1,
            dns_propagation: Duration::from_millis(300),
            node_boot: Duration::from_millis(400),
            rollout: Duration::from_millis(300),
            replication_lag: Duration::from_secs(2),
            catch_up_speed: 10.0,
            lag_reported: true,
            backup_age: Duration::from_secs(3600),
            recovery_point_age: Duration::from_secs(30),
            drain_time: Duration::from_millis(200),
            job_time: Duration::from_millis(300),
            primary_stable_for: Duration::from_secs(3 * 3600),
            primary_reachable: true,
            error_rate: 0.001,
            faults: Vec::new(),
            config_drift: Vec::new(),
        }
    }
}

/// A scripted fault of the simulated provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimFault {
    /// Operation name (`promote_database`, `fence_database`, `upsert_record`, `scale_pool`,
    /// `scale_workload`, `annotate_workload`, `start_recovery`, `start_failback`, `verify_integrity`,
    /// `config_maps`, ...).
    pub operation: String,
    /// Resource it applies to; absent means every resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// `temporary`, `permanent`, `unreachable`, `integrity` or `job-failure`.
    pub error: String,
    /// How many calls fail (default 1; 0 means always).
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

/// Duration estimates used for the RTO estimate of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Estimates {
    /// One API call.
    #[serde(with = "serde_human")]
    pub api_call: Duration,
    /// DNS propagation to INSYNC.
    #[serde(with = "serde_human")]
    pub dns_propagation: Duration,
    /// Nodes becoming Ready after a scale-up.
    #[serde(with = "serde_human")]
    pub node_boot: Duration,
    /// Workload rollout.
    #[serde(with = "serde_human")]
    pub rollout: Duration,
    /// Database promotion.
    #[serde(with = "serde_human")]
    pub promotion: Duration,
    /// Draining in-flight requests.
    #[serde(with = "serde_human")]
    pub drain: Duration,
    /// A recovery or failback job.
    #[serde(with = "serde_human")]
    pub recovery_job: Duration,
}

impl Default for Estimates {
    fn default() -> Self {
        Estimates {
            api_call: Duration::from_millis(300),
            dns_propagation: Duration::from_secs(60),
            node_boot: Duration::from_secs(4 * 60),
            rollout: Duration::from_secs(2 * 60),
            promotion: Duration::from_secs(3 * 60),
            drain: Duration::from_secs(60),
            recovery_job: Duration::from_secs(10 * 60),
        }
    }
}

/// A validated plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Plan name; also names the run lock.
    pub name: String,
    /// The primary site.
    pub primary: Site,
    /// The DR site.
    pub dr: Site,
    /// Targets per incident class (defaults, overridden by `[targets.<class>]`).
    pub targets: BTreeMap<IncidentClass, Targets>,
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
    pub escalations: BTreeMap<crate::notify::Escalation, EscalationRoute>,
    /// Simulated-provider settings.
    pub sim: SimSettings,
}

impl Plan {
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
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        for site in [&mut plan.primary, &mut plan.dr] {
            if let Some(k) = &site.kubeconfig {
                if Path::new(k).is_relative() {
                    site.kubeconfig = Some(base.join(k).display().to_string());
                }
            }
        }
        Ok(plan)
    }

    /// Parses and validates plan text.
    pub fn parse(text: &str) -> Result<Plan> {
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

    /// Overrides every site's provider (the CLI's `--provider`).
    pub fn with_provider(mut self, provider: &str) -> Result<Plan> {
        check_provider(provider, "--provider")?;
        self.primary.provider = ProviderName(provider.to_string());
        self.dr.provider = ProviderName(provider.to_string());
        Ok(self)
    }

    fn from_raw(raw: RawPlan, text: &str) -> Result<Plan> {
        let v = Validator { text };
        let name = raw.plan.name.trim().to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(Error::config(format!(
                "plan.name: `{}` must be non-empty and use only letters, digits, `-`, `_` and `.`",
                raw.plan.name
            )));
        }
        // The name becomes a lock file name (`<name>.lock`) and appears in every run folder path.
        if name.len() > MAX_PLAN_NAME {
            return Err(Error::config(format!(
                "plan.name: {} characters long; the most is {MAX_PLAN_NAME}",
                name.len()
            )));
        }
        let site = |role: &str, s: Option<RawSite>| -> Result<Site> {
            let s = s.ok_or_else(|| {
                Error::config(format!("sites.{role}: missing table [sites.{role}]"))
            })?;
            check_provider(&s.provider, &format!("sites.{role}.provider"))?;
            if s.region.trim().is_empty() {
                return Err(Error::config(format!(
                    "sites.{role}.region: must not be empty"
                )));
            }
            if s.kubeconfig.as_deref().is_some_and(|k| k.trim().is_empty()) {
                return Err(Error::config(format!(
                    "sites.{role}.kubeconfig: must not be empty"
                )));
            }
            Ok(Site {
                provider: ProviderName(s.provider),
                region: s.region,
                cluster: s.cluster,
                kubeconfig: s.kubeconfig,
                context: s.context,
            })
        };
        let primary = site("primary", raw.sites.primary)?;
        let dr = site("dr", raw.sites.dr)?;

        let mut targets = BTreeMap::new();
        for class in IncidentClass::ALL {
            targets.insert(class, class.default_targets());
        }
        for (key, t) in raw.targets {
            let class: IncidentClass = key
                .parse()
                .map_err(|e: String| Error::config(format!("targets.{key}: {e}")))?;
            let mut cur = class.default_targets();
            if let Some(rto) = t.rto {
                cur.rto = parse_duration(&rto)
                    .map_err(|e| Error::config(format!("targets.{key}.rto: {e}")))?;
                if cur.rto.is_zero() {
                    return Err(Error::config(format!(
                        "targets.{key}.rto: must be greater than zero"
                    )));
                }
            }
            if let Some(rpo) = t.rpo {
                cur.rpo = parse_duration(&rpo)
                    .map_err(|e| Error::config(format!("targets.{key}.rpo: {e}")))?;
            }
            targets.insert(class, cur);
        }

        let mut seen = std::collections::HashSet::new();
        let mut databases = Vec::new();
        for (i, d) in raw.databases.into_iter().enumerate() {
            let at = v.at("databases", i, &d.name);
            v.non_empty(&at, "name", d.name.get_ref())?;
            v.non_empty(&at, "primary", &d.primary)?;
            v.non_empty(&at, "dr", &d.dr)?;
            if d.primary == d.dr {
                return Err(Error::config(format!(
                    "{at}.dr: must differ from `primary` (`{}`)",
                    d.primary
                )));
            }
            v.unique(&mut seen, &at, "database", d.name.get_ref())?;
            databases.push(DatabaseSpec {
                name: d.name.into_inner(),
                primary: d.primary,
                dr: d.dr,
                engine: d.engine,
                options: d.options,
            });
        }

        let mut dns_records = Vec::new();
        for (i, r) in raw.dns_records.into_iter().enumerate() {
            let at = v.at("dns_records", i, &r.name);
            v.non_empty(&at, "name", r.name.get_ref())?;
            v.non_empty(&at, "zone", &r.zone)?;
            v.non_empty(&at, "primary_target", &r.primary_target)?;
            v.non_empty(&at, "dr_target", &r.dr_target)?;
            let rtype = r.record_type.to_ascii_uppercase();
            if !["CNAME", "A", "AAAA", "ALIAS"].contains(&rtype.as_str()) {
                return Err(Error::config(format!(
                    "{at}.type: `{}` is not one of CNAME, A, AAAA, ALIAS",
                    r.record_type
                )));
            }
            if r.ttl == 0 || r.ttl > 172_800 {
                return Err(Error::config(format!(
                    "{at}.ttl: {} must be between 1 and 172800 seconds",
                    r.ttl
                )));
            }
            v.unique(&mut seen, &at, "dns record", r.name.get_ref())?;
            dns_records.push(DnsRecordSpec {
                name: r.name.into_inner(),
                zone: r.zone,
                record_type: rtype,
                primary_target: r.primary_target,
                dr_target: r.dr_target,
                ttl: r.ttl,
                health_check: r.health_check,
            });
        }

        let mut node_pools = Vec::new();
        for (i, p) in raw.node_pools.into_iter().enumerate() {
            let at = v.at("node_pools", i, &p.name);
            v.non_empty(&at, "name", p.name.get_ref())?;
            // An Auto Scaling group pool is named by its group: no cluster needed.
            let cluster = p
                .cluster
                .or_else(|| match p.site {
                    SiteRole::Primary => primary.cluster.clone(),
                    SiteRole::Dr => dr.cluster.clone(),
                })
                .or_else(|| p.autoscaling_group.as_ref().map(|_| String::new()))
                .ok_or_else(|| {
                    Error::config(format!(
                        "{at}.cluster: missing, and sites.{}.cluster is not set either (a node pool names its cluster, unless it is an Auto Scaling group: set autoscaling_group)",
                        p.site
                    ))
                })?;
            for (label, s) in [("production", &p.production), ("standby", &p.standby)] {
                if s.min > s.max || s.desired < s.min || s.desired > s.max {
                    return Err(Error::config(format!(
                        "{at}.{label}: need min <= desired <= max, got min={} desired={} max={}",
                        s.min, s.desired, s.max
                    )));
                }
            }
            v.unique(
                &mut seen,
                &at,
                "node pool",
                &format!("{}/{}", p.site, p.name.get_ref()),
            )?;
            node_pools.push(NodePoolSpec {
                name: p.name.into_inner(),
                site: p.site,
                cluster,
                production: p.production,
                standby: p.standby,
                autoscaling_group: p.autoscaling_group,
            });
        }

        let mut workloads = Vec::new();
        for (i, w) in raw.workloads.into_iter().enumerate() {
            let at = v.at("workloads", i, &w.name);
            v.non_empty(&at, "name", w.name.get_ref())?;
            v.non_empty(&at, "namespace", &w.namespace)?;
            if w.standby_replicas > w.production_replicas {
                return Err(Error::config(format!(
                    "{at}.standby_replicas: {} exceeds production_replicas {}",
                    w.standby_replicas, w.production_replicas
                )));
            }
            if w.production_replicas == 0 {
                return Err(Error::config(format!(
                    "{at}.production_replicas: must be at least 1"
                )));
            }
            if let Some(sel) = &w.selector {
                crate::provider::workloads::LabelSelector::parse(sel)
                    .map_err(|e| Error::config(format!("{at}.selector: {e}")))?;
            }
            let mut names = std::collections::HashSet::new();
            for name in &w.deployments {
                v.non_empty(&at, "deployments", name)?;
                if !names.insert(name.as_str()) {
                    return Err(Error::config(format!(
                        "{at}.deployments: `{name}` is listed twice"
                    )));
                }
            }
            v.unique(&mut seen, &at, "workload group", w.name.get_ref())?;
            workloads.push(WorkloadSpec {
                name: w.name.into_inner(),
                namespace: w.namespace,
                kind: w.kind,
                names: w.deployments,
                selector: w.selector,
                production_replicas: w.production_replicas,
                standby_replicas: w.standby_replicas,
            });
        }
        if !workloads.is_empty() && (primary.cluster.is_none() || dr.cluster.is_none()) {
            return Err(Error::config(
                "sites.primary.cluster / sites.dr.cluster: both must be set when [[workloads]] are listed",
            ));
        }

        let mut recovery_servers = Vec::new();
        for (i, s) in raw.recovery_servers.into_iter().enumerate() {
            let at = v.at("recovery_servers", i, &s.name);
            v.non_empty(&at, "source_server_id", &s.source_server_id)?;
            v.unique(&mut seen, &at, "recovery server", s.name.get_ref())?;
            recovery_servers.push(RecoveryServerSpec {
                name: s.name.into_inner(),
                source_server_id: s.source_server_id,
            });
        }

        let mut health_endpoints = Vec::new();
        for (i, h) in raw.health_endpoints.into_iter().enumerate() {
            let at = v.at("health_endpoints", i, &h.name);
            if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
                return Err(Error::config(format!(
                    "{at}.url: `{}` must start with http:// or https://",
                    h.url
                )));
            }
            if !(100..=599).contains(&h.expect_status) {
                return Err(Error::config(format!(
                    "{at}.expect_status: {} is not an HTTP status",
                    h.expect_status
                )));
            }
            v.unique(&mut seen, &at, "health endpoint", h.name.get_ref())?;
            health_endpoints.push(HealthEndpointSpec {
                name: h.name.into_inner(),
                site: h.site,
                url: h.url,
                expect_status: h.expect_status,
            });
        }

        let checks = raw.checks.unwrap_or_default();
        if !(0.0..=1.0).contains(&checks.max_error_rate) {
            return Err(Error::config(format!(
                "checks.max_error_rate: {} must be between 0 and 1",
                checks.max_error_rate
            )));
        }
        let execution = raw.execution.unwrap_or_default();
        if execution.max_concurrency == 0 {
            return Err(Error::config(
                "execution.max_concurrency: must be at least 1",
            ));
        }
        if execution.retry_attempts == 0 {
            return Err(Error::config(
                "execution.retry_attempts: must be at least 1",
            ));
        }
        if execution.poll_interval.is_zero()
            || execution.max_poll_interval < execution.poll_interval
        {
            return Err(Error::config(
                "execution.poll_interval: must be > 0 and <= execution.max_poll_interval",
            ));
        }
        if !(execution.overrun_factor >= 0.0 && execution.overrun_factor <= 10.0) {
            return Err(Error::config(
                "execution.overrun_factor: must be between 0 and 10",
            ));
        }
        let failback = raw.failback.unwrap_or_default();
        if failback.lowered_ttl == 0 {
            return Err(Error::config(
                "failback.lowered_ttl: must be at least 1 second",
            ));
        }
        let sim = raw.sim.unwrap_or_default();
        if !(0.0..=0.9).contains(&sim.transient_fault_rate) {
            return Err(Error::config(format!(
                "sim.transient_fault_rate: {} must be between 0 and 0.9",
                sim.transient_fault_rate
            )));
        }
        if !(sim.catch_up_speed > 0.0 && sim.catch_up_speed.is_finite()) {
            return Err(Error::config(format!(
                "sim.catch_up_speed: {} must be greater than 0",
                sim.catch_up_speed
            )));
        }
        if !(0.0..=1.0).contains(&sim.error_rate) {
            return Err(Error::config(format!(
                "sim.error_rate: {} must be between 0 and 1",
                sim.error_rate
            )));
        }
        for (i, f) in sim.faults.iter().enumerate() {
            if !crate::sim::OPERATIONS.contains(&f.operation.as_str()) {
                return Err(Error::config(format!(
                    "sim.faults[{i}].operation: `{}` is not an operation of the simulated provider (one of: {})",
                    f.operation,
                    crate::sim::OPERATIONS.join(", ")
                )));
            }
            if ![
                "temporary",
                "permanent",
                "unreachable",
                "integrity",
                "job-failure",
                "throttled",
            ]
            .contains(&f.error.as_str())
            {
                return Err(Error::config(format!(
                    "sim.faults[{i}].error: `{}` is not one of temporary, throttled, permanent, unreachable, integrity, job-failure",
                    f.error
                )));
            }
        }
        for (i, n) in raw.notifications.iter().enumerate() {
            match n {
                NotificationSink::Webhook { url, url_env, .. } => match (url, url_env) {
                    (Some(_), Some(_)) | (None, None) => {
                        return Err(Error::config(format!(
                            "notifications[{i}]: a webhook takes exactly one of `url` and `url_env`"
                        )));
                    }
                    (Some(url), None)
                        if !(url.starts_with("http://") || url.starts_with("https://")) =>
                    {
                        return Err(Error::config(format!(
                            "notifications[{i}].url: `{}` must start with http:// or https://",
                            crate::notify::redact_url(url)
                        )));
                    }
                    (None, Some(var)) if var.trim().is_empty() => {
                        return Err(Error::config(format!(
                            "notifications[{i}].url_env: must name an environment variable"
                        )));
                    }
                    _ => {}
                },
                NotificationSink::File { path, .. } if path.trim().is_empty() => {
                    return Err(Error::config(format!(
                        "notifications[{i}].path: must not be empty"
                    )));
                }
                _ => {}
            }
        }

        let mut escalations = BTreeMap::new();
        for (key, route) in raw.escalations {
            let reason: crate::notify::Escalation = key
                .parse()
                .map_err(|e: String| Error::config(format!("escalations.{key}: {e}")))?;
            for n in &route.notify {
                if !raw
                    .notifications
                    .iter()
                    .any(|s| s.name() == Some(n.as_str()))
                {
                    return Err(Error::config(format!(
                        "escalations.{key}.notify: no [[notifications]] sink is named `{n}`"
                    )));
                }
            }
            escalations.insert(reason, route);
        }

        Ok(Plan {
            name,
            primary,
            dr,
            targets,
            databases,
            dns_records,
            node_pools,
            workloads,
            recovery_servers,
            health_endpoints,
            checks,
            failback,
            execution,
            estimates: raw.estimates.unwrap_or_default(),
            escalations,
            notifications: raw.notifications,
            sim,
        })
    }
}

/// The longest plan name: it names the lock file and the run folders.
pub const MAX_PLAN_NAME: usize = 100;

fn check_provider(name: &str, field: &str) -> Result<()> {
    if KNOWN_PROVIDERS.contains(&name) {
        Ok(())
    } else if name == "kubernetes" {
        Err(Error::config(format!(
            "{field}: `kubernetes` is not a site provider: a site's workloads go through Kubernetes when the site sets `kubeconfig` and/or `context`"
        )))
    } else {
        Err(Error::config(format!(
            "{field}: unknown provider `{name}` (expected one of: {})",
            KNOWN_PROVIDERS.join(", ")
        )))
    }
}

/// 1-based line of byte offset `pos` in `text`.
fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

struct Validator<'a> {
    text: &'a str,
}

impl Validator<'_> {
    fn at(&self, table: &str, i: usize, name: &Spanned<String>) -> String {
        format!(
            "{table}[{i}] (`{}`, line {})",
            name.get_ref(),
            line_of(self.text, name.span().start)
        )
    }
    fn non_empty(&self, at: &str, field: &str, value: &str) -> Result<()> {
        if value.trim().is_empty() {
            Err(Error::config(format!("{at}.{field}: must not be empty")))
        } else {
            Ok(())
        }
    }
    fn unique(
        &self,
        seen: &mut std::collections::HashSet<String>,
        at: &str,
        what: &str,
        key: &str,
    ) -> Result<()> {
        if seen.insert(format!("{what}:{key}")) {
            Ok(())
        } else {
            Err(Error::config(format!(
                "{at}.name: duplicate {what} `{key}`"
            )))
        }
    }
}

// ---- raw file shape ------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    plan: RawPlanHeader,
    sites: RawSites,
    #[serde(default)]
    targets: BTreeMap<String, RawTargets>,
    #[serde(default)]
    databases: Vec<RawDatabase>,
    #[serde(default)]
    dns_records: Vec<RawDnsRecord>,
    #[serde(default)]
    node_pools: Vec<RawNodePool>,
    #[serde(default)]
    workloads: Vec<RawWorkload>,
    #[serde(default)]
    recovery_servers: Vec<RawRecoveryServer>,
    #[serde(default)]
    health_endpoints: Vec<RawHealthEndpoint>,
    checks: Option<CheckThresholds>,
    failback: Option<FailbackSettings>,
    execution: Option<ExecutionSettings>,
    estimates: Option<Estimates>,
    #[serde(default)]
    notifications: Vec<NotificationSink>,
    #[serde(default)]
    escalations: BTreeMap<String, EscalationRoute>,
    sim: Option<SimSettings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlanHeader {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSites {
    primary: Option<RawSite>,
    dr: Option<RawSite>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    provider: String,
    region: String,
    cluster: Option<String>,
    kubeconfig: Option<String>,
    context: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    rto: Option<String>,
    rpo: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    name: Spanned<String>,
    primary: String,
    dr: String,
    engine: Option<String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDnsRecord {
    name: Spanned<String>,
    zone: String,
    #[serde(rename = "type", default = "cname")]
    record_type: String,
    primary_target: String,
    dr_target: String,
    ttl: u32,
    health_check: Option<String>,
}

fn cname() -> String {
    "CNAME".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNodePool {
    name: Spanned<String>,
    site: SiteRole,
    cluster: Option<String>,
    production: PoolSize,
    standby: PoolSize,
    autoscaling_group: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    name: Spanned<String>,
    namespace: String,
    #[serde(default = "deployment")]
    kind: WorkloadKind,
    #[serde(default)]
    deployments: Vec<String>,
    selector: Option<String>,
    production_replicas: u32,
    standby_replicas: u32,
}

fn deployment() -> WorkloadKind {
    WorkloadKind::Deployment
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecoveryServer {
    name: Spanned<String>,
    source_server_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealthEndpoint {
    name: Spanned<String>,
    site: SiteRole,
    url: String,
    #[serde(default = "ok_status")]
    expect_status: u16,
}

fn ok_status() -> u16 {
    200
}
