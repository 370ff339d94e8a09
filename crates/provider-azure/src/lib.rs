//! aegis-dr's Azure provider: SQL failover groups ([`SqlFailoverGroups`]), Azure DNS and Traffic
//! Manager ([`AzureDns`]) and AKS node pools ([`AksNodes`]), each behind the core provider traits,
//! over a small typed Azure Resource Manager client of our own.
//!
//! ```no_run
//! # async fn demo(plan: &aegis_dr_core::Plan) -> aegis_dr_core::Result<()> {
//! use aegis_dr_provider_azure::AzureProviders;
//! let azure = AzureProviders::from_env(plan).build().await?;
//! let providers = azure.providers(); // or azure.set(): the provider set `azure`
//! # let _ = providers; Ok(()) }
//! ```
//!
//! Credentials come from the official `azure_identity` credentials ([`credential::IdentityChain`]):
//! an environment service principal, workload identity, managed identity, then the Azure CLI.
//! `AZURE_RESOURCE_MANAGER_ENDPOINT` (or the plan's `resource_manager_endpoint`) points ARM at a
//! sovereign cloud or a simulator. ARM errors become [`aegis_dr_core::Error`]s in [`arm`]'s one
//! place, through the status table every provider shares.
#![forbid(unsafe_code)]
// Library crates document their public items (the CLI, simulators and test servers need not).
#![warn(missing_docs)]

mod aks;
mod arm;
mod builder;
pub mod credential;
mod discover;
pub mod dns;
pub mod role;
pub mod settings;
pub mod sql;

pub use aks::AksNodes;
pub use builder::{AzureBackend, AzureProviders, AzureProvidersBuilder};
pub use dns::AzureDns;
pub use sql::SqlFailoverGroups;
