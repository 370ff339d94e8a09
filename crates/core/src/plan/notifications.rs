//! Where a run's messages go: `[[notifications]]` sinks and their webhook formats.

use serde::{Deserialize, Serialize};

/// Where notifications go (`[[notifications]]`), by `kind`: `stdout`, `file` or `webhook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum NotificationSink {
    /// Printed to the terminal (stderr when the output is JSON).
    Stdout {
        /// Name of the sink, for the `notify` list of an `[escalations.<name>]` route.
        /// Default: none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Appended to a file.
    File {
        /// File the messages are appended to, one JSON line each (relative paths start at the
        /// plan file's folder); must not be empty. Required.
        path: String,
        /// Name of the sink, for the `notify` list of an `[escalations.<name>]` route.
        /// Default: none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// POSTed as JSON, in one of the [`WebhookFormat`]s. The URL (a secret: Slack and Teams URLs
    /// carry their token) is never written or printed whole; `url_env` keeps it out of the plan file.
    Webhook {
        /// URL receiving the POST, starting with `http://` or `https://`; exactly one of `url`
        /// and `url_env`. Default: none; a `pagerduty` sink with neither posts to the Events
        /// API v2 endpoint.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// Environment variable holding the URL, instead of `url` (keeps the secret out of the
        /// plan file). Default: none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_env: Option<String>,
        /// What the body looks like: `json`, `slack`, `teams` or `pagerduty`. Default: `json`.
        #[serde(default, skip_serializing_if = "WebhookFormat::is_json")]
        format: WebhookFormat,
        /// Environment variable holding the PagerDuty integration's routing key; required for a
        /// `pagerduty` sink, refused for the other formats. Default: none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        routing_key_env: Option<String>,
        /// Name of the sink, for the `notify` list of an `[escalations.<name>]` route.
        /// Default: none.
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

/// The body a webhook sink POSTs.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// aegis-dr's message as JSON (template, run, plan, text, fields).
    #[default]
    Json,
    /// A Slack incoming webhook: Block Kit blocks with a `text` fallback.
    Slack,
    /// A Microsoft Teams incoming webhook or workflow: an Adaptive Card.
    Teams,
    /// PagerDuty Events API v2: trigger at declaration and escalation, resolve at resolution, one
    /// dedup key per run; progress updates are not sent.
    Pagerduty,
}

impl WebhookFormat {
    /// True for the default format.
    pub fn is_json(&self) -> bool {
        *self == WebhookFormat::Json
    }
}
