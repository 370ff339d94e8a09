//! A small typed client of Azure Resource Manager: bearer tokens from a [`TokenSource`], ARM's error
//! body turned into [`aegis_dr_core::Error`]s (through the shared status table), `Retry-After`
//! honoured, and one long-running-operation poller that follows `Azure-AsyncOperation`, then
//! `Location`, then the resource's `provisioningState`, and never re-sends the request that started
//! the operation.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use aegis_dr_core::{
    clock::Clock,
    error::{classify_http_status, RetryStatus},
    retry::{poll_until, Poll, WaitPolicy},
    Error, ErrorKind, Result,
};
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::Value;

use crate::credential::TokenSource;

/// Longest `Retry-After` honoured before giving the error back to the caller's own retries.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// A started long-running operation: where to follow it.
struct Operation<'a> {
    path: &'a str,
    api: &'a str,
    resource: &'a str,
    async_op: Option<String>,
    location: Option<String>,
}

/// An ARM answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }
}

/// One Resource Manager endpoint and subscription, with its credentials.
#[derive(Debug, Clone)]
pub(crate) struct Arm {
    http: reqwest::Client,
    /// `https://management.azure.com` (no trailing slash).
    endpoint: String,
    scope: String,
    tokens: Arc<dyn TokenSource>,
    /// Attempts of a safe request (reads, idempotent writes) on 429/5xx/transport errors.
    attempts: u32,
    /// Pause between long-running-operation polls when the service gives no `Retry-After`.
    poll_interval: Duration,
    /// The run's clock: operation polls and retries sleep on it (virtual time in tests).
    clock: Clock,
}

impl Arm {
    pub(crate) fn new(
        http: reqwest::Client,
        endpoint: &str,
        scope: String,
        tokens: Arc<dyn TokenSource>,
        attempts: u32,
        clock: Clock,
    ) -> Arm {
        Arm {
            http,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            scope,
            tokens,
            attempts: attempts.max(1),
            poll_interval: Duration::from_secs(5),
            clock,
        }
    }

    /// Overrides the pause between operation polls (tests).
    pub(crate) fn with_poll_interval(mut self, d: Duration) -> Arm {
        self.poll_interval = d;
        self
    }

    /// GET `path` (an ARM resource id) at `api`.
    pub(crate) async fn get(&self, path: &str, api: &str) -> Result<Value> {
        Ok(self
            .send(Method::GET, path, api, None, None, true)
            .await?
            .body)
    }

    /// Every item of the ARM list `path` (a collection id) at `api`, page after page through
    /// `nextLink` (a link that repeats, or leaves the endpoint, ends the read with an error).
    pub(crate) async fn list(&self, path: &str, api: &str) -> Result<Vec<Value>> {
        let mut url = format!("{}{path}?api-version={api}", self.endpoint);
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        // Links stay on this endpoint (the token goes with them), never repeat, and end.
        let home = format!("{}/", self.endpoint);
        const MAX_PAGES: usize = 10_000;
        loop {
            let page = self
                .send_url(Method::GET, &url, None, None, true)
                .await?
                .body;
            match page["value"].as_array() {
                Some(items) => out.extend(items.iter().cloned()),
                None => {
                    return Err(Error::new(
                        ErrorKind::Provider,
                        format!("GET {path}: the answer has no `value` list"),
                    ))
                }
            }
            seen.insert(url.clone());
            match page["nextLink"].as_str().filter(|l| !l.is_empty()) {
                None => return Ok(out),
                Some(next)
                    if !next.starts_with(&home)
                        || seen.contains(next)
                        || seen.len() >= MAX_PAGES =>
                {
                    return Err(Error::new(
                        ErrorKind::Provider,
                        format!(
                            "GET {path}: nextLink `{next}` repeats a page or leaves {}",
                            self.endpoint
                        ),
                    ))
                }
                Some(next) => url = next.to_string(),
            }
        }
    }

    /// PATCH `path`: idempotent, so retried like a read. An answer that does not end the change
    /// at once (202, a long-running operation such as a SQL server update) is followed until the
    /// operation ends or `deadline` passes; the answer is then the resource as it now is.
    pub(crate) async fn patch(
        &self,
        path: &str,
        api: &str,
        body: &Value,
        deadline: Duration,
    ) -> Result<Value> {
        let started = self
            .send(Method::PATCH, path, api, Some(body), None, true)
            .await?;
        let what = format!("the operation started by PATCH {path}");
        self.poll(&what, path, api, started, deadline).await
    }

    /// PUT `path`, with `If-Match` when given.
    pub(crate) async fn put(
        &self,
        path: &str,
        api: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value> {
        Ok(self
            .send(Method::PUT, path, api, Some(body), if_match, true)
            .await?
            .body)
    }

    /// POST an action that starts a long-running operation, sent exactly once (only a 429, which
    /// means it was not accepted, is sent again), then polled until it ends or `deadline` passes.
    pub(crate) async fn post_action(
        &self,
        path: &str,
        api: &str,
        deadline: Duration,
    ) -> Result<Value> {
        let started = self
            .send(Method::POST, path, api, None, None, false)
            .await?;
        // The resource the action (`.../failover`) was posted on.
        let resource = path.rsplit_once('/').map_or(path, |p| p.0);
        let what = format!("the operation started by POST {path}");
        self.poll(&what, resource, api, started, deadline).await
    }

    /// Follows a started operation to its end through core's one wait ([`poll_until`]) on the
    /// run's clock: the first poll after the answer's `Retry-After`, each next one after the poll's.
    /// `what` names the operation in a timeout; `resource` is what it changes (read when the
    /// operation gives no other way to follow it, and at its end).
    async fn poll(
        &self,
        what: &str,
        resource: &str,
        api: &str,
        first: Answer,
        deadline: Duration,
    ) -> Result<Value> {
        if first.status != StatusCode::ACCEPTED && first.status != StatusCode::CREATED {
            return Ok(first.body);
        }
        let op = Operation {
            path: what,
            api,
            resource,
            async_op: first.header("azure-asyncoperation"),
            location: first.header("location"),
        };
        let wait = WaitPolicy {
            initial: self.poll_interval,
            max: self.poll_interval,
            deadline_ms: self
                .clock
                .now_ms()
                .saturating_add(u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX)),
        };
        let first_pause = self.retry_after(&first.headers);
        let accepted = AtomicBool::new(true);
        let (accepted, op) = (&accepted, &op);
        poll_until(&self.clock, wait, what, || async move {
            // Nothing to read before the service's first `Retry-After` has passed.
            if accepted.swap(false, Ordering::Relaxed) {
                return Ok(Poll::Pending {
                    seen: "202 Accepted".into(),
                    next: Some(first_pause),
                });
            }
            self.poll_once(op).await
        })
        .await
    }

    /// One look at a started operation: `Azure-AsyncOperation` first, then `Location`, then the
    /// resource's own `provisioningState`.
    async fn poll_once(&self, op: &Operation<'_>) -> Result<Poll<Value>> {
        if let Some(url) = &op.async_op {
            let a = self.send_url(Method::GET, url, None, None, true).await?;
            return Ok(match a.body["status"].as_str().unwrap_or_default() {
                // The final resource: from `Location` when given, else the resource itself.
                "Succeeded" => Poll::Ready(match &op.location {
                    Some(l) => self.send_url(Method::GET, l, None, None, true).await?.body,
                    None => self.get(op.resource, op.api).await?,
                }),
                "Failed" | "Canceled" => {
                    let code = a.body["error"]["code"]
                        .as_str()
                        .unwrap_or("OperationFailed");
                    let msg = a.body["error"]["message"].as_str().unwrap_or_default();
                    let kind = error_kind_of_code(code).unwrap_or(ErrorKind::Provider);
                    Poll::Failed(with_retry_of(
                        kind,
                        Error::new(kind, format!("{code}: {msg}")),
                    ))
                }
                "" => Poll::Pending {
                    seen: "status unknown (the operation's body names none)".into(),
                    next: Some(self.retry_after(&a.headers)),
                },
                s => Poll::Pending {
                    seen: format!("status {s}"),
                    next: Some(self.retry_after(&a.headers)),
                },
            });
        }
        if let Some(url) = &op.location {
            let a = self.send_url(Method::GET, url, None, None, true).await?;
            return Ok(if a.status == StatusCode::ACCEPTED {
                Poll::Pending {
                    seen: "202 Accepted at its Location".into(),
                    next: Some(self.retry_after(&a.headers)),
                }
            } else {
                Poll::Ready(a.body)
            });
        }
        // Neither header: the resource's own provisioningState tells.
        let body = self.get(op.resource, op.api).await?;
        Ok(match body["properties"]["provisioningState"].as_str() {
            Some("Succeeded") | None => Poll::Ready(body),
            Some(s @ ("Failed" | "Canceled")) => Poll::Failed(Error::new(
                ErrorKind::Provider,
                format!("{}: provisioningState {s}", op.path),
            )),
            Some(s) => Poll::Pending {
                seen: format!("provisioningState {s}"),
                next: Some(self.poll_interval),
            },
        })
    }

    /// The pause before the next operation poll: `Retry-After`, else the poll interval.
    fn retry_after(&self, headers: &HeaderMap) -> Duration {
        retry_after_header(headers)
            .unwrap_or(self.poll_interval)
            .max(Duration::from_millis(20))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        api: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        safe: bool,
    ) -> Result<Answer> {
        let url = format!("{}{path}?api-version={api}", self.endpoint);
        self.send_url(method, &url, body, if_match, safe).await
    }

    async fn send_url(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        safe: bool,
    ) -> Result<Answer> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.tokens.token(&self.scope).await?;
            let mut req = self.http.request(method.clone(), url).bearer_auth(token);
            if let Some(b) = body {
                req = req.json(b);
            }
            if let Some(m) = if_match {
                req = req.header("if-match", m);
            }
            let err = match req.send().await {
                Ok(rsp) => {
                    let status = rsp.status();
                    let headers = rsp.headers().clone();
                    let bytes = rsp.bytes().await.map_err(|e| transport_error(url, &e))?;
                    let body: Value = if bytes.is_empty() {
                        Value::Null
                    } else {
                        serde_json::from_slice(&bytes).map_err(|e| {
                            Error::new(
                                ErrorKind::Provider,
                                format!("{method} {}: answer is not JSON ({e})", short(url)),
                            )
                        })?
                    };
                    if status.is_success() {
                        return Ok(Answer {
                            status,
                            headers,
                            body,
                        });
                    }
                    let e = arm_error(&method, url, status, &body);
                    // Throttled (a 429, or a 503 `TooManyRequests`): refused, never run, so sent
                    // again whatever the method.
                    let again = e.kind() == ErrorKind::Throttled
                        || (safe
                            && e.retry_status() == RetryStatus::Temporary
                            && status != StatusCode::CONFLICT);
                    if again && attempt < self.attempts {
                        self.clock.sleep(backoff(&headers, attempt)).await;
                        continue;
                    }
                    e
                }
                Err(e) => {
                    let e = transport_error(url, &e);
                    if safe && attempt < self.attempts {
                        self.clock
                            .sleep(Duration::from_millis(200 * u64::from(attempt)))
                            .await;
                        continue;
                    }
                    e
                }
            };
            return Err(err);
        }
    }
}

/// The pause before retry `attempt + 1`: the answer's `Retry-After` (at most 30 s), else 200 ms
/// doubling.
fn backoff(headers: &HeaderMap, attempt: u32) -> Duration {
    retry_after_header(headers)
        .unwrap_or_else(|| Duration::from_millis(200 << attempt.min(6).saturating_sub(1)))
}

/// An answer's `Retry-After` seconds, at most [`MAX_RETRY_AFTER`].
fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER))
}

/// The ARM path without scheme, host and query, for messages.
fn short(url: &str) -> &str {
    let path = url.split_once("://").map_or(url, |(_, r)| r);
    let path = path.find('/').map_or(path, |i| &path[i..]);
    path.split('?').next().unwrap_or(path)
}

fn transport_error(url: &str, e: &reqwest::Error) -> Error {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let host = url.split('/').nth(2).unwrap_or(url);
    Error::new(
        ErrorKind::Unreachable,
        format!("Azure Resource Manager at {host}: {what}"),
    )
}

/// The kind an ARM error code means where the status alone would mislead (the codes of the
/// operations' published error lists; see `tests/spec.rs`).
fn error_kind_of_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "AnotherOperationInProgress"
        | "FailoverGroupBusy"
        | "ConflictingServerOperation"
        | "OperationNotAllowed"
        | "Conflict" => ErrorKind::Conflict,
        "AuthorizationFailed" | "LinkedAuthorizationFailed" => ErrorKind::PermissionDenied,
        "ResourceNotFound" | "ResourceGroupNotFound" | "NotFound" | "SubscriptionNotFound" => {
            ErrorKind::NotFound
        }
        // ARM's own throttling (429) and a resource provider's behind it (503 `TooManyRequests`):
        // a refused request, never an outage.
        "SubscriptionRequestsThrottled"
        | "SubscriptionTooManyRequests"
        | "SubscriptionTooManyCreateUpdateRequests"
        | "ConflictingSubscriptionOperation"
        | "RetryableErrorDueToAnotherOperation"
        | "TooManyRequests" => ErrorKind::Throttled,
        // A database of the failover group is busy with an update or restore: it passes.
        "InvalidDatabaseStateForOperation" => ErrorKind::Conflict,
        "IncorrectReplicationLinkState" => ErrorKind::InvalidState,
        "PlannedFailoverTimedOut" | "PlannedFailoverTimedOutForDatabase" => ErrorKind::Timeout,
        "PECsNotExistingToDenyPublicNetworkAccess" => ErrorKind::Config,
        _ => return None,
    })
}

/// `e` temporary when its kind passes by itself (busy, throttled), else permanent.
fn with_retry_of(kind: ErrorKind, e: Error) -> Error {
    if matches!(kind, ErrorKind::Conflict | ErrorKind::Throttled) {
        e.temporary()
    } else {
        e.permanent()
    }
}

/// An ARM error answer as an aegis-dr error: kind from the shared status table (with the codes that
/// refine it), ARM's own code and message, and for 403 the action the role lacks.
fn arm_error(method: &Method, url: &str, status: StatusCode, body: &Value) -> Error {
    let code = body["error"]["code"].as_str().unwrap_or("");
    let msg = body["error"]["message"].as_str().unwrap_or("");
    let what = format!("{method} {}", short(url));
    let text = if status == StatusCode::FORBIDDEN {
        match msg.split("perform action '").nth(1).and_then(|r| r.split('\'').next()) {
            Some(action) => format!(
                "{what}: the role lacks `{action}` (add it to the role assigned to aegis-dr: `aegis-dr permissions --provider azure`)"
            ),
            None => format!("{what}: {code} {msg}"),
        }
    } else if code.is_empty() {
        format!("{what}: HTTP {status}")
    } else {
        format!("{what}: {code}: {msg}")
    };
    let (status_kind, retry) = classify_http_status(status.as_u16());
    // A regional resource provider that does not answer (503/504 through ARM) is an unreachable
    // site, as a refused connection is; unless its code says it throttles (`TooManyRequests`).
    let status_kind = match status.as_u16() {
        503 | 504 => ErrorKind::Unreachable,
        _ => status_kind,
    };
    let kind = error_kind_of_code(code).unwrap_or(status_kind);
    let e = Error::new(kind, text);
    if retry == RetryStatus::Temporary {
        e.temporary()
    } else {
        with_retry_of(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_arm_codes_and_name_the_missing_action() {
        let e = arm_error(
            &Method::POST,
            "https://management.azure.com/subscriptions/s/x/failover?api-version=1",
            StatusCode::FORBIDDEN,
            &serde_json::json!({"error": {"code": "AuthorizationFailed", "message": "The client 'x' does not have authorization to perform action 'Microsoft.Sql/servers/failoverGroups/failover/action' over scope '/s'"}}),
        );
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(
            e.to_string()
                .contains("`Microsoft.Sql/servers/failoverGroups/failover/action`"),
            "{e}"
        );
        assert!(!e.to_string().contains("api-version"), "{e}");
        let e = arm_error(
            &Method::PUT,
            "http://h/p",
            StatusCode::CONFLICT,
            &serde_json::json!({"error": {"code": "AnotherOperationInProgress", "message": "busy"}}),
        );
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(e.retry_status(), RetryStatus::Temporary);
        let e = arm_error(
            &Method::POST,
            "http://h/p",
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": {"code": "FailoverGroupFailoverRequestOnPrimary", "message": "already primary"}}),
        );
        assert_eq!(e.kind(), ErrorKind::InvalidState);
        assert!(
            e.to_string()
                .contains("FailoverGroupFailoverRequestOnPrimary"),
            "{e}"
        );
        // A resource provider throttling behind ARM answers 503: throttled, not an outage.
        let e = arm_error(
            &Method::POST,
            "http://h/p",
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"error": {"code": "TooManyRequests", "message": "throttled"}}),
        );
        assert_eq!(e.kind(), ErrorKind::Throttled);
        assert_eq!(e.retry_status(), RetryStatus::Temporary);
        let e = arm_error(
            &Method::POST,
            "http://h/p",
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"error": {"code": "ServiceUnavailable", "message": "down"}}),
        );
        assert_eq!(e.kind(), ErrorKind::Unreachable);
        let e = arm_error(
            &Method::POST,
            "http://h/p",
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": {"code": "PlannedFailoverTimedOut", "message": "timed out"}}),
        );
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert_eq!(e.retry_status(), RetryStatus::Permanent);
    }
}
