//! aegis-dr's AWS provider: Route 53 ([`Route53Dns`]), RDS with CloudWatch replica lag
//! ([`RdsDatabases`]: cross-region read replicas, Multi-AZ instances, Aurora global databases), EKS managed node groups or Auto Scaling groups ([`EksNodes`]), and Elastic
//! Disaster Recovery with EC2 verification ([`DrsRecovery`]), each behind the core provider traits.
//!
//! ```no_run
//! # async fn demo(plan: &aegis_dr_core::Plan) -> aegis_dr_core::Result<()> {
//! use aegis_dr_provider_aws::AwsProviders;
//! let aws = AwsProviders::from_env(plan)
//!     .with_region(aegis_dr_core::SiteRole::Dr, "us-west-2")
//!     .build()
//!     .await?;
//! let providers = aws.providers(); // or aws.set(): the provider set `aws`
//! # let _ = providers; Ok(()) }
//! ```
//!
//! Credentials and endpoints come from the standard aws-config chain (environment, shared profiles,
//! SSO, container and instance metadata). `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`
//! (`ROUTE_53`, `RDS`, `CLOUDWATCH`, `EKS`, `AUTO_SCALING`, `DRS`, `EC2`) point single services at
//! emulators. SDK errors become [`aegis_dr_core::Error`]s at this boundary (see [`error`]).
#![forbid(unsafe_code)]
// Library crates document their public items (the CLI, simulators and test servers need not).
#![warn(missing_docs)]

mod aurora_global;
mod builder;
mod discover;
mod drs;
mod error;
pub mod iam;
pub mod multi_az;
mod nodes;
pub mod rds;
pub mod route53;
pub mod settings;
mod snapshots;

pub use builder::{AwsBackend, AwsProviders, AwsProvidersBuilder};
pub use drs::DrsRecovery;
pub use nodes::EksNodes;
pub use rds::RdsDatabases;
pub use route53::Route53Dns;

use aegis_dr_core::SiteRole;

/// One SDK client per site, each bound to its site's region.
#[derive(Debug, Clone)]
pub(crate) struct Regional<C> {
    primary: (C, String),
    dr: (C, String),
}

impl<C> Regional<C> {
    pub(crate) fn new(primary: (C, String), dr: (C, String)) -> Regional<C> {
        Regional { primary, dr }
    }

    /// The client of `site`.
    pub(crate) fn get(&self, site: SiteRole) -> &C {
        match site {
            SiteRole::Primary => &self.primary.0,
            SiteRole::Dr => &self.dr.0,
        }
    }

    /// The region of `site`.
    pub(crate) fn region(&self, site: SiteRole) -> &str {
        match site {
            SiteRole::Primary => &self.primary.1,
            SiteRole::Dr => &self.dr.1,
        }
    }
}
