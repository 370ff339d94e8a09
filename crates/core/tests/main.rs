//! Integration tests of aegis-dr-core: one binary, one module per concern.

mod backup;
mod common;
mod dns_resolver;
pub mod hooks;
mod http_health;
mod module_graph;
mod multi_provider;
mod orchestrator;
mod plan_errors;
mod plan_fuzz;
mod prometheus;
mod triggers;
