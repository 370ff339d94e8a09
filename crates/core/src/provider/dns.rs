//! DNS routing: read and change the record that decides which site serves.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
pub use crate::plan::RecordTargets;

/// Identifies a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRef {
    /// Hosted zone.
    pub zone: String,
    /// Record name.
    pub name: String,
    /// Record type.
    pub record_type: String,
}

/// The record as the provider serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordState {
    /// Current values (one host, or an address set).
    pub target: RecordTargets,
    /// Current TTL in seconds.
    pub ttl: u32,
}

/// UPSERT a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsertRecord {
    /// The record.
    pub record: RecordRef,
    /// New values.
    pub target: RecordTargets,
    /// New TTL in seconds.
    pub ttl: u32,
}

/// A submitted change, polled until in sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeId(pub String);

/// Propagation state of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeStatus {
    /// Not yet on every authoritative server.
    Pending,
    /// Every authoritative server answers the change (Route 53 `INSYNC`).
    Insync,
}

/// Enable or disable a health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckRequest {
    /// Health check identifier.
    pub id: String,
    /// True to disable.
    pub disabled: bool,
}

/// A health check's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckState {
    /// True when disabled.
    pub disabled: bool,
}

/// DNS routing capability.
#[async_trait]
pub trait DnsRouter: Send + Sync + std::fmt::Debug {
    /// Reads a record.
    async fn get_record(&self, record: &RecordRef) -> Result<RecordState>;
    /// Creates or replaces a record; returns the change to poll.
    async fn upsert_record(&self, req: &UpsertRecord) -> Result<ChangeId>;
    /// Propagation state of a change.
    async fn change_status(&self, change: &ChangeId) -> Result<ChangeStatus>;
    /// Reads a health check.
    async fn get_health_check(&self, id: &str) -> Result<HealthCheckState>;
    /// Enables or disables a health check.
    async fn set_health_check(&self, req: &HealthCheckRequest) -> Result<()>;
}

/// Conveniences over [`DnsRouter`].
#[async_trait]
pub trait DnsRouterExt: DnsRouter {
    /// True when the record already has this target and TTL.
    async fn record_matches(
        &self,
        record: &RecordRef,
        target: &RecordTargets,
        ttl: u32,
    ) -> Result<bool> {
        let cur = self.get_record(record).await?;
        Ok(cur.target == *target && cur.ttl == ttl)
    }
}

impl<T: DnsRouter + ?Sized> DnsRouterExt for T {}
