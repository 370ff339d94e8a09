//! Integration tests of the AWS provider through the real SDK clients: Route 53, EC2 and CloudWatch
//! in LocalStack, RDS and Auto Scaling in moto, DRS and EKS node groups in `aegis-dr-aws-sim`.
//! `scripts/test.sh` starts the emulators; without them these tests fail (they never skip).

mod common;
mod conformance;
mod database_modes;
mod errors;
mod failover;
mod iam;
