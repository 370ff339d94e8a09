//! How ARM throttles: the answers of a request refused for rate.

use axum::http::StatusCode;

use crate::server::Reply;

/// How ARM words a throttled request: a request refused for rate, never run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttling {
    /// 429 `SubscriptionRequestsThrottled`: the subscription's read or write budget.
    SubscriptionRequestsThrottled,
    /// 429 `SubscriptionTooManyRequests`.
    SubscriptionTooManyRequests,
    /// 429 `ConflictingSubscriptionOperation`: another subscription-level operation runs.
    ConflictingSubscriptionOperation,
    /// 503 `TooManyRequests`: a resource provider throttling behind ARM (not an outage).
    ServiceTooManyRequests,
}

impl Throttling {
    pub(crate) fn reply(self, retry_after: u64) -> Reply {
        let (status, code, message) = match self {
            Throttling::SubscriptionRequestsThrottled => (
                StatusCode::TOO_MANY_REQUESTS,
                "SubscriptionRequestsThrottled",
                "Number of 'write' requests for subscription actor exceeded. Please try again after some time.",
            ),
            Throttling::SubscriptionTooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "SubscriptionTooManyRequests",
                "Too many requests for the subscription. Please try again after some time.",
            ),
            Throttling::ConflictingSubscriptionOperation => (
                StatusCode::TOO_MANY_REQUESTS,
                "ConflictingSubscriptionOperation",
                "An operation on the subscription is in progress; please try again later.",
            ),
            Throttling::ServiceTooManyRequests => (
                StatusCode::SERVICE_UNAVAILABLE,
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for operation type. Please try again after some time.",
            ),
        };
        Reply::error(status, code, message).header("retry-after", retry_after.to_string())
    }
}
