//! Automated triggers (`[[triggers]]`) and the controller's settings (`[watch]`): PromQL conditions
//! that declare an incident, and what `aegis-dr watch` does about them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{hooks::Bound, ApprovalDefault, Site};
use crate::{
    duration::parse_duration,
    error::{Error, Result},
    incident::IncidentClass,
};

/// What a firing trigger does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerAction {
    /// Send the escalation (comms) and nothing else.
    Notify,
    /// Start a failover that waits for a person's approval first (`aegis-dr approve RUN_ID`).
    Approve,
    /// Fail over.
    Failover,
}

impl TriggerAction {
    /// Its name in plans.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerAction::Notify => "notify",
            TriggerAction::Approve => "approve",
            TriggerAction::Failover => "failover",
        }
    }
}

/// A condition that declares an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerSpec {
    /// The trigger's name, unique in the plan (metrics and journal name it).
    pub name: String,
    /// The PromQL query whose value is judged.
    pub query: String,
    /// Fires when a series' value is on this side (`below = 0.3`: fires below 0.3).
    pub fires: Bound,
    /// How long it must fire without a break before it acts.
    pub hold: Duration,
    /// The incident class it declares.
    pub class: IncidentClass,
    /// What it does.
    pub action: TriggerAction,
}

/// Leader election through a Kubernetes `Lease`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseSettings {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Kubeconfig (default: in-cluster, then `KUBECONFIG`/`~/.kube/config`).
    pub kubeconfig: Option<String>,
    /// Context in it.
    pub context: Option<String>,
    /// How long a lease holds without renewal.
    pub duration: Duration,
    /// How often the leader renews it.
    pub renew_every: Duration,
}

/// What `aegis-dr watch` does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchSettings {
    /// Prometheus (or compatible) base URL the triggers are evaluated against.
    pub prometheus: Option<String>,
    /// Time between evaluations.
    pub interval: Duration,
    /// Least time between two runs it starts.
    pub min_delay: Duration,
    /// Time between runs of the pre-failover checks.
    pub check_interval: Duration,
    /// A trigger unknown this long (Prometheus down, no data) is escalated.
    pub unknown_escalate_after: Duration,
    /// How long an `approve` trigger's run waits for a person.
    pub approve_timeout: Duration,
    /// What it decides when nobody answers.
    pub approve_default: ApprovalDefault,
    /// Address `/metrics` and `/healthz` are served on.
    pub listen: String,
    /// Leader election through a Lease (default: the state folder's lock).
    pub lease: Option<LeaseSettings>,
    /// The environment variable holding the bearer token of the approval callbacks
    /// (`POST /runs/RUN_ID/approve|reject` on `listen`); none: the callbacks are off.
    pub approval_token_env: Option<String>,
}

impl Default for WatchSettings {
    fn default() -> Self {
        WatchSettings {
            prometheus: None,
            interval: Duration::from_secs(15),
            min_delay: Duration::from_secs(3600),
            check_interval: Duration::from_secs(1800),
            unknown_escalate_after: Duration::from_secs(300),
            approve_timeout: Duration::from_secs(900),
            approve_default: ApprovalDefault::Reject,
            listen: "0.0.0.0:9464".into(),
            lease: None,
            approval_token_env: None,
        }
    }
}

/// Settings of the DR controller, `aegis-dr watch` (`[watch]`).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Watch")]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatch {
    /// Base URL of the Prometheus-compatible API the triggers are evaluated against, starting
    /// with `http://` or `https://`. Default: none.
    prometheus: Option<String>,
    /// Time between evaluations of the triggers, a duration greater than zero. Default: `15s`.
    interval: Option<String>,
    /// Least time between the starts of two runs the controller starts (`"1h"`). Default: `1h`.
    min_delay: Option<String>,
    /// Time between runs of the pre-failover checks by the leader, greater than zero.
    /// Default: `30m`.
    check_interval: Option<String>,
    /// How long a trigger may stay unknown (Prometheus unreachable, no data, NaN) before it is
    /// escalated. Default: `5m`.
    unknown_escalate_after: Option<String>,
    /// How long the run of an `approve` trigger waits for a person's approval, greater than
    /// zero. Default: `15m`.
    approve_timeout: Option<String>,
    /// The decision when nobody answers within `approve_timeout`: `approve` or `reject`.
    /// Default: `reject`.
    approve_default: Option<ApprovalDefault>,
    /// Address (`IP:PORT`) `/metrics`, `/healthz` and the approval callbacks are served on.
    /// Default: `0.0.0.0:9464`.
    listen: Option<String>,
    /// Leader election among replicas through a Kubernetes `Lease`. Default: none (the state's
    /// lock: a file lock in a folder, a lease object in a bucket).
    lease: Option<RawLease>,
    /// Environment variable holding the bearer token of the approval callbacks
    /// (`POST /runs/RUN_ID/approve` or `reject` on `listen`). Default: none (callbacks off).
    approval_token_env: Option<String>,
}

/// Leader election of `aegis-dr watch` replicas through a Kubernetes `coordination.k8s.io/v1`
/// Lease (`[watch] lease = { namespace, name }`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Lease")]
#[serde(deny_unknown_fields)]
struct RawLease {
    /// Namespace of the Lease; must not be empty. Required.
    namespace: String,
    /// Name of the Lease; must not be empty. Required.
    name: String,
    /// Kubeconfig file of the Lease's cluster. Default: the in-cluster configuration, then
    /// `KUBECONFIG` or `~/.kube/config`.
    kubeconfig: Option<String>,
    /// Context in the kubeconfig. Default: its current context.
    context: Option<String>,
    /// How long the lease holds without a renewal, greater than zero. Default: `15s`.
    duration: Option<String>,
    /// How often the leader renews the lease, shorter than `duration`. Default: a third of
    /// `duration`.
    renew_every: Option<String>,
}

/// A condition on which `aegis-dr watch` declares an incident (`[[triggers]]`): a PromQL query
/// whose value fires below or above a bound.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Trigger")]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrigger {
    /// Name of the trigger, unique among `[[triggers]]` (metrics and the journal name it).
    /// Required.
    name: String,
    /// The PromQL query evaluated against `watch.prometheus`. Required.
    query: String,
    /// Fires when a series' value is strictly below this number. Exactly one of `below` and
    /// `above`.
    below: Option<f64>,
    /// Fires when a series' value is strictly above this number. Exactly one of `below` and
    /// `above`.
    above: Option<f64>,
    /// How long it must fire at every evaluation, without a break, before it acts (`"2m"`).
    /// Default: `0s`.
    #[serde(rename = "for")]
    hold: Option<String>,
    /// Incident class it declares. Default: `region-outage`.
    class: Option<IncidentClass>,
    /// What it does when it fires: `notify`, `approve` or `failover`. Default: `approve`.
    action: Option<TriggerAction>,
}

fn duration(at: &str, raw: Option<&str>, default: Duration) -> Result<Duration> {
    match raw {
        None => Ok(default),
        Some(t) => parse_duration(t).map_err(|e| Error::config(format!("{at}: {e}"))),
    }
}

fn positive(at: &str, raw: Option<&str>, default: Duration) -> Result<Duration> {
    let d = duration(at, raw, default)?;
    if d.is_zero() {
        return Err(Error::config(format!("{at}: must be more than 0")));
    }
    Ok(d)
}

pub(super) fn watch(raw: Option<RawWatch>) -> Result<WatchSettings> {
    let raw = raw.unwrap_or_default();
    let d = WatchSettings::default();
    if let Some(u) = &raw.prometheus {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(Error::config(format!(
                "watch.prometheus: `{u}` must start with http:// or https://"
            )));
        }
    }
    let listen = raw.listen.unwrap_or(d.listen);
    if listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(Error::config(format!(
            "watch.listen: `{listen}` is not an IP:PORT address"
        )));
    }
    let lease = match raw.lease {
        None => None,
        Some(l) => {
            let duration = positive(
                "watch.lease.duration",
                l.duration.as_deref(),
                Duration::from_secs(15),
            )?;
            let renew_every = positive(
                "watch.lease.renew_every",
                l.renew_every.as_deref(),
                duration / 3,
            )?;
            if renew_every >= duration {
                return Err(Error::config(
                    "watch.lease.renew_every: must be shorter than watch.lease.duration",
                ));
            }
            if l.namespace.trim().is_empty() || l.name.trim().is_empty() {
                return Err(Error::config(
                    "watch.lease: namespace and name must not be empty",
                ));
            }
            Some(LeaseSettings {
                namespace: l.namespace,
                name: l.name,
                kubeconfig: l.kubeconfig,
                context: l.context,
                duration,
                renew_every,
            })
        }
    };
    Ok(WatchSettings {
        prometheus: raw.prometheus,
        interval: positive("watch.interval", raw.interval.as_deref(), d.interval)?,
        min_delay: duration("watch.min_delay", raw.min_delay.as_deref(), d.min_delay)?,
        check_interval: positive(
            "watch.check_interval",
            raw.check_interval.as_deref(),
            d.check_interval,
        )?,
        unknown_escalate_after: duration(
            "watch.unknown_escalate_after",
            raw.unknown_escalate_after.as_deref(),
            d.unknown_escalate_after,
        )?,
        approve_timeout: positive(
            "watch.approve_timeout",
            raw.approve_timeout.as_deref(),
            d.approve_timeout,
        )?,
        approve_default: raw.approve_default.unwrap_or(d.approve_default),
        listen,
        lease,
        approval_token_env: raw.approval_token_env,
    })
}

pub(super) fn triggers(raw: Vec<RawTrigger>) -> Result<Vec<TriggerSpec>> {
    let mut out: Vec<TriggerSpec> = Vec::new();
    for (i, t) in raw.into_iter().enumerate() {
        let at = format!("triggers[{i}] (`{}`)", t.name);
        if t.name.trim().is_empty() {
            return Err(Error::config(format!(
                "triggers[{i}].name: must not be empty"
            )));
        }
        if out.iter().any(|o| o.name == t.name) {
            return Err(Error::config(format!("{at}.name: duplicate trigger")));
        }
        if t.query.trim().is_empty() {
            return Err(Error::config(format!("{at}.query: must not be empty")));
        }
        let fires = match (t.below, t.above) {
            (Some(b), None) if b.is_finite() => Bound::Below(b),
            (None, Some(a)) if a.is_finite() => Bound::Above(a),
            _ => {
                return Err(Error::config(format!(
                    "{at}: give exactly one finite `below` or `above`: the side of the value on which it fires"
                )))
            }
        };
        out.push(TriggerSpec {
            hold: duration(&format!("{at}.for"), t.hold.as_deref(), Duration::ZERO)?,
            name: t.name,
            query: t.query,
            fires,
            class: t.class.unwrap_or(IncidentClass::RegionOutage),
            action: t.action.unwrap_or(TriggerAction::Approve),
        });
    }
    Ok(out)
}

/// The runbook's three conditions, for the primary site's region: health below 0.3 for 2 minutes
/// and more than 5 failed health checks in 5 minutes (region outage, failover after approval), and a
/// replication lag above 2 minutes (notify: failing over then would lose data).
pub fn default_triggers(primary: &Site) -> Vec<TriggerSpec> {
    let region = &primary.region;
    vec![
        TriggerSpec {
            name: "primary-health".into(),
            query: format!("avg(aegis_health_status{{region=\"{region}\"}})"),
            fires: Bound::Below(0.3),
            hold: Duration::from_secs(120),
            class: IncidentClass::RegionOutage,
            action: TriggerAction::Approve,
        },
        TriggerSpec {
            name: "health-check-failures".into(),
            query: format!(
                "sum(increase(aegis_health_check_failures_total{{region=\"{region}\"}}[5m]))"
            ),
            fires: Bound::Above(5.0),
            hold: Duration::ZERO,
            class: IncidentClass::RegionOutage,
            action: TriggerAction::Approve,
        },
        TriggerSpec {
            name: "replication-lag".into(),
            query: "max(aegis_db_replication_lag_seconds)".into(),
            fires: Bound::Above(120.0),
            hold: Duration::from_secs(120),
            class: IncidentClass::RegionOutage,
            action: TriggerAction::Notify,
        },
    ]
}
