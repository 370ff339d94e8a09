//! Communication templates (initial notification, progress update, resolution notice, escalation)
//! rendered from run state and sent to stdout, a file or a webhook (in the formats of `formats.rs`).

mod formats;

pub use crate::redact::{redact_credentials, redact_url};
pub use formats::{dedup_key, PAGERDUTY_EVENTS_URL};

use std::{io::Write, path::PathBuf, time::Duration};

use serde::Serialize;

use crate::plan::{NotificationSink, WebhookFormat};

/// Which template a message uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    /// T+0: the operation is declared.
    Initial,
    /// A milestone was reached.
    Progress,
    /// The operation ended.
    Resolution,
    /// Something needs a human: RTO exceeded, data integrity failure.
    Escalation,
}

impl Template {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Template::Initial => "initial",
            Template::Progress => "progress",
            Template::Resolution => "resolution",
            Template::Escalation => "escalation",
        }
    }
}

pub use crate::plan::Escalation;

/// A rendered message.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// Which message this is (run started, step failed, ...).
    pub template: Template,
    /// Run id.
    pub run_id: String,
    /// Plan name.
    pub plan: String,
    /// The run's operation: `failover`, `failback`, `drill` or `rollback`.
    pub operation: String,
    /// Incident class.
    pub class: String,
    /// The human text (Slack-compatible `text`).
    pub text: String,
    /// Structured fields.
    pub fields: serde_json::Value,
}

fn env_value(var: &str, what: &str) -> Result<String, String> {
    std::env::var(var).map_err(|_| format!("environment variable {var} ({what}) is not set"))
}

/// The URL a webhook sink posts to: `url`, else the variable `url_env` names, else PagerDuty's
/// Events API for that format; the error says what is missing.
pub fn sink_url(
    url: Option<&str>,
    url_env: Option<&str>,
    format: WebhookFormat,
) -> Result<String, String> {
    match (url, url_env, format) {
        (Some(u), _, _) => Ok(u.to_string()),
        (None, Some(var), _) => env_value(var, "url_env"),
        (None, None, WebhookFormat::Pagerduty) => Ok(PAGERDUTY_EVENTS_URL.into()),
        (None, None, _) => Err("no url".to_string()),
    }
}

/// Writes the `stdout` sink's lines where a live terminal display expects them (it clears its own
/// lines first, so a message never lands inside a progress bar).
pub type Printer = std::sync::Arc<dyn Fn(&str) -> std::io::Result<()> + Send + Sync>;

/// Sends messages to the plan's sinks.
#[derive(Clone)]
pub struct Notifier {
    sinks: Vec<NotificationSink>,
    base_dir: PathBuf,
    stdout_is_data: bool,
    http: Option<reqwest::Client>,
    printer: Option<Printer>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("sinks", &self.sinks.len())
            .field("base_dir", &self.base_dir)
            .field("stdout_is_data", &self.stdout_is_data)
            .field("printer", &self.printer.is_some())
            .finish()
    }
}

impl Notifier {
    /// A notifier for `sinks`; file paths are relative to `base_dir`; when `stdout_is_data` the
    /// stdout sink writes to stderr so that stdout stays one JSON document.
    pub fn new(sinks: Vec<NotificationSink>, base_dir: PathBuf, stdout_is_data: bool) -> Notifier {
        let needs_http = sinks
            .iter()
            .any(|s| matches!(s, NotificationSink::Webhook { .. }));
        let http = needs_http
            .then(|| {
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .ok()
            })
            .flatten();
        Notifier {
            sinks,
            base_dir,
            stdout_is_data,
            http,
            printer: None,
        }
    }

    /// The `stdout` sink writes its lines through `printer` (a live terminal display's).
    pub fn with_printer(mut self, printer: Printer) -> Notifier {
        self.printer = Some(printer);
        self
    }

    /// A notifier that sends nothing.
    pub fn none() -> Notifier {
        Notifier {
            sinks: Vec::new(),
            base_dir: PathBuf::from("."),
            stdout_is_data: false,
            http: None,
            printer: None,
        }
    }

    /// Sends to every sink; returns per sink its description and the error, if any. Never fails.
    pub async fn send(&self, msg: &Message) -> Vec<(String, Option<String>)> {
        self.send_to(msg, &[]).await
    }

    /// Sends to the sinks named in `names` (every sink when empty); as [`Notifier::send`].
    pub async fn send_to(&self, msg: &Message, names: &[String]) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        let chosen = self
            .sinks
            .iter()
            .filter(|s| names.is_empty() || s.name().is_some_and(|n| names.iter().any(|x| x == n)));
        for sink in chosen {
            let (desc, res) = match sink {
                NotificationSink::Stdout { .. } => {
                    let line = format!("{}\n", msg.text);
                    let res = if let Some(p) = &self.printer {
                        p(&line)
                    } else if self.stdout_is_data {
                        std::io::stderr().write_all(line.as_bytes())
                    } else {
                        std::io::stdout().write_all(line.as_bytes())
                    };
                    ("stdout".to_string(), res.map_err(|e| e.to_string()))
                }
                NotificationSink::File { path, .. } => {
                    let p = self.base_dir.join(path);
                    let res = (|| -> std::io::Result<()> {
                        if let Some(d) = p.parent() {
                            std::fs::create_dir_all(d)?;
                        }
                        let mut f = std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&p)?;
                        let line = serde_json::to_string(msg).map_err(std::io::Error::other)?;
                        writeln!(f, "{line}")
                    })();
                    (
                        format!("file:{}", p.display()),
                        res.map_err(|e| e.to_string()),
                    )
                }
                NotificationSink::Webhook {
                    url,
                    url_env,
                    format,
                    routing_key_env,
                    ..
                } => {
                    let resolved = sink_url(url.as_deref(), url_env.as_deref(), *format);
                    let kind = match format {
                        WebhookFormat::Json => "webhook".to_string(),
                        f => format!("webhook[{}]", serde_json::json!(f).as_str().unwrap_or("?")),
                    };
                    let desc = match (&resolved, url_env) {
                        (Ok(u), None) => format!("{kind}:{}", redact_url(u)),
                        (Ok(u), Some(var)) => format!("{kind}:{} (${var})", redact_url(u)),
                        (Err(_), Some(var)) => format!("{kind}:${var}"),
                        (Err(_), None) => kind,
                    };
                    let key = match routing_key_env {
                        Some(var) => env_value(var, "routing_key_env").map(Some),
                        None => Ok(None),
                    };
                    let res = match (resolved, key) {
                        (Ok(u), Ok(key)) => match formats::body(*format, msg, key.as_deref()) {
                            Some(body) => self.post(&u, &body).await,
                            // Nothing in this format for the template: not sent, not an error.
                            None => {
                                out.push((
                                    format!(
                                        "{desc} (not sent: this format has no event for a {} message)",
                                        msg.template.as_str()
                                    ),
                                    None,
                                ));
                                continue;
                            }
                        },
                        (Err(e), _) | (_, Err(e)) => Err(e),
                    };
                    (desc, res)
                }
            };
            out.push((desc, res.err()));
        }
        out
    }

    async fn post(&self, url: &str, body: &serde_json::Value) -> Result<(), String> {
        let Some(http) = &self.http else {
            return Err("HTTP client could not be built".into());
        };
        let resp = http
            .post(url)
            .json(body)
            .send()
            .await
            // The error's text would carry the URL: its token must not reach the journal.
            .map_err(|e| {
                let e = e.without_url();
                let mut text = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(c) = src {
                    text.push_str(&format!(": {c}"));
                    src = c.source();
                }
                format!("POST failed: {text} ({})", redact_url(url))
            })?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("webhook answered {}", resp.status()))
        }
    }
}
