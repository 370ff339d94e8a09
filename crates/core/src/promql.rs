//! Instant queries against a Prometheus-compatible HTTP API (`/api/v1/query`), for hooks and
//! triggers: each series' value, or why there is none.

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// One series of an instant query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels, as JSON (`{}` for a scalar).
    pub series: String,
    /// Its value (NaN when Prometheus answered one or it could not be read).
    pub value: f64,
}

/// Evaluates `query` at `url` now. A query Prometheus rejects is [`ErrorKind::Config`]; an
/// unreachable server [`ErrorKind::Unreachable`]; an empty answer is `Ok` with no samples (which
/// callers treat as unknown, never as zero).
pub async fn instant(client: &reqwest::Client, url: &str, query: &str) -> Result<Vec<Sample>> {
    let endpoint = format!("{}/api/v1/query", url.trim_end_matches('/'));
    let resp = client
        .get(&endpoint)
        .query(&[("query", query)])
        .send()
        .await
        .map_err(|e| {
            Error::new(
                ErrorKind::Unreachable,
                format!(
                    "Prometheus {}: {}",
                    crate::redact::redact_credentials(&endpoint),
                    e.without_url()
                ),
            )
        })?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.map_err(|e| {
        Error::new(
            ErrorKind::Provider,
            format!("Prometheus answered {status} with a body that is not JSON: {e}"),
        )
    })?;
    if body["status"] != "success" {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "Prometheus rejected the query ({status}): {}",
                body["error"].as_str().unwrap_or("no error text")
            ),
        ));
    }
    let value = |v: &Value| -> f64 {
        v.get(1)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    let data = &body["data"];
    Ok(match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| Sample {
                        series: r["metric"].to_string(),
                        value: value(&r["value"]),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Some("scalar") => vec![Sample {
            series: "{}".into(),
            value: value(&data["result"]),
        }],
        other => {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "the query gives a {}, not an instant vector or scalar",
                    other.unwrap_or("nothing")
                ),
            ))
        }
    })
}
