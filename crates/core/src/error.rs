//! The one error type of aegis-dr: a semantic kind, the resource it concerns and whether a retry may help.

use std::fmt;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, independent of which provider reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The plan file or a flag is invalid.
    Config,
    /// The named resource does not exist.
    NotFound,
    /// The caller lacks a permission; the message names the missing action where known.
    PermissionDenied,
    /// A concurrent change won (optimistic-concurrency conflict).
    Conflict,
    /// The provider or site could not be reached.
    Unreachable,
    /// The provider asked us to slow down.
    Throttled,
    /// A wait exceeded its maximum duration.
    Timeout,
    /// The resource is in a state that does not allow the operation.
    InvalidState,
    /// A safety gate refused the operation.
    Refused,
    /// Verification found the data inconsistent: the operation must stop.
    Integrity,
    /// Local I/O failed (state directory, journal, report).
    Io,
    /// The provider does not support the operation.
    Unsupported,
    /// Any other provider failure.
    Provider,
    /// A step of the user's own (`[[hooks]]`) did not succeed: its command, answer, query or
    /// approval.
    HookFailed,
    /// The run was told to stop (SIGINT, SIGTERM): it started no further step.
    Interrupted,
}

impl ErrorKind {
    /// Short lowercase name, as shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config error",
            ErrorKind::NotFound => "not found",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Timeout => "exceeded max wait",
            ErrorKind::InvalidState => "invalid state",
            ErrorKind::Refused => "refused by safety gate",
            ErrorKind::Integrity => "data integrity failure",
            ErrorKind::Io => "i/o error",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Provider => "provider error",
            ErrorKind::HookFailed => "hook failed",
            ErrorKind::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether retrying may help (after opendal's `ErrorStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryStatus {
    /// A retry may succeed.
    Temporary,
    /// Retrying cannot help.
    Permanent,
    /// Was temporary, but retries were exhausted.
    Persistent,
}

/// What an HTTP status means, for every provider's REST answers alike: its kind and whether a retry
/// may help. 408/429/5xx are temporary; 409 a retryable conflict (another operation in progress);
/// 401/403 permission denied; 404/410 not found; 400/412/422 an invalid state.
pub fn classify_http_status(status: u16) -> (ErrorKind, RetryStatus) {
    use ErrorKind::*;
    use RetryStatus::*;
    match status {
        401 | 403 => (PermissionDenied, Permanent),
        404 | 410 => (NotFound, Permanent),
        408 => (Unreachable, Temporary),
        409 => (Conflict, Temporary),
        429 => (Throttled, Temporary),
        400 | 412 | 422 => (InvalidState, Permanent),
        501 => (Unsupported, Permanent),
        500..=599 => (Provider, Temporary),
        _ => (Provider, Permanent),
    }
}

/// An aegis-dr error. Provider crates convert their SDK errors into this at their boundary.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    retry: RetryStatus,
    resource: Option<String>,
    provider: Option<String>,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error; throttling, timeouts-at-the-transport and unreachability default to temporary.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let retry = match kind {
            ErrorKind::Throttled | ErrorKind::Unreachable | ErrorKind::Conflict => {
                RetryStatus::Temporary
            }
            _ => RetryStatus::Permanent,
        };
        Error {
            kind,
            retry,
            resource: None,
            provider: None,
            message: message.into(),
            source: None,
        }
    }

    /// An error for an HTTP answer with `status`, classified by [`classify_http_status`].
    pub fn from_http_status(status: u16, message: impl Into<String>) -> Self {
        let (kind, retry) = classify_http_status(status);
        let mut e = Error::new(kind, message);
        e.retry = retry;
        e
    }

    /// Shorthand for a config error.
    pub fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    /// Shorthand for a safety-gate refusal.
    pub fn refused(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Refused, message)
    }

    /// Shorthand for a local I/O error on `path`.
    pub fn io(path: impl fmt::Display, err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, err.to_string()).with_resource(path.to_string())
    }

    /// Names the resource (database, record, pool, workload, file) the error concerns.
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Names `resource` unless the error already names a (more precise) one.
    pub fn or_resource(self, resource: &str) -> Self {
        if self.resource.is_some() {
            self
        } else {
            self.with_resource(resource)
        }
    }

    /// Names the provider that answered with this error, unless one is named already.
    pub fn or_provider(mut self, provider: &str) -> Self {
        if self.provider.is_none() {
            self.provider = Some(provider.to_string());
        }
        self
    }

    /// The provider that answered with this error, where it came from one.
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    /// Marks the error as temporary: a retry may succeed.
    pub fn temporary(mut self) -> Self {
        self.retry = RetryStatus::Temporary;
        self
    }

    /// Marks the error as permanent.
    pub fn permanent(mut self) -> Self {
        self.retry = RetryStatus::Permanent;
        self
    }

    /// Marks a temporary error as persistent: retries were exhausted.
    pub fn persisted(mut self) -> Self {
        if self.retry == RetryStatus::Temporary {
            self.retry = RetryStatus::Persistent;
        }
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Prefixes the message with context, keeping kind, resource and retry status.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The semantic kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The retry status.
    pub fn retry_status(&self) -> RetryStatus {
        self.retry
    }

    /// True when a retry may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retry == RetryStatus::Temporary
    }

    /// The resource the error concerns, if known.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The message without kind and resource.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A serialisable summary, for journals and reports.
    pub fn summary(&self) -> ErrorSummary {
        ErrorSummary {
            kind: self.kind,
            retry: self.retry,
            resource: self.resource.clone(),
            provider: self.provider.clone(),
            message: self.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.provider {
            write!(f, "{p}: ")?;
        }
        write!(f, "{}", self.kind)?;
        if let Some(r) = &self.resource {
            write!(f, " [{r}]")?;
        }
        write!(f, ": {}", self.message)?;
        if self.retry == RetryStatus::Persistent {
            f.write_str(" (still failing after retries)")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A serialisable snapshot of an [`Error`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErrorSummary {
    /// The semantic kind.
    pub kind: ErrorKind,
    /// Retry status at the time it was recorded.
    pub retry: RetryStatus,
    /// The resource concerned.
    pub resource: Option<String>,
    /// The provider that answered with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The full rendered message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_classify() {
        for (status, kind, retryable) in [
            (403, ErrorKind::PermissionDenied, false),
            (404, ErrorKind::NotFound, false),
            (409, ErrorKind::Conflict, true),
            (429, ErrorKind::Throttled, true),
            (503, ErrorKind::Provider, true),
            (400, ErrorKind::InvalidState, false),
            (418, ErrorKind::Provider, false),
        ] {
            let e = Error::from_http_status(status, "x");
            assert_eq!((e.kind(), e.is_retryable()), (kind, retryable), "{status}");
        }
    }

    #[test]
    fn the_provider_leads_the_message() {
        let e = Error::new(ErrorKind::NotFound, "gone")
            .with_resource("db-1")
            .or_provider("aws")
            .or_provider("sim");
        assert_eq!(e.to_string(), "aws: not found [db-1]: gone");
    }

    #[test]
    fn or_resource_keeps_a_more_precise_resource() {
        let e = Error::new(ErrorKind::NotFound, "gone").or_resource("step");
        assert_eq!(e.resource(), Some("step"));
        let e = Error::new(ErrorKind::NotFound, "gone")
            .with_resource("dr/dr/prod/api")
            .or_resource("step");
        assert_eq!(e.resource(), Some("dr/dr/prod/api"));
    }
}
