//! aegis-dr core: the plan model, provider traits, the orchestrator that runs failover, failback and
//! drills against a plan with RTO/RPO enforcement, its journal and reports. Providers (the simulated
//! estate among them) live in their own crates.
#![forbid(unsafe_code)]
// Library crates document their public items (the CLI, simulators and test servers need not).
#![warn(missing_docs)]

pub mod checks;
pub mod clock;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod control;
pub mod controller;
pub mod discover;
pub(crate) mod dns_check;
pub mod duration;
pub mod error;
pub mod estate;
pub(crate) mod fsutil;
pub mod incident;
pub mod journal;
pub(crate) mod lock;
pub mod migrate;
pub mod notify;
pub mod orchestrator;
pub mod plan;
pub(crate) mod promql;
pub mod provider;
pub mod readiness;
pub(crate) mod redact;
pub mod report;
pub mod retry;
pub mod run;
pub mod runs;
pub mod store;

pub use error::{Error, ErrorKind, Result, RetryStatus};
pub use fsutil::write_atomic;
pub use incident::{IncidentClass, Targets};
pub use plan::{Plan, SiteRole};
/// The layers around every provider call (retry, timeout, faults, stats, tracing).
pub use provider::layer;
