//! Health probes over plain HTTP, for sites on real clouds.

use std::time::Duration;

use async_trait::async_trait;

use crate::{
    error::{Error, ErrorKind, Result},
    plan::SiteRole,
    provider::{HealthProbe, HealthReport, ProbeRequest},
};

/// Probes endpoints with `GET`. The status code and the fields a plan expects of a JSON body are the
/// verdict; the body may add the optional figures `in_flight` (requests in flight), `error_rate`
/// (0..1) and `healthy_for_seconds`.
/// Data-integrity verification needs the application's help and is not offered
/// (`Capabilities::integrity_check` is false for providers that use this probe).
#[derive(Debug, Clone)]
pub struct HttpHealthProbe {
    http: reqwest::Client,
}

impl HttpHealthProbe {
    /// A probe whose requests time out after `timeout`.
    pub fn new(timeout: Duration) -> Result<HttpHealthProbe> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| Error::new(ErrorKind::Config, format!("HTTP client: {e}")))?;
        Ok(HttpHealthProbe { http })
    }
}

#[async_trait]
impl HealthProbe for HttpHealthProbe {
    async fn probe(&self, req: &ProbeRequest) -> Result<HealthReport> {
        let resp = self.http.get(&req.url).send().await.map_err(|e| {
            Error::new(
                ErrorKind::Unreachable,
                format!("GET {} failed: {e}", req.url),
            )
            .with_resource(req.name.clone())
        })?;
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
        Ok(HealthReport {
            status,
            in_flight: body.get("in_flight").and_then(|v| v.as_u64()),
            error_rate: body.get("error_rate").and_then(|v| v.as_f64()),
            healthy_for: body
                .get("healthy_for_seconds")
                .and_then(|v| v.as_f64())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64),
            fields: match body {
                serde_json::Value::Object(m) => m.into_iter().collect(),
                _ => Default::default(),
            },
        })
    }

    async fn verify_integrity(&self, site: SiteRole, database: &str) -> Result<()> {
        Err(Error::new(
            ErrorKind::Unsupported,
            format!("no data-integrity probe for database `{database}` at the {site} site over plain HTTP"),
        ))
    }
}
