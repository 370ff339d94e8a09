//! Converts AWS SDK errors into aegis-dr errors at the provider boundary: throttling, 5xx answers,
//! timeouts and connection failures are temporary; access denial is permanent and names the IAM action
//! the call needed.

use aegis_dr_core::{Error, ErrorKind};
use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Error codes AWS services use for throttling.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Error codes that mean the caller lacks a permission (or valid credentials).
const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
];

/// Error codes of a concurrent change or a resource busy with another operation: retrying helps.
const BUSY: &[&str] = &[
    "ResourceInUseException",
    "InvalidDBInstanceState",
    "InvalidDBInstanceStateFault",
    "InvalidDBClusterStateFault",
    "InvalidGlobalClusterStateFault",
    "ScalingActivityInProgress",
    "ResourceContention",
];

fn is_not_found(code: &str) -> bool {
    code.ends_with("NotFound")
        || code.ends_with("NotFoundFault")
        || code.ends_with("NotFoundException")
        || code.starts_with("NoSuch")
        || code.contains(".NotFound")
}

/// Maps an SDK error of the call `action` (an IAM action such as `rds:PromoteReadReplica`) on
/// `resource` to an aegis-dr error.
pub(crate) fn map_sdk_error<E>(
    action: &str,
    resource: &str,
    err: SdkError<E, HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let resource = resource.to_string();
    let detail = cause_chain(&err);
    match err {
        SdkError::ConstructionFailure(_) => Error::new(
            ErrorKind::Config,
            format!("{action}: the request could not be built: {detail}"),
        )
        .with_resource(resource),
        SdkError::TimeoutError(_) => Error::new(
            ErrorKind::Unreachable,
            format!("{action}: timed out: {detail}"),
        )
        .with_resource(resource)
        .temporary(),
        // No credentials is no unreachable endpoint (which `--primary-unreachable` keys on): the
        // chain (environment, profile, SSO, web identity, container, instance metadata) found none.
        SdkError::DispatchFailure(_) if no_credentials(&err) => Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{action}: no AWS credentials found (environment, AWS_PROFILE or the plan's `profile`, SSO, web identity, container or instance metadata): {detail}"
            ),
        )
        .with_resource(resource),
        SdkError::DispatchFailure(_) => Error::new(
            ErrorKind::Unreachable,
            format!("{action}: could not reach the endpoint: {detail}"),
        )
        .with_resource(resource)
        .temporary(),
        SdkError::ResponseError(e) => Error::new(
            ErrorKind::Provider,
            format!(
                "{action}: unreadable response (HTTP {}): {detail}",
                e.raw().status().as_u16()
            ),
        )
        .with_resource(resource)
        .temporary(),
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let err = se.into_err();
            map_service_error(action, resource, status, &err)
        }
        _ => Error::new(ErrorKind::Provider, format!("{action}: {detail}")).with_resource(resource),
    }
}

/// True when the credentials chain found no credentials (the SDK reports it as a dispatch failure).
fn no_credentials(err: &(dyn std::error::Error + 'static)) -> bool {
    use aws_credential_types::provider::error::CredentialsError;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return matches!(
                c,
                CredentialsError::CredentialsNotLoaded(_) | CredentialsError::ProviderError(_)
            );
        }
        cur = e.source();
    }
    false
}

/// The error's causes as one line of their Display texts, innermost last, each said once. Never the
/// Debug form (SDK errors' `DisplayErrorContext` appends it: `DispatchFailure(DispatchFailure { ...`).
pub(crate) fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string().replace('\n', " ");
        let text = text.trim();
        // Wrappers often repeat their source's text: keep each piece once.
        if !text.is_empty() && !parts.iter().any(|p| p.contains(text)) {
            parts.push(text.to_string());
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// Maps a service's error answer (code, message, HTTP status).
pub(crate) fn map_service_error<E: ProvideErrorMetadata>(
    action: &str,
    resource: String,
    status: u16,
    err: &E,
) -> Error {
    let code = err.code().unwrap_or("Unknown").to_string();
    let msg = err.message().unwrap_or("no message").to_string();
    let text = format!("{action}: {code}: {msg}");
    if THROTTLING.contains(&code.as_str()) || status == 429 {
        return Error::new(ErrorKind::Throttled, text).with_resource(resource);
    }
    if DENIED.contains(&code.as_str()) || status == 403 {
        return Error::new(
            ErrorKind::PermissionDenied,
            format!("missing IAM permission `{action}` on {resource} ({code}: {msg}); `aegis-dr permissions --provider aws` prints the policy the plan needs"),
        )
        .with_resource(resource);
    }
    if is_not_found(&code) || status == 404 {
        return Error::new(ErrorKind::NotFound, text).with_resource(resource);
    }
    // DRS answers a request that does not fit the resource's current state (a failback launch of an
    // instance not ready for it, say) with ConflictException: waiting does not change that.
    if code == "ConflictException" {
        return Error::new(ErrorKind::InvalidState, text).with_resource(resource);
    }
    if BUSY.contains(&code.as_str()) {
        return Error::new(ErrorKind::Conflict, text)
            .with_resource(resource)
            .temporary();
    }
    // Anything else by its HTTP status, as every provider classifies it. A 400 whose code is not
    // known here stays a plain provider error: AWS answers most faults with 400 and its code.
    match status {
        400 => Error::new(ErrorKind::Provider, text).with_resource(resource),
        _ => Error::from_http_status(status, text).with_resource(resource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::error::ErrorMetadata;

    #[derive(Debug)]
    struct E(ErrorMetadata);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0.code())
        }
    }
    impl std::error::Error for E {}
    impl ProvideErrorMetadata for E {
        fn meta(&self) -> &ErrorMetadata {
            &self.0
        }
    }

    fn err(code: &str) -> E {
        E(ErrorMetadata::builder().code(code).message("m").build())
    }

    #[test]
    fn codes_map_to_kinds_and_retry_status() {
        let cases = [
            ("ThrottlingException", 400, ErrorKind::Throttled, true),
            ("Throttling", 400, ErrorKind::Throttled, true),
            ("PriorRequestNotComplete", 400, ErrorKind::Throttled, true),
            ("Whatever", 429, ErrorKind::Throttled, true),
            ("AccessDenied", 403, ErrorKind::PermissionDenied, false),
            (
                "UnauthorizedOperation",
                400,
                ErrorKind::PermissionDenied,
                false,
            ),
            ("DBInstanceNotFound", 404, ErrorKind::NotFound, false),
            ("NoSuchHostedZone", 404, ErrorKind::NotFound, false),
            (
                "InvalidInstanceID.NotFound",
                400,
                ErrorKind::NotFound,
                false,
            ),
            ("ResourceInUseException", 409, ErrorKind::Conflict, true),
            ("ConflictException", 409, ErrorKind::InvalidState, false),
            ("InvalidDBInstanceState", 400, ErrorKind::Conflict, true),
            ("InternalFailure", 500, ErrorKind::Provider, true),
            ("ServiceUnavailable", 503, ErrorKind::Provider, true),
            ("ValidationException", 400, ErrorKind::Provider, false),
        ];
        for (code, status, kind, retry) in cases {
            let e = map_service_error("rds:PromoteReadReplica", "db-1".into(), status, &err(code));
            assert_eq!(e.kind(), kind, "{code}");
            assert_eq!(e.is_retryable(), retry, "{code}");
            assert_eq!(e.resource(), Some("db-1"));
        }
    }

    #[test]
    fn access_denied_names_the_iam_action() {
        let e = map_service_error(
            "drs:StartFailbackLaunch",
            "ri-1".into(),
            403,
            &err("AccessDeniedException"),
        );
        let s = e.to_string();
        assert!(s.contains("drs:StartFailbackLaunch"), "{s}");
        assert!(s.contains("aegis-dr permissions --provider aws"), "{s}");
    }
}
