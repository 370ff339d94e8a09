//! Google's official clients, bound once: credentials, endpoint override, the retry policy aegis-dr
//! wants, the one place their errors become [`aegis_dr_core::Error`]s, and the operation waits.

use std::{future::Future, time::Duration};

use aegis_dr_core::{
    clock::Clock,
    error::classify_http_status,
    retry::{poll_until, Poll, WaitPolicy},
    Error, ErrorKind, Result, RetryStatus,
};
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use google_cloud_gax::{
    error::rpc::{Code, StatusDetails},
    exponential_backoff::ExponentialBackoffBuilder,
    retry_policy::RetryPolicy,
    retry_result::RetryResult,
    retry_state::RetryState,
};

/// Which Google call failed, for error messages: what it was about and the IAM permission it needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// `Cloud SQL instance aegis-db`.
    pub what: &'a str,
    /// `cloudsql.instances.failover`.
    pub permission: &'a str,
}

/// aegis-dr's retry policy for Google's clients: throttling (429, `RESOURCE_EXHAUSTED`) is retried
/// for every call (the request was refused, not run), unavailability (503, `UNAVAILABLE`) and
/// connection failures only for idempotent ones; `attempts` in all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AegisRetry {
    pub attempts: u32,
}

fn throttled(e: &google_cloud_gax::error::Error) -> bool {
    e.http_status_code() == Some(429)
        || e.status()
            .is_some_and(|s| s.code == Code::ResourceExhausted)
}

fn unavailable(e: &google_cloud_gax::error::Error) -> bool {
    matches!(e.http_status_code(), Some(502..=504))
        || e.status().is_some_and(|s| s.code == Code::Unavailable)
        || e.is_connect()
        || e.is_io()
}

impl RetryPolicy for AegisRetry {
    fn on_error(&self, state: &RetryState, error: google_cloud_gax::error::Error) -> RetryResult {
        let retryable = throttled(&error) || (state.idempotent && unavailable(&error));
        if !retryable {
            RetryResult::Permanent(error)
        } else if state.attempt_count >= self.attempts {
            RetryResult::Exhausted(error)
        } else {
            RetryResult::Continue(error)
        }
    }
}

/// The converter of errors of the call about `what` that needs `permission`, for `map_err`.
pub(crate) fn on<'a>(
    what: &'a str,
    permission: &'a str,
) -> impl FnOnce(google_cloud_gax::error::Error) -> Error + 'a {
    move |e| convert(e, Call { what, permission })
}

/// Converts a Google client error at the boundary: semantic kind and retry status from the
/// canonical code (or the HTTP status), 403 naming the IAM permission the call needs.
fn convert(e: google_cloud_gax::error::Error, call: Call) -> Error {
    let what = call.what;
    if e.is_authentication() {
        return Error::new(
            ErrorKind::PermissionDenied,
            format!("{what}: no usable Google credentials: {}", source_chain(&e)),
        );
    }
    let Some(status) = e.status() else {
        if e.is_timeout() || e.is_connect() || e.is_io() {
            return Error::new(
                ErrorKind::Unreachable,
                format!("{what}: cannot reach the Google API: {}", source_chain(&e)),
            );
        }
        if let Some(code) = e.http_status_code() {
            let (kind, retry) = classify_http_status(code);
            return with_retry(
                Error::new(kind, format!("{what}: HTTP {code} from the Google API")),
                retry,
            );
        }
        return Error::new(ErrorKind::Provider, format!("{what}: {}", source_chain(&e)));
    };
    let http = e.http_status_code();
    let reason = status
        .details
        .iter()
        .find_map(|d| match d {
            StatusDetails::ErrorInfo(i) => Some(i.reason.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let msg = &status.message;
    let (kind, retry) = match (status.code, http) {
        (Code::PermissionDenied, _) | (_, Some(403)) => {
            let permission = status
                .details
                .iter()
                .find_map(|d| match d {
                    StatusDetails::ErrorInfo(i) => i.metadata.get("permission").cloned(),
                    _ => None,
                })
                .unwrap_or_else(|| call.permission.to_string());
            return Error::new(
                ErrorKind::PermissionDenied,
                format!("{what}: permission denied: the credentials lack IAM permission `{permission}` ({msg}); `aegis-dr permissions --provider gcp` prints the role"),
            );
        }
        (Code::Unauthenticated, _) | (_, Some(401)) => {
            (ErrorKind::PermissionDenied, RetryStatus::Permanent)
        }
        (Code::ResourceExhausted, _) | (_, Some(429)) => {
            (ErrorKind::Throttled, RetryStatus::Temporary)
        }
        (Code::Unavailable, _) | (_, Some(503 | 504)) => {
            (ErrorKind::Unreachable, RetryStatus::Temporary)
        }
        (Code::Aborted, _) | (_, Some(409)) => (ErrorKind::Conflict, RetryStatus::Temporary),
        (Code::NotFound, _) => (ErrorKind::NotFound, RetryStatus::Permanent),
        (Code::FailedPrecondition | Code::InvalidArgument, _) => {
            (ErrorKind::InvalidState, RetryStatus::Permanent)
        }
        (_, Some(code)) => classify_http_status(code),
        _ => (ErrorKind::Provider, RetryStatus::Permanent),
    };
    let reason = if reason.is_empty() {
        String::new()
    } else {
        format!(", {reason}")
    };
    let http = http.map(|h| format!(" {h}")).unwrap_or_default();
    with_retry(
        Error::new(
            kind,
            format!("{what}: {msg} ({}{http}{reason})", status.code.name()),
        ),
        retry,
    )
}

fn with_retry(e: Error, retry: RetryStatus) -> Error {
    match retry {
        RetryStatus::Temporary => e.temporary(),
        _ => e.permanent(),
    }
}

pub(crate) fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// True when Cloud SQL refused a change for a stale `settingsVersion` (another change landed
/// first): HTTP 412 (`staleData`, "Condition does not match."). Cloud SQL's answers carry no
/// canonical status and the client drops the legacy `reason`, so the HTTP status is what tells.
pub(crate) fn is_stale_settings(e: &google_cloud_gax::error::Error) -> bool {
    e.http_status_code() == Some(412)
}

/// What GKE refuses only for now: another operation holds the cluster (400
/// `FAILED_PRECONDITION`: "Cluster is running incompatible operation ...", "Operation ... is
/// currently upgrading cluster ... Please wait and try again once it is done.") or the cluster's
/// concurrent-operations quota is spent (429 "Too many operations"). Its message, to name it.
pub(crate) fn cluster_busy(e: &google_cloud_gax::error::Error) -> Option<String> {
    let s = e.status()?;
    let locked = s.code == Code::FailedPrecondition
        && (s.message.contains("incompatible operation")
            || s.message.contains("Please wait and try again"));
    let quota = s.code == Code::ResourceExhausted || e.http_status_code() == Some(429);
    (locked || quota).then(|| s.message.clone())
}

/// A Google operation that ended in failure, as the error of the wait on it.
pub(crate) fn op_failed(what: &str, message: &str) -> Error {
    Error::new(ErrorKind::Provider, format!("{what} failed: {message}"))
}

/// The Google clients and settings a plan needs.
#[derive(Clone)]
pub(crate) struct Google {
    pub credentials: Credentials,
    pub endpoint: Option<String>,
    pub attempts: u32,
    pub poll: Duration,
    /// The run's clock: operation waits sleep on it (virtual time in tests).
    pub clock: Clock,
    http: reqwest::Client,
}

impl std::fmt::Debug for Google {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Google")
            .field("endpoint", &self.endpoint)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Applies the common options of every Google client builder.
macro_rules! configure {
    ($g:expr, $builder:expr) => {{
        let mut b = $builder
            .with_credentials($g.credentials.clone())
            .with_retry_policy(AegisRetry {
                attempts: $g.attempts,
            })
            .with_backoff_policy($g.backoff()?);
        if let Some(e) = &$g.endpoint {
            b = b.with_endpoint(e.clone());
        }
        b.build().await.map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("Google client: {}", $crate::client::source_chain(&e)),
            )
        })?
    }};
}
pub(crate) use configure;

impl Google {
    pub(crate) fn new(
        credentials: Credentials,
        endpoint: Option<String>,
        attempts: u32,
        poll: Duration,
        clock: Clock,
    ) -> Result<Google> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::new(ErrorKind::Provider, format!("HTTP client: {e}")))?;
        Ok(Google {
            credentials,
            endpoint,
            attempts,
            poll,
            clock,
            http,
        })
    }

    /// Polls a Google operation every poll interval until it is done, failed (its error surfaced)
    /// or `timeout` passed: core's one wait ([`poll_until`]), on the run's clock.
    pub(crate) async fn wait<T, F, Fut>(&self, what: &str, timeout: Duration, poll: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Poll<T>>>,
    {
        let wait = WaitPolicy {
            initial: self.poll,
            max: self.poll,
            deadline_ms: self
                .clock
                .now_ms()
                .saturating_add(timeout.as_millis() as u64),
        };
        poll_until(&self.clock, wait, what, poll).await
    }

    /// Backoff between retried attempts: a tenth of the poll interval at first, at most 10 s.
    pub(crate) fn backoff(
        &self,
    ) -> Result<google_cloud_gax::exponential_backoff::ExponentialBackoff> {
        ExponentialBackoffBuilder::new()
            .with_initial_delay((self.poll / 10).max(Duration::from_millis(10)))
            .with_maximum_delay(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::new(ErrorKind::Config, format!("retry backoff: {e}")))
    }

    /// A GET of a Google REST API by hand, with the clients' credentials and retry rules (for the
    /// two calls whose official crates would cost more to build than the call: Compute's
    /// `instanceGroupManagers.get` and Cloud Monitoring's `timeSeries.list`). With an endpoint
    /// override the URL's scheme and host are replaced by it (`https://www.googleapis.com/compute/v1/...`
    /// becomes `{endpoint}/compute/v1/...`).
    pub(crate) async fn rest_get(
        &self,
        url: &str,
        query: &[(&str, String)],
        call: Call<'_>,
    ) -> Result<serde_json::Value> {
        let url = match (&self.endpoint, url.find("://")) {
            (Some(e), Some(i)) => {
                let path = url[i + 3..].find('/').map_or("", |j| &url[i + 3 + j..]);
                format!("{e}{path}")
            }
            _ => url.to_string(),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let headers = match self.credentials.headers(http::Extensions::new()).await {
                Ok(CacheableResource::New { data, .. }) => data,
                Ok(CacheableResource::NotModified) => http::HeaderMap::new(),
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::PermissionDenied,
                        format!("{}: no usable Google credentials: {e}", call.what),
                    ))
                }
            };
            let mut req = self.http.get(&url).query(query);
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_bytes());
            }
            let res = req.send().await;
            let err = match res {
                Ok(r) if r.status().is_success() => {
                    return r.json().await.map_err(|e| {
                        Error::new(
                            ErrorKind::Provider,
                            format!("{}: unreadable answer: {e}", call.what),
                        )
                    })
                }
                Ok(r) => {
                    let code = r.status().as_u16();
                    let body: serde_json::Value = r.json().await.unwrap_or_default();
                    rest_error(code, &body, call)
                }
                Err(e) => Error::new(
                    ErrorKind::Unreachable,
                    format!(
                        "{}: cannot reach the Compute API: {}",
                        call.what,
                        source_chain(&e)
                    ),
                ),
            };
            if !err.is_retryable() || attempt >= self.attempts {
                return Err(err);
            }
            self.clock.sleep(self.poll / 10).await;
        }
    }
}

/// A REST error answer as an [`Error`], through the same table as the official clients' ones.
fn rest_error(code: u16, body: &serde_json::Value, call: Call) -> Error {
    let msg = body["error"]["message"].as_str().unwrap_or("no message");
    if code == 403 {
        let permission = body["error"]["details"][0]["metadata"]["permission"]
            .as_str()
            .unwrap_or(call.permission);
        return Error::new(
            ErrorKind::PermissionDenied,
            format!("{}: permission denied: the credentials lack IAM permission `{permission}` ({msg}); `aegis-dr permissions --provider gcp` prints the role", call.what),
        );
    }
    let (kind, retry) = match code {
        503 | 504 => (ErrorKind::Unreachable, RetryStatus::Temporary),
        c => classify_http_status(c),
    };
    with_retry(
        Error::new(kind, format!("{}: {msg} (HTTP {code})", call.what)),
        retry,
    )
}
