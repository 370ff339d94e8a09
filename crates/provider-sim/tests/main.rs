//! Integration tests of the simulated estate: one binary, one module per concern.

mod conformance;
