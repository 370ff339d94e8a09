//! Integration tests of the Azure provider through its ARM client against `aegis-dr-azure-sim`.

mod common;
mod conformance;
mod errors;
mod fidelity;
mod spec;
