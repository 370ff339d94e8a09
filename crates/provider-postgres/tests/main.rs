//! Integration tests of the PostgreSQL provider against real servers (Debian's PostgreSQL, started
//! by the tests on loopback as the `postgres` user).

mod behaviour;
mod common;
mod conformance;
