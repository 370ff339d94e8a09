//! The simulated estate (`provider = "sim"`): every provider trait over one [`SimWorld`], with
//! per-call latency, transient faults and scripted faults. It checks the world's invariants on every
//! change and refuses a change that would break one (for example two writable primaries).
//!
//! It is a provider like the others: its own crate, the `sim` cargo feature of `aegis-dr`, an
//! entry in the registry, and the conformance suite in its tests. Its own timings are the
//! estimates of a plan it serves ([`SimProvider::estimates_of`]).
#![forbid(unsafe_code)]
// Library crates document their public items.
#![warn(missing_docs)]

mod latency;
mod provider;
mod world;

pub use provider::SimProvider;
pub use world::{SimDatabase, SimPool, SimRecord, SimWorkload, SimWorld};

/// The operations a scripted fault can name: those of every provider (see [`aegis_dr_core::plan::faults`]).
pub use aegis_dr_core::plan::faults::ProviderOp;
