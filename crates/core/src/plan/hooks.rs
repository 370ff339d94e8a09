//! Steps of the user's own (`[[hooks]]`): a command, an HTTP call, a Prometheus condition held for a
//! window, or an operator's approval, placed before or after a built-in step of a phase.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use super::{raw::RawHook, Escalation};
use crate::{
    duration::{format_duration, parse_duration},
    error::{Error, Result},
    incident::IncidentClass,
};

/// The half of an operation a hook belongs to (a drill runs both).
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
pub enum HookPhase {
    /// The failover (and a drill's failover half).
    Failover,
    /// The failback (and a drill's failback half).
    Failback,
}

impl HookPhase {
    /// Its name in plans.
    pub fn as_str(self) -> &'static str {
        match self {
            HookPhase::Failover => "failover",
            HookPhase::Failback => "failback",
        }
    }
}

/// Where a hook runs: before or after a step (a built-in step id without a drill's phase prefix,
/// or an earlier hook's name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HookAnchor {
    /// Runs after the step's dependencies, and the step waits for it.
    Before(String),
    /// Runs after the step, and what followed the step waits for it.
    After(String),
}

impl HookAnchor {
    /// The step or hook it names.
    pub fn target(&self) -> &str {
        match self {
            HookAnchor::Before(s) | HookAnchor::After(s) => s,
        }
    }
}

/// What an approval hook decides when nobody answers within its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalDefault {
    /// Go on.
    Approve,
    /// Fail the step (the run stops, resumable).
    Reject,
}

/// Which way a Prometheus value must lie.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// Strictly below.
    Below(f64),
    /// Strictly above.
    Above(f64),
}

impl Bound {
    /// True when `v` lies on the good side (NaN never does).
    pub fn holds(self, v: f64) -> bool {
        match self {
            Bound::Below(b) => v < b,
            Bound::Above(b) => v > b,
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Below(b) => write!(f, "< {b}"),
            Bound::Above(b) => write!(f, "> {b}"),
        }
    }
}

/// What a hook does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum HookAction {
    /// Runs a program; success is exit status 0 (and `expect_stdout` in its output, if given).
    Command {
        /// Program and arguments (no shell).
        argv: Vec<String>,
        /// Environment added to aegis-dr's own.
        env: BTreeMap<String, String>,
        /// Variables of aegis-dr's environment passed on whose values are secrets: replaced by
        /// `[redacted]` in the captured output.
        secret_env: Vec<String>,
        /// Working directory (relative paths start at the plan file's folder).
        workdir: Option<String>,
        /// Text the standard output must contain (`"zero conflicts"`).
        expect_stdout: Option<String>,
    },
    /// Sends an HTTP request; success is the expected status and JSON fields.
    Http {
        /// Method (`GET`, `POST`, ...).
        method: String,
        /// URL.
        url: String,
        /// Extra request headers, sent as written.
        headers: BTreeMap<String, String>,
        /// Headers whose values are read from an environment variable (header → variable), never
        /// shown.
        secret_headers: BTreeMap<String, String>,
        /// Request body.
        body: Option<String>,
        /// Status meaning success.
        expect_status: u16,
        /// Fields the JSON answer must carry, with these values.
        expect_json: BTreeMap<String, serde_json::Value>,
    },
    /// A PromQL query whose every series must hold the bound at each evaluation for `window`
    /// without a break; no data breaks it (unknown is never healthy).
    Prometheus {
        /// Prometheus base URL (`http://prometheus:9090`).
        url: String,
        /// The query.
        query: String,
        /// The bound.
        bound: Bound,
        /// How long it must hold.
        window: Duration,
        /// Time between evaluations.
        interval: Duration,
    },
    /// Waits for `aegis-dr approve RUN_ID` or `reject`.
    Approval {
        /// What the approver is asked.
        message: String,
        /// The decision when the timeout passes unanswered.
        default: ApprovalDefault,
    },
}

impl HookAction {
    /// Its type's name in plans.
    pub fn type_name(&self) -> &'static str {
        match self {
            HookAction::Command { .. } => "command",
            HookAction::Http { .. } => "http",
            HookAction::Prometheus { .. } => "prometheus",
            HookAction::Approval { .. } => "approval",
        }
    }
}

/// A step of the user's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookSpec {
    /// Name (its step id is `hook.<name>`).
    pub name: String,
    /// The phases it runs in.
    pub phases: Vec<HookPhase>,
    /// The classes it runs for (all when empty).
    pub classes: Vec<IncidentClass>,
    /// Where it runs.
    pub anchor: HookAnchor,
    /// Longest it may take.
    pub timeout: Duration,
    /// Its duration in the run's estimate.
    pub estimate: Duration,
    /// Skipping it needs `--force` (default true: a hook is there to check or to decide).
    pub safety: bool,
    /// Raised when it fails.
    pub escalate: Option<Escalation>,
    /// What it does.
    pub action: HookAction,
}

impl HookSpec {
    /// Its step id (without a drill's phase prefix).
    pub fn step_id(&self) -> String {
        format!("hook.{}", self.name)
    }

    /// True when it runs in `phase` of an operation of `class`.
    pub fn applies(&self, phase: HookPhase, class: IncidentClass) -> bool {
        self.phases.contains(&phase) && (self.classes.is_empty() || self.classes.contains(&class))
    }

    /// Its title in plans and reports.
    pub fn title(&self) -> String {
        match &self.action {
            HookAction::Command { argv, .. } => {
                format!("Hook `{}`: run {}", self.name, argv.join(" "))
            }
            HookAction::Http { method, url, .. } => format!(
                "Hook `{}`: {method} {}",
                self.name,
                crate::redact::redact_credentials(url)
            ),
            HookAction::Prometheus {
                query,
                bound,
                window,
                ..
            } => format!(
                "Hook `{}`: `{query}` {bound} for {}",
                self.name,
                format_duration(*window)
            ),
            HookAction::Approval { .. } => format!("Hook `{}`: operator approval", self.name),
        }
    }
}

fn toml_to_json(at: &str, k: &str, value: toml::Value) -> Result<serde_json::Value> {
    Ok(match value {
        toml::Value::String(s) => serde_json::Value::String(s),
        toml::Value::Integer(i) => serde_json::Value::from(i),
        toml::Value::Boolean(b) => serde_json::Value::Bool(b),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .ok_or_else(|| Error::config(format!("{at}.expect_json.{k}: not a finite number")))?,
        other => {
            let what = other.type_str();
            return Err(Error::config(format!(
                "{at}.expect_json.{k}: a {what}; an expected field is a string, number or boolean"
            )));
        }
    })
}

/// The expected JSON fields of a health endpoint or hook, checked.
pub(super) fn expect_json(
    at: &str,
    raw: BTreeMap<String, toml::Value>,
) -> Result<BTreeMap<String, serde_json::Value>> {
    raw.into_iter()
        .map(|(k, v)| Ok((k.clone(), toml_to_json(at, &k, v)?)))
        .collect()
}

fn duration(at: &str, field: &str, raw: Option<&str>, default: Duration) -> Result<Duration> {
    match raw {
        None => Ok(default),
        Some(t) => parse_duration(t).map_err(|e| Error::config(format!("{at}.{field}: {e}"))),
    }
}

/// Keys of a hook's table that only some types take, by type.
const TYPE_KEYS: &[(&str, &[&str])] = &[
    (
        "command",
        &["command", "env", "secret_env", "workdir", "expect_stdout"],
    ),
    (
        "http",
        &[
            "url",
            "method",
            "headers",
            "secret_headers",
            "body",
            "expect_status",
            "expect_json",
        ],
    ),
    (
        "prometheus",
        &["url", "query", "below", "above", "for", "interval"],
    ),
    ("approval", &["message", "default"]),
];

/// Checks one `[[hooks]]` entry (anchors are checked against the graphs later).
pub(super) fn hook(at: &str, h: RawHook) -> Result<HookSpec> {
    let name = h.name.get_ref().clone();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(Error::config(format!(
            "{at}.name: `{name}` must be lowercase letters, digits and `-`"
        )));
    }
    let allowed = TYPE_KEYS
        .iter()
        .find(|(t, _)| *t == h.kind)
        .map(|(_, keys)| *keys)
        .ok_or_else(|| {
            Error::config(format!(
                "{at}.type: `{}` is not a hook type (command, http, prometheus, approval)",
                h.kind
            ))
        })?;
    for key in h.set_keys() {
        if TYPE_KEYS.iter().any(|(_, ks)| ks.contains(&key)) && !allowed.contains(&key) {
            return Err(Error::config(format!(
                "{at}.{key}: not a key of a `{}` hook",
                h.kind
            )));
        }
    }
    let anchor = match (h.before, h.after) {
        (Some(b), None) => HookAnchor::Before(b),
        (None, Some(a)) => HookAnchor::After(a),
        _ => {
            return Err(Error::config(format!(
                "{at}: give exactly one of `before` or `after` (a step id such as `promote-dr-db`, or an earlier hook's name)"
            )))
        }
    };
    let phases = if h.phases.is_empty() {
        vec![HookPhase::Failover, HookPhase::Failback]
    } else {
        h.phases
    };
    let timeout = duration(
        at,
        "timeout",
        h.timeout.as_deref(),
        Duration::from_secs(300),
    )?;
    if timeout.is_zero() {
        return Err(Error::config(format!("{at}.timeout: must be more than 0")));
    }
    let url = |u: Option<String>| -> Result<String> {
        let u =
            u.ok_or_else(|| Error::config(format!("{at}.url: required for a `{}` hook", h.kind)))?;
        if u.starts_with("http://") || u.starts_with("https://") {
            Ok(u)
        } else {
            Err(Error::config(format!(
                "{at}.url: `{u}` must start with http:// or https://"
            )))
        }
    };
    let (action, default_estimate) = match h.kind.as_str() {
        "command" => {
            let argv = h.command.unwrap_or_default();
            if argv.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(Error::config(format!(
                    "{at}.command: the program and its arguments, e.g. [\"./aegis\", \"dr\", \"sync-from-dr\", \"--dry-run\"]"
                )));
            }
            for var in &h.secret_env {
                if var.is_empty() || var.contains('=') {
                    return Err(Error::config(format!(
                        "{at}.secret_env: `{var}` is not a variable name"
                    )));
                }
            }
            (
                HookAction::Command {
                    argv,
                    env: h.env,
                    secret_env: h.secret_env,
                    workdir: h.workdir,
                    expect_stdout: h.expect_stdout,
                },
                Duration::from_secs(30),
            )
        }
        "http" => {
            let method = h
                .method
                .unwrap_or_else(|| "GET".into())
                .to_ascii_uppercase();
            if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&method.as_str()) {
                return Err(Error::config(format!(
                    "{at}.method: `{method}` is not one of GET, POST, PUT, PATCH, DELETE, HEAD"
                )));
            }
            let expect_status = h.expect_status.unwrap_or(200);
            if !(100..=599).contains(&expect_status) {
                return Err(Error::config(format!(
                    "{at}.expect_status: {expect_status} is not an HTTP status"
                )));
            }
            (
                HookAction::Http {
                    method,
                    url: url(h.url)?,
                    headers: h.headers,
                    secret_headers: h.secret_headers,
                    body: h.body,
                    expect_status,
                    expect_json: expect_json(at, h.expect_json)?,
                },
                Duration::from_secs(1),
            )
        }
        "prometheus" => {
            let query = h.query.filter(|q| !q.trim().is_empty()).ok_or_else(|| {
                Error::config(format!("{at}.query: the PromQL query is required"))
            })?;
            let bound = match (h.below, h.above) {
                (Some(b), None) if b.is_finite() => Bound::Below(b),
                (None, Some(a)) if a.is_finite() => Bound::Above(a),
                _ => {
                    return Err(Error::config(format!(
                    "{at}: give exactly one finite `below` or `above` bound for the query's value"
                )))
                }
            };
            let window = duration(at, "for", h.window.as_deref(), Duration::ZERO)?;
            let interval = duration(
                at,
                "interval",
                h.interval.as_deref(),
                Duration::from_secs(15),
            )?;
            if interval.is_zero() {
                return Err(Error::config(format!("{at}.interval: must be more than 0")));
            }
            if window >= timeout {
                return Err(Error::config(format!(
                    "{at}.for: {} must be shorter than the hook's timeout of {}",
                    format_duration(window),
                    format_duration(timeout)
                )));
            }
            (
                HookAction::Prometheus {
                    url: url(h.url)?,
                    query,
                    bound,
                    window,
                    interval,
                },
                window,
            )
        }
        _ => {
            let default = match h.default.as_deref() {
                None | Some("reject") => ApprovalDefault::Reject,
                Some("approve") => ApprovalDefault::Approve,
                Some(o) => {
                    return Err(Error::config(format!(
                        "{at}.default: `{o}` is not `approve` or `reject`"
                    )))
                }
            };
            (
                HookAction::Approval {
                    message: h
                        .message
                        .unwrap_or_else(|| format!("approve hook `{name}` to go on")),
                    default,
                },
                Duration::from_secs(300),
            )
        }
    };
    let escalate = match h.escalate.as_deref() {
        None => None,
        Some(e) => Some(
            Escalation::ALL
                .into_iter()
                .find(|x| x.as_str() == e)
                .ok_or_else(|| {
                    let names: Vec<&str> = Escalation::ALL.iter().map(|x| x.as_str()).collect();
                    Error::config(format!(
                        "{at}.escalate: `{e}` is not an escalation ({})",
                        names.join(", ")
                    ))
                })?,
        ),
    };
    Ok(HookSpec {
        name,
        phases,
        classes: h.classes,
        anchor,
        timeout,
        estimate: duration(
            at,
            "estimate",
            h.estimate.as_deref(),
            default_estimate.min(timeout),
        )?,
        safety: h.safety.unwrap_or(true),
        escalate,
        action,
    })
}
