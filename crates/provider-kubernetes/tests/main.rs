//! Integration tests of the Kubernetes provider: the real `kube` client against two wire-level API
//! simulators (primary and DR) reached through generated kubeconfig files.

mod common;
mod conformance_k8s;
mod lease;
mod orchestrator_k8s;
