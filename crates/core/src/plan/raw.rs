//! The plan file as written: the raw TOML shape that validation turns into a [`super::Plan`].

use toml::Spanned;

use super::*;

/// An aegis-dr plan file: the estate (sites and resources), its recovery targets, and how to fail
/// it over and back. Unknown keys are errors.
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Plan")]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlan {
    /// `[plan]`: the plan's name. Required.
    pub(super) plan: RawPlanHeader,
    /// `[sites.primary]` and `[sites.dr]`: the two sites of the estate. Required, both.
    pub(super) sites: RawSites,
    /// `[targets.<class>]`: RTO, RPO and `on_failure` of an incident class (`region-outage`,
    /// `database-corruption`, `network-partition`, `compute-failure`). Default: the runbook's.
    #[serde(default)]
    pub(super) targets: BTreeMap<String, RawTargets>,
    /// `[[databases]]`: database pairs, each a primary instance and its replica at the DR site.
    /// Default: none.
    #[serde(default)]
    pub(super) databases: Vec<RawDatabase>,
    /// `[[dns_records]]`: DNS records switched from the primary's target to the DR site's.
    /// Default: none.
    #[serde(default)]
    pub(super) dns_records: Vec<RawDnsRecord>,
    /// `[[node_pools]]`: node pools resized between production and standby sizes. Default: none.
    #[serde(default)]
    pub(super) node_pools: Vec<RawNodePool>,
    /// `[[workloads]]`: Kubernetes workload groups scaled between production and standby
    /// replicas. Default: none.
    #[serde(default)]
    pub(super) workloads: Vec<RawWorkload>,
    /// `[[recovery_servers]]`: servers protected by a recovery service (AWS DRS source servers),
    /// all on one provider. Default: none.
    #[serde(default)]
    pub(super) recovery_servers: Vec<RawRecoveryServer>,
    /// `[[health_endpoints]]`: HTTP health endpoints of each site, probed by checks and
    /// verification. Default: none.
    #[serde(default)]
    pub(super) health_endpoints: Vec<RawHealthEndpoint>,
    /// `[checks]`: thresholds of the pre-failover checks. Default: each key's default.
    pub(super) checks: Option<CheckThresholds>,
    /// `[failback]`: failback settings. Default: each key's default.
    pub(super) failback: Option<FailbackSettings>,
    /// `[execution]`: concurrency, retries, polling and call timeouts of a run. Default: each
    /// key's default.
    pub(super) execution: Option<ExecutionSettings>,
    /// `[estimates]`: durations behind the plan's RTO estimate. Default: each key's default.
    pub(super) estimates: Option<Estimates>,
    /// `[[notifications]]`: where the run's messages (declaration, progress, resolution,
    /// escalations) are sent. Default: none.
    #[serde(default)]
    pub(super) notifications: Vec<NotificationSink>,
    /// `[escalations.<name>]`: the sinks and contact of an escalation (`rto-exceeded`,
    /// `data-integrity`, `dr-environment-unhealthy`, `both-sites-down`, `run-stopped`).
    /// Default: none (an escalation goes to every sink).
    #[serde(default)]
    pub(super) escalations: BTreeMap<String, EscalationRoute>,
    /// `[sim]`: the simulated estate (`provider = "sim"`). Default: each key's default.
    pub(super) sim: Option<SimSettings>,
    /// `[providers.<name>]`: plan-wide settings of a provider (`[providers.aws] profile = "prod"`),
    /// checked by that provider; a site's `[sites.<site>.<name>]` table overrides them.
    /// Default: none.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, BTreeMap<String, String>>")]
    pub(super) providers: BTreeMap<String, ProviderSettings>,
    /// `[fault_injection]`: faults injected around real providers' calls, to rehearse a run
    /// against errors. Default: none (no faults).
    pub(super) fault_injection: Option<FaultInjection>,
    /// `[[hooks]]`: steps of your own (a command, an HTTP call, a Prometheus condition or an
    /// approval) placed before or after a step. Default: none.
    #[serde(default)]
    pub(super) hooks: Vec<RawHook>,
    /// `[verification]`: how verification checks the serving site beyond the providers' answers.
    /// Default: each key's default.
    pub(super) verification: Option<RawVerification>,
    /// `[[triggers]]`: PromQL conditions on which `aegis-dr watch` declares an incident.
    /// Default: the runbook's three triggers for the primary site's region.
    #[serde(default)]
    pub(super) triggers: Vec<super::triggers::RawTrigger>,
    /// `[watch]`: settings of the DR controller, `aegis-dr watch`. Default: each key's default.
    pub(super) watch: Option<super::triggers::RawWatch>,
    /// `[state]`: where runs keep their journals, locks and reports. Default: the `.aegis` folder
    /// beside the plan.
    pub(super) state: Option<StateSettings>,
    /// `[discovery]`: the scope `aegis-dr init` read the estate in, so `drift` and `watch` read
    /// the same. Default: none (written by `init`).
    pub(super) discovery: Option<DiscoverySettings>,
}

/// How verification checks the serving site beyond the providers' own answers (`[verification]`).
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Verification")]
#[serde(deny_unknown_fields)]
pub(super) struct RawVerification {
    /// Resolver asked for every DNS record: `system`, `none`, `IP` (port 53) or `IP:PORT`.
    /// Default: `system` when a record is on a real provider, `none` when the simulated estate
    /// serves them all.
    pub(super) dns_resolver: Option<String>,
}

/// The plan's header (`[plan]`).
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "PlanHeader")]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlanHeader {
    /// Plan name: letters, digits, `-`, `_` and `.`, at most 100 characters; it names the run
    /// lock and appears in run folder paths. Required.
    pub(super) name: String,
}

/// The two sites (`[sites.primary]`, `[sites.dr]`); both are required.
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Sites")]
#[serde(deny_unknown_fields)]
pub(super) struct RawSites {
    /// `[sites.primary]`: the site that serves production in normal operation. Required.
    pub(super) primary: Option<RawSite>,
    /// `[sites.dr]`: the disaster-recovery site. Required.
    pub(super) dr: Option<RawSite>,
}

/// A site; its other keys are provider settings tables (`[sites.dr.aws]`), checked in validation
/// (serde cannot deny unknown fields beside a flattened map).
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Site")]
pub(super) struct RawSite {
    /// Provider serving the site's resources by default: `sim`, `aws`, `azure`, `gcp`, ...
    /// (lowercase letters, digits and `-`; not `kubernetes`). The two sites may differ. Required.
    pub(super) provider: String,
    /// Region (or location) of the site, e.g. `us-east-1`; must not be empty. Required.
    pub(super) region: String,
    /// Kubernetes cluster name of the site; the default `cluster` of its `[[node_pools]]`.
    /// Required on both sites when `[[workloads]]` are listed. Default: none.
    pub(super) cluster: Option<String>,
    /// Kubeconfig file of the site's cluster (relative paths start at the plan file's folder);
    /// with it or `context`, the site's workloads go through the Kubernetes API. Default: none.
    pub(super) kubeconfig: Option<String>,
    /// Context in the kubeconfig; with it or `kubeconfig`, the site's workloads go through the
    /// Kubernetes API. Default: the kubeconfig's current context.
    pub(super) context: Option<String>,
    /// A table per provider (`[sites.dr.aws] profile = "dr"`): that provider's settings for this
    /// site, over its plan-wide `[providers.<name>]` ones. Default: none.
    #[serde(flatten)]
    #[schemars(with = "BTreeMap<String, BTreeMap<String, String>>")]
    pub(super) other: BTreeMap<String, toml::Value>,
}

/// The recovery targets of one incident class (`[targets.<class>]`); keys left out keep the class's
/// defaults.
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Targets")]
#[serde(deny_unknown_fields)]
pub(super) struct RawTargets {
    /// Recovery time objective, a duration greater than zero (`"30m"`). Default: the class's
    /// (region-outage 30m, database-corruption 15m, network-partition 10m, compute-failure 20m).
    pub(super) rto: Option<String>,
    /// Recovery point objective, a duration (`"5m"`). Default: the class's (region-outage 5m,
    /// database-corruption 1m, network-partition 0s, compute-failure 2m).
    pub(super) rpo: Option<String>,
    /// What a failover of this class does when it stops midway: `stop` (stay where it is) or
    /// `rollback` (undo what it changed at once). Default: `stop`.
    pub(super) on_failure: Option<String>,
}

/// A database pair (`[[databases]]`): the writable primary and its replica at the DR site.
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Database")]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    /// Name of the pair in reports and errors; unique among `[[databases]]`. Required.
    #[schemars(with = "String")]
    pub(super) name: Spanned<String>,
    /// Provider holding both instances (`postgres` for a self-managed PostgreSQL pair). Default:
    /// the sites' provider; required when `sites.primary.provider` and `sites.dr.provider` differ.
    pub(super) provider: Option<String>,
    /// Provider identifier of the instance at the primary site; an instance belongs to one pair.
    /// Required.
    pub(super) primary: String,
    /// Provider identifier of the replica at the DR site; must differ from `primary`. Required.
    pub(super) dr: String,
    /// Database engine, informational (`postgres`, `mysql`, `aurora-postgresql`, ...).
    /// Default: none.
    pub(super) engine: Option<String>,
    /// Provider-specific options as string values (AWS: `failover`, `global_cluster`,
    /// `fence_parameter_group`; see the provider's documentation). Default: none.
    #[serde(default)]
    pub(super) options: BTreeMap<String, String>,
    /// Commands that make each instance replicate from the other again (`postgres` pairs
    /// only). Default: none.
    pub(super) rejoin: Option<super::rejoin::RawRejoin>,
}

/// A DNS record (`[[dns_records]]`) pointed at the serving site.
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "DnsRecord")]
#[serde(deny_unknown_fields)]
pub(super) struct RawDnsRecord {
    /// Fully-qualified record name, e.g. `api.aegis.io`; a name and type are unique in the plan
    /// (an `A` and an `AAAA` record may share a name). Required.
    #[schemars(with = "String")]
    pub(super) name: Spanned<String>,
    /// Provider serving the zone. Default: the primary site's provider.
    pub(super) provider: Option<String>,
    /// Hosted zone (name or id) holding the record. Required.
    pub(super) zone: String,
    /// Record type: `CNAME`, `A`, `AAAA` or `ALIAS` (any case). Default: `CNAME`.
    #[serde(rename = "type", default = "cname")]
    pub(super) record_type: String,
    /// Value while the primary serves: one host (`CNAME`, `ALIAS`, or a Route 53
    /// `alias:<zone>/<name>`), or for `A`/`AAAA` one address or a list (the whole record set).
    /// Required.
    pub(super) primary_target: super::RecordTargets,
    /// Value while the DR site serves, written like `primary_target`; shares no value with it.
    /// Required.
    pub(super) dr_target: super::RecordTargets,
    /// TTL in seconds kept in normal operation, 1 to 172800. Required.
    pub(super) ttl: u32,
    /// Provider id of the health check on the primary target, disabled on failover and enabled
    /// again on failback. Default: none.
    pub(super) health_check: Option<String>,
}

fn cname() -> String {
    "CNAME".into()
}

/// A node pool (`[[node_pools]]`: EKS node group, AKS node pool, GKE node pool) with its
/// production and standby sizes.
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "NodePool")]
#[serde(deny_unknown_fields)]
pub(super) struct RawNodePool {
    /// Provider identifier of the pool (the EKS node group, AKS or GKE node pool); unique per
    /// site. Required.
    #[schemars(with = "String")]
    pub(super) name: Spanned<String>,
    /// Provider serving the pool. Default: its site's provider.
    pub(super) provider: Option<String>,
    /// Site the pool belongs to: `primary` or `dr`. Required.
    pub(super) site: SiteRole,
    /// Cluster the pool belongs to. Default: its site's `cluster`; required when neither is set,
    /// unless `autoscaling_group` is.
    pub(super) cluster: Option<String>,
    /// Size `{ min, max, desired }` when the pool's site serves production. Required.
    pub(super) production: PoolSize,
    /// Size `{ min, max, desired }` when the pool's site is standby. Required.
    pub(super) standby: PoolSize,
    /// AWS only: the Auto Scaling group scaled directly instead of the EKS managed node group
    /// `name` (no `cluster` needed). Default: none.
    pub(super) autoscaling_group: Option<String>,
}

/// A group of Kubernetes workloads present at both sites (`[[workloads]]`); listing any needs
/// `cluster` on both sites.
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Workload")]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkload {
    /// Name of the group in reports; unique among `[[workloads]]`. Required.
    #[schemars(with = "String")]
    pub(super) name: Spanned<String>,
    /// Namespace of the workloads, the same at both sites. Required.
    pub(super) namespace: String,
    /// Kind of the workloads: `Deployment` or `StatefulSet`. Default: `Deployment`.
    #[serde(default = "deployment")]
    pub(super) kind: WorkloadKind,
    /// Names of the workloads (of `kind`, despite the key's name), each once; not with
    /// `selector`. Default: none (the workloads `selector` matches, else the whole namespace).
    #[serde(default)]
    pub(super) deployments: Vec<String>,
    /// Label selector of the workloads (`app=api,tier!=batch`); not with `deployments`.
    /// Default: none.
    pub(super) selector: Option<String>,
    /// Replicas of each workload when its site serves production, at least 1. Required.
    pub(super) production_replicas: u32,
    /// Replicas of each workload when its site is standby, at most `production_replicas`.
    /// Required.
    pub(super) standby_replicas: u32,
}

fn deployment() -> WorkloadKind {
    WorkloadKind::Deployment
}

/// A server protected by a recovery service (`[[recovery_servers]]`: an AWS DRS source server
/// and the like).
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "RecoveryServer")]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecoveryServer {
    /// Name of the server in reports; unique among `[[recovery_servers]]`. Required.
    #[schemars(with = "String")]
    pub(super) name: Spanned<String>,
    /// Provider of the recovery service; every recovery server is on the same one. Default: the
    /// DR site's provider.
    pub(super) provider: Option<String>,
    /// Provider identifier of the source server (AWS DRS: `s-...`); must not be empty. Required.
    pub(super) source_server_id: String,
}

/// An HTTP health endpoint of one site (`[[health_endpoints]]`).
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "HealthEndpoint")]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealthEndpoint {
    /// Name of the endpoint in reports; unique among `[[health_endpoints]]`. Required.
    #[schemars(with = "String")]
    pub(super) name: Spanned<String>,
    /// Provider that probes it. Default: its site's provider.
    pub(super) provider: Option<String>,
    /// Site it checks: `primary` or `dr`. Required.
    pub(super) site: SiteRole,
    /// URL probed, starting with `http://` or `https://`. Required.
    pub(super) url: String,
    /// HTTP status (100 to 599) that means healthy. Default: `200`.
    #[serde(default = "ok_status")]
    pub(super) expect_status: u16,
    /// Top-level fields the JSON body must carry, with these string, number or boolean values
    /// (`{ status = "healthy", region = "dr" }`); an absent field fails. Default: none.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub(super) expect_json: BTreeMap<String, toml::Value>,
}

fn ok_status() -> u16 {
    200
}

/// A step of your own (`[[hooks]]`), placed before or after a step of the failover or failback.
/// Besides the common keys, each `type` takes only its own keys.
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Hook")]
#[serde(deny_unknown_fields)]
pub(super) struct RawHook {
    /// Hook name: lowercase letters, digits and `-`, unique among `[[hooks]]`; its step id is
    /// `hook.<name>`. Required.
    #[schemars(with = "String")]
    pub(super) name: Spanned<String>,
    /// What the hook does: `command`, `http`, `prometheus` or `approval`. Required.
    #[serde(rename = "type")]
    pub(super) kind: String,
    /// Phases it runs in: `failover`, `failback` (a drill runs both). Default: both.
    #[serde(default)]
    pub(super) phases: Vec<super::hooks::HookPhase>,
    /// Incident classes it runs for (`region-outage`, ...). Default: all.
    #[serde(default)]
    pub(super) classes: Vec<IncidentClass>,
    /// Step it runs before: a step id as `aegis-dr plan` shows it (without a drill's `failover.`
    /// or `failback.` prefix) or an earlier hook's name. Exactly one of `before` and `after`.
    pub(super) before: Option<String>,
    /// Step it runs after, named like `before`; what waited for that step waits for the hook
    /// too. Exactly one of `before` and `after`.
    pub(super) after: Option<String>,
    /// Longest the hook may take, a duration greater than zero (`"10m"`). Default: `5m`.
    pub(super) timeout: Option<String>,
    /// Its duration in the run's estimate (`"2m"`). Default: `30s` for a command, `1s` for http,
    /// the `for` window for prometheus, `5m` for approval, at most its `timeout`.
    pub(super) estimate: Option<String>,
    /// Whether skipping the hook needs `--force`. Default: `true`.
    pub(super) safety: Option<bool>,
    /// Escalation raised when the hook fails: `rto-exceeded`, `data-integrity`,
    /// `dr-environment-unhealthy`, `both-sites-down` or `run-stopped`. Default: none.
    pub(super) escalate: Option<String>,
    // command
    /// `command` hooks: the program and its arguments, run without a shell (a relative program
    /// path containing `/` starts at `workdir`). Required for a command hook.
    pub(super) command: Option<Vec<String>>,
    /// `command` hooks: variables added to aegis-dr's environment for the program.
    /// Default: none.
    #[serde(default)]
    pub(super) env: BTreeMap<String, String>,
    /// `command` hooks: names of variables of aegis-dr's environment (each must be set) whose
    /// values are secrets, replaced by `[redacted]` in the captured output. Default: none.
    #[serde(default)]
    pub(super) secret_env: Vec<String>,
    /// `command` hooks: working folder; a relative one starts at the plan file's folder.
    /// Default: the plan file's folder.
    pub(super) workdir: Option<String>,
    /// `command` hooks: text the standard output must contain for success (`"zero conflicts"`).
    /// Default: none (exit status 0 suffices).
    pub(super) expect_stdout: Option<String>,
    // http and prometheus
    /// `http` hooks: the URL requested; `prometheus` hooks: the Prometheus base URL
    /// (`http://prometheus:9090`). Starts with `http://` or `https://`. Required for both.
    pub(super) url: Option<String>,
    /// `http` hooks: `GET`, `POST`, `PUT`, `PATCH`, `DELETE` or `HEAD` (any case); a `GET` or
    /// `HEAD` is repeated every `execution.poll_interval` until it succeeds or `timeout` passes,
    /// others are sent once. Default: `GET`.
    pub(super) method: Option<String>,
    /// `http` hooks: extra request headers, sent as written. Default: none.
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    /// `http` hooks: headers whose values are read from environment variables (header name to
    /// variable name), never shown. Default: none.
    #[serde(default)]
    pub(super) secret_headers: BTreeMap<String, String>,
    /// `http` hooks: the request body, sent as written. Default: none.
    pub(super) body: Option<String>,
    /// `http` hooks: HTTP status (100 to 599) that means success. Default: `200`.
    pub(super) expect_status: Option<u16>,
    /// `http` hooks: top-level fields the JSON answer must carry, with these string, number or
    /// boolean values (`{ status = "healthy" }`). Default: none.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub(super) expect_json: BTreeMap<String, toml::Value>,
    // prometheus
    /// `prometheus` hooks: the PromQL query; every series it returns must hold the bound.
    /// Required for a prometheus hook.
    pub(super) query: Option<String>,
    /// `prometheus` hooks: succeed while every value is strictly below this number. Exactly one
    /// of `below` and `above`.
    pub(super) below: Option<f64>,
    /// `prometheus` hooks: succeed while every value is strictly above this number. Exactly one
    /// of `below` and `above`.
    pub(super) above: Option<f64>,
    /// `prometheus` hooks: how long the bound must hold without a break (`"5m"`); shorter than
    /// `timeout`. Default: `0s`.
    #[serde(rename = "for")]
    pub(super) window: Option<String>,
    /// `prometheus` hooks: time between evaluations of the query, greater than zero (`"30s"`).
    /// Default: `15s`.
    pub(super) interval: Option<String>,
    // approval
    /// `approval` hooks: what the approver is asked. Default: "approve hook `NAME` to go on".
    pub(super) message: Option<String>,
    /// `approval` hooks: the decision when nobody answers within `timeout`: `approve` or
    /// `reject`. Default: `reject`.
    pub(super) default: Option<String>,
}

impl RawHook {
    /// The type-specific keys this entry sets.
    pub(super) fn set_keys(&self) -> Vec<&'static str> {
        [
            ("command", self.command.is_some()),
            ("env", !self.env.is_empty()),
            ("secret_env", !self.secret_env.is_empty()),
            ("workdir", self.workdir.is_some()),
            ("expect_stdout", self.expect_stdout.is_some()),
            ("url", self.url.is_some()),
            ("method", self.method.is_some()),
            ("headers", !self.headers.is_empty()),
            ("secret_headers", !self.secret_headers.is_empty()),
            ("body", self.body.is_some()),
            ("expect_status", self.expect_status.is_some()),
            ("expect_json", !self.expect_json.is_empty()),
            ("query", self.query.is_some()),
            ("below", self.below.is_some()),
            ("above", self.above.is_some()),
            ("for", self.window.is_some()),
            ("interval", self.interval.is_some()),
            ("message", self.message.is_some()),
            ("default", self.default.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| k)
        .collect()
    }
}
