//! Wire-level simulators of the two AWS APIs aegis-dr uses that have no emulator (LocalStack's
//! community edition answers them with "not included in your license plan", and moto has no DRS):
//!
//! - **Elastic Disaster Recovery** (`drs`, REST-JSON, `POST /<Operation>`): source servers with
//!   recovery snapshots; `StartRecovery` (drill or not), `DescribeJobs`, `DescribeJobLogItems`,
//!   `DescribeRecoveryInstances`, `StartFailbackLaunch`, `StopFailback`, `ReverseReplication`,
//!   `TerminateRecoveryInstances`, `DescribeSourceServers`, `DescribeRecoverySnapshots`. Jobs go
//!   `STARTED` → `COMPLETED` after `job_time`, each participant `IN_PROGRESS` → `LAUNCHED` or `FAILED`;
//!   a recovery instance of a real (non-drill) recovery replicates back
//!   (`FAILBACK_IN_PROGRESS`) and becomes `FAILBACK_READY_FOR_LAUNCH` after `failback_replication_time`;
//!   a failback launch ends in `FAILBACK_COMPLETED` (and starts the source server's EC2 instance
//!   through the configured EC2 endpoint, as DRS does in the source region) or `FAILBACK_ERROR`;
//!   `StopFailback` returns the instance to `FAILBACK_NOT_STARTED`; `ReverseReplication` after a
//!   completed failback re-protects the source server and retires the recovery instance.
//! - **EKS managed node groups** (`eks`, REST-JSON): `DescribeNodegroup`, `UpdateNodegroupConfig`,
//!   `DescribeUpdate`, `ListUpdates`. An update is `InProgress` (node group `UPDATING`, further updates
//!   answered `ResourceInUseException`) for `nodegroup_update_time`, then `Successful`. Like EKS, a
//!   node group drives an Auto Scaling group: when an Auto Scaling endpoint is configured (moto in the
//!   tests), the new sizes are written to the group named in `resources.autoScalingGroups`.
//!
//! Errors use the restJson1 shape (`x-amzn-ErrorType` header, `message` body) and status codes of the
//! real services; tests inject throttling (429 `ThrottlingException`) and access denial (403).
#![forbid(unsafe_code)]

mod drs;
mod eks;
mod server;

pub use server::{AwsSim, SimState};
pub mod estate;
