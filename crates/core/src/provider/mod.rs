//! Provider traits: one async trait per capability, with request structs as arguments so adding a
//! field breaks nobody. Provider crates implement them and convert their SDK errors at the boundary.

pub mod backend;
pub mod builder;
pub mod database;
pub mod dns;
pub mod health;
pub mod http_health;
pub mod layer;
pub mod nodes;
pub mod recovery;
pub mod set;
pub mod workloads;

pub use backend::{Backend, BuildContext, Permissions};
pub use builder::{BuilderBase, Clients, ProviderBuilder};
pub use database::{
    DatabaseFailover, DatabaseRef, DatabaseRole, DatabaseStatus, FenceRequest, PromoteMode,
    PromoteRequest, ReverseReplicationRequest, SnapshotRequest, SnapshotState, SyncReport,
};
pub use dns::{
    ChangeId, ChangeStatus, DnsRouter, DnsRouterExt, HealthCheckRequest, HealthCheckState,
    RecordRef, RecordState, RecordTargets, UpsertRecord,
};
pub use health::{HealthProbe, HealthReport, ProbeRequest};
pub use http_health::HttpHealthProbe;
pub use nodes::{NodeScaler, PoolRef, PoolState, ScalePool};
pub use recovery::{
    FailbackState, JobId, JobState, JobStatus, LaunchStatus, RecoveryInstance, RecoveryPoint,
    RecoveryService, StartRecovery,
};
pub use set::{Capabilities, ProviderSet, Providers};
pub use workloads::{
    AnnotateWorkload, ConfigMapsRequest, LabelSelector, ListWorkloads, NoWorkloads, ScaleWorkload,
    WorkloadId, WorkloadScaler, WorkloadState, DRAIN_ANNOTATION, ORIGINAL_REPLICAS_ANNOTATION,
    SCALED_BY_RUN_ANNOTATION,
};
