//! A wire-level simulator of the Google Cloud APIs aegis-dr uses, for tests: no emulator covers
//! them. It models the state machines of the published REST references (and the discovery documents
//! Google's Python client ships):
//!
//! - **Cloud SQL Admin** (`sqladmin/v1`): instances (`instanceType`, `masterInstanceName`,
//!   `replicaNames`, `replicationCluster`, HA zones, `settings.settingsVersion`, user labels and
//!   database flags), `failover` (HA; refused unless `failoverContext.settingsVersion` is current),
//!   `switchover` (a DR replica becomes primary and the old primary its replica), `promoteReplica`
//!   (the replica becomes a standalone primary), `patch`, backup runs, and operations that go
//!   `PENDING` → `RUNNING` → `DONE` (with `error` when they fail); a second operation on a busy
//!   instance is refused with 409 `operationInProgress`.
//! - **Cloud DNS** (`dns/v1`): record sets, changes (deletions must match the current set exactly,
//!   `pending` → `done`).
//! - **GKE** (`container/v1`): node pools (`autoscaling`, `status` `RECONCILING` → `RUNNING`),
//!   `setSize` and `setAutoscaling` as operations, 400 `FAILED_PRECONDITION` while another runs; and
//!   the pools' **Compute** managed instance groups (`compute/v1` `instanceGroupManagers.get`:
//!   `targetSize`, `currentActions`, `status.isStable`), where GKE keeps a pool's node count.
//! - **Cloud Monitoring** (`monitoring/v3`): `timeSeries.list` of each read replica's
//!   `cloudsql.googleapis.com/database/replication/replica_lag`, 0 once its primary is fenced.
//! - An OAuth token endpoint (the `refresh_token` grant of an `authorized_user` credential) and the
//!   metadata server's token endpoint.
//!
//! Besides: Google's error format (`{"error": {"code", "message", "status", "errors", "details"}}`,
//! an `ErrorInfo` naming the missing IAM permission on 403), bearer-token checks (401), enums as
//! integers when a request asks for `$alt=json;enum-encoding=int` (as Google's Rust clients do),
//! throttling (429 `RESOURCE_EXHAUSTED`), transient 503 and unreachable instances on demand.
#![forbid(unsafe_code)]

pub mod estate;
mod gke;
mod monitoring;
mod reply;
mod server;
mod sql;
mod zones;

pub use aegis_dr_sim_http::Exchange;
pub use gke::PoolSummary;
pub use server::{GcpSim, SimState};
pub use sql::SqlInstanceSummary;
