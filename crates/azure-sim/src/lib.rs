//! A wire-level simulator of the Azure Resource Manager (ARM) APIs aegis-dr uses, for tests: no Azure
//! emulator covers them. It models the state machines of the published REST specifications
//! (`Azure/azure-rest-api-specs`):
//!
//! - **Microsoft.Sql** (`2021-11-01`): logical servers (tags, `publicNetworkAccess`), failover groups
//!   seen from either server (`replicationRole`, `replicationState`, `partnerServers`), planned
//!   `failover` and `forceFailoverAllowDataLoss` as asynchronous operations (202 with an empty body,
//!   `Azure-AsyncOperation` and `Location` headers, `Retry-After`), roles swapping when the operation
//!   ends, refusals with Azure's codes (`FailoverGroupFailoverRequestOnPrimary`, busy, not found), and
//!   database restore points.
//! - **Microsoft.Network** Traffic Manager (`2022-04-01`): profiles with priority or weighted routing,
//!   external endpoints whose `endpointMonitorStatus` goes `CheckingEndpoint` → `Online` (or
//!   `Degraded` for an unhealthy target) after being enabled; Azure DNS (`2018-05-01`) record sets
//!   with ETags and `If-Match`.
//! - **Microsoft.ContainerService** (`2024-02-01`): AKS agent pools (`count`, cluster autoscaler
//!   bounds) going `Updating` → `Succeeded`, a second update meanwhile refused with 409.
//!
//! Besides: a managed-identity token endpoint (the App Service protocol, both its `2019-08-01` and
//! `2017-09-01` forms), `GET /subscriptions`, bearer-token checks (401), ARM's error body
//! (`{"error":{"code","message"}}`), `api-version` required, throttling (429 with `Retry-After`),
//! transient 5xx, per-action 403 `AuthorizationFailed` and unreachable servers on demand.
#![forbid(unsafe_code)]

mod aks;
pub mod estate;
mod network;
mod server;
mod sql;
mod throttle;
mod tls;

pub use aegis_dr_sim_http::Exchange;
pub use aks::PoolFault;
pub use server::{rbac_action, AgentPoolSummary, AzureSim, SimState};
pub use throttle::Throttling;
