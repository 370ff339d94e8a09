//! The plan file as written: the raw TOML shape that validation turns into a [`super::Plan`].

use toml::Spanned;

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlan {
    pub(super) plan: RawPlanHeader,
    pub(super) sites: RawSites,
    #[serde(default)]
    pub(super) targets: BTreeMap<String, RawTargets>,
    #[serde(default)]
    pub(super) databases: Vec<RawDatabase>,
    #[serde(default)]
    pub(super) dns_records: Vec<RawDnsRecord>,
    #[serde(default)]
    pub(super) node_pools: Vec<RawNodePool>,
    #[serde(default)]
    pub(super) workloads: Vec<RawWorkload>,
    #[serde(default)]
    pub(super) recovery_servers: Vec<RawRecoveryServer>,
    #[serde(default)]
    pub(super) health_endpoints: Vec<RawHealthEndpoint>,
    pub(super) checks: Option<CheckThresholds>,
    pub(super) failback: Option<FailbackSettings>,
    pub(super) execution: Option<ExecutionSettings>,
    pub(super) estimates: Option<Estimates>,
    #[serde(default)]
    pub(super) notifications: Vec<NotificationSink>,
    #[serde(default)]
    pub(super) escalations: BTreeMap<String, EscalationRoute>,
    pub(super) sim: Option<SimSettings>,
    #[serde(default)]
    pub(super) providers: BTreeMap<String, ProviderSettings>,
    pub(super) fault_injection: Option<FaultInjection>,
    #[serde(default)]
    pub(super) hooks: Vec<RawHook>,
    pub(super) verification: Option<RawVerification>,
    #[serde(default)]
    pub(super) triggers: Vec<super::triggers::RawTrigger>,
    pub(super) watch: Option<super::triggers::RawWatch>,
    pub(super) state: Option<StateSettings>,
    pub(super) discovery: Option<DiscoverySettings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVerification {
    pub(super) dns_resolver: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlanHeader {
    pub(super) name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSites {
    pub(super) primary: Option<RawSite>,
    pub(super) dr: Option<RawSite>,
}

/// A site; its other keys are provider settings tables (`[sites.dr.aws]`), checked in validation
/// (serde cannot deny unknown fields beside a flattened map).
#[derive(Deserialize)]
pub(super) struct RawSite {
    pub(super) provider: String,
    pub(super) region: String,
    pub(super) cluster: Option<String>,
    pub(super) kubeconfig: Option<String>,
    pub(super) context: Option<String>,
    #[serde(flatten)]
    pub(super) other: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTargets {
    pub(super) rto: Option<String>,
    pub(super) rpo: Option<String>,
    pub(super) on_failure: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    pub(super) name: Spanned<String>,
    pub(super) provider: Option<String>,
    pub(super) primary: String,
    pub(super) dr: String,
    pub(super) engine: Option<String>,
    #[serde(default)]
    pub(super) options: BTreeMap<String, String>,
    pub(super) rejoin: Option<super::rejoin::RawRejoin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDnsRecord {
    pub(super) name: Spanned<String>,
    pub(super) provider: Option<String>,
    pub(super) zone: String,
    #[serde(rename = "type", default = "cname")]
    pub(super) record_type: String,
    pub(super) primary_target: super::RecordTargets,
    pub(super) dr_target: super::RecordTargets,
    pub(super) ttl: u32,
    pub(super) health_check: Option<String>,
}

fn cname() -> String {
    "CNAME".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNodePool {
    pub(super) name: Spanned<String>,
    pub(super) provider: Option<String>,
    pub(super) site: SiteRole,
    pub(super) cluster: Option<String>,
    pub(super) production: PoolSize,
    pub(super) standby: PoolSize,
    pub(super) autoscaling_group: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkload {
    pub(super) name: Spanned<String>,
    pub(super) namespace: String,
    #[serde(default = "deployment")]
    pub(super) kind: WorkloadKind,
    #[serde(default)]
    pub(super) deployments: Vec<String>,
    pub(super) selector: Option<String>,
    pub(super) production_replicas: u32,
    pub(super) standby_replicas: u32,
}

fn deployment() -> WorkloadKind {
    WorkloadKind::Deployment
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecoveryServer {
    pub(super) name: Spanned<String>,
    pub(super) provider: Option<String>,
    pub(super) source_server_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealthEndpoint {
    pub(super) name: Spanned<String>,
    pub(super) provider: Option<String>,
    pub(super) site: SiteRole,
    pub(super) url: String,
    #[serde(default = "ok_status")]
    pub(super) expect_status: u16,
    #[serde(default)]
    pub(super) expect_json: BTreeMap<String, toml::Value>,
}

fn ok_status() -> u16 {
    200
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHook {
    pub(super) name: Spanned<String>,
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) phases: Vec<super::hooks::HookPhase>,
    #[serde(default)]
    pub(super) classes: Vec<IncidentClass>,
    pub(super) before: Option<String>,
    pub(super) after: Option<String>,
    pub(super) timeout: Option<String>,
    pub(super) estimate: Option<String>,
    pub(super) safety: Option<bool>,
    pub(super) escalate: Option<String>,
    // command
    pub(super) command: Option<Vec<String>>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) secret_env: Vec<String>,
    pub(super) workdir: Option<String>,
    pub(super) expect_stdout: Option<String>,
    // http and prometheus
    pub(super) url: Option<String>,
    pub(super) method: Option<String>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) secret_headers: BTreeMap<String, String>,
    pub(super) body: Option<String>,
    pub(super) expect_status: Option<u16>,
    #[serde(default)]
    pub(super) expect_json: BTreeMap<String, toml::Value>,
    // prometheus
    pub(super) query: Option<String>,
    pub(super) below: Option<f64>,
    pub(super) above: Option<f64>,
    #[serde(rename = "for")]
    pub(super) window: Option<String>,
    pub(super) interval: Option<String>,
    // approval
    pub(super) message: Option<String>,
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
