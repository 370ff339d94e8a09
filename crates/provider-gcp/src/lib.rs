//! aegis-dr's GCP provider: Cloud SQL ([`CloudSql`]), Cloud DNS ([`CloudDns`]) and GKE node pools
//! ([`GkeNodes`]) behind the core provider traits, through Google's official Rust clients
//! (`google-cloud-sql-v1`, `google-cloud-dns-v1`, `google-cloud-container-v1`).
//!
//! ```no_run
//! # async fn demo(plan: &aegis_dr_core::Plan) -> aegis_dr_core::Result<()> {
//! use aegis_dr_provider_gcp::GcpProviders;
//! let gcp = GcpProviders::from_env(plan).build().await?;
//! let providers = gcp.providers(); // or gcp.set(): the provider set `gcp`
//! # let _ = providers; Ok(()) }
//! ```
//!
//! Credentials are Application Default Credentials through `google-cloud-auth` (a
//! `GOOGLE_APPLICATION_CREDENTIALS` file, `gcloud auth application-default login`, workload
//! identity, the metadata server) or the plan's `credentials_file`. `AEGIS_DR_GCP_ENDPOINT` (or the
//! plan's `endpoint`) points every API at one base URL: a simulator or a private endpoint. Google's
//! errors become [`aegis_dr_core::Error`]s in one place (`client.rs`).
#![forbid(unsafe_code)]
// Library crates document their public items (the CLI, simulators and test servers need not).
#![warn(missing_docs)]

mod builder;
mod client;
mod discover;
pub mod dns;
mod gke;
pub mod role;
pub mod settings;
pub mod sql;
mod switchover;

pub use builder::{GcpBackend, GcpProviders, GcpProvidersBuilder};
pub use dns::CloudDns;
pub use gke::GkeNodes;
pub use sql::CloudSql;
