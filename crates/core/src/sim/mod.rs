//! The simulated estate (`provider = "sim"`): every provider trait over one [`SimWorld`], with
//! per-call latency, transient faults and scripted faults. It checks the world's invariants on every
//! change and refuses a change that would break one (for example two writable primaries).

mod latency;
mod provider;
mod world;

pub use provider::SimProvider;
pub use world::{SimDatabase, SimPool, SimRecord, SimWorkload, SimWorld};

/// The operations a scripted fault can name: those of every provider (see [`crate::plan::faults`]).
pub use crate::plan::faults::ProviderOp;
