//! End-to-end tests of the `aegis-dr` binary: one test binary, one module per concern.

mod aws;
mod azure;
mod clouds;
mod common;
mod config_errors;
mod crash_resume;
mod drill;
mod gates;
mod gcp;
mod health;
mod html;
mod init;
mod init_clouds;
mod k8s;
mod logs;
mod mixed;
mod notifications;
mod operator;
mod postgres;
mod rollback;
mod runs;
mod safety;
mod stops;
mod store;
mod tooling;
mod watch;
