//! Health probes of a site's endpoints.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{error::Result, plan::SiteRole};

/// Probe one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRequest {
    /// Endpoint name.
    pub name: String,
    /// Site it belongs to.
    pub site: SiteRole,
    /// URL.
    pub url: String,
}

impl ProbeRequest {
    /// The probe of the plan's endpoint `h`.
    pub fn of(h: &crate::plan::HealthEndpointSpec) -> ProbeRequest {
        ProbeRequest {
            name: h.name.clone(),
            site: h.site,
            url: h.url.clone(),
        }
    }
}

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// HTTP status.
    pub status: u16,
    /// Requests still in flight, where the endpoint reports them.
    pub in_flight: Option<u64>,
    /// Recent error rate (0..1), where the endpoint reports it.
    pub error_rate: Option<f64>,
    /// How long the endpoint has been continuously healthy, where known.
    #[serde(with = "crate::duration::serde_human_opt", default)]
    pub healthy_for: Option<std::time::Duration>,
    /// The body's top-level fields, when it is a JSON object (`{"status":"healthy","region":"dr"}`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub fields: std::collections::BTreeMap<String, serde_json::Value>,
}

impl HealthReport {
    /// What is wrong with this answer of `endpoint`: a status other than expected, an expected
    /// body field absent or different (absent is never taken as matching). Empty when healthy.
    pub fn problems(&self, endpoint: &crate::plan::HealthEndpointSpec) -> Vec<String> {
        let (r, this) = (self, endpoint);
        let mut out = Vec::new();
        if r.status != this.expect_status {
            out.push(format!(
                "{} answers {} (expected {})",
                this.url, r.status, this.expect_status
            ));
        }
        for (k, want) in &this.expect_json {
            match r.fields.get(k) {
                Some(got) if got == want => {}
                Some(got) => out.push(format!(
                    "{}: body field `{k}` is {got}, expected {want}",
                    this.url
                )),
                None => out.push(format!(
                    "{}: body field `{k}` absent, expected {want}",
                    this.url
                )),
            }
        }
        out
    }
}

/// Health probing capability.
#[async_trait]
pub trait HealthProbe: Send + Sync + std::fmt::Debug {
    /// Probes an endpoint.
    async fn probe(&self, req: &ProbeRequest) -> Result<HealthReport>;
    /// Writes a marker through the serving database and reads it back from `site`'s endpoint:
    /// Ok when the data is consistent.
    async fn verify_integrity(&self, site: SiteRole, database: &str) -> Result<()>;
}
