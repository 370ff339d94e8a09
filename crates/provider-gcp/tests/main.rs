//! Integration tests of the GCP provider through Google's official clients against
//! `aegis-dr-gcp-sim`.

mod common;
mod conformance;
mod errors;
mod fidelity;
mod spec;
