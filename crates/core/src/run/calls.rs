//! How often each provider of a run was called, and how it answered.

use serde::{Deserialize, Serialize};

/// What one provider was asked and how it answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderCalls {
    /// Calls made.
    pub calls: u64,
    /// Calls that failed with a retryable error (each retried unless its step gave up).
    pub transient_errors: u64,
    /// Calls that failed with an error retrying cannot help.
    pub errors: u64,
}

impl ProviderCalls {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &ProviderCalls) {
        self.calls += other.calls;
        self.transient_errors += other.transient_errors;
        self.errors += other.errors;
    }
}
